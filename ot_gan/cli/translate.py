"""``ot-gan translate``: the command line over ``ot_gan.tasks.translate``."""

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
from ot_gan.tasks.translate import (
    APP,
    DIRECTIONS,
    TranslateConfig,
    apply_folder,
    evaluate,
    train_translator,
)


def format_eval(r: dict[str, Any]) -> str:
    lines = [f"{r['run']}: mismatch = mean {r['cost']} cost between input and translation (lower keeps more)", "",
             f"{'direction':<10} {'images':>6} {'mismatch':>9}"]
    lines += [f"{d:<10} {r[d]['n']:>6} {r[d]['mismatch']:>9.4f}" for d in DIRECTIONS]
    return "\n".join(lines + [""] + realism_lines(r["realism"], "direction"))


@click.group(APP)
def command() -> None:
    """OT-guided unpaired image translation (OT-CycleGAN).

    \b
    ot-gan translate train --a photos_A/ --b photos_B/ --out runs/ab --cost color
    ot-gan translate apply runs/ab --input new_A/ --output translated/
    ot-gan translate eval runs/ab --a test_A/ --b test_B/"""


command.add_command(train_command(TranslateConfig, train_translator, "Train the A->B and B->A generators "
                                  "(re-run the same command to resume a stopped run).",
                                  cpu_preset="configs/translate-cpu.yaml"))


@dataclass
class ApplyConfig(UseRun):
    """translate apply's settings."""

    input: Path | None = option(None, "Folder of images of the direction's source domain (searched recursively).",
                                type=Path, required=True)
    output: Path | None = option(None, "Folder for the translations, with the inputs' names (never overwritten).",
                                 type=Path, required=True)
    direction: str = option("a2b", "The generator to apply: A to B (a2b) or B to A (b2a).", choices=DIRECTIONS)
    keep_size: bool = option(False, "Translate at native resolution instead of the training crop.")


@dataclass
class EvalConfig(Evaluation):
    """translate eval's settings."""

    w1_steps: int = redefault(Evaluation, "w1_steps", 300)
    a: str | None = option(None, "Domain A's test images.", type=str, required=True)
    b: str | None = option(None, "Domain B's test images.", type=str, required=True)
    features: str | None = option(None, FEATURES_HELP, type=str, metavar="FILE")


@command.command("apply")
@run_argument
@with_config(ApplyConfig)
def apply_command(cfg: ApplyConfig) -> None:
    """Translate a folder of images with a trained run (one direction needs one folder)."""
    n = apply_folder(cfg.run, cfg.input, cfg.output, cfg.direction, cfg.keep_size, cfg.seed, cfg.torch_device(),
                     not cfg.quiet, cfg.skip_bad)
    click.echo(f"translated {n} images {cfg.direction} into {cfg.output}")


@command.command("eval")
@eval_options(EvalConfig, format_eval)
def eval_command(cfg: EvalConfig) -> dict[str, Any]:
    """Mismatching degree and realism (held-out W1 to the target domain's images beside its floor,
    density, coverage) of a trained run, in both directions."""
    return evaluate(cfg.run, cfg.a, cfg.b, cfg.w1_steps, cfg.seed, cfg.torch_device(), progress=not cfg.quiet,
                    skip_bad=cfg.skip_bad, features=cfg.features)
