"""``examine``: the practice's troubleshooting tree, run on any PyTorch model and data.

    1 make it run          forward + backward on a real batch: shapes, dtypes, NaN/inf
    2 inputs and loss      scale, class balance, initial loss vs chance, softmax, modes
    3 overfit one batch    the error should go to ~0; if not, how it fails
    4 lr range test        1e-7 -> 10; a failed single batch is retried at the suggestion
    5 known result         majority-class and linear baselines
    6 short training       then bias / variance / shift / val overfitting, label noise
    7 plan                 under-fitting, over-fitting, shift, re-balance

A blocking finding stops the walk: a model that does not run gets no overfitting test,
one that cannot fit a single batch gets no bias-variance table.
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlstack.config import DEFAULT_BATCH_SIZE, DEFAULT_LR
from dlstack.doctor._baselines import baseline_findings, baselines
from dlstack.doctor._bias_variance import decompose, short_training
from dlstack.doctor._context import NOISE_STEPS, Budget, Context, plan_steps
from dlstack.doctor._ctc import check_frames, training_plateau
from dlstack.doctor._data import Split, batch_size_of, read_split
from dlstack.doctor._findings import make, sort_key
from dlstack.doctor._inputs import check_class_balance, check_init_loss, check_scale, check_softmax
from dlstack.doctor._label_noise import check_label_noise
from dlstack.doctor._lr_range import lr_after_training, lr_findings, lr_range_test
from dlstack.doctor._modes import check_modes, check_modes_after_training
from dlstack.doctor._nonfinite import nonfinite_finding
from dlstack.doctor._overfit import overfit_batch, overfit_findings
from dlstack.doctor._plan import INPUT_CODES, RUN_CODES
from dlstack.doctor._problem import LossFn, loss_for
from dlstack.doctor._report import Report
from dlstack.doctor._run import check_run
from dlstack.doctor._tree import describe
from dlstack.errors import ConfigError
from dlstack.train import resolve_optimizer

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_BUDGET_S", "MAX_EXAMPLES", "examine"]

DEFAULT_BUDGET_S = 120.0

MAX_EXAMPLES = 20_000  # per split, read into memory; larger datasets are subsampled
RETRY_FACTOR = 3.0  # retry a failed single batch when the suggestion is 3x away or more
# Bugs that explain a failed single batch by themselves; without any of them, a batch
# that plateaus means a model too small or too constrained (under-fitting).
BUG_CODES = (*RUN_CODES, *INPUT_CODES, "lr-too-high", "lr-too-low", "label-noise")
CHANCE_LEVEL = 0.85  # val errors within 15% of the majority baseline's: nothing was learned


def examine(
    model: nn.Module,
    train: Any,
    val: Any,
    *,
    test: Any = None,
    test_val: Any = None,
    loss_fn: LossFn | None = None,
    task: str = "classification",
    human_error: float | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    seed: int = 0,
    optimizer: Any = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_examples: int = MAX_EXAMPLES,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Troubleshoot ``model`` on its data the way the practice does, and say what is wrong.

    ``train``, ``val``, ``test`` and ``test_val`` are torch Datasets or DataLoaders of
    (input, target); ``test_val`` is a validation set drawn from the test distribution.
    ``loss_fn`` defaults to cross-entropy (classification, class-index targets) or CTC
    (``task="ctc"``); ``task="regression"`` (MSE) is also accepted. ``human_error`` is the
    irreducible error for the bias-variance table. The doctor's trainings are budgeted in
    steps, from the data and the model's size (``report.settings["steps"]``), so the
    same seed gives the same findings on an idle and on a busy machine; ``budget_s`` is
    an outer cap on the wall time: a check it cuts short is reported as such (info, with
    the budget_s a full run needs) and no conclusion is drawn from it. The doctor trains
    with Adam at 3e-4 unless ``optimizer`` (a name, an Optimizer class/instance or a
    ``params -> Optimizer`` callable) and/or ``lr`` say otherwise. Inputs and targets may
    be tuples or dicts of tensors (several inputs, ``(targets, lengths)``); a check that
    cannot handle them says so. The model itself is never changed.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> x, y = torch.randn(200, 4), torch.randint(0, 2, (200,))
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3, dtype=torch.float64))
    >>> report = examine(net, TensorDataset(x, y), TensorDataset(x, y), budget_s=5)
    >>> report.findings[0].code
    'wont-run'
    """
    _validate(model, task, human_error, budget_s, max_examples)
    say = progress or (lambda _: None)
    budget = Budget(budget_s)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pristine = copy.deepcopy(model)  # the user's model is never touched again
        fn, name, user = loss_for(task, loss_fn)
        say("reading data")

        def read(name: str, data: Any) -> Split | None:
            return None if data is None else read_split(name, data, cap=max_examples, seed=seed)

        ctx = Context(
            pristine,
            read_split("train", train, cap=max_examples, seed=seed),
            read_split("val", val, cap=max_examples, seed=seed),
            read("test", test),
            read("test_val", test_val),
            task,
            fn,
            name,
            user,
            resolve_optimizer(optimizer, lr),
            batch_size or batch_size_of(train) or DEFAULT_BATCH_SIZE,
            seed,
            budget,
            human_error,
            model_was_training=model.training,
        )
        try:
            skipped = _walk(ctx, say)
        except Exception as e:  # the user's code failing mid-walk is a finding, not a crash
            skipped = [_failed(ctx, e)]
    ctx.seconds["total"] = budget.elapsed()
    return _report(ctx, skipped, budget_s)


