"""Calibrate the doctor's label-noise check on data with known noise rates.

    .venv/bin/python bench/doctor_label_noise.py          # the calibration table
    .venv/bin/python bench/doctor_label_noise.py --zoo    # and the zoo's cases (false alarms)
    .venv/bin/python bench/doctor_label_noise.py --zoo memorizer   # zoo cases by name

Labels are flipped to another class, uniformly, at 0, 10, 20, 33 and 40% in train and
val alike (a labeling process that is often wrong), and at 33% in train only, on three
data sets (8x8 digits with an MLP, 10 overlapping Gaussian classes with an MLP, 4-class
make_classification with an MLP). For each, the doctor's numbers: its estimate (the
smaller of the next two), the calibrated confident-joint estimate (cleanlab's
estimate_joint, computed from the cross-fitted out-of-fold probabilities), the
disagreement on the model's most confident quarter and that quarter's mean confidence,
train vs val issue fractions, and the label-noise finding's severity. Writes
bench/results/doctor_label_noise.json (and .md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

ROOT = Path(__file__).resolve().parents[1]
RATES = (0.0, 0.1, 0.2, 0.33, 0.4)


def _mlp(d_in: int, d_out: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, d_out))


def _data(name: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """1500 examples, standardized: 900 train, 600 val."""
    if name == "digits8":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, c = torch.tensor(d.data, dtype=torch.float32), torch.tensor(d.target), 10
    elif name == "gauss10":
        g = torch.Generator().manual_seed(0)
        centers = torch.randn(10, 16, generator=g) * 1.2
        y = torch.randint(0, 10, (1500,), generator=g)
        x, c = centers[y] + torch.randn(1500, 16, generator=g), 10
    else:
        from sklearn.datasets import make_classification

        xs, ys = make_classification(
            n_samples=1500, n_features=20, n_informative=8, n_classes=4, random_state=0
        )
        x, y, c = torch.tensor(xs, dtype=torch.float32), torch.tensor(ys), 4
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))[:1500]
    x, y = x[order], y[order]
    x = (x - x[:900].mean(0)) / (x[:900].std(0) + 1e-8)
    return x, y, c


def _flip(y: torch.Tensor, rate: float, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = y.clone()
    rows = torch.randperm(len(y), generator=g)[: round(rate * len(y))]
    y[rows] = (y[rows] + torch.randint(1, c, (len(rows),), generator=g)) % c
    return y


def _row(case: str, rate: float | None, where: str, report) -> dict:
    ev = report.evidence.get("label_noise") or {}
    f = [x for x in report.findings if x.code == "label-noise"]
    return {
        "case": case,
        "true_rate": rate,
        "noisy": where,
        "estimate": ev.get("estimated_noise"),
        "cl_estimate": ev.get("confident_joint_estimate"),
        "confident_disagreement": ev.get("confident_disagreement"),
        "top_confidence": ev.get("top_confidence"),
        "train_issues": ev.get("train_issue_fraction"),
        "val_issues": ev.get("val_issue_fraction"),
        "finding": f[0].severity if f else "-",
        "val_error": None
        if report.bias_variance is None
        else round(float(report.bias_variance.errors["val"] or 0), 4),
    }


def main(zoo: bool, words: list[str]) -> None:
    from dlstack.doctor import examine

    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    for name in ("digits8", "gauss10", "cls4"):
        x, y, c = _data(name)
        runs = [(r, "train+val") for r in RATES] + [(0.33, "train")]
        for rate, where in runs:
            yt = _flip(y[:900], rate, c, 5)
            yv = _flip(y[900:], rate, c, 6) if where == "train+val" else y[900:]
            report = examine(
                _mlp(x.shape[1], c),
                TensorDataset(x[:900], yt),
                TensorDataset(x[900:], yv),
                budget_s=120,
                lr=1e-3,
            )
            rows.append(_row(name, rate, where, report))
            print(json.dumps(rows[-1]), flush=True)
    if zoo:
        sys.path.insert(0, str(ROOT / "tests" / "doctor_zoo"))
        from zoo_cases import all_cases

        for case in all_cases():
            if words and not any(w in case.name for w in words):
                continue
            args = case.build()
            report = examine(args.pop("model"), args.pop("train"), args.pop("val"), **args)
            if report.evidence.get("label_noise"):
                row = _row(case.name, None, "zoo", report)
                row["expects_noise"] = "label-noise" in case.expect
                rows.append(row)
                print(json.dumps(rows[-1]), flush=True)
    print(f"{time.perf_counter() - start:.0f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor_label_noise.json").write_text(json.dumps(rows, indent=2))
    md = [
        "| case | true rate | noisy | estimate | confident joint | confident-quarter "
        "disagreement | its confidence | train issues | val issues | val error | finding |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    md += [
        f"| {r['case']} | {r['true_rate']} | {r['noisy']} | {r['estimate']} | "
        f"{r['cl_estimate']} | {r['confident_disagreement']} | {r['top_confidence']} | "
        f"{r['train_issues']} | {r['val_issues']} | {r['val_error']} | {r['finding']} |"
        for r in rows
    ]
    (out / "doctor_label_noise.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main("--zoo" in sys.argv, [a for a in sys.argv[1:] if not a.startswith("--")])
