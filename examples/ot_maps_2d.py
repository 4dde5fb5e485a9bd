"""OT maps learnt by GAN solvers on the 2-D toys of arXiv 2003.06635 (docs/algorithms.md section 6): the
K-solver (transport cost + GAN, stochastic map G(x, z)), the M-solver (+ the one-sided cycle
||G(F(y)) - y||^2), the B-solver (two deterministic maps, both GANs, both costs, both cycles) and a
plain GAN generator G(x, z) with no cost, on three pairs: four points to a Gaussian, a Gaussian to
eight Gaussians, and a checkerboard to the other checkerboard.

Each panel draws arrows from held-out source samples to their images. Its title gives the map's
mean cost E||x - T(x)||^2 divided by the exact discrete OT cost between held-out samples of the two
sets (POT), and how far the images are from the target: the exact W1 between T(x) and held-out
target samples (the script also prints W1 from the untransported x, for scale). An optimal map
that lands on the target has cost/OT 1 and W1 0. A plain GAN lands on the target with an arbitrary
pairing (cost/OT well above 1); a solver whose cost term outweighs its critic stops short of the
target (cost/OT below 1, W1 above 0). The B-solver's maps are deterministic, so it cannot split
four points into a Gaussian: that panel fails by construction, as a bijection must.

    python examples/ot_maps_2d.py [--steps 1500] [--out ot_maps_2d.png] [--fast]
"""

from __future__ import annotations

import argparse

import ot
import torch
from torch import Tensor, nn

from ot_gan import AdaShift
from ot_gan.lipschitz import GradientPenalty
from ot_gan.models import MLPCritic
from ot_gan.sources import toy_2d
from ot_gan.w1 import exact_w1

SOLVERS = ("plain GAN", "K-solver", "M-solver", "B-solver")
NOISE = 2


def pair(name: str, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """(source, target) samples of one toy pair."""
    g = torch.Generator().manual_seed(seed)
    if name == "four points -> Gaussian":
        corners = torch.tensor([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]])
        return corners[torch.randint(4, (n,), generator=g)], torch.randn(n, 2, generator=g)
    if name == "Gaussian -> 8 Gaussians":
        return 0.5 * torch.randn(n, 2, generator=g), toy_2d("gaussians", n, seed)
    return checkerboard(n, 0, g), checkerboard(n, 1, g)


def checkerboard(n: int, parity: int, g: torch.Generator) -> Tensor:
    """Uniform samples of the unit squares of [-2, 2]^2 whose floor(x) + floor(y) has this parity."""
    x = torch.rand(n, generator=g) * 4 - 2
    row = 2 * torch.randint(2, (n,), generator=g) + (torch.floor(x).long() + parity) % 2 - 2
    return torch.stack([x, row + torch.rand(n, generator=g)], 1)


def mlp(d_in: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))


class Map(nn.Module):
    """T(x) = x + net([x, z]): a residual map, stochastic when it takes noise."""

    def __init__(self, noise: int) -> None:
        super().__init__()
        self.noise = noise
        self.net = mlp(2 + noise)

    def forward(self, x: Tensor) -> Tensor:
        z = torch.randn(len(x), self.noise)
        return x + self.net(torch.cat([x, z], dim=1))


def train(solver: str, x: Tensor, y: Tensor, steps: int, cost_weight: float, n_critic: int = 2,
          batch: int = 256, cycle_weight: float = 1.0) -> Map:
    """The source-to-target map T learnt by ``solver``."""
    torch.manual_seed(0)
    both = solver == "B-solver"
    g, f = Map(0 if both else NOISE), Map(0)
    critics = [MLPCritic(2, width=64, depth=3)] + ([MLPCritic(2, width=64, depth=3)] if both else [])
    penalty = GradientPenalty(rho=0.1)  # the paper's weight for toys
    opt_g = AdaShift([*g.parameters(), *f.parameters()], lr=1e-3, betas=(0.0, 0.999), reduce="max_mean")
    opt_c = AdaShift([p for c in critics for p in c.parameters()], lr=1e-3, betas=(0.0, 0.999), reduce="max_mean")
    decay = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1 - i / steps) for o in (opt_g, opt_c)]
    draw = lambda data: data[torch.randint(len(data), (batch,))]  # noqa: E731
    for _ in range(steps):
        for _ in range(n_critic):
            xs, ys = draw(x), draw(y)
            with torch.no_grad():
                fakes = [g(xs)] + ([f(ys)] if both else [])
            loss = sum(c(fake).mean() - c(real).mean() + penalty.penalty(c, real, fake)
                       for c, real, fake in zip(critics, (ys, xs), fakes))
            opt_c.zero_grad()
            loss.backward()
            opt_c.step()
        xs, ys = draw(x), draw(y)
        gx = g(xs)
        loss = -critics[0](gx).mean()
        if solver != "plain GAN":
            loss = loss + cost_weight * (xs - gx).square().sum(1).mean()
        if solver in ("M-solver", "B-solver"):
            loss = loss + cycle_weight * (g(f(ys)) - ys).square().sum(1).mean()
        if both:
            fy = f(ys)
            loss = (loss - critics[1](fy).mean() + cost_weight * (ys - fy).square().sum(1).mean()
                    + cycle_weight * (f(gx) - xs).square().sum(1).mean())
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        for schedule in decay:
            schedule.step()
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default="ot_maps_2d.png")
    parser.add_argument("--fast", action="store_true", help="few steps, to check that it runs")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(1)
    steps = 20 if args.fast else args.steps
    toys = ("four points -> Gaussian", "Gaussian -> 8 Gaussians", "checkerboard -> checkerboard")
    fig, axes = plt.subplots(len(toys), len(SOLVERS), figsize=(4 * len(SOLVERS), 4 * len(toys)))
    for row, toy in enumerate(toys):
        x, y = pair(toy, 4000, seed=0)
        hx, hy = pair(toy, 1000, seed=1)
        exact = float(ot.emd2([], [], ot.dist(hx.double(), hy.double())))  # squared Euclidean cost
        # The cost's pull 2 w |x - T(x)| at the typical transport distance W1 then matches the critic's
        # slope of about 1; a fixed weight stops the maps short on far pairs and ignores the cost on near ones.
        weight = 0.6 / exact_w1(x[:1000], y[:1000])
        print(f"{toy}: exact OT cost {exact:.3f}, W1 {exact_w1(hx, hy):.3f}, cost weight {weight:.2f}", flush=True)
        for col, solver in enumerate(SOLVERS):
            t = train(solver, x, y, steps, cost_weight=weight)
            with torch.no_grad():
                tx = t(hx)
            ratio = float((hx - tx).square().sum(1).mean()) / exact
            miss = exact_w1(tx, hy)
            ax = axes[row, col]
            ax.scatter(*hy.T, s=2, c="tab:orange", alpha=0.4)
            ax.scatter(*tx.T, s=2, c="tab:green", alpha=0.6)
            shown = slice(0, 1000, 20)
            ax.quiver(*hx[shown].T, *(tx - hx)[shown].T, angles="xy", scale_units="xy", scale=1, width=0.003)
            ax.set(title=f"{toy}\n{solver}: cost / OT {ratio:.2f}, W1 to target {miss:.2f}", xticks=[], yticks=[])
            print(f"{toy:30s} {solver:10s} mean cost / exact OT cost = {ratio:.3f}   W1(T(x), y) = {miss:.3f}",
                  flush=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
