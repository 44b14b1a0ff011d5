"""Storage paths and server hosts a user may mistype: one line, exit 2, no traceback, no byte changed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import optuna
import pytest
from conftest import main_in_process, run_cli, write_tiny_study

from pairsearch import tuning
from pairsearch.storage import files, locks
from pairsearch.storage.handle import StorageHandle

LONG_NAME = "a" * 300  # over any file system's 255-byte name


@pytest.fixture
def world(tmp_path) -> Path:
    """A folder with an Optuna SQLite storage, a journal file and a tiny study file."""
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'p.db'}")
    optuna.create_study(study_name="j", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))))
    (tmp_path / "folder.db").mkdir()
    write_tiny_study(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder``: its name → its bytes' sha256 (SQLite files read through SQLite's
    own rules are untouched: this test process never holds them open)."""
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def refused(world, data_dir, monkeypatch, capsys):
    """Run ``pairsearch ARGS`` in this process; assert one error line, exit 2, nothing changed."""

    def never(**kwargs):
        raise AssertionError("bad input reached the point of starting workers")

    monkeypatch.setattr(tuning, "run_workers", never)

    def call(args: list[str], *, words: list[str], env: dict | None = None) -> str:
        for key in ("PAIRSEARCH_STORAGE", "PAIRSEARCH_HEARTBEAT_SECONDS", "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value.format(dir=world))
        before = snapshot(world)
        code, stdout, stderr = main_in_process([arg.format(dir=world) for arg in args], capsys=capsys)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2, stderr
        assert "Traceback" not in stderr and stdout == ""
        assert len(lines) == 1 and lines[0].startswith("pairsearch: error: "), stderr
        for word in words:
            assert word.format(dir=world) in lines[0], lines[0]
        assert snapshot(world) == before, "a storage file changed, appeared or vanished"
        return lines[0]

    return call


TUNE = ["tune", "--arch", "base", "--trials", "2", "--study-file", "{dir}/base-tiny.toml", "--workers", "1"]


# --- an SQLite path over 255 bytes -------------------------------------------------------------


@pytest.mark.parametrize("command", [TUNE, ["status"], ["final-report", "--out", "{dir}/report"]])
def test_a_storage_file_name_over_255_bytes_is_one_line(refused, command):
    refused([*command, "--storage", f"sqlite:///{{dir}}/{LONG_NAME}.db"], words=["bytes", "at most"])


def test_a_storage_file_name_over_255_bytes_in_the_environment_is_one_line(refused):
    refused(TUNE, words=["bytes"], env={"PAIRSEARCH_STORAGE": f"sqlite:///{{dir}}/{LONG_NAME}.db"})


def test_a_folder_name_over_255_bytes_is_one_line(refused):
    refused(["status", "--storage", f"journal:{{dir}}/{LONG_NAME}/j.log"], words=["folder", "bytes"])


def test_a_name_that_leaves_no_room_for_its_lock_files_is_refused(refused):
    name = "b" * (files.NAME_MAX_BYTES - locks.LONGEST_SUFFIX_BYTES + 1)  # fits alone, not with ".x.lock"
    refused([*TUNE, "--storage", f"sqlite:///{{dir}}/{name}"], words=["lock files"])


def test_a_path_over_the_kernels_limit_is_one_line(refused):
    deep = "/".join(["c" * 200] * 21)
    refused(["status", "--storage", f"sqlite:///{{dir}}/{deep}/p.db"], words=["shorter path"])


# --- URL characters: never another file than the one named -------------------------------------


@pytest.mark.parametrize("name", ["a%41b.db", "q?mode=memory.db", "x#y.db", "p%2edb"])
@pytest.mark.parametrize("command", [TUNE, ["status"]])
def test_an_sqlite_path_a_url_would_read_as_another_file_is_refused(refused, command, name):
    refused([*command, "--storage", f"sqlite:///{{dir}}/{name}"], words=["SQLite path", "rename"])


def test_a_journal_path_is_taken_as_named(tmp_path):
    handle = StorageHandle.resolve(url=f"journal:{tmp_path}/a%41b?.log")
    optuna.create_study(study_name="s", storage=handle.open())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a%41b?.log"]


# --- a directory named as the storage ----------------------------------------------------------


@pytest.mark.parametrize("command", [TUNE, ["status"], ["dashboard"], ["final-report", "--out", "{dir}/report"]])
@pytest.mark.parametrize("url", ["sqlite:///{dir}/folder.db", "journal:{dir}/folder.db", "{dir}/logs.log"])
def test_a_directory_given_as_the_storage_says_so(refused, world, command, url):
    (world / "logs.log").mkdir(exist_ok=True)
    refused([*command, "--storage", url], words=["is a directory"])


# --- a journal URL pointed at an SQLite file ---------------------------------------------------


@pytest.mark.parametrize("command", [TUNE, ["status"], ["final-report", "--out", "{dir}/report"]])
def test_a_journal_url_pointed_at_an_sqlite_file_is_one_line(refused, command):
    refused([*command, "--storage", "journal:{dir}/p.db"], words=["SQLite database", "sqlite:///{dir}/p.db"])


def test_a_journal_url_pointed_at_another_applications_sqlite_file_is_one_line(refused, world):
    with sqlite3.connect(world / "invoices.db") as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    connection.close()
    refused([*TUNE, "--storage", "journal:{dir}/invoices.db"], words=["SQLite database"])


def test_a_journal_url_pointed_at_binary_bytes_is_one_line(refused, world):
    (world / "bin.log").write_bytes(bytes(range(256)) * 8)
    refused([*TUNE, "--storage", "journal:{dir}/bin.log"], words=["not an Optuna journal file"])


@pytest.mark.parametrize("content", [b"not a database\n", b"notes without a newline", b"[1, 2]\n"])
@pytest.mark.parametrize("command", [TUNE, ["status"]])
def test_a_journal_url_pointed_at_a_text_file_is_refused_untouched(refused, world, command, content):
    (world / "notes.txt").write_bytes(content)  # Optuna would read it as an empty journal and append to it
    refused([*command, "--storage", "journal:{dir}/notes.txt"], words=["not an Optuna journal file"])


@pytest.mark.parametrize("head", [b"", b"{", b'{"op_co', b'{"op_code":0,"worker_id":"w"'])
def test_a_journal_whose_first_line_is_still_being_written_is_taken(tmp_path, head):
    (tmp_path / "j.log").write_bytes(head)
    handle = StorageHandle.resolve(url=f"journal:{tmp_path}/j.log")
    handle.kind.refuse_foreign(handle)  # another worker is writing its first line: not refused


# --- servers: the host ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["no-such-host.invalid", "203.0.113.7", "h" * 300])
@pytest.mark.parametrize("command", ["storage-proxy", "dashboard"])
def test_a_bad_host_is_about_the_host_not_the_port(refused, command, host):
    line = refused([command, "--storage", "sqlite:///{dir}/p.db", "--host", host, "--port", "18080"],
                   words=["--host"] if len(host) > 100 or not host[0].isdigit() else ["not an address"])
    assert "choose another --port" not in line


# --- passwords: where --storage is documented -------------------------------------------------


def test_the_storage_option_says_a_password_there_is_visible_and_names_the_environment(data_dir):
    shown = run_cli(["tune", "--help"], data_dir=data_dir).stdout
    flat = " ".join(shown.replace("│", " ").split())
    assert "process list" in flat and "PAIRSEARCH_STORAGE instead" in flat
