"""Doubling an image's side inside a generator without a checkerboard."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLERS = ("resize", "transpose")

# Nearest-neighbour doubling then a 3x3 convolution: output row 2i reads input rows i-1, i, i (the
# kernel's rows 0 | 1 + 2), row 2i + 1 reads rows i, i, i + 1 (rows 0 + 1 | 2); columns alike.
_PHASES = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))


class ResizeConv(nn.Sequential):
    """Nearest-neighbour doubling, reflect padding by 1 and a 3x3 convolution, computed as four 2x2
    convolutions on the input, one per output phase, interleaved (a sub-pixel convolution whose
    kernels are tied so that it is exactly the resize-convolution). The same function and parameters
    (and state-dict keys) as the three layers run in turn, at 4/9 of their multiply-adds and without
    the doubled map: the reflected border of the doubled map is the replicated border of the input."""

    def __init__(self, c_in: int, c_out: int, bias: bool = True) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                         nn.Conv2d(c_in, c_out, 3, bias=bias))

    def forward(self, x: Tensor) -> Tensor:
        conv = self[2]
        phases = torch.tensor(_PHASES, dtype=conv.weight.dtype, device=conv.weight.device)  # (2, 2, 3)
        kernels = torch.einsum("apy,bqx,oiyx->aboipq", phases, phases, conv.weight)  # (2, 2, out, in, 2, 2)
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        h, w = x.shape[-2:]
        out = torch.stack([torch.stack([F.conv2d(padded[..., a:a + h + 1, b:b + w + 1], kernels[a, b], conv.bias)
                                        for b in (0, 1)], dim=-1) for a in (0, 1)], dim=-3)  # (n, out, h, 2, w, 2)
        return out.reshape(*out.shape[:2], 2 * h, 2 * w)


def upsampling(c_in: int, c_out: int, how: str = "resize", kernel: int = 3, bias: bool = True) -> nn.Module:
    """Twice the side. ``resize``: nearest-neighbour resize, then a 3x3 convolution on the
    reflect-padded map, which leaves no checkerboard (Odena, Dumoulin, Olah, "Deconvolution and
    Checkerboard Artifacts", Distill 2016); ``transpose``: a stride-2 transposed convolution
    (``kernel`` 3 as in the reference CycleGAN, 4 as in DCGAN), whose kernel overlaps unevenly and
    prints a grid on the outputs (kept for runs trained with it). ``bias``: the convolution's (none
    before a batch norm)."""
    if how == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2,
                                  output_padding=kernel % 2, bias=bias)
    return ResizeConv(c_in, c_out, bias)
