"""The command line as a user runs it: output formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import REPO as REPO_ROOT
from conftest import cli_env, run_cli

from pairsearch.training.models import ARCHS

ALL_ARCHS = list(ARCHS)
TINY_TRAIN = ["train", "--arch", "base", "--epochs", "1", "--set", "channels=4", "--set", "hidden=8"]

# Every invocation run as a separate process, once per module. They run side by side because
# each one pays ~2 s of CPU for `import torch`; tests below only read the results.
RUNS = {
    "help": ["--help"],
    "archs": ["archs"],
    "train": TINY_TRAIN,
    "train_json": [*TINY_TRAIN, "--json"],
    "data_info": ["data", "info"],
    "epochs_text": ["train", "--arch", "base", "--epochs", "x"],  # a usage error, as a real process
}
# Every kind of mistake, checked through the console script's entry point in this process (a
# process each would cost ~2 s of CPU for `import torch`); one of them also as a real process.
BAD_INPUTS = {  # name: (args, words the one-line message must contain)
    "unknown_arch": (["train", "--arch", "resnet"], ["'resnet'", *ALL_ARCHS]),
    "unknown_param": (["train", "--arch", "base", "--set", "depth=3"],
                      ["'depth'", "channels", "hidden", "lr", "dropout", "batchnorm"]),
    "out_of_range": (["train", "--arch", "base", "--set", "channels=1000"], ["channels", "[4, 256]"]),
    "unparsable": (["train", "--arch", "base", "--set", "lr=fast"], ["lr", "'fast'", "float"]),
    "malformed_set": (["train", "--arch", "base", "--set", "channels"], ["'channels'", "name=value"]),
    "epochs_zero": (["train", "--arch", "base", "--epochs", "0"], ["--epochs"]),
    "epochs_text": (["train", "--arch", "base", "--epochs", "x"], ["--epochs"]),
    "unknown_option": (["train", "--arch", "base", "--colour"], ["--colour"]),
    "missing_arch": (["train"], ["--arch"]),
    "unknown_command": (["trian"], ["trian"]),
    "unknown_dataset": (["train", "--arch", "base", "--dataset", "nope"], ["'nope'", "mnist5k"]),
    "mnist_missing": (["train", "--arch", "base", "--dataset", "mnist"],
                      ["MNIST", "pairsearch data download", "mnist5k"]),
    "cuda_without_gpu": (["train", "--arch", "base", "--device", "cuda"], ["cuda", "GPU"]),
}


@pytest.fixture(scope="module")
def runs(data_dir):
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, args, data_dir=data_dir) for name, args in RUNS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture
def main_in_process(data_dir, monkeypatch, capsys):
    """``pairsearch ARGS`` through :func:`pairsearch.__main__.main`: (exit code, stdout, stderr)."""
    from pairsearch.__main__ import main

    for key in [key for key in os.environ if key.startswith("PAIRSEARCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))
    def call(args: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(args)
        captured = capsys.readouterr()
        return exited.value.code, captured.out, captured.err

    return call


def test_help_exits_zero(runs):
    result = runs["help"]
    assert result.returncode == 0, result.stderr
    for command in ("train", "tune", "final-report", "archs", "data"):
        assert command in result.stdout


def test_archs_lists_every_registered_arch_one_per_line(runs):
    result = runs["archs"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == ALL_ARCHS
    assert all("=" in word for line in lines if line.startswith(" ") for word in line.split())  # params, indented


@pytest.mark.parametrize("args", [[], ["data"]])
@pytest.mark.parametrize("columns", [80, 200])
def test_bare_command_lists_every_description_whole(data_dir, args, columns):
    """Click cuts a first sentence longer than the line allows with "...": each one fits at 80 columns."""
    result = run_cli(args, data_dir=data_dir, COLUMNS=str(columns))
    commands = result.stdout.split("Commands:")[1]
    assert result.returncode == 0 and commands.strip(), result.stderr
    assert "..." not in commands, commands


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_archs_wraps_to_the_terminal_width_and_indents_the_params(data_dir, columns):
    result = run_cli(["archs"], data_dir=data_dir, COLUMNS=str(columns))
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and max(map(len, lines)) <= max(columns, 60), result.stdout  # no word is split
    params = " ".join(" ".join(line.split()) for line in lines if line.startswith(" " * 10))
    assert all(f"{name}={value}" in params for name, value in ARCHS["base_aux"].defaults.items())


IMPORTED = """
import sys
from pairsearch.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("IMPORTED", *sorted(name for name in ("torch", "optuna", "pydantic") if name in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(("args", "heavy"), [
    (["--help"], set()), (["archs"], set()), (["archs", "--design"], set()), (["status"], {"optuna", "pydantic"}),
    (["data", "info"], {"pydantic"}),
])
def test_answering_commands_do_not_import_torch(data_dir, args, heavy):
    """``--help``, ``archs``, ``status`` and ``data info`` answer at once: no torch (~1.5 s), no optuna where
    none is read, and pydantic only where an option has a value to check (typer's adapters: half of
    ``archs``'s CPU time). ``data info`` reads the facts beside a cache it has described before."""
    from pairsearch.data.sources import pool_facts

    db = REPO_ROOT / "docs" / "results" / "pairsearch.db"
    extra = ["--storage", f"sqlite:///{db}"] if args == ["status"] else []
    if args == ["data", "info"]:
        pool_facts(source="mnist5k", data_dir=data_dir)
    done = subprocess.run([sys.executable, "-c", IMPORTED, *args, *extra], capture_output=True, text=True,
                          env=cli_env(data_dir), cwd=REPO_ROOT, timeout=120, check=False)
    imported = done.stderr.strip().splitlines()[-1].split()
    assert imported[0] == "IMPORTED" and set(imported[1:]) == heavy, done.stderr[-2000:]


def test_train_prints_epoch_lines_then_test_accuracy(runs):
    result = runs["train"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert re.match(r"epoch\s+1/1\s", lines[0]) and "eval_acc=" in lines[0]
    assert re.fullmatch(r"test_accuracy=0\.\d{4}", lines[-1])
    assert "dataset: mnist5k" in result.stderr  # auto says which source it picked


def test_train_json_prints_one_object(runs):
    result = runs["train_json"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(report) == {"arch", "params", "seed", "epochs", "dataset", "history", "test_accuracy", "status"}
    assert report["arch"] == "base" and report["seed"] == 0 and report["epochs"] == 1
    assert report["params"]["channels"] == 4 and report["params"]["hidden"] == 8
    assert report["dataset"] == "mnist5k" and report["status"] == "completed"
    assert len(report["history"]) == 1
    assert report["test_accuracy"] == report["history"][-1]["eval_accuracy"]
    assert 0 <= report["test_accuracy"] <= 1


def test_text_and_json_runs_agree(runs):
    text_accuracy = runs["train"].stdout.strip().splitlines()[-1].split("=")[1]
    report = json.loads(runs["train_json"].stdout)
    assert text_accuracy == f"{report['test_accuracy']:.4f}"  # same seed, same threads: same run


def test_data_info_describes_the_pools(runs, data_dir, pools):
    result = runs["data_info"]
    assert result.returncode == 0, result.stderr
    info = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert info["source"] == "mnist5k"
    assert info["train_pool"] == "3000" and info["test_pool"] == "2000"
    assert info["train_class_counts"] == str([300] * 10)
    assert info["test_class_counts"] == str([200] * 10)
    assert info["fingerprint"] == pools.fingerprint
    assert info["cache"] == str(data_dir / "cache" / "mnist5k-pools.pt")


def assert_one_line_error(code: int, stderr: str, words: list[str]) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_exit_code_2(main_in_process, name):
    args, words = BAD_INPUTS[name]
    if name == "cuda_without_gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, stdout, stderr = main_in_process(args)
    assert stdout == ""
    assert_one_line_error(code, stderr, words)


def test_bad_input_in_a_real_process(runs):
    result = runs["epochs_text"]
    assert result.stdout == ""
    assert_one_line_error(result.returncode, result.stderr, BAD_INPUTS["epochs_text"][1])
