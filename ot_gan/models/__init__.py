"""Generators and critics."""

from ot_gan.models.classifier import SmallClassifier
from ot_gan.models.critics import ConvCritic, MLPCritic, critic_for
from ot_gan.models.cyclegan import PatchDiscriminator, ResnetGenerator
from ot_gan.models.dcgan import DCGANGenerator

__all__ = ["ConvCritic", "DCGANGenerator", "MLPCritic", "PatchDiscriminator", "ResnetGenerator",
           "SmallClassifier", "critic_for"]
