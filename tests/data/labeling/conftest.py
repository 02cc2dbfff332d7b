"""Fixtures for the labeling tests: small projects whose examples arrive without labels."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from dlstack.config import Project, init_project
from dlstack.data import DataRepo
from dlstack.data._catalog import examples
from dlstack.data.labeling import LabelingRules, create_user, enqueue

N_EXAMPLES = 24


@dataclass
class LabelingProject:
    project: Project
    repo: DataRepo
    ids: list[str]  # examples that arrived without a label, queued in this order
    truth: dict[str, str]  # what sklearn says they are (the tests' answer key)
    rules: LabelingRules

    @property
    def catalog(self):
        return self.repo.catalog


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def add_unlabeled(repo: DataRepo, images: np.ndarray, source: str = "camera") -> list[str]:
    """Store images and catalog them as examples without a label, as ingest will for a
    source that carries none."""
    ids, rows = [], []
    now = datetime.now(UTC)
    for i, image in enumerate(images):
        key = repo.store.put(png(image))
        ids.append(key)
        rows.append(
            {
                "id": key,
                "width": image.shape[1],
                "height": image.shape[0],
                "mode": "L",
                "source": source,
                "meta": {"name": f"{source}#{i}"},
                "created_at": now,
            }
        )
    with repo.catalog.begin() as conn:
        if rows:
            conn.execute(examples.insert(), rows)
        repo.catalog.set_meta(conn, "classes", [str(d) for d in range(10)])
        repo.catalog.set_meta(conn, "image_size", [8, 8])
    return ids


def make_project(root, name: str, n: int = N_EXAMPLES, offset: int = 0) -> LabelingProject:
    from sklearn.datasets import load_digits

    project = init_project(root, "builtin:digits8", name=name, max_epochs=1)
    repo = DataRepo.open(project)
    bunch = load_digits()
    images = np.rint(bunch.images[offset : offset + n] * (255 / 16))
    ids = add_unlabeled(repo, images)
    if ids:
        enqueue(repo.catalog, ids, source="ingest")
    truth = {k: str(t) for k, t in zip(ids, bunch.target[offset : offset + n], strict=True)}
    return LabelingProject(project, repo, ids, truth, LabelingRules.from_project(project))


@pytest.fixture
def lp(tmp_path):
    p = make_project(tmp_path / "digits", "digits")
    yield p
    p.repo.close()


@pytest.fixture
def tokens(lp):
    """One account per role: name -> token."""
    return {
        name: create_user(lp.catalog, name, role)[1]
        for name, role in [
            ("ada", "labeler"),
            ("bob", "labeler"),
            ("rev", "reviewer"),
            ("root", "admin"),
        ]
    }


@pytest.fixture
def new_project(tmp_path):
    """Factory for more projects (isolation tests): new_project(name, n=..., offset=...)."""
    made = []

    def make(name: str, n: int = N_EXAMPLES, offset: int = 0) -> LabelingProject:
        p = make_project(tmp_path / name, name, n=n, offset=offset)
        made.append(p)
        return p

    yield make
    for p in made:
        p.repo.close()
