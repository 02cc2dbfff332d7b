"""What a training run hands to the stages after it (evaluate, export, report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from dlstack.config import Config
    from dlstack.data import SplitArrays
    from dlstack.inputs import TableSpec

__all__ = ["Normalization", "TrainResult"]


@dataclass(frozen=True)
class Normalization:
    """What turns stored examples into model input, measured on the train split only:
    per-channel mean/std on the 0..1 pixel scale for images, or, for a table, the fitted
    ``dlstack.inputs.TableEncoder`` (as its dict; mean and std are then empty). Both, for
    examples of an image and a table row: the model input is then a dict
    ``{"image": (N, C, H, W), "features": (N, D)}``."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    table: dict[str, Any] | None = None  # TableEncoder.to_dict()

    @classmethod
    def fit(cls, train: SplitArrays, table: TableSpec | None = None) -> Normalization:
        """Measured on the train split: val and test must not leak into the model."""
        from dlstack.inputs import TableEncoder, channel_stats

        if table is not None:
            if train.features is None:
                raise ValueError("a table's train split needs its features")
            encoder = TableEncoder.fit(train.features, table).to_dict()
            if train.images.ndim < 3:  # (n, 0): rows alone
                return cls((), (), encoder)
            mean, std = channel_stats(train.images)
            return cls(mean, std, encoder)
        mean, std = channel_stats(train.images)
        return cls(mean, std)

    @property
    def several_inputs(self) -> bool:
        """An image and a table row per example (the model takes a dict)."""
        return self.table is not None and len(self.mean) > 0

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    def model_input(self, arrays: SplitArrays) -> Any:
        """float32 model input of a split's examples: (N, C, H, W) images, (N, D) rows,
        or both as ``{"image": ..., "features": ...}`` (``dlstack.inputs.IMAGE_INPUT``,
        ``FEATURES_INPUT``)."""
        from dlstack.inputs import FEATURES_INPUT, IMAGE_INPUT, TableEncoder, to_model_input

        if self.table is not None:
            if arrays.features is None:
                raise ValueError("a table model needs the examples' features")
            rows = TableEncoder.from_dict(self.table).transform(arrays.features)
            if not self.several_inputs:
                return rows
            images = to_model_input(arrays.images, self.mean, self.std)
            return {IMAGE_INPUT: images, FEATURES_INPUT: rows}
        return to_model_input(arrays.images, self.mean, self.std)


@dataclass
class TrainResult:
    """A finished (or resumed and finished) training run.

    ``model`` holds the best checkpoint's weights, on CPU, in eval mode. It takes the
    standardized float32 input that ``dlstack.inputs.to_model_input`` makes, shape
    ``(N, *input_shape)``, and returns logits ``(N, num_classes)`` for classification and
    multilabel, the numbers ``(N, targets)`` in the target's units for regression.
    """

    run_id: str  # dlstack's run name; its files are in run_dir
    run_dir: Path  # .dlstack/runs/<run_id>
    model: torch.nn.Module
    task: str  # "classification", "multilabel" or "regression" (later "ctc")
    architecture: str  # resolved name, e.g. "lenet" or "pkg.mod:build"
    normalization: Normalization
    # One example as the model takes it, e.g. (1, 28, 28); for several inputs one shape
    # per input name, e.g. {"image": (1, 28, 28), "features": (3,)}.
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]
    classes: tuple[str, ...]
    data_version: str
    code_version: str
    config: Config
    best_checkpoint: Path
    # One dict per epoch: epoch, train_loss, train_acc, val_loss, val_acc (floats).
    history: list[dict[str, float]] = field(default_factory=list)
    mlflow_run_id: str | None = None
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # dlstack.inputs.ImageSpec.to_dict() of the data: how serving prepares an image (None:
    # a run from before [data.image]: grayscale strokes on a dark background).
    image: dict[str, Any] | None = None
    # A regression's train {"mean", "std"} per target; ``model`` already applies it.
    target_scaling: dict[str, list[float]] | None = None
