"""``[score]``: checks done by hand, credited by `dlstack score` (The ML Test Score), and
how much online evidence the offline/online comparison needs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from dlstack.config._base import Section
from dlstack.config._rubric import TEST_IDS

__all__ = ["DEFAULT_MIN_ONLINE_LABELS", "ManualCheckConfig", "ScoreConfig"]

# Online accuracy from fewer human labels is mostly noise: even at 30 labels, the 95%
# interval of an accuracy near 0.9 is about +-0.1 (normal approximation, 1.96 * sqrt(pq/n)).
DEFAULT_MIN_ONLINE_LABELS = 30


class ManualCheckConfig(Section):
    """A check done by hand, recorded so `dlstack score` can give it half a point."""

    description: Annotated[str, Field(min_length=1)]  # what was checked, and the result
    date: str | None = None
    by: str | None = None


class ScoreConfig(Section):
    """``[score]``: manual checks for `dlstack score`, keyed by ML Test Score test id
    (``dlstack score --list`` prints the ids). A value is a description or a table.
    ``min_online_labels``: served predictions with a human label (feedback, labeling) that
    "offline and online metrics correlate" needs before it compares the two."""

    manual: dict[str, ManualCheckConfig] = Field(default_factory=dict)
    min_online_labels: Annotated[int, Field(ge=1)] = DEFAULT_MIN_ONLINE_LABELS

    @field_validator("manual", mode="before")
    @classmethod
    def _known_ids(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        unknown = [k for k in v if k not in TEST_IDS]
        if unknown:
            raise ValueError(
                f"has unknown test id(s) {', '.join(map(repr, unknown))}; known ids: "
                f"{', '.join(TEST_IDS)}"
            )
        return {k: {"description": x} if isinstance(x, str) else x for k, x in v.items()}
