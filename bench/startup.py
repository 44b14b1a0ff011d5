"""startup_ratio: process start → first training step in a tune worker ÷ ``python -c "import torch"``.

The worker is started exactly as ``pairsearch tune`` starts one (a multiprocessing *spawn*
child through :func:`pairsearch.workers.supervisor.start_processes`, unpickling its ``TuneRequest``) and runs
:func:`pairsearch.tuning.run_worker`: pools from the cache, storage opened, study loaded and
checked, split drawn, first trial created, model built. A global module forward hook stamps
the end of the first training step (forward, backward, update: the moment the model's second
training forward begins) and ends the process; stamps on the way show where the time goes.

Times are ``time.time()`` offsets from just before the spawn. The denominator is the time
from starting ``python -c "import torch"`` to torch being imported: its interpreter shutdown
(0.1–0.3 s) is left out, as the worker's is; the full wall time is recorded beside it.
Medians of interleaved repetitions, each worker on a fresh SQLite study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BenchError, Context, check, fixed_study, median, rounded, write_study_file

ARCH = "sep_aux"
PARAMS = {"channels": 16, "hidden": 64, "batch_size": 64}
REPEATS = {True: 3, False: 7}
TARGET = 1.5
STAGES = ("entry", "pools_loaded", "study_loaded", "trial_started", "model_built", "first_step")


def run(*, ctx: Context) -> dict:
    from pairsearch import tuning, tuning_setup
    from pairsearch.data.pairs import DataChoice
    from pairsearch.data.sources import load_pools
    from pairsearch.storage.handle import StorageHandle
    from pairsearch.studyspec import load_study_file
    from pairsearch.training.recipes import course_recipe

    spec = load_study_file(path=write_study_file(
        ctx.path("startup.toml"), fixed_study(arch=ARCH, params=PARAMS, epochs=1)))
    fingerprint = load_pools(source=ctx.source, data_dir=ctx.data_dir).fingerprint
    torch_seconds, torch_walls, probes = [], [], []
    for repeat in range(REPEATS[ctx.quick]):
        imported, ended = time_import_torch()
        torch_seconds.append(imported)
        torch_walls.append(ended)
        job = tuning.TuneRequest(spec=spec, study_name="startup", storage=StorageHandle.resolve(url=ctx.sqlite_url(f"startup-{repeat}")),
                             trials=1, data=DataChoice(source=ctx.source, data_dir=ctx.data_dir),
                             recipe=course_recipe(epochs=spec.epochs))
        tuning_setup.prepare_study(request=job, fingerprint=fingerprint)
        probes.append(time_worker_start(job=job, out=ctx.path(f"startup-{repeat}.json")))
    first_step = median(p["first_step"] for p in probes)
    torch_import = median(torch_seconds)
    ratio = first_step / torch_import
    stages = {stage: round(median(p[stage] for p in probes), 4) for stage in STAGES}
    return {
        "values": {"startup_ratio": round(ratio, 4)},
        "targets": {"startup_ratio": {"target": f"<= {TARGET}", "met": check(ratio, at_most=TARGET)}},
        "raw": {
            "import_torch_seconds": rounded(torch_seconds),
            "import_torch_process_wall_seconds": rounded(torch_walls),
            "worker_first_step_seconds": rounded([p["first_step"] for p in probes]),
            "median_stage_offsets_seconds": stages,
            "probes": [{k: round(v, 4) for k, v in p.items()} for p in probes],
        },
        "notes": [],
        "cells": {"startup_ratio": (
            f"{ratio:.3f} = {first_step:.2f} s ÷ {torch_import:.2f} s "
            f"(at imports {stages['entry']:.2f}, study {stages['study_loaded']:.2f}, "
            f"trial {stages['trial_started']:.2f}, model {stages['model_built']:.2f} s)"
        )},
    }


def time_import_torch() -> tuple[float, float]:
    """``python -c "import torch"``: (start → torch imported, start → process ended)."""
    started = time.time()
    completed = subprocess.run([sys.executable, "-c", "import time; import torch; print(time.time())"],
                               check=True, capture_output=True, text=True)
    return float(completed.stdout.strip()) - started, time.time() - started


def time_worker_start(*, job, out: Path) -> dict:
    from pairsearch.workers.supervisor import start_processes

    started = time.time()
    (process,) = start_processes(target=probe_entry, config=(started, job, str(out)), count=1)
    process.join(300)
    if process.exitcode != 0 or not out.exists():
        raise BenchError(f"startup probe ended with exit code {process.exitcode} before a training step")
    return json.loads(out.read_text())


def probe_entry(arg: tuple) -> None:
    """The spawned worker: run the real worker loop and stop at the first optimizer step."""
    started, job, out = arg
    stamps = {"entry": time.time() - started}  # interpreter up, pairsearch.tuning imported
    import optuna
    from torch.nn.modules.module import register_module_forward_pre_hook

    from pairsearch import tuning
    from pairsearch.data import pairs
    from pairsearch.training import loop

    def stamped(function, stage: str, *, before: bool = False):
        def wrapper(*args, **kwargs):
            if before:
                stamps.setdefault(stage, time.time() - started)
            result = function(*args, **kwargs)
            stamps.setdefault(stage, time.time() - started)
            return result

        return wrapper

    # The worker looks these up at call time, so the wrappers see its own calls.
    pairs.load_pools = stamped(pairs.load_pools, "pools_loaded")  # what DataChoice.load calls
    optuna.load_study = stamped(optuna.load_study, "study_loaded")
    tuning.suggest_params = stamped(tuning.suggest_params, "trial_started", before=True)
    loop.build_model = stamped(loop.build_model, "model_built")
    model = []

    def on_forward(module, inputs) -> None:
        """The model's second training forward begins: its first step (forward, backward,
        optimizer update) is over, whatever optimizer the training code uses."""
        if not module.training:
            return
        if not model:
            model.append(module)  # the outermost module's hook runs before its children's
            return
        if module is model[0]:
            stamps["first_step"] = time.time() - started
            Path(out).write_text(json.dumps(stamps))
            os._exit(0)  # the trial stays RUNNING in a throwaway study

    register_module_forward_pre_hook(on_forward)
    tuning.run_worker(job)
    os._exit(3)
