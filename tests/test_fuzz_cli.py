"""Property-based tests of every CLI option parser: a checked, typed value reaches the stage, or one line.

Each example runs ``pairsearch COMMAND --OPTION VALUE`` through :func:`pairsearch.__main__.main` in
this process. The stages' entry functions are replaced by a stub that records what reached
it, so a valid value stops there (checked: the request holds typed, in-range values) and an
invalid one must end in exit code 2 with exactly one ``pairsearch: error:`` line on stderr —
never a traceback, never a password. Profiles: ``tests/fuzzing.py``.
"""

from __future__ import annotations

import contextlib
import io
import string

import pytest
from conftest import TINY_STUDY
from fuzzing import PROFILES, check_property
from hypothesis import strategies as st

from pairsearch import dashboard, final, progress, tuning
from pairsearch.__main__ import main
from pairsearch.inputs import MAX_STUDY_NAME, MAX_WORKERS
from pairsearch.searches import FINAL_SUFFIX, MAX_REPEATS, split_search_name
from pairsearch.training import loop

PASSWORD = "Fz-s3cret-77"
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=string.digits + "-+.eE_ ", max_size=12),
    st.sampled_from(["", " ", "0", "-1", "1e9", "auto", "²", "٣", "nan", "inf", "cuda:7", "mps", "\n", "a\x00b",
                     f"postgresql://u:{PASSWORD}@127.0.0.1:1/x", f"grpc://u:{PASSWORD}@h", "sqlite:///", "--help",
                     "base.final", "base.search3", "base.search0", "s" * 496, "s" * 497, "101"]),
)
# (command and fixed args, option): one option fuzzed per example; the rest are valid.
OPTIONS = [
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--workers"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--study"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--device"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--epochs"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--pruner"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--timeout"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--dataset"),
    (["tune", "--arch", "base", "--study-file", "{tiny}"], "--trials"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--repeats"),
    (["tune", "--trials", "3"], "--arch"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--storage"),
    (["tune", "--arch", "base", "--trials", "3", "--study-file", "{tiny}"], "--recipe"),
    (["tune", "--arch", "base", "--trials", "3"], "--study-file"),
    (["final-report"], "--seeds"),
    (["final-report"], "--workers"),
    (["final-report"], "--epochs"),
    (["final-report"], "--threads"),
    (["final-report"], "--recipe"),
    (["final-report"], "--arch"),
    (["final-run"], "--device"),
    (["train", "--arch", "base"], "--set"),
    (["train", "--arch", "base"], "--seed"),
    (["train", "--arch", "base"], "--epochs"),
    (["dashboard"], "--port"),
    (["dashboard"], "--host"),
    (["status"], "--storage"),
]


class Reached(Exception):
    """A stage's entry function was called: every option before it checked out."""


@pytest.fixture
def stubbed_stages(monkeypatch, tmp_path, data_dir):
    """Every stage entry replaced by a recorder; the world a command needs (a study file, a storage)."""
    reached: list[tuple[str, object]] = []

    def recorder(name: str):
        def record(**kwargs):
            reached.append((name, kwargs))
            raise Reached(name)
        return record

    for module, name in [(tuning, "tune"), (final, "final_report"), (final, "run_final_jobs"),
                         (loop, "train_final_protocol"), (dashboard, "serve"),
                         (dashboard, "serve_storage_proxy"), (progress, "print_status")]:
        monkeypatch.setattr(module, name, recorder(name))
    for key in ("PAIRSEARCH_STORAGE", "PAIRSEARCH_HEARTBEAT_SECONDS", "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(TINY_STUDY.format(arch="base", epochs=2))
    return {"reached": reached, "tiny": str(tiny)}


def run_main(args: list[str]) -> tuple[int | None, str, str, bool]:
    """(exit code, stdout, stderr, whether a stage was reached)."""
    out, err = io.StringIO(), io.StringIO()
    code, reached = None, False
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exited:
            code = exited.code
        except Reached:
            reached = True
    return code, out.getvalue(), err.getvalue(), reached


def check_request(name: str, kwargs: dict) -> None:
    """What reached a stage is typed and in range."""
    request = kwargs.get("request") or kwargs.get("worker")
    if name == "tune":
        assert 1 <= request.workers <= MAX_WORKERS and isinstance(request.workers, int)
        # Room for its searches' and final jobs' studies (NAME.search100.final) in a VARCHAR(512).
        assert request.study_name.isprintable() and 0 < len(request.study_name) <= MAX_STUDY_NAME - len(
            ".search100.final")
        assert not request.study_name.endswith(FINAL_SUFFIX) and split_search_name(request.study_name)[1] == 0
        assert isinstance(request.repeats, int) and 1 <= request.repeats <= MAX_REPEATS
        assert request.device in ("cpu", "cuda") or request.device.startswith("cuda:")
    if name == "final_report":
        # None: the default, 15 runs per arch spread over its searches (decided from the storage).
        assert request.seeds is None or (isinstance(request.seeds, int) and 2 <= request.seeds <= 1000)
        assert 1 <= request.workers <= MAX_WORKERS


@pytest.mark.parametrize("profile", PROFILES)
def test_every_option_gives_a_checked_value_or_one_clean_line(profile, stubbed_stages):
    reached = stubbed_stages["reached"]

    def check(example: tuple[int, str]) -> None:
        index, value = example
        fixed, option = OPTIONS[index]
        args = [arg.replace("{tiny}", stubbed_stages["tiny"]) for arg in fixed] + [option, value]
        reached.clear()
        code, stdout, stderr, got_there = run_main(args)
        assert PASSWORD not in stdout + stderr
        assert "Traceback" not in stderr
        if got_there:
            check_request(*reached[-1])
            return
        if code == 0:  # only the help exits 0 without reaching a stage
            assert value == "--help", (args, stdout, stderr)
            return
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2, (args, code, stderr)
        assert len(lines) == 1 and lines[0].startswith("pairsearch: error: "), (args, stderr)

    check_property(profile=profile, strategy=st.tuples(st.integers(0, len(OPTIONS) - 1), TEXT), check=check)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_environment_setting_is_checked_or_one_clean_line(profile, stubbed_stages, monkeypatch):
    def check(example: tuple[str, str]) -> None:
        name, value = example
        if "\x00" in value:
            return  # an environment variable cannot hold a NUL byte
        with monkeypatch.context() as patched:
            patched.setenv(name, value)
            code, _, stderr, got_there = run_main(["status"])
        if got_there:
            return
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and name in lines[0], (name, value, stderr)

    names = st.sampled_from(["PAIRSEARCH_HEARTBEAT_SECONDS", "PAIRSEARCH_STORAGE_OUTAGE_SECONDS", "PAIRSEARCH_STORAGE"])
    strategy = st.tuples(names, TEXT)

    def check_named(example):
        name, value = example
        if name == "PAIRSEARCH_STORAGE":  # its errors name the URL, not the variable
            with monkeypatch.context() as patched:
                patched.setenv(name, value) if "\x00" not in value else None
                code, stdout, stderr, got_there = run_main(["status"])
            assert PASSWORD not in stdout + stderr and "Traceback" not in stderr
            assert got_there or (code == 2 and len(stderr.strip().splitlines()) == 1), (value, stderr)
            return
        check(example)

    check_property(profile=profile, strategy=strategy, check=check_named)
