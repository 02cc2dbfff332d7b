"""A loss or gradient that turns inf/NaN in the middle of a training, on some batches only.

The first pass (step 1) sees one batch; a loss that divides by a per-batch count, or a
model that fails on a few inputs, is finite there and on most batches. Every step of the
doctor's trainings is watched (dlstack.train's loop stops at the first non-finite loss or
gradient, before the optimizer step); :func:`explain` then looks at that batch again:
which rows give non-finite outputs (the model) or, if none, whether the loss itself fails
on the batch, and :func:`nonfinite_finding` says so with the step, the rows and the fix.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from dlstack.doctor._data import Split
from dlstack.doctor._findings import Finding, make
from dlstack.doctor._run import Tracer
from dlstack.doctor._tree import batch_len, index, to_device
from dlstack.train import device_of, forward

__all__ = ["explain", "nonfinite_finding"]

SHOWN_ROWS = 20
GRAD_ROWS = 32  # rows of a batch tried one by one for a non-finite gradient


def explain(
    model: nn.Module, split: Split, rows: Tensor, loss_fn: Any, what: str
) -> dict[str, Any]:
    """What makes ``rows`` of ``split`` give a non-finite ``what`` ("loss" or "gradient
    of <parameter>") on ``model`` (a copy is used: the caller's model is not touched)."""
    model = copy.deepcopy(model)
    device = device_of(model)
    x, y = to_device(index(split.x, rows), device), to_device(index(split.y, rows), device)
    source = split.indices[rows] if split.indices is not None else rows
    info: dict[str, Any] = {
        "what": what,
        "batch_size": len(rows),
        "rows": source[:SHOWN_ROWS].tolist(),
    }
    tracer = Tracer(model)
    try:
        with torch.no_grad(), tracer:
            out = forward(model, x)
    except Exception as e:  # the batch does not even run again: say so, no more
        info.update(culprit="model", where=f"the forward pass ({type(e).__name__}: {e})")
        return info
    bad_rows = _nonfinite_rows(out, batch_len(x))
    if bad_rows is not None and bool(bad_rows.any()):
        where = tracer.first_nonfinite or {"where": "the model's output"}
        info.update(
            culprit="model",
            where=where["where"],
            nonfinite_output_rows=source[bad_rows][:SHOWN_ROWS].tolist(),
            nonfinite_outputs=int(bad_rows.sum()),
        )
        return info
    if what == "loss":
        info.update(culprit="loss", where="the loss (the model's outputs are finite)")
        return info
    info.update(culprit="gradient", where=what)
    suspects = _grad_rows(model, x, y, loss_fn, min(len(rows), GRAD_ROWS))
    if suspects:
        info["nonfinite_gradient_rows"] = source[torch.tensor(suspects)][:SHOWN_ROWS].tolist()
    return info


def _nonfinite_rows(out: Tensor, n: int) -> Tensor | None:
    """Per example: is any output value non-finite? None when outputs are not batch-first."""
    if out.ndim == 0:
        return None
    if out.shape[0] == n:
        return ~torch.isfinite(out.float()).reshape(n, -1).all(1)
    if out.ndim >= 2 and out.shape[1] == n:  # time-first (T, N, C)
        return ~torch.isfinite(out.float()).transpose(0, 1).reshape(n, -1).all(1)
    return None


def _grad_rows(model: nn.Module, x: Any, y: Any, loss_fn: Any, k: int) -> list[int]:
    """The first ``k`` rows one at a time: which give a non-finite gradient alone."""
    found: list[int] = []
    for i in range(k):
        try:
            model.zero_grad(set_to_none=True)
            loss = loss_fn(forward(model, index(x, slice(i, i + 1))), index(y, slice(i, i + 1)))
            loss.backward()
        except Exception:  # a loss or layer that needs more than one example
            return found
        if any(
            p.grad is not None and not bool(torch.isfinite(p.grad).all())
            for p in model.parameters()
        ):
            found.append(i)
    return found


def nonfinite_finding(info: dict[str, Any], stage: str, step: int, extra: str = "") -> Finding:
    """The nan-inf error for a non-finite loss/gradient met at ``step`` of ``stage``."""
    value = info.get("loss")
    kind = "NaN" if value is None or math.isnan(value) else "inf"
    what = info["what"]
    when = f"at step {step + 1} of {stage}{extra}" if step >= 0 else f"in {stage}{extra}"
    head = (
        f"the {'loss' if what == 'loss' else what} is {kind if what == 'loss' else 'NaN/inf'} "
        f"{when}, on a batch of {_examples(info['batch_size'])} (rows {_rows(info['rows'])})"
    )
    culprit = info.get("culprit")
    if culprit == "model":
        bad = info.get("nonfinite_output_rows", [])
        title = (
            f"{head}: the model's outputs are non-finite for rows {_rows(bad)}, first in "
            f"{info['where']}"
        )
        next_step = (
            "look at the listed rows (zeros, extreme or missing values) and guard the "
            "model's divisions, logs and square roots (add an epsilon, clamp) so that "
            "every input gives finite outputs"
        )
    elif culprit == "loss":
        title = f"{head}: the model's outputs are finite, the loss is not"
        next_step = (
            "the loss fails on some batches only: guard its divisions by per-batch "
            "counts or statistics (a count or std that is 0 in a batch without positives, "
            "or a batch of 1: clamp(min=1), add an epsilon), and its logs of 0; try it on "
            "the listed rows"
        )
    else:
        rows = info.get("nonfinite_gradient_rows")
        title = f"{head}: the loss is finite, its {info['where']} is not" + (
            f" (rows {_rows(rows)} alone give it)" if rows else ""
        )
        next_step = (
            "a derivative that is infinite at some inputs (sqrt or norm at 0, x ** 0.5, "
            "acos/asin at +-1, log near 0): add an epsilon inside it, or clamp its input"
        )
    return make(
        "nan-inf",
        title,
        {**info, "stage": stage, **({"step": step + 1} if step >= 0 else {})},
        causes=[
            "a loss that divides by a per-batch count or statistic that can be 0 (a batch "
            "without some class, a batch of one example)",
            "a model that yields NaN/inf for some inputs (division by a norm or std that "
            "is 0, log or sqrt of values <= 0)",
            "a derivative that is infinite at some inputs (sqrt or norm at 0)",
        ],
        next_step=next_step,
    )


def _examples(n: int) -> str:
    return "1 example" if n == 1 else f"{n} examples"


def _rows(rows: list[int] | None) -> str:
    if not rows:
        return "?"
    shown = ", ".join(str(r) for r in rows[:5])
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
