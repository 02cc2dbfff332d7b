"""How long one doctor examination of a small CNN on `digits` takes (target: <= 60 s on 2
CPU cores with the default budget).

    .venv/bin/python bench/doctor_speed.py [--budget 120] [--threads N]

dlstack's LeNet on the 5,000 bundled MNIST digits (4,000 train, 500 val, 500 test), with
train-only normalization, exactly as ``examine_project`` sets it up. Prints a table of the
steps' seconds and writes bench/results/doctor_speed.json (and .md).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from dlstack.data import Snapshot
    from dlstack.doctor import examine
    from dlstack.inputs import channel_stats, to_model_input
    from dlstack.models import build_model

    snapshot = Snapshot.from_builtin("digits")
    train = snapshot.split("train")
    mean, std = channel_stats(train.images)

    def dataset(name: str) -> TensorDataset:
        s = snapshot.split(name)
        return TensorDataset(
            torch.from_numpy(to_model_input(s.images, mean, std)), torch.from_numpy(s.labels)
        )

    torch.manual_seed(0)
    model, name = build_model("lenet", (1, 28, 28), 10)
    start = time.perf_counter()
    report = examine(
        model, dataset("train"), dataset("val"), test=dataset("test"), budget_s=args.budget
    )
    wall = time.perf_counter() - start
    rows = [(k, round(v, 2)) for k, v in report.seconds.items()]
    print(f"{'step':14} seconds")
    for k, v in rows:
        print(f"{k:14} {v:7.2f}")
    print(
        f"\nwall {wall:.1f} s (budget {args.budget:.0f} s, {torch.get_num_threads()} threads); "
        f"healthy={report.healthy}; findings: {report.codes or '-'}"
    )
    result = {
        "model": name,
        "data": "builtin:digits",
        "budget_s": args.budget,
        "wall_s": round(wall, 2),
        "threads": torch.get_num_threads(),
        "cpu_count": __import__("os").cpu_count(),
        "machine": platform.machine(),
        "healthy": report.healthy,
        "codes": report.codes,
        "seconds": dict(rows),
        "training": {k: v for k, v in report.evidence.get("training", {}).items() if k != "epochs"},
        "errors": report.bias_variance.errors if report.bias_variance else None,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor_speed.json").write_text(json.dumps(result, indent=2))
    md = [
        "| step | seconds |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
        f"| **wall** | **{wall:.1f}** |",
    ]
    (out / "doctor_speed.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
