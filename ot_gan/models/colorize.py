"""The diverse-colorization generator of Cao et al., arXiv 1702.06674 (docs/algorithms.md section 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ot_gan.models.techniques import VirtualBatchNorm2d

NOISE_GRID = 8  # z is projected to an 8x8 plane, then resized to the image: any input size works


class ColorizationGenerator(nn.Module):
    """(gray Y (n, 1, H, W), z (n, noise_dim)) -> chroma UV (n, 2, H, W) in [-1, 1].

    Stride 1 throughout (no down- or up-sampling, so spatial detail is kept and any size runs), the
    gray image concatenated to the input of every convolution, and the noise projected to one plane
    per layer for the first ``noise_layers`` layers ("multi-layer noise"; one layer loses
    diversity). Layers: 7x7 -> 4w, 5x5 -> 2w, 2w, 2w, w, then 5x5 -> 2 with tanh (w = 32 in the paper).

    ``reference`` > 0 replaces batch norm with virtual batch norm (Salimans et al., arXiv
    1606.03498): a fixed batch of ``reference`` gray crops of side ``size`` (``set_reference``; kept
    as buffers) and noise vectors, resized to each input's size, runs with every batch and sets the
    normalization statistics, so an image's colorings do not depend on its batch.

    ``padding``: ``reflect`` (the default) continues the image past its borders; with ``zeros`` (the
    paper's, kept for runs trained with it) the 7x7 and 5x5 windows at a border see a black frame
    that no interior pixel sees, and the generator learnt chroma of its own there: streaks along the
    edges of the colorings.
    """

    def __init__(self, width: int = 32, noise_dim: int = 100, noise_layers: int = 3, reference: int = 0,
                 size: int = 64, padding: str = "reflect") -> None:
        super().__init__()
        self.noise_dim, self.noise_layers, self.reference = noise_dim, noise_layers, reference
        if reference:
            self.register_buffer("reference_gray", torch.zeros(reference, 1, size, size))
            self.register_buffer("reference_noise", torch.rand(reference, noise_dim) * 2 - 1)
        widths = [4 * width, 2 * width, 2 * width, 2 * width, width, 2]
        kernels = [7, 5, 5, 5, 5, 5]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = 0
        for i, (c_out, k) in enumerate(zip(widths, kernels)):
            extra = 1 + (1 if i < noise_layers else 0)  # the gray plane, and a noise plane
            self.convs.append(nn.Conv2d(c_in + extra, c_out, k, padding=k // 2, padding_mode=padding))
            if i < len(widths) - 1:
                self.norms.append(VirtualBatchNorm2d(c_out, reference) if reference else nn.BatchNorm2d(c_out))
            c_in = c_out
        self.project = nn.Linear(noise_dim, noise_layers * NOISE_GRID * NOISE_GRID) if noise_layers else None

    @torch.no_grad()
    def set_reference(self, gray: Tensor) -> None:
        """The reference batch's gray crops (reference, 1, size, size) in [-1, 1]."""
        self.reference_gray.copy_(gray)

    def forward(self, gray: Tensor, z: Tensor) -> Tensor:
        if self.reference:
            size = gray.shape[-2:]
            gray = torch.cat([F.interpolate(self.reference_gray, size=size, mode="bilinear", align_corners=False)
                              if self.reference_gray.shape[-2:] != size else self.reference_gray, gray])
            z = torch.cat([self.reference_noise.to(z), z])
        return self.body(gray, z)[self.reference:]

    def body(self, gray: Tensor, z: Tensor) -> Tensor:
        n, _, h, w = gray.shape
        planes: list[Tensor] = []
        if self.project is not None:
            grid = self.project(z).view(n, self.noise_layers, NOISE_GRID, NOISE_GRID)
            planes = list(F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False).split(1, dim=1))
        x = gray.new_zeros(n, 0, h, w)
        for i, conv in enumerate(self.convs):
            inputs = [x, gray] + ([planes[i]] if i < self.noise_layers else [])
            x = conv(torch.cat(inputs, dim=1))
            x = torch.relu(self.norms[i](x)) if i < len(self.norms) else torch.tanh(x)
        return x
