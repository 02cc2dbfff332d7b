"""Feasibility: the learning-curve fit, the data needed, the compute estimate, `scope`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlstack.config import Config, Project
from dlstack.data import Snapshot
from dlstack.errors import ConfigError, DataError
from dlstack.evaluate import estimate_compute, fit_power_law, load_gpu_table, scope
from dlstack.evaluate._compute import training_flops_per_example
from dlstack.evaluate._feasibility import ScopePoint, ScopeResult, _answer, measure_learning_curve

SIZES = np.array([60, 120, 250, 500, 1000, 2000, 4000], dtype=float)


def _curve(a: float, b: float, c: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (a * SIZES**-b + c) * (1 + noise * rng.standard_normal(len(SIZES)))


@pytest.mark.parametrize(("a", "b", "c"), [(2.0, 0.5, 0.02), (0.8, 0.3, 0.0), (5.0, 0.8, 0.05)])
@pytest.mark.parametrize("seed", range(3))
def test_known_exponent_is_recovered_within_10_percent(a, b, c, seed) -> None:
    err = _curve(a, b, c, noise=0.02, seed=seed)  # 2% multiplicative noise
    fit = fit_power_law(SIZES, err, draws=50, seed=seed)
    assert fit.b == pytest.approx(b, rel=0.10)
    assert fit.c >= 0 and fit.a > 0


def test_band_contains_the_truth_and_widens_away_from_the_data() -> None:
    err = _curve(2.0, 0.5, 0.02, noise=0.03, seed=1)
    fit = fit_power_law(SIZES, err, draws=100)
    far, near = 40_000.0, 2_000.0
    (lo_far,), (hi_far,) = fit.band(far)
    (lo_near,), (hi_near,) = fit.band(near)
    assert lo_far <= 2.0 * far**-0.5 + 0.02 <= hi_far
    assert hi_far - lo_far > 0 and (hi_far - lo_far) / fit.predict(far) >= 0.5 * (
        (hi_near - lo_near) / fit.predict(near)
    )
    expected, low, high = fit.error_at(10)  # 10x the largest subset
    assert low <= expected <= high


def test_data_needed_inverts_the_curve_or_says_out_of_reach() -> None:
    fit = fit_power_law(SIZES, 2.0 * SIZES**-0.5 + 0.02, draws=50)  # noiseless
    needed = fit.data_needed(0.03)  # 2 * n^-0.5 = 0.01 -> n = 40,000
    assert needed.n == pytest.approx(40_000, rel=0.02)
    assert needed.reachable and needed.factor == pytest.approx(10, rel=0.02)
    assert "40," in needed.describe()
    floor = fit.data_needed(0.01)  # below the irreducible 2%: no amount of data gets there
    assert floor.n is None and not floor.reachable
    assert floor.describe().startswith("out of reach")


def test_fit_refuses_too_few_points_and_bad_input() -> None:
    with pytest.raises(DataError, match="4 or more"):
        fit_power_law([100, 200, 400], [0.3, 0.2, 0.15])
    with pytest.raises(DataError, match="positive"):
        fit_power_law([0, 100, 200, 400], [0.4, 0.3, 0.2, 0.15])


def test_bundled_gpu_table_has_a_date_and_prices() -> None:
    table = load_gpu_table()
    assert table.as_of and table.gpus and 0 < table.utilization <= 1
    assert all(g.tflops_fp32 > 0 and g.usd_per_hour > 0 for g in table.gpus)


def test_a_project_gpu_table_replaces_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "gpus.toml").write_text(
        'as_of = "2030-01"\nutilization = 0.5\nstep_overhead_ms = 0\n'
        '[[gpu]]\nname = "X1"\ntflops_fp32 = 10\nusd_per_hour = 3.6\n'
    )
    table = load_gpu_table(project_root=tmp_path)
    assert [g.name for g in table.gpus] == ["X1"] and table.as_of == "2030-01"
    est = estimate_compute(
        table,
        seconds_per_epoch=20.0,
        examples_per_epoch=1000,
        flops_per_example=1e9,
        batch_size=100,
        epochs=10,
    )
    # 1e12 FLOPs per epoch / (10e12 x 0.5) = 0.2 s; 10 epochs = 2 s = 2/3600 h x $3.6
    (row,) = est.rows
    assert row.seconds_per_epoch == pytest.approx(0.2)
    assert row.usd_total == pytest.approx(0.002)
    assert row.speedup == pytest.approx(100) and row.bound == "compute"
    assert est.achieved_tflops == pytest.approx(0.05)
    assert est.scaled(3).rows[0].seconds_per_epoch == pytest.approx(0.6)


def test_invalid_gpu_table_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "gpus.toml"
    bad.write_text('[[gpu]]\nname = "X"\ntflops_fp32 = -1\nusd_per_hour = 1\n')
    with pytest.raises(ConfigError, match="tflops_fp32 must be a number > 0"):
        load_gpu_table(bad)
    bad.write_text('as_of = "x"\n')
    with pytest.raises(ConfigError, match="lists no"):
        load_gpu_table(bad)


def test_training_flops_of_a_linear_layer() -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    # forward: 2 x 64 x 10 multiply-adds per example; training ~ 3x forward
    assert training_flops_per_example(model, (1, 8, 8)) == pytest.approx(3 * 2 * 64 * 10)


def _tiny_snapshot() -> Snapshot:
    """Two separable classes of 6x6 images, 400 examples: trains in a blink."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    images = rng.integers(0, 60, (400, 6, 6)).astype(np.uint8)
    images[labels == 1, :, :3] += 120  # class 1 is brighter on the left
    return Snapshot.from_arrays(images, labels, ("dark", "left"))


