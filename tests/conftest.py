"""Shared fixtures. Tests are ordered by cost: unit tests by default; `slow`, `services`
and `browser` markers for the rest. With DLSTACK_REQUIRE_SERVICES=1 (CI) a test that
would skip because a service cannot start fails instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DLSTACK_AUTHOR", "tester")


def require_service(reason: str) -> None:
    """Skip with a stated reason, or fail when CI demands real services."""
    if os.environ.get("DLSTACK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"service required but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def digits8_project(tmp_path: Path):
    """A fresh project on the fast 8x8 digits, with a short training budget."""
    from dlstack.project import init_project

    return init_project(tmp_path / "proj", "builtin:digits8", max_epochs=3)
