"""Adam, AMSGrad and AdaShift on the two counterexamples of arXiv 1810.00143 (docs/algorithms.md
section 5): theta over time, saved as a PNG. The optimum is theta = -1 in both problems; Adam
drifts to +1, AdaShift (and AMSGrad, which needs a max over all past v) goes to -1.

    python examples/adashift_counterexample.py [--out adashift_counterexample.png] [--fast]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import torch

from ot_gan import AdaShift

MakeOptimizer = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


def sequential(make: MakeOptimizer, steps: int) -> list[float]:
    """f_t = 1010 theta if t mod 101 == 1 else -10 theta, lr_t = 1 / sqrt(t), theta in [-1, 1]."""
    theta = torch.zeros(1, requires_grad=True)
    opt = make([theta])
    path = []
    for t in range(1, steps + 1):
        theta.grad = torch.tensor([1010.0 if t % 101 == 1 else -10.0])
        for group in opt.param_groups:
            group["lr"] = 1.0 / math.sqrt(t)
        opt.step()
        with torch.no_grad():
            theta.clamp_(-1.0, 1.0)
        path.append(theta.item())
    return path


def stochastic(make: MakeOptimizer, steps: int, chains: int = 64, delta: float = 0.02,
               record_every: int = 100) -> torch.Tensor:
    """f_t = 101 theta with probability (1 + delta) / 102, else -theta; theta in [-1, 1].

    E[gradient] = 2 delta / 102 * 51 > 0, so theta should go to -1. Independent chains run as one
    vector (element-wise second moments keep them independent); returns theta every
    ``record_every`` steps, shape (steps // record_every, chains)."""
    gen = torch.Generator().manual_seed(0)
    theta = torch.zeros(chains, requires_grad=True)
    opt = make([theta])
    p_big, path = (1 + delta) / 102, []
    for t in range(1, steps + 1):
        theta.grad = torch.where(torch.rand(chains, generator=gen) < p_big, 101.0, -1.0)
        opt.step()
        with torch.no_grad():
            theta.clamp_(-1.0, 1.0)
        if t % record_every == 0:
            path.append(theta.detach().clone())
    return torch.stack(path)


SEQUENTIAL = {
    "Adam": lambda p: torch.optim.Adam(p, betas=(0.9, 0.99), eps=1e-12),
    "AMSGrad": lambda p: torch.optim.Adam(p, betas=(0.9, 0.99), eps=1e-12, amsgrad=True),
    "AdaShift (n 10)": lambda p: AdaShift(p, betas=(0.9, 0.99), keep_num=10, eps=1e-12),
}
STOCHASTIC = {
    "Adam": lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.0, 0.999)),
    "AMSGrad": lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.0, 0.999), amsgrad=True),
    "AdaShift (n 1)": lambda p: AdaShift(p, lr=1e-3, betas=(0.0, 0.999), keep_num=1, reduce="none"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="adashift_counterexample.png")
    parser.add_argument("--fast", action="store_true", help="few steps, to check that it runs")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(1)
    seq_steps, sto_steps = (2_000, 2_000) if args.fast else (50_000, 200_000)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, make in SEQUENTIAL.items():
        path = sequential(make, seq_steps)
        ax1.plot(path, label=name)
        print(f"sequential  {name:16s} theta = {path[-1]:+.3f}")
    ax1.set(title="sequential: 1010 theta every 101 steps, else -10 theta", xlabel="step", ylabel="theta")
    for name, make in STOCHASTIC.items():
        path = stochastic(make, sto_steps)
        mean = path.mean(1)
        steps = torch.arange(1, len(path) + 1) * 100
        ax2.plot(steps, mean, label=name)
        ax2.fill_between(steps, path.quantile(0.1, 1), path.quantile(0.9, 1), alpha=0.2)
        print(f"stochastic  {name:16s} mean theta over 64 runs = {mean[-1]:+.3f}")
    ax2.set(title="stochastic: 101 theta w.p. 1.02/102, else -theta", xlabel="step")
    for ax in (ax1, ax2):
        ax.axhline(-1, color="gray", lw=0.8, ls="--")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
