"""Export a trained model to a model package: ``model.onnx`` + ``model.json``, checked.

The package is built in a hidden temp directory beside the versions, verified by loading
it the way serving does (:func:`dlstack.package.load_package`) and comparing onnxruntime's
outputs with torch's, and only then renamed to ``<models_dir>/<name>/<n>/``. A failed
export leaves nothing behind and consumes no version number.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.compress._inputs import (
    INPUT_NAME,
    ModelInput,
    check_batches,
    check_sample,
    dynamic_dims,
    feeds,
    input_shapes,
    inputs_spec,
    named_inputs,
)
from dlstack.compress._train_range import add_train_ranges, train_model_input
from dlstack.errors import CheckFailed, DataError, ModelError, PackageError
from dlstack.inputs import IMAGE_INPUT, input_rows, map_input
from dlstack.package import (
    MODEL_FILE,
    PACKAGED_TASKS,
    SUPPORTED_SCHEMA,
    PackageSpec,
    check_package_name,
    load_package,
    output_spec,
    publish_version,
    sha256_file,
    write_spec,
)
from dlstack.records import json_default
from dlstack.targets import CTC_DECODERS

if TYPE_CHECKING:
    import torch

    from dlstack.data import SplitArrays
    from dlstack.train import TrainResult

__all__ = ["DEFAULT_OPSET", "DEFAULT_TOLERANCE", "export_package"]

# Max abs difference allowed between onnxruntime and torch logits. float32 kernels differ
# in summation order; 1e-4 is far above that noise (~1e-6) and far below a real bug.
DEFAULT_TOLERANCE = 1e-4
DEFAULT_OPSET = 18  # the torch.export-based exporter's default; onnxruntime >= 1.14 runs it
OUTPUT_NAME = "logits"


def export_package(
    result: TrainResult,
    models_dir: str | Path,
    name: str,
    *,
    sample: np.ndarray | dict[str, np.ndarray],
    metrics: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    train: SplitArrays | None = None,
    decoder: str = "greedy",
    beam_width: int | None = None,
) -> Path:
    """Write ``models_dir/name/<n>/`` (n = next version) and return its path.

    ``sample`` is a batch of model input, float32 ``(N, *result.input_shape)`` as
    ``dlstack.inputs.to_model_input`` makes it (a few test images are ideal), or for a
    model of several inputs a dict of such batches by input name (what
    ``result.normalization.model_input`` makes); the ONNX graph then has one named input
    each. The graph is checked against torch on it at batch size 1 and N; a difference
    above ``tolerance`` raises CheckFailed and nothing is written.

    ``train`` is the split the model was trained on (``snapshot.split("train")``): the
    range of its model input is recorded per input (``train_range`` in model.json), and
    serving warns on requests far outside it. Without it no range is recorded.

    A line reader (ctc) is exported with a dynamic width too, checked at a second width,
    and reads its frames into text by ``decoder``: "greedy" (best path), or "beam" (CTC
    prefix beam search keeping ``beam_width`` prefixes).
    """
    try:
        check_package_name(name)
    except PackageError as e:
        raise DataError(str(e)) from None
    if result.task not in PACKAGED_TASKS:
        raise ModelError(
            f"model.json schema {SUPPORTED_SCHEMA} packages {', '.join(PACKAGED_TASKS)} "
            f"models; this run's task is {result.task!r}"
        )
    shapes = input_shapes(result)
    image_shape = shapes.get(IMAGE_INPUT, ())
    dynamic = {n: dynamic_dims(s) for n, s in shapes.items()}
    lines = result.task == "ctc"
    channels = image_shape[0] if len(image_shape) == 3 else -1
    if IMAGE_INPUT in shapes and channels not in (1, 3):
        raise ModelError(
            f"packages take images (C, H, W) with 1 or 3 channels, or table rows; the "
            f"model's input shape is {result.input_shape}"
        )
    if decoder not in CTC_DECODERS or (decoder != "greedy" and not lines):
        raise DataError(
            f"decoder must be one of {', '.join(CTC_DECODERS)} for a line reader (ctc) "
            f"and is not set for another task; got {decoder!r} for a {result.task} model"
        )
    x = check_sample(sample, result.input_shape)
    train_input = None if train is None else train_model_input(result, train)

    name_dir = Path(models_dir) / name
    made_name_dir = not name_dir.exists()
    name_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=name_dir))
    try:
        model = result.model
        was_training = model.training
        model.eval()
        try:
            exporter = _export_onnx(model, x, tmp / MODEL_FILE, dynamic, lines)
            checks = [(batch, _torch_reference(model, batch)) for batch in check_batches(x, lines)]
        finally:
            model.train(was_training)
        _check_single_file(tmp)
        num_classes = len(result.classes)
        out_shape = checks[0][1].shape
        if lines and (len(out_shape) != 3 or out_shape[2] != num_classes + 1):
            raise ModelError(
                f"the line model returns shape {out_shape}, expected frame logits (N, T, "
                f"{num_classes + 1}) for the blank and its {num_classes} characters"
            )
        if not lines and out_shape[1:] != (num_classes,):
            raise ModelError(
                f"the model returns shape {out_shape}, expected logits (N, "
                f"{num_classes}) for its {num_classes} classes"
            )
        spec = _spec(
            result,
            name,
            exporter,
            tmp / MODEL_FILE,
            metrics,
            train_input,
            {"decoder": decoder, "beam_width": beam_width} if lines else {},
        )
        write_spec(tmp, spec)  # version 0 until publish_version claims a number
        # A regression answers in the target's units: the float32 noise grows with them.
        scale = max([1.0, *(float(np.abs(c).max()) for _, c in checks)])
        _verify(tmp, checks, tolerance * (scale if result.task == "regression" else 1.0))
        return publish_version(tmp, name_dir, spec)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_name_dir:
            with contextlib.suppress(OSError):
                name_dir.rmdir()  # only if still empty
        raise


def _torch_reference(model: torch.nn.Module, x: ModelInput) -> np.ndarray:
    """What the exported graph must reproduce: the torch model's logits on ``x``."""
    import torch

    with torch.inference_mode():
        return model(map_input(torch.from_numpy, x)).float().cpu().numpy()


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Silence the exporters' progress lines, warnings and log records; keep them for errors."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    # torch.export's structured trace (TORCH_TRACE) logs every graph at DEBUG; when a root
    # handler listens (pytest, a notebook) formatting those records doubles the export time.
    trace = logging.getLogger("torch.__trace")
    trace_disabled = trace.disabled
    trace.disabled = True
    buffer = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(buffer),
            contextlib.redirect_stderr(buffer),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        log.setLevel(level)
        trace.disabled = trace_disabled


