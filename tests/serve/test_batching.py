"""Adaptive batching: same results as unbatched, coalescing, AIMD, backpressure, deadlines.

No timed assertions: a gated model function decides when a batch finishes, so what is
queued behind it is known exactly.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from dlstack.config import ServeConfig
from dlstack.package import load_package
from dlstack.serve import _batching as batching
from dlstack.serve._batching import AdaptiveBatcher, LatencyModel
from dlstack.serve._errors import DeadlineExceeded, QueueFull
from dlstack.web import PayloadTooLarge, Unavailable


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []  # (rows, limit after)
        self.rejections: list[str] = []

    def batch(self, rows: int, seconds: float, limit: int) -> None:
        self.batches.append((rows, limit))

    def rejected(self, reason: str, rows: int) -> None:
        self.rejections.append(reason)

    def queue(self, rows: int) -> None:
        pass


class Gate:
    """A model function (doubles its input) that waits until released; records batch sizes."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.sizes.append(len(x))
        self.entered.set()
        self.open.wait(30)
        return x * 2


async def _until(condition, what: str) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


def test_config_defaults_match_the_batcher_defaults() -> None:
    # [serve] in dlstack.toml and AdaptiveBatcher document the same defaults.
    cfg = ServeConfig()
    assert cfg.max_batch_size == batching.DEFAULT_MAX_BATCH_SIZE
    assert cfg.max_queue_delay_ms == batching.DEFAULT_MAX_QUEUE_DELAY_MS
    assert cfg.latency_slo_ms == batching.DEFAULT_LATENCY_SLO_MS
    assert cfg.max_queue_size == batching.DEFAULT_MAX_QUEUE_SIZE


def test_batched_results_equal_unbatched_execution(exported: Path, test_inputs) -> None:
    pkg = load_package(exported)
    unbatched = np.concatenate([pkg.logits(test_inputs[i : i + 1]) for i in range(64)])

    async def run() -> tuple[np.ndarray, list[int]]:
        rec = Recorder()
        b = AdaptiveBatcher(pkg.logits, max_batch_size=16, max_queue_delay_ms=50, observer=rec)
        b.start()
        out = await asyncio.gather(*(b.submit(test_inputs[i : i + 1]) for i in range(64)))
        await b.close()
        return np.concatenate(out), [rows for rows, _ in rec.batches]

    batched, sizes = asyncio.run(run())
    assert max(sizes) > 1  # they really were batched...
    np.testing.assert_array_equal(batched, unbatched)  # ...and bit-for-bit the same


def test_requests_queued_behind_a_running_batch_form_the_next_batch() -> None:
    gate = Gate()

    async def run() -> list[int]:
        b = AdaptiveBatcher(gate, max_batch_size=8, max_queue_delay_ms=0, adaptive=False)
        b.start()
        first = asyncio.ensure_future(b.submit(np.zeros((1, 2))))
        await _until(gate.entered.is_set, "the first batch")
        rest = [asyncio.ensure_future(b.submit(np.full((1, 2), i))) for i in range(10)]
        await _until(lambda: b.queued_rows == 10, "10 queued rows")
        gate.open.set()
        outs = await asyncio.gather(first, *rest)
        # Each caller gets its own rows back, in order.
        assert [o[0, 0] for o in outs[1:]] == [2 * i for i in range(10)]
        await b.close()
        return gate.sizes

    # 1 running, then 10 waiting -> one batch of 8 (the limit) and one of 2.
    assert asyncio.run(run()) == [1, 8, 2]