def test_learning_curve_points_train_fresh_models_on_growing_subsets() -> None:
    points, _model, shape = measure_learning_curve(
        _tiny_snapshot(),
        fractions=(1.0, 0.25, 0.5, 0.1),
        epochs=1,
        architecture="mlp",
        lr=1e-2,
        min_steps=5,
    )
    assert [p.fraction for p in points] == [0.1, 0.25, 0.5, 1.0]  # sorted
    assert [p.n_train for p in points] == sorted(p.n_train for p in points)
    assert points[-1].n_train == len(_tiny_snapshot().split("train"))
    assert all(0 <= p.error <= 1 and p.examples_seen > 0 for p in points)
    assert shape == (1, 6, 6)
    with pytest.raises(DataError, match="fractions"):
        measure_learning_curve(_tiny_snapshot(), fractions=(0.0, 1.0))


def test_answers_from_measured_points() -> None:
    n = [60, 120, 250, 500, 1000]
    pts = [ScopePoint(i / 5, k, 2.0 * k**-0.5 + 0.02, 1.0, k, 1) for i, k in enumerate(n, 1)]
    result = ScopeResult(pts, None, "mlp", 1, "val", "v1", 0.97, None)
    _answer(result)
    assert result.fit is not None and result.fit.b == pytest.approx(0.5, rel=0.05)
    assert [f for f, *_ in result.more_data] == [2.0, 5.0, 10.0]
    assert result.needed is not None and result.needed.reachable  # 3% error: 40,000 examples
    record = result.to_dict()
    assert record["needed"]["reachable"] and len(record["curve"]["n"]) == 60
    too_few = ScopeResult(pts[:3], None, "mlp", 1, "val", "v1", None, None)
    _answer(too_few)
    assert too_few.fit is None and "4 or more" in too_few.notes[0]


@pytest.mark.slow
def test_scope_on_digits8_end_to_end(tmp_path: Path) -> None:
    project = Project(tmp_path, Config.model_validate({"metric": {"requirement": 0.99}}))
    seen = []
    result = scope(
        project,
        Snapshot.from_builtin("digits8"),
        architecture="mlp",
        epochs=3,
        on_point=seen.append,
    )
    assert len(seen) == 6 and result.fit is not None
    assert result.points[0].error > result.points[-1].error  # more data helps
    assert result.needed is not None and result.compute is not None
    assert len(result.compute.rows) == len(load_gpu_table().gpus)
