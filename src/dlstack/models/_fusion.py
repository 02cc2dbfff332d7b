"""The practice's recipe for several inputs: one encoder per modality, concatenated, then
fully connected layers.

An image input gets LeNet's conv stages and dense layer (:class:`ImageEncoder`), flat
features an MLP (:class:`FeatureEncoder`); their outputs are concatenated and a small MLP
head makes the logits. The model takes one dict argument keyed by input name, as dlstack
hands a batch of several inputs (``{"image": (N, C, H, W), "features": (N, D)}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from dlstack.errors import ModelError
from dlstack.models._zoo import CHANNELS_LAST, LENET_CHANNELS, LENET_HIDDEN, _channels_last

__all__ = ["FEATURE_HIDDEN", "FUSION_HIDDEN", "FeatureEncoder", "Fusion", "ImageEncoder"]

# Features are a handful of numbers next to thousands of pixels: a narrow MLP is enough,
# and keeps the concatenation from being all image.
FEATURE_HIDDEN = (64, 64)
# The head after the concatenation: one hidden layer, as LeNet has after its convs.
FUSION_HIDDEN = 128


class ImageEncoder(nn.Module):
    """LeNet's two conv + pool stages and its dense ReLU layer: (N, C, H, W) -> (N, hidden)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        *,
        channels: Sequence[int] = LENET_CHANNELS,
        hidden: int = LENET_HIDDEN,
    ) -> None:
        super().__init__()
        shape = tuple(int(d) for d in input_shape)
        c, h, w = shape
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = width, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU())
        self.width = hidden
        _channels_last(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(self.features(x.contiguous(memory_format=CHANNELS_LAST)))


class FeatureEncoder(nn.Module):
    """[Linear -> ReLU] * len(hidden): (N, D) -> (N, hidden[-1])."""

    def __init__(self, width: int, *, hidden: Sequence[int] = FEATURE_HIDDEN) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for out in hidden:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*layers)
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Fusion(nn.Module):
    """One encoder per input (a CNN for an image, an MLP for features), concatenated,
    then Linear -> ReLU -> Linear to the logits.

    >>> model = Fusion({"image": (1, 8, 8), "features": (3,)}, num_classes=10)
    >>> x = {"image": torch.zeros(2, 1, 8, 8), "features": torch.zeros(2, 3)}
    >>> tuple(model(x).shape)
    (2, 10)
    """

    def __init__(
        self,
        input_shape: Mapping[str, Sequence[int]],
        num_classes: int,
        *,
        hidden: int = FUSION_HIDDEN,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        encoders: dict[str, nn.Module] = {}
        width = 0
        for name, shape in input_shape.items():
            shape = tuple(int(d) for d in shape)
            encoder: ImageEncoder | FeatureEncoder
            if len(shape) == 3 and min(shape[1:]) >= 2 ** len(LENET_CHANNELS):
                encoder = ImageEncoder(shape)
            elif len(shape) == 1:
                encoder = FeatureEncoder(shape[0])
            else:
                raise ModelError(
                    f"architecture 'fusion' encodes images (C, H, W) with H, W >= "
                    f"{2 ** len(LENET_CHANNELS)} and flat features (D,); input {name!r} "
                    f"has shape {shape}"
                )
            encoders[name] = encoder
            width += encoder.width
        self.encoders = nn.ModuleDict(encoders)
        head: list[nn.Module] = [nn.Linear(width, hidden), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: Mapping[str, Tensor]) -> Tensor:  # {name: (N, ...)} -> (N, classes)
        missing = [name for name in self.encoders if name not in x]
        if missing:
            raise ValueError(
                f"the model takes inputs {list(self.encoders)}; the batch lacks {missing}"
            )
        parts = [encoder(x[name]) for name, encoder in self.encoders.items()]
        return self.head(torch.cat(parts, dim=1))
