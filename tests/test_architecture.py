"""The map docs/architecture.md draws, read from the code's own imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pairsearch"


def module_name(path: Path) -> str:
    """``pairsearch/storage/handle.py`` → ``storage.handle``; a package's ``__init__`` is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(module: str) -> set[str]:
    """Every pairsearch module ``module`` imports, at the top, inside functions or for types only."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pairsearch"):
            base = node.module.removeprefix("pairsearch").removeprefix(".")
            for alias in node.names:
                child = f"{base}.{alias.name}".lstrip(".")
                found.add(child if child in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("pairsearch.") for a in node.names if a.name.startswith("pairsearch."))
    return found - {"", module}


# The layers, top to bottom: a module imports only from layers below its own, or within its own
# wing (a subpackage). The top level reads as the stages: the commands, the boundary, the two stages.
LAYERS = [
    {"__main__"},
    {"cli"},
    {"inputs", "options", "progress", "dashboard"},     # the boundary and what the user sees
    {"tuning", "final"},                                # the two stages
    {"tuning_setup", "final_plans", "final_notes"},     # each stage's study work before and after workers
    {"workers", "report", "samplers"},                  # what the stages run on
    {"overview"},                                       # studies summarised (their stored jobs counted)
    {"jobs", "studyspec"},                              # stored jobs queried; the study file
    {"records"},                                        # what the storage holds, typed
    {"searches", "training"},                           # independent searches; one training run
    {"data", "storage"},                                # the pairs; the storage
    {"tomlfile", "version", "paths"},                   # a TOML file read safely; which code runs; path lengths
    {"defaults", "errors", "terminal"},                 # limits and defaults; the one error type; the one status line
    {"redaction"},                                      # passwords out of any text
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return next(index for index, names in enumerate(LAYERS) if top in names)


def test_every_module_has_a_place_on_the_map():
    unplaced = [module for module in MODULES if module and module.split(".")[0] not in set().union(*LAYERS)]
    assert not unplaced
    assert {"storage.handle", "workers.runtime", "report.document", "training.loop", "data.pairs"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m))
def test_imports_go_down_a_layer_or_stay_in_the_wing(module):
    wing = module.split(".")[0]
    for imported in imported_modules(module):
        same_wing = "." in module and imported.split(".")[0] == wing
        assert same_wing or layer_of(imported) > layer_of(module), f"{module} imports {imported}"


def test_the_import_graph_has_no_cycle():
    graph = {module: imported_modules(module) & set(MODULES) for module in MODULES if module}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " → ".join((*path, module))
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize(("module", "sibling"), [("final", "tuning"), ("tuning", "final"),
                                                ("final_plans", "tuning_setup"), ("tuning_setup", "final_plans")])
def test_the_two_stages_do_not_import_each_other(module, sibling):
    assert sibling not in imported_modules(module)


# Each wing's door: the modules of a subpackage that the rest of the package may import.
WING_DOORS = {
    "storage": {"storage.handle", "storage.failures", "storage.heartbeats", "storage.proxy", "storage.sql_reads"},
    "workers": {"workers.runtime", "workers.supervisor", "workers.final_worker", "workers.interrupts"},
    "report": {"report.results"},
    "training": {"training.loop", "training.models", "training.params", "training.recipes", "training.augment"},
    "data": {"data.pairs", "data.sources"},
}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m))
def test_a_wing_is_entered_through_its_doors(module):
    for imported in imported_modules(module):
        wing = imported.split(".")[0]
        if wing in WING_DOORS and module.split(".")[0] != wing and imported != wing:
            assert imported in WING_DOORS[wing], f"{module} imports {imported}, behind {wing}'s doors"


# What the CLI may use of each stage: its entry functions and their typed inputs, nothing else.
CLI_MAY_USE = {
    "tuning": {"tune", "TuneRequest"},
    "final": {"final_report", "FinalRequest", "run_final_jobs", "JobWorker"},
    "training.loop": {"train_final_protocol"},
    "training.models": {"ARCHS", "design_archs"},  # the registry: data, no torch
    "data.sources": {"download_mnist"},
}


def attributes_used(module: str) -> dict[str, set[str]]:
    """For each pairsearch module ``module`` imports: the names it takes from it."""
    tree = ast.parse(MODULES[module].read_text())
    used: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pairsearch"):
            base = node.module.removeprefix("pairsearch").removeprefix(".")
            for alias in node.names:
                child = f"{base}.{alias.name}".lstrip(".")
                if child in MODULES:
                    aliases[alias.asname or alias.name] = child
                else:
                    used.setdefault(base, set()).add(alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.setdefault(aliases[node.value.id], set()).add(node.attr)
    return used


def test_the_cli_calls_one_entry_function_per_stage_and_does_no_stage_work():
    imported = imported_modules("cli")
    for below in ("storage.handle", "workers.runtime", "jobs", "report.results", "samplers", "studyspec"):
        assert below not in imported, f"cli imports {below}"
    used = attributes_used("cli")
    for stage, allowed in CLI_MAY_USE.items():
        assert used.get(stage, set()) <= allowed, (stage, used.get(stage))


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("storage")) + ["redaction"])
def test_the_storage_modules_neither_print_nor_change_global_state_at_import(module):
    source = MODULES[module].read_text()
    assert "print(" not in source
    assert "set_verbosity" not in source


# The report wing in three layers: the storage is read once into plain data (frames and the records
# of report.facts), the analysis computes every number and verdict from it, the render modules
# only format. writer runs the analysis, then the render, once each.
REPORT_READ = {"report.results", "report.studies", "report.protocol"}
REPORT_ANALYSIS = {"report.analysis", "report.stats", "report.statistics", "report.recipe_stats",
                   "report.budget", "report.design", "report.verdicts", "report.cells",
                   "report.run_record", "report.axes"}
REPORT_RENDER = {"report.document", "report.answer", "report.pairwise", "report.plots", "report.provenance",
                 "report.caveats", "report.readings", "report.formatting", "report.accuracy", "report.paired",
                 "report.design_plots", "report.tuning_plots", "report.page", "report.forests"}
REPORT_OTHER = {"report", "report.facts", "report.writer"}


def third_party_imports(module: str) -> set[str]:
    """The top-level names of the packages ``module`` imports that are not pairsearch."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found - {"pairsearch"}


