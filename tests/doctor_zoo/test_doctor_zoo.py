"""The bug zoo: every planted bug is found, every healthy case is healthy.

The fast subset (the default run) still covers every code of the catalog; the rest of the
zoo (more healthy cases, second variants of bugs) is marked slow. Run it all, with the
detection and false-alarm rates, with ``.venv/bin/python bench/doctor_zoo.py``.
"""

from __future__ import annotations

import pytest
import torch
from zoo_cases import Case, all_cases

from dlstack.doctor import CATALOG, examine

CASES = all_cases()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine their
    # spin-waits slow every step many times over. Restored after the module.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _param(c: Case):
    return pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else [])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: Case):
    args = case.build()
    report = examine(args.pop("model"), args.pop("train"), args.pop("val"), **args)
    found = set(report.codes)  # errors and warnings only: info notes do not count
    if case.healthy:
        assert report.healthy, f"false alarm on {case.name}:\n{report.summary()}"
    else:
        missing = set(case.expect) - found
        assert not missing, f"{case.name}: {sorted(missing)} not found\n{report.summary()}"


def test_zoo_is_big_enough():
    planted = [c for c in CASES if not c.healthy]
    assert len(planted) >= 20 and len(CASES) - len(planted) >= 5
    assert len({c.name for c in CASES}) == len(CASES)  # unique ids


# Codes no zoo case plants yet, and where they are tested instead.
COVERED_ELSEWHERE = {
    "ctc-blank-plateau": "tests/doctor/test_doctor_ctc.py (the plateau rule on loss curves)",
}


def test_fast_subset_covers_every_code():
    covered = {code for c in CASES if not c.slow for code in c.expect} | set(COVERED_ELSEWHERE)
    assert covered == set(CATALOG), sorted(set(CATALOG) - covered)
    assert any(c.healthy and not c.slow for c in CASES)
