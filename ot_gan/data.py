"""Data sources: one syntax for every data argument of ot-gan.

A source is one of:
- a built-in, ``name`` or ``name:ARG``, listed in ``ot_gan.sources.SOURCES`` (digits, photos,
  2-D toys...); a built-in's name wins over a file or folder of that name, which is ``./name``;
- a folder of images, searched recursively (png, jpg, jpeg, bmp, tif, tiff, webp); gray, RGB,
  RGBA (composited on white) and 16-bit images are converted explicitly; a subfolder per class
  gives labels; files that cannot be read are all named in one error, or left out with a warning
  when ``skip_bad`` is set;
- a ``.npy`` or ``.npz`` file of vectors (n, d) or images (n, C, H, W) (an ``.npz`` must hold one
  array, or ``x`` / ``y`` for data / integer labels 0..K-1); ``.npy`` files are memory-mapped
  (copy-on-write); unsigned-integer images (8- or 16-bit) are scaled to [-1, 1], and images of
  another range are kept as they are, with a warning.

Images come out as float32 tensors (n, C, H, W) in [-1, 1], square at the ``size`` asked for, and
vectors as (n, d) float32 tensors.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import v2

from ot_gan.errors import InputError, UnreadableImages
from ot_gan.sources import CUT_SIZE, SOURCES, listing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Samples:
    """A loaded source: ``data`` a float32 tensor (n, ...), optional integer ``labels`` (n,) and
    their names."""

    data: Tensor
    labels: Tensor | None = None
    classes: list[str] | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_image(self) -> bool:
        return self.data.ndim == 4

    def split(self, holdout: float, seed: int = 0) -> tuple[Samples, Samples]:
        """A seeded random (train, held-out) split, ``holdout`` the held-out fraction."""
        parts = []
        for idx in split_indices(len(self), holdout, torch.Generator().manual_seed(seed)):
            idx = idx.sort().values
            parts.append(Samples(self.data[idx], None if self.labels is None else self.labels[idx], self.classes,
                                 self.name))
        return parts[0], parts[1]


def split_indices(n: int, holdout: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random (train, held-out) indices of n samples, round(n * holdout) of them held out (at
    least one sample is left for training)."""
    perm = torch.randperm(n, generator=gen)
    n_held = held_out_count(n, holdout)
    return perm[n_held:], perm[:n_held]


def held_out_count(n: int, holdout: float) -> int:
    """How many of n samples ``split_indices`` holds out."""
    return min(int(round(n * holdout)), n - 1)


def load_source(spec: str, size: int | None = None, channels: int | None = None, seed: int = 0,
                skip_bad: bool = False) -> Samples:
    """Load the source named by ``spec`` (see the module docstring).

    ``size``: every image source comes out ``size`` x ``size``, its images resized on the short
    side and center-cropped (``resize_crop``) here, once, the same way for each; None keeps the
    side of the sources that have one (digits, arrays) and cuts folders and photos at CUT_SIZE.
    ``channels`` (1 or 3) forces a folder's images gray or RGB (default: RGB unless every image
    is gray); ``skip_bad`` leaves out the files of a folder that cannot be read instead of
    refusing the folder."""
    path = source_path(spec)
    if path is None:
        name, _, arg = spec.partition(":")
        source = SOURCES[name]
        if Path(spec).expanduser().exists():
            warnings.warn(f"{spec}: the built-in source is read, not the file or folder {spec} (write ./{spec} "
                          "for that)", stacklevel=2)
        data, labels, classes = source.load(source.parse(arg, spec), size, seed)
        samples = Samples(data, labels, classes, spec)
    elif path.is_dir():
        return _load_folder(path, CUT_SIZE if size is None else size, channels, skip_bad)
    elif path.suffix in (".npy", ".npz") and path.is_file():
        samples = _load_array(path)
    elif path.exists():
        raise InputError(f"{spec}: not a folder of images nor a .npy/.npz file")
    elif path.suffix in (".npy", ".npz"):
        raise InputError(f"{spec}: no such file")
    else:
        raise InputError(f"{spec}: no such file or folder, and not a built-in source ({listing()})")
    if size is not None and samples.is_image and samples.data.shape[-2:] != (size, size):
        samples.data = torch.cat([resize_crop(part, size) for part in samples.data.split(1024)])
    return samples


def source_path(spec: str) -> Path | None:
    """The file or folder that ``spec`` names, or None for a built-in source: a built-in's name
    wins over a path of that name, which is written ``./name``."""
    return None if spec.partition(":")[0] in SOURCES else Path(spec).expanduser()


def _value_range(data: np.ndarray, spec: str) -> tuple[float, float]:
    """The smallest and largest value, read in chunks (memory-mapped files); NaN or infinite
    values are refused."""
    chunk, lo, hi = 1 << 16, math.inf, -math.inf
    for i in range(0, len(data), chunk):
        part = np.asarray(data[i:i + chunk])
        if not np.isfinite(part).all():
            raise InputError(f"{spec}: contains NaN or infinite values")
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return lo, hi


