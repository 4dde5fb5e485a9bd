"""``python -m ot_gan.cli``: the ``ot-gan`` command."""

from ot_gan.cli import main

main()
