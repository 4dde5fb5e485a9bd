"""Training speed and peak memory of ``ot-gan translate`` beside a straightforward reimplementation
of the reference CycleGAN training step (junyanz/pytorch-CycleGAN-and-pix2pix: Adam (0.5, 0.999),
LSGAN loss, image pools, cycle and identity losses), same networks, same process, 9 residual
blocks, batch 1.

    python bench/translate.py [--sizes 64,128] [--steps 5] [--threads 1] [--device cpu]

Each (size, implementation) runs in a fresh process so that its peak memory (max RSS on the CPU,
``max_memory_allocated`` on CUDA) is its own. Where the time goes: per step both implementations
run the two generators 6 times with gradients (translation, cycle, identity) and the critics 6 times;
ot-gan shows the critics the previous generator step's fakes, as the reference does, so no
generator pass is computed twice.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from report import add_write_flag  # run as a script: bench/ is on the path
import torch.nn.functional as F

from ot_gan.engine import Trainer
from ot_gan.models import PatchDiscriminator, ResnetGenerator
from ot_gan.tasks.translate import TranslateConfig, TranslateTask

N_IMAGES = 16


class ReferenceStep:
    """One iteration of the reference CycleGAN, written out: G step, then D step on the same fakes."""

    def __init__(self, channels: int, device: torch.device) -> None:
        reference = {"upsample": "transpose", "downsample": "zero"}  # the reference's layers
        self.g_ab, self.g_ba = (ResnetGenerator(channels, channels, 64, 9, **reference).to(device) for _ in range(2))
        self.d_a, self.d_b = (PatchDiscriminator(channels).to(device) for _ in range(2))
        self.opt_g = torch.optim.Adam([*self.g_ab.parameters(), *self.g_ba.parameters()], 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], 2e-4, betas=(0.5, 0.999))
        self.pool_a, self.pool_b = [], []

    @staticmethod
    def gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def pool(self, store: list, fakes: torch.Tensor) -> torch.Tensor:
        out = []
        for image in fakes:
            if len(store) < 50:
                store.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(50, ()))
                out.append(store[i])
                store[i] = image
            else:
                out.append(image)
        return torch.stack(out)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        rec_a, rec_b = self.g_ba(fake_b), self.g_ab(fake_a)
        idt_b, idt_a = self.g_ab(b), self.g_ba(a)
        for p in [*self.d_a.parameters(), *self.d_b.parameters()]:
            p.requires_grad_(False)
        loss_g = (self.gan_loss(self.d_b(fake_b), True) + self.gan_loss(self.d_a(fake_a), True)
                  + 10 * (F.l1_loss(rec_a, a) + F.l1_loss(rec_b, b)) + 5 * (F.l1_loss(idt_b, b) + F.l1_loss(idt_a, a)))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        for p in [*self.d_a.parameters(), *self.d_b.parameters()]:
            p.requires_grad_(True)
        loss_d = 0.0
        for d, real, fake, store in ((self.d_b, b, fake_b, self.pool_b), (self.d_a, a, fake_a, self.pool_a)):
            fake = self.pool(store, fake.detach())
            loss_d = loss_d + 0.5 * (self.gan_loss(d(real), True) + self.gan_loss(d(fake), False))
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()


def measure(impl: str, size: int, steps: int, threads: int, device_name: str) -> tuple[float, float]:
    """(images per second, peak memory in MB) of ``steps`` training steps after one warm-up."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    a, b = (torch.rand(N_IMAGES, 3, size, size) * 2 - 1 for _ in range(2))
    if impl == "reference":
        step = ReferenceStep(3, device)
        run = lambda i: step(a[[i % N_IMAGES]].to(device), b[[i % N_IMAGES]].to(device))  # noqa: E731
    else:
        cfg = TranslateConfig(a="-", b="-", size=size, blocks=9, guidance="none", batch_size=1, steps=steps + 1,
                              channels_last=device.type == "cuda", quiet=True)
        trainer = Trainer(TranslateTask(cfg, a[:4], b[:4]), cfg, {"a": (a,), "b": (b,)}, None, device=device)
        run = lambda i: trainer.train_step()  # noqa: E731
    run(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(1, steps + 1):
        run(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return steps / (time.perf_counter() - start), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_write_flag(parser, "Translation: speed against the reference step")
    args = parser.parse_args()
    print(f"CycleGAN, 9 blocks, batch 1, {args.steps} steps, device {args.device}, {args.threads} thread(s)")
    print(f"{'size':>5}  {'reference img/s':>15}  {'ot-gan img/s':>12}  {'speed ratio':>11}  "
          f"{'reference MB':>12}  {'ot-gan MB':>9}  {'memory ratio':>12}")
    ctx = mp.get_context("spawn")
    for size in (int(s) for s in args.sizes.split(",")):
        results = {}
        for impl in ("reference", "ot-gan"):
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                results[impl] = pool.submit(measure, impl, size, args.steps, args.threads, args.device).result()
        (ref_speed, ref_mem), (our_speed, our_mem) = results["reference"], results["ot-gan"]
        print(f"{size:>5}  {ref_speed:>15.2f}  {our_speed:>12.2f}  {our_speed / ref_speed:>10.2f}x  "
              f"{ref_mem:>12.0f}  {our_mem:>9.0f}  {our_mem / ref_mem:>11.2f}x")


if __name__ == "__main__":
    main()
