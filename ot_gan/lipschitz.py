"""Lipschitz regularizers for critics: clip, gp, lp, sn, maxgp, maxal.

Every regularizer has the same small interface, used by the W1 estimator and the GAN engine:
``prepare(critic)`` once before training (spectral norm rewires the layers), ``penalty(critic,
real, fake)`` added to the critic loss, and ``after_step(critic)`` after each optimizer step
(weight clipping, the MaxAL multiplier update). They are ``nn.Module``s so that their state
(the MaxAL multiplier, the worst-point buffer) travels in ``state_dict``.

Notation (docs/algorithms.md section 2): s_i = ||grad_x f(x_hat_i)||_2 at interpolates
x_hat = a x_r + (1 - a) x_g, a ~ U[0, 1] per pair; k is the target Lipschitz constant.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ot_gan import parallel
from ot_gan.errors import InputError

METHODS = ("clip", "gp", "lp", "sn", "maxgp", "maxal", "bjorck")


def interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                 shard: tuple[int, int] = (0, 1)) -> Tensor:
    """Points on the segments between paired samples, one uniform weight per pair (drawn from
    ``generator``, on the samples' device, or from torch's global generator). With ``shard`` =
    (rank, world), the pairs are this rank's share of a global batch: the weights of the whole
    global batch are drawn and this rank's are kept, so that N ranks use the weights one would."""
    n = min(len(real), len(fake))
    real, fake = real[:n], fake[:n]
    rank, world = shard
    a = torch.rand((n * world,) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype,
                   generator=generator)[rank * n:(rank + 1) * n]
    return a * real + (1 - a) * fake


