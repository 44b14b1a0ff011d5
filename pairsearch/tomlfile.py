"""Small TOML data files read safely, and their tables checked key by key, with one-line errors.

Study files (:mod:`pairsearch.studyspec`) are read and checked with these: a file that never
ends, a pipe, a directory, a file in another encoding or not TOML at all gives one line naming
the file; a bad value gives one line naming its key, the value quoted short and escaped.
"""

from __future__ import annotations

import codecs
import datetime
import json
import os
import re
import stat
import tomllib
from pathlib import Path

from pairsearch.errors import PairsearchError

# The shipped study files are under 2 KiB. The bound keeps a wrong path (/dev/zero, a data
# file) from being read whole; pipes and devices are refused before any read.
MAX_FILE_BYTES = 1 << 20
# Byte-order marks of text that is not UTF-8 (UTF-32 first: its little-endian mark begins
# with UTF-16's). A UTF-8 mark, which some Windows editors write, is skipped.
FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
TOML_TYPE_NAMES = {
    bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
    dict: "a table", datetime.datetime: "a date-time", datetime.date: "a date", datetime.time: "a time",
}
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # a key TOML writes without quotes
MAX_SHOWN = 40  # characters of a value from the file quoted in a message: it is one short line


def file_error(path: Path, message: str) -> PairsearchError:
    """``PATH: message``, the path escaped if it holds a character that would break the line."""
    name = str(path)
    return PairsearchError(f"{name if name.isprintable() else ascii(name)}: {message}")


def read_toml_file(*, path: Path, kind: str) -> dict:
    """A small TOML data file as a dict: a regular file of at most 1 MiB, UTF-8, valid TOML.

    Args:
        path: The file.
        kind: What the file is for the user (``study file``), as it appears in a message.

    Raises:
        PairsearchError: one line naming the file.
    """
    path = Path(path)
    return _parse_toml(path=path, text=_decode(path=path, content=_read_bounded(path=path, kind=kind)), kind=kind)


def _read_bounded(*, path: Path, kind: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`."""
    try:
        # Non-blocking: opening a FIFO must not wait for a writer that never comes.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise file_error(path, f"{kind} not found") from None
    except OSError as error:
        raise file_error(path, f"cannot read ({error.strerror})") from None
    except ValueError:  # a NUL byte: no file can have that name
        raise file_error(path, f"not a {kind} path: it holds a NUL byte") from None
    try:
        _check_regular(path=path, mode=os.fstat(descriptor).st_mode, kind=kind)
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            content = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise file_error(path, f"cannot read ({error.strerror})") from None
    finally:
        os.close(descriptor)
    if len(content) > MAX_FILE_BYTES:
        raise file_error(path, f"larger than {MAX_FILE_BYTES >> 20} MiB, so not a {kind}")
    return content


def _check_regular(*, path: Path, mode: int, kind: str) -> None:
    if stat.S_ISDIR(mode):
        raise file_error(path, f"is a directory, not a {kind}")
    if not stat.S_ISREG(mode):
        raise file_error(path, f"is a device, pipe or socket, not a {kind}")


def _decode(*, path: Path, content: bytes) -> str:
    """UTF-8 text (TOML's only encoding), a UTF-8 byte-order mark skipped."""
    for mark, encoding in FOREIGN_BOMS:
        if content.startswith(mark):
            raise file_error(path, f"not UTF-8 text: it is {encoding}; save it as UTF-8")
    if b"\x00" in content:  # valid UTF-8 that TOML forbids: UTF-16 without a mark, or binary
        raise file_error(path, "not UTF-8 text: it holds NUL bytes (UTF-16, or a binary file?)")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, byte = content.count(b"\n", 0, error.start) + 1, content[error.start]
        raise file_error(path, f"not UTF-8 text (line {line} has the byte 0x{byte:02x})") from None


def _parse_toml(*, path: Path, text: str, kind: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise file_error(path, f"not valid TOML: {_shortened_toml_error(str(error))}") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise file_error(path, f"not valid TOML for a {kind}: nested too deeply") from None
    except ValueError:  # tomllib lets Python's limit on the digits of an integer through
        raise file_error(path, "not valid TOML: an integer with thousands of digits") from None


def _shortened_toml_error(text: str) -> str:
    """tomllib's message with any key it quotes cut short, its position kept."""
    message, at, position = text.rpartition(" (at ")
    return f"{shortened(message)}{at}{position}" if at else shortened(text)


class TableError(Exception):
    """A key of a TOML document and what is wrong with its value (the loader adds the file)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


# --- checks of a table's keys and values ---------------------------------------------------


def check_keys(table: dict, *, allowed: set[str], where: str, context: str = "") -> None:
    for key in table:
        if key not in allowed:
            raise TableError(key_path(where, key), f"unknown key{context}; valid keys: {', '.join(sorted(allowed))}")


def require(table: dict, key: str, kind: type | tuple, where: str):
    if key not in table:
        raise TableError(where, "missing")
    check_type(table[key], kind, where)
    return table[key]


def check_type(value: object, kind: type | tuple, where: str) -> None:
    """``value`` is a ``kind``; a bool is never a number here (Python says it is an int)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = "a number" if kinds == (int, float) else type_name(kinds[0])
        raise TableError(where, f"must be {expected}, got {described(value)}")


def integer(value: object, where: str, *, low: int, high: int) -> int:
    check_type(value, int, where)
    if not low <= value <= high:
        raise TableError(where, f"must be an integer from {low} to {high}, got {shown(value)}")
    return value


def check_choice(value: str, choices: tuple, where: str, *, error: type = PairsearchError) -> str:
    if value not in choices:
        message = f"{shown(value)} is not one of: {', '.join(choices)}"
        raise error(where, message) if error is TableError else error(f"{where}: {message}")
    return value


# --- how values from the file appear in a message --------------------------------------------


def key_path(where: str, name: str) -> str:
    """The dotted path of a key, the key quoted as TOML quotes it when it is not a bare key."""
    quoted = name if BARE_KEY.fullmatch(name) else shortened(json.dumps(name))
    return f"{where}.{quoted}" if where else quoted


def type_name(kind: type) -> str:
    return TOML_TYPE_NAMES.get(kind, f"a {kind.__name__}")


def shown(value: object) -> str:
    """A value, short and escaped (a string as Python quotes it); a table or an array by its type."""
    if isinstance(value, (dict, list)):
        return type_name(type(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return shortened(repr(value))


def described(value: object) -> str:
    """A value's TOML type, and the value: ``a float (1000000000.0)``."""
    if isinstance(value, (dict, list)):
        return type_name(type(value))
    return f"{type_name(type(value))} ({shown(value)})"


def shortened(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"
