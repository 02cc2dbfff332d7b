"""train-eval-mode: dropout and batch norm must behave one way in training, another in
evaluation, and evaluation must not depend on which other examples share the batch.

Before training: the mode flags after ``train()``/``eval()``, two evaluations of the same
batch (random in eval mode means dropout is on), and one example evaluated inside two
different batches (different means batch statistics are used at evaluation). After the
short training: the same training examples scored in train mode and in eval mode (much
worse in eval mode means running statistics that do not describe the data).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from dlstack.doctor._context import Context
from dlstack.doctor._findings import make
from dlstack.doctor._train import error_rate
from dlstack.doctor._tree import batch_len, index
from dlstack.train import forward

__all__ = ["check_modes", "check_modes_after_training"]

MODE_LAYERS = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)
EVAL_ROWS = 16
RTOL, ATOL = 1e-3, 1e-4  # batched vs unbatched float32 kernels differ by ~1e-6
EVAL_GAP = 0.1  # eval-mode error this much above train-mode error on the same examples


def _mode_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, MODE_LAYERS)]


def _close(a: Tensor, b: Tensor) -> bool:
    scale = float(a.abs().max()) if a.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=RTOL, atol=ATOL * max(1.0, scale)))


def _first_rows(out: Tensor, n: int, k: int) -> Tensor:
    """The first ``k`` examples of a batch output, batch-first or time-first (T, N, C)."""
    axis = 1 if out.ndim >= 2 and out.shape[0] != n and out.shape[1] == n else 0
    return out.narrow(axis, 0, k)


@torch.no_grad()
def check_modes(ctx: Context) -> None:
    problems: list[str] = []
    evidence: dict[str, object] = {}
    model = ctx.fresh_model()
    layers = _mode_layers(model)
    if not ctx.model_was_training and layers:
        problems.append(
            "the model was handed over in eval mode; training it like that leaves "
            "dropout off and batch-norm statistics frozen"
        )
        evidence["given_in_eval_mode"] = True
    model.train()
    stuck = [n for n, m in _mode_layers(model) if not m.training]
    if stuck:
        problems.append(f"layers stay in eval mode after model.train(): {', '.join(stuck)}")
        evidence["eval_during_training"] = stuck
    model.eval()
    stuck = [n for n, m in _mode_layers(model) if m.training]
    if stuck:
        problems.append(f"layers stay in train mode after model.eval(): {', '.join(stuck)}")
        evidence["train_during_eval"] = stuck
    x, _ = ctx.probe(EVAL_ROWS)
    n = batch_len(x)
    if n >= 4:
        first = forward(model, x).float()
        flipped = [n or "model" for n, m in model.named_modules() if m.training]
        if flipped:
            problems.append(
                f"forward() switches layers back to train mode: {', '.join(flipped[:5])}"
            )
            evidence["switched_in_forward"] = flipped[:10]
            model.eval()
        again = forward(model, x).float()
        if not _close(first, again):
            problems.append(
                "evaluating the same batch twice in eval mode gives different "
                "outputs: dropout (or other randomness) is active at evaluation"
            )
            evidence["eval_max_difference"] = float((first - again).abs().max())
        elif not flipped:
            k = n // 2
            half = forward(model, index(x, slice(0, k))).float()
            if not _close(_first_rows(first, n, k), half):
                problems.append(
                    "in eval mode an example's output depends on the other "
                    "examples in its batch: batch statistics are used at "
                    "evaluation"
                )
                evidence["batch_dependence"] = float((_first_rows(first, n, k) - half).abs().max())
    if problems:
        evidence["mode_layers"] = [f"{n} ({type(m).__name__})" for n, m in layers][:20]
        ctx.add(make("train-eval-mode", problems[0], {"problems": problems, **evidence}))


def check_modes_after_training(ctx: Context, model: nn.Module, limit: int = 1000) -> None:
    """The trained model scored on training examples in train mode and in eval mode."""
    if (
        ctx.found("train-eval-mode")
        or not _mode_layers(model)
        or ctx.problem is None
        or not ctx.problem.counts_errors
    ):
        return
    in_train = error_rate(
        copy.deepcopy(model), ctx.train, ctx.problem, limit=limit, train_mode=True
    )
    in_eval = error_rate(model, ctx.train, ctx.problem, limit=limit)
    ctx.evidence["train_vs_eval_mode_error"] = {"train_mode": in_train, "eval_mode": in_eval}
    if in_eval > in_train + EVAL_GAP and in_eval > 2 * in_train:
        ctx.add(
            make(
                "train-eval-mode",
                f"on the same training examples the trained model errs "
                f"{in_eval:.1%} in eval mode but {in_train:.1%} in train mode",
                {"train_mode_error": in_train, "eval_mode_error": in_eval},
                causes=[
                    "batch-norm running statistics that never update (momentum 0, "
                    "frozen) or do not describe the data",
                    "a forward() that takes a different path when not self.training",
                ],
            )
        )
