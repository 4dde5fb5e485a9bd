"""The result of a W1 estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


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


class Potential(nn.Module):
    """A trained critic divided by its Lipschitz constant: a 1-Lipschitz Kantorovich potential
    f (samples (n, ...) -> values (n,)), so that W1 is E_P f - E_Q f (docs/algorithms.md section 1)."""

    def __init__(self, critic: nn.Module, scale: float) -> None:
        super().__init__()
        self.critic, self.scale = critic, scale

    def forward(self, x: Tensor) -> Tensor:
        return self.critic(x) / self.scale
