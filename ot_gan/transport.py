"""Discrete optimal transport between image sets, and the task costs that say what a translation
keeps (docs/algorithms.md section 6).

Named here ``transport`` rather than ``ot`` so that it never shadows POT's ``ot`` package.
Each task cost is a squared distance between features of the two images, averaged over the
feature's entries: ``l2`` (the pixels), ``color`` (the mean of each channel: (1/3) sum_c
(avg x_c - avg y_c)^2, arXiv 1811.06284's handbags->shoes cost), ``edges`` (the magnitudes of the
two Sobel responses of each channel: keep the shape) and ``gray`` (the luminance: Y of
scikit-image's YUV, BT.601's 0.299 R + 0.587 G + 0.114 B, not ``rgb2gray``'s BT.709 weights
0.2125, 0.7154, 0.0721). A user cost is any ``module:function`` taking two image batches
(n, C, H, W) in [-1, 1] and returning (n,) costs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import ot
import torch
import torch.nn.functional as F
from torch import Tensor

from ot_gan.color import luminance
from ot_gan.errors import InputError

_SOBEL = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def _rgb(x: Tensor) -> Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def color_features(x: Tensor) -> Tensor:
    return _rgb(x).mean(dim=(2, 3))


def gray_features(x: Tensor) -> Tensor:
    return luminance(_rgb(x)).flatten(1)


def edge_features(x: Tensor) -> Tensor:
    x = _rgb(x)
    kernels = torch.stack([_SOBEL, _SOBEL.T]).unsqueeze(1).to(x)  # (2, 1, 3, 3)
    n, c, h, w = x.shape
    responses = F.conv2d(F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate"), kernels)
    return responses.abs().reshape(n, -1)


def pixel_features(x: Tensor) -> Tensor:
    return _rgb(x).flatten(1)


FEATURES: dict[str, Callable[[Tensor], Tensor]] = {
    "l2": pixel_features, "color": color_features, "edges": edge_features, "gray": gray_features}
COSTS = tuple(FEATURES)


class TaskCost:
    """c(x, y) per pair of images, and the (n, m) matrix between two sets for the OT plan."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.features = FEATURES.get(name)
        self.function: Callable[[Tensor, Tensor], Tensor] | None = None
        if self.features is None:
            self.function = load_function(name)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """(n,) costs between paired images."""
        if self.function is not None:
            return self.function(x, y)
        return (self.features(x) - self.features(y)).square().mean(dim=1)

    @torch.no_grad()
    def matrix(self, x: Tensor, y: Tensor) -> np.ndarray:
        """The (n, m) cost matrix, float64 for POT."""
        if self.function is None:
            fx, fy = self.features(x).double(), self.features(y).double()
            return ot.dist(fx, fy, metric="sqeuclidean").numpy() / fx.shape[1]
        rows = [self.function(xi.expand(len(y), *xi.shape), y) for xi in x]
        return torch.stack(rows).double().numpy()


def load_function(spec: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The function named by ``module:function``."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise InputError(f"unknown cost {spec!r}: use one of {', '.join(COSTS)} or module:function")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise InputError(f"cost {spec}: cannot import it ({err})") from None
    if not callable(function):
        raise InputError(f"cost {spec}: not a function")
    return function


def transport_plan(cost: np.ndarray, solver: str = "exact", reg: float = 0.05) -> np.ndarray:
    """The OT plan between uniform weights: POT's network simplex, or log-domain Sinkhorn with
    ``reg`` relative to the median cost (so one setting suits any cost's scale)."""
    a, b = ot.unif(cost.shape[0]), ot.unif(cost.shape[1])
    if solver == "exact":
        return ot.emd(a, b, cost, numItermax=10_000_000)
    if solver == "sinkhorn":
        return ot.sinkhorn(a, b, cost, reg * float(np.median(cost)), method="sinkhorn_log")
    raise InputError(f"unknown OT solver {solver!r}: use exact or sinkhorn")


def barycentric_targets(plan: np.ndarray, y: Tensor) -> Tensor:
    """y_bar(x_i) = sum_j pi_ij y_j / sum_j pi_ij: with equal set sizes and the exact plan, the
    image x_i is matched to (arXiv 1811.06284)."""
    weights = torch.from_numpy(plan / plan.sum(axis=1, keepdims=True)).to(y.dtype)
    return (weights @ y.flatten(1)).view(len(plan), *y.shape[1:])
