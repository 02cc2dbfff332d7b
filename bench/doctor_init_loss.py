"""The initial loss of dlstack's zoo models (models/_zoo.py) on healthy data: where the
doctor's bad-init-loss line sits, and why.

    .venv/bin/python bench/doctor_init_loss.py

For each architecture (MLP, LeNet, ResNet, He-initialized by build_model) on standardized
inputs (8x8 digits, 28x28 MNIST digits, and Gaussian data with 3 and 100 classes), ten
seeds each: the mean cross-entropy over 512 train rows of a fresh model, as the doctor's
initial-loss check measures it, against chance (ln C). Writes
bench/results/doctor_init_loss.json (and .md).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(10)
ROWS = 512


def datasets() -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    from sklearn.datasets import load_digits

    from dlstack.data import Snapshot
    from dlstack.inputs import channel_stats, to_model_input

    out = {}
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None]
    x = (x - x.mean()) / x.std()
    out["digits8"] = (x[:ROWS], torch.tensor(d.target[:ROWS]), 10)
    snap = Snapshot.from_builtin("digits").split("train")
    mean, std = channel_stats(snap.images)
    x28 = torch.from_numpy(to_model_input(snap.images[:ROWS], mean, std))
    out["mnist28"] = (x28, torch.from_numpy(snap.labels[:ROWS]).long(), 10)
    g = torch.Generator().manual_seed(0)
    for c in (3, 100):
        y = torch.randint(0, c, (ROWS,), generator=g)
        centers = torch.randn(c, 1, 8, 8, generator=g)
        out[f"gauss{c}"] = (centers[y] + torch.randn(ROWS, 1, 8, 8, generator=g), y, c)
    return out


def main() -> None:
    from dlstack.models import build_model

    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    for data, (x, y, c) in datasets().items():
        for arch in ("mlp", "lenet", "resnet"):
            losses = []
            for seed in SEEDS:
                torch.manual_seed(seed)
                model, _ = build_model(arch, tuple(x.shape[1:]), c)
                model.train()  # as the doctor's fresh copies are
                with torch.no_grad():
                    losses.append(float(F.cross_entropy(model(x), y)))
            chance = math.log(c)
            rows.append(
                {
                    "data": data,
                    "arch": arch,
                    "classes": c,
                    "chance": round(chance, 3),
                    "mean": round(float(np.mean(losses)), 3),
                    "max": round(max(losses), 3),
                    "max_ratio": round(max(losses) / chance, 3),
                    "max_excess": round(max(losses) - chance, 3),
                }
            )
            r = rows[-1]
            print(
                f"{data:8} {arch:6} C={c:<4} chance {chance:5.2f}  mean {r['mean']:6.2f}  "
                f"max {r['max']:6.2f}  max/chance {r['max_ratio']:5.2f}  "
                f"max-chance {r['max_excess']:5.2f}",
                flush=True,
            )
    print(f"{time.perf_counter() - start:.1f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor_init_loss.json").write_text(json.dumps(rows, indent=2))
    md = ["| data | arch | C | ln C | mean | max | max / ln C | max - ln C |"]
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    md += [
        f"| {r['data']} | {r['arch']} | {r['classes']} | {r['chance']} | {r['mean']} | "
        f"{r['max']} | {r['max_ratio']} | {r['max_excess']} |"
        for r in rows
    ]
    (out / "doctor_init_loss.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
