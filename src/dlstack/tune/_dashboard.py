"""``dlstack tune --dashboard``: optuna-dashboard on the study's storage, on this machine."""

from __future__ import annotations

import sys

__all__ = ["dashboard_command"]


def dashboard_command(storage: str, host: str = "127.0.0.1", port: int = 8080) -> list[str]:
    """The command line that serves optuna-dashboard for ``storage`` (an RDB URL).

    >>> dashboard_command("sqlite:///s.db", port=8081)[-5:]
    ['sqlite:///s.db', '--host', '127.0.0.1', '--port', '8081']
    """
    code = "from optuna_dashboard._cli import main; main()"
    return [sys.executable, "-c", code, storage, "--host", host, "--port", str(port)]
