"""One training run: history, determinism, divergence, eval mode, device and threads."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from pairsearch.data.pairs import PairSet, Split
from pairsearch.errors import PairsearchError
from pairsearch.training import loop
from pairsearch.training.augment import make_augment
from pairsearch.training.loop import EpochRecord, evaluate, resolve_device, set_threads, train_run
from pairsearch.training.models import ARCHS, build_model, count_parameters, resolve_params

DIGIT_ARCHS = {name for name, arch in ARCHS.items() if arch.predicts_digits}
RECORD_FIELDS = ["epoch", "train_loss", "train_accuracy", "eval_accuracy", "digit_accuracy", "seconds"]


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-for-bit repeatability holds at a fixed thread count; one thread is also the fastest here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(arch: str, params: dict, split: Split, *, seed: int = 0, epochs: int = 2, **kwargs):
    params = resolve_params(arch=arch, overrides=params)
    return train_run(arch=arch, params=params, split=split, epochs=epochs, seed=seed, **kwargs)


def comparable(history: list[EpochRecord]) -> list[tuple]:
    """Everything in a history except wall-clock seconds."""
    return [dataclasses.astuple(dataclasses.replace(record, seconds=0.0)) for record in history]


@pytest.mark.parametrize("arch", list(ARCHS))
def test_train_run_records_every_epoch(arch, small_split, tiny_params):
    result = run(arch, tiny_params, small_split)
    assert result.status == "completed"
    assert (result.arch, result.seed, result.epochs) == (arch, 0, 2)
    assert result.n_parameters == count_parameters(build_model(arch=arch, params=result.params))
    assert [record.epoch for record in result.history] == [1, 2]
    for record in result.history:
        assert [field.name for field in dataclasses.fields(record)] == RECORD_FIELDS
        assert 0 <= record.train_accuracy <= 1 and 0 <= record.eval_accuracy <= 1
        assert record.train_loss > 0 and record.seconds > 0
        # accuracies are counts over the right set: 200 training pairs, 100 validation pairs
        assert abs(record.train_accuracy * 200 - round(record.train_accuracy * 200)) < 1e-9
        assert abs(record.eval_accuracy * 100 - round(record.eval_accuracy * 100)) < 1e-9
        if arch in DIGIT_ARCHS:
            assert record.digit_accuracy is not None and 0 <= record.digit_accuracy <= 1
        else:
            assert record.digit_accuracy is None
    assert result.final_accuracy == result.history[-1].eval_accuracy
    assert [list(row) for row in result.history_dicts()] == [RECORD_FIELDS] * 2


def test_training_learns_something(small_split, tiny_params):
    result = run("digits", {**tiny_params, "lr": 1e-2, "batch_size": 20}, small_split, epochs=3)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.history[-1].digit_accuracy > 0.2  # chance is 0.1


def test_same_seed_gives_identical_history_and_other_seed_differs(small_split, tiny_params):
    params = {**tiny_params, "dropout": 0.3}  # dropout draws random numbers too
    first = run("base_aux", params, small_split, seed=4)
    torch.manual_seed(999)  # the global RNG state before the run must not matter
    torch.rand(10)
    again = run("base_aux", params, small_split, seed=4)
    other = run("base_aux", params, small_split, seed=5)
    assert comparable(first.history) == comparable(again.history)
    assert comparable(first.history) != comparable(other.history)
    assert first.history[0].train_loss != other.history[0].train_loss


def test_on_epoch_sees_each_record_once(small_split, tiny_params):
    seen = []
    result = run("joint", tiny_params, small_split, epochs=2, on_epoch=seen.append)
    assert seen == result.history
    assert len(seen) == 2


def test_on_epoch_can_stop_the_run_by_raising(small_split, tiny_params):
    class Stop(Exception):
        pass

    def stop(record: EpochRecord) -> None:
        raise Stop(record.epoch)

    with pytest.raises(Stop) as caught:
        run("base", tiny_params, small_split, epochs=3, on_epoch=stop)
    assert caught.value.args == (1,)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("arch", ["base", "digits"])
def test_non_finite_loss_ends_the_run_as_diverged(arch, bad_value, small_split, tiny_params):
    images = small_split.train.images.clone()
    images[3, 0, 5, 5] = bad_value
    broken = Split(PairSet(images, small_split.train.targets, small_split.train.classes),
                   small_split.evaluation, "validation")
    seen = []
    result = run(arch, tiny_params, broken, epochs=2, on_epoch=seen.append)
    assert result.status == "diverged"
    assert result.final_accuracy is None
    assert result.history == [] and seen == []


def test_final_accuracy_is_none_without_history():
    result = loop.RunResult(arch="base", params={}, seed=0, epochs=1, n_parameters=1)
    assert result.final_accuracy is None


def test_evaluation_runs_in_eval_mode(small_split, tiny_params):
    params = resolve_params(arch="base_aux", overrides={**tiny_params, "dropout": 0.8})
    torch.manual_seed(0)
    model = build_model(arch="base_aux", params=params)
    pairs = small_split.evaluation
    model.train()
    with torch.no_grad():  # the check below means something: train mode is random here
        assert not torch.equal(model(pairs.images).compare_logits, model(pairs.images).compare_logits)
    first = evaluate(model=model, pairs=pairs)
    assert not model.training
    model.train()
    second = evaluate(model=model, pairs=pairs)
    assert first == second
    with torch.no_grad():
        output = model(pairs.images)  # eval mode, left so by evaluate
    compare = ((output.compare_logits > 0).float() == pairs.targets).float().mean().item()
    digits = (output.digit_logits.argmax(dim=2) == pairs.classes).float().mean().item()
    assert first == pytest.approx((compare, digits))


def test_evaluation_in_chunks_matches_one_batch(small_split, tiny_params, monkeypatch):
    params = resolve_params(arch="split", overrides=tiny_params)
    torch.manual_seed(0)
    model = build_model(arch="split", params=params)
    whole = evaluate(model=model, pairs=small_split.evaluation)
    monkeypatch.setattr(loop, "EVAL_BATCH_SIZE", 7)  # 100 pairs: 15 chunks, the last short
    assert evaluate(model=model, pairs=small_split.evaluation) == pytest.approx(whole)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_resolve_device_without_gpu():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(PairsearchError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_unknown_device_names_the_choices():
    with pytest.raises(PairsearchError) as caught:
        resolve_device("quantum")
    assert "'quantum'" in str(caught.value) and "auto, cpu or cuda" in str(caught.value)


@pytest.mark.parametrize("threads", [0, -2])
def test_set_threads_needs_at_least_one(threads):
    with pytest.raises(PairsearchError, match="at least 1"):
        set_threads(threads)


def test_set_threads_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_adam_matches_torch_adam_with_cosine_decay():
    """pairsearch's Adam (kept free of torch._dynamo for start-up) is torch's Adam + cosine decay."""
    from pairsearch.training.loop import Adam

    torch.manual_seed(0)
    ours_model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    torch_model = copy.deepcopy(ours_model)
    ours = Adam(list(ours_model.parameters()), lr=0.01, weight_decay=1e-3, total_steps=20)
    reference = torch.optim.Adam(torch_model.parameters(), lr=0.01, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=20)
    inputs = torch.randn(20, 8, 5)
    for step in range(20):
        for model, optimizer in ((ours_model, ours), (torch_model, reference)):
            optimizer.zero_grad()
            model(inputs[step]).pow(2).mean().backward()
            optimizer.step()
        schedule.step()
    for mine, theirs in zip(ours_model.parameters(), torch_model.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    assert ours.current_lr() == pytest.approx(0.0, abs=1e-12)


def test_adam_leaves_parameters_without_gradient_alone_as_torch_adam():
    """A tensor without a gradient skips the step and its step count, as in ``torch.optim.Adam``."""
    from pairsearch.training.loop import Adam

    torch.manual_seed(0)
    used, unused = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    ours_params = [*used.parameters(), *unused.parameters()]
    torch_params = [p.detach().clone().requires_grad_() for p in ours_params]
    ours = Adam(ours_params, lr=0.01, weight_decay=0.0, total_steps=10**6)  # the rate barely decays
    reference = torch.optim.Adam(torch_params, lr=0.01)
    before = [p.detach().clone() for p in ours_params]
    for step in range(6):
        for params, optimizer in ((ours_params, ours), (torch_params, reference)):
            optimizer.zero_grad()
            active = params if step >= 3 else params[:2]  # the second layer joins at step 3
            sum(p.sum() * (i + 1) for i, p in enumerate(active)).pow(2).backward()
            optimizer.step()
            if step == 2:
                assert torch.equal(params[2], before[2]) and torch.equal(params[3], before[3])
    for mine, theirs in zip(ours_params, torch_params):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


# --- augmentation of the training pairs (a recipe's shifts) -------------------------------------


def tiny_split(pools) -> Split:
    from pairsearch.data.pairs import final_split

    return final_split(pools=pools, seed=0, n_train=200, n_test=100)


def test_augmentation_sees_training_pairs_only(pools, tiny_params):
    split = tiny_split(pools)
    seen = []
    augment = make_augment(max_shift=1, seed=0)

    def spy(images: torch.Tensor) -> torch.Tensor:
        seen.append(images.clone())
        return augment(images)

    train_run(arch="base", params=tiny_params, split=split, epochs=2, seed=0, augment=spy)

    assert sum(len(batch) for batch in seen) == 2 * len(split.train)
    train_rows = {tuple(row.flatten().tolist()) for row in split.train.images}
    test_rows = {tuple(row.flatten().tolist()) for row in split.evaluation.images}
    seen_rows = {tuple(row.flatten().tolist()) for batch in seen for row in batch}
    assert seen_rows == train_rows and not seen_rows & test_rows


def test_augmented_training_is_bit_repeatable_and_differs_from_plain(pools, tiny_params):
    split = tiny_split(pools)

    def history(max_shift: int) -> list:
        result = train_run(arch="base", params=tiny_params, split=split, epochs=2, seed=1,
                           augment=make_augment(max_shift=max_shift, seed=1))
        return [(r.train_loss, r.eval_accuracy) for r in result.history]

    assert history(1) == history(1)
    assert history(1) != history(0)
    plain = train_run(arch="base", params=tiny_params, split=split, epochs=2, seed=1)
    assert history(0) == [(r.train_loss, r.eval_accuracy) for r in plain.history]
