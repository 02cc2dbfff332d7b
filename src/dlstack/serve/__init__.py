"""Serve: load a model package and predict, with onnxruntime, numpy and PIL (no torch).

>>> from dlstack.serve import load_package  # doctest: +SKIP
>>> pkg = load_package(".dlstack/models/digits")  # doctest: +SKIP
>>> [(p.label, round(p.confidence, 2)) for p in pkg.predict_images(["7.png"])]  # doctest: +SKIP
[('7', 0.99)]

The prediction server (``create_app``, ``serve``: FastAPI, the Open Inference Protocol,
adaptive batching, metrics, a web page) and ``monitor`` (drift) are imported when first
used, so ``import dlstack.serve`` stays light.

>>> from dlstack.serve import serve  # doctest: +SKIP
>>> serve([".dlstack/models/digits"], port=8080)  # doctest: +SKIP
"""

from typing import Any

from dlstack._lazy import lazy_attribute
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

# Imported on first use (fastapi, prometheus-client, matplotlib for reports).
_LAZY = {
    "AdaptiveBatcher": "batching",
    "DeadlineExceeded": "errors",
    "DriftReport": "drift",
    "KeyRing": "auth",
    "LatencyModel": "batching",
    "PredictionLog": "predlog",
    "QueueFull": "errors",
    "ServeError": "errors",
    "create_app": "app",
    "monitor": "drift",
    "new_key": "auth",
    "serve": "app",
}

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
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)
