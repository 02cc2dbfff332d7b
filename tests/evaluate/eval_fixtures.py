"""Model packages and projects for evaluate tests (most made without training, fast),
and the helpers the ML Test Score's real evidence needs (a manifest, a git commit).

Imported by conftest.py (fixtures) and by test modules (helpers); a module of its own so
that ``import conftest`` never picks another directory's conftest.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlstack.config import Project
from dlstack.data import Snapshot
from dlstack.inputs import channel_stats, to_model_input
from dlstack.train._result import Normalization


def make_linear_package(
    directory: Path,
    weights: np.ndarray,
    bias: np.ndarray,
    labels: list[str],
    norm: Normalization,
    *,
    shape: tuple[int, int] = (8, 8),
    name: str = "digits",
    version: int = 1,
    data_version: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> Path:
    """A real model package (model.onnx + model.json) holding a linear classifier, written
    with onnx.helper: what `dlstack export` makes, without torch.export's seconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from dlstack.package import sha256_file

    h, w = shape
    directory.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        [
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, directory / "model.onnx")
    spec = {
        "schema_version": 1,
        "name": name,
        "version": version,
        "task": "classification",
        "labels": list(labels),
        "input": {
            "name": "input",
            "dtype": "float32",
            "shape": [-1, 1, h, w],
            "layout": "NCHW",
            "pixel_scale": 255,
            "normalization": {"mean": list(norm.mean), "std": list(norm.std)},
            "color": "grayscale",
            "background": "dark",
        },
        "output": {"name": "logits", "kind": "logits", "shape": [-1, len(labels)]},
        "onnx": {"file": "model.onnx", "sha256": sha256_file(directory / "model.onnx")},
        "data_version": data_version,
        "created": created,
    }
    (directory / "model.json").write_text(json.dumps(spec), encoding="utf-8")
    return directory


@dataclass(frozen=True)
class LinearModel:
    weights: np.ndarray  # (H*W, C)
    bias: np.ndarray  # (C,)
    norm: Normalization


def fit_linear(snapshot: Snapshot) -> LinearModel:
    """Logistic regression on standardized pixels: ~0.95 accuracy on digits8 in 0.1 s."""
    from sklearn.linear_model import LogisticRegression

    train = snapshot.split("train")
    norm = Normalization(*channel_stats(train.images))
    x = to_model_input(train.images, norm.mean, norm.std).reshape(len(train), -1)
    model = LogisticRegression(C=0.1, max_iter=300).fit(x, train.labels)
    return LinearModel(model.coef_.T.copy(), model.intercept_.copy(), norm)


WRITERS = ("ann", "bob", "cy", "dee")


def write_manifest(folder: Path, *, broken: int = 0) -> Path:
    """digits8 as PNG files and a ``manifest.csv`` (path, label, writer) in ``folder``; the
    first ``broken`` files hold bytes that are no image, which ingest must reject."""
    from PIL import Image

    from dlstack.data import load_builtin

    raw = load_builtin("digits8")
    folder.mkdir(parents=True)
    lines = ["path,label,writer"]
    for i, (image, label) in enumerate(zip(raw.images, raw.labels, strict=True)):
        path = folder / f"{i}.png"
        if i < broken:
            path.write_bytes(b"not a png: a truncated upload")
        else:
            Image.fromarray(image).save(path)
        lines.append(f"{i}.png,{raw.classes[label]},{WRITERS[i % len(WRITERS)]}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class ManifestProject:
    """A project whose data came in through a CSV manifest with a writer column, with a
    committed version, its snapshot, and a good (v1) and a broken (v2) package."""

    project: Project
    snapshot: Snapshot
    good: Path
    broken: Path
    model: LinearModel


@dataclass(frozen=True)
class ServedTraffic:
    """What `serve_with_feedback` sent: prediction ids, and the flagged examples."""

    prediction_ids: list[str]
    flagged: dict[str, str]  # example id -> the label given with the feedback
    decided: list[str]  # flagged examples a labeler then labeled in the queue


@dataclass(frozen=True)
class ScoredProject:
    """A project after `dlstack run`, a second identical training run, and a second
    package version checked against the first (see conftest.scored)."""

    project: Project
    run: Any  # dlstack.lifecycle.LifecycleResult
    again: Any  # the second run's TrainResult
    second_package: Path
    tests: Any  # the EvalTestReport of the second package
    traffic: ServedTraffic  # v1 served, with people's feedback (see serve_with_feedback)


def git_commit(root: Path, message: str) -> None:
    """Commit everything in ``root`` (a new repository the first time), as a test author:
    runs then record the commit as their code version."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "tester",
        "GIT_AUTHOR_EMAIL": "tester@example.com",
        "GIT_COMMITTER_NAME": "tester",
        "GIT_COMMITTER_EMAIL": "tester@example.com",
    }
    if not (root / ".git").is_dir():
        subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
        (root / ".gitignore").write_text(".dlstack/\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", message], check=True, env=env)


def serve_with_feedback(
    project: Project, package: Path, snapshot: Snapshot, *, n: int, flagged: int, decided: int
) -> ServedTraffic:
    """The real server (in process, with the project's prediction log) answers ``n`` test
    digits; people send "this is wrong" feedback with the true label for the first
    ``flagged`` of them, and a labeler labels the first ``decided`` flagged examples in
    the labeling queue. Each served digit has one pixel inverted, so that it is a new
    input, not a stored training example."""
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from dlstack.config import ServeConfig
    from dlstack.data import Catalog
    from dlstack.data.labeling import LabelingRules, create_user, record_label
    from dlstack.serve import create_app

    cfg = ServeConfig.model_validate(
        {"log_sample_rate": 0.0, "feedback_requires_key": False, "feedback_per_minute": 10_000}
    )
    test = snapshot.split("test")
    truth = [snapshot.classes[int(y)] for y in test.labels[:n]]
    ids: list[str] = []
    examples: dict[str, str] = {}
    with TestClient(create_app([package], config=cfg, project=project)) as client:
        for i in range(n):
            pixels = np.array(test.images[i], copy=True)
            pixels[0, 0] = 255 - pixels[0, 0]
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="PNG")
            png = {"content": buf.getvalue(), "headers": {"content-type": "image/png"}}
            r = client.post("/predict", **png)
            assert r.status_code == 200, r.text
            ids.append(r.json()["prediction_id"])
        for i in range(flagged):
            r = client.post("/feedback", json={"prediction_id": ids[i], "label": truth[i]})
            assert r.status_code == 202, r.text
            examples[r.json()["example_id"]] = truth[i]
    catalog = Catalog(project.catalog_url, namespace=project.config.project.name)
    try:
        create_user(catalog, "labeler-1")
        chosen = list(examples)[:decided]
        for example_id in chosen:
            record_label(
                catalog,
                example_id,
                "labeler-1",
                examples[example_id],
                rules=LabelingRules.from_project(project),
            )
    finally:
        catalog.close()
    return ServedTraffic(ids, examples, chosen)
