"""The ``pairsearch`` command line: parse, call one stage's entry function, print, map errors to exit 2.

Every option is checked at the boundary (:mod:`pairsearch.inputs`) before a stage starts.
Heavy imports (torch, optuna) happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError
from typer.exceptions import Abort, Exit, TyperException

from pairsearch import defaults
from pairsearch.errors import PairsearchError, error_line

app = typer.Typer(
    name="pairsearch",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich markup would swallow every "[default: …]"
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect or fetch the MNIST data.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(data_app, name="data")

DataDir = Annotated[
    Path, typer.Option(envvar=defaults.DATA_DIR_ENV, help="Where MNIST files and pool caches live.")
]
Dataset = Annotated[str, typer.Option(help="auto (mnist if its files exist, else mnist5k), mnist or mnist5k.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
Threads = Annotated[int, typer.Option(min=1, max=1024, help="Torch threads per process.")]
Workers = Annotated[str, typer.Option(help="Local worker processes: a number, or auto (one per core).")]
Quiet = Annotated[bool, typer.Option(help="Plain progress lines instead of the live display.")]
Storage = Annotated[
    str | None,
    typer.Option(help=f"Optuna storage URL [default: ${defaults.STORAGE_ENV} or {defaults.STORAGE_URL}]. "
                 f"Any user of this machine sees a password given here in the process list (ps): "
                 f"put a URL with a password in ${defaults.STORAGE_ENV} instead."),
]


def say(message: str) -> None:
    """A status line for the user (see :func:`pairsearch.progress.say`)."""
    from pairsearch import progress

    progress.say(message)


def show(message: str) -> None:
    """A line on stdout, at once (a server's address, before it blocks)."""
    print(message, flush=True)


@app.command()
def archs(
    design: Annotated[bool, typer.Option(
        help="Only the names of the archs of the 2×2 design (weights shared/separate × auxiliary loss or not).")] = False,
) -> None:
    """List every architecture: name, description, default params."""
    from pairsearch.training.models import ARCHS

    if design:
        print("\n".join(name for name, arch in ARCHS.items() if arch.cell is not None))
        return
    for arch in ARCHS.values():
        params = " ".join(f"{name}={value}" for name, value in arch.defaults.items())
        print(f"{arch.name:<9} {arch.description}  [{params}]")


@app.command()
def train(
    arch: Annotated[str, typer.Option(help="Architecture (see 'pairsearch archs').")],
    epochs: Annotated[int, typer.Option(min=1, max=defaults.MAX_EPOCHS, help="Epochs to train.")] = 10,
    seed: Annotated[int, typer.Option(
        min=0, max=defaults.MAX_SEED, help="Draws the training and test pairs and the initial weights.")] = 0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a param: --set lr=0.002 (repeatable).")
    ] = None,
    dataset: Dataset = "auto",
    data_dir: DataDir = defaults.DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of lines.")] = False,
) -> None:
    """Train one run on the final protocol (training pairs → test pairs) and print test accuracy."""
    from pairsearch import inputs
    from pairsearch.training import loop

    params = inputs.run_params(arch=arch, assignments=set_ or [])
    checked_device = inputs.check_device(device)
    choice = inputs.choose_data(dataset=dataset, data_dir=data_dir)

    def print_epoch(record) -> None:
        if not as_json:
            print(format_epoch(record=record, epochs=epochs), flush=True)

    result = loop.train_final_protocol(
        arch=arch, params=params, data=choice, epochs=epochs, seed=seed, device=checked_device,
        threads=threads, announce=say, on_epoch=print_epoch,
    )
    accuracy = result.final_accuracy
    if as_json:
        print(json.dumps({
            "arch": arch, "params": params, "seed": seed, "epochs": epochs, "dataset": choice.source,
            "history": result.history_dicts(), "test_accuracy": accuracy, "status": result.status,
        }))
    else:
        if result.status != "completed":
            print(f"status={result.status}")
        print(f"test_accuracy={'nan' if accuracy is None else f'{accuracy:.4f}'}")
    if result.status != "completed":
        raise typer.Exit(1)


