"""``ot-gan colorize``: several plausible colorings of one gray image.

The diverse-colorization GAN of Cao et al., arXiv 1702.06674 (docs/algorithms.md section 8): a stride-1
fully convolutional generator sees the gray image at every layer and noise at several layers, and
predicts only the chroma (YUV through scikit-image), so the output's luminance is the input's; an
unconditional critic judges the full color image. A bounded mode-seeking term (``diversity``) keeps
the generator from ignoring its noise. By default it trains as an LGAN (log_sigmoid
with MaxGP); the paper's WGAN is ``--objective wgan --regularizer clip --optimizer rmsprop
--n-critic 5``.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.transforms.v2.functional import center_crop
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ot_gan.color import gray_to_y, rgb_to_yuv, yuv_to_rgb
from ot_gan.data import (
    image_files,
    is_gray,
    load_source,
    read_image,
    read_images,
    resize_crop,
    source_path,
)
from ot_gan.diversity import mean_pairwise_distance
from ot_gan.engine import (
    Batch,
    Task,
    TrainConfig,
    TrainResult,
    apply_to_folder,
    input_files,
    load_generator,
    train,
)
from ot_gan.engine.techniques import IN_THE_TASK
from ot_gan.grids import labeled_grid
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS, regularizer_by_name
from ot_gan.models import ConvCritic
from ot_gan.models.colorize import ColorizationGenerator
from ot_gan.objectives import OBJECTIVES, get_objective, mode_seeking_loss, paired
from ot_gan.options import option, redefault
from ot_gan.realism import COLLAPSED, feature_map, output_problems, realism_report, spaces

log = logging.getLogger(__name__)

APP = "colorize"
Z_DISTANCE = 2 / 3  # E|z1 - z2| for independent entries uniform in [-1, 1]


@dataclass
class ColorizeConfig(TrainConfig):
    """Everything a colorize training depends on (the engine's settings plus the model's)."""

    images: str = option("photos", "Color images: a folder (any size; gray ones are skipped) or photos.")
    size: int = option(64, "Training crop side in pixels (random crops of images resized to twice this).",
                       min=8)
    steps: int = redefault(TrainConfig, "steps", 20_000)
    sample_every: int = redefault(TrainConfig, "sample_every", 500)
    objective: str = option("log_sigmoid", "GAN objective.", choices=tuple(OBJECTIVES))
    regularizer: str = option("maxgp", "The critic's Lipschitz regularizer.", choices=("none",) + METHODS)
    rho: float = option(0.1, "Weight of the gradient penalties (gp, lp, maxgp, maxal); 0.1 as in the LGAN paper.")
    width: int = option(32, "Generator width w: layers of 4w, 2w, 2w, 2w, w channels (32 in the paper).", min=1)
    noise_dim: int = option(100, "Dimension of the noise z.", min=1)
    noise_layers: int = option(3, "Generator layers that receive the noise (the paper's code: 1).",
                              max=6)
    critic_width: int = option(64, "Channels of the critic's first layer.", min=1)
    diversity: float = option(0.1, "Weight of the mode-seeking term: two colorings of one gray crop are pushed "
                                   "apart, up to the chroma spread between real crops (0 = off).", min=0)


def build_generator(arch: dict[str, Any]) -> ColorizationGenerator:
    return ColorizationGenerator(arch["width"], arch["noise_dim"], arch["noise_layers"], arch.get("reference", 0),
                                 arch["size"], arch.get("padding", "zeros"))  # zeros: runs saved before reflection


def random_crops(images: Tensor, size: int, batch: Batch) -> Tensor:
    """A random ``size`` crop of each image, flipped left-right half of the time."""
    n, _, h, w = images.shape
    u = batch.uniform(n, 3).cpu()
    crops = []
    for image, (dy, dx, flip) in zip(images, u.tolist()):
        top, left = int(dy * (h - size + 1)), int(dx * (w - size + 1))
        crop = image[:, top:top + size, left:left + size]
        crops.append(crop.flip(-1) if flip < 0.5 else crop)
    return torch.stack(crops)


class ColorizeTask(Task):
    """The colorization generator and an unconditional critic on YUV images, for the engine."""

    app = APP
    implements = frozenset(IN_THE_TASK)

    def __init__(self, cfg: ColorizeConfig, preview: Tensor, spread: float = 0.0,
                 reference: Tensor | None = None) -> None:
        """``spread``: the chroma spread between real crops, where the mode-seeking term stops;
        ``reference``: YUV crops whose gray planes are virtual batch norm's reference batch."""
        super().__init__()
        self.cfg, self.spread = cfg, spread
        self.bound = spread / Z_DISTANCE
        self.generator = build_generator(self.architecture())
        if cfg.virtual_batch_norm and reference is not None:
            self.generator.set_reference(reference[:, :1])
        self.regularizer = regularizer_by_name(cfg.regularizer, cfg.rho)
        minibatch = (cfg.minibatch_kernels, cfg.minibatch_kernel_dim) if cfg.minibatch_discrimination else None
        self.critic = self.regularizer.prepare(ConvCritic(3, cfg.size, cfg.critic_width, minibatch=minibatch))
        self.objective = get_objective(cfg.objective)
        if cfg.label_smoothing:
            self.objective.require_labels()
        self.real_target = cfg.real_target if cfg.label_smoothing else 1.0
        self.register_buffer("preview", preview, persistent=False)

    def architecture(self) -> dict[str, Any]:
        return {"width": self.cfg.width, "noise_dim": self.cfg.noise_dim, "noise_layers": self.cfg.noise_layers,
                "size": self.cfg.size, "reference": self.cfg.reference_batch if self.cfg.virtual_batch_norm else 0,
                "spread": self.spread, "padding": "reflect"}

    def colorize(self, real: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """[y, G(y, z)], the real luminance with generated chroma, and z."""
        y = real[:, :1]
        z = batch.uniform(len(y), self.cfg.noise_dim) * 2 - 1
        return torch.cat([y, self.generator(y, z)], dim=1), z

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        real = random_crops(batch["images"], self.cfg.size, batch)
        with torch.no_grad():
            fake, _ = self.colorize(real, batch)
        penalty = self.regularizer.penalty(self.critic, real, fake)
        loss = self.objective.critic_loss(self.critic(real), self.critic(fake), self.real_target)
        return {"loss": loss + penalty, "penalty": penalty}

    def critic_inputs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Real crops and colorings of their gray planes, for feature matching."""
        real = random_crops(batch["images"], self.cfg.size, batch)
        return real, self.colorize(real, batch)[0]

    def critic_features(self, x: Tensor) -> Tensor:
        return self.critic.features(x)

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        real = random_crops(batch["images"], self.cfg.size, batch)
        fake, z = self.colorize(paired(real) if self.cfg.diversity else real, batch)
        adversarial = self.objective.generator_loss(self.critic(fake))
        losses = {"loss": adversarial, "adversarial": adversarial}
        if self.cfg.diversity:
            losses["mode_seeking"] = mode_seeking_loss(fake[:, 1:], z, self.bound)
            losses["loss"] = losses["loss"] + self.cfg.diversity * losses["mode_seeking"]
        return losses

    def after_critic_step(self) -> None:
        self.regularizer.after_step(self.critic)

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor:
        """Rows: a photo, then four colorings of its gray version."""
        y = self.preview[:, :1].repeat_interleave(4, dim=0)
        z = (torch.rand(len(y), self.cfg.noise_dim, generator=gen) * 2 - 1).to(y)
        colored = yuv_to_rgb(y, generator(y, z)).view(len(self.preview), 4, 3, *y.shape[2:])
        truth = yuv_to_rgb(self.preview[:, :1], self.preview[:, 1:]).unsqueeze(1)
        return torch.cat([truth, colored], dim=1).flatten(0, 1) * 2 - 1

    def sample_titles(self) -> tuple[list[str] | None, list[str] | None]:
        return None, ["photo"] + [f"coloring {k}" for k in range(1, 5)]


def load_color_images(spec: str, side: int, seed: int = 0, skip_bad: bool = False) -> tuple[Tensor, int]:
    """Color images resized/cropped to ``side`` as YUV in [-1, 1], and the count of gray ones skipped
    (``skip_bad`` leaves out the files that cannot be read, with their own warning)."""
    path = source_path(spec)
    if path is not None and path.is_dir():
        files = image_files(path)
        candidates = [p for p in files if not is_gray(p)]
        _, images = read_images(path, candidates, 3, skip_bad)
        colored = [img for img in images if (img.amax(0) - img.amin(0)).max() > 2 / 255]  # RGB files of gray content
        skipped = len(files) - len(candidates) + len(images) - len(colored)
        if not colored:
            raise InputError(f"{spec}: no color images" + (f" ({skipped} gray ones skipped)" if skipped else ""))
        data = torch.stack([resize_crop(img, side) for img in colored]) * 2 - 1
    else:
        samples = load_source(spec, size=side, seed=seed, skip_bad=skip_bad)
        if not samples.is_image or samples.data.shape[1] != 3:
            raise InputError(f"{spec}: colorize trains on color images (a folder, or photos)")
        data, skipped = samples.data, 0
    return rgb_to_yuv(data), skipped


def train_colorizer(cfg: ColorizeConfig, out: Path, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train on ``cfg.images`` into the run directory ``out``."""
    images, skipped = load_color_images(cfg.images, 2 * cfg.size, cfg.seed, cfg.skip_bad)
    if skipped and not cfg.quiet:
        log.info(f"skipped {skipped} gray images of {cfg.images}")
    preview = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))[:5]]
    preview = resize_crop(preview, cfg.size)
    spread = chroma_spread(images, cfg.size, cfg.seed)
    picked = torch.randint(len(images), (cfg.reference_batch,), generator=torch.Generator().manual_seed(cfg.seed + 1))
    reference = resize_crop(images[picked], cfg.size)
    result = train(lambda: ColorizeTask(cfg, preview, spread, reference), cfg, {"images": images}, out,
                   overwrite=overwrite, resume=resume)
    if result.run is not None and not result.interrupted:
        check_run(result.run, images, cfg.seed)
    return result


