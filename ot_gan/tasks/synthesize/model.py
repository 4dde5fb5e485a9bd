"""``ot-gan synthesize``: train AM-GAN or a Lipschitz GAN on labeled images, sample a chosen class.

AM-GAN (Zhou et al., arXiv 1703.02000; docs/algorithms.md section 9): the discriminator has K+1
outputs, K classes and "fake"; the generator is trained toward the class the discriminator finds
most likely (dynamic labeling) or, in the class-conditional mode, toward the class it was asked
for, with a bounded mode-seeking term and a class-wise minibatch standard deviation in the
discriminator so that the samples of a class differ. The LGAN mode (arXiv 1902.05687) trains an
unconditional generator against a Lipschitz critic with any objective and regularizer of the core.
The BiGAN mode (Donahue et al., arXiv 1605.09782; Dumoulin et al., ALI, arXiv 1606.00704) learns
an encoder E next to the generator G, with a critic on (x, E(x)) and (G(z), z) pairs; ``encode``
and ``reconstruct`` use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor, nn
from torchvision.transforms.v2.functional import to_pil_image
from torchvision.utils import make_grid, save_image
from tqdm.auto import trange

from ot_gan.data import Samples, load_source, read_image, read_images, resize_crop
from ot_gan.diversity import mean_pairwise_distance, precision_recall
from ot_gan.engine import (
    Batch,
    Task,
    TrainConfig,
    TrainResult,
    apply_to_folder,
    check_fits,
    input_files,
    load_generator,
    staged_outputs,
    train,
)
from ot_gan.engine.techniques import IN_THE_TASK
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS, Regularizer, regularizer_by_name
from ot_gan.models import ConvCritic, DCGANGenerator, PairCritic, SmallClassifier
from ot_gan.objectives import (
    OBJECTIVES,
    amgan_discriminator_loss,
    amgan_generator_loss,
    get_objective,
    mode_seeking_loss,
    paired,
)
from ot_gan.optim import AdaShift
from ot_gan.options import option, redefault
from ot_gan.sources import is_number
from ot_gan.w1 import wasserstein1

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
                             reference=arch.get("reference", 0))
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
                "reference": self.cfg.reference_batch if self.cfg.virtual_batch_norm else 0}

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

    def critic_inputs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Real and generated images or, for BiGAN, the pairs (x, E(x)) and (G(z), z)."""
        real = batch["images"][0]
        if not self.bigan:
            return real, self.fakes(batch, len(real))[0]
        z = batch.noise(len(real), self.cfg.noise_dim)
        return (self.critic.pack(real, self.generator.encode(real)),
                self.critic.pack(self.generator(z), z))

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
            real, fake = self.critic_inputs(batch)
            return {"loss": self.objective.generator_loss(self.judge(fake, None))
                    + self.objective.generator_loss(-self.judge(real, None))}
        fake, labels, z = self.fakes(batch, len(batch["images"][0]), pairs=self.amgan and self.cfg.diversity > 0)
        if self.amgan:
            losses = {"loss": amgan_generator_loss(self.judge(fake, labels), labels)}
        else:
            losses = {"loss": self.objective.generator_loss(self.judge(fake, None))}
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


