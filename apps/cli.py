"""The ``ot-gan`` command line: the group and its subcommands."""

from __future__ import annotations

import warnings

import click

from ot_gan.apps.common import Group, show_warning

# name -> (module, summary); each module is imported when its command runs (tests check the summaries)
COMMANDS = {
    "colorize": ("ot_gan.apps.colorize", "Several plausible colorings of each gray image."),
    "synthesize": ("ot_gan.apps.synthesize", "Class-conditional image synthesis: AM-GAN and Lipschitz GANs."),
    "translate": ("ot_gan.apps.translate", "OT-guided unpaired image translation (OT-CycleGAN)."),
    "wdist": ("ot_gan.apps.wdist", "Estimate the Wasserstein-1 distance between SOURCE_A and SOURCE_B."),
}


@click.group(cls=Group, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ot-gan")
def cli() -> None:
    """Optimal transport and Lipschitz GANs: W1 between datasets, OT-guided image translation,
    diverse colorization and class-conditional synthesis.

    Data arguments take a folder of images, a .npy/.npz array, or a built-in source: digits,
    digits:K (one class), colordigits[:K] (digits in random colors), photos, gaussians, rings,
    checkerboard."""


def main() -> None:
    """Entry point of the ``ot-gan`` console script: warnings as one line each, then the group."""
    warnings.showwarning = show_warning
    cli(prog_name="ot-gan")


if __name__ == "__main__":
    main()