def check_run(run: Path, images: Tensor, seed: int = 0, most: int = 200) -> None:
    """Warn, in one line with what to try, when the colorings of (at most ``most`` of) the YUV
    ``images`` by a finished run are near-identical, or far from the images' colors."""
    generator, arch = load_generator(run, APP, build_generator)
    picked = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:2 * most]]
    real = resize_crop(picked, arch["size"])
    half = len(real) // 2
    if not half:  # one image: nothing to compare its colorings with
        return
    uvs = torch.stack([colorings(generator, y[None], 2, seed + i) for i, y in enumerate(real[:half, :1])])
    colored, others = to_rgb(real[:half, :1], uvs[:, 0]), to_rgb(real[half:, :1], real[half:, 1:])
    problems = output_problems({"photos": (colored, others)}, "images", seed=seed)
    alike = alike_colorings([float((uvs[:, 0] - uvs[:, 1]).abs().mean())], arch)
    problems += [alike] if alike else []
    if problems:
        warnings.warn(f"{run}: {'; '.join(problems)}. The run has failed so far: train it longer, or with a larger "
                      "diversity weight when its colorings are alike")


def to_rgb(y: Tensor, uv: Tensor) -> Tensor:
    """RGB images in [-1, 1] of luminance ``y`` and chroma ``uv`` (as ``ot_gan.color`` scales them)."""
    return yuv_to_rgb(y, uv) * 2 - 1


