"""The bad-input campaign: malformed input across the CLI, study files and storages.

Every row must end the same way: exactly one line on stderr (``pairsearch: error: …``), exit
code 2, no traceback, nothing on stdout, and every storage file that existed before the
command byte-for-byte as it was (no file appears either). Most rows run through
:func:`pairsearch.__main__.main` in this process (a process per row would cost ~2 s of ``import
torch`` each); ``SUBPROCESS_ROWS`` also run as real processes. No row may reach the point of
starting workers: the fixture makes that a test failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import TINY_STUDY, run_cli, write_tiny_study
from conftest import main_in_process as run_main
from mnist_files import idx_bytes
from pg_cluster import running_cluster, unavailable_reason

from pairsearch import final, tuning, tuning_setup
from pairsearch.data.idx import IDX_FILES
from pairsearch.data.pairs import DataChoice
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe

PASSWORD = "Sup3r-s3cret-pw"  # in every URL below that has one: it must never be printed


@dataclass(frozen=True)
class Row:
    args: list[str]  # {placeholders} filled from the World
    words: list[str] = field(default_factory=list)  # the one error line must contain each
    env: dict = field(default_factory=dict)
    needs: str = ""  # "cluster": the throwaway PostgreSQL server
    known_issue: str = ""  # a found bug not fixed yet: the row is an expected failure until it is


def study_file_row(name: str, words: list[str]) -> Row:
    """``tune`` with the study file ``studies/<name>.toml`` that the World writes."""
    return Row(["tune", "--arch", "base", "--trials", "5", "--study-file", f"{{dir}}/studies/{name}.toml",
                "--storage", "{db}", "--workers", "1"], words)


TUNE = ["tune", "--arch", "base", "--trials", "5", "--study-file", "{tiny}", "--storage", "{db}"]
TRAIN = ["train", "--arch", "base"]
TINY_BROKEN = TINY_STUDY.format(arch="base", epochs=2)


def edited(old: str, new: str) -> str:
    assert old in TINY_BROKEN, old
    return TINY_BROKEN.replace(old, new)


LR_LINE = 'lr = { type = "float", low = 1e-3, high = 1e-2, log = true }'
CHANNELS_LINE = 'channels = { type = "int", low = 4, high = 8 }'

# Study files, by row name: (contents, what the error line must name). Written to
# studies/<name>.toml; the binary, directory and missing rows are made by the World.
STUDY_FILES = {
    "file_not_toml": ("arch = base\nthis is not = = toml\n", ["not valid TOML"]),
    "file_nan_bound": (edited(LR_LINE, 'lr = { type = "float", low = nan, high = 1e-2 }'),
                       ["params.lr.low", "finite"]),
    "file_inf_bound": (edited(LR_LINE, 'lr = { type = "float", low = 1e-3, high = inf }'),
                       ["params.lr.high", "finite"]),
    "file_low_above_high": (edited(LR_LINE, 'lr = { type = "float", low = 0.1, high = 0.01 }'),
                            ["params.lr.low", "greater than high"]),
    "file_empty_choices": (edited(LR_LINE, 'batchnorm = { type = "categorical", choices = [] }'),
                           ["params.batchnorm.choices", "empty"]),
    "file_wrong_type": (edited("epochs = 2", 'epochs = "ten"'), ["epochs", "int"]),
    "file_bound_wrong_type": (edited(CHANNELS_LINE, 'channels = { type = "int", low = "4", high = 8 }'),
                              ["params.channels.low", "integer"]),
    "file_unknown_param": (edited(LR_LINE, 'depth = { type = "int", low = 1, high = 4 }'),
                           ["params.depth", "unknown param"]),
    "file_unknown_type": (edited(LR_LINE, 'lr = { type = "complex", low = 1e-3, high = 1e-2 }'),
                          ["params.lr.type", "'complex'"]),
    "file_huge_channels": (edited(CHANNELS_LINE, 'channels = { type = "int", low = 4, high = 100000 }'),
                           ["params.channels.high", "100000"]),
    "file_huge_seed": (edited("seed = 0", "seed = 100000000000000000"), ["seed", "2147483647"]),
    "file_huge_sampler_seed": (edited("seed = 1", "seed = 9000000000000000000"),
                               ["sampler.seed", "2147483647"]),
    "file_hyperband_factor_1": (
        edited('[pruner]\nname = "none"', '[pruner]\nname = "hyperband"\nreduction_factor = 1'),
        ["pruner.reduction_factor", "2"],
    ),
    "file_arch_mismatch": (TINY_STUDY.format(arch="digits", epochs=2), ["'digits'", "--arch 'base'"]),
    # Python in a study file is not run: the file is TOML data, and this is not TOML.
    "file_python_code": ('__import__("os").system("touch {marker}")\narch = "base"\n', ["not valid TOML"]),
    # issue 11: values checked by key, in English, whatever their type, step or size
    "file_epochs_a_float": (edited("epochs = 2", "epochs = 1e9"), ["epochs: must be an integer, got a float"]),
    "file_step_larger_than_range": (edited(CHANNELS_LINE, 'channels = { type = "int", low = 4, high = 8, step = 100 }'),
                                    ["params.channels.step", "larger than the range"]),
    "file_step_not_dividing": (edited(CHANNELS_LINE, 'channels = { type = "int", low = 4, high = 8, step = 3 }'),
                               ["params.channels.step", "does not divide"]),
    "file_float_step_nan": (edited(LR_LINE, 'dropout = { type = "float", low = 0.0, high = 0.5, step = nan }'),
                            ["params.dropout.step", "positive finite number"]),
    "file_int_param_as_float": (edited(CHANNELS_LINE, 'channels = { type = "float", low = 4, high = 8 }'),
                                ["params.channels.type", "'int' or 'categorical'"]),
    "file_key_not_for_the_type": (
        edited(LR_LINE, 'lr = { type = "categorical", choices = [0.01], low = 0.001 }'),
        ["params.lr.low", "unknown key for type 'categorical'"],
    ),
    "file_duplicate_choice": (edited(LR_LINE, 'batchnorm = { type = "categorical", choices = [true, true] }'),
                              ["params.batchnorm.choices", "true is given twice"]),
    "file_empty_search_space": (edited(f"{CHANNELS_LINE}\n{LR_LINE}\n", ""), ["params: searches nothing"]),
    "file_line_break_in_a_key": ('"lr\\nx" = 1\n' + TINY_BROKEN, ['"lr\\nx": unknown key']),
    "file_nested_too_deeply": ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", ["nested too deeply"]),
    "file_sampler_count_huge": (edited("seed = 1", "seed = 1\nn_startup_trials = 10000000000"),
                                ["sampler.n_startup_trials", "2147483647"]),
    "file_utf16": (TINY_BROKEN.encode("utf-16"), ["not UTF-8 text: it is UTF-16"]),
    # A UTF-8 byte-order mark is read past: the error is the file's real one, not "not TOML".
    "file_bom_and_zero_epochs": (b"\xef\xbb\xbf" + edited("epochs = 2", "epochs = 0").encode(),
                                 ["epochs: must be an integer from 1 to 1000"]),
}


EXPLICIT_ROWS: dict[str, Row] = {
    # --- the command line -----------------------------------------------------------------
    "unknown_arch": Row(["tune", "--arch", "resnet", "--trials", "5", "--storage", "{db}"], ["'resnet'", "sep_aux"]),
    "unknown_param": Row([*TRAIN, "--set", "depth=3"], ["'depth'", "channels"]),
    "unknown_command": Row(["tuen", "--arch", "base"], ["tuen"]),
    "trials_not_a_number": Row([*TUNE[:4], "many", *TUNE[5:]], ["--trials"]),
    "trials_zero": Row([*TUNE[:4], "0", *TUNE[5:]], ["--trials"]),
    "trials_10_to_the_12": Row([*TUNE[:4], str(10**12), *TUNE[5:]], ["--trials", "1000000"]),
    "workers_negative": Row([*TUNE, "--workers", "-1"], ["--workers", "'-1'"]),
    "workers_zero": Row([*TUNE, "--workers", "0"], ["--workers"]),
    "workers_huge": Row([*TUNE, "--workers", "100000"], ["--workers", "512"]),
    "workers_words": Row([*TUNE, "--workers", "lots"], ["--workers", "'lots'"]),
    "channels_100000": Row([*TRAIN, "--set", "channels=100000"], ["channels", "[4, 256]"]),
    "lr_nan": Row([*TRAIN, "--set", "lr=nan"], ["lr"]),
    "lr_inf": Row([*TRAIN, "--set", "lr=inf"], ["lr"]),
    "batchnorm_not_bool": Row([*TRAIN, "--set", "batchnorm=maybe"], ["batchnorm", "true or false"]),
    "epochs_huge": Row([*TUNE, "--epochs", "100000"], ["--epochs"]),
    "seed_10_to_the_20": Row([*TRAIN, "--seed", str(10**20)], ["--seed"]),
    "seed_negative": Row([*TRAIN, "--seed", "-3"], ["--seed"]),
    "timeout_negative": Row([*TUNE, "--timeout", "-5"], ["--timeout"]),
    "pruner_unknown": Row([*TUNE, "--pruner", "bogus"], ["'bogus'", "hyperband"]),
    "tune_recipe_unknown": Row([*TUNE, "--recipe", "nosuch"], ["recipe file not found", "nosuch.toml", "course, strong"]),
    "recipe_path_with_nul": Row(["final-report", "--storage", "{db}", "--recipe", "a\x00b.toml"],
                                ["'a\\x00b.toml'", "not a recipe file path", "NUL"]),
    "storage_with_nul": Row([*TUNE, "--storage", "sqlite:///{dir}/a\x00.db"], ["'sqlite:///", "\\x00", "NUL"]),
    "status_storage_with_nul": Row(["status", "--storage", f"postgresql://u:{PASSWORD}@h/a\x00"], ["NUL", "u:***@h"]),
    "study_file_path_with_nul": Row([*TUNE, "--study-file", "x\x00.toml"], ["--study-file", "null byte"]),
    "threads_zero": Row([*TRAIN, "--threads", "0"], ["--threads"]),
    "device_unknown": Row([*TRAIN, "--device", "tpu"], ["'tpu'"]),
    "dataset_unknown": Row([*TRAIN, "--dataset", "emnist"], ["'emnist'"]),
    "data_dir_is_a_file": Row([*TRAIN, "--data-dir", "{textfile}/data"], ["data dir"]),
    "final_seeds_10_to_the_12": Row(["final-report", "--storage", "{db}", "--seeds", str(10**12)], ["--seeds"]),
    "final_unknown_study": Row(["final-report", "--storage", "{db}", "--arch", "nosuch", "--out", "{out}"],
                               ["'nosuch'"]),
    "heartbeat_setting_not_a_number": Row(["status", "--storage", "{db}"], ["PAIRSEARCH_HEARTBEAT_SECONDS"],
                                          env={"PAIRSEARCH_HEARTBEAT_SECONDS": "soon"}),
    "dashboard_port_in_use": Row(["dashboard", "--storage", "{db}", "--port", "{busy_port}"],
                                 ["{busy_port}", "--port"]),
    "dashboard_port_out_of_range": Row(["dashboard", "--storage", "{db}", "--port", "70000"], ["--port"]),
    "dashboard_unknown_host": Row(["dashboard", "--storage", "{db}", "--host", "no-such-host.invalid"],
                                  ["no-such-host.invalid"]),
    # --- study files (and the rows of STUDY_FILES, below) -------------------------------------
    "file_binary": study_file_row("file_binary", ["not UTF-8 text"]),
    "file_is_a_directory": study_file_row("file_is_a_directory", ["is a directory"]),
    "file_missing": study_file_row("file_missing", ["not found"]),
    "file_never_ends": Row([*TUNE[:5], "--study-file", "/dev/zero", *TUNE[7:]],
                           ["/dev/zero", "device, pipe or socket"]),
    "file_4_gib": study_file_row("file_4_gib", ["larger than 1 MiB"]),
    # --- MNIST's IDX files under --data-dir ----------------------------------------------------
    "idx_images_8x8": Row(["data", "info", "--data-dir", "{dir}/idx/images_8x8"],
                          ["train-images-idx3-ubyte", "holds 6×8×8, not MNIST images (N×28×28)"]),
    "idx_label_12": Row([*TRAIN, "--data-dir", "{dir}/idx/label_12"],
                        ["t10k-labels-idx1-ubyte", "label 12 at index 0 is not a digit 0–9"]),
    "idx_counts_differ": Row([*TUNE, "--dataset", "mnist", "--data-dir", "{dir}/idx/counts_differ"],
                             ["train-labels-idx1-ubyte", "holds 5 labels for the 6 images"]),
    "idx_not_idx": Row(["data", "info", "--dataset", "mnist", "--data-dir", "{dir}/idx/not_idx"],
                       ["t10k-images-idx3-ubyte", "not an IDX file"]),
    "idx_header_promises_more": Row(["data", "info", "--data-dir", "{dir}/idx/header_promises_more"],
                                    ["train-images-idx3-ubyte", "truncated"]),
    # --- storages -----------------------------------------------------------------------------
    "storage_unsupported_scheme": Row(["status", "--storage", f"mysql://root:{PASSWORD}@localhost/x"],
                                      ["unsupported", "sqlite:///"]),
    "storage_unreachable_host": Row(["status", "--storage", f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/x"],
                                    ["cannot open storage", "***"]),
    "storage_not_a_database": Row(["status", "--storage", "sqlite:///{textfile}"], ["not an SQLite database"]),
    "storage_garbage_journal": Row(["status", "--storage", "journal:{garbage_journal}"], ["cannot open storage"]),
    "storage_missing_file": Row(["status", "--storage", "sqlite:///{dir}/no-such.db"], ["no storage at"]),
    "storage_grpc_malformed": Row(["status", "--storage", "grpc://nohostport"], ["grpc://HOST:PORT"]),
    "study_made_by_another_tool": Row([*TUNE, "--study", "foreign"], ["'foreign'", "not made by pairsearch"]),
    "study_with_another_spec": Row([*TUNE, "--pruner", "median"], ["different study spec", "--study"]),
    "study_at_other_epochs": Row([*TUNE, "--epochs", "7"], ["epochs per trial, here 7", "give --epochs", "--study"]),
    "tune_journal_spec_mismatch": Row([*TUNE[:-1], "journal:{journal}", "--epochs", "7"], ["--study"]),
    "storage_wrong_password": Row(["status", "--storage", "{cluster_wrong_password}"],
                                  ["password authentication failed"], needs="cluster"),
    "storage_nonexistent_database": Row(["status", "--storage", "{cluster_no_such_db}"],
                                        ["pairsearch_no_such_db"], needs="cluster"),
    "tune_nonexistent_database": Row([*TUNE[:-1], "{cluster_no_such_db}"], ["pairsearch_no_such_db"],
                                     needs="cluster"),
    # --- reading never writes: what is not an Optuna storage of pairsearch's is refused, untouched ---
    "storage_empty_file": Row(["status", "--storage", "sqlite:///{emptyfile}"], ["empty file", "no Optuna storage"]),
    "storage_another_applications_db": Row(["status", "--storage", "sqlite:///{otherdb}"], ["no Optuna storage"]),
    "dashboard_another_applications_db": Row(["dashboard", "--storage", "sqlite:///{otherdb}"],
                                             ["no Optuna storage"]),
    "final_report_another_applications_db": Row(["final-report", "--storage", "sqlite:///{otherdb}", "--out",
                                                 "{out}"], ["no Optuna storage"]),
    "storage_sqlite_without_a_path": Row(["status", "--storage", "sqlite:///"], ["names no file"]),
    "storage_sqlite_in_memory": Row([*TUNE[:-1], "sqlite:///:memory:"], ["names no file"]),
    "study_empty_minimize_by_optuna": Row([*TUNE, "--study", "foreign_empty"],
                                          ["'foreign_empty'", "not made by pairsearch", "--study"]),
    "study_multi_objective_by_optuna": Row([*TUNE, "--study", "foreign_multi"],
                                           ["'foreign_multi'", "not made by pairsearch"]),
    "final_report_data_dir_is_a_file": Row(["final-report", "--storage", "{db}", "--data-dir", "{textfile}/data",
                                            "--out", "{out}"], ["data dir"]),
    # --- issue 5/6, safe everywhere: paths the file system cannot take, a refused download, and
    # an unlabelled study that is no study a killed command left (it has trials) ----------------
    "data_dir_name_too_long": Row(["data", "info", "--data-dir", "{dir}/" + "d" * 300],
                                  ["data dir", "300 bytes", "at most 255"]),
    "tune_data_dir_name_too_long": Row([*TUNE, "--data-dir", "{dir}/" + "d" * 300], ["data dir", "300 bytes"]),
    "data_dir_path_too_long": Row(["data", "info", "--data-dir", "{dir}/" + "/".join(["d" * 200] * 21)],
                                  ["data dir", "must fit in 4095"]),
    "download_into_a_folder_under_a_file": Row(["data", "download", "--data-dir", "{textfile}/data"],
                                               ["could not download MNIST", "Not a directory"]),
    "study_unlabelled_maximize_with_trials": Row([*TUNE, "--study", "foreign_maximize"],
                                                 ["'foreign_maximize'", "not made by pairsearch", "--study"]),
    # --- values checked where they enter ---------------------------------------------------------
    "workers_superscript_digit": Row([*TUNE, "--workers", "²"], ["--workers", "'²'"]),
    "device_not_on_this_machine": Row([*TRAIN, "--device", "mps"], ["'mps'", "not available"]),
    "heartbeat_setting_huge": Row(["status", "--storage", "{db}"], ["PAIRSEARCH_HEARTBEAT_SECONDS", "3600"],
                                  env={"PAIRSEARCH_HEARTBEAT_SECONDS": "99999999"}),
    "outage_setting_not_a_number": Row(TUNE, ["PAIRSEARCH_STORAGE_OUTAGE_SECONDS", "'forever'"],
                                       env={"PAIRSEARCH_STORAGE_OUTAGE_SECONDS": "forever"}),
    "study_name_empty": Row([*TUNE, "--study", ""], ["--study", "empty"]),
    "study_name_with_a_newline": Row([*TUNE, "--study", "base\nother"], ["--study", "printable"]),
    # 496 = 512 (Optuna's VARCHAR) - len(".search100.final"): the longest name whose searches' and
    # final jobs' studies all fit; one more is refused.
    "study_name_too_long": Row([*TUNE, "--study", "s" * 497], ["--study", "at most 496 characters", "got 497"]),
    "study_name_of_final_jobs": Row([*TUNE, "--study", "mine.final"], ["--study", "'mine.final'", "must not end"]),
    "study_name_of_a_search": Row([*TUNE, "--study", "mine.search2"], ["--study", "'mine.search2'", "--repeats"]),
    # --- secrets: wherever a URL surfaces, its password does not --------------------------------------
    "status_storage_given_positionally": Row(["status", f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/x"],
                                             ["unexpected extra argument", "postgres:***@127.0.0.1"]),
    "dashboard_storage_given_positionally": Row(["dashboard", f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"],
                                                ["unexpected extra argument", "u:***@127.0.0.1"]),
    "storage_password_with_a_raw_at": Row(["status", "--storage", f"postgresql+psycopg://u:{PASSWORD}@x@127.0.0.1:1/d"],
                                          ["raw '@'", "%40"]),
    # Found by tests/test_fuzz_cli.py: an option's message echoes the value it refuses.
    "workers_given_a_url_with_a_password": Row([*TUNE, "--workers", f"postgresql://u:{PASSWORD}@h/db"],
                                               ["--workers", "u:***@h/db"]),
    "storage_grpc_malformed_with_password": Row(["status", "--storage", f"grpc://u:{PASSWORD}@nohostport"],
                                                ["grpc://HOST:PORT"]),
}
STUDY_FILE_ROWS = {name: study_file_row(name, words) for name, (_, words) in STUDY_FILES.items()}
ROWS = {**EXPLICIT_ROWS, **STUDY_FILE_ROWS}
SUBPROCESS_ROWS = ["trials_10_to_the_12", "file_binary", "storage_unreachable_host", "study_made_by_another_tool",
                   "file_never_ends", "idx_images_8x8"]


# MNIST's four files, 6 training and 4 test images, with one thing wrong in each folder.
BAD_MNIST = {
    "images_8x8": {"train_images": idx_bytes(np.zeros((6, 8, 8)))},
    "label_12": {"test_labels": idx_bytes(np.array([12, 0, 1, 2]))},
    "counts_differ": {"train_labels": idx_bytes(np.arange(5))},
    "not_idx": {"test_images": b"PK\x03\x04 a zip file"},
    "header_promises_more": {"train_images": idx_bytes(np.zeros((6, 28, 28)))[:16] + bytes(784)},
}


def write_mnist(folder: Path, *, damage: dict[str, bytes]) -> None:
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    content = {
        "train_images": idx_bytes(np.zeros((6, 28, 28))), "train_labels": idx_bytes(np.arange(6)),
        "test_images": idx_bytes(np.zeros((4, 28, 28))), "test_labels": idx_bytes(np.arange(4)),
    }
    for key, name in IDX_FILES.items():
        (raw / name).write_bytes(damage.get(key, content[key]))


@dataclass
class World:
    """Real storages and files the rows point at (``{name}`` placeholders)."""

    dir: Path
    values: dict

    def fill(self, text: str) -> str:
        return text.format(**self.values)

    def snapshot(self) -> dict[str, str]:
        """Every file under the world's folder, storages and their side files included: name → its
        bytes' sha256 (a file too large to read at every row, the sparse 4 GiB study file: its
        size and modification time). Not SQLite's ``-shm`` index, which a mere reader updates."""
        found = {}
        for path in sorted(self.dir.rglob("*")):
            if not path.is_file() or path.name.endswith("-shm"):
                continue
            stat = path.stat()
            found[str(path)] = (f"{stat.st_size}/{stat.st_mtime_ns}" if stat.st_size > LARGE_FILE_BYTES
                                else hashlib.sha256(path.read_bytes()).hexdigest())
        return found