def test_rows_of_another_shape_wait_for_their_own_batch() -> None:
    """Lines of different widths cannot share a batch: each width runs in its own, in
    arrival order, and each caller gets its own rows back."""
    gate = Gate()

    async def run() -> list[tuple[int, ...]]:
        shapes: list[tuple[int, ...]] = []

        def model(x: np.ndarray) -> np.ndarray:
            shapes.append(x.shape)
            return gate(x)

        b = AdaptiveBatcher(model, max_batch_size=8, max_queue_delay_ms=0, adaptive=False)
        b.start()
        first = asyncio.ensure_future(b.submit(np.zeros((1, 3))))
        await _until(gate.entered.is_set, "the first batch")
        widths = [3, 3, 5, 5, 3]
        rest = [asyncio.ensure_future(b.submit(np.full((1, w), i))) for i, w in enumerate(widths)]
        await _until(lambda: b.queued_rows == 5, "5 queued rows")
        gate.open.set()
        outs = await asyncio.gather(first, *rest)
        assert [o.shape[1] for o in outs[1:]] == widths
        assert [o[0, 0] for o in outs[1:]] == [2 * i for i in range(5)]
        await b.close()
        return shapes

    assert asyncio.run(run()) == [(1, 3), (2, 3), (2, 5), (1, 3)]


def test_a_request_larger_than_max_batch_size_is_split_and_reassembled() -> None:
    gate = Gate()
    gate.open.set()

    async def run() -> np.ndarray:
        b = AdaptiveBatcher(gate, max_batch_size=4, max_queue_delay_ms=0, adaptive=False)
        b.start()
        out = await b.submit(np.arange(10, dtype=np.float32).reshape(10, 1))
        await b.close()
        return out

    out = asyncio.run(run())
    assert gate.sizes == [4, 4, 2]  # never more than max_batch_size rows per model call
    assert out[:, 0].tolist() == [2.0 * i for i in range(10)]


def test_more_rows_than_the_queue_can_hold_are_refused_without_queueing() -> None:
    async def run() -> None:
        b = AdaptiveBatcher(lambda x: x, max_batch_size=4, max_queue_size=8)
        b.start()
        with pytest.raises(PayloadTooLarge, match="at most 8"):
            await b.submit(np.zeros((9, 1)))
        assert b.queued_rows == 0
        await b.close()

    asyncio.run(run())


def test_a_full_queue_answers_queue_full_with_retry_after() -> None:
    gate = Gate()
    rec = Recorder()

    async def run() -> QueueFull:
        b = AdaptiveBatcher(
            gate, max_batch_size=2, max_queue_size=4, max_queue_delay_ms=0, observer=rec
        )
        b.start()
        running = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
        await _until(gate.entered.is_set, "the first batch")
        waiting = [asyncio.ensure_future(b.submit(np.zeros((1, 1)))) for _ in range(4)]
        await _until(lambda: b.queued_rows == 4, "a full queue")
        with pytest.raises(QueueFull) as refused:
            await b.submit(np.zeros((1, 1)))
        assert b.queued_rows == 4  # the refused request holds no memory
        gate.open.set()
        await asyncio.gather(running, *waiting)  # the queued ones are still served
        await b.close()
        return refused.value

    error = asyncio.run(run())
    assert error.status == 429 and int(error.headers["Retry-After"]) >= 1
    assert rec.rejections == ["queue_full"]


def test_a_request_that_cannot_meet_its_deadline_is_refused_not_run_late() -> None:
    gate = Gate()
    rec = Recorder()

    async def run() -> None:
        b = AdaptiveBatcher(
            gate, max_batch_size=1, max_queue_delay_ms=0, latency_slo_ms=50, observer=rec
        )
        b.start()
        running = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
        await _until(gate.entered.is_set, "the first batch")
        late = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
        # Hold the running batch until the queued request's deadline has passed.
        await asyncio.sleep(0.08)
        gate.open.set()
        await running
        with pytest.raises(DeadlineExceeded):
            await late
        await b.close()

    asyncio.run(run())
    assert gate.sizes == [1]  # the late request never reached the model
    assert rec.rejections == ["deadline"]


