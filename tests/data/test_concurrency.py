"""Concurrent commits from two processes: a linear history or a clear refusal, never a
corrupt catalog."""

from __future__ import annotations

import itertools
import multiprocessing as mp

import pytest

from dlstack.config import load_project
from dlstack.data import DataRepo
from dlstack.errors import DataError


def _commit_in_process(root: str, message: str, barrier, results) -> None:
    repo = DataRepo.open(load_project(root))
    barrier.wait()  # both processes commit at the same moment
    try:
        v = repo.commit(message)
        results.put(("ok", v.id if v else None))
    except DataError as e:
        results.put(("refused", str(e)))


def _race(project) -> list[tuple[str, str | None]]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_commit_in_process, args=(str(project.root), m, barrier, results))
        for m in ("from A", "from B")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [results.get(timeout=5) for _ in procs]


def _check_linear(repo: DataRepo, outcomes) -> None:
    for status, detail in outcomes:
        assert status == "ok" or "parent changed" in detail
    history = repo.log()
    # Every version's parent is the one before it: a linear history, HEAD at the newest.
    for newer, older in itertools.pairwise(history):
        assert newer.parent == older.id
    assert repo.head().id == history[0].id
    with repo.catalog.connect() as conn:
        from sqlalchemy import func, select

        from dlstack.data._catalog import version_rows

        for v in history:
            n = conn.execute(
                select(func.count())
                .select_from(version_rows)
                .where(version_rows.c.version_id == v.id)
            ).scalar()
            assert n == v.n_examples  # no half-written version


def test_concurrent_commits_sqlite(digits8_project):
    repo = DataRepo.open(digits8_project)
    repo.ingest("builtin:digits8", progress=False)
    outcomes = _race(digits8_project)
    # Same working set: one commit lands, the other finds nothing new (or is refused).
    assert sum(1 for s, d in outcomes if s == "ok" and d) == 1
    _check_linear(repo, outcomes)


@pytest.mark.services
def test_concurrent_commits_postgres(digits8_project, postgres_url):
    toml = digits8_project.root / "dlstack.toml"
    toml.write_text(
        toml.read_text().replace(
            'catalog = "sqlite:///.dlstack/catalog.db"', f'catalog = "{postgres_url}"'
        )
    )
    project = load_project(digits8_project.root)
    repo = DataRepo.open(project)
    repo.ingest("builtin:digits8", progress=False)
    repo.commit("base")
    outcomes = _race(project)
    _check_linear(repo, outcomes)
