"""The diverse-colorization generator of Cao et al., arXiv 1702.06674 (docs/algorithms.md section 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NOISE_GRID = 8  # z is projected to an 8x8 plane, then resized to the image: any input size works


class ColorizationGenerator(nn.Module):
    """(gray Y (n, 1, H, W), z (n, noise_dim)) -> chroma UV (n, 2, H, W) in [-1, 1].

    Stride 1 throughout (no down- or up-sampling, so spatial detail is kept and any size runs), the
    gray image concatenated to the input of every convolution, and the noise projected to one plane
    per layer for the first ``noise_layers`` layers ("multi-layer noise"; one layer loses
    diversity). Layers: 7x7 -> 4w, 5x5 -> 2w, 2w, 2w, w, then 5x5 -> 2 with tanh (w = 32 in the paper).
    """

    def __init__(self, width: int = 32, noise_dim: int = 100, noise_layers: int = 3) -> None:
        super().__init__()
        self.noise_dim, self.noise_layers = noise_dim, noise_layers
        widths = [4 * width, 2 * width, 2 * width, 2 * width, width, 2]
        kernels = [7, 5, 5, 5, 5, 5]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = 0
        for i, (c_out, k) in enumerate(zip(widths, kernels)):
            extra = 1 + (1 if i < noise_layers else 0)  # the gray plane, and a noise plane
            self.convs.append(nn.Conv2d(c_in + extra, c_out, k, padding=k // 2))
            if i < len(widths) - 1:
                self.norms.append(nn.BatchNorm2d(c_out))
            c_in = c_out
        self.project = nn.Linear(noise_dim, noise_layers * NOISE_GRID * NOISE_GRID) if noise_layers else None

    def forward(self, gray: Tensor, z: Tensor) -> Tensor:
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