def test_every_report_module_is_read_analysis_or_render():
    report = {module for module in MODULES if module.split(".")[0] == "report"}
    assert report == REPORT_READ | REPORT_ANALYSIS | REPORT_RENDER | REPORT_OTHER


@pytest.mark.parametrize("module", sorted(REPORT_RENDER))
def test_a_render_module_only_formats(module):
    """No optuna, no storage, no reading, no analysis function: a render module takes the analysis's
    records, types and constants (names that start upper-case), never calls it."""
    assert "optuna" not in third_party_imports(module)
    for imported in imported_modules(module):
        assert imported.split(".")[0] != "storage", f"{module} imports {imported}"
        assert imported not in REPORT_READ | {"report.writer"}, f"{module} imports {imported}"
    for imported, names in attributes_used(module).items():
        if imported in REPORT_ANALYSIS:
            called = {name for name in names if not name[0].isupper()}
            assert not called, f"{module} uses {sorted(called)} of {imported}"
    private = {(imported, name) for imported, names in attributes_used(module).items()
               for name in names if name.startswith("_")}
    assert not private, f"{module} uses private names of other modules: {sorted(private)}"


@pytest.mark.parametrize("module", sorted(REPORT_ANALYSIS | REPORT_RENDER | {"report.facts"}))
def test_after_the_read_layer_nothing_sees_optuna_or_the_storage(module):
    assert "optuna" not in third_party_imports(module)
    assert not imported_modules(module) & (REPORT_READ | {"report.writer"}), module
    assert not {m for m in imported_modules(module) if m.split(".")[0] == "storage"}, module


@pytest.mark.parametrize("module", sorted(REPORT_ANALYSIS))
def test_the_analysis_never_calls_back_into_the_render(module):
    assert not imported_modules(module) & REPORT_RENDER, module


MAX_LINES = 300


def test_no_module_is_over_300_lines():
    too_long = {module for module, path in MODULES.items() if len(path.read_text().splitlines()) > MAX_LINES}
    assert not too_long


def test_user_attrs_are_read_and_written_through_the_records_module():
    """A new stored fact goes into a typed record of pairsearch.records, the one module that
    reads or writes Optuna user attrs."""
    touching = {module for module, path in MODULES.items()
                if module != "records" and re.search(r"user_attrs|set_user_attr", path.read_text())}
    assert not touching, f"{touching}: go through pairsearch.records"


def test_every_module_is_on_the_table_of_modules():
    """docs/architecture.md's table names each module (every .py but ``__init__``) by its bare name,
    under its wing's row (``report/``) or at the top; a new module gets its row, a removed one loses it."""
    section = (PACKAGE.parent / "docs" / "architecture.md").read_text().split("## The modules", 1)[1]
    named, wing = set(), ""
    for line in section.split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[1] in ("module", "---"):
            continue
        if cells[0]:
            wing = "" if cells[0] == "top" else cells[0].strip("`").rstrip("/") + "."
        named |= {wing + name for name in re.findall(r"`(\w+)`", cells[1])}
    modules = {module for module, path in MODULES.items() if path.name != "__init__.py"}
    assert not modules - named, f"not in docs/architecture.md's table of modules: {sorted(modules - named)}"
    assert not named - modules, f"in the table, but no such module: {sorted(named - modules)}"


RECIPE_NAMES = {"recipe", "recipes"}


def test_a_recipe_is_never_a_name_string():
    """``recipe`` is always a :class:`pairsearch.training.recipes.Recipe`: a class field or a
    parameter annotated ``str`` (or ``str | None``, ``list[str]``) holding a recipe's name is a
    ``recipe_name`` (``recipe_label`` for a display label), so the two meanings cannot mix again."""
    def is_text(annotation: ast.expr | None) -> bool:
        return annotation is not None and re.search(r"\bstr\b", ast.unparse(annotation)) is not None

    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found += [f"{module}.{node.name}.{field.target.id}" for field in node.body
                          if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                          and field.target.id in RECIPE_NAMES and is_text(field.annotation)]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                found += [f"{module}.{node.name}({argument.arg})" for argument in arguments
                          if argument.arg in RECIPE_NAMES and is_text(argument.annotation)]
    assert not found, f"a recipe's name is a recipe_name (or recipe_label), not a recipe: {found}"
