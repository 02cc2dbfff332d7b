"""Step 5, compare to a known result: the simplest baselines on the same data.

- majority: always the most frequent train class (for regression: the train mean; for a
  CTC line reader: the most frequent train line, scored by CER);
- linear: logistic regression (ridge regression for regression targets) on the flattened,
  standardized inputs, fit on up to ``LINEAR_ROWS`` train examples with scikit-learn.

Both are scored on val with the same error as the model, so the comparison is like for
like. A model that cannot beat them has a bug, or labels that do not depend on the inputs.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np
import torch

from dlstack.doctor._context import Context
from dlstack.doctor._findings import Severity, make, not_applicable
from dlstack.doctor._problem import _edit_distance, ctc_pair
from dlstack.doctor._tree import describe, index, leaves

__all__ = ["LINEAR_ROWS", "baseline_findings", "baselines"]

LINEAR_ROWS = 2000  # enough for a baseline; lbfgs on 2,000 x 784 takes well under a second
LINEAR_MAX_FEATURES = 10_000  # beyond this a linear baseline is slow and says little
LOGREG_C = 0.1  # mild L2: constant border pixels otherwise get huge weights
MAJORITY_MARGIN = 0.1  # "no better": within 10% (relative) of the majority baseline's error
LINEAR_MARGIN = 0.05  # worse than linear by 5 error points and 1.5x


def _labels(y: torch.Tensor, kind: str) -> np.ndarray:
    if kind == "soft":
        return y.argmax(1).numpy()
    if kind == "binary":
        return (y.reshape(len(y), -1)[:, 0] > 0.5).long().numpy()
    return y.numpy()


def _feature_leaves(x: Any) -> list[torch.Tensor]:
    """The input tensors that are measurements (float or uint8), not indices."""
    return [t for t in leaves(x) if t.is_floating_point() or t.dtype == torch.uint8]


def _features(x: Any) -> np.ndarray:
    """(n, features): every measurement input flattened, side by side."""
    parts = [t.reshape(len(t), -1).double() for t in _feature_leaves(x)]
    return torch.cat(parts, 1).numpy()


def baselines(ctx: Context) -> dict[str, Any]:
    """Val error of the majority and linear baselines: {"majority": e, "linear": e, ...}."""
    p = ctx.problem
    assert p is not None
    out: dict[str, Any] = {}
    if p.kind == "structured":
        out["skipped"] = f"no simple baseline for targets that are {describe(ctx.train.y)}"
        return out
    if p.kind == "ctc":
        return _most_frequent_line(ctx)
    if p.kind == "binary" and ctx.train.y[0].numel() > 1:
        out["skipped"] = "no simple baseline for multi-label targets"
        return out
    start = time.perf_counter()
    if p.kind == "regression":
        out["majority"] = 1.0  # the mean predictor, by definition of the normalized error
    else:
        ytr, yval = _labels(ctx.train.y, p.kind), _labels(ctx.val.y, p.kind)
        majority = np.bincount(ytr).argmax()
        out["majority"] = float((yval != majority).mean())
        out["majority_class"] = int(majority)
    features = sum(int(t[0].numel()) for t in _feature_leaves(ctx.train.x))
    if not features:
        kinds = sorted({str(t.dtype).removeprefix("torch.") for t in leaves(ctx.train.x)})
        out["linear_skipped"] = f"inputs are {', '.join(kinds)}, not features"
    elif features > LINEAR_MAX_FEATURES:
        out["linear_skipped"] = f"{features} features per example"
    else:
        out["linear"] = _linear(ctx)
    out["seconds"] = time.perf_counter() - start
    return out


def _most_frequent_line(ctx: Context) -> dict[str, Any]:
    """A line reader's majority baseline: always read the most frequent train line, scored
    by CER on val; no linear baseline (a line is a sequence, not one label)."""
    start = time.perf_counter()
    train, val = _lines(ctx.train.y), _lines(ctx.val.y)
    counts = Counter(tuple(line) for line in train)
    best, _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))  # ties: one fixed choice
    line = list(best)
    errors = sum(_edit_distance(line, ref) for ref in val)
    return {
        "majority": errors / max(sum(len(ref) for ref in val), 1),
        "majority_name": "always reading the most frequent train line",
        "majority_line": line,
        "linear_skipped": "a line is a sequence of characters, not one label",
        "seconds": time.perf_counter() - start,
    }


def _lines(y: Any) -> list[list[int]]:
    """Each line's codes, from (N, L) padded codes or ``(targets, lengths)``."""
    if ctc_pair(y):
        labels, lengths = y
        return [row[: int(n)] for row, n in zip(labels.tolist(), lengths.tolist(), strict=True)]
    return [[c for c in row if c != 0] for row in y.tolist()]


def _linear(ctx: Context) -> float:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    p = ctx.problem
    assert p is not None
    rows = ctx.rows(LINEAR_ROWS)
    xtr = _features(index(ctx.train.x, rows))
    xval = _features(ctx.val.x)
    scaler = StandardScaler().fit(xtr)
    xtr, xval = scaler.transform(xtr), scaler.transform(xval)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: a baseline, not a model
        if p.kind == "regression":
            ytr = ctx.train.y[rows].reshape(len(rows), -1).double().numpy()
            reg = Ridge(alpha=1.0).fit(xtr, ytr)
            pred = torch.as_tensor(reg.predict(xval)).reshape(ctx.val.y.shape)
            wrong, total = p.counts(pred.float(), ctx.val.y)
            return wrong / max(total, 1e-12)
        ytr = _labels(ctx.train.y[rows], p.kind)
        if len(np.unique(ytr)) < 2:
            return float((_labels(ctx.val.y, p.kind) != ytr[0]).mean())
        clf = LogisticRegression(C=LOGREG_C, tol=1e-3, max_iter=200, random_state=ctx.seed)
        clf.fit(xtr, ytr)
        return float((clf.predict(xval) != _labels(ctx.val.y, p.kind)).mean())


def baseline_findings(
    ctx: Context, base: dict[str, Any], val_error: float, cut_short: bool
) -> None:
    """worse-than-baseline: the trained model's val error against the baselines."""
    if "majority" not in base:
        ctx.add(not_applicable("worse-than-baseline", base.get("skipped", "no baseline")))
        return
    n = max(len(ctx.val), 1)
    se = math.sqrt(max(val_error * (1 - val_error), 1e-4) / n)
    majority, linear = base["majority"], base.get("linear")
    evidence = {
        "model_val_error": round(val_error, 4),
        "majority_val_error": round(majority, 4),
        "linear_val_error": None if linear is None else round(linear, 4),
        "val_examples": n,
    }
    severity: Severity | None = "info" if cut_short else None
    note = (
        " (the training was still improving at the end of its planned steps)" if cut_short else ""
    )
    metric = ctx.problem.metric if ctx.problem is not None else "error"
    name = base.get("majority_name", "always predicting the majority class")
    if val_error >= majority - max(MAJORITY_MARGIN * majority, 2 * se):
        ctx.add(
            make(
                "worse-than-baseline",
                f"val {metric} {val_error:.1%} is no better than {name} ({majority:.1%}){note}",
                evidence,
                severity=severity,
            )
        )
    elif (
        linear is not None
        and val_error > linear + max(LINEAR_MARGIN, 2 * se)
        and val_error > 1.5 * linear
    ):
        ctx.add(
            make(
                "worse-than-baseline",
                f"val {metric} {val_error:.1%} is worse than a linear "
                f"model on the raw inputs ({linear:.1%}){note}",
                evidence,
                severity=severity,
            )
        )
