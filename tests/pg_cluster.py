"""A throwaway PostgreSQL cluster that a test starts, restarts and stops itself.

The shared server (``PAIRSEARCH_TEST_PG``) runs with ``trust`` authentication and must never
be restarted under other tests, so the tests that restart the server mid-study or need a real
password use their own cluster: Debian's ``initdb``/``pg_ctl`` run as the ``postgres`` user
(``initdb`` refuses root), in a temporary folder, on a free port, with password (SCRAM)
authentication for TCP connections.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot be made here, or None when it can."""
    if _bin_dir() is None:
        return "Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "needs root and runuser to run initdb/pg_ctl as the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres system user"
    return None




@dataclass
class Cluster:
    """One running server: ``url(database)`` connects with the password."""

    root: Path
    port: int
    password: str
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", str(_bin_dir() / "pg_ctl"), "-D", str(self.data),
             "-l", str(self.root / "server.log"), "-o", options, "-w", "-t", "60", *args],
            capture_output=True, text=True, check=check, timeout=90,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("restart", "-m", mode)

    def create_database(self, name: str | None = None) -> str:
        """A new database on this cluster; returns its URL (with the password)."""
        import sqlalchemy

        name = name or f"pairsearch_{uuid.uuid4().hex[:10]}"
        engine = sqlalchemy.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """initdb + start a cluster; stop it and delete every file afterwards."""
    reason = unavailable_reason()
    if reason:  # CI's machine has the server binaries and root: there, a missing part is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no throwaway PostgreSQL cluster: {reason}")
    # Not under pytest's tmp_path: its folders are private to root, and the server runs as
    # postgres. The socket path must stay short (a Unix socket path has ~100 bytes).
    root = Path(tempfile.mkdtemp(prefix="ps-pg-"))
    password = f"Pw{uuid.uuid4().hex[:12]}"
    try:
        (root / "pwfile").write_text(password + "\n")
        shutil.chown(root, user="postgres")
        shutil.chown(root / "pwfile", user="postgres")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(_bin_dir() / "initdb"), "-D", str(root / "data"),
             "-U", "postgres", "-A", "scram-sha-256", f"--pwfile={root / 'pwfile'}", "--no-sync",
             "-E", "UTF8"],
            capture_output=True, text=True, check=True, timeout=120,
        )
        (root / "pwfile").unlink()
        cluster = Cluster(root=root, port=free_port(), password=password)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster._pg_ctl("stop", "-m", "immediate", check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_until_accepting(cluster: Cluster, *, timeout: float = 30) -> None:
    import sqlalchemy

    deadline = time.monotonic() + timeout
    while True:
        try:
            engine = sqlalchemy.create_engine(cluster.url(), connect_args={"connect_timeout": 2})
            with engine.connect():
                pass
            engine.dispose()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
