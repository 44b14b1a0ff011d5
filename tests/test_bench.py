"""The benchmark package stays runnable: its cheapest figure, its study files, its result rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed
from bench import common, results, storage_throughput
from bench.__main__ import figure_names, parse_args


def test_storage_throughput_runs_the_budget_loop_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'throughput.db'}"

    measured = storage_throughput.measure(url=url, study="throughput", workers=1, trials=10)

    assert measured["trials"] == 10 and measured["failed"] == 0
    assert measured["trials_per_worker"] == [10]
    assert measured["trials_per_s"] > 0
    trials = common.load_trials(url=url, study="throughput")
    assert [t.intermediate_values for t in trials] == [{1: 0.5}] * 10


def test_fixed_study_file_round_trips_through_the_study_parser(tmp_path):
    from pairsearch.studyspec import load_study_file

    document = common.fixed_study(arch="sep_aux", params={"channels": 16, "lr": 1e-3}, epochs=3,
                                  pruner={"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0})
    spec = load_study_file(path=common.write_study_file(tmp_path / "fixed.toml", document))

    assert spec.arch == "sep_aux" and spec.epochs == 3 and spec.pruner["name"] == "median"
    assert {space.name: space.choices for space in spec.space}["channels"] == (16,)
    assert {space.name: space.choices for space in spec.space}["lr"] == (1e-3,)


def test_quick_pruning_study_is_the_shipped_one_narrowed(tmp_path):
    from bench.pruning import study_document
    from pairsearch.studyspec import load_study_file

    document, trials = study_document(quick=True, seed=2)
    spec = load_study_file(path=common.write_study_file(tmp_path / "pruning.toml", document))
    shipped = load_study_file(path=common.REPO / "studies" / "sep_aux.toml")

    assert trials == 16 and spec.epochs == 6 and spec.sampler["seed"] == 2
    assert spec.pruner == shipped.pruner  # the bench measures the shipped pruner
    assert {space.name for space in spec.space} == set(common.shipped_study("sep_aux")["params"])


def fake_document(note: str = "") -> dict:
    return {
        "date": "2026-01-02T03:04:05+00:00", "mode": "quick", "note": note,
        "machine": {"cores": 2, "torch": "2.x", "torch_threads_per_worker": 1, "load_average": [0.5, 0, 0],
                    "commit": "abc1234"},
        "figures": {
            "overhead": {"cells": {"overhead_ratio": "1.020 = 4.08 s ÷ 4.00 s"},
                         "targets": {"overhead_ratio": {"target": "<= 1.05", "met": True}}},
            "scaling": {"error": "BenchError: boom"},
        },
    }


def test_result_rows_are_appended_under_one_table_head(tmp_path):
    path = tmp_path / "RESULTS.md"

    results.append_row(fake_document("first"), path=path)
    results.append_row(fake_document("second | with a bar"), path=path)

    text = path.read_text()
    assert text.startswith("# Benchmark results") and text.count("| date (UTC) |") == 1
    rows = [line for line in text.splitlines() if line.startswith("| 2026-01-02 03:04")]
    assert len(rows) == 2
    assert all(row.count("|") == len(results.COLUMNS) + 1 for row in rows)
    assert "1.020 = 4.08 s ÷ 4.00 s ✓" in rows[0] and "error: BenchError: boom" in rows[0]
    assert rows[1].endswith("second / with a bar |")


def test_latest_json_is_written(tmp_path):
    path = results.write_latest(fake_document(), out_dir=tmp_path / "out")

    assert json.loads(path.read_text())["figures"]["overhead"]["targets"]["overhead_ratio"]["met"] is True


def test_only_accepts_known_figures_in_run_order():
    assert figure_names("storage,overhead") == ["overhead", "storage"]
    assert figure_names("search_quality,gpu") == ["gpu", "search_quality"]  # the longest runs last
    assert parse_args(["--quick", "--only", "gpu"]).only == ["gpu"]
    with pytest.raises(SystemExit):
        parse_args(["--only", "nonsense"])


def test_gpu_figure_is_skipped_without_cuda(tmp_path):
    import torch

    from bench import gpu

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the GPU figure would train for a minute")
    result = gpu.run(ctx=common.Context(quick=True, work=tmp_path, data_dir=tmp_path, source="mnist5k"))

    assert result["skipped"] == "no CUDA" and result["cells"]["gpu"].startswith("skipped: no CUDA")


def test_vectorised_seeds_train_like_sequential_runs(pools):
    """The vmapped ensemble of the GPU figure is the same training as train_run, seed by seed."""
    from bench.gpu import train_vectorised
    from pairsearch.data.pairs import final_split
    from pairsearch.training.loop import train_run
    from pairsearch.training.models import resolve_params

    params = resolve_params(arch="sep_aux", overrides={"channels": 4, "hidden": 8, "dropout": 0.0,
                                                       "batchnorm": False, "batch_size": 250})
    splits = [final_split(pools=pools, seed=seed, n_train=500, n_test=200) for seed in (0, 1)]

    vectorised = train_vectorised(arch="sep_aux", params=params, splits=splits, epochs=2, seeds=[0, 1],
                                  device="cpu")

    sequential = [train_run(arch="sep_aux", params=params, split=split, epochs=2, seed=seed).final_accuracy
                  for seed, split in enumerate(splits)]
    assert vectorised == pytest.approx(sequential, abs=0.011)


def test_result_rows_start_a_new_table_head_when_the_columns_change(tmp_path):
    path = tmp_path / "RESULTS.md"
    old_head = "| date (UTC) | mode | note |\n|---|---|---|\n"
    path.write_text(results.HEADER + "\n" + old_head + "| 2026-01-01 00:00 | quick | old |\n")

    results.append_row(fake_document("first"), path=path)
    results.append_row(fake_document("second"), path=path)

    lines = path.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("| date (UTC) |")]
    assert len(heads) == 2 and lines[heads[1]] == results.table_header().splitlines()[0]
    assert lines[heads[1] - 1] == ""  # a blank line ends the old table
    assert [line.endswith(" first |") for line in lines[heads[1] + 2:]] == [True, False]


TINY_CONFIG = {"channels": 4, "hidden": 8, "batch_size": 250, "dropout": 0.0}


def test_training_speed_times_both_loops_in_their_own_processes(tmp_path, data_dir, monkeypatch):
    """The epoch_ratio figure end to end at toy sizes: one config, one round, two loop processes."""
    from bench import training_speed

    monkeypatch.setattr(training_speed, "CONFIGS", {"small": TINY_CONFIG})
    monkeypatch.setitem(training_speed.SIZES, True, {"epochs": {"small": 3}, "rounds": 1})
    ctx = common.Context(quick=True, work=tmp_path, data_dir=data_dir, source="mnist5k")

    result = training_speed.run(ctx=ctx)

    assert list(result["values"]) == ["epoch_ratio_small"]
    small = result["raw"]["small"]
    assert result["targets"]["epoch_ratio"]["met"] == (small["ratio"] <= training_speed.TARGET)
    assert small["epochs"] == 3 and small["config"]["channels"] == 4
    for loop in ("textbook", "pairsearch"):
        (run,) = small[loop]["runs"]
        assert run["loop"] == loop and len(run["epoch_seconds"]) == 2  # epoch 1 is the warm-up
        assert 0 < small[loop]["accuracy_mean"] <= 1 and small[loop]["epoch_seconds"] > 0
    textbook_seconds = small["textbook"]["epoch_seconds"]
    assert small["ratio"] == pytest.approx(small["pairsearch"]["epoch_seconds"] / textbook_seconds, rel=1e-3)
    assert result["cells"]["epoch_ratio"].startswith("small ") and "test acc" in result["cells"]["epoch_ratio"]


def test_training_speed_levers_switch_off_in_place(small_split, monkeypatch):
    """``--levers`` undoes each lever of train_run; the per-tensor Adam it falls back to is the same update."""
    import copy

    import torch

    from bench import training_speed
    from pairsearch.training import loop

    for name in ("MEMORY_FORMAT", "Adam", "EVAL_BATCH_SIZE", "keep_freed_memory"):
        monkeypatch.setattr(loop, name, getattr(loop, name))  # restored after the test
    fused = loop.Adam
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(27, 1))
    model = model.to(memory_format=torch.channels_last)  # the fused kernel meets train_run's layout
    twin = copy.deepcopy(model)
    optimizers = [fused(list(model.parameters()), lr=0.01, weight_decay=1e-3, total_steps=5)]

    training_speed.switch_off(training_speed.LEVERS["no_levers"])

    assert loop.MEMORY_FORMAT == torch.contiguous_format and loop.EVAL_BATCH_SIZE == 4096
    assert loop.keep_freed_memory() is None and loop.Adam is not fused
    optimizers.append(loop.Adam(list(twin.parameters()), lr=0.01, weight_decay=1e-3, total_steps=5))
    for step in range(5):
        for net, optimizer in zip((model, twin), optimizers):
            optimizer.zero_grad()
            net(torch.linspace(-1, 1, 150).view(3, 2, 5, 5) * step).pow(2).mean().backward()
            optimizer.step()
    for mine, theirs in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    params = {**TINY_CONFIG, "lr": 3e-3, "batchnorm": True, "weight_decay": 0.0}
    result = loop.train_run(arch="base", params=params, split=small_split, epochs=1, seed=0)
    assert result.status == "completed"


def test_augmentation_figure_times_both_ways_on_the_shipped_recipe(tmp_path, data_dir, monkeypatch):
    from bench import augmentation

    monkeypatch.setitem(augmentation.SIZES, True, {"epochs": 1, "rounds": 1})
    result = augmentation.run(ctx=common.Context(quick=True, work=tmp_path, data_dir=data_dir, source="mnist5k"))

    assert result["raw"]["config"]["max_shift"] == 1  # recipes/strong.toml's
    assert len(result["raw"]["plain_epoch_seconds"]) == len(result["raw"]["augmented_epoch_seconds"]) == 1
    assert result["values"]["augment_epoch_ratio"] > 0
    # The cell shows the ratio to 3 places, the value keeps 4: compare numbers, not a second rounding
    # (1.0325 is stored as 1.03249…, so formatting the stored value can give 1.032 beside a cell's 1.033).
    shown, rest = result["cells"]["augment_epoch_ratio"].split(" = ", 1)
    assert abs(float(shown) - result["values"]["augment_epoch_ratio"]) <= 0.0005 + 1e-9 and "s per epoch" in rest
    assert "augment_epoch_ratio" in dict(results.COLUMNS)


# --- search_quality ----------------------------------------------------------------------------


def test_search_quality_study_files_are_the_shipped_ones_with_each_strategy(tmp_path):
    """Full mode searches the shipped study files; only the seeds, sampler and pruner change."""
    import optuna

    from bench import search_quality
    from pairsearch.samplers import build_pruner
    from pairsearch.studyspec import load_study_file

    pruners = {"shipped": optuna.pruners.MedianPruner, "halving": optuna.pruners.SuccessiveHalvingPruner,
               "hyperband": optuna.pruners.HyperbandPruner, "no_pruning": optuna.pruners.NopPruner}
    full = search_quality.SIZES["full"]
    for arch in full.archs:
        shipped = load_study_file(path=common.REPO / "studies" / f"{arch}.toml")
        for strategy in search_quality.STRATEGIES:
            document = search_quality.study_document(arch=arch, strategy=strategy, size=full, search=3)
            spec = load_study_file(path=common.write_study_file(tmp_path / f"{arch}-{strategy.name}.toml", document))

            assert spec.seed == 0 and "seed" not in spec.sampler  # the searches module derives them per search
            assert (spec.epochs, spec.space, spec.fixed) == (shipped.epochs, shipped.space, shipped.fixed)
            assert spec.sampler["name"] == (shipped.sampler["name"] if strategy.name == "shipped" else "tpe")
            if strategy.pruner is None:  # read from studies/ARCH.toml, not written in the bench
                assert spec.pruner == shipped.pruner
            if strategy.name in pruners:
                assert type(build_pruner(spec=spec)) is pruners[strategy.name]


def fake_record(*, arch: str, strategy: str, search: int, test: float, validation: float) -> dict:
    return {"arch": arch, "strategy": strategy, "search": search, "test": test, "chosen_validation": validation,
            "selection_score": validation, "epochs": 50, "train_seconds": 10.0}


def test_search_quality_rows_pair_each_search_with_the_shipped_one():
    from bench import search_quality

    shipped = {("base", 0): 0.80, ("base", 1): 0.90, ("sep_aux", 0): 0.85}
    records = [fake_record(arch=a, strategy="shipped", search=s, test=t, validation=t + 0.04)
               for (a, s), t in shipped.items()]
    records += [fake_record(arch=a, strategy="no_pruning", search=s, test=t + 0.01 * (s + 1), validation=t)
                for (a, s), t in shipped.items()]
    strategies = [s for s in search_quality.STRATEGIES if s.name in ("shipped", "no_pruning")]

    rows = {(r["arch"], r["strategy"]): r for r in search_quality.summarise(records, strategies=strategies)}

    assert set(rows) == {(a, s) for a in ("base", "sep_aux", "all") for s in ("shipped", "no_pruning")}
    assert rows["base", "no_pruning"]["diff_vs_shipped"] == pytest.approx(0.015)
    assert rows["all", "no_pruning"]["diff_vs_shipped"] == pytest.approx(0.04 / 3)
    assert rows["all", "no_pruning"]["share_won"] == 1.0
    assert rows["all", "shipped"]["optimism"] == pytest.approx(0.04)
    assert rows["all", "shipped"]["test_mean"] == pytest.approx(0.85)
    low, high = rows["all", "shipped"]["test_ci"]
    assert low <= 0.85 <= high
    table = search_quality.markdown_table(list(rows.values()))
    assert "| all | no_pruning | 3 | 86.3" in table and "+1.3 [" in table


def test_search_quality_runs_every_strategy_of_a_search_before_the_next_search(tmp_path):
    """A run stopped part-way (hours on 2 cores) leaves whole paired comparisons, not a row of references."""
    from bench import search_quality

    size = search_quality.SIZES["full"]
    jobs = [search_quality.Job(arch=arch, strategy=strategy, search=search, size=size, out=tmp_path,
                               source="mnist5k", data_dir=tmp_path)
            for arch in size.archs for search in range(size.searches) for strategy in search_quality.STRATEGIES]

    ordered = sorted(jobs, key=lambda job: search_quality.job_order(job, size=size))

    per_search = len(size.archs) * len(search_quality.STRATEGIES)
    assert [job.search for job in ordered] == [i // per_search for i in range(len(jobs))]
    first = ordered[:per_search]
    assert [job.strategy.name for job in first[-len(size.archs):]] == [search_quality.REFERENCE] * len(size.archs)


def test_search_quality_toy_searches_spend_equal_epochs_and_resume(tmp_path, data_dir, monkeypatch):
    """At toy size, end to end: the reference's spend is every other search's budget; re-runs reuse."""
    from dataclasses import replace

    from bench import search_quality

    size = replace(search_quality.SIZES["toy"], archs=("base",))
    strategies = tuple(s for s in search_quality.STRATEGIES if s.name in ("shipped", "hyperband", "rescore"))
    out = tmp_path / "search_quality"  # where `python -m bench --quick` keeps it

    records = search_quality.run_searches(size=size, out=out, source="mnist5k", data_dir=data_dir, device="cpu",
                                          workers=2, strategies=strategies, say=lambda line: None)

    assert len(records) == 6
    by_key = {(r["strategy"], r["search"]): r for r in records}
    for search in (0, 1):
        budget = by_key["shipped", search]["search_epochs"]
        hyperband, rescore = by_key["hyperband", search], by_key["rescore", search]
        assert by_key["shipped", search]["plan"]["epoch_budget"] is None
        assert hyperband["plan"]["epoch_budget"] == budget == hyperband["search_epochs"]  # exactly the budget
        assert hyperband["trials"]["budget_cut"] <= 1
        assert rescore["search_epochs"] == max(budget - 2 * 1 * 2, 1)  # top 2 × 1 split × 2 epochs set aside
        assert rescore["epochs"] <= budget and len(rescore["rescored"]) <= 2
        assert rescore["chosen_trial"] in [item["trial"] for item in rescore["rescored"]]
    for record in records:
        assert len(record["final_tests"]) == 2 and 0 < record["test"] <= 1
        assert record["params"]["channels"] in range(4, 7)
    before = {path.name: path.stat().st_mtime_ns for path in (out / "storages").iterdir()}
    monkeypatch.setitem(search_quality.SIZES, "quick", size)
    monkeypatch.setattr(search_quality, "STRATEGIES", strategies)

    result = search_quality.run(ctx=common.Context(quick=True, work=tmp_path, data_dir=data_dir, source="mnist5k"))

    assert {path.name: path.stat().st_mtime_ns for path in (out / "storages").iterdir()} == before  # reused
    by_job = sorted(result["raw"]["records"], key=lambda r: r["plan"]["job"])
    assert by_job == sorted(records, key=lambda r: r["plan"]["job"])
    assert result["cells"]["search_quality"].startswith("base × 2 searches")
    assert result["notes"][0].startswith("toy mode, reduced") and "hyperband = tpe + hyperband rf 3" in result["notes"][1]


def test_search_quality_brings_unfinished_storages_to_rest_for_a_commit(tmp_path):
    """A search cut by a session's end is committed as one file; a finished one is left alone."""
    import sqlite3

    from bench import search_quality

    (tmp_path / "storages").mkdir()
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "base-shipped-0.json").write_text("{}")
    writers = {}
    for name in ("base-shipped-0", "base-shipped-1"):
        writers[name] = sqlite3.connect(tmp_path / "storages" / f"{name}.db")
        writers[name].execute("PRAGMA journal_mode=WAL")
        writers[name].execute("CREATE TABLE trials (number INTEGER)")
        writers[name].execute("INSERT INTO trials VALUES (7)")
        writers[name].commit()
    writers["base-shipped-1"].close()  # the run was stopped: only the finished search's writer is left

    rested = search_quality.rest_unfinished(tmp_path)

    assert rested == [tmp_path / "storages" / "base-shipped-1.db"]
    assert sorted(p.name for p in (tmp_path / "storages").iterdir() if "shipped-1" in p.name) == ["base-shipped-1.db"]
    copy = sqlite3.connect(tmp_path / "storages" / "base-shipped-1.db")
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert copy.execute("SELECT number FROM trials").fetchall() == [(7,)]
    copy.close()
    writers["base-shipped-0"].close()


