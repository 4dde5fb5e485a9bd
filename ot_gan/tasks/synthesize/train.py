"""Training a synthesize run, on the images outside its held-out split, and saying when it failed."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ot_gan.data import Samples
from ot_gan.engine import TrainResult, load_generator, train
from ot_gan.errors import InputError
from ot_gan.realism import output_problems
from ot_gan.tasks.synthesize.model import APP, SynthConfig, SynthTask, build_generator, class_spread, load_images
from ot_gan.tasks.synthesize.use import generate, reconstruct, reconstruction_problems, sample_labels

CHECKED = 500  # samples drawn to check a finished run


def training_split(data: Samples, holdout: float, seed: int) -> tuple[Samples, Samples | None]:
    """The images a run trains on and the ones it keeps out (None when ``holdout`` is 0)."""
    if not holdout:
        return data, None
    return data.split(holdout, seed)


def train_synthesizer(cfg: SynthConfig, out: Path, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train on ``cfg.images`` but the held-out part into the run directory ``out``; a warning when
    the samples of the finished run are collapsed or far from the images (``check_run``)."""
    if cfg.size < 8 or cfg.size & (cfg.size - 1):
        raise InputError(f"{{size}} {cfg.size}: the DCGAN models make sides 8, 16, 32, 64...", size=None)
    data = load_images(cfg.images, cfg.size, cfg.seed, cfg.skip_bad)
    if data.labels is None:
        if cfg.mode == "amgan":
            raise InputError(f"{cfg.images}: AM-GAN needs labels: a folder with one subfolder per class, or digits "
                             "({mode} lgan trains without labels)", mode=None)
        data = Samples(data.data, torch.zeros(len(data), dtype=torch.long), ["all"], data.name)
    data, _ = training_split(data, cfg.holdout, cfg.seed)
    channels = data.data.shape[1]
    spread = class_spread(data.data, data.labels if cfg.mode == "amgan" and cfg.conditional else None, cfg.seed)
    result = train(lambda: SynthTask(cfg, channels, list(data.classes), spread), cfg,
                   {"images": (data.data, data.labels)}, out, overwrite=overwrite, resume=resume)
    if result.run is not None and not result.interrupted:
        check_run(result.run, data, cfg.seed)
    return result


def check_run(run: Path, data: Samples, seed: int = 0) -> None:
    """Warn, in one line with what to try, when the samples of a run are near-identical within a
    class or far from the training images ``data``, or a BiGAN's reconstructions of them fail
    (``reconstruction_problems``)."""
    generator, arch = load_generator(run, APP, build_generator)
    labels = sample_labels(arch, CHECKED, None)
    samples = generate(generator, arch, CHECKED, labels, seed)
    if labels is None:
        groups = {"all": (samples, data.data)}
    else:
        groups = {name: (samples[labels == k], data.data[data.labels == k]) for k, name in enumerate(arch["classes"])}
    problems = output_problems(groups, "class", pooled=True, seed=seed)
    if arch["mode"] == "bigan":
        images = data.data[torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:CHECKED]]
        problems += filter(None, [reconstruction_problems(reconstruct(generator, images), images)])
    if problems:
        warnings.warn(f"{run}: {'; '.join(problems)}. The run has failed so far: train it longer, with a lower "
                      "learning rate, a smaller size or, for amgan, a stronger diversity term; eval shows which class "
                      "and how")
