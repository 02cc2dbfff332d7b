"""Which version to serve when none is named: the newest that passed its release gate.

The rule, in one place for `dlstack serve` and the server's admin ``load``:

- the newest version whose ``gate.json`` says it passed;
- when no version of the model has a verdict at all (packages made before the gate, or
  not by `dlstack run`), the newest version, and the reason says none was checked;
- a version that failed (or whose verdict is damaged) is never chosen unless failed
  versions are allowed (``--allow-failed``); a version without a verdict is not chosen
  while another version has one.

Every choice comes with its reason, for the person who starts the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlstack.errors import CheckFailed, PackageError
from dlstack.package._gate import GateVerdict, read_gate
from dlstack.package._spec import SPEC_FILE, read_spec
from dlstack.package._versions import version_numbers

__all__ = ["Selection", "check_servable", "select_version"]


@dataclass(frozen=True)
class Selection:
    """The version to serve, its verdict (None: not checked) and why it was chosen."""

    path: Path
    version: int
    verdict: GateVerdict | None
    reason: str

    @property
    def status(self) -> str:
        """``passed``, ``FAILED`` or ``not checked``."""
        if self.verdict is None:
            return "not checked"
        return "passed" if self.verdict.passed else "FAILED"


def _verdict(version_dir: Path) -> tuple[GateVerdict | None, str]:
    """(verdict, problem): a damaged verdict is no verdict, and counts as a failure."""
    try:
        return read_gate(version_dir), ""
    except PackageError as e:
        return None, str(e)


def _describe(verdict: GateVerdict | None, problem: str) -> str:
    if problem:
        return "its gate.json is unreadable"
    if verdict is None:
        return "not checked"
    return "passed" if verdict.passed else f"failed ({', '.join(g.name for g in verdict.failed)})"


def select_version(name_dir: str | Path, *, allow_failed: bool = False) -> Selection:
    """The version of the model in ``name_dir`` to serve when none is named.

    CheckFailed when versions were judged and none passed (unless ``allow_failed``);
    PackageError when there is no version at all.
    """
    name_dir = Path(name_dir)
    name = name_dir.name
    versions = [n for n in version_numbers(name_dir) if (name_dir / str(n) / SPEC_FILE).is_file()]
    if not versions:
        raise PackageError(
            f"no versions with a {SPEC_FILE} in {name_dir}; create one with `dlstack export`"
        )
    judged = {n: _verdict(name_dir / str(n)) for n in versions}
    newest = versions[-1]
    if allow_failed:
        verdict, problem = judged[newest]
        return Selection(
            name_dir / str(newest),
            newest,
            verdict,
            f"{name} v{newest}: the newest version, served whatever its release gate says "
            f"(failed versions allowed; its gate: {_describe(verdict, problem)})",
        )
    if all(v is None and not problem for v, problem in judged.values()):
        return Selection(
            name_dir / str(newest),
            newest,
            None,
            f"{name} v{newest}: the newest version; no version of {name} has a release-gate "
            f"verdict (made before the gate existed, or not by `dlstack run`), so none is "
            f"held back",
        )
    passed = [n for n in versions if (v := judged[n][0]) is not None and v.passed]
    skipped = ", ".join(
        f"v{n} {_describe(*judged[n])}" for n in versions if not passed or n > passed[-1]
    )
    if not passed:
        raise CheckFailed(
            f"no version of {name} passed its release gate ({skipped}); fix what failed and "
            f"run `dlstack run` again, name a version to serve, or pass --allow-failed to "
            f"serve the newest anyway"
        )
    chosen = passed[-1]
    verdict = judged[chosen][0]
    required = [g.name for g in verdict.gates if g.required] if verdict is not None else []
    held = f"required: {', '.join(required)}" if required else "it required no gate"
    newer = f"; newer, not served: {skipped}" if skipped else ""
    return Selection(
        name_dir / str(chosen),
        chosen,
        verdict,
        f"{name} v{chosen}: the newest version that passed its release gate ({held}){newer}",
    )


def check_servable(version_dir: str | Path, *, allow_failed: bool = False) -> Selection:
    """A version named explicitly: served unless its release gate failed (CheckFailed
    then, unless ``allow_failed``). A damaged verdict counts as failed."""
    version_dir = Path(version_dir)
    if version_dir.name == SPEC_FILE:
        version_dir = version_dir.parent
    spec = read_spec(version_dir / SPEC_FILE)
    verdict, problem = _verdict(version_dir)
    failed = bool(problem) or (verdict is not None and not verdict.passed)
    label = f"{spec.name} v{spec.version}"
    if failed and not allow_failed:
        why = problem or f"its release gate failed: {verdict.summary() if verdict else ''}"
        raise CheckFailed(
            f"{label} is not served: {why}; serve a version that passed (name the model "
            f"folder to get the newest one), or pass --allow-failed to serve it anyway"
        )
    state = _describe(verdict, problem)
    note = " (failed versions allowed)" if failed else ""
    return Selection(
        version_dir,
        spec.version,
        verdict,
        f"{label}: named explicitly; its release gate: {state}{note}",
    )
