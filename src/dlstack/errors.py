"""The exceptions dlstack raises.

    DlstackError            root; every user-facing failure is one of these
    ├── ConfigError         dlstack.toml is missing, unparsable or invalid
    ├── DataError           a source, image, label, version or snapshot is wrong
    ├── ModelError          an architecture cannot be built or a checkpoint read
    ├── PackageError        a model package is missing, corrupt or of an unknown schema
    └── CheckFailed         a check ran and did not pass (export equivalence, tests)

    DlstackWarning          something was skipped or repaired and the user should know

Messages name the thing, the value received, what is allowed, and the fix. The CLI
prints ``error: <message>`` and exits with ``exit_code``: 2 for a user mistake, 1 for a
check that failed (DESIGN.md, "Commands").
"""

from __future__ import annotations

__all__ = [
    "CheckFailed",
    "ConfigError",
    "DataError",
    "DlstackError",
    "DlstackWarning",
    "ModelError",
    "PackageError",
]


class DlstackError(Exception):
    """Root of dlstack's exceptions: a problem the user can fix, explained in one message."""

    exit_code = 2


class ConfigError(DlstackError):
    """dlstack.toml (or a value passed in its place) is invalid."""


class DataError(DlstackError):
    """Input data is unusable: unreadable file, bad image, unknown label, empty dataset."""


class ModelError(DlstackError):
    """A model cannot be built, loaded or resumed."""


class PackageError(DlstackError):
    """A model package cannot be read or was made by a schema this dlstack does not know."""


class CheckFailed(DlstackError):
    """A check ran and failed (for example ONNX outputs differ from torch)."""

    exit_code = 1


class DlstackWarning(UserWarning):
    """Work went on past a problem (a damaged file skipped, a snapshot rebuilt); the CLI
    prints it as ``warning: <message>``."""
