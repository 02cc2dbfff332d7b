"""Manifest sources: metadata kept, explicit splits honoured, unlabeled examples queued."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from dlstack.data import DataRepo
from dlstack.data._catalog import examples, queue
from dlstack.errors import DataError


def _png(value: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def repo(digits8_project):
    r = DataRepo.open(digits8_project)
    yield r
    r.close()


def test_csv_manifest_with_metadata_splits_and_unlabeled(repo, tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(6):
        (tmp_path / "img" / f"{i}.png").write_bytes(_png(10 * i))
    (tmp_path / "m.csv").write_text(
        "path,label,split,writer\n"
        "img/0.png,a,test,alice\n"
        "img/1.png,b,,bob\n"
        "img/2.png,,,carol\n"  # no label: queued for labeling
        "img/3.png,a,holdout,dan\n"  # not a split
        "../outside.png,a,,eve\n"  # escapes the manifest's folder
        "img/missing.png,b,,fay\n"
    )
    report = repo.ingest(str(tmp_path / "m.csv"), progress=False)
    assert (report.added, report.queued) == (2, 1)
    reasons = " ".join(r for _, r in report.rejected)
    assert "holdout" in reasons and len(report.rejected) == 3
    v = repo.commit("manifest")
    rows = repo.rows(v.id)
    assert sorted(lab for lab, _ in rows.values()) == ["a", "b"]
    # The explicit split is honoured; the metadata column is kept for slices later.
    with repo.catalog.connect() as conn:
        metas = {r.meta["writer"]: r.id for r in conn.execute(select(examples))}
        assert rows[metas["alice"]][1] == "test"
        assert conn.execute(select(queue.c.example_id)).scalars().all() == [metas["carol"]]


def test_jsonl_manifest_and_its_errors(repo, tmp_path):
    (tmp_path / "x.png").write_bytes(_png(7))
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "x.png", "label": "1"}) + "\n")
    assert repo.ingest(str(tmp_path / "m.jsonl"), progress=False).added == 1
    (tmp_path / "bad.jsonl").write_text('{"path": "x.png"}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        repo.ingest(str(tmp_path / "bad.jsonl"), progress=False)
    (tmp_path / "bad.csv").write_text("file,label\nx.png,1\n")
    with pytest.raises(DataError, match="'path' column"):
        repo.ingest(str(tmp_path / "bad.csv"), progress=False)


def test_lake_records_ingests_and_query_joins_catalog(repo, tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "ok.png").write_bytes(_png(5))
    (tmp_path / "3" / "bad.png").write_bytes(b"junk")
    repo.ingest(str(tmp_path), progress=False)
    out = repo.query("SELECT source, added, rejected FROM ingest_reports").to_pylist()
    assert out == [{"source": str(tmp_path), "added": 1, "rejected": 1}]
    reasons = repo.query("SELECT item, reason FROM ingest_rejections").to_pylist()
    assert reasons[0]["item"] == "3/bad.png"
    # Lake and catalog in one query: the examples behind the ingest, by label.
    joined = repo.query(
        "SELECT s.label, count(*) AS n FROM staged s JOIN examples e "
        "ON e.id = s.example_id GROUP BY s.label"
    ).to_pylist()
    assert joined == [{"label": "3", "n": 1}]
    with pytest.raises(DataError, match="query failed"):
        repo.query("SELECT * FROM nowhere")


@pytest.mark.parametrize("null_first", [True, False])
def test_lake_reads_files_whose_schemas_differ(tmp_path, null_first):
    from dlstack.data._lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    batches = [[{"kind": "a", "note": None}], [{"kind": "b", "note": "typed", "extra": 3}]]
    for batch in batches if null_first else batches[::-1]:
        lake.append("events", batch)  # "note" is all-null (type null) in one file
    rows = sorted(lake.read("events").to_pylist(), key=lambda r: r["kind"])
    assert [(r["kind"], r["note"], r["extra"]) for r in rows] == [
        ("a", None, None),
        ("b", "typed", 3),
    ]
    assert rows[0]["date"] is not None
