"""Photo sets ot-gan does not ship as a demo, for trying the CPU presets (docs/benchmarks.md,
"The CPU presets on photo sets they were not made on"): random crops of single color photos of
``skimage.data`` (nothing downloaded), each photo scaled to a short side of 256 px; training crops
from the left 70% of its columns, held-out crops from the right 30%, so that no pixel is in both.

    python bench/photo_sets.py OUT [--crop 64] [--train 400] [--test 200]

writes OUT/train/NAME/*.png and OUT/test/NAME/*.png for every photo; a class folder for
``ot-gan synthesize`` is a folder holding some of the NAME folders.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "stereo_motorcycle")


def write_sets(out: Path, crop: int, n_train: int, n_test: int, seed: int = 0) -> None:
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()
        photo = Image.fromarray((photo[0] if isinstance(photo, tuple) else photo)[..., :3])
        scale = 256 / min(photo.size)
        pixels = np.asarray(photo.resize((round(photo.size[0] * scale), round(photo.size[1] * scale)), Image.LANCZOS))
        h, w = pixels.shape[:2]
        cut = int(0.7 * w)
        rng = np.random.default_rng(seed)
        for split, (x0, x1), n in (("train", (0, cut), n_train), ("test", (cut, w), n_test)):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                y, x = rng.integers(0, h - crop + 1), rng.integers(x0, x1 - crop + 1)
                Image.fromarray(pixels[y:y + crop, x:x + crop]).save(folder / f"{i:03d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    args = parser.parse_args()
    write_sets(args.out, args.crop, args.train, args.test)


if __name__ == "__main__":
    main()
