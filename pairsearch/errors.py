"""The one exception type the CLI turns into a single stderr line and exit code 2, and that line."""

from pairsearch.redaction import safe_line

EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: as a shell reports a process ended by SIGINT


class PairsearchError(Exception):
    """A problem the user can fix: bad input, missing data, unreachable storage.

    The message is a single line. It must never contain a password; :func:`error_line` hides
    one anyway should a message echo a URL the user typed.
    """


def error_line(message: str) -> str:
    """The one stderr line a user error is shown as: the password of any URL in it hidden, control
    characters (of a path or name the user typed) escaped."""
    return f"pairsearch: error: {safe_line(message)}"
