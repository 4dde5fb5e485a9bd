"""Settings that are also command-line options, declared once as dataclass fields.

A field made by ``option`` carries its help and its range or choices as metadata; the CLI turns
each such field into a flag of the same name (``batch_size`` -> ``--batch-size``) and a key of
``--config`` files and of a run's ``config.yaml``. ``Device`` and ``Runtime`` hold the settings the
commands share: device, CPU threads and seed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ot_gan.errors import InputError

if TYPE_CHECKING:  # torch loads with the command that runs, not for --help
    import torch

DEVICES = ("auto", "cpu", "cuda")
SKIP_BAD = "Leave out image files that cannot be read (a warning counts them) instead of stopping."


def option(default: Any, help: str, **extra: Any) -> Any:
    """A config field that is also a command-line option. ``extra`` is metadata the CLI reads:
    ``choices``; ``type`` (when the default is None); the range ``min``, ``max``, ``min_open``,
    ``max_open`` (integers and floats are at least 0 unless ``min`` says otherwise); ``metavar``."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def redefault(cls: type, name: str, default: Any) -> Any:
    """Field ``name`` of the dataclass ``cls`` with another default, its help and range kept: for an
    app whose config extends the engine's."""
    field = cls.__dataclass_fields__[name]
    return dataclasses.field(default=default, metadata=field.metadata, kw_only=field.kw_only)


@dataclass(kw_only=True)
class Device:
    """Device and CPU threads: settings of every command that computes. Keyword-only, so that they
    come after a config's own fields (in ``__init__`` and on the command line)."""

    device: str = option("auto", "Where to run: auto picks cuda when a GPU is present.", choices=DEVICES)
    threads: int = option(1, "CPU threads for torch (more than one can be far slower on a busy machine).", min=1)

    def torch_device(self) -> torch.device:
        """The torch device named auto (cuda when a GPU is present), cpu or cuda, with torch's CPU
        thread count set to ``threads``."""
        import torch

        torch.set_num_threads(self.threads)
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device not in ("cpu", "cuda"):
            raise InputError("{device}: choose auto, cpu or cuda", device=self.device)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError("{device}: no CUDA device is available; use the CPU", device="cuda")
        return torch.device(self.device)


@dataclass(kw_only=True)
class Runtime(Device):
    """Device, threads and seed: the settings of every command that draws random numbers."""

    seed: int = option(0, "Random seed.")

