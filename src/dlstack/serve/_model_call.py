"""Counting and timing one inference request, for its model's metrics."""

from __future__ import annotations

import time
from types import TracebackType

from dlstack.errors import DataError
from dlstack.serve._monitoring import Metrics
from dlstack.serve._registry import ServedModel
from dlstack.web import HttpError, PayloadTooLarge

__all__ = ["ModelCall"]


class ModelCall:
    """``with ModelCall(metrics, served) as call:`` around an inference request counts it
    by the status it will answer with and, when it succeeds, observes its latency."""

    def __init__(self, metrics: Metrics, served: ServedModel) -> None:
        self.metrics = metrics
        self.labels = (served.name, str(served.version))
        self.start = time.perf_counter()

    def __enter__(self) -> ModelCall:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None:
            status = 200
        elif isinstance(error, HttpError):
            status = error.status
        else:
            status = 400 if isinstance(error, DataError) else 500
        if isinstance(error, PayloadTooLarge):
            self.metrics.rejections.labels(*self.labels, "too_large").inc()
        self.metrics.model_requests.labels(*self.labels, str(status)).inc()
        if error is None:
            self.metrics.model_latency.labels(*self.labels).observe(self.elapsed)

    @property
    def elapsed(self) -> float:
        """Seconds since the request began."""
        return time.perf_counter() - self.start
