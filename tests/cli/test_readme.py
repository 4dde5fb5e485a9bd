"""The README as a user meets it: every command it quotes parses and runs as quoted, its output reads
as quoted, and its figures are what the code prints where they are deterministic (POT's exact
values, sample counts and messages always; the quick start's critic, one thread on the CPU, in a
slow test). Also: every flag the prose quotes is one of ot-gan's, every link resolves inside the
repository, and docs/benchmarks.md is made of blocks that bench scripts can rewrite."""

import functools
import importlib
import math
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ot_gan.cli import cli
from ot_gan.engine.pace import Pace
from ot_gan.w1 import CriticEstimator

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TEXT = README.read_text()
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def fenced(text: str = TEXT) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)


def quoted_runs(text: str = TEXT) -> list[tuple[str, list[str]]]:
    """(the arguments after ``$ ot-gan``, the output lines quoted under it) for every command of the
    README's console blocks (fences without a language), in order."""
    runs: list[tuple[str, list[str]]] = []
    for block in (body for info, body in fenced(text) if not info):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = None
                if line.startswith("$ ot-gan "):
                    current = []
                    runs.append((line.removeprefix("$ ot-gan "), current))
            elif current is not None:
                current.append(line)
    return runs


RUNS = quoted_runs()
COMMANDS = [command for command, _ in RUNS]
FOLDERS = ("runs/zeros2ones", "runs/zeros2ones-plain", "runs/color", "runs/digits", "my_zeros", "gray")


def python_block(containing: str) -> str:
    return next(body for info, body in fenced() if info == "python" and containing in body)


