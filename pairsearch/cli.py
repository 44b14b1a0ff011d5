"""The ``pairsearch`` command line: parse, call one stage, map user errors to exit code 2.

Heavy imports (torch, optuna) happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import Abort, Exit, TyperException

from pairsearch.errors import PairsearchError

app = typer.Typer(
    name="pairsearch",
    help="Tune and fairly compare seven network families on MNIST digit-pair comparison.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect or fetch the MNIST data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DataDir = Annotated[
    Path, typer.Option(envvar="PAIRSEARCH_DATA_DIR", help="Where MNIST files and pool caches live.")
]
Dataset = Annotated[str, typer.Option(help="auto (mnist if its files exist, else mnist5k), mnist or mnist5k.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
Threads = Annotated[int, typer.Option(help="Torch threads per process.")]
DEFAULT_DATA_DIR = Path("storage/data")


def say(message: str) -> None:
    """A status line for the user, on stderr so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


def load_data(*, dataset: str, data_dir: Path, announce: bool = True):
    """Resolve ``--dataset``, load its pools, and say which source is used.

    The line comes after loading (and, for ``tune``, after the storage checks: ``announce``
    False and :func:`announce_dataset` later), so a bad input still ends in one line.
    """
    from pairsearch import data

    source = data.resolve_source(dataset=dataset, data_dir=data_dir)
    try:
        pools = data.load_pools(source=source, data_dir=data_dir)
    except OSError as error:  # e.g. a --data-dir that cannot be created or written (the pool cache)
        where = error.filename or data_dir
        raise PairsearchError(f"data dir {data_dir}: {error.strerror or error} ({where})") from None
    if announce:
        announce_dataset(dataset=dataset, source=pools.source, data_dir=data_dir)
    return pools


def announce_dataset(*, dataset: str, source: str, data_dir: Path) -> None:
    if dataset == "auto":
        reason = "its files are present" if source == "mnist" else "full MNIST files not found"
        say(f"dataset: {source} ({reason} under {data_dir})")


@app.command()
def archs() -> None:
    """List every architecture: name, description, default params."""
    from pairsearch.models import ARCHS

    for arch in ARCHS.values():
        defaults = " ".join(f"{name}={value}" for name, value in arch.defaults.items())
        print(f"{arch.name:<9} {arch.description}  [{defaults}]")


@app.command()
def train(
    arch: Annotated[str, typer.Option(help="Architecture (see 'pairsearch archs').")],
    epochs: Annotated[int, typer.Option(min=1, max=10_000)] = 10,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1)] = 0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a param: --set lr=0.002 (repeatable).")
    ] = None,
    dataset: Dataset = "auto",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of lines.")] = False,
) -> None:
    """Train one run on the final protocol (training pairs → test pairs) and print test accuracy."""
    from pairsearch import data, models, params, training

    models.get_arch(arch)
    overrides = dict(params.parse_assignment(text) for text in set_ or [])
    overrides = {name: _parse_override(arch=arch, name=name, raw=raw) for name, raw in overrides.items()}
    run_params = models.resolve_params(arch=arch, overrides=overrides)
    training.set_threads(threads)
    resolved_device = training.resolve_device(device)
    pools = load_data(dataset=dataset, data_dir=data_dir)
    split = data.final_split(pools=pools, seed=seed)

    def print_epoch(record: training.EpochRecord) -> None:
        if not as_json:
            print(format_epoch(record=record, epochs=epochs), flush=True)

    result = training.train_run(
        arch=arch, params=run_params, split=split, epochs=epochs, seed=seed,
        device=resolved_device, on_epoch=print_epoch,
    )
    accuracy = result.final_accuracy
    if as_json:
        print(json.dumps({
            "arch": arch, "params": run_params, "seed": seed, "epochs": epochs,
            "dataset": pools.source, "history": result.history_dicts(),
            "test_accuracy": accuracy, "status": result.status,
        }))
    else:
        if result.status != "completed":
            print(f"status={result.status}")
        print(f"test_accuracy={'nan' if accuracy is None else f'{accuracy:.4f}'}")
    if result.status != "completed":
        raise typer.Exit(1)


def _parse_override(*, arch: str, name: str, raw: str) -> object:
    from pairsearch import models, params

    if name not in models.get_arch(arch).param_names:
        valid = ", ".join(models.get_arch(arch).param_names)
        raise PairsearchError(f"unknown param {name!r} for arch {arch}; valid params: {valid}")
    return params.parse_value(name=name, raw=raw)


