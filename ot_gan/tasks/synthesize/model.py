"""The synthesize models: the config, BiGAN, and the task the engine trains for each mode (AM-GAN,
LGAN, BiGAN; the package's docstring and docs/algorithms.md sections 9 and 12 describe them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ot_gan.data import Samples, load_source
from ot_gan.diversity import mean_pairwise_distance
from ot_gan.engine import Batch, Task, TrainConfig
from ot_gan.engine.techniques import IN_THE_TASK
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS, Regularizer, regularizer_by_name
from ot_gan.models import ConvCritic, DCGANGenerator, PairCritic
from ot_gan.objectives import (
    OBJECTIVES,
    amgan_discriminator_loss,
    amgan_generator_loss,
    get_objective,
    mode_seeking_loss,
    paired,
)
from ot_gan.options import option, redefault

APP = "synthesize"
Z_DISTANCE = 2 / math.sqrt(math.pi)  # E|z1 - z2| for independent standard normal entries


@dataclass
class SynthConfig(TrainConfig):
    """Everything a synthesize training depends on (the engine's settings plus the model's)."""

    steps: int = redefault(TrainConfig, "steps", 3000)
    sample_every: int = redefault(TrainConfig, "sample_every", 250)
    checkpoint_every: int = redefault(TrainConfig, "checkpoint_every", 250)
    images: str = option("digits", "Training images: a folder with one subfolder per class, or digits.")
    mode: str = option("amgan", "amgan: K+1-way discriminator; lgan: unconditional Lipschitz GAN; bigan: "
                                "unconditional, with an encoder E learnt next to G (encode, reconstruct).",
                       choices=("amgan", "lgan", "bigan"))
    conditional: bool = option(True, "amgan: the generator takes the class (needed by sample --class).")
    objective: str = option("log_sigmoid", "lgan, bigan: the GAN objective (nsgan is the plain non-saturating GAN).",
                            choices=tuple(OBJECTIVES))
    regularizer: str = option("maxgp", "lgan, bigan: the critic's Lipschitz regularizer.", choices=("none",) + METHODS)
    rho: float = option(0.1, "lgan, bigan: weight of the gradient penalties (gp, lp, maxgp, maxal); 0.1 as in the "
                             "LGAN paper.")
    size: int = option(32, "Image side in pixels: 8, 16, 32 or 64 (images are resized to it).", min=8)
    noise_dim: int = option(64, "Dimension of the generator's noise.", min=1)
    width: int = option(32, "Channels of the critic's first and the generator's last layer.", min=1)
    diversity: float = option(10.0, "amgan: weight of the mode-seeking term: pairs of samples of one class are "
                                   "pushed apart, up to the real class's spread (0 = off).", min=0)
    fake_logits: str = option("shared", "amgan: one fake logit (AM-GAN) or one per class (ADC-GAN).",
                              choices=("shared", "per-class"))
    critic_noise: float = option(0.0, "Standard deviation of Gaussian noise added to the critic's inputs.", min=0)
    holdout: float = option(0.2, "Fraction of the images kept out of training (a seeded split): eval scores what "
                                 "the run never saw on them (BiGAN's reconstructions).", max=0.9)
    cycle_weight: float = option(1.0, "bigan: weight of the reconstruction term |G(E(x)) - x| (ALICE's explicit "
                                      "cycle consistency), which makes E's code of an image one that G draws the "
                                      "image back from; 0 is the plain BiGAN.", min=0)
    class_std: bool = option(True, "amgan: the critic also sees how much the images of each class in the batch "
                                    "differ (minibatch standard deviation over the images of one class).")


def load_images(spec: str, size: int, seed: int = 0, skip_bad: bool = False) -> Samples:
    """A labeled image source at ``size`` x ``size`` in [-1, 1]."""
    samples = load_source(spec, size=size, seed=seed, skip_bad=skip_bad)
    if not samples.is_image:
        raise InputError(f"{spec}: synthesize trains on images, not vectors")
    return samples


class BiGAN(nn.Module):
    """A BiGAN's generator G and encoder E as one module, which the engine trains as the generator:
    calling it is G(z); ``encode`` is E(x), a ``ConvCritic`` with ``noise_dim`` outputs."""

    def __init__(self, decoder: DCGANGenerator, encoder: ConvCritic) -> None:
        super().__init__()
        self.decoder, self.encoder = decoder, encoder

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.decoder(z, labels)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x).view(len(x), -1)


def build_generator(arch: dict[str, Any]) -> nn.Module:
    """The generator (with its encoder in BiGAN mode) a run's checkpoint describes."""
    classes = len(arch["classes"]) if arch["conditional"] else 0
    decoder = DCGANGenerator(arch["noise_dim"], arch["channels"], arch["size"], arch["width"], classes,
                             reference=arch.get("reference", 0),
                             upsample=arch.get("upsample", "transpose"))  # runs saved before resize-convolutions
    if arch["mode"] != "bigan":
        return decoder
    return BiGAN(decoder, ConvCritic(arch["channels"], arch["size"], arch["width"], outputs=arch["noise_dim"]))


