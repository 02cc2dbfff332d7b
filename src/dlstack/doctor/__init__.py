"""The doctor: automated troubleshooting of deep nets, the practice's decision tree as code.

Give it any PyTorch model and its data; it runs the checks in the practice's order (make
it run, inputs and loss, overfit one batch, learning-rate range test, baselines, a short
training and the bias-variance decomposition) and answers in plain words with numbers.

>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from dlstack.doctor import examine
>>> x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
>>> report = examine(torch.nn.Linear(8, 2), TensorDataset(x.double(), y),
...                  TensorDataset(x.double(), y), budget_s=5)
>>> [f.code for f in report.findings if f.severity == "error"]
['wont-run']

The examination's result is saved as ``report.json``, a :class:`DoctorRecord` (torch-free,
read by `dlstack score`). Names resolve lazily: ``import dlstack.doctor`` does not import
torch until a name that needs it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack._lazy import lazy_attribute

if TYPE_CHECKING:
    from dlstack.config import DEFAULT_LR, DEFAULT_OPTIMIZER
    from dlstack.doctor._findings import CATALOG, Finding
    from dlstack.doctor._lr_range import LR_END, LR_START
    from dlstack.doctor._plan import PlanStep
    from dlstack.doctor._project import examine_file, examine_project, load_case_file
    from dlstack.doctor._record import DOCTOR_RECORD, DoctorRecord
    from dlstack.doctor._report import Report
    from dlstack.doctor._runner import DEFAULT_BUDGET_S, examine

_HOME = {
    "CATALOG": "_findings",
    "DOCTOR_RECORD": "_record",
    "DoctorRecord": "_record",
    "Finding": "_findings",
    "PlanStep": "_plan",
    "Report": "_report",
    "examine": "_runner",
    "DEFAULT_BUDGET_S": "_runner",
    "DEFAULT_LR": "dlstack.config",
    "DEFAULT_OPTIMIZER": "dlstack.config",
    "LR_START": "_lr_range",
    "LR_END": "_lr_range",
    "examine_project": "_project",
    "examine_file": "_project",
    "load_case_file": "_project",
}

__all__ = [
    "CATALOG",
    "DEFAULT_BUDGET_S",
    "DEFAULT_LR",
    "DEFAULT_OPTIMIZER",
    "DOCTOR_RECORD",
    "LR_END",
    "LR_START",
    "DoctorRecord",
    "Finding",
    "PlanStep",
    "Report",
    "examine",
    "examine_file",
    "examine_project",
    "load_case_file",
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOME, name)


def __dir__() -> list[str]:
    return sorted(__all__)
