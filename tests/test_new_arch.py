"""Adding an arch is one ``@register_arch`` builder in models.py plus one file in studies/.

A copy of the repository gets exactly those two changes — a copy of ``base``'s builder under a
new name and a copy of ``base``'s study file — and then the CLI (``archs``, ``tune``,
``final-report``) and the whole unit suite run in that copy. Nothing else names the archs or
counts them, so nothing else needs to change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env

pytestmark = pytest.mark.slow

NEW_ARCH = "base_copy"
BUILDER = f'''

@register_arch(name="{NEW_ARCH}", description="a copy of base, registered by a test")
def build_{NEW_ARCH}(params: dict) -> nn.Module:
    return SiameseNet(params=params, shared=True, aux=False)
'''


@pytest.fixture(scope="module")
def extended_repo(tmp_path_factory) -> Path:
    """The repository with one builder appended to models.py and one study file added."""
    copy = tmp_path_factory.mktemp("extended") / "repo"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:  # the working tree as a clone (plus uncommitted files) has it
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    with open(copy / "pairsearch" / "models.py", "a", encoding="utf-8") as models:
        models.write(BUILDER)
    study = (REPO / "studies" / "base.toml").read_text().replace('arch = "base"', f'arch = "{NEW_ARCH}"')
    (copy / "studies" / f"{NEW_ARCH}.toml").write_text(study)
    return copy


def run_in(copy: Path, args: list[str], *, data_dir: Path) -> subprocess.CompletedProcess:
    env = cli_env(data_dir, PYTHONPATH=str(copy))
    return subprocess.run([sys.executable, "-m", "pairsearch", *args], capture_output=True, text=True,
                          env=env, cwd=copy, timeout=900, check=False)


def test_the_new_arch_runs_through_archs_tune_and_final_report(extended_repo, data_dir):
    listed = run_in(extended_repo, ["archs"], data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert NEW_ARCH in [line.split()[0] for line in listed.stdout.splitlines()]
    url = f"sqlite:///{extended_repo / 'storage' / 'p.db'}"
    tuned = run_in(extended_repo, ["tune", "--arch", NEW_ARCH, "--trials", "2", "--epochs", "1",
                                   "--workers", "2", "--storage", url, "--quiet"], data_dir=data_dir)
    assert tuned.returncode == 0, tuned.stderr
    assert tuned.stdout.startswith("finished=2 ")
    reported = run_in(extended_repo, ["final-report", "--seeds", "2", "--workers", "2", "--storage", url,
                                      "--out", str(extended_repo / "report"), "--quiet"], data_dir=data_dir)
    assert reported.returncode == 0, reported.stderr
    assert f"| {NEW_ARCH} |" in reported.stdout
    assert (extended_repo / "report" / "report.html").is_file()


def test_the_unit_suite_passes_with_the_new_arch(extended_repo):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAIRSEARCH_")}
    env["PYTHONPATH"] = str(extended_repo)
    check = subprocess.run([sys.executable, "-c", "import pairsearch.training.models as m; print(m.__file__, len(m.ARCHS))"],
                           capture_output=True, text=True, env=env, cwd=extended_repo, check=True)
    assert check.stdout.startswith(str(extended_repo))  # the copy is what runs
    pytest_args = [sys.executable, "-m", "pytest", "-m", "not slow", "-p", "no:cacheprovider"]
    collected = subprocess.run([*pytest_args, "--collect-only", "-q"], capture_output=True, text=True, env=env,
                               cwd=extended_repo, timeout=300, check=False)
    assert f"-{NEW_ARCH}]" in collected.stdout or f"[{NEW_ARCH}]" in collected.stdout  # parametrised by the registry
    suite = subprocess.run([*pytest_args, "-q", "-x"], capture_output=True, text=True, env=env,
                           cwd=extended_repo, timeout=1800, check=False)
    assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
