"""Diversity measures for generated images: the spread of a set, and precision and recall on
features (docs/algorithms.md section 9)."""

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


def _covered(queries: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> float:
    """The fraction of ``queries`` inside at least one ball (``centers``, ``radii``)."""
    distances = np.linalg.norm(queries[:, None] - centers[None], axis=2)
    return float((distances <= radii[None]).any(axis=1).mean())


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019, arXiv 1904.06991) of
    feature vectors (n, d): precision, the share of fakes inside the k-nearest-neighbour ball of
    some real sample; recall, the share of reals inside the ball of some fake."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision and recall with k = {k} need more than {k} samples a side")
    r, f = real.double().numpy(), fake.double().numpy()
    return _covered(f, r, _radii(r, k)), _covered(r, f, _radii(f, k))