LARGE_FILE_BYTES = 16 << 20


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_dir, pools):
    directory = tmp_path_factory.mktemp("bad-inputs")
    storage_dir = directory / "storage"
    storage_dir.mkdir()
    tiny = write_tiny_study(directory)
    spec = load_study_file(path=tiny)
    db, journal = storage_dir / "p.db", storage_dir / "j.log"
    for url in (f"sqlite:///{db}", f"journal:{journal}"):
        job = tuning.TuneRequest(spec=spec, study_name="base", storage=StorageHandle.resolve(url=url), trials=2, data=DataChoice(source=pools.source, data_dir=data_dir), recipe=course_recipe(epochs=spec.epochs))
        study = tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
        distributions = {"channels": optuna.distributions.IntDistribution(4, 8),
                         "lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
        for channels, value in ((4, 0.61), (8, 0.66)):
            study.add_trial(optuna.trial.create_trial(
                params={"channels": channels, "lr": 3e-3}, distributions=distributions, value=value,
                intermediate_values={1: value - 0.05, 2: value}, user_attrs={"stop_reason": "completed"},
            ))
    # Studies made by another tool in the same SQLite file: with trials, empty (plain Optuna's
    # default direction is MINIMIZE), and multi-objective.
    foreign = optuna.create_study(study_name="foreign", storage=f"sqlite:///{db}")
    foreign.optimize(lambda trial: trial.suggest_float("x", -1, 1) ** 2, n_trials=3)
    optuna.create_study(study_name="foreign_empty", storage=f"sqlite:///{db}")
    optuna.create_study(study_name="foreign_multi", storage=f"sqlite:///{db}", directions=["maximize", "minimize"])
    # Maximize and unlabelled, like a study a killed tune left, but with a trial: not adopted.
    optuna.create_study(study_name="foreign_maximize", storage=f"sqlite:///{db}", direction="maximize").optimize(
        lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    text_file = storage_dir / "notes.txt"
    text_file.write_text("not a database\n")
    empty_file = storage_dir / "empty.db"
    empty_file.write_bytes(b"")
    other_db = storage_dir / "invoices.db"  # another application's SQLite database
    with contextlib.closing(sqlite3.connect(other_db)) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        connection.commit()
    garbage = storage_dir / "garbage.log"
    garbage.write_bytes(b'{"op_code": 0, "worker_id": "x"\n\x00\xff\xfe garbage\n')

    studies = directory / "studies"
    studies.mkdir()
    marker = directory / "code-ran"
    for name, (text, _) in STUDY_FILES.items():
        content = text if isinstance(text, bytes) else text.replace("{marker}", str(marker)).encode()
        (studies / f"{name}.toml").write_bytes(content)
    (studies / "file_binary.toml").write_bytes(bytes(range(256)) * 4)
    (studies / "file_is_a_directory.toml").mkdir()
    with (studies / "file_4_gib.toml").open("wb") as sparse:
        sparse.truncate(4 << 30)
    for name, damage in BAD_MNIST.items():
        write_mnist(directory / "idx" / name, damage=damage)

    values = {
        "db": f"sqlite:///{db}", "journal": str(journal), "tiny": str(tiny), "dir": str(directory),
        "textfile": str(text_file), "garbage_journal": str(garbage), "out": str(directory / "report"),
        "emptyfile": str(empty_file), "otherdb": str(other_db),
        "marker": str(marker),
    }
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        values["busy_port"] = str(busy.getsockname()[1])
        yield World(dir=directory, values=values)
    assert not marker.exists(), "a study file's contents were executed"


@pytest.fixture(scope="module")
def cluster_values():
    """URLs on a throwaway PostgreSQL server with password authentication."""
    with running_cluster() as cluster:
        yield {
            "cluster_wrong_password": cluster.url(password="not-" + cluster.password),
            "cluster_no_such_db": cluster.url("pairsearch_no_such_db"),
            "cluster_password": cluster.password,
        }


@pytest.fixture
def no_workers(monkeypatch):
    """A row that gets as far as starting workers has slipped through validation."""

    def refuse(**kwargs):
        raise AssertionError("bad input reached the point of starting workers")

    monkeypatch.setattr(tuning, "run_workers", refuse)
    monkeypatch.setattr(final, "run_workers", refuse)


@pytest.fixture
def main_in_process(data_dir, monkeypatch, capsys, no_workers):
    """``pairsearch ARGS`` through the console script's entry point: (exit code, stdout, stderr)."""

    def call(args: list[str], env: dict) -> tuple[int, str, str]:
        for key in [key for key in os.environ if key.startswith("PAIRSEARCH_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return run_main(args, capsys=capsys)

    return call


def resolve(name: str, world: World, request) -> tuple[list[str], list[str], str | None]:
    """The row's args and words with placeholders filled; and the password it must not print."""
    row = ROWS[name]
    values = dict(world.values)
    secret = PASSWORD
    if row.needs == "cluster":
        if unavailable_reason():
            pytest.skip(unavailable_reason())
        cluster = request.getfixturevalue("cluster_values")
        values.update(cluster)
        secret = cluster["cluster_password"]
    filled = World(dir=world.dir, values=values)
    args = [filled.fill(arg) for arg in row.args]
    words = [filled.fill(word) for word in row.words]
    return args, words, secret


def assert_one_error_line(*, code: int, stdout: str, stderr: str, words: list[str], secret: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("pairsearch: error: "), lines[0]
    assert stdout == "", stdout
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert secret not in stdout + stderr
    return lines[0]


def test_the_table_has_at_least_25_rows_and_none_replaces_another():
    assert len(ROWS) >= 25
    assert len(ROWS) == len(EXPLICIT_ROWS) + len(STUDY_FILE_ROWS)  # a shared name would drop a row


@pytest.mark.parametrize("name", sorted(ROWS))
def test_bad_input_is_one_line_exit_2_and_leaves_the_storage_alone(name, world, main_in_process, request):
    if ROWS[name].known_issue:
        request.applymarker(pytest.mark.xfail(reason=ROWS[name].known_issue, strict=True))
    args, words, secret = resolve(name, world, request)
    before = world.snapshot()
    code, stdout, stderr = main_in_process(args, ROWS[name].env)
    assert_one_error_line(code=code, stdout=stdout, stderr=stderr, words=words, secret=secret)
    assert world.snapshot() == before, "a storage file changed, appeared or vanished"


@pytest.mark.parametrize("name", sorted(name for name, row in ROWS.items() if row.args[0] == "final-report"))
def test_a_refused_final_report_leaves_no_report_folder(name, world, main_in_process, request):
    args, words, secret = resolve(name, world, request)
    if "--out" not in args:  # the folder it must not make is one this test can look at
        args = [*args, "--out", world.values["out"]]
    code, stdout, stderr = main_in_process(args, ROWS[name].env)
    assert_one_error_line(code=code, stdout=stdout, stderr=stderr, words=words, secret=secret)
    assert not Path(world.values["out"]).exists()


def test_bad_input_in_real_processes(world, data_dir):
    """A few rows as a user runs them: a real process, the console script's exit code."""
    before = world.snapshot()
    with ThreadPoolExecutor(max_workers=len(SUBPROCESS_ROWS)) as pool:
        futures = {}
        for name in SUBPROCESS_ROWS:
            args = [world.fill(arg) for arg in ROWS[name].args]
            futures[name] = pool.submit(run_cli, args, data_dir=data_dir, timeout=120)
        results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        words = [world.fill(word) for word in ROWS[name].words]
        assert_one_error_line(code=result.returncode, stdout=result.stdout, stderr=result.stderr,
                              words=words, secret=PASSWORD)
    assert world.snapshot() == before
