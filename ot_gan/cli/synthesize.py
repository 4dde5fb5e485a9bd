"""``ot-gan synthesize``: the command line over ``ot_gan.tasks.synthesize``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from torchvision.utils import save_image

from ot_gan.cli.common import (
    Evaluation,
    eval_options,
    run_argument,
    train_command,
    with_config,
)
from ot_gan.engine import (
    load_generator,
    staged_outputs,
)
from ot_gan.grids import labeled_grid
from ot_gan.options import SKIP_BAD, Device, Runtime, option, redefault
from ot_gan.realism import FEATURES_HELP, realism_lines
from ot_gan.tasks.synthesize import (
    APP,
    SynthConfig,
    build_generator,
    class_index,
    class_means,
    encode_folder,
    evaluate,
    generate,
    reconstruct_folder,
    sample_labels,
    train_synthesizer,
)


def format_eval(r: dict[str, Any]) -> str:
    lines = [f"{r['run']}: {r['n']} samples scored against {r['images']}",
             f"classifier: SmallClassifier trained here on the real images (nothing downloaded); held-out accuracy "
             f"{r['classifier_accuracy']:.3f}",
             f"class fidelity: AM Score (lower is better) {r['am_score']:.3f} (real held-out images: "
             f"{r['am_score_real']:.3f})", ""]
    lines += realism_lines(r["realism"], "class") + [""]
    if "reconstruction" in r:
        rec = r["reconstruction"]
        which = "the run never trained on" if rec["unseen"] else "the run trained on (it kept none out)"
        lines += [f"G(E(x)) classified as the class of x: {rec['agreement']:.3f} of {rec['images']} real images "
                  f"{which} (chance {rec['chance']:.3f})", ""]
    if not r["per_class"]:
        return "\n".join(lines + ["too few samples per class for precision, recall and spread (raise --n)"])
    hits = r.get("class_accuracy")
    lines += ["diversity per class, real vs real in brackets: precision and recall (k = 3, classifier features; "
              "Kynkaenniemi et al. 2019),", "spread = mean pairwise pixel distance within the class"
              + ("; hit = samples classified as their class" if hits else
                 " (unconditional: samples grouped by the class the classifier gives them)"),
              f"{'class':>8}  " + ("hit    " if hits else "") + "precision      recall         spread"]
    rows = {**r["per_class"], "mean": class_means(r)}
    for name, row in rows.items():
        hit = "" if not hits else f"{row['hit_rate'] if name == 'mean' else hits[name]:.3f}  "
        ratio = row["spread_ratio"] if name == "mean" else row["spread"] / row["spread_real"]
        lines.append(f"{name:>8}  {hit}{row['precision']:.3f} ({row['precision_real']:.3f})  "
                     f"{row['recall']:.3f} ({row['recall_real']:.3f})  {row['spread']:.3f} ({row['spread_real']:.3f}) "
                     f"= {ratio:.2f}x")
    return "\n".join(lines)


@click.group(APP)
def command() -> None:
    """Class-conditional image synthesis: AM-GAN and Lipschitz GANs.

    \b
    ot-gan synthesize train --images digits --out runs/digits
    ot-gan synthesize sample runs/digits --n 64 --class 3 --output samples/ --grid
    ot-gan synthesize eval runs/digits --images digits
    ot-gan synthesize train --mode bigan --images digits --out runs/bigan
    ot-gan synthesize reconstruct runs/bigan --input my_digits/ --output rebuilt/"""


command.add_command(train_command(SynthConfig, train_synthesizer, "Train a generator on labeled images "
                                  "(re-run the same command to resume a stopped run).\n\nThe defaults (32 px) take "
                                  "about 15 min on a CPU; --config configs/synthesize-cpu.yaml (in the repository) "
                                  "is a 16 px start of about a minute. Every run estimates its time after its first "
                                  "steps, and --max-time caps it."))


@dataclass
class SampleConfig(Runtime):
    """synthesize sample's settings."""

    run: Path
    n: int = option(64, "Number of images.", min=1)
    output: Path | None = option(None, "Folder for sample_NNNN.png (never overwritten).", type=Path, required=True,
                                 metavar="DIRECTORY")
    class_: str | None = option(None, "Class name or index (conditional runs); default: all classes in turn.",
                                type=str, flag="class")
    grid: bool = option(False, "Also save all samples as one grid.png (one class per column, named, unless --class).")