# ---- apply and eval ------------------------------------------------------------------------------------
@torch.no_grad()
def colorings(generator: ColorizationGenerator, y: Tensor, k: int, seed: int) -> Tensor:
    """``k`` chroma samples (k, 2, H, W) for one luminance plane y (1, 1, H, W)."""
    z = torch.rand(k, generator.noise_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    device = next(generator.parameters()).device
    return generator(y.expand(k, -1, -1, -1).to(device), z.to(device)).float().cpu()


def apply_folder(run: Path, inputs: Path, output: Path, samples: int = 4, seed: int = 0, sheet: bool = False,
                 device: torch.device = torch.device("cpu"), progress: bool = True, skip_bad: bool = False) -> int:
    """``samples`` colorings of every image under ``inputs`` (color ones are made gray first), at
    native size, as ``<name>_<k>.png`` (and ``<name>_sheet.png``) in ``output`` (all of them or,
    on failure, none); ``skip_bad`` leaves out files that cannot be read."""
    files = input_files(inputs)
    generator, arch = load_generator(run, APP, build_generator, device)

    def outputs(name: str) -> list[str]:
        stem = str(Path(name).with_suffix(""))
        return [f"{stem}_{k}.png" for k in range(samples)] + ([f"{stem}_sheet.png"] if sheet else [])

    differences = []
    with apply_to_folder(inputs, files, output, 3, skip_bad, outputs) as pairs:
        for src, paths in tqdm(pairs, desc="colorize", disable=not progress):
            y = gray_to_y(read_image(src, 3)[None] * 2 - 1)
            uv = colorings(generator, y, samples, seed)
            differences += [float((uv[i] - uv[j]).abs().mean()) for i, j in itertools.combinations(range(samples), 2)]
            rgb = yuv_to_rgb(y.expand(samples, -1, -1, -1), uv)
            for image, dst in zip(rgb, paths):
                save_image(image, dst)
            if sheet:
                titles = ["gray"] + [f"coloring {k + 1}" for k in range(samples)]
                sheet_images = torch.cat([y.expand(1, 3, -1, -1), rgb * 2 - 1])
                labeled_grid(sheet_images, samples + 1, titles=titles).save(paths[-1])
    problem = alike_colorings(differences, arch)
    if problem:
        warnings.warn(f"{run}: {problem}; train it longer, or with a larger diversity weight")
    return len(pairs)


def alike_colorings(differences: list[float], arch: dict[str, Any]) -> str | None:
    """A phrase when the colorings of one image are near-identical: their mean pairwise chroma
    ``differences`` under ``COLLAPSED`` times the real crops' spread (the run's ``spread``)."""
    if not differences or not arch.get("spread"):
        return None
    ratio = sum(differences) / len(differences) / arch["spread"]
    if ratio >= COLLAPSED:
        return None
    return f"the colorings of one image are near-identical (they differ {ratio:.2f}x as much as real crops do)"


def colorfulness(rgb: Tensor) -> Tensor:
    """Hasler and Suesstrunk's colorfulness of RGB images (n, 3, H, W) in [0, 1], on the 0-255 scale."""
    r, g, b = (rgb * 255).unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    return (rg.std(1).square() + yb.std(1).square()).sqrt() + 0.3 * (rg.mean(1).square() + yb.mean(1).square()).sqrt()


def chroma_spread(images: Tensor, size: int, seed: int = 0, most: int = 500) -> float:
    """The mean pairwise chroma distance between center ``size`` crops of (at most ``most``) YUV
    images: how different the colorings of two real crops are."""
    picked = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:most]]
    return mean_pairwise_distance(center_crop(picked, [size, size])[:, 1:]) if len(picked) > 1 else 0.0


