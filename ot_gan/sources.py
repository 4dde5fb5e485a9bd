"""The built-in data sources, in one registry: ``load_source`` parses and loads with it, and its
error, the command line's help and the README's table list it (a test holds them to it).

A built-in is written ``name`` or ``name:ARG``. Its name always means the built-in, even where a
file or folder of that name exists (``load_source`` then warns; ``./name`` is the path), so that a
spec reads the same in every working directory. Adding a source is one ``Source`` in ``SOURCES``.

The loaders import torch, scikit-learn and scikit-image when they run, not with this module: the
command line's ``--help`` reads the registry and must not wait for them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ot_gan.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

Loaded = tuple["Tensor", "Tensor | None", "list[str] | None"]  # data, integer labels, class names
CUT_SIZE = 32  # the side folders and photos are cut at when no size is asked for
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
PALETTE = ((1.0, 0.1, 0.1), (0.1, 1.0, 0.1), (0.2, 0.4, 1.0), (1.0, 1.0, 0.1))  # colordigits' strokes


@dataclass(frozen=True)
class Source:
    """A built-in source: ``parse(arg, spec)`` reads the text after ``name:`` ("" when there is
    none) into what ``load(parsed, size, seed)`` takes. ``load`` returns images (n, C, H, W) in
    [-1, 1] or vectors (n, d), float32, with labels and class names or None; ``load_source`` then
    resizes images to the size asked for, the same way for every source. ``arg`` names the optional
    argument in the syntax (``K`` in ``digits[:K]``), empty for none."""

    name: str
    arg: str
    help: str
    parse: Callable[[str, str], Any]
    load: Callable[[Any, int | None, int], Loaded]

    @property
    def syntax(self) -> str:
        return f"{self.name}[:{self.arg}]" if self.arg else self.name


def is_number(text: str) -> bool:
    """Whether ``text`` is a plain decimal number, 0-9 only (``str.isdigit`` also takes '²')."""
    return text.isascii() and text.isdigit()


def _digit_class(arg: str, spec: str) -> int | None:
    if arg and not (is_number(arg) and int(arg) < 10):
        raise InputError(f"{spec}: the digit class must be 0-9")
    return int(arg) if arg else None


def _count(arg: str, spec: str) -> int:
    if not arg:
        return 4000
    if not is_number(arg) or int(arg) == 0:
        raise InputError(f"{spec}: expected a positive integer after ':'")
    return int(arg)


def _no_arg(arg: str, spec: str) -> None:
    if arg:
        raise InputError(f"{spec}: {spec.partition(':')[0]} takes no ':' argument")


def load_digits(k: int | None, size: int | None = None, seed: int = 0) -> Loaded:
    """scikit-learn's 1,797 8x8 digits (all, or those of class ``k``) in [-1, 1], labeled 0-9."""
    import torch
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # 0..16 -> [-1, 1]
    labels = torch.as_tensor(digits.target).long()
    if k is not None:
        keep = labels == k
        images, labels = images[keep], labels[keep]
    return images, labels, [str(c) for c in range(10)]


def color_digits(k: int | None, size: int | None = None, seed: int = 0) -> Loaded:
    """The digits with their strokes in one color of PALETTE each, drawn at random (seeded), on black."""
    import torch

    gray, labels, classes = load_digits(k)
    palette = torch.tensor(PALETTE)
    pick = torch.randint(len(palette), (len(gray),), generator=torch.Generator().manual_seed(seed))
    ink = (gray + 1) / 2  # (n, 1, 8, 8) in [0, 1]
    return ink * palette[pick][:, :, None, None] * 2 - 1, labels, classes


def photo_patches(_: None, size: int | None = None, seed: int = 0) -> Loaded:
    """Non-overlapping ``size`` x ``size`` patches of the color photos in ``skimage.data``, in
    [-1, 1], shuffled; about 8 patches across each photo's short side, which is scaled down for it."""
    import skimage.data
    import torch
    from torchvision.transforms import v2

    size = CUT_SIZE if size is None else size
    patches = []
    for name in PHOTOS:
        img = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1)[:3]
        img = v2.functional.to_dtype(img, torch.float32, scale=True)
        scale = 8 * size / min(img.shape[1:])
        if scale < 1:
            img = v2.functional.resize(img, [round(img.shape[1] * scale), round(img.shape[2] * scale)],
                                       antialias=True)
        tiles = img.unfold(1, size, size).unfold(2, size, size)  # C, nh, nw, size, size
        patches.append(tiles.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size))
    data = torch.cat(patches) * 2 - 1
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))], None, None


TOYS = {"gaussians": "8 Gaussians on a circle", "rings": "3 concentric rings", "checkerboard": "a checkerboard"}


def toy_2d(name: str, n: int, seed: int = 0) -> Tensor:
    """Samples (n, 2) of a 2-D toy distribution: ``gaussians``, ``rings`` or ``checkerboard``."""
    import torch

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


def _toy(name: str) -> Source:
    return Source(name, "N", f"2-D: {TOYS[name]}, N points (default 4,000)", _count,
                  lambda n, size, seed: (toy_2d(name, n, seed), None, None))


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("digits", "K", "scikit-learn's 1,797 8x8 handwritten digits, labeled 0-9; K: class K alone",
           _digit_class, load_digits),
    Source("colordigits", "K", "the digits, each stroked in red, green, blue or yellow at random (seeded)",
           _digit_class, color_digits),
    Source("photos", "", "patches of the 6 color photos in skimage.data, cut at the image size",
           _no_arg, photo_patches),
    *(_toy(name) for name in TOYS),
)}


def listing() -> str:
    """The built-ins' syntaxes, comma-separated, for errors and help."""
    return ", ".join(s.syntax for s in SOURCES.values())
