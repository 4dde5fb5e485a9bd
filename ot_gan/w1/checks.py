"""Checks and helpers shared by the W1 methods: sample arrays, sample weights, weighted means."""

from __future__ import annotations

import numpy as np
import ot
import torch
from torch import Tensor

from ot_gan.errors import InputError

Array = np.ndarray | Tensor


def as_samples(x: Array, name: str) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if not t.is_floating_point():
        t = t.float()
    if t.dim() < 2 or len(t) == 0:
        raise InputError(f"{name}: expected an array of samples (n, ...), got shape {tuple(t.shape)}")
    if not all(torch.isfinite(t[i:i + 65536]).all() for i in range(0, len(t), 65536)):  # no n-sized mask
        raise InputError(f"{name}: contains NaN or infinite values")
    return t



def check_pair(x: Array, y: Array) -> tuple[Tensor, Tensor]:
    x, y = as_samples(x, "first set"), as_samples(y, "second set")
    if x.shape[1:] != y.shape[1:]:
        raise InputError(f"the sets have different sample shapes: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}")
    return x, y



def check_weights(w: Array | None, n: int, name: str) -> Tensor | None:
    """Sample weights as float64 summing to 1 (None: uniform), or an InputError."""
    if w is None:
        return None
    w = torch.as_tensor(np.asarray(w) if not isinstance(w, Tensor) else w).double().cpu()
    if w.shape != (n,):
        raise InputError(f"{name}: expected one weight per sample, shape ({n},), got {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"{name}: weights must be finite, non-negative and not all 0")
    return w / w.sum()



def weighted_mean(values: Tensor, w: Tensor | None) -> float:
    """The mean of ``values`` under the weights ``w`` (renormalized; None: uniform), in float64."""
    values = values.double()
    return values.mean().item() if w is None else (values @ w / w.sum()).item()



def uniform_or(w: Tensor | None, n: int) -> np.ndarray:
    """POT's weight vector: ``w`` or ``ot.unif(n)``."""
    return ot.unif(n) if w is None else w.numpy()