def chroma_statistics(uv: Tensor) -> Tensor:
    """Per image: mean and standard deviation of u and v (n, 4)."""
    return torch.cat([uv.flatten(2).mean(2), uv.flatten(2).std(2)], dim=1)


def evaluate(run: Path, images: str, samples: int = 4, n: int = 200, w1_steps: int = 300, seed: int = 0,
             device: torch.device = torch.device("cpu"), progress: bool = False, skip_bad: bool = False,
             features: str | None = None) -> dict[str, Any]:
    """Diversity, colorfulness and realism of a run's colorings of (at most) ``n`` of the real
    images: ``realism_report`` of the colorings against other real images, in pixels (or the
    ``features`` of a network file), texture and per-image chroma statistics."""
    generator, arch = load_generator(run, APP, build_generator, device)
    real, _ = load_color_images(images, arch["size"], seed, skip_bad)
    real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:2 * n]]
    gray, reference = real[:(len(real) + 1) // 2], real[(len(real) + 1) // 2:]  # colorize one half, compare the other
    uvs = torch.stack([colorings(generator, y[None], samples, seed + i) for i, y in enumerate(gray[:, :1])])
    pairs = list(itertools.combinations(range(samples), 2))
    diversity = torch.stack([(uvs[:, i] - uvs[:, j]).abs().mean(dim=(1, 2, 3)) for i, j in pairs]).mean()
    fake_rgb = to_rgb(gray[:, :1].repeat_interleave(samples, 0), uvs.flatten(0, 1))
    measured = {**spaces(feature_map(features, device)), "chroma": lambda x: chroma_statistics(rgb_to_yuv(x)[:, 1:])}
    report = realism_report({"photos": (fake_rgb, to_rgb(reference[:, :1], reference[:, 1:]))}, measured, w1_steps,
                            seed, device)
    return {"run": str(run), "images": images, "n": len(gray), "samples": samples, "diversity": float(diversity),
            "diversity_real": mean_pairwise_distance(real[:, 1:]),
            "colorfulness": float(colorfulness((fake_rgb + 1) / 2).mean()),
            "colorfulness_real": float(colorfulness(yuv_to_rgb(real[:, :1], real[:, 1:])).mean()), "realism": report}
