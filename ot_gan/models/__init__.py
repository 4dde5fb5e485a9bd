"""Generators and critics."""

from ot_gan.models.classifier import SmallClassifier
from ot_gan.models.critics import ConvCritic, MLPCritic, PairCritic, critic_for
from ot_gan.models.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator
from ot_gan.models.dcgan import DCGANGenerator
from ot_gan.models.techniques import MinibatchDiscrimination, VirtualBatchNorm2d

__all__ = ["ConvCritic", "DCGANGenerator", "ImagePool", "MLPCritic", "MinibatchDiscrimination", "PairCritic",
           "PatchDiscriminator", "ResnetGenerator", "SmallClassifier", "VirtualBatchNorm2d", "critic_for"]
