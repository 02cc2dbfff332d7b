"""The line reader's quality bar: CER by line length, the confusions left, and speed.

    python bench/lines.py PROJECT [--lines 200] [--repeats 5]

PROJECT is a trained and exported lines project (`dlstack init P --from builtin:lines`,
then `dlstack run -p P`, or train, evaluate and export). From its newest package and its
test split this measures, in one run:

- CER, WER and exact lines on the test split by the package (onnxruntime, greedy
  decoding, each line at its own width, as serving reads it), per length bucket, and the
  most frequent character confusions;
- latency per line at batch 1 (p50/p95 over ``--lines`` test lines, each at its width);
- throughput at batch 32: lines per second over batches of 32 test lines padded to the
  batch's widest, as a KServe/Triton client sends them.

The training time and the val CER per epoch come from the run record. Prints a table and
writes bench/results/lines.json. Machine noise moves absolute times; compare within a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

RESULTS = Path(__file__).parent / "results"
BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--lines", type=int, default=200, help="lines timed at batch 1")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the batch-32 set")
    args = parser.parse_args()

    from dlstack.config import load_project
    from dlstack.data import snapshot_for
    from dlstack.inputs import line_groups, pad_widths, to_model_input
    from dlstack.metrics import transcription_metrics
    from dlstack.package import load_package
    from dlstack.targets import ctc_text
    from dlstack.train import read_run
    from dlstack.train._runs import find_trained_run

    project = load_project(args.project)
    _, snap = snapshot_for(project, progress=False)
    name_dir = project.models_dir / project.config.project.name
    package = load_package(
        max(name_dir.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    )
    spec = package.spec.input
    test = snap.split("test")
    lines = [np.asarray(img)[:, : int(w)] for img, w in zip(test.images, test.widths, strict=True)]
    truth = [ctc_text(row, snap.classes) for row in test.y]

    def run_lines(group: list[np.ndarray]) -> list[str]:
        out: dict[int, str] = {}
        for rows, batch in line_groups(group):
            x = to_model_input(batch, spec.norm.mean, spec.norm.std)
            answers = package.answers(package.scores(package.logits(x)))
            out |= {int(r): a.label for r, a in zip(rows, answers, strict=True)}
        return [out[i] for i in range(len(group))]

    read = run_lines(lines)
    scores = transcription_metrics(truth, read)

    for line in lines[:3]:  # warm up onnxruntime
        run_lines([line])
    latencies = []
    for line in lines[: args.lines]:
        start = time.perf_counter()
        run_lines([line])
        latencies.append(1000 * (time.perf_counter() - start))

    batches = [
        to_model_input(pad_widths(lines[i : i + BATCH])[0], spec.norm.mean, spec.norm.std)
        for i in range(0, len(lines) - BATCH + 1, BATCH)
    ]
    package.logits(batches[0])
    start = time.perf_counter()
    for _ in range(args.repeats):
        for x in batches:
            package.answers(package.scores(package.logits(x)))
    seconds = time.perf_counter() - start
    throughput = args.repeats * BATCH * len(batches) / seconds

    run = read_run(find_trained_run(project.runs_dir))
    history = [round(float(h.get("val_cer", float("nan"))), 4) for h in run.history]
    result = {
        "project": str(args.project),
        "package": f"{package.spec.name} v{package.spec.version}",
        "test_lines": len(lines),
        "cer": scores.cer,
        "wer": scores.wer,
        "line_accuracy": scores.line_accuracy,
        "cer_by_length": {k: {"cer": c, "lines": n} for k, (c, n) in scores.cer_by_length.items()},
        "confusions": [{"true": t, "read": r, "times": n} for t, r, n in scores.confusions],
        "latency_ms_batch1": {
            "p50": float(np.percentile(latencies, 50)),
            "p95": float(np.percentile(latencies, 95)),
            "lines": len(latencies),
        },
        "throughput_lines_per_s_batch32": throughput,
        "train_seconds": run.train_seconds,
        "epochs": len(run.history),
        "val_cer_per_epoch": history,
        "training": {
            k: run.config.get("train", {}).get(k) for k in ("lr", "batch_size", "max_epochs")
        }
        if isinstance(run.config, dict)
        else {},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lines.json").write_text(json.dumps(result, indent=2))

    print(
        f"{result['package']}: {len(lines)} test lines, trained {run.train_seconds:.0f} s "
        f"({len(run.history)} epochs)"
    )
    print(
        f"{'CER':>24} {scores.cer:.4f}   WER {scores.wer:.4f}   "
        f"exact lines {scores.line_accuracy:.1%}"
    )
    print(f"{'line length':>24} {'lines':>6} {'CER':>8}")
    for bucket, (cer, n) in scores.cer_by_length.items():
        print(f"{bucket:>24} {n:>6} {cer:>8.4f}")
    print(
        "confusions (true -> read, times): "
        + ", ".join(f"{t or '∅'!r}->{r or '∅'!r} {n}" for t, r, n in scores.confusions[:8])
    )
    lat = result["latency_ms_batch1"]
    print(f"latency per line, batch 1: p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms")
    print(f"throughput, batch {BATCH}: {throughput:,.0f} lines/s")
    print(f"val CER per epoch: {history}")
    print(f"wrote {RESULTS / 'lines.json'}")


if __name__ == "__main__":
    main()
