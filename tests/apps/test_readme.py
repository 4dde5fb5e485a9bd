"""Every command of the README's CLI tour parses as quoted: each subcommand and flag exists and
each value is of the flag's type (the runs themselves are what the other app tests do, smaller)."""

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
