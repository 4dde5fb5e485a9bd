"""The engine's share of Salimans et al., "Improved Techniques for Training GANs" (arXiv
1606.03498; docs/algorithms.md section 11): feature matching and historical averaging are terms
the engine adds to any task's losses; minibatch discrimination, virtual batch norm and one-sided
label smoothing live in the task's networks and losses, and the engine checks that the task
builds them and that they fit its regularizer."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ot_gan.engine.task import Task
from ot_gan.errors import InputError
from ot_gan.lipschitz import Regularizer

FEATURE_MATCHING = ("none", "alone", "added")
IN_THE_TASK = ("minibatch_discrimination", "virtual_batch_norm", "label_smoothing")


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||E f(x) - E f(G(z))||^2 over the two batches (section 3.1 of the paper), f an
    intermediate critic feature flattened per sample. Both sides keep their graphs: the real one
    depends on the generator's parameters only in BiGAN, through E(x)."""
    return (real_features.flatten(1).mean(0) - fake_features.flatten(1).mean(0)).square().sum()


class HistoricalAverage(nn.Module):
    """||theta - (1/t) sum_i theta[i]||^2 for one network (section 3.3 of the paper): the running
    mean of its parameters over the t steps so far, the initial ones included, kept as buffers so
    that a checkpoint carries it."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        with torch.no_grad():
            self.register_buffer("mean", nn.utils.parameters_to_vector(module.parameters()).clone())
        self.register_buffer("count", torch.ones((), dtype=torch.long))

    def distance(self, module: nn.Module) -> Tensor:
        """||theta - mean||^2, differentiable in theta."""
        return (nn.utils.parameters_to_vector(module.parameters()) - self.mean).square().sum()

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold the current parameters into the mean (after each optimizer step)."""
        self.count += 1
        self.mean += (nn.utils.parameters_to_vector(module.parameters()) - self.mean) / self.count


def check_techniques(task: Task, config: Any) -> None:
    """Refuse the techniques of ``config`` that ``task`` does not support."""
    for name in IN_THE_TASK:
        if getattr(config, name) and name not in task.implements:
            raise InputError(f"{{{name}}}: the {task.app} app does not implement it", **{name: None})
    if config.feature_matching != "none" and type(task).critic_inputs is Task.critic_inputs:
        raise InputError(f"{{feature_matching}}: the {task.app} app's critic exposes no feature to match",
                         feature_matching=config.feature_matching)
    if config.minibatch_discrimination:
        slopes = [m for m in task.modules() if isinstance(m, Regularizer) and m.measures_slopes]
        if slopes:
            raise InputError("{minibatch_discrimination} makes each critic output depend on the whole batch, so the "
                             f"per-sample gradient norms that the critic's {type(slopes[0]).__name__} penalty measures "
                             "would mix samples; use {regularizer} clip, sn or none with it",
                             minibatch_discrimination=None, regularizer=None)
