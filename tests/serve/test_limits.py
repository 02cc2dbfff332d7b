"""Hostile requests get a 4xx that names the problem, never a 500, and cannot hold the
server: deep JSON, huge number literals, non-ASCII versions, slow bodies, many connections."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serve_helpers import live_server, serve_config

from dlstack.serve._app import create_app, uvicorn_settings
from dlstack.web import check_json, json_shape

DEEP = "[" * 5000 + "]" * 5000
HUGE_INT = "1" * 5000


@pytest.fixture(scope="module")
def client(exported: Path):
    with TestClient(create_app([exported], config=serve_config())) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/models/digits8/infer", '{"inputs": ' + DEEP + "}"),
        ("/v2/models/digits8/infer", '{"inputs": [{"name": "input", "data": [' + HUGE_INT + "]}]}"),
        ("/predict", '{"image": ' + DEEP + "}"),
        ("/feedback", '{"prediction_id": ' + DEEP + "}"),
        ("/feedback", '{"prediction_id": "x", "label": ' + HUGE_INT + "}"),
        ("/v2/repository/models/digits8/load", '{"parameters": {"version": ' + DEEP + "}}"),
    ],
    ids=["infer-deep", "infer-huge-int", "predict-deep", "feedback-deep", "feedback-int", "load"],
)
def test_deep_or_huge_json_is_a_400_naming_the_problem(client, path: str, body: str) -> None:
    # These were RecursionError / ValueError -> 500 (the parsers were FastAPI's and ours).
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "levels deep" in r.json()["error"] or "digits" in r.json()["error"]


def test_brackets_and_digits_inside_strings_do_not_count() -> None:
    assert json_shape(b'{"a": "[[[[[[", "b": "' + b"9" * 5000 + b'"}') == (1, 0)
    assert json_shape(b'["\\"[", [1]]') == (2, 1)  # an escaped quote does not end the string
    check_json(b'{"id": "' + b"[" * 1000 + b'"}')  # no error


@pytest.mark.parametrize("version", ["²", "١", "1.0", "-1"])
def test_versions_are_ascii_numbers_everywhere(client, version: str) -> None:
    # "²".isdigit() is True and int("١") is 1: they used to 500 or load version 1.
    r = client.get(f"/v2/models/digits8/versions/{version}")
    assert r.status_code in (400, 404) and "version" in r.json()["error"]
    r = client.post(
        f"/predict?version={version}", content=b"x", headers={"content-type": "image/png"}
    )
    assert r.status_code in (400, 404), r.text
    admin = client.post(
        "/v2/repository/models/digits8/load", json={"parameters": {"version": version}}
    )
    assert admin.status_code in (400, 401)  # 401: no admin key; never a 500


def _slow_request(url: str, path: str = "/predict") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        f"Content-Length: 1000\r\n\r\n".encode()
        + b"x"  # one byte of the promised thousand; the rest never comes
    )
    return s


def _status(s: socket.socket) -> int:
    line = s.recv(200).split(b"\r\n", 1)[0]  # b"HTTP/1.1 408 Request Timeout"
    return int(line.split()[1])


def test_a_slow_body_is_answered_408_and_connections_are_capped(exported: Path) -> None:
    # 300 clients sending a byte every 2 s used to hold 300 connections indefinitely.
    cfg = serve_config(body_timeout_s=1.0, max_connections=2)
    with live_server(create_app([exported], config=cfg), **uvicorn_settings(cfg)) as url:
        slow = [_slow_request(url), _slow_request(url)]
        time.sleep(0.3)  # both are being read by the server now
        third = _slow_request(url)
        assert _status(third) == 503  # over max_connections: refused at once, not held
        assert [_status(s) for s in slow] == [408, 408]  # the body never finished
        for s in [*slow, third]:
            s.close()
