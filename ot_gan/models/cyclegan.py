"""The CycleGAN networks (Zhu et al., arXiv 1703.10593; docs/algorithms.md section 7), each module
taking only the few arguments it needs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ot_gan.models.techniques import MinibatchDiscrimination
from ot_gan.models.upsample import upsampling


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels)  # per sample: no batch coupling, as critics need


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


def downsampling(c_in: int, c_out: int, how: str = "symmetric") -> nn.Module:
    """Half the side. ``symmetric``: reflect-pad by 1, then a 4x4 stride-2 convolution, whose windows
    reach past the top-left and the bottom-right borders alike. ``zero``: the reference CycleGAN's
    3x3 stride-2 convolution with zero padding 1, whose windows on an even side reach past the top
    and left borders only, so the network can tell the top-left corner apart (the likely source of a
    fixed dark blob there on every output of a collapsed run; kept for runs trained with it)."""
    if how == "zero":
        return nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 4, stride=2))


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, ``blocks`` residual blocks, u2w, uw, c7s1-out, tanh.

    Fully convolutional: any input whose sides are multiples of 4 keeps its size. With
    ``noise_channels`` > 0 that many channels of Gaussian noise are appended to the input, for
    stochastic maps G(x, z) (the K-solver of arXiv 2003.06635). ``upsample``: see ``upsampling``;
    ``downsample``: see ``downsampling``. With both at their defaults every border is reflected and
    treated alike: a constant image gives a constant output.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6,
                 noise_channels: int = 0, upsample: str = "resize", downsample: str = "symmetric") -> None:
        super().__init__()
        self.noise_channels = noise_channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels + noise_channels, width, 7),
                                   _norm(width), nn.ReLU()]
        for k in (1, 2):
            layers += [downsampling(width * k, width * 2 * k, downsample), _norm(width * 2 * k), nn.ReLU()]
        layers += [ResidualBlock(width * 4) for _ in range(blocks)]
        for k in (4, 2):
            layers += [upsampling(width * k, width * k // 2, upsample), _norm(width * k // 2), nn.ReLU()]
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
    GAN objective applies per patch as in the reference CycleGAN. ``features`` is the map before the
    last convolution (what feature matching matches). ``minibatch`` = (B, C) adds Salimans et al.'s
    minibatch discrimination (``MinibatchDiscrimination``) on that map averaged over positions; its
    B outputs reach the last convolution as B constant channels."""

    def __init__(self, channels: int, width: int = 64, layers: int = 3,
                 minibatch: tuple[int, int] | None = None) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            c_out = width * min(2 ** i, 8)
            seq += [nn.Conv2d(c, c_out, 4, stride=2 if i < layers else 1, padding=1), _norm(c_out), nn.LeakyReLU(0.2)]
            c = c_out
        seq.append(nn.Conv2d(c + (minibatch[0] if minibatch else 0), 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        self.minibatch = MinibatchDiscrimination(c, *minibatch) if minibatch else None
        init_normal(self)

    def features(self, x: Tensor) -> Tensor:
        return self.net[:-1](x)

    def forward(self, x: Tensor) -> Tensor:
        if self.minibatch is None:
            return self.net(x)
        h = self.net[:-1](x)
        o = self.minibatch(h.mean(dim=(2, 3)))[:, h.shape[1]:]
        return self.net[-1](torch.cat([h, o[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1))


class ImagePool(nn.Module):
    """A buffer of past fakes (Shrivastava et al. 2017, as in CycleGAN): each new fake is stored
    while the pool fills; then with probability 1/2 a stored one is shown in its place and
    replaced by it. Its content travels in ``state_dict`` so that resume is exact."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.images: list[Tensor] = []

    @torch.no_grad()
    def query(self, fakes: Tensor, coin: Tensor, pick: Tensor) -> Tensor:
        """The fakes to show, given uniform [0, 1) draws per fake: ``coin`` (swap or not) and ``pick``
        (which stored one)."""
        if self.size == 0:
            return fakes
        out = []
        for image, c, p in zip(fakes, coin.cpu().tolist(), pick.cpu().tolist()):
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif c < 0.5:
                i = int(p * self.size)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def get_extra_state(self) -> dict[str, Any]:
        return {"images": torch.stack(self.images).cpu() if self.images else None}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        stored = state["images"]
        self.images = [] if stored is None else list(stored.unbind())
