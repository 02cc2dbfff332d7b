"""He-normal for ReLU layers, Glorot-normal for recurrent ones, zero biases."""

from __future__ import annotations

import math

import torch
from torch import nn

from dlstack.models import build_model, init_weights


def test_linear_weights_have_he_std() -> None:
    torch.manual_seed(0)
    layer = init_weights(nn.Linear(1024, 512))
    # He-normal keeps ReLU activations' variance constant: std = sqrt(2 / fan_in).
    expected = math.sqrt(2 / 1024)
    assert abs(layer.weight.std().item() - expected) / expected < 0.02
    assert abs(layer.weight.mean().item()) < 0.1 * expected  # zero-mean
    assert torch.count_nonzero(layer.bias) == 0


def test_conv_fan_in_counts_the_kernel() -> None:
    torch.manual_seed(0)
    conv = init_weights(nn.Conv2d(64, 128, 3))
    expected = math.sqrt(2 / (64 * 3 * 3))  # fan_in = in_channels * kernel area
    assert abs(conv.weight.std().item() - expected) / expected < 0.02


def test_lstm_gets_glorot_normal() -> None:
    torch.manual_seed(0)
    lstm = init_weights(nn.LSTM(256, 256))
    w = lstm.weight_ih_l0  # (4 * hidden, input)
    fan_out, fan_in = w.shape
    expected = math.sqrt(2 / (fan_in + fan_out))  # Glorot: std = sqrt(2 / (fan_in + fan_out))
    assert abs(w.std().item() - expected) / expected < 0.03
    assert torch.count_nonzero(lstm.bias_ih_l0) == 0


def test_builtin_architectures_are_he_initialized() -> None:
    torch.manual_seed(0)
    model, _ = build_model("lenet", (1, 28, 28), 10)
    dense = max(
        (m for m in model.modules() if isinstance(m, nn.Linear)), key=lambda m: m.in_features
    )
    expected = math.sqrt(2 / dense.in_features)
    # torch's own default (kaiming_uniform with a=sqrt(5)) would give std ~ 0.58 of this.
    assert abs(dense.weight.std().item() - expected) / expected < 0.03
    assert all(
        torch.count_nonzero(m.bias) == 0
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    )
