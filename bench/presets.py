"""What a CPU preset's run reaches on held-out crops of the photo sets of ``bench/photo_sets.py``
(docs/benchmarks.md, "The CPU presets on photo sets they were not made on").

    python bench/photo_sets.py sets64 --crop 64 --test 100
    ot-gan translate train --config configs/translate-cpu.yaml --a sets64/train/A --b sets64/train/B --out runs/AB
    python bench/presets.py translate runs/AB [more runs]

    python bench/photo_sets.py sets32 --crop 32
    ot-gan colorize train --config configs/colorize-cpu.yaml --images sets32/train/P --out runs/P
    python bench/presets.py colorize runs/P [more runs]

    ot-gan synthesize train --config configs/synthesize-cpu.yaml --images sets32/classes --out runs/C
    python bench/presets.py synthesize runs/C --steps 1000,2000,4000,8000,16000

A run's training folders come from its config.yaml; its held-out crops are the folder of the same
name under ``test/`` beside them (``--held-out DIR`` names another ``test`` folder). Seed 0 throughout.

translate, per direction on every held-out input:
  mismatch, gap pixels, gap texture, coverage (real): ``ot-gan translate eval``'s figures
  spread: the outputs' mean pairwise L1 distance over the inputs' (``ot_gan.realism.spread_ratio``,
          as `translate apply`'s collapse warning;
          near 0: one picture for every input)
  layout: the mean correlation of the Sobel edge magnitudes of input and output luminance (1: the
          same edges), beside an input against an unrelated held-out crop of the target (in brackets)

synthesize, per class on the images the run kept out of training, with ``--steps`` after the run is
extended (resumed) to each count in turn (the preset's constant learning rate makes that the same
run as one trained that long at once):
  hit, recall (real), gap pixels, gap texture, coverage (real): ``ot-gan synthesize eval``'s figures

colorize, on the held-out crops:
  diversity, colorfulness, chroma gap: ``ot-gan colorize eval --n 100``'s figures (real crops in brackets)
  chroma W1: exact W1 (POT) between per-image chroma statistics (mean and standard deviation of u
             and v, ``ot_gan.tasks.colorize.chroma_statistics``) of 4 colorings each of the even-numbered
             held-out crops and the real odd-numbered ones
  floor: the same W1 between the even- and the odd-numbered real crops; ratio = chroma W1 / floor
  training crops: the same W1 from every 4th training crop to the odd-numbered held-out ones (how
             much the photo's regions differ)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from report import add_write_flag  # run as a script: bench/ is on the path
from skimage.filters import sobel
from torchvision.io import ImageReadMode, read_image

from ot_gan.color import rgb_to_yuv
from ot_gan.engine.use import load_generator
from ot_gan.realism import spread_ratio
from ot_gan.tasks import colorize, translate
from ot_gan.tasks.synthesize.score import evaluate as evaluate_synthesis
from ot_gan.w1 import exact_w1


def held_out(train: str, root: Path | None) -> Path:
    """The held-out folder of a training folder OUT/train/NAME: OUT/test/NAME, or ROOT/NAME."""
    return (root or Path(train).parent.parent / "test") / Path(train).name


def load_folder(folder: Path) -> torch.Tensor:
    """Every image of ``folder`` (sorted by name) as RGB in [-1, 1]."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return torch.stack([read_image(str(p), ImageReadMode.RGB) for p in files]).float() / 127.5 - 1


