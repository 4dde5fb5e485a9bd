"""Using a trained run, as every app's apply, sample and eval commands do: its generator, a check
that data fits it, and outputs for a folder of inputs that are written all or none."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ot_gan.data import image_files, read_images
from ot_gan.engine.checkpoint import find_checkpoint, generator_weights, load_checkpoint
from ot_gan.errors import InputError


def load_generator(run: Path, app: str, build: Callable[[dict[str, Any]], nn.Module],
                   device: torch.device = torch.device("cpu")) -> tuple[nn.Module, dict[str, Any]]:
    """The generator that ``build`` makes from the architecture of ``app``'s run ``run``, with the
    run's weights (EMA ones if kept), on ``device`` in eval mode; and that architecture."""
    payload = load_checkpoint(find_checkpoint(run), app)
    generator = build(payload["architecture"])
    generator.load_state_dict(generator_weights(payload))
    return generator.to(device).eval(), payload["architecture"]


def check_fits(spec: str, images: Tensor, channels: int, classes: list[str] | None = None,
               run_classes: list[str] | None = None, part: str = "the run") -> None:
    """Refuse the images of ``spec`` (n, C, H, W) when C is not the ``channels`` of ``part`` of a
    run or, when ``run_classes`` is given, their ``classes`` are not the run's."""
    if images.shape[1] != channels:
        raise InputError(f"{spec}: images with {images.shape[1]} channels, but {part} has {channels} "
                         "(gray 1, color 3)")
    if run_classes is not None and classes != run_classes:
        raise InputError(f"{spec}: classes {', '.join(classes or ['none'])}, but {part} has classes "
                         f"{', '.join(run_classes)}")


def input_files(inputs: Path) -> list[Path]:
    """The image files under the folder ``inputs`` (recursively); none is an error."""
    if not inputs.is_dir():
        raise InputError(f"{inputs}: not a folder of images")
    files = image_files(inputs)
    if not files:
        raise InputError(f"{inputs}: no images found")
    return files


@contextmanager
def staged_outputs(folder: Path, names: list[str]) -> Iterator[list[Path]]:
    """Paths for ``names`` (relative to ``folder``, their folders made) in a temporary folder next
    to ``folder``, moved into ``folder`` when the block completes and removed when it fails, so
    that a failure leaves nothing half-written and a rerun works. Existing files are never
    overwritten."""
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{existing}: exists and is not a folder; choose another {{output}}", output=None)
    taken = [name for name in names if (folder / name).exists()]
    if taken:
        more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
        raise InputError(f"{folder}: would overwrite {', '.join(taken[:3])}{more}; choose another {{output}}",
                         output=None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        paths = [staging / name for name in names]
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
        yield paths
        if not folder.exists():
            staging.rename(folder)
        else:  # an existing folder keeps its other files
            for name in names:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).rename(folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def apply_to_folder(inputs: Path, files: list[Path], output: Path, channels: int, skip_bad: bool = False,
                    outputs: Callable[[str], list[str]] = lambda name: [name]
                    ) -> Iterator[list[tuple[Path, list[Path]]]]:
    """Each of the image ``files`` under ``inputs`` (``input_files``) that reads as a
    ``channels``-channel image (``skip_bad``: the others are left out, else they are an error),
    with the paths to write its outputs to: ``outputs(name)`` of its name relative to ``inputs``
    (by default the same name), under ``output``, where they all appear when the block completes
    or, on failure, none (``staged_outputs``)."""
    files = read_images(inputs, files, channels, skip_bad, keep=False)[0]
    names = [outputs(str(path.relative_to(inputs))) for path in files]
    with staged_outputs(output, [name for group in names for name in group]) as staged:
        paths = iter(staged)
        yield [(src, [next(paths) for _ in group]) for src, group in zip(files, names)]
