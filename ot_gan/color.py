"""YUV for colorization, through scikit-image: luminance Y and chroma UV scaled to [-1, 1].

Y is in [0, 1] and U, V within +-0.436 and +-0.615 (skimage's full-range YUV), so
y = 2Y - 1, u = U / 0.436, v = V / 0.615. Back to RGB, a chroma that falls outside the RGB cube
is shortened toward gray pixel by pixel until it fits, rather than clipped per channel: clipping
would change the luminance, which colorization must keep exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage import color
from skimage.color import colorconv
from torch import Tensor

UV_RANGE = np.array([0.436, 0.615])


def rgb_to_yuv(images: Tensor) -> Tensor:
    """RGB images (n, 3, H, W) in [-1, 1] -> (n, 3, H, W): y, u, v each in [-1, 1]."""
    rgb = ((images.detach().cpu().double() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    yuv = color.rgb2yuv(rgb, channel_axis=-1)
    yuv[..., 0] = 2 * yuv[..., 0] - 1
    yuv[..., 1:] /= UV_RANGE
    return torch.from_numpy(yuv).permute(0, 3, 1, 2).float().clamp(-1, 1)


def gray_to_y(images: Tensor) -> Tensor:
    """Gray or RGB images (n, 1|3, H, W) in [-1, 1] -> their luminance y (n, 1, H, W) in [-1, 1]."""
    if images.shape[1] == 1:
        return images
    return rgb_to_yuv(images)[:, :1]


def yuv_to_rgb(y: Tensor, uv: Tensor) -> Tensor:
    """y (n, 1, H, W) and uv (n, 2, H, W) in [-1, 1] -> RGB (n, 3, H, W) in [0, 1] with exactly
    the luminance of y (up to float rounding): out-of-gamut chroma is scaled toward gray."""
    lum = ((y.detach().cpu().double() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()  # (n, H, W, 1)
    chroma = uv.detach().cpu().double().permute(0, 2, 3, 1).numpy() * UV_RANGE  # (n, H, W, 2)
    step = chroma @ colorconv.rgb_from_yuv[:, 1:].T  # the RGB offset from gray (n, H, W, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(step > 0, (1 - lum) / step, np.where(step < 0, -lum / step, np.inf))
    scale = np.clip(room.min(axis=-1, keepdims=True), 0, 1)
    rgb = color.yuv2rgb(np.concatenate([lum, chroma * scale], axis=-1), channel_axis=-1)
    return torch.from_numpy(np.clip(rgb, 0, 1)).permute(0, 3, 1, 2).float()


def luminance(rgb: Tensor) -> Tensor:
    """Y of RGB images (n, 3, H, W) -> (n, H, W): 0.299 R + 0.587 G + 0.114 B (BT.601), linear, so
    RGB in [0, 1] gives Y in [0, 1] and RGB in [-1, 1] Y in [-1, 1]."""
    weights = torch.from_numpy(colorconv.yuv_from_rgb[0]).to(rgb)
    return torch.einsum("nchw,c->nhw", rgb, weights)
