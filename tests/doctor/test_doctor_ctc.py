"""The doctor on a CTC line reader: too few frames per line, the blank plateau, and the
most-frequent-line baseline scored by CER (checked against torchmetrics)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from torchmetrics.text import CharErrorRate

from dlstack.doctor import examine
from dlstack.doctor._baselines import _most_frequent_line
from dlstack.doctor._ctc import blank_plateau, frames_finding, frames_needed

FAST = {"budget_s": 60, "lr": 3e-3, "task": "ctc"}


def _frames(n: int, frames: int = 12, seed: int = 3) -> tuple[Tensor, Tensor]:
    """(N, frames, 5) noisy one-hot frames spelling 3 symbols (1..4) each over 2 frames,
    blank (0) elsewhere; labels (N, 3)."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.zeros(n, frames, 5), torch.randint(1, 5, (n, 3), generator=g)
    for k in range(3):
        for t in (1 + 4 * k, 2 + 4 * k):
            x[torch.arange(n), t, y[:, k]] = 1.0
    x[:, :, 0] = (x[:, :, 1:].sum(-1) == 0).float()
    return x + 0.1 * torch.randn(x.shape, generator=g), y


class _Pooled(nn.Module):
    """Frames -> symbols, with the time axis pooled by ``stride`` (stride 6: 2 frames left
    for 3 symbols, a model that can never read its lines)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.pool = nn.AvgPool1d(stride, stride)
        self.net = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 5))

    def forward(self, x: Tensor) -> Tensor:  # (N, T, 5) -> (N, T // stride, 5)
        return self.net(self.pool(x.transpose(1, 2)).transpose(1, 2))


def _data() -> tuple[TensorDataset, TensorDataset]:
    x, y = _frames(400)
    return TensorDataset(x[:300], y[:300]), TensorDataset(x[300:], y[300:])


def test_a_model_with_too_few_frames_is_named_and_fixed_first():
    train, val = _data()
    report = examine(_Pooled(6), train, val, **FAST)
    (finding,) = [f for f in report.findings if f.code == "ctc-too-few-frames"]
    assert finding.severity == "error"  # every line: 3 symbols, 2 frames
    assert finding.evidence["too_long"] == finding.evidence["lines"] == 400
    worst = finding.evidence["examples"][0]  # a line with a repeat needs 4 or 5 frames
    assert worst["frames"] == 2 and worst["frames_needed"] == 5
    assert report.plan[0].title == "Fix the inputs and the loss"


def test_a_model_with_enough_frames_reads_its_lines():
    train, val = _data()
    report = examine(_Pooled(1), train, val, **FAST)
    assert "ctc-too-few-frames" not in {f.code for f in report.findings}
    assert report.overfit is not None and report.overfit["verdict"] == "fit", report.summary()
    assert report.bias_variance is not None and report.bias_variance.metric == "CER"
    assert report.bias_variance.errors["val"] < 0.2, report.summary()
    # the baseline is a line too, scored by CER, and the model beats it
    assert report.baselines is not None
    assert report.baselines["majority_name"] == "always reading the most frequent train line"
    assert "worse-than-baseline" not in report.codes


def test_repeated_characters_need_a_blank_between_them():
    lines = torch.tensor([[1, 1, 1, 0], [1, 2, 1, 2], [3, 0, 0, 0]])
    assert frames_needed(lines).tolist() == [5, 4, 1]
    as_pairs = (torch.tensor([[1, 1, 9], [3, 4, 4]]), torch.tensor([2, 3]))  # 9: padding
    assert frames_needed(as_pairs).tolist() == [3, 4]
    finding = frames_finding(frames_needed(lines), torch.tensor([4, 4, 4]), "", ["a", "b", "c"])
    assert finding is not None and finding.severity == "error"  # 1 of 3: above 5%
    assert finding.evidence["examples"] == [{"line": "a", "frames_needed": 5, "frames": 4}]
    assert frames_finding(frames_needed(lines), torch.tensor([5, 5, 5]), "") is None


def test_the_blank_plateau_is_told_from_a_stuck_model():
    falling = [30.0 - 0.5 * i for i in range(40)]
    flat = [30.0, 20.0] + [18.0] * 38
    stuck = [1.0] * 40
    assert blank_plateau(falling, stuck, empty=1.0)
    assert not blank_plateau(flat, stuck, empty=1.0)  # not learning: a real plateau
    assert not blank_plateau(falling, stuck, empty=0.2)  # reads garbage, not blanks
    assert not blank_plateau(falling, [1.0] * 30 + [0.6] * 10, empty=1.0)  # reads already


def test_the_line_baseline_is_the_cer_of_the_most_frequent_line():
    train = torch.tensor([[1, 2, 0], [1, 2, 0], [3, 0, 0], [1, 2, 0], [4, 4, 4]])
    val = torch.tensor([[1, 2, 3], [3, 0, 0], [2, 2, 0]])

    # what the baseline reads: the splits' targets
    ctx = SimpleNamespace(train=SimpleNamespace(y=train), val=SimpleNamespace(y=val))
    base = _most_frequent_line(ctx)  # type: ignore[arg-type]
    assert base["majority_line"] == [1, 2]

    def text(row: Tensor) -> str:
        return "".join("_abcd"[int(c)] for c in row if c != 0)

    reference = CharErrorRate()(["ab"] * len(val), [text(r) for r in val])
    assert abs(base["majority"] - float(reference)) < 1e-6  # float32
