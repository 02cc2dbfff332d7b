"""What a training run hands to the stages after it (evaluate, export, report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from dlstack.config import Config

__all__ = ["Normalization", "TrainResult"]


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean/std on the 0..1 pixel scale, measured on the train split only."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass
class TrainResult:
    """A finished (or resumed and finished) training run.

    ``model`` holds the best checkpoint's weights, on CPU, in eval mode. It takes the
    standardized float32 input that ``dlstack.inputs.to_model_input`` makes, shape
    ``(N, *input_shape)``, and returns logits ``(N, num_classes)`` for classification.
    """

    run_id: str  # dlstack's run name; its files are in run_dir
    run_dir: Path  # .dlstack/runs/<run_id>
    model: torch.nn.Module
    task: str  # "classification" (later "ctc")
    architecture: str  # resolved name, e.g. "lenet" or "pkg.mod:build"
    normalization: Normalization
    input_shape: tuple[int, ...]  # one example as the model takes it, e.g. (1, 28, 28)
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