class SynthTask(Task):
    """AM-GAN, LGAN or BiGAN on labeled images, for the engine."""

    app = APP
    implements = frozenset(IN_THE_TASK)

    def __init__(self, cfg: SynthConfig, channels: int, classes: list[str], spread: float = 0.0) -> None:
        """``spread``: the real images' spread within a class, where the mode-seeking term stops."""
        super().__init__()
        self.cfg, self.channels, self.classes = cfg, channels, classes
        self.amgan, self.bigan = cfg.mode == "amgan", cfg.mode == "bigan"
        self.conditional = self.amgan and cfg.conditional
        self.objective = get_objective(cfg.objective)
        if cfg.label_smoothing and not self.amgan:
            self.objective.require_labels()
        self.real_target = cfg.real_target if cfg.label_smoothing else 1.0
        self.per_class_fakes = self.amgan and cfg.fake_logits == "per-class"
        if self.per_class_fakes and not self.conditional:
            raise InputError("one fake logit per class needs the class of each fake: {fake_logits} needs "
                             "{conditional}", fake_logits="per-class", conditional=True)
        self.bound = spread / Z_DISTANCE
        self.generator = build_generator(self.architecture())
        self.regularizer = Regularizer() if self.amgan else regularizer_by_name(cfg.regularizer, cfg.rho)
        minibatch = (cfg.minibatch_kernels, cfg.minibatch_kernel_dim) if cfg.minibatch_discrimination else None
        self.class_std = self.conditional and cfg.class_std
        if self.bigan:
            critic: nn.Module = PairCritic(channels, cfg.size, cfg.noise_dim, cfg.width, minibatch=minibatch)
        else:
            outputs = (2 * len(classes) if self.per_class_fakes else len(classes) + 1) if self.amgan else 1
            critic = ConvCritic(channels, cfg.size, cfg.width, outputs=outputs, minibatch=minibatch,
                                group_std=self.class_std)
        self.critic = self.regularizer.prepare(critic)

    def architecture(self) -> dict[str, Any]:
        return {"mode": self.cfg.mode, "conditional": self.conditional, "noise_dim": self.cfg.noise_dim,
                "size": self.cfg.size, "width": self.cfg.width, "channels": self.channels, "classes": self.classes,
                "reference": self.cfg.reference_batch if self.cfg.virtual_batch_norm else 0, "upsample": "resize",
                "split": {"images": self.cfg.images, "holdout": self.cfg.holdout, "seed": self.cfg.seed}}

    def sample_titles(self) -> tuple[list[str] | None, list[str] | None]:
        return None, self.classes[:16] if self.conditional else None

    def fakes(self, batch: Batch, n: int, pairs: bool = False) -> tuple[Tensor, Tensor | None, Tensor]:
        """``n`` fakes, their classes (None if unconditional; ``paired`` with ``pairs``) and noise.
        With ``class_std`` the classes are the real batch's, so that real and fake groups match."""
        z = batch.noise(n, self.cfg.noise_dim)
        labels = None
        if self.class_std:
            labels = batch["images"][1][:n]
        elif self.conditional:
            labels = (batch.uniform(n) * len(self.classes)).long()
        if labels is not None and pairs:
            labels = paired(labels)
        return self.generator(z, labels), labels, z

    def judge(self, images: Tensor, labels: Tensor | None) -> Tensor:
        """The critic's outputs, on inputs with ``critic_noise`` added (the reference AM-GAN's)."""
        if self.cfg.critic_noise:
            images = images + self.cfg.critic_noise * torch.randn_like(images)
        return self.critic(images, labels) if self.class_std else self.critic(images)

    def critic_inputs(self, batch: Batch, code: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Real and generated images or, for BiGAN, the pairs (x, E(x)) and (G(z), z); ``code`` is
        E(x) where the caller has it already."""
        real = batch["images"][0]
        if not self.bigan:
            return real, self.fakes(batch, len(real))[0]
        z = batch.noise(len(real), self.cfg.noise_dim)
        code = self.generator.encode(real) if code is None else code
        return self.critic.pack(real, code), self.critic.pack(self.generator(z), z)

    def critic_features(self, x: Tensor) -> Tensor:
        return self.critic.features(x)

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        if self.amgan:
            real, labels = batch["images"]
            with torch.no_grad():
                fake, fake_labels, _ = self.fakes(batch, len(real))
            return {"loss": amgan_discriminator_loss(self.judge(real, labels), labels, self.judge(fake, fake_labels),
                                                     fake_labels if self.per_class_fakes else None, self.real_target)}
        with torch.no_grad():
            real, fake = self.critic_inputs(batch)
        penalty = self.regularizer.penalty(self.critic, real, fake)
        return {"loss": self.objective.critic_loss(self.judge(real, None), self.judge(fake, None), self.real_target)
                + penalty, "penalty": penalty}

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        if self.bigan:  # G and E both play against the critic: the fakes' loss, and the reals' with f negated
            x = batch["images"][0]
            code = self.generator.encode(x)  # one encoder pass for the critic's pair and the cycle term
            real, fake = self.critic_inputs(batch, code)
            adversarial = (self.objective.generator_loss(self.judge(fake, None))
                           + self.objective.generator_loss(-self.judge(real, None)))
            losses = {"loss": adversarial, "adversarial": adversarial}
            if self.cfg.cycle_weight:  # Li et al., ALICE, arXiv 1709.01215: the explicit cycle term
                losses["cycle"] = (self.generator(code) - x).abs().mean()
                losses["loss"] = adversarial + self.cfg.cycle_weight * losses["cycle"]
            return losses
        fake, labels, z = self.fakes(batch, len(batch["images"][0]), pairs=self.amgan and self.cfg.diversity > 0)
        if self.amgan:
            adversarial = amgan_generator_loss(self.judge(fake, labels), labels)
        else:
            adversarial = self.objective.generator_loss(self.judge(fake, None))
        losses = {"loss": adversarial, "adversarial": adversarial}
        if self.amgan and self.cfg.diversity:
            losses["mode_seeking"] = mode_seeking_loss(fake, z, self.bound)
            losses["loss"] = losses["loss"] + self.cfg.diversity * losses["mode_seeking"]
        return losses

    def after_critic_step(self) -> None:
        self.regularizer.after_step(self.critic)

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor:
        """A square grid; conditionally one class per column (the first 16 classes)."""
        k = len(self.classes)
        per_row = min(k, 16) if self.conditional else 8
        labels = torch.arange(per_row).repeat(per_row) if self.conditional else None
        z = torch.randn(per_row * per_row, self.cfg.noise_dim, generator=gen)
        device = next(generator.parameters()).device
        return generator(z.to(device), None if labels is None else labels.to(device))


def class_spread(images: Tensor, labels: Tensor | None, seed: int = 0, most: int = 500) -> float:
    """The mean over classes of the images' mean pairwise pixel distance within a class (of all the
    images when ``labels`` is None), on at most ``most`` images a class."""
    gen = torch.Generator().manual_seed(seed)
    groups = [images] if labels is None else [g for k in labels.unique() if len(g := images[labels == k]) > 1]
    return sum(mean_pairwise_distance(g[torch.randperm(len(g), generator=gen)[:most]]) for g in groups) / len(groups)
