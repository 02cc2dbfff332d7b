"""The best checkpoint is picked with the objective when [metric] asks for more than accuracy."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dlstack.config import Config, MetricConfig, Project
from dlstack.data import Snapshot
from dlstack.inputs import to_model_input
from dlstack.metrics import classification_metrics
from dlstack.objective import Objective
from dlstack.train import ObjectiveMonitor, uses_objective


def test_only_a_non_default_objective_replaces_the_task_monitor() -> None:
    assert not uses_objective(MetricConfig())
    assert uses_objective(MetricConfig(optimize="recall"))
    assert uses_objective(MetricConfig(constraints=("precision >= 0.9",)))
    assert uses_objective(MetricConfig(objective="0.5*recall + 0.5*precision"))


class _Module(torch.nn.Module):
    """Just what the callback touches of a LightningModule: forward, device, log."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.logged: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def log(self, name: str, value: float, **_: object) -> None:
        self.logged[name] = value


def test_monitor_logs_the_objective_of_the_val_predictions(
    trained_mlp: torch.nn.Module, digits8: Snapshot, digits8_norm
) -> None:
    val = digits8.split("val")
    x = torch.from_numpy(to_model_input(val.images, digits8_norm.mean, digits8_norm.std))
    objective = Objective.parse("recall[3]", ["precision >= 0.5"])
    monitor = ObjectiveMonitor(objective, x, torch.from_numpy(val.labels), digits8.classes)
    module = _Module(trained_mlp)
    module.train()
    monitor.on_validation_epoch_end(SimpleNamespace(sanity_checking=False), module)
    with torch.no_grad():
        probs = torch.softmax(trained_mlp(x), dim=1).numpy()
    expected = objective.score(
        classification_metrics(val.labels, probs.argmax(1), 10, probs).values(digits8.classes)
    )
    assert module.logged["val_objective"] == pytest.approx(expected.monitor_value)
    assert monitor.last == expected and module.training  # left in the mode it came in
    monitor.on_validation_epoch_end(SimpleNamespace(sanity_checking=True), module)  # skipped


@pytest.mark.slow
def test_fit_picks_the_checkpoint_with_the_objective(tmp_path: Path) -> None:
    from dlstack.train import fit

    config = Config.model_validate(
        {"train": {"max_epochs": 3}, "metric": {"optimize": "recall[8]"}}
    )
    result = fit(Project(tmp_path, config), Snapshot.from_builtin("digits8"), progress=False)
    assert result.extra["monitor"] == "val_objective"
    values = [row["val_objective"] for row in result.history]
    assert result.extra["best_score"] == pytest.approx(max(values))
    assert np.isfinite(values).all()