def _export_onnx(
    model: torch.nn.Module,
    x: ModelInput,
    path: Path,
    dynamic: dict[str, list[int]],
    lines: bool = False,
) -> str:
    """torch.export-based exporter first, the TorchScript one if it fails; the axes in
    ``dynamic`` (by input: the batch, and a line's width) are dynamic in the graph, and a
    line model's (``lines``) output frames with them.

    A model of several inputs takes one dict; it is exported through
    :func:`_named_inputs`, so the graph has one named input per entry, sharing the batch
    dimension."""
    import torch

    names = list(x) if isinstance(x, dict) else [INPUT_NAME]
    axes = [
        dynamic.get(n, [0]) if isinstance(x, dict) else next(iter(dynamic.values()), [0])
        for n in names
    ]
    dims = {0: torch.export.Dim("batch")}
    # A line's width: AUTO lets the exporter derive its constraints (pooling floors it);
    # the graph is then checked at a width it was not traced on (check_batches).
    width = torch.export.Dim.AUTO
    shapes = [{a: dims[0] if a == 0 else width for a in ax} for ax in axes]
    out_axes = {0: "batch", **({1: "frames"} if lines else {})}
    if isinstance(x, dict):
        model = named_inputs(model, names)
        args: tuple[torch.Tensor, ...] = tuple(torch.from_numpy(x[n]) for n in names)
    else:
        args = (torch.from_numpy(x),)
    try:
        with _quiet():
            torch.onnx.export(
                model,
                args,
                str(path),
                dynamo=True,
                external_data=False,
                verbose=False,
                opset_version=DEFAULT_OPSET,
                input_names=names,
                output_names=[OUTPUT_NAME],
                # NamedInputs takes *tensors: one entry for the varargs, one dim each.
                dynamic_shapes=(tuple(shapes),) if isinstance(x, dict) else (shapes[0],),
            )
        return "torch.export"
    except Exception as first:  # the new exporter fails on many unsupported constructs
        _clear(path)
        try:
            with _quiet():
                torch.onnx.export(
                    model,
                    args,
                    str(path),
                    dynamo=False,
                    opset_version=DEFAULT_OPSET,
                    input_names=names,
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={
                        **{
                            n: {a: "batch" if a == 0 else f"width_{a}" for a in ax}
                            for n, ax in zip(names, axes, strict=True)
                        },
                        OUTPUT_NAME: out_axes,
                    },
                )
        except Exception as second:
            raise ModelError(
                f"the model cannot be exported to ONNX: torch.export-based exporter: "
                f"{_first_line(first)}; TorchScript exporter: {_first_line(second)}. "
                f"Replace data-dependent Python control flow and non-torch code in forward()"
            ) from second
        return "torchscript"


