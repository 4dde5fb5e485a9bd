"""The one way the app tests run ``ot-gan``: ``run`` in this process (click's test runner), and
``command_line`` with ``ENV`` for a real process (signals, torchrun, warnings as a user sees them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from click.testing import CliRunner

from ot_gan.cli import cli

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}  # the checkout's ot_gan for a subprocess


def run(*args: object, width: int | None = None) -> tuple[int, str, str]:
    """``ot-gan ARGS``: (exit code, stdout, stderr), ``width`` the terminal's for help text. An
    exception that is not an exit (the CLI's bug, not bad input) is raised, so that a test shows it."""
    result = CliRunner().invoke(cli, [str(a) for a in args], terminal_width=width)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def command_line(*args: object, launcher: tuple[str, ...] = ()) -> list[str]:
    """``python [LAUNCHER] -m ot_gan.cli ARGS`` as a subprocess's arguments (``launcher``:
    e.g. ``("-m", "torch.distributed.run", ...)``)."""
    return [sys.executable, *launcher, "-m", "ot_gan.cli", *map(str, args)]