def test_aimd_grows_on_full_fast_batches_and_backs_off_on_slow_ones() -> None:
    b = AdaptiveBatcher(lambda x: x, max_batch_size=64, latency_slo_ms=100, max_queue_delay_ms=0)
    assert b.limit == 1 and b.budget == pytest.approx(0.05)
    for _ in range(10):  # full batches well within the 50 ms budget: additive increase
        b._adapt(b.limit, 0.001)
    assert b.limit == 1 + 10 * b.step
    b._adapt(3, 0.001)  # a batch that was not full says nothing about larger ones
    assert b.limit == 1 + 10 * b.step
    before = b.limit
    b._adapt(before, 0.2)  # over budget: multiplicative decrease by 10%
    assert b.limit == int(before * (1 - batching.DECREASE))
    for _ in range(100):
        b._adapt(b.limit, 0.5)
    assert b.limit == 1  # never below one row
    for _ in range(1000):
        b._adapt(b.limit, 0.001)
    assert b.limit == 64  # never above max_batch_size


def test_batching_off_keeps_one_row_per_call() -> None:
    b = AdaptiveBatcher(lambda x: x, max_batch_size=1, max_queue_delay_ms=0, adaptive=False)
    for _ in range(10):
        b._adapt(1, 0.0001)
    assert b.limit == 1


def test_latency_model_fits_a_line_and_never_predicts_negative() -> None:
    m = LatencyModel()
    assert m.predict(32) == 0.0  # no measurement: refuse nothing
    for n in (1, 4, 16, 32):
        m.observe(n, 0.002 + 0.001 * n)
    assert m.predict(64) == pytest.approx(0.066)
    noisy = LatencyModel()
    for n, s in ((1, 0.01), (8, 0.005)):  # falling with size: noise
        noisy.observe(n, s)
    assert noisy.predict(100) >= 0


def test_close_drains_the_queue_then_refuses_new_requests() -> None:
    async def run() -> None:
        b = AdaptiveBatcher(lambda x: x + 1, max_batch_size=4)
        b.start()
        pending = [asyncio.ensure_future(b.submit(np.zeros((1, 1)))) for _ in range(6)]
        await asyncio.sleep(0)
        await b.close(drain=True)
        assert all(p.result()[0, 0] == 1 for p in pending)
        with pytest.raises(Unavailable):
            await b.submit(np.zeros((1, 1)))

    asyncio.run(run())


def test_a_failing_model_fails_its_batch_and_the_worker_goes_on() -> None:
    calls = []

    def flaky(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return x

    async def run() -> None:
        b = AdaptiveBatcher(flaky, max_batch_size=1, max_queue_delay_ms=0, adaptive=False)
        b.start()
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(np.zeros((1, 1)))
        assert (await b.submit(np.ones((1, 1))))[0, 0] == 1
        await b.close()

    asyncio.run(run())


def test_a_batch_waits_for_announced_requests_only() -> None:
    gate = Gate()
    gate.open.set()

    async def run() -> list[int]:
        # A long fill delay: without an announced request nobody waits for it.
        b = AdaptiveBatcher(gate, max_batch_size=8, max_queue_delay_ms=60_000, adaptive=False,
                            latency_slo_ms=120_000)  # fmt: skip
        b.start()
        alone = await asyncio.wait_for(b.submit(np.ones((1, 1))), 30)
        assert alone[0, 0] == 2
        # One request is queued while another is still being read: they share a batch.
        with b.arriving() as second_arrival:
            first = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
            await asyncio.sleep(0.01)  # the worker is now waiting for the announced one
            second = asyncio.ensure_future(b.submit(np.zeros((1, 1)), arrival=second_arrival))
            await asyncio.wait_for(asyncio.gather(first, second), 30)
        # An announced request that fails before submitting releases the wait.
        with b.arriving():
            pending = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
            await asyncio.sleep(0.01)
        await asyncio.wait_for(pending, 30)
        await b.close()
        return gate.sizes

    assert asyncio.run(run()) == [1, 2, 1]
