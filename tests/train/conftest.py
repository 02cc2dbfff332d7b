"""Fixtures for the training tests."""

from __future__ import annotations

import pytest

from dlstack.data import Snapshot


@pytest.fixture(scope="session")
def digits8() -> Snapshot:
    """1,797 8x8 digits split 0.8/0.1/0.1: small enough for a few epochs in a second."""
    return Snapshot.from_builtin("digits8")
