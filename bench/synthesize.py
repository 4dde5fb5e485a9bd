"""AM-GAN against Lipschitz GANs and a plain non-saturating GAN on the built-in digits, at equal
generator steps: AM Score (lower is better; the classifier is trained here on the real digits),
how often samples of a requested class are classified as it, W1 to the real digits (MaxAL), and
seconds of training.

    python bench/synthesize.py [--steps 1500] [--size 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ot_gan.apps.synthesize import SynthConfig, load_generator, load_images, score, train_synthesizer

VARIANTS = {
    "amgan (conditional)": dict(mode="amgan"),
    "amgan (dynamic labels)": dict(mode="amgan", conditional=False),
    "lgan log_sigmoid + maxgp": dict(mode="lgan"),
    "lgan wgan + maxal": dict(mode="lgan", objective="wgan", regularizer="maxal"),
    "plain GAN (nsgan, no penalty)": dict(mode="lgan", objective="nsgan", regularizer="none"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real = load_images("digits", args.size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in VARIANTS.items():
            cfg = SynthConfig(steps=args.steps, size=args.size, quiet=True, threads=args.threads, **settings)
            start = time.perf_counter()
            train_synthesizer(cfg, Path(tmp) / name.replace(" ", "_"))
            seconds = time.perf_counter() - start
            generator, arch = load_generator(Path(tmp) / name.replace(" ", "_"), torch.device("cpu"))
            r = score(generator, arch, real, n=1000, classifier_steps=1000, w1_steps=2000)
            accs = r.get("class_accuracy")
            rows.append((name, f"{r['am_score']:.3f}", f"{sum(accs.values()) / len(accs):.3f}" if accs else "-",
                         f"{r['w1']:.3f}", f"{seconds:.0f}"))
            real_am = r["am_score_real"]
    header = ("variant", "AM Score", "class hit rate", "W1 to real", "train s")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"digits at {args.size} px, {args.steps} generator steps each; AM Score of real held-out digits: "
          f"{real_am:.3f}")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
