"""``ot-gan wdist``: the command line over ``ot_gan.tasks.wdist``."""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict
from typing import Any

import click

from ot_gan import parallel
from ot_gan.cli.common import with_config
from ot_gan.engine import TrainingDiverged
from ot_gan.interrupt import stop_on_signals
from ot_gan.tasks.wdist import CRITICS, WdistConfig, run

STOP_NOTICE = "ot-gan: stopping the critic's training to report the estimate so far (Ctrl-C again quits)"


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
    """The human-readable result: a short table whose first figure targets the population W1 (the
    held-out estimate, for a critic), the plug-in figures beside it, then what they mean."""
    name = "sliced W1" if r["method"] == "sliced" else "W1"
    lines = [f"{name} between {r['source_a']} ({r['n_a']} samples) and {r['source_b']} ({r['n_b']} samples), "
             f"{r['dim']} dimensions", f"distance: {r['units']}", ""]
    critic, held = r["method"] in CRITICS, r.get("basis") == "held-out"
    rows = [("method", name, "95% CI", "all samples", "K", "steps", "seconds")]
    lip = f"{r['lipschitz']:.3f}" if r.get("lipschitz") is not None else ""
    ci = f"[{r['ci95'][0]:.4g}, {r['ci95'][1]:.4g}]" if r.get("ci95") else ""
    first, plug_in = f"{r['distance']:.4g}", (f"{r['all_samples']:.4g}" if held else "")
    chosen = r.get("details", {}).get("chosen")  # auto: the critic it kept
    method = f"{r['method']} ({chosen})" if chosen else r["method"]
    rows.append((method, first, ci, plug_in, lip, str(r.get("steps") or ""), f"{r['seconds']:.1f}"))
    if r.get("ctransform") is not None:
        rows.append(("c-transform", "", "", f"{r['ctransform']:.4g}", "", "", ""))
    if r["exact"] is not None and r["method"] != "exact":
        rows.append(("exact (POT)", "", "", f"{r['exact']:.4g}", "", "", ""))
    keep = [i for i in range(len(rows[0])) if any(row[i] for row in rows[1:])]  # no empty columns
    rows = [tuple(row[i] for i in keep) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if critic and held:
        note = ("W1 = the critic on the samples it never trained on (the held-out ones), with its 95% interval: "
                "it targets the population W1, of which it is a lower bound in expectation. 'all samples' "
                "includes the training samples")
        plug = [name for name, shown in (("exact", r["exact"] is not None),
                                         ("c-transform", r.get("ctransform") is not None)) if shown]
        names = ["it", *plug]
        note += (f"; {', '.join(names[:-1])} and {names[-1]} target the plug-in W1 of these two sets, which is biased "
                 "upward in high dimension." if plug else " and is biased upward when the critic memorizes them.")
        if r.get("bracket"):
            low, high = r["bracket"]
            note += (f" So the population W1 lies between {low:.4g} (W1, a lower bound) and {high:.4g} (exact, an upper "
                     "bound), both in expectation.")
        if chosen:
            halves, read_by = r["details"]["halves"], r["details"]["read_by"]
            gaps = ", ".join(f"{m} {first:.4g} and {second:.4g}" for m, (first, second) in halves.items())
            readers = (f"{read_by[0]} read both" if read_by[0] == read_by[1] else
                       f"{read_by[0]} read the first and {read_by[1]} the second")
            note += (f" auto trained {' and '.join(halves)} on the same samples and read each half of the held-out "
                     f"samples with the critic whose gap was the larger on the other half ({gaps} on the two "
                     f"halves: {readers}), so no half was read by a critic chosen on it.")
        lines += ["", *textwrap.wrap(note, 100, break_on_hyphens=False)]
    elif critic:
        lines += ["", "W1 = the critic on the samples it trained on (no held-out estimate): the plug-in W1 of "
                      "these sets, biased upward in high dimension."]
    lines += explanation_lines(r)
    lines += [""] * bool(r.get("cautions")) + [line for c in r.get("cautions", []) for line in textwrap.wrap(f"caution: {c}", 100, break_on_hyphens=False)]
    return "\n".join(lines)



def explanation_lines(r: dict[str, Any]) -> list[str]:
    """What --test and --explain found: the p-value, where the witness samples are, W1 per class."""
    lines = []
    if r.get("p_value") is not None:
        verdict = ("the sets differ at the 5% level" if r["p_value"] <= 0.05
                   else "no difference shows at the 5% level")
        floor = " (the smallest these permutations give)" if r["p_value"] * (r["permutations"] + 1) < 1.5 else ""
        lines += ["", *textwrap.wrap(f"two-sample test: p = {r['p_value']:.3g}{floor}: {verdict} (a permutation test "
                                     f"of the critic's values on the held-out samples, {r['permutations']} "
                                     "permutations)", 100, break_on_hyphens=False)]
    if r.get("explain"):
        files = "; ".join(f"{f['file']}: {f['shows']}" for f in r["explain"]["files"])
        lines += ["", *textwrap.wrap(f"witness samples in {r['explain']['dir']} ({files})", 100,
                                     break_on_hyphens=False, break_long_words=False)]
    if r.get("per_class"):
        rows = [("class", r["source_a"], r["source_b"], "W1", "95% CI")]
        rows += [(c["class"], str(c["n_a"]), str(c["n_b"]), "" if c["distance"] is None else f"{c['distance']:.4g}",
                  f"[{c['ci95'][0]:.4g}, {c['ci95'][1]:.4g}]" if c["ci95"] else "") for c in r["per_class"]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["", "W1 per class (one estimate per class; the columns of the sets count their samples):"]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return lines


@click.command("wdist")
@click.argument("source_a")
@click.argument("source_b")
@with_config(WdistConfig)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(cfg: WdistConfig, as_json: bool, quiet: bool) -> None:
    """Estimate the Wasserstein-1 distance between SOURCE_A and SOURCE_B.

    \b
    Examples:
      ot-gan wdist digits:3 digits:8
      ot-gan wdist a.npy b.npy --method exact --json
      ot-gan wdist photos_a/ photos_b/ --size 32 --device cuda
      ot-gan wdist photos_a/ photos_b/ --size 299 --features inception_v3:inception_v3_google-0cc3c7bd.pth
      ot-gan wdist photos_a/ photos_b/ --config configs/wdist-images-cpu.yaml   (CPU-sized)
    """
    with stop_on_signals(STOP_NOTICE) as stop:  # a first Ctrl-C stops the training, a second quits
        result = _finite_or_none(run(cfg, progress=not quiet, should_stop=lambda: stop.requested))
    if parallel.rank_and_world()[0] > 0:  # under torchrun rank 0 reports for all
        return
    diverged = result.get("status") == "diverged"
    if as_json:
        click.echo(json.dumps({**result, "config": asdict(cfg)}))
    elif not diverged or _reportable(result):
        click.echo(format_table(result))
    if diverged:
        raise TrainingDiverged(divergence_message(result))

