"""Diversity and fidelity measures for generated images on k-nearest-neighbour balls: the spread of
a set, improved precision and recall, and density and coverage (docs/algorithms.md section 9)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from torch import Tensor


def mean_pairwise_distance(x: Tensor) -> float:
    """Mean |x_i - x_j| over the pairs i != j of the rows of ``x`` (n, ...), each a mean over entries."""
    flat = x.flatten(1).double()
    n = len(flat)
    if n < 2:
        raise ValueError(f"a spread needs two samples or more, got {n}")
    return float(torch.cdist(flat, flat, p=1).sum() / (n * (n - 1) * flat.shape[1]))


def _radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour among the others."""
    return NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)[0][:, k]


def _balls_containing(queries: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each query, how many balls (``centers``, ``radii``) contain it: a radius search at the
    largest radius, then each candidate's own radius."""
    distances, indices = NearestNeighbors().fit(centers).radius_neighbors(queries, radius=float(radii.max()))
    return np.array([int((d <= radii[i]).sum()) for d, i in zip(distances, indices)])


def _check_sizes(real: Tensor, fake: Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"k-nearest-neighbour measures with k = {k} need more than {k} samples a side")
    return real.flatten(1).double().numpy(), fake.flatten(1).double().numpy()


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019, arXiv 1904.06991) of
    feature vectors (n, d): precision, the share of fakes inside the k-nearest-neighbour ball of
    some real sample; recall, the share of reals inside the ball of some fake."""
    r, f = _check_sizes(real, fake, k)
    return (float((_balls_containing(f, r, _radii(r, k)) > 0).mean()),
            float((_balls_containing(r, f, _radii(f, k)) > 0).mean()))


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative
    Models", ICML 2020, arXiv 2002.09797) of samples (n, ...), on the k-nearest-neighbour balls of
    the real samples only, so that outlying fakes cannot inflate them as they do precision and recall:
    density = (1 / kM) sum_j (number of real balls containing fake j), about 1 for fakes
    distributed as the reals; coverage = the share of real samples whose ball contains a fake."""
    r, f = _check_sizes(real, fake, k)
    radii = _radii(r, k)
    density = _balls_containing(f, r, radii).sum() / (k * len(f))
    nearest_fake = NearestNeighbors(n_neighbors=1).fit(f).kneighbors(r)[0][:, 0]
    return float(density), float((nearest_fake <= radii).mean())
