"""The release gate's verdict on a package: ``gate.json`` beside ``model.json``.

`dlstack run` judges every package it exports (evaluation tests, doctor, objective
constraints, baselines; ``[gate]`` says which are required) and writes the verdict here.
It lives beside ``model.json``, not in it: ``model.json`` is sealed at export
(``decides_sha256``) and the verdict comes later, from checks of the sealed package. A
package without ``gate.json`` was made before the gate existed, or not by `dlstack run`:
"not checked". The verdict names the package and the ONNX file it judged, so a
``gate.json`` copied beside another package is refused rather than trusted.

>>> import tempfile
>>> read_gate(tempfile.mkdtemp()) is None  # no verdict: not checked
True
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from dlstack.errors import PackageError
from dlstack.package._spec import SPEC_FILE, read_spec
from dlstack.records import Record, RecordError, read_record, write_record

__all__ = ["GATE_FILE", "GateCheck", "GateVerdict", "read_gate", "write_gate"]

GATE_FILE = "gate.json"


class GateCheck(BaseModel):
    """One gate: whether the project requires it, whether it ran and held, and why."""

    name: str  # tests, doctor, constraints, baselines
    required: bool
    passed: bool  # False when it did not run
    ran: bool = True
    detail: str = ""

    @property
    def status(self) -> str:
        return "PASS" if self.passed else ("FAIL" if self.ran else "not run")


class GateVerdict(Record):
    """``gate.json``: the package's verdict; ``passed`` when every required gate held."""

    KIND = "gate"

    name: str
    version: int
    onnx_sha256: str  # the ONNX file judged (model.json's onnx.sha256)
    passed: bool
    gates: list[GateCheck] = Field(default_factory=list)
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def failed(self) -> list[GateCheck]:
        """The required gates that did not hold (did not pass, or did not run)."""
        return [g for g in self.gates if g.required and not g.passed]

    def summary(self) -> str:
        """One line: ``passed (tests, baselines)`` or ``FAILED: tests, baselines``.

        >>> v = GateVerdict(name="d", version=1, onnx_sha256="x", passed=False,
        ...     gates=[GateCheck(name="tests", required=True, passed=False)])
        >>> v.summary()
        'FAILED: tests'
        """
        if not self.passed:
            return "FAILED: " + ", ".join(g.name for g in self.failed)
        required = [g.name for g in self.gates if g.required]
        return f"passed ({', '.join(required)})" if required else "passed (no gate required)"


def write_gate(version_dir: str | Path, verdict: GateVerdict) -> Path:
    """``version_dir/gate.json``, atomically (the package's other files are untouched)."""
    return write_record(Path(version_dir) / GATE_FILE, verdict)


def read_gate(path: str | Path) -> GateVerdict | None:
    """The release-gate verdict of the package at ``path`` (its version dir or its
    model.json); None when it has none (made before the gate, or not by `dlstack run`).

    A ``gate.json`` that is damaged, of a newer schema, or about another ONNX file than
    the package's (or about another name or version) is a PackageError: no verdict can be
    read from it, and none is assumed.
    """
    version_dir = Path(path)
    if version_dir.name == SPEC_FILE:
        version_dir = version_dir.parent
    gate_file = version_dir / GATE_FILE
    if not gate_file.is_file():
        return None
    try:
        verdict = read_record(gate_file, GateVerdict)
    except RecordError as e:
        raise PackageError(
            f"{e}; run `dlstack run` again to judge the package afresh, or delete "
            f"{gate_file} to treat it as not checked"
        ) from None
    spec = read_spec(version_dir / SPEC_FILE)
    if (verdict.name, verdict.version) != (spec.name, spec.version):
        raise PackageError(
            f"{gate_file} judged {verdict.name} v{verdict.version}, not this package "
            f"({spec.name} v{spec.version}); a verdict is not copied between packages: "
            f"delete it and judge this one with `dlstack run`"
        )
    if verdict.onnx_sha256 != spec.onnx.sha256:
        raise PackageError(
            f"{gate_file} judged another model (ONNX sha256 {verdict.onnx_sha256[:12]}...), "
            f"not this package's {spec.onnx.file} ({spec.onnx.sha256[:12]}...); a verdict "
            f"is not copied between packages: delete it and judge this one with `dlstack run`"
        )
    return verdict
