"""Callbacks: the per-epoch history (kept in checkpoints, so resume continues it) and a
progress display that stays readable when stdout is a log file rather than a terminal."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ProgressBar, TQDMProgressBar

from dlstack.errors import ModelError

__all__ = ["EpochLines", "History", "StopOnNonFiniteLoss", "epoch_metrics", "make_progress_bar"]

EpochRow = dict[str, float]


class History(Callback):
    """One row per finished epoch: ``epoch`` (1-based) and every train_*/val_* metric.

    ``listeners`` get each new row (MLflow logging). The rows are part of the callback's
    state, so they are saved in every checkpoint and restored on resume.
    """

    def __init__(self, listeners: list[Callable[[EpochRow], None]] | None = None) -> None:
        self.rows: list[EpochRow] = []
        self.listeners = list(listeners or [])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs after Lightning has reduced the epoch's metrics, before the checkpoint
        # callbacks, so the row is in the checkpoint written for this epoch.
        row: EpochRow = {"epoch": trainer.current_epoch + 1, **epoch_metrics(trainer)}
        self.rows.append(row)
        for listener in self.listeners:
            listener(row)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]


class StopOnNonFiniteLoss(Callback):
    """Stop the run at the first training step whose loss is NaN or inf, saying so.

    Checked before backward, so the weights of the last good step are what the last
    checkpoint holds; without it a run "finishes" with a NaN loss and the failure surfaces
    later, somewhere else (export blames the model's forward).
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if bool(torch.isfinite(loss).all()):
            return
        value = "NaN" if bool(torch.isnan(loss).any()) else "inf"
        raise ModelError(
            f"the training loss became {value} at epoch {trainer.current_epoch + 1}, step "
            f"{trainer.global_step + 1}; the run stopped there. Lower train.lr (now "
            f"{self.lr:g}), check the data for NaN or extreme values, or run `dlstack "
            f"doctor` to find the cause"
        )


class EpochLines(ProgressBar):
    """One line per epoch, e.g. ``epoch  3/15  train_loss 0.1021 ... val_acc 0.9720  2.1s``.

    Used instead of a redrawn bar when stdout is not a terminal (CI logs, ``| tee``).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._enabled = True
        self._started = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled:
            return
        width = len(str(trainer.max_epochs))
        parts = [f"epoch {trainer.current_epoch + 1:>{width}}/{trainer.max_epochs}"]
        for key, v in epoch_metrics(trainer).items():
            parts.append(f"{key} {v:.4f}" if math.isfinite(v) else f"{key} {v}")
        parts.append(f"{time.perf_counter() - self._started:.1f}s")
        stream = self._stream or sys.stdout
        print("  ".join(parts), file=stream, flush=True)


def make_progress_bar(stream: TextIO | None = None) -> ProgressBar:
    """Lightning's tqdm bar on a terminal (one finished bar left per epoch, metrics at its
    end), one plain line per epoch otherwise."""
    stream = stream or sys.stdout
    if stream.isatty():
        # Redrawing every 4th step instead of every step: the redraw is not free when a
        # small model's step takes a few milliseconds.
        return TQDMProgressBar(refresh_rate=4, leave=True)
    return EpochLines(stream)


def epoch_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The epoch's train_*/val_* metrics: train before val, loss first in each."""

    def order(key: str) -> tuple[bool, bool, str]:
        return (key.startswith("val_"), not key.endswith("_loss"), key)

    keys = [k for k in trainer.callback_metrics if k.startswith(("train_", "val_"))]
    return {k: float(trainer.callback_metrics[k]) for k in sorted(keys, key=order)}
