"""The model package: ``model.onnx`` + ``model.json``, written, read and run without torch.

A package directory is ``.dlstack/models/<name>/<n>/``. This package is the whole
contract: the metadata schema (:class:`PackageSpec`, :func:`read_spec`,
:func:`write_spec`), version directories (:func:`next_version`, :func:`publish_version`),
the folder of packages (:class:`ModelRepository`), the release gate's verdict beside
each package (:func:`read_gate`, :func:`write_gate`) and the version served when none is
named (:func:`select_version`), and the runtime
(:func:`load_package` -> :class:`ModelPackage`, onnxruntime only).

>>> from dlstack.package import load_package  # doctest: +SKIP
>>> pkg = load_package(".dlstack/models/digits")  # doctest: +SKIP
>>> [(p.label, round(p.confidence, 2)) for p in pkg.predict_images(["7.png"])]  # doctest: +SKIP
[('7', 0.99)]
"""

from dlstack.package._gate import GATE_FILE, GateCheck, GateVerdict, read_gate, write_gate
from dlstack.package._load import load_package
from dlstack.package._outputs import PACKAGED_TASKS, output_scores, output_spec
from dlstack.package._repository import PACKAGE_NAME, ModelRepository, check_package_name
from dlstack.package._runtime import (
    DEFAULT_TOP_K,
    ModelPackage,
    Prediction,
    softmax,
)
from dlstack.package._select import Selection, check_servable, select_version
from dlstack.package._spec import (
    MODEL_FILE,
    SPEC_FILE,
    SUPPORTED_SCHEMA,
    InputRange,
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
    "GATE_FILE",
    "MODEL_FILE",
    "PACKAGED_TASKS",
    "PACKAGE_NAME",
    "SPEC_FILE",
    "SUPPORTED_SCHEMA",
    "GateCheck",
    "GateVerdict",
    "InputRange",
    "InputSpec",
    "ModelPackage",
    "ModelRepository",
    "NormalizationSpec",
    "OnnxFile",
    "OutputSpec",
    "PackageSpec",
    "Prediction",
    "Selection",
    "check_package_name",
    "check_servable",
    "is_version",
    "load_package",
    "next_version",
    "output_scores",
    "output_spec",
    "previous_version",
    "publish_version",
    "read_gate",
    "read_spec",
    "resolve_package",
    "select_version",
    "sha256_file",
    "softmax",
    "version_numbers",
    "write_gate",
    "write_spec",
]
