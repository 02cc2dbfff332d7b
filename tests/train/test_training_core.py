"""The one training core: the optimizer registry and the plain loop the doctor and scope run."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from dlstack.config import DEFAULT_LR, OPTIMIZERS, SGD_MOMENTUM
from dlstack.errors import ConfigError
from dlstack.train import (
    EpochEnd,
    TensorRows,
    get_task,
    make_optimizer,
    resolve_optimizer,
    train_loop,
)
from dlstack.train._optim import _REGISTRY


def _data(n: int = 64) -> TensorRows:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return TensorRows(x, (x[:, 0] > 0).long())


def test_registry_is_what_config_accepts() -> None:
    # config validates [train] optimizer without torch, so the names live there too.
    assert tuple(_REGISTRY) == OPTIMIZERS


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_registered_optimizer_builds_with_the_defaults(name: str) -> None:
    opt = make_optimizer(name, torch.nn.Linear(2, 1).parameters())
    assert opt.defaults["lr"] == DEFAULT_LR
    if name == "sgd":
        assert opt.defaults["momentum"] == SGD_MOMENTUM


def test_unknown_optimizer_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="'adam', 'adamw', 'sgd'"):
        make_optimizer("lion", torch.nn.Linear(2, 1).parameters())


def test_resolve_optimizer_takes_a_spec_and_overrides_its_lr() -> None:
    spec = resolve_optimizer("sgd", weight_decay=0.1)
    again = resolve_optimizer(spec, 0.5)
    opt = again.make(torch.nn.Linear(2, 1).parameters())
    assert again.name == spec.name and opt.defaults["lr"] == 0.5
    assert opt.defaults["weight_decay"] == 0.1 and spec.weight_decay == 0.1


def _train(seed: int, **kw) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = train_loop(model, _data(), F.cross_entropy, opt, batch_size=16, seed=seed, **kw)
    return model, out


def test_loop_is_deterministic_per_seed_and_stops_at_max_steps() -> None:
    a, out = _train(0, max_steps=9)
    b, _ = _train(0, max_steps=9)
    c, _ = _train(1, max_steps=9)
    assert (out.steps, out.epochs, out.stopped_by) == (9, 3, "max steps")  # 4 batches/epoch
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def test_loop_asks_the_caller_after_each_epoch() -> None:
    seen: list[EpochEnd] = []

    def on_epoch(end: EpochEnd) -> str | None:
        seen.append(end)
        return "enough" if end.epoch == 2 else None

    _, out = _train(0, max_steps=100, on_epoch=on_epoch)
    assert [e.steps for e in seen] == [4, 8] and out.stopped_by == "enough"
    assert all(math.isfinite(e.train_loss) for e in seen)


def test_loop_stops_on_a_non_finite_loss() -> None:
    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets) / 0.0

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    before = model.weight.detach().clone()
    out = train_loop(
        model,
        _data(),
        loss,
        torch.optim.SGD(model.parameters(), lr=0.1),
        batch_size=16,
        seed=0,
        max_steps=10,
    )
    assert (out.steps, out.stopped_by) == (0, "non-finite loss")
    assert torch.equal(model.weight, before)  # no step was taken with an inf loss


def test_scope_trains_with_the_tasks_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    # `dlstack scope` honours Task: its loss, targets and error come from the task.
    from dlstack.data import Snapshot
    from dlstack.evaluate import _feasibility

    task = get_task("classification")
    calls = {"loss": 0}
    real = type(task).loss

    def counting(self, outputs, targets):
        calls["loss"] += 1
        return real(self, outputs, targets)

    monkeypatch.setattr(type(task), "loss", counting)
    snap = Snapshot.from_builtin("digits8")
    points, _, _ = _feasibility.measure_learning_curve(
        snap, fractions=(0.5, 1.0), epochs=1, architecture="mlp", min_steps=2
    )
    assert calls["loss"] > 0 and len(points) == 2
    assert all(0 <= p.error <= 1 for p in points)
