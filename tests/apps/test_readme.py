"""Every command of the README's CLI tour parses as quoted: each subcommand and flag exists and
each value is of the flag's type (the runs themselves are what the other app tests do, smaller);
and every flag the prose quotes is one of ot-gan's."""

import re
import shlex
from pathlib import Path

import click
import pytest

from ot_gan.apps.cli import cli

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
    """The long flags of ``command`` and of its subcommands."""
    own = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
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