def train_synthesizer(cfg: SynthConfig, out: Path, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train on ``cfg.images`` into the run directory ``out``."""
    if cfg.size < 8 or cfg.size & (cfg.size - 1):
        raise InputError(f"--size {cfg.size}: the DCGAN models make sides 8, 16, 32, 64...")
    data = load_images(cfg.images, cfg.size, cfg.seed, cfg.skip_bad)
    if data.labels is None:
        if cfg.mode == "amgan":
            raise InputError(f"{cfg.images}: AM-GAN needs labels: a folder with one subfolder per class, "
                             "or digits (--mode lgan trains without labels)")
        labels, classes = torch.zeros(len(data), dtype=torch.long), ["all"]
    else:
        labels, classes = data.labels, list(data.classes)
    channels = data.data.shape[1]
    spread = class_spread(data.data, labels if cfg.mode == "amgan" and cfg.conditional else None, cfg.seed)
    return train(lambda: SynthTask(cfg, channels, classes, spread), cfg, {"images": (data.data, labels)}, out,
                 overwrite=overwrite, resume=resume)


def class_spread(images: Tensor, labels: Tensor | None, seed: int = 0, most: int = 500) -> float:
    """The mean over classes of the images' mean pairwise pixel distance within a class (of all the
    images when ``labels`` is None), on at most ``most`` images a class."""
    gen = torch.Generator().manual_seed(seed)
    groups = [images] if labels is None else [g for k in labels.unique() if len(g := images[labels == k]) > 1]
    return sum(mean_pairwise_distance(g[torch.randperm(len(g), generator=gen)[:most]]) for g in groups) / len(groups)


# ---- sampling and evaluation -------------------------------------------------------------------
def class_grid(images: Tensor, classes: list[str] | None = None, cell: int = 48) -> Image.Image:
    """Images in [-1, 1] as one picture: with ``classes`` (image i of class i mod K) one class per
    column under its name, otherwise a square grid; cells are enlarged to at least ``cell`` pixels
    (nearest neighbour) so that the names fit."""
    columns = len(classes) if classes else math.ceil(math.sqrt(len(images)))
    scale = max(1, math.ceil(cell / images.shape[-1]))
    big = images.repeat_interleave(scale, -1).repeat_interleave(scale, -2)
    grid = make_grid(big, nrow=columns, padding=2, normalize=True, value_range=(-1, 1))
    picture = to_pil_image(grid)
    if not classes:
        return picture
    font = ImageFont.load_default(size=12)
    width = big.shape[-1] + 2
    labeled = Image.new("RGB", (picture.width, picture.height + 16), "white")
    labeled.paste(picture, (0, 16))
    draw = ImageDraw.Draw(labeled)
    for k, name in enumerate(classes):
        while len(name) > 1 and draw.textlength(name, font=font) > width - 2:
            name = name[:-1]
        draw.text((2 + k * width + width / 2, 8), name, fill="black", font=font, anchor="mm")
    return labeled


def load_bigan(run: Path, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """A BiGAN run's generator with its encoder; other runs are refused."""
    generator, arch = load_generator(run, APP, build_generator, device)
    if arch["mode"] != "bigan":
        raise InputError(f"{run}: a run of mode {arch['mode']} has no encoder; train one with {{mode}}", mode="bigan")
    return generator, arch


def run_inputs(images: list[Tensor], size: int) -> Tensor:
    """Images in [0, 1] resized and cropped to a run's ``size``, in [-1, 1]."""
    return (torch.stack([resize_crop(image, size) for image in images]) * 2 - 1).clamp(-1, 1)


def encode_folder(run: Path, inputs: Path, output: Path, device: torch.device = torch.device("cpu"),
                  skip_bad: bool = False) -> int:
    """E(x) of every image under ``inputs`` into the .npz file ``output``: ``z`` (n, noise_dim) and
    ``files`` (the names relative to ``inputs``, in the rows' order). Never overwrites."""
    files = input_files(inputs)
    bigan, arch = load_bigan(run, device)
    files, images = read_images(inputs, files, arch["channels"], skip_bad)
    with torch.no_grad():
        z = torch.cat([bigan.encode(part.to(device)).float().cpu()
                       for part in run_inputs(images, arch["size"]).split(256)])
    with staged_outputs(output.parent, [output.name]) as (path,), open(path, "wb") as f:
        np.savez(f, z=z.numpy(), files=np.array([str(p.relative_to(inputs)) for p in files]))
    return len(files)


def reconstruct_folder(run: Path, inputs: Path, output: Path, device: torch.device = torch.device("cpu"),
                       skip_bad: bool = False) -> int:
    """G(E(x)) of every image under ``inputs`` into ``output`` with the same relative names (all of
    them or, on failure, none)."""
    files = input_files(inputs)
    bigan, arch = load_bigan(run, device)
    with apply_to_folder(inputs, files, output, arch["channels"], skip_bad) as pairs:
        rebuilt = reconstruct(bigan, run_inputs([read_image(src, arch["channels"]) for src, _ in pairs], arch["size"]))
        for image, (_, (dst,)) in zip(rebuilt, pairs):
            save_image(image, dst, normalize=True, value_range=(-1, 1))
    return len(pairs)


