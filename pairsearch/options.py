"""The command line's options, each defined once: its type, limits, metavar and help text.

The commands in :mod:`pairsearch.cli` name these; the values they parse are then checked at the
boundary (:mod:`pairsearch.inputs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pairsearch import defaults

# Shared by several commands.
DataDir = Annotated[Path, typer.Option(
    metavar="DIR", envvar=defaults.DATA_DIR_ENV, help="Where MNIST files and pool caches live.")]
Dataset = Annotated[str, typer.Option(
    metavar="SOURCE", help="auto (mnist if its files exist, else mnist5k), mnist or mnist5k.")]
Device = Annotated[str, typer.Option(metavar="DEVICE", help="auto (CUDA when present), cpu or cuda.")]
Threads = Annotated[int, typer.Option(metavar="N", min=1, max=1024, help="Torch threads per process.")]
Workers = Annotated[str, typer.Option(
    metavar="N|auto", help="Local worker processes: a number, or auto (one per core).")]
Quiet = Annotated[bool, typer.Option(help="Plain progress lines instead of the live display.")]
Storage = Annotated[str | None, typer.Option(
    metavar="URL",
    help=f"Optuna storage URL [default: ${defaults.STORAGE_ENV} or {defaults.STORAGE_URL}]. Any user of this "
         f"machine sees a password given here in the process list (ps): put a URL with a password in "
         f"${defaults.STORAGE_ENV} instead.")]
Host = Annotated[str, typer.Option(metavar="HOST", help="Interface to bind; 0.0.0.0 exposes it to the network.")]

# archs
DesignOnly = Annotated[bool, typer.Option(
    "--design", help="Only the names of the archs of the 2×2 design (weights shared/separate × auxiliary loss or not).")]

# train
TrainArch = Annotated[str, typer.Option(metavar="ARCH", help="Architecture (see 'pairsearch archs').")]
TrainEpochs = Annotated[int, typer.Option(metavar="N", min=1, max=defaults.MAX_EPOCHS, help="Epochs to train.")]
TrainSeed = Annotated[int, typer.Option(
    metavar="SEED", min=0, max=defaults.MAX_SEED, help="Draws the training and test pairs and the initial weights.")]
SetParams = Annotated[list[str] | None, typer.Option(
    "--set", metavar="NAME=VALUE", help="Override a param: --set lr=0.002 (repeatable).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of lines.")]

# tune
TuneArch = Annotated[str, typer.Option(metavar="ARCH", help="Architecture to tune (see 'pairsearch archs').")]
Trials = Annotated[int, typer.Option(
    metavar="N", min=1, max=1_000_000, help="Study-wide budget of finished trials.")]
Repeats = Annotated[int, typer.Option(
    metavar="K", min=1, max=100,
    help="Independent searches, each its own study (NAME, NAME.search1, …) with its own budget, sampler "
         "stream and tuning seed; a larger number later adds searches.")]
StudyName = Annotated[str | None, typer.Option(
    metavar="NAME", help="Study name (of search 0) [default: the arch name].")]
StudyFile = Annotated[Path | None, typer.Option(metavar="FILE", help="Study TOML [default: studies/ARCH.toml].")]
Pruner = Annotated[str | None, typer.Option(
    metavar="NAME", help="Override the pruner: median, hyperband, successive_halving or none.")]
Timeout = Annotated[float | None, typer.Option(
    metavar="SECONDS", min=1, help="Stop starting trials after this many seconds.")]
TuneEpochs = Annotated[int | None, typer.Option(
    metavar="N", min=1, max=defaults.MAX_EPOCHS, help="Override the study file's epochs.")]
TuneRecipe = Annotated[str | None, typer.Option(
    "--recipe", metavar="NAME|FILE",
    help="Training recipe of every trial: a name in recipes/ (course, strong) or a TOML file; its epochs "
         "replace the study file's unless --epochs is given; final-report then trains under it "
         "[default: the course's training].")]

# final-report
ReportStudies = Annotated[list[str] | None, typer.Option(
    "--arch", metavar="STUDY", help="Study to report, with all its searches (repeatable) [default: every tuned study].")]
FinalSeeds = Annotated[int | None, typer.Option(
    metavar="N", min=2, max=1000,
    help="Final seeds per search (1000…999+N), the same for every arch and search [default: 15 runs per "
         "arch spread over its searches, at least 3 a search: 15 for one search, 3 each for 5].")]
OutDir = Annotated[str | None, typer.Option(
    metavar="DIR", help=f"Folder for the report's files [default: {defaults.REPORTS_DIR}/<UTC timestamp>/].")]
FinalEpochs = Annotated[int | None, typer.Option(
    metavar="N", min=1, max=defaults.MAX_EPOCHS,
    help="Epochs of every final run [default: the recipe's; without --recipe, each study's tuning epochs].")]
FinalRecipe = Annotated[str | None, typer.Option(
    "--recipe", metavar="NAME|FILE",
    help="Training recipe: a name in recipes/ (course, strong) or a TOML file; --epochs overrides its epochs; "
         "the report also answers under the studies' own recipe [default: the recipe the studies were tuned "
         f"with: {defaults.DEFAULT_RECIPE} unless tune --recipe said otherwise].")]

# dashboard, storage-proxy
DashboardPort = Annotated[int, typer.Option(
    metavar="PORT", min=1, max=65535, help="TCP port to serve the dashboard on.")]
ProxyPort = Annotated[int, typer.Option(metavar="PORT", min=1, max=65535, help="TCP port for the gRPC proxy.")]