@dataclass
class EvalConfig(Evaluation):
    """synthesize eval's settings."""

    w1_steps: int = redefault(Evaluation, "w1_steps", 300)
    images: str | None = option(None, "The labeled real images (the training source: then the images the run "
                                "kept out of training are the ones it is checked on).", type=str, required=True)
    features: str | None = option(None, FEATURES_HELP, type=str, metavar="FILE")
    n: int = option(1000, "Samples to score.", min=10)
    classifier_steps: int = option(1000, "Training steps of the scoring classifier.", min=1)


@dataclass
class FolderConfig(Device):
    """The settings of encode and reconstruct (each names its --output)."""

    run: Path
    input: Path | None = option(None, "Folder of images (searched recursively).", type=Path, required=True,
                                metavar="DIRECTORY")
    skip_bad: bool = option(False, SKIP_BAD)


@dataclass
class EncodeConfig(FolderConfig):
    output: Path | None = option(None, "The .npz file to write: z (one row per image) and files (their names); "
                                 "never overwritten.", type=Path, required=True, metavar="FILE")


@dataclass
class ReconstructConfig(FolderConfig):
    output: Path | None = option(None, "Folder for G(E(x)), one image per input with its name (never overwritten).",
                                 type=Path, required=True, metavar="DIRECTORY")


@command.command("sample")
@run_argument
@with_config(SampleConfig)
def sample_command(cfg: SampleConfig) -> None:
    """Sample images from a trained run."""
    generator, arch = load_generator(cfg.run, APP, build_generator, cfg.torch_device())
    labels = sample_labels(arch, cfg.n, None if cfg.class_ is None else class_index(arch, cfg.class_))
    names = [f"sample_{i:04d}.png" for i in range(cfg.n)] + (["grid.png"] if cfg.grid else [])
    with staged_outputs(cfg.output, names) as paths:
        images = generate(generator, arch, cfg.n, labels, cfg.seed)
        for image, path in zip(images, paths):
            save_image(image, path, normalize=True, value_range=(-1, 1))
        if cfg.grid:
            classes = arch["classes"] if arch["conditional"] and cfg.class_ is None else None
            labeled_grid(images, len(classes) if classes else None, titles=classes).save(paths[-1])
    click.echo(f"wrote {cfg.n} images to {cfg.output}" + (" and grid.png" if cfg.grid else ""))


@command.command("eval")
@eval_options(EvalConfig, format_eval)
def eval_command(cfg: EvalConfig) -> dict[str, Any]:
    """Score a trained run: AM Score, and per class realism (held-out W1 to real images beside its
    floor, density, coverage), the hit rate, precision, recall and spread beside the real images'."""
    return evaluate(cfg.run, cfg.images, cfg.n, cfg.classifier_steps, cfg.w1_steps, cfg.seed, cfg.torch_device(),
                    progress=not cfg.quiet, skip_bad=cfg.skip_bad, features=cfg.features)


@command.command("encode")
@run_argument
@with_config(EncodeConfig)
def encode_command(cfg: EncodeConfig) -> None:
    """Encode images with a BiGAN run's encoder E."""
    n = encode_folder(cfg.run, cfg.input, cfg.output, cfg.torch_device(), cfg.skip_bad)
    click.echo(f"encoded {n} images into {cfg.output}")


@command.command("reconstruct")
@run_argument
@with_config(ReconstructConfig)
def reconstruct_command(cfg: ReconstructConfig) -> None:
    """Rebuild images as G(E(x)) with a BiGAN run."""
    n = reconstruct_folder(cfg.run, cfg.input, cfg.output, cfg.torch_device(), cfg.skip_bad)
    click.echo(f"reconstructed {n} images into {cfg.output}")
