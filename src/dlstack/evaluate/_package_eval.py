"""Running a model package the way serving does (onnxruntime only): its metrics on
labelled data, and its single-image latency.

>>> values, targets, probabilities = package_metrics(package, data)  # doctest: +SKIP
>>> latency_key(95), latency_key(99.9)
('latency_p95_ms', 'latency_p99_9_ms')
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError
from dlstack.inputs import input_rows, take_rows
from dlstack.metrics import classification_metrics, multilabel_metrics, regression_metrics

if TYPE_CHECKING:
    from dlstack.evaluate._eval_data import EvalData
    from dlstack.package import ModelPackage

__all__ = [
    "DEFAULT_PERCENTILES",
    "LATENCY_RUNS",
    "LATENCY_WARMUP",
    "decisions",
    "label_map",
    "latency_key",
    "measure_latency",
    "package_metrics",
    "package_size_mb",
    "probabilities",
]

LATENCY_RUNS = 200  # single-image calls timed; the p95 of 200 is stable to ~10%
LATENCY_WARMUP = 10  # first calls allocate and are not what a warm server sees
DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def label_map(package: ModelPackage, classes: Sequence[str]) -> np.ndarray:
    """Data class index -> package output index, matched by label name."""
    index = {label: i for i, label in enumerate(package.labels)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise DataError(
            f"the package's labels ({', '.join(package.labels[:12])}) lack the data's "
            f"class(es) {', '.join(map(repr, missing[:5]))}; test it on the data it was "
            f"trained for"
        )
    return np.array([index[c] for c in classes], dtype=np.int64)


def probabilities(
    package: ModelPackage, images: np.ndarray, features: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities (n, classes) of uint8 images (with their table rows, for a
    model of both), preprocessed as the package says."""
    return package.predict_arrays(package.model_input(images, features))


def package_metrics(
    package: ModelPackage, data: EvalData
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """(metric values by name, targets, probabilities), in the package's label space.

    Multilabel: targets 0/1 (n, labels) and each label's sigmoid; regression: the true
    and the predicted numbers (n, targets), the package's targets matched by name; ctc:
    the true texts and the texts read (object arrays of str), each line at its width."""
    if package.task == "ctc":
        from dlstack.evaluate._package_lines import line_metrics

        return line_metrics(package, data)
    probs = package.predict_arrays(package.model_input(data.images, data.features))
    if package.task != "classification":
        if data.targets is None or data.task != package.task:
            raise DataError(
                f"package {package.spec.name} is a {package.task} model; the data's task "
                f"is {data.task}: test it on the data it was trained for"
            )
        order = np.argsort(label_map(package, data.classes))  # package column -> data column
        targets = np.asarray(data.targets, dtype=np.float64)[:, order]
        if package.task == "regression":
            return regression_metrics(targets, probs).values(package.labels), targets, probs
        cut = package.spec.output.thresholds
        return multilabel_metrics(targets, probs, cut).values(package.labels), targets, probs
    targets = label_map(package, data.classes)[data.labels]
    predictions = probs.argmax(axis=1).astype(np.int64)
    scores = classification_metrics(targets, predictions, len(package.labels), probs)
    return scores.values(package.labels), targets, probs


def decisions(package: ModelPackage, probs: np.ndarray) -> np.ndarray:
    """The package's answers as arrays: class indices (n,); 0/1 per class at the
    package's thresholds (n, C); a regression's numbers as they are; a line reader's
    texts (its "probabilities" in :func:`package_metrics` are already the texts read)."""
    if package.task in ("regression", "ctc"):
        return probs
    if package.task == "multilabel":
        cut = package.spec.output.thresholds
        return (probs >= (0.5 if cut is None else np.asarray(cut))).astype(np.float32)
    return probs.argmax(axis=1).astype(np.int64)


def measure_latency(
    package: ModelPackage,
    data: EvalData,
    *,
    runs: int = LATENCY_RUNS,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, float]:
    """Milliseconds per single-example call after a warm-up: ``latency_p50_ms``... and
    ``latency_mean_ms``."""
    n = max(1, min(len(data), runs))
    singles = _single_inputs(package, data, n)
    for i in range(LATENCY_WARMUP):
        package.predict_arrays(singles[i % n])
    times = []
    for i in range(runs):
        one = singles[i % n]
        t = time.perf_counter()
        package.predict_arrays(one)
        times.append((time.perf_counter() - t) * 1000)
    ms = np.asarray(times)
    out = {latency_key(p): float(np.percentile(ms, p)) for p in percentiles}
    out["latency_mean_ms"] = float(ms.mean())
    return out


def _single_inputs(package: ModelPackage, data: EvalData, n: int) -> list[Any]:
    """The first ``n`` examples as one-example model inputs; a line at its own width."""
    if package.task == "ctc":
        from dlstack.evaluate._package_lines import single_line_inputs

        return single_line_inputs(package, data, n)
    x = package.model_input(data.images[:n], None if data.features is None else data.features[:n])
    # an array, or a dict of them for a model of several inputs
    return [take_rows(x, slice(i, i + 1)) for i in range(input_rows(x))]


def latency_key(percentile: float) -> str:
    """``latency_p95_ms`` for 95; ``latency_p99_9_ms`` for 99.9."""
    return f"latency_p{percentile:g}_ms".replace(".", "_")


def package_size_mb(package: ModelPackage) -> float:
    return (package.path / package.spec.onnx.file).stat().st_size / 1e6
