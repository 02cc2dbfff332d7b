"""Step 1, get the model to run: one forward and backward pass on a real batch.

Finds ``wont-run`` (with the layer that raised and its input shapes), ``shape-broadcast``,
``input-dtype``, ``nan-inf`` (in inputs, activations, loss or gradients, where it first
appears) and ``no-grad-flow`` (frozen or disconnected parameters, dead ReLU layers).
A tracer of forward hooks follows the pass layer by layer; it only reads tensors.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dlstack.doctor._context import Context
from dlstack.doctor._findings import make
from dlstack.doctor._problem import make_problem
from dlstack.doctor._tree import (
    CallAdapter,
    Tree,
    call_style,
    describe,
    is_tensor,
    named_leaves,
    to_device,
)
from dlstack.train import forward

__all__ = ["Tracer", "check_dtypes", "check_run"]

_NARROW_INTS = (torch.int8, torch.int16, torch.int32)  # cross-entropy wants int64 indices
DEAD_RELU_FRACTION = 0.9  # a ReLU layer with this share of units never active is dead
MAX_LAYERS_IN_EVIDENCE = 30


def _shapes(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values if isinstance(values, (tuple, list)) else (values,):
        if isinstance(v, Tensor):
            out.append([list(v.shape), str(v.dtype).removeprefix("torch.")])
        elif isinstance(v, (tuple, list, dict)):
            out.append(
                {
                    name: [list(t.shape), str(t.dtype).removeprefix("torch.")]
                    for name, t in named_leaves(v)
                }
            )
    return out


def _shape(value: Tree) -> Any:
    """[shape, dtype] of a tensor; {leaf: [shape, dtype]} of a tuple/dict of tensors."""
    if isinstance(value, Tensor):
        return [list(value.shape), str(value.dtype).removeprefix("torch.")]
    return {
        name or "value": [list(t.shape), str(t.dtype).removeprefix("torch.")]
        for name, t in named_leaves(value)
    }


def _finite(values: Any) -> bool:
    for v in values if isinstance(values, (tuple, list)) else (values,):
        if isinstance(v, Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return False
    return True


@dataclass
class Tracer:
    """Forward hooks on every module: the active stack, shapes, first non-finite, ReLUs."""

    model: nn.Module
    stack: list[tuple[str, nn.Module, list[Any]]] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    first_nonfinite: dict[str, Any] | None = None
    dead: dict[str, float] = field(default_factory=dict)
    last_done: str | None = None
    macs: float = 0.0  # multiply-adds of the pass, over the batch (a count, not a timing)
    _handles: list[Any] = field(default_factory=list)

    def __enter__(self) -> Tracer:
        for name, module in self.model.named_modules():
            label = name or "model"
            self._handles.append(module.register_forward_pre_hook(self._pre(label)))
            self._handles.append(module.register_forward_hook(self._post(label)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()

    def _pre(self, label: str) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            self.stack.append((label, module, _shapes(args)))
            if self.first_nonfinite is None and not _finite(args):
                self.first_nonfinite = {
                    "where": f"input of layer {label}",
                    "layer": label,
                    "after_layer": self.last_done,
                }

        return hook

    def _post(self, label: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.stack:
                self.stack.pop()
            is_leaf = not any(True for _ in module.children())
            if is_leaf:
                self.last_done = label
                if len(self.layers) < MAX_LAYERS_IN_EVIDENCE:
                    self.layers.append(
                        {"layer": label, "type": type(module).__name__, "output": _shapes(output)}
                    )
            self.macs += _macs(module, output)
            if self.first_nonfinite is None and not _finite(output):
                self.first_nonfinite = {
                    "where": f"output of layer {label}",
                    "layer": label,
                    "type": type(module).__name__,
                }
            if (
                isinstance(module, (nn.ReLU, nn.ReLU6))
                and isinstance(output, Tensor)
                and output.ndim >= 2
                and output.shape[0] >= 8
            ):
                alive = (output.detach() > 0).flatten(1).any(0)
                self.dead[label] = 1.0 - float(alive.float().mean())

        return hook


def _macs(module: nn.Module, output: Any) -> float:
    """Multiply-adds of one module's own parameters on a batch: each parameter is used
    once per output position (a Linear once per example, a Conv2d once per pixel of its
    output, an LSTM once per time step). Embeddings only look up their rows."""
    own = sum(p.numel() for p in module.parameters(recurse=False))
    out = output[0] if isinstance(output, (tuple, list)) and output else output
    if not own or not isinstance(out, Tensor) or out.ndim == 0:
        return 0.0
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return float(out.numel())
    width = getattr(module, "out_features", None) or getattr(module, "out_channels", None)
    if isinstance(module, nn.modules.conv._ConvNd):
        positions = out.numel() / max(int(out.shape[0]) * int(out.shape[1]), 1)
    elif width and out.shape[-1] == width:
        positions = out.numel() / max(int(out.shape[0]) * width, 1)
    else:  # recurrent and custom layers: once per position along the last dimension
        positions = out.numel() / max(int(out.shape[0]) * int(out.shape[-1]), 1)
    return own * positions * int(out.shape[0])


def check_dtypes(ctx: Context) -> None:
    """input-dtype: uint8 or float64 inputs, float class-index targets, in any split."""
    bad: dict[str, str] = {}
    for split in ctx.splits():
        for name, leaf in named_leaves(split.x):
            if leaf.dtype in (torch.uint8, torch.float64):
                bad[split.name + name] = str(leaf.dtype).removeprefix("torch.")
    targets = {}
    if ctx.task == "classification" and not ctx.user_loss and is_tensor(ctx.train.y):
        y = ctx.train.y
        index_like = y.ndim == 1 and bool((y == y.round()).all())  # (N,) floats: not soft
        if (y.is_floating_point() and index_like) or y.dtype in _NARROW_INTS:
            targets["train"] = str(y.dtype).removeprefix("torch.")
    if not bad and not targets:
        return
    parts = [f"{name} inputs are {d}" for name, d in bad.items()]
    parts += [f"{name} class targets are {d}" for name, d in targets.items()]
    model_dtype = next((str(p.dtype).removeprefix("torch.") for p in ctx.model.parameters()), None)
    ctx.add(
        make(
            "input-dtype",
            "; ".join(parts) + (f" (model weights are {model_dtype})" if model_dtype else ""),
            {
                "inputs": bad,
                "targets": targets,
                "model_dtype": model_dtype,
                "expected": "float32 inputs, int64 class indices",
            },
        )
    )


def check_inputs_finite(ctx: Context) -> bool:
    """nan-inf in the data itself; True when found (blocking)."""
    for split in ctx.splits():
        named = [("inputs" + n, t) for n, t in named_leaves(split.x)]
        named += [("targets" + n, t) for n, t in named_leaves(split.y)]
        for what, t in named:
            if t.is_floating_point() and t.ndim:
                bad = ~torch.isfinite(t.flatten(1) if t.ndim > 1 else t[:, None]).all(1)
                if bool(bad.any()):
                    rows = torch.nonzero(bad).flatten()
                    ctx.add(
                        make(
                            "nan-inf",
                            f"{int(bad.sum())} {split.name} examples have NaN/inf {what}",
                            {
                                "where": f"{split.name} {what}",
                                "examples": int(bad.sum()),
                                "first_rows": rows[:10].tolist(),
                                "of": len(split),
                            },
                            causes=["missing values (NaN) or overflow in the data pipeline"],
                            next_step="drop or impute the listed examples before training",
                        )
                    )
                    return True
    return False


def check_run(ctx: Context) -> bool:
    """Forward, loss, backward on a probe batch. Returns False when the doctor must stop."""
    check_dtypes(ctx)
    if check_inputs_finite(ctx):
        return False
    x, y = ctx.probe()
    _choose_call(ctx, x)
    model = ctx.fresh_model()
    tracer = Tracer(model)
    try:
        with tracer:
            out = forward(model, x)
    except Exception as e:  # the user's model raised: that is the finding
        _wont_run_forward(ctx, e, tracer, x)
        return False
    ctx.evidence["layers"] = tracer.layers
    ctx.evidence["macs_per_example"] = int(tracer.macs / max(len(ctx.rows(64)), 1))
    evidence = {"input": _shape(x), "output": _shape(out), "target": _shape(y)}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = ctx.loss_fn(out, y)
    except Exception as e:
        _check_broadcast(ctx, out, y, str(e))  # a shape mismatch the loss refused
        causes = _causes_for(str(e))
        if not is_tensor(y) and not ctx.user_loss:
            causes.insert(
                0,
                f"targets are {describe(y)}: the default {ctx.loss_name} takes one tensor of "
                f"class indices; pass loss_fn=(output, target) -> loss",
            )
        ctx.add(
            make(
                "wont-run",
                f"the loss {ctx.loss_name} raised {type(e).__name__}",
                {**evidence, "stage": "loss", "error": _first_line(e)},
                causes=causes,
            )
        )
        return False
    if _check_broadcast(ctx, out, y, " ".join(str(w.message) for w in caught)):
        return False
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        ctx.add(
            make(
                "wont-run",
                "the loss is not a scalar",
                {**evidence, "stage": "loss", "loss_shape": _shapes(loss)},
                causes=["a loss with reduction='none'"],
                next_step="reduce the loss to one number (mean over the batch)",
            )
        )
        return False
    ctx.problem = make_problem(
        ctx.task,
        ctx.loss_fn,
        ctx.loss_name,
        ctx.user_loss,
        out.detach().float().cpu(),
        to_device(y, torch.device("cpu")),
    )
    if tracer.first_nonfinite is not None or not bool(torch.isfinite(loss)):
        where = tracer.first_nonfinite or {"where": f"the loss ({ctx.loss_name})"}
        if tracer.first_nonfinite is None and not _finite(out):
            where = {"where": f"the model's forward after its last layer {tracer.last_done}"}
        ctx.add(
            make(
                "nan-inf",
                f"non-finite values first appear in {where['where']}",
                {**evidence, **where, "stage": "first forward pass", "loss": float(loss.detach())},
            )
        )
        return False
    ctx.evidence["initial_loss_probe"] = float(loss.detach())
    try:
        model.zero_grad(set_to_none=True)
        loss.backward()
    except Exception as e:
        ctx.add(
            make(
                "wont-run",
                f"the backward pass raised {type(e).__name__}",
                {**evidence, "stage": "backward", "error": _first_line(e)},
                causes=_causes_for(str(e)),
            )
        )
        if "does not require grad" in str(e):
            ctx.add(
                make(
                    "no-grad-flow",
                    "the loss does not depend on any trainable parameter",
                    {
                        "trainable_parameters": sum(
                            p.numel() for p in model.parameters() if p.requires_grad
                        )
                    },
                    severity="error",
                )
            )
        return False
    if not _check_grads(ctx, model):
        return False
    _check_grad_flow(ctx, model, tracer)
    return True


def _choose_call(ctx: Context, x: Tree) -> None:
    """Several inputs (a tuple or dict of tensors): call the model with ``*x`` or ``**x``
    when its forward takes them that way, or with ``x`` as one value; decided from the
    signature, then by trying the others when that call fails."""
    if is_tensor(x):
        return
    first = call_style(ctx.model, x)
    others = ("single", "kwargs") if isinstance(x, dict) else ("single", "star")
    chosen = first
    for style in dict.fromkeys([first, *others]):
        try:
            with torch.no_grad():
                forward(CallAdapter(ctx.fresh_model(), style), x)
        except Exception:  # the user's model refused this call: try the next way
            continue
        chosen = style
        break
    if chosen != "single":
        ctx.model = CallAdapter(ctx.model, chosen)
    ctx.evidence["call"] = {"single": "model(x)", "star": "model(*x)", "kwargs": "model(**x)"}[
        chosen
    ]


def _check_broadcast(ctx: Context, out: Tensor, y: Tree, message: str) -> bool:
    """shape-broadcast: output and target of different shapes that the loss lines up."""
    if ctx.task == "ctc" or not is_tensor(y) or out.shape == y.shape:
        return False
    class_indices = not y.is_floating_point() and out.ndim == y.ndim + 1
    if class_indices:
        return False
    squeezed = [d for d in out.shape if d != 1] == [d for d in y.shape if d != 1]
    try:
        wide = torch.broadcast_shapes(out.shape, y.shape)
        grows = wide.numel() > max(out.numel(), y.numel())
    except RuntimeError:
        wide, grows = None, False
    warned = "target size" in message.lower() or "same as input size" in message.lower()
    # class indices with a stray trailing dimension: (N, 1) targets for (N, C) logits
    stray = not y.is_floating_point() and y.ndim == out.ndim and y.ndim >= 2 and y.shape[-1] == 1
    if not (grows or warned or squeezed or stray):
        return False
    ctx.add(
        make(
            "shape-broadcast",
            f"output {tuple(out.shape)} and target {tuple(y.shape)} "
            f"differ" + (f"; the loss broadcasts them to {tuple(wide)}" if grows and wide else ""),
            {
                "output": list(out.shape),
                "target": list(y.shape),
                "broadcast_to": list(wide) if wide is not None else None,
                "loss": ctx.loss_name,
            },
        )
    )
    return True


def _check_grads(ctx: Context, model: nn.Module) -> bool:
    bad = [
        n
        for n, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]
    if not bad:
        return True
    # Backpropagation runs from the output back: the last layer with bad gradients is
    # where they first appear.
    ctx.add(
        make(
            "nan-inf",
            f"non-finite gradients, first in {bad[-1]}",
            {
                "where": f"gradient of {bad[-1]}",
                "parameters": bad[:10],
                "stage": "first backward pass",
            },
        )
    )
    return False


def _check_grad_flow(ctx: Context, model: nn.Module, tracer: Tracer) -> None:
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    none = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    zero = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is not None and not bool((p.grad != 0).any())
    ]
    dead = {k: round(v, 3) for k, v in tracer.dead.items() if v >= DEAD_RELU_FRACTION}
    total = sum(1 for _ in model.parameters())
    if not (frozen or none or zero or dead):
        return
    parts = []
    if frozen:
        parts.append(f"{len(frozen)} frozen (requires_grad=False)")
    if none:
        parts.append(f"{len(none)} without a gradient")
    if zero:
        parts.append(f"{len(zero)} with an all-zero gradient")
    title = (
        f"{len(frozen) + len(none) + len(zero)} of {total} parameter tensors get no "
        f"update: " + ", ".join(parts)
        if parts
        else ""
    )
    if dead:
        title = (title + "; " if title else "") + f"dead ReLU layers: {', '.join(dead)}"
    ctx.add(
        make(
            "no-grad-flow",
            title,
            {
                "frozen": frozen[:20],
                "no_grad": none[:20],
                "zero_grad": zero[:20],
                "dead_relu_fraction": dead,
                "parameter_tensors": total,
            },
        )
    )


def _wont_run_forward(ctx: Context, e: Exception, tracer: Tracer, x: Tree) -> None:
    if tracer.stack:
        label, module, inputs = tracer.stack[-1]
        layer: dict[str, Any] = {
            "layer": label,
            "type": type(module).__name__,
            "layer_input": inputs,
            "layer_repr": repr(module)[:200],
        }
        title = f"forward pass fails in layer {label} ({type(module).__name__})"
    else:
        layer = {"layer": None}
        title = "forward pass fails"
    ctx.add(
        make(
            "wont-run",
            f"{title}: {_first_line(e)}",
            {
                "stage": "forward",
                **layer,
                "model_input": _shape(x),
                "last_layer_that_ran": tracer.last_done,
                "error_type": type(e).__name__,
                "error": _first_line(e),
                "layers_before": tracer.layers[-5:],
            },
            causes=_causes_for(str(e)),
        )
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


_PATTERNS = [
    (
        r"shapes cannot be multiplied|size mismatch|must match the size|expected input.*to have"
        r"|channels|Expected \d+D|invalid for input of size|same number of dimensions",
        "incorrect tensor shapes: the layer's expected input size does not match what reaches "
        "it (a wrong in_features/in_channels, a missing flatten or channel dimension, NHWC "
        "instead of NCHW)",
    ),
    (
        r"dtype|type \(|scalar type|Byte|Double|Long|Float",
        "casting issue: a tensor of the wrong dtype (uint8 or float64 inputs, float targets "
        "for class indices)",
    ),
    (
        r"out of bounds|index \d+ is out",
        "labels outside 0..num_classes-1, or a model with too few outputs for the labels",
    ),
    (
        r"does not require grad|no_grad",
        "gradients turned off: the output was detached or "
        "computed under torch.no_grad(), or all parameters are frozen",
    ),
    (r"out of memory|alloc", "out of memory: smaller batch or model"),
]


def _causes_for(message: str) -> list[str]:
    causes = [cause for pattern, cause in _PATTERNS if re.search(pattern, message)]
    return causes or list(make("wont-run", "").causes)
