"""Over real HTTP (uvicorn on 127.0.0.1): a real Triton client, backpressure, deadlines,
batched vs unbatched results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import GatedPackage, live_server, serve_config

from dlstack.package import load_package
from dlstack.serve._app import create_app

tritonclient_http = pytest.importorskip(
    "tritonclient.http", reason="tritonclient[http] is a dev dependency (KServe v2 client)"
)


def _body(x: np.ndarray) -> dict:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }


def test_a_triton_client_works_unchanged(exported: Path, test_inputs: np.ndarray) -> None:
    pkg = load_package(exported)
    with live_server(create_app([exported], config=serve_config())) as url:
        client = tritonclient_http.InferenceServerClient(url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("digits8")
        meta = client.get_model_metadata("digits8")
        assert meta["inputs"][0]["shape"] == [-1, 1, 8, 8]

        x = test_inputs[:5]
        for binary in (True, False):  # binary tensor extension, then plain JSON
            inp = tritonclient_http.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            outputs = [
                tritonclient_http.InferRequestedOutput("logits", binary_data=binary),
                tritonclient_http.InferRequestedOutput("label", binary_data=binary),
            ]
            result = client.infer("digits8", [inp], outputs=outputs, request_id="t-1")
            np.testing.assert_array_equal(result.as_numpy("logits"), pkg.logits(x))
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
            assert labels == [pkg.labels[i] for i in pkg.logits(x).argmax(1)]
            assert result.get_response()["id"] == "t-1"

        # No outputs named: the client asks for all of them, in binary.
        inp = tritonclient_http.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        result = client.infer("digits8", [inp], model_version="1")
        np.testing.assert_allclose(result.as_numpy("probabilities").sum(1), 1, rtol=1e-5)

        # Errors reach the client as its exception, with the server's message.
        bad = tritonclient_http.InferInput("input", [1, 1, 4, 4], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 1, 4, 4), np.float32))
        with pytest.raises(Exception, match=r"takes \[-1, 1, 8, 8\]"):
            client.infer("digits8", [bad])
        client.close()


def test_batched_and_unbatched_servers_answer_identically(
    exported: Path, test_inputs: np.ndarray
) -> None:
    async def answers(url: str) -> list[list[float]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            rs = await asyncio.gather(
                *(
                    c.post("/v2/models/digits8/infer", json=_body(test_inputs[i : i + 1]))
                    for i in range(48)
                )
            )
        assert all(r.status_code == 200 for r in rs), [
            (r.status_code, r.text[:200]) for r in rs if r.status_code != 200
        ][:3]
        return [r.json()["outputs"][0]["data"] for r in rs]

    # A generous SLO: this test is about results; client and server share one interpreter.
    slo = {"latency_slo_ms": 30_000}
    batched_app = create_app(
        [exported], config=serve_config(max_batch_size=16, max_queue_delay_ms=20, **slo)
    )
    with live_server(batched_app) as url:
        batched = asyncio.run(answers(url))
        metrics = httpx.get(f"{url}/metrics").text
    with live_server(create_app([exported], config=serve_config(batching=False, **slo))) as url:
        unbatched = asyncio.run(answers(url))
    assert batched == unbatched  # bit for bit
    sizes = [line for line in metrics.splitlines() if line.startswith("dlstack_batch_size_bucket")]
    assert any('le="1.0"' in line for line in sizes)  # the histogram is there


def test_a_full_queue_answers_429_with_retry_after(exported: Path, test_inputs: np.ndarray) -> None:
    gated = GatedPackage(load_package(exported))
    cfg = serve_config(max_batch_size=1, max_queue_size=3, max_request_batch=3,
                       latency_slo_ms=60_000)  # fmt: skip
    with live_server(create_app([gated], config=cfg)) as url:

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as c:
                first = asyncio.ensure_future(
                    c.post("/v2/models/digits8/infer", json=_body(test_inputs[:1]))
                )
                while not gated.calls:  # the model is busy with the first request
                    await asyncio.sleep(0.005)
                queued = [
                    asyncio.ensure_future(
                        c.post("/v2/models/digits8/infer", json=_body(test_inputs[:1]))
                    )
                    for _ in range(3)
                ]
                while "dlstack_queue_rows" not in (m := (await c.get("/metrics")).text) or (
                    'dlstack_queue_rows{model="digits8",version="1"} 3.0' not in m
                ):
                    await asyncio.sleep(0.005)
                refused = await c.post("/v2/models/digits8/infer", json=_body(test_inputs[:1]))
                gated.gate.set()
                return [refused, *(await asyncio.gather(first, *queued))]

        refused, *served = asyncio.run(run())
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "max_queue_size 3" in refused.json()["error"]
        assert [r.status_code for r in served] == [200] * 4  # the queued ones are served
        metrics = httpx.get(f"{url}/metrics").text
        assert 'dlstack_rejections_total{model="digits8",reason="queue_full",version="1"} 1.0' in (
            metrics
        )


def test_a_request_past_its_deadline_gets_503_not_a_late_answer(
    exported: Path, test_inputs: np.ndarray
) -> None:
    gated = GatedPackage(load_package(exported))
    cfg = serve_config(max_batch_size=1, latency_slo_ms=100)
    with live_server(create_app([gated], config=cfg)) as url:

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as c:
                first = asyncio.ensure_future(
                    c.post("/v2/models/digits8/infer", json=_body(test_inputs[:1]))
                )
                while not gated.calls:
                    await asyncio.sleep(0.005)
                late = asyncio.ensure_future(
                    c.post("/v2/models/digits8/infer", json=_body(test_inputs[:1]))
                )
                await asyncio.sleep(0.3)  # hold the model past the second one's deadline
                gated.gate.set()
                return await first, await late

        first, late = asyncio.run(run())
        assert late.status_code == 503 and "latency SLO" in late.json()["error"]
        assert gated.calls == [1]  # the late request never ran
        assert first.status_code in (200, 503)  # the first may itself be past its deadline
