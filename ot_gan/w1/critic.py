"""W1 by training a Lipschitz-regularized critic on the Kantorovich-Rubinstein dual."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from ot_gan import parallel
from ot_gan.data import split_indices
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS as CRITIC_METHODS
from ot_gan.lipschitz import Regularizer, fixed_weights, gradient_norms, interpolates, make_regularizer
from ot_gan.models import critic_for
from ot_gan.optim import AdaShift, WarmupDecay
from ot_gan.w1.checks import Array, check_pair, check_weights, weighted_mean
from ot_gan.w1.discrete import CTRANSFORM_MAX_ENTRIES, check_ctransform_size, ctransform_w1
from ot_gan.w1.result import Potential, W1Result
from ot_gan.w1.settings import CriticSettings
from ot_gan.w1.stats import held_out_interval
from ot_gan.w1.training import DivergenceGuard, Plateau, critic_step


def held_out_split(n: int, m: int, holdout: float, gen: torch.Generator) -> tuple[tuple[Tensor, Tensor], ...]:
    """(train, held-out) indices of each set. Sets of one size share one split, so that a sample and
    its twin at the same position of the other set (a folder against edited copies of its files, an
    array against a perturbed copy) are both trained on or both held out: split apart, a critic that
    memorizes the training twins scores each held-out sample like its twin, and reads the held-out gap
    of two nearly equal sets with the wrong sign. For independent draws one split is as random as two."""
    if n == m:
        return (split_indices(n, holdout, gen),) * 2
    return split_indices(n, holdout, gen), split_indices(m, holdout, gen)


@dataclass
class _Training:
    """How a critic's training ended: the steps behind the critic kept, and why it stopped."""

    steps: int
    status: str  # settled, cap, interrupted or diverged
    diverged_at: int | None = None



