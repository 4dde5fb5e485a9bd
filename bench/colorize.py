"""Colorization with and without the mode-seeking term, at several weights, and with the noise
injected at one layer (the paper's released code) or several (the paper), at equal steps on the
built-in photos: mean pairwise chroma distance among the colorings of one image (beside the same
distance between two real crops), colorfulness beside the photos', and W1 between per-image chroma
statistics of colorings and photos. The settings are the README demo's (configs/colorize-photos.yaml).

    python bench/colorize.py [--steps 1500] [--size 16] [--runs 0:3,0.1:3,0.3:3,1:3,0.3:1,0.3:5] [--threads 1]
                             [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from report import add_write_flag  # run as a script: bench/ is on the path

from ot_gan.realism import realism_summary
from ot_gan.tasks.colorize import ColorizeConfig, evaluate, train_colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--runs", default="0:3,0.1:3,0.3:3,1:3,0.3:1,0.3:5",
                        help="Comma-separated WEIGHT:NOISE_LAYERS pairs.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="Keep the runs in this folder (default: a temporary one).")
    add_write_flag(parser, "Colorization: the diversity weight and the noise layers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"photos at {args.size} px, generator width 8, critic width 16, batch 32, lr 1e-3, {args.steps} steps each")
    print("weight | noise layers | diversity | real crops | colorfulness | photos | realism gap pixels / texture / "
          "chroma | train s")
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs.split(","):
            weight, layers = float(run.split(":")[0]), int(run.split(":")[1])
            cfg = ColorizeConfig(size=args.size, width=8, critic_width=16, batch_size=32, steps=args.steps, lr=1e-3,
                                 noise_layers=layers, diversity=weight, quiet=True, threads=args.threads,
                                 sample_every=0)
            out = (args.keep or Path(tmp)) / run.replace(":", "_")
            start = time.perf_counter()
            train_colorizer(cfg, out)
            seconds = time.perf_counter() - start
            r = evaluate(out, "photos")
            gaps = realism_summary(r["realism"])
            print(f"{weight:g} | {layers} | {r['diversity']:.4f} | {r['diversity_real']:.4f} | "
                  f"{r['colorfulness']:.1f} | {r['colorfulness_real']:.1f} | "
                  f"{gaps['pixels']:.2f} / {gaps['texture']:.2f} / {gaps['chroma']:.2f} | "
                  f"{seconds:.0f}", flush=True)


if __name__ == "__main__":
    main()
