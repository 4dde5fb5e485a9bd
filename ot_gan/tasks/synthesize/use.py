"""Using a trained synthesize run: samples of a class, and a BiGAN's codes and reconstructions."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.utils import save_image

from ot_gan.data import read_image, read_images, resize_crop
from ot_gan.engine import apply_to_folder, input_files, load_generator, staged_outputs
from ot_gan.errors import InputError
from ot_gan.realism import COLLAPSED, spread_ratio
from ot_gan.sources import is_number
from ot_gan.tasks.synthesize.model import APP, build_generator

UNLIKE = 0.9  # reconstructions at least this close to other inputs as to their own do not resemble them


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
    them or, on failure, none); a warning when the reconstructions fail (``reconstruction_problems``)."""
    files = input_files(inputs)
    bigan, arch = load_bigan(run, device)
    with apply_to_folder(inputs, files, output, arch["channels"], skip_bad) as pairs:
        images = run_inputs([read_image(src, arch["channels"]) for src, _ in pairs], arch["size"])
        rebuilt = reconstruct(bigan, images)
        for image, (_, (dst,)) in zip(rebuilt, pairs):
            save_image(image, dst, normalize=True, value_range=(-1, 1))
    problem = reconstruction_problems(rebuilt, images)
    if problem:
        warnings.warn(f"{run}: {problem}; the run is not ready for reconstruction: train it longer, or at a smaller "
                      "size, and check that its samples look like the images")
    return len(pairs)


def reconstruction_problems(rebuilt: Tensor, images: Tensor) -> str | None:
    """Why the reconstructions ``rebuilt`` of ``images`` fail, or None: near-identical for different
    images (``spread_ratio`` under ``COLLAPSED``), or no closer to their own image than to the others."""
    if len(images) < 2:
        return None
    ratio = spread_ratio(rebuilt, images)
    if ratio < COLLAPSED:
        return f"the reconstructions of different images are near-identical (they differ {ratio:.2f}x as much)"
    distances = torch.cdist(rebuilt.flatten(1).double(), images.flatten(1).double())
    own = distances.diagonal().mean()
    others = (distances.sum() - distances.diagonal().sum()) / (len(images) * (len(images) - 1))
    if own >= UNLIKE * others:
        return (f"the reconstructions do not resemble their images (as far from them, {own:.2f}, as from the other "
                f"images, {others:.2f})")
    return None


def class_index(arch: dict[str, Any], name: str) -> int:
    """The index of class ``name`` (its folder name, or its index)."""
    if not arch["conditional"]:
        raise InputError("this run's generator is unconditional (an lgan or bigan run, or one trained without "
                         "{conditional}); sampling a class needs an amgan run with {conditional}", conditional=True)
    if name in arch["classes"]:
        return arch["classes"].index(name)
    if is_number(name) and int(name) < len(arch["classes"]):
        return int(name)
    raise InputError(f"{{class}}: the run's classes are {', '.join(arch['classes'])}", **{"class": name})


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


@torch.no_grad()
def reconstruct(bigan: nn.Module, images: Tensor, batch: int = 256) -> Tensor:
    """G(E(x)) for images in [-1, 1], on the CPU."""
    device = next(bigan.parameters()).device
    return torch.cat([bigan(bigan.encode(part.to(device))).float().cpu() for part in images.split(batch)])
