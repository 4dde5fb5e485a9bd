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

from ot_gan.cli import COMMANDS, cli
from ot_gan.sources import SOURCES
from tests.cli.cli_run import run


def commands(cmd: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from commands(cmd.get_command(ctx, name), (*path, name))


def command_at(*path: str) -> click.Command:
    command: click.Command = cli
    for name in path:
        command = command.get_command(click.Context(command), name)
    return command


def help_text(*path: str) -> str:
    code, out, err = run(*path, "--help", width=200)
    assert code == 0, err
    return out


@pytest.mark.parametrize("path", list(commands()), ids=lambda p: " ".join(p) or "ot-gan")
def test_help_is_plain_text_and_device_says_what_it_does(path: tuple[str, ...]) -> None:
    text = help_text(*path)
    assert "``" not in text
    device = [line for line in text.splitlines() if line.strip().startswith("--device")]
    if device:
        assert "Where to run: auto picks cuda when a GPU is present." in device[0], device[0]  # Runtime's, once


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
    code, out, err = run("wdist", "gaussians:20", "rings:20", "--config", tmp_path / "c.yaml")
    assert code == 0 and json.loads(out)["method"] == "exact", err
    (tmp_path / "old.yaml").write_text("as_json: true\n")
    code, _, err = run("wdist", "gaussians:20", "rings:20", "--config", tmp_path / "old.yaml")
    assert code == 2 and "unknown keys as_json" in err and ", json," in err


def test_help_and_import_load_neither_torch_nor_the_commands() -> None:
    """``ot-gan --help``, ``--version`` and ``import ot_gan`` took 5-10 s, most of it importing torch,
    POT and SciPy."""
    code = ("import sys, ot_gan; from click.testing import CliRunner; from ot_gan.cli import cli; "
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
            "assert CliRunner().invoke(cli, ['--version'], prog_name='ot-gan').output.startswith('ot-gan, version'); "
            "print(sorted(m for m in ('torch', 'ot', 'scipy', 'ot_gan.cli.wdist') if m in sys.modules))")
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


def test_the_help_and_the_readme_list_the_registered_sources() -> None:
    """`ot-gan --help` and the README's table are the registry, row for row."""
    rows = [(s.syntax, s.help) for s in SOURCES.values()]
    listed = [line.split(None, 1) for line in help_text().splitlines() if line.startswith("    ")]
    assert [tuple(row) for row in listed] == rows
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("| built-in source | what it is |\n| --- | --- |\n")[1].split("\n\n")[0]
    assert [tuple(cell.strip(" `") for cell in line.strip("|").split("|")) for line in table.splitlines()] == rows


@pytest.mark.parametrize("path", [p for p in commands() if p and not isinstance(command_at(*p), click.Group)],
                         ids=" ".join)
def test_every_command_takes_a_config(path: tuple[str, ...]) -> None:
    assert "--config FILE" in help_text(*path)


def test_a_config_key_is_the_flag_even_where_the_field_is_not(tmp_path: Path) -> None:
    """``class`` for --class (the field class_), read by a command that uses a run."""
    (tmp_path / "c.yaml").write_text("class: '3'\nn: 5\nthreads: 2\ngrid: true\n")
    sample = command_at("synthesize", "sample")
    ctx = sample.make_context("sample", [str(tmp_path), "--output", str(tmp_path / "o"), "--config",
                                         str(tmp_path / "c.yaml")])
    assert (ctx.params["class_"], ctx.params["n"], ctx.params["threads"], ctx.params["grid"]) == ("3", 5, 2, True)
