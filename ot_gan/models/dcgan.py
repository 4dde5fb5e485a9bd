"""The DCGAN generator (Radford et al., arXiv 1511.06434), optionally class-conditional; its
discriminator is ``ConvCritic`` (no batch norm, which would break per-sample gradient norms)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ot_gan.models.techniques import VirtualBatchNorm2d
from ot_gan.models.upsample import upsampling


class DCGANGenerator(nn.Module):
    """z (n, noise_dim) [+ class] -> images (n, channels, size, size) in [-1, 1].

    A 4x4 map from z, then upsamplings halving the width and doubling the side up to ``size`` (a
    power of two, 8 or more), batch norm and ReLU, tanh at the end. With ``num_classes`` a learnt
    class embedding is concatenated to z. ``upsample``: resize-convolutions (the default, no
    checkerboard) or DCGAN's 4x4 stride-2 transposed convolutions (see ``upsampling``).

    ``reference`` > 0 replaces batch norm with virtual batch norm (Salimans et al., arXiv
    1606.03498): a fixed batch of ``reference`` noise vectors (and classes in turn), drawn once
    from torch's global generator and kept as buffers, runs through the network with every batch
    and sets the normalization statistics, so a sample's image does not depend on its batch.
    """

    def __init__(self, noise_dim: int = 64, channels: int = 3, size: int = 32, width: int = 64,
                 num_classes: int = 0, reference: int = 0, upsample: str = "resize") -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"the DCGAN generator makes square images of side 8, 16, 32, 64...; got {size}")
        ups = size.bit_length() - 3  # 4 -> size in this many doublings
        c = width * 2 ** (ups - 1)
        self.embed = nn.Embedding(num_classes, noise_dim) if num_classes else None
        self.reference = reference
        if reference:
            self.register_buffer("reference_noise", torch.randn(reference, noise_dim))
            self.register_buffer("reference_labels", torch.arange(reference) % max(num_classes, 1))

        def norm(channels: int) -> nn.Module:
            return VirtualBatchNorm2d(channels, reference) if reference else nn.BatchNorm2d(channels)

        z_dim = noise_dim * (2 if num_classes else 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, c, 4, 1, 0, bias=False), norm(c), nn.ReLU()]
        for _ in range(ups - 1):
            layers += [upsampling(c, c // 2, upsample, kernel=4, bias=False), norm(c // 2), nn.ReLU()]
            c //= 2
        layers += [upsampling(c, channels, upsample, kernel=4), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.reference:
            z = torch.cat([self.reference_noise.to(z), z])
            if labels is not None:
                labels = torch.cat([self.reference_labels, labels])
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass the labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z[:, :, None, None])[self.reference:]
