"""Pairs of sample sets with a known W1, for testing estimators where no exact solver reaches.

The construction is the one of Korotin, Kolesov, Burnaev, "Kantorovich Strikes Back! Wasserstein
GANs are not Optimal Transport?" (NeurIPS 2022 Datasets & Benchmarks): a potential made of funnels,
f(y) = min_k ||y - c_k|| + b_k, is 1-Lipschitz with a unit gradient almost everywhere. Moving a
point y toward the apex of its active funnel k by t <= ||c_k - y|| keeps k active along the way
(any other funnel loses at most t, by the triangle inequality), so f drops by exactly t = ||x - y||.
The pairing y -> x is then an optimal plan and W1 = E t: on the paired sets the plug-in W1 is
mean(t) exactly, and for independent draws of the two sides the population W1 is still E t.
See docs/algorithms.md, section 1 ("Benchmark pairs with a known W1").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2

from ot_gan.sources import PHOTOS


@dataclass
class Funnels:
    """The potential f(y) = min_k ||y - c_k|| + b_k on samples of any shape (flattened)."""

    centers: Tensor  # (k, ...) one apex per funnel, shaped like a sample
    biases: Tensor  # (k,)

    @classmethod
    def random(cls, pool: Tensor, n_funnels: int, gen: torch.Generator, bias_scale: float = 0.1) -> Funnels:
        """``n_funnels`` apexes drawn from ``pool`` (samples of the data the pairs are made of, so
        that the funnels sit among the data and the potential is curved where the data are), and
        biases uniform in [0, ``bias_scale``] times the median distance of the pool to the apexes
        (enough that some funnels own more of the data than their Voronoi cells)."""
        centers = pool[torch.randperm(len(pool), generator=gen)[:n_funnels]].clone()
        spread = torch.cdist(pool[:512].flatten(1), centers.flatten(1)).median()
        return cls(centers, torch.rand(n_funnels, generator=gen) * bias_scale * spread)

    def distances(self, y: Tensor) -> Tensor:
        """(n, k): ||y_i - c_k|| + b_k."""
        return torch.cdist(y.flatten(1), self.centers.flatten(1)) + self.biases

    def __call__(self, y: Tensor) -> Tensor:
        return self.distances(y).amin(1)

    def move(self, y: Tensor, gen: torch.Generator, low: float = 0.0, high: float = 1.0) -> tuple[Tensor, Tensor]:
        """(x, t): each y moved toward its active apex by a fraction ~ U[low, high] of the distance
        to it; t = ||x - y|| is how far, and f(y) - f(x) = t."""
        c = self.centers[self.distances(y).argmin(1)]
        to_apex = (c - y).flatten(1)
        fraction = low + (high - low) * torch.rand(len(y), generator=gen)
        x = y + (fraction[:, None] * to_apex).view_as(y)
        return x, fraction * to_apex.norm(dim=1)

    def gradient(self, x: Tensor) -> Tensor:
        """grad f at x: the unit vector from the active apex to x (flattened, (n, d))."""
        c = self.centers[self.distances(x).argmin(1)]
        away = (x - c).flatten(1)
        return away / away.norm(dim=1, keepdim=True).clamp_min(1e-12)


@functools.lru_cache(maxsize=8)
def _scaled_photos(size: int, scale: float = 4, names: tuple[str, ...] = PHOTOS) -> tuple[Tensor, ...]:
    """The photos ``names`` of ``skimage.data`` in [-1, 1], each scaled so that its short side is
    ``scale`` times ``size``."""
    import skimage.data

    photos = []
    for name in names:
        img = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1)[:3]
        img = v2.functional.to_dtype(img, torch.float32, scale=True) * 2 - 1
        short = min(img.shape[1:])
        photos.append(v2.functional.resize(img, [max(size, round(s * scale * size / short)) for s in img.shape[1:]],
                                           antialias=True))
    return tuple(photos)


def photo_crops(n: int, size: int, gen: torch.Generator, scale: float = 4, names: tuple[str, ...] = PHOTOS) -> Tensor:
    """``n`` random ``size`` x ``size`` crops (3, size, size) in [-1, 1] of the color photos
    ``names`` of ``skimage.data``, each photo first scaled so that its short side is ``scale``
    ``size`` (4: crops of a quarter of a scene), from random positions (overlapping, unlike the
    ``photos`` source)."""
    photos = _scaled_photos(size, scale, names)
    which = torch.randint(len(photos), (n,), generator=gen)
    out = torch.empty(n, 3, size, size)
    for i, p in enumerate(which.tolist()):
        img = photos[p]
        top = int(torch.randint(img.shape[1] - size + 1, (), generator=gen))
        left = int(torch.randint(img.shape[2] - size + 1, (), generator=gen))
        out[i] = img[:, top:top + size, left:left + size]
    return out.clamp(-1, 1)


def cube(n: int, dim: int, gen: torch.Generator) -> Tensor:
    """``n`` points uniform in the cube [-1, 1]^dim."""
    return torch.rand(n, dim, generator=gen) * 2 - 1


def funnel_pair(source: str, n: int, n_funnels: int, paired: bool = True, seed: int = 0,
                size: int = 32, dim: int = 2, *, photos: tuple[str, ...] = PHOTOS, scale: float = 4,
                offset: float = 0.1, depth: float = 1.0) -> tuple[Tensor, Tensor, float, Funnels]:
    """(x, y, W1, funnels): y from ``source`` (``photos`` crops of side ``size`` from the photos
    ``photos`` scaled by ``scale`` (see ``photo_crops``), or ``cube`` of ``dim`` dimensions), x
    the points moved toward their funnel's apex by a fraction U[0, ``depth``] of the way; the
    funnels' offsets are up to ``offset`` times the median distance of the data to the apexes.
    With ``paired`` x is made from y itself and W1 is mean(t), also the plug-in W1 of the two
    sets; otherwise x is made from an independent draw, and W1 is the population value E t,
    estimated on 20,000 further draws (its error is far below any estimator's)."""
    gen = torch.Generator().manual_seed(seed)

    def draw(m: int) -> Tensor:
        return photo_crops(m, size, gen, scale, photos) if source == "photos" else cube(m, dim, gen)

    funnels = Funnels.random(draw(max(n_funnels, 512)), n_funnels, gen, bias_scale=offset)
    y = draw(n)
    if paired:
        x, t = funnels.move(y, gen, high=depth)
        return x, y, float(t.double().mean()), funnels
    x, _ = funnels.move(draw(n), gen, high=depth)
    t = torch.cat([funnels.move(draw(2000), gen, high=depth)[1] for _ in range(10)])
    return x, y, float(t.double().mean()), funnels
