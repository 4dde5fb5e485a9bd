"""The CycleGAN networks (Zhu et al., arXiv 1703.10593; docs/algorithms.md section 7), each module
taking only the few arguments it needs."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels)  # per sample: no batch coupling, as critics need


def _upsample(c_in: int, c_out: int, how: str) -> nn.Module:
    """Twice the side. ``resize``: nearest-neighbour resize, then a 3x3 convolution, which leaves no
    checkerboard (Odena, Dumoulin, Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016);
    ``transpose``: the reference CycleGAN's stride-2 transposed convolution, whose 3x3 kernel
    overlaps unevenly and prints a grid on the outputs (kept for runs trained with it)."""
    if how == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3))


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """The reference CycleGAN's initialization: convolution weights N(0, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, instance norm, ReLU, reflect-pad, 3x3 conv, instance norm)(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, ``blocks`` residual blocks, u2w, uw, c7s1-out, tanh.

    Fully convolutional: any input whose sides are multiples of 4 keeps its size. With
    ``noise_channels`` > 0 that many channels of Gaussian noise are appended to the input, for
    stochastic maps G(x, z) (the K-solver of arXiv 2003.06635). ``upsample``: see ``_upsample``.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6,
                 noise_channels: int = 0, upsample: str = "resize") -> None:
        super().__init__()
        self.noise_channels = noise_channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels + noise_channels, width, 7),
                                   _norm(width), nn.ReLU()]
        for k in (1, 2):
            layers += [nn.Conv2d(width * k, width * 2 * k, 3, stride=2, padding=1), _norm(width * 2 * k), nn.ReLU()]
        layers += [ResidualBlock(width * 4) for _ in range(blocks)]
        for k in (4, 2):
            layers += [_upsample(width * k, width * k // 2, upsample), _norm(width * k // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        if self.noise_channels:
            if noise is None:
                noise = torch.randn(len(x), self.noise_channels, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = torch.cat([x, noise], dim=1)
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """The PatchGAN critic: 4x4 convolutions, stride 2 for ``layers`` layers then stride 1, one
    score per patch (70x70 patches with 3 layers): the output is a (n, 1, h, w) map, so that a
    GAN objective applies per patch as in the reference CycleGAN."""

    def __init__(self, channels: int, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            c_out = width * min(2 ** i, 8)
            seq += [nn.Conv2d(c, c_out, 4, stride=2 if i < layers else 1, padding=1), _norm(c_out), nn.LeakyReLU(0.2)]
            c = c_out
        seq.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        init_normal(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
