"""Generators and critics."""

from ot_gan.models.classifier import SmallClassifier
from ot_gan.models.critics import ConvCritic, MLPCritic, critic_for
from ot_gan.models.dcgan import DCGANGenerator

__all__ = ["ConvCritic", "DCGANGenerator", "MLPCritic", "SmallClassifier", "critic_for"]
