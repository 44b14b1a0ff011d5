"""Property-based tests of recipe files through the CLI's boundary: whatever a file holds, a recipe or one line.

``--recipe PATH`` reaches :func:`pairsearch.inputs.chosen_recipe`; generated files (random
bytes, random text, the shipped recipes with random edits of their text) each give either a
:class:`Recipe` inside its limits or one :class:`PairsearchError` line that names the file: never
another exception, never a traceback. Profiles (``tests/fuzzing.py``): ``quick`` in the unit
suite, ``thorough`` under ``-m slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import PROFILES, check_property, file_contents
from hypothesis import strategies as st

from pairsearch import inputs
from pairsearch.defaults import MAX_EPOCHS
from pairsearch.errors import PairsearchError
from pairsearch.training.recipes import MAX_SHIFT, NAME, Recipe

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.toml"))


def recipe_or_one_line(path: Path, content: bytes) -> Recipe | None:
    """Write ``content`` to ``path`` and read it as ``--recipe PATH``: a valid recipe, or one line naming the file."""
    path.write_bytes(content)
    try:
        recipe = inputs.chosen_recipe(name_or_path=str(path))
    except PairsearchError as error:
        text = str(error)
        assert "\n" not in text and "\r" not in text, text
        assert str(path) in text, text
        return None
    assert NAME.fullmatch(recipe.name)
    assert 1 <= recipe.epochs <= MAX_EPOCHS and 0 <= recipe.max_shift <= MAX_SHIFT
    return recipe


@st.composite
def edited_recipe_texts(draw) -> str:
    """A shipped recipe with up to three random edits: a span deleted, replaced or duplicated."""
    text = draw(st.sampled_from([path.read_text() for path in SHIPPED]))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        start = draw(st.integers(min_value=0, max_value=len(text)))
        end = draw(st.integers(min_value=start, max_value=min(len(text), start + 12)))
        insert = draw(st.one_of(st.just(""), st.text(max_size=8), st.sampled_from(
            ["=", "[", "]", '"', "0", "-1", "1e9", "true", "max_shift", "epochs", "name", "\n", "[augment]"])))
        text = text[:start] + insert + text[end:]
    return text


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "recipe.toml"


def test_the_shipped_recipes_load(tmp_path):
    assert SHIPPED and all(recipe_or_one_line(tmp_path / path.name, path.read_bytes()) for path in SHIPPED)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("contents", file_contents(max_bytes=300, max_chars=200, edited=edited_recipe_texts()))
def test_any_file_gives_a_recipe_or_one_line(profile, contents, recipe_path):
    check_property(profile=profile, strategy=contents, check=lambda content: recipe_or_one_line(recipe_path, content))
