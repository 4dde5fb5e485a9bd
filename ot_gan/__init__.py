"""ot-gan: optimal transport and Lipschitz GANs in PyTorch.

The names below are imported on first use (PEP 562), so that ``import ot_gan`` and the ``ot-gan``
command's help do not wait seconds for torch, POT and SciPy."""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"AdaShift": "ot_gan.optim", **dict.fromkeys(
    ["CriticEstimator", "CriticSettings", "W1Result", "best_critic", "sliced_wasserstein", "two_sample_test",
     "wasserstein1", "witness_samples"], "ot_gan.w1")}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ot_gan' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
