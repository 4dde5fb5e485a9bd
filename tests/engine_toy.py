"""A tiny GAN on one class of the 8x8 digits, trained by the engine: the tests' subject, and a
script (``python tests/engine_toy.py RUN key=value ...``) for the subprocess tests of Ctrl-C,
``kill -9`` and torchrun."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from ot_gan.data import load_source
from ot_gan.engine import Batch, Task, TrainConfig, TrainResult, train
from ot_gan.lipschitz import make_regularizer
from ot_gan.models import MLPCritic
from ot_gan.objectives import get_objective

NOISE = 8
INTERRUPT_AT = 0  # tests set it to send this process a SIGINT during that critic step


@dataclasses.dataclass
class ToyConfig(TrainConfig):
    regularizer: str = "gp"
    objective: str = "wgan"
    width: int = 64
    nan_at: int = 0  # make the critic loss NaN from this step on (0: never)


class ToyGAN(Task):
    app = "toy"

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = nn.Sequential(nn.Linear(NOISE, config.width), nn.ReLU(), nn.Linear(config.width, 64),
                                       nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
        self.regularizer = make_regularizer(config.regularizer)
        self.critic = self.regularizer.prepare(MLPCritic(64, width=config.width, depth=2))
        self.objective = get_objective(config.objective)
        self.calls = 0

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        real = batch["real"]
        with torch.no_grad():
            fake = self.generator(batch.noise(len(real), NOISE))
        penalty = self.regularizer.penalty(self.critic, real, fake)
        loss = self.objective.critic_loss(self.critic(real), self.critic(fake)) + penalty
        self.calls += 1
        if self.calls == INTERRUPT_AT:
            os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C were pressed during this step
        if self.config.nan_at and self.calls >= self.config.nan_at:
            loss = loss * float("nan")
        return {"loss": loss, "penalty": penalty}

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake = self.generator(batch.noise(len(batch["real"]), NOISE))
        return {"loss": self.objective.generator_loss(self.critic(fake))}

    def after_critic_step(self) -> None:
        self.regularizer.after_step(self.critic)

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor:
        return generator(torch.randn(16, NOISE, generator=gen))

    def architecture(self) -> dict:
        return {"width": self.config.width}


def run(out: Path, overwrite: bool = False, **settings) -> TrainResult:
    config = ToyConfig(**{"quiet": True, "batch_size": 32, "log_every": 10, "sample_every": 50,
                          "checkpoint_every": 20, **settings})
    return train(lambda: ToyGAN(config), config, {"real": load_source("digits:0").data}, out, overwrite=overwrite)


if __name__ == "__main__":
    parse = {"int": int, "float": float, "str": str, "bool": lambda v: v == "True"}
    types = {f.name: f.type for f in dataclasses.fields(ToyConfig)}
    settings = {k: parse[types[k]](v) for k, v in (arg.split("=", 1) for arg in sys.argv[2:])}
    result = run(Path(sys.argv[1]), **settings)
    print(f"step={result.step} interrupted={result.interrupted}")
