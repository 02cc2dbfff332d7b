"""Reference points no code here computes: published results, business requirements, and
the human baseline. They sit beside the computed baselines in every report; the model
is compared with each on the metrics they name.

>>> ref = Reference("LeNet-5 (LeCun et al. 1998)", "published", {"accuracy": 0.991})
>>> ref.compare({"accuracy": 0.985})[0]
False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlstack.objective import lower_is_better

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data.labeling import HumanBaseline

__all__ = ["Reference", "human_reference", "project_references"]


@dataclass(frozen=True)
class Reference:
    """A number to compare with: ``metrics`` by name, where it comes from in ``note``."""

    name: str
    kind: str  # published | requirement | human | other
    metrics: dict[str, float]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def compare(self, model: Mapping[str, float]) -> tuple[bool | None, str]:
        """(beaten?, explanation). None when the model has none of the metrics named.

        A requirement is "beaten" when met (>=, or <= for errors); other references must
        be strictly bettered.
        """
        shared = [m for m in self.metrics if m in model]
        if not shared:
            return None, f"not comparable: the model has no {', '.join(self.metrics)}"
        worse = []
        for m in shared:
            ours, theirs = float(model[m]), float(self.metrics[m])
            low = lower_is_better(m)
            if self.kind == "requirement":
                ok = ours <= theirs if low else ours >= theirs
            else:
                ok = ours < theirs if low else ours > theirs
            if not ok:
                worse.append(f"{m} {ours:.4f} vs {theirs:.4f}")
        if worse:
            verb = "NOT MET" if self.kind == "requirement" else "NOT BEATEN"
            return False, f"{verb}: " + ", ".join(worse)
        verb = "met" if self.kind == "requirement" else "beaten"
        return True, verb + " on " + ", ".join(shared)


def human_reference(baseline: HumanBaseline) -> Reference:
    """The labeling stage's human baseline (answers to gold examples) as a reference."""
    return Reference(
        "human",
        "human",
        {"accuracy": baseline.accuracy, "error": baseline.error_rate},
        f"labelers' error on gold examples: {baseline.error_rate:.1%} pooled over "
        f"{baseline.n_answers} answers to {baseline.n_gold} gold examples; best labeler "
        f"{baseline.best_error_rate:.1%}",
        {"best_error_rate": baseline.best_error_rate},
    )


def project_references(project: Project, *, measured_human: bool = True) -> list[Reference]:
    """External baselines and the requirement from ``[metric]``, and the human baseline
    (measured by labeling if it has been, else ``[metric.baselines] human_error``)."""
    metric = project.config.metric
    out = [Reference(e.name, e.kind, dict(e.metrics), e.note) for e in metric.baselines.external]
    if metric.requirement is not None:
        out.append(
            Reference(
                "requirement",
                "requirement",
                {"accuracy": metric.requirement},
                "[metric] requirement in dlstack.toml: what the business needs",
            )
        )
    human = _measured_human(project) if measured_human else None
    if human is not None:
        out.append(human_reference(human))
    elif metric.baselines.human_error is not None:
        err = metric.baselines.human_error
        out.append(
            Reference(
                "human",
                "human",
                {"accuracy": 1 - err, "error": err},
                "[metric.baselines] human_error in dlstack.toml (not measured by labeling)",
            )
        )
    return out


def _measured_human(project: Project) -> HumanBaseline | None:
    from dlstack.data import Catalog
    from dlstack.data.labeling import human_baseline

    if project.catalog_url.startswith("sqlite:///"):
        path = project.catalog_url.removeprefix("sqlite:///")
        from pathlib import Path

        if not Path(path).is_file():  # no catalog yet: do not create one just to look
            return None
    catalog = Catalog(project.catalog_url, namespace=project.config.project.name)
    try:
        return human_baseline(catalog)
    finally:
        catalog.close()
