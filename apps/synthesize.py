"""``ot-gan synthesize``: train AM-GAN or a Lipschitz GAN on labeled images, sample a chosen class.

AM-GAN (Zhou et al., arXiv 1703.02000; docs/algorithms.md section 9): the discriminator has K+1
outputs, K classes and "fake"; the generator is trained toward the class the discriminator finds
most likely (dynamic labeling) or, in the class-conditional mode, toward the class it was asked
for. The LGAN mode (arXiv 1902.05687) trains an unconditional generator against a Lipschitz
critic with any objective and regularizer of the core.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms import v2
from torchvision.utils import save_image
from tqdm.auto import trange

from ot_gan.apps.common import (device_option, resolve_device, seed_option, staged_outputs, threads_option,
                                train_command, used_run_options)
from ot_gan.data import Samples, is_number, load_source
from ot_gan.engine import (Batch, Task, TrainConfig, TrainResult, find_checkpoint, generator_weights,
                           load_checkpoint, train)
from ot_gan.engine.trainer import option
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS, Regularizer, regularizer_by_name
from ot_gan.models import ConvCritic, DCGANGenerator, SmallClassifier
from ot_gan.objectives import OBJECTIVES, amgan_discriminator_loss, amgan_generator_loss, get_objective
from ot_gan.optim import AdaShift
from ot_gan.wasserstein import wasserstein1

APP = "synthesize"


@dataclass
class SynthConfig(TrainConfig):
    """Everything a synthesize training depends on (the engine's settings plus the model's)."""

    steps: int = option(3000, "Generator steps to train for (raise it to extend a finished run).")
    sample_every: int = option(250, "Steps between sample grids (0 = only at the end).")
    checkpoint_every: int = option(250, "Steps between saves of checkpoints/latest.pt.")
    images: str = option("digits", "Training images: a folder with one subfolder per class, or digits.")
    mode: str = option("amgan", "amgan: K+1-way discriminator; lgan: unconditional Lipschitz GAN.",
                       choices=("amgan", "lgan"))
    conditional: bool = option(True, "amgan: the generator takes the class (needed by sample --class).")
    objective: str = option("log_sigmoid", "lgan: the GAN objective (nsgan is the plain non-saturating GAN).",
                            choices=tuple(OBJECTIVES))
    regularizer: str = option("maxgp", "lgan: the critic's Lipschitz regularizer.", choices=("none",) + METHODS)
    rho: float = option(0.1, "lgan: weight of the gradient penalties (gp, lp, maxgp, maxal); 0.1 as in the LGAN paper.")
    size: int = option(32, "Image side in pixels: 8, 16, 32 or 64 (images are resized to it).", min=8)
    noise_dim: int = option(64, "Dimension of the generator's noise.", min=1)
    width: int = option(32, "Channels of the critic's first and the generator's last layer.", min=1)


def load_images(spec: str, size: int, seed: int = 0, skip_bad: bool = False) -> Samples:
    """A labeled image source at ``size`` x ``size`` in [-1, 1]."""
    samples = load_source(spec, size=size, seed=seed, skip_bad=skip_bad)
    if not samples.is_image:
        raise InputError(f"{spec}: synthesize trains on images, not vectors")
    data = torch.as_tensor(samples.data)
    if data.shape[-1] != size or data.shape[-2] != size:
        data = v2.functional.resize(data, [size, size], antialias=True).clamp(-1, 1)
    return Samples(data, samples.labels, samples.classes, samples.name)


def build_generator(arch: dict[str, Any]) -> DCGANGenerator:
    """The generator a run's checkpoint describes."""
    classes = len(arch["classes"]) if arch["conditional"] else 0
    return DCGANGenerator(arch["noise_dim"], arch["channels"], arch["size"], arch["width"], classes)


class SynthTask(Task):
    """AM-GAN or LGAN on labeled images, for the engine."""

    app = APP

    def __init__(self, cfg: SynthConfig, channels: int, classes: list[str]) -> None:
        super().__init__()
        self.cfg, self.channels, self.classes = cfg, channels, classes
        self.amgan = cfg.mode == "amgan"
        self.conditional = self.amgan and cfg.conditional
        self.generator = build_generator(self.architecture())
        self.regularizer = Regularizer() if self.amgan else regularizer_by_name(cfg.regularizer, cfg.rho)
        critic = ConvCritic(channels, cfg.size, cfg.width, outputs=len(classes) + 1 if self.amgan else 1)
        self.critic = self.regularizer.prepare(critic)
        self.objective = get_objective(cfg.objective)

    def architecture(self) -> dict[str, Any]:
        return {"mode": self.cfg.mode, "conditional": self.conditional, "noise_dim": self.cfg.noise_dim,
                "size": self.cfg.size, "width": self.cfg.width, "channels": self.channels, "classes": self.classes}

    def fakes(self, batch: Batch, n: int) -> tuple[Tensor, Tensor | None]:
        z = batch.noise(n, self.cfg.noise_dim)
        labels = (batch.uniform(n) * len(self.classes)).long() if self.conditional else None
        return self.generator(z, labels), labels

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        real, labels = batch["images"]
        with torch.no_grad():
            fake, _ = self.fakes(batch, len(real))
        if self.amgan:
            return {"loss": amgan_discriminator_loss(self.critic(real), labels, self.critic(fake))}
        penalty = self.regularizer.penalty(self.critic, real, fake)
        return {"loss": self.objective.critic_loss(self.critic(real), self.critic(fake)) + penalty,
                "penalty": penalty}

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake, labels = self.fakes(batch, len(batch["images"][0]))
        if self.amgan:
            return {"loss": amgan_generator_loss(self.critic(fake), labels)}
        return {"loss": self.objective.generator_loss(self.critic(fake))}

    def after_critic_step(self) -> None:
        self.regularizer.after_step(self.critic)

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor:
        k = len(self.classes)
        per_row = k if self.conditional and k <= 16 else 8
        labels = torch.arange(per_row).repeat_interleave(per_row) if self.conditional else None
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
    return train(lambda: SynthTask(cfg, channels, classes), cfg, {"images": (data.data, labels)}, out,
                 overwrite=overwrite, resume=resume)


