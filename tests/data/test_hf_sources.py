"""Hugging Face datasets as sources, made with the real ``datasets`` library: a
save_to_disk DatasetDict, a Parquet export, a table without images, and the hub offline."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlstack.config import init_project, load_project
from dlstack.data import DataRepo
from dlstack.errors import DataError

datasets = pytest.importorskip("datasets")


def _png(rng: np.random.Generator, color: bool) -> bytes:
    shape = (10, 12, 3) if color else (10, 12)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _images(n: int, seed: int, color: bool = True) -> object:
    rng = np.random.default_rng(seed)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=["cat", "dog", "owl"]),
            "camera": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_dict(
        {
            "image": [{"bytes": _png(rng, color), "path": None} for _ in range(n)],
            "label": [i % 2 for i in range(n)],  # "owl" never occurs
            "camera": ["a" if i % 3 else "b" for i in range(n)],
        },
        features=features,
    )


def _repo(tmp_path: Path, source: str) -> DataRepo:
    init_project(tmp_path / "proj", source)
    return DataRepo.open(load_project(tmp_path / "proj"))


def test_a_saved_dataset_dict_keeps_its_splits_classes_and_columns(tmp_path: Path) -> None:
    parts = {"train": _images(30, 0), "validation": _images(10, 1), "test": _images(8, 2)}
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "dd"))
    repo = _repo(tmp_path, str(tmp_path / "dd"))
    try:
        report = repo.ingest(str(tmp_path / "dd"), progress=False)
        assert report.added == 48 and not report.rejected
        assert any("channels 3" in line for line in report.inferred)
        repo.commit("hf")
        _, snap = repo.checkout("HEAD", progress=False)
        assert snap.classes == ("cat", "dog", "owl")  # the ClassLabel's names, in order
        assert snap.counts() == {"train": 30, "val": 10, "test": 8}
        assert snap.images.shape[1:] == (10, 12, 3)
        rows = repo.query("SELECT count(*) AS n FROM examples WHERE meta->>'camera' = 'b'")
        assert rows.to_pylist()[0]["n"] == 10 + 4 + 3  # rows 0, 3, 6... of each split
    finally:
        repo.close()


def test_a_parquet_export_and_a_table_without_images(tmp_path: Path) -> None:
    _images(12, 3, color=False).to_parquet(str(tmp_path / "images.parquet"))
    repo = _repo(tmp_path / "a", str(tmp_path / "images.parquet"))
    try:
        assert repo.ingest(str(tmp_path / "images.parquet"), progress=False).added == 12
        assert repo.table_spec() is None and repo.image_spec().channels == 1
    finally:
        repo.close()

    table = datasets.Dataset.from_dict(
        {"size": [1.0, 2.5, 3.0, 4.5], "kind": ["x", "y", "x", "y"], "label": [0, 1, 0, 1]},
        features=datasets.Features(
            {
                "size": datasets.Value("float32"),
                "kind": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["no", "yes"]),
            }
        ),
    )
    table.save_to_disk(str(tmp_path / "table"))
    repo = _repo(tmp_path / "b", str(tmp_path / "table"))
    try:
        assert repo.ingest(str(tmp_path / "table"), progress=False).added == 4
        spec = repo.table_spec()
        assert spec is not None and [(c.name, c.kind) for c in spec.columns] == [
            ("size", "numeric"),
            ("kind", "categorical"),
        ]
        repo.commit("table")
        _, snap = repo.checkout("HEAD", progress=False)
        assert snap.classes == ("no", "yes") and snap.features is not None
    finally:
        repo.close()


def test_bad_splits_and_the_hub_offline_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets.DatasetDict({"train": _images(4, 4), "extra": _images(2, 5)}).save_to_disk(
        str(tmp_path / "odd")
    )
    repo = _repo(tmp_path, str(tmp_path / "odd"))
    try:
        with pytest.raises(DataError, match=r"split 'extra'.*train, validation"):
            repo.ingest(str(tmp_path / "odd"), progress=False)
        # No traffic leaves the machine: the hub is told to stay offline.
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        with pytest.raises(DataError, match=r"cannot read the Hugging Face dataset 'hf:.*offline"):
            repo.ingest("hf:no-such-user/no-such-dataset", progress=False)
    finally:
        repo.close()