def _clear(directory_file: Path) -> None:
    for p in directory_file.parent.iterdir():
        p.unlink()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _check_single_file(tmp: Path) -> None:
    extra = sorted(p.name for p in tmp.iterdir() if p.name != MODEL_FILE)
    if extra:
        raise ModelError(
            f"the exporter wrote external data files {extra}; a package holds one "
            f"self-contained {MODEL_FILE} (models over 2 GB cannot be packaged)"
        )


def _spec(
    result: TrainResult,
    name: str,
    exporter: str,
    onnx_path: Path,
    metrics: dict[str, Any] | None,
    train_input: ModelInput | None = None,
    decoding: dict[str, Any] | None = None,
) -> PackageSpec:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False)
    opset = next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), None)
    return PackageSpec.model_validate(
        {
            "schema_version": SUPPORTED_SCHEMA,
            "name": name,
            "version": 0,  # set when the version number is taken
            "task": result.task,
            "labels": list(result.classes),
            **(
                inputs_spec(result)
                if train_input is None
                else add_train_ranges(inputs_spec(result), train_input)
            ),
            "output": output_spec(
                result.task, OUTPUT_NAME, result.classes, scaling=result.target_scaling
            )
            | {k: v for k, v in (decoding or {}).items() if v is not None},
            "data_version": result.data_version,
            "run_id": result.run_id,
            "mlflow_run_id": result.mlflow_run_id,
            "architecture": result.architecture,
            "training": result.config.model_dump(mode="json"),
            "metrics": json.loads(json.dumps(dict(metrics or {}), default=json_default)),
            "code_version": result.code_version,
            "dlstack_version": _dlstack_version(),
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "onnx": {
                "file": MODEL_FILE,
                "sha256": sha256_file(onnx_path),
                "opset": opset,
                "exporter": exporter,
            },
        }
    )


def _verify(tmp: Path, checks: list[tuple[ModelInput, np.ndarray]], tolerance: float) -> None:
    """Load the package as serving will and compare its logits with torch's."""
    session = load_package(tmp).session
    for inputs, expected in checks:
        batch = input_rows(inputs)
        got = session.run([OUTPUT_NAME], feeds(inputs))[0]
        if got.shape != expected.shape:
            raise CheckFailed(
                f"ONNX Runtime returned shape {got.shape} at batch size {batch}, "
                f"torch {expected.shape}; the batch axis is not dynamic"
            )
        diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
        if not diff <= tolerance:  # also catches NaN
            raise CheckFailed(
                f"ONNX Runtime outputs differ from torch by {diff:.3g} (max abs, batch size "
                f"{batch}), more than the {tolerance:g} allowed; the exported graph does not "
                f"compute what the model does (data-dependent Python in forward()?). "
                f"Nothing was written"
            )


def _dlstack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlstack")
    except PackageNotFoundError:
        return "0+unknown"
