"""Loading a model package: ``model.json`` read and checked, the ONNX graph's hash and
its inputs and outputs checked against it, an onnxruntime session made.

Nothing in a package is executed or unpickled: the JSON is parsed and validated, the ONNX
graph's hash is checked, and the graph is run by onnxruntime (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlstack.errors import PackageError
from dlstack.package._runtime import ModelPackage
from dlstack.package._spec import SPEC_FILE, PackageSpec, read_spec, sha256_file
from dlstack.package._versions import resolve_package

__all__ = ["load_package"]


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
    declared = [i.name for i in spec.inputs]
    if sorted(inputs) != sorted(declared) or spec.output.name not in outputs:
        raise PackageError(
            f"{onnx_path} has inputs {inputs} and outputs {outputs}, model.json "
            f"says input(s) {', '.join(map(repr, declared))} and output "
            f"{spec.output.name!r}; export the model again"
        )
    # The graph's own input shapes (a symbolic batch dim, fixed C, H, W) must be the ones
    # model.json promises, or every request would fail inside onnxruntime.
    for graph_input in session.get_inputs():
        want = spec.input_named(graph_input.name)
        assert want is not None
        fixed = [d if isinstance(d, int) else -1 for d in graph_input.shape]
        if len(fixed) != len(want.shape) or any(
            g != -1 and g != s for g, s in zip(fixed[1:], want.shape[1:], strict=False)
        ):
            raise PackageError(
                f"{onnx_path} takes input"
                f"{f' {graph_input.name!r}' if len(spec.inputs) > 1 else ''} of shape "
                f"{graph_input.shape}, "
                f"model.json says {want.shape}; export the model again"
            )
    return session