def format_epoch(*, record, epochs: int) -> str:
    digits = "" if record.digit_accuracy is None else f"  digit_acc={record.digit_accuracy:.4f}"
    return (
        f"epoch {record.epoch:>3}/{epochs}  train_loss={record.train_loss:.4f}  "
        f"train_acc={record.train_accuracy:.4f}  eval_acc={record.eval_accuracy:.4f}"
        f"{digits}  {record.seconds:.2f}s"
    )


@app.command()
def tune(
    arch: Annotated[str, typer.Option(help="Architecture to tune (see 'pairsearch archs').")],
    trials: Annotated[int, typer.Option(min=1, max=1_000_000, help="Study-wide budget of finished trials.")],
    repeats: Annotated[int, typer.Option(
        min=1, max=100,
        help="Independent searches, each its own study (NAME, NAME.search1, …) with its own budget, sampler "
             "stream and tuning seed; a larger number later adds searches.")] = 1,
    study: Annotated[str | None, typer.Option(help="Study name (of search 0) [default: the arch name].")] = None,
    study_file: Annotated[Path | None, typer.Option(help="Study TOML [default: studies/ARCH.toml].")] = None,
    storage: Storage = None,
    workers: Workers = "auto",
    epochs: Annotated[int | None, typer.Option(min=1, max=defaults.MAX_EPOCHS, help="Override the study file's epochs.")] = None,
    pruner: Annotated[str | None, typer.Option(help="Override the pruner: median, hyperband, successive_halving or none.")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Stop starting trials after this many seconds.")] = None,
    recipe: Annotated[str | None, typer.Option(
        help="Training recipe of every trial: a name in recipes/ (course, strong) or a TOML file; its epochs "
             "replace the study file's unless --epochs is given; final-report then trains under it "
             "[default: the course's training].")] = None,
    dataset: Dataset = "auto",
    data_dir: DataDir = defaults.DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    quiet: Quiet = False,
) -> None:
    """Run pruned trials until the study-wide budget of finished trials is spent."""
    from pairsearch import inputs, progress, tuning

    training = inputs.training_recipe(name_or_path=recipe)
    request = tuning.TuneRequest(
        spec=inputs.study_spec(arch=arch, study_file=study_file, epochs=epochs, pruner=pruner, recipe=training),
        study_name=inputs.study_name(study, default=arch), storage=inputs.storage_handle(url=storage), trials=trials,
        repeats=repeats, data=inputs.choose_data(dataset=dataset, data_dir=data_dir),
        workers=inputs.parse_workers(workers),
        device=inputs.check_device(device), threads=threads, timeout=timeout, recipe=training,
    )
    outcome = tuning.tune(request=request, display=progress.Display(quiet=quiet))
    end_on_worker_exits(outcome.exits, unit="trials")
    for name, last in zip([search.study_name for search in request.searches()], outcome.searches, strict=True):
        best = "none yet" if last.best_value is None else f"{last.best_value:.4f} {progress.format_params(last.best_params)}"
        prefix = f"{name}: " if repeats > 1 else ""
        print(f"{prefix}finished={last.counts.finished} pruned={last.counts.pruned} failed={last.counts.failed} best={best}")
    if not outcome.budget_spent and timeout is None:
        counts = outcome.final.counts
        if outcome.budget_held and not request.storage.has_heartbeat:
            # This process's share is done: the rest runs in other workers, which it cannot tell
            # from trials a killed worker left behind (only a heartbeat could).
            say(f"the budget is taken: {counts.finished}/{trials} finished and {counts.running} RUNNING in "
                f"other workers, or left by a killed one (a {request.storage.kind_name} storage has no heartbeat "
                "to tell them apart); 'pairsearch status' shows when they end")
            return
        say(f"budget not spent ({counts.finished}/{trials} finished, {counts.running} RUNNING): "
            "run the same command to continue")
        raise typer.Exit(1)


def end_on_worker_exits(exits, *, unit: str) -> None:
    """Exit 2 when a worker stopped on a user error (it said why); say so when workers died."""
    if exits is None:
        return
    if exits.user_error:
        raise typer.Exit(2)
    if exits.lost:  # e.g. a worker killed by the OOM killer: the others carried on without it
        say(f"{len(exits.lost)} of {len(exits.codes)} worker(s) ended abnormally (exit codes {exits.lost}); "
            f"their {unit} were or will be retried")


@app.command("final-report")
def final_report(
    arch: Annotated[
        list[str] | None, typer.Option(
            help="Study to report, with all its searches (repeatable) [default: every tuned study].")
    ] = None,
    seeds: Annotated[int | None, typer.Option(
        min=2, max=1000,
        help="Final seeds per search (1000…999+N), the same for every arch and search [default: 15 runs per "
             "arch spread over its searches, at least 3 a search: 15 for one search, 3 each for 5].")] = None,
    epochs: Annotated[int | None, typer.Option(
        min=1, max=defaults.MAX_EPOCHS,
        help="Epochs of every final run [default: the recipe's; without --recipe, each study's tuning epochs].")] = None,
    workers: Workers = "auto",
    storage: Storage = None,
    out: Annotated[str | None, typer.Option(
        metavar="DIR", help=f"Folder for the report's files [default: {defaults.REPORTS_DIR}/<UTC timestamp>/].")] = None,
    recipe: Annotated[str | None, typer.Option(
        help="Training recipe: a name in recipes/ (course, strong) or a TOML file; --epochs overrides its "
             f"epochs; the report also answers under the studies' own recipe [default: the recipe the studies "
             f"were tuned with: {defaults.DEFAULT_RECIPE} unless tune --recipe said otherwise].")] = None,
    data_dir: DataDir = defaults.DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
    quiet: Quiet = False,
) -> None:
    """Retrain each study's best config over paired seeds and write the comparison report."""
    from pairsearch import final, inputs, progress

    request = final.FinalRequest(
        storage=inputs.storage_handle(url=storage), data_dir=data_dir, studies=tuple(arch or ()),
        seeds=seeds, epochs=epochs, out_dir=inputs.report_dir(out), workers=inputs.parse_workers(workers),
        device=inputs.check_device(device), threads=threads,
        recipe=inputs.training_recipe(name_or_path=recipe),
    )
    outcome = final.final_report(request=request, display=progress.Display(quiet=quiet))
    end_on_worker_exits(outcome.exits, unit="jobs")
    print(outcome.summary)
    say(f"report written to {outcome.out_dir / 'report.html'}")
    if outcome.unfinished:  # every worker died before the jobs were done: the report is partial
        say(f"jobs not finished: {outcome.unfinished}; run the same command to complete the report")
        raise typer.Exit(1)


@app.command("final-run")
def final_run(
    storage: Storage = None,
    workers: Workers = "auto",
    data_dir: DataDir = defaults.DATA_DIR,
    device: Device = "auto",
    threads: Threads = 1,
) -> None:
    """Run waiting final-report jobs only (for extra machines); 'final-report' writes the report."""
    from pairsearch import final, inputs

    worker = final.JobWorker(
        storage=inputs.storage_handle(url=storage), data_dir=data_dir,
        device=inputs.check_device(device), threads=threads,
    )
    exits = final.run_final_jobs(worker=worker, workers=inputs.parse_workers(workers))
    end_on_worker_exits(exits, unit="jobs")
    if exits is not None and exits.lost:
        raise typer.Exit(1)  # a worker died (said above): its job waits for the heartbeat retry
    say("no final jobs left")


@app.command()
def status(storage: Storage = None) -> None:
    """A table of every study in the storage: counts, best validation accuracy, best params."""
    from pairsearch import inputs, progress

    progress.print_status(handle=inputs.storage_handle(url=storage))


@app.command()
def dashboard(
    storage: Storage = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to serve the dashboard on.")] = 8080,
) -> None:
    """Serve optuna-dashboard on the same storage."""
    from pairsearch import dashboard as dashboard_module
    from pairsearch import inputs

    dashboard_module.serve(handle=inputs.storage_handle(url=storage), host=host, port=port, announce=show)


@app.command("storage-proxy")
def storage_proxy(
    storage: Storage = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port for the gRPC proxy.")] = 13000,
) -> None:
    """Serve the storage through Optuna's gRPC proxy; workers then use --storage grpc://HOST:PORT."""
    from pairsearch import dashboard as dashboard_module
    from pairsearch import inputs

    dashboard_module.serve_storage_proxy(handle=inputs.storage_handle(url=storage), host=host, port=port,
                                         announce=show)


@data_app.command("info")
def data_info(dataset: Dataset = "auto", data_dir: DataDir = defaults.DATA_DIR) -> None:
    """Print the data source, pool sizes, class counts, fingerprint and cache path."""
    from pairsearch import inputs

    choice = inputs.choose_data(dataset=dataset, data_dir=data_dir)
    facts = choice.describe()
    if choice.announcement():  # after the data loaded: a bad data dir is one error line
        say(choice.announcement())
    for key, value in facts.items():
        print(f"{key}: {value}")


@data_app.command("download")
def data_download(data_dir: DataDir = defaults.DATA_DIR) -> None:
    """Download full MNIST with torchvision (needs internet)."""
    from pairsearch.data import sources

    print(f"MNIST files are under {sources.download_mnist(data_dir=data_dir)}")


def fail(message: str) -> None:
    """The one way a user error ends: one line on stderr, exit code 2."""
    print(error_line(message), file=sys.stderr, flush=True)
    sys.exit(2)


def version_text() -> str:
    """``pairsearch 0.1.0`` and, in a git checkout, the commit it runs (``(commit a69019a)``)."""
    from pairsearch import __version__

    commit = git_commit(Path(__file__).resolve().parent.parent)
    return f"pairsearch {__version__}" + (f" (commit {commit})" if commit else "")


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, read from ``.git`` (no subprocess); None outside a checkout."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: PATH"
        git = Path(git.read_text(encoding="utf-8").removeprefix("gitdir:").strip())
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head.removeprefix("ref: ")
        common = Path((git / "commondir").read_text(encoding="utf-8").strip()) if (git / "commondir").exists() else None
        for folder in filter(None, (git, common and (git / common))):
            if (folder / ref).is_file():
                return (folder / ref).read_text(encoding="utf-8").strip()[:7]
            packed = folder / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    if line.endswith(f" {ref}"):
                        return line[:7]
    except OSError:
        return None
    return None


def show_version(value: bool) -> None:
    if value:
        print(version_text())
        raise Exit(0)


@app.callback()
def before_every_command(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=show_version, help="Print the version (and git commit) and exit.")] = False,
) -> None:
    """Tune and fairly compare network families on MNIST digit-pair comparison."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own progress display says what matters


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        code = app(args=argv, prog_name="pairsearch", standalone_mode=False)
    except PairsearchError as error:
        fail(str(error))
    except NoArgsIsHelpError as error:  # a bare command: its help, which is what was asked for
        print(str(error))
        sys.exit(0)
    except TyperException as error:  # usage errors: unknown option, bad value, missing option
        message = error.format_message().strip()
        context = getattr(error, "ctx", None)
        if not message and context is not None:  # a group called without a command: typer showed its help
            sys.exit(0)
        fail(message.splitlines()[0])
    except (Abort, KeyboardInterrupt):
        print("pairsearch: interrupted: running work was failed and re-queued; run the same command to continue",
              file=sys.stderr)
        sys.exit(130)
    except Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as error:
        # A storage that refuses a write (a read-only database file) or goes away while this
        # process itself uses it (workers ride outages out; this is the one-shot parent).
        from pairsearch.storage.failures import describe_error, is_storage_failure

        if not is_storage_failure(error):
            raise
        fail(f"the storage failed: {describe_error(error)}")
    sys.exit(code if isinstance(code, int) else 0)
