"""The resize-convolution computed by phases is the resize-convolution."""

import pytest
import torch
from torch import nn

from ot_gan.models.upsample import ResizeConv


@pytest.mark.parametrize(("shape", "bias"), [((2, 5, 6, 6), True), ((1, 5, 3, 5), False)])
def test_phases_compute_the_resize_convolution(shape: tuple[int, ...], bias: bool) -> None:
    """Its output and gradients are those of nearest doubling, reflect padding and the 3x3
    convolution run in turn, borders included, on odd and non-square sides too."""
    torch.manual_seed(0)
    layer = ResizeConv(5, 7, bias)
    x = torch.randn(shape, requires_grad=True)
    fast, slow = layer(x), nn.Sequential.forward(layer, x)
    assert fast.shape == slow.shape == (shape[0], 7, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(fast, slow)
    weight = torch.randn_like(slow)
    for g_fast, g_slow in zip(torch.autograd.grad((fast * weight).sum(), [x, *layer.parameters()]),
                              torch.autograd.grad((slow * weight).sum(), [x, *layer.parameters()])):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-4)


def test_checkpoints_keep_their_keys() -> None:
    """The layer's state-dict keys are those of the three layers it replaces."""
    legacy = nn.Sequential(nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), nn.Conv2d(4, 2, 3))
    layer = ResizeConv(4, 2)
    layer.load_state_dict(legacy.state_dict())
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(layer(x), legacy(x))
