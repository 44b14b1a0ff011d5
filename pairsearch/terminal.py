"""The one status line for the user: what every command says on stderr besides its output.

Light on purpose (no optuna, no rich): ``archs`` and ``data info`` say things too and must answer at once.
"""

from __future__ import annotations

import sys

from pairsearch.redaction import safe_line


def say(message: str) -> None:
    """A status line for the user, on stderr so stdout stays machine-readable; like an error
    line, it never shows a password (a path or URL it echoes may hold one).

    Args:
        message: One line of text; control characters are shown escaped.
    """
    print(safe_line(message), file=sys.stderr, flush=True)
