"""Evaluate: test-set metrics (torchmetrics) and the baselines a model must beat.

>>> from dlstack.data import Snapshot
>>> from dlstack.evaluate import baselines
>>> snap = Snapshot.from_builtin("digits8")
>>> {b.name: round(b.metrics["accuracy"], 1) for b in baselines(snap)}["majority"]
0.1

torch and scikit-learn are imported only when a function runs, so importing this package
is cheap.
"""

from dlstack.evaluate.baselines import BaselineResult, baselines
from dlstack.evaluate.evaluation import DEFAULT_EVAL_BATCH_SIZE, Evaluation, evaluate
from dlstack.evaluate.metrics import ClassificationMetrics, classification_metrics

__all__ = [
    "DEFAULT_EVAL_BATCH_SIZE",
    "BaselineResult",
    "ClassificationMetrics",
    "Evaluation",
    "baselines",
    "classification_metrics",
    "evaluate",
]
