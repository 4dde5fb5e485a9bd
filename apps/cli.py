"""The ``ot-gan`` command line: the group and its subcommands."""

from __future__ import annotations

import warnings

import click

from ot_gan.apps import colorize, synthesize, translate, wdist
from ot_gan.apps.common import Group, show_warning


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ot-gan")
def cli() -> None:
    """Optimal transport and Lipschitz GANs: W1 between datasets, OT-guided image translation,
    diverse colorization and class-conditional synthesis.

    Data arguments take a folder of images, a .npy/.npz array, or a built-in source: digits,
    digits:K (one class), colordigits[:K] (digits in random colors), photos, gaussians, rings,
    checkerboard."""


cli.add_command(wdist.command)
cli.add_command(synthesize.command)
cli.add_command(translate.command)
cli.add_command(colorize.command)


def main() -> None:
    """Entry point of the ``ot-gan`` console script: warnings as one line each, then the group."""
    warnings.showwarning = show_warning
    cli(prog_name="ot-gan")


if __name__ == "__main__":
    main()
