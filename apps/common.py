"""What every ot-gan command shares: bad-input errors, --config, --device, --seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch
import yaml

from ot_gan.errors import InputError


class BadInput(click.ClickException):
    """One line on stderr and exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"ot-gan: error: {self.format_message()}", err=True)


class Group(click.Group):
    """A click group that turns the library's InputError into BadInput."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as err:
            raise BadInput(str(err)) from None


def load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config FILE``: YAML whose keys are the command's option names; flags override it."""
    if value is None:
        return None
    path = Path(value)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"{value}: cannot read the config ({err.__class__.__name__}: {err})") from None
    if not isinstance(config, dict):
        raise BadInput(f"{value}: a config is a YAML mapping of option names to values")
    names = {p.name for p in ctx.command.params if isinstance(p, click.Option)} - {"config"}
    config = {k.replace("-", "_"): v for k, v in config.items()}
    unknown = sorted(set(config) - names)
    if unknown:
        raise BadInput(f"{value}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    ctx.default_map = {**(ctx.default_map or {}), **config}
    return value


config_option = click.option("--config", type=click.Path(dir_okay=False), callback=load_config, is_eager=True,
                             expose_value=False, help="YAML file of option values; command-line flags override it.")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                             help="Where to train: auto picks cuda when a GPU is present.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")


threads_option = click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
                              help="CPU threads for torch (more than one can be far slower on a busy machine).")


def resolve_device(name: str, threads: int = 1) -> torch.device:
    """The torch device for --device, with torch's CPU thread count set to ``threads``."""
    torch.set_num_threads(threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device(name)
