"""The critic's gradient field at the fake samples, unrestricted and under each Lipschitz
regularizer (the LGAN toy of arXiv 1902.05687, docs/algorithms.md section 4).

The reals are a mixture of two broad Gaussians, left and right; the fakes are one narrow Gaussian
between them. Every critic minimizes the LGAN log_sigmoid loss E softplus(f(x_g)) + E softplus(-f(x_r)).
The generator moves each fake along grad f, so that gradient is all it learns from.

- Unrestricted, the optimal f is log(p_r / p_g). Its gradient at the fakes is dominated by
  -grad log p_g = x / sigma_g^2: a steep valley around the fakes, whose gradient points away from
  their center, up and down as readily as toward the reals.
- Under a Lipschitz constraint the optimal f is the Kantorovich potential, whose gradient at a fake
  points to the real sample optimal transport sends it to.

Each panel's title gives the mean cosine between grad f(x_g) and the direction to the real sample
that the exact OT matching (POT) pairs with x_g, and the median gradient norm.

    python examples/lipschitz_gradients.py [--steps 2000] [--out lipschitz_gradients.png] [--fast]
"""

from __future__ import annotations

import argparse

import ot
import torch
from torch import Tensor

from ot_gan import AdaShift
from ot_gan.lipschitz import METHODS, regularizer_by_name
from ot_gan.models import MLPCritic
from ot_gan.objectives import get_objective
from ot_gan.w1.training import critic_step

N = 512


def toy(seed: int = 0) -> tuple[Tensor, Tensor]:
    """(reals, fakes): Gaussians of std 1 at (+-2, 0), and one of std 0.2 at the origin."""
    g = torch.Generator().manual_seed(seed)
    side = torch.randint(2, (N, 1), generator=g) * 4.0 - 2.0
    reals = torch.cat([side, torch.zeros(N, 1)], 1) + torch.randn(N, 2, generator=g)
    return reals, 0.2 * torch.randn(N, 2, generator=g)


def train_critic(method: str, reals: Tensor, fakes: Tensor, steps: int) -> torch.nn.Module:
    """A critic trained on the fixed sets with the LGAN log_sigmoid loss and ``method``."""
    torch.manual_seed(0)
    regularizer = regularizer_by_name(method, rho=10.0)
    critic = regularizer.prepare(MLPCritic(2, width=64, depth=3))
    objective = get_objective("log_sigmoid")
    opt = AdaShift(critic.parameters(), lr=1e-3, betas=(0.0, 0.999), reduce="max_mean")
    for _ in range(steps):
        real, fake = reals[torch.randint(N, (128,))], fakes[torch.randint(N, (128,))]
        critic_step(critic, regularizer, opt, real, fake, loss=objective.critic_loss)
    return critic


def gradients(critic: torch.nn.Module, x: Tensor) -> Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad


def ot_directions(reals: Tensor, fakes: Tensor) -> Tensor:
    """Unit vectors from each fake to the real sample that the exact W1 matching gives it."""
    plan = ot.emd([], [], ot.dist(fakes.double(), reals.double(), metric="euclidean"))
    step = reals[torch.as_tensor(plan).argmax(1)] - fakes
    return step / step.norm(dim=1, keepdim=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", default="lipschitz_gradients.png")
    parser.add_argument("--fast", action="store_true", help="few steps, to check that it runs")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(1)
    reals, fakes = toy()
    target = ot_directions(reals, fakes)
    methods = ("none",) + METHODS
    steps = 50 if args.fast else args.steps
    fig, axes = plt.subplots(2, 4, figsize=(16, 8.4))
    grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 100), torch.linspace(-1.4, 1.4, 70),
                                      indexing="xy"), -1)

    def draw(ax, title: str, arrows: Tensor) -> None:
        """Reals, fakes and one unit arrow per 8th fake, green where it agrees with OT, red where not."""
        agreement = torch.nn.functional.cosine_similarity(arrows, target, dim=1)
        ax.scatter(*reals.T, s=3, c="tab:orange")
        ax.scatter(*fakes.T, s=3, c="tab:blue")
        unit = arrows / arrows.norm(dim=1, keepdim=True).clamp_min(1e-12)
        ax.quiver(*fakes[::8].T, *unit[::8].T, agreement[::8], cmap="RdYlGn", clim=(-1, 1), angles="xy",
                  scale_units="xy", scale=2.5, width=0.006)
        ax.set(title=title, xticks=[], yticks=[], xlim=(-2, 2), ylim=(-1.4, 1.4), aspect="equal")

    for ax, method in zip(axes.flat, methods):
        critic = train_critic(method, reals, fakes, steps)
        grad = gradients(critic, fakes)
        norms = grad.norm(dim=1)
        cosine = float(torch.nn.functional.cosine_similarity(grad, target, dim=1).mean())
        with torch.no_grad():
            levels = critic(grid.reshape(-1, 2)).reshape(grid.shape[:2])
        ax.contourf(grid[..., 0], grid[..., 1], levels, levels=20, cmap="Greys", alpha=0.3)
        name = "unrestricted" if method == "none" else method
        draw(ax, f"{name}: cos to OT direction {cosine:.2f}\nmedian |grad f| {norms.median():.2f}", grad)
        print(f"{name:12s} mean cos(grad f, OT direction) = {cosine:.3f}   median |grad f| = {norms.median():.3f}",
              flush=True)
    draw(axes.flat[-1], "exact OT directions (POT)\nreals orange, fakes blue", target)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