def _walk(ctx: Context, say: Callable[[str], None]) -> list[str]:
    """Run the steps in order; returns what was skipped and why."""
    with _step(ctx, say, "run", "1/6 forward and backward pass"):
        runs = check_run(ctx)
    if not runs:
        return ["steps 2-7: the model must run on a real batch first"]
    ctx.steps = plan_steps(len(ctx.train), ctx.batch_size, ctx.evidence.get("macs_per_example", 0))
    with _step(ctx, say, "inputs", "2/6 inputs and loss"):
        check_init_loss(ctx)
        check_scale(ctx)
        check_class_balance(ctx)
        check_softmax(ctx)
        check_modes(ctx)
        if ctx.problem is not None and ctx.problem.kind == "ctc":
            check_frames(ctx)
    fits = _overfit_and_lr(ctx, say)
    if not fits:
        return ["steps 5-7: the model must fit a single batch first"]
    assert ctx.problem is not None
    if not ctx.problem.counts_errors:
        why = (
            f"the targets are {describe(ctx.train.y)}: the doctor cannot count errors for "
            f"them (only the loss)"
        )
        ctx.skip("worse-than-baseline", "baselines", why)
        ctx.skip("underfitting", "short training and bias-variance", why)
        ctx.skip("label-noise", "label-noise check", why)
        return []
    with _step(ctx, say, "baselines", "5/6 baselines"):
        base = baselines(ctx)
        ctx.evidence["baselines"] = base
    with _step(ctx, say, "training", "6/6 short training and bias-variance"):
        steps, judged = _train_and_decompose(ctx, base)
    with _step(ctx, say, "label_noise", "6/6 label noise (cross-fitting)"):
        if judged:
            noise = check_label_noise(ctx, steps=steps)
            if noise is not None:
                ctx.evidence["label_noise"] = noise
            _chance_level_labels(ctx, ctx.evidence["bias_variance"].errors, base)
        elif ctx.budget.spent():
            planned = ctx.steps.label_noise if ctx.steps is not None else NOISE_STEPS
            ctx.cut("label-noise", "label-noise check", 0, planned)
        else:
            ctx.skip(
                "label-noise",
                "label-noise check",
                "the short training met a non-finite loss (see nan-inf)",
            )
    return []


@contextmanager
def _step(ctx: Context, say: Callable[[str], None], key: str, label: str) -> Iterator[None]:
    """Announce a step, remember it (for errors raised inside it), and time it."""
    say(label)
    ctx.evidence["step"] = label.split(" ", 1)[1]
    start = time.perf_counter()
    try:
        yield
    finally:
        ctx.seconds[key] = ctx.seconds.get(key, 0.0) + time.perf_counter() - start


