"""The errors for bad user input: the CLI turns them into one line and exit code 2.

A library error that tells the user which setting to change names it as a placeholder, ``{name}``,
with the suggested value as a keyword (``None``: the setting alone). ``str(err)`` reads as Python,
``method='maxal'``; the CLI renders the same error with its flags, ``--method maxal``, so that the
library never names a flag and the command line never names a keyword argument."""

from typing import Any, Callable


def python_setting(name: str, value: Any) -> str:
    """A setting as a keyword argument: ``method='maxal'``, or ``out`` without a value."""
    return name if value is None else f"{name}={value!r}"


def cli_setting(name: str, value: Any) -> str:
    """A setting as a flag: ``--method maxal``, ``--overwrite`` for True, ``--out`` without a value."""
    flag = "--" + name.replace("_", "-")
    return flag if value is None or value is True else f"{flag} {value}"


class NamesSettings(Exception):
    """An error whose message names settings: ``InputError("use {method} for large sets",
    method="maxal")``. ``render`` writes them (keyword arguments by default, flags on the command
    line); only the placeholders of the given settings are replaced, other braces are left as they are."""

    def __init__(self, message: str, **settings: Any) -> None:
        self.template = message
        self.settings = settings
        super().__init__(self.render(python_setting))

    def render(self, setting: Callable[[str, Any], str]) -> str:
        """The message with each ``{name}`` written by ``setting(name, value)``."""
        text = self.template
        for name, value in self.settings.items():
            text = text.replace("{" + name + "}", setting(name, value))
        return text


class InputError(NamesSettings, ValueError):
    """Input the user can fix: a missing path, incompatible arrays, an unknown method..."""


class UnreadableImages(InputError):
    """Image files that cannot be read, all of them named."""
