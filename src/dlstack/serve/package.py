"""Model packages: ``model.onnx`` + ``model.json``, read and run without torch.

A package directory is ``.dlstack/models/<name>/<n>/``. ``model.json`` says everything
serving needs (labels, input spec with normalization, output kind) and where the model
came from (data version, run, training config, metrics). Nothing in a package is executed
or unpickled: the JSON is parsed and validated, the ONNX graph is run by onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dlstack.errors import DataError, PackageError
from dlstack.serve.preprocess import DEFAULT_MAX_PIXELS, ImageSource, preprocess_images

__all__ = [
    "MODEL_FILE",
    "SPEC_FILE",
    "SUPPORTED_SCHEMA",
    "InputSpec",
    "ModelPackage",
    "OutputSpec",
    "PackageSpec",
    "Prediction",
    "load_package",
    "read_spec",
    "sha256_file",
    "softmax",
]

SUPPORTED_SCHEMA = 1  # the newest model.json schema this dlstack reads (and writes)
SPEC_FILE = "model.json"
MODEL_FILE = "model.onnx"
DEFAULT_TOP_K = 3
_RUN_BATCH = 256  # rows per onnxruntime call: bounds memory on large inputs


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class NormalizationSpec(_Spec):
    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)


class InputSpec(_Spec):
    name: str
    dtype: Literal["float32"]
    shape: list[int] = Field(min_length=4, max_length=4)  # [-1, C, H, W]
    layout: Literal["NCHW"]
    pixel_scale: float = Field(gt=0)
    normalization: NormalizationSpec
    color: Literal["grayscale", "rgb"]
    background: Literal["dark", "light"] = "dark"

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.shape[2], self.shape[3]


class OutputSpec(_Spec):
    name: str
    kind: Literal["logits"]
    shape: list[int] = Field(min_length=2, max_length=2)  # [-1, num_classes]


class OnnxFile(_Spec):
    file: str = MODEL_FILE
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PackageSpec(_Spec):
    """The validated content of ``model.json`` (schema 1); unknown keys are kept."""

    schema_version: int
    name: str
    version: int
    task: Literal["classification"]
    labels: list[str] = Field(min_length=1)
    input: InputSpec
    output: OutputSpec
    onnx: OnnxFile
    data_version: str | None = None
    run_id: str | None = None
    mlflow_run_id: str | None = None
    architecture: str | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    code_version: str | None = None
    dlstack_version: str | None = None
    created: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PackageSpec:
        shape, c = self.input.shape, self.input.shape[1]
        if shape[0] != -1 or any(d < 1 for d in shape[1:]):
            raise ValueError(f"input.shape must be [-1, C, H, W] with C, H, W >= 1, got {shape}")
        want_c = 1 if self.input.color == "grayscale" else 3
        if c != want_c:
            raise ValueError(
                f"input.color {self.input.color!r} needs {want_c} channel(s), input.shape has {c}"
            )
        norm = self.input.normalization
        if len(norm.mean) != c or len(norm.std) != c or min(norm.std) <= 0:
            raise ValueError(
                f"input.normalization needs {c} mean(s) and {c} positive std(s), "
                f"got mean={norm.mean} std={norm.std}"
            )
        if self.input.pixel_scale != 255:
            raise ValueError(f"input.pixel_scale must be 255, got {self.input.pixel_scale}")
        if self.output.shape != [-1, len(self.labels)]:
            raise ValueError(
                f"output.shape must be [-1, {len(self.labels)}] for "
                f"{len(self.labels)} labels, got {self.output.shape}"
            )
        return self


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image; ``notices`` say what preprocessing changed."""

    label: str
    confidence: float
    top_k: list[tuple[str, float]]
    notices: list[str] = field(default_factory=list)
    source: str = ""


