"""``ot-gan wdist``: the Wasserstein-1 distance between two datasets."""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass
from typing import Any

import click
import torch

from ot_gan.apps.common import config_option, device_option, resolve_device, seed_option, threads_option
from ot_gan.data import Samples, load_source
from ot_gan.engine import TrainingDiverged
from ot_gan.errors import InputError
from ot_gan.interrupt import stop_on_signals
from ot_gan.wasserstein import CRITIC_METHODS, EXACT_MAX_ENTRIES, METHODS, STOP_NOTICE, exact_w1, wasserstein1


@dataclass
class WdistConfig:
    """Everything a W1 measurement depends on."""

    source_a: str
    source_b: str
    method: str = "maxal"
    steps: int = 8000
    batch_size: int = 256
    width: int = 128
    depth: int = 4
    group_size: int = 2
    size: int = 32
    holdout: float = 0.2
    exact: bool = True
    ctransform: bool = False
    device: str = "auto"
    threads: int = 1
    seed: int = 0


def load_pair(cfg: WdistConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sources as float tensors of one sample shape (gray images widened to RGB if the other
    set is in color)."""
    a, b = (load_source(s, size=cfg.size, seed=cfg.seed) for s in (cfg.source_a, cfg.source_b))
    xa, xb = (_tensor(s) for s in (a, b))
    if a.is_image and b.is_image and {xa.shape[1], xb.shape[1]} == {1, 3}:
        xa, xb = (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x for x in (xa, xb))
    if xa.shape[1:] != xb.shape[1:]:
        raise InputError(f"{cfg.source_a} and {cfg.source_b} have different sample shapes: "
                         f"{tuple(xa.shape[1:])} vs {tuple(xb.shape[1:])}")
    return xa, xb


def _tensor(s: Samples) -> torch.Tensor:
    return s.data if isinstance(s.data, torch.Tensor) else torch.from_numpy(s.data)


def run(cfg: WdistConfig, progress: bool = False) -> dict[str, Any]:
    """Measure W1 between the two sources; the result as a JSON-ready dict."""
    if cfg.method not in METHODS:
        raise InputError(f"unknown method {cfg.method!r}; choose one of {', '.join(METHODS)}")
    if cfg.ctransform and cfg.method not in CRITIC_METHODS:
        raise InputError(f"--ctransform refines a trained critic; method {cfg.method!r} has none")
    device = resolve_device(cfg.device, cfg.threads)
    xa, xb = load_pair(cfg)
    if cfg.method in CRITIC_METHODS:
        kwargs = dict(steps=cfg.steps, batch_size=cfg.batch_size, width=cfg.width, depth=cfg.depth,
                      group=cfg.group_size, holdout=cfg.holdout, device=device, seed=cfg.seed, progress=progress,
                      ctransform=cfg.ctransform)
        with stop_on_signals(STOP_NOTICE) as stop:  # a first Ctrl-C stops the training, a second quits
            result = asdict(wasserstein1(xa, xb, method=cfg.method, should_stop=lambda: stop.requested, **kwargs))
    else:
        result = asdict(wasserstein1(xa, xb, method=cfg.method))
    result.update(source_a=cfg.source_a, source_b=cfg.source_b, exact=None)
    if cfg.method == "exact":
        result["exact"] = result["distance"]
    elif cfg.exact and len(xa) * len(xb) <= EXACT_MAX_ENTRIES:
        result["exact"] = exact_w1(xa, xb)
    return result


def divergence_message(r: dict[str, Any]) -> str:
    """One line: where the critic's training diverged, what the figures are, what to try."""
    kept = (f"the estimate is that of its last finite state, at step {r['steps']}" if _reportable(r)
            else "there is no finite estimate to report")
    return (f"the critic's training diverged at step {r['diverged_at']} (a gap, penalty or multiplier went "
            f"non-finite); {kept}. Try a smaller --width or --depth, or another --seed.")


def _reportable(r: dict[str, Any]) -> bool:
    """Whether a diverged run's last finite critic was trained at all and measured finite."""
    return bool(r["steps"]) and all(v is not None and math.isfinite(v) for v in (r["distance"], r["lipschitz"]))


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def format_table(r: dict[str, Any]) -> str:
    """The human-readable result: a short table."""
    lines = [f"W1 between {r['source_a']} ({r['n_a']} samples) and {r['source_b']} ({r['n_b']} samples), "
             f"{r['dim']} dimensions", ""]
    rows = [("method", "W1", "held-out [95% CI]", "K", "steps", "seconds")]
    held = f"{r['heldout']:.4g} [{r['ci95'][0]:.4g}, {r['ci95'][1]:.4g}]" if r.get("ci95") else ""
    lip = f"{r['lipschitz']:.3f}" if r.get("lipschitz") is not None else ""
    rows.append((r["method"], f"{r['distance']:.4g}", held, lip, str(r.get("steps") or ""), f"{r['seconds']:.1f}"))
    if r.get("ctransform") is not None:
        rows.append(("c-transform", f"{r['ctransform']:.4g}", "", "", "", ""))
    if r["exact"] is not None and r["method"] != "exact":
        rows.append(("exact (POT)", f"{r['exact']:.4g}", "", "", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if r.get("interrupted"):
        lines += ["", f"Interrupted at step {r['steps']}, before the critic had settled: a rough estimate."]
    shown = (r["exact"] is not None, r.get("ctransform") is not None)  # which plug-in figures are printed
    if r["method"] in CRITIC_METHODS and r["dim"] > 8 and any(shown):
        what = {(True, False): "exact = the plug-in W1 of the two sets",
                (False, True): "c-transform = a lower bound of the plug-in W1 of the two sets",
                (True, True): "exact = the plug-in W1 of the two sets, c-transform a lower bound of it"}[shown]
        note = (f"{what}; in high dimension the plug-in W1 is biased upward, and the held-out estimate (a lower "
                "bound of the population W1) is the safer figure.")
        lines += ["", *textwrap.wrap(note, 100, break_on_hyphens=False)]
    return "\n".join(lines)


@click.command("wdist")
@click.argument("source_a")
@click.argument("source_b")
@click.option("--method", type=click.Choice(METHODS), default="maxal", show_default=True,
              help="maxal reads W1 off a critic with K = 1; maxgp/gp/lp/sn/clip divide by the measured K; "
                   "exact and sinkhorn are POT's solvers (small sets); sliced is the smaller sliced W1.")
@click.option("--steps", type=click.IntRange(1), default=8000, show_default=True,
              help="Most critic steps (training stops earlier once the estimate has settled).")
@click.option("--batch-size", type=click.IntRange(2), default=256, show_default=True)
@click.option("--width", type=click.IntRange(1), default=128, show_default=True,
              help="Critic width: MLP units (the conv critic for images gets a quarter as many base "
                   "channels). Wider critics fit high-dimensional potentials more closely, but take longer "
                   "per step and memorize small sets more (compare the held-out estimate).")
@click.option("--depth", type=click.IntRange(1), default=4, show_default=True,
              help="Critic depth (hidden layers of the MLP).")
@click.option("--group-size", type=click.IntRange(2), default=2, show_default=True,
              help="Features sorted together by the MLP's GroupSort activations (2 = MaxMin; --width must be "
                   "a multiple). Groups of 8 fit curved high-dimensional potentials, such as a radial one, "
                   "much more closely; on 2-D sets the default is as good or better.")
@click.option("--size", type=click.IntRange(4), default=32, show_default=True,
              help="Side length image folders and photos are resized and cropped to.")
@click.option("--holdout", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Fraction of each set kept out of training for the held-out estimate.")
@click.option("--exact/--no-exact", default=True, show_default=True,
              help="Also print POT's exact W1 when the cost matrix is small enough (up to about 8k x 8k).")
@click.option("--ctransform", is_flag=True,
              help="Also print the c-transform of the trained critic on all samples: a certified lower bound "
                   "of the exact plug-in W1, usually closer to it than the critic alone. For low-dimensional "
                   "sets (the plug-in W1 is biased upward in high dimension) of up to 50k x 50k samples, "
                   "also past exact OT's memory limit.")
@device_option
@threads_option
@seed_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(as_json: bool, quiet: bool, **options: Any) -> None:
    """Estimate the Wasserstein-1 distance between SOURCE_A and SOURCE_B.

    \b
    Examples:
      ot-gan wdist digits:3 digits:8
      ot-gan wdist a.npy b.npy --method exact --json
      ot-gan wdist photos_a/ photos_b/ --size 32 --device cuda
    """
    cfg = WdistConfig(**options)
    result = _finite_or_none(run(cfg, progress=not quiet))
    diverged = result.get("status") == "diverged"
    if as_json:
        click.echo(json.dumps({**result, "config": asdict(cfg)}))
    elif not diverged or _reportable(result):
        click.echo(format_table(result))
    if diverged:
        raise TrainingDiverged(divergence_message(result))
