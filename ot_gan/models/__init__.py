"""Generators and critics."""

from ot_gan.models.critics import ConvCritic, MLPCritic, critic_for

__all__ = ["ConvCritic", "MLPCritic", "critic_for"]