def _overfit_and_lr(ctx: Context, say: Callable[[str], None]) -> bool:
    """Steps 3-4; True when the walk may go on (the batch fit, or the verdict is open)."""
    with _step(ctx, say, "overfit", "3/6 overfitting a single batch"):
        first = overfit_batch(ctx)
        if first.cut:
            ctx.cut("overfit-plateau", "single-batch test", len(first.losses), first.planned)
    with _step(ctx, say, "lr_range", "4/6 learning-rate range test"):
        rt = lr_range_test(ctx)
        retry = None
        far = rt.suggested is not None and not (
            first.lr / RETRY_FACTOR <= rt.suggested <= first.lr * RETRY_FACTOR
        )
        if first.blocks and far and rt.suggested is not None:
            retry = overfit_batch(ctx, lr=rt.suggested)
            if retry.cut:  # a partial retry proves nothing either way
                ctx.cut(
                    "overfit-plateau",
                    "single-batch retry at the suggested learning rate",
                    len(retry.losses),
                    retry.planned,
                )
                retry = None
        cause = lr_findings(ctx, rt, first, retry)
        overfit_findings(ctx, first, lr_cause=cause, clean=not ctx.found(*BUG_CODES))
    if first.update_ratio is not None:
        ctx.evidence["first_step_update"] = {
            "parameter": first.update_ratio[0],
            "relative_change": round(first.update_ratio[1], 4),
        }
    ctx.evidence["overfit"] = {
        **first.summary(),
        "losses": first.losses,
        "errors": first.errors,
        "retry": None if retry is None else {**retry.summary(), "losses": retry.losses},
    }
    ctx.evidence["lr_range"] = {
        **rt.summary(),
        "lrs": rt.lrs,
        "smoothed": rt.smoothed,
        "losses": rt.losses,
    }
    return not first.blocks


def _train_and_decompose(ctx: Context, base: dict[str, Any]) -> tuple[int, bool]:
    """Step 6: train, check modes on the trained model, decompose, compare to baselines.
    Returns the steps the training took and whether its results may be judged (it was
    neither cut by the time cap nor stopped by a non-finite loss)."""
    model, hist = short_training(ctx)
    ctx.evidence["training"] = {
        "epochs": hist.epochs,
        "stopped_by": hist.stopped_by,
        "steps": hist.steps,
        "steps_planned": hist.planned,
        "seconds": hist.seconds,
        "nonfinite": hist.nonfinite,
    }
    judged = not hist.cut_by_time and hist.nonfinite is None
    if hist.nonfinite is not None:
        nf = hist.nonfinite
        if not ctx.found("nan-inf"):  # the lr sweep may have met the same batch first
            ctx.add(
                nonfinite_finding(
                    nf,
                    "the short training",
                    nf["step"],
                    f" (epoch {nf['epoch']}, batch {nf['batch'] + 1})",
                )
            )
        ctx.skip(
            "underfitting",
            "bias-variance decomposition",
            f"the short training stopped at step {nf['step'] + 1} on a non-finite "
            f"{'loss' if nf['what'] == 'loss' else 'gradient'}; fix that first (see nan-inf)",
        )
    elif hist.cut_by_time:
        ctx.cut("underfitting", "short training and bias-variance", hist.steps, hist.planned)
    if not hist.steps:  # nothing trained: no table of an untrained model's errors
        return 1, False
    if judged:
        check_modes_after_training(ctx, model)
    bv = decompose(ctx, model, hist, base.get("linear"))
    ctx.evidence["bias_variance"] = bv
    if judged:
        cut_short = hist.stopped_by == "max steps" and hist.still_improving
        # a CTC model still in its blank plateau: the short training ended too soon
        blank = training_plateau(ctx, model, hist, bv)
        baseline_findings(ctx, base, float(bv.errors["val"] or 0.0), cut_short or blank)
        lr_after_training(ctx, ctx.evidence.get("lr_range", {}))
    return max(1, hist.steps), judged