def _timed_trial(start_s: float, stop_s: float, epochs: int):
    import datetime

    import optuna

    zero = datetime.datetime(2026, 12, 1, tzinfo=None)
    return optuna.trial.FrozenTrial(
        number=0, state=optuna.trial.TrialState.COMPLETE, value=0.5, values=None,
        datetime_start=zero + datetime.timedelta(seconds=start_s),
        datetime_complete=zero + datetime.timedelta(seconds=stop_s),
        params={}, distributions={}, user_attrs={}, system_attrs={},
        intermediate_values={epoch: 0.5 for epoch in range(1, epochs + 1)}, trial_id=0)


def test_run_cost_counts_busy_time_not_the_pause_between_sessions():
    from bench.run_cost import busy_seconds

    trials = [_timed_trial(0, 10, 1), _timed_trial(5, 12, 1), _timed_trial(1000, 1003, 1)]

    assert busy_seconds(trials) == 12 + 3  # two overlapping trials, then one after a pause


def test_run_cost_reads_searches_from_a_storage_without_writing_it(tmp_path):
    import hashlib

    import optuna

    from bench import run_cost

    path = tmp_path / "cost.db"
    url = f"sqlite:///{path}"
    for name in ("base", "base.search1"):
        study = optuna.create_study(study_name=name, storage=url, direction="maximize")
        study.set_user_attr("arch", "base")
        study.add_trials([_timed_trial(0, 10, 3), _timed_trial(2, 20, 1)])
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    measured = run_cost.measure(url=url)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert [s["wall_s"] for s in measured["tuning"]["base"]] == [20, 20]
    assert [s["worker_s"] for s in measured["tuning"]["base"]] == [28, 28]
    assert [s["epochs"] for s in measured["tuning"]["base"]] == [4, 4]
    assert "| base | 2 | 20–20 | 56 | 8 |" in run_cost.table(measured)
