"""Wasserstein-1 distance between two sample sets.

The critic methods train a Lipschitz-regularized network f on the Kantorovich-Rubinstein dual,
W1(P, Q) = sup_{f 1-Lipschitz} E_P f - E_Q f (ALGORITHMS.md section 1), streaming minibatches so
that memory does not grow with the number of samples. MaxAL (arXiv 1904.01184) drives the
critic's Lipschitz constant K to exactly 1 and reads W1 off directly; every other regularizer's
gap is divided by the K measured on many fresh interpolates. The baselines come from POT:
``exact`` (network simplex, the plug-in W1 of the two sets), ``sinkhorn`` (entropic, log domain)
and ``sliced`` (the sliced W1, a different and smaller quantity). ``ctransform_w1`` turns a
trained critic into a certified lower bound of the plug-in W1, without a cost matrix in memory.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ot
import scipy.stats
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ot_gan.data import split_indices
from ot_gan.errors import InputError
from ot_gan.interrupt import StopRequest, stop_on_signals
from ot_gan.lipschitz import METHODS as CRITIC_METHODS
from ot_gan.lipschitz import Regularizer, gradient_norms, interpolates, make_regularizer
from ot_gan.models import critic_for
from ot_gan.optim import AdaShift

POT_METHODS = ("exact", "sinkhorn", "sliced")
METHODS = CRITIC_METHODS + POT_METHODS
EXACT_MAX_ENTRIES = 64_000_000  # a 512 MB float64 cost matrix: about 8k x 8k samples
CTRANSFORM_MAX_ENTRIES = 2_500_000_000  # 50k x 50k distances, streamed: about a minute on one core
Array = np.ndarray | Tensor


@dataclass
class W1Result:
    """A W1 estimate and how it was obtained."""

    distance: float  # the estimate on all samples (the plug-in W1 for ``exact``)
    method: str
    n_a: int
    n_b: int
    dim: int
    seconds: float
    heldout: float | None = None  # critic methods: the estimate on held-out samples
    ci95: tuple[float, float] | None = None  # bootstrap 95% interval of ``heldout``
    lipschitz: float | None = None  # critic's Lipschitz constant, max over fresh interpolates
    steps: int | None = None
    ctransform: float | None = None  # critic methods, on request: the c-transform lower bound of ``exact``
    interrupted: bool = False  # critic methods: training was stopped by Ctrl-C before it settled
    details: dict[str, Any] = field(default_factory=dict)


def _as_float_tensor(x: Array, name: str) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if not t.is_floating_point():
        t = t.float()
    if t.dim() < 2 or len(t) == 0:
        raise InputError(f"{name}: expected an array of samples (n, ...), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return t


def _check_pair(x: Array, y: Array) -> tuple[Tensor, Tensor]:
    x, y = _as_float_tensor(x, "first set"), _as_float_tensor(y, "second set")
    if x.shape[1:] != y.shape[1:]:
        raise InputError(f"the sets have different sample shapes: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}")
    return x, y


def _cost_matrix(x: Tensor, y: Tensor, max_entries: int, method: str) -> np.ndarray:
    """The Euclidean cost matrix (float64), refused when it would not fit in memory."""
    if len(x) * len(y) > max_entries:
        gib = len(x) * len(y) * 8 / 2**30
        raise InputError(f"{method} on {len(x)} x {len(y)} samples needs a {gib:.1f} GiB cost matrix; "
                         f"use --method maxal (or a subsample) for sets this large")
    return ot.dist(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(), metric="euclidean")


def exact_w1(x: Array, y: Array, max_entries: int = EXACT_MAX_ENTRIES) -> float:
    """The plug-in W1 of the two empirical measures: POT's network simplex on the Euclidean cost.

    ``numItermax`` is set high and POT's early-stop warning is treated as an error, since the
    default limit returns a too-large value silently."""
    x, y = _check_pair(x, y)
    cost = _cost_matrix(x, y, max_entries, "exact OT")
    value, log = ot.emd2(ot.unif(len(x)), ot.unif(len(y)), cost, numItermax=2_000_000_000, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    return float(value)


def sinkhorn_w1(x: Array, y: Array, reg: float = 0.01, max_entries: int = EXACT_MAX_ENTRIES) -> float:
    """Transport cost <P, C> of the entropic plan (log-domain Sinkhorn, POT), Euclidean cost C.

    ``reg`` is relative to the mean cost; the value is above the exact W1 and tends to it as
    reg -> 0."""
    x, y = _check_pair(x, y)
    cost = _cost_matrix(x, y, max_entries, "sinkhorn")
    plan = ot.sinkhorn(ot.unif(len(x)), ot.unif(len(y)), cost, reg * cost.mean(),
                       method="sinkhorn_log", numItermax=10_000, stopThr=1e-7)
    return float((plan * cost).sum())


def sliced_w1(x: Array, y: Array, n_projections: int = 500, seed: int = 0) -> float:
    """The sliced W1 (mean over random directions of the 1-D W1 of the projections, POT).

    A different quantity: it is at most W1, and smaller by a dimension-dependent factor."""
    x, y = _check_pair(x, y)
    return float(ot.sliced_wasserstein_distance(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(),
                                                n_projections=n_projections, p=1, seed=seed))


def _check_ctransform_size(n: int, m: int, max_entries: int) -> None:
    if n * m > max_entries:
        raise InputError(f"the c-transform of {n} x {m} samples needs {n * m:.1e} distances (at most "
                         f"{max_entries:.1e}, about a minute); subsample the sets or leave it out")


def ctransform_w1(fx: Array, x: Array, y: Array, max_entries: int = CTRANSFORM_MAX_ENTRIES,
                  device: str | torch.device = "cpu", chunk_entries: int = 2**22) -> float:
    """A certified lower bound of the plug-in W1 from a critic's values fx = f(x) on x.

    The double c-transform of the discrete dual (Mallasto, Montufar, Gerolin, "How well do WGANs
    estimate the Wasserstein metric?", arXiv 1910.03875): psi_j = min_i |x_i - y_j| - f(x_i), then
    phi_i = min_j |x_i - y_j| - psi_j. The pair satisfies phi_i + psi_j <= |x_i - y_j| by
    construction, so mean(phi) + mean(psi) <= exact W1 whatever f is; and phi >= f on x, psi >= -f
    on y when f is 1-Lipschitz, so it is at least the critic's own gap. The distances are streamed
    in blocks of ``chunk_entries``, never held as a matrix; n x m above ``max_entries`` is refused.
    Being tied to the plug-in value, it inherits that value's upward bias in high dimension."""
    x, y = _check_pair(x, y)
    _check_ctransform_size(len(x), len(y), max_entries)
    x, y = (t.flatten(1).to(device, torch.float32) for t in (x, y))
    fx = torch.as_tensor(fx).to(device, torch.float32).flatten()

    def transform(a: Tensor, b: Tensor, fb: Tensor) -> Tensor:
        """min_j |a_i - b_j| - fb_j for every i, in blocks of rows of a."""
        rows = max(1, chunk_entries // len(b))
        return torch.cat([(torch.cdist(a[i:i + rows], b) - fb).amin(1) for i in range(0, len(a), rows)])

    psi = transform(y, x, fx)
    phi = transform(x, y, psi)
    return float(phi.double().mean() + psi.double().mean())


class CriticEstimator:
    """W1 by training a Lipschitz-regularized critic on the Kantorovich-Rubinstein dual.

    ``fit(x, y)`` splits each set into training and held-out samples, trains the critic with
    AdaShift on minibatches until the held-out estimate and the Lipschitz constant have settled (or
    ``steps`` is reached), anneals the learning rate to 0 over a quarter as many steps again,
    then measures K on many fresh interpolates. ``result_`` holds the
    estimate on all samples, the held-out estimate with a bootstrap 95% interval (a 1-Lipschitz
    critic on unseen samples gives a lower bound of the population W1), K, steps and seconds.

    Args:
        regularizer: one of clip, gp, lp, sn, maxgp, maxal, or a ``Regularizer`` instance.
        critic: the network; by default an MLP of ``width``, ``depth`` and GroupSort ``group``
            (or a conv net for images of side >= 16).
        steps: the most critic steps before annealing; at least ``min_steps`` are taken.
        tol: relative change of K and rise of the held-out gap (means over two windows of
            ``check_every`` steps) since half as many steps, under which training has settled.
        ctransform: also compute ``ctransform_w1`` of the trained critic on all samples (a
            certified lower bound of the exact plug-in W1; sets up to 50k x 50k).
        interruptible: a Ctrl-C (or SIGTERM) during training stops it after the current step, and
            the critic trained so far is still measured, with ``interrupted`` set in the result;
            a second one quits. Off, Ctrl-C raises KeyboardInterrupt as usual.
    """

    def __init__(
        self,
        regularizer: str | Regularizer = "maxal",
        critic: nn.Module | None = None,
        *,
        steps: int = 8000,
        min_steps: int = 1000,
        batch_size: int = 256,
        lr: float = 1e-3,
        width: int = 128,
        depth: int = 4,
        group: int = 2,
        holdout: float = 0.2,
        tol: float = 0.005,
        check_every: int = 500,
        bootstrap: int = 1000,
        device: str | torch.device = "cpu",
        seed: int = 0,
        progress: bool = False,
        ctransform: bool = False,
        interruptible: bool = False,
        **regularizer_kwargs: Any,
    ) -> None:
        if isinstance(regularizer, str) and regularizer not in CRITIC_METHODS:
            raise InputError(f"unknown critic method {regularizer!r}; choose one of {', '.join(CRITIC_METHODS)}")
        self.regularizer = (make_regularizer(regularizer, **regularizer_kwargs)
                            if isinstance(regularizer, str) else regularizer)
        self.method = regularizer if isinstance(regularizer, str) else type(regularizer).__name__.lower()
        self.critic = critic
        self.steps, self.min_steps, self.batch_size, self.lr = steps, min_steps, batch_size, lr
        self.width, self.depth, self.group, self.holdout, self.tol = width, depth, group, holdout, tol
        self.check_every, self.bootstrap = check_every, bootstrap
        self.device, self.seed, self.progress = torch.device(device), seed, progress
        self.ctransform, self.interruptible = ctransform, interruptible
        self.scale = 1.0  # the gap is divided by this: the measured K, or 1 for MaxAL
        self.result_: W1Result | None = None

    def fit(self, x: Array, y: Array) -> CriticEstimator:
        """Train the critic on samples x ~ P and y ~ Q; sets ``result_``."""
        start = time.perf_counter()
        x, y = _check_pair(x, y)
        if self.ctransform:
            _check_ctransform_size(len(x), len(y), CTRANSFORM_MAX_ENTRIES)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        (tr_x, ho_x), (tr_y, ho_y) = (split_indices(n, self.holdout, gen) for n in (len(x), len(y)))
        if self.critic is None:
            self.critic = critic_for(tuple(x.shape[1:]), width=self.width, depth=self.depth, group=self.group)
        critic = self.regularizer.prepare(self.critic).to(self.device)
        self.regularizer.to(self.device)
        opt = AdaShift(critic.parameters(), lr=self.lr, betas=(0.0, 0.999), reduce="max_mean", eps=1e-8)

        def batch(data: Tensor, idx: Tensor) -> Tensor:
            pick = idx[torch.randint(len(idx), (self.batch_size,), generator=gen)]
            return data[pick].to(self.device, torch.float32, non_blocking=True)

        # Stopping watches the gap on (up to 2048 a side of) the held-out samples too: on a small
        # high-dimensional set the training gap keeps rising as the critic memorizes it.
        watch = (x[ho_x[:2048]], y[ho_y[:2048]]) if len(ho_x) > 1 and len(ho_y) > 1 else None
        window: list[tuple[float, float]] = []  # (gap, slope) of each step since the last check
        watched: list[float] = []  # held-out gaps, ten times per check window
        history: list[tuple[float, float, float]] = []  # means of both at each check (nan: no held-out)
        step, anneal_start, anneal_steps = 0, None, 0
        notice = "ot-gan: stopping the critic's training to report the estimate so far (Ctrl-C again quits)"
        with (stop_on_signals(notice) if self.interruptible else nullcontext(StopRequest()) as stop,
              tqdm(total=self.steps, desc=f"W1 {self.method}", disable=not self.progress, leave=False) as bar):
            while not stop.requested and (anneal_start is None or step < anneal_start + anneal_steps):
                step += 1
                if anneal_start is not None:
                    for group in opt.param_groups:
                        group["lr"] = self.lr * (1 - (step - anneal_start) / anneal_steps)
                xb, yb = batch(x, tr_x), batch(y, tr_y)
                f = critic(torch.cat([xb, yb]))
                gap = f[: len(xb)].mean() - f[len(xb):].mean()
                loss = -gap + self.regularizer.penalty(critic, xb, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                self.regularizer.after_step(critic)
                bar.update()
                if anneal_start is not None:
                    continue
                window.append((gap.item(), self.regularizer.last_slope))
                if watch is not None and step % max(1, self.check_every // 10) == 0:
                    watched.append(self._gap(*watch))
                if step % self.check_every == 0:
                    slopes = [s for _, s in window if math.isfinite(s)]
                    history.append((sum(g for g, _ in window) / len(window),
                                    sum(slopes) / len(slopes) if slopes else 1.0,
                                    sum(watched) / len(watched) if watched else math.nan))
                    window.clear()
                    watched.clear()
                    bar.set_postfix(gap=f"{history[-1][0]:.4g}", K=f"{history[-1][1]:.3f}")
                settled = step % self.check_every == 0 and step >= self.min_steps and self._settled(history)
                if settled or step == self.steps:
                    # Decay lr to 0 so that the critic, and with it K, stops jittering.
                    anneal_start, anneal_steps = step, max(1, step // 4)
                    bar.total = step + anneal_steps
                    bar.refresh()
        interrupted = stop.requested and (anneal_start is None or step < anneal_start + anneal_steps)

        critic.eval()
        k = self.lipschitz_constant(x, y)
        self.scale = 1.0 if self.method == "maxal" else k
        fx, fy = self._values(x), self._values(y)
        distance = (fx.mean() - fy.mean()).item() / self.scale
        heldout, ci = None, None
        if len(ho_x) > 1 and len(ho_y) > 1:  # a bootstrap needs two samples a side
            heldout, ci = self._heldout(fx[ho_x], fy[ho_y])
        refined = ctransform_w1(fx / self.scale, x, y, device=self.device) if self.ctransform else None
        self.result_ = W1Result(
            distance=distance, method=self.method, n_a=len(x), n_b=len(y), dim=int(x[0].numel()),
            seconds=time.perf_counter() - start, heldout=heldout, ci95=ci, lipschitz=k, steps=step,
            ctransform=refined, interrupted=interrupted,
            details={"regularizer": self.regularizer.hyperparameters(), "divided_by_K": self.method != "maxal",
                     "batch_size": self.batch_size, "holdout": self.holdout,
                     "critic_parameters": sum(p.numel() for p in critic.parameters()),
                     **({"multiplier": self.regularizer.multiplier.item()}
                        if hasattr(self.regularizer, "multiplier") else {})})
        return self

    def _settled(self, history: list[tuple[float, float, float]]) -> bool:
        """Whether K and the gap have settled: the means over the last two check windows against
        those over the two windows ending halfway through training. K must be within ``tol``
        (relative); the held-out gap must have risen by less than ``tol`` (falling counts: the
        critic is memorizing), or without held-out samples the training gap be within ``tol``.
        Comparing with halfway, a slow climb keeps going however small each window's gain;
        averaging two windows, the critic's slow swings (about 2% of the gap over 500 steps on
        rings) cannot pass for a plateau."""
        if len(history) < 4:
            return False
        half = len(history) // 2
        then, now = np.mean(history[half - 2:half], axis=0), np.mean(history[-2:], axis=0)
        change = (now - then) / np.maximum(abs(now), 1e-12)
        gap_settled = change[2] < self.tol if math.isfinite(change[2]) else abs(change[0]) < self.tol
        return bool(gap_settled and abs(change[1]) < self.tol)

    def _gap(self, a: Tensor, b: Tensor) -> float:
        """E_a f - E_b f, in eval mode (spectral norm's power iteration must not run here)."""
        self.critic.eval()
        gap = (self._values(a).mean() - self._values(b).mean()).item()
        self.critic.train()
        return gap

    @torch.no_grad()
    def _values(self, data: Tensor, chunk: int = 8192) -> Tensor:
        """f on every sample, streamed in chunks."""
        return torch.cat([self.critic(data[i:i + chunk].to(self.device, torch.float32)).float().cpu()
                          for i in range(0, len(data), chunk)])

    def _heldout(self, fx: Tensor, fy: Tensor) -> tuple[float, tuple[float, float]]:
        """The held-out estimate and its percentile bootstrap 95% interval (SciPy)."""
        a, b = fx.double().numpy() / self.scale, fy.double().numpy() / self.scale
        ci = scipy.stats.bootstrap((a, b), lambda u, v, axis: u.mean(axis) - v.mean(axis), n_resamples=self.bootstrap,
                                   confidence_level=0.95, method="percentile", random_state=self.seed).confidence_interval
        return float(a.mean() - b.mean()), (float(ci.low), float(ci.high))

    def lipschitz_constant(self, x: Array, y: Array, n: int = 16384, chunk: int = 4096) -> float:
        """max ||grad f|| over ``n`` fresh interpolates between random pairs of x and y."""
        x, y = _check_pair(x, y)
        best = 0.0
        for i in range(0, n, chunk):
            m = min(chunk, n - i)
            xb = x[torch.randint(len(x), (m,))].to(self.device, torch.float32)
            yb = y[torch.randint(len(y), (m,))].to(self.device, torch.float32)
            s = gradient_norms(self.critic, interpolates(xb, yb), create_graph=False)
            best = max(best, s.max().item())
        return best

    def distance(self, x: Array, y: Array) -> float:
        """E_x f - E_y f with the fitted critic, divided by its K (1 for MaxAL)."""
        if self.result_ is None:
            raise RuntimeError("call fit(x, y) first")
        x, y = _check_pair(x, y)
        return (self._values(x).mean() - self._values(y).mean()).item() / self.scale


def wasserstein1(x: Array, y: Array, method: str = "maxal", **kwargs: Any) -> W1Result:
    """W1 between the sample sets x (n, ...) and y (m, ...) by ``method``.

    Critic methods (maxal, maxgp, gp, lp, sn, clip) take ``CriticEstimator``'s keyword arguments;
    ``exact`` takes ``max_entries``, ``sinkhorn`` ``reg``, ``sliced`` ``n_projections``."""
    if method in CRITIC_METHODS:
        return CriticEstimator(method, **kwargs).fit(x, y).result_
    if method not in POT_METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    start = time.perf_counter()
    xs, ys = _check_pair(x, y)
    fn = {"exact": exact_w1, "sinkhorn": sinkhorn_w1, "sliced": sliced_w1}[method]
    value = fn(xs, ys, **kwargs)
    return W1Result(distance=value, method=method, n_a=len(xs), n_b=len(ys), dim=int(xs[0].numel()),
                    seconds=time.perf_counter() - start)
