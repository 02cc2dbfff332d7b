"""The checks `dlstack test` runs, one small strategy each, on a :class:`CheckContext`.

Every check has the same signature, ``check(ctx) -> list[EvalCheck]``, and returns no
check when it does not apply (nothing declared, no previous version...). This module
holds the checks ``[tests]`` declares: metric thresholds, slices, the latency and size
budgets, invariance and directional expectations; the ones that always run are in
``_eval_builtin``; ``run_eval_tests`` runs them all, in one ordered list.

>>> from dlstack.config import EvalTestsConfig
>>> cfg = EvalTestsConfig.model_validate({"min_metrics": {"accuracy": 0.9}})
>>> ctx = CheckContext(cfg, None, None, {"accuracy": 0.85}, None, None)
>>> [(c.name, c.passed) for c in metric_checks(ctx)]
[('accuracy >= 0.9', False)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from dlstack.errors import ConfigError
from dlstack.evaluate._eval_report import EvalCheck
from dlstack.evaluate._package_eval import (
    LATENCY_RUNS,
    LATENCY_WARMUP,
    decisions,
    latency_key,
    probabilities,
)
from dlstack.evaluate._package_lines import read_texts
from dlstack.evaluate._perturbations import describe_transform, perturb
from dlstack.evaluate._slices import CLASS_KEY, LENGTH_KEY, task_slice_metrics
from dlstack.objective import Constraint, lower_is_better

if TYPE_CHECKING:
    from dlstack.config import EvalTestsConfig
    from dlstack.evaluate._eval_data import EvalData
    from dlstack.package import ModelPackage

__all__ = [
    "SLICE_METRICS",
    "CheckContext",
    "EvalStrategy",
    "check_names",
    "directional_checks",
    "invariance_checks",
    "latency_check",
    "metric_checks",
    "size_check",
    "slice_checks",
]

SLICE_METRICS = ("accuracy", "error", "precision", "recall", "f1")  # what a slice measures
# ... per task, where it differs (dlstack.evaluate._slices.task_slice_metrics)
TASK_SLICE_METRICS = {
    "multilabel": (*SLICE_METRICS, "exact_match"),
    "regression": ("mae", "rmse", "r2"),
    "ctc": ("cer", "wer", "line_accuracy", "error"),
}


@dataclass(frozen=True)
class CheckContext:
    """What every check may use: the requirements, the package, the data, and what was
    measured once for all of them."""

    cfg: EvalTestsConfig
    package: ModelPackage
    data: EvalData
    values: Mapping[str, float]  # every metric (recall[7] too), latency_*_ms, size_mb
    targets: np.ndarray  # (n,) in the package's label space; (n, K) multilabel, regression;
    # ctc: the true texts (n,) (object array of str)
    # (n, labels) the package's output on the data: probabilities, a regression's numbers;
    # ctc: the texts read (n,), each line at its own width
    probabilities: np.ndarray
    previous: ModelPackage | None = None  # the package's earlier version, for regressions


EvalStrategy = Callable[[CheckContext], list[EvalCheck]]


def check_names(cfg: EvalTestsConfig, values: Mapping[str, float], data: EvalData) -> None:
    """ConfigError before any check runs when ``[tests]`` names a metric or key not here."""
    if data.features is not None and data.images.ndim < 3:  # a table alone: no image
        declared = [
            k for k, v in (("invariance", cfg.invariance), ("directional", cfg.directional)) if v
        ]
        if declared:
            raise ConfigError(
                f"tests.{declared[0]} changes images (shift, blur, occlude...); this data is a "
                f"table. Remove [[tests.{declared[0]}]] from dlstack.toml"
            )
    task = getattr(data, "task", "classification")
    if task != "classification":
        why = {
            "invariance": "counts answers that change; a regression's numbers always move "
            "a little (declare a max_metrics bound instead)",
            "directional": "moves the true class's probability; a "
            f"{task} task has no single true class",
        }
        for key, declared_checks in (
            ("invariance", cfg.invariance),
            ("directional", cfg.directional),
        ):
            if declared_checks and (key == "directional" or task == "regression"):
                raise ConfigError(
                    f"tests.{key} {why[key]}. Remove [[tests.{key}]] from dlstack.toml"
                )
    known = sorted(k for k in values if "[" not in k)
    for section, mapping in (("min_metrics", cfg.min_metrics), ("max_metrics", cfg.max_metrics)):
        for name in mapping:
            if name not in values:
                raise ConfigError(
                    f"tests.{section} names {name!r}, which is not a metric here; known: "
                    f"{', '.join(known)}, and per class e.g. 'recall[{data.classes[0]}]'"
                )
    allowed = TASK_SLICE_METRICS.get(task, SLICE_METRICS)
    for i, s in enumerate(cfg.slices):
        bad = [m for m in s.min_metrics if m not in allowed]
        if bad:
            raise ConfigError(
                f"tests.slices[{i}].min_metrics names {', '.join(map(repr, bad))}; a slice "
                f"has {', '.join(allowed)}"
            )
        own = own_slice_key(task)
        if s.by == CLASS_KEY and own != CLASS_KEY:
            other = f"slice by {own!r} (the true line's length) or" if task == "ctc" else "slice by"
            raise ConfigError(
                f"tests.slices[{i}].by = 'class': a {task} task has no classes to slice by; "
                f"{other} a metadata column of the manifest"
            )
        if s.by != own and (data.metadata is None or s.by not in data.metadata):
            have = [*([own] if own else []), *sorted((data.metadata or {}).keys())]
            raise ConfigError(
                f"tests.slices[{i}].by = {s.by!r} is not in the examples' metadata; "
                f"available: {', '.join(have)} (metadata comes from the ingest manifest's "
                f"columns)"
            )


def own_slice_key(task: str) -> str | None:
    """The slice key every example of ``task`` has without metadata: ``class``, a line's
    ``length`` (ctc); None for a regression."""
    return {"regression": None, "ctc": LENGTH_KEY}.get(task, CLASS_KEY)


def metric_checks(ctx: CheckContext) -> list[EvalCheck]:
    """``min_metrics`` and ``max_metrics`` on the whole split."""
    out = []
    for name, bound in ctx.cfg.min_metrics.items():
        ok, measured, _ = Constraint.parse(f"{name} >= {bound!r}", "tests").check(ctx.values)
        out.append(EvalCheck(f"{name} >= {bound:g}", "metric", ok, measured, bound))
    for name, bound in ctx.cfg.max_metrics.items():
        ok, measured, _ = Constraint.parse(f"{name} <= {bound!r}", "tests").check(ctx.values)
        out.append(EvalCheck(f"{name} <= {bound:g}", "metric", ok, measured, bound))
    return out


def slice_checks(ctx: CheckContext) -> list[EvalCheck]:
    """``[[tests.slices]]``: every slice of a key (class, or a metadata column) meets the
    bound; slices under ``min_examples`` are counted but not judged."""
    out = []
    package, data = ctx.package, ctx.data
    predictions = decisions(package, ctx.probabilities)
    cut = package.spec.output.thresholds
    own = own_slice_key(package.task)  # the slice every example has: its class, its length
    for s in ctx.cfg.slices:
        groups = {} if s.by == own else {s.by: (data.metadata or {})[s.by]}
        rows = task_slice_metrics(
            package.task,
            ctx.targets,
            predictions,
            ctx.probabilities,
            groups,
            classes=package.labels,
            thresholds=None if cut is None else np.asarray(cut),
        )
        rows = [r for r in rows if (r.key == own) == (s.by == own)]
        judged = [r for r in rows if r.n >= s.min_examples]
        small = [r for r in rows if r.n < s.min_examples]
        for metric, bound in s.min_metrics.items():
            low = lower_is_better(metric)
            op = "<=" if low else ">="
            # The one comparison rule (objective.Constraint): equal to the bound meets it.
            rule = Constraint.parse(f"{metric} {op} {bound!r}", "tests.slices")
            failing = [r for r in judged if not rule.check(r.metrics)[0]]
            pick = max if low else min
            worst = pick(judged, key=lambda r: r.metrics[metric]) if judged else None
            parts = [f"{len(judged)} slices judged"]
            if worst:
                parts.append(f"worst {worst.value!r} ({worst.n} examples)")
            if failing:
                shown = ", ".join(f"{r.value!r} {r.metrics[metric]:.3f}" for r in failing[:8])
                parts.append(f"failing: {shown}")
            if small:
                parts.append(f"{len(small)} slice(s) under {s.min_examples} examples not judged")
            detail = "; ".join(parts)
            out.append(
                EvalCheck(
                    f"every {s.by} slice: {metric} {op} {bound:g}",
                    "slice",
                    bool(judged) and not failing,
                    worst.metrics[metric] if worst else None,
                    bound,
                    detail if judged else f"no slice of {s.by} has {s.min_examples}+ examples",
                )
            )
    return out


def latency_check(ctx: CheckContext) -> list[EvalCheck]:
    """``max_latency_ms`` at ``latency_percentile``, single-image calls."""
    cfg = ctx.cfg
    if cfg.max_latency_ms is None:
        return []
    key = latency_key(cfg.latency_percentile)
    measured = ctx.values[key]
    return [
        EvalCheck(
            f"{key} <= {cfg.max_latency_ms:g}",
            "latency",
            measured <= cfg.max_latency_ms,
            measured,
            cfg.max_latency_ms,
            f"single-image calls, {LATENCY_RUNS} timed after {LATENCY_WARMUP} warm-up; "
            f"p50 {ctx.values['latency_p50_ms']:.3f} ms",
        )
    ]


def size_check(ctx: CheckContext) -> list[EvalCheck]:
    """``max_size_mb``: the ONNX file's size."""
    limit = ctx.cfg.max_size_mb
    if limit is None:
        return []
    size = ctx.values["size_mb"]
    return [
        EvalCheck(
            f"size_mb <= {limit:g}", "size", size <= limit, size, limit, ctx.package.spec.onnx.file
        )
    ]