def format_epoch(*, record, epochs: int) -> str:
    digits = "" if record.digit_accuracy is None else f"  digit_acc={record.digit_accuracy:.4f}"
    return (
        f"epoch {record.epoch:>3}/{epochs}  train_loss={record.train_loss:.4f}  "
        f"train_acc={record.train_accuracy:.4f}  eval_acc={record.eval_accuracy:.4f}"
        f"{digits}  {record.seconds:.2f}s"
    )


Storage = Annotated[
    str | None,
    typer.Option(help="Optuna storage URL [default: $PAIRSEARCH_STORAGE or sqlite:///storage/pairsearch.db]."),
]


@app.command()
def tune(
    arch: Annotated[str, typer.Option(help="Architecture to tune (see 'pairsearch archs').")],
    trials: Annotated[int, typer.Option(min=1, max=1_000_000, help="Study-wide budget of finished trials.")],
    study: Annotated[str | None, typer.Option(help="Study name [default: the arch name].")] = None,
    study_file: Annotated[Path | None, typer.Option(help="Study TOML [default: studies/ARCH.toml].")] = None,
    storage: Storage = None,
    workers: Annotated[str, typer.Option(help="Local worker processes: a number, or auto (one per core).")] = "auto",
    epochs: Annotated[int | None, typer.Option(min=1, max=1000, help="Override the study file's epochs.")] = None,
    pruner: Annotated[str | None, typer.Option(help="Override the pruner: median, hyperband or none.")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Stop starting trials after this many seconds.")] = None,
    dataset: Dataset = "auto",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    quiet: Annotated[bool, typer.Option(help="Plain progress lines instead of the live display.")] = False,
) -> None:
    """Run pruned trials until the study-wide budget of finished trials is spent."""
    from pairsearch import progress, studyspec, tuning
    from pairsearch import storage as storage_module
    from pairsearch.training import resolve_device

    studyspec_path = study_file or studyspec.default_study_file(arch=arch)
    spec = studyspec.load_study_file(path=studyspec_path, arch=arch).with_overrides(epochs=epochs, pruner=pruner)
    worker_count = tuning.resolve_workers(workers)
    resolve_device(device)
    url = storage_module.storage_url(url=storage)
    pools = load_data(dataset=dataset, data_dir=data_dir, announce=False)
    job = tuning.TuneJob(
        spec=spec, study_name=study or arch, url=url, trials=trials, data_source=pools.source,
        data_dir=data_dir, device=device, threads=threads, timeout=timeout,
    )
    optuna_study = tuning.prepare_study(job=job, fingerprint=pools.fingerprint)
    announce_dataset(dataset=dataset, source=pools.source, data_dir=data_dir)
    say(f"study {job.study_name} in {storage_module.redact(url)}: {worker_count} worker(s), budget {trials}")
    processes = tuning.start_workers(job=job, workers=worker_count)
    final = supervise(processes=processes, watch=lambda keep_watching: progress.watch(
        study=optuna_study, budget=trials, quiet=quiet, keep_watching=keep_watching,
    ))
    best = "none yet" if final.best_value is None else f"{final.best_value:.4f} {progress.format_params(final.best_params)}"
    print(f"finished={final.counts.finished} pruned={final.counts.pruned} failed={final.counts.failed} best={best}")
    if final.counts.finished < trials and timeout is None:
        say(f"budget not spent ({final.counts.finished}/{trials} finished, {final.counts.running} RUNNING): "
            "run the same command to continue; a journal file has no heartbeat, so a killed worker's "
            "trial stays RUNNING there")
        raise typer.Exit(1)


def supervise(*, processes, watch):
    """Watch worker processes until they end; Ctrl-C stops them cleanly (exit 130).

    A worker that failed on a user error (exit 2) has said why on stderr; we exit 2 too.
    """
    from pairsearch import tuning

    try:
        outcome = watch(lambda: any(process.is_alive() for process in processes))
    except KeyboardInterrupt:
        tuning.stop_workers(processes)
        say("interrupted: running trials were failed and re-queued; run the same command to continue")
        raise typer.Exit(130)
    codes = [process.exitcode for process in processes]
    if 2 in codes:
        raise typer.Exit(2)
    lost = [code for code in codes if code not in (0, None)]
    if lost:  # e.g. a worker killed by the OOM killer: the others carried on without it
        say(f"{len(lost)} of {len(processes)} worker(s) ended abnormally (exit codes {lost}); "
            "their trials were or will be retried")
    return outcome


@app.command("final-report")
def final_report(
    arch: Annotated[
        list[str] | None, typer.Option(help="Study to report (repeatable) [default: every tuned study].")
    ] = None,
    seeds: Annotated[int, typer.Option(min=2, max=1000, help="Seeds 0…N-1 per arch, the same for every arch.")] = 15,
    epochs: Annotated[int | None, typer.Option(min=1, max=1000, help="[default: each study's tuning epochs]")] = None,
    workers: Annotated[str, typer.Option(help="Local worker processes: a number, or auto (one per core).")] = "auto",
    storage: Storage = None,
    out: Annotated[Path | None, typer.Option(help="[default: storage/reports/<UTC timestamp>/]")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    quiet: Annotated[bool, typer.Option(help="Plain progress lines instead of the live display.")] = False,
) -> None:
    """Retrain each study's best config over paired seeds and write the comparison report."""
    from pairsearch import final, progress, tuning
    from pairsearch import storage as storage_module
    from pairsearch.training import resolve_device

    worker_count = tuning.resolve_workers(workers)
    resolve_device(device)
    url = storage_module.storage_url(url=storage)
    opened = storage_module.open_storage(url=url, must_exist=True)
    names = arch or final.tuned_study_names(storage=opened)
    if not names:
        raise PairsearchError(f"no tuned study in {storage_module.redact(url)}; run 'pairsearch tune' first")
    plans = [final.make_plan(storage=opened, study_name=name, epochs=epochs) for name in names]
    out_dir = out or final.default_report_dir()
    final.check_writable(out_dir)
    for plan in plans:
        final.check_local_data(plan=plan, data_dir=data_dir)
        added, notes = final.ensure_jobs(storage=opened, url=url, plan=plan, seeds=seeds)
        for note in notes:
            say(note)
        say(f"{plan.label}: best trial #{plan.best_trial}, {added} new job(s) of {seeds}")
    job = final.FinalJob(url=url, data_dir=data_dir, study_names=tuple(p.final_study_name for p in plans),
                         device=device, threads=threads)
    processes = final.start_final_workers(job=job, workers=worker_count)
    supervise(processes=processes, watch=lambda keep_watching: progress.watch_jobs(
        counts=lambda: final.job_counts(storage=opened, plans=plans), keep_watching=keep_watching, quiet=quiet,
    ))
    summary = final.write_final_report(
        storage=opened, url=url, plans=plans, seeds=seeds, out_dir=out_dir,
        device=str(resolve_device(device)),
    )
    print(summary)
    say(f"report written to {out_dir / 'report.html'}")
    unfinished = {label: total - done for label, (done, total) in
                  final.job_counts(storage=opened, plans=plans).items() if done < total}
    if unfinished:  # every worker died before the jobs were done: the report is partial
        say(f"jobs not finished: {unfinished}; run the same command to complete the report")
        raise typer.Exit(1)


@app.command("final-run")
def final_run(
    storage: Storage = None,
    workers: Annotated[str, typer.Option(help="Local worker processes: a number, or auto (one per core).")] = "auto",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
) -> None:
    """Run waiting final-report jobs only (for extra machines); 'final-report' writes the report."""
    from pairsearch import final, tuning
    from pairsearch import storage as storage_module
    from pairsearch.training import resolve_device

    worker_count = tuning.resolve_workers(workers)
    resolve_device(device)
    url = storage_module.storage_url(url=storage)
    storage_module.open_storage(url=url, must_exist=True)
    job = final.FinalJob(url=url, data_dir=data_dir, device=device, threads=threads)
    processes = final.start_final_workers(job=job, workers=worker_count)
    supervise(processes=processes, watch=lambda keep_watching: _wait(keep_watching))
    if any(process.exitcode for process in processes):
        raise typer.Exit(1)  # a worker died (said above): its job waits for the heartbeat retry
    say("no final jobs left")


def _wait(keep_watching) -> None:
    import time

    while keep_watching():
        time.sleep(1.0)


@app.command()
def status(storage: Storage = None) -> None:
    """A table of every study in the storage: counts, best validation accuracy, best params."""
    from rich.console import Console
    from rich.table import Table

    from pairsearch import progress
    from pairsearch import storage as storage_module

    url = storage_module.storage_url(url=storage)
    rows = progress.status_rows(storage_module.open_storage(url=url, must_exist=True))
    table = Table(title=f"studies in {storage_module.redact(url)}")
    for column in ("study", "arch", "finished", "pruned", "failed", "running", "waiting", "best value",
                   "best params"):
        table.add_column(column)
    for row in rows:
        c = row["counts"]
        best = "—" if row["best"] is None else f"{row['best']:.4f}"
        table.add_row(row["study"], row["arch"], str(c.finished), str(c.pruned), str(c.failed),
                      str(c.running), str(c.waiting), best, progress.format_params(row["params"]))
    Console(width=200).print(table)
    print("best value: validation accuracy for tuning studies, test accuracy for <study>.final jobs")
    if not rows:
        print("no studies yet: start one with pairsearch tune --arch ARCH --trials N")


@app.command()
def dashboard(
    storage: Storage = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """Serve optuna-dashboard on the same storage."""
    from pairsearch import dashboard as dashboard_module
    from pairsearch import storage as storage_module

    url = storage_module.storage_url(url=storage)
    dashboard_module.serve(url=url, host=host, port=port)


@app.command("storage-proxy")
def storage_proxy(
    storage: Storage = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 13000,
) -> None:
    """Serve the storage through Optuna's gRPC proxy; workers then use --storage grpc://HOST:PORT."""
    from pairsearch import dashboard as dashboard_module
    from pairsearch import storage as storage_module

    url = storage_module.storage_url(url=storage)
    if storage_module.kind_of(url) == "grpc":
        raise PairsearchError("storage-proxy needs the real storage behind it, not another grpc:// proxy")
    dashboard_module.check_port_free(host=host, port=port)
    storage_module.serve_grpc_proxy(url=url, host=host, port=port)


@data_app.command("info")
def data_info(dataset: Dataset = "auto", data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Print the data source, pool sizes, class counts, fingerprint and cache path."""
    from pairsearch import data

    pools = load_data(dataset=dataset, data_dir=data_dir)
    for key, value in data.describe_pools(pools).items():
        print(f"{key}: {value}")
    print(f"cache: {data.pools_cache_path(source=pools.source, data_dir=data_dir)}")


@data_app.command("download")
def data_download(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Download full MNIST with torchvision (needs internet)."""
    from pairsearch import data

    data.download_mnist(data_dir=data_dir)
    print(f"MNIST files are under {data_dir / 'MNIST' / 'raw'}")


def fail(message: str) -> None:
    """The one way a user error ends: one line on stderr, exit code 2."""
    print(f"pairsearch: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _terminate_as_interrupt(signum, frame) -> None:
    # `kill PID`, `docker stop`, systemd and Slurm send SIGTERM to this process only: without
    # this handler it died at once and left its workers running on, orphaned. Now it stops
    # them as Ctrl-C does; a second request must not interrupt that clean-up. A no-op handler,
    # not SIG_IGN: a SIGTERM already pending when the handler changes to SIG_IGN makes CPython
    # print "OSError: Signal 15 ignored due to race condition" with a traceback.
    from pairsearch.tuning import ignore_signal

    signal.signal(signal.SIGTERM, ignore_signal)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_stops_cleanly():
    if threading.current_thread() is not threading.main_thread():  # signal handlers: main thread only
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        with _sigterm_stops_cleanly():
            code = app(args=argv, prog_name="pairsearch", standalone_mode=False)
    except PairsearchError as error:
        fail(str(error))
    except TyperException as error:  # usage errors: unknown option, bad value, missing option
        message = error.format_message().strip()
        context = getattr(error, "ctx", None)
        if not message and context is not None:  # a group called without a command: typer showed its help
            sys.exit(0)
        fail(message.splitlines()[0])
    except (Abort, KeyboardInterrupt):
        print("pairsearch: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as error:
        # A storage that refuses a write (a read-only database file) or goes away while this
        # process itself uses it (workers ride outages out; this is the one-shot parent).
        from pairsearch.storage import describe_error, is_storage_failure

        if not is_storage_failure(error):
            raise
        fail(f"the storage failed: {describe_error(error)}")
    sys.exit(code if isinstance(code, int) else 0)
