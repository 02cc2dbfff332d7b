"""examine(): the public contract (names, report, model untouched, validation)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlstack.doctor import CATALOG, Finding, Report, examine
from dlstack.errors import ConfigError, DataError

FAST = {"budget_s": 30, "lr": 3e-3}


def test_healthy_model_is_healthy_and_report_is_complete(blobs, small_mlp):
    report = examine(small_mlp, *blobs, **FAST)
    # a clean model on separable data: nothing to warn about
    assert report.healthy, report.summary()
    assert all(isinstance(f, Finding) and f.code in CATALOG for f in report.findings)
    # every step ran: the overfit curve, the lr sweep and the bias-variance table exist
    assert report.overfit is not None and report.overfit["verdict"] == "fit"
    assert report.lr_range is not None and report.lr_range["suggested"] is not None
    assert report.bias_variance is not None
    assert report.bias_variance.errors["train"] is not None
    assert report.plan and report.plan[0].title == "Nothing blocks training"


def test_model_is_not_changed(blobs, small_mlp):
    before = copy.deepcopy(small_mlp.state_dict())
    small_mlp.eval()
    examine(small_mlp, *blobs, **FAST)
    # examine works on copies: same weights, same mode, no leftover hooks
    assert all(torch.equal(before[k], v) for k, v in small_mlp.state_dict().items())
    assert not small_mlp.training
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in small_mlp.modules())


def test_global_rng_is_left_alone(blobs, small_mlp):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    examine(small_mlp, *blobs, **FAST)
    # the doctor forks the RNG: the caller's random stream continues as if untouched
    assert torch.equal(torch.rand(3), expected)


def test_deterministic_for_a_seed(blobs, small_mlp):
    a = examine(small_mlp, *blobs, **FAST)
    b = examine(small_mlp, *blobs, **FAST)
    # same seed, same data: same verdicts and the same curves
    assert [f.code for f in a.findings] == [f.code for f in b.findings]
    assert a.overfit["losses"] == b.overfit["losses"]


def test_dataloaders_are_accepted(blobs, small_mlp):
    train, val = blobs
    report = examine(
        small_mlp,
        DataLoader(train, batch_size=16, shuffle=True),
        DataLoader(val, batch_size=50),
        **FAST,
    )
    assert report.healthy, report.summary()
    assert report.settings["batch_size"] == 16  # the loader's batch size is used


def test_blocking_finding_stops_the_walk(blobs):
    model = nn.Sequential(nn.Linear(7, 3))  # wrong input size
    report = examine(model, *blobs, **FAST)
    codes = [f.code for f in report.findings]
    assert codes == ["wont-run"]
    ev = report.findings[0].evidence
    # the layer that raised and what reached it are named
    assert ev["layer"] == "0" and ev["type"] == "Linear"
    assert ev["layer_input"][0][0] == [64, 8]
    assert report.bias_variance is None and report.overfit is None
    assert report.skipped


def test_json_and_html(tmp_path, blobs, small_mlp):
    report = examine(small_mlp, *blobs, **FAST)
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert data["healthy"] is True and (tmp_path / "r.json").is_file()
    assert {"findings", "plan", "overfit", "lr_range", "bias_variance"} <= set(data)
    html = report.to_html(tmp_path / "r.html").read_text()
    # findings first, then the three evidence plots
    assert html.index("Findings") < html.index("Evidence")
    assert html.count("data:image/png;base64") == 3


def test_html_orders_findings_most_severe_first(tmp_path):
    from dlstack.doctor._findings import make

    report = Report([make("class-imbalance", "imbalanced"), make("wont-run", "broken")])
    html = report.to_html(tmp_path / "r.html").read_text()
    assert html.index("broken") < html.index("imbalanced")
    assert [f.code for f in report.ranked()] == ["wont-run", "class-imbalance"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"budget_s": 0}, "budget_s must be a positive"),
        ({"human_error": 1.5}, "human_error must be an error rate"),
        ({"task": "segmentation"}, "task must be one of"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"lr": -1.0}, "lr must be a positive number"),
    ],
)
def test_bad_arguments_are_config_errors(blobs, small_mlp, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        examine(small_mlp, *blobs, **kwargs)


def test_not_a_model(blobs):
    with pytest.raises(ConfigError, match=r"torch\.nn\.Module"):
        examine(lambda x: x, *blobs)  # type: ignore[arg-type]


def test_bad_data_is_a_data_error(small_mlp):
    with pytest.raises(DataError, match="empty"):
        examine(
            small_mlp,
            TensorDataset(torch.zeros(0, 8), torch.zeros(0)),
            TensorDataset(torch.zeros(4, 8), torch.zeros(4)),
        )
    with pytest.raises(DataError, match="Dataset or DataLoader"):
        examine(small_mlp, 42, None)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"\(input, target\) pair"):
        examine(small_mlp, [1, 2, 3], [1, 2])


def test_optimizer_instance_is_reused(blobs, small_mlp):
    opt = torch.optim.SGD(small_mlp.parameters(), lr=0.05, momentum=0.9)
    report = examine(small_mlp, *blobs, optimizer=opt, budget_s=30)
    assert report.settings["optimizer"] == "SGD" and report.settings["lr"] == 0.05
    assert report.settings["lr_given"] is True


class _RedrawnLabels(torch.utils.data.Dataset):
    """Each read of an example draws a new label: the practice's corrupted labels."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], torch.randint(0, 3, ())


def test_labels_that_change_between_reads_through_a_loader(blobs, small_mlp):
    train, val = blobs
    loader = DataLoader(_RedrawnLabels(train.tensors[0]), batch_size=32)  # not shuffled
    report = examine(small_mlp, loader, val, **FAST)
    # a sequential loader can be reread: the labels move, so the batch cannot be fit
    assert {"label-noise", "overfit-oscillates"} <= set(report.codes), report.summary()


def test_big_examples_are_subsampled_to_fit_memory(monkeypatch, small_mlp):
    from dlstack.doctor import _data

    monkeypatch.setattr(_data, "MAX_BYTES", 8 * 4 * 50)  # room for 50 examples of 8 floats
    x, y = torch.randn(300, 8), torch.randint(0, 3, (300,))
    split = _data.read_split("train", TensorDataset(x, y), cap=20_000, seed=0)
    assert len(split) == 50 and split.indices is not None
    # the rows are a seeded random subset, and can be read again from the dataset
    assert torch.equal(split.x, x[split.indices])
