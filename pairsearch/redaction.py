"""Passwords never shown: a storage URL, or any text that may hold one, with the password hidden.

Light on purpose (no Optuna, no SQLAlchemy): the CLI redacts its usage errors with it.
"""

from __future__ import annotations

import re

URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for output, logs and errors.

    Both places a password can be are covered: ``user:PASSWORD@host`` and the query string
    (``?password=…``, which SQLAlchemy passes on to psycopg).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    rest = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", rest)
    if "@" not in rest:
        return f"{scheme}://{rest}"
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{rest}"


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it hidden (e.g. an echoed bad argument)."""
    return URL_IN_TEXT.sub(lambda match: redact(match.group(0)), text)
