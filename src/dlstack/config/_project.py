"""``[project]``: the project's name and what it learns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dlstack.config._base import Section

__all__ = ["NAME_PATTERN", "TASKS", "ProjectConfig"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a folder name on every OS
# classification: one class per example; multilabel: a set of classes; regression: one or
# more numbers; ctc: a line of text (a string over an alphabet), trained with CTC.
TASKS = ("classification", "multilabel", "regression", "ctc")


class ProjectConfig(Section):
    name: Annotated[str, Field(min_length=1, pattern=NAME_PATTERN)] = "project"
    task: Literal["classification", "multilabel", "regression", "ctc"] = "classification"
