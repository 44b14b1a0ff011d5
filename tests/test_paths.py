"""Names and paths the file system takes: each refusal is one line with the name, its length and the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pairsearch import paths
from pairsearch.defaults import NAME_MAX_BYTES, PATH_MAX_BYTES
from pairsearch.errors import PairsearchError


def refusal(check, *args, **kwargs) -> str:
    with pytest.raises(PairsearchError) as caught:
        check(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_name_at_the_limit_is_taken_and_one_byte_more_is_refused():
    paths.check_name("n" * NAME_MAX_BYTES, what="the name", fix="shorten it")
    message = refusal(paths.check_name, "é" * 128, what="the name", fix="shorten it")  # 256 bytes in UTF-8
    assert message.startswith("the name '\\xe9\\xe9") and "is 256 bytes" in message
    assert f"at most {NAME_MAX_BYTES}: shorten it" in message


def test_a_name_must_leave_room_for_the_names_made_from_it():
    paths.check_name("n" * (NAME_MAX_BYTES - 7), what="the file", fix="x", room=7, room_for="its locks")
    message = refusal(paths.check_name, "n" * (NAME_MAX_BYTES - 6), what="the file", fix="x", room=7,
                      room_for="its locks")
    assert f"is {NAME_MAX_BYTES - 6} bytes" in message and "its locks add 7" in message


def test_a_path_is_refused_for_a_long_folder_name_or_its_whole_length():
    folder = refusal(paths.check_path, Path("/tmp") / ("f" * 300) / "x", what="the dir", fix="move it",
                     room=0, room_for="nothing")
    assert folder.startswith("the dir's folder 'ffffffffffffffffffff...ffffffffffff' is 300 bytes")
    deep = Path("/" + "/".join(["d" * 200] * 20))  # 4020 bytes: fits alone, not with 100 more
    paths.check_path(deep, what="the dir", fix="move it", room=0, room_for="its files")
    whole = refusal(paths.check_path, deep, what="the dir", fix="move it", room=100, room_for="its files")
    assert whole == f"the dir is 4020 bytes; with its files, it must fit in {PATH_MAX_BYTES}: move it"


def test_a_name_is_shown_escaped_and_shortened():
    assert paths.shown("a\x1b[2Jb") == "'a\\x1b[2Jb'"
    assert paths.shown("x" * 41) == f"'{'x' * 20}...{'x' * 12}'"
