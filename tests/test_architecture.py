"""The layering docs/architecture.md promises, read from the code's own imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pairsearch"


def imported_modules(module: str) -> set[str]:
    """Every ``pairsearch.X`` a module imports, at the top or inside functions."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pairsearch"):
            if node.module == "pairsearch":
                found.update(f"pairsearch.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("pairsearch"))
    return found


@pytest.mark.parametrize(("module", "sibling"), [("final", "tuning"), ("tuning", "final")])
def test_the_two_stages_do_not_import_each_other(module, sibling):
    assert f"pairsearch.{sibling}" not in imported_modules(module)


# What the CLI may use of each stage: its entry functions and their typed inputs, nothing else.
CLI_MAY_USE = {
    "tuning": {"tune", "TuneRequest"},
    "final": {"final_report", "FinalRequest", "run_final_jobs", "JobWorker"},
    "training": {"train_final_protocol"},
    "models": {"ARCHS"},
    "sources": {"download_mnist"},
}


def attributes_used(module: str) -> dict[str, set[str]]:
    """For each ``from pairsearch import X`` in ``module``: the attributes of X it uses."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    used: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pairsearch."):
            used.setdefault(node.module.removeprefix("pairsearch."), set()).update(a.name for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            used.setdefault(node.value.id, set()).add(node.attr)
    return used


def test_the_cli_calls_one_entry_function_per_stage_and_does_no_stage_work():
    imported = imported_modules("cli")
    for below in ("storage", "runtime", "jobs", "results", "samplers", "studyspec"):
        assert f"pairsearch.{below}" not in imported, f"cli imports pairsearch.{below}"
    used = attributes_used("cli")
    for stage, allowed in CLI_MAY_USE.items():
        assert used.get(stage, set()) <= allowed, (stage, used.get(stage))


@pytest.mark.parametrize("module", ["storage", "backends", "storage_errors", "redaction"])
def test_the_storage_modules_neither_print_nor_change_global_state_at_import(module):
    source = (PACKAGE / f"{module}.py").read_text()
    assert "print(" not in source
    assert "set_verbosity" not in source


STAGES = {"cli", "tuning", "final", "inputs", "__main__"}


def test_no_module_imports_a_layer_above_it():
    below_the_stages = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in STAGES | {"__init__"})
    assert {"storage", "training", "report", "results"} <= set(below_the_stages)  # the glob found the package
    for module in below_the_stages:
        assert not imported_modules(module) & {f"pairsearch.{stage}" for stage in STAGES}, module


# String-key reads and writes of Optuna user attrs still outside pairsearch.records, per module:
# debts being paid (records.TunedStudy took tuning's and final's study attrs). A module may
# only lose accesses; a new module gets none — a new stored fact goes into a typed record.
USER_ATTR_ACCESSES = {"final": 5, "final_worker": 6, "jobs": 4, "progress": 9, "report": 1,
                      "report_provenance": 4, "results": 2, "runtime": 3, "tuning": 10}
ACCESS = re.compile(r"user_attrs\[|user_attrs\.get\(|set_user_attr\(")


def test_user_attrs_are_read_and_written_through_the_records_module():
    for path in PACKAGE.glob("*.py"):
        if path.stem == "records":
            continue
        found = len(ACCESS.findall(path.read_text()))
        assert found <= USER_ATTR_ACCESSES.get(path.stem, 0), (
            f"{path.stem}: {found} string-key user-attr accesses; go through pairsearch.records")
