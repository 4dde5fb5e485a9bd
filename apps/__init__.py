"""The applications a user runs (installed as ``ot_gan.apps``); ``cli`` is the ``ot-gan`` command."""
