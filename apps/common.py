"""What every ot-gan command shares: bad-input errors, --config, --device, --seed."""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml

from ot_gan.errors import InputError, UnreadableImages, cli_setting

if TYPE_CHECKING:  # torch and the engine load with the command that needs them, not for --help
    import torch

    from ot_gan.engine import TrainResult

F = TypeVar("F", bound=Callable[..., Any])
POSITIVE = {"steps", "batch_size", "n_critic", "log_every", "checkpoint_every", "threads"}


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
            from ot_gan.engine import TrainingDiverged  # loaded already: only a training raises it

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


config_option = click.option("--config", type=click.Path(dir_okay=False), callback=load_config, is_eager=True,
                             expose_value=False, help="YAML file of option values; command-line flags override it.")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                             help="Where to run: auto picks cuda when a GPU is present.")
skip_bad_option = click.option("--skip-bad", is_flag=True, help="Leave out image files that cannot be read "
                               "(a warning counts them) instead of stopping.")
seed_option = click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Random seed.")


threads_option = click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
                              help="CPU threads for torch (more than one can be far slower on a busy machine).")


def resolve_device(name: str, threads: int = 1) -> torch.device:
    """The torch device for --device, with torch's CPU thread count set to ``threads``."""
    import torch

    torch.set_num_threads(threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device(name)


def option_type(field: dataclasses.Field, default: Any) -> Any:
    """The click type of a config field: its choices, or a range from its ``min``/``max`` metadata
    (integers default to at least 1 for counts in POSITIVE and at least 0 otherwise, floats to at
    least 0; ``min_open``/``max_open`` exclude the bound)."""
    meta = field.metadata
    if "choices" in meta:
        return click.Choice(meta["choices"])
    kind = meta.get("type", type(default))
    if kind is int:
        return click.IntRange(meta.get("min", 1 if field.name in POSITIVE else 0), meta.get("max"))
    if kind is float:
        return click.FloatRange(meta.get("min", 0), meta.get("max"), min_open=meta.get("min_open", False),
                                max_open=meta.get("max_open", False))
    return kind


def config_options(cls: type) -> Callable[[F], F]:
    """One click option per field of the config dataclass ``cls`` that has help metadata (see
    ``ot_gan.engine.trainer.option``), with the field's default; booleans get --x/--no-x."""
    defaults = cls()

    def decorate(f: F) -> F:
        for field in reversed(dataclasses.fields(cls)):
            if "help" not in field.metadata:
                continue
            default = getattr(defaults, field.name)
            flag = "--" + field.name.replace("_", "-")
            extra: dict[str, Any] = {"nargs": len(default)} if isinstance(default, tuple) else {}
            kind = option_type(field, default[0] if isinstance(default, tuple) else default)
            decls = [f"{flag}/--no-{flag[2:]}"] if isinstance(default, bool) else [flag]
            f = click.option(*decls, field.name, type=None if isinstance(default, bool) else kind, default=default,
                             show_default=default is not None, help=field.metadata["help"], **extra)(f)
        return f

    return decorate


def build_config(cls: type, options: dict[str, Any]) -> Any:
    """The config dataclass from the parsed options (fields without an option keep defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in options.items() if k in names})


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
    @config_option
    @run_options
    @config_options(config_cls)
    def command(out: Path, resume: bool, overwrite: bool, **options: Any) -> None:
        if options["decay_steps"] > options["steps"]:
            note(f"--decay-steps {options['decay_steps']} is more than --steps {options['steps']}; the learning "
                 f"rate decays over all {options['steps']} steps")
        result = train(build_config(config_cls, options), out, overwrite, resume)
        if result.run is not None and not result.interrupted:  # rank 0; the engine reports a stop
            click.echo(f"finished step {result.step} after {result.seconds:.0f} s; run directory {result.run}",
                       err=True)

    return command


@contextmanager
def staged_outputs(folder: Path, names: list[str]) -> Iterator[list[Path]]:
    """Paths for ``names`` (relative to ``folder``) in a temporary folder next to ``folder``, moved
    into ``folder`` when the block completes and removed when it fails, so that a failure leaves
    nothing half-written and a rerun works. Existing files are never overwritten."""
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{existing}: exists and is not a folder; choose another --output")
    taken = [name for name in names if (folder / name).exists()]
    if taken:
        more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
        raise InputError(f"{folder}: would overwrite {', '.join(taken[:3])}{more}; choose another --output")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        yield [staging / name for name in names]
        if not folder.exists():
            staging.rename(folder)
        else:  # an existing folder keeps its other files
            for name in names:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).rename(folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def used_run_options(f: F) -> F:
    """--quiet, --skip-bad, --seed, --device and --threads of the commands that use a trained run."""
    f = threads_option(device_option(seed_option(f)))
    f = skip_bad_option(f)
    return click.option("--quiet", is_flag=True, help="No progress bars.")(f)
