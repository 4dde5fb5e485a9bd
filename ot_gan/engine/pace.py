"""How long a training will take, measured on its first steps, and its wall-clock budget: the
defaults of the apps are sized for a GPU, and a user on a CPU should learn that in a minute, not
after a day."""

from __future__ import annotations

import time
from collections.abc import Callable

FIRST_STEPS = 5  # steps (after the first, which includes warm-up) before the estimate...
FIRST_SECONDS = 20.0  # ...or seconds, whichever comes first


def duration(seconds: float) -> str:
    """'about 25 min', 'about 3.5 h', 'under a minute'."""
    if seconds < 60:
        return "under a minute"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h" if seconds < 36000 else f"about {round(seconds / 3600)} h"


class Pace:
    """Seconds per step over the steps this process has run, the estimate of what is left, and the
    time budget of this process (``budget`` seconds, 0 = none)."""

    def __init__(self, budget: float = 0.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.budget, self.clock = budget, clock
        self.began = clock()
        self.after_first = self.began
        self.steps = 0
        self.announced = False

    def step(self) -> None:
        """Count one finished step."""
        self.steps += 1
        if self.steps == 1:
            self.after_first = self.clock()

    def seconds_per_step(self) -> float:
        if self.steps < 2:
            return (self.clock() - self.began) / max(self.steps, 1)
        return (self.clock() - self.after_first) / (self.steps - 1)

    def spent(self) -> bool:
        """Whether the time budget is used up."""
        return self.budget > 0 and self.clock() - self.began >= self.budget

    def left(self, remaining_steps: int) -> str:
        """The time ``remaining_steps`` take at this pace, in words."""
        return duration(remaining_steps * self.seconds_per_step())

    def announcement(self, remaining_steps: int) -> str | None:
        """Once, after the first steps: how long the rest will take, when that is a minute or more,
        and where the budget will stop it."""
        if self.announced or self.steps < 2:
            return None
        if self.steps - 1 < FIRST_STEPS and self.clock() - self.after_first < FIRST_SECONDS:
            return None
        self.announced = True
        per_step = self.seconds_per_step()
        if remaining_steps * per_step < 60:
            return None
        note = (f"{self.left(remaining_steps)} for the remaining {remaining_steps:,} steps at this pace "
                f"({per_step:.3g} s a step)")
        budget_left = self.budget - (self.clock() - self.began)
        if self.budget > 0 and remaining_steps * per_step > budget_left:
            note += (f"; the time budget stops it after about {int(budget_left / per_step):,} more steps "
                     "(run the same command again to go on)")
        return note
