"""The error for bad user input: the CLI turns it into one line and exit code 2."""


class InputError(ValueError):
    """Input the user can fix: a missing path, incompatible arrays, an unknown method..."""
