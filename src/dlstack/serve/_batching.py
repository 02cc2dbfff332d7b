"""Adaptive batching: requests are queued per model and run in batches sized to a latency SLO.

One :class:`AdaptiveBatcher` serves one model version. It owns a bounded FIFO of work
items (rows of model input, each with a future and a deadline) and one worker task that
runs the model in its own thread, so the event loop keeps accepting requests while a
batch runs and the next batch fills up behind it.

The worker, in a loop:

1. waits for the first item;
2. waits up to ``max_queue_delay_ms`` for more rows, until ``limit`` rows are queued, but
   only for requests already on their way (being read or preprocessed: see
   :meth:`AdaptiveBatcher.arriving`), and never past the moment the oldest item must start
   to finish by its deadline. A lone client is never made to wait for company that
   cannot come; under load, requests queued while a batch runs form the next one;
3. answers 503 (:class:`DeadlineExceeded`) to every item that can no longer finish by its
   deadline, judged by the latency model below: it is not run late;
4. takes items in arrival order while they fit in ``limit`` rows and have the first's row
   shape (the first always goes; an item is never split here; a line of another width
   waits for the next batch), concatenates them and runs the model once;
5. gives each item its rows of the result and feeds the measured latency back.

**Batch size (AIMD, as Clipper does; Crankshaw et al., NSDI 2017).** ``limit`` starts at 1
and adapts between 1 and ``max_batch_size`` from measured batch latencies:

- a batch slower than the budget cuts it: ``limit = max(1, floor(limit * (1 - DECREASE)))``
  (multiplicative decrease, 10% as in Clipper);
- a full batch (``rows >= limit``) within the budget raises it by ``max(1, max_batch_size //
  32)`` (additive increase). Batches that are not full say nothing about larger ones.

The budget is ``(slo - max_queue_delay) / 2``: a request that arrives just as a batch
starts waits for that batch, then runs in the next one, so two batch latencies and the
fill delay must fit in the SLO. The limit therefore settles at the largest batch whose
latency keeps the SLO, which is where batching stops paying (the per-row cost stops
falling) or the SLO binds.

**Latency model.** Planning needs the latency of a batch of ``n`` rows before it runs: a
least-squares line ``a + b n`` through the batches of the last ``LATENCY_MAX_AGE_S``
seconds decides how long the oldest request can wait for company and when a batch is
full enough. Refusing is stricter: a request is answered 503 only if even the fastest
recent batch of its size would finish after its deadline (see :class:`LatencyModel`).
With no measurement yet nothing is refused. Models are warmed up when loaded, so the
first (slow) onnxruntime call is not a measurement.

**Backpressure.** The queue holds at most ``max_queue_size`` rows: a request that does not
fit is refused at once with :class:`QueueFull` (HTTP 429 with ``Retry-After``), so memory
stays bounded however fast clients send. A request with more rows than
``max_batch_size`` is split into chunks at submission and answered when all have run;
more than ``max_queue_size`` rows is refused (413) without queueing anything.

Results are the same batched or not: the model runs row by row independent operations
(checked against unbatched execution in tests/serve/test_batching.py).

>>> import asyncio, numpy as np
>>> async def demo():
...     batcher = AdaptiveBatcher(lambda x: x * 2, name="double", max_batch_size=8)
...     batcher.start()
...     out = await asyncio.gather(*(batcher.submit(np.full((1, 2), i)) for i in range(3)))
...     await batcher.close()
...     return [o.tolist() for o in out]
>>> asyncio.run(demo())
[[[0, 0]], [[2, 2]], [[4, 4]]]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dlstack.inputs import concat_inputs, input_rows, take_rows
from dlstack.serve._errors import DeadlineExceeded, QueueFull
from dlstack.web import PayloadTooLarge, Unavailable

__all__ = [
    "DECREASE",
    "DEFAULT_LATENCY_SLO_MS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_QUEUE_DELAY_MS",
    "DEFAULT_MAX_QUEUE_SIZE",
    "AdaptiveBatcher",
    "Arrival",
    "BatchObserver",
    "LatencyModel",
]

# The same defaults as [serve] in dlstack.toml (dlstack.config.ServeConfig).
DEFAULT_MAX_BATCH_SIZE = 32  # past ~32 rows a CPU GEMM gains little per row (bench/serve_load)
DEFAULT_MAX_QUEUE_DELAY_MS = 2.0  # TF Serving's batch_timeout_micros is of this order
DEFAULT_LATENCY_SLO_MS = 100.0  # an interactive prediction; Clipper's examples use 10-100 ms
DEFAULT_MAX_QUEUE_SIZE = 1024
DECREASE = 0.10  # Clipper's multiplicative backoff
LATENCY_WINDOW = 128  # batches the latency model is fitted on
LATENCY_MAX_AGE_S = 10.0  # and how old they may be
_log = logging.getLogger(__name__)
# How long a caller waits past its deadline for a stuck worker before giving up on it.
_GRACE_S = 1.0


class BatchObserver(Protocol):
    """What the batcher reports (dlstack.serve._monitoring turns it into Prometheus metrics)."""

    def batch(self, rows: int, seconds: float, limit: int) -> None: ...

    def rejected(self, reason: str, rows: int) -> None: ...

    def queue(self, rows: int) -> None: ...


class _NoObserver:
    def batch(self, rows: int, seconds: float, limit: int) -> None:
        pass

    def rejected(self, reason: str, rows: int) -> None:
        pass

    def queue(self, rows: int) -> None:
        pass


class LatencyModel:
    """Batch latency in the batch size, from the batches of the last ``max_age`` seconds.

    ``predict`` is a least-squares line ``a + b n`` (one size seen: proportional to it),
    used to plan batches. ``lower_bound`` is the fastest recent batch of at most ``n``
    rows: a batch of ``n`` rows takes at least that long, so a request that would be late
    even then cannot meet its deadline. A minimum is not fooled by one slow outlier, and
    measurements expire, so a burst of slow batches cannot lock requests out for good.

    >>> m = LatencyModel()
    >>> for n in (1, 2, 4, 8):
    ...     m.observe(n, 0.001 + 0.0005 * n)
    >>> round(m.predict(16), 4), m.lower_bound(4)
    (0.009, 0.0015)
    """

    def __init__(self, window: int = LATENCY_WINDOW, max_age: float = LATENCY_MAX_AGE_S) -> None:
        self.max_age = max_age
        self._obs: deque[tuple[float, int, float]] = deque(maxlen=window)
        self._a = 0.0  # seconds per batch
        self._b = 0.0  # seconds per row

    def observe(self, rows: int, seconds: float, *, now: float | None = None) -> None:
        self._obs.append((time.monotonic() if now is None else now, rows, seconds))
        self._fit()

    def _expire(self, now: float) -> bool:
        expired = False
        while self._obs and self._obs[0][0] < now - self.max_age:
            self._obs.popleft()
            expired = True
        return expired

    def _fit(self) -> None:
        if not self._obs:
            self._a = self._b = 0.0
            return
        n = np.array([o[1] for o in self._obs], dtype=np.float64)
        s = np.array([o[2] for o in self._obs], dtype=np.float64)
        n_mean, s_mean = float(n.mean()), float(s.mean())
        dn = n - n_mean
        var = float(dn @ dn)
        if var == 0.0:
            self._a, self._b = 0.0, s_mean / float(n[0])
            return
        # Least squares in closed form: np.polyfit's checks and SVD cost ~10x more, and this
        # runs after every batch on the event loop.
        b = float(dn @ (s - s_mean)) / var
        a = s_mean - b * n_mean
        # A negative slope or intercept is noise; latency never falls with more rows.
        self._b = max(b, 0.0)
        self._a = max(a, 0.0) if b > 0 else s_mean

    def predict(self, rows: int, *, now: float | None = None) -> float:
        """Seconds a batch of ``rows`` is expected to take; 0 before any measurement."""
        if self._expire(time.monotonic() if now is None else now):
            self._fit()
        return self._a + self._b * rows

    def lower_bound(self, rows: int, *, now: float | None = None) -> float:
        """The fastest recent batch of at most ``rows`` rows, in seconds (0 if none)."""
        if self._expire(time.monotonic() if now is None else now):
            self._fit()
        return min((s for _, n, s in self._obs if n <= rows), default=0.0)


class Arrival:
    """A request on its way to a batcher (see :meth:`AdaptiveBatcher.arriving`)."""

    def __init__(self, batcher: AdaptiveBatcher) -> None:
        self._batcher = batcher
        self._open = True
        batcher._arriving += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._batcher._arriving -= 1
            self._batcher._arrived.set()  # a waiting batch need not wait for this one

    def __enter__(self) -> Arrival:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(eq=False)
class _Item:
    x: Any  # (rows, ...) model input, or a dict of them by input name (several inputs)
    future: asyncio.Future[np.ndarray]
    deadline: float  # time.monotonic() by which the result must exist
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def rows(self) -> int:
        return input_rows(self.x)


class AdaptiveBatcher:
    """Queue rows of model input, run them in SLO-sized batches; see the module docstring.

    ``run`` maps a batch ``(N, ...)`` to outputs ``(N, ...)`` row by row; it runs in the
    batcher's own thread. With ``adaptive=False`` the limit stays at ``max_batch_size``
    (``max_batch_size=1, max_queue_delay_ms=0`` is batching off: one request per call).
    """

    def __init__(
        self,
        run: Callable[[Any], np.ndarray],  # (N, ...) or {name: (N, ...)} -> (N, ...)
        *,
        name: str = "model",
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_queue_delay_ms: float = DEFAULT_MAX_QUEUE_DELAY_MS,
        latency_slo_ms: float = DEFAULT_LATENCY_SLO_MS,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        adaptive: bool = True,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue_size < 1 or latency_slo_ms <= 0:
            raise ValueError(
                f"max_batch_size and max_queue_size must be >= 1 and latency_slo_ms > 0, got "
                f"{max_batch_size}, {max_queue_size}, {latency_slo_ms}"
            )
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_queue_delay = max_queue_delay_ms / 1000
        self.slo = latency_slo_ms / 1000
        self.max_queue_size = max_queue_size
        self.adaptive = adaptive
        self.budget = max((self.slo - self.max_queue_delay) / 2, self.slo / 4)
        self.step = max(1, max_batch_size // 32)
        self.limit = 1 if adaptive else max_batch_size
        self.latency = LatencyModel()
        self.served_rows = 0
        self._run = run
        self._observer: BatchObserver = observer or _NoObserver()
        self._queue: deque[_Item] = deque()
        self._rows = 0  # rows waiting in _queue
        self._arriving = 0  # requests being read or preprocessed for this batcher
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self._rate = 0.0  # rows per second, exponentially averaged (for Retry-After)

    @property
    def queued_rows(self) -> int:
        return self._rows

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name=f"batcher-{self.name}"
            )

    async def close(self, *, drain: bool = True, timeout: float = 30.0) -> None:
        """Refuse new requests; finish the queued ones (``drain``) or fail them with 503."""
        self._closed = True
        if drain and self._worker is not None:
            end = time.monotonic() + timeout
            while (self._queue or not self._idle.is_set()) and time.monotonic() < end:
                await asyncio.sleep(0.005)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(Unavailable(f"model {self.name} was unloaded"))
        self._rows = 0
        self._executor.shutdown(wait=False)

    def arriving(self) -> Arrival:
        """Announce a request that will be submitted soon (its body is being read or its
        image decoded); a filling batch waits for announced requests only.

        >>> with batcher.arriving() as arrival:  # doctest: +SKIP
        ...     x = parse(await request.body())
        ...     y = await batcher.submit(x, arrival=arrival)
        """
        return Arrival(self)

    async def submit(
        self, x: Any, *, timeout_s: float | None = None, arrival: Arrival | None = None
    ) -> np.ndarray:
        """Run rows ``x`` (N, ...) in some batch; returns their outputs, in order.

        Raises QueueFull (429) when the rows do not fit in the queue, DeadlineExceeded (503)
        when they cannot finish within the SLO (or ``timeout_s``, if shorter),
        PayloadTooLarge (413) for more rows than the queue can ever hold.
        """
        rows = input_rows(x)
        if rows == 0:
            raise ValueError("submit() needs at least one row")
        if self._closed:
            raise Unavailable(f"model {self.name} is being unloaded; retry on another version")
        if rows > self.max_queue_size:
            raise PayloadTooLarge(
                f"the request has {rows} rows, model {self.name} queues at most "
                f"{self.max_queue_size}; send at most {self.max_queue_size} rows per request"
            )
        if self._rows + rows > self.max_queue_size:
            self._observer.rejected("queue_full", rows)
            retry = max(1, math.ceil(self._rows / self._rate)) if self._rate > 0 else 1
            raise QueueFull(
                f"model {self.name} has {self._rows} rows queued (max_queue_size "
                f"{self.max_queue_size}); retry after {retry} s",
                retry_after=retry,
            )
        now = time.monotonic()
        budget = self.slo if timeout_s is None else min(self.slo, timeout_s)
        deadline = now + budget
        loop = asyncio.get_running_loop()
        items = [
            _Item(
                take_rows(x, slice(i, i + self.max_batch_size)), loop.create_future(), deadline, now
            )
            for i in range(0, rows, self.max_batch_size)
        ]
        self._queue.extend(items)
        self._rows += rows
        self._observer.queue(self._rows)
        if arrival is not None:
            arrival.close()
        self._arrived.set()
        futures = [item.future for item in items]
        try:
            async with asyncio.timeout(budget + _GRACE_S):
                results = (
                    [await futures[0]] if len(futures) == 1 else await asyncio.gather(*futures)
                )
        except TimeoutError:
            raise DeadlineExceeded(
                f"model {self.name} did not answer within {1000 * budget:.0f} ms "
                f"(latency_slo_ms); the server is overloaded, retry later"
            ) from None
        finally:
            for f in futures:
                f.cancel()  # no-op for finished ones; the worker skips cancelled ones
        return results[0] if len(results) == 1 else np.concatenate(results)

    # -- the worker -----------------------------------------------------------------------

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            await self._fill()
            batch = self._take()
            if not batch:
                continue
            self._idle.clear()
            try:
                await self._execute(loop, batch)
            except Exception as e:  # a bug here must not stop the worker: fail this batch only
                _log.exception("batcher %s: batch failed", self.name)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
            finally:
                self._idle.set()

    async def _fill(self) -> None:
        """Wait for up to ``limit`` rows, at most max_queue_delay after the oldest arrived,
        while requests are on their way."""
        first = self._queue[0]
        while self._rows < self.limit and self.max_queue_delay > 0 and self._arriving > 0:
            start_by = min(
                first.enqueued + self.max_queue_delay,
                first.deadline - self.latency.predict(self.limit),
            )
            wait = start_by - time.monotonic()
            if wait <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        """Pop the next batch; refuse (503) items that cannot finish by their deadline."""
        now = time.monotonic()
        taken: list[_Item] = []
        rows = 0
        earliest = math.inf
        while self._queue:
            item = self._queue[0]
            if item.future.done():  # the caller gave up (timeout, cancelled)
                self._pop()
                continue
            if taken and rows + item.rows > self.limit:
                break
            if taken and _row_shape(item.x) != _row_shape(taken[0].x):
                break  # rows of another shape (a line of another width) form the next batch
            if now + self.latency.lower_bound(item.rows, now=now) > item.deadline:
                self._pop()
                self._observer.rejected("deadline", item.rows)
                item.future.set_exception(
                    DeadlineExceeded(
                        f"model {self.name} cannot answer within the latency SLO "
                        f"({1000 * self.slo:.0f} ms): the queue is too long; retry later"
                    )
                )
                continue
            if taken and now + self.latency.predict(rows + item.rows, now=now) > min(
                earliest, item.deadline
            ):
                break  # adding it would make an earlier item late; it goes next time
            self._pop()
            taken.append(item)
            rows += item.rows
            earliest = min(earliest, item.deadline)
        self._observer.queue(self._rows)
        return taken

    def _pop(self) -> None:
        self._rows -= self._queue.popleft().rows

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        x = concat_inputs([item.x for item in batch])
        start = time.perf_counter()
        try:
            y = await loop.run_in_executor(self._executor, self._run, x)
        except Exception as e:  # the model failed: every caller gets the error, the loop goes on
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(e)
            return
        seconds = time.perf_counter() - start
        self._adapt(input_rows(x), seconds)
        offset = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result(y[offset : offset + item.rows])
            offset += item.rows

    def _adapt(self, rows: int, seconds: float) -> None:
        self.latency.observe(rows, seconds)
        self.served_rows += rows
        rate = rows / max(seconds, 1e-6)
        self._rate = rate if self._rate == 0 else 0.9 * self._rate + 0.1 * rate
        if self.adaptive:
            if seconds > self.budget:
                self.limit = max(1, math.floor(self.limit * (1 - DECREASE)))
            elif rows >= self.limit:
                self.limit = min(self.max_batch_size, self.limit + self.step)
        self._observer.batch(rows, seconds, self.limit)


def _row_shape(x: Any) -> Any:
    """What rows must share to be batched: their shape after the batch axis, per input."""
    if isinstance(x, dict):
        return tuple((name, a.shape[1:]) for name, a in sorted(x.items()))
    return x.shape[1:]
