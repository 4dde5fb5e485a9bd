"""Salimans et al.'s techniques (arXiv 1606.03498) on the digits generator: each option alone and
none, at equal generator steps and seeds. AM Score (lower is better; the classifier is trained here
on the real digits), the class hit rate of conditional samples, diversity (per class: recall, and
the spread within the class as a ratio to the real class's, as `synthesize eval` prints them), W1
to the real digits (MaxAL) and seconds of training, one thread.

    python bench/techniques.py [--mode amgan|lgan] [--steps 500] [--size 8] [--seed 0] [--only NAME ...]

In lgan mode every variant uses spectral norm (regularizer sn), the regularizer that minibatch
discrimination allows, so that the rows differ only in the technique.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from report import add_write_flag  # run as a script: bench/ is on the path

from ot_gan.engine import load_generator
from ot_gan.realism import realism_summary
from ot_gan.tasks.synthesize import (
    APP,
    SynthConfig,
    build_generator,
    class_means,
    load_images,
    score,
    train_synthesizer,
)

VARIANTS = {
    "none": {},
    "feature matching (alone)": dict(feature_matching="alone"),
    "feature matching (added)": dict(feature_matching="added"),
    "minibatch discrimination (100 x 5)": dict(minibatch_discrimination=True),
    "historical averaging (weight 1)": dict(historical_averaging=1.0),
    "one-sided label smoothing (0.9)": dict(label_smoothing=True),
    "virtual batch norm (reference 64)": dict(virtual_batch_norm=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("amgan", "lgan"), default="amgan")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="Run only these variants.")
    add_write_flag(parser, "Salimans et al.'s techniques")
    args = parser.parse_args()
    torch.set_num_threads(1)
    real = load_images("digits", args.size)
    base = dict(mode=args.mode, steps=args.steps, size=args.size, seed=args.seed, quiet=True, threads=1)
    if args.mode == "lgan":
        base.update(objective="log_sigmoid", regularizer="sn")
    print(f"digits at {args.size} px, mode {args.mode}, {args.steps} generator steps each, seed {args.seed}")
    print("| technique | AM Score | class hit rate | recall | spread / real | realism gap pixels / texture | "
          "classes far | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or VARIANTS:
            out = Path(tmp) / name.replace(" ", "_")
            start = time.perf_counter()
            train_synthesizer(SynthConfig(**base, **VARIANTS[name]), out)
            seconds = time.perf_counter() - start
            generator, arch = load_generator(out, APP, build_generator)
            r = score(generator, arch, real, n=1000, classifier_steps=500, w1_steps=300, seed=args.seed)
            realism = realism_summary(r["realism"])
            accs = r.get("class_accuracy")
            hits = f"{sum(accs.values()) / len(accs):.3f}" if accs else "-"
            means = class_means(r)
            print(f"| {name} | {r['am_score']:.3f} | {hits} | {means['recall']:.3f} | {means['spread_ratio']:.2f} "
                  f"| {realism['pixels']:.2f} / {realism['texture']:.2f} | {len(realism['far'])} | {seconds:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
