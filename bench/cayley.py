"""A gradient-norm-preserving convolutional critic with overlapping kernels, tried for issue 29 and
not adopted (docs/benchmarks.md, "W1 at image size"): on the 3,072-D funnel pair it read no more
than the flattened GroupSort MLP, at several times its step time.

Each stage is an invertible 2 x 2 downsampling (``PixelUnshuffle``, a permutation), an orthogonal
3 x 3 circular convolution and GroupSort over channel pairs; the stages keep every dimension, so
the whole is gradient-norm preserving, and the flattened result goes to the estimator's MLP (whose
linear layers the bjorck regularizer orthonormalizes). The convolution is orthogonal by the Cayley
transform taken frequency by frequency (Trockman and Kolter, "Orthogonalizing convolutional layers
with the Cayley transform", ICLR 2021): with V(w) the kernel's Fourier transform at frequency w (a
c x c matrix) and A = V - V^H skew-Hermitian, Q(w) = (I + A)^-1 (I - A) is unitary, so the
convolution is an orthogonal map of the image.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ot_gan.models.critics import GroupSort, MLPCritic, default_group


class CayleyConv2d(nn.Module):
    """An orthogonal circular convolution of ``channels`` channels on ``size`` x ``size`` images."""

    def __init__(self, channels: int, size: int, kernel: int = 3) -> None:
        super().__init__()
        self.size = size
        weight = torch.empty(channels, channels, kernel, kernel)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.weight = nn.Parameter(weight)
        self.alpha = nn.Parameter(weight.norm().detach().clone())  # the skew part's scale, learnt

    def forward(self, x: Tensor) -> Tensor:
        n = self.size
        v = torch.fft.rfft2(self.weight, s=(n, n)).permute(2, 3, 0, 1) * (self.alpha / self.weight.norm())
        a = v - v.conj().transpose(-1, -2)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        q = torch.linalg.solve(eye + a, eye - a)  # (n, n // 2 + 1, c, c)
        y = torch.einsum("uvij,bjuv->biuv", q, torch.fft.rfft2(x))
        return torch.fft.irfft2(y, s=(n, n))


class CayleyCritic(nn.Module):
    """``stages`` orthogonal convolution stages on (c, s, s) images, then the estimator's MLP."""

    def __init__(self, shape: tuple[int, ...], stages: int = 2, width: int = 128, depth: int = 4) -> None:
        super().__init__()
        c, side, _ = shape
        layers: list[nn.Module] = []
        for _ in range(stages):
            c, side = 4 * c, side // 2
            layers += [nn.PixelUnshuffle(2), CayleyConv2d(c, side), GroupSort(2)]
        self.conv = nn.Sequential(*layers)
        dim = c * side * side
        self.mlp = MLPCritic(dim, width=width, depth=depth, group=default_group(dim, width))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.conv(x))
