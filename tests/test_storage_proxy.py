"""`pairsearch storage-proxy`: Optuna's gRPC proxy in front of the local Postgres, two workers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from conftest import REPO, cli_env, free_port, run_cli, write_tiny_study

pytest.importorskip("grpc", reason="the gRPC proxy needs pip install 'pairsearch[grpc]' (make installs it)")




def wait_for_port(port: int, *, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the proxy did not listen on {port}")


@pytest.mark.postgres
def test_two_workers_through_the_grpc_proxy_spend_an_exact_budget(pg_url, tmp_path, data_dir):
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "pairsearch", "storage-proxy", "--storage", pg_url, "--port", str(port)],
        cwd=REPO, env=cli_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, process=proxy)
        study_file = write_tiny_study(tmp_path, epochs=1)
        tuned = run_cli(
            ["tune", "--arch", "base", "--study-file", str(study_file), "--trials", "6", "--workers", "2",
             "--storage", f"grpc://127.0.0.1:{port}", "--quiet"],
            data_dir=data_dir,
        )
        assert tuned.returncode == 0, tuned.stderr
        # Two tune processes starting one new study at once: no lock through the proxy, so the
        # second must wait for the first to label the study, and neither may end on the other's trials.
        together = [subprocess.Popen(
            [sys.executable, "-m", "pairsearch", "tune", "--arch", "base", "--study-file", str(study_file),
             "--study", "pair", "--trials", "4", "--workers", "1", "--storage", f"grpc://127.0.0.1:{port}",
             "--quiet"], cwd=REPO, env=cli_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for _ in range(2)]
        ended = [process.communicate(timeout=300) + (process.returncode,) for process in together]
        assert [code for _, _, code in ended] == [0, 0], [errors for _, errors, _ in ended]
    finally:
        proxy.terminate()
        output, errors = proxy.communicate(timeout=30)
    assert "grpc://127.0.0.1" in output and "Traceback" not in errors
    trials = optuna.load_study(study_name="base", storage=pg_url).trials
    states = Counter(trial.state.name for trial in trials)
    assert states["COMPLETE"] + states["PRUNED"] == 6, states
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, states
    # Without a shared lock a surplus trial may be created; it is failed, never counted.
    surplus = [t for t in trials if t.state.name == "FAIL"]
    assert all(t.user_attrs.get("stop_reason") == "over budget" for t in surplus), surplus
    pair = Counter(trial.state.name for trial in optuna.load_study(study_name="pair", storage=pg_url).trials)
    assert pair["COMPLETE"] + pair["PRUNED"] == 4 and pair["RUNNING"] == 0, pair
