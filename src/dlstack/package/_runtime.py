"""A loaded model package: ``model.onnx`` run by onnxruntime, ``model.json`` saying how.

Nothing in a package is executed or unpickled: the JSON is parsed and validated, the ONNX
graph's hash is checked, and the graph is run by onnxruntime (no torch).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlstack.errors import DataError, PackageError
from dlstack.inputs import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    TableEncoder,
    preprocess_images,
    to_model_input,
)
from dlstack.package._spec import SPEC_FILE, PackageSpec, read_spec, sha256_file
from dlstack.package._versions import resolve_package

__all__ = ["DEFAULT_TOP_K", "ModelPackage", "Prediction", "load_package", "softmax"]

DEFAULT_TOP_K = 3
_RUN_BATCH = 256  # rows per onnxruntime call: bounds memory on large inputs


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

    @functools.cached_property
    def encoder(self) -> TableEncoder:
        """A table input's encoder, built once per loaded package (PackageError for an
        image input): serving uses it on every request."""
        return self.spec.input.encoder()

    @property
    def labels(self) -> list[str]:
        return self.spec.labels

    @property
    def metadata(self) -> dict[str, Any]:
        """model.json as a plain dict."""
        return self.spec.model_dump()

    def model_input(
        self, images: np.ndarray | None = None, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Stored examples -> this model's input, as training made it: uint8 images
        (N, H, W[, 3]) standardized, or a table's raw rows (N, F) encoded."""
        spec = self.spec.input
        if spec.kind == "table":
            if features is None:
                raise DataError(f"package {self.spec.name} takes table rows, not images")
            return self.encoder.transform(features)
        if images is None:
            raise DataError(f"package {self.spec.name} takes images")
        return to_model_input(images, spec.norm.mean, spec.norm.std)

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """Model input float32 (N, C, H, W) or (N, D) -> class probabilities (N, classes)."""
        x = np.asarray(x)
        want = tuple(self.spec.input.shape[1:])
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise DataError(
                f"model input must have shape (N, {', '.join(map(str, want))}), "
                f"got {tuple(x.shape)}; make it with ModelPackage.model_input"
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
        if spec.kind != "image" or spec.color is None:
            raise DataError(
                f"package {self.spec.name} takes table rows, not images; send rows of "
                f"{', '.join(spec.encoder().feature_names[:8])}..."
            )
        x, prepared = preprocess_images(
            images,
            size=spec.size,
            mean=spec.norm.mean,
            std=spec.norm.std,
            color=spec.color,
            background=spec.background,
            resize=spec.resize,
            max_pixels=max_pixels,
        )
        probabilities = self.predict_arrays(x)
        return self._ranked(probabilities, top_k, [(p.name, list(p.notices)) for p in prepared])

    def predict_rows(
        self, rows: Sequence[Mapping[str, Any]], top_k: int = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """Table rows ({column: value}, null for a missing value) -> one Prediction each.

        A row with an unknown or a missing column, or a non-number in a numeric one, is a
        DataError naming it; a category the training data never had encodes as all zeros
        (the stated rule), and the Prediction's notices say so.
        """
        if top_k < 1:
            raise DataError(f"top_k must be >= 1, got {top_k}")
        if len(rows) == 0:
            raise DataError("no rows given; pass one or more rows of column: value")
        encoder = self.encoder
        raw = encoder.rows_to_raw(rows)
        notes = []
        for i, row in enumerate(rows):
            unknown = [
                f"{c.name} = {row[c.name]!r}"
                for j, c in enumerate(encoder.columns)
                if c.kind == "categorical"
                and row[c.name] not in (None, "")
                and str(row[c.name]).strip() not in encoder.vocabulary[j]
            ]
            missing = [c.name for c in encoder.columns if row[c.name] in (None, "")]
            notice = []
            if unknown:
                notice.append(f"categories not seen in training (encoded as none): {unknown}")
            if missing:
                notice.append(f"missing values filled by the train mean: {missing}")
            notes.append((f"row {i + 1}", notice))
        probabilities = self.predict_arrays(encoder.transform(raw))
        return self._ranked(probabilities, top_k, notes)

    def _ranked(
        self, probabilities: np.ndarray, top_k: int, names: list[tuple[str, list[str]]]
    ) -> list[Prediction]:
        k = min(top_k, len(self.labels))
        out = []
        for p, (name, notices) in zip(probabilities, names, strict=True):
            order = np.argsort(-p, kind="stable")[:k]
            ranked = [(self.labels[i], float(p[i])) for i in order]
            out.append(Prediction(ranked[0][0], ranked[0][1], ranked, notices, name))
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
    version_dir = resolve_package(Path(path))
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
    # The graph's own input shape (a symbolic batch dim, fixed C, H, W) must be the one
    # model.json promises, or every request would fail inside onnxruntime.
    graph_shape = session.get_inputs()[0].shape
    fixed = [d if isinstance(d, int) else -1 for d in graph_shape]
    if len(fixed) != len(spec.input.shape) or any(
        g != -1 and g != s for g, s in zip(fixed[1:], spec.input.shape[1:], strict=False)
    ):
        raise PackageError(
            f"{onnx_path} takes input of shape {graph_shape}, model.json says "
            f"{spec.input.shape}; export the model again"
        )
    return session


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (N, K)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
