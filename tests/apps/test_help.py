"""The help tells the truth: plain text, the real ranges, --device where it applies, and the
--config key of each flag is the flag's own name."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ot_gan.apps.cli import COMMANDS, cli


def commands(cmd: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from commands(cmd.get_command(ctx, name), (*path, name))


def help_text(*path: str) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", list(commands()), ids=lambda p: " ".join(p) or "ot-gan")
def test_help_is_plain_text_and_device_says_what_it_does(path: tuple[str, ...]) -> None:
    text = help_text(*path)
    assert "``" not in text
    device = [line for line in text.splitlines() if line.strip().startswith("--device")]
    if device:
        assert ("Where to train" in device[0]) == (path[-1] == "train"), device[0]


@pytest.mark.parametrize("path, shown", [
    (("translate", "train"), ["--lr FLOAT RANGE", "x>0]", "--size INTEGER RANGE", "x>=4]"]),
    (("colorize", "train"), ["[default: 64; x>=8]", "[default: 3; 0<=x<=6]"]),
    (("synthesize", "train"), ["[default: 0.0; 0<=x<1]", "[default: 32; x>=8]"]),
])
def test_ranges_are_the_real_ones(path: tuple[str, ...], shown: list[str]) -> None:
    text = help_text(*path)
    for part in shown:
        assert part in text, part


def test_the_config_key_of_json_is_json(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("json: true\nmethod: exact\n")
    result = CliRunner().invoke(cli, ["wdist", "gaussians:20", "rings:20", "--config", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0 and json.loads(result.stdout)["method"] == "exact", result.output
    (tmp_path / "old.yaml").write_text("as_json: true\n")
    result = CliRunner().invoke(cli, ["wdist", "gaussians:20", "rings:20", "--config", str(tmp_path / "old.yaml")])
    assert result.exit_code == 2 and "unknown keys as_json" in result.stderr and ", json," in result.stderr


def test_help_and_import_load_neither_torch_nor_the_commands() -> None:
    """``ot-gan --help``, ``--version`` and ``import ot_gan`` took 5-10 s, most of it importing torch,
    POT and SciPy."""
    code = ("import sys, ot_gan; from click.testing import CliRunner; from ot_gan.apps.cli import cli; "
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
            "assert CliRunner().invoke(cli, ['--version'], prog_name='ot-gan').output.startswith('ot-gan, version'); "
            "print(sorted(m for m in ('torch', 'ot', 'scipy', 'ot_gan.apps.wdist') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_the_listed_summaries_are_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command.get_short_help_str(limit=1000) == COMMANDS[name][1]


@pytest.mark.parametrize("path, preset", [(("translate", "train"), "configs/translate-cpu.yaml"),
                                          (("colorize", "train"), "configs/colorize-cpu.yaml"),
                                          (("synthesize", "train"), "configs/synthesize-cpu.yaml"),
                                          (("wdist",), "configs/wdist-images-cpu.yaml")])
def test_the_help_names_the_cpu_presets(path: tuple[str, ...], preset: str) -> None:
    assert preset in help_text(*path) and (Path(__file__).parents[2] / preset).is_file()
