"""Every command of the README's CLI tour parses as quoted (each subcommand and flag exists and
each value is of the flag's type) and runs as quoted, in order, with its training cut short; every
flag the prose quotes is one of ot-gan's."""

import functools
import re
import shlex
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ot_gan.cli import cli
from ot_gan.engine.pace import Pace
from ot_gan.tasks import synthesize
from ot_gan.w1 import CriticEstimator

README = Path(__file__).resolve().parents[2] / "README.md"
COMMANDS = re.findall(r"^\$ ot-gan (.+)$", README.read_text(), flags=re.M)


def test_the_readme_quotes_commands_of_every_app():
    assert {c.split()[0] for c in COMMANDS} == {"wdist", "translate", "colorize", "synthesize"}


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses_as_quoted(line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the quoted runs and input folders exist, and configs/
    (tmp_path / "configs").symlink_to(README.parent / "configs")
    for folder in ("runs/zeros2ones", "runs/zeros2ones-plain", "runs/color", "runs/digits", "runs/bigan", "my_zeros",
                   "my_digits", "gray"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    args = shlex.split(line)
    ctx = click.Context(cli, info_name="ot-gan")
    name, command, rest = cli.resolve_command(ctx, args)
    sub = click.Context(command, info_name=name, parent=ctx)
    if isinstance(command, click.Group):
        name, command, rest = command.resolve_command(sub, rest)
        sub = click.Context(command, info_name=name, parent=sub)
    command.parse_args(sub, rest)  # raises click.UsageError on an unknown flag or a bad value
    assert not sub.args  # nothing left over


def flags(command: click.Command) -> set[str]:
    """The long flags of ``command`` and of its subcommands, --help included."""
    own = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | {"--help"}
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            own |= flags(command.get_command(ctx, name))
    return own


def test_flags_quoted_in_the_prose_are_ot_gans() -> None:
    """The README said `--group 8` where the flag is --group-size (a bench script's or torchrun's
    flags are quoted with their command)."""
    spans = re.findall(r"`([^`\n]+)`", README.read_text())
    quoted = {f for s in spans if not s.startswith(("python ", "torchrun "))
              for f in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", s)}
    assert quoted and quoted <= flags(cli), sorted(quoted - flags(cli))


@pytest.mark.slow
def test_the_tour_runs_as_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of the tour, in the README's order and one folder, as quoted, with the training
    cut short: the engine's time budget runs out after 2 steps, every W1 critic takes 5, and the
    scoring classifier of synthesize eval and the feature network of the README's snippet 20."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(Pace, "spent", lambda self: self.steps >= 2)
    init = CriticEstimator.__init__
    monkeypatch.setattr(CriticEstimator, "__init__", functools.wraps(init)(  # the signature: wasserstein1 reads it
        lambda self, *args, **kwargs: init(self, *args, **{**kwargs, "steps": 5, "min_steps": 5})))
    classifier = synthesize.train_classifier
    monkeypatch.setattr(synthesize, "train_classifier", lambda data, steps, *args: classifier(data, 20, *args))
    (tmp_path / "configs").symlink_to(README.parent / "configs")
    rng = np.random.default_rng(0)
    for folder, shape in (("my_zeros", (16, 16, 3)), ("gray", (24, 20)), ("my_digits", (8, 8))):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
                   if "digit_features.pt" in block)
    exec(snippet.replace("range(1000)", "range(20)"), {})  # the README's feature network
    for line in COMMANDS:
        result = CliRunner().invoke(cli, shlex.split(line))
        assert result.exit_code == 0, (line, result.output, result.exception)
