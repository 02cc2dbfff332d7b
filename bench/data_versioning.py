"""Benchmark the data core on this machine: ingest, commit, diff, checkout.

    python bench/data_versioning.py [--sizes 10000 30000 100000] [--ingest 20000]

Prints a table and writes bench/results/data_versioning.json. Each figure is compared in the
same run with the plain operation it replaces (ratios hold on noisy machines, absolute
times don't):
- ingest (objects/s) vs a plain file copy of the same files (target >= 0.3 of copy speed);
- commit of an N-example version (target <= 10 s at 100k on sqlite);
- diff of two N-example versions (target <= 2 s at 100k);
- checkout (MB/s) vs reading the same objects straight from the store's files.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dlstack.config import init_project
from dlstack.data import DataRepo

RESULTS = Path(__file__).parent / "results"


def make_images(root: Path, n: int, seed: int) -> list[Path]:
    """n distinct 8x8 grayscale PNGs in 10 class folders."""
    rng = np.random.default_rng(seed)
    paths = []
    for c in range(10):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(buf, format="PNG")
        path = root / str(i % 10) / f"{seed}-{i}.png"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench_ingest(tmp: Path, n: int) -> dict[str, float]:
    src = tmp / "ingest-src"
    paths = make_images(src, n, seed=1)
    copy_dir = tmp / "copy"
    copy_dir.mkdir()

    def copy_all() -> None:
        for i, p in enumerate(paths):
            shutil.copyfile(p, copy_dir / f"{i}.png")

    _, copy_s = timed(copy_all)
    project = init_project(tmp / "ingest-proj", "builtin:digits8")
    repo = DataRepo.open(project)
    _, ingest_s = timed(lambda: repo.ingest(str(src), progress=False))
    repo.close()
    return {
        "n": n,
        "copy_objects_per_s": n / copy_s,
        "ingest_objects_per_s": n / ingest_s,
        "ratio": copy_s / ingest_s,
    }


def bench_versions(tmp: Path, n: int) -> dict[str, float]:
    src = tmp / f"src-{n}"
    make_images(src, n, seed=2)
    project = init_project(tmp / f"proj-{n}", "builtin:digits8")
    repo = DataRepo.open(project)
    repo.ingest(str(src), progress=False)
    v1, commit_s = timed(lambda: repo.commit("base"))
    # A second version: relabel 1% of the examples by ingesting them under another class.
    relabel = tmp / f"relabel-{n}"
    moved = sorted((src / "0").iterdir())[: n // 100]
    (relabel / "1").mkdir(parents=True)
    for p in moved:
        shutil.copyfile(p, relabel / "1" / p.name)
    repo.ingest(str(relabel), progress=False)
    v2 = repo.commit("relabel 1%")
    d, diff_s = timed(lambda: repo.diff(v1.id, v2.id))
    assert d.relabeled == len(moved)
    (_, snap), checkout_s = timed(lambda: repo.checkout(v1.id, progress=False))
    objects_root = project.state_dir / "objects"
    files = [objects_root / k[:2] / k for k in snap.ids]
    total_bytes = sum(f.stat().st_size for f in files)

    def read_direct() -> None:
        for f in files:
            f.read_bytes()

    _, direct_s = timed(read_direct)
    repo.close()
    mb = total_bytes / 1e6
    return {
        "n": n,
        "commit_s": commit_s,
        "diff_s": diff_s,
        "checkout_s": checkout_s,
        "checkout_mb_per_s": mb / checkout_s,
        "direct_read_mb_per_s": mb / direct_s,
        "checkout_vs_direct": direct_s / checkout_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--ingest", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dlstack-bench-") as d:
        tmp = Path(d)
        ingest = bench_ingest(tmp, args.ingest)
        versions = [bench_versions(tmp, n) for n in args.sizes]
    print(
        f"\ningest {ingest['n']} images: {ingest['ingest_objects_per_s']:.0f} objects/s, "
        f"plain copy {ingest['copy_objects_per_s']:.0f} files/s, "
        f"ratio {ingest['ratio']:.2f} (target >= 0.3)\n"
    )
    print(
        "| examples | commit s (<=10 at 100k) | diff s (<=2 at 100k) | checkout s | "
        "checkout MB/s | direct read MB/s | checkout/direct |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for v in versions:
        print(
            f"| {v['n']:,} | {v['commit_s']:.2f} | {v['diff_s']:.2f} | {v['checkout_s']:.2f} "
            f"| {v['checkout_mb_per_s']:.1f} | {v['direct_read_mb_per_s']:.1f} "
            f"| {v['checkout_vs_direct']:.2f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "data_versioning.json"
    out.write_text(json.dumps({"ingest": ingest, "versions": versions}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
