"""What an app hands the engine: a generator, a critic, and the two losses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class Batch:
    """One step's data on the device: this rank's contiguous share of a global batch.

    ``noise`` draws from the step's own seeded generator, for the whole global batch, and returns
    this rank's rows, so that N processes see exactly what one process would (data parallel) and a
    resumed run sees exactly what an uninterrupted one did.
    """

    data: dict[str, Any]
    generator: torch.Generator
    device: torch.device
    rank: int = 0
    world: int = 1

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def noise(self, *shape: int) -> Tensor:
        """Standard normal noise of ``shape`` (``shape[0]`` = this rank's batch size)."""
        full = torch.randn((shape[0] * self.world, *shape[1:]), generator=self.generator)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)

    def uniform(self, *shape: int) -> Tensor:
        """Uniform [0, 1) numbers, drawn like ``noise``."""
        full = torch.rand((shape[0] * self.world, *shape[1:]), generator=self.generator)
        return full[self.rank * shape[0]:(self.rank + 1) * shape[0]].to(self.device)


class Task(nn.Module):
    """A GAN as the engine trains it: subclass, set ``app``, ``generator`` and ``critic``.

    The losses return a dict of scalar tensors with a ``"loss"`` key (what is minimized) and any
    others to log. Everything in the module's ``state_dict`` (networks, regularizer multipliers,
    image pools as extra state) is checkpointed and restored on resume.

    The engine's feature matching needs ``critic_inputs`` and ``critic_features``; the techniques
    that live in the networks and losses (minibatch discrimination, virtual batch norm, one-sided
    label smoothing) are built by the task from its config and named in ``implements``.
    """

    app: str = ""
    generator: nn.Module
    critic: nn.Module
    implements: frozenset[str] = frozenset()  # the TrainConfig techniques this task builds in

    def critic_inputs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """What the critic sees as real and as fake for ``batch``, the fakes differentiable in the
        generator's parameters (feature matching)."""
        raise NotImplementedError

    def critic_features(self, x: Tensor) -> Tensor:
        """An intermediate feature of the critic on its input ``x``, one row per sample (feature
        matching)."""
        raise NotImplementedError

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    def after_critic_step(self) -> None:
        """Called after each critic optimizer step (weight clipping, the MaxAL multiplier)."""

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor | None:
        """Images in [-1, 1] for the sample grid, made with ``generator`` (the EMA one if any)
        from noise drawn with ``gen`` (seeded the same at every grid)."""
        return None

    def sample_titles(self) -> tuple[list[str] | None, list[str] | None]:
        """The titles of the sample grid's rows and of its columns (None: untitled)."""
        return None, None

    def architecture(self) -> dict[str, Any]:
        """The hyperparameters that rebuild the networks, stored in every checkpoint."""
        return {}
