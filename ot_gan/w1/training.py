"""Training a critic on the Kantorovich-Rubinstein dual, in parts: one step, the rule that says
when the estimate has settled, and the guard that stops a training that diverges.

The W1 estimator (``ot_gan.w1``) puts them together; the examples share ``critic_step``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ot_gan.lipschitz import Regularizer


def critic_step(critic: nn.Module, regularizer: Regularizer, opt: torch.optim.Optimizer, real: Tensor, fake: Tensor,
                loss: Callable[[Tensor, Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """One critic update: f on both batches (one forward pass, so spectral norm's power iteration
    runs once), the regularizer's penalty, backward, the optimizer step and ``after_step``.

    The critic maximizes the gap E_real f - E_fake f, or minimizes ``loss(f(real), f(fake))`` when
    given (a GAN objective). Returns the gap and the penalty, detached (no device sync)."""
    f = critic(torch.cat([real, fake]))
    f_real, f_fake = f[: len(real)], f[len(real):]
    gap = f_real.mean() - f_fake.mean()
    penalty = regularizer.penalty(critic, real, fake)
    objective = -gap if loss is None else loss(f_real, f_fake)
    opt.zero_grad(set_to_none=True)
    (objective + penalty).backward()
    opt.step()
    regularizer.after_step(critic)
    return gap.detach(), penalty.detach()


class Plateau:
    """When a critic's estimate has settled: the stopping rule of the W1 estimator.

    Steps come in check windows of ``check_every``; each window's means of the training gap, of
    the batch max slope (K) and of the held-out gaps probed ``probe_every`` steps apart go into
    ``history``. Training has settled when, at the end of a window and after ``min_steps``, K's
    mean over the last two windows is within ``tol`` (relative) of its mean over the two windows
    ending halfway through training, and the held-out gap has risen by less than ``tol`` (falling
    counts: the critic is memorizing), or, without held-out probes, the training gap is within
    ``tol``. Comparing with halfway, a slow climb keeps going however small each window's gain;
    averaging two windows, the critic's slow swings (about 2% of the gap over 500 steps on rings)
    cannot pass for a plateau.
    """

    def __init__(self, check_every: int = 500, tol: float = 0.005, min_steps: int = 1000) -> None:
        self.check_every, self.tol, self.min_steps = check_every, tol, min_steps
        self.history: list[tuple[float, float, float]] = []  # (gap, K, held-out gap or nan) per window
        self._window: list[tuple[float, float]] = []
        self._heldout: list[float] = []

    @property
    def probe_every(self) -> int:
        """Steps between two held-out probes: ten per window."""
        return max(1, self.check_every // 10)

    def record(self, step: int, gap: float, slope: float, heldout: float | None = None) -> bool:
        """Take step ``step``'s training gap, batch max slope (nan if none) and held-out gap (if
        probed); True when training has settled at this step."""
        self._window.append((gap, slope))
        if heldout is not None:
            self._heldout.append(heldout)
        if step % self.check_every:
            return False
        slopes = [s for _, s in self._window if math.isfinite(s)]
        self.history.append((sum(g for g, _ in self._window) / len(self._window),
                             sum(slopes) / len(slopes) if slopes else 1.0,
                             sum(self._heldout) / len(self._heldout) if self._heldout else math.nan))
        self._window.clear()
        self._heldout.clear()
        return step >= self.min_steps and self.settled()

    def settled(self) -> bool:
        """Whether ``history`` shows a plateau (the comparison in the class docstring)."""
        if len(self.history) < 4:
            return False
        half = len(self.history) // 2
        then, now = np.mean(self.history[half - 2:half], axis=0), np.mean(self.history[-2:], axis=0)
        change = (now - then) / np.maximum(abs(now), 1e-12)
        gap_settled = change[2] < self.tol if math.isfinite(change[2]) else abs(change[0]) < self.tol
        return bool(gap_settled and abs(change[1]) < self.tol)


class DivergenceGuard:
    """Watches a critic's training for non-finite values and keeps the last finite state.

    ``check`` looks at a step's gap and penalty and at the regularizer's own state (MaxAL's
    multiplier) in one device sync; ``keep`` copies the critic's and the regularizer's state (at
    each check window: the critic is small next to the data); ``restore`` goes back to it."""

    def __init__(self, critic: nn.Module, regularizer: Regularizer) -> None:
        self.modules = (critic, regularizer)
        self.diverged_at: int | None = None
        self.keep(0)

    def keep(self, step: int) -> None:
        """Copy the current state as the last finite one, reached at ``step``."""
        self.kept_at = step
        self._states = [copy.deepcopy(m.state_dict()) for m in self.modules]

    def check(self, step: int, *values: Tensor) -> list[float] | None:
        """``values`` as floats, or None (and ``diverged_at`` set) if any of them or of the
        regularizer's floating buffers is not finite."""
        state = [b.detach().float().sum().reshape(1) for b in self.modules[1].buffers() if b.is_floating_point()]
        floats = torch.cat([v.detach().float().reshape(1) for v in values] + state).tolist()
        if all(map(math.isfinite, floats)):
            return floats[: len(values)]
        self.diverged_at = step
        return None

    def restore(self) -> None:
        """Load the state last kept."""
        for module, state in zip(self.modules, self._states):
            module.load_state_dict(state)
