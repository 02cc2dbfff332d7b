"""Real services for tests, started on 127.0.0.1 and stopped afterwards (DESIGN.md).

- PostgreSQL: Debian's server, a private cluster in a temp dir (initdb -A trust, pg_ctl).
  initdb refuses to run as root, so as root it runs as the `postgres` system user.
- S3: moto_server from `moto[server]`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 60

# Debian's chromium under Playwright (DESIGN.md): no sandbox as root, and no background
# traffic to outside addresses, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_service(reason: str) -> None:
    """Skip with a stated reason, or fail when CI demands real services."""
    import pytest

    if os.environ.get("DLSTACK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"service required but unavailable: {reason}")
    pytest.skip(reason)


def playwright_and_chromium() -> tuple[Any, str]:
    """Playwright's ``sync_playwright`` and Debian's chromium path, or a skip (a failure in
    CI) that says what is missing: Playwright cannot download browsers here."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright is not installed (pip install playwright)")
    chromium = shutil.which("chromium")
    if chromium is None:
        require_service(
            "Debian's chromium is not installed (apt-get install chromium); "
            "Playwright cannot download browsers here"
        )
    return sync_playwright, str(chromium)


class Unavailable(RuntimeError):
    """The service cannot be started here; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise Unavailable(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise Unavailable("PostgreSQL server binaries (initdb) not found; apt-get install postgresql")


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields a SQLAlchemy URL (psycopg driver)."""
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="dlstack-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user") from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sock, log = root / "data", root / "sock", root / "log"
    port = free_port()
    try:
        subprocess.run([*prefix, "mkdir", "-p", str(sock)], check=True)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(log),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        detail = getattr(e, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(
            f"PostgreSQL did not start: {e} {detail.decode(errors='replace')}"
        ) from None
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def s3_server() -> Iterator[str]:
    """moto_server on a free port; yields its endpoint URL. Sets dummy AWS credentials."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise Unavailable("moto[server] is not installed (pip install 'moto[server]')") from None
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
