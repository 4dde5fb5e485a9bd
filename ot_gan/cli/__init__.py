"""The ``ot-gan`` command line: the group and its subcommands."""

from __future__ import annotations

import logging
import warnings

import click

from ot_gan.cli.common import Group, NoteHandler, show_warning
from ot_gan.sources import SOURCES

# name -> (module, summary); each module is imported when its command runs (tests check the summaries)
COMMANDS = {
    "colorize": ("ot_gan.cli.colorize", "Several plausible colorings of each gray image."),
    "synthesize": ("ot_gan.cli.synthesize", "Class-conditional image synthesis: AM-GAN and Lipschitz GANs."),
    "translate": ("ot_gan.cli.translate", "OT-guided unpaired image translation (OT-CycleGAN)."),
    "wdist": ("ot_gan.cli.wdist", "Estimate the Wasserstein-1 distance between SOURCE_A and SOURCE_B."),
}


SYNTAX_WIDTH = max(len(s.syntax) for s in SOURCES.values()) + 1
HELP = """Optimal transport and Lipschitz GANs: W1 between datasets, OT-guided image translation,
diverse colorization and class-conditional synthesis.

Data arguments take a folder of images, a .npy/.npz array, or a built-in source (a folder named
like one is written ./NAME):

\b
""" + "\n".join(f"  {s.syntax:<{SYNTAX_WIDTH}}{s.help}" for s in SOURCES.values())


@click.group(cls=Group, lazy=COMMANDS, help=HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ot-gan")
def cli() -> None:
    """The ``ot-gan`` group: its help is HELP, which lists the built-in sources of the registry. The
    library's notes (``logging.getLogger("ot_gan")``, INFO) are printed as ``ot-gan: note:`` lines."""
    library = logging.getLogger("ot_gan")
    if not any(isinstance(h, NoteHandler) for h in library.handlers):
        library.addHandler(NoteHandler())
    library.setLevel(logging.INFO)


def main() -> None:
    """Entry point of the ``ot-gan`` console script: warnings as one line each, then the group."""
    warnings.showwarning = show_warning
    cli(prog_name="ot-gan")


