"""Counting and timing one inference request, for its model's metrics."""

from __future__ import annotations

import time
from types import TracebackType

from dlstack.serve._errors import ERROR_STATUSES
from dlstack.serve._monitoring import Metrics
from dlstack.serve._registry import ServedModel
from dlstack.web import PayloadTooLarge, status_for

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
        # The status the app's handlers will answer with (a PackageError is a 400 too).
        status = 200 if error is None else status_for(error, ERROR_STATUSES)
        if isinstance(error, PayloadTooLarge):
            self.metrics.rejections.labels(*self.labels, "too_large").inc()
        self.metrics.model_requests.labels(*self.labels, str(status)).inc()
        if error is None:
            self.metrics.model_latency.labels(*self.labels).observe(self.elapsed)

    @property
    def elapsed(self) -> float:
        """Seconds since the request began."""
        return time.perf_counter() - self.start
