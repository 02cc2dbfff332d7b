"""label-noise, confident-learning style (Northcutt et al. 2021, what cleanlab implements).

Out-of-sample class probabilities for every train example come from cross-fitting: two
fresh copies of the model, each trained on one half of train and applied to the other.
Class j's threshold is the mean probability of j over the examples labeled j; an example
is a label issue when some other class clears its threshold and beats every class that
does (the off-diagonal of the confident joint).

A weak model also "contradicts" labels where it is simply wrong, so the same rule is
applied to val, scored by the same models: noise in train shows as many more issues in
train than in val. cleanlab is not required (not installed here); its
``find_label_issues`` could replace :func:`confident_issues` one-for-one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dlstack.doctor._context import Context
from dlstack.doctor._data import Split
from dlstack.doctor._findings import make, not_applicable
from dlstack.doctor._train import fit
from dlstack.train import forward

__all__ = ["check_label_noise", "confident_issues"]

TIME_SHARE = 0.08
MAX_STEPS = 800  # both halves together: the main training's step count, up to this
SAMPLE_ROWS = 2000  # train examples cross-fitted (a sample is enough to estimate the noise)
MIN_EXAMPLES = 100
MIN_EXCESS = 0.05  # 5 points more issues in train than in val
Z = 3.0  # standard errors the excess must exceed
SHOWN = 20


def confident_issues(
    probs: Tensor, labels: Tensor, thresholds: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """(issue mask, the class the model prefers, per-class thresholds)."""
    c = probs.shape[1]
    if thresholds is None:
        thresholds = torch.stack(
            [
                probs[labels == j, j].mean() if bool((labels == j).any()) else torch.tensor(1.0)
                for j in range(c)
            ]
        )
    above = probs >= thresholds[None, :]
    masked = torch.where(above, probs, torch.full_like(probs, -1.0))
    preferred = masked.argmax(1)
    issue = above.any(1) & (preferred != labels)
    return issue, preferred, thresholds


@torch.no_grad()
def _probs(model: torch.nn.Module, x: Tensor, kind: str, device: torch.device) -> Tensor:
    model.eval()
    out = torch.cat(
        [forward(model, x[i : i + 512].to(device)).float().cpu() for i in range(0, len(x), 512)]
    )
    if kind == "binary":
        p1 = out.reshape(len(x), -1)[:, 0]
        p1 = p1 if bool(((p1 >= 0) & (p1 <= 1)).all()) else p1.sigmoid()
        return torch.stack([1 - p1, p1], 1)
    if bool(((out >= 0) & (out <= 1)).all()) and bool(
        torch.allclose(out.sum(1), torch.ones(1), atol=1e-3)
    ):
        return out
    return out.softmax(1)


def _labels(y: Tensor, kind: str) -> Tensor:
    return (y.reshape(len(y), -1)[:, 0] > 0.5).long() if kind == "binary" else y.long()


def check_label_noise(ctx: Context, steps: int) -> dict[str, Any] | None:
    p = ctx.problem
    assert p is not None
    if p.kind not in ("multiclass", "binary") or (
        p.kind == "binary" and ctx.train.y[0].numel() > 1
    ):
        ctx.add(not_applicable("label-noise", "not a single-label classification task"))
        return None
    n = len(ctx.train)
    if n < MIN_EXAMPLES or len(ctx.val) < MIN_EXAMPLES // 2:
        ctx.add(not_applicable("label-noise", f"too few examples ({n} train)"))
        return None
    if ctx.budget.left() < ctx.budget.total * TIME_SHARE:
        ctx.add(
            not_applicable(
                "label-noise",
                f"the budget ({ctx.budget.total:.0f} s) is spent; rerun with a larger budget_s",
            )
        )
        return None
    g = torch.Generator().manual_seed(ctx.seed + 1)
    sample = torch.randperm(n, generator=g)[:SAMPLE_ROWS]  # train rows that get a verdict
    halves = torch.arange(len(sample)).chunk(2)
    oof = torch.zeros(len(sample), p.num_classes or 2)
    val_probs: list[Tensor] = []  # one per half-model: as strong as the out-of-fold ones
    share = ctx.budget.share(TIME_SHARE) / 2
    for k, held in enumerate(halves):
        rows = sample[halves[1 - k]]
        part = Split(f"train-half-{k}", ctx.train.x[rows], ctx.train.y[rows], None, len(rows))
        model = ctx.fresh_model()
        fit(
            model,
            part,
            p,
            ctx.optim,
            val=None,
            batch_size=ctx.batch_size,
            time_s=share,
            max_steps=max(1, min(steps, MAX_STEPS) // 2),
            seed=ctx.seed + k,
        )
        oof[held] = _probs(model, ctx.train.x[sample[held]], p.kind, ctx.device)
        val_probs.append(_probs(model, ctx.val.x, p.kind, ctx.device))
    labels = _labels(ctx.train.y[sample], p.kind)
    n = len(sample)
    issue, preferred, thresholds = confident_issues(oof, labels)
    val_labels = _labels(ctx.val.y, p.kind)
    f_val = sum(
        float(confident_issues(vp, val_labels, thresholds)[0].float().mean()) for vp in val_probs
    ) / len(val_probs)
    f_train = float(issue.float().mean())
    se = math.sqrt(f_train * (1 - f_train) / n + max(f_val * (1 - f_val), 1e-4) / len(ctx.val))
    flagged = torch.nonzero(issue).flatten()
    order = flagged[oof[flagged, preferred[flagged]].argsort(descending=True)][:SHOWN]
    train_rows = sample[order]
    source_rows = ctx.train.indices[train_rows] if ctx.train.indices is not None else train_rows
    examples = [
        {
            "row": int(r),
            "given": int(labels[i]),
            "model_says": int(preferred[i]),
            "confidence": round(float(oof[i, preferred[i]]), 3),
        }
        for r, i in zip(source_rows.tolist(), order.tolist(), strict=True)
    ]
    result = {
        "train_issue_fraction": round(f_train, 4),
        "val_issue_fraction": round(f_val, 4),
        "train_issues": int(issue.sum()),
        "train_examples_checked": n,
        "estimated_noise": round(max(0.0, f_train - f_val), 4),
        "examples": examples,
    }
    if f_train - f_val >= MIN_EXCESS and f_train - f_val > Z * se:
        ctx.add(
            make(
                "label-noise",
                f"{int(issue.sum())} of {n} train labels ({f_train:.0%}) are "
                f"contradicted by out-of-sample predictions, against {f_val:.0%} in val: "
                f"about {f_train - f_val:.0%} of train labels look wrong",
                result,
            )
        )
    return result
