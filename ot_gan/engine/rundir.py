"""The run directory of one training: what it holds and when it may be reused.

    RUN/config.yaml          the effective config (also usable as --config)
    RUN/metrics.jsonl        one JSON line per log interval
    RUN/samples/step_*.png   sample grids
    RUN/checkpoints/latest.pt, step_*.pt
    RUN/tensorboard/         when the tensorboard package is installed

Re-running a training command on its run directory resumes it; a directory of another app, a
folder that is not a run, or a run trained with other settings is refused rather than touched.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import yaml

from ot_gan.engine.checkpoint import load_checkpoint
from ot_gan.errors import InputError

# Settings a resumed run may change; every other one must match the run's config.yaml.
RESUMABLE = frozenset({"steps", "device", "threads", "quiet", "log_every", "sample_every",
                       "checkpoint_every", "keep_every", "tensorboard", "skip_bad", "max_time"})


class RunDir:
    """Paths of a run directory and the writes the engine makes to it."""

    def __init__(self, path: Path, app: str) -> None:
        self.path, self.app = Path(path), app
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.latest = self.checkpoints / "latest.pt"

    def saved_app(self) -> str | None:
        """The app named in config.yaml, or None if this is not a run directory."""
        try:
            saved = yaml.safe_load(self.config.read_text())
        except (OSError, yaml.YAMLError):
            return None
        return saved.get("app") if isinstance(saved, dict) else None

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        text = f"# Effective config of `ot-gan {self.app} train`; works as --config.\n"
        self.config.write_text(text + yaml.safe_dump({"app": self.app, **config}, sort_keys=False))

    def log(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop lines logged after ``step`` (a resumed run logs them again) and any line that is not
        a whole record (cut short when the process was killed mid-write)."""
        if not self.metrics.exists():
            return
        lines = [line for line in self.metrics.read_text().splitlines() if _step_of(line) <= step]
        self.metrics.write_text("".join(line + "\n" for line in lines))

    def sample_path(self, step: int) -> Path:
        self.samples.mkdir(parents=True, exist_ok=True)
        return self.samples / f"step_{step:07d}.png"

    def numbered_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"


def _step_of(line: str) -> float:
    """The step of a metrics line; infinity for a line that is not a whole record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return math.inf
    return record.get("step", math.inf) if isinstance(record, dict) else math.inf


def open_run(path: Path, app: str, config: dict[str, Any], overwrite: bool = False, resume: bool = False,
             architecture: dict[str, Any] | None = None) -> tuple[RunDir, dict[str, Any] | None, dict[str, Any]]:
    """The run directory, the checkpoint to resume from (None: a fresh run) and the run's config.

    A run of the same app with a checkpoint is resumed; ``overwrite`` starts it afresh instead.
    A checkpoint whose networks differ from ``architecture`` (saved by a version of ot-gan that
    built them otherwise, or for data of other channels or classes) is refused: its weights would
    not load.
    Anything else that exists is refused with an InputError, even with ``overwrite`` for folders
    that are not runs (ot-gan deletes only what it made).
    """
    config = json.loads(json.dumps(config))  # tuples become lists, as YAML and checkpoints keep them
    run = RunDir(path, app)
    if run.path.exists() and not run.path.is_dir():
        raise InputError(f"{path}: exists and is a file; {{out}} takes a run directory", out=None)
    exists = run.path.is_dir() and any(run.path.iterdir())
    if exists:
        saved_app = run.saved_app()
        if saved_app is None:
            raise InputError(f"{path}: exists and is not an ot-gan run; choose another {{out}}", out=None)
        if saved_app != app:
            raise InputError(f"{path}: a run of `ot-gan {saved_app} train`, not of `ot-gan {app} train`; "
                             "choose another {out}", out=None)
        if overwrite:
            shutil.rmtree(run.path)
            exists = False
    if not exists or not run.latest.exists():
        if resume:
            raise InputError(f"{path}: no checkpoint to resume from")
        run.truncate_metrics(0)
        run.write_config(config)
        return run, None, config
    checkpoint = load_checkpoint(run.latest, app)
    if checkpoint["step"] > config["steps"]:
        raise InputError(f"{path}: already trained for {checkpoint['step']} steps, more than the {config['steps']} "
                         "asked for; ask for more steps to extend it, or start afresh")
    saved = checkpoint["config"]
    changed = sorted(k for k in config if k not in RESUMABLE and k in saved and saved[k] != config[k])
    if changed:
        listing = ", ".join(f"{k} {saved[k]!r} (now {config[k]!r})" for k in changed)
        raise InputError(f"{path}: was trained with {listing}; resume with the same settings, "
                         "or pass {overwrite} or another {out} to start afresh", overwrite=True, out=None)
    saved_arch = checkpoint.get("architecture", {})
    changed = sorted(k for k in architecture or {} if saved_arch.get(k) != architecture[k])
    if changed:
        listing = ", ".join(f"{k} {saved_arch.get(k)!r} (now {architecture[k]!r})" for k in changed)
        raise InputError(f"{path}: its networks differ from the ones built now ({listing}: saved by an earlier "
                         "version of ot-gan, or for other data), so it cannot be resumed; pass {overwrite} or "
                         "another {out} to start afresh", overwrite=True, out=None)
    run.truncate_metrics(checkpoint["step"])
    config = {**saved, **{k: v for k, v in config.items() if k in RESUMABLE}}
    run.write_config(config)
    return run, checkpoint, config
