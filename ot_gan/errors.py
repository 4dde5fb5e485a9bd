"""The errors for bad user input: the CLI turns them into one line and exit code 2."""


class InputError(ValueError):
    """Input the user can fix: a missing path, incompatible arrays, an unknown method..."""


class UnreadableImages(InputError):
    """Image files that cannot be read, all of them named."""
