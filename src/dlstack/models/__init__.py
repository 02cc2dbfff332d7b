"""The architecture zoo by modality, and the practice's initialization schemes.

>>> from dlstack.models import build_model
>>> model, name = build_model("auto", (1, 28, 28), num_classes=10)
>>> name
'lenet'

Names resolve lazily, so ``import dlstack.models`` does not import torch until a name
is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute
from dlstack.models._names import ARCHITECTURE_NAMES

if TYPE_CHECKING:
    from dlstack.models._build import build_model, is_user_spec, user_model_source
    from dlstack.models._fusion import FEATURE_HIDDEN, FUSION_HIDDEN, Fusion
    from dlstack.models._init import init_weights
    from dlstack.models._lines import (
        LINE_CHANNELS,
        LINE_HIDDEN,
        LINE_STRIDE,
        FrameClassifier,
        LineReader,
        frames_of,
    )
    from dlstack.models._zoo import (
        ARCHITECTURES,
        LENET_CHANNELS,
        LENET_HIDDEN,
        MLP,
        MLP_HIDDEN,
        RESNET_WIDTHS,
        LeNet,
        ResNet,
        resolve_architecture,
    )

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_NAMES",
    "FEATURE_HIDDEN",
    "FUSION_HIDDEN",
    "LENET_CHANNELS",
    "LENET_HIDDEN",
    "LINE_CHANNELS",
    "LINE_HIDDEN",
    "LINE_STRIDE",
    "MLP",
    "MLP_HIDDEN",
    "RESNET_WIDTHS",
    "FrameClassifier",
    "Fusion",
    "LeNet",
    "LineReader",
    "ResNet",
    "build_model",
    "frames_of",
    "init_weights",
    "is_user_spec",
    "resolve_architecture",
    "user_model_source",
]

_HOME = {
    **dict.fromkeys(__all__, "_zoo"),
    "build_model": "_build",
    "is_user_spec": "_build",
    "user_model_source": "_build",
    "init_weights": "_init",
    "Fusion": "_fusion",
    "FUSION_HIDDEN": "_fusion",
    "FEATURE_HIDDEN": "_fusion",
    **dict.fromkeys(
        (
            "LINE_CHANNELS",
            "LINE_HIDDEN",
            "LINE_STRIDE",
            "FrameClassifier",
            "LineReader",
            "frames_of",
        ),
        "_lines",
    ),
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