def normalized(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def masked(text: str) -> str:
    """Figures as #, the critics auto chose between as @ (which one it keeps depends on the
    training, as the figures do), and a table's rule as -- whatever the width of its columns."""
    return re.sub(r"-{2,}", "--", re.sub(r"\b(maxal|bjorck)\b", "@", NUMBER.sub("#", text)))


def test_the_readme_quotes_commands_of_every_app() -> None:
    assert {c.split()[0] for c in COMMANDS} == {"wdist", "translate", "colorize", "synthesize"}


def test_the_readme_is_a_guide_of_at_most_300_lines() -> None:
    assert len(TEXT.splitlines()) <= 300


def test_the_quick_start_is_the_install_commands_run() -> None:
    """The install command runs the quick start's command, and the test command is CI's."""
    install, tests = [body.strip() for info, body in fenced() if info == "bash"][:2]
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e . && ")
    assert install.endswith(f"&& ot-gan {COMMANDS[0]}")
    assert tests.endswith("pip install -c constraints.txt -e '.[test]' && python -m pytest")


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses_as_quoted(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where the quoted runs and input folders exist, and configs/
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    for folder in FOLDERS:
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
    prose = re.sub(r"^```.*?^```$", "", TEXT, flags=re.M | re.S)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    quoted = {f for s in spans if not s.startswith(("python ", "torchrun "))
              for f in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", s)}
    assert quoted and quoted <= flags(cli), sorted(quoted - flags(cli))


def test_the_readme_links_resolve_inside_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", TEXT)
    assert links and all(not re.match(r"[a-z]+:|/|\.\./", link) and (ROOT / link).exists() for link in links), links
    assert "DESIGN" not in TEXT and "/work/" not in TEXT


def figure(lines: list[str], label: str) -> str:
    """The first figure of the row that starts with ``label``, as printed."""
    return next(NUMBER.findall(line.removeprefix(label))[0] for line in lines if line.startswith(label))


def test_the_quoted_exact_values_are_what_pot_gives() -> None:
    """POT's exact W1 beside every quoted critic, and `--method exact` alone, as printed; and the
    digits pair the quick start quotes for high dimension."""
    for command, lines in RUNS:
        if command.startswith("wdist"):
            args = [a for a in shlex.split(command) if a != "--quiet"]
            code, out = invoke([*args, "--method", "exact", "--quiet"])
            assert code == 0, out
            label = "exact (POT)" if "--method exact" not in command else "exact "
            assert figure(lines, label) == figure(out.splitlines(), "exact "), command
    code, out = invoke(["wdist", "digits:3", "digits:8", "--method", "exact", "--quiet"])
    assert re.search(r"digits:8`: exact (\S+), held-out", " ".join(TEXT.split())).group(1) == \
        f"{float(figure(out.splitlines(), 'exact ')):.3g}"


def test_the_pot_snippet_prints_its_figures() -> None:
    """Each line `EXPRESSION  # FIGURE (...)` of the POT part of the README's snippet (before the
    critic) evaluates to FIGURE, to its printed digits."""
    snippet, namespace, checked = python_block('method="exact"'), {}, 0
    code = snippet[:snippet.index("\nr = wasserstein1")]
    for line in code.splitlines():
        quoted = re.match(r"(.+?)\s+# (-?\d+\.\d+)\b", line)
        if not quoted:
            exec(line, namespace)
        else:
            expression, value = quoted.groups()
            digits = len(value.split(".")[1])
            assert round(float(eval(expression, namespace)), digits) == pytest.approx(float(value), abs=10 ** -digits / 2), line
            checked += 1
    assert checked >= 3


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def reads_as_quoted(quoted: list[str], out: str, cautions: bool = True) -> None:
    """The quoted output, paragraph by paragraph (pieces between blank or `...` lines), appears in
    order in ``out`` with every figure masked and the line breaks and spacing free; the lines whose
    figures do not depend on training (the sets, their sizes and units, what was written) appear as
    they are. Without ``cautions``, the quoted caution lines (which depend on the training) are not
    looked for."""
    pieces, piece, skip = [], [], False
    for line in quoted:
        if line.strip() in ("...", ""):
            pieces.append(piece)
            piece, skip = [], False
        elif line.startswith("caution:") and not cautions or skip:
            skip = True  # the caution and its wrapped lines
        else:
            piece.append(line)
    pieces.append(piece)
    text, start = masked(normalized(out.splitlines())), 0
    for piece in filter(None, pieces):
        found = text.find(masked(normalized(piece)), start)
        assert found >= 0, (normalized(piece), normalized(out.splitlines()))
        start = found
    def plain(text: str) -> str:
        return re.sub(r"-{2,}", "--", " ".join(text.split()))

    for line in quoted:
        if line.startswith(("W1 between", "distance:", "runs/", "colorized ", "wrote ")):
            assert plain(line) in plain(out), (line, out)


def cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's time budget runs out after 2 steps, every W1 critic takes 5 steps, and the
    scoring classifier of synthesize eval 20."""
    monkeypatch.setattr(Pace, "spent", lambda self: self.steps >= 2)
    init = CriticEstimator.__init__
    monkeypatch.setattr(CriticEstimator, "__init__", functools.wraps(init)(  # the signature: wasserstein1 reads it
        lambda self, *args, **kwargs: init(self, *args, **{**kwargs, "steps": 5, "min_steps": 5})))
    scoring = importlib.import_module("ot_gan.tasks.synthesize.score")  # `score` is also a function's name
    classifier = scoring.train_classifier
    monkeypatch.setattr(scoring, "train_classifier", lambda data, steps, *args: classifier(data, 20, *args))


@pytest.mark.slow
def test_the_tour_runs_as_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of the README, in its order and in one folder, as quoted, with the training cut
    short, prints what the README quotes under it (figures aside)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cut_short(monkeypatch)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    rng = np.random.default_rng(0)
    for folder, shape in (("my_zeros", (16, 16, 3)), ("gray", (24, 20))):  # two gray images, as the README's
        (tmp_path / folder).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    for line, quoted in RUNS:
        code, out = invoke(shlex.split(line))
        assert code == 0, (line, out)
        if not line.split()[1:2] == ["train"]:  # a training cut short says so instead of "finished"
            reads_as_quoted(quoted, out, cautions=False)


@pytest.mark.slow
def test_the_python_api_runs_as_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python snippet, with the training cut short."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    cut_short(monkeypatch)
    namespace: dict = {}
    exec(python_block("train_translator"), namespace)
    assert namespace["r"].basis == "held-out" and namespace["r"].ci95 is not None
    assert (tmp_path / "runs/zeros2ones-py/config.yaml").is_file()


@pytest.mark.slow
def test_the_quick_start_prints_the_quoted_figures() -> None:
    """The quick start in full (one thread on the CPU, seed 0: deterministic for a given torch):
    every figure of the critic's row as quoted, but its seconds; and what they say: the headline,
    the held-out figure of the critic auto keeps, within 15% of exact OT (in 2-D the plug-in W1 is
    close to the population's, but 400 held-out samples a side leave an interval of about +-10%:
    0.892 of exact on this draw, 0.81-0.98 for MaxAL on the toy pair's seeds 0-3), K within 0.05
    of 1 with a caution line once it is 2% off, and all samples below exact but within 10% of it
    (the critic climbs for thousands of steps here and stops at auto's half of the cap: all samples
    0.948 of exact; the caution line says so)."""
    command, quoted = RUNS[0]
    code, out = invoke(shlex.split(command) + ["--quiet", "--device", "cpu"])
    assert code == 0, out
    reads_as_quoted(quoted, out)
    row = [float(v.replace(",", "")) for v in NUMBER.findall(next(l for l in quoted if l.startswith("auto")))]
    got = [float(v.replace(",", "")) for v in NUMBER.findall(next(l for l in out.splitlines() if l.startswith("auto")))]
    assert len(got) == len(row) and all(math.isclose(a, b, rel_tol=2e-3) for a, b in zip(got[:-1], row[:-1])), (got, row)
    exact = float(NUMBER.findall(next(l for l in out.splitlines() if l.startswith("exact")))[0])
    held_out, all_samples, k = got[0], got[3], got[4]  # held-out, its interval, all samples, K, steps, seconds
    assert held_out == pytest.approx(exact, rel=0.15) and k == pytest.approx(1.0, abs=0.05), (got, exact)
    assert (abs(k - 1) > 0.02) == (f"caution: K = {k:.3f}" in out), out
    assert 0.9 * exact < all_samples < exact, (got, exact)


# ---- docs/benchmarks.md: blocks that the bench scripts write ----------------------------------------
BENCHMARKS = ROOT / "docs" / "benchmarks.md"


def test_every_benchmark_table_names_a_bench_command_that_can_rewrite_it() -> None:
    blocks = re.findall(r"<!-- bench: (.+?) -->\n(.+?)\n.*?<!-- /bench -->", BENCHMARKS.read_text(), flags=re.S)
    assert len(blocks) >= 10
    for command, header in blocks:
        args = shlex.split(command)
        script = ROOT / args[1]
        assert args[0] == "python" and script.parent.name == "bench" and script.is_file(), command
        source = script.read_text()
        assert "add_write_flag(" in source, f"{script.name} has no --write"
        assert all(f'"{a}"' in source for a in args[2:] if a.startswith("--")), command
        assert re.search(r"commit [0-9a-f]{7}", header) and f"`{command}" in header, header


def test_write_section_replaces_its_block_and_keeps_the_prose(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from report import write_section
    finally:
        sys.path.remove(str(ROOT / "bench"))
    path = tmp_path / "b.md"
    path.write_text("# Benchmarks\n\n## A\n\nprose before\n\n<!-- bench: python bench/x.py -->\nold\n\n| old |\n"
                    "<!-- /bench -->\n\nprose after\n\n## B\n\nother\n")
    write_section("A", "python bench/x.py", "| new |", path)
    write_section("A", "python bench/x.py", "| new |", path)
    write_section("A", "python bench/x.py --more", "| more |", path)
    write_section("C", "python bench/y.py", "| y |", path)
    text = path.read_text()
    assert "| old |" not in text and text.count("| new |") == 1 and "prose before" in text and "prose after" in text
    assert text.index("| new |") < text.index("prose after") < text.index("| more |") < text.index("## B")
    assert text.rstrip().endswith("| y |\n<!-- /bench -->") and "Made by `python bench/y.py` at commit" in text


def test_a_bench_stopped_by_sigterm_still_writes_the_rows_it_finished(tmp_path: Path) -> None:
    script = tmp_path / "bench.py"
    script.write_text(textwrap.dedent(f"""
        import argparse, os, signal, sys
        import torch  # as every bench script does: the machine line names its version
        from pathlib import Path
        sys.path.insert(0, {str(ROOT / "bench")!r})
        import report
        report.BENCHMARKS = Path({str(tmp_path / "b.md")!r})
        parser = argparse.ArgumentParser()
        report.add_write_flag(parser, "Long")
        parser.parse_args()
        print("| case | figure |", flush=True)
        print("| first | 1.0 |", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        print("| second | 2.0 |")
    """))
    done = subprocess.run([sys.executable, str(script), "--write"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    text = (tmp_path / "b.md").read_text()
    assert "## Long" in text and "| first | 1.0 |" in text and "second" not in text
    assert "Stopped before the end" in text
