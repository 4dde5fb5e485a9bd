"""The result of a W1 estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


@dataclass
class W1Result:
    """A W1 estimate and how it was obtained (``wasserstein1``'s result).

    ``distance`` is the figure to read, and ``basis`` says what it is: for a critic method the
    critic's gap on the held-out samples it never trained on (``"held-out"``, which targets the
    population W1 and has the interval ``ci95``), or on all samples when none are held out
    (``"all samples"``); for POT's solvers the W1 of the two sample sets (``"plug-in"``), which in
    high dimension is far above the population W1. A critic method also gives ``all_samples``, its
    gap on every sample (training ones included: above ``distance`` when the critic memorizes),
    K, steps, and ``potential``, the trained critic as a 1-Lipschitz Kantorovich potential f.
    ``status`` and ``converged`` say how the method ended (see the comments below). Distances are
    Euclidean, in the units of the data as given.
    """

    distance: float
    method: str
    n_a: int
    n_b: int
    dim: int
    seconds: float
    basis: str = "plug-in"  # what ``distance`` is: "held-out", "all samples" or "plug-in"
    ci95: tuple[float, float] | None = None  # 95% interval of a held-out ``distance`` (bootstrap, or normal)
    all_samples: float | None = None  # critic methods: the gap on all samples, training ones included
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
    # critic methods: the indices of the held-out samples of each set (the samples ``distance`` is read on)
    heldout_index: tuple[Tensor, Tensor] | None = field(default=None, repr=False, compare=False)
    # auto (``best_critic``): every candidate's potential; the held-out samples at even positions of
    # ``heldout_index`` are read by the one with the larger gap on those at odd positions, and the
    # other way round
    candidates: dict[str, Potential] | None = field(default=None, repr=False, compare=False)
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
        """f(x), on the critic's device (x is moved there: a critic trained on the GPU takes CPU samples)."""
        return self.critic(x.to(next(self.critic.parameters()).device)) / self.scale
