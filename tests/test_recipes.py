"""Training recipes: the shipped files and validation by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from pairsearch.errors import PairsearchError
from pairsearch.recipes import (
    MAX_SHIFT,
    Recipe,
    course_recipe,
    load_recipe,
    recipe_from_record,
    recipe_path,
)

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
