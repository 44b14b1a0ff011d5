"""Training recipes: the shipped files, validation by file and key, and job identity.

The identity tests read a copy of a storage made before recipes existed (the published run of
2026-11-22, ``docs/results/pairsearch.db`` until it was regenerated, kept as
``tests/data/before-recipes.db.gz``): under the default, its jobs keep their hashes; under another
recipe every job is new. Its jobs ran seeds 0…14, which re-used the tuning seed 0: the final seeds
are now 1000… (:func:`pairsearch.searches.final_seeds`), so a report of that storage trains them anew.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from pairsearch import final_plans, jobs, records, searches
from pairsearch.errors import PairsearchError
from pairsearch.storage.handle import StorageHandle
from pairsearch.training.recipes import (
    MAX_SHIFT,
    Recipe,
    course_recipe,
    load_recipe,
    recipe_from_record,
    recipe_path,
)

BEFORE_RECIPES_DB = Path(__file__).parent / "data" / "before-recipes.db.gz"
VALID = """\
name = "mine"
epochs = 3

[augment]
max_shift = 2
"""


def write(tmp_path: Path, text: str, name: str = "recipe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def recipe_error(path: Path) -> str:
    """The one line that loading ``path`` raises."""
    with pytest.raises(PairsearchError) as caught:
        load_recipe(name_or_path=str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


# --- the files -------------------------------------------------------------------------------


def test_shipped_recipes_are_the_course_and_a_stronger_one():
    assert load_recipe(name_or_path="course") == Recipe(
        name="course", epochs=10, max_shift=0, description="the course protocol: 10 epochs, no augmentation")
    strong = load_recipe(name_or_path="strong")
    assert (strong.name, strong.epochs, strong.max_shift) == ("strong", 25, 1)


def test_the_course_file_is_what_a_job_without_a_recipe_ran():
    """One definition: a job from before recipes is the course file's training at its epochs."""
    course = load_recipe(name_or_path="course")
    assert course.training_changes() == {}
    assert recipe_from_record(None, epochs=10).to_record()["hash"] == course.to_record()["hash"]
    assert course_recipe(epochs=10).to_record()["hash"] == course.to_record()["hash"]


@pytest.mark.parametrize("record", [[1, 2], "strong", {"name": "x", "epochs": 0}])
def test_a_recorded_recipe_that_is_no_recipe_is_one_error_line(record):
    with pytest.raises(PairsearchError, match=r"^a recorded recipe \(user attr 'recipe'\) (is not a table|is invalid)"):
        recipe_from_record(record, epochs=10)


def test_a_recipe_round_trips_through_its_record(tmp_path):
    recipe = load_recipe(name_or_path=str(write(tmp_path, VALID)))
    assert recipe == Recipe(name="mine", epochs=3, max_shift=2)
    assert recipe_from_record(recipe.to_record(), epochs=99) == recipe


def test_a_name_is_looked_up_in_the_working_directory_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert recipe_path(name_or_path="strong") == REPO / "recipes" / "strong.toml"
    (tmp_path / "recipes").mkdir()
    write(tmp_path / "recipes", VALID, "strong.toml")
    assert recipe_path(name_or_path="strong") == Path("recipes") / "strong.toml"
    assert load_recipe(name_or_path="strong").name == "mine"
    assert recipe_path(name_or_path="other/strong.toml") == Path("other/strong.toml")


@pytest.mark.parametrize(("text", "key", "words"), [
    ("epochs = 3\n", "name", "missing"),
    ('name = "x"\n', "epochs", "missing"),
    ('name = "x"\nepochs = 0\n', "epochs", "from 1 to"),
    ('name = "x"\nepochs = 2.5\n', "epochs", "must be an integer"),
    ('name = "two words"\nepochs = 3\n', "name", "not a plain name"),
    ('name = "x"\nepochs = 3\nepoch = 4\n', "epoch", "unknown key"),
    ('name = "x"\nepochs = 3\naugment = 1\n', "augment", "must be a table"),
    ('name = "x"\nepochs = 3\n[augment]\nmax_shift = 9\n', "augment.max_shift", f"from 0 to {MAX_SHIFT}"),
    ('name = "x"\nepochs = 3\n[augment]\nmax_shift = true\n', "augment.max_shift", "a boolean"),
    ('name = "x"\nepochs = 3\n[augment]\nrotate = 15\n', "augment.rotate", "unknown key"),
])
def test_a_bad_value_is_named_by_file_and_key(tmp_path, text, key, words):
    message = recipe_error(write(tmp_path, text))
    assert f": {key}: " in message and words in message