def _background(package: ModelPackage) -> Literal["dark", "light", "any"]:
    """The image input's background (what a perturbation pads with)."""
    image = package.spec.input_of_kind("image")
    return "dark" if image is None else image.background


def invariance_checks(ctx: CheckContext) -> list[EvalCheck]:
    """``[[tests.invariance]]``: a perturbation changes few answers."""
    out = []
    cfg, package = ctx.cfg, ctx.package
    before = decisions(package, ctx.probabilities)
    background = _background(package)
    for i, inv in enumerate(cfg.invariance):
        changed_images = perturb(
            ctx.data.images, inv.transform, inv.amount, background=background, seed=cfg.seed + i
        )
        if package.task == "ctc":  # the texts read, each changed line at its own width
            after = read_texts(package, replace(ctx.data, images=changed_images).lines())
        else:  # a model of an image and a row: the image changes, its row stays
            after = decisions(package, probabilities(package, changed_images, ctx.data.features))
        changed = after != before
        changed = changed.any(axis=1) if changed.ndim == 2 else changed  # a set: any class
        rate = float(changed.mean())
        out.append(
            EvalCheck(
                f"invariance: {describe_transform(inv.transform, inv.amount)}",
                "invariance",
                rate <= inv.max_changed,
                rate,
                inv.max_changed,
                f"{int(changed.sum())} of {len(before)} predictions changed "
                f"(at most {inv.max_changed:.1%} allowed)",
            )
        )
    return out


def directional_checks(ctx: CheckContext) -> list[EvalCheck]:
    """``[[tests.directional]]``: a perturbation moves the true class's probability the
    expected way for enough examples."""
    out: list[EvalCheck] = []
    cfg, package, targets = ctx.cfg, ctx.package, ctx.targets
    if not cfg.directional:
        return out
    rows = np.arange(len(targets))
    before = ctx.probabilities[rows, targets]
    background = _background(package)
    for i, d in enumerate(cfg.directional):
        changed = perturb(
            ctx.data.images, d.transform, d.amount, background=background, seed=cfg.seed + 100 + i
        )
        after = probabilities(package, changed, ctx.data.features)[rows, targets]
        moved = after < before if d.expect == "decrease" else after > before
        rate = float(moved.mean())
        out.append(
            EvalCheck(
                f"directional: {describe_transform(d.transform, d.amount)} -> true-class "
                f"probability {d.expect}s",
                "directional",
                rate >= d.min_rate,
                rate,
                d.min_rate,
                f"moved as expected for {int(moved.sum())} of {len(moved)} examples; mean "
                f"true-class probability {before.mean():.3f} -> {after.mean():.3f}",
            )
        )
    return out
