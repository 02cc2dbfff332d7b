"""The checks `dlstack test` always runs (same signature as ``_eval_checks``): numerical
stability, training/serving skew, and, when they apply, regression against the previous
package version and staleness.

>>> from datetime import UTC, datetime
>>> age_days("2020-01-01T00:00:00Z", now=datetime(2020, 1, 11, tzinfo=UTC))
10.0
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.evaluate._eval_checks import CheckContext
from dlstack.evaluate._eval_report import EvalCheck
from dlstack.evaluate._package_eval import decisions, measure_latency, package_metrics
from dlstack.inputs import concat_inputs, input_rows

if TYPE_CHECKING:
    from dlstack.inputs import TableSpec
    from dlstack.package import Prediction

__all__ = [
    "SKEW_SAMPLE",
    "age_days",
    "recorded_metrics_check",
    "regression_checks",
    "skew_check",
    "stability_check",
    "staleness_check",
]

SKEW_SAMPLE = 500  # examples sent through the serving path (PNG encode, decode, preprocess)
SKEW_RELATIVE = 1e-4  # a regression's served number differs beyond this share of its size
# The number "quality dropped" is read on, per task: the previous version must not beat it
# by more than [tests] max_accuracy_drop.
QUALITY_METRIC = {
    "classification": "accuracy",
    "multilabel": "f1_macro",
    "regression": "r2",
    "ctc": "cer",  # lower is better: the drop is the rise in CER
}


def _extremes(ctx: CheckContext) -> tuple[Any, str]:
    """Model input far from the data: (the input, what it is). A model of an image and a
    row gets each input's extremes with the other input taken from the data."""
    data, package = ctx.data, ctx.package
    rows = _extreme_rows(ctx) if data.features is not None else None
    images = _extreme_images(data.images.shape[1:]) if data.images.ndim >= 3 else None
    rows_what = "all missing, 100x the largest values"
    images_what = "blank, saturated, noise, checkerboard"
    if rows is not None and images is not None:
        assert data.features is not None
        real = np.arange(max(len(rows), len(images))) % len(data)  # data rows, repeated if few
        x = concat_inputs(
            [
                package.model_input(images, data.features[real[: len(images)]]),
                package.model_input(data.images[real[: len(rows)]], rows),
            ]
        )
        return x, f"images {images_what}; rows {rows_what}"
    if rows is not None:
        return package.model_input(features=rows), rows_what
    assert images is not None
    return package.model_input(images), images_what


def _extreme_rows(ctx: CheckContext) -> np.ndarray:
    """Raw rows: every value missing; every number 100x its column's largest magnitude,
    both signs."""
    features = ctx.data.features
    assert features is not None
    big = np.nan_to_num(np.nanmax(np.abs(features), axis=0), nan=1.0) * 100 + 1
    numeric = [c.kind == "numeric" for c in ctx.package.encoder.columns]
    high = np.where(numeric, big, np.nan)
    return np.stack([np.full(features.shape[1], np.nan), high, -high])


