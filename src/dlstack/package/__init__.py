"""The model package: ``model.onnx`` + ``model.json``, written, read and run without torch.

A package directory is ``.dlstack/models/<name>/<n>/``. This package is the whole
contract: the metadata schema (:class:`PackageSpec`, :func:`read_spec`,
:func:`write_spec`), version directories (:func:`next_version`, :func:`publish_version`),
the folder of packages (:class:`ModelRepository`) and the runtime
(:func:`load_package` -> :class:`ModelPackage`, onnxruntime only).

>>> from dlstack.package import load_package  # doctest: +SKIP
>>> pkg = load_package(".dlstack/models/digits")  # doctest: +SKIP
>>> [(p.label, round(p.confidence, 2)) for p in pkg.predict_images(["7.png"])]  # doctest: +SKIP
[('7', 0.99)]
"""

from dlstack.package._repository import PACKAGE_NAME, ModelRepository, check_package_name
from dlstack.package._runtime import (
    DEFAULT_TOP_K,
    ModelPackage,
    Prediction,
    load_package,
    softmax,
)
from dlstack.package._spec import (
    MODEL_FILE,
    SPEC_FILE,
    SUPPORTED_SCHEMA,
    InputSpec,
    NormalizationSpec,
    OnnxFile,
    OutputSpec,
    PackageSpec,
    read_spec,
    sha256_file,
    write_spec,
)
from dlstack.package._versions import (
    is_version,
    next_version,
    previous_version,
    publish_version,
    resolve_package,
    version_numbers,
)

__all__ = [
    "DEFAULT_TOP_K",
    "MODEL_FILE",
    "PACKAGE_NAME",
    "SPEC_FILE",
    "SUPPORTED_SCHEMA",
    "InputSpec",
    "ModelPackage",
    "ModelRepository",
    "NormalizationSpec",
    "OnnxFile",
    "OutputSpec",
    "PackageSpec",
    "Prediction",
    "check_package_name",
    "is_version",
    "load_package",
    "next_version",
    "previous_version",
    "publish_version",
    "read_spec",
    "resolve_package",
    "sha256_file",
    "softmax",
    "version_numbers",
    "write_spec",
]
