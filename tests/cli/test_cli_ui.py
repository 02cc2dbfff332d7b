"""`dlstack ui` as a user runs it: a real MLflow server on a free loopback port, stopped by
SIGTERM or SIGINT with every process it started (no worker left listening)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dlstack.config import init_project

START_TIMEOUT_S = 180  # first start migrates a fresh tracking DB; slow on a busy 2-core box


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, process group, state) of every process, from /proc."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        out[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return out


def descendants(pid: int) -> set[int]:
    table = processes()
    found, frontier = set(), {pid}
    while frontier:
        children = {p for p, (ppid, _, _) in table.items() if ppid in frontier} - found
        found |= children
        frontier = children
    return found


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would bind
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_busy_port_is_a_user_error_naming_it(tmp_path: Path) -> None:
    project = init_project(tmp_path / "proj", "builtin:digits8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "dlstack", "ui", "-p", str(project.root), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"port {port} on 127.0.0.1 is in use" in out.stderr and "--port" in out.stderr


# A parent and a child that both ignore SIGTERM, as a server stuck in shutdown would.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
    "time.sleep(600)\n"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
def test_stop_group_kills_what_ignores_sigterm_children_included() -> None:
    from dlstack.cli._ui import stop_group

    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not descendants(proc.pid):
            assert time.monotonic() < deadline and proc.poll() is None, "no child started"
            time.sleep(0.05)
        stop_group(proc, timeout_s=0.5)  # SIGTERM is ignored: SIGKILL after the timeout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    left = {
        pid for pid, (_, pgid, state) in processes().items() if pgid == proc.pid and state != "Z"
    }
    assert not left, f"left running: {sorted(left)}"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_stops_its_whole_process_group_and_frees_the_port(
    tmp_path: Path, signum: signal.Signals
) -> None:
    project = init_project(tmp_path / "proj", "builtin:digits8")
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "dlstack", "ui", "-p", str(project.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a group of its own: our signal reaches it alone
    )
    groups: set[int] = set()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"http://127.0.0.1:{port}/") and ui.poll() is None:
            assert time.monotonic() < deadline, "the MLflow UI did not answer"
            time.sleep(0.5)
        assert ui.poll() is None, ui.stdout.read() if ui.stdout else ""
        table = processes()
        started = descendants(ui.pid)
        groups = {table[p][1] for p in started if p in table}
        # MLflow's server and its uvicorn worker, in a group apart from `dlstack ui`'s.
        assert len(started) >= 2 and groups and ui.pid not in groups

        ui.send_signal(signum)
        output, _ = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:  # the test failed: leave no server behind
            for pgid in {ui.pid, *groups}:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
            ui.wait(30)

    assert ui.returncode == 0, output
    # The page it printed is the experiment's runs table, in MLflow's classic view.
    assert f"http://127.0.0.1:{port}/#/experiments/" in output and "workflowType" in output
    alive = {
        pid
        for pid, (_, pgid, state) in processes().items()
        if (pid in started or pgid in groups) and state != "Z"
    }
    assert not alive, f"left running: {sorted(alive)}"
    assert port_is_free(port)
