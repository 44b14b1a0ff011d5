"""final_stage_seconds_per_job: the final stage's throughput with 1 and 2 workers.

A tuned study is made directly in a fresh SQLite storage (one complete trial holding a fixed
config), its seeded jobs are enqueued with :func:`pairsearch.final_plans.ensure_jobs`, and the real
``pairsearch final-run --workers N`` runs them. Seconds per job = (first job start → last job
end) ÷ jobs, from the storage's timestamps; the median training time of one job (its
``seconds`` attr) is recorded beside it.
"""

from __future__ import annotations

from bench.common import (
    BenchError,
    Context,
    finished,
    fixed_study,
    load_trials,
    median,
    run_cli,
    span_seconds,
    write_study_file,
)

ARCH = "sep_aux"
SIZES = {
    True: {"epochs": 2, "seeds": 4, "params": {"channels": 16, "hidden": 64, "batch_size": 64}},
    False: {"epochs": 10, "seeds": 15, "params": {"channels": 32, "hidden": 128, "batch_size": 64}},
}
STUDY = "final-bench"


def run(*, ctx: Context) -> dict:
    size = SIZES[ctx.quick]
    document = fixed_study(arch=ARCH, params=size["params"], epochs=size["epochs"])
    study_file = write_study_file(ctx.path("final.toml"), document)
    raw = {"config": {"arch": ARCH, **size["params"], "epochs": size["epochs"]}, "jobs": size["seeds"]}
    values = {}
    for workers in (1, 2):
        url = ctx.sqlite_url(f"final-{workers}")
        final_study = enqueue_jobs(ctx=ctx, url=url, study_file=study_file, seeds=size["seeds"])
        _, wall = run_cli(["final-run", "--storage", url, "--workers", str(workers),
                           "--data-dir", str(ctx.data_dir)], ctx=ctx)
        jobs = finished(load_trials(url=url, study=final_study))
        if len(jobs) != size["seeds"]:
            raise BenchError(f"final-run finished {len(jobs)} of {size['seeds']} jobs")
        per_job = span_seconds(jobs) / len(jobs)
        values[f"final_stage_seconds_per_job.{workers}"] = round(per_job, 4)
        raw[f"workers_{workers}"] = {
            "seconds_per_job": round(per_job, 4),
            "span_seconds": round(span_seconds(jobs), 3),
            "median_job_training_seconds": round(median(t.user_attrs["seconds"] for t in jobs), 4),
            "process_wall_seconds": round(wall, 3),
        }
    one, two = values["final_stage_seconds_per_job.1"], values["final_stage_seconds_per_job.2"]
    return {
        "values": values,
        "targets": {},
        "raw": raw,
        "notes": [],
        "cells": {"final_stage_seconds_per_job": (
            f"1 worker {one:.2f} s, 2 workers {two:.2f} s (×{one / two:.2f}; "
            f"{size['seeds']} jobs × {size['epochs']} ep)"
        )},
    }


def enqueue_jobs(*, ctx: Context, url: str, study_file, seeds: int) -> str:
    """A tuned study whose best trial is the fixed config, and its final jobs. Returns the job study."""
    import optuna

    from pairsearch import final_plans, tuning, tuning_setup
    from pairsearch.data.pairs import DataChoice
    from pairsearch.data.sources import load_pools
    from pairsearch.storage.handle import StorageHandle
    from pairsearch.studyspec import load_study_file
    from pairsearch.training.recipes import course_recipe

    spec = load_study_file(path=study_file)
    fingerprint = load_pools(source=ctx.source, data_dir=ctx.data_dir).fingerprint
    job = tuning.TuneRequest(spec=spec, study_name=STUDY, storage=StorageHandle.resolve(url=url), trials=1, data=DataChoice(source=ctx.source, data_dir=ctx.data_dir),
                             recipe=course_recipe(epochs=spec.epochs))
    study = tuning_setup.prepare_study(request=job, fingerprint=fingerprint)
    params = {space.name: space.choices[0] for space in spec.space}
    distributions = {name: optuna.distributions.CategoricalDistribution([value]) for name, value in params.items()}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=0.5))
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name=STUDY, epochs=None)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=seeds)
    return plan.final_study_name
