"""AdaShift against torch.optim.Adam: step time on a CycleGAN-sized model, and the stochastic
counterexample of arXiv 1810.00143 where Adam drifts the wrong way.

    python bench/optim.py [--threads 1] [--device cpu] [--steps 300000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from report import add_write_flag  # run as a script: bench/ is on the path

from ot_gan import AdaShift

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from examples.adashift_counterexample import STOCHASTIC, stochastic  # noqa: E402


def cyclegan_generator_shapes(blocks: int = 6) -> list[tuple[int, ...]]:
    """Weight and bias shapes of the CycleGAN ResNet generator (about 7.8M parameters)."""
    convs = [(64, 3, 7, 7), (128, 64, 3, 3), (256, 128, 3, 3)]
    convs += [(256, 256, 3, 3)] * (2 * blocks)
    convs += [(256, 128, 3, 3), (128, 64, 3, 3), (3, 64, 7, 7)]
    return [s for c in convs for s in (c, (c[0],))]


def time_steps(make, params: list[torch.Tensor], steps: int) -> float:
    """Median seconds per optimizer step, gradients fixed."""
    opt = make(params)
    for p in params:
        p.grad = torch.randn_like(p)
    for _ in range(12):  # fills AdaShift's window and warms up the allocator
        opt.step()
    times = []
    for _ in range(steps):
        sync(params[0].device)
        t0 = time.perf_counter()
        opt.step()
        sync(params[0].device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--timed-steps", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300_000, help="counterexample steps")
    add_write_flag(parser, "AdaShift")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    shapes = cyclegan_generator_shapes()
    params = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    n_params = sum(p.numel() for p in params)
    print(f"step time, {len(params)} tensors ({sum(len(s) == 4 for s in shapes)} conv weights), "
          f"{n_params / 1e6:.1f}M parameters, {device}, {args.threads} thread(s)")
    adam = time_steps(lambda p: torch.optim.Adam(p, lr=2e-4, betas=(0.5, 0.999), foreach=True),
                      params, args.timed_steps)
    print(f"| {'optimizer':44s} | {'ms/step':>8s} | {'vs Adam':>7s} |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 9}|")
    print(f"| {'torch.optim.Adam(foreach=True)':44s} | {adam * 1e3:8.2f} | {1.0:7.2f} |")
    configs = [("AdaShift GAN (beta1 0, max_mean)", dict(betas=(0.0, 0.999), reduce="max_mean")),
               ("AdaShift default (n 10, mean)", dict()),
               ("AdaShift default, foreach=False", dict(foreach=False)),
               ("AdaShift n 10, reduce none", dict(reduce="none"))]
    for name, kw in configs:
        t = time_steps(lambda p: AdaShift(p, lr=2e-4, **kw), params, args.timed_steps)
        print(f"| {name:44s} | {t * 1e3:8.2f} | {t / adam:7.2f} |")

    print(f"\nstochastic counterexample, {args.steps} steps, 64 chains, optimum theta = -1")
    print(f"| {'optimizer':44s} | {'mean theta':>10s} | {'min':>6s} | {'max':>6s} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 8}|{'-' * 8}|")
    for name, make in STOCHASTIC.items():
        theta = stochastic(make, args.steps)[-1]
        print(f"| {name:44s} | {theta.mean():10.3f} | {theta.min():6.3f} | {theta.max():6.3f} |")


if __name__ == "__main__":
    main()