def _load_array(path: Path) -> Samples:
    labels = None
    try:
        if path.suffix == ".npy":  # copy-on-write: tensors can share it, and nothing is written back
            data = np.load(path, mmap_mode="c", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                key = "x" if "x" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise InputError(f"{path}: an .npz needs one array, or arrays named x (and y for labels); "
                                     f"found {', '.join(keys)}")
                data = archive[key]
                labels = archive["y"] if "y" in keys else None
    except (ValueError, OSError) as err:
        raise InputError(f"{path}: not a readable NumPy array ({err})") from None
    if data.ndim not in (2, 4) or len(data) == 0:
        raise InputError(f"{path}: expected vectors (n, d) or images (n, C, H, W), got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise InputError(f"{path}: expected real numbers, got dtype {data.dtype}")
    lo, hi = _value_range(data, str(path))
    if data.ndim == 4 and np.issubdtype(data.dtype, np.unsignedinteger):
        data = np.asarray(data, dtype=np.float32) * np.float32(2 / np.iinfo(data.dtype).max) - 1
    elif data.ndim == 4 and (lo < -1.001 or hi > 1.001):
        warnings.warn(f"{path}: image values span [{lo:.4g}, {hi:.4g}], not [-1, 1] as every other image "
                      "source; they are used as they are", stacklevel=3)
    if data.dtype != np.float32:
        data = np.asarray(data, dtype=np.float32)
    classes = None
    if labels is not None:
        labels, classes = _check_labels(labels, len(data), path)
    return Samples(torch.from_numpy(data if isinstance(data, np.memmap) else np.ascontiguousarray(data)),
                   labels, classes, name=str(path))


def _check_labels(y: np.ndarray, n: int, path: Path) -> tuple[Tensor, list[str]]:
    """An .npz's labels as a tensor and class names "0".."K-1"; one non-negative integer per sample."""
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(f"{path}: y must hold one label 0..K-1 per sample of x ({n} integers); "
                         f"got shape {y.shape}, dtype {y.dtype}")
    return torch.as_tensor(y).long(), [str(k) for k in range(int(y.max()) + 1)]


def read_image(path: Path, channels: int = 3) -> Tensor:
    """An image file as a float tensor (C, H, W) in [0, 1]: 16-bit and 32-bit gray scaled by their
    range, palette and CMYK images converted, alpha composited on white."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit integer or float gray
                arr = np.asarray(img, dtype=np.float64)
                peak = 1.0 if img.mode == "F" else 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
                gray = torch.as_tensor(arr / peak, dtype=torch.float32).clamp(0, 1)[None]
                return gray.expand(channels, -1, -1).clone()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            img = img.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from None
    return v2.functional.to_dtype(v2.functional.pil_to_tensor(img), torch.float32, scale=True)


def read_images(folder: Path, files: list[Path], channels: int = 3, skip_bad: bool = False,
                keep: bool = True) -> tuple[list[Path], list[Tensor]]:
    """The files of ``folder`` that can be read and, with ``keep``, their images (``read_image``).

    Every file that cannot be read is named in one UnreadableImages error (not only the first),
    or, with ``skip_bad``, left out with a warning that counts them. ``keep=False`` only checks
    the files, for commands that then read one image at a time."""
    good, images, bad = [], [], []
    for path in files:
        try:
            image = read_image(path, channels)
        except InputError as err:
            bad.append((path, err))
            continue
        good.append(path)
        if keep:
            images.append(image)
    if bad:
        names = [str(p.relative_to(folder)) for p, _ in bad]
        listing = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if not skip_bad:
            first = str(bad[0][1]).partition(": ")[2]
            raise UnreadableImages(f"{folder}: {len(bad)} of {len(files)} image files cannot be read: {listing} "
                                   f"({names[0]}: {first})")
        warnings.warn(f"{folder}: skipped {len(bad)} of {len(files)} image files that cannot be read: {listing}",
                      stacklevel=2)
    return good, images


def is_gray(path: Path) -> bool:
    """Whether the image file has a single channel (without decoding its pixels)."""
    try:
        with Image.open(path) as img:
            return img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    except (UnidentifiedImageError, OSError):
        return False


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted; other files are ignored."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def resize_crop(image: Tensor, size: int) -> Tensor:
    """Resize the short side to ``size`` (antialiased) and center-crop to a square."""
    image = v2.functional.resize(image, size, antialias=True)
    return v2.functional.center_crop(image, [size, size])


def _load_folder(folder: Path, size: int, channels: int | None, skip_bad: bool = False) -> Samples:
    files = image_files(folder)
    if not files:
        raise InputError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    if channels is None:
        channels = 1 if all(is_gray(p) for p in files) else 3
    files, raw = read_images(folder, files, channels, skip_bad)
    if not files:
        raise InputError(f"{folder}: none of its image files can be read")
    small = sum(min(img.shape[1:]) < size for img in raw)
    if small:
        warnings.warn(f"{folder}: {small} of {len(files)} images are smaller than {size} px and were upscaled",
                      stacklevel=2)
    images = torch.stack([resize_crop(img, size) for img in raw]) * 2 - 1
    class_of = [p.relative_to(folder).parts[0] if len(p.relative_to(folder).parts) > 1 else "" for p in files]
    classes = sorted(set(class_of))
    labels = None
    if len(classes) > 1 and "" not in classes:
        labels = torch.tensor([classes.index(c) for c in class_of])
    return Samples(images.clamp(-1, 1), labels, classes if labels is not None else None, str(folder))
