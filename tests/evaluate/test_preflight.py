"""[metric] and [tests] are checked against the data before anything trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlstack import lifecycle
from dlstack.config import init_project, load_project
from dlstack.errors import ConfigError
from dlstack.evaluate import check_before_training


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('[metric]\npositive = "x"\n', r"metric\.positive = 'x' is not one of the data's classes"),
        ('[metric]\noptimize = "recall[42]"\n', r"metric\.optimize names 'recall\[42\]'"),
        (
            '[metric]\nconstraints = ["accuracy >= 0.5", "precision[9] >= 0.9", "f2 >= 1"]\n',
            r"metric\.constraints\[2\] names 'f2'",
        ),
        ("[tests]\nmin_metrics = {auc = 0.9}\n", r"tests\.min_metrics names 'auc'.*known: "),
        (
            '[[tests.slices]]\nby = "writer"\nmin_metrics = {accuracy = 0.5}\n',
            r"tests\.slices\[0\]\.by = 'writer' is not in the examples' metadata",
        ),
    ],
)
def test_a_config_that_cannot_work_stops_before_training(
    tmp_path: Path, extra: str, says: str
) -> None:
    init_project(tmp_path, "builtin:digits8", max_epochs=1)
    toml = tmp_path / "dlstack.toml"
    text = toml.read_text()
    if "optimize" in extra:  # the template spells out optimize = "accuracy": replace it
        text = text.replace('optimize = "accuracy"', extra.removeprefix("[metric]\n").strip())
    elif extra.startswith("[metric]"):  # the template has a [metric] table: extend it
        text = text.replace("[metric]\n", extra)
    else:
        text += "\n" + extra
    toml.write_text(text)
    project = load_project(tmp_path)
    with pytest.raises(ConfigError, match=says):
        lifecycle.run(project, progress=False, doctor_budget_s=None)
    assert not project.runs_dir.exists() or not any(project.runs_dir.iterdir())


def test_what_the_data_and_the_package_measure_is_accepted(tmp_path: Path) -> None:
    init_project(tmp_path, "builtin:digits8")
    toml = tmp_path / "dlstack.toml"
    toml.write_text(
        toml.read_text().replace(
            "[metric]\n",
            '[metric]\npositive = "9"\nconstraints = ["recall[9] >= 0.5", '
            '"latency_p95_ms <= 50", "calibration_error <= 0.5"]\n',
        )
        + '\n[tests]\nmin_metrics = {map = 0.5, "f1[3]" = 0.5}\nmax_metrics = {size_mb = 5}\n'
    )
    classes = tuple(str(d) for d in range(10))
    check_before_training(load_project(tmp_path), classes, metadata_keys=["source"])
