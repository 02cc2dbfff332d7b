"""What only a CTC line reader needs: enough frames per line, and the blank plateau.

CTC aligns a line of L characters to T output frames with a blank (0) allowed anywhere
and required between two equal characters in a row, so a line fits only when
T >= L + its repeated pairs ("1001" needs 5 frames; T >= 2L+1 always suffices). A line
that does not fit has an infinite loss (zero_infinity drops it): the model can never
learn to read it (``ctc-too-few-frames``).

Early in training a CTC model outputs the blank at every frame: greedy decoding reads
empty lines (CER 100%) while the loss keeps falling slowly, until the characters appear,
typically after some hundreds of steps. That is the known blank plateau, not a bug
(``ctc-blank-plateau``); a CER stuck at 100% with a loss that no longer falls is one.

>>> frames_needed(torch.tensor([[1, 2, 2, 0], [3, 3, 3, 3]])).tolist()
[4, 7]
>>> blank_plateau([30.0, 20.0, 19.0, 18.5, 18.0, 17.6, 17.2, 16.9], [1.0] * 8, empty=1.0)
True
>>> blank_plateau([30.0, 20.0, 19.0, 18.5, 18.0, 18.0, 18.0, 18.0], [1.0] * 8, empty=1.0)
False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from dlstack.doctor._context import Context
from dlstack.doctor._findings import Finding, Severity, make
from dlstack.doctor._problem import ctc_log_probs, ctc_pair
from dlstack.doctor._tree import batch_len, is_tensor
from dlstack.train import forward

__all__ = [
    "BLANK_CER",
    "BLANK_EMPTY",
    "FALLING",
    "blank_plateau",
    "check_frames",
    "empty_share",
    "frames_finding",
    "frames_needed",
    "plateau_finding",
    "still_falling",
    "training_plateau",
]

BLANK_CER = 0.99  # a CER at 100%: nothing read (empty lines score exactly 1.0)
BLANK_EMPTY = 0.9  # at least 90% of the lines decode to nothing: blanks, not garbage
FALLING = 0.01  # the loss fell at least 1% over the last quarter: still learning
FEW_LINES = 0.05  # under 5% of the lines do not fit: a warning; more: an error
SHOWN = 5  # lines named in the evidence


def frames_needed(target: Any) -> Tensor:
    """(N,) the fewest frames each line needs: its length plus its repeated pairs.

    ``target`` is (N, L) codes padded with 0, or ``(targets, lengths)``."""
    if ctc_pair(target):
        labels, lengths = target
        keep = torch.arange(labels.shape[1])[None, :] < lengths[:, None]
    else:
        labels = target
        keep = labels != 0
    lengths = keep.sum(1)
    repeats = (labels[:, 1:] == labels[:, :-1]) & keep[:, 1:] & keep[:, :-1]
    return lengths + repeats.sum(1)


def frames_finding(
    need: Tensor, frames: Tensor, where: str, ids: Sequence[str] | None = None
) -> Finding | None:
    """ctc-too-few-frames when some line needs more frames than the model gives it;
    ``ids`` name the lines in the evidence (their row numbers otherwise)."""
    short = torch.nonzero(need > frames).flatten()
    if len(short) == 0:
        return None
    share = len(short) / max(len(need), 1)
    severity: Severity = "warning" if share < FEW_LINES else "error"
    lines = f"{where} lines" if where else "lines"
    worst = short[(need[short] - frames[short]).argsort(descending=True)][:SHOWN]
    return make(
        "ctc-too-few-frames",
        f"{len(short)} of {len(need)} {lines} ({share:.1%}) need more frames than "
        f"the model outputs for them (e.g. {int(need[worst[0]])} needed, "
        f"{int(frames[worst[0]])} given): CTC can never read them",
        {
            "lines": len(need),
            "too_long": len(short),
            "share": round(share, 4),
            "examples": [
                {
                    "line": int(i) if ids is None else str(ids[int(i)]),
                    "frames_needed": int(need[i]),
                    "frames": int(frames[i]),
                }
                for i in worst
            ],
        },
        severity=severity,
    )


def empty_share(output: Tensor, batch: int) -> float:
    """The share of lines whose greedy decoding is empty: every frame's best is the blank."""
    best = ctc_log_probs(output.detach(), batch).argmax(-1)  # (T, N)
    return float((best == 0).all(0).float().mean())


