"""A regression and a multilabel project, each end to end in a fast tiny form:
`dlstack init --from table.csv` infers the task, `run` trains, evaluates against the
task's baselines, packages and tests it, and the package answers in the task's terms from
`dlstack predict`, `/predict` and the OIP endpoint. Bad targets are refused with exit 2
and nothing stored.

References: scikit-learn's metrics on the evaluation's own predictions
(tests/evaluate/test_task_metrics.py checks the metric code itself); the training path
(evaluation) against the serving path (the ONNX package).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dlstack import lifecycle
from dlstack.config import init_project, load_project
from dlstack.data import DataRepo
from dlstack.package import load_package

EPOCHS = 20  # ~80 optimizer steps on 240 train rows: seconds, and enough for these targets
RNG = np.random.default_rng(7)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def regression_csv(path: Path, n: int = 300) -> Path:
    """y = 3a - 2b + c + 4 if site is "north", + noise: numbers with fractions."""
    x = RNG.normal(size=(n, 3))
    site = RNG.choice(["north", "south"], size=n)
    y = x @ [3.0, -2.0, 1.0] + 4.0 * (site == "north") + 50 + RNG.normal(size=n) * 0.3
    rows = [[*np.round(r, 4), s, round(float(v), 3)] for r, s, v in zip(x, site, y, strict=True)]
    return write_csv(path, ["a", "b", "c", "site", "y"], rows)


def multilabel_csv(path: Path, n: int = 300) -> Path:
    """Each of three classes decided by its own feature; '|' between labels, '' for none."""
    x = RNG.normal(size=(n, 4))
    held = np.stack([x[:, 0] > 0, x[:, 1] > 0.3, x[:, 2] + x[:, 3] > 0.5], axis=1)
    names = np.array(["cat", "dog", "bird"])
    rows = [[*np.round(r, 4), "|".join(names[h])] for r, h in zip(x, held, strict=True)]
    return write_csv(path, ["a", "b", "c", "d", "tags"], rows)


def make_project(root: Path, source: Path):
    project = init_project(root, str(source))
    text = (root / "dlstack.toml").read_text()
    lines = [
        f"max_epochs = {EPOCHS}" if t.startswith("max_epochs") else t for t in text.splitlines()
    ]
    (root / "dlstack.toml").write_text("\n".join(lines) + "\n")
    project = load_project(root)
    return project, lifecycle.run(project, progress=False, doctor_budget_s=None)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("regression")
    return make_project(root / "proj", regression_csv(root / "measures.csv"))


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("multilabel")
    return make_project(root / "proj", multilabel_csv(root / "tags.csv"))


def dlstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlstack", *args], capture_output=True, text=True, timeout=120
    )


# -- regression ---------------------------------------------------------------------------


def test_init_infers_a_regression_and_its_objective(regression) -> None:
    project, _ = regression
    cfg = project.config
    assert (cfg.project.task, cfg.data.target, cfg.metric.optimize) == ("regression", "y", "r2")
    assert cfg.data.table.categorical == ("site",)
    assert 'task = "regression"' in (project.root / "dlstack.toml").read_text()


def test_a_regression_beats_the_mean_and_is_scored_like_scikit_learn(regression) -> None:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    _, out = regression
    ev = out.evaluation
    assert ev.task == "regression" and ev.classes == ("y",)
    # The evaluation's numbers are the target's units: scikit-learn on the same predictions.
    y, p = ev.targets.astype(np.float64), ev.predictions.astype(np.float64)
    assert ev.metrics["r2"] == pytest.approx(r2_score(y, p), rel=1e-6)
    assert ev.metrics["rmse"] == pytest.approx(root_mean_squared_error(y, p), rel=1e-6)
    assert ev.metrics["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-6)
    assert ev.metrics["r2"] > 0.9, ev.metrics
    names = [b.name for b in out.baselines]
    assert names == ["mean", "linear_regression", "neural_net"]
    assert "mean" not in out.details.not_beaten
    assert out.details.objective.expression == "r2"


def test_a_regression_package_answers_in_the_targets_units(regression) -> None:
    _, out = regression
    spec = json.loads((out.package / "model.json").read_text())
    assert spec["task"] == "regression" and spec["labels"] == ["y"]
    assert spec["output"]["kind"] == "values"
    train_y = out.snapshot.split("train").targets
    # Trained on standardized targets (train only); the graph answers in the target's units.
    assert spec["output"]["scaling"]["mean"][0] == pytest.approx(float(train_y.mean()), rel=1e-5)
    package = load_package(out.package)
    test = out.snapshot.split("test")
    columns = out.snapshot.table.names
    cats = {c.name: c.categories for c in out.snapshot.table.columns}

    def row(raw: np.ndarray) -> dict[str, object]:
        return {
            c: (cats[c][int(v)] if cats[c] else float(v)) for c, v in zip(columns, raw, strict=True)
        }

    rows = [row(r) for r in test.features[:10]]
    served = package.predict_rows(rows)
    index = {k: j for j, k in enumerate(out.evaluation.ids)}
    for p, example in zip(served, test.ids[:10], strict=True):
        want = float(out.evaluation.predictions[index[example], 0])
        assert p.task == "regression" and p.values["y"] == pytest.approx(want, rel=1e-4, abs=1e-3)

    lines = dlstack("predict", str(out.package), "--row", json.dumps(rows[:2])).stdout.splitlines()
    answers = [float(line.split()[-1]) for line in lines if line.startswith("row ")]
    assert answers == pytest.approx([p.values["y"] for p in served[:2]], rel=1e-4)

    from dlstack.serve._app import create_app

    with TestClient(create_app([out.package])) as client:
        body = client.post("/predict", json={"row": rows[0]}).json()
        assert body["task"] == "regression" and body["confidence"] is None
        assert body["values"]["y"] == pytest.approx(served[0].values["y"], rel=1e-5)
        meta = client.get(f"/v2/models/{package.spec.name}").json()
        assert meta["parameters"]["task"] == "regression"


def test_a_changed_target_value_is_a_new_version_with_one_relabeled_example(
    regression, tmp_path: Path
) -> None:
    project, _ = regression
    source = Path(project.source)
    rows = list(csv.reader(source.open()))
    rows[5][-1] = "999.5"
    write_csv(source, rows[0], rows[1:])
    repo = DataRepo.open(project)
    try:
        before = repo.head()
        assert repo.ingest(project.source, progress=False).added == 1
        after = repo.commit("one target corrected")
        diff = repo.diff(before.id, after.id)
    finally:
        repo.close()
    assert (diff.added, diff.removed, diff.relabeled) == (0, 0, 1)
    (_, old, new), *_ = diff.examples["relabeled"]
    assert new == "[999.5]" and old != new


# -- multilabel ---------------------------------------------------------------------------


def test_init_infers_a_multilabel_and_its_objective(multilabel) -> None:
    project, out = multilabel
    cfg = project.config
    assert (cfg.project.task, cfg.data.separator, cfg.metric.optimize) == (
        "multilabel",
        "|",
        "f1_macro",
    )
    assert out.snapshot.classes == ("bird", "cat", "dog")


def test_a_multilabel_beats_label_frequency_and_is_scored_like_scikit_learn(multilabel) -> None:
    from sklearn.metrics import average_precision_score, f1_score

    _, out = multilabel
    ev = out.evaluation
    y, decided = ev.targets.astype(int), ev.predictions.astype(int)
    assert ev.metrics["f1_macro"] == pytest.approx(
        f1_score(y, decided, average="macro", zero_division=0), rel=1e-5
    )
    ap = [average_precision_score(y[:, j], ev.probabilities[:, j]) for j in range(3)]
    assert ev.metrics["map"] == pytest.approx(np.mean(ap), rel=1e-5)
    assert ev.metrics["f1_macro"] > 0.8, ev.metrics
    assert [b.name for b in out.baselines] == [
        "label_frequency",
        "logistic_regression",
        "neural_net",
    ]
    assert "label_frequency" not in out.details.not_beaten
    per_class = {r.value for r in out.details.slices if r.key == "class"}
    assert per_class == {"bird", "cat", "dog"}


def test_a_multilabel_package_gives_the_classes_above_their_threshold(multilabel) -> None:
    _, out = multilabel
    spec = json.loads((out.package / "model.json").read_text())
    assert spec["output"]["kind"] == "logits" and spec["output"]["activation"] == "sigmoid"
    package = load_package(out.package)
    test = out.snapshot.split("test")
    rows = [
        dict(zip(out.snapshot.table.names, map(float, r), strict=True)) for r in test.features[:10]
    ]
    served = package.predict_rows(rows)
    index = {k: j for j, k in enumerate(out.evaluation.ids)}
    for p, example in zip(served, test.ids[:10], strict=True):
        decided = out.evaluation.predictions[index[example]]
        assert set(p.labels) == {c for c, d in zip(out.snapshot.classes, decided, strict=True) if d}
        probs = dict(p.top_k)
        assert all((probs[c] >= 0.5) == (c in p.labels) for c in out.snapshot.classes)

    from dlstack.serve._app import create_app

    with TestClient(create_app([out.package])) as client:
        body = client.post("/predict", json={"row": rows[0]}).json()
        assert body["task"] == "multilabel" and body["labels"] == list(served[0].labels)
        assert set(body["probabilities"]) == {"bird", "cat", "dog"}
        x = package.model_input(features=test.features[:2])
        infer = client.post(
            f"/v2/models/{package.spec.name}/infer",
            json={
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "FP32",
                        "shape": list(x.shape),
                        "data": x.ravel().tolist(),
                    }
                ]
            },
        ).json()
        labels = next(o for o in infer["outputs"] if o["name"] == "label")["data"]
        assert [json.loads(v) for v in labels] == [list(p.labels) for p in served[:2]]


def test_the_report_and_the_cli_show_each_tasks_numbers(regression, multilabel) -> None:
    for (project, out), headers in (
        (regression, ("R²", "RMSE")),
        (multilabel, ("macro F1", "mAP")),
    ):
        html = out.report.read_text()
        assert all(h in html for h in headers), headers
        result = dlstack("evaluate", "-p", str(project.root), "-q")
        assert result.returncode == 0, result.stderr
        assert all(h in result.stdout for h in headers)
        tests = out.tests
        assert tests is not None and all(
            c.passed for c in tests.checks if c.kind != "latency_regression"
        )


# -- bad targets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "task", "says"),
    [
        ([["1", "2.5"], ["2", "nan"], ["3", "4.5"]], "regression", ["t.csv:2", "'nan'", "finite"]),
        (
            [["1", "2.5"], ["2", "high"], ["3", "4.5"]],
            "regression",
            ["t.csv:2", "'high'", "finite"],
        ),
        (
            [["1", "cat|dog"], ["2", "cow"], ["3", ""]],
            "multilabel",
            ["t.csv:2", "'cow'", "cat, dog", "[data] classes"],
        ),
    ],
)
def test_a_bad_target_is_refused_with_exit_2_and_nothing_stored(
    tmp_path: Path, rows: list[list[str]], task: str, says: list[str]
) -> None:
    source = write_csv(tmp_path / "t.csv", ["x", "y"], rows)
    root = tmp_path / "p"
    init_project(root, str(source))
    text = (root / "dlstack.toml").read_text()
    lines = [f'task = "{task}"' if t.startswith("task =") else t for t in text.splitlines()]
    if task == "multilabel":
        lines.insert(lines.index("[data]") + 1, 'classes = ["cat", "dog"]')
    (root / "dlstack.toml").write_text("\n".join(lines) + "\n")
    out = dlstack("data", "ingest", "-p", str(root))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    for part in says:
        assert part in out.stderr
    repo = DataRepo.open(load_project(root))
    try:
        staged = repo.query("SELECT count(*) AS n FROM staged").to_pylist()[0]["n"]
    finally:
        repo.close()
    assert staged == 0 and not list((root / ".dlstack" / "objects").rglob("*.*"))


# -- real datasets and the doctor (slow) ------------------------------------------------------


def _bench():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import real_datasets

    return real_datasets


@pytest.mark.slow
def test_a_multilabel_table_reaches_one_vs_rest_logistic_regression(tmp_path: Path) -> None:
    row = _bench().multilabel_row(tmp_path)  # make_multilabel_classification, 5 classes
    assert row["dlstack"] >= row["reference"], row


@pytest.mark.slow
def test_diabetes_regression_is_far_above_the_mean_and_near_linear_regression(
    tmp_path: Path,
) -> None:
    # Measured (bench/real_datasets.py --only targets): R^2 0.257 against 0.341 for
    # LinearRegression on the same 44 test rows; the bar (at least linear
    # regression's) is not met by the default MLP, and the release gate says so ("does
    # not beat linear_regression"). This holds the part that is met.
    row = _bench().diabetes_row(tmp_path)
    assert row["dlstack"] > 0.2 and row["dlstack"] >= row["reference"] - 0.1, row


@pytest.mark.slow
def test_the_doctor_examines_a_regression_and_a_multilabel_project(regression, multilabel) -> None:
    from dlstack.doctor import examine_project

    for project, out in (regression, multilabel):
        report, html = examine_project(project, out.snapshot, budget_s=20)
        assert html.is_file()
        loss = report.settings.get("loss") or ""
        want = "mean squared error" if project.config.project.task == "regression" else "binary"
        assert want in str(report.to_dict()), loss
