"""Checkpoints that are safe to load and describe themselves.

They are written atomically (a temporary file in the same folder, then ``os.replace``), so a crash
or ``kill -9`` mid-write leaves the previous checkpoint intact, and loaded with
``torch.load(weights_only=True)``, so a checkpoint from someone else cannot run code. Each one
carries its app and the architecture hyperparameters, so ``apply`` and ``sample`` rebuild the
model without flags.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ot_gan.errors import InputError

FORMAT = "ot-gan checkpoint"
VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists and dicts) to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, app: str | None = None) -> dict[str, Any]:
    """The payload of an ot-gan checkpoint, refusing foreign files and other apps' runs."""
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err):  # the weights-only unpickler met a class or function to call
            raise InputError(f"{path}: refused, the file would run code when loaded; "
                             "ot-gan loads only weights (weights_only=True)") from None
        raise InputError(f"{path}: not a readable checkpoint") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, zipfile errors... for a bad file
        raise InputError(f"{path}: not a readable checkpoint ({err.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an ot-gan checkpoint")
    if payload.get("version") != VERSION:
        raise InputError(f"{path}: checkpoint format version {payload.get('version')} "
                         f"is not the {VERSION} this ot-gan reads")
    if app is not None and payload.get("app") != app:
        raise InputError(f"{path}: a checkpoint of `ot-gan {payload.get('app')}`, not of `ot-gan {app}`")
    return payload


def find_checkpoint(run: Path) -> Path:
    """The checkpoint that ``run`` names: a run directory's latest one, or a ``.pt`` file."""
    return run / "checkpoints" / "latest.pt" if run.is_dir() else run


def generator_weights(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The generator's ``state_dict`` for sampling and applying: the EMA one when the run kept one."""
    if payload.get("ema"):
        return {k.removeprefix("module."): v for k, v in payload["ema"].items() if k.startswith("module.")}
    return {k.removeprefix("generator."): v for k, v in payload["task"].items() if k.startswith("generator.")}
