"""Adding an arch is one ``@register_arch`` builder in training/models.py plus one file in studies/.

A copy of the repository gets exactly those two changes — a copy of ``base``'s builder under a
new name and a copy of ``base``'s study file — and then the CLI (``archs``, ``tune``,
``final-report``) and the whole unit suite run in that copy. Nothing else names the archs or
counts them, so nothing else needs to change. An arch that declares a cell of the 2×2 design
(taking it over from ``base``) joins the report's answer the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env

pytestmark = pytest.mark.slow

NEW_ARCH = "base_copy"
CELL_ARCH = "shared_plain"
MODELS = Path("pairsearch") / "training" / "models.py"


def builder(name: str, *, cell: str = "") -> str:
    return f'''

@register_arch(name="{name}", description="a copy of base, registered by a test"{cell})
def build_{name}(params: dict) -> nn.Module:
    from pairsearch.training.networks import SiameseNet

    return SiameseNet(params=params, shared=True, aux=False)
'''


def copy_with_arch(copy: Path, name: str, *, cell: str = "") -> Path:
    """The repository with one builder appended to training/models.py and one study file added."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for listed_name in listed:  # the working tree as a clone (plus uncommitted files) has it
        if (REPO / listed_name).is_file():
            (copy / listed_name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / listed_name, copy / listed_name)
    with open(copy / MODELS, "a", encoding="utf-8") as models:
        models.write(builder(name, cell=cell))
    study = (REPO / "studies" / "base.toml").read_text().replace('arch = "base"', f'arch = "{name}"')
    (copy / "studies" / f"{name}.toml").write_text(study)
    return copy


@pytest.fixture(scope="module")
def extended_repo(tmp_path_factory) -> Path:
    return copy_with_arch(tmp_path_factory.mktemp("extended") / "repo", NEW_ARCH)


@pytest.fixture(scope="module")
def cell_repo(tmp_path_factory) -> Path:
    """A copy where a new arch declares the (shared weights, no aux loss) cell and base gives it up."""
    copy = copy_with_arch(tmp_path_factory.mktemp("cell") / "repo", CELL_ARCH,
                          cell=", cell=Cell(shared_weights=True, aux_loss=False)")
    models = (copy / MODELS).read_text()
    base_cell = '''description="siamese, shared trunk → compare head",
               cell=Cell(shared_weights=True, aux_loss=False))'''
    assert base_cell in models
    (copy / MODELS).write_text(models.replace(base_cell, 'description="siamese, shared trunk → compare head")'))
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


def test_an_arch_that_declares_a_cell_joins_the_answer(cell_repo, data_dir):
    url = f"sqlite:///{cell_repo / 'storage' / 'p.db'}"
    for arch in (CELL_ARCH, "base_aux", "sep", "sep_aux"):
        tuned = run_in(cell_repo, ["tune", "--arch", arch, "--trials", "2", "--epochs", "1", "--workers", "2",
                                   "--storage", url, "--quiet"], data_dir=data_dir)
        assert tuned.returncode == 0, tuned.stderr
    reported = run_in(cell_repo, ["final-report", "--seeds", "2", "--workers", "2", "--storage", url,
                                  "--out", str(cell_repo / "report"), "--quiet"], data_dir=data_dir)
    assert reported.returncode == 0, reported.stderr
    answer = (cell_repo / "report" / "summary.md").read_text().partition("## The answer")[2]
    effects = [line for line in answer.splitlines()
               if line.startswith(("| Weight sharing", "| The auxiliary loss", "| Interaction"))]
    uses = [CELL_ARCH in line for line in effects]
    assert len(effects) == 7 and sum(uses) == 5, effects  # all but the two simple effects of the other cells
    assert not re.search(r"\bbase\b(?!_)", answer)  # base gave its cell up


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