# ---- sampling and evaluation -------------------------------------------------------------------
def load_generator(run: Path, device: torch.device) -> tuple[DCGANGenerator, dict[str, Any]]:
    """A trained run's generator (EMA weights if kept) and its architecture."""
    payload = load_checkpoint(find_checkpoint(run), APP)
    generator = build_generator(payload["architecture"])
    generator.load_state_dict(generator_weights(payload))
    return generator.to(device).eval(), payload["architecture"]


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
def generate(generator: DCGANGenerator, arch: dict[str, Any], n: int, labels: Tensor | None,
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
def class_probabilities(model: nn.Module, images: Tensor) -> Tensor:
    return torch.cat([model(part).softmax(1) for part in images.split(256)])


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
    generator, arch = load_generator(run, device)
    real = load_images(images, arch["size"], seed, skip_bad)
    if real.labels is None:
        raise InputError(f"{images}: eval needs labeled images (a folder with one subfolder per class, or digits)")
    if real.data.shape[1] != arch["channels"] or (arch["conditional"] and real.classes != arch["classes"]):
        raise InputError(f"{images}: not the kind of images the run was trained on "
                         f"({arch['channels']} channels, classes {', '.join(arch['classes'])})")
    return {"run": str(run), "images": images,
            **score(generator, arch, real, n, classifier_steps, w1_steps, seed, device, progress)}


def score(generator: DCGANGenerator, arch: dict[str, Any], real: Samples, n: int, classifier_steps: int,
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
    w1 = wasserstein1(fakes.flatten(1), real.data.flatten(1), method="maxal", steps=w1_steps, device=device,
                      seed=seed, progress=progress)
    result["w1"], result["w1_ci95"] = w1.distance, w1.ci95
    return result


def format_eval(r: dict[str, Any]) -> str:
    lines = [f"{r['run']}: {r['n']} samples scored against {r['images']}",
             f"classifier: {r['classifier']}; held-out accuracy {r['classifier_accuracy']:.3f}",
             f"AM Score (lower is better): {r['am_score']:.3f} (real held-out images: {r['am_score_real']:.3f})",
             f"W1 to the real images (maxal): {r['w1']:.3f}"]
    if "class_accuracy" in r:
        accs = r["class_accuracy"]
        lines.append(f"samples classified as their class: {sum(accs.values()) / len(accs):.3f} on average "
                     f"(chance {1 / len(accs):.3f})")
        lines += [f"  {c:>8}: {a:.3f}" for c, a in accs.items()]
    return "\n".join(lines)


# ---- command line ----------------------------------------------------------------------------------
@click.group(APP)
def command() -> None:
    """Class-conditional image synthesis: AM-GAN and Lipschitz GANs.

    \b
    ot-gan synthesize train --images digits --out runs/digits
    ot-gan synthesize sample runs/digits --n 64 --class 3 --output samples/ --grid
    ot-gan synthesize eval runs/digits --images digits"""


command.add_command(train_command(SynthConfig, train_synthesizer, "Train a generator on labeled images "
                                  "(re-run the same command to resume a stopped run)."))


@command.command("sample")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--n", "n", type=click.IntRange(1), default=64, show_default=True, help="Number of images.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for sample_NNNN.png (never overwritten).")
@click.option("--class", "cls", help="Class name or index (conditional runs); default: all classes in turn.")
@click.option("--grid", is_flag=True, help="Also save all samples as one grid.png.")
@seed_option
@device_option
@threads_option
def sample_command(run: Path, n: int, output: Path, cls: str | None, grid: bool, seed: int, device: str,
                   threads: int) -> None:
    """Sample images from a trained run."""
    generator, arch = load_generator(run, resolve_device(device, threads))
    labels = sample_labels(arch, n, None if cls is None else class_index(arch, cls))
    names = [f"sample_{i:04d}.png" for i in range(n)] + (["grid.png"] if grid else [])
    with staged_outputs(output, names) as paths:
        images = generate(generator, arch, n, labels, seed)
        for image, path in zip(images, paths):
            save_image(image, path, normalize=True, value_range=(-1, 1))
        if grid:
            save_image(images, paths[-1], nrow=math.ceil(math.sqrt(n)), normalize=True, value_range=(-1, 1))
    click.echo(f"wrote {n} images to {output}" + (" and grid.png" if grid else ""))


@command.command("eval")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--images", required=True, help="The labeled real images (the training source).")
@click.option("--n", "n", type=click.IntRange(10), default=1000, show_default=True, help="Samples to score.")
@click.option("--classifier-steps", type=click.IntRange(1), default=1000, show_default=True,
              help="Training steps of the scoring classifier.")
@click.option("--w1-steps", type=click.IntRange(1), default=2000, show_default=True,
              help="Critic steps of the W1 estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@used_run_options
def eval_command(run: Path, images: str, n: int, classifier_steps: int, w1_steps: int, as_json: bool,
                 quiet: bool, skip_bad: bool, seed: int, device: str, threads: int) -> None:
    """Score a trained run: AM Score, per-class accuracy, W1 to the real images."""
    result = evaluate(run, images, n, classifier_steps, w1_steps, seed, resolve_device(device, threads),
                      progress=not quiet, skip_bad=skip_bad)
    click.echo(json.dumps(result) if as_json else format_eval(result))