def class_index(arch: dict[str, Any], name: str) -> int:
    """The index of class ``name`` (its folder name, or its index)."""
    if not arch["conditional"]:
        raise InputError("this run's generator is unconditional (trained with --mode lgan or --no-conditional); "
                         "--class needs an amgan run with --conditional")
    if name in arch["classes"]:
        return arch["classes"].index(name)
    if is_number(name) and int(name) < len(arch["classes"]):
        return int(name)
    raise InputError(f"--class {name}: the run's classes are {', '.join(arch['classes'])}")


@torch.no_grad()
def generate(generator: nn.Module, arch: dict[str, Any], n: int, labels: Tensor | None,
             seed: int, batch: int = 256) -> Tensor:
    """``n`` images in [-1, 1] on the CPU; ``labels`` (n,) for a conditional generator."""
    gen = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    parts = []
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), arch["noise_dim"], generator=gen).to(device)
        y = None if labels is None else labels[start:start + len(z)].to(device)
        parts.append(generator(z, y).float().cpu())
    return torch.cat(parts)


def sample_labels(arch: dict[str, Any], n: int, cls: int | None) -> Tensor | None:
    """Class ``cls`` for every sample, or the classes in turn; None for unconditional runs."""
    if not arch["conditional"]:
        return None
    return torch.full((n,), cls) if cls is not None else torch.arange(n) % len(arch["classes"])


