"""A model's answer for one example, in the task's terms (what serving returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Answer"]


@dataclass(frozen=True)
class Answer:
    """A model's answer for one example, in the task's terms.

    ``label`` is what a person reads and the prediction log stores: the class, the set of
    classes given (``["cat","dog"]``), the numbers (``[151.2]``) or the text read from a
    line (``12/05``). ``scores`` holds each class's probability (classification,
    multilabel) or each target's value (regression); a line's ``characters`` hold each
    character read with its confidence.
    """

    task: str
    label: str
    # The top class's probability; multilabel: the least sure decision; ctc: the least
    # sure character (the blank's for an empty line).
    confidence: float
    scores: dict[str, float]
    labels: tuple[str, ...] = ()  # multilabel: the classes given
    thresholds: dict[str, float] = field(default_factory=dict)  # multilabel
    characters: tuple[tuple[str, float], ...] = ()  # ctc: (character, confidence)

    @property
    def values(self) -> dict[str, float]:
        """A regression's numbers by target name (empty for other tasks)."""
        return dict(self.scores) if self.task == "regression" else {}
