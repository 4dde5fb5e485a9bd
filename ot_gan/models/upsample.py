"""Doubling an image's side inside a generator without a checkerboard."""

from __future__ import annotations

from torch import nn

UPSAMPLERS = ("resize", "transpose")


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
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                         nn.Conv2d(c_in, c_out, 3, bias=bias))
