"""Study files: the shipped ones load, and every kind of mistake is named by file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, run_cli, write_tiny_study

from pairsearch.errors import PairsearchError
from pairsearch.studyspec import StudySpec, load_study_file
from pairsearch.training.models import ARCHS, get_arch

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


# --- types, steps and keys of every kind (issue 11) --------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("epochs = 3", "epochs = 1e9", "epochs", "must be an integer, got a float (1000000000.0)"),
        ("epochs = 3", "epochs = true", "epochs", "must be an integer, got a boolean (true)"),
        ('arch = "base"', "arch = 5", "arch", "must be a string, got an integer (5)"),
        ("\n[params]\n", "\nparams = [1]\n[fixed]\n", "params", "must be a table, got an array"),
        ("choices = [32, 64]", 'choices = "32"', "params.batch_size.choices", "must be an array, got a string"),
        ('lr = { type = "float"', 'lr = { type = 3', "params.lr.type", "must be a string, got an integer"),
        ("log = true }", "log = 1 }", "params.channels.log", "must be a boolean, got an integer (1)"),
        ("low = 1e-4", "low = 1979-05-27", "params.lr.low", "must be a number, got a date (1979-05-27)"),
    ],
)
def test_a_value_of_the_wrong_type_says_what_it_must_be_in_english(tmp_path, old, new, key, words):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    message = assert_spec_error(path, f"{key}: {words}")
    assert not re.search(r"\ba (int|str|dict|list|bool)\b", message), message


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        # A step Optuna warns about (citing its own source file) and cuts the range by, or fails every trial on
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = 0.3 }', "params.dropout.step",
         "does not divide the range"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = 0.6 }', "params.dropout.step",
         "larger than the range"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = nan }', "params.dropout.step",
         "positive finite number"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = inf }', "params.dropout.step",
         "positive finite number"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = -0.1 }', "params.dropout.step",
         "positive finite number"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, step = 1e-300 }', "params.dropout.step",
         "too fine"),
        ('hidden = { type = "int", low = 8, high = 64, step = 100 }', "params.hidden.step",
         "100 is larger than the range 8..64"),
        ('hidden = { type = "int", low = 8, high = 64, step = 5 }', "params.hidden.step",
         "5 does not divide the range 8..64"),
        ('hidden = { type = "int", low = 8, high = 64, step = 0 }', "params.hidden.step", "positive integer"),
        ('hidden = { type = "int", low = 8, high = 64, step = 8.0 }', "params.hidden.step",
         "must be an integer, got a float"),
        ('hidden = { type = "int", low = 8, high = 64, step = true }', "params.hidden.step",
         "must be an integer, got a boolean"),
        # A key that does not apply to the type, silently ignored
        ('hidden = { type = "categorical", choices = [16], low = 1 }', "params.hidden.low",
         "unknown key for type 'categorical'; valid keys: choices, type"),
        ('hidden = { type = "int", low = 8, high = 16, choices = [8] }', "params.hidden.choices",
         "unknown key for type 'int'"),
        ('dropout = { type = "float", low = 0.0, high = 0.5, choices = [0.1] }', "params.dropout.choices",
         "unknown key for type 'float'"),
        # A type not of the param's kind: 37.2 channels, suggested by a float range, would fail every trial
        ('hidden = { type = "float", low = 8, high = 64 }', "params.hidden.type", "type 'int' or 'categorical'"),
        ('dropout = { type = "int", low = 0, high = 0 }', "params.dropout.type", "type 'float' or 'categorical'"),
        ('batchnorm = { type = "int", low = 0, high = 1 }', "params.batchnorm.type",
         "true or false: search it with type 'categorical'"),
    ],
)
def test_a_params_line_optuna_would_misread_is_refused_by_key(tmp_path, line, key, words):
    assert_spec_error(write(tmp_path, VALID + line + "\n"), key, words)


@pytest.mark.parametrize(
    "line",
    [
        'hidden = { type = "int", low = 8, high = 64, step = 8 }',
        'hidden = { type = "int", low = 16, high = 16, step = 4 }',  # one value: any step
        'dropout = { type = "float", low = 0.0, high = 0.5, step = 0.1 }',
        'dropout = { type = "float", low = 0.1, high = 0.7, step = 0.2 }',  # 0.6 / 0.2 in floats is not 3
        'dropout = { type = "float", low = 0.01, high = 0.03, step = 0.02 }',  # found by the fuzzer:
        # one step, refused as "larger than the range" while 0.03 - 0.01 was taken in floats
        'aux_weight = { type = "float", low = 0, high = 100, step = 25 }',
    ],
)
def test_a_step_that_divides_the_range_is_taken_as_written_without_an_optuna_warning(tmp_path, line):
    import warnings

    from optuna.distributions import FloatDistribution, IntDistribution

    arch = "base_aux" if "aux_weight" in line else "base"
    spec = load_study_file(path=write(tmp_path, VALID.replace('"base"', f'"{arch}"') + line + "\n"))
    space = spec.space[-1]
    make = IntDistribution if space.type == "int" else FloatDistribution
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distribution = make(space.low, space.high, log=space.log, step=space.step)
    assert distribution.high == space.high


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('hidden = { type = "categorical", choices = [64, 128, 64] }', "64"),
        ('hidden = { type = "categorical", choices = [64, 64.0] }', "64.0"),
        ('dropout = { type = "categorical", choices = [0, 0.0] }', "0.0"),
        ("batchnorm = { type = \"categorical\", choices = [true, false, true] }", "true"),
    ],
)
def test_a_choice_given_twice_is_refused(tmp_path, line, shown):
    assert_spec_error(write(tmp_path, VALID + line + "\n"), "params.", ".choices", f"{shown} is given twice")


def test_an_empty_search_space_is_refused(tmp_path):
    text = 'arch = "base"\nepochs = 3\n\n[params]\n\n[fixed]\nhidden = 8\n'
    assert_spec_error(write(tmp_path, text), "params: searches nothing")


def test_description_must_be_text(tmp_path):
    assert_spec_error(write(tmp_path, "description = 5\n" + VALID), "description", "must be a string")


@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("sampler", "n_startup_trials = 10000000000", "sampler.n_startup_trials"),
        ("sampler", "seed = -1", "sampler.seed"),
        ("pruner", "n_warmup_steps = 10000000000", "pruner.n_warmup_steps"),
        ("pruner", "n_startup_trials = -5", "pruner.n_startup_trials"),
        ("pruner", "reduction_factor = 10000000000", "pruner.reduction_factor"),
    ],
)
def test_sampler_and_pruner_counts_are_bounded(tmp_path, table, line, key):
    assert_spec_error(write(tmp_path, f"{VALID}\n[{table}]\n{line}\n"), key, "from 0 to 2147483647")


def test_sampler_count_of_the_wrong_type(tmp_path):
    assert_spec_error(write(tmp_path, f"{VALID}\n[sampler]\nseed = 1.5\n"), "sampler.seed",
                      "must be an integer, got a float (1.5)")


# --- one short line, whatever the file holds ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('"a\\nb" = 1\n' + VALID, '"a\\nb": unknown key'),
        ('"a\\u2028b" = 1\n' + VALID, '"a\\u2028b": unknown key'),
        (VALID + '"lr\\nx" = { type = "float", low = 0.1, high = 0.2 }\n', 'params."lr\\nx": unknown param'),
        (VALID + '\n[fixed]\n"" = 1\n', 'fixed."": unknown param'),
        (VALID.replace('"base"', '"base\\r\\nrm -rf /"'), "unknown arch 'base\\r\\nrm -rf /'"),
    ],
)
def test_a_key_or_value_with_a_line_break_is_quoted_not_printed(tmp_path, text, shown):
    message = assert_spec_error(write(tmp_path, text), shown)
    assert len(message.splitlines()) == 1


def test_a_long_value_is_shortened(tmp_path):
    message = assert_spec_error(write(tmp_path, VALID.replace('"base"', '"' + "x" * 100_000 + '"')), "arch")
    assert len(message) < 300 and "…" in message


def test_a_path_with_a_line_break_is_escaped(tmp_path):
    path = write(tmp_path, VALID.replace("epochs = 3", "epochs = 0"), name="study\n.toml")
    with pytest.raises(PairsearchError) as caught:
        load_study_file(path=path)
    assert len(str(caught.value).splitlines()) == 1 and "study\\n.toml" in str(caught.value)


# --- reading: size, kind of file, encoding -----------------------------------------------------


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    plain = load_study_file(path=write(tmp_path, VALID, "plain.toml"))
    marked = tmp_path / "marked.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert load_study_file(path=marked).spec_hash == plain.spec_hash


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_not_utf8_text(tmp_path, encoding):
    path = tmp_path / "study.toml"
    path.write_bytes(("\ufeff" if encoding == "utf-16-be" else "") .encode(encoding) + VALID.encode(encoding))
    name = "UTF-32" if encoding == "utf-32" else "UTF-16"
    assert_spec_error(path, f"not UTF-8 text: it is {name}; save it as UTF-8")


def test_utf16_without_a_byte_order_mark_is_not_utf8_text(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(VALID.encode("utf-16-le"))
    assert_spec_error(path, "not UTF-8 text", "NUL")


def test_latin1_text_is_not_utf8_text(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(('description = "café"\n' + VALID).encode("latin-1"))
    assert_spec_error(path, "not UTF-8 text (line 1 has the byte 0xe9)")


def test_a_file_over_the_size_bound_is_refused_without_reading_it_all(tmp_path):
    from pairsearch.tomlfile import MAX_FILE_BYTES

    path = tmp_path / "huge.toml"
    with path.open("wb") as stream:  # sparse: 4 GiB that take no disk
        stream.truncate(4 << 30)
    assert_spec_error(path, "larger than 1 MiB")
    assert_spec_error(write(tmp_path, "#" * MAX_FILE_BYTES + "\n"), "larger than 1 MiB")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_by_name(device):
    assert_spec_error(Path(device), "is a device, pipe or socket")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    import os
    import threading

    fifo = tmp_path / "study.toml"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_error_of(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the reader so the test run can end
        with open(fifo, "wb"):
            pass
        pytest.fail("loading a FIFO waited for a writer")
    assert "is a device, pipe or socket" in outcome[0] and str(fifo) in outcome[0]


def _error_of(path: Path) -> str:
    try:
        load_study_file(path=path)
    except PairsearchError as error:
        return str(error)
    return "loaded"


def test_an_unreadable_file_says_why(tmp_path):
    import os

    path = write(tmp_path, VALID)
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root: every file is readable")
    assert_spec_error(path, "cannot read (Permission denied)")


def test_arrays_nested_too_deeply_are_one_line(tmp_path):
    assert_spec_error(write(tmp_path, "x = " + "[" * 100_000 + "]" * 100_000 + "\n"), "nested too deeply")


def test_an_integer_with_thousands_of_digits_is_one_line(tmp_path):
    assert_spec_error(write(tmp_path, VALID.replace("epochs = 3", "epochs = " + "9" * 5000)),
                      "integer with thousands of digits")


def test_an_integer_too_large_for_a_float_is_out_of_range(tmp_path):
    path = write(tmp_path, VALID.replace("low = 1e-4", "low = 1" + "0" * 400))
    assert_spec_error(path, "params.lr.low", "outside what lr takes")


# Recorded before the boundary checks were added, and again when the files moved to random
# sampling (2026-11-30): a refactoring of the loader must not change what the shipped files mean,
# or every existing study would be refused as "a different spec".
SHIPPED_SPEC_HASHES = {
    "base": "49c580db89bd350c", "base_aux": "d9d55e97754037f1", "digits": "7a27aa04279100ed",
    "joint": "0b9383c322c0dd6c", "sep": "0ec619da181f5283", "sep_aux": "3668a4c218b79ec2",
    "split": "b243373976e6514d",
}


@pytest.mark.parametrize("arch", sorted(SHIPPED_SPEC_HASHES))
def test_the_shipped_files_mean_what_they_meant(arch):
    assert load_study_file(path=STUDIES / f"{arch}.toml").spec_hash == SHIPPED_SPEC_HASHES[arch]
