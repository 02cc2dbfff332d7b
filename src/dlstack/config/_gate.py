"""``[gate]``: which checks a package must pass to be released (`dlstack run` exits 1 and
`dlstack serve` holds it back otherwise).

>>> GateConfig().required
('tests', 'baselines')
>>> GateConfig(required=["doctor"]).required
('doctor',)
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from dlstack.config._base import Section

__all__ = ["DEFAULT_REQUIRED_GATES", "GATE_NAMES", "GateConfig"]

# The gates `dlstack run` judges, in the order it prints them: the `dlstack test` checks,
# the doctor's examination, the [metric] constraints on the model, and "beats the
# baselines" under the objective.
GATE_NAMES = ("tests", "doctor", "constraints", "baselines")
# A package that fails its declared tests or loses to a simpler model is not released:
# both mean the model is not yet what the project asked for. The doctor's findings and
# the constraints are reported, and required only when the project says so.
DEFAULT_REQUIRED_GATES = ("tests", "baselines")


class GateConfig(Section):
    """``[gate]``: ``required`` lists the gates whose failure fails the release."""

    required: tuple[str, ...] = DEFAULT_REQUIRED_GATES

    @field_validator("required", mode="before")
    @classmethod
    def _known_gates(cls, v: Any) -> Any:
        if isinstance(v, str):
            raise ValueError(f'must be a list of gate names, got {v!r}; write required = ["{v}"]')
        if not isinstance(v, list | tuple):
            return v
        unknown = [g for g in v if g not in GATE_NAMES]
        if unknown:
            raise ValueError(
                f"has unknown gate(s) {', '.join(map(repr, unknown))}; known gates: "
                f"{', '.join(GATE_NAMES)} (an empty list requires none)"
            )
        twice = sorted({g for g in v if list(v).count(g) > 1})
        if twice:
            raise ValueError(f"names {', '.join(map(repr, twice))} more than once")
        return tuple(v)
