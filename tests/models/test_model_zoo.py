"""The architecture zoo: shapes, "auto" resolution, and clear errors for bad names."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from dlstack.errors import ModelError
from dlstack.models import ARCHITECTURES, build_model, resolve_architecture


@pytest.mark.parametrize("architecture", ["mlp", "lenet", "resnet", "auto"])
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28)])
def test_output_is_one_logit_per_class(architecture: str, input_shape: tuple[int, ...]) -> None:
    model, _ = build_model(architecture, input_shape, num_classes=10)
    out = model(torch.zeros(3, *input_shape))
    # Both built-in datasets (8x8 and 28x28) must work with every architecture.
    assert out.shape == (3, 10)


def test_auto_picks_by_modality() -> None:
    # Images (C, H, W) get the CNN, flat feature vectors get the MLP.
    assert build_model("auto", (1, 28, 28), 10)[1] == "lenet"
    assert build_model("auto", (3, 32, 32), 10)[1] == "lenet"
    model, name = build_model("auto", (64,), 5)
    assert name == "mlp"
    assert model(torch.zeros(2, 64)).shape == (2, 5)


def test_explicit_names_resolve_to_themselves() -> None:
    for name in ARCHITECTURES:
        assert resolve_architecture(name, (1, 8, 8)) == name


def test_mlp_starts_with_flatten_so_images_work() -> None:
    model, _ = build_model("mlp", (1, 28, 28), 10)
    first_layer = next(m for m in model.modules() if not list(m.children()))
    assert isinstance(first_layer, torch.nn.Flatten)
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_lenet_has_no_regularization_by_default() -> None:
    # The practice starts without regularization: no dropout, no batch norm.
    model, _ = build_model("lenet", (1, 28, 28), 10)
    kinds = {type(m) for m in model.modules()}
    assert torch.nn.Dropout not in kinds
    assert torch.nn.BatchNorm2d not in kinds


def test_dropout_is_added_when_asked() -> None:
    model, _ = build_model("lenet", (1, 28, 28), 10, dropout=0.3)
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(d.p == 0.3 for d in drops)


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ModelError) as err:
        build_model("vgg", (1, 28, 28), 10)
    message = str(err.value)
    # The message names what was asked for and every name that would work.
    for name in ("'vgg'", "'auto'", "'mlp'", "'lenet'", "'resnet'", "module:callable"):
        assert name.split(".")[-1] in message


def test_cnn_refuses_flat_input_with_a_fix() -> None:
    with pytest.raises(ModelError, match="mlp"):
        build_model("lenet", (64,), 10)


def test_model_sizes_are_sane() -> None:
    # Guards against an accidental blow-up of the zoo: all stay well under a few million.
    for arch in ("mlp", "lenet", "resnet"):
        model, _ = build_model(arch, (1, 28, 28), 10)
        n = sum(p.numel() for p in model.parameters() if isinstance(p, nn.Parameter))
        assert 10_000 < n < 2_000_000, (arch, n)
        assert math.isfinite(float(model(torch.zeros(1, 1, 28, 28)).detach().sum()))


def test_channels_last_layout_does_not_change_the_math() -> None:
    # LeNet keeps conv weights and activations NHWC in memory for speed; a plain NCHW
    # pass through the same layers (the reference) must give the same logits.
    torch.manual_seed(0)
    model, _ = build_model("lenet", (1, 28, 28), 10)
    reference = copy.deepcopy(model)
    for param in reference.parameters():
        param.data = param.data.contiguous()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = reference.head(reference.features(x))  # bypasses the layout change
        assert torch.allclose(model(x), expected, atol=1e-5)
