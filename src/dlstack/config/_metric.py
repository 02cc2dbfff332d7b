"""``[metric]``: the one objective every stage optimizes, and the baselines it is read against."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from dlstack.config._base import Section
from dlstack.errors import ConfigError
from dlstack.objective import Constraint, Objective

__all__ = ["TASK_OBJECTIVES", "BaselinesConfig", "ExternalBaselineConfig", "MetricConfig"]

# What [metric] optimizes when it says nothing, per [project] task: accuracy for one
# class; macro F1 for a set of classes (every class counts, rare ones too); R^2 for numbers
# (scale-free, and the same ranking as RMSE on one split); character error rate for lines.
TASK_OBJECTIVES = {
    "classification": "accuracy",
    "multilabel": "f1_macro",
    "regression": "r2",
    "ctc": "cer",
}


def _formula_error(err: Exception) -> ValueError:
    """A dlstack.objective parse error as a pydantic ValueError, without the key
    (format_validation_error puts the key in front)."""
    text = str(err)
    return ValueError(text.split(" = ", 1)[1] if " = " in text else text)


class ExternalBaselineConfig(Section):
    """One ``[[metric.baselines.external]]``: a number no code here computes (a published
    result, a business requirement), shown beside the model in every report."""

    name: Annotated[str, Field(min_length=1)]
    kind: Literal["published", "requirement", "human", "other"] = "published"
    metrics: dict[str, float]  # e.g. {accuracy = 0.992}
    note: str = ""  # where the number comes from: paper, ticket, contract


class BaselinesConfig(Section):
    """``[metric.baselines]``: the baselines beyond majority class and logistic regression."""

    rules: tuple[str, ...] = ()  # "module:function" rule baselines (see dlstack.evaluate)
    external: tuple[ExternalBaselineConfig, ...] = ()
    # People's error when labeling has not measured it on gold examples.
    human_error: Annotated[float, Field(ge=0, le=1)] | None = None
    neural_net: bool = True  # a one-hidden-layer network (scikit-learn), ~seconds

    @field_validator("rules")
    @classmethod
    def _rule_specs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for spec in v:
            if spec != "digits" and not (":" in spec and all(spec.split(":", 1))):
                raise ValueError(
                    f"entries must be 'module:function' or 'digits' (the shipped rule), "
                    f"got {spec!r}"
                )
        return v


class MetricConfig(Section):
    """``[metric]``: the single number every stage optimizes (dlstack.objective).

    Either ``optimize`` (one metric) or ``objective`` (a weighted formula such as
    ``"0.7*recall + 0.3*precision"``), and optional ``constraints`` every winner must meet
    (``"precision >= 0.9"``). ``requirement`` is the accuracy the business needs: `dlstack
    scope` says how much data it would take.
    """

    optimize: str = "accuracy"
    objective: str | None = None
    direction: Literal["auto", "max", "min"] = "auto"
    constraints: tuple[str, ...] = ()
    requirement: Annotated[float, Field(gt=0, le=1)] | None = None
    # A class to decide one-vs-rest: its operating threshold is chosen with the objective
    # (a two-class task always gets one, for its second class).
    positive: str | None = None
    baselines: BaselinesConfig = BaselinesConfig()

    @field_validator("optimize", "objective")
    @classmethod
    def _formula(cls, v: str | None, info: ValidationInfo) -> str | None:

        if v is None:
            return v
        if info.field_name == "objective" and info.data.get("optimize", "accuracy") != "accuracy":
            raise ValueError(
                "and metric.optimize are both set; keep one: objective for a weighted formula, "
                "optimize for one metric (with constraints on the others)"
            )
        try:
            if info.field_name == "objective":
                Objective.parse(objective=v)
            else:
                Objective.parse(v)
        except ConfigError as e:
            raise _formula_error(e) from None
        return v

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: tuple[str, ...]) -> tuple[str, ...]:

        for i, text in enumerate(v):
            try:
                Constraint.parse(text)
            except ConfigError as e:
                raise ValueError(f"item {i + 1} {_formula_error(e)}") from None
        return v
