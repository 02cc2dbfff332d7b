"""``[score]``: checks done by hand, credited by `dlstack score` (The ML Test Score)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from dlstack.config._base import Section
from dlstack.config._rubric import TEST_IDS

__all__ = ["ManualCheckConfig", "ScoreConfig"]


class ManualCheckConfig(Section):
    """A check done by hand, recorded so `dlstack score` can give it half a point."""

    description: Annotated[str, Field(min_length=1)]  # what was checked, and the result
    date: str | None = None
    by: str | None = None


class ScoreConfig(Section):
    """``[score]``: manual checks for `dlstack score`, keyed by ML Test Score test id
    (``dlstack score --list`` prints the ids). A value is a description or a table."""

    manual: dict[str, ManualCheckConfig] = Field(default_factory=dict)

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
