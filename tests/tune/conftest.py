"""The tune tests' fixture: a digits8 project with a data version and a small [tune]."""

from __future__ import annotations

from pathlib import Path

import pytest
from tune_fixtures import make_project

from dlstack.config import Project
from dlstack.data import Snapshot


@pytest.fixture
def tuned_project(tmp_path: Path) -> tuple[Project, Snapshot]:
    return make_project(tmp_path / "proj")
