"""Several inputs per example: a manifest naming a digit image and two feature columns.

Through every stage in a tiny form: `dlstack init` infers both inputs, ingest stores the
image and the row, training builds the fusion model (a CNN and an MLP, concatenated), the
package declares both named inputs (ONNX against torch on both), /predict and OIP infer
take both and name the one that is missing, `dlstack predict` reads an image with a row
or a manifest, the prediction log keeps both and the monitor checks both. The quality
bar (the two-input model beats each one-input model) is the slow test at the end.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dlstack.config import init_project, load_project
from dlstack.data import DataRepo
from dlstack.errors import DataError, ModelError, PackageError
from dlstack.inputs import FEATURES_INPUT, IMAGE_INPUT
from dlstack.package import PackageSpec, load_package
from two_input_digits import write_two_input_digits


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory):
    """Init, ingest, commit, fit and export a 240-example two-input project."""
    from dlstack.compress import export_package
    from dlstack.train import fit

    root = tmp_path_factory.mktemp("two_inputs")
    manifest = write_two_input_digits(root / "data", 240)
    init_project(root / "proj", str(manifest), max_epochs=3)
    project = load_project(root / "proj")
    repo = DataRepo.open(project)
    try:
        report = repo.ingest(str(manifest), progress=False)
        repo.commit("two inputs")
        _, snapshot = repo.checkout("HEAD", progress=False)
    finally:
        repo.close()
    result = fit(project, snapshot, progress=False)
    sample = result.normalization.model_input(snapshot.split("test").rows(0, 16))
    package = export_package(result, project.models_dir, "two", sample=sample)
    return project, manifest, report, snapshot, result, package


def _rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open() as f:
        return list(csv.DictReader(f))


def _row(raw: dict[str, str]) -> dict[str, float]:
    return {"shift": float(raw["shift"]), "noise": float(raw["noise"])}


def test_init_infers_the_image_and_the_feature_columns(two) -> None:
    project, _, report, snapshot, _, _ = two
    text = (project.root / "dlstack.toml").read_text()
    assert "[data.image]" in text and "[data.table]" in text
    assert project.config.data.table.features == ("shift", "noise")
    assert project.config.data.image.size == (8, 8) and project.config.data.image.channels == 1
    assert report.added == 240 and not report.rejected
    # Checkout: the image prepared by the spec, the row as raw values, for every example.
    assert snapshot.has_several_inputs and not snapshot.is_table
    assert snapshot.images.shape == (240, 8, 8) and snapshot.features.shape == (240, 2)
    assert set(np.unique(snapshot.features[:, 0])) == {0.0, 5.0}


def test_the_model_takes_a_dict_and_the_package_declares_both_named_inputs(two) -> None:
    import onnx
    import torch

    _, _, _, snapshot, result, path = two
    assert result.architecture == "fusion"
    assert result.input_shape == {IMAGE_INPUT: (1, 8, 8), FEATURES_INPUT: (2,)}
    spec = json.loads((path / "model.json").read_text())
    assert "input" not in spec
    image, table = spec["inputs"]
    assert (image["name"], image["kind"], image["shape"]) == ("image", "image", [-1, 1, 8, 8])
    assert image["normalization"]["mean"] == list(result.normalization.mean)
    assert (table["name"], table["kind"], table["shape"]) == ("features", "table", [-1, 2])
    assert [c["name"] for c in table["table"]["table"]["columns"]] == ["shift", "noise"]
    graph = onnx.load(str(path / "model.onnx"))
    assert [i.name for i in graph.graph.input] == ["image", "features"]
    # onnxruntime against torch on both inputs, at a batch size export never saw.
    package = load_package(path)
    x = result.normalization.model_input(snapshot.split("train").rows(0, 37))
    with torch.inference_mode():
        want = result.model({k: torch.from_numpy(v) for k, v in x.items()}).numpy()
    np.testing.assert_allclose(package.logits(x), want, atol=1e-4)
    with pytest.raises(PackageError, match=r"takes 2 inputs \(image, features\)"):
        package.spec.input  # noqa: B018  (a one-input accessor on a two-input package)


def test_the_serving_path_matches_the_training_path_on_both_inputs(two) -> None:
    _, manifest, _, _, _, path = two
    package = load_package(path)
    raws = _rows(manifest)[:20]
    images = [manifest.parent / r["path"] for r in raws]
    served = package.predict(images, [_row(r) for r in raws], top_k=3)
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(p)) for p in images])
    features = np.array([[float(r["shift"]), float(r["noise"])] for r in raws])
    trained = package.predict_arrays(package.model_input(pixels, features)).argmax(axis=1)
    assert [p.label for p in served] == [package.labels[i] for i in trained]
    with pytest.raises(DataError, match=r"table row\(s\) as input 'features'; none were given"):
        package.predict(images=images)
    with pytest.raises(DataError, match=r"image\(s\) as input 'image'; none were given"):
        package.predict_rows([_row(raws[0])])
    with pytest.raises(DataError, match="2 image"):
        package.predict(images[:2], [_row(raws[0])])


def test_predict_and_infer_take_both_inputs_and_name_a_missing_one(two) -> None:
    from dlstack.serve._app import create_app

    project, manifest, _, snapshot, result, path = two
    package = load_package(path)
    raw = _rows(manifest)[0]
    image = (manifest.parent / raw["path"]).read_bytes()
    want = package.predict([image], [_row(raw)])[0]
    encoded = base64.b64encode(image).decode()
    with TestClient(create_app([path], project=project)) as client:
        answer = client.post("/predict", json={"image": encoded, "row": _row(raw)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["label"] == want.label
        form = client.post(
            "/predict",
            files={"file": ("x.png", image, "image/png")},
            data={"row": json.dumps(_row(raw))},
        )
        assert form.status_code == 200 and form.json()["label"] == want.label
        for body, says in (
            ({"image": encoded}, "no 'row'"),
            ({"row": _row(raw)}, "no 'image'"),
            ({"image": encoded, "row": {"shift": 5}}, "missing column(s) 'noise'"),
        ):
            got = client.post("/predict", json=body)
            assert got.status_code == 400 and says in got.json()["error"], got.text
        got = client.post("/predict", files={"file": ("x.png", image, "image/png")})
        assert got.status_code == 400 and "no field 'row'" in got.json()["error"]
        assert client.post("/predict", content=image).status_code == 415

        meta = client.get("/v2/models/two").json()
        assert meta["inputs"] == [
            {"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]},
            {"name": "features", "datatype": "FP32", "shape": [-1, 2]},
        ]
        per_input = meta["parameters"]["inputs"]
        assert per_input["image"]["mean"] == list(result.normalization.mean)
        assert [c["name"] for c in per_input["features"]["columns"]] == ["shift", "noise"]
        x = package.model_input(snapshot.images[:3], snapshot.features[:3])
        tensors = [
            {"name": n, "datatype": "FP32", "shape": list(a.shape), "data": a.ravel().tolist()}
            for n, a in x.items()
        ]
        infer = client.post("/v2/models/two/infer", json={"inputs": tensors})
        assert infer.status_code == 200, infer.text
        logits = next(o for o in infer.json()["outputs"] if o["name"] == "logits")
        np.testing.assert_allclose(
            np.reshape(logits["data"], (3, -1)), package.logits(x), atol=1e-5
        )
        one = client.post("/v2/models/two/infer", json={"inputs": tensors[:1]})
        assert one.status_code == 400 and "missing 'features'" in one.json()["error"]
        client.app.state.server.log.flush()
    # The prediction log keeps both: the image's statistics and the row's values.
    from dlstack.data import Lake

    lake = Lake(project.lake_url, **project.lake_options)
    logged = lake.read("predictions").to_pylist()
    assert any(r["endpoint"] == "predict" and r["input_mean"] == r["input_mean"] for r in logged)
    columns = {r["column"] for r in lake.read("prediction_features").to_pylist()}
    assert columns == {"shift", "noise"}


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from dlstack.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out + out.err


def test_predict_cli_reads_an_image_with_a_row_or_a_manifest(
    two, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, manifest, _, _, _, path = two
    package = load_package(path)
    raws = _rows(manifest)[:3]
    want = package.predict([manifest.parent / r["path"] for r in raws], [_row(r) for r in raws])
    few = tmp_path / "few.csv"
    few.write_text(
        "path,shift,noise\n"
        + "".join(f"{manifest.parent / r['path']},{r['shift']},{r['noise']}\n" for r in raws)
    )
    code, text = _cli(["predict", str(path), str(few)], capsys)
    assert code == 0, text
    assert [line.split()[1] for line in text.splitlines()[1:4]] == [p.label for p in want]
    image = str(manifest.parent / raws[0]["path"])
    code, text = _cli(["predict", str(path), image, "--row", json.dumps(_row(raws[0]))], capsys)
    assert code == 0 and f"{image}  {want[0].label}" in text, text
    code, text = _cli(["predict", str(path), image], capsys)
    assert code == 2 and "--row" in text and "Traceback" not in text


def test_the_fusion_model_and_its_errors() -> None:
    import torch

    from dlstack.models import Fusion, build_model

    model, name = build_model("auto", {"image": (3, 16, 16), "features": (5,)}, 4)
    assert name == "fusion" and isinstance(model, Fusion)
    out = model({"image": torch.zeros(2, 3, 16, 16), "features": torch.zeros(2, 5)})
    assert out.shape == (2, 4)
    with pytest.raises(ValueError, match=r"lacks \['features'\]"):
        model({"image": torch.zeros(2, 3, 16, 16)})
    with pytest.raises(ModelError, match="takes one input; this data has several"):
        build_model("lenet", {"image": (1, 8, 8), "features": (2,)}, 3)
    with pytest.raises(ModelError, match="takes several inputs"):
        build_model("fusion", (1, 8, 8), 3)


def test_a_user_model_is_built_with_every_input_shape_and_called_with_a_dict(
    tmp_path: Path,
) -> None:
    import torch

    from dlstack.models import build_model

    (tmp_path / "pair_model.py").write_text(
        "import torch\n"
        "class Pair(torch.nn.Module):\n"
        "    def __init__(self, shapes, k):\n"
        "        super().__init__()\n"
        "        c, h, w = shapes['image']\n"
        "        self.fc = torch.nn.Linear(c * h * w + shapes['features'][0], k)\n"
        "    def forward(self, x):\n"
        "        flat = torch.cat([x['image'].flatten(1), x['features']], dim=1)\n"
        "        return self.fc(flat)\n"
        "def build(input_shape, num_classes):\n"
        "    return Pair(input_shape, num_classes)\n"
    )
    shapes = {"image": (1, 8, 8), "features": (2,)}
    model, name = build_model("pair_model:build", shapes, 3, search_path=tmp_path)
    x = {"image": torch.zeros(4, 1, 8, 8), "features": torch.ones(4, 2)}
    assert name == "pair_model:build" and model(x).shape == (4, 3)


# model.json of a one-input package as dlstack wrote them before several inputs existed,
# and their deciding hashes under that code (git show e5ec669:src/dlstack/package/_spec.py).
_OLD_IMAGE = {
    "name": "input",
    "dtype": "float32",
    "shape": [-1, 1, 8, 8],
    "layout": "NCHW",
    "pixel_scale": 255,
    "normalization": {"mean": [0.3], "std": [0.4]},
    "color": "grayscale",
    "background": "dark",
}
_OLD_TABLE = {
    "name": "input",
    "dtype": "float32",
    "kind": "table",
    "shape": [-1, 2],
    "layout": "NC",
    "table": {
        "table": {
            "columns": [
                {"name": "a", "kind": "numeric", "categories": []},
                {"name": "b", "kind": "numeric", "categories": []},
            ]
        },
        "mean": [0.0, 1.0],
        "std": [1.0, 2.0],
        "vocabulary": [[], []],
        "missing": "mean",
        "unknown": "zeros",
    },
}
_OLD_HASHES = {
    "image": "97913a36030516659afc75172388feb301eb6a04ecdefdddccde293d9ddf52d5",
    "table": "76fa974a1ee11906efd3694cac90f59ae99bc26c3bdb49238239e63b02996acb",
}


def _old_spec(input_: dict[str, object]) -> dict[str, object]:
    return {
        "schema_version": 2,
        "name": "digits8",
        "version": 1,
        "task": "classification",
        "labels": ["0", "1", "2"],
        "input": input_,
        "output": {"name": "logits", "kind": "logits", "shape": [-1, 3]},
        "onnx": {"file": "model.onnx", "sha256": "0" * 64, "opset": 18},
    }


@pytest.mark.parametrize("kind", ["image", "table"])
def test_one_input_packages_read_write_and_hash_as_before(kind: str) -> None:
    old = _old_spec(_OLD_IMAGE if kind == "image" else _OLD_TABLE)
    old["onnx"]["exporter"] = "torch.export"
    spec = PackageSpec.model_validate(old)
    assert spec.deciding_hash() == _OLD_HASHES[kind]  # old packages keep their seal
    assert spec.input.name == "input" and len(spec.inputs) == 1
    written = spec.model_dump(mode="json")
    assert "inputs" not in written and written["input"]["shape"] == old["input"]["shape"]
    assert PackageSpec.model_validate(written).deciding_hash() == _OLD_HASHES[kind]


def test_a_two_input_spec_is_checked_input_by_input() -> None:
    both = _old_spec(_OLD_IMAGE)
    del both["input"]
    both["inputs"] = [dict(_OLD_IMAGE, name="image"), dict(_OLD_TABLE, name="features")]
    spec = PackageSpec.model_validate(both)
    assert [i.name for i in spec.inputs] == ["image", "features"]
    assert spec.input_of_kind("table") is spec.inputs[1]
    sealed = spec.sealed()
    assert sealed.deciding_hash() not in _OLD_HASHES.values()
    twice = dict(both, inputs=[dict(_OLD_IMAGE, name="x"), dict(_OLD_IMAGE, name="x")])
    with pytest.raises(ValueError, match="distinct names"):
        PackageSpec.model_validate(twice)
    broken = dict(both, inputs=[dict(_OLD_IMAGE, name="image"), dict(_OLD_TABLE, shape=[-1, 3])])
    with pytest.raises(ValueError, match=r"encodes 2 values, input\.shape says 3"):
        PackageSpec.model_validate(broken)
    with pytest.raises(ValueError, match="both 'input' and 'inputs'"):
        PackageSpec.model_validate(dict(both, input=_OLD_IMAGE))


def test_an_example_is_its_image_and_its_values(tmp_path: Path) -> None:
    """The same image with the same row is one example; another value is another one; a
    dataset of both refuses a source of images alone, naming the columns it lacks."""
    manifest = write_two_input_digits(tmp_path / "data", 20)
    init_project(tmp_path / "p", str(manifest))
    project = load_project(tmp_path / "p")
    rows = _rows(manifest)
    again = tmp_path / "data" / "again.csv"
    changed = dict(rows[1], noise="9.5")
    with again.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[0], changed, dict(rows[2], path="images/nope.png")])
    images_only = tmp_path / "data" / "images.csv"
    images_only.write_text("path,label\n" + f"{rows[0]['path']},{rows[0]['label']}\n")
    repo = DataRepo.open(project)
    try:
        assert repo.ingest(str(manifest), progress=False).added == 20
        report = repo.ingest(str(again), progress=False)
        assert (report.unchanged, report.added) == (1, 1)  # row 1: a new noise value
        assert "nope.png" in report.rejected[0][0]
        with pytest.raises(DataError, match=r"lacks column\(s\) 'shift', 'noise'"):
            repo.ingest(str(images_only), progress=False)
        rows_only = tmp_path / "data" / "rows.csv"
        rows_only.write_text("shift,noise,label\n5,0.1,3\n")
        with pytest.raises(DataError, match="holds an image and table columns per example"):
            repo.ingest(str(rows_only), progress=False)
    finally:
        repo.close()


@pytest.mark.slow
def test_dlstack_run_doctor_and_monitor_on_a_two_input_project(tmp_path: Path) -> None:
    """`dlstack run` end to end (evaluate, `dlstack test` with its skew and stability
    checks per input, report), the doctor, and drift of both inputs (~60 s)."""
    from datetime import UTC, datetime

    from dlstack import lifecycle
    from dlstack.doctor import examine_project
    from dlstack.serve._app import create_app
    from dlstack.serve._drift import monitor

    manifest = write_two_input_digits(tmp_path / "data", 300)
    init_project(tmp_path / "proj", str(manifest), max_epochs=4)
    project = load_project(tmp_path / "proj")
    out = lifecycle.run(project, progress=False, doctor_budget_s=None)
    checks = {c.kind: c for c in out.tests.checks}
    assert checks["skew"].passed and "PNG + row" in checks["skew"].detail
    assert checks["stability"].passed and "rows all missing" in checks["stability"].detail
    report, html = examine_project(project, budget_s=10)
    assert html.is_file() and report.findings
    started = datetime.now(UTC)
    raws = _rows(manifest)[:60]
    with TestClient(create_app([out.package], project=project)) as client:
        for raw in raws:  # the shift measured in another unit: x 3
            image = base64.b64encode((manifest.parent / raw["path"]).read_bytes()).decode()
            row = dict(_row(raw), shift=3 * float(raw["shift"]))
            got = client.post("/predict", json={"image": image, "row": row})
            assert got.status_code == 200, got.text
        client.app.state.server.log.flush()
    drift = {c.name: c for c in monitor(project, since=started).checks}
    assert {"input intensity", "ink share", "feature shift", "feature noise"} <= set(drift)
    assert drift["feature shift"].drifted and not drift["input intensity"].drifted


@pytest.mark.slow
def test_the_two_input_model_beats_each_one_input_model(tmp_path: Path) -> None:
    """The quality bar, on 600 examples with the same budget (bench/two_inputs.py has the
    numbers): the image alone cannot know the shift, the row alone not the digit."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from two_inputs import compare_inputs

    scores = compare_inputs(tmp_path, examples=600, epochs=30, seed=0)
    assert scores["both"] > scores["image"] + 0.15, scores
    assert scores["both"] > scores["features"] + 0.15, scores
