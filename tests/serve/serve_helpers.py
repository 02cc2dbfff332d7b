"""Helpers for the server tests: config, a real uvicorn in a thread, a gated model."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dlstack.config import ServeConfig

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/services.py


def serve_config(**overrides: Any) -> ServeConfig:
    """The server's config with test overrides, validated as dlstack.toml would be."""
    return ServeConfig.model_validate({"log_predictions": False, **overrides})


@contextmanager
def live_server(app: Any, **settings: Any) -> Iterator[str]:
    """Real uvicorn on a free 127.0.0.1 port, in a thread; yields its base URL.
    ``settings`` are uvicorn.Config's (dlstack.serve._app.uvicorn_settings)."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no port race
    port = sock.getsockname()[1]
    options = {"log_level": "warning", "access_log": False, **settings}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class GatedPackage:
    """A loaded package whose model calls wait for ``gate`` (tests of queueing behaviour).

    Counts calls and their batch sizes; behaves as the package otherwise.
    """

    def __init__(self, package: Any) -> None:
        self._package = package
        self.gate = threading.Event()
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._package, name)

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(len(x))
        self.gate.wait(60)
        return self._package.logits(x)


def free_port_for_tests() -> int:
    from services import free_port

    return free_port()


def wait_for_http(url: str, proc: Any, timeout: float = 60) -> bool:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` passes."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
