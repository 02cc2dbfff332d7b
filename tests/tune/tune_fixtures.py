"""A digits8 project with one data version and a small [tune] section (the tune tests' helper;
conftest.py makes it a fixture)."""

from __future__ import annotations

from pathlib import Path

from dlstack.config import Project, init_project, load_project
from dlstack.data import DataRepo, Snapshot, snapshot_for

TUNE = """
[tune]
strategy = "coarse-to-fine"
trials = 4
rounds = 2
top_k = 2
max_epochs = 1
[tune.space]
lr = "log-uniform 1e-4 1e-2"
width = "int 8 32"
"""


def make_project(root: Path, tune: str = TUNE) -> tuple[Project, Snapshot]:
    init_project(root, "builtin:digits8", max_epochs=2)
    toml = root / "dlstack.toml"
    toml.write_text(toml.read_text() + tune, encoding="utf-8")
    project = load_project(root)
    repo = DataRepo.open(project)
    try:
        repo.ingest(project.source, progress=False)
        repo.commit("digits8")
    finally:
        repo.close()
    return project, snapshot_for(project, "HEAD", progress=False)[1]
