"""Study files: the shipped ones load, and every kind of mistake is named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_cli, write_tiny_study

from pairsearch.errors import PairsearchError
from pairsearch.models import ARCHS, get_arch
from pairsearch.studyspec import StudySpec, load_study_file

STUDIES = REPO / "studies"
VALID = """\
arch = "base"
epochs = 3

[params]
channels = { type = "int", low = 8, high = 64, log = true }
lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
batch_size = { type = "categorical", choices = [32, 64] }
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def space_of(spec: StudySpec) -> dict:
    return {space.name: space for space in spec.space}


def assert_spec_error(path: Path, *fragments: str, arch: str | None = None) -> str:
    """Loading ``path`` raises one PairsearchError line naming the file and each fragment."""
    with pytest.raises(PairsearchError) as caught:
        load_study_file(path=path, arch=arch)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return message


# --- the shipped study files -----------------------------------------------------------------


def test_one_shipped_study_file_per_arch():
    assert sorted(path.stem for path in STUDIES.glob("*.toml")) == sorted(ARCHS)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_shipped_study_file_loads_and_validates(arch):
    spec = load_study_file(path=STUDIES / f"{arch}.toml", arch=arch)
    assert spec.arch == arch
    assert spec.epochs == 10
    searched = space_of(spec)
    assert set(searched) | set(spec.fixed) <= set(get_arch(arch).param_names)
    assert ("aux_weight" in searched) == ("aux_weight" in get_arch(arch).param_names)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_shipped_ranges_include_the_hand_tuned_configs(arch):
    """The reference projects' hand-picked widths (up to 256 channels) and aux weights (up to 50)."""
    searched = space_of(load_study_file(path=STUDIES / f"{arch}.toml", arch=arch))
    channels = searched["channels"]
    assert channels.low <= 16 and channels.high >= 256
    assert searched["hidden"].low <= 64 and searched["hidden"].high >= 512
    assert searched["lr"].low <= 1e-3 <= searched["lr"].high
    assert searched["lr"].high >= 1e-2
    if "aux_weight" in get_arch(arch).param_names:
        aux = searched["aux_weight"]
        assert aux.low <= 1.0 and aux.high >= 50


# --- errors name the file and the key ----------------------------------------------------------


def test_valid_minimal_file(tmp_path):
    spec = load_study_file(path=write(tmp_path, VALID), arch="base")
    assert spec.epochs == 3 and set(space_of(spec)) == {"channels", "lr", "batch_size"}


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "trials = 5\n" + VALID)
    assert_spec_error(path, "trials", "unknown key")


def test_unknown_top_level_table(tmp_path):
    path = write(tmp_path, VALID + "\n[search]\nlr = 1\n")
    assert_spec_error(path, "search", "unknown key")


def test_param_unknown_for_the_arch(tmp_path):
    path = write(tmp_path, VALID + 'aux_weight = { type = "float", low = 0.1, high = 10.0 }\n')
    assert_spec_error(path, "params.aux_weight", "unknown param")


def test_param_unknown_anywhere(tmp_path):
    path = write(tmp_path, VALID + 'momentum = { type = "float", low = 0.1, high = 0.9 }\n')
    assert_spec_error(path, "params.momentum")


def test_low_greater_than_high(tmp_path):
    path = write(tmp_path, VALID + 'dropout = { type = "float", low = 0.5, high = 0.1 }\n')
    assert_spec_error(path, "params.dropout.low", "greater than high")


def test_log_scale_with_low_at_zero(tmp_path):
    path = write(tmp_path, VALID + 'weight_decay = { type = "float", low = 0.0, high = 0.1, log = true }\n')
    assert_spec_error(path, "params.weight_decay.low", "log")


def test_empty_choices(tmp_path):
    path = write(tmp_path, VALID.replace("choices = [32, 64]", "choices = []"))
    assert_spec_error(path, "params.batch_size.choices", "empty")


def test_unknown_arch(tmp_path):
    path = write(tmp_path, VALID.replace('"base"', '"resnet"'))
    assert_spec_error(path, "arch", "resnet")


def test_bound_of_the_wrong_type(tmp_path):
    path = write(tmp_path, VALID.replace("low = 1e-4", 'low = "0.0001"'))
    assert_spec_error(path, "params.lr.low", "number")


def test_int_param_with_a_float_bound(tmp_path):
    path = write(tmp_path, VALID.replace("high = 64", "high = 64.5"))
    assert_spec_error(path, "params.channels.high")


