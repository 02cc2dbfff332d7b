"""`dlstack ui`: MLflow's UI on the project's runs, stopped with everything it started.

MLflow's server is a tree of processes (the CLI, uvicorn, its workers). Stopping only the
process dlstack started leaves the rest listening, so the server runs in a process group of
its own (a new session: Ctrl-C in the terminal reaches dlstack alone), and SIGINT or SIGTERM
to dlstack stops that whole group: SIGTERM first, SIGKILL for what is left after
:data:`STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from dlstack.cli._common import ProjectOpt, console, open_project
from dlstack.errors import ConfigError

STOP_TIMEOUT_S = 15.0  # MLflow's server shuts down gracefully in a few seconds on SIGTERM
READY_TIMEOUT_S = 120.0  # its first start migrates the tracking DB: tens of seconds
# The server's job runner (GenAI scoring, trace archival: seven more processes) does
# nothing for dlstack's runs.
_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ui(
    project: ProjectOpt = Path("."),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.", min=1, max=65535)] = 5000,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the runs page in a browser once it answers.")
    ] = False,
) -> None:
    """Start the MLflow UI on this project's runs (Ctrl-C stops it and all its workers)."""
    from dlstack.train import experiment_url, mlflow_ui_command

    proj = open_project(project)
    _check_port_free("127.0.0.1", port)
    url = experiment_url(proj, host="127.0.0.1", port=port)
    cmd = mlflow_ui_command(proj, host="127.0.0.1", port=port)
    console.print(f"MLflow UI: {url}  (Ctrl-C to stop)", soft_wrap=True)  # an unbroken URL
    on_ready = (lambda: webbrowser.open(url)) if open_browser else None
    raise typer.Exit(run_server(cmd, port=port, on_ready=on_ready))


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


def run_server(
    cmd: list[str],
    *,
    port: int | None = None,
    on_ready: Callable[[], object] | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> int:
    """Run ``cmd`` in its own process group until it exits (its exit code) or this process
    gets SIGINT/SIGTERM (then the whole group is stopped and 0 returned). ``on_ready`` is
    called once ``port`` on 127.0.0.1 accepts connections."""
    previous = {s: signal.signal(s, _raise_stop) for s in _STOP_SIGNALS}
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(cmd, start_new_session=True, env={**os.environ, **_SERVER_ENV})
        if port is not None and on_ready is not None and _wait_for_port(proc, port):
            on_ready()
        return proc.wait()
    except _Stop:
        return 0
    finally:
        # A second Ctrl-C must not cut the stop short and leave the group behind.
        for s in _STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        try:
            if proc is not None:
                stop_group(proc, stop_timeout_s)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def stop_group(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL to what is left after ``timeout_s``;
    returns when no process of the group is alive (or after a last short wait)."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group's id
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so it does not count as alive
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5.0
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # everyone is gone already
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs. Zombies do not count: orphaned
    workers wait there until an init process that may never reap them does."""
    proc_dir = Path("/proc")
    if sys.platform.startswith("linux") and proc_dir.is_dir():
        for entry in proc_dir.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it exited while we looked
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_port(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        # As the server binds: a closed connection's TIME_WAIT does not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise ConfigError(
                f"port {port} on {host} is in use (another `dlstack ui` or MLflow?); "
                f"choose a free one with --port, e.g. --port {port + 1}"
            ) from None
