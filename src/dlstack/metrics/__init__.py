"""Scores of predictions, computed by torchmetrics (we write none by hand): one module per
kind of target.

    classification   ClassificationMetrics, classification_metrics, pr_curve, roc_curve
    multilabel       MultilabelMetrics, multilabel_metrics (per-class and macro F1, mAP)
    regression       RegressionMetrics, regression_metrics (MAE, RMSE, R^2)
    transcription    TranscriptionMetrics, transcription_metrics (CER, WER, exact lines,
                     CER by line length, character confusions)

Every metrics object has ``summary()`` (the headline numbers) and ``values(names)``: every
number by the name an objective, a constraint or a ``[tests]`` entry uses (``accuracy``,
``f1_macro``, ``map``, ``rmse``, ``r2``, per class or target ``f1[cat]``, ``mae[y]``...).
The model's evaluation and the baselines go through the same function, so they are
comparable by construction.
"""

from dlstack.metrics._classification import (
    CALIBRATION_BINS,
    METRIC_ALIASES,
    ClassificationMetrics,
    Curve,
    as_printed,
    classification_metrics,
    pr_curve,
    roc_curve,
)
from dlstack.metrics._multilabel import MultilabelMetrics, multilabel_metrics
from dlstack.metrics._regression import RegressionMetrics, regression_metrics
from dlstack.metrics._transcription import (
    LENGTH_BUCKETS,
    TOP_CONFUSIONS,
    TranscriptionMetrics,
    alignment_edits,
    length_bucket,
    transcription_metrics,
)

__all__ = [
    "CALIBRATION_BINS",
    "LENGTH_BUCKETS",
    "METRIC_ALIASES",
    "TOP_CONFUSIONS",
    "ClassificationMetrics",
    "Curve",
    "MultilabelMetrics",
    "RegressionMetrics",
    "TranscriptionMetrics",
    "alignment_edits",
    "as_printed",
    "classification_metrics",
    "length_bucket",
    "multilabel_metrics",
    "pr_curve",
    "regression_metrics",
    "roc_curve",
    "transcription_metrics",
]
