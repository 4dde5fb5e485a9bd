"""Two layers of Salimans et al., "Improved Techniques for Training GANs" (arXiv 1606.03498,
docs/algorithms.md section 11): minibatch discrimination for critics and virtual batch
normalization for generators. Both couple a sample to others on purpose."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchDiscrimination(nn.Module):
    """Features f(x_i) in R^A -> [f(x_i), o(x_i)] in R^(A+B) (section 3.2 of the paper).

    M_i = f(x_i) T with T a learnt A x B x C tensor, so M_i is B rows of C entries;
    c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_1) and o(x_i)_b = sum_j c_b(x_i, x_j) over the batch
    (j = i included, as in the paper's sum). A sample's output depends on the other samples of
    its batch, which lets the critic see a batch of near-identical fakes."""

    def __init__(self, in_features: int, kernels: int = 100, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.05)

    def forward(self, x: Tensor) -> Tensor:
        m = (x @ self.T).view(len(x), self.kernels, self.kernel_dim).transpose(0, 1)  # (B, n, C)
        l1 = torch.cdist(m, m, p=1)  # (B, n, n): half the time of broadcasting the differences
        return torch.cat([x, torch.exp(-l1).sum(2).t()], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.T.shape[0]}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


class VirtualBatchNorm2d(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch (section 3.5 of the paper).

    The first ``reference`` rows of the input are the reference batch (the generator prepends
    it to every batch it draws); they are normalized with their own per-channel statistics.
    Every other sample x is normalized with the statistics of the reference batch and x itself,
    weighted 1 / (reference + 1) for x, so its output does not depend on the rest of its batch.
    No running statistics: training and evaluation compute the same thing."""

    def __init__(self, channels: int, reference: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.reference, self.eps = reference, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        n_ref = self.reference
        mean_i, square_i = x.mean((2, 3)), x.square().mean((2, 3))  # (n, C) per sample
        mean_ref, square_ref = mean_i[:n_ref].mean(0), square_i[:n_ref].mean(0)
        w = 1.0 / (n_ref + 1)
        mean = torch.cat([mean_ref.expand(n_ref, -1), (1 - w) * mean_ref + w * mean_i[n_ref:]])
        square = torch.cat([square_ref.expand(n_ref, -1), (1 - w) * square_ref + w * square_i[n_ref:]])
        var = (square - mean.square()).clamp_min(0)
        scale = self.weight / torch.sqrt(var + self.eps)  # (n, C)
        return (x - mean[:, :, None, None]) * scale[:, :, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"channels={len(self.weight)}, reference={self.reference}"
