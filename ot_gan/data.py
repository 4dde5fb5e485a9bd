"""Data sources: one syntax for every data argument of ot-gan.

A source is one of:
- a folder of images, searched recursively (png, jpg, jpeg, bmp, tif, tiff, webp); gray, RGB,
  RGBA (composited on white) and 16-bit images are converted explicitly, then resized and
  center-cropped to ``size`` x ``size``; a subfolder per class gives labels; files that cannot be
  read are all named in one error, or left out with a warning when ``skip_bad`` is set;
- a ``.npy`` or ``.npz`` file of vectors (n, d) or images (n, C, H, W) (an ``.npz`` must hold one
  array, or ``x`` / ``y`` for data / integer labels 0..K-1); ``.npy`` files are memory-mapped
  (copy-on-write); unsigned-integer images (8- or 16-bit) are scaled to [-1, 1], and images of
  another range are kept as they are, with a warning;
- ``digits`` or ``digits:K``: scikit-learn's 1,797 8x8 handwritten digits, all or class K;
- ``colordigits`` or ``colordigits:K``: the same digits in RGB, each stroked in one of four
  colors at random (red, green, blue, yellow; seeded), for translation demos where color is what
  a mapping should keep;
- ``photos``: the color photos shipped in ``skimage.data``, cut into ``size`` x ``size`` patches;
- synthetic 2-D toys: ``gaussians`` (8 on a circle), ``rings`` (3 concentric), ``checkerboard``,
  optionally with a count: ``rings:5000``.

Images come out as float32 tensors (n, C, H, W) in [-1, 1]; vectors as (n, d) float32.
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

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
TOYS = ("gaussians", "rings", "checkerboard")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


@dataclass
class Samples:
    """A loaded source: ``data`` (n, ...) float32, optional integer ``labels`` (n,) and their names."""

    data: Tensor | np.ndarray
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
            idx = idx.sort().values.numpy()
            parts.append(Samples(torch.as_tensor(np.asarray(self.data[idx])),
                                 None if self.labels is None else self.labels[idx], self.classes, self.name))
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


def load_source(spec: str, size: int = 32, channels: int | None = None, seed: int = 0,
                skip_bad: bool = False) -> Samples:
    """Load the source named by ``spec`` (see the module docstring).

    ``size`` applies to image folders and ``photos``; ``channels`` (1 or 3) forces gray or RGB
    images (default: RGB unless every image of a folder is gray); ``skip_bad`` leaves out the
    files of a folder that cannot be read instead of refusing the folder."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path, size, channels, skip_bad)
    if path.suffix in (".npy", ".npz"):
        if not path.is_file():
            raise InputError(f"{spec}: no such file")
        return _load_array(path)
    name, _, arg = spec.partition(":")
    if name == "digits":
        return _load_digits(arg, spec)
    if name == "colordigits":
        return _color_digits(_load_digits(arg, spec), seed)
    if name == "photos":
        if arg:
            raise InputError(f"{spec}: photos takes no ':' argument (its patches have the image size)")
        return Samples(_photo_patches(size, seed), name=spec)
    if name in TOYS:
        n = _positive_int(arg, spec) if arg else 4000
        return Samples(toy_2d(name, n, seed), name=spec)
    if path.exists():
        raise InputError(f"{spec}: not a folder of images nor a .npy/.npz file")
    raise InputError(f"{spec}: no such file or folder, and not a built-in source "
                     f"(digits, digits:K, colordigits, colordigits:K, photos, {', '.join(TOYS)})")


def is_number(text: str) -> bool:
    """Whether ``text`` is a plain decimal number, 0-9 only (``str.isdigit`` also takes '²')."""
    return text.isascii() and text.isdigit()


def _positive_int(text: str, spec: str) -> int:
    if not is_number(text) or int(text) == 0:
        raise InputError(f"{spec}: expected a positive integer after ':'")
    return int(text)


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
    return Samples(data if isinstance(data, np.memmap) else torch.from_numpy(np.ascontiguousarray(data)),
                   labels, classes, name=str(path))


def _check_labels(y: np.ndarray, n: int, path: Path) -> tuple[Tensor, list[str]]:
    """An .npz's labels as a tensor and class names "0".."K-1"; one non-negative integer per sample."""
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(f"{path}: y must hold one label 0..K-1 per sample of x ({n} integers); "
                         f"got shape {y.shape}, dtype {y.dtype}")
    return torch.as_tensor(y).long(), [str(k) for k in range(int(y.max()) + 1)]


def _load_digits(arg: str, spec: str) -> Samples:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # 0..16 -> [-1, 1]
    labels = torch.as_tensor(digits.target).long()
    if arg:
        if not (is_number(arg) and int(arg) < 10):
            raise InputError(f"{spec}: the digit class must be 0-9")
        keep = labels == int(arg)
        images, labels = images[keep], labels[keep]
    return Samples(images, labels, [str(k) for k in range(10)], spec)


PALETTE = torch.tensor([[1.0, 0.1, 0.1], [0.1, 1.0, 0.1], [0.2, 0.4, 1.0], [1.0, 1.0, 0.1]])


def _color_digits(digits: Samples, seed: int) -> Samples:
    """Each digit's strokes in a random color of PALETTE on black."""
    pick = torch.randint(len(PALETTE), (len(digits),), generator=torch.Generator().manual_seed(seed))
    ink = (digits.data + 1) / 2  # (n, 1, 8, 8) in [0, 1]
    return Samples(ink * PALETTE[pick][:, :, None, None] * 2 - 1, digits.labels, digits.classes,
                   digits.name)


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


def _photo_patches(size: int, seed: int) -> Tensor:
    """Non-overlapping patches of the color photos in ``skimage.data``, in [-1, 1], shuffled."""
    import skimage.data

    patches = []
    for name in PHOTOS:
        img = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1)[:3]
        img = v2.functional.to_dtype(img, torch.float32, scale=True)
        scale = 8 * size / min(img.shape[1:])  # about 8 patches across the short side
        if scale < 1:
            img = v2.functional.resize(img, [round(img.shape[1] * scale), round(img.shape[2] * scale)],
                                       antialias=True)
        tiles = img.unfold(1, size, size).unfold(2, size, size)  # C, nh, nw, size, size
        patches.append(tiles.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size))
    data = torch.cat(patches) * 2 - 1
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))]


def toy_2d(name: str, n: int, seed: int = 0) -> Tensor:
    """Samples (n, 2) of a 2-D toy distribution: ``gaussians``, ``rings`` or ``checkerboard``."""
    g = torch.Generator().manual_seed(seed)
    if name == "gaussians":
        angle = torch.randint(8, (n,), generator=g) * (2 * math.pi / 8)
        centers = 2.0 * torch.stack([angle.cos(), angle.sin()], 1)
        return centers + 0.2 * torch.randn(n, 2, generator=g)
    if name == "rings":
        radius = (torch.randint(3, (n,), generator=g) + 1).float() * 0.75
        angle = torch.rand(n, generator=g) * 2 * math.pi
        ring = radius[:, None] * torch.stack([angle.cos(), angle.sin()], 1)
        return ring + 0.05 * torch.randn(n, 2, generator=g)
    if name == "checkerboard":
        x = torch.rand(n, generator=g) * 4 - 2
        y = torch.rand(n, generator=g) - (torch.randint(2, (n,), generator=g) * 2).float() + 1
        y = y + torch.floor(x) % 2
        return torch.stack([x, y], 1)
    raise InputError(f"unknown toy {name!r}; choose one of {', '.join(TOYS)}")
