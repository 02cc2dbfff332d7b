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

from dlstack.errors import CheckFailed, DataError, ModelError, PackageError
from dlstack.package import (
    MODEL_FILE,
    SUPPORTED_SCHEMA,
    PackageSpec,
    check_package_name,
    load_package,
    publish_version,
    sha256_file,
    write_spec,
)
from dlstack.records import json_default

if TYPE_CHECKING:
    import torch

    from dlstack.train import TrainResult

__all__ = ["DEFAULT_OPSET", "DEFAULT_TOLERANCE", "export_package"]

# Max abs difference allowed between onnxruntime and torch logits. float32 kernels differ
# in summation order; 1e-4 is far above that noise (~1e-6) and far below a real bug.
DEFAULT_TOLERANCE = 1e-4
DEFAULT_OPSET = 18  # the torch.export-based exporter's default; onnxruntime >= 1.14 runs it
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_package(
    result: TrainResult,
    models_dir: str | Path,
    name: str,
    *,
    sample: np.ndarray,
    metrics: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Write ``models_dir/name/<n>/`` (n = next version) and return its path.

    ``sample`` is a batch of model input, float32 ``(N, *result.input_shape)`` as
    ``dlstack.inputs.to_model_input`` makes it (a few test images are ideal). The ONNX graph
    is checked against torch on it at batch size 1 and N; a difference above
    ``tolerance`` raises CheckFailed and nothing is written.
    """
    try:
        check_package_name(name)
    except PackageError as e:
        raise DataError(str(e)) from None
    if result.task != "classification":
        raise ModelError(
            f"model.json schema {SUPPORTED_SCHEMA} packages classification "
            f"models; this run's task is {result.task!r}"
        )
    channels = result.input_shape[0] if len(result.input_shape) == 3 else -1
    if result.normalization.table is None and channels not in (1, 3):
        raise ModelError(
            f"packages take images (C, H, W) with 1 or 3 channels, or table rows; the "
            f"model's input shape is {result.input_shape}"
        )
    x = _check_sample(sample, tuple(result.input_shape))

    name_dir = Path(models_dir) / name
    made_name_dir = not name_dir.exists()
    name_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=name_dir))
    try:
        model = result.model
        was_training = model.training
        model.eval()
        try:
            exporter = _export_onnx(model, x, tmp / MODEL_FILE)
            checks = [(batch, _torch_reference(model, batch)) for batch in _check_batches(x)]
        finally:
            model.train(was_training)
        _check_single_file(tmp)
        num_classes = len(result.classes)
        out_shape = checks[0][1].shape
        if out_shape[1:] != (num_classes,):
            raise ModelError(
                f"the model returns shape {out_shape}, expected logits (N, "
                f"{num_classes}) for its {num_classes} classes"
            )
        spec = _spec(result, name, exporter, tmp / MODEL_FILE, metrics)
        write_spec(tmp, spec)  # version 0 until publish_version claims a number
        _verify(tmp, checks, tolerance)
        return publish_version(tmp, name_dir, spec)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_name_dir:
            with contextlib.suppress(OSError):
                name_dir.rmdir()  # only if still empty
        raise


def _check_sample(sample: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(sample)
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != input_shape or len(x) < 1:
        dims = ", ".join(map(str, input_shape))
        raise DataError(
            f"sample must be a batch of model input (N, {dims}) with N >= 1, got "
            f"{x.shape}; make it with dlstack.inputs.to_model_input"
        )
    if not np.isfinite(x).all():
        raise DataError("sample contains NaN or infinite values; pass real model input")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_batches(x: np.ndarray) -> list[np.ndarray]:
    """Batch size 1 and the sample's size (at least 2): checks that the batch axis is dynamic."""
    return [x[:1], x if len(x) > 1 else np.concatenate([x, x])]


def _torch_reference(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """What the exported graph must reproduce: the torch model's logits on ``x``."""
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(x)).float().cpu().numpy()


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


def _export_onnx(model: torch.nn.Module, x: np.ndarray, path: Path) -> str:
    """torch.export-based exporter first (dynamic batch dim); the TorchScript one if it fails."""
    import torch

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
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
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
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
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
    result: TrainResult, name: str, exporter: str, onnx_path: Path, metrics: dict[str, Any] | None
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
            "input": _input_spec(result),
            "output": {"name": OUTPUT_NAME, "kind": "logits", "shape": [-1, len(result.classes)]},
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


def _input_spec(result: TrainResult) -> dict[str, Any]:
    """model.json's ``input``: how serving makes the model's input, as training did."""
    norm = result.normalization
    if norm.table is not None:
        (width,) = result.input_shape
        return {
            "name": INPUT_NAME,
            "dtype": "float32",
            "kind": "table",
            "shape": [-1, width],
            "layout": "NC",
            "table": norm.table,
        }
    c, h, w = result.input_shape
    mean, std = list(norm.mean), list(norm.std)
    # Runs from before [data.image]: the background from the train split's brightness.
    legacy_background = "dark" if sum(mean) / len(mean) < 0.5 else "light"
    image = result.image or {"resize": "fit", "background": legacy_background}
    return {
        "name": INPUT_NAME,
        "dtype": "float32",
        "kind": "image",
        "shape": [-1, c, h, w],
        "layout": "NCHW",
        "pixel_scale": 255,
        "normalization": {"mean": mean, "std": std},
        "color": "grayscale" if c == 1 else "rgb",
        "background": image["background"],
        "resize": image["resize"],
    }


def _verify(tmp: Path, checks: list[tuple[np.ndarray, np.ndarray]], tolerance: float) -> None:
    """Load the package as serving will and compare its logits with torch's."""
    session = load_package(tmp).session
    for inputs, expected in checks:
        batch = len(inputs)
        got = session.run([OUTPUT_NAME], {INPUT_NAME: inputs})[0]
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
