"""Wasserstein-1 distance between two sample sets.

The critic methods train a Lipschitz-regularized network f on the Kantorovich-Rubinstein dual,
W1(P, Q) = sup_{f 1-Lipschitz} E_P f - E_Q f (docs/algorithms.md section 1), streaming minibatches so
that memory does not grow with the number of samples. MaxAL (arXiv 1904.01184) drives the
critic's Lipschitz constant K to exactly 1 and reads W1 off directly; every other regularizer's
gap is divided by the K measured on many fresh interpolates. The baselines come from POT:
``exact`` (network simplex, the plug-in W1 of the two sets) and ``sinkhorn`` (entropic, log
domain); ``sliced_wasserstein`` is apart, since the sliced distance is a different and smaller
quantity than W1. Every method takes sample weights, as POT does. ``ctransform_w1`` turns a
trained critic into a certified lower bound of the plug-in W1, without a cost matrix in memory.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ot
import scipy.stats
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ot_gan import parallel
from ot_gan.critic_training import DivergenceGuard, Plateau, critic_step
from ot_gan.data import split_indices
from ot_gan.errors import InputError
from ot_gan.interrupt import StopRequest, stop_on_signals
from ot_gan.lipschitz import METHODS as CRITIC_METHODS
from ot_gan.lipschitz import Regularizer, gradient_norms, interpolates, make_regularizer, regularizer_options
from ot_gan.models import critic_for
from ot_gan.optim import AdaShift

POT_METHODS = ("exact", "sinkhorn")
METHODS = CRITIC_METHODS + POT_METHODS
EXACT_MAX_ENTRIES = 64_000_000  # a 512 MB float64 cost matrix: about 8k x 8k samples
CTRANSFORM_MAX_ENTRIES = 2_500_000_000  # 50k x 50k distances, streamed: about a minute on one core
DEFAULT_LR, DEFAULT_WIDTH = 1e-3, 128  # the critic's learning rate at its default width (see CriticEstimator)
NORMAL_INTERVAL_MIN = 2000  # held-out samples a side from which the interval is the normal one
STOP_NOTICE = "ot-gan: stopping the critic's training to report the estimate so far (Ctrl-C again quits)"
Array = np.ndarray | Tensor


@dataclass
class W1Result:
    """A W1 estimate and how it was obtained (``wasserstein1``'s result).

    ``distance`` is the estimate on all samples (the plug-in W1 for ``exact``); the critic methods
    add the held-out estimate and its interval, the critic's K and steps, and ``potential``, the
    trained critic as a 1-Lipschitz Kantorovich potential f with distance = E_a f(x) - E_b f(y).
    ``status`` and ``converged`` say how the method ended (see the comments below).
    """

    distance: float
    method: str
    n_a: int
    n_b: int
    dim: int
    seconds: float
    heldout: float | None = None  # critic methods: the estimate on held-out samples
    ci95: tuple[float, float] | None = None  # 95% interval of ``heldout`` (bootstrap, or normal for large sets)
    lipschitz: float | None = None  # critic's Lipschitz constant, max over fresh interpolates
    steps: int | None = None
    ctransform: float | None = None  # critic methods, on request: the c-transform lower bound of ``exact``
    interrupted: bool = False  # critic methods: training was stopped by Ctrl-C before it settled
    # How it ended: "solved" (POT), or "cap" for Sinkhorn stopped by its iteration cap; for critics
    # "settled" (the stopping rule fired), "cap" (the step cap came first), "interrupted", or
    # "diverged" (a non-finite gap, penalty or multiplier at step ``diverged_at``: the figures are
    # those of the last finite critic, after ``steps``).
    status: str = "solved"
    diverged_at: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    potential: Potential | None = field(default=None, repr=False, compare=False)  # critic methods
    converged: bool = field(init=False)  # the method's own convergence: solved, or settled

    def __post_init__(self) -> None:
        self.converged = self.status in ("solved", "settled")


def _as_float_tensor(x: Array, name: str) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if not t.is_floating_point():
        t = t.float()
    if t.dim() < 2 or len(t) == 0:
        raise InputError(f"{name}: expected an array of samples (n, ...), got shape {tuple(t.shape)}")
    if not all(torch.isfinite(t[i:i + 65536]).all() for i in range(0, len(t), 65536)):  # no n-sized mask
        raise InputError(f"{name}: contains NaN or infinite values")
    return t


def _check_pair(x: Array, y: Array) -> tuple[Tensor, Tensor]:
    x, y = _as_float_tensor(x, "first set"), _as_float_tensor(y, "second set")
    if x.shape[1:] != y.shape[1:]:
        raise InputError(f"the sets have different sample shapes: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}")
    return x, y


def _check_weights(w: Array | None, n: int, name: str) -> Tensor | None:
    """Sample weights as float64 summing to 1 (None: uniform), or an InputError."""
    if w is None:
        return None
    w = torch.as_tensor(np.asarray(w) if not isinstance(w, Tensor) else w).double().cpu()
    if w.shape != (n,):
        raise InputError(f"{name}: expected one weight per sample, shape ({n},), got {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"{name}: weights must be finite, non-negative and not all 0")
    return w / w.sum()


def _weighted_mean(values: Tensor, w: Tensor | None) -> float:
    """The mean of ``values`` under the weights ``w`` (renormalized; None: uniform), in float64."""
    values = values.double()
    return values.mean().item() if w is None else (values @ w / w.sum()).item()


def _uniform_or(w: Tensor | None, n: int) -> np.ndarray:
    """POT's weight vector: ``w`` or ``ot.unif(n)``."""
    return ot.unif(n) if w is None else w.numpy()


class Potential(nn.Module):
    """A trained critic divided by its Lipschitz constant: a 1-Lipschitz Kantorovich potential
    f (samples (n, ...) -> values (n,)), so that W1 is E_P f - E_Q f (docs/algorithms.md section 1)."""

    def __init__(self, critic: nn.Module, scale: float) -> None:
        super().__init__()
        self.critic, self.scale = critic, scale

    def forward(self, x: Tensor) -> Tensor:
        return self.critic(x) / self.scale


def _cost_matrix(x: Tensor, y: Tensor, max_entries: int, method: str) -> np.ndarray:
    """The Euclidean cost matrix (float64), refused when it would not fit in memory."""
    if len(x) * len(y) > max_entries:
        gib = len(x) * len(y) * 8 / 2**30
        raise InputError(f"{method} on {len(x)} x {len(y)} samples needs a {gib:.1f} GiB cost matrix; "
                         "use {method} (or a subsample) for sets this large",
                         method="maxal")
    return ot.dist(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(), metric="euclidean")


def exact_w1(x: Array, y: Array, a: Array | None = None, b: Array | None = None,
             max_entries: int = EXACT_MAX_ENTRIES) -> float:
    """The plug-in W1 of the two empirical measures (weights ``a``, ``b``; uniform by default):
    POT's network simplex on the Euclidean cost.

    ``numItermax`` is set high and POT's early-stop warning is treated as an error, since the
    default limit returns a too-large value silently."""
    x, y = _check_pair(x, y)
    a, b = _check_weights(a, len(x), "a"), _check_weights(b, len(y), "b")
    cost = _cost_matrix(x, y, max_entries, "exact OT")
    value, log = ot.emd2(_uniform_or(a, len(x)), _uniform_or(b, len(y)), cost, numItermax=2_000_000_000, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    return float(value)


def _sinkhorn(x: Tensor, y: Tensor, a: Tensor | None, b: Tensor | None, reg: float = 0.01,
              max_entries: int = EXACT_MAX_ENTRIES, stop_threshold: float = 1e-7,
              max_iterations: int = 10_000) -> tuple[float, bool]:
    """<P, C> of the log-domain entropic plan P (``ot.sinkhorn2``; Cuturi, NeurIPS 2013), Euclidean
    cost C, and whether the marginals' error fell below ``stop_threshold`` within ``max_iterations``.

    ``reg`` is relative to the mean cost; the value is above the exact W1 and tends to it as
    reg -> 0."""
    cost = _cost_matrix(x, y, max_entries, "sinkhorn")
    value, log = ot.sinkhorn2(_uniform_or(a, len(x)), _uniform_or(b, len(y)), cost, reg * cost.mean(),
                              method="sinkhorn_log", numItermax=max_iterations, stopThr=stop_threshold,
                              log=True, warn=False)
    return float(value), bool(log["err"]) and log["err"][-1] < stop_threshold


def sliced_wasserstein(x: Array, y: Array, a: Array | None = None, b: Array | None = None,
                       n_projections: int = 500, *, seed: int | None = 0) -> float:
    """The sliced Wasserstein-1 distance: the mean over random directions of the 1-D W1 between
    the projections of the two weighted sample sets (``ot.sliced_wasserstein_distance``, p = 1).

    A different quantity from W1: it is at most W1, smaller by a factor that grows with the
    dimension (for a translation, by sqrt(pi d / 2) in high dimension), so it is kept apart from
    ``wasserstein1``.

    Parameters
    ----------
    x : array or tensor, shape (n, ...)
        Samples of the first set (flattened to vectors).
    y : array or tensor, shape (m, ...)
        Samples of the second set, of the same sample shape.
    a, b : array or tensor, shape (n,) and (m,), optional
        Sample weights (normalized to sum 1); uniform by default.
    n_projections : int
        Random directions.
    seed : int or None
        Seed of the directions (None: fresh ones).

    Returns
    -------
    float
        The sliced W1 of the two weighted sets.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> round(sliced_wasserstein(x, x + [3.0, 4.0]), 1)  # W1 = 5; a slice sees 5 |cos t|: 10/pi = 3.18
    3.1

    References
    ----------
    Bonneel, Rabin, Peyre, Pfister, "Sliced and Radon Wasserstein barycenters of measures", JMIV 2015.
    """
    x, y = _check_pair(x, y)
    a, b = _check_weights(a, len(x), "a"), _check_weights(b, len(y), "b")
    return float(ot.sliced_wasserstein_distance(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(),
                                                a=None if a is None else a.numpy(), b=None if b is None else b.numpy(),
                                                n_projections=n_projections, p=1, seed=seed))


def mean_difference_interval(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0,
                             wa: np.ndarray | None = None,
                             wb: np.ndarray | None = None) -> tuple[float, tuple[float, float]]:
    """mean(a) - mean(b) and its 95% interval; with weights ``wa``, ``wb`` the weighted means.

    Unweighted, below ``NORMAL_INTERVAL_MIN`` values on a side, SciPy's percentile bootstrap with
    ``resamples`` resamples; from there on the normal approximation +- z sqrt(var_a / n_a +
    var_b / n_b) (central limit theorem), as accurate at that size and one pass over the values,
    where the bootstrap holds ``resamples`` copies of them. Weighted, always the normal interval,
    each side's variance that of a self-normalized weighted mean, sum_i w_i^2 (v_i - mean)^2 with
    the weights summing to 1 (Owen, "Monte Carlo theory, methods and examples", 2013, section 9.2)."""
    if wa is not None or wb is not None:
        wa, wb = (np.full(len(v), 1 / len(v)) if w is None else w / w.sum() for v, w in ((a, wa), (b, wb)))
        means = [float(w @ v) for v, w in ((a, wa), (b, wb))]
        var = sum(float(w**2 @ (v - m) ** 2) for v, w, m in ((a, wa, means[0]), (b, wb, means[1])))
        value, half = means[0] - means[1], float(scipy.stats.norm.ppf(0.975)) * math.sqrt(var)
        return value, (value - half, value + half)
    value = float(a.mean() - b.mean())
    if min(len(a), len(b)) >= NORMAL_INTERVAL_MIN:
        half = float(scipy.stats.norm.ppf(0.975)) * math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        return value, (value - half, value + half)
    ci = scipy.stats.bootstrap((a, b), lambda u, v, axis: u.mean(axis) - v.mean(axis), n_resamples=resamples,
                               confidence_level=0.95, method="percentile", random_state=seed).confidence_interval
    return value, (float(ci.low), float(ci.high))


def _check_ctransform_size(n: int, m: int, max_entries: int) -> None:
    if n * m > max_entries:
        raise InputError(f"the c-transform of {n} x {m} samples needs {n * m:.1e} distances (at most "
                         f"{max_entries:.1e}, about a minute); subsample the sets or leave it out")


def ctransform_w1(fx: Array, x: Array, y: Array, max_entries: int = CTRANSFORM_MAX_ENTRIES,
                  device: str | torch.device = "cpu", chunk_entries: int = 2**22, a: Array | None = None,
                  b: Array | None = None) -> float:
    """A certified lower bound of the plug-in W1 (sample weights ``a``, ``b``; uniform by default)
    from a critic's values fx = f(x) on x.

    The double c-transform of the discrete dual (Mallasto, Montufar, Gerolin, "How well do WGANs
    estimate the Wasserstein metric?", arXiv 1910.03875): psi_j = min_i |x_i - y_j| - f(x_i), then
    phi_i = min_j |x_i - y_j| - psi_j. The pair satisfies phi_i + psi_j <= |x_i - y_j| by
    construction, so the (weighted) mean(phi) + mean(psi) <= exact W1 whatever f is; and phi >= f on x, psi >= -f
    on y when f is 1-Lipschitz, so it is at least the critic's own gap. The distances are streamed
    in blocks of ``chunk_entries``, never held as a matrix; n x m above ``max_entries`` is refused.
    Being tied to the plug-in value, it inherits that value's upward bias in high dimension."""
    x, y = _check_pair(x, y)
    a, b = _check_weights(a, len(x), "a"), _check_weights(b, len(y), "b")
    _check_ctransform_size(len(x), len(y), max_entries)
    x, y = (t.flatten(1).to(device, torch.float32) for t in (x, y))
    fx = torch.as_tensor(fx).to(device, torch.float32).flatten()

    def transform(a: Tensor, b: Tensor, fb: Tensor) -> Tensor:
        """min_j |a_i - b_j| - fb_j for every i, in blocks of rows of a."""
        rows = max(1, chunk_entries // len(b))
        return torch.cat([(torch.cdist(a[i:i + rows], b) - fb).amin(1) for i in range(0, len(a), rows)])

    psi = transform(y, x, fx)
    phi = transform(x, y, psi)
    return _weighted_mean(phi.cpu(), a) + _weighted_mean(psi.cpu(), b)


@dataclass
class _Training:
    """How a critic's training ended: the steps behind the critic kept, and why it stopped."""

    steps: int
    status: str  # settled, cap, interrupted or diverged
    diverged_at: int | None = None


class CriticEstimator:
    """W1 by training a Lipschitz-regularized critic on the Kantorovich-Rubinstein dual.

    ``fit(x, y)`` splits each set into training and held-out samples, trains the critic with
    AdaShift on minibatches until the held-out estimate and the Lipschitz constant have settled
    (``Plateau``) or ``steps`` is reached, anneals the learning rate to 0 over a quarter as many
    steps again, then measures K on many fresh interpolates. ``result_`` holds the estimate on all
    samples, the held-out estimate with a 95% interval (a 1-Lipschitz critic on unseen samples
    gives a lower bound of the population W1), K, steps, seconds and how training ended. A
    training that goes non-finite (gap, penalty or MaxAL's multiplier) stops there and the critic
    goes back to its last finite state, kept at each check window (status ``diverged``). Every
    ``fit`` starts from a fresh copy of the critic and the regularizer, and draws its randomness
    from ``seed`` without touching torch's global generator.

    Parameters
    ----------
    regularizer : str or Regularizer
        One of clip, gp, lp, sn, maxgp, maxal, or a ``Regularizer`` instance.
    critic : nn.Module, optional
        The network, samples (b, ...) -> values (b,); by default ``critic_for``'s GroupSort MLP of
        ``width`` and ``depth`` on the flattened samples, images included, with groups of
        ``group`` (by default 2 below 16 dimensions, 8 from 16 on).
    steps, min_steps : int
        The most critic steps before annealing, and the fewest.
    batch_size : int
        Samples a side per step (the global batch, split over the ranks when ``distributed``).
    lr : float, optional
        AdaShift's learning rate; by default 1e-3, times 128 / ``width`` for a critic built wider
        than 128. AdaShift (like Adam) scales each tensor's step to its gradient's RMS, so a hidden
        layer's step grows with its width, and width 512 at 1e-3 blew up within 10 steps; 1 / width
        is muP's rule for Adam (Yang et al., "Tensor Programs V", arXiv 2203.03466).
    width, depth, group : int
        The default critic's size and GroupSort group (see ``critic``).
    holdout : float
        Fraction of each set kept out of training, for the held-out estimate.
    tol : float
        Relative change of K and rise of the held-out gap (means over two windows of
        ``check_every`` steps) since half as many steps, under which training has settled.
    check_every : int
        Steps per window of the stopping rule.
    bootstrap : int
        Resamples of the held-out interval's bootstrap (unweighted sets of fewer than
        ``NORMAL_INTERVAL_MIN`` held-out samples a side; the others get the normal interval).
    device : str or torch.device
        Where the critic trains.
    seed : int
        Initial weights, split, minibatches and interpolates; torch's global generator is left alone.
    progress : bool
        A progress bar.
    ctransform : bool
        Also compute ``ctransform_w1`` of the trained critic on all samples (a certified lower
        bound of the exact plug-in W1; sets up to 50k x 50k).
    interruptible : bool
        Deprecated, use ``should_stop``: fit installs Ctrl-C/SIGTERM handlers that stop training
        (a second signal quits).
    should_stop : callable, optional
        Called between steps; when it returns True, training stops and the critic trained so far
        is still measured, with status ``interrupted`` (a Ctrl-C handler in an application, a time
        budget).
    warmup : int
        Steps (at most a tenth of ``steps``) over which the learning rate ramps up linearly. A
        fresh critic's K starts far below 1 (a factor 0.58 per default layer), the MaxAL penalty
        pushes every layer up at once and, AdaShift's second moment being one step old, the first
        steps overshoot: depth 8 or width 512 went non-finite within 10 steps without it.
    distributed : bool
        Train over the processes of torch.distributed's default group (``torchrun``), every one
        calling ``fit`` with the same samples: each global batch is drawn alike on every rank and
        each trains on its share, gradients are averaged, the regularizer takes its batch maximum
        over all ranks (``Regularizer.shard``), and the stopping rule sees the gap averaged over
        them, so N processes train the critic one would, and every rank returns the same result.
    **regularizer_kwargs
        The regularizer's hyperparameters (``rho``, ``k``, MaxAL's ``eta``...), for a named one.

    Attributes
    ----------
    result_ : W1Result
        After ``fit``: the figures, with the critic as ``potential``.
    critic, regularizer : nn.Module
        The trained critic and its regularizer's final state (MaxAL's multiplier).

    Examples
    --------
    >>> import torch
    >>> x, y = torch.randn(2000, 2), torch.randn(2000, 2) + torch.tensor([2.0, 0.0])
    >>> est = CriticEstimator("maxal", steps=2000).fit(x, y)            # doctest: +SKIP
    >>> est.result_.heldout, est.distance(torch.randn(500, 2), y[:500])   # doctest: +SKIP

    References
    ----------
    MaxAL, MaxGP: arXiv 1904.01184; AdaShift: arXiv 1810.00143; the c-transform: Mallasto,
    Montufar, Gerolin, arXiv 1910.03875 (docs/algorithms.md section 1).
    """

    def __init__(
        self,
        regularizer: str | Regularizer = "maxal",
        critic: nn.Module | None = None,
        *,
        steps: int = 8000,
        min_steps: int = 1000,
        batch_size: int = 256,
        lr: float | None = None,
        width: int = 128,
        depth: int = 4,
        group: int | None = None,
        holdout: float = 0.2,
        tol: float = 0.005,
        check_every: int = 500,
        bootstrap: int = 1000,
        device: str | torch.device = "cpu",
        seed: int = 0,
        progress: bool = False,
        ctransform: bool = False,
        interruptible: bool = False,
        should_stop: Callable[[], bool] | None = None,
        warmup: int = 100,
        distributed: bool = False,
        **regularizer_kwargs: Any,
    ) -> None:
        if isinstance(regularizer, str) and regularizer not in CRITIC_METHODS:
            raise InputError(f"unknown critic method {regularizer!r}; choose one of {', '.join(CRITIC_METHODS)}")
        if interruptible:
            warnings.warn("CriticEstimator(interruptible=True) is deprecated: pass should_stop, and handle "
                          "signals in the application (ot_gan.interrupt.stop_on_signals)", DeprecationWarning,
                          stacklevel=2)
        self.regularizer = (make_regularizer(regularizer, **regularizer_kwargs)
                            if isinstance(regularizer, str) else regularizer)
        self.method = regularizer if isinstance(regularizer, str) else type(regularizer).__name__.lower()
        self.critic = critic
        self._templates = (self.regularizer, critic)  # what every fit copies afresh
        if lr is None:
            lr = DEFAULT_LR * (min(1.0, DEFAULT_WIDTH / width) if critic is None else 1.0)
        self.steps, self.min_steps, self.batch_size, self.lr, self.warmup = steps, min_steps, batch_size, lr, warmup
        self.width, self.depth, self.group, self.holdout, self.tol = width, depth, group, holdout, tol
        self.check_every, self.bootstrap = check_every, bootstrap
        self.device, self.seed, self.progress = torch.device(device), seed, progress
        self.ctransform, self.interruptible, self.should_stop = ctransform, interruptible, should_stop
        self.distributed = distributed
        self.scale = 1.0  # the gap is divided by this: the measured K, or k for MaxAL
        self.result_: W1Result | None = None

    def fit(self, x: Array, y: Array, a: Array | None = None, b: Array | None = None) -> CriticEstimator:
        """Train a fresh critic on samples x ~ P and y ~ Q, with sample weights ``a``, ``b``
        (uniform by default: minibatches are drawn with probability ``a`` and ``b``, and every
        mean is weighted); sets ``critic``, ``regularizer`` and ``result_``."""
        start = time.perf_counter()
        x, y = _check_pair(x, y)
        a, b = _check_weights(a, len(x), "a"), _check_weights(b, len(y), "b")
        if self.ctransform:
            _check_ctransform_size(len(x), len(y), CTRANSFORM_MAX_ENTRIES)
        rank, world = parallel.rank_and_world() if self.distributed else (0, 1)
        if self.batch_size % world:
            raise InputError(f"{{batch_size}} does not split over {world} processes", batch_size=self.batch_size)
        gen = torch.Generator().manual_seed(self.seed)
        (tr_x, ho_x), (tr_y, ho_y) = (split_indices(n, self.holdout, gen) for n in (len(x), len(y)))
        self._prepare(tuple(x.shape[1:]))
        self.regularizer.shard = (rank, world)
        with stop_on_signals(STOP_NOTICE) if self.interruptible else nullcontext(StopRequest()) as signals:
            asked = self.should_stop or (lambda: False)
            training = self._train(x, y, (a, b), (tr_x, tr_y), (ho_x, ho_y), gen,
                                   lambda: signals.requested or asked())
        self.result_ = self._evaluate(x, y, (a, b), ho_x, ho_y, training)
        self.result_.seconds = time.perf_counter() - start
        return self

    def _prepare(self, shape: tuple[int, ...]) -> None:
        """A fresh regularizer and critic (a copy of the one given, or a new one for ``shape``),
        prepared and on the device; initial weights (and spectral norm's vectors) from ``seed``."""
        regularizer, critic = (copy.deepcopy(t) for t in self._templates)
        with torch.random.fork_rng(devices=[]):  # the caller's global generator is left as it was
            torch.default_generator.manual_seed(self.seed)
            if critic is None:
                critic = critic_for(shape, width=self.width, depth=self.depth, group=self.group)
            critic = regularizer.prepare(critic)
        regularizer.generator = torch.Generator(self.device).manual_seed(self.seed)
        self.critic, self.regularizer = critic.to(self.device), regularizer.to(self.device)

    def _train(self, x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None],
               train: tuple[Tensor, Tensor], held: tuple[Tensor, Tensor], gen: torch.Generator,
               stop: Callable[[], bool]) -> _Training:
        """Train ``self.critic`` on the training indices until ``Plateau`` says it has settled or
        ``steps``, then anneal; stop early on ``stop()`` or a non-finite value (then the critic
        goes back to its last finite state)."""
        critic, regularizer = self.critic, self.regularizer
        (rank, world), share = regularizer.shard, self.batch_size // regularizer.shard[1]
        opt = AdaShift(critic.parameters(), lr=self.lr, betas=(0.0, 0.999), reduce="max_mean", eps=1e-8)
        if world > 1:
            opt.register_step_pre_hook(lambda *_: parallel.average_gradients(critic, world))
        rule, guard = Plateau(self.check_every, self.tol, self.min_steps), DivergenceGuard(critic, regularizer)

        for w, idx in zip(weights, train):
            if w is not None and w[idx].sum() <= 0:
                raise InputError("the samples with weight are all held out; use a smaller {holdout}", holdout=None)
            if w is not None and len(idx) > 2**24:
                raise InputError(f"weighted minibatches are drawn from at most 2^24 samples a side (torch.multinomial), "
                                 f"not {len(idx)}; subsample the set by its weights")

        def batch(data: Tensor, w: Tensor | None, idx: Tensor) -> Tensor:
            """This rank's share of a global batch of training samples drawn with replacement, with
            probability ``w`` (uniform if None)."""
            draw = (torch.randint(len(idx), (self.batch_size,), generator=gen) if w is None else
                    torch.multinomial(w[idx], self.batch_size, replacement=True, generator=gen))
            mine = draw[rank * share:(rank + 1) * share]
            return data[idx[mine]].to(self.device, torch.float32, non_blocking=True)

        # Stopping watches the gap on (up to 2048 a side of) the held-out samples too: on a small
        # high-dimensional set the training gap keeps rising as the critic memorizes it.
        picks = [idx[:2048] for idx in held]
        watch_weights = [None if w is None else w[i] for w, i in zip(weights, picks)]
        watch = None  # without two held-out samples of some weight a side, the rule reads the training gap
        if min(map(len, held)) > 1 and all(w is None or w.sum() > 0 for w in watch_weights):
            watch = (x[picks[0]], y[picks[1]], *watch_weights)
        step, status, anneal_start, anneal_steps = 0, "cap", None, 0
        # The bar's total is the most the run can take (the cap and its annealing), so its time
        # estimate is an upper bound that shrinks, once, when training settles early.
        most = self.steps + max(1, self.steps // 4)
        with tqdm(total=most, desc=f"W1 {self.method}", disable=not self.progress or rank > 0, leave=False) as bar:
            while anneal_start is None or step < anneal_start + anneal_steps:
                if step and parallel.any_rank(stop(), world, self.device):  # asked between two steps: one is taken
                    status = "interrupted"
                    break
                step += 1
                for group in opt.param_groups:
                    group["lr"] = self._lr_at(step, anneal_start, anneal_steps)
                gap, penalty = critic_step(critic, regularizer, opt, batch(x, weights[0], train[0]),
                                           batch(y, weights[1], train[1]))
                values = guard.check(step, *parallel.mean_over_ranks(torch.stack([gap, penalty.to(gap)]), world))
                if values is None:
                    guard.restore()
                    return _Training(guard.kept_at, "diverged", step)
                bar.update()
                if anneal_start is not None:
                    continue
                probe = watch is not None and step % rule.probe_every == 0
                settled = rule.record(step, values[0], regularizer.last_slope, self._gap(*watch) if probe else None)
                if step % self.check_every == 0:
                    guard.keep(step)
                    bar.set_postfix(gap=f"{rule.history[-1][0]:.4g}", K=f"{rule.history[-1][1]:.3f}")
                if settled or step == self.steps:
                    status, anneal_start, anneal_steps = ("settled" if settled else "cap"), step, max(1, step // 4)
                    guard.keep(step)
                    bar.total = step + anneal_steps
                    bar.refresh()
        return _Training(step, status)

    def _lr_at(self, step: int, anneal_start: int | None, anneal_steps: int) -> float:
        """The learning rate of ``step``: a linear warm-up, then ``lr``, then from ``anneal_start``
        a linear decay to 0 (the critic, and with it K, stops jittering)."""
        if anneal_start is not None:
            return self.lr * (1 - (step - anneal_start) / anneal_steps)
        ramp = min(self.warmup, self.steps // 10)  # short runs get a short ramp
        return self.lr * min(1.0, step / ramp) if ramp else self.lr

    def _evaluate(self, x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None], ho_x: Tensor,
                  ho_y: Tensor, training: _Training) -> W1Result:
        """Measure the trained critic: K, the estimate on all samples, the held-out estimate and
        its interval, the c-transform if asked (weighted means when ``weights`` are given)."""
        self.critic.eval()
        k = self.lipschitz_constant(x, y)
        self.scale = self.regularizer.k if self.regularizer.calibrates_lipschitz else k
        fx, fy = self._values(x), self._values(y)
        (a, b), held = weights, (ho_x, ho_y)
        distance = (_weighted_mean(fx, a) - _weighted_mean(fy, b)) / self.scale
        heldout, ci = None, None
        held_weights = [None if w is None else w[i] for w, i in zip(weights, held)]
        if min(map(len, held)) > 1 and all(w is None or w.sum() > 0 for w in held_weights):
            heldout, ci = mean_difference_interval(
                fx[ho_x].double().numpy() / self.scale, fy[ho_y].double().numpy() / self.scale, self.bootstrap,
                self.seed, *(None if w is None else w.numpy() for w in held_weights))
        refined = (ctransform_w1(fx / self.scale, x, y, device=self.device, a=a, b=b) if self.ctransform
                   else None)
        status, diverged_at = training.status, training.diverged_at
        if not all(map(math.isfinite, (distance, k))):  # finite weights whose values still overflow
            status, diverged_at = "diverged", diverged_at or training.steps
        regularizer = self.regularizer
        return W1Result(
            distance=distance, method=self.method, n_a=len(x), n_b=len(y), dim=int(x[0].numel()), seconds=0.0,
            heldout=heldout, ci95=ci, lipschitz=k, steps=training.steps, ctransform=refined,
            interrupted=status == "interrupted", status=status, diverged_at=diverged_at,
            potential=Potential(self.critic, self.scale),
            details={"regularizer": regularizer.hyperparameters(), "divided_by_K": not regularizer.calibrates_lipschitz,
                     "batch_size": self.batch_size, "holdout": self.holdout,
                     "critic_parameters": sum(p.numel() for p in self.critic.parameters()),
                     **({"multiplier": regularizer.multiplier.item()} if hasattr(regularizer, "multiplier") else {})})

    def _gap(self, x: Tensor, y: Tensor, a: Tensor | None = None, b: Tensor | None = None) -> float:
        """E_x f - E_y f under the weights a, b (uniform if None), in eval mode (spectral norm's
        power iteration must not run here)."""
        self.critic.eval()
        gap = _weighted_mean(self._values(x), a) - _weighted_mean(self._values(y), b)
        self.critic.train()
        return gap

    @torch.no_grad()
    def _values(self, data: Tensor, chunk: int = 8192) -> Tensor:
        """f on every sample, streamed in chunks (n floats in memory, never a float copy of the data).
        The values go into one tensor made beforehand: a small tensor kept per chunk pins each chunk's
        freed activations in glibc's heap, which grew by up to twice the data on 1M samples."""
        values = torch.empty(len(data))
        for i in range(0, len(data), chunk):
            values[i:i + chunk] = self.critic(data[i:i + chunk].to(self.device, torch.float32)).float().cpu()
        return values

    def lipschitz_constant(self, x: Array, y: Array, n: int = 16384, chunk: int = 4096) -> float:
        """max ||grad f|| over ``n`` fresh interpolates between random pairs of x and y (drawn
        from ``seed``); nan if a gradient is not finite."""
        x, y = _check_pair(x, y)
        gen = torch.Generator().manual_seed(self.seed + 1)
        weights = torch.Generator(self.device).manual_seed(self.seed + 1)
        best = torch.zeros(())
        for i in range(0, n, chunk):
            m = min(chunk, n - i)
            xb = x[torch.randint(len(x), (m,), generator=gen)].to(self.device, torch.float32)
            yb = y[torch.randint(len(y), (m,), generator=gen)].to(self.device, torch.float32)
            s = gradient_norms(self.critic, interpolates(xb, yb, weights), create_graph=False)
            best = torch.maximum(best, s.max().cpu())  # propagates nan, where max() of floats hides it
        return best.item()

    def distance(self, x: Array, y: Array, a: Array | None = None, b: Array | None = None) -> float:
        """E_x f - E_y f with the fitted critic (weighted by ``a``, ``b`` if given), divided by its
        K (k for MaxAL)."""
        if self.result_ is None:
            raise RuntimeError("call fit(x, y) first")
        x, y = _check_pair(x, y)
        a, b = _check_weights(a, len(x), "a"), _check_weights(b, len(y), "b")
        return (_weighted_mean(self._values(x), a) - _weighted_mean(self._values(y), b)) / self.scale


def method_options(method: str) -> list[str]:
    """The keyword options ``wasserstein1`` takes for ``method``: ``CriticEstimator``'s and the
    regularizer's hyperparameters for a critic method, the solver's settings for POT's."""
    if method == "exact":
        return ["max_entries"]
    if method == "sinkhorn":
        return [p for p in inspect.signature(_sinkhorn).parameters if p not in ("x", "y", "a", "b")]
    shared = [p.name for p in inspect.signature(CriticEstimator).parameters.values()
              if p.kind == p.KEYWORD_ONLY or p.name == "critic"]
    return [p for p in shared if p != "seed"] + regularizer_options(method)


def wasserstein1(x: Array, y: Array, a: Array | None = None, b: Array | None = None, method: str = "maxal", *,
                 seed: int | None = None, **options: Any) -> W1Result:
    r"""The Wasserstein-1 distance between two weighted sample sets, with the Euclidean cost.

    W1(P, Q) = min over couplings pi of P and Q of E_pi ||x - y||
    = sup over 1-Lipschitz f of E_P f - E_Q f (Kantorovich-Rubinstein duality).

    The critic methods (maxal, maxgp, gp, lp, sn, clip) train a Lipschitz-regularized network f on
    the dual, streaming minibatches (memory does not grow with the sets); ``exact`` and
    ``sinkhorn`` solve the primal with POT on the full cost matrix (up to about 8k x 8k samples).

    Parameters
    ----------
    x : array or tensor, shape (n, ...)
        Samples of P (images and other arrays are flattened to vectors).
    y : array or tensor, shape (m, ...)
        Samples of Q, of the same sample shape.
    a, b : array or tensor, shape (n,) and (m,), optional
        Sample weights, as POT's ``a`` and ``b`` (normalized to sum 1); uniform by default. The
        critic methods draw their minibatches with these probabilities and weight every mean.
    method : str
        ``maxal`` (the default: MaxAL drives the critic's Lipschitz constant to 1 and W1 is read
        off), ``maxgp``, ``gp``, ``lp``, ``sn``, ``clip`` (the gap is divided by the measured K),
        ``exact`` (``ot.emd2``, network simplex) or ``sinkhorn`` (``ot.sinkhorn2``, log domain,
        entropic: above the exact value).
    seed : int, optional
        The critic methods' seed (initial weights, held-out split, minibatches); None means 0, so
        that two calls agree. POT's solvers are deterministic and take none.
    **options
        Per method (``method_options(method)`` lists them; any other is an ``InputError``).
        Critic methods: ``CriticEstimator``'s keyword arguments (``steps``, ``batch_size``,
        ``holdout``, ``width``, ``depth``, ``device``, ``ctransform``, ...) and the regularizer's
        hyperparameters (``rho``, ``k``, MaxAL's ``eta``...). ``exact``: ``max_entries``.
        ``sinkhorn``: ``reg`` (relative to the mean cost, 0.01), ``max_entries``,
        ``stop_threshold``, ``max_iterations``.

    Returns
    -------
    W1Result
        ``distance`` (float; for a critic, its estimate on all samples), ``status`` and
        ``converged`` (POT solved it, or the critic's training settled before its step cap);
        critic methods also give ``heldout`` and ``ci95`` (the estimate on samples the critic
        never trained on, a lower bound of the population W1 in expectation, and its 95%
        interval), ``lipschitz`` (K), ``steps`` and ``potential``, the trained critic as a
        1-Lipschitz Kantorovich potential f with distance = E_a f(x) - E_b f(y).

    Raises
    ------
    InputError
        Arrays of different sample shapes, NaN, bad weights, an unknown method or option, or a
        cost matrix too large for ``exact``/``sinkhorn``.

    See Also
    --------
    sliced_wasserstein : the sliced distance, a different and smaller quantity.
    CriticEstimator : the critic methods, with a fitted critic to reuse on new samples.
    ctransform_w1 : a certified lower bound of the plug-in W1 from a critic's values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, a = rng.normal(size=(300, 2)), rng.random(300)
    >>> r = wasserstein1(x, x + [3.0, 4.0], a, a, method="exact")  # ot.emd2(a, a, ot.dist(x, y, "euclidean"))
    >>> round(r.distance, 6), r.converged                          # a translation by (3, 4)
    (5.0, True)
    >>> r = wasserstein1(x, y, steps=1000)                 # the MaxAL critic   # doctest: +SKIP
    >>> r.heldout, r.ci95, r.potential(torch.zeros(1, 2))  # doctest: +SKIP

    References
    ----------
    Villani, "Optimal transport: old and new", 2009 (duality). Flamary et al., "POT: Python Optimal
    Transport", JMLR 2021 (``exact``, ``sinkhorn``). Cuturi, "Sinkhorn distances", NeurIPS 2013.
    The critics' regularizers: MaxAL and MaxGP arXiv 1904.01184, gp 1704.00028, lp 1709.08894,
    sn 1802.05957, clip 1701.07875 (docs/algorithms.md sections 1-2).
    """
    if method == "sliced":
        raise InputError("the sliced distance is not W1 (it is smaller, by a factor that grows with the "
                         "dimension); call sliced_wasserstein(x, y, a, b) for it")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(options) - set(method_options(method)))
    if unknown:
        raise InputError(f"method {method!r} takes no option {', '.join(unknown)}; its options are "
                         f"{', '.join(method_options(method))}")
    if method in CRITIC_METHODS:
        return CriticEstimator(method, seed=0 if seed is None else seed, **options).fit(x, y, a, b).result_
    start = time.perf_counter()
    xs, ys = _check_pair(x, y)
    wa, wb = _check_weights(a, len(xs), "a"), _check_weights(b, len(ys), "b")
    status = "solved"
    if method == "exact":
        value = exact_w1(xs, ys, wa, wb, **options)
    else:
        value, converged = _sinkhorn(xs, ys, wa, wb, **options)
        status = "solved" if converged else "cap"
    return W1Result(distance=value, method=method, n_a=len(xs), n_b=len(ys), dim=int(xs[0].numel()),
                    seconds=time.perf_counter() - start, status=status)