def _failed(ctx: Context, e: Exception) -> str:
    """An exception after the first pass: from the user's code (a model that only runs on
    some batch sizes, a loss that fails on some batch) it is wont-run; from the doctor's
    own code it is reported as such, with the walk stopped there."""
    frames = traceback.extract_tb(e.__traceback__)
    ours = Path(__file__).parent
    outside = [f for f in frames if not _library(f.filename)]
    where = outside[-1] if outside else (frames[-1] if frames else None)
    step = ctx.evidence.get("step", "?")
    if where is not None and Path(where.filename).parent == ours:
        ctx.evidence["internal_error"] = "".join(traceback.format_exception(e))[-4000:]
        return (
            f"the rest of the examination: the doctor itself failed in step {step} "
            f"({type(e).__name__}: {e}); please report this"
        )
    loc = f"{where.filename}:{where.lineno} ({where.name})" if where is not None else "?"
    ctx.add(
        make(
            "wont-run",
            f"the model or loss raised {type(e).__name__} during {step}",
            {
                "stage": step,
                "error": str(e).strip().splitlines()[0][:300]
                if str(e).strip()
                else type(e).__name__,
                "raised_at": loc,
            },
            causes=[
                "a model or loss that only works for some batch sizes or modes "
                "(e.g. a hard-coded batch size in a view/reshape)",
                "an input the first batch did not have (a smaller last batch, another split)",
            ],
        )
    )
    return f"the rest of the examination: the model failed during {step}"


def _library(filename: str) -> bool:
    return any(part in filename for part in ("site-packages", "dist-packages", "/lib/python"))


def _chance_level_labels(ctx: Context, errors: dict[str, Any], base: dict[str, Any]) -> None:
    """Labels unrelated to inputs: one batch can be memorized, yet nothing generalizes."""
    if ctx.found("label-noise") or "majority" not in base:
        return
    if ctx.problem is not None and ctx.problem.kind == "ctc":
        return  # a line reader far from its baseline is still training, not mislabeled
    val, majority = errors.get("val"), base["majority"]
    linear = base.get("linear", majority)
    if val is None or majority < 0.3:  # a dominant class: see class-imbalance instead
        return
    if val >= CHANCE_LEVEL * majority and linear >= CHANCE_LEVEL * majority:
        ctx.add(
            make(
                "label-noise",
                f"neither the model ({val:.0%}) nor a linear model "
                f"({linear:.0%}) beats always guessing the majority class "
                f"({majority:.0%}): the labels look unrelated to the inputs",
                {"val_error": val, "linear_val_error": linear, "majority_val_error": majority},
                causes=[
                    "labels shuffled relative to the inputs",
                    "inputs that carry no signal (wrong preprocessing, wrong "
                    "column, all-constant images)",
                ],
            )
        )


def _validate(
    model: Any, task: str, human_error: float | None, budget_s: float, max_examples: int
) -> None:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"model must be a torch.nn.Module, got {type(model).__name__}; pass "
            f"the model instance, not its class or a function"
        )
    if not (isinstance(budget_s, (int, float)) and budget_s > 0 and math.isfinite(budget_s)):
        raise ConfigError(f"budget_s must be a positive number of seconds, got {budget_s!r}")
    if human_error is not None and not 0 <= human_error < 1:
        raise ConfigError(f"human_error must be an error rate in [0, 1), got {human_error!r}")
    if max_examples < 2:
        raise ConfigError(f"max_examples must be at least 2, got {max_examples}")
    loss_for(task, None)  # validates the task name


def _report(ctx: Context, skipped: list[str], budget_s: float) -> Report:
    p = ctx.problem
    ev = ctx.evidence
    settings = {
        "task": ctx.task,
        "kind": p.kind if p else None,
        "loss": ctx.loss_name,
        "optimizer": ctx.optim.name,
        "lr": ctx.optim.lr,
        "lr_given": ctx.optim.user_given,
        "default_lr": DEFAULT_LR,
        "batch_size": ctx.batch_size,
        "budget_s": budget_s,
        "seed": ctx.seed,
        "num_classes": p.num_classes if p else None,
        "examples": {s.name: len(s) for s in ctx.splits()},
        "human_error": ctx.human_error,
        "steps": ctx.steps.to_dict() if ctx.steps else None,
    }
    findings = sorted(ctx.findings, key=lambda f: sort_key(f)[1])  # the practice's order
    rest = {
        k: v
        for k, v in ev.items()
        if k not in ("overfit", "lr_range", "bias_variance", "baselines", "step")
    }
    return Report(
        findings,
        settings=settings,
        overfit=ev.get("overfit"),
        lr_range=ev.get("lr_range"),
        bias_variance=ev.get("bias_variance"),
        baselines=ev.get("baselines"),
        evidence=rest,
        seconds={k: round(v, 3) for k, v in ctx.seconds.items()},
        skipped=[*ctx.skipped, *skipped],
    )
