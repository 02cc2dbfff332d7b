"""Step 6, a short real training, then the practice's bias-variance decomposition:

    irreducible error  human_error (when given; otherwise taken as 0)
    avoidable bias     train error - irreducible error      -> underfitting
    variance           val error - train error               -> overfitting
    distribution shift test-val error - val error           -> distribution-shift
    val overfitting    test error - test-val error          -> val-overfitting

``test_val`` is a validation set drawn from the test distribution. A component is a
finding when it is at least ``GAP`` (5 error points) and, for error rates, more than three
standard errors (``Z``), so small evaluation sets do not raise false alarms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from dlstack.doctor._context import MAX_TRAIN_STEPS, Context
from dlstack.doctor._data import Split
from dlstack.doctor._findings import make, not_applicable
from dlstack.doctor._train import TrainHistory, error_rate, fit

__all__ = ["GAP", "BiasVariance", "decompose", "short_training"]

PATIENCE = 5  # epochs without a better val error; small val sets are noisy
GAP = 0.05  # error points; the practice's examples show gaps of 5-20 points
Z = 3.0  # standard errors a gap must exceed (one-sided p ~ 0.001): small sets stay quiet
TRAIN_ROWS = 2000  # train error is measured on this many train examples (SE < 1 point)


@dataclass
class BiasVariance:
    errors: dict[str, float | None] = field(default_factory=dict)
    components: dict[str, float | None] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    irreducible_given: bool = False
    metric: str = "error"  # what the errors are: "error" (a rate), or "CER" for CTC

    def rows(self) -> list[tuple[str, float | None, str]]:
        """(name, value, how it is computed) in the practice's order, for tables; the
        error rows are named by the metric ("train error", or "train CER")."""
        e, c, m = self.errors, self.components, self.metric
        how = "character error rate" if m == "CER" else ""
        return [
            (
                f"irreducible {m}",
                e.get("irreducible"),
                "human-level error" if self.irreducible_given else "not given; taken as 0",
            ),
            (f"train {m}", e.get("train"), how),
            ("avoidable bias", c.get("avoidable_bias"), "train - irreducible"),
            (f"val {m}", e.get("val"), how),
            ("variance", c.get("variance"), "val - train"),
            (f"test-val {m}", e.get("test_val"), how),
            ("distribution shift", c.get("distribution_shift"), "test-val - val"),
            (f"test {m}", e.get("test"), how),
            ("val overfitting", c.get("val_overfitting"), "test - test-val"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "errors": self.errors,
            "components": self.components,
            "sizes": self.sizes,
            "irreducible_given": self.irreducible_given,
            "metric": self.metric,
        }


def short_training(ctx: Context) -> tuple[nn.Module, TrainHistory]:
    """A fresh copy trained for the planned steps (early stopping on val usually ends it
    sooner), under what is left of the time cap."""
    assert ctx.problem is not None
    model = ctx.fresh_model()
    hist = fit(
        model,
        ctx.train,
        ctx.problem,
        ctx.optim,
        val=ctx.val,
        batch_size=ctx.batch_size,
        time_s=ctx.budget.left(),
        max_steps=ctx.steps.training if ctx.steps is not None else MAX_TRAIN_STEPS,
        seed=ctx.seed,
        patience=PATIENCE,
    )
    ctx.budget.record(hist.steps, hist.seconds)
    return model, hist


def _significant(a: float, na: int, b: float, nb: int, rates: bool) -> bool:
    gap = b - a
    if gap < GAP:
        return False
    if not rates:
        return True
    se = math.sqrt(max(a * (1 - a), 1e-4) / max(na, 1) + max(b * (1 - b), 1e-4) / max(nb, 1))
    return gap > Z * se


def decompose(
    ctx: Context, model: nn.Module, hist: TrainHistory, linear: float | None = None
) -> BiasVariance:
    """Errors on every split, the components, and their findings. ``linear`` is the linear
    baseline's val error: evidence of what is reachable when no human_error is given.

    A training cut by the time cap, or stopped by a non-finite loss, gives the table as
    evidence but no findings: a partial training says nothing about bias or variance."""
    p = ctx.problem
    assert p is not None
    bv = BiasVariance(irreducible_given=ctx.human_error is not None, metric=p.metric)
    splits: dict[str, Split | None] = {
        "train": ctx.train,
        "val": ctx.val,
        "test_val": ctx.test_val,
        "test": ctx.test,
    }
    for name, split in splits.items():
        if split is None:
            bv.errors[name] = None
            continue
        limit = TRAIN_ROWS if name == "train" else None
        bv.errors[name] = error_rate(model, split, p, limit=limit)
        bv.sizes[name] = min(len(split), limit or len(split))
    e, n = bv.errors, bv.sizes
    irreducible = ctx.human_error or 0.0
    e["irreducible"] = irreducible
    train, val = e["train"], e["val"]
    assert train is not None and val is not None
    c = bv.components
    c["avoidable_bias"] = train - irreducible
    c["variance"] = val - train
    c["distribution_shift"] = None if e["test_val"] is None else e["test_val"] - val
    c["val_overfitting"] = (
        None if e["test"] is None or e["test_val"] is None else e["test"] - e["test_val"]
    )
    rates = p.kind != "regression"
    m = p.metric
    if hist.cut_by_time or hist.nonfinite is not None:
        return bv
    cut_short = hist.stopped_by == "max steps" and hist.still_improving
    table = {k: (None if v is None else round(v, 4)) for k, v in {**e, **c}.items()}
    _underfitting(
        ctx,
        train,
        n,
        linear,
        cut_short,
        {**table, "stopped_by": hist.stopped_by, "steps": hist.steps},
    )
    if _significant(train, n["train"], val, n["val"], rates):
        ctx.add(
            make(
                "overfitting",
                f"val {m} {val:.1%} is {val - train:.1%} above train {m} {train:.1%}",
                table,
            )
        )
    _shift_findings(ctx, bv, rates, table)
    return bv


def _underfitting(
    ctx: Context,
    train: float,
    n: dict[str, int],
    linear: float | None,
    cut_short: bool,
    evidence: dict[str, Any],
) -> None:
    """underfitting needs evidence that a lower error is reachable: a human-level error,
    or a linear model that does better on unseen data than the model on its own data."""
    irreducible = ctx.human_error or 0.0
    bias = train - irreducible
    if bias < GAP:
        return
    m = ctx.problem.metric if ctx.problem is not None else "error"
    head = f"train {m} {train:.1%} is {bias:.1%} above the irreducible {m} {irreducible:.1%}"
    se = math.sqrt(max(linear * (1 - linear), 1e-4) / max(n["val"], 1)) if linear else 0.0
    if cut_short:
        ctx.add(
            make(
                "underfitting",
                head + f"; the training was still improving at the end of its "
                f"{evidence.get('steps')} planned steps",
                evidence,
                severity="info",
                next_step="train longer (dlstack train) to see where the train error ends up",
            )
        )
    elif ctx.human_error is not None:
        ctx.add(make("underfitting", head + " (human-level)", evidence))
    elif linear is not None and train > linear + max(GAP / 2, 2 * se):
        ctx.add(
            make(
                "underfitting",
                f"train error {train:.1%} is above the error a linear "
                f"model reaches on unseen val data ({linear:.1%})",
                {**evidence, "linear_val_error": linear},
            )
        )
    else:
        ctx.add(
            make(
                "underfitting",
                head + " if the task allows 0; pass human_error= to judge the bias",
                evidence,
                severity="info",
                next_step="estimate human-level error and pass it as human_error",
            )
        )


def _shift_findings(ctx: Context, bv: BiasVariance, rates: bool, table: dict[str, Any]) -> None:
    e, n, m = bv.errors, bv.sizes, bv.metric
    val, test_val, test = e["val"], e["test_val"], e["test"]
    assert val is not None
    if test_val is not None:
        if _significant(val, n["val"], test_val, n["test_val"], rates):
            ctx.add(
                make(
                    "distribution-shift",
                    f"test-val {m} {test_val:.1%} is {test_val - val:.1%} above val {m} {val:.1%}",
                    table,
                )
            )
    elif test is not None:
        if _significant(val, n["val"], test, n["test"], rates):
            ctx.add(
                make(
                    "distribution-shift",
                    f"test {m} {test:.1%} is {test - val:.1%} "
                    f"above val {m} {val:.1%} (without a test-val set this gap mixes "
                    f"distribution shift and val overfitting)",
                    table,
                )
            )
    else:
        ctx.add(not_applicable("distribution-shift", "no test or test_val data given"))
    if test is not None and test_val is not None:
        if _significant(test_val, n["test_val"], test, n["test"], rates):
            ctx.add(
                make(
                    "val-overfitting",
                    f"test {m} {test:.1%} is {test - test_val:.1%} "
                    f"above test-val {m} {test_val:.1%}",
                    table,
                )
            )
    else:
        ctx.add(not_applicable("val-overfitting", "needs both test and test_val data"))
