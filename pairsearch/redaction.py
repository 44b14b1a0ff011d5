"""Text safe to show: a storage URL, or any text that may hold one, with the password hidden, and
user-supplied text shown literally (control characters escaped, so a path cannot drive the terminal).

Light on purpose (no Optuna, no SQLAlchemy): the CLI redacts its usage errors with it.
"""

from __future__ import annotations

import re

# "scheme:/" with any number of slashes: a URL given where a path was expected is shown as
# the path it became, with its "//" collapsed to "/", and its password must stay hidden there too.
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/+")
URL_IN_TEXT = re.compile(SCHEME.pattern + r"\S+")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for output, logs and errors.

    Both places a password can be are covered: ``user:PASSWORD@host`` and the query string
    (``?password=…``, which SQLAlchemy passes on to psycopg).
    """
    scheme = SCHEME.match(url)
    if scheme is None:
        return url
    head, rest = scheme.group(0), url[scheme.end():]
    rest = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", rest)
    if "@" not in rest:
        return f"{head}{rest}"
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}{user}:***@{host}" if ":" in credentials else f"{head}{rest}"


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it hidden (e.g. an echoed bad argument)."""
    return URL_IN_TEXT.sub(lambda match: redact(match.group(0)), text)


def printable(text: str) -> str:
    """``text`` with every character that is not printable (escape sequences, newlines, NUL)
    shown escaped, as Python writes it: ``\\x1b``, ``\\n``."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def safe_line(text: str) -> str:
    """One line for a terminal: passwords hidden, control characters escaped."""
    return printable(redact_urls(text))