def _extreme_images(shape: tuple[int, ...]) -> np.ndarray:
    """Blank, saturated, noise and a checkerboard, uint8 of ``shape`` (H, W) or (H, W, 3)."""
    h, w = shape[:2]
    rng = np.random.default_rng(0)
    checker = (np.indices((h, w)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.stack(
        [
            np.zeros(shape, np.uint8),
            np.full(shape, 255, np.uint8),
            rng.integers(0, 256, shape, dtype=np.uint8),
            np.broadcast_to(checker.reshape(h, w, *([1] * (len(shape) - 2))), shape),
        ]
    )


def stability_check(ctx: CheckContext) -> list[EvalCheck]:
    """Finite probabilities that sum to 1 (multilabel: each in [0, 1]; regression:
    finite numbers; ctc: every frame's), on the data and on extreme inputs."""
    if ctx.package.task == "ctc":
        return [_line_stability(ctx)]
    extremes, what_extremes = _extremes(ctx)
    extreme_probs = ctx.package.predict_arrays(extremes)
    task = ctx.package.task
    problems = []
    for what, p in (("the data", ctx.probabilities), ("extreme inputs", extreme_probs)):
        if not np.isfinite(p).all():
            problems.append(f"{int((~np.isfinite(p)).any(axis=1).sum())} NaN/inf rows on {what}")
        elif task == "multilabel" and ((p < 0) | (p > 1)).any():
            problems.append(f"probabilities on {what} fall outside [0, 1]")
        elif task == "classification" and np.abs(p.sum(axis=1) - 1).max() > 1e-3:
            problems.append(f"probabilities on {what} do not sum to 1")
    things = "values" if task == "regression" else "probabilities"
    return [
        EvalCheck(
            f"numerical stability: finite {things}",
            "stability",
            not problems,
            float(len(problems)),
            0.0,
            "; ".join(problems)
            or f"{len(ctx.probabilities)} examples and {input_rows(extremes)} extreme inputs "
            f"({what_extremes}) give finite {things}",
        )
    ]


def _line_stability(ctx: CheckContext) -> EvalCheck:
    """Each frame's probabilities finite and summing to 1, on every line of the data and
    on extreme lines (blank, saturated, noise, checkerboard) as short as one run width,
    as long as the data's median line and as long as its longest."""
    package, data = ctx.package, ctx.data
    assert data.widths is not None
    widths = sorted({8, int(np.median(data.widths)), int(data.widths.max())})
    extremes = [im for w in widths for im in _extreme_images((data.images.shape[1], w))]
    problems = []
    for what, lines in (("the data", data.lines()), ("extreme lines", extremes)):
        scores = package.line_scores(lines)
        bad = sum(not np.isfinite(p).all() for p in scores)
        if bad:
            problems.append(f"{bad} lines with NaN/inf frames on {what}")
        elif max(float(np.abs(p.sum(axis=-1) - 1).max()) for p in scores) > 1e-3:
            problems.append(f"frame probabilities on {what} do not sum to 1")
    return EvalCheck(
        "numerical stability: finite probabilities",
        "stability",
        not problems,
        float(len(problems)),
        0.0,
        "; ".join(problems)
        or f"{len(data)} lines and {len(extremes)} extreme lines (blank, saturated, noise, "
        f"checkerboard; {', '.join(map(str, widths))} px wide) give finite frame probabilities",
    )


def _served(ctx: CheckContext, n: int) -> tuple[list[Prediction], str]:
    """The first ``n`` examples sent the way a client sends them: PNG bytes, or JSON rows
    (what ``/predict`` takes); and the name of that path."""
    package, data = ctx.package, ctx.data
    rows = None
    if data.features is not None and data.table is not None:
        rows = [_json_row(raw, data.table) for raw in data.features[:n]]
        if data.images.ndim < 3:  # a table alone
            return package.predict_rows(rows, top_k=len(package.labels)), "predict_rows"
    from PIL import Image

    encoded = []
    images = data.lines()[:n] if data.widths is not None else data.images[:n]
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    if rows is not None:  # an image and a row per example
        return package.predict(encoded, rows, top_k=len(package.labels)), "predict (PNG + row)"
    return package.predict_images(encoded, top_k=len(package.labels)), "predict_images"


def _json_row(raw: np.ndarray, table: TableSpec) -> dict[str, float | str | None]:
    """A stored row as a client writes it: numbers, category names, null when missing."""
    row: dict[str, float | str | None] = {}
    for value, col in zip(raw, table.columns, strict=True):
        if np.isnan(value):
            row[col.name] = None
        elif col.kind == "categorical":
            row[col.name] = col.categories[int(value)]
        else:
            row[col.name] = float(value)
    return row


def skew_check(ctx: CheckContext) -> list[EvalCheck]:
    """Serving path (PNG bytes or JSON rows -> preprocess) against the training path."""
    package, data = ctx.package, ctx.data
    n = min(len(data), SKEW_SAMPLE)
    served, path = _served(ctx, n)
    if package.task == "ctc":
        return [_line_skew(ctx, served, path)]
    serve_probs = np.array(
        [[dict(p.top_k)[label] for label in package.labels] for p in served], dtype=np.float64
    )
    train = ctx.probabilities[:n].astype(np.float64)
    if package.task == "regression":  # numbers: differ beyond float noise, relative to size
        differ = (np.abs(serve_probs - train) > SKEW_RELATIVE * np.maximum(1, np.abs(train))).any(
            axis=1
        )
    elif package.task == "multilabel":  # the sets of classes given
        differ = (decisions(package, serve_probs) != decisions(package, train)).any(axis=1)
    else:
        index = {label: i for i, label in enumerate(package.labels)}
        differ = np.array([index[p.label] for p in served]) != train.argmax(axis=1)
    rate = float(differ.mean())
    gap = float(np.abs(serve_probs - train).max())
    notices = sorted({note for p in served for note in p.notices})
    detail = (
        f"{int(differ.sum())} of {n} predictions differ between {path} (serving) and "
        f"predict_arrays (training); max "
        f"{'value' if package.task == 'regression' else 'probability'} gap {gap:.2g}"
    )
    if notices:
        detail += f"; serving preprocessing said: {'; '.join(notices[:3])}"
    limit = ctx.cfg.max_skew
    return [
        EvalCheck(f"training/serving skew <= {limit:g}", "skew", rate <= limit, rate, limit, detail)
    ]


def _line_skew(ctx: CheckContext, served: list[Prediction], path: str) -> EvalCheck:
    """A line sent as PNG bytes (each at its own width) must read the text the stored
    line reads."""
    read = ctx.probabilities[: len(served)]
    differ = [i for i, p in enumerate(served) if p.label != read[i]]
    rate = len(differ) / max(len(served), 1)
    shown = ", ".join(f"{read[i]!r} -> {served[i].label!r}" for i in differ[:3])
    detail = (
        f"{len(differ)} of {len(served)} lines read differently through {path} (serving) "
        f"than from the stored arrays (training)" + (f": {shown}" if shown else "")
    )
    notices = sorted({note for p in served for note in p.notices})
    if notices:
        detail += f"; serving preprocessing said: {'; '.join(notices[:3])}"
    limit = ctx.cfg.max_skew
    return EvalCheck(
        f"training/serving skew <= {limit:g}", "skew", rate <= limit, rate, limit, detail
    )


def recorded_metrics_check(ctx: CheckContext) -> list[EvalCheck]:
    """The metrics measured now against the ones model.json recorded at export.

    A package whose labels were reordered or whose normalization was changed answers
    wrongly but confidently; the seal catches an edit, this catches everything else that
    makes a package worse than it claims (the wrong data, a damaged graph). Only scalar
    metrics measured both times are compared, each in its own direction.
    """
    from dlstack.objective import lower_is_better

    spec = ctx.package.spec
    if spec.data_version and ctx.data.data_version != spec.data_version:
        return []  # other data may rightly score lower: that is drift, not a broken package
    recorded = spec.metrics
    tolerance = ctx.cfg.max_drop_vs_recorded
    worse: list[str] = []
    compared = 0
    for name, then in sorted(recorded.items()):
        now = ctx.values.get(name)
        scalar = isinstance(then, int | float) and not isinstance(then, bool)
        if "[" in name or not scalar or now is None:
            continue
        if not (np.isfinite(then) and np.isfinite(now)):
            continue
        compared += 1
        drop = now - then if lower_is_better(name) else then - now
        if drop > tolerance:
            worse.append(f"{name} {now:.4f} (recorded {then:.4f})")
    if not compared:
        return []
    detail = (
        f"measured on the {ctx.cfg.split} split: " + "; ".join(worse)
        if worse
        else f"{compared} recorded metrics within {tolerance:g} of what model.json claims"
    )
    return [
        EvalCheck(
            f"metrics within {tolerance:g} of the recorded ones",
            "recorded_metrics",
            not worse,
            float(len(worse)),
            0.0,
            detail,
        )
    ]


def regression_checks(ctx: CheckContext) -> list[EvalCheck]:
    """Quality and latency against the package's previous version (when there is one)."""
    previous, cfg = ctx.previous, ctx.cfg
    if previous is None:
        return []
    if previous.task != ctx.package.task:
        return []  # another kind of model: nothing to regress against
    before, _, _ = package_metrics(previous, ctx.data)
    # Both latencies measured now, on this machine: a fair comparison.
    old_latency = measure_latency(previous, ctx.data)["latency_p50_ms"]
    new_latency = measure_latency(ctx.package, ctx.data)["latency_p50_ms"]
    from dlstack.objective import lower_is_better

    metric = QUALITY_METRIC.get(ctx.package.task, "accuracy")
    now = ctx.values[metric]
    drop = now - before[metric] if lower_is_better(metric) else before[metric] - now
    increase = new_latency / old_latency - 1 if old_latency > 0 else 0.0
    who = f"v{previous.spec.version}"
    return [
        EvalCheck(
            f"{metric} {'rise' if lower_is_better(metric) else 'drop'} vs {who} <= "
            f"{cfg.max_accuracy_drop:g}",
            "regression",
            bool(drop <= cfg.max_accuracy_drop),
            drop,
            cfg.max_accuracy_drop,
            f"{metric} {before[metric]:.4f} ({who}) -> {now:.4f}",
        ),
        EvalCheck(
            f"latency increase vs {who} <= {cfg.max_latency_increase:.0%}",
            "latency_regression",
            increase <= cfg.max_latency_increase,
            increase,
            cfg.max_latency_increase,
            f"p50 {old_latency:.3f} ms ({who}) -> {new_latency:.3f} ms",
        ),
    ]


def staleness_check(ctx: CheckContext) -> list[EvalCheck]:
    """``max_age_days``: the package's age from its ``created`` time."""
    max_age_days = ctx.cfg.max_age_days
    if max_age_days is None:
        return []
    created = ctx.package.spec.created
    name = f"age <= {max_age_days:g} days"
    age = age_days(created)
    if age is None:
        return [
            EvalCheck(
                name,
                "staleness",
                False,
                None,
                max_age_days,
                f"model.json has no readable created time ({created!r})",
            )
        ]
    return [
        EvalCheck(name, "staleness", age <= max_age_days, age, max_age_days, f"created {created}")
    ]


def age_days(created: str | None, *, now: datetime | None = None) -> float | None:
    """Days since an ISO time (UTC when it has no zone); None when it is not one."""
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - when).total_seconds() / 86400
