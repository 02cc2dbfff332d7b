"""The quality bar of datasets of other shapes, each through `dlstack run` (no doctor).

    python bench/real_datasets.py [--skip-digits]

Prints a table and writes bench/results/real_datasets.json. Each row compares dlstack's
model with a reference measured in the same run on the same split:
- scikit-learn tables from a CSV (breast cancer: 2 classes, wine: 3 classes) against a
  standardized logistic regression (target: within 1 point or better);
- diabetes (scikit-learn, regression of a whole-number target: init infers regression)
  against scikit-learn's linear regression on the same split (target: R^2 at least its);
- a multilabel table (scikit-learn's make_multilabel_classification, 5 classes, labels
  written "a|b") against one-vs-rest logistic regression (target: macro F1 at least its);
- the color-shapes images (tests/color_shapes.py: only the hue decides the class) in
  color against the same snapshot turned gray (target: color >= 0.95, gray far below);
- the digits demo (target: >= 0.97), unless --skip-digits.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from dlstack import lifecycle  # noqa: E402
from dlstack.config import init_project, load_project  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def sklearn_csv(name: str, path: Path) -> Path:
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    names = [n.replace(" ", "_").replace("/", "_") for n in d.feature_names]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "label"])
        for x, y in zip(d.data, d.target, strict=True):
            writer.writerow([*x, d.target_names[y]])
    return path


def run(root: Path, source: str) -> tuple[object, float]:
    init_project(root, source)
    started = time.perf_counter()
    out = lifecycle.run(load_project(root), progress=False, doctor_budget_s=None)
    return out, time.perf_counter() - started


def table_row(tmp: Path, name: str) -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    out, seconds = run(tmp / name, str(sklearn_csv(name, tmp / f"{name}.csv")))
    snap = out.snapshot  # type: ignore[attr-defined]
    train, test = snap.split("train"), snap.split("test")
    scaler = StandardScaler().fit(train.features)
    ref = LogisticRegression(max_iter=5000).fit(scaler.transform(train.features), train.labels)
    return {
        "dataset": f"{name} (table)",
        "n_test": len(test),
        "dlstack": out.evaluation.metrics["accuracy"],  # type: ignore[attr-defined]
        "reference": float(ref.score(scaler.transform(test.features), test.labels)),
        "reference_name": "standardized logistic regression",
        "seconds": seconds,
    }


def diabetes_row(tmp: Path) -> dict[str, object]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    d = load_diabetes()
    source = tmp / "diabetes.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*d.feature_names, "progression"])
        for x, y in zip(d.data, d.target, strict=True):
            writer.writerow([*x, y])
    out, seconds = run(tmp / "diabetes", str(source))
    snap = out.snapshot  # type: ignore[attr-defined]
    train, test = snap.split("train"), snap.split("test")
    ref = LinearRegression().fit(train.features, train.targets.astype(np.float64))
    return {
        "dataset": "diabetes (regression, R^2)",
        "n_test": len(test),
        "dlstack": out.evaluation.metrics["r2"],  # type: ignore[attr-defined]
        "reference": float(r2_score(test.targets, ref.predict(test.features))),
        "reference_name": "scikit-learn LinearRegression",
        "seconds": seconds,
    }


def multilabel_row(tmp: Path) -> dict[str, object]:
    from sklearn.datasets import make_multilabel_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = make_multilabel_classification(
        n_samples=1000, n_features=20, n_classes=5, n_labels=2, random_state=0
    )
    names = np.array(["a", "b", "c", "d", "e"])
    source = tmp / "multilabel.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*(f"x{j}" for j in range(x.shape[1])), "tags"])
        for row, held in zip(x, y.astype(bool), strict=True):
            writer.writerow([*row, "|".join(names[held])])
    out, seconds = run(tmp / "multilabel", str(source))
    snap = out.snapshot  # type: ignore[attr-defined]
    train, test = snap.split("train"), snap.split("test")
    scaler = StandardScaler().fit(train.features)
    ref = OneVsRestClassifier(LogisticRegression(max_iter=5000))
    ref.fit(scaler.transform(train.features), train.targets.astype(int))
    predicted = ref.predict(scaler.transform(test.features))
    return {
        "dataset": "multilabel table (macro F1)",
        "n_test": len(test),
        "dlstack": out.evaluation.metrics["f1_macro"],  # type: ignore[attr-defined]
        "reference": float(
            f1_score(test.targets.astype(int), predicted, average="macro", zero_division=0)
        ),
        "reference_name": "one-vs-rest LogisticRegression",
        "seconds": seconds,
    }


def color_row(tmp: Path) -> dict[str, object]:
    import torch
    from PIL import Image

    from color_shapes import write_color_shapes
    from dlstack.data import Snapshot
    from dlstack.train import fit

    source = write_color_shapes(tmp / "shapes", per_class=100)
    out, seconds = run(tmp / "color", str(source))
    s = out.snapshot  # type: ignore[attr-defined]
    gray = np.stack([np.asarray(Image.fromarray(np.asarray(im)).convert("L")) for im in s.images])
    gray_snap = Snapshot(s.version, s.classes, gray, s.labels, s.splits, s.ids)
    result = fit(load_project(tmp / "color"), gray_snap, progress=False)
    test = gray_snap.split("test")
    with torch.no_grad():
        x = torch.from_numpy(result.normalization.model_input(test))
        predicted = result.model(x).argmax(1).numpy()
    return {
        "dataset": "color shapes (RGB, mixed sizes)",
        "n_test": len(test),
        "dlstack": out.evaluation.metrics["accuracy"],  # type: ignore[attr-defined]
        "reference": float((predicted == test.labels).mean()),
        "reference_name": "the same model on the snapshot turned gray",
        "seconds": seconds,
    }


def digits_row(tmp: Path) -> dict[str, object]:
    out, seconds = run(tmp / "digits", "builtin:digits")
    return {
        "dataset": "digits (demo)",
        "n_test": out.evaluation.n,  # type: ignore[attr-defined]
        "dlstack": out.evaluation.metrics["accuracy"],  # type: ignore[attr-defined]
        "reference": 0.97,
        "reference_name": "the demo's bar",
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument(
        "--only", choices=("tables", "targets", "color"), help="run one group of rows"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "tables"):
            for name in ("breast_cancer", "wine"):
                rows.append(table_row(Path(tmp), name))
        if args.only in (None, "targets"):
            rows.append(diabetes_row(Path(tmp)))
            rows.append(multilabel_row(Path(tmp)))
        if args.only in (None, "color"):
            rows.append(color_row(Path(tmp)))
        if not args.skip_digits and args.only is None:
            rows.append(digits_row(Path(tmp)))
    print(f"{'dataset':<32} {'n':>5} {'dlstack':>8} {'reference':>10}  reference is")
    for r in rows:
        print(
            f"{r['dataset']:<32} {r['n_test']:>5} {r['dlstack']:>8.4f} {r['reference']:>10.4f}"
            f"  {r['reference_name']} ({r['seconds']:.0f} s)"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (
        "real_datasets.json" if args.only is None else f"real_datasets_{args.only}.json"
    )
    out.write_text(json.dumps({"rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