def edges(x: torch.Tensor) -> torch.Tensor:
    """Sobel edge magnitude (scikit-image's, borders reflected) of the luminance of RGB images in
    [-1, 1], flattened (n, pixels)."""
    luminance = rgb_to_yuv(x)[:, 0].numpy()
    return torch.from_numpy(np.stack([sobel(image) for image in luminance])).flatten(1)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of the Pearson correlation of rows of ``a`` and ``b``."""
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-8)).mean())


def translate_rows(run: Path, root: Path | None) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    a, b = held_out(cfg["a"], root), held_out(cfg["b"], root)
    report = translate.evaluate(run, str(a), str(b))
    generators, _ = load_generator(run, translate.APP, translate.build_generators, torch.device("cpu"))
    for direction, src, dst in (("a2b", a, b), ("b2a", b, a)):
        x, target = load_folder(src), load_folder(dst)
        y = translate.translate_all(generators[direction], x)
        unrelated = target[torch.randperm(len(target), generator=torch.Generator().manual_seed(0))][:len(x)]
        px, tx = report["realism"][direction]["pixels"], report["realism"][direction]["texture"]
        print(f"| {run.name} | {src.name} -> {dst.name} | {report[direction]['mismatch']:.4f} | {px['gap']:.2f} | "
              f"{tx['gap']:.2f} | {px['coverage']:.2f} ({px['coverage_real']:.2f}) | {spread_ratio(y, x):.2f} | "
              f"{correlation(edges(x), edges(y)):.2f} ({correlation(edges(x), edges(unrelated)):.2f}) |", flush=True)


def colorize_rows(run: Path, root: Path | None, samples: int = 4) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    test = held_out(cfg["images"], root)
    report = colorize.evaluate(run, str(test), samples=samples, n=100)
    generator, arch = load_generator(run, colorize.APP, colorize.build_generator, torch.device("cpu"))
    real, _ = colorize.load_color_images(str(test), arch["size"])  # YUV, in file order
    train, _ = colorize.load_color_images(cfg["images"], arch["size"])
    half1, half2 = real[0::2], real[1::2]
    uvs = torch.cat([colorize.colorings(generator, y[None], samples, i) for i, y in enumerate(half1[:, :1])])
    rgb = colorize.to_rgb(half1[:, :1].repeat_interleave(samples, 0), uvs)
    stats = [colorize.chroma_statistics(uv) for uv in (rgb_to_yuv(rgb)[:, 1:], half1[:, 1:], train[::4, 1:])]
    reference = colorize.chroma_statistics(half2[:, 1:])
    colored, floor, training = (exact_w1(s, reference) for s in stats)
    chroma = report["realism"]["photos"]["chroma"]
    print(f"| {run.name} | {report['diversity']:.4f} ({report['diversity_real']:.4f}) | "
          f"{report['colorfulness']:.1f} ({report['colorfulness_real']:.1f}) | "
          f"{chroma['gap']:.2f}{' (far)' if chroma['far'] else ''} | {colored:.3f} | {floor:.3f} | "
          f"{colored / floor:.1f}x | {training:.3f} |", flush=True)


def synthesize_rows(run: Path, steps: list[int]) -> None:
    """Per class of ``run``, at each of ``steps`` (the run resumed to it first; none: as it is)."""
    images = yaml.safe_load((run / "config.yaml").read_text())["images"]
    for count in steps or [None]:
        if count is not None:
            subprocess.run([sys.executable, "-m", "ot_gan.cli", "synthesize", "train", "--config",
                            str(run / "config.yaml"), "--out", str(run), "--steps", str(count), "--quiet"],
                           check=True, stdout=subprocess.DEVNULL)
        report = evaluate_synthesis(run, images)
        for name, row in report["per_class"].items():
            px, tx = report["realism"][name]["pixels"], report["realism"][name]["texture"]
            print(f"| {run.name} | {count or '-'} | {name} | {report['class_accuracy'][name]:.3f} | "
                  f"{row['recall']:.3f} ({row['recall_real']:.3f}) | {px['gap']:.2f} | {tx['gap']:.2f} | "
                  f"{px['coverage']:.2f} ({px['coverage_real']:.2f}) |", flush=True)


HEADERS = {
    "translate": ("run", "direction", "mismatch (l2)", "gap pixels", "gap texture", "coverage (real)", "spread",
                  "layout (unrelated)"),
    "colorize": ("run", "diversity (real crops)", "colorfulness (real)", "chroma gap (eval)", "chroma W1", "floor",
                 "ratio", "training crops"),
    "synthesize": ("run", "steps", "class", "hit", "recall (real)", "gap pixels", "gap texture", "coverage (real)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("app", choices=sorted(HEADERS))
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of `ot-gan APP train`")
    parser.add_argument("--held-out", type=Path, help="the photo sets' test folder (default: beside the run's "
                        "training folders)")
    parser.add_argument("--steps", default="", help="synthesize: extend each run to these step counts in turn "
                        "(comma-separated) and measure it at each")
    add_write_flag(parser, "The CPU presets on photo sets they were not made on")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the apps' CLI does: one thread is fastest on a shared 2-core CPU
    header = HEADERS[args.app]
    print("| " + " | ".join(header) + " |\n" + "| --- " * len(header) + "|", flush=True)
    for run in args.runs:
        if args.app == "synthesize":
            synthesize_rows(run, [int(n) for n in args.steps.split(",") if n])
        else:
            (translate_rows if args.app == "translate" else colorize_rows)(run, args.held_out)


if __name__ == "__main__":
    main()
