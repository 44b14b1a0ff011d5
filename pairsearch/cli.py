"""The ``pairsearch`` commands: parse, call one stage's entry function, print the outcome.

Every option is defined in :mod:`pairsearch.options` and checked at the boundary
(:mod:`pairsearch.inputs`) before a stage starts; :mod:`pairsearch.__main__` runs the commands
and maps every error to its exit code. Heavy imports (torch, optuna) happen inside the commands
so ``--help`` stays instant.
"""

from __future__ import annotations

import functools
import json
import shutil
import textwrap
from typing import Annotated

import typer
from typer.exceptions import Exit

from pairsearch import defaults
from pairsearch import options as o
from pairsearch.terminal import say
from pairsearch.version import version_text

app = typer.Typer(
    name="pairsearch",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich markup would swallow every "[default: …]"
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect or fetch the MNIST data.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(data_app, name="data")


show = functools.partial(print, flush=True)  # a line on stdout at once (a server's address, before it blocks)


@app.command()
def archs(design: o.DesignOnly = False) -> None:
    """List every arch: name, description, default params."""
    # the registry alone: no torch, no optuna
    from pairsearch.training.models import ARCHS, design_archs

    if design:
        print("\n".join(design_archs()))
        return
    for arch in ARCHS.values():
        print(wrapped(f"{arch.name:<9} {arch.description}", indent=10))
        print(wrapped(" ".join(f"{name}={value}" for name, value in arch.defaults.items()), indent=10, first=10))


def wrapped(text: str, *, indent: int, first: int = 0) -> str:
    """``text`` wrapped to the terminal's width (80 columns off a terminal), indented ``first``, then ``indent``."""
    return textwrap.fill(text, width=shutil.get_terminal_size().columns, initial_indent=" " * first,
                         subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False)


@app.command()
def train(
    arch: o.TrainArch,
    epochs: o.TrainEpochs = 10,
    seed: o.TrainSeed = 0,
    set_: o.SetParams = None,
    dataset: o.Dataset = "auto",
    data_dir: o.DataDir = defaults.DATA_DIR,
    device: o.Device = "auto",
    threads: o.Threads = 1,
    as_json: o.AsJson = False,
) -> None:
    """Train one run on the final protocol; print test accuracy."""
    from pairsearch import inputs, progress
    from pairsearch.training import loop

    params = inputs.run_params(arch=arch, assignments=set_ or [])
    checked_device = inputs.check_device(device)
    choice = inputs.choose_data(dataset=dataset, data_dir=data_dir)

    def print_epoch(record) -> None:
        if not as_json:
            print(progress.format_epoch(record=record, epochs=epochs), flush=True)

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


@app.command()
def tune(
    arch: o.TuneArch,
    trials: o.Trials,
    repeats: o.Repeats = 1,
    study: o.StudyName = None,
    study_file: o.StudyFile = None,
    storage: o.Storage = None,
    workers: o.Workers = "auto",
    epochs: o.TuneEpochs = None,
    pruner: o.Pruner = None,
    timeout: o.Timeout = None,
    recipe_name: o.TuneRecipe = None,
    dataset: o.Dataset = "auto",
    data_dir: o.DataDir = defaults.DATA_DIR,
    device: o.Device = "auto",
    threads: o.Threads = 1,
    quiet: o.Quiet = False,
) -> None:
    """Run pruned trials until the study's trial budget is spent.

    The budget counts finished trials (complete and pruned) across every worker on every host."""
    from pairsearch import inputs, progress, tuning

    quiet_optuna()
    spec, recipe = inputs.tuning_spec_and_recipe(arch=arch, study_file=study_file, epochs=epochs, pruner=pruner,
                                                 recipe_name=recipe_name)
    request = tuning.TuneRequest(
        spec=spec, recipe=recipe, study_name=inputs.study_name(study, default=arch),
        storage=inputs.storage_handle(url=storage), trials=trials, repeats=repeats,
        data=inputs.choose_data(dataset=dataset, data_dir=data_dir), workers=inputs.parse_workers(workers),
        device=inputs.check_device(device), threads=threads, timeout=timeout,
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
    arch: o.ReportStudies = None,
    seeds: o.FinalSeeds = None,
    epochs: o.FinalEpochs = None,
    workers: o.Workers = "auto",
    storage: o.Storage = None,
    out: o.OutDir = None,
    recipe_name: o.FinalRecipe = None,
    data_dir: o.DataDir = defaults.DATA_DIR,
    device: o.Device = "auto",
    threads: o.Threads = 1,
    quiet: o.Quiet = False,
) -> None:
    """Retrain each best config on paired seeds; write the report.

    Each search's best configuration is retrained on the final seeds, then the comparison report is
    written (HTML, Markdown, CSV; the answer also on the terminal)."""
    from pairsearch import final, inputs, progress

    quiet_optuna()
    request = final.FinalRequest(
        storage=inputs.storage_handle(url=storage), data_dir=data_dir, studies=tuple(arch or ()),
        seeds=seeds, epochs=epochs, out_dir=inputs.report_dir(out), workers=inputs.parse_workers(workers),
        device=inputs.check_device(device), threads=threads,
        retrain_recipe=inputs.chosen_recipe(name_or_path=recipe_name),
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
    storage: o.Storage = None,
    workers: o.Workers = "auto",
    data_dir: o.DataDir = defaults.DATA_DIR,
    device: o.Device = "auto",
    threads: o.Threads = 1,
) -> None:
    """Run waiting final-report jobs only (for extra machines).

    'final-report' makes the jobs and writes the report."""
    from pairsearch import final, inputs

    quiet_optuna()
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
def status(storage: o.Storage = None) -> None:
    """Every study in the storage: counts, best accuracy, params."""
    from pairsearch import inputs, progress

    quiet_optuna()
    progress.print_status(handle=inputs.storage_handle(url=storage))


@app.command()
def dashboard(storage: o.Storage = None, host: o.Host = "127.0.0.1", port: o.DashboardPort = 8080) -> None:
    """Serve optuna-dashboard on the same storage."""
    serve(storage=storage, host=host, port=port, proxy=False)


@app.command("storage-proxy")
def storage_proxy(storage: o.Storage = None, host: o.Host = "127.0.0.1", port: o.ProxyPort = 13000) -> None:
    """Serve the storage through Optuna's gRPC proxy.

    Workers then use --storage grpc://HOST:PORT."""
    serve(storage=storage, host=host, port=port, proxy=True)


def serve(*, storage: str | None, host: str, port: int, proxy: bool) -> None:
    """optuna-dashboard, or Optuna's gRPC proxy (``proxy``), on the storage until Ctrl-C."""
    from pairsearch import dashboard as dashboard_module
    from pairsearch import inputs

    quiet_optuna()
    serve_storage = dashboard_module.serve_storage_proxy if proxy else dashboard_module.serve
    serve_storage(handle=inputs.storage_handle(url=storage), host=host, port=port, announce=show)


@data_app.command("info")
def data_info(dataset: o.Dataset = "auto", data_dir: o.DataDir = defaults.DATA_DIR) -> None:
    """Describe the data: source, pools, classes, cache path."""
    from pairsearch import inputs

    choice = inputs.choose_data(dataset=dataset, data_dir=data_dir)
    facts = choice.describe()
    if choice.announcement():  # after the data loaded: a bad data dir is one error line
        say(choice.announcement())
    print("\n".join(f"{key}: {value}" for key, value in facts.items()))


@data_app.command("download")
def data_download(data_dir: o.DataDir = defaults.DATA_DIR) -> None:
    """Download full MNIST with torchvision (needs internet)."""
    from pairsearch.data import sources

    print(f"MNIST files are under {sources.download_mnist(data_dir=data_dir)}")


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


def quiet_optuna() -> None:
    """Optuna's log lines off (our display says what matters); called by commands that use optuna."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
