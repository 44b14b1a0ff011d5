"""Training recipes: TOML → a validated :class:`Recipe` (epochs, augmentation of training pairs).

A recipe is what a run's training needs besides the searched hyperparameters: how many epochs,
and how the *training* pairs are augmented (evaluation pairs never are). It is data, read and
checked like a study file (:func:`pairsearch.tomlfile.read_toml_file`): errors name the file
and the key, e.g. ``recipes/x.toml: augment.max_shift: must be an integer from 0 to 4, got 9``.

``recipes/course.toml`` (10 epochs, no augmentation) is the course's protocol and the default;
``recipes/strong.toml`` ships beside it. A final job records its recipe, and the training the
recipe changes is part of the job's identity (:attr:`pairsearch.jobs.FinalPlan.config_hash`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pairsearch.defaults import DEFAULT_RECIPE, MAX_EPOCHS
from pairsearch.errors import PairsearchError
from pairsearch.tomlfile import (
    TableError,
    check_keys,
    check_type,
    file_error,
    integer,
    read_toml_file,
    require,
    shown,
)

SOURCE_RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
TOP_LEVEL_KEYS = {"name", "description", "epochs", "augment"}
AUGMENT_KEYS = {"max_shift"}
# A 14×14 digit moved by more than a few pixels leaves the frame; ±2 px already hurts (README, Training recipes).
MAX_SHIFT = 4
# A recipe's name labels its results in the report and in file names: one short plain word.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


@dataclass(frozen=True)
class Recipe:
    """How runs are trained, besides their hyperparameters.

    Attributes:
        name: The recipe's label in jobs and reports (``course``, ``strong``).
        epochs: Epochs per run.
        max_shift: Each training image is moved by a random whole number of pixels from
            ``-max_shift`` to ``max_shift`` along each axis, drawn anew for every image of every
            pair in every epoch (0: no augmentation). See :mod:`pairsearch.training.augment`.
        description: One line for people; not part of the recipe's identity.
    """

    name: str
    epochs: int
    max_shift: int = 0
    description: str = ""

    def training_changes(self) -> dict:
        """What this recipe changes in a run from the course's training, epochs aside.

        Empty for the course recipe, so a job made under it has the identity jobs had before
        recipes existed: old storages keep their results and get no new jobs.
        """
        return {"augment": {"max_shift": self.max_shift}} if self.max_shift else {}

    def trains_like(self, other: Recipe) -> bool:
        """Whether runs under ``other`` train as under this recipe, epochs aside: the one test of
        "the same recipe" (names are labels; a tune continues, and a report compares, only these)."""
        return self.training_changes() == other.training_changes()

    def to_record(self) -> dict:
        """The recipe as stored with every job it made, with its content hash."""
        content = {"name": self.name, "epochs": self.epochs, "augment": {"max_shift": self.max_shift}}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
        return {**content, "description": self.description, "hash": digest}

    def augmentation(self) -> str:
        """``no augmentation`` or ``training images shifted by up to 1 px``."""
        return f"training images shifted by up to {self.max_shift} px" if self.max_shift else "no augmentation"


def course_recipe(*, epochs: int) -> Recipe:
    """The course's training (no augmentation) at ``epochs``: what a job made without a recipe ran."""
    return Recipe(name=DEFAULT_RECIPE, epochs=epochs)


def recipe_from_record(record: dict | None, *, epochs: int) -> Recipe:
    """The recipe a job or tuning study recorded; one from before recipes (no record) trained as the course.

    Args:
        record: :meth:`Recipe.to_record` as stored, or None.
        epochs: The job's or study's epochs (used when there is no record).

    Raises:
        PairsearchError: the record is not a valid recipe (a study or job written by hand, or corrupted).
    """
    if record is None:
        return course_recipe(epochs=epochs)
    if not isinstance(record, dict):
        raise PairsearchError(f"a recorded recipe (user attr 'recipe') is not a table: {shown(record)}")
    content = {key: value for key, value in record.items() if key != "hash"}
    try:
        return parse_recipe(document=content)
    except TableError as error:
        raise PairsearchError(f"a recorded recipe (user attr 'recipe') is invalid: {error}") from None


# --- files -----------------------------------------------------------------------------------


def recipe_names() -> list[str]:
    """The recipes ``--recipe NAME`` finds: ``recipes/*.toml`` here and beside the package source."""
    return sorted({path.stem for folder in (Path("recipes"), SOURCE_RECIPES_DIR) for path in folder.glob("*.toml")})


def _is_name(name_or_path: str) -> bool:
    return bool(NAME.fullmatch(name_or_path)) and not name_or_path.endswith(".toml")


def recipe_path(*, name_or_path: str) -> Path:
    """``--recipe``: a path to a TOML file, or a name: ``recipes/NAME.toml`` in the working
    directory, else the one beside the package source."""
    if _is_name(name_or_path):
        local = Path("recipes") / f"{name_or_path}.toml"
        return local if local.is_file() else SOURCE_RECIPES_DIR / f"{name_or_path}.toml"
    return Path(name_or_path)


def load_recipe(*, name_or_path: str) -> Recipe:
    """Read and validate a recipe file (``--recipe PATH|NAME``).

    Raises:
        PairsearchError: one line naming the file, and the key when a value is wrong.
    """
    path = recipe_path(name_or_path=name_or_path)
    if _is_name(name_or_path) and not path.is_file():
        raise file_error(path, f"recipe file not found; the recipes by name: {', '.join(recipe_names())}")
    document = read_toml_file(path=path, kind="recipe file")
    try:
        return parse_recipe(document=document)
    except TableError as error:
        raise file_error(path, f"{error.key}: {error.message}") from None


def parse_recipe(*, document: dict) -> Recipe:
    """Validate a parsed recipe document; raise :class:`~pairsearch.tomlfile.TableError` naming the key."""
    check_keys(document, allowed=TOP_LEVEL_KEYS, where="")
    name = require(document, "name", str, "name")
    if not NAME.fullmatch(name):
        raise TableError("name", f"{shown(name)} is not a plain name: letters, digits, '_', '.', '-', "
                                "at most 40, starting with a letter or digit")
    epochs = integer(require(document, "epochs", int, "epochs"), "epochs", low=1, high=MAX_EPOCHS)
    description = document.get("description", "")
    check_type(description, str, "description")
    return Recipe(name=name, epochs=epochs, max_shift=_parse_augment(document.get("augment", {})),
                  description=description)


def _parse_augment(table: object) -> int:
    """The ``[augment]`` table; absent or empty: no augmentation."""
    if not isinstance(table, dict):
        raise TableError("augment", "must be a table like { max_shift = 1 }")
    check_keys(table, allowed=AUGMENT_KEYS, where="augment")
    return integer(table.get("max_shift", 0), "augment.max_shift", low=0, high=MAX_SHIFT)
