"""The architecture zoo: one simple, strong-enough network per modality.

"Start simple": flat features get an MLP, images a LeNet-like CNN, and a small ResNet is
there for when LeNet underfits; lines of any width (input (C, H, -1)) get LineReader
(``dlstack.models._lines``). ``build_model("auto", ...)`` picks by the input's shape;
several inputs (an image and features) get ``Fusion`` (``dlstack.models._fusion``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlstack.errors import ModelError
from dlstack.models._init import init_weights
from dlstack.models._lines import LineReader
from dlstack.models._names import ARCHITECTURE_NAMES

__all__ = [
    "ARCHITECTURES",
    "LENET_CHANNELS",
    "LENET_HIDDEN",
    "MLP",
    "MLP_HIDDEN",
    "RESNET_WIDTHS",
    "LeNet",
    "ResNet",
    "resolve_architecture",
    "width_kwargs",
]

# Two hidden ReLU layers: enough capacity for digits-sized problems, small enough to train
# in seconds on a CPU (the practice's "start with a simple model").
MLP_HIDDEN = (256, 128)
# LeNet-5's shape (two conv + pool stages, then a dense layer) with modern widths, ReLU,
# max-pooling and 'same' padding so 8x8 inputs survive both pools. Widths measured on the
# demo's split of the 5,000-digit MNIST sample (Adam 3e-4, batch 64, 15 epochs, best-val
# epoch, seeds 0/1): (32, 64)/128 gave test 0.968/0.964, (64, 128)/256 gave 0.976/0.974
# for ~2.5x the compute, still about two minutes on 2 CPU cores.
LENET_CHANNELS = (64, 128)
LENET_HIDDEN = 256
# A CIFAR-style ResNet shrunk for small images: one BasicBlock per stage, stride 2 between.
RESNET_WIDTHS = (16, 32, 64)
# The CNNs keep activations and conv weights channels-last (NHWC in memory; shapes stay
# (N, C, H, W)): oneDNN's native CPU layout. Measured on 2 CPU cores, 1 thread, a batch
# of 64 28x28 digits: LeNet 29 ms/step against 41 ms, ResNet 98 against 137.
CHANNELS_LAST = torch.channels_last


class MLP(nn.Module):
    """Flatten -> [Linear -> ReLU] * len(hidden) -> Linear, for any input shape."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        hidden: Sequence[int] = MLP_HIDDEN,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_features = 1
        for d in input_shape:
            in_features *= d
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # (N, *input_shape) -> (N, num_classes)
        return self.net(x)


class LeNet(nn.Module):
    """Two 3x3 conv + ReLU + 2x2 max-pool stages, a dense ReLU layer, then the logits."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: Sequence[int] = LENET_CHANNELS,
        hidden: int = LENET_HIDDEN,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c, h, w = _image_shape(input_shape, "lenet", min_side=2 ** len(channels))
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = width, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, num_classes))
        self.head = nn.Sequential(*head)
        _channels_last(self)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, num_classes)
        x = x.contiguous(memory_format=CHANNELS_LAST)
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """He et al.'s two-conv residual block; a 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet: 3x3 stem, one BasicBlock per width, global average pool, linear."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        widths: Sequence[int] = RESNET_WIDTHS,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c, _, _ = _image_shape(input_shape, "resnet", min_side=1)
        self.stem = nn.Sequential(
            nn.Conv2d(c, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks = []
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(widths[max(i - 1, 0)], width, stride=1 if i == 0 else 2))
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(widths[-1], num_classes)
        _channels_last(self)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, num_classes)
        x = x.contiguous(memory_format=CHANNELS_LAST)
        x = self.pool(self.blocks(self.stem(x)))  # (N, widths[-1])
        return self.fc(self.dropout(x))


def _channels_last(module: nn.Module) -> None:
    for param in module.parameters():
        if param.dim() == 4:  # conv weights (out, in, kh, kw)
            param.data = param.data.contiguous(memory_format=CHANNELS_LAST)


def _image_shape(input_shape: Sequence[int], name: str, *, min_side: int) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape[1:]) < min_side:
        raise ModelError(
            f"architecture {name!r} needs image input (C, H, W) with H, W >= {min_side}, got "
            f'input shape {shape}; use architecture = "mlp" for flat features'
        )
    c, h, w = shape
    return c, h, w


Builder = Callable[..., nn.Module]

# The architectures of one input ("fusion", of several, is dlstack.models._fusion's).
ARCHITECTURES: dict[str, Builder] = {
    "mlp": MLP,
    "lenet": LeNet,
    "resnet": ResNet,
    "line_cnn_lstm": LineReader,
}


def resolve_architecture(
    architecture: str, input_shape: Sequence[int] | Mapping[str, Sequence[int]]
) -> str:
    """The registered name ``architecture`` stands for: "auto" picks by modality, and
    "fusion" for several inputs (a shape per input name).

    >>> resolve_architecture("auto", (1, 28, 28)), resolve_architecture("auto", (64,))
    ('lenet', 'mlp')
    >>> resolve_architecture("auto", {"image": (1, 28, 28), "features": (3,)})
    'fusion'
    >>> resolve_architecture("auto", (1, 32, -1))  # a line: variable width (-1)
    'line_cnn_lstm'
    """
    if architecture != "auto":
        return architecture
    if isinstance(input_shape, Mapping):
        return "fusion"
    if len(input_shape) == 3 and int(input_shape[2]) < 0:
        return "line_cnn_lstm"
    return "lenet" if len(input_shape) == 3 else "mlp"


def width_kwargs(name: str, width: int | None) -> dict[str, Any]:
    """``[model] width`` as the builder's own arguments: the first layer's width, the later
    layers keeping the architecture's ratios (so each default width is the zoo's default).

    >>> width_kwargs("lenet", 32), width_kwargs("mlp", None)
    ({'channels': (32, 64), 'hidden': 128}, {})
    """
    if width is None:
        return {}
    w = int(width)
    if name == "mlp":  # (256, 128) at the default 256
        return {"hidden": (w, max(1, w // 2))}
    if name == "lenet":  # (64, 128) channels, 256 hidden at the default 64
        return {"channels": (w, 2 * w), "hidden": 4 * w}
    if name == "resnet":  # (16, 32, 64) at the default 16
        return {"widths": (w, 2 * w, 4 * w)}
    if name == "line_cnn_lstm":  # (16, 32, 64, 96) channels, 96 LSTM units at 16
        return {"channels": (w, 2 * w, 4 * w, 6 * w), "hidden": 6 * w}
    if name == "fusion":  # the fused layer's 128 units
        return {"hidden": w}
    return {}


def build_builtin(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    dropout: float,
    width: int | None = None,
) -> nn.Module:
    if name not in ARCHITECTURE_NAMES:
        valid = ", ".join(repr(n) for n in ("auto", *ARCHITECTURE_NAMES))
        raise ModelError(
            f"unknown architecture {name!r}; use one of {valid}, or 'package.module:callable' "
            f"for your own model"
        )
    if name not in ARCHITECTURES:
        raise ModelError(
            f"architecture {name!r} takes several inputs (a dict of them); this data has one "
            f'input of shape {tuple(input_shape)}: use "auto" or one of '
            f"{', '.join(map(repr, ARCHITECTURES))}"
        )
    builder = ARCHITECTURES[name]
    return init_weights(
        builder(input_shape, num_classes, dropout=dropout, **width_kwargs(name, width))
    )