def test_files_that_are_no_recipe_say_so_in_one_line(tmp_path):
    assert "recipe file not found" in recipe_error(tmp_path / "missing.toml")
    assert "is a directory, not a recipe file" in recipe_error(tmp_path)
    assert "not valid TOML" in recipe_error(write(tmp_path, "name = \n"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert "not UTF-8 text" in recipe_error(binary)


def test_cli_refuses_a_bad_recipe_in_one_line_before_any_work(tmp_path, data_dir):
    path = write(tmp_path, 'name = "x"\nepochs = 3\n[augment]\nmax_shift = 9\n')
    database = tmp_path / "untouched.db"

    result = run_cli(["final-report", "--storage", f"sqlite:///{database}", "--recipe", str(path)],
                     data_dir=data_dir)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pairsearch: error: {path}: augment.max_shift: must be an integer from 0 to {MAX_SHIFT}, got 9"]
    assert not database.exists()


# --- identity: the published storage ---------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A storage of a real run made before recipes existed, opened read-only."""
    copy = tmp_path_factory.mktemp("published") / "pairsearch.db"
    copy.write_bytes(gzip.decompress(BEFORE_RECIPES_DB.read_bytes()))
    storage = StorageHandle.resolve(url=f"sqlite:///{copy}").open(readonly=True)
    assert final_plans.searches_of(storage=storage, groups=()), "the storage holds no tuned study"
    return storage


def stored_hashes(storage, plan: jobs.FinalPlan) -> set:
    import optuna

    study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
    return {trial.user_attrs["config_hash"] for trial in study.get_trials(deepcopy=False)}


def stored_seeds(storage, plan: jobs.FinalPlan) -> list[int]:
    """The seeds of the stored jobs that are ``plan``'s (same config hash), in order."""
    import optuna

    study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
    return sorted(trial.user_attrs["seed"] for trial in jobs.plan_trials(study=study, plan=plan))


def test_published_jobs_keep_their_identity_under_the_course_recipe(published):
    course = load_recipe(name_or_path="course")
    names = final_plans.searches_of(storage=published, groups=())
    assert sorted(names) == ["base", "base_aux", "digits", "joint", "sep", "sep_aux", "split"]
    for name in names:
        default = final_plans.make_plan(storage=published, study_name=name, epochs=None)
        explicit = final_plans.make_plan(storage=published, study_name=name, epochs=None, retrain_recipe=course)
        longer = final_plans.make_plan(storage=published, study_name=name, epochs=25, retrain_recipe=course)

        assert default.config_hash == explicit.config_hash
        assert {default.config_hash, longer.config_hash} == stored_hashes(published, default)
        # The old jobs are still found as this plan's: their identity did not change ...
        assert stored_seeds(published, default) == stored_seeds(published, longer) == list(range(15))
        # ... but they ran seeds 0…14, which re-used the tuning seed 0; the final seeds are 1000…
        assert (default.group, default.search, default.tuning_seed) == (name, 0, 0)
        assert default.tuning_seed in stored_seeds(published, default)
        final_plans.check_seeds_apart(plans=[default, longer], seeds=15)
        assert final_plans.missing_seeds(storage=published, plan=default, seeds=15) == searches.final_seeds(15)
        assert final_plans.missing_seeds(storage=published, plan=longer, seeds=15) == searches.final_seeds(15)
    assert searches.final_seeds(15) == list(range(1000, 1015))


def test_another_recipe_makes_every_job_anew_and_records_itself(published):
    strong = load_recipe(name_or_path="strong")
    for name in final_plans.searches_of(storage=published, groups=()):
        plan = final_plans.make_plan(storage=published, study_name=name, epochs=None, retrain_recipe=strong)
        assert plan.config_hash not in stored_hashes(published, plan)
        assert stored_seeds(published, plan) == []
        assert final_plans.missing_seeds(storage=published, plan=plan, seeds=15) == searches.final_seeds(15)
        # The same training without the shift is the stored 25-epoch job: only training counts.
        unshifted = dataclasses.replace(plan, recipe=dataclasses.replace(plan.recipe, max_shift=0))
        assert unshifted.config_hash in stored_hashes(published, plan)

        attrs = plan.job(seed=3).to_attrs()
        assert attrs["epochs"] == 25 and attrs["recipe"]["name"] == "strong"
        assert attrs["recipe"]["augment"] == {"max_shift": 1} and len(attrs["recipe"]["hash"]) == 16
        assert records.FinalJob.from_attrs(attrs).training_recipe.max_shift == 1


def test_epochs_override_the_recipe_and_are_recorded_as_such(published):
    strong = load_recipe(name_or_path="strong")
    plan = final_plans.make_plan(storage=published, study_name="base", epochs=12, retrain_recipe=strong)
    job = records.FinalJob.from_attrs(plan.job(seed=0).to_attrs())

    # The plan's recipe trains the overriding epochs; the job records them, and the recipe as named.
    assert plan.recipe == dataclasses.replace(strong, epochs=12) and plan.epochs == 12
    assert (job.epochs, job.recipe_record["epochs"]) == (12, 25)
    assert job.recipe_record == strong.to_record()
    assert job.training_recipe == plan.recipe
    assert plan.config_hash != final_plans.make_plan(storage=published, study_name="base", epochs=None,
                                                     retrain_recipe=strong).config_hash


def test_a_job_from_before_recipes_is_a_course_job(published):
    plan = final_plans.make_plan(storage=published, study_name="base", epochs=None)
    legacy = {key: value for key, value in plan.job(seed=0).to_attrs().items() if key != "recipe"}

    job = records.FinalJob.from_attrs(legacy)

    assert job is not None and job.recipe_record is None
    assert job.training_recipe == course_recipe(epochs=plan.epochs)
