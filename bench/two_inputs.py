"""The quality bar of several inputs: the two-input model against each one-input model.

    python bench/two_inputs.py [--examples 1200] [--epochs 30] [--seeds 0 1 2]

The dataset (tests/two_input_digits.py): a built-in 8x8 digit's image, a ``shift``
column (0 or 5) and a ``noise`` column; the label is (digit + shift) mod 10. Three
projects are made of the same manifest with ``dlstack init``: the image and both columns
(architecture "auto" builds the fusion model), the image alone ("auto": LeNet) and the
columns alone ("auto": an MLP). They have the same examples in the same splits (the
manifest's ``split`` column), the same optimizer, learning rate, batch size and epochs,
and are scored on the same test examples. Target: the two-input model beats each one by
a wide margin (the image alone can be right about half the time at best, the columns
alone about one time in ten).

Prints a table and writes bench/results/two_inputs.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from dlstack.config import init_project, load_project  # noqa: E402
from dlstack.data import snapshot_for  # noqa: E402
from two_input_digits import write_two_input_digits  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SPLIT = (0.7, 0.15, 0.15)
VARIANTS = {  # name: the manifest's columns the project reads
    "both": ["path", "shift", "noise", "label", "split"],
    "image": ["path", "label", "split"],
    "features": ["shift", "noise", "label", "split"],
}


def _subset(manifest: Path, columns: list[str], out: Path) -> Path:
    with manifest.open() as f:
        rows = list(csv.DictReader(f))
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return out


def train_variant(root: Path, manifest: Path, name: str, epochs: int, seed: int) -> dict:
    """Init, ingest, commit and fit one project; its test accuracy and what it trained."""
    from dlstack.data import DataRepo
    from dlstack.evaluate import evaluate
    from dlstack.train import fit

    source = _subset(manifest, VARIANTS[name], manifest.parent / f"{name}.csv")
    init_project(root / name, str(source), max_epochs=epochs)
    text = (root / name / "dlstack.toml").read_text().replace("seed = 0", f"seed = {seed}")
    (root / name / "dlstack.toml").write_text(text)
    project = load_project(root / name)
    repo = DataRepo.open(project)
    try:
        repo.ingest(str(source), progress=False)
        repo.commit(name)
    finally:
        repo.close()
    _, snapshot = snapshot_for(project, progress=False)
    started = time.perf_counter()
    result = fit(project, snapshot, progress=False)
    seconds = time.perf_counter() - started
    scored = evaluate(result.model, snapshot, result.normalization, split="test")
    return {
        "accuracy": float(scored.metrics["accuracy"]),
        "architecture": result.architecture,
        "test_examples": len(scored.targets),
        "train_examples": snapshot.counts()["train"],
        "fit_seconds": round(seconds, 1),
    }


def compare_inputs(root: Path, *, examples: int, epochs: int, seed: int) -> dict[str, float]:
    """Test accuracy of each variant (the slow test's entry point)."""
    manifest = write_two_input_digits(root / "data", examples, seed=seed, split=SPLIT)
    return {
        name: train_variant(root, manifest, name, epochs, seed)["accuracy"] for name in VARIANTS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = write_two_input_digits(
                Path(tmp) / "data", args.examples, seed=seed, split=SPLIT
            )
            for name in VARIANTS:
                row = train_variant(Path(tmp), manifest, name, args.epochs, seed)
                runs.append({"seed": seed, "inputs": name, **row})
                print(f"seed {seed} {name:8s} {row}", flush=True)
    summary = {}
    for name in VARIANTS:
        accs = [r["accuracy"] for r in runs if r["inputs"] == name]
        summary[name] = {"mean": sum(accs) / len(accs), "min": min(accs), "max": max(accs)}
    beats = summary["both"]["min"] > max(summary["image"]["max"], summary["features"]["max"])
    print()
    print(f"{'inputs':10s} {'architecture':12s} {'test accuracy (mean, min-max)':32s}")
    for name in VARIANTS:
        arch = next(r["architecture"] for r in runs if r["inputs"] == name)
        s = summary[name]
        print(f"{name:10s} {arch:12s} {s['mean']:.3f} ({s['min']:.3f}-{s['max']:.3f})")
    print(f"\ntwo-input model beats each one-input model on every seed: {beats}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "two_inputs.json"
    out.write_text(
        json.dumps(
            {
                "examples": args.examples,
                "epochs": args.epochs,
                "split": SPLIT,
                "seeds": args.seeds,
                "runs": runs,
                "summary": summary,
                "both_beats_each": beats,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
