"""What every ot-gan command shares: bad-input errors, --config, options from config dataclasses."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml
from tqdm.auto import tqdm

from ot_gan.errors import InputError, UnreadableImages, cli_setting
from ot_gan.options import SKIP_BAD, Runtime, option

if TYPE_CHECKING:  # the engine loads with the command that needs it, not for --help
    from ot_gan.engine import TrainResult

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    """One line on stderr and exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"ot-gan: error: {self.format_message()}", err=True)


def one_line(err: click.UsageError) -> BadInput:
    """A usage error as one line that names the command's help, instead of click's usage block."""
    where = f" (see {err.ctx.command_path} --help)" if err.ctx is not None else ""
    return BadInput(err.format_message().rstrip(".") + where)


class Group(click.Group):
    """A click group that turns usage errors, the library's InputError and file-system errors on a
    named path into BadInput (one line, exit 2), a diverged training into one line and exit 1, and
    Ctrl-C into one line and exit 130.

    Its subcommands are ``lazy``: name -> (module, summary); a module (with a ``command``) is
    imported only when its command runs, so that ``--help`` lists the summaries at once."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            self.add_command(importlib.import_module(self.lazy[name][0]).command, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1] if name in self.lazy else self.commands[name].get_short_help_str())
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:
            raise one_line(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:  # a subcommand's bad flag or value
            raise one_line(err) from None
        except UnreadableImages as err:
            raise BadInput(f"{err.render(cli_setting)}; --skip-bad goes on without them") from None
        except InputError as err:
            raise BadInput(err.render(cli_setting)) from None
        except OSError as err:  # a folder that cannot be written, a full disk...
            if err.filename is None:
                raise
            raise BadInput(f"{err.filename}: {err.strerror or err}") from None
        except RuntimeError as err:
            from ot_gan.engine import (
                TrainingDiverged,  # loaded already: only a training raises it
            )

            if not isinstance(err, TrainingDiverged):
                raise
            click.echo(f"ot-gan: {err.render(cli_setting)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:  # click would print "Aborted!" and exit 1
            click.echo("\not-gan: interrupted", err=True)
            sys.exit(130)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command line: one ``ot-gan: warning: ...`` line, without the
    source path and line that Python prints."""
    click.echo(f"ot-gan: warning: {' '.join(str(message).split())}", err=True)


class NoteHandler(logging.Handler):
    """The library's log records (``logging.getLogger("ot_gan")``, INFO and up) as ``ot-gan: note: ...``
    lines on stderr, written past any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(f"ot-gan: note: {record.getMessage()}", file=sys.stderr)


def note(text: str) -> None:
    """One ``ot-gan: note: ...`` line on stderr."""
    click.echo(f"ot-gan: note: {text}", err=True)


def load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config FILE``: YAML whose keys are the command's long flags without dashes (``batch_size``
    or ``batch-size`` for --batch-size, ``json`` for --json); flags override it."""
    if value is None:
        return None
    path = Path(value)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise BadInput(f"{value}: cannot read the config ({err.__class__.__name__}: {err})") from None
    except yaml.YAMLError as err:  # PyYAML's message spans lines: its problem and where, on one
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise BadInput(f"{value}: not valid YAML: {getattr(err, 'problem', None) or err}{where}") from None
    if not isinstance(config, dict):
        raise BadInput(f"{value}: a config is a YAML mapping of option names to values")
    options = {max(p.opts, key=len).lstrip("-").replace("-", "_"): p for p in ctx.command.params
               if isinstance(p, click.Option) and p.name != "config"}
    config = {str(k).replace("-", "_"): v for k, v in config.items()}
    config.pop("app", None)  # a run's config.yaml names its app
    unknown = sorted(set(config) - set(options))
    if unknown:
        raise BadInput(f"{value}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(options))})")
    for key, setting in config.items():
        check_config_value(value, options[key], setting, ctx)
    ctx.default_map = {**(ctx.default_map or {}), **{options[k].name: v for k, v in config.items()}}
    return value


def check_config_value(path: str, option: click.Option, setting: Any, ctx: click.Context) -> None:
    """Refuse a config value that the option's type would not take (``size: [16]``, ``betas: 0.9``)."""
    if option.nargs > 1 and not (isinstance(setting, list) and len(setting) == option.nargs):
        raise BadInput(f"{path}: {option.name}: {setting!r} is not a list of {option.nargs} values")
    try:
        option.type_cast_value(ctx, setting)
    except click.BadParameter as err:
        raise BadInput(f"{path}: {option.name}: {err.message.rstrip('.')}") from None
    except (TypeError, ValueError):
        raise BadInput(f"{path}: {option.name}: {setting!r} is not a valid {option.type.name}") from None


