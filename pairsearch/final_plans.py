"""The final stage's plans and jobs: which tuned studies, each one's plan, its jobs enqueued.

A plan (:class:`pairsearch.jobs.FinalPlan`) is one tuned study's best configuration under one
training recipe, resolved by :func:`make_plan` (the study's own or ``--recipe``'s, ``--epochs``
applied); :func:`ensure_jobs` enqueues its missing seeds as trials of ``<study>.final``
(idempotent, under the study's lock), saying when the configuration changed since earlier jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pairsearch.errors import PairsearchError
from pairsearch.jobs import (
    FinalPlan,
    default_seed_count,
    job_counts,
    job_recipe_name,
    job_state,
    plan_trials,
    tuning_studies,
)
from pairsearch.records import (
    FinalJob,
    FinalStudy,
    enqueue_job,
    final_job,
    final_study,
    is_final_study,
    is_labelled,
    label_study,
    tuned_study,
)
from pairsearch.searches import final_seeds, split_search_name
from pairsearch.storage.handle import StorageHandle
from pairsearch.training.recipes import Recipe
from pairsearch.workers.runtime import label_objective, own_study

JOB_VALUE_LABEL = "test accuracy"


def report_plans(*, handle: StorageHandle, groups: tuple[str, ...], epochs: int | None,
                 retrain_recipe: Recipe | None, seeds: int | None, data_dir: Path) -> tuple[list[FinalPlan], int]:
    """The plans of a report and its final seeds per search, every plan checked before anything is written.

    Args:
        handle: The storage of the tuned studies.
        groups: The groups of searches to report (empty: every tuned study).
        epochs: ``--epochs`` (None: each plan's recipe's).
        retrain_recipe: ``--recipe`` (None: each search is retrained under the recipe it was tuned with).
        seeds: ``--seeds`` (None: :func:`pairsearch.searches.default_seeds_per_search`).
        data_dir: Where the local data is, checked to be each study's.

    Raises:
        PairsearchError: no tuned study, a study that is not one, studies trained unlike each
            other, a tuning seed among the final seeds, or local data unlike a study's.
    """
    storage = handle.open(readonly=True)  # the tuned studies are only read
    names = searches_of(storage=storage, groups=groups)
    if not names:
        raise PairsearchError(f"no tuned study in {handle.redacted}; run 'pairsearch tune' first")
    plans = [make_plan(storage=storage, study_name=name, epochs=epochs, retrain_recipe=retrain_recipe)
             for name in names]
    seeds = seeds or default_seed_count(labels=[plan.label for plan in plans])
    check_trained_alike(plans=plans)
    check_seeds_apart(plans=plans, seeds=seeds)
    for plan in plans:  # before the report folder exists: a refused data dir leaves nothing behind
        check_local_data(plan=plan, data_dir=data_dir)
    return plans, seeds


def searches_of(*, storage, groups: tuple[str, ...]) -> list[str]:
    """The tuning studies of ``groups`` — each group's searches, search 0 first — or of every
    tuned study in the storage when none is named (groups in the order their first study was made)."""
    names = [summary.study_name for summary in tuning_studies(storage=storage)]
    groups = groups or tuple(dict.fromkeys(split_search_name(name)[0] for name in names))
    chosen = []
    for group in groups:
        members = sorted((split_search_name(name)[1], name) for name in names if split_search_name(name)[0] == group)
        chosen.extend(name for _, name in members)
        if not members:
            chosen.append(group)  # make_plan says why it is not a tuned study
    return chosen


def check_seeds_apart(*, plans: list[FinalPlan], seeds: int) -> None:
    """Refuse a final seed that is a tuning seed: that run would re-use the draws that chose its config."""
    final = set(final_seeds(seeds))
    for plan in plans:
        if plan.tuning_seed in final:
            raise PairsearchError(
                f"{plan.study_name} was tuned with seed {plan.tuning_seed}, one of the final seeds "
                f"{min(final)}…{max(final)}: its final runs would re-use the draws that chose its configuration; "
                "give its study file a seed outside the final seeds and tune anew, or fewer --seeds")


def make_plan(*, storage, study_name: str, epochs: int | None, retrain_recipe: Recipe | None = None) -> FinalPlan:
    """The plan for one tuned study: its best complete trial's params, under the recipe resolved here.

    The plan's recipe is ``retrain_recipe``, else the study's own, with ``epochs`` applied: the
    one place a final job's epochs are decided.

    Args:
        storage: The opened storage.
        study_name: The tuned study.
        epochs: ``--epochs``: overrides the recipe's (None: the recipe's).
        retrain_recipe: ``--recipe`` (None: the study is retrained under the recipe it was tuned
            with, at its tuning epochs — the course's training for a study made before tuning took recipes).

    Raises:
        PairsearchError: no such study, one pairsearch did not tune, or one without a complete trial.
    """
    from pairsearch.training.models import resolve_params

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise PairsearchError(f"no study {study_name!r} in this storage; see 'pairsearch status'") from None
    if not is_labelled(study):
        raise PairsearchError(f"study {study_name!r} was not made by pairsearch tune")
    if is_final_study(study):
        raise PairsearchError(
            f"study {study_name!r} holds final-report jobs; name its tuning study "
            f"{final_study(study, study_name=study_name).tuning_study!r} instead"
        )
    tuned = tuned_study(study, study_name=study_name)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise PairsearchError(f"study {study_name!r} has no complete trial yet; tune it first")
    best = max(complete, key=lambda trial: trial.value)
    params = resolve_params(arch=tuned.arch, overrides={**tuned.spec_table.get("fixed", {}), **best.params})
    chosen = retrain_recipe or tuned.training_recipe
    return FinalPlan(
        study_name=study_name, arch=tuned.arch, params=params, data_source=tuned.data_source,
        data_fingerprint=tuned.data_fingerprint, best_trial=best.number,
        recipe=dataclasses.replace(chosen, epochs=epochs or chosen.epochs), recipe_record=chosen.to_record(),
        group=tuned.group, search=tuned.search, tuning_seed=tuned.tuning_seed,
    )


def check_local_data(*, plan: FinalPlan, data_dir: Path) -> None:
    """The local data must be the study's, or the comparison would not be the one tuned for."""
    from pairsearch.data.pairs import DataChoice

    pools = DataChoice(source=plan.data_source, data_dir=data_dir).load()
    if pools.fingerprint != plan.data_fingerprint:
        raise PairsearchError(
            f"{plan.study_name} was tuned on {plan.data_source} {plan.data_fingerprint}, "
            f"but the data here is {pools.fingerprint}"
        )


def ensure_jobs(*, handle: StorageHandle, plan: FinalPlan, seeds: int) -> tuple[int, list[str]]:
    """Enqueue the missing seeds of ``plan`` (idempotent). Returns (jobs added, notes for the user)."""
    storage = handle.open()
    notes = []
    with handle.lock(study_name=plan.final_study_name):
        study = own_study(
            storage=storage, study_name=plan.final_study_name,
            label=lambda new: _label_final_study(study=new, plan=plan),
            refusal=f"study {plan.final_study_name!r} in {handle.redacted} was not made by pairsearch; "
                    "final-report keeps its jobs under that name: rename or delete that study",
            locked=handle.has_lock,
        )
        # Earlier jobs of this recipe: jobs of another recipe are no earlier configuration.
        earlier = [job for t in study.get_trials(deepcopy=False) if job_recipe_name(t) == plan.recipe.name
                   and (job := final_job(t)) is not None]
        if earlier and plan.config_hash not in {job.config_hash for job in earlier}:  # say it once
            notes.append(
                f"{plan.study_name}: {_what_changed(earlier=earlier[-1], now=plan.job(seed=final_seeds(1)[0]))} since earlier final "
                f"jobs of recipe {plan.recipe.name} were made; making new jobs, the old results are kept but not used"
            )
        missing = missing_seeds(storage=storage, plan=plan, seeds=seeds)
        for seed in missing:
            # The seed as the trial's one param: optuna-dashboard has something to plot and rank.
            enqueue_job(study, job=plan.job(seed=seed))
    return len(missing), notes


def _what_changed(*, earlier: FinalJob, now: FinalJob) -> str:
    """What differs between an earlier job's configuration and this plan's, in words."""
    changes = []
    if earlier.best_trial != now.best_trial:
        changes.append(f"its best trial (#{earlier.best_trial}, now #{now.best_trial})")
    elif earlier.params != now.params:
        changes.append("its best trial's params")
    if earlier.epochs != now.epochs:
        changes.append(f"the epochs ({earlier.epochs}, now {now.epochs})")
    before, after = earlier.training_recipe, now.training_recipe
    if not before.trains_like(after):
        changes.append(f"what recipe {after.name} trains ({before.augmentation()}, now {after.augmentation()})")
    if earlier.data_fingerprint != now.data_fingerprint:
        changes.append("the data")
    return (" and ".join(changes) or "its configuration") + " changed"


def missing_seeds(*, storage, plan: FinalPlan, seeds: int) -> list[int]:
    """The first ``seeds`` final seeds of ``plan`` that have no job yet (finished or queued)."""
    try:
        study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
    except KeyError:
        return final_seeds(seeds)
    have = {final_job(t).seed for t in plan_trials(study=study, plan=plan) if job_state(t) != "lost"}
    return [seed for seed in final_seeds(seeds) if seed not in have]


def _label_final_study(*, study: optuna.Study, plan: FinalPlan) -> None:
    label_objective(study=study, name=JOB_VALUE_LABEL)
    label_study(study, record=FinalStudy(arch=plan.arch, tuning_study=plan.study_name))


def baseline_plans(*, storage, retrain_recipe: Recipe | None, plans: list[FinalPlan],
                   say: Callable[[str], None]) -> list[FinalPlan] | None:
    """The plain ``final-report``'s plans, which the answer is compared with under ``--recipe``
    (``retrain_recipe``; None without it, when they are the same jobs, or when the studies were
    tuned unlike each other: no plain report compares them, and the user is told so)."""
    if retrain_recipe is None:
        return None
    baseline = [make_plan(storage=storage, study_name=plan.study_name, epochs=None) for plan in plans]
    if [old.config_hash for old in baseline] == [plan.config_hash for plan in plans]:
        return None
    unlike = unlike_training(baseline)
    if unlike is not None:
        say(f"note: no answer under both recipes, since no plain report compares these studies: {unlike[0]}")
        return None
    return baseline


def check_trained_alike(*, plans: list[FinalPlan]) -> None:
    """Refuse plans whose jobs would train differently: a report compares archs trained alike.

    Raises:
        PairsearchError: the studies were tuned under recipes that train differently, or their
            jobs would train for different epochs (no ``--recipe`` or ``--epochs`` put them under
            one), naming which study trains how.
    """
    unlike = unlike_training(plans)
    if unlike is not None:
        difference, remedy = unlike
        raise PairsearchError(f"{difference}; a report compares archs trained alike: {remedy}")


def unlike_training(plans: list[FinalPlan]) -> tuple[str, str] | None:
    """How the plans' training differs and what puts it alike, in words; None when they train alike."""
    by_recipe = _studies_by(plans, same=lambda a, b: a.recipe.trains_like(b.recipe),
                            label=lambda plan: f"{plan.recipe.name} ({plan.recipe.augmentation()})")
    if len(by_recipe) > 1:
        return (f"the studies were tuned under different training recipes ({_listing(by_recipe)})",
                "give --recipe NAME to retrain them all under one, or --arch to report those of one recipe")
    by_epochs = _studies_by(plans, same=lambda a, b: a.epochs == b.epochs, label=lambda plan: f"{plan.epochs} epochs")
    if len(by_epochs) > 1:
        return (f"the studies' jobs would train for different epochs ({_listing(by_epochs)}), as each study was tuned",
                "give --epochs N to train them all for N, or --arch to report some")
    return None


def _studies_by(plans: list[FinalPlan], *, same, label) -> dict[str, list[str]]:
    """The plans grouped by ``same`` (each group labelled by its first plan) → their study names, in order."""
    groups: list[tuple[FinalPlan, list[str]]] = []
    for plan in plans:
        group = next((studies for first, studies in groups if same(first, plan)), None)
        if group is None:
            groups.append((plan, group := []))
        group.append(plan.study_name)
    return {label(first): studies for first, studies in groups}


def _listing(groups: dict[str, list[str]]) -> str:
    return "; ".join(f"{label} for {', '.join(studies)}" for label, studies in groups.items())


def work_left(*, storage, plans: list[FinalPlan], seeds: int) -> bool:
    return any(missing_seeds(storage=storage, plan=plan, seeds=seeds) for plan in plans) or bool(
        unfinished(storage=storage, plans=plans, seeds=seeds))


def unfinished(*, storage, plans: list[FinalPlan], seeds: int) -> dict[str, int]:
    """Study name → jobs of its plan at the first ``seeds`` final seeds not finished yet (queued)."""
    counts = job_counts(storage=storage, plans=plans, seeds=seeds)
    return {label: total - done for label, (done, total) in counts.items() if done < total}
