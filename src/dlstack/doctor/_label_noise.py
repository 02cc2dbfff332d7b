"""label-noise, confident-learning style (Northcutt et al. 2021, what cleanlab implements).

Out-of-sample class probabilities for every train example come from cross-fitting: two
fresh copies of the model, each trained on one half of train and applied to the other.
Class j's threshold is the mean probability of j over the examples labeled j; an example
is a label issue when some other class clears its threshold and beats every class that
does (the off-diagonal of the confident joint).

Two ways noise shows:

- noise in train only: many more issues in train than in val (scored by the same
  models, so a weak model's own mistakes cancel out);
- noise in train and val alike (a labeling process that is wrong a third of the time):
  no excess, but the calibrated confident joint (cleanlab's ``estimate_joint``) puts a
  large share of the train labels off its diagonal: :func:`estimate_noise`.

cleanlab is not required (not installed here); its ``find_label_issues`` could replace
:func:`confident_issues` one-for-one. The lines are calibrated on data with known noise
rates: bench/doctor_label_noise.py.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dlstack.doctor._context import NOISE_STEPS, Context
from dlstack.doctor._data import Split
from dlstack.doctor._findings import make, not_applicable
from dlstack.doctor._train import fit
from dlstack.doctor._tree import batch_len, index, is_tensor, to_device
from dlstack.train import forward

__all__ = ["check_label_noise", "confident_disagreement", "confident_issues", "estimate_noise"]

SAMPLE_ROWS = 2000  # train examples cross-fitted (a sample is enough to estimate the noise)
MIN_EXAMPLES = 100
MIN_EXCESS = 0.05  # 5 points more issues in train than in val
Z = 3.0  # standard errors the excess must exceed
# Noise in train and val alike: the estimate is the smaller of the calibrated confident
# joint and the disagreement on the model's most confident quarter; a weak model inflates
# each (bench/doctor_label_noise.py, uniform flips in train and val on three data sets:
# 33% of labels wrong is estimated at 32-45%, 40% at 42-54%, 20% at 20-37%, 10% at
# 10-25%; clean digits and Gaussian classes at 0%, the hard 4-class make_classification at
# 16%; the healthy zoo cases at most 16%, none of them reported).
NOISE_WARN = 0.25  # a warning from here: about a quarter of the labels or more look wrong
NOISE_NOTE = 0.1  # an info note from here
TOP_SHARE = 0.25  # confident_disagreement looks at the model's most confident quarter
LEARNED = 0.75  # ... where it must disagree less than 3/4 of what chance would
MIN_CONFIDENCE = 0.5  # ... and be at least 50% sure on average (else it learned nothing)
CONSISTENT = 0.05  # the estimate at most the trained model's val error + 5 points
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


def estimate_noise(probs: Tensor, labels: Tensor, thresholds: Tensor | None = None) -> float:
    """The share of wrong labels: 1 - trace of the calibrated confident joint.

    The confident joint counts examples by (given label, class the model confidently
    prefers); each given label's row is rescaled to that label's count (examples no
    class is confident about are spread like the confident ones), and the joint
    normalized to sum to 1: cleanlab's ``estimate_joint``.

    >>> p = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    >>> round(estimate_noise(p, torch.tensor([0, 0, 1, 0])), 3)  # one of four looks wrong
    0.25
    """
    c = probs.shape[1]
    _, preferred, thresholds = confident_issues(probs, labels, thresholds)
    confident = (probs >= thresholds[None, :]).any(1)
    joint = torch.zeros(c, c, dtype=torch.float64)
    for given, true in zip(labels[confident].tolist(), preferred[confident].tolist(), strict=True):
        joint[given, true] += 1
    counts = torch.bincount(labels, minlength=c).double()
    rows = joint.sum(1, keepdim=True)
    joint = torch.where(rows > 0, joint / rows.clamp(min=1) * counts[:, None], joint)
    total = float(joint.sum())
    return 0.0 if total <= 0 else 1.0 - float(joint.diagonal().sum()) / total


def confident_disagreement(probs: Tensor, labels: Tensor, share: float = TOP_SHARE) -> float:
    """How often the label disagrees with the model where the model is most sure (the
    ``share`` of examples with the highest top probability).

    Uniform label noise at rate r is independent of the input, so it shows there too, at
    about r; a hard task's ambiguous examples, and a weak model's guesses, do not: they
    are not among its most confident predictions.

    >>> p = torch.tensor([[0.99, 0.01], [0.98, 0.02], [0.6, 0.4], [0.55, 0.45]])
    >>> confident_disagreement(p, torch.tensor([0, 1, 1, 1]), share=0.5)
    0.5
    """
    k = max(1, int(len(labels) * share))
    top = probs.max(1).values.argsort(descending=True)[:k]
    return float((probs[top].argmax(1) != labels[top]).float().mean())


@torch.no_grad()
def _probs(model: torch.nn.Module, x: Any, kind: str, device: torch.device) -> Tensor:
    model.eval()
    n = batch_len(x)
    out = torch.cat(
        [
            forward(model, to_device(index(x, slice(i, i + 512)), device)).float().cpu()
            for i in range(0, n, 512)
        ]
    )
    if kind == "binary":
        p1 = out.reshape(n, -1)[:, 0]
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
    """Cross-fit two half-models for ``steps`` steps together, then judge the labels."""
    p = ctx.problem
    assert p is not None
    if (
        p.kind not in ("multiclass", "binary")
        or not is_tensor(ctx.train.y)
        or (p.kind == "binary" and ctx.train.y[0].numel() > 1)
    ):
        ctx.add(not_applicable("label-noise", "not a single-label classification task"))
        return None
    n = len(ctx.train)
    if n < MIN_EXAMPLES or len(ctx.val) < MIN_EXAMPLES // 2:
        ctx.add(not_applicable("label-noise", f"too few examples ({n} train)"))
        return None
    g = torch.Generator().manual_seed(ctx.seed + 1)
    sample = torch.randperm(n, generator=g)[:SAMPLE_ROWS]  # train rows that get a verdict
    halves = torch.arange(len(sample)).chunk(2)
    oof = torch.zeros(len(sample), p.num_classes or 2)
    val_probs: list[Tensor] = []  # one per half-model: as strong as the out-of-fold ones
    per_half = max(1, min(steps, NOISE_STEPS) // 2)
    done = 0
    for k, held in enumerate(halves):
        rows = sample[halves[1 - k]]
        part = Split(
            f"train-half-{k}", index(ctx.train.x, rows), ctx.train.y[rows], None, len(rows)
        )
        model = ctx.fresh_model()
        hist = fit(
            model,
            part,
            p,
            ctx.optim,
            val=None,
            batch_size=ctx.batch_size,
            time_s=ctx.budget.left(),
            max_steps=per_half,
            seed=ctx.seed + k,
        )
        done += hist.steps
        ctx.budget.record(hist.steps, hist.seconds)
        if hist.cut_by_time:
            ctx.cut("label-noise", "label-noise check", done, 2 * per_half)
            return None
        if hist.nonfinite is not None:
            ctx.skip(
                "label-noise",
                "label-noise check",
                f"its cross-fitting training met a non-finite loss at step "
                f"{hist.nonfinite['step'] + 1} (see nan-inf)",
            )
            return None
        oof[held] = _probs(model, index(ctx.train.x, sample[held]), p.kind, ctx.device)
        val_probs.append(_probs(model, ctx.val.x, p.kind, ctx.device))
    labels = _labels(ctx.train.y[sample], p.kind)
    result = _judge(ctx, oof, labels, val_probs, sample)
    result["cross_fit_steps"] = done
    return result


def _judge(
    ctx: Context, oof: Tensor, labels: Tensor, val_probs: list[Tensor], sample: Tensor
) -> dict[str, Any]:
    """The numbers of the check, and its finding (if any)."""
    assert ctx.problem is not None
    n = len(sample)
    issue, preferred, thresholds = confident_issues(oof, labels)
    val_labels = _labels(ctx.val.y, ctx.problem.kind)
    f_val = sum(
        float(confident_issues(vp, val_labels, thresholds)[0].float().mean()) for vp in val_probs
    ) / len(val_probs)
    f_train = float(issue.float().mean())
    se = math.sqrt(f_train * (1 - f_train) / n + max(f_val * (1 - f_val), 1e-4) / len(ctx.val))
    joint = estimate_noise(oof, labels, thresholds)
    top = confident_disagreement(oof, labels)
    conf = oof.max(1).values
    top_confidence = float(conf.sort(descending=True).values[: max(1, int(n * TOP_SHARE))].mean())
    chance = 1.0 - float(torch.bincount(labels).max()) / max(n, 1)  # always the majority
    rate = min(joint, top)  # both see noise; each alone is inflated by a weak model
    rate_se = math.sqrt(max(rate * (1 - rate), 1e-4) / max(1, int(n * TOP_SHARE)))
    # a model that learned the inputs: well below chance and confident where it is most sure
    learned = top <= LEARNED * chance and top_confidence >= MIN_CONFIDENCE
    # and cross-fitted models (on half the data) as good as the real one: noise at rate r
    # costs the real model r of its val error too; far more means weak half-models
    bv = ctx.evidence.get("bias_variance")
    val_error = bv.errors.get("val") if bv is not None else None
    learned = learned and (val_error is None or rate <= val_error + CONSISTENT)
    flagged = torch.nonzero(issue).flatten()
    order = flagged[oof[flagged, preferred[flagged]].argsort(descending=True)][:SHOWN]
    train_rows = sample[order]
    source_rows = ctx.train.indices[train_rows] if ctx.train.indices is not None else train_rows
    result: dict[str, Any] = {
        "train_issue_fraction": round(f_train, 4),
        "val_issue_fraction": round(f_val, 4),
        "train_issues": int(issue.sum()),
        "train_examples_checked": n,
        "excess_over_val": round(max(0.0, f_train - f_val), 4),
        "estimated_noise": round(rate, 4),
        "confident_joint_estimate": round(joint, 4),
        "confident_disagreement": round(top, 4),
        "top_confidence": round(top_confidence, 4),
        "chance_disagreement": round(chance, 4),
        "model_val_error": None if val_error is None else round(float(val_error), 4),
        "examples": [
            {
                "row": int(r),
                "given": int(labels[i]),
                "model_says": int(preferred[i]),
                "confidence": round(float(oof[i, preferred[i]]), 3),
            }
            for r, i in zip(source_rows.tolist(), order.tolist(), strict=True)
        ],
    }
    if f_train - f_val >= MIN_EXCESS and f_train - f_val > Z * se:
        result["estimated_noise"] = round(f_train - f_val, 4)
        ctx.add(
            make(
                "label-noise",
                f"{int(issue.sum())} of {n} train labels ({f_train:.0%}) are "
                f"contradicted by out-of-sample predictions, against {f_val:.0%} in val: "
                f"about {f_train - f_val:.0%} of train labels look wrong",
                result,
            )
        )
    elif learned and rate >= NOISE_WARN and rate - Z * rate_se >= NOISE_NOTE:
        ctx.add(
            make(
                "label-noise",
                f"about {rate:.0%} of the labels look wrong, in train and val alike: "
                f"where the cross-fitted model is most sure ({TOP_SHARE:.0%} of train, "
                f"{top_confidence:.0%} confident on average) {top:.0%} of the labels "
                f"disagree with it, and confident learning puts {joint:.0%} of them off "
                f"the diagonal",
                result,
                causes=[
                    "a labeling process that is often wrong (annotators, weak labels, a "
                    "label mapping that is off for some classes)",
                    "classes that overlap so much that the labels are close to a coin flip",
                ],
                next_step="review the listed examples and relabel a sample to measure the "
                "noise; fix the labeling, or train with a noise-robust loss",
            )
        )
    elif learned and rate >= NOISE_NOTE:
        ctx.add(
            make(
                "label-noise",
                f"about {rate:.0%} of the labels disagree with a confident out-of-sample "
                f"model: some label noise, or classes that overlap (below the "
                f"{NOISE_WARN:.0%} reported as a problem)",
                result,
                severity="info",
                next_step="look at the listed examples",
            )
        )
    return result
