"""storage_trials_per_s: trivial trials per second through pairsearch's budget loop.

For SQLite, an Optuna journal file and PostgreSQL, at 1, 4 and 8 worker processes (spawned,
as ``tune`` spawns them). Each worker repeats the real claim step of the worker runtime,
:func:`pairsearch.workers.runtime.claim_one` (study lock, stale sweep, count, create, run, tell), on a
storage opened by :meth:`pairsearch.storage.handle.StorageHandle.open`; the objective reports once and returns a float. The
rate is finished trials ÷ (first trial start → last trial end), read from the storage.

The worker processes are started once and reused for every storage and worker count, so
their start-up (importing torch and Optuna) is not part of any figure; before each
measurement every worker opens the storage and loads the study, then all start together.
Only the wait between full-budget checks differs from ``tune`` (50 ms instead of 2 s), which
only matters at the very end of a study.

PostgreSQL: a database ``bench_<random>`` is created on ``$PAIRSEARCH_BENCH_PG`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) and dropped afterwards; when the
server cannot be reached the figure records why and goes on.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import time
import uuid
from collections.abc import Iterator
from typing import Self

from bench.common import BenchError, Context, finished, load_trials, span_seconds

WORKER_COUNTS = (1, 4, 8)
TRIALS = {True: 20, False: 200}
PG_ENV = "PAIRSEARCH_BENCH_PG"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPLY_TIMEOUT = 600.0


def trivial_objective(trial) -> float:
    trial.report(0.5, step=1)
    return 0.5


def run(*, ctx: Context) -> dict:
    trials = TRIALS[ctx.quick]
    raw: dict = {"trials_per_measurement": trials, "worker_counts": list(WORKER_COUNTS)}
    notes = []
    with WorkerPool(size=max(WORKER_COUNTS)) as pool:
        for kind, url_context in storages(ctx):
            try:
                with url_context as url:
                    raw[kind] = {
                        f"workers_{workers}": measure(url=url, study=f"throughput-{workers}",
                                                      workers=workers, trials=trials, pool=pool)
                        for workers in WORKER_COUNTS
                    }
            except Unavailable as reason:
                raw[kind] = {"skipped": str(reason)}
                notes.append(f"{kind} skipped: {reason}")
    values, parts = {}, []
    for kind in ("sqlite", "journal", "postgresql"):
        if "skipped" in raw[kind]:
            parts.append(f"{kind} skipped")
            continue
        rates = [raw[kind][f"workers_{w}"]["trials_per_s"] for w in WORKER_COUNTS]
        for workers, rate in zip(WORKER_COUNTS, rates):
            values[f"storage_trials_per_s.{kind}.{workers}"] = rate
        parts.append(f"{kind} " + "/".join(f"{rate:.1f}" for rate in rates))
    return {
        "values": values,
        "targets": {},
        "raw": raw,
        "notes": notes,
        "cells": {"storage_trials_per_s": "; ".join(parts) + " (trials/s at " +
                  "/".join(map(str, WORKER_COUNTS)) + " workers)"},
    }


class Unavailable(Exception):
    """A storage that cannot be measured here (no server)."""


def storages(ctx: Context):
    yield "sqlite", contextlib.nullcontext(ctx.sqlite_url("throughput"))
    yield "journal", contextlib.nullcontext(f"journal:{ctx.path('throughput.log')}")
    yield "postgresql", postgres_database()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the bench's Postgres server, dropped afterwards."""
    import sqlalchemy

    server = os.environ.get(PG_ENV, PG_DEFAULT)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT",
                                         connect_args={"connect_timeout": 5})
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 -- no server, no driver, no rights: say which, go on
        from pairsearch.storage.failures import describe_error

        raise Unavailable(f"PostgreSQL at {server.rsplit('@', 1)[-1]}: {describe_error(error)}") from None
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(*, url: str, study: str, workers: int, trials: int, pool: WorkerPool | None = None) -> dict:
    """Run ``trials`` trivial trials with ``workers`` processes; the rate from the storage's times."""
    import optuna

    from pairsearch.storage.handle import StorageHandle

    optuna.create_study(study_name=study, storage=StorageHandle.resolve(url=url).open(), direction="maximize")
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(WorkerPool(size=workers))
        started = time.perf_counter()
        ran = pool.run(url=url, study=study, budget=trials, workers=workers)
        wall = time.perf_counter() - started
    every = load_trials(url=url, study=study)
    done = finished(every)
    if len(done) != trials:
        raise BenchError(f"{url.split(':')[0]} with {workers} workers finished {len(done)} of {trials} trials")
    span = span_seconds(done)
    return {
        "trials": len(done),
        "failed": len(every) - len(done),
        "span_seconds": round(span, 4),
        "trials_per_s": round(len(done) / span, 3),
        "trials_per_worker": ran,
        "wall_seconds": round(wall, 3),
    }


class WorkerPool:
    """Spawned worker processes that run budget loops on command (started once, reused)."""

    def __init__(self, *, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.replies = context.Queue()
        self.commands = [context.Queue() for _ in range(size)]
        self.processes = [
            context.Process(target=worker_main, args=(index, commands, self.replies), daemon=True)
            for index, commands in enumerate(self.commands)
        ]
        for process in self.processes:
            process.start()
        self._collect("ready", range(size))

    def run(self, *, url: str, study: str, budget: int, workers: int) -> list[int]:
        """Open the study in ``workers`` workers, then start their loops together."""
        chosen = range(workers)
        for index in chosen:
            self.commands[index].put(("open", url, study, budget))
        self._collect("opened", chosen)
        for index in chosen:
            self.commands[index].put(("go",))
        return [value for _, value in sorted(self._collect("done", chosen).items())]

    def _collect(self, expected: str, indices) -> dict:
        waiting, values = set(indices), {}
        while waiting:
            try:
                kind, index, value = self.replies.get(timeout=REPLY_TIMEOUT)
            except queue.Empty:
                raise BenchError(f"storage workers did not answer '{expected}' in time") from None
            if kind == "error":
                raise BenchError(f"storage worker {index}: {value}")
            if kind == expected:
                waiting.discard(index)
                values[index] = value
        return values

    def close(self) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def worker_main(index: int, commands, replies) -> None:
    """A pool worker: import what ``tune`` workers import, then serve budget loops."""
    import optuna

    from pairsearch import tuning
    from pairsearch.storage import handle as storage
    from pairsearch.workers import runtime

    replies.put(("ready", index, os.getpid()))
    while (command := commands.get()) is not None:
        try:
            _, url, study_name, budget = command
            handle = storage.StorageHandle.resolve(url=url)
            study = optuna.load_study(study_name=study_name, storage=handle.open(),
                                      sampler=optuna.samplers.RandomSampler(seed=index))
            queue = runtime.WorkQueue(study=study, objective=trivial_objective,
                                      decide=functools.partial(tuning.budget_decision, budget=budget))
            replies.put(("opened", index, None))
            commands.get()  # "go"
            ran = 0
            while (outcome := runtime.claim_one(handle=handle, queue=queue)) != "done":
                if outcome == "ran":
                    ran += 1
                else:
                    time.sleep(0.05)  # running trials hold the rest of the budget
            replies.put(("done", index, ran))
        except Exception as error:  # noqa: BLE001 -- the parent raises it as a BenchError
            replies.put(("error", index, f"{type(error).__name__}: {error}"))
