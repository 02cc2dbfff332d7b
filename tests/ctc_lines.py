"""A tiny line reader (CTC) trained once per test session, for export, package, serve and
CLI tests: an in-memory lines Snapshot composed from the builtin digits, a small conv +
BiLSTM model (``ctc_lines:build``), one short ``dlstack.train.fit``.

The model is barely trained (seconds, not accuracy): the tests check that every layer
carries its frames and texts faithfully, not that it reads well.
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

BUILD = "ctc_lines:build"


class LineReader(nn.Module):
    """(N, 1, H, W) -> logits (N, W // 4, K + 1): conv features averaged over the
    height, one BiLSTM step per frame."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.rnn = nn.LSTM(32, 64, batch_first=True, bidirectional=True)
        self.out = nn.Linear(128, num_classes + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x).mean(dim=2).transpose(1, 2)
        return self.out(self.rnn(f)[0])


def build(num_classes: int) -> nn.Module:
    return LineReader(num_classes)


@functools.cache
def lines_snapshot():
    """~100 lines of up to 4 digit glyphs (the builtin digits), 32 pixels high."""
    from dlstack.data import Snapshot
    from dlstack.data._builtin import load_builtin
    from dlstack.data._builtin._lines import LineParams, compose_lines
    from dlstack.data._splits import assign_splits
    from dlstack.inputs import VARIABLE_WIDTH, ImageSpec, pad_widths
    from dlstack.targets import ctc_codes

    raw = load_builtin("digits")
    ids = [str(i) for i in range(len(raw.labels))]
    names = assign_splits(ids, list(raw.labels), (0.8, 0.1, 0.1), 0)
    pools = {
        s: np.array([i for i, n in enumerate(names) if n == s]) for s in ("train", "val", "test")
    }
    counts = {"train": 64, "val": 16, "test": 16}
    lines = compose_lines(raw.images, raw.labels, pools, counts, LineParams(max_chars=4), seed=0)
    images, widths = pad_widths([line.image for line in lines])
    alphabet = tuple(sorted(set("".join(line.text for line in lines))))
    codes = ctc_codes([line.text for line in lines], alphabet)
    splits = np.array([("train", "val", "test").index(line.split) for line in lines], np.uint8)
    example_ids = np.array([f"{i:064d}" for i in range(len(lines))])
    spec = ImageSpec(1, (32, VARIABLE_WIDTH), "fit", "dark")
    return Snapshot(
        "v1",
        alphabet,
        images,
        np.zeros(len(lines), np.int64),
        splits,
        example_ids,
        spec,
        task="ctc",
        targets=codes,
        widths=widths,
    )


@functools.cache
def lines_result():
    """One epoch of ``dlstack.train.fit`` on :func:`lines_snapshot` (a few seconds)."""
    from dlstack.config import Config, Project
    from dlstack.train import fit

    torch.manual_seed(0)
    config = Config.model_validate(
        {
            "project": {"task": "ctc"},
            "train": {"max_epochs": 1, "batch_size": 16},
            "model": {"architecture": BUILD},
        }
    )
    project = Project(Path(tempfile.mkdtemp(prefix="ctc-lines-")), config)
    return fit(project, lines_snapshot(), progress=False)


def line_pixels(split: str = "test") -> list[np.ndarray]:
    """Each line of ``split`` at its own width (uint8 (32, W))."""
    snap = lines_snapshot()
    part = snap.split(split)
    return [img[:, : int(w)] for img, w in zip(part.images, part.widths, strict=True)]


def png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def model_sample(n: int = 4) -> np.ndarray:
    """The first ``n`` test lines as model input (N, 1, 32, Wmax), standardized."""
    snap, result = lines_snapshot(), lines_result()
    test = snap.split("test")
    return result.normalization.model_input(
        test.take(np.arange(n)) if hasattr(test, "take") else _take(test, n)
    )


def _take(split, n: int):
    import dataclasses

    picked = {
        f.name: value[:n]
        for f in dataclasses.fields(split)
        if isinstance(value := getattr(split, f.name), np.ndarray) and len(value) == len(split)
    }
    return dataclasses.replace(split, **picked)


@functools.cache
def exported_lines(models_dir: str, decoder: str = "greedy") -> Path:
    """The trained line reader exported once into ``models_dir``."""
    from dlstack.compress import export_package

    snap = lines_snapshot()
    return export_package(
        lines_result(),
        models_dir,
        "lines",
        sample=model_sample(4),
        train=snap.split("train"),
        decoder=decoder,
    )
