"""Data steps are cached by input content, parameters and code; stale steps re-run."""

from __future__ import annotations

import numpy as np
import pytest

from dlstack.data import Snapshot
from dlstack.data._steps import augment, resample
from dlstack.data._workflow import run_steps
from dlstack.errors import ConfigError


@pytest.fixture
def snap():
    s = Snapshot.from_builtin("digits8")
    # Make train imbalanced: drop most of class 0 from train.
    drop = np.flatnonzero((s.labels == 0) & (s.splits == 0))[10:]
    keep = np.setdiff1d(np.arange(len(s.labels)), drop)
    return Snapshot(
        s.version, s.classes, s.images[keep], s.labels[keep], s.splits[keep], s.ids[keep]
    )


def test_resample_balances_train_only(snap):
    out = resample(snap, seed=0)
    counts = np.bincount(out.split("train").labels)
    assert len(set(counts)) == 1  # every class as frequent as the largest
    assert out.counts()["test"] == snap.counts()["test"]
    assert len(set(out.ids)) == len(out.ids)  # repeated rows get distinct ids


def test_augment_adds_train_copies_with_labels(snap):
    out = augment(snap, seed=0, copies=2)
    assert out.counts()["train"] == 3 * snap.counts()["train"]
    assert out.counts()["val"] == snap.counts()["val"]
    assert np.array_equal(
        np.bincount(out.split("train").labels), 3 * np.bincount(snap.split("train").labels)
    )


def test_second_run_skips_cached_steps_and_param_change_reruns(snap, tmp_path):
    steps = [("balance", "resample", {}), ("more", "augment", {"copies": 1})]
    first, r1 = run_steps(snap, steps, cache_dir=tmp_path)
    assert [r.status for r in r1] == ["ran", "ran"]
    again, r2 = run_steps(snap, steps, cache_dir=tmp_path)
    assert [r.status for r in r2] == ["cached", "cached"]
    assert np.array_equal(again.images, first.images)
    # Changing the second step's params re-runs it only.
    _, r3 = run_steps(snap, [steps[0], ("more", "augment", {"copies": 2})], cache_dir=tmp_path)
    assert [r.status for r in r3] == ["cached", "ran"]
    # New input data re-runs everything.
    changed = Snapshot(
        snap.version,
        snap.classes,
        255 - np.asarray(snap.images),
        snap.labels,
        snap.splits,
        snap.ids,
    )
    _, r4 = run_steps(changed, steps, cache_dir=tmp_path)
    assert [r.status for r in r4] == ["ran", "ran"]


def test_changed_step_code_reruns(snap, tmp_path, monkeypatch):
    mod = tmp_path / "mysteps.py"
    mod.write_text("def invert(snapshot, *, seed):\n    return snapshot\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _, r1 = run_steps(snap, [("inv", "mysteps:invert", {})], cache_dir=tmp_path / "c")
    _, r2 = run_steps(snap, [("inv", "mysteps:invert", {})], cache_dir=tmp_path / "c")
    assert [r1[0].status, r2[0].status] == ["ran", "cached"]
    import importlib
    import sys

    mod.write_text("def invert(snapshot, *, seed):\n    # changed\n    return snapshot\n")
    sys.modules.pop("mysteps")
    importlib.invalidate_caches()
    _, r3 = run_steps(snap, [("inv", "mysteps:invert", {})], cache_dir=tmp_path / "c")
    assert r3[0].status == "ran"


def test_bad_steps_are_config_errors(snap, tmp_path):
    with pytest.raises(ConfigError, match="neither a built-in"):
        run_steps(snap, [("x", "nope", {})], cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="rejected its params"):
        run_steps(snap, [("x", "augment", {"colour": 1})], cache_dir=tmp_path)


def test_lifecycle_data_stage_applies_declared_steps(digits8_project):
    from dlstack import lifecycle
    from dlstack.config import load_project

    toml = digits8_project.root / "dlstack.toml"
    toml.write_text(
        toml.read_text()
        + '\n[[data.steps]]\nname = "more"\ncall = "augment"\nparams = { copies = 1 }\n'
    )
    project = load_project(digits8_project.root)
    _, version, snap = lifecycle.prepare_data(project, progress=False)
    # Training sees the augmented train split; the version it records names the step.
    assert snap.counts()["train"] == 2 * version.counts["train"]
    assert snap.version == f"{version.id}+augment1"
    from dlstack.data import snapshot_for

    _, again = snapshot_for(project, snap.version, progress=False)
    assert np.array_equal(again.labels, snap.labels)


def test_the_step_cache_holds_no_pickles_and_never_unpickles(snap, tmp_path):
    # joblib's cache unpickled whatever was on disk: a planted output.pkl ran os.system.
    import pickle

    steps = [("more", "augment", {"copies": 1})]
    first, reports = run_steps(snap, steps, cache_dir=tmp_path)
    assert [r.status for r in reports] == ["ran"]
    files = {p.suffix for p in tmp_path.rglob("*") if p.is_file()}
    assert files <= {".npy", ".json"}, files
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    for folder in {p.parent for p in tmp_path.rglob("meta.json")}:
        (folder / "output.pkl").write_bytes(pickle.dumps(Payload()))
    again, reports = run_steps(snap, steps, cache_dir=tmp_path)
    assert [r.status for r in reports] == ["cached"] and not marker.exists()
    assert np.array_equal(again.labels, first.labels)


def test_a_tampered_cached_step_output_runs_the_step_again(snap, tmp_path):
    from dlstack.errors import DlstackWarning

    steps = [("more", "augment", {"copies": 1})]
    first, _ = run_steps(snap, steps, cache_dir=tmp_path)
    (labels,) = tmp_path.rglob("labels.npy")
    data = bytearray(labels.read_bytes())
    data[-1] ^= 1
    labels.write_bytes(bytes(data))
    with pytest.warns(DlstackWarning, match="running the step again"):
        again, reports = run_steps(snap, steps, cache_dir=tmp_path)
    assert [r.status for r in reports] == ["ran"] and np.array_equal(again.labels, first.labels)
