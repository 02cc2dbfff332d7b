"""End to end: data -> train -> evaluate -> export -> report on digits8, then predict with
the package through the CLI (onnxruntime only) and trace its lineage."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dlstack import lifecycle
from dlstack.config import init_project, load_project
from dlstack.data import DataRepo


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "digits8"
    init_project(root, "builtin:digits8", max_epochs=6)
    project = load_project(root)
    return project, lifecycle.run(project, progress=False, doctor_budget_s=15)


def project_root(out):
    return out.package.parents[3]


def test_model_beats_majority_and_is_reported(finished):
    _, out = finished
    majority = next(b for b in out.baselines if b.name == "majority")
    # Six epochs of the default CNN on 8x8 digits: far above chance and the majority class.
    assert out.evaluation.metrics["accuracy"] > 0.85 > majority.metrics["accuracy"] + 0.5
    # Baselines and model are scored on the very same test examples.
    assert out.evaluation.n == out.snapshot.counts()["test"]
    html = out.report.read_text()
    assert out.version.id in html and "logistic" in html and html.count("data:image/png") >= 3
    # The doctor ran on the project and its report is linked from report.html.
    assert "doctor" in out.seconds and "Doctor report" in html
    doctor = project_root(out) / ".dlstack" / "doctor" / "report.html"
    assert doctor.is_file() and os.path.relpath(doctor, out.report.parent) in html


def test_package_predicts_like_the_trained_model(finished, tmp_path):
    _, out = finished
    meta = json.loads((out.package / "model.json").read_text())
    assert meta["data_version"] == out.version.id and meta["labels"] == list(out.snapshot.classes)
    test = out.snapshot.split("test")
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.asarray(test.images[i])).save(path)
        paths.append(str(path))
    cli = subprocess.run(
        [sys.executable, "-m", "dlstack", "predict", str(out.package), *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    # The CLI (onnxruntime) agrees with the torch evaluation on each image.
    index = {k: j for j, k in enumerate(out.evaluation.ids)}
    for i, path in enumerate(paths):
        expected = out.snapshot.classes[out.evaluation.predictions[index[test.ids[i]]]]
        line = next(ln for ln in cli.stdout.splitlines() if ln.startswith(path))
        assert line.split()[1] == expected


def test_predict_bad_images_are_user_errors(finished, tmp_path):
    _, out = finished
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not a png")
    cli = subprocess.run(
        [sys.executable, "-m", "dlstack", "predict", str(out.package), str(junk)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2 and "junk.png" in cli.stderr and "Traceback" not in cli.stderr
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlstack",
            "predict",
            str(out.package),
            str(tmp_path / "missing.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2 and "missing.png" in cli.stderr


def test_wrong_size_image_is_resized_with_a_notice(finished, tmp_path):
    _, out = finished
    big = np.kron(np.asarray(out.snapshot.split("test").images[0]), np.ones((4, 4), np.uint8))
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    from dlstack.package import load_package

    pred = load_package(out.package).predict_images([buf.getvalue()])[0]
    assert any("32x32" in n for n in pred.notices)


def test_newer_package_schema_is_refused(finished, tmp_path):
    import shutil

    _, out = finished
    copy = tmp_path / "pkg"
    shutil.copytree(out.package, copy)
    meta = json.loads((copy / "model.json").read_text())
    meta["schema_version"] = 99
    (copy / "model.json").write_text(json.dumps(meta))
    cli = subprocess.run(
        [sys.executable, "-m", "dlstack", "predict", str(copy), "x.png"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2 and "newer dlstack" in cli.stderr


def test_rerun_adds_no_data_version_and_lineage_traces_package(finished):
    from dlstack.data._lineage import lineage

    project, out = finished
    report, version, _ = lifecycle.prepare_data(project, progress=False)
    assert report.added == 0 and version.id == out.version.id
    repo = DataRepo.open(project)
    info = lineage(repo, out.package)
    assert info.data_version is not None and info.data_version.id == out.version.id
    assert info.model["run_id"] == out.result.run_id
    assert len(repo.log()) == 1
