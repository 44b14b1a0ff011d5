"""The arch registry: shapes, losses, gradients and params of every family."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from pairsearch.errors import PairsearchError
from pairsearch.training.models import (
    ARCHS,
    Cell,
    arch_order,
    build_model,
    count_parameters,
    get_arch,
    register_arch,
    resolve_params,
)
from pairsearch.training.networks import conv_trunk, digit_loss
from pairsearch.training.params import PARAM_RANGES

ALL_ARCHS = tuple(ARCHS)
DIGIT_ARCHS = {name for name, arch in ARCHS.items() if arch.predicts_digits}


def make_batch(n: int = 8, *, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 2, 14, 14, generator=generator)
    classes = torch.randint(10, (n, 2), generator=generator)
    targets = (classes[:, 0] <= classes[:, 1]).float()
    return images, targets, classes


def make_model(arch: str, tiny_params: dict, **overrides):
    params = resolve_params(arch=arch, overrides={**tiny_params, **overrides})
    torch.manual_seed(0)
    return build_model(arch=arch, params=params), params


def test_every_registered_arch_declares_its_params_with_defaults():
    assert {"base", "base_aux", "sep", "sep_aux"} <= set(ARCHS)  # the 2×2 design the report answers
    for name, arch in ARCHS.items():
        assert arch.name == name and arch.description
        assert set(arch.param_names) <= set(PARAM_RANGES)
        assert set(arch.defaults) == set(arch.param_names)
        assert resolve_params(arch=name, overrides={}) == arch.defaults


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_an_arch_takes_aux_weight_exactly_when_its_loss_uses_it(arch, tiny_params):
    images, targets, classes = make_batch()
    if "aux_weight" not in get_arch(arch).param_names:
        return
    losses = []
    for weight in (0.0, 5.0):
        model, _ = make_model(arch, tiny_params, aux_weight=weight)
        model.eval()
        losses.append(model.loss(model(images), targets, classes).item())
    assert losses[0] != losses[1]


def test_register_arch_refuses_a_param_pairsearch_does_not_define():
    with pytest.raises(ValueError, match="depth"):
        register_arch(name="deep", description="x", params=("channels", "depth"))
    assert "deep" not in ARCHS


def test_register_arch_refuses_a_cell_of_the_design_another_arch_holds():
    with pytest.raises(ValueError, match=r"is base's already; one arch per cell"):
        register_arch(name="base_twin", description="x", cell=Cell(shared_weights=True, aux_loss=False))
    assert "base_twin" not in ARCHS


@pytest.mark.parametrize("batchnorm", [True, False], ids=["bn", "no-bn"])
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_forward_shapes_loss_and_gradients(arch, batchnorm, tiny_params):
    model, _ = make_model(arch, tiny_params, batchnorm=batchnorm)
    has_norm = any(isinstance(module, torch.nn.BatchNorm2d) for module in model.modules())
    assert has_norm == batchnorm
    images, targets, classes = make_batch()
    model.train()
    output = model(images)
    assert output.compare_logits.shape == (8,)
    if arch in DIGIT_ARCHS:
        assert output.digit_logits is not None and output.digit_logits.shape == (8, 2, 10)
    else:
        assert output.digit_logits is None
    loss = model.loss(output, targets, classes)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{arch}: {name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), name
    for name, parameter in model.named_parameters():
        if name.endswith("weight") and parameter.dim() > 1:  # every layer learns something
            assert parameter.grad.abs().sum() > 0, f"{arch}: {name} has an all-zero gradient"


@pytest.mark.parametrize("arch", ["base", "sep", "joint"])
def test_compare_only_loss_is_bce_on_logits(arch, tiny_params):
    model, _ = make_model(arch, tiny_params)
    images, targets, classes = make_batch()
    output = model(images)
    expected = F.binary_cross_entropy_with_logits(output.compare_logits, targets)
    torch.testing.assert_close(model.loss(output, targets, classes), expected)


@pytest.mark.parametrize("arch", ["base_aux", "sep_aux"])
def test_aux_loss_is_bce_plus_weighted_digit_ce(arch, tiny_params):
    model, _ = make_model(arch, tiny_params, aux_weight=2.5)
    images, targets, classes = make_batch()
    output = model(images)
    bce = F.binary_cross_entropy_with_logits(output.compare_logits, targets)
    ce = F.cross_entropy(output.digit_logits[:, 0], classes[:, 0]) + F.cross_entropy(
        output.digit_logits[:, 1], classes[:, 1]
    )
    torch.testing.assert_close(model.loss(output, targets, classes), bce + 2.5 * ce)


def test_split_classifier_learns_from_cross_entropy_alone(tiny_params):
    model, _ = make_model("split", tiny_params)
    images, targets, classes = make_batch()
    output = model(images)
    classifier = list(model.classifier.parameters())
    compare = list(model.compare.parameters())
    total = model.loss(output, targets, classes)
    from_total = torch.autograd.grad(total, classifier + compare, retain_graph=True)
    from_ce = torch.autograd.grad(digit_loss(output.digit_logits, classes), classifier, retain_graph=True)
    for with_bce, ce_only in zip(from_total[: len(classifier)], from_ce):
        torch.testing.assert_close(with_bce, ce_only, rtol=0, atol=0)
    assert sum(grad.abs().sum() for grad in from_ce) > 0
    assert sum(grad.abs().sum() for grad in from_total[len(classifier):]) > 0  # BCE trains compare
    bce = F.binary_cross_entropy_with_logits(output.compare_logits, targets)
    assert all(grad is None for grad in torch.autograd.grad(bce, classifier, allow_unused=True))


def test_digits_probability_is_the_sum_over_ordered_digit_pairs(tiny_params):
    model, _ = make_model("digits", tiny_params)
    model.eval()
    images, _, _ = make_batch(5, seed=3)
    with torch.no_grad():
        # sharpen the softmaxes so the check is not dominated by near-uniform probabilities
        model.classifier.head[1].weight.mul_(20)
        output = model(images)
    p1, p2 = output.digit_logits.double().softmax(dim=2).unbind(dim=1)
    for row in range(5):
        by_hand = sum(p1[row, i] * p2[row, j] for i in range(10) for j in range(10) if i <= j)
        probability = torch.sigmoid(output.compare_logits[row].double())
        assert abs(probability.item() - by_hand.item()) < 1e-5
    assert output.compare_logits.std() > 0.1  # the rows really differ


def test_digits_loss_is_the_digit_cross_entropy(tiny_params):
    model, _ = make_model("digits", tiny_params)
    images, targets, classes = make_batch()
    output = model(images)
    torch.testing.assert_close(model.loss(output, targets, classes), digit_loss(output.digit_logits, classes))


def test_shared_weights_have_fewer_params_by_one_trunk(tiny_params):
    counts = {arch: count_parameters(make_model(arch, tiny_params)[0]) for arch in ALL_ARCHS}
    assert counts["base"] < counts["sep"]
    assert counts["base_aux"] < counts["sep_aux"]
    _, params = make_model("base", tiny_params)
    trunk = count_parameters(conv_trunk(in_channels=1, params=params))
    digit_head = params["hidden"] * 10 + 10
    assert counts["sep"] - counts["base"] == trunk
    assert counts["sep_aux"] - counts["base_aux"] == trunk + digit_head


@pytest.mark.parametrize("call", [
    lambda: get_arch("resnet"),
    lambda: build_model(arch="resnet", params={}),
    lambda: resolve_params(arch="resnet", overrides={}),
], ids=["get_arch", "build_model", "resolve_params"])
def test_unknown_arch_names_the_valid_archs(call):
    with pytest.raises(PairsearchError) as caught:
        call()
    message = str(caught.value)
    assert "resnet" in message
    assert all(name in message for name in ALL_ARCHS)


def test_resolve_params_fills_defaults_and_checks_types():
    params = resolve_params(arch="base_aux", overrides={"channels": 8.0, "lr": 1})
    assert params["channels"] == 8 and type(params["channels"]) is int
    assert params["lr"] == 1.0 and type(params["lr"]) is float
    assert params["aux_weight"] == 1.0
    assert set(params) == set(get_arch("base_aux").param_names)
    assert "aux_weight" not in resolve_params(arch="base", overrides={})


@pytest.mark.parametrize(("arch", "overrides"), [
    ("base", {"aux_weight": 1.0}),  # only the aux archs take aux_weight
    ("digits", {"learning_rate": 0.1}),
])
def test_resolve_params_rejects_unknown_params(arch, overrides):
    with pytest.raises(PairsearchError) as caught:
        resolve_params(arch=arch, overrides=overrides)
    message = str(caught.value)
    assert repr(next(iter(overrides))) in message
    assert all(name in message for name in get_arch(arch).param_names)


@pytest.mark.parametrize(("name", "value"), [
    ("channels", 3), ("hidden", 2000), ("lr", 0.0), ("dropout", 0.9), ("batchnorm", "yes"),
    ("lr", float("nan")), ("batch_size", 0),
])
def test_resolve_params_rejects_out_of_range_values(name, value):
    with pytest.raises(PairsearchError, match=f"{name}="):
        resolve_params(arch="sep", overrides={name: value})


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_params_at_the_range_extremes_build_and_run(arch):
    images, targets, classes = make_batch(2)
    for channels, hidden, dropout in [(4, 8, 0.0), (4, 8, 0.8), (256, 1024, 0.8)]:  # one big build
        params = resolve_params(arch=arch, overrides={
            "channels": channels, "hidden": hidden, "dropout": dropout, "batchnorm": True,
        })
        model = build_model(arch=arch, params=params)
        with torch.no_grad():
            for train_mode in (True, False):
                model.train(train_mode)
                output = model(images)
                assert output.compare_logits.shape == (2,)
                assert torch.isfinite(output.compare_logits).all()
                assert torch.isfinite(model.loss(output, targets, classes))


def test_arch_order_is_the_design_then_the_registry_then_the_alphabet():
    labels = ["zeta", "digits", "sep", "base_aux", "joint", "base", "split", "sep_aux", "alpha"]

    assert arch_order(labels=labels) == [
        "base", "base_aux", "sep", "sep_aux", "joint", "split", "digits", "alpha", "zeta"
    ]
    assert arch_order(labels=["joint", "wide"], arch_of={"wide": "base"}) == [
        "wide", "joint"
    ]