def still_falling(losses: Sequence[float]) -> bool:
    """True when the loss fell at least FALLING over the last quarter of the curve
    (averaged at both ends, so one noisy step decides nothing)."""
    finite = [v for v in losses if v == v and abs(v) != float("inf")]
    if len(finite) < 2:
        return False
    quarter = finite[(3 * len(finite)) // 4 :] if len(finite) >= 8 else finite[-2:]
    m = max(1, len(quarter) // 4)
    start, end = sum(quarter[:m]) / m, sum(quarter[-m:]) / m
    return (start - end) / (abs(start) + 1e-8) >= FALLING and end < finite[0]


def blank_plateau(losses: Sequence[float], errors: Sequence[float], empty: float | None) -> bool:
    """The blank plateau: CER at 100% with the lines read as empty, the loss still falling."""
    if not losses or not errors or empty is None:
        return False
    k = max(1, len(errors) // 10)
    stuck = min(errors[-k:]) >= BLANK_CER and empty >= BLANK_EMPTY
    return stuck and still_falling(losses)


def plateau_finding(where: str, evidence: dict[str, Any], severity: Severity) -> Finding:
    return make(
        "ctc-blank-plateau",
        f"{where}: the model still reads only blanks (CER 100%, "
        f"{evidence.get('empty_share', 1.0):.0%} of the lines empty) while its loss keeps "
        f"falling; this is the known CTC blank plateau, not a bug",
        evidence,
        severity=severity,
    )


def check_frames(ctx: Context) -> None:
    """ctc-too-few-frames over every split: each split's inputs share one width, so the
    model's frames for its first rows are every line's frames there."""
    model = ctx.fresh_model().eval()
    needs, frames, counts = [], [], {}
    for split in ctx.splits():
        if not is_tensor(split.y) and not ctc_pair(split.y):
            return
        x, _ = ctx.take(split, slice(0, 2))
        with torch.no_grad():
            out = forward(model, x)
        t = int(ctc_log_probs(out, batch_len(x)).shape[0])
        counts[split.name] = t
        need = frames_needed(split.y)
        needs.append(need)
        frames.append(torch.full_like(need, t))
    ctx.evidence["ctc_frames"] = counts
    finding = frames_finding(torch.cat(needs), torch.cat(frames), "")
    if finding is not None:
        ctx.add(finding)


EMPTY_ROWS = 256  # train lines decoded to measure the share read as empty


def training_plateau(ctx: Context, model: torch.nn.Module, hist: Any, bv: Any) -> bool:
    """After the short training: a CTC model still in its blank plateau gets an info note
    (a short training is expected to end there sometimes); True when it is."""
    p = ctx.problem
    train_cer = bv.errors.get("train")
    if p is None or p.kind != "ctc" or train_cer is None or train_cer < BLANK_CER:
        return False
    x, _ = ctx.take(ctx.train, slice(0, EMPTY_ROWS))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        empty = empty_share(forward(model, x), batch_len(x))
    model.train(was_training)
    losses = [row["train_loss"] for row in hist.epochs]
    errors = [row.get("train_error", train_cer) for row in hist.epochs]
    if not blank_plateau(losses, errors, empty):
        return False
    evidence = {
        "train_cer": round(train_cer, 4),
        "val_cer": bv.errors.get("val"),
        "empty_share": round(empty, 4),
        "steps": hist.steps,
        "first_train_loss": round(losses[0], 4),
        "last_train_loss": round(losses[-1], 4),
    }
    ctx.add(plateau_finding(f"after the short training ({hist.steps} steps)", evidence, "info"))
    return True
