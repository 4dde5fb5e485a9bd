"""``ot-gan colorize``: the command line over ``ot_gan.tasks.colorize``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ot_gan.cli.common import (
    Evaluation,
    UseRun,
    eval_options,
    run_argument,
    train_command,
    with_config,
)
from ot_gan.options import option, redefault
from ot_gan.realism import FEATURES_HELP, realism_lines
from ot_gan.tasks.colorize import (
    APP,
    ColorizeConfig,
    apply_folder,
    evaluate,
    train_colorizer,
)


def format_eval(r: dict[str, Any]) -> str:
    return "\n".join([
        f"{r['run']}: {r['samples']} colorings of each of {r['n']} gray versions of {r['images']}",
        f"diversity (mean pairwise |uv| difference among the colorings of one image): {r['diversity']:.4f} "
        f"(between the real crops: {r['diversity_real']:.4f})",
        f"colorfulness (Hasler-Suesstrunk): {r['colorfulness']:.1f} (the real photos: {r['colorfulness_real']:.1f})",
        "", *realism_lines(r["realism"], "set"),
        "(chroma: per-image mean and standard deviation of u and v; colorings are compared with other real crops)"])


@click.group(APP)
def command() -> None:
    """Several plausible colorings of each gray image.

    \b
    ot-gan colorize train --images photos --out runs/color
    ot-gan colorize apply runs/color --input gray/ --output colored/ --samples 4 --sheet
    ot-gan colorize eval runs/color --images photos"""


command.add_command(train_command(ColorizeConfig, train_colorizer, "Train a colorization generator on color "
                                  "images (re-run the same command to resume a stopped run).",
                                  cpu_preset="configs/colorize-cpu.yaml"))


@dataclass
class ApplyConfig(UseRun):
    """colorize apply's settings."""

    input: Path | None = option(None, "Folder of gray or color images (color ones are made gray first), any size.",
                                type=Path, required=True)
    output: Path | None = option(None, "Folder for <name>_<k>.png (never overwritten).", type=Path, required=True)
    samples: int = option(4, "Colorings per image.", min=1)
    sheet: bool = option(False, "Also save <name>_sheet.png: the gray input and its colorings.")


@dataclass
class EvalConfig(Evaluation):
    """colorize eval's settings."""

    w1_steps: int = redefault(Evaluation, "w1_steps", 300)
    images: str | None = option(None, "Real color images (a folder, or photos).", type=str, required=True)
    samples: int = option(4, "Colorings per image.", min=2)
    n: int = option(200, "Images to colorize (as many others are the real images they are compared with).", min=1)
    features: str | None = option(None, FEATURES_HELP, type=str, metavar="FILE")


@command.command("apply")
@run_argument
@with_config(ApplyConfig)
def apply_command(cfg: ApplyConfig) -> None:
    """Colorize a folder of images, --samples different ways each."""
    n = apply_folder(cfg.run, cfg.input, cfg.output, cfg.samples, cfg.seed, cfg.sheet, cfg.torch_device(),
                     not cfg.quiet, cfg.skip_bad)
    click.echo(f"colorized {n} images {cfg.samples} ways into {cfg.output}")


@command.command("eval")
@eval_options(EvalConfig, format_eval)
def eval_command(cfg: EvalConfig) -> dict[str, Any]:
    """Diversity, colorfulness and realism (held-out W1 to other real images beside its floor, density,
    coverage) of a trained run."""
    return evaluate(cfg.run, cfg.images, cfg.samples, cfg.n, cfg.w1_steps, cfg.seed, cfg.torch_device(),
                    progress=not cfg.quiet, skip_bad=cfg.skip_bad, features=cfg.features)
