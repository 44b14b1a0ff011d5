"""How each storage kind opens and comes to rest (the parts :class:`StorageHandle` does not show)."""

from __future__ import annotations

import sqlite3

from pairsearch import backends


def test_coming_to_rest_never_makes_a_file_that_was_moved_away(tmp_path):
    assert backends.rest_in_one_file(tmp_path / "moved-away.db") is False
    assert list(tmp_path.iterdir()) == []


def test_a_file_comes_to_rest_only_when_no_one_else_is_connected(tmp_path):
    db = tmp_path / "p.db"
    other = sqlite3.connect(db)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x INTEGER)")
    other.commit()

    assert backends.rest_in_one_file(db) is False  # a worker still connected: the log stays
    assert (tmp_path / "p.db-wal").exists()
    other.close()
    assert backends.rest_in_one_file(db) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.db"]
