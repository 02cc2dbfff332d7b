"""Per-slice metrics (against scikit-learn), example metadata, and perturbations."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fixtures import WRITERS, ManifestProject
from sklearn import metrics as skm

from dlstack.errors import ConfigError, DataError
from dlstack.evaluate import perturb, slice_metrics
from dlstack.evaluate._slices import example_metadata, slice_keys


def test_slice_metrics_match_sklearn_on_each_group() -> None:
    rng = np.random.default_rng(0)
    n, c = 600, 4
    y = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, c, n))
    source = rng.choice(["scan", "phone", "tablet"], n)
    rows = slice_metrics(y, p, c, {"source": source}, classes=("a", "b", "c", "d"))
    by_class = {r.value: r for r in rows if r.key == "class"}
    recall = skm.recall_score(y, p, average=None)
    precision = skm.precision_score(y, p, average=None, zero_division=0)
    for i, label in enumerate("abcd"):
        assert by_class[label].metrics["recall"] == pytest.approx(recall[i], abs=1e-6)
        assert by_class[label].metrics["accuracy"] == pytest.approx(recall[i], abs=1e-6)
        assert by_class[label].metrics["precision"] == pytest.approx(precision[i], abs=1e-6)
        assert by_class[label].n == (y == i).sum()
    for r in (r for r in rows if r.key == "source"):
        mask = source == r.value
        assert r.n == mask.sum()
        assert r.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y[mask], p[mask]))
        assert r.metrics["f1"] == pytest.approx(
            skm.f1_score(y[mask], p[mask], average="macro", zero_division=0), abs=1e-6
        )


def test_missing_metadata_is_its_own_slice_and_lengths_must_match() -> None:
    y = np.array([0, 1, 1, 0])
    rows = slice_metrics(y, y, 2, {"writer": ["ann", None, "", "ann"]}, include_classes=False)
    assert [(r.value, r.n) for r in rows] == [("(missing)", 2), ("ann", 2)]
    with pytest.raises(DataError, match="one value per example"):
        slice_metrics(y, y, 2, {"writer": ["ann"]})


def test_slice_keys_skip_unique_and_constant_columns() -> None:
    meta = {
        "name": np.array([f"{i}.png" for i in range(100)]),
        "writer": np.array(["a", "b"] * 50),
        "device": np.array(["scan"] * 100),
        "serial": np.array([str(i) for i in range(100)]),
    }
    assert slice_keys(meta) == ["writer"]


def test_example_metadata_comes_from_the_ingest_manifest(
    manifest_project: ManifestProject,
) -> None:
    test = manifest_project.snapshot.split("test")
    meta = example_metadata(manifest_project.project, test.ids)
    assert {"source", "writer", "name"} <= set(meta)
    assert set(meta["writer"].tolist()) == set(WRITERS)
    assert len(meta["writer"]) == len(test)
    assert slice_keys(meta) == ["writer"]  # source is one manifest; names are unique


def test_shift_moves_the_ink_by_the_amount() -> None:
    image = np.zeros((1, 9, 9), np.uint8)
    image[0, 3:6, 3:6] = 200
    shifted = perturb(image, "shift", 2, seed=1)
    before = np.argwhere(image[0]).mean(axis=0)
    after = np.argwhere(shifted[0]).mean(axis=0)
    assert np.abs(after - before).max() == pytest.approx(2)
    assert shifted.sum() == image.sum()  # nothing fell off the edge here


def test_thicken_and_thin_change_the_stroke_width_on_either_background() -> None:
    dark = np.zeros((1, 8, 8), np.uint8)
    dark[0, 2:6, 3:5] = 255  # a 2-pixel-wide stroke
    assert (perturb(dark, "thicken", 1) > 0).sum() > (dark > 0).sum()
    assert (perturb(dark, "thin", 1) > 0).sum() < (dark > 0).sum()
    light = 255 - dark  # dark stroke on light paper: thicker means more dark pixels
    thick = perturb(light, "thicken", 1, background="light")
    assert (thick < 255).sum() > (light < 255).sum()
    np.testing.assert_array_equal(255 - thick, perturb(dark, "thicken", 1))


def test_occlude_noise_blur_rotate_brightness_keep_shape_and_dtype() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 10, 10), dtype=np.uint8)
    for name, amount in [
        ("occlude", 0.36),
        ("noise", 0.1),
        ("blur", 1.0),
        ("rotate", 15),
        ("brightness", 0.5),
    ]:
        out = perturb(images, name, amount)
        assert out.shape == images.shape and out.dtype == np.uint8, name
    occluded = perturb(images, "occlude", 0.36)
    assert (occluded[:, 2:8, 2:8] == 0).all()  # a centred 6x6 square of a 10x10 image
    assert (perturb(images, "brightness", 0.5) <= images).all()


def test_perturb_errors_name_the_choices() -> None:
    images = np.zeros((1, 4, 4), np.uint8)
    with pytest.raises(ConfigError, match="known: shift, thicken"):
        perturb(images, "warp", 1)
    with pytest.raises(DataError, match="uint8"):
        perturb(images.astype(float), "shift", 1)
