"""The checks that Salimans et al.'s techniques reach an app's networks or losses, shared by the
app tests: each takes the app's task and its engine (``Trainer``) on a first batch."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ot_gan.engine import Task
from ot_gan.engine.trainer import Trainer
from ot_gan.models import MinibatchDiscrimination


def feature_matching_is_added(task: Task, trainer: Trainer) -> None:
    """The generator's loss is its own terms plus the feature matching term."""
    losses = trainer.generator_losses(trainer.batch(0, 0))
    terms = losses["adversarial"] + task.cfg.diversity * losses.get("mode_seeking", 0) + losses["feature_matching"]
    assert losses["feature_matching"] > 0 and torch.isclose(losses["loss"], terms)


def critic_compares_the_batch(task: Task) -> None:
    assert any(isinstance(m, MinibatchDiscrimination) for m in task.critic.modules())


def smoothing_moves_the_critic_loss(task: Task, plain: Task, trainer: Trainer) -> None:
    """The real target is 0.9 and the critic's loss on one batch differs from the unsmoothed task's."""
    batch = trainer.batch(0, 0)
    assert task.real_target == 0.9
    assert not torch.isclose(task.critic_loss(batch)["loss"], plain.critic_loss(batch)["loss"])


def shared_technique_reaches(technique: str, task: Task, trainer: Trainer, plain: Callable[[], Task]) -> bool:
    """Check feature matching, minibatch discrimination or label smoothing (``plain`` builds the
    task without it); False for another technique, which the app checks itself."""
    if technique == "feature_matching":
        feature_matching_is_added(task, trainer)
    elif technique == "minibatch_discrimination":
        critic_compares_the_batch(task)
    elif technique == "label_smoothing":
        smoothing_moves_the_critic_loss(task, plain(), trainer)
    else:
        return False
    return True
