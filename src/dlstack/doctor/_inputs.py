"""Step 2, sanity of inputs and loss: scale, class balance, initial loss vs chance, and
probabilities fed to a loss that expects logits.

Thresholds are named below with where they come from; they are wide on purpose, so that a
healthy setup is never flagged and a planted bug (pixels left at 0..255, a softmax before
cross-entropy, a last layer scaled up) always is.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dlstack.doctor._context import Context
from dlstack.doctor._data import Split
from dlstack.doctor._findings import make, not_applicable
from dlstack.doctor._nonfinite import explain, nonfinite_finding
from dlstack.doctor._tree import describe, is_tensor, leaves, named_leaves
from dlstack.train import forward

__all__ = ["check_class_balance", "check_init_loss", "check_scale", "check_softmax", "input_stats"]

STATS_ROWS = 2000  # examples the input statistics are measured on
SCALE_STD_MAX = 20.0  # raw 0..255 pixels have a std of ~80; standardized inputs ~1
SCALE_STD_MIN = 0.02  # pixels divided by 255 twice have a std of ~0.001
SCALE_MEAN_MAX = 20.0
SCALE_SOFT = 5.0  # 0..16 or 0..10 ranges: flagged only when the initial loss shows it
FEATURE_STD_RATIO = 100.0  # tabular features on scales 100x apart
SPLIT_MEAN_SHIFT = 1.0  # val mean this many train stds away from the train mean
SPLIT_STD_RATIO = 3.0
IMBALANCE_RATIO = 5.0  # most/least frequent class; 5:1 already hides the rare class in accuracy
MIN_PER_CLASS = 10  # fewer train examples per class on average: counts are mostly noise
INIT_LOSS_FACTOR = 4.0  # far from chance: above 4 ln C and ln C + 6 (check_init_loss says
INIT_LOSS_MARGIN = 6.0  # why: dlstack's own He-initialized models start at up to 3-5x)
INIT_NOTE_FACTOR = 1.5  # above 1.5 ln C and ln C + 1: an info note
INIT_ROWS = 512


def input_stats(x: Tensor) -> dict[str, Any]:
    """Mean, std, min, max of float-able inputs, and per-feature stds for flat inputs."""
    v = x[:STATS_ROWS].double()
    stats: dict[str, Any] = {
        "mean": float(v.mean()),
        "std": float(v.std()) if v.numel() > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }
    if v.ndim == 2 and v.shape[1] > 1 and v.shape[0] > 1:
        stds = v.std(0)
        used = stds[stds > 1e-12]
        if used.numel() >= 2:
            stats["feature_std_ratio"] = float(used.max() / used.min())
            stats["feature_std_max"] = float(used.max())
    if v.ndim == 4 and v.shape[1] <= 4:
        stats["channel_mean"] = [round(float(m), 4) for m in v.mean((0, 2, 3))]
        stats["channel_std"] = [round(float(s), 4) for s in v.std((0, 2, 3))]
    return stats


def _scalable(x: Tensor) -> bool:
    return x.is_floating_point() or x.dtype == torch.uint8


def check_scale(ctx: Context) -> None:
    """input-scale on train, and val inputs scaled differently from train; several inputs
    (a tuple or dict of tensors) are judged one by one."""
    names = [n for n, t in named_leaves(ctx.train.x) if _scalable(t)]
    if not names:
        kinds = sorted({str(t.dtype).removeprefix("torch.") for t in leaves(ctx.train.x)})
        ctx.add(
            not_applicable(
                "input-scale",
                f"inputs are {', '.join(kinds)} (indices, not measurements)"
                if is_tensor(ctx.train.x)
                else f"inputs are {describe(ctx.train.x)} of {', '.join(kinds)} (indices)",
            )
        )
        return
    problems: list[str] = []
    notes: list[str] = []
    every: dict[str, Any] = {}
    for name in names:
        stats = {
            s.name: input_stats(leaf)
            for s in ctx.splits()
            for n, leaf in named_leaves(s.x)
            if n == name and _scalable(leaf)
        }
        label = f"input{name} " if name else ""
        every[name or "input"] = stats
        found, note = _scale_of(ctx, stats, label)
        problems += found
        notes += [note] if note else []
    stats_ev = every["input"] if is_tensor(ctx.train.x) else every
    ctx.evidence["input_stats"] = stats_ev
    if problems:
        ctx.add(make("input-scale", problems[0], {"problems": problems, "stats": stats_ev}))
    elif notes:
        ctx.add(make("input-scale", notes[0], {"stats": stats_ev}, severity="info"))


def _scale_of(ctx: Context, stats: dict[str, Any], label: str) -> tuple[list[str], str]:
    """(problems, a note) for one input tensor's statistics per split."""
    train = stats["train"]
    problems = [label + p for p in _scale_problems(train)]
    soft = abs(train["mean"]) > SCALE_SOFT or train["std"] > SCALE_SOFT
    init = ctx.evidence.get("initial_loss")
    chance = ctx.problem.chance_loss if ctx.problem else None
    shows = init is not None and chance is not None and init > chance + 1.0
    if not problems and soft and shows:
        problems.append(
            f"train {label}inputs have mean {train['mean']:.3g} and std "
            f"{train['std']:.3g}, and the initial loss {init:.3g} is above "
            f"chance {chance:.3g}"
        )
    val = stats.get("val")
    if val is not None:
        shift = abs(val["mean"] - train["mean"]) / max(train["std"], 1e-12)
        ratio = max(val["std"], 1e-12) / max(train["std"], 1e-12)
        if shift > SPLIT_MEAN_SHIFT or not 1 / SPLIT_STD_RATIO < ratio < SPLIT_STD_RATIO:
            problems.append(
                f"val {label}inputs are scaled differently from train (mean "
                f"{val['mean']:.3g} vs {train['mean']:.3g}, std {val['std']:.3g} "
                f"vs {train['std']:.3g})"
            )
    for name in ("test_val", "test"):
        if name in stats and _scale_problems(stats[name]):
            problems.append(f"{name} {label}inputs: " + "; ".join(_scale_problems(stats[name])))
    note = ""
    if soft or abs(train["mean"]) > 1.0 or not 0.1 < train["std"] < 3.0:
        note = (
            f"{label}inputs are not standardized (mean {train['mean']:.3g}, "
            f"std {train['std']:.3g}); training copes, standardizing may still help"
        )
    return problems, note


