"""Passwords hidden: a storage URL, or any text that echoes one, shown with ``***``; user text shown literally."""

from __future__ import annotations

import pytest
from conftest import run_cli

from pairsearch.redaction import printable, redact, redact_urls, safe_line

PASSWORD = "s3cretpw"


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://postgres:{PASSWORD}@db.example.org:5432/pairsearch",
    f"postgresql://alice:{PASSWORD}@10.0.0.5/optuna",
    f"postgres://alice:{PASSWORD}@host/db",
    f"postgresql+psycopg://alice:{PASSWORD}@with@at@host/db",  # '@' inside the password
])
def test_redact_hides_the_password(url):
    shown = redact(url)
    assert PASSWORD not in shown
    assert "***" in shown
    assert shown.split("***@", 1)[1] == url.rsplit("@", 1)[1]  # host and database stay visible


@pytest.mark.parametrize("url", [
    "sqlite:///storage/pairsearch.db",
    "sqlite:////abs/path/p.db",
    "journal:/tmp/j.log",
    "runs/journal.log",
    "grpc://localhost:13000",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",  # a user but no password
])
def test_redact_leaves_urls_without_a_password_alone(url):
    assert redact(url) == url


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://u:{PASSWORD}@h/db",
    f"postgresql://u:{PASSWORD}@h:5432/db?sslmode=require",
    f"postgres://u:{PASSWORD}@[::1]:5432/db",
    f"postgresql+psycopg://u:{PASSWORD}:more@h/db",  # a ':' inside the password
    f"postgresql+psycopg://u:{PASSWORD}@with@at@h/db",  # an '@' inside the password
    f"postgresql+psycopg://u@h/db?sslmode=require&password={PASSWORD}",  # psycopg takes it there too
    f"postgresql+psycopg://u@h/db?PASSWORD={PASSWORD}&sslmode=require",
])
def test_redact_hides_any_password(url):
    assert PASSWORD not in redact(url)
    assert "***" in redact(url)




@pytest.mark.parametrize("text", [
    f"cannot open postgresql://u:{PASSWORD}@h/db: refused",
    f"'postgresql:/u:{PASSWORD}@127.0.0.1:1/x': recipe file not found",  # a URL as a path: '//' collapsed
    f"--workers: 'grpc://u:{PASSWORD}@h' is not a number",
])
def test_redact_urls_hides_every_password_in_a_line(text):
    shown = redact_urls(text)
    assert PASSWORD not in shown and "u:***@" in shown


@pytest.mark.parametrize(("text", "shown"), [
    ("/tmp/\x1b[31mred.db", "/tmp/\\x1b[31mred.db"),    # an escape sequence cannot colour the terminal
    ("a\nb\rc\x00d\te", "a\\nb\\rc\\x00d\\te"),          # one line stays one line
    ("plain / ünïcode ✓ [bold]x", "plain / ünïcode ✓ [bold]x"),
])
def test_printable_escapes_control_characters_and_keeps_the_rest(text, shown):
    assert printable(text) == shown


def test_a_safe_line_hides_the_password_and_escapes_control_characters():
    line = safe_line(f"no storage at postgresql://u:{PASSWORD}@h/db\x1b[2J")
    assert PASSWORD not in line and "\x1b" not in line and line.endswith("\\x1b[2J")


def test_a_path_with_an_escape_sequence_is_one_escaped_error_line(tmp_path, data_dir):
    result = run_cli(["status", "--storage", f"sqlite:///{tmp_path}/\x1b[31mred.db"], data_dir=data_dir)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\\x1b[31mred.db" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