class ModelPackage:
    """A loaded package: its spec and an onnxruntime session. Use :func:`load_package`."""

    def __init__(self, path: Path, spec: PackageSpec, session: Any) -> None:
        self.path = path
        self.spec = spec
        self.session = session

    def __repr__(self) -> str:
        return f"ModelPackage({self.spec.name!r}, version={self.spec.version}, path={self.path})"

    @property
    def labels(self) -> list[str]:
        return self.spec.labels

    @property
    def metadata(self) -> dict[str, Any]:
        """model.json as a plain dict."""
        return self.spec.model_dump()

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """Standardized float32 (N, C, H, W) -> class probabilities float32 (N, num_classes)."""
        x = np.asarray(x)
        want = tuple(self.spec.input.shape[1:])
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise DataError(
                f"model input must have shape (N, {', '.join(map(str, want))}), "
                f"got {tuple(x.shape)}; make it with dlstack.data.to_model_input"
            )
        if len(x) == 0:
            raise DataError("model input is empty (N = 0); pass at least one example")
        return softmax(self.logits(np.ascontiguousarray(x, dtype=np.float32)))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Checked float32 (N, C, H, W) -> the graph's logits (N, num_classes), no softmax.

        The server's batcher calls this with input it has already validated.
        """
        inp, out = self.spec.input.name, self.spec.output.name
        if len(x) <= _RUN_BATCH:
            return np.asarray(self.session.run([out], {inp: x})[0])
        return np.concatenate(
            [
                self.session.run([out], {inp: x[i : i + _RUN_BATCH]})[0]
                for i in range(0, len(x), _RUN_BATCH)
            ]
        )

    def predict_images(
        self,
        images: Sequence[ImageSource],
        top_k: int = DEFAULT_TOP_K,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> list[Prediction]:
        """Image paths or encoded bytes -> one Prediction each, in order.

        An unreadable image raises DataError naming it (the batch is not half-answered).
        """
        if top_k < 1:
            raise DataError(f"top_k must be >= 1, got {top_k}")
        spec = self.spec.input
        x, prepared = preprocess_images(
            images,
            size=spec.size,
            mean=spec.normalization.mean,
            std=spec.normalization.std,
            color=spec.color,
            background=spec.background,
            max_pixels=max_pixels,
        )
        probabilities = self.predict_arrays(x)
        k = min(top_k, len(self.labels))
        out = []
        for p, prep in zip(probabilities, prepared, strict=True):
            order = np.argsort(-p, kind="stable")[:k]
            ranked = [(self.labels[i], float(p[i])) for i in order]
            out.append(
                Prediction(ranked[0][0], ranked[0][1], ranked, list(prep.notices), prep.name)
            )
        return out


def load_package(
    path: str | Path,
    *,
    providers: Sequence[str] | None = None,
    intra_op_threads: int | None = None,
    spin: bool = True,
) -> ModelPackage:
    """Load a package from its version dir, its name dir (latest version) or its model.json.

    ``intra_op_threads``: onnxruntime's threads per model call (None: one per core).
    ``spin``: let those threads busy-wait for the next call (onnxruntime's default, best
    for back-to-back calls); a server turns it off so that idle model threads leave the
    CPU to the code that reads the next requests.

    >>> pkg = load_package(".dlstack/models/digits")  # doctest: +SKIP
    >>> pkg.predict_images(["seven.png"])[0].label  # doctest: +SKIP
    '7'
    """
    version_dir = _resolve(Path(path))
    spec = read_spec(version_dir / SPEC_FILE)
    onnx_path = version_dir / spec.onnx.file
    if Path(spec.onnx.file).name != spec.onnx.file or not onnx_path.is_file():
        raise PackageError(
            f"{version_dir} has no {spec.onnx.file}; the package is incomplete, "
            f"export it again with `dlstack export`"
        )
    digest = sha256_file(onnx_path)
    if digest != spec.onnx.sha256:
        raise PackageError(
            f"{onnx_path} has sha256 {digest[:12]}..., model.json expects "
            f"{spec.onnx.sha256[:12]}...; the file was changed or damaged, "
            f"export the model again"
        )
    session = _session(onnx_path, spec, providers, intra_op_threads, spin)
    return ModelPackage(version_dir, spec, session)


def read_spec(path: Path) -> PackageSpec:
    """Parse and validate a model.json; refuse schemas newer than this dlstack reads."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PackageError(f"cannot read {path}: {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(
            f"{path} is not valid JSON ({e}); the package is damaged, export "
            f"the model again with `dlstack export`"
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("schema_version"), int):
        raise PackageError(
            f"{path} has no integer schema_version; it is not a dlstack model "
            f"package (expected model.json written by `dlstack export`)"
        )
    schema = raw["schema_version"]
    if schema > SUPPORTED_SCHEMA:
        raise PackageError(
            f"{path} was made by a newer dlstack (schema {schema}); this dlstack "
            f"reads schema {SUPPORTED_SCHEMA}; upgrade dlstack"
        )
    if schema < 1:
        raise PackageError(f"{path} has schema_version {schema}; valid schemas start at 1")
    try:
        return PackageSpec.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'model.json'}: {err['msg']}"
            for err in e.errors()
        )
        raise PackageError(
            f"{path} is not a valid schema-{schema} package: {problems}; "
            f"export the model again with `dlstack export`"
        ) from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _resolve(path: Path) -> Path:
    """A version dir, a name dir (-> its highest numbered version) or a model.json path."""
    if path.is_file():
        if path.name != SPEC_FILE:
            raise PackageError(
                f"{path} is not a model package; pass its directory or its {SPEC_FILE}"
            )
        return path.parent
    if not path.is_dir():
        raise PackageError(
            f"no model package at {path}; pass .dlstack/models/<name>[/<n>] "
            f"(create one with `dlstack export`)"
        )
    if (path / SPEC_FILE).is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
    if not versions:
        raise PackageError(
            f"{path} holds no {SPEC_FILE} and no numbered versions; pass "
            f".dlstack/models/<name>[/<n>] (create one with `dlstack export`)"
        )
    latest = versions[-1][1]
    if not (latest / SPEC_FILE).is_file():
        raise PackageError(
            f"the latest version {latest} has no {SPEC_FILE}; it is damaged, "
            f"remove it or pass an older version directory"
        )
    return latest


def _session(
    onnx_path: Path,
    spec: PackageSpec,
    providers: Sequence[str] | None,
    intra_op_threads: int | None = None,
    spin: bool = True,
) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings are not the user's business
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            str(onnx_path),
            sess_options=options,
            providers=list(providers or ["CPUExecutionProvider"]),
        )
    except Exception as e:  # ORT raises its own exception types for bad graphs
        raise PackageError(
            f"onnxruntime cannot load {onnx_path}: {e}; export the model again"
        ) from None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != [spec.input.name] or spec.output.name not in outputs:
        raise PackageError(
            f"{onnx_path} has inputs {inputs} and outputs {outputs}, model.json "
            f"says input {spec.input.name!r} and output {spec.output.name!r}; "
            f"export the model again"
        )
    return session


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (N, K)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
