"""`dlstack test` on a line reader (ctc): each stored line read at its own width by the
package, metrics against torchmetrics, slices by length, invariance counted on the texts,
stability on extreme lines, serving skew, and the regression direction (CER: lower is
better).

The package is a hand-made reader of known behaviour (ColumnReader: every run of bright
columns reads as one character), so the texts are not empty and every check has
something to judge; the barely trained line reader of ``ctc_lines`` reads only blanks.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torchmetrics.text import CharErrorRate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: ctc_lines

from ctc_lines import lines_result, lines_snapshot, model_sample
from dlstack.config import EvalTestsConfig
from dlstack.errors import ConfigError
from dlstack.evaluate import run_eval_tests
from dlstack.evaluate._eval_data import EvalData
from dlstack.evaluate._perturbations import perturb
from dlstack.package import load_package
from dlstack.targets import ctc_text, decide_ctc, softmax


class ColumnReader(nn.Module):
    """Frames of 4 columns; a frame whose mean brightness is above the line's reads
    ``char`` (code ``char + 1``), a darker one the blank: a run of bright frames is one
    character. ``bias`` moves the threshold (a worse reader)."""

    def __init__(self, num_classes: int, char: int = 0, bias: float = 0.0) -> None:
        super().__init__()
        self.k, self.char, self.bias = num_classes + 1, int(char), bias

    def forward(self, x: Tensor) -> Tensor:  # (N, 1, H, W) -> (N, W // 4, K + 1)
        f = nn.functional.avg_pool1d(x.mean(dim=2), 4, 4)[:, 0]  # (N, T)
        bright = 8.0 * (f - f.mean(dim=1, keepdim=True) - self.bias)
        logits = torch.full((*f.shape, self.k), -8.0)
        logits[..., 0] = 0.0
        logits[..., self.char + 1] = bright
        return logits


def _export(tmp: Path, name: str, **reader: float | int) -> Path:
    from dlstack.compress import export_package

    result = lines_result()
    model = ColumnReader(len(result.classes), **reader).eval()  # type: ignore[arg-type]
    fake = dataclasses.replace(result, model=model)
    return export_package(
        fake, tmp, name, sample=model_sample(4), train=lines_snapshot().split("train")
    )


def _common_char() -> int:
    """The most frequent character of the test lines (its index): a reader of it alone
    gets some characters right (CER below 1)."""
    codes = np.asarray(lines_snapshot().split("test").targets)
    counts = np.bincount(codes[codes > 0])
    return int(counts.argmax()) - 1


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("column-reader"), "lines", char=_common_char())


def _data(split: str = "test") -> EvalData:
    snap = lines_snapshot()
    part = snap.split(split)
    return EvalData(
        np.asarray(part.images),
        np.asarray(part.labels),
        tuple(snap.classes),
        np.asarray(part.ids),
        None,
        snap.version,
        split,
        task="ctc",
        targets=np.asarray(part.targets),
        widths=np.asarray(part.widths),
    )


def _torch_reads(data: EvalData, char: int = 0) -> list[str]:
    """The reference path: the torch model on each line alone, padded to its run width."""
    from dlstack.inputs import line_width

    model = ColumnReader(len(data.classes), char).eval()
    norm = lines_result().normalization
    mean, std = norm.mean, norm.std
    out = []
    for line in data.lines():
        padded = np.zeros((1, 1, line.shape[0], line_width(line.shape[1])), np.float32)
        padded[0, 0, :, : line.shape[1]] = line / 255.0
        x = (torch.from_numpy(padded) - float(np.asarray(mean).ravel()[0])) / float(
            np.asarray(std).ravel()[0]
        )
        with torch.no_grad():
            scores = softmax(model(x).numpy())
        out.append(decide_ctc(scores, data.classes)[0].label)
    return out


def test_lines_are_read_at_their_own_width_and_scored_like_torchmetrics(reader: Path) -> None:
    data = _data()
    report = run_eval_tests(load_package(reader), data, EvalTestsConfig())
    truth = [ctc_text(row, data.classes) for row in data.targets]  # type: ignore[union-attr]
    reads = _torch_reads(data, _common_char())
    assert any(reads) and report.metrics["cer"] < 1, "the reader should read something"
    assert report.metrics["cer"] == pytest.approx(float(CharErrorRate()(reads, truth)), abs=1e-6)
    by_kind = {c.kind: c for c in report.checks}
    assert by_kind["stability"].passed and "extreme lines" in by_kind["stability"].detail
    assert by_kind["skew"].passed and by_kind["skew"].measured == 0.0  # PNG path == arrays
    assert "latency_p95_ms" in report.metrics


def test_declared_bounds_slices_and_invariance_judge_the_texts(reader: Path) -> None:
    data = _data()
    pkg = load_package(reader)
    cfg = EvalTestsConfig.model_validate(
        {
            "max_metrics": {"cer": 0.0},  # a reader of one character cannot meet this
            "min_metrics": {"line_accuracy": 0.0},
            "slices": [{"by": "length", "min_metrics": {"cer": 10.0}, "min_examples": 1}],
            "invariance": [{"transform": "shift", "amount": 2, "max_changed": 1.0}],
        }
    )
    report = run_eval_tests(pkg, data, cfg)
    checks = {c.name: c for c in report.checks}
    assert not checks["cer <= 0"].passed and checks["line_accuracy >= 0"].passed
    (sliced,) = [c for c in report.checks if c.kind == "slice"]
    assert sliced.passed and "slices judged" in sliced.detail
    (inv,) = [c for c in report.checks if c.kind == "invariance"]
    # the reference: the share of lines whose text changes when the line is shifted
    before = [a.label for a in pkg.read_lines(data.lines())]
    shifted = dataclasses.replace(
        data, images=perturb(data.images, "shift", 2, background="dark", seed=cfg.seed)
    )
    after = [a.label for a in pkg.read_lines(shifted.lines())]
    expected = np.mean([a != b for a, b in zip(before, after, strict=True)])
    assert inv.measured == pytest.approx(expected)


def test_what_a_line_reader_cannot_declare_is_refused_with_the_fix(reader: Path) -> None:
    pkg, data = load_package(reader), _data()
    by_class = EvalTestsConfig.model_validate({"slices": [{"by": "class", "min_metrics": {}}]})
    with pytest.raises(ConfigError, match="no classes to slice by; slice by 'length'"):
        run_eval_tests(pkg, data, by_class)
    accuracy = EvalTestsConfig.model_validate(
        {"slices": [{"by": "length", "min_metrics": {"accuracy": 0.9}}]}
    )
    with pytest.raises(ConfigError, match="a slice has cer, wer, line_accuracy, error"):
        run_eval_tests(pkg, data, accuracy)
    directional = EvalTestsConfig.model_validate(
        {"directional": [{"transform": "occlude", "amount": 0.5}]}
    )
    with pytest.raises(ConfigError, match=r"tests\.directional"):
        run_eval_tests(pkg, data, directional)


def test_a_rise_in_cer_against_the_previous_version_fails(reader: Path, tmp_path: Path) -> None:
    worse = load_package(_export(tmp_path, "worse", bias=1e3))  # reads nothing: CER 1
    pkg, data = load_package(reader), _data()
    cfg = EvalTestsConfig()
    better_cer = run_eval_tests(pkg, data, cfg).metrics["cer"]
    worse_cer = run_eval_tests(worse, data, cfg).metrics["cer"]
    assert worse_cer > better_cer + cfg.max_accuracy_drop, (worse_cer, better_cer)

    def rise(new, old):  # type: ignore[no-untyped-def]
        report = run_eval_tests(new, data, cfg, previous=old)
        (check,) = [c for c in report.checks if c.kind == "regression"]
        return check

    improved, regressed = rise(pkg, worse), rise(worse, pkg)
    assert improved.passed and improved.name.startswith("cer rise vs")
    assert not regressed.passed
    assert regressed.measured == pytest.approx(worse_cer - better_cer)