class CriticEstimator:
    """W1 by training a Lipschitz-regularized critic on the Kantorovich-Rubinstein dual.

    ``fit(x, y)`` splits each set into training and held-out samples (``held_out_split``), trains the
    critic with AdaShift on minibatches until the held-out estimate and the Lipschitz constant have
    settled (``Plateau``) or ``steps`` is reached, anneals the learning rate to 0 over a quarter as many
    steps again, then measures K on many fresh interpolates. ``result_`` holds the held-out estimate
    with a 95% interval (a 1-Lipschitz critic on unseen samples gives a lower bound of the population W1
    in expectation), the gap on all samples, K, steps, seconds and how training ended. A training that
    goes non-finite (gap, penalty or MaxAL's multiplier) stops there and the critic goes back to its
    last finite state, kept at each check window (status ``diverged``). Every ``fit`` starts from a
    fresh copy of the critic and the regularizer, and draws its randomness from ``seed`` without
    touching torch's global generator.

    Parameters
    ----------
    regularizer : str or Regularizer
        One of clip, gp, lp, sn, maxgp, maxal, or a ``Regularizer`` instance.
    critic : nn.Module, optional
        The network, samples (b, ...) -> values (b,); by default ``critic_for``'s GroupSort MLP of
        the settings' ``width``, ``depth`` and ``group`` on the flattened samples, images included.
    settings : CriticSettings, optional
        The hyperparameters (steps, batch size, learning rate, the default critic's size, the
        stopping rule's, the held-out share...); ``help(CriticSettings)`` lists them. Any of them
        may also be passed by name, over ``settings``.
    device : str or torch.device
        Where the critic trains.
    seed : int
        Initial weights, split, minibatches and interpolates; torch's global generator is left alone.
    progress : bool
        A progress bar.
    ctransform : bool
        Also compute ``ctransform_w1`` of the trained critic on all samples (a certified lower
        bound of the exact plug-in W1; sets up to 50k x 50k).
    should_stop : callable, optional
        Called between steps; when it returns True, training stops and the critic trained so far
        is still measured, with status ``interrupted`` (a Ctrl-C handler in an application, a time
        budget).
    distributed : bool
        Train over the processes of torch.distributed's default group (``torchrun``), every one
        calling ``fit`` with the same samples: each global batch is drawn alike on every rank and
        each trains on its share, gradients are averaged, the regularizer takes its batch maximum
        over all ranks (``Regularizer.shard``), and the stopping rule sees the gap averaged over
        them, so N processes train the critic one would, and every rank returns the same result.
    **options
        ``CriticSettings`` fields by name, and the regularizer's hyperparameters (``rho``, ``k``,
        MaxAL's ``eta``...) for a named one.

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
    >>> est.result_.distance, est.distance(torch.randn(500, 2), y[:500])   # doctest: +SKIP

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
        settings: CriticSettings | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        progress: bool = False,
        ctransform: bool = False,
        should_stop: Callable[[], bool] | None = None,
        distributed: bool = False,
        **options: Any,
    ) -> None:
        if isinstance(regularizer, str) and regularizer not in CRITIC_METHODS:
            raise InputError(f"unknown critic method {regularizer!r}; choose one of {', '.join(CRITIC_METHODS)}")
        names = {f.name for f in fields(CriticSettings)}
        self.settings = replace(settings or CriticSettings(), **{k: v for k, v in options.items() if k in names})
        hyper = {k: v for k, v in options.items() if k not in names}
        if hyper and not isinstance(regularizer, str):
            raise InputError(f"unknown options {', '.join(sorted(hyper))}: regularizer options go to a named regularizer")
        self.regularizer = make_regularizer(regularizer, **hyper) if isinstance(regularizer, str) else regularizer
        self.method = regularizer if isinstance(regularizer, str) else type(regularizer).__name__.lower()
        self.critic = critic
        self._templates = (self.regularizer, critic)  # what every fit copies afresh
        self.lr = self.settings.learning_rate(default_critic=critic is None)
        self.device, self.seed, self.progress = torch.device(device), seed, progress
        self.ctransform, self.should_stop, self.distributed = ctransform, should_stop, distributed
        self.scale = 1.0  # the gap is divided by this: the measured K, or k for MaxAL
        self.result_: W1Result | None = None

    def fit(self, x: Array, y: Array, a: Array | None = None, b: Array | None = None) -> CriticEstimator:
        """Train a fresh critic on samples x ~ P and y ~ Q, with sample weights ``a``, ``b``
        (uniform by default: minibatches are drawn with probability ``a`` and ``b``, and every
        mean is weighted); sets ``critic``, ``regularizer`` and ``result_``."""
        start = time.perf_counter()
        x, y = check_pair(x, y)
        a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
        if self.ctransform:
            check_ctransform_size(len(x), len(y), CTRANSFORM_MAX_ENTRIES)
        rank, world = parallel.rank_and_world() if self.distributed else (0, 1)
        if self.settings.batch_size % world:
            raise InputError(f"{{batch_size}} does not split over {world} processes", batch_size=self.settings.batch_size)
        gen = torch.Generator().manual_seed(self.seed)
        (tr_x, ho_x), (tr_y, ho_y) = held_out_split(len(x), len(y), self.settings.holdout, gen)
        self._prepare(tuple(x.shape[1:]))
        self.regularizer.shard = (rank, world)
        training = self._train(x, y, (a, b), (tr_x, tr_y), (ho_x, ho_y), gen, self.should_stop or (lambda: False))
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
                critic = critic_for(shape, width=self.settings.width, depth=self.settings.depth, group=self.settings.group)
            critic = regularizer.prepare(critic)
        regularizer.generator = torch.Generator(self.device).manual_seed(self.seed)
        self.critic, self.regularizer = critic.to(self.device), regularizer.to(self.device)

    def _train(self, x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None],
               train: tuple[Tensor, Tensor], held: tuple[Tensor, Tensor], gen: torch.Generator,
               stop: Callable[[], bool]) -> _Training:
        """Train ``self.critic`` on the training indices until ``Plateau`` says it has settled or
        ``steps``, then anneal the learning rate to 0 over a quarter as many steps (the critic,
        and with it K, stops jittering); stop early on ``stop()`` or a non-finite value (then the
        critic goes back to its last finite state)."""
        critic, regularizer, cfg = self.critic, self.regularizer, self.settings
        world = regularizer.shard[1]
        opt = AdaShift(critic.parameters(), lr=self.lr, betas=cfg.betas, reduce="max_mean", eps=1e-8)
        if world > 1:
            opt.register_step_pre_hook(lambda *_: parallel.average_gradients(critic, world))
        schedule = WarmupDecay(min(cfg.warmup, cfg.steps // 10))  # short runs get a short ramp
        lr = LambdaLR(opt, lambda done: schedule(done + 1))  # ``done`` steps taken: the next one's factor
        rule, guard = Plateau(cfg.check_every, cfg.tol, cfg.min_steps), DivergenceGuard(critic, regularizer)
        batches = self._batches(*self._resident(x, y), weights, train, gen)
        watch = self._watch(x, y, weights, held)
        step, status = 0, "cap"
        # The bar's total is the most the run can take (the cap and its annealing), so its time
        # estimate is an upper bound that shrinks, once, when training settles early.
        most = cfg.steps + max(1, cfg.steps // 4)
        with tqdm(total=most, desc=f"W1 {self.method}", disable=not self.progress or regularizer.shard[0] > 0,
                  leave=False) as bar:
            while schedule.decay_start is None or step < schedule.decay_start + schedule.decay_steps:
                if step and parallel.any_rank(stop(), world, self.device):  # asked between two steps: one is taken
                    return _Training(step, "interrupted")
                step += 1
                with self._precision():
                    gap, penalty = critic_step(critic, regularizer, opt, *next(batches))
                values = guard.check(step, *parallel.mean_over_ranks(torch.stack([gap, penalty.to(gap)]), world))
                if values is None:
                    guard.restore()
                    return _Training(guard.kept_at, "diverged", step)
                bar.update()
                if schedule.decay_start is None:
                    probe = watch is not None and step % rule.probe_every == 0
                    settled = rule.record(step, values[0], regularizer.last_slope, self._gap(*watch) if probe else None)
                    if step % cfg.check_every == 0:
                        guard.keep(step)
                        bar.set_postfix(gap=f"{rule.history[-1][0]:.4g}", K=f"{rule.history[-1][1]:.3f}")
                    if settled or step == cfg.steps:
                        status = "settled" if settled else "cap"
                        schedule.decay_from(step, step // 4)
                        guard.keep(step)
                        bar.total = step + schedule.decay_steps
                        bar.refresh()
                lr.step()
        return _Training(step, status)

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        """A training step's arithmetic on CUDA: bf16 autocast and TF32 matrix products when the
        settings ask for them (the global TF32 setting is restored after the step)."""
        cuda, cfg = self.device.type == "cuda", self.settings
        before = torch.get_float32_matmul_precision()
        if cuda and cfg.tf32:
            torch.set_float32_matmul_precision("high")
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and cfg.bf16):
                yield
        finally:
            torch.set_float32_matmul_precision(before)

    def _resident(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """x and y copied to the GPU once when they take under a quarter of its free memory (then
        a minibatch is gathered there instead of on the CPU and copied each step), else as given."""
        if self.device.type != "cuda":
            return x, y
        size = sum(t.numel() * t.element_size() for t in (x, y))
        if size > torch.cuda.mem_get_info(self.device)[0] / 4:
            return x, y
        return x.to(self.device), y.to(self.device)

    def _batches(self, x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None],
                 train: tuple[Tensor, Tensor], gen: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """Endless pairs of this rank's share of a global batch of training samples of each set,
        drawn with replacement with probability ``weights`` (uniform if None)."""
        for w, idx in zip(weights, train):
            if w is not None and w[idx].sum() <= 0:
                raise InputError("the samples with weight are all held out; use a smaller {holdout}", holdout=None)
            if w is not None and len(idx) > 2**24:
                raise InputError(f"weighted minibatches are drawn from at most 2^24 samples a side (torch.multinomial), "
                                 f"not {len(idx)}; subsample the set by its weights")
        (rank, world), size = self.regularizer.shard, self.settings.batch_size
        share = size // world

        def batch(data: Tensor, w: Tensor | None, idx: Tensor) -> Tensor:
            draw = (torch.randint(len(idx), (size,), generator=gen) if w is None else
                    torch.multinomial(w[idx], size, replacement=True, generator=gen))
            picks = idx[draw[rank * share:(rank + 1) * share]].to(data.device)
            return data[picks].to(self.device, torch.float32, non_blocking=True)

        while True:
            yield batch(x, weights[0], train[0]), batch(y, weights[1], train[1])

    @staticmethod
    def _watch(x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None],
               held: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None] | None:
        """What the stopping rule probes: up to 2048 held-out samples a side and their weights (on a
        small high-dimensional set the training gap keeps rising as the critic memorizes it); None
        without two held-out samples of some weight a side, when the rule reads the training gap."""
        picks = [idx[:2048] for idx in held]
        watch_weights = [None if w is None else w[i] for w, i in zip(weights, picks)]
        if min(map(len, held)) > 1 and all(w is None or w.sum() > 0 for w in watch_weights):
            return x[picks[0]], y[picks[1]], *watch_weights
        return None

    def _evaluate(self, x: Tensor, y: Tensor, weights: tuple[Tensor | None, Tensor | None], ho_x: Tensor,
                  ho_y: Tensor, training: _Training) -> W1Result:
        """Measure the trained critic: K, the gap on all samples, the held-out estimate and its
        interval, the c-transform if asked (weighted means when ``weights`` are given)."""
        self.critic.eval()
        with fixed_weights(self.critic):  # orthonormalized once for every chunk below
            k = self.lipschitz_constant(x, y)
            fx, fy = self._values(x), self._values(y)
        self.scale = self.regularizer.k if self.regularizer.calibrates_lipschitz else k
        (a, b), held = weights, (ho_x, ho_y)
        all_samples = (weighted_mean(fx, a) - weighted_mean(fy, b)) / self.scale
        heldout, ci = held_out_interval(
            fx[ho_x].double().numpy() / self.scale, fy[ho_y].double().numpy() / self.scale, self.settings.bootstrap,
            self.seed, *(None if w is None else w[i].numpy() for w, i in zip(weights, held))) or (None, None)
        refined = (ctransform_w1(fx / self.scale, x, y, device=self.device, a=a, b=b) if self.ctransform
                   else None)
        status, diverged_at = training.status, training.diverged_at
        if not all(map(math.isfinite, (all_samples, k))):  # finite weights whose values still overflow
            status, diverged_at = "diverged", diverged_at or training.steps
        regularizer = self.regularizer
        return W1Result(
            distance=all_samples if heldout is None else heldout, basis="all samples" if heldout is None else "held-out",
            all_samples=all_samples, method=self.method, n_a=len(x), n_b=len(y), dim=int(x[0].numel()), seconds=0.0,
            ci95=ci, lipschitz=k, steps=training.steps, ctransform=refined,
            interrupted=status == "interrupted", status=status, diverged_at=diverged_at,
            potential=Potential(self.critic, self.scale), heldout_index=(ho_x, ho_y),
            details={"regularizer": regularizer.hyperparameters(), "divided_by_K": not regularizer.calibrates_lipschitz,
                     "batch_size": self.settings.batch_size, "holdout": self.settings.holdout,
                     "critic_parameters": sum(p.numel() for p in self.critic.parameters()),
                     **({"multiplier": regularizer.multiplier.item()} if hasattr(regularizer, "multiplier") else {})})

    def _gap(self, x: Tensor, y: Tensor, a: Tensor | None = None, b: Tensor | None = None) -> float:
        """E_x f - E_y f under the weights a, b (uniform if None), in eval mode (spectral norm's
        power iteration must not run here)."""
        self.critic.eval()
        gap = weighted_mean(self._values(x), a) - weighted_mean(self._values(y), b)
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
        x, y = check_pair(x, y)
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

    def potential_values(self, data: Tensor) -> Tensor:
        """The fitted potential f (the critic divided by its K, k for MaxAL) on every sample of
        ``data``, streamed in chunks."""
        if self.result_ is None:
            raise RuntimeError("call fit(x, y) first")
        return self._values(data) / self.scale

    def distance(self, x: Array, y: Array, a: Array | None = None, b: Array | None = None) -> float:
        """E_x f - E_y f with the fitted critic (weighted by ``a``, ``b`` if given), divided by its
        K (k for MaxAL)."""
        if self.result_ is None:
            raise RuntimeError("call fit(x, y) first")
        x, y = check_pair(x, y)
        a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
        return (weighted_mean(self._values(x), a) - weighted_mean(self._values(y), b)) / self.scale

