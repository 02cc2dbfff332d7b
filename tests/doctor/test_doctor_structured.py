"""Inputs and targets that are not one tensor: several inputs as a tuple or dict, CTC's
``(targets, lengths)``, dict targets. The doctor never crashes on them: each check runs,
or says why it did not."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from dlstack.doctor import examine

FAST = {"budget_s": 60, "lr": 3e-3}


def _blobs(n: int = 400) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 8, generator=g) * 3
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + torch.randn(n, 8, generator=g)
    return (x - x.mean(0)) / x.std(0), y


class _Pairs(Dataset[tuple[object, object]]):
    """Items ``(inputs, target)``; ``make`` builds the inputs (and target) of row i."""

    def __init__(self, n: int, make) -> None:  # type: ignore[no-untyped-def]
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[object, object]:
        return self.make(i)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.left, self.right, self.head = nn.Linear(4, 16), nn.Linear(4, 16), nn.Linear(32, 3)

    def forward(self, left: Tensor, right: Tensor) -> Tensor:  # called as model(*x)
        return self.head(torch.cat([self.left(left).relu(), self.right(right).relu()], 1))


class _DictInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.tag = nn.Embedding(5, 4)
        self.net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, batch: dict[str, Tensor]) -> Tensor:  # called as model(x)
        return self.net(torch.cat([batch["features"], self.tag(batch["tag"])], 1))


def _ran_every_step(report) -> None:  # type: ignore[no-untyped-def]
    assert "wont-run" not in report.codes, report.summary()
    assert report.overfit is not None and report.overfit["verdict"] == "fit", report.summary()
    assert report.bias_variance is not None and report.bias_variance.errors["val"] is not None


def test_tuple_inputs_are_passed_as_several_arguments():
    x, y = _blobs()
    train = _Pairs(300, lambda i: ((x[i, :4], x[i, 4:]), y[i]))
    val = _Pairs(100, lambda i: ((x[300 + i, :4], x[300 + i, 4:]), y[300 + i]))
    report = examine(_TwoInputs(), train, val, **FAST)
    _ran_every_step(report)
    assert report.evidence["call"] == "model(*x)"
    # the inputs are judged one by one, and the linear baseline sees both
    assert set(report.evidence["input_stats"]) == {"[0]", "[1]"}
    assert "linear" in report.baselines


def test_dict_inputs_through_a_loader():
    x, y = _blobs()

    def item(i: int) -> tuple[dict[str, Tensor], Tensor]:
        return {"features": x[i], "tag": torch.tensor(i % 5)}, y[i]

    train = DataLoader(_Pairs(300, item), batch_size=32, shuffle=True)
    val = _Pairs(100, lambda i: item(300 + i))
    report = examine(_DictInput(), train, val, **FAST)
    _ran_every_step(report)
    assert report.evidence["call"] == "model(x)"


class _KeywordInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(8, 3)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:  # called as model(**x)
        return self.net(torch.cat([a, b], 1))


def test_dict_inputs_as_keyword_arguments():
    x, y = _blobs()
    train = _Pairs(300, lambda i: ({"a": x[i, :4], "b": x[i, 4:]}, y[i]))
    val = _Pairs(100, lambda i: ({"a": x[300 + i, :4], "b": x[300 + i, 4:]}, y[300 + i]))
    report = examine(_KeywordInputs(), train, val, **FAST)
    _ran_every_step(report)
    assert report.evidence["call"] == "model(**x)"


def _sequences(n: int, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(N, 12, 5) one-hot frames of up to 3 symbols (1..4), each over 2 frames, blank (0)
    elsewhere; labels (N, 3), the symbols past a row's length set to 0."""
    g = torch.Generator().manual_seed(3)
    lengths = torch.full((n,), 3) if lengths is None else lengths
    x, y = torch.zeros(n, 12, 5), torch.randint(1, 5, (n, 3), generator=g)
    y[torch.arange(3)[None, :] >= lengths[:, None]] = 0
    for k in range(3):
        for t in (1 + 4 * k, 2 + 4 * k):
            x[torch.arange(n), t, y[:, k]] = 1.0
    x[:, :, 0] = (x[:, :, 1:].sum(-1) == 0).float()
    return x + 0.1 * torch.randn(x.shape, generator=g), y


