"""The data dir on disk: a path the file system takes, files written whole or not at all, clear failures.

Every file pairsearch writes for its data (the pool cache, downloaded MNIST) goes under the
data dir it was given (``--data-dir`` / ``$PAIRSEARCH_DATA_DIR``) and nowhere else; a failure
on the way (a full disk, a read-only folder, no network) is one line and leaves no temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pairsearch import paths
from pairsearch.errors import PairsearchError

# The longest path pairsearch makes inside a data dir (MNIST/raw/…-idx3-ubyte.gz, a cache's temporary file).
LONGEST_INSIDE_BYTES = 64


def check_data_dir(data_dir: Path) -> None:
    """Refuse, before any file under it is looked at, a data dir the file system cannot name."""
    paths.check_path(Path(data_dir), what="the data dir", fix="give a shorter --data-dir",
                     room=LONGEST_INSIDE_BYTES, room_for="the files made in it")


def write_whole(*, path: Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed into place.

    Parallel workers never read a half-written file; on any failure the temporary file is
    removed and one line says why.

    Args:
        path: The file to write.
        data: Its whole contents.
        what: What the file is, for the message (``the data dir's pool cache``).
    """
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        temporary = Path(name)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        temporary.replace(path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
        hint = "free some space there, or give another --data-dir" if error.errno == errno.ENOSPC else (
            "give a --data-dir this process can write")
        raise PairsearchError(f"cannot write {what} {path}: {error.strerror or error} ({hint})") from None


def made_folders(folder: Path) -> list[Path]:
    """The folders of ``folder``'s path that do not exist yet, deepest first (to remove on failure)."""
    return [part for part in [folder, *folder.parents] if not part.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove each folder that is there and empty, deepest first."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def why_not_downloaded(error: BaseException) -> str:
    """What stopped a download, in words: no network, a folder that cannot be written, or the error's first line."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    unreachable = [line for line in lines if "urlopen error" in line]
    if unreachable:
        return f"cannot reach the MNIST mirrors: {unreachable[-1].strip('<>').removeprefix('urlopen error ')}"
    return lines[0][:200] if lines else type(error).__name__
