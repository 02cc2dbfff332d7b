"""``[tests]``: what a model package must meet before it ships (`dlstack test`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dlstack.config._base import Section

__all__ = ["DirectionalTestConfig", "EvalTestsConfig", "InvarianceTestConfig", "SliceTestConfig"]


class SliceTestConfig(Section):
    """One ``[[tests.slices]]``: minimum metrics on every slice of one key."""

    by: Annotated[str, Field(min_length=1)] = "class"  # "class", "source" or a metadata key
    min_metrics: dict[str, float]  # e.g. {recall = 0.9}: accuracy, error, precision, recall, f1
    min_examples: Annotated[int, Field(ge=1)] = 20  # smaller slices are listed, not judged


class InvarianceTestConfig(Section):
    """One ``[[tests.invariance]]``: a change that must not change the prediction."""

    transform: Literal["shift", "thicken", "thin", "noise", "blur", "rotate", "brightness"]
    amount: Annotated[float, Field(gt=0)] = 1.0  # px, px, px, noise std (0..1), sigma, deg, x
    max_changed: Annotated[float, Field(ge=0, le=1)] = 0.05  # share of predictions


class DirectionalTestConfig(Section):
    """One ``[[tests.directional]]``: a change that must move the true class's probability
    the expected way (e.g. covering most of the digit lowers it)."""

    transform: Literal[
        "shift", "thicken", "thin", "noise", "blur", "rotate", "brightness", "occlude"
    ]
    amount: Annotated[float, Field(gt=0)] = 0.5
    expect: Literal["decrease", "increase"] = "decrease"
    min_rate: Annotated[float, Field(ge=0, le=1)] = 0.9  # share of examples that must move so


class EvalTestsConfig(Section):
    """``[tests]``: what a model package must meet (`dlstack test`). Owned by evaluate.

    Numerical stability and training/serving skew are always checked; a previous version
    of the same package, when there is one, is the reference for the regression checks.
    """

    split: Literal["train", "val", "test"] = "test"
    min_metrics: dict[str, float] = Field(
        default_factory=dict
    )  # e.g. {accuracy = 0.95, "recall[7]" = 0.9}
    max_metrics: dict[str, float] = Field(default_factory=dict)  # e.g. {calibration_error = 0.05}
    slices: tuple[SliceTestConfig, ...] = ()
    max_latency_ms: Annotated[float, Field(gt=0)] | None = None  # one image, at the percentile
    latency_percentile: Annotated[float, Field(gt=0, le=100)] = 95.0
    max_size_mb: Annotated[float, Field(gt=0)] | None = None
    invariance: tuple[InvarianceTestConfig, ...] = ()
    directional: tuple[DirectionalTestConfig, ...] = ()
    max_skew: Annotated[float, Field(ge=0, le=1)] = 0.0  # predictions that differ via images
    max_accuracy_drop: Annotated[float, Field(ge=0, le=1)] = 0.01  # vs the previous version
    # vs the metrics model.json recorded at export: "far below" them fails the package
    max_drop_vs_recorded: Annotated[float, Field(ge=0, le=1)] = 0.05
    max_latency_increase: Annotated[float, Field(ge=0)] = 0.5  # 0.5 = 50% slower allowed
    max_age_days: Annotated[float, Field(gt=0)] | None = None
    seed: int = 0
