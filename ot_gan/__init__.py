"""ot-gan: optimal transport and Lipschitz GANs in PyTorch."""

from ot_gan.optim import AdaShift

__all__ = ["AdaShift"]
