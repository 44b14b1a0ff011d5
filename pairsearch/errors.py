"""The one exception type the CLI turns into a single stderr line and exit code 2."""


class PairsearchError(Exception):
    """A problem the user can fix: bad input, missing data, unreachable storage.

    The message is a single line, shown as is, so it must never contain a password.
    """
