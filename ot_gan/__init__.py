"""ot-gan: optimal transport and Lipschitz GANs in PyTorch."""

from ot_gan.optim import AdaShift
from ot_gan.wasserstein import CriticEstimator, W1Result, wasserstein1

__all__ = ["AdaShift", "CriticEstimator", "W1Result", "wasserstein1"]
