"""Sample grids with row and column titles (which row is A, A->B, B, B->A; class names)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.transforms.v2.functional import to_pil_image
from torchvision.utils import make_grid

TITLE = 16  # pixels of the title band above the columns
PADDING = 2  # make_grid's padding between cells


def _fit(draw: ImageDraw.ImageDraw, text: str, width: float, font: ImageFont.ImageFont) -> str:
    """``text`` cut to ``width`` pixels."""
    while len(text) > 1 and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text


def labeled_grid(images: Tensor, columns: int | None = None, rows: list[str] | None = None,
                 titles: list[str] | None = None, cell: int = 48) -> Image.Image:
    """Images in [-1, 1] (n, C, H, W) as one picture of ``columns`` columns (by default a square
    grid), cells enlarged (nearest neighbour) to at least ``cell`` pixels and to the widest column
    title, the ``titles`` of the columns above them and the ``rows`` titles to their left (each list
    may be shorter than the grid, or None)."""
    columns = columns or math.ceil(math.sqrt(len(images)))
    font = ImageFont.load_default(size=12)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widest = max((measure.textlength(t, font=font) + 4 for t in titles or []), default=0)
    scale = max(1, math.ceil(max(cell, widest) / images.shape[-1]))
    big = images.float().cpu().repeat_interleave(scale, -1).repeat_interleave(scale, -2)
    picture = to_pil_image(make_grid(big, nrow=columns, padding=PADDING, normalize=True, value_range=(-1, 1)))
    if not rows and not titles:
        return picture
    left = 4 + max((measure.textlength(r, font=font) for r in rows), default=0) if rows else 0
    left = min(left, 320)  # a long row title is cut
    top = TITLE if titles else 0
    labeled = Image.new("RGB", (picture.width + int(left), picture.height + top), "white")
    labeled.paste(picture, (int(left), top))
    draw = ImageDraw.Draw(labeled)
    width, height = big.shape[-1] + PADDING, big.shape[-2] + PADDING
    for k, name in enumerate(titles or []):
        draw.text((left + PADDING + k * width + width / 2, TITLE / 2), _fit(draw, name, width - 2, font),
                  fill="black", font=font, anchor="mm")
    for k, name in enumerate(rows or []):
        draw.text((left - 2, top + PADDING + k * height + height / 2), _fit(draw, name, left - 4, font),
                  fill="black", font=font, anchor="rm")
    return labeled
