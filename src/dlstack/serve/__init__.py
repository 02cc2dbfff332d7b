"""Serve: load a model package and predict, with onnxruntime, numpy and PIL (no torch).

>>> from dlstack.serve import load_package  # doctest: +SKIP
>>> pkg = load_package(".dlstack/models/digits")  # doctest: +SKIP
>>> [(p.label, round(p.confidence, 2)) for p in pkg.predict_images(["7.png"])]  # doctest: +SKIP
[('7', 0.99)]
"""

from dlstack.serve.package import (
    MODEL_FILE,
    SPEC_FILE,
    SUPPORTED_SCHEMA,
    InputSpec,
    ModelPackage,
    OutputSpec,
    PackageSpec,
    Prediction,
    load_package,
    read_spec,
    sha256_file,
)
from dlstack.serve.preprocess import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PIXELS,
    PreparedImage,
    decode_image,
    prepare_image,
    preprocess_images,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "MODEL_FILE",
    "SPEC_FILE",
    "SUPPORTED_SCHEMA",
    "InputSpec",
    "ModelPackage",
    "OutputSpec",
    "PackageSpec",
    "Prediction",
    "PreparedImage",
    "decode_image",
    "load_package",
    "prepare_image",
    "preprocess_images",
    "read_spec",
    "sha256_file",
]