def config_yaml(config: Any) -> str:
    """A config's settings that are options, as YAML that ``--config`` reads back (paths as strings,
    tuples as lists)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if "help" in f.metadata}
    plain = {k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return yaml.safe_dump(plain, sort_keys=False)


print_config_option = click.option("--print-config", is_flag=True, help="Print the settings (defaults, --config "
                                   "and flags together) as a --config file, and stop.")
config_option = click.option("--config", type=click.Path(dir_okay=False), callback=load_config, is_eager=True,
                             expose_value=False, help="YAML file of option values; command-line flags override it.")


def option_type(field: dataclasses.Field) -> Any:
    """The click type of a config field: its choices, a range from its ``min``/``max`` metadata (at
    least 0 by default; ``min_open``/``max_open`` exclude the bound), or a path."""
    meta = field.metadata
    if "choices" in meta:
        return click.Choice(meta["choices"])
    default = field.default[0] if isinstance(field.default, tuple) else field.default
    kind = meta.get("type", type(default))
    if kind is int:
        return click.IntRange(meta.get("min", 0), meta.get("max"))
    if kind is float:
        return click.FloatRange(meta.get("min", 0), meta.get("max"), min_open=meta.get("min_open", False),
                                max_open=meta.get("max_open", False))
    return click.Path(path_type=Path) if kind is Path else kind


def config_options(cls: type) -> Callable[[F], F]:
    """One click option per field of the config dataclass ``cls`` that has help metadata (see
    ``ot_gan.options.option``), in the order of its ``__init__``, with the field's default;
    booleans get --x/--no-x. The flag is the field's name, or its ``flag`` metadata (``class``
    for the field ``class_``); ``required`` and ``metavar`` metadata pass on to click."""
    fields = {field.name: field for field in dataclasses.fields(cls) if "help" in field.metadata}
    order = [name for name in inspect.signature(cls).parameters if name in fields]

    def decorate(f: F) -> F:
        for field in (fields[name] for name in reversed(order)):
            default, flag = field.default, "--" + field.metadata.get("flag", field.name.replace("_", "-"))
            extra: dict[str, Any] = {"nargs": len(default)} if isinstance(default, tuple) else {}
            extra.update({key: field.metadata[key] for key in ("metavar", "required") if key in field.metadata})
            decls = [f"{flag}/--no-{flag[2:]}"] if isinstance(default, bool) else [flag]
            f = click.option(*decls, field.name, type=None if isinstance(default, bool) else option_type(field),
                             default=default, show_default=default is not None, help=field.metadata["help"],
                             **extra)(f)
        return f

    return decorate


def with_config(cls: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--config, --print-config and ``config_options(cls)`` for a command: the decorated function takes the config
    made of the parameters named as its fields (arguments too, such as RUN), then the others by
    name."""
    names = {field.name for field in dataclasses.fields(cls)}

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def command(print_config: bool, **params: Any) -> Any:
            config = cls(**{k: v for k, v in params.items() if k in names})
            if print_config:
                click.echo(config_yaml(config), nl=False)
                return None
            return f(config, **{k: v for k, v in params.items() if k not in names})

        return config_option(print_config_option(config_options(cls)(command)))

    return decorate


def run_argument(f: F) -> F:
    """RUN, the run directory of the commands that use a trained run."""
    return click.argument("run", type=click.Path(exists=True, path_type=Path))(f)


@dataclass(kw_only=True)
class UseRun(Runtime):
    """The settings of an apply or eval command: the run, seed, device, threads, --quiet, --skip-bad."""

    run: Path = dataclasses.field(kw_only=False)
    quiet: bool = option(False, "No progress bars.")
    skip_bad: bool = option(False, SKIP_BAD)


@dataclass(kw_only=True)
class Evaluation(UseRun):
    """The settings of an eval command (each app's extends it)."""

    w1_steps: int = option(1000, "Critic steps of each W1 estimate.", min=1)
    json: bool = option(False, "Print one JSON object.")


def run_options(f: F) -> F:
    """--out, --resume, --overwrite of every train command."""
    f = click.option("--overwrite", is_flag=True, help="Start afresh in an existing run directory of this app.")(f)
    f = click.option("--resume", is_flag=True, help="Require a checkpoint to resume from (re-running the same "
                     "command on its run directory resumes anyway).")(f)
    return click.option("--out", type=click.Path(path_type=Path), required=True,
                        help="Run directory: config, metrics, samples and checkpoints.")(f)


def train_command(config_cls: type, train: Callable[..., TrainResult], help: str,
                  cpu_preset: str | None = None) -> click.Command:
    """An app's ``train`` command: --config, --out/--resume/--overwrite and one option per field
    of ``config_cls``; ``train(config, out, overwrite, resume)`` runs it. Its help names the
    ``cpu_preset`` config, for apps whose defaults are sized for a GPU."""
    if cpu_preset:
        help += (f"\n\nThe defaults are sized for a GPU (a day or more on a CPU); on a CPU start from "
                 f"--config {cpu_preset} (in the repository). Every run estimates its time after its first steps, "
                 "and --max-time caps it.")

    @click.command("train", help=help)
    @run_options
    @with_config(config_cls)
    def command(config: Any, out: Path, resume: bool, overwrite: bool) -> None:
        if config.decay_steps > config.steps:
            note(f"--decay-steps {config.decay_steps} is more than --steps {config.steps}; the learning "
                 f"rate decays over all {config.steps} steps")
        result = train(config, out, overwrite, resume)
        if result.run is not None and not result.interrupted:  # rank 0; the engine reports a stop
            click.echo(f"finished step {result.step} after {result.seconds:.0f} s; run directory {result.run}",
                       err=True)

    return command


def eval_options(cls: type, format: Callable[[dict[str, Any]], str]) -> Callable[[Callable[..., dict[str, Any]]],
                                                                                Callable[..., None]]:
    """An app's eval command with the options of ``cls`` (an ``Evaluation``): the decorated function
    takes the config and returns the result, printed as one JSON object with --json and by
    ``format`` otherwise."""
    def decorate(evaluate: Callable[..., dict[str, Any]]) -> Callable[..., None]:
        @run_argument
        @with_config(cls)
        @functools.wraps(evaluate)
        def command(config: Evaluation) -> None:
            result = evaluate(config)
            click.echo(json.dumps(result) if config.json else format(result))

        return command

    return decorate
