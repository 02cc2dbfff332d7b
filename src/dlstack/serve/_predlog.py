"""The prediction log: every prediction to the data lake, a sample of inputs to the store.

Each prediction becomes one row of the lake dataset ``predictions`` (date-partitioned
Parquet, queried with ``dlstack data query``): when, which model and version, the
endpoint, the request id, the label, confidence and class probabilities, summary
statistics of the input as the model saw it (mean and spread of pixel intensity, share
of ink pixels: what ``dlstack monitor`` compares with the training data) and, for a
sampled ``log_sample_rate`` share, the key of the input image (PNG) in the object store.

Rows are buffered in memory and written by a background thread every
``log_flush_seconds`` (or sooner when many are waiting), never on the request path.
Every column keeps one type in every file (no nulls: "" for a missing string, NaN for
a missing number), so all files read back as one table. The buffer is bounded: when the
lake cannot keep up, predictions are not logged (counted in
``dlstack_predictions_log_dropped_total``) rather than the server running out of memory.

"This is wrong" feedback needs the input, logged or not: the last ``RECENT_PREDICTIONS``
inputs are kept in memory (at model size, a few hundred bytes each), and
:meth:`PredictionLog.feedback` stores the one flagged as a catalog example and puts it on
the labeling queue with source ``feedback``.
"""

from __future__ import annotations

import io
import logging
import math
import random
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.web import BadRequest, NotFound

if TYPE_CHECKING:
    from dlstack.data import Catalog, Lake, ObjectStore
    from dlstack.inputs import TableEncoder
    from dlstack.serve._monitoring import Metrics
    from dlstack.targets import Answer

__all__ = [
    "FEEDBACK_DATASET",
    "PREDICTIONS_DATASET",
    "RECENT_PREDICTIONS",
    "Feedback",
    "PredictionLog",
    "input_statistics",
]

PREDICTIONS_DATASET = "predictions"
FEEDBACK_DATASET = "feedback"
RECENT_PREDICTIONS = 4096  # inputs kept for feedback; ~3 MB for 28x28 digits
MAX_BUFFER = 100_000  # rows waiting to be written; more are dropped (and counted)
FLUSH_ROWS = 5_000  # write early when this many rows wait
_log = logging.getLogger(__name__)


def input_statistics(pixels: np.ndarray, background: str = "dark") -> dict[str, np.ndarray]:
    """Per-image summaries on the 0..1 scale: mean and std of intensity, share of ink.

    Ink is the foreground: bright pixels on a dark background (the digits), dark ones on
    a light background. The same function summarizes training data in ``dlstack monitor``.

    >>> img = np.zeros((1, 4, 4), np.uint8); img[0, :2] = 255
    >>> {k: v.round(2).tolist() for k, v in input_statistics(img).items()}
    {'input_mean': [0.5], 'input_std': [0.5], 'input_ink': [0.5]}
    """
    flat = pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
    ink = flat > 0.5 if background == "dark" else flat < 0.5
    return {
        "input_mean": flat.mean(axis=1),
        "input_std": flat.std(axis=1),
        "input_ink": ink.mean(axis=1),
    }


@dataclass(frozen=True)
class Feedback:
    example_id: str
    queued: bool  # False when it was already waiting in the queue


@dataclass(frozen=True)
class _Recent:
    model: str
    version: int
    label: str
    confidence: float
    pixels: np.ndarray | None  # None: a table row, alone or with an image (no feedback yet)
    request_id: str | None


