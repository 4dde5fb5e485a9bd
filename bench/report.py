"""Write a bench script's table into docs/benchmarks.md, headed by the command, commit and machine
that made it.

A bench script registers the flag with ``add_write_flag(parser, title)``; ``python bench/NAME.py ...
--write`` then prints as usual and, when the script ends without an error, puts what it printed in
the section ``## title`` of docs/benchmarks.md. Inside a section each command has its own block,
between ``<!-- bench: COMMAND -->`` and ``<!-- /bench -->``: a rerun of the same command replaces
its block and leaves the prose around it as it was; a new command's block goes at the end of the
section, and a new title's section at the end of the file.
"""

from __future__ import annotations

import argparse
import atexit
import io
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
END = "<!-- /bench -->"
STOPPED = "Stopped before the end (Ctrl-C or SIGTERM): the rows above are the runs that finished."


def commit() -> str:
    """The checkout's short commit, with ``+changes`` when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    """The machine in a few words: architecture, cores, torch and the CUDA device if there is one."""
    words = [f"{platform.machine()}, {os.cpu_count()} cores"]
    try:
        import torch
    except ImportError:
        return words[0]
    words.append(f"torch {torch.__version__}")
    words.append(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
    return ", ".join(words)


def as_markdown(output: str) -> str:
    """Markdown tables (lines that start with ``|``) as they are; every other run of lines in a
    ``text`` code block, so that columns aligned with spaces stay aligned."""
    parts: list[str] = []
    for is_table, lines in _runs(output.strip("\n").splitlines()):
        if not is_table and not any(line.strip() for line in lines):
            continue
        parts.append("\n".join(lines) if is_table else "```text\n" + "\n".join(lines).strip("\n") + "\n```")
    return "\n\n".join(parts)


def _runs(lines: list[str]) -> list[tuple[bool, list[str]]]:
    runs: list[tuple[bool, list[str]]] = []
    for line in lines:
        is_table = line.lstrip().startswith("|")
        if runs and runs[-1][0] == is_table:
            runs[-1][1].append(line)
        else:
            runs.append((is_table, [line]))
    return runs


def block(command: str, table: str, made: str | None = None) -> str:
    """The block of one command: its marker, the line that says what made it, the table."""
    made = made or f"Made by `{command}` at commit {commit()} on {machine()}."
    return f"<!-- bench: {command} -->\n{made}\n\n{table.strip()}\n{END}"


def write_section(title: str, command: str, table: str, path: Path | str = BENCHMARKS) -> None:
    """Put ``table`` (markdown) under ``## title`` of ``path`` as the block of ``command``, headed
    by the command, the commit (``git rev-parse --short HEAD``) and the machine."""
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    new = block(command, table)
    heading = re.compile(rf"^## {re.escape(title)}[ \t]*$", re.M)
    found = heading.search(text)
    if found is None:
        path.write_text(text.rstrip("\n") + f"\n\n## {title}\n\n{new}\n")
        return
    following = re.compile(r"^## ", re.M).search(text, found.end())
    end = following.start() if following else len(text)
    section = text[found.end():end]
    old = re.compile(rf"<!-- bench: {re.escape(command)} -->\n.*?{re.escape(END)}", re.S)
    if old.search(section):
        section = old.sub(lambda _: new, section, count=1)
    else:
        section = section.rstrip("\n") + f"\n\n{new}\n" + ("\n" if following else "")
    path.write_text(text[:found.end()] + section + text[end:])


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, s: str) -> int:
        self.copy.write(s)
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()


def add_write_flag(parser: argparse.ArgumentParser, title: str | Callable[[argparse.Namespace], str]) -> None:
    """Give a bench script ``--write``: what the script prints from then on goes into the section
    ``title`` of docs/benchmarks.md when it ends without an error, or when Ctrl-C or SIGTERM stops
    it (then with a line that says so, so that an hour of finished runs is kept); ``title`` may
    depend on the parsed arguments."""

    class Write(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: object) -> None:
            setattr(namespace, self.dest, True)
            argv = [a for a in sys.argv[1:] if a != "--write"]
            command = shlex.join(["python", _script(), *argv])
            tee, ended = _Tee(sys.stdout), []
            sys.stdout = tee
            hook = sys.excepthook
            sys.excepthook = lambda kind, *rest: (ended.append(kind), hook(kind, *rest))
            signal.signal(signal.SIGTERM, _interrupt)

            def finish() -> None:
                sys.stdout = tee.stream
                if any(kind is not KeyboardInterrupt for kind in ended) or not tee.copy.getvalue().strip():
                    return
                output = tee.copy.getvalue()
                if ended:  # stopped by Ctrl-C or SIGTERM: a long bench keeps the runs that finished
                    output += f"\n{STOPPED}\n"
                name = title(namespace) if callable(title) else title
                write_section(name, command, as_markdown(output), BENCHMARKS)
                print(f"wrote the table into {os.path.relpath(BENCHMARKS, ROOT)} under '## {name}'", file=sys.stderr)

            atexit.register(finish)

    parser.add_argument("--write", action=Write, nargs=0, default=False,
                        help="also write what this prints into docs/benchmarks.md, with the command, commit and "
                             "machine")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _script() -> str:
    main = Path(sys.argv[0]).resolve()
    try:
        return str(main.relative_to(ROOT))
    except ValueError:
        return str(main)