@pytest.mark.parametrize("bound, value", [("low", "nan"), ("high", "inf"), ("low", "-inf")])
def test_non_finite_bounds(tmp_path, bound, value):
    bounds = {"low": "0.0", "high": "0.5", bound: value}
    line = f'dropout = {{ type = "float", low = {bounds["low"]}, high = {bounds["high"]} }}\n'
    path = write(tmp_path, VALID + line)
    assert_spec_error(path, f"params.dropout.{bound}", "finite")


def test_missing_epochs(tmp_path):
    path = write(tmp_path, VALID.replace("epochs = 3\n", ""))
    assert_spec_error(path, "epochs", "missing")


def test_epochs_of_the_wrong_type(tmp_path):
    path = write(tmp_path, VALID.replace("epochs = 3", 'epochs = "3"'))
    assert_spec_error(path, "epochs")


def test_not_toml(tmp_path):
    path = write(tmp_path, "arch: base\nepochs: 10\n", name="study.yaml")
    assert_spec_error(path, "TOML")


def test_binary_file(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(bytes(range(256)) * 4)
    assert_spec_error(path)


def test_binary_file_that_is_valid_utf8(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(b"\x00\x01\x02arch = \x00\n")
    assert_spec_error(path)


def test_directory(tmp_path):
    assert_spec_error(tmp_path, "directory")


def test_file_not_found(tmp_path):
    assert_spec_error(tmp_path / "nope.toml", "not found")


def test_arch_option_differs_from_the_file(tmp_path):
    path = write(tmp_path, VALID)
    assert_spec_error(path, "arch", "sep_aux", arch="sep_aux")


def test_value_outside_the_global_range(tmp_path):
    path = write(tmp_path, VALID.replace("high = 64", "high = 100000"))
    assert_spec_error(path, "params.channels.high", "100000")


def test_fixed_value_outside_the_global_range(tmp_path):
    path = write(tmp_path, VALID + "\n[fixed]\nhidden = 100000\n")
    assert_spec_error(path, "fixed.hidden")


def test_choice_outside_the_global_range(tmp_path):
    path = write(tmp_path, VALID.replace("choices = [32, 64]", "choices = [32, 0]"))
    assert_spec_error(path, "params.batch_size.choices")


def test_unknown_pruner(tmp_path):
    path = write(tmp_path, VALID + '\n[pruner]\nname = "asha"\n')
    assert_spec_error(path, "pruner.name", "asha")


def test_unknown_key_inside_a_param(tmp_path):
    path = write(tmp_path, VALID.replace("log = true }", "log = true, q = 2 }", 1))
    assert_spec_error(path, "params.channels.q")


def test_cli_reports_a_bad_study_file_in_one_line(tmp_path, data_dir):
    path = write(tmp_path, VALID.replace("high = 64", "high = 100000"))
    result = run_cli(
        ["tune", "--arch", "base", "--study-file", str(path), "--trials", "1",
         "--storage", f"sqlite:///{tmp_path / 'x.db'}"],
        data_dir=data_dir,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "params.channels.high" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


# --- the spec hash ---------------------------------------------------------------------------


def test_spec_hash_is_stable(tmp_path):
    first = load_study_file(path=write(tmp_path, VALID, "a.toml"))
    second = load_study_file(path=write(tmp_path, VALID, "b.toml"))
    assert first.spec_hash == second.spec_hash
    assert first.spec_hash == load_study_file(path=tmp_path / "a.toml").spec_hash
    # Comments and key order do not change what is searched.
    reordered = write(tmp_path, "# a comment\n" + VALID.replace('arch = "base"\nepochs = 3', 'epochs = 3\narch = "base"'))
    assert load_study_file(path=reordered).spec_hash == first.spec_hash


def test_spec_hash_changes_with_overrides(tmp_path):
    spec = load_study_file(path=write_tiny_study(tmp_path, epochs=2))
    assert spec.with_overrides().spec_hash == spec.spec_hash
    assert spec.with_overrides(epochs=2).spec_hash == spec.spec_hash
    assert spec.with_overrides(epochs=3).spec_hash != spec.spec_hash
    assert spec.with_overrides(pruner="median").spec_hash != spec.spec_hash
    assert spec.with_overrides(pruner="median").spec_hash != spec.with_overrides(pruner="hyperband").spec_hash


def test_spec_hash_changes_with_the_search_space(tmp_path):
    first = load_study_file(path=write(tmp_path, VALID, "a.toml"))
    second = load_study_file(path=write(tmp_path, VALID.replace("high = 64", "high = 128"), "b.toml"))
    assert first.spec_hash != second.spec_hash


def test_unknown_pruner_override():
    spec = load_study_file(path=STUDIES / "base.toml")
    with pytest.raises(PairsearchError, match="--pruner"):
        spec.with_overrides(pruner="asha")
