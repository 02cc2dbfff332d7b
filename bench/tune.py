"""Search strategies on one fixed problem: trials to reach a target, and pruning's cost.

    python bench/tune.py [--trials 30] [--seeds 5] [--out DIR]

The problem: an MLP on builtin:digits8, 2 epochs per trial, a space of 4 parameters
(lr over 4 decades, width, weight decay over 4 decades, dropout). For each strategy
(random, coarse-to-fine in 3 rounds, bayes = Optuna TPE) and each seed, one study of
``--trials`` real `dlstack tune` trials. The target is within 1% of the best val accuracy
any study found; for each study, the number of trials until its best-so-far reaches it
(never: counted as trials + 1). Then, on one seed: seconds per trial with and without the
median pruner (random search, 4 epochs), and 2 local workers against 1 on 40 trials.
Prints a table and writes bench/results/tune.json. Machine noise moves
absolute times; compare within a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

RESULTS = Path(__file__).parent / "results"
SPACE = """
[tune.space]
lr = "log-uniform 1e-5 1e-1"
width = "int 16 256"
weight_decay = "log-uniform 1e-6 1e-2"
dropout = "uniform 0 0.5"
"""
STRATEGIES = ("random", "coarse-to-fine", "bayes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="project dir (default: temp)")
    args = parser.parse_args()

    from dlstack.config import init_project, load_project
    from dlstack.data import DataRepo, snapshot_for
    from dlstack.tune import settle, tune

    root = args.out or Path(tempfile.mkdtemp(prefix="dlstack-bench-tune-"))
    init_project(root, "builtin:digits8", max_epochs=2)
    toml = root / "dlstack.toml"
    toml.write_text(
        toml.read_text().replace('architecture = "auto"', 'architecture = "mlp"') + SPACE
    )
    project = load_project(root)
    repo = DataRepo.open(project)
    repo.ingest(project.source, progress=False)
    repo.commit("digits8")
    repo.close()
    _, snapshot = snapshot_for(project, progress=False)

    curves: dict[str, list[list[float]]] = {s: [] for s in STRATEGIES}
    seconds: dict[str, float] = {}
    for strategy in STRATEGIES:
        started = time.perf_counter()
        for seed in range(args.seeds):
            study = settle(
                project, strategy=strategy, trials=args.trials, seed=seed, rounds=3, top_k=3
            )
            result = tune(study, snapshot, study=f"{strategy}-{seed}")
            values = [r["value"] for r in sorted(result.rows, key=lambda r: r["number"])]
            curves[strategy].append(values)
            print(f"{strategy:>15} seed {seed}: best {result.best['value']:.4f}", flush=True)
        seconds[strategy] = time.perf_counter() - started

    best = max(max(v) for runs in curves.values() for v in runs)
    target = 0.99 * best
    rows = []
    for strategy in STRATEGIES:
        needed = [_trials_to(v, target, args.trials) for v in curves[strategy]]
        rows.append(
            {
                "strategy": strategy,
                "median_trials_to_target": statistics.median(needed),
                "trials_to_target": needed,
                "reached": sum(n <= args.trials for n in needed),
                "mean_best": statistics.mean(max(v) for v in curves[strategy]),
                "seconds_per_trial": seconds[strategy] / (args.seeds * args.trials),
            }
        )

    pruning = _pruning(project, snapshot, settle, tune)
    workers = _workers(project, snapshot, settle, tune)
    report = {
        "problem": "mlp on builtin:digits8, 2 epochs per trial, 4 parameters",
        "trials": args.trials,
        "seeds": args.seeds,
        "best": best,
        "target": target,
        "strategies": rows,
        "pruning": pruning,
        "workers": workers,
    }
    _print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune.json").write_text(json.dumps(report, indent=2))


def _trials_to(values: list[float], target: float, trials: int) -> int:
    best = float("-inf")
    for i, v in enumerate(values, start=1):
        best = max(best, v if v is not None else float("-inf"))
        if best >= target:
            return i
    return trials + 1


def _pruning(project, snapshot, settle, tune) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for pruner in ("none", "median"):
        study = settle(project, strategy="random", trials=12, pruner=pruner, max_epochs=4)
        started = time.perf_counter()
        result = tune(study, snapshot, study=f"pruning-{pruner}")
        out[pruner] = {
            "seconds_per_trial": (time.perf_counter() - started) / 12,
            "pruned": result.states.get("PRUNED", 0),
            "best": result.best["value"] if result.best else None,
        }
    return out


def _workers(project, snapshot, settle, tune) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for n in (1, 2):
        study = settle(project, strategy="random", trials=40)
        started = time.perf_counter()
        tune(study, snapshot, study=f"workers-{n}", workers=n)
        out[str(n)] = {"seconds": time.perf_counter() - started}
    out["speedup_2_vs_1"] = out["1"]["seconds"] / out["2"]["seconds"]
    return out


def _print(report: dict) -> None:
    print(f"\ntarget: val_acc >= {report['target']:.4f} (99% of the best, {report['best']:.4f})")
    print(f"{'strategy':>15} {'median trials':>14} {'reached':>8} {'mean best':>10} {'s/trial':>8}")
    for r in report["strategies"]:
        print(
            f"{r['strategy']:>15} {r['median_trials_to_target']:>14} "
            f"{r['reached']:>4}/{report['seeds']:<3} {r['mean_best']:>10.4f} "
            f"{r['seconds_per_trial']:>8.2f}"
        )
    p = report["pruning"]
    print(
        f"\npruning (random, 12 trials, 4 epochs): {p['none']['seconds_per_trial']:.2f} s/trial "
        f"without, {p['median']['seconds_per_trial']:.2f} with median "
        f"({p['median']['pruned']} pruned; best {p['none']['best']:.4f} vs "
        f"{p['median']['best']:.4f})"
    )
    w = report["workers"]
    print(
        f"workers (40 trials): 1 worker {w['1']['seconds']:.1f} s, 2 workers "
        f"{w['2']['seconds']:.1f} s, speed-up {w['speedup_2_vs_1']:.2f}x"
    )


if __name__ == "__main__":
    main()
