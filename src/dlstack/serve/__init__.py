"""Serve: model packages over HTTP, with onnxruntime, numpy and PIL (no torch).

Loading a package and predicting in-process is :func:`dlstack.package.load_package`.
The prediction server (``create_app``, ``serve``: FastAPI, the Open Inference Protocol,
adaptive batching, metrics, a web page), ``monitor`` (drift) and ``online_accuracy``
(served predictions against people's labels) are imported when first used, so
``import dlstack.serve`` stays light.

>>> from dlstack.serve import serve  # doctest: +SKIP
>>> serve([".dlstack/models/digits"], port=8080)  # doctest: +SKIP
"""

from typing import Any

from dlstack._lazy import lazy_attribute

# Imported on first use (fastapi, prometheus-client, matplotlib for reports).
_LAZY = {
    "AdaptiveBatcher": "_batching",
    "DeadlineExceeded": "_errors",
    "DriftReport": "_drift",
    "KeyRing": "_auth",
    "LabeledPrediction": "_online",
    "LatencyModel": "_batching",
    "OnlineAccuracy": "_online",
    "PredictionLog": "_predlog",
    "QueueFull": "_errors",
    "ROLES": "_auth",
    "ServeError": "_errors",
    "create_app": "_app",
    "decided_labels": "_online",
    "monitor": "_drift",
    "labeled_predictions": "_online",
    "new_key": "_auth",
    "online_accuracy": "_online",
    "parse_window": "_online",
    "serve": "_app",
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)