class PredictionLog:
    """Buffer prediction rows and write them in the background; see the module docstring.

    ``lake``/``store``/``catalog`` may be None (a server run without a project): rows are
    then not written, and feedback is refused.
    """

    def __init__(
        self,
        *,
        lake: Lake | None = None,
        store: ObjectStore | None = None,
        catalog: Callable[[], Catalog] | None = None,
        sample_rate: float = 0.05,
        flush_seconds: float = 10.0,
        max_buffer: int = MAX_BUFFER,
        recent: int = RECENT_PREDICTIONS,
        metrics: Metrics | None = None,
        seed: int | None = None,
    ) -> None:
        self.lake = lake
        self.store = store
        self._catalog_factory = catalog
        self._catalog: Catalog | None = None
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self.max_buffer = max_buffer
        self._recent_max = recent
        self._metrics = metrics
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._buffer: deque[tuple[dict[str, Any], np.ndarray | None]] = deque()
        self._recent: OrderedDict[str, _Recent] = OrderedDict()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.lake is not None

    def start(self) -> None:
        if self.enabled and self._thread is None:
            import pyarrow.parquet  # noqa: F401  (at start-up, not in the first request's flush)

            self._thread = threading.Thread(target=self._loop, name="prediction-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write what is buffered and stop the writer thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    def record(
        self,
        *,
        model: str,
        version: int,
        endpoint: str,
        request_id: str | None,
        pixels: np.ndarray | None,
        probabilities: np.ndarray,
        labels: Sequence[str],
        background: str = "dark",
        latency_ms: float | None = None,
        notices: Sequence[Sequence[str]] | None = None,
        table_rows: Sequence[Mapping[str, Any]] | None = None,
        encoder: TableEncoder | None = None,
        answers: Sequence[Answer] | None = None,
    ) -> list[str]:
        """Log one request's rows (uint8 pixels, class probabilities); returns their ids.

        ``pixels`` None: a table's rows, logged without input statistics (NaN); with
        ``table_rows`` and their ``encoder``, each row's values go to ``prediction_features``
        (per-feature drift). A model of an image and a row gives both. ``answers``: a
        multilabel's or a regression's decoded answers (``dlstack.targets.decide``), whose
        label and confidence are logged instead of the top class (the probabilities
        column then holds each class's probability, or the predicted numbers)."""
        n = len(probabilities)
        ids = [uuid.uuid4().hex for _ in range(n)]
        top = probabilities.argmax(axis=1) if probabilities.ndim == 2 else np.zeros(n, int)
        if pixels is None:
            nan = np.full(n, np.nan)
            stats = {"input_mean": nan, "input_std": nan, "input_ink": nan}
        else:
            stats = input_statistics(pixels, background)
        now = datetime.now(UTC)
        rows = []
        for i in range(n):
            if answers is not None:
                label, confidence = answers[i].label, answers[i].confidence
            else:
                label = labels[int(top[i])]
                confidence = float(probabilities[i, top[i]])
            record = {
                "ts": now,
                "prediction_id": ids[i],
                "request_id": request_id or "",
                "model": model,
                "version": version,
                "endpoint": endpoint,
                "label": label,
                "confidence": confidence,
                # A line's frames are not stored: each character's confidence is.
                "probabilities": [c for _, c in answers[i].characters]
                if probabilities.ndim == 3 and answers is not None
                else probabilities[i].astype(float).tolist(),
                "input_mean": float(stats["input_mean"][i]),
                "input_std": float(stats["input_std"][i]),
                "input_ink": float(stats["input_ink"][i]),
                "input_key": "",
                "latency_ms": math.nan if latency_ms is None else latency_ms,
                "notices": "; ".join(notices[i]) if notices is not None else "",
            }
            sampled = self.enabled and self._random.random() < self.sample_rate
            kept = None if pixels is None else pixels[i]
            rows.append((record, kept if sampled else None))
            # Feedback stores an image as the example: not when the example is more (a row).
            alone = None if table_rows else kept
            self._remember(ids[i], _Recent(model, version, label, confidence, alone, request_id))
        if table_rows and encoder is not None and rows and self.enabled:
            from dlstack.serve._drift_table import feature_rows

            rows[0][0]["_features"] = feature_rows(now, ids, model, version, table_rows, encoder)
        if self.enabled:
            with self._lock:
                room = self.max_buffer - len(self._buffer)
                self._buffer.extend(rows[: max(room, 0)])
                waiting = len(self._buffer)
            lost = n - max(min(room, n), 0)
            if lost:
                self.dropped += lost
                if self._metrics is not None:
                    self._metrics.log_dropped.inc(lost)
            if waiting >= FLUSH_ROWS:
                self._wake.set()
        return ids

    def _remember(self, prediction_id: str, recent: _Recent) -> None:
        with self._lock:
            self._recent[prediction_id] = recent
            while len(self._recent) > self._recent_max:
                self._recent.popitem(last=False)

    def recent(self, prediction_id: str) -> _Recent:
        with self._lock:
            found = self._recent.get(prediction_id)
        if found is None:
            raise NotFound(
                f"prediction {prediction_id[:32]!r} is unknown or too old (the server keeps "
                f"the last {self._recent_max}); predict again and flag the new answer"
            )
        return found

    # -- writing ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the lake or store is down: keep serving, try again later
                _log.exception("prediction log: write failed; will retry")

    def flush(self) -> int:
        """Write the buffered rows now; returns how many were written."""
        if not self.enabled:
            return 0
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        try:
            self._write(batch)
        except Exception:
            with self._lock:  # put them back, within the bound
                room = self.max_buffer - len(self._buffer)
                self._buffer.extendleft(reversed(batch[: max(room, 0)]))
            raise
        self.written += len(batch)
        if self._metrics is not None:
            self._metrics.logged.inc(len(batch))
        return len(batch)

    def _write(self, batch: list[tuple[dict[str, Any], np.ndarray | None]]) -> None:
        assert self.lake is not None
        sampled = [(record, pixels) for record, pixels in batch if pixels is not None]
        if sampled and self.store is not None:
            keys = self.store.put_many([png(p) for _, p in sampled])
            for (record, _), key in zip(sampled, keys, strict=True):
                record["input_key"] = key
        features = [r for record, _ in batch for r in record.pop("_features", [])]
        self.lake.append(PREDICTIONS_DATASET, [record for record, _ in batch])
        if features:
            from dlstack.serve._drift_table import FEATURES_DATASET

            self.lake.append(FEATURES_DATASET, features)

    # -- feedback -------------------------------------------------------------------------

    def feedback(
        self, prediction_id: str, *, label: str | None = None, note: str | None = None
    ) -> Feedback:
        """Store a flagged prediction's input as an example and queue it for labeling."""
        from dlstack.data.labeling import enqueue_example

        if self.store is None or self._catalog_factory is None:
            from dlstack.web import Unavailable

            raise Unavailable(
                "feedback needs a project (object store and catalog); start the server "
                "with `dlstack serve --project DIR`"
            )
        found = self.recent(prediction_id)
        if found.pixels is None:
            raise BadRequest(
                "feedback on a prediction from a table row (alone or with an image) is not "
                "supported yet: add the corrected row to the manifest and ingest it"
            )
        data = png(found.pixels)
        key = self.store.put(data)
        if self._catalog is None:
            self._catalog = self._catalog_factory()
        catalog = self._catalog
        h, w = found.pixels.shape[:2]
        queued = enqueue_example(
            catalog,
            key,
            width=w,
            height=h,
            mode="L" if found.pixels.ndim == 2 else "RGB",
            origin=f"feedback:{found.model}/{found.version}",
            meta={
                "name": f"prediction {prediction_id}",
                "prediction_id": prediction_id,
                "model": found.model,
                "version": found.version,
                "predicted": found.label,
                "confidence": found.confidence,
                "suggested_label": label,
                "note": note,
            },
        )
        if self.lake is not None:
            self.lake.append(
                FEEDBACK_DATASET,
                [
                    {
                        "ts": datetime.now(UTC),
                        "prediction_id": prediction_id,
                        "request_id": found.request_id or "",
                        "model": found.model,
                        "version": found.version,
                        "predicted": found.label,
                        "confidence": found.confidence,
                        "suggested_label": label or "",
                        "note": note or "",
                        "example_id": key,
                    }
                ],
            )
        return Feedback(key, queued)


def png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()