def train_classifier(data: Samples, steps: int, seed: int, progress: bool = False) -> SmallClassifier:
    """The scoring classifier, trained by ot-gan on real labeled images with AdaShift."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SmallClassifier(data.data.shape[1], len(data.classes))
    opt = AdaShift(model.parameters(), lr=1e-3)
    for _ in trange(steps, desc="classifier", disable=not progress, leave=False):
        idx = torch.randint(len(data), (64,), generator=gen)
        loss = F.cross_entropy(model(data.data[idx]), data.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def class_probabilities(model: SmallClassifier, images: Tensor) -> Tensor:
    return torch.cat([model(part).softmax(1) for part in images.split(256)])


@torch.no_grad()
def class_features(model: SmallClassifier, images: Tensor) -> Tensor:
    return torch.cat([model.features(part) for part in images.split(256)])


def am_score(probs: Tensor, prior: Tensor) -> float:
    """AM Score (arXiv 1703.02000), lower is better: mean_i H(C(x_i)) + KL(prior || mean_i C(x_i)),
    ``prior`` the class distribution of the training data."""
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(1).mean()
    mean = probs.mean(0)
    kl = (prior * (prior.clamp_min(1e-12).log() - mean.clamp_min(1e-12).log())).sum()
    return float(entropy + kl)


def evaluate(run: Path, images: str, n: int = 1000, classifier_steps: int = 1000, w1_steps: int = 2000,
             seed: int = 0, device: torch.device = torch.device("cpu"), progress: bool = False,
             skip_bad: bool = False) -> dict[str, Any]:
    """AM Score, per-class accuracy and W1 to the real images of a trained run."""
    generator, arch = load_generator(run, APP, build_generator, device)
    real = load_images(images, arch["size"], seed, skip_bad)
    if real.labels is None:
        raise InputError(f"{images}: eval needs labeled images (a folder with one subfolder per class, or digits)")
    check_fits(images, real.data, arch["channels"], real.classes, arch["classes"] if arch["conditional"] else None)
    return {"run": str(run), "images": images,
            **score(generator, arch, real, n, classifier_steps, w1_steps, seed, device, progress)}


@torch.no_grad()
def reconstruct(bigan: nn.Module, images: Tensor, batch: int = 256) -> Tensor:
    """G(E(x)) for images in [-1, 1], on the CPU."""
    device = next(bigan.parameters()).device
    return torch.cat([bigan(bigan.encode(part.to(device))).float().cpu() for part in images.split(batch)])


def score(generator: nn.Module, arch: dict[str, Any], real: Samples, n: int, classifier_steps: int,
          w1_steps: int, seed: int = 0, device: torch.device = torch.device("cpu"),
          progress: bool = False) -> dict[str, Any]:
    """Score ``n`` samples of ``generator`` against the labeled ``real`` images."""
    train_part, held = real.split(0.2, seed)
    classifier = train_classifier(train_part, classifier_steps, seed, progress)
    prior = torch.bincount(train_part.labels, minlength=len(real.classes)).float() / len(train_part)
    held_probs = class_probabilities(classifier, held.data)
    labels = sample_labels(arch, n, None)
    fakes = generate(generator, arch, n, labels, seed + 1)
    probs = class_probabilities(classifier, fakes)
    result: dict[str, Any] = {
        "n": n, "classifier": "SmallClassifier trained here on the real images (nothing downloaded)",
        "classifier_accuracy": float((held_probs.argmax(1) == held.labels).float().mean()),
        "am_score": am_score(probs, prior), "am_score_real": am_score(held_probs, prior)}
    if labels is not None:
        hits = probs.argmax(1) == labels
        result["class_accuracy"] = {c: float(hits[labels == k].float().mean()) for k, c in enumerate(arch["classes"])}
    result["per_class"] = class_diversity(classifier, real, fakes, labels if labels is not None else probs.argmax(1),
                                          seed)
    if arch["mode"] == "bigan":
        rebuilt = class_probabilities(classifier, reconstruct(generator, held.data)).argmax(1)
        result["reconstruction_agreement"] = float((rebuilt == held.labels).float().mean())
        frequencies = torch.bincount(held.labels).double() / len(held)
        result["reconstruction_chance"] = float(frequencies.square().sum())  # two independent draws agree
    w1 = wasserstein1(fakes.flatten(1), real.data.flatten(1), method="maxal", steps=w1_steps, device=device,
                      seed=seed, progress=progress)
    result["w1"], result["w1_ci95"] = w1.distance, w1.ci95
    return result


def class_diversity(classifier: SmallClassifier, real: Samples, fakes: Tensor, fake_labels: Tensor, seed: int,
                    k: int = 3) -> dict[str, dict[str, float]]:
    """Per class: precision and recall (k = 3) on the classifier's features and the spread (mean
    pairwise pixel distance) of the fakes, each beside the same figure for real images. The real
    images of a class are split in two halves A and B; fakes are compared with A at the size of B,
    and B with A is the real-vs-real reference. Fakes are grouped by the class they were drawn
    for, or by the classifier's guess for unconditional generators; a class with too few fakes or
    real images is left out."""
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for c, name in enumerate(real.classes):
        images = real.data[real.labels == c]
        images = images[torch.randperm(len(images), generator=gen)]
        half = len(images) // 2
        mine = fakes[fake_labels == c][:len(images) - half]
        if min(half, len(mine)) <= k:
            continue
        a, b, f = (class_features(classifier, x) for x in (images[:half], images[half:], mine))
        precision, recall = precision_recall(a, f, k)
        precision_real, recall_real = precision_recall(a, b, k)
        result[name] = {"precision": precision, "recall": recall, "precision_real": precision_real,
                        "recall_real": recall_real, "spread": mean_pairwise_distance(mine),
                        "spread_real": mean_pairwise_distance(images[half:])}
    return result


def class_means(r: dict[str, Any]) -> dict[str, float]:
    """The per-class figures of ``score`` averaged over classes, and the spread as a ratio to the real one."""
    rows = r["per_class"].values()
    means = {key: sum(row[key] for row in rows) / len(rows) for key in next(iter(rows))}
    means["spread_ratio"] = sum(row["spread"] / row["spread_real"] for row in rows) / len(rows)
    if "class_accuracy" in r:
        means["hit_rate"] = sum(r["class_accuracy"].values()) / len(r["class_accuracy"])
    return means
