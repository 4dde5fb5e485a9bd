"""AM-GAN with and without its diversity incentives, Lipschitz GANs and a plain non-saturating GAN
on the built-in digits, at equal generator steps: AM Score (class fidelity, lower is better; the
classifier is trained here on the real digits), how often samples of a requested class are
classified as it, precision and recall per class on the classifier's features (Kynkäänniemi et
al. 2019; real vs real beside them), the spread within a class over the real class's, W1 to the
real digits (MaxAL), and seconds of training.

    python bench/synthesize.py [--steps 1500] [--size 16] [--threads 1] [--variants NAME,NAME] [--keep DIR]
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
    "amgan (default: mode seeking 10 + class spread)": dict(mode="amgan"),
    "amgan: mode seeking 3 + class spread": dict(mode="amgan", diversity=3.0),
    "amgan: mode seeking 1 + class spread": dict(mode="amgan", diversity=1.0),
    "amgan: mode seeking 1 only": dict(mode="amgan", diversity=1.0, class_std=False),
    "amgan: class spread only": dict(mode="amgan", diversity=0.0),
    "amgan: neither (the previous default)": dict(mode="amgan", diversity=0.0, class_std=False),
    "amgan: one fake logit per class (ADC-GAN)": dict(mode="amgan", diversity=0.0, class_std=False,
                                                      fake_logits="per-class"),
    "amgan: critic input noise 0.2": dict(mode="amgan", diversity=0.0, class_std=False, critic_noise=0.2),
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
    parser.add_argument("--variants", help="Comma-separated names of VARIANTS, or their indices (default: all).")
    parser.add_argument("--keep", type=Path, help="Keep the runs in this folder (default: a temporary one).")
    add_write_flag(parser, "Synthesis: AM-GAN's diversity terms")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [list(VARIANTS)[int(v)] if v.isdigit() else v for v in args.variants.split(",")] if args.variants \
        else list(VARIANTS)
    real = load_images("digits", args.size)
    header = ("variant", "AM Score", "class hit rate", "precision", "recall", "spread / real",
              "realism gap pixels / texture", "classes far", "train s")
    print(f"digits at {args.size} px, {args.steps} generator steps each; per-class figures averaged over the "
          "classes (of the classifier's guess for unconditional runs)")
    print(" | ".join(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            cfg = SynthConfig(steps=args.steps, size=args.size, quiet=True, threads=args.threads, **VARIANTS[name])
            run = (args.keep or Path(tmp)) / "".join(c if c.isalnum() else "_" for c in name)
            start = time.perf_counter()
            train_synthesizer(cfg, run)
            seconds = time.perf_counter() - start
            generator, arch = load_generator(run, APP, build_generator)
            r = score(generator, arch, real, n=1000, classifier_steps=1000, w1_steps=300)
            m, realism = class_means(r), realism_summary(r["realism"])
            print(" | ".join([name, f"{r['am_score']:.3f}", f"{m['hit_rate']:.3f}" if "hit_rate" in m else "-",
                              f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['spread_ratio']:.2f}",
                              f"{realism['pixels']:.2f} / {realism['texture']:.2f}", str(len(realism["far"])),
                              f"{seconds:.0f}"]), flush=True)
    print(f"real vs real: AM Score {r['am_score_real']:.3f}, precision {m['precision_real']:.3f}, "
          f"recall {m['recall_real']:.3f}, spread 1")


if __name__ == "__main__":
    main()