def _scale_problems(s: dict[str, Any]) -> list[str]:
    out = []
    if s["std"] > SCALE_STD_MAX or abs(s["mean"]) > SCALE_MEAN_MAX:
        out.append(
            f"inputs range {s['min']:.3g}..{s['max']:.3g} (mean {s['mean']:.3g}, std "
            f"{s['std']:.3g}): not scaled"
        )
    elif s["std"] < SCALE_STD_MIN:
        out.append(
            f"inputs are almost constant (std {s['std']:.2g}, range {s['min']:.3g}.."
            f"{s['max']:.3g}): scaled twice, or no signal"
        )
    if (
        s.get("feature_std_ratio", 0) > FEATURE_STD_RATIO
        and s.get("feature_std_max", 0) > SCALE_SOFT
    ):
        out.append(
            f"feature scales differ {s['feature_std_ratio']:.3g}x (largest std "
            f"{s['feature_std_max']:.3g})"
        )
    return out


def class_counts(split: Split, num_classes: int | None) -> Tensor | None:
    y = split.y
    if not is_tensor(y):
        return None
    if y.is_floating_point():
        if y.ndim != 1:
            return None
        y = (y > 0.5).long()
    if y.ndim != 1:
        return None
    size = max(int(y.max()) + 1 if y.numel() else 0, num_classes or 0)
    return torch.bincount(y.clamp(min=0), minlength=size)


