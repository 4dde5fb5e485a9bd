"""Diversity of colorizations with the noise injected at one layer (the paper's released code)
against several layers (the paper), at equal steps on the built-in photos: mean pairwise chroma
distance among the colorings of one image, colorfulness beside the photos', and W1 between
per-image chroma statistics of colorings and photos.

    python bench/colorize.py [--steps 1500] [--size 16] [--layers 1,3,5] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ot_gan.apps.colorize import ColorizeConfig, evaluate, train_colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--layers", default="1,3,5")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"photos at {args.size} px, generator width 8, batch 32, lr 1e-3, {args.steps} steps each")
    print(f"{'noise layers':>12}  {'diversity':>9}  {'colorfulness':>12}  {'photos':>6}  {'W1 chroma':>9}  "
          f"{'train s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (int(x) for x in args.layers.split(",")):
            cfg = ColorizeConfig(size=args.size, width=8, critic_width=16, batch_size=32, steps=args.steps, lr=1e-3,
                                 noise_layers=layers, quiet=True, threads=args.threads, sample_every=0)
            start = time.perf_counter()
            train_colorizer(cfg, Path(tmp) / str(layers))
            seconds = time.perf_counter() - start
            r = evaluate(Path(tmp) / str(layers), "photos", w1_steps=500)
            print(f"{layers:>12}  {r['diversity']:>9.4f}  {r['colorfulness']:>12.1f}  {r['colorfulness_real']:>6.1f}  "
                  f"{r['w1_chroma_statistics']:>9.4f}  {seconds:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
