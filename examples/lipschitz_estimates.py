"""W1 estimate and Lipschitz constant over training for every regularizer, on a case with a known
answer (arXiv 1904.01184, docs/algorithms.md section 2): two random points against two random points in
the plane, whose W1 is the cost of the optimal matching (POT).

Each critic maximizes E_P f - E_Q f under its regularizer; the curves show the raw gap E_P f - E_Q f
over the exact W1, and the critic's Lipschitz constant K (the largest gradient norm over fresh
interpolates). MaxAL drives K to 1 and so reads the true W1 off the gap; the penalty methods settle
with K away from 1 and a biased gap, and clipping far below.

    python examples/lipschitz_estimates.py [--steps 3000] [--out lipschitz_estimates.png] [--fast]
"""

from __future__ import annotations

import argparse

import ot
import torch

from ot_gan import AdaShift
from ot_gan.lipschitz import METHODS, gradient_norms, interpolates, make_regularizer
from ot_gan.models import MLPCritic
from ot_gan.w1.training import critic_step


def train_curve(method: str, x: torch.Tensor, y: torch.Tensor, steps: int, every: int = 25,
                seed: int = 0) -> tuple[list[int], list[float], list[float]]:
    """(steps, gaps, K) recorded every ``every`` steps of training a critic with ``method``."""
    torch.manual_seed(seed)
    regularizer = make_regularizer(method)
    critic = regularizer.prepare(MLPCritic(2, width=64, depth=3))
    opt = AdaShift(critic.parameters(), lr=1e-3, betas=(0.0, 0.999), reduce="max_mean")
    record: tuple[list[int], list[float], list[float]] = ([], [], [])
    for step in range(1, steps + 1):
        critic_step(critic, regularizer, opt, x[torch.randint(len(x), (64,))], y[torch.randint(len(y), (64,))])
        if step % every == 0:
            with torch.no_grad():
                gap = (critic(x).mean() - critic(y).mean()).item()
            probe = interpolates(x[torch.randint(len(x), (1024,))], y[torch.randint(len(y), (1024,))])
            k = gradient_norms(critic, probe, create_graph=False).max().item()
            for column, value in zip(record, (step, gap, k)):
                column.append(value)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="lipschitz_estimates.png")
    parser.add_argument("--fast", action="store_true", help="few steps, to check that it runs")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    x, y = torch.rand(2, 2, generator=gen) * 4, torch.rand(2, 2, generator=gen) * 4
    exact = float(ot.emd2([], [], ot.dist(x.double(), y.double(), metric="euclidean")))
    steps = 100 if args.fast else args.steps
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    print(f"exact W1 (optimal matching of the two pairs): {exact:.4f}")
    for method in METHODS:
        at, gaps, ks = train_curve(method, x, y, steps, seed=args.seed)
        ax1.plot(at, [g / exact for g in gaps], label=method)
        ax2.plot(at, ks, label=method)
        print(f"{method:6s} gap / exact W1 = {gaps[-1] / exact:.3f}   K = {ks[-1]:.3f}")
    ax1.axhline(1, color="gray", lw=0.8, ls="--")
    ax2.axhline(1, color="gray", lw=0.8, ls="--")
    ax1.set(title="E_P f - E_Q f over the exact W1 (not divided by K)", xlabel="step", ylim=(0, 1.6))
    ax2.set(title="Lipschitz constant K of the critic", xlabel="step", yscale="log")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