def check_class_balance(ctx: Context) -> None:
    """class-imbalance: the most vs the least frequent class of train (and missing classes)."""
    p = ctx.problem
    if p is None or p.kind not in ("multiclass", "binary"):
        ctx.add(not_applicable("class-imbalance", "not a single-label classification task"))
        return
    counts = class_counts(ctx.train, p.num_classes)
    if counts is not None and len(ctx.train) < MIN_PER_CLASS * len(counts):
        ctx.add(
            not_applicable(
                "class-imbalance",
                f"{len(ctx.train)} train examples for {len(counts)} classes is too few to judge",
            )
        )
        return
    if counts is None:
        ctx.add(not_applicable("class-imbalance", "targets are not one label per example"))
        return
    others = [
        class_counts(s, p.num_classes) for s in (ctx.val, ctx.test_val, ctx.test) if s is not None
    ]
    every = [counts, *(c for c in others if c is not None)]
    width = max(len(c) for c in every)
    every = [F.pad(c, (0, width - len(c))) for c in every]
    counts, present = every[0], torch.stack(every).sum(0) > 0
    used = counts[present]
    missing = [i for i in range(len(counts)) if present[i] and counts[i] == 0]
    ratio = float(used.max()) / max(float(used.min()), 1.0) if used.numel() else 1.0
    evidence = {
        "train_counts": counts.tolist(),
        "ratio": round(ratio, 2),
        "majority_fraction": round(float(used.max()) / max(float(used.sum()), 1), 4),
        "missing_from_train": missing,
    }
    ctx.evidence["class_counts"] = counts.tolist()
    if missing:
        ctx.add(
            make(
                "class-imbalance",
                f"classes {missing} appear in evaluation data but never in train",
                evidence,
            )
        )
    elif ratio >= IMBALANCE_RATIO:
        big, small = (
            int(counts.argmax()),
            int(torch.where(present, counts, counts.max() + 1).argmin()),
        )
        ctx.add(
            make(
                "class-imbalance",
                f"class {big} has {ratio:.1f}x the train examples of "
                f"class {small} ({int(counts[big])} vs {int(counts[small])})",
                evidence,
            )
        )


@torch.no_grad()
def initial_loss(ctx: Context) -> tuple[float, Tensor | None]:
    """The mean loss of a fresh model over INIT_ROWS train rows, and the rows of the
    first batch whose loss is not finite (None when every batch is finite)."""
    model = ctx.fresh_model()
    rows = ctx.rows(INIT_ROWS)
    total, n = 0.0, 0
    bad = None
    for chunk in rows.split(ctx.batch_size):
        x, y = ctx.take(ctx.train, chunk)
        loss = float(ctx.loss_fn(forward(model, x), y))
        if not math.isfinite(loss) and bad is None:
            bad = chunk
        total, n = total + loss * len(chunk), n + len(chunk)
    return total / max(n, 1), bad


def check_init_loss(ctx: Context) -> None:
    """bad-init-loss: initial loss vs the chance value (ln C for cross-entropy); a loss
    that is not finite on some first batches is nan-inf, with the rows that cause it.

    The lines, from bench/doctor_init_loss.py (dlstack's He-initialized zoo models, ten
    seeds, standardized inputs): healthy models start at up to 3.2x ln C for 10 classes
    (LeNet on 8x8 digits: mean 4.71, max 7.46 against 2.30), 5.2x for 3 classes (5.72)
    and 3.0x for 100 (13.8); PyTorch's default init starts within 0.1 of ln C. So a
    warning needs more than all of them, above INIT_LOSS_FACTOR x ln C and ln C +
    INIT_LOSS_MARGIN (9.2 for 10 classes; the planted bugs start at 12-37), and a loss
    above INIT_NOTE_FACTOR x ln C and ln C + 1 (3.45 for 10 classes: 4.49 is) is an info
    note: logits larger than a small last layer gives, which training usually absorbs.
    """
    loss, bad = initial_loss(ctx)
    ctx.evidence["initial_loss"] = loss
    if bad is not None:
        info = explain(ctx.fresh_model(), ctx.train, bad, ctx.loss_fn, "loss")
        ctx.add(
            nonfinite_finding(
                {**info, "loss": loss}, "the initial-loss check", -1, " (no training yet)"
            )
        )
        return
    chance = ctx.problem.chance_loss if ctx.problem else None
    if chance is None:
        ctx.add(
            not_applicable("bad-init-loss", f"the chance value of {ctx.loss_name} is not known")
        )
        return
    limit = max(INIT_LOSS_FACTOR * chance, chance + INIT_LOSS_MARGIN)
    note = max(INIT_NOTE_FACTOR * chance, chance + 1.0)
    evidence = {
        "initial_loss": round(loss, 4),
        "chance": round(chance, 4),
        "limit": round(limit, 4),
        "note_above": round(note, 4),
        "ratio": round(loss / chance, 2),
    }
    c = ctx.problem.num_classes if ctx.problem else "?"
    if loss > limit:
        ctx.add(
            make(
                "bad-init-loss",
                f"initial loss {loss:.3g} is far above the chance value {chance:.3g} (ln {c})",
                evidence,
            )
        )
    elif loss > note:
        ctx.add(
            make(
                "bad-init-loss",
                f"initial loss {loss:.3g} is {loss / chance:.1f}x the chance value "
                f"{chance:.3g} (ln {c}): the first logits are larger than needed",
                evidence,
                severity="info",
                causes=[
                    "the last layer initialized like a hidden one (He init on the logits "
                    "layer), or inputs on a large scale",
                ],
                next_step="initialize the last layer smaller (e.g. scale its weights by "
                "0.1) so that training starts near ln(num_classes)",
            )
        )


