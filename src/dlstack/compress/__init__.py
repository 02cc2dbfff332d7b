"""Compress and export: trained model -> checked, versioned model package (ONNX + JSON).

>>> from dlstack.compress import export_package  # doctest: +SKIP
>>> export_package(result, project.models_dir, "digits", sample=x_test[:8])  # doctest: +SKIP
PosixPath('.dlstack/models/digits/1')

torch and onnx are imported when an export runs, not when this package is imported.
"""

from dlstack.compress._export import DEFAULT_OPSET, DEFAULT_TOLERANCE, export_package

__all__ = ["DEFAULT_OPSET", "DEFAULT_TOLERANCE", "export_package"]
