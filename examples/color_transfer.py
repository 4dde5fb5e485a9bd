"""Color transfer through optimal transport (Ferradans et al. 2014, as in POT's examples): the
palette of one built-in photo moved onto another by an exact OT map between their pixel colors.

The plan is solved between random subsamples of the two photos' pixels (POT's network simplex on
a squared-Euclidean cost in RGB); ``ot.da.EMDTransport`` maps every other pixel through its nearest
subsampled pixel, so the whole image is recolored. The picture shows the source, the target whose
palette is taken, and the result, with each one's pixel colors as a scatter.

    python examples/color_transfer.py [--source astronaut] [--target coffee] [--out color_transfer.png] [--fast]
"""

from __future__ import annotations

import argparse

import numpy as np
import ot
import skimage.data
from skimage.transform import rescale


def photo(name: str, scale: float) -> np.ndarray:
    """A color photo of skimage.data as float RGB in [0, 1], rescaled by ``scale``."""
    image = getattr(skimage.data, name)()[..., :3] / 255.0
    return rescale(image, scale, channel_axis=-1, anti_aliasing=True) if scale != 1 else image


def transfer(source: np.ndarray, target: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """``source`` recolored with the palette of ``target``, and the OT cost of the subsample plan."""
    rng = np.random.default_rng(seed)
    xs, xt = source.reshape(-1, 3), target.reshape(-1, 3)
    sub_s, sub_t = xs[rng.choice(len(xs), n, replace=False)], xt[rng.choice(len(xt), n, replace=False)]
    mapping = ot.da.EMDTransport().fit(Xs=sub_s, Xt=sub_t)
    cost = float(np.sum(mapping.coupling_ * mapping.cost_))
    return np.clip(mapping.transform(Xs=xs), 0, 1).reshape(source.shape), cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="astronaut")
    parser.add_argument("--target", default="coffee")
    parser.add_argument("--samples", type=int, default=2000, help="pixels per photo in the OT problem")
    parser.add_argument("--out", default="color_transfer.png")
    parser.add_argument("--fast", action="store_true", help="small images and subsamples, to check that it runs")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, n = (0.15, 300) if args.fast else (0.5, args.samples)
    source, target = photo(args.source, scale), photo(args.target, scale)
    result, cost = transfer(source, target, n)
    print(f"exact OT cost between {n} pixels of each photo (squared RGB distance): {cost:.4f}")
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for col, (title, image) in enumerate([(f"source: {args.source}", source), (f"palette: {args.target}", target),
                                          ("source with the target's palette", result)]):
        axes[0, col].imshow(image)
        axes[0, col].set(title=title, xticks=[], yticks=[])
        pixels = image.reshape(-1, 3)[np.random.default_rng(1).choice(image.shape[0] * image.shape[1], 2000)]
        axes[1, col].scatter(pixels[:, 0], pixels[:, 2], c=pixels, s=4)
        axes[1, col].set(xlabel="red", ylabel="blue", xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