def gradient_norms(critic: nn.Module, x: Tensor, create_graph: bool = True) -> Tensor:
    """Per-sample ||grad_x f(x_i)||_2 over all input dimensions of sample i."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


@contextmanager
def fixed_weights(critic: nn.Module) -> Iterator[nn.Module]:
    """Within the block, each parametrized weight of ``critic`` (bjorck's orthonormalization,
    spectral norm's division) is computed once, as a constant, instead of at every forward pass
    (torch's ``parametrize.cached``): for evaluation passes over many chunks. Gradients with
    respect to the inputs still flow."""
    with parametrize.cached():
        with torch.no_grad():
            for module in critic.modules():
                if parametrize.is_parametrized(module):
                    for name in module.parametrizations:
                        getattr(module, name)
        yield critic


class Regularizer(nn.Module):
    """No penalty and no hook; the base of every regularizer.

    ``calibrates_lipschitz``: training drives the critic's K to ``k`` itself, so a W1 estimate is
    the gap divided by ``k``; otherwise K has to be measured and the gap divided by it.
    ``generator``: where the penalty's interpolates draw their weights (None: torch's global
    generator); the W1 estimator sets its own so that it never touches the global one.
    ``shard``: (rank, world) under data-parallel training over torch.distributed, set by whoever
    trains (the engine, the W1 estimator); each rank then penalizes its share of the global batch
    and batch maxima are taken over all ranks, so that N processes compute what one would.
    ``measures_slopes``: the penalty measures per-sample gradient norms s_i, which are only per
    sample for a critic that does not couple the samples of a batch."""

    calibrates_lipschitz = False
    measures_slopes = False

    def __init__(self, k: float = 1.0) -> None:
        super().__init__()
        self.k = k
        self.last_slope = float("nan")  # batch max of s_i at the last penalty (over all ranks)
        self.generator: torch.Generator | None = None
        self.shard = (0, 1)

    def prepare(self, critic: nn.Module) -> nn.Module:
        """Adapt the critic before training; returns it."""
        return critic

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """The term added to the critic loss (which the critic minimizes)."""
        return real.new_zeros(())

    def after_step(self, critic: nn.Module) -> None:
        """Called after each critic optimizer step."""

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())

    def hyperparameters(self) -> dict[str, Any]:
        return {"k": self.k}


class WeightClip(Regularizer):
    """Clamp every critic weight to [-c, c] after each step (WGAN, arXiv 1701.07875)."""

    def __init__(self, c: float = 0.01) -> None:
        super().__init__()
        self.c = c

    @torch.no_grad()
    def after_step(self, critic: nn.Module) -> None:
        for p in critic.parameters():
            p.clamp_(-self.c, self.c)

    def hyperparameters(self) -> dict[str, Any]:
        return {"c": self.c}


class SpectralNorm(Regularizer):
    """Spectral normalization of every linear and conv weight (arXiv 1802.05957)."""

    def prepare(self, critic: nn.Module) -> nn.Module:
        for module in list(critic.modules()):
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.utils.parametrizations.spectral_norm(module)
        return critic

    def hyperparameters(self) -> dict[str, Any]:
        return {}


class _Bjorck(nn.Module):
    """Bjorck and Bowie's iteration W <- 1.5 W - 0.5 W W^T W toward the nearest matrix with
    orthonormal rows (or columns, if it is tall), at most ``train_iters`` steps in training mode
    and ``iters`` in eval mode (few while training, more before any figure is read: Prach,
    Serrurier, Lampert, "1-Lipschitz layers compared", CVPR 2023), stopping early once every entry
    of W W^T is within ``tol`` of the identity's (then the singular values are within about
    ``tol`` of 1, and the next step would change W by less than that). From weights initialized
    orthogonal (``Orthonormal.prepare``), whose training moves them little from orthonormal, that
    takes 2 to 6 steps on a 128 x 128 layer where a random start's smallest singular values need
    all 15.

    W is first divided by its largest singular value, tracked as spectral norm tracks it: a
    persistent vector, one power-iteration step per call on the small Gram matrix W W^T (thirty on
    the first), detached. Every singular value then starts at most about 1, where dividing by
    ||W||_F starts them at 1 / sqrt(rank) or below and takes many more steps to lift them; the map
    s -> 1.5 s - 0.5 s^3 sends (0, sqrt(3)) into (0, 1] and 1 to 1, so a slight underestimate is
    harmless. A wide W (r rows, c >= 2r columns: an image critic's first layer) is iterated as
    W_k = P_k W with P_{k+1} = 1.5 P_k - 0.5 P_k G P_k^T P_k and G = W W^T, the same matrices in
    exact arithmetic, at r x r cost per step instead of r x r x c (7x less for 128 x 3,072)."""

    def __init__(self, iters: int, train_iters: int, tol: float) -> None:
        super().__init__()
        self.iters, self.train_iters, self.tol = iters, train_iters, tol
        self.register_buffer("v", torch.zeros(0))

    @torch.no_grad()
    def _largest_singular_value(self, gram: Tensor) -> Tensor:
        steps = 1
        if self.v.shape != (len(gram),):
            self.v = torch.randn(len(gram), dtype=gram.dtype, device=gram.device)
            steps = 30
        for _ in range(steps):
            self.v = nn.functional.normalize(gram @ self.v, dim=0)
        return (self.v @ gram @ self.v).clamp_min(1e-12).sqrt()

    def _orthonormal(self, gram: Tensor) -> bool:
        """Whether the Gram matrix of the current iterate is within ``tol`` of the identity."""
        return bool((gram.detach() - torch.eye(len(gram), dtype=gram.dtype, device=gram.device)).abs().max()
                    < self.tol)

    def forward(self, weight: Tensor) -> Tensor:
        # In bf16 or TF32 the iterate could never come within ``tol``: full float32 here.
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            with torch.autocast(weight.device.type, enabled=False):
                return self._iterate(weight.float())
        finally:
            torch.set_float32_matmul_precision(before)

    def _iterate(self, weight: Tensor) -> Tensor:
        tall = weight.shape[0] > weight.shape[1]
        w = weight.T if tall else weight
        gram = w @ w.T
        scale = self._largest_singular_value(gram.detach())
        w, gram = w / scale, gram / scale**2
        iters = self.train_iters if self.training else self.iters
        if w.shape[1] >= 2 * w.shape[0]:
            p = torch.eye(len(w), dtype=w.dtype, device=w.device)
            for _ in range(iters):
                current = p @ gram @ p.T  # the Gram matrix of P W
                if self._orthonormal(current):
                    break
                p = 1.5 * p - 0.5 * current @ p
            w = p @ w
        else:
            for _ in range(iters):
                current = w @ w.T  # the small Gram matrix: rows <= columns here
                if self._orthonormal(current):
                    break
                w = 1.5 * w - 0.5 * current @ w
        return w.T if tall else w


class Orthonormal(Regularizer):
    """Orthonormal weights (Anil, Lucas, Grosse, arXiv 1811.05381): every linear layer's weight is
    replaced by its Bjorck orthonormalization, a torch parametrization. With GroupSort, which
    permutes, the square layers then keep gradient norms (a gradient-norm-preserving network), so
    |grad f| can be 1 at every sample, as a Kantorovich potential's is along every transport ray,
    where a penalty on the largest slope (MaxAL) leaves most samples' slopes below 1. No penalty; K
    is at most 1 by construction and measured. ``train_iters`` Bjorck steps per training step (by
    default ``iters``) and ``iters`` in eval mode: 3 while training make a step 0.77 of MaxAL's at
    3,072-D instead of 2.1 times, but read 0.860 / 0.756 of the truth (all samples / held-out) on
    the 3,072-D funnel pair where 12 steps throughout read 0.909 / 0.792, so the default trains with
    all of them (docs/benchmarks.md). A warm start (each training pass iterating, in the P form,
    from the last step's P instead of the identity) was tried and not adopted: from that P as it is,
    or divided by a power-iteration estimate of its largest singular value, a square layer's tiny
    singular values blew up (one reached 2,193 within 50 small weight changes); divided by a bound
    that always holds (the largest row sum of |P W W^T P^T|), it stayed stable but ended less
    orthonormal than 3 steps from the identity (5% of singular values above 0.99 against 34%).
    What speeds it instead: ``prepare`` initializes every linear weight orthogonal, and each pass
    stops once the iterate is orthonormal within ``tol``; training moves the raw weights little
    from orthonormal, so a 128 x 128 layer takes 2 to 6 steps instead of the 15 that nn.Linear's
    random start needs (its smallest singular values are near 1/(2n) of the largest). On four
    funnel pairs (64-D to 3,072-D) bjorck then read the same held-out figures within 0.02 (an
    orthogonal start is another draw of the initial critic) in 0.53-0.76 of the time.
    Linear layers only: an orthonormal reshaped convolution kernel does not make the convolution
    1-Lipschitz, so critics with convolutions are refused."""

    def __init__(self, iters: int = 15, train_iters: int | None = None, tol: float = 1e-4) -> None:
        super().__init__()
        self.iters, self.train_iters, self.tol = iters, iters if train_iters is None else train_iters, tol

    def prepare(self, critic: nn.Module) -> nn.Module:
        if any(isinstance(m, nn.modules.conv._ConvNd) for m in critic.modules()):
            raise InputError("the bjorck regularizer orthonormalizes linear layers only; this critic has "
                             "convolutions (use sn, maxgp or maxal)")
        for module in list(critic.modules()):
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight)
                parametrize.register_parametrization(module, "weight", _Bjorck(self.iters, self.train_iters, self.tol))
        return critic

    def hyperparameters(self) -> dict[str, Any]:
        return {"iters": self.iters, "train_iters": self.train_iters, "tol": self.tol}


class GradientPenalty(Regularizer):
    """rho mean_i (s_i - k)^2 (WGAN-GP, arXiv 1704.00028)."""

    measures_slopes = True
    one_sided = False  # penalize only slopes above k

    def __init__(self, rho: float = 10.0, k: float = 1.0) -> None:
        super().__init__(k)
        self.rho = rho

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        s = gradient_norms(critic, interpolates(real, fake, self.generator, self.shard))
        self.last_slope = parallel.global_max(s.detach().max(), self.shard[1]).item()
        excess = (s - self.k).clamp(min=0) if self.one_sided else s - self.k
        return self.rho * excess.square().mean()

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "k": self.k}


class OneSidedGradientPenalty(GradientPenalty):
    """The part of the gradient penalty above k: rho mean_i max(0, s_i - k)^2 (WGAN-LP, arXiv 1709.08894)."""

    one_sided = True


class _MaxSlope(Regularizer):
    """Shared by MaxGP and MaxAL: the batch maximum of s_i, with an optional buffer that carries
    the ``buffer`` interpolates of largest slope into the next batch (arXiv 1904.01184).

    Only the arg-max point's slope has a gradient, so the slopes of the batch are measured without
    a graph and only that point's is recomputed with one: the double backward runs on one sample
    instead of the batch, which is most of the cost of a critic step on small networks.

    Over several ranks (``shard``), each gathers every rank's top points and their slopes, so all
    take the same global maximum, recompute its slope at the same point and keep the same buffer
    (rank 0 alone adds the buffer to its batch, once); the penalty, MaxAL's multiplier and its
    gradient are then the same on every rank, and averaging gradients keeps them as one process
    would have them."""

    measures_slopes = True

    def __init__(self, rho: float, k: float, buffer: int) -> None:
        super().__init__(k)
        self.rho, self.buffer = rho, buffer
        self.worst: Tensor | None = None

    def max_slope(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        (rank, world), x = self.shard, interpolates(real, fake, self.generator, self.shard)
        keep = max(1, min(self.buffer, len(x)))  # the same on every rank: each has len(x) interpolates
        if rank == 0 and self.worst is not None and self.worst.shape[1:] == x.shape[1:]:
            x = torch.cat([x, self.worst.to(x)])
        s = gradient_norms(critic, x, create_graph=False)
        s, top = s.topk(keep)
        points = parallel.gather(x[top].detach(), world)
        if world > 1:  # the top points of the global batch, in the order one process would find them
            points = points[parallel.gather(s, world).topk(keep).indices]
        if self.buffer:
            self.worst = points
        smax = gradient_norms(critic, points[:1])[0]
        self.last_slope = smax.item()
        return smax

    def get_extra_state(self) -> dict[str, Any]:
        return {"worst": self.worst}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.worst = state["worst"]

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "k": self.k, "buffer": self.buffer}


class MaxGP(_MaxSlope):
    """rho (max_i s_i - k)^2: two-sided, on the batch maximum (arXiv 1904.01184).

    It settles near K = k + W / (2 rho), so estimates must be divided by the measured K."""

    def __init__(self, rho: float = 10.0, k: float = 1.0, buffer: int = 0) -> None:
        super().__init__(rho, k, buffer)

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return self.rho * (self.max_slope(critic, real, fake) - self.k).square()


class MaxAL(_MaxSlope):
    """Augmented Lagrangian on c = max_i s_i - k (arXiv 1904.01184): rho c^2 + lam c.

    The multiplier lam is not a parameter: after every critic step lam <- lam + eta c. At the
    fixed point K = k exactly and lam equals the W1 estimate, so W1 is read off as E_P f - E_Q f.
    Near equilibrium c ~ (W - lam) / (2 rho), so lam approaches W with a time constant of
    2 rho / eta steps whatever the data's scale; the default eta = rho / 10 (20 steps) lets the
    critic keep up, where the classic eta = 2 rho (one step) makes lam oscillate.
    With ``inequality`` the constraint is K <= k: s = min(c + lam / (2 rho), 0), penalty
    rho (c - s)^2 + lam (c - s), and lam <- max(lam + eta c, 0).
    """

    calibrates_lipschitz = True

    def __init__(self, rho: float = 10.0, k: float = 1.0, eta: float | None = None,
                 inequality: bool = False, buffer: int = 0) -> None:
        super().__init__(rho, k, buffer)
        self.eta = rho / 10 if eta is None else eta
        self.inequality = inequality
        self.register_buffer("multiplier", torch.zeros(()))
        self._constraint: Tensor | None = None

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        c = self.max_slope(critic, real, fake) - self.k
        self._constraint = c.detach()
        lam = self.multiplier.to(c)
        if self.inequality:
            c = c - torch.clamp(c + lam / (2 * self.rho), max=0.0)
        return self.rho * c.square() + lam * c

    @torch.no_grad()
    def after_step(self, critic: nn.Module) -> None:
        if self._constraint is None:
            return
        self.multiplier += self.eta * self._constraint.to(self.multiplier)
        if self.inequality:
            self.multiplier.clamp_(min=0.0)
        self._constraint = None

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "eta": self.eta, "inequality": self.inequality}


def regularizer_by_name(name: str, rho: float) -> Regularizer:
    """The app-level choice: ``none`` or a method of ``METHODS``, with the penalty weight ``rho``
    for those that have one (gp, lp, maxgp, maxal)."""
    if name == "none":
        return Regularizer()
    return make_regularizer(name, **({"rho": rho} if name in PENALIZED else {}))


REGULARIZERS: dict[str, type[Regularizer]] = {
    "clip": WeightClip, "gp": GradientPenalty, "lp": OneSidedGradientPenalty, "sn": SpectralNorm, "maxgp": MaxGP,
    "maxal": MaxAL, "bjorck": Orthonormal}


PENALIZED = tuple(name for name, cls in REGULARIZERS.items() if "rho" in inspect.signature(cls).parameters)


def regularizer_options(name: str) -> list[str]:
    """The keyword hyperparameters of the regularizer ``name`` (its class's parameters)."""
    return list(inspect.signature(REGULARIZERS[name]).parameters)


def make_regularizer(name: str, **kwargs: Any) -> Regularizer:
    """A regularizer by name (one of ``METHODS``), with its keyword hyperparameters."""
    if name not in REGULARIZERS:
        raise ValueError(f"unknown Lipschitz regularizer {name!r}; choose one of {', '.join(METHODS)}")
    return REGULARIZERS[name](**kwargs)