@torch.no_grad()
def check_softmax(ctx: Context) -> None:
    """softmax-before-loss: outputs that are probabilities, into a loss wanting logits."""
    p = ctx.problem
    if p is None or p.kind == "regression":
        return
    model = ctx.fresh_model().eval()
    x, y = ctx.probe()
    out = forward(model, x).float()
    how = _probabilities(out, p.kind)
    if how is None or p.expects == "probabilities":
        return
    expects = p.expects
    if expects in ("unknown", "values"):
        expects = _empirical_expectation(ctx, out, y) or expects
    if expects not in ("logits", "log-probs"):
        return
    sums = out.sum(-1).flatten()[:4] if out.ndim >= 2 else out.flatten()[:0]
    ctx.add(
        make(
            "softmax-before-loss",
            f"the model outputs {how}, and {p.loss_name} expects {expects}",
            {
                "output_min": float(out.min()),
                "output_max": float(out.max()),
                "row_sums": [round(float(v), 4) for v in sums],
                "loss_expects": expects,
            },
        )
    )


def _probabilities(out: Tensor, kind: str) -> str | None:
    if out.numel() < 8 or not bool(((out >= 0) & (out <= 1)).all()):
        return None
    if (
        kind == "ctc"
        and out.ndim == 3
        and bool(torch.allclose(out.sum(-1), torch.ones(1), atol=1e-3))
    ):
        return "probabilities (a softmax over the classes)"
    if out.ndim >= 2 and out.shape[1] >= 2:
        if bool(torch.allclose(out.sum(1), torch.ones(1), atol=1e-3)):
            return "probabilities (a softmax over the classes)"
        if out.shape[0] >= 2 and bool(torch.allclose(out.sum(0), torch.ones(1), atol=1e-3)):
            return "a softmax over the batch dimension (dim 0), not the classes"
    if kind == "binary" and bool(((out > 0) & (out < 1)).all()):
        return "values in (0, 1) (a sigmoid)"
    return None


def _empirical_expectation(ctx: Context, out: Tensor, y: Tensor) -> str | None:
    """For an unknown loss: is it numerically cross-entropy or NLL on these outputs?"""
    try:
        got = float(ctx.loss_fn(out, y))
        if not y.is_floating_point() and out.ndim == 2:
            if math.isclose(got, float(F.cross_entropy(out, y)), rel_tol=1e-4, abs_tol=1e-5):
                return "logits"
            if math.isclose(got, float(F.nll_loss(out, y)), rel_tol=1e-4, abs_tol=1e-5):
                return "log-probs"
        elif out.numel() == y.numel():
            ref = F.binary_cross_entropy_with_logits(out.reshape(y.shape), y.float())
            if math.isclose(got, float(ref), rel_tol=1e-4, abs_tol=1e-5):
                return "logits"
    except Exception:  # the user's loss on other inputs: no conclusion
        return None
    return None
