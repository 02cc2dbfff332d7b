"""Shared fixtures. Tests are ordered by cost: unit tests by default; `slow`, `services`
and `browser` markers for the rest. With DLSTACK_REQUIRE_SERVICES=1 (CI) a test that
would skip because a service cannot start fails instead."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/services.py

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DLSTACK_AUTHOR", "tester")

from services import require_service


@pytest.fixture
def digits8_project(tmp_path: Path):
    """A fresh project on the fast 8x8 digits, with a short training budget."""
    from dlstack.config import init_project

    return init_project(tmp_path / "proj", "builtin:digits8", max_epochs=3)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session (see tests/services.py)."""
    from services import Unavailable, postgres

    try:
        with postgres() as url:
            yield url
    except Unavailable as e:
        require_service(str(e))


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible server (moto_server) with dummy credentials in the environment."""
    from services import Unavailable, s3_server

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    try:
        with s3_server() as endpoint:
            yield endpoint
    except Unavailable as e:
        require_service(str(e))
