"""Snapshots of RGB images: checkout cost and read speed at two image sizes.

    python bench/snapshot_images.py [--n 2000] [--sizes 28 128]

Prints a table and writes bench/results/snapshot_images.json. For each size, in one run:
- cold checkout: decode every stored PNG and prepare it by the input spec (images/s);
- warm checkout (the snapshot exists: open, check its stamps, memory-map) then reading
  every image, against ``np.load`` of the same ``images.npy`` (target: ratio >= 0.8);
- a training split (``snapshot.split("train")``) against a boolean index of the raw array.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dlstack.config import init_project, load_project
from dlstack.data import DataRepo

RESULTS = Path(__file__).parent / "results"


def make_source(root: Path, n: int, side: int) -> Path:
    rng = np.random.default_rng(side)
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
        (root / f"c{i % 3}" / f"{i}.png").write_bytes(buf.getvalue())
    return root


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_size(tmp: Path, n: int, side: int) -> dict[str, float]:
    source = make_source(tmp / f"src{side}", n, side)
    root = tmp / f"proj{side}"
    init_project(root, str(source))
    project = load_project(root)
    repo = DataRepo.open(project)
    try:
        repo.ingest(str(source), split=(0.8, 0.1, 0.1), progress=False)
        version = repo.commit("bench")
        assert version is not None
        t = time.perf_counter()
        _, snap = repo.checkout(version.id, progress=False)
        cold = time.perf_counter() - t
        images_file = repo.snapshots_dir / version.short / "images.npy"

        def warm_read() -> None:
            _, s = repo.checkout(version.id, progress=False)
            np.asarray(s.images).sum()

        def direct_read() -> None:
            np.load(images_file, mmap_mode="r").sum()

        def split_read() -> None:
            _, s = repo.checkout(version.id, progress=False)
            s.split("train").images.sum()

        def direct_split() -> None:
            images = np.load(images_file, mmap_mode="r")
            images[snap.splits == 0].sum()

        warm, direct = best_of(warm_read), best_of(direct_read)
        split, raw_split = best_of(split_read), best_of(direct_split)
    finally:
        repo.close()
    mb = snap.images.nbytes / 1e6
    return {
        "side": side,
        "n": n,
        "array_mb": mb,
        "cold_checkout_s": cold,
        "cold_images_per_s": n / cold,
        "warm_read_s": warm,
        "direct_read_s": direct,
        "warm_vs_direct": direct / warm,
        "warm_mb_per_s": mb / warm,
        "train_split_s": split,
        "direct_split_s": raw_split,
        "split_vs_direct": raw_split / split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 128])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sizes:
            rows.append(bench_size(Path(tmp), args.n, side))
    header = (
        f"{'size':>9} {'MB':>7} {'cold img/s':>11} {'warm MB/s':>10} {'warm/direct':>12} "
        f"{'split/direct':>13}"
    )
    print(header)
    for r in rows:
        side = f"{r['side']}x{r['side']}"
        print(
            f"{side:>9} {r['array_mb']:>7.1f} {r['cold_images_per_s']:>11.0f} "
            f"{r['warm_mb_per_s']:>10.0f} {r['warm_vs_direct']:>12.2f} "
            f"{r['split_vs_direct']:>13.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "snapshot_images.json"
    out.write_text(json.dumps({"rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
