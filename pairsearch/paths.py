"""Paths the file system can take: every name in a path, and the whole path, within the limits of
``defaults`` (``NAME_MAX_BYTES``, ``PATH_MAX_BYTES``), with room for what pairsearch makes in or
beside it. A path refused is one line that says which name, how long it is, and the limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from pairsearch.defaults import NAME_MAX_BYTES, PATH_MAX_BYTES
from pairsearch.errors import PairsearchError


def check_name(name: str, *, what: str, fix: str, room: int = 0, room_for: str = "") -> None:
    """Refuse a file or folder name longer than a file system takes, less ``room`` bytes.

    Args:
        name: The name (one part of a path).
        what: What it is, for the message (``the storage file name``).
        fix: What to do instead, for the message.
        room: Bytes that names made from it add (a lock file's suffix).
        room_for: What adds them, for the message (``its lock files``).
    """
    size = len(os.fsencode(name))
    if size + room > NAME_MAX_BYTES:
        added = f" and {room_for} add {room}" if room else ""
        raise PairsearchError(f"{what} {shown(name)} is {size} bytes; a file system takes names of at most "
                              f"{NAME_MAX_BYTES}{added}: {fix}")


def check_path(path: Path, *, what: str, fix: str, room: int, room_for: str) -> None:
    """Refuse a path with a name longer than a file system takes, or longer as a whole than the
    kernel takes with ``room`` bytes more.

    A name that needs more room (a storage file's, with its lock files' suffix) is checked by
    :func:`check_name` first; here every name gets the file system's limit.

    Args:
        path: The path as given.
        what: What it is, for the message (``the data dir``).
        fix: What to do instead, for the message.
        room: Bytes that the longest path made in or beside it adds.
        room_for: What adds them, for the message (``the files made in it``).
    """
    for name in Path(path).parts:
        check_name(name, what=f"{what}'s folder", fix=fix)
    size = len(os.fsencode(str(path)))
    if size + room > PATH_MAX_BYTES:
        raise PairsearchError(f"{what} is {size} bytes; with {room_for}, it must fit in {PATH_MAX_BYTES}: {fix}")


def shown(name: str) -> str:
    """``name`` for a message: escaped as Python writes it, its middle left out when it is long."""
    return ascii(name if len(name) <= 40 else f"{name[:20]}...{name[-12:]}")