def _ctc_loss(out: Tensor, target: tuple[Tensor, Tensor]) -> Tensor:
    labels, lengths = target  # CTC's convention: padded labels and their lengths
    log_probs = out.log_softmax(-1).transpose(0, 1)  # (T, N, C)
    frames = torch.full((out.shape[0],), out.shape[1], dtype=torch.long)
    return F.ctc_loss(log_probs, labels, frames, lengths)


def _ctc_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 5))


def test_ctc_targets_and_lengths_with_a_user_loss():
    lengths = torch.tensor([3 - (i % 2) for i in range(400)])  # some targets are shorter
    x, y = _sequences(400, lengths)

    def item(i: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return x[i], (y[i, : int(lengths[i])], lengths[i])

    train, val = _Pairs(300, item), _Pairs(100, lambda i: item(300 + i))
    report = examine(_ctc_model(), train, val, loss_fn=_ctc_loss, task="ctc", **FAST)
    _ran_every_step(report)
    # errors are counted on the given lengths: a model that learned the symbols is right
    assert report.bias_variance.errors["val"] < 0.2, report.summary()


def test_ctc_concatenated_targets_from_a_collate_fn():
    x, y = _sequences(400)

    def collate(items):  # type: ignore[no-untyped-def]
        # torch's other CTC layout: every target in one 1-D tensor, plus the lengths
        xs = torch.stack([i[0] for i in items])
        return xs, (torch.cat([i[1] for i in items]), torch.full((len(items),), 3))

    rows = [(x[i], y[i]) for i in range(400)]
    train = DataLoader(rows[:300], batch_size=32, collate_fn=collate)
    val = DataLoader(rows[300:], batch_size=50, collate_fn=collate)
    report = examine(_ctc_model(), train, val, task="ctc", **FAST)  # the default CTC loss
    _ran_every_step(report)


def test_tuple_targets_of_another_task_run_what_can_run():
    x, y = _sequences(400)
    lengths = torch.full((400,), 3)
    train = _Pairs(300, lambda i: (x[i], (y[i], lengths[i])))
    val = _Pairs(100, lambda i: (x[300 + i], (y[300 + i], lengths[300 + i])))
    report = examine(_ctc_model(), train, val, loss_fn=_ctc_loss, **FAST)  # no task="ctc"
    # errors cannot be counted on an unknown target structure: the loss-only checks run,
    # the others say why they did not
    assert "wont-run" not in report.codes and report.overfit["verdict"] == "fit"
    assert report.bias_variance is None
    skipped = {line.split(":")[0] for line in report.skipped}
    assert {"baselines", "short training and bias-variance", "label-noise check"} <= skipped
    assert all("tuple of 2 tensors" in line for line in report.skipped)
    assert report.verdict().startswith("healthy as far as checked: skipped baselines")


def test_dict_targets_with_a_user_loss():
    x, y = _blobs()
    scores = x[:, :1] * 2

    def loss(out: Tensor, target: dict[str, Tensor]) -> Tensor:  # two heads, two targets
        return F.cross_entropy(out[:, :3], target["label"]) + F.mse_loss(
            out[:, 3:], target["score"]
        )

    def item(i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return x[i], {"label": y[i], "score": scores[i]}

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    report = examine(
        model, _Pairs(300, item), _Pairs(100, lambda i: item(300 + i)), loss_fn=loss, **FAST
    )
    assert "wont-run" not in report.codes and report.overfit["verdict"] == "fit"
    assert report.skipped  # and what it could not judge is listed


def test_tuple_targets_without_a_loss_say_what_to_pass():
    x, y = _sequences(200)
    train = _Pairs(150, lambda i: (x[i], (y[i], torch.tensor(3))))
    val = _Pairs(50, lambda i: (x[150 + i], (y[150 + i], torch.tensor(3))))
    report = examine(_ctc_model(), train, val, **FAST)
    # the default cross-entropy cannot take them: a finding, not a crash
    assert report.codes == ["wont-run"]
    assert "pass loss_fn=" in report.findings[0].causes[0]
