"""Prometheus metrics for the prediction server, served at ``/metrics``.

Each app has its own registry (several servers in one process, as in tests, do not mix
their numbers). Names follow Prometheus conventions (``_total``, ``_seconds``):

    dlstack_http_requests_total{endpoint, method, code}      every HTTP request
    dlstack_http_request_seconds{endpoint}                   its latency (histogram)
    dlstack_model_requests_total{model, version, code}       inference requests per model
    dlstack_model_request_seconds{model, version}            their latency, queue included
    dlstack_batch_size{model, version}                       rows per model call (histogram)
    dlstack_batch_seconds{model, version}                    model call latency (histogram)
    dlstack_batch_limit{model, version}                      the adaptive batch-size limit
    dlstack_queue_rows{model, version}                       rows waiting (queue depth)
    dlstack_rejections_total{model, version, reason}         queue_full, deadline, too_large
    dlstack_predictions_logged_total / _log_dropped_total    the prediction log
    dlstack_input_out_of_range_total{model, input}           requests far outside the
                                                             training range (_input_range)
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from dlstack.errors import DlstackError

__all__ = ["Metrics", "MetricsMiddleware"]

# Latency buckets from 1 ms to 10 s: an interactive SLO sits in the middle of the range.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise DlstackError(
            "serving needs prometheus-client for /metrics; pip install 'dlstack[serve]'"
        ) from None
    return prometheus_client


class Metrics:
    """The server's metrics in a private registry; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        pc = _prometheus()
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        r = self.registry
        self.http_requests = pc.Counter(
            "dlstack_http_requests", "HTTP requests", ["endpoint", "method", "code"], registry=r
        )
        self.http_latency = pc.Histogram(
            "dlstack_http_request_seconds",
            "HTTP request latency",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_requests = pc.Counter(
            "dlstack_model_requests",
            "Inference requests per model",
            ["model", "version", "code"],
            registry=r,
        )
        self.model_latency = pc.Histogram(
            "dlstack_model_request_seconds",
            "Inference request latency per model, queueing included",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = pc.Histogram(
            "dlstack_batch_size",
            "Rows per model call",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_latency = pc.Histogram(
            "dlstack_batch_seconds",
            "Model call latency",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_limit = pc.Gauge(
            "dlstack_batch_limit", "Adaptive batch size limit", ["model", "version"], registry=r
        )
        self.queue_rows = pc.Gauge(
            "dlstack_queue_rows", "Rows waiting in the queue", ["model", "version"], registry=r
        )
        self.rejections = pc.Counter(
            "dlstack_rejections",
            "Requests refused by backpressure or deadline",
            ["model", "version", "reason"],
            registry=r,
        )
        self.logged = pc.Counter(
            "dlstack_predictions_logged", "Predictions written to the log", registry=r
        )
        self.input_out_of_range = pc.Counter(
            "dlstack_input_out_of_range",
            "Inference requests answered with a warning: an input far outside the training range",
            ["model", "input"],
            registry=r,
        )
        self.log_dropped = pc.Counter(
            "dlstack_predictions_log_dropped",
            "Predictions not logged because the log buffer was full",
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        return self._pc.generate_latest(self.registry), self._pc.CONTENT_TYPE_LATEST

    def observer(self, model: str, version: int) -> BatcherMetrics:
        return BatcherMetrics(self, model, str(version))

    def forget(self, model: str, version: int) -> None:
        """Drop the per-version series of an unloaded version."""
        labels = (model, str(version))
        for metric in (
            self.model_latency,
            self.batch_size,
            self.batch_latency,
            self.batch_limit,
            self.queue_rows,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)


class BatcherMetrics:
    """A dlstack.serve._batching.BatchObserver that updates one model version's series."""

    def __init__(self, metrics: Metrics, model: str, version: str) -> None:
        self._m = metrics
        self._model, self._version = model, version
        self._size = metrics.batch_size.labels(model, version)
        self._latency = metrics.batch_latency.labels(model, version)
        self._limit = metrics.batch_limit.labels(model, version)
        self._queue = metrics.queue_rows.labels(model, version)

    def batch(self, rows: int, seconds: float, limit: int) -> None:
        self._size.observe(rows)
        self._latency.observe(seconds)
        self._limit.set(limit)

    def rejected(self, reason: str, rows: int) -> None:
        self._m.rejections.labels(self._model, self._version, reason).inc()

    def queue(self, rows: int) -> None:
        self._queue.set(rows)


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.http_latency.labels(endpoint).observe(time.perf_counter() - start)
