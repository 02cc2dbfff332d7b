"""More zoo cases (all slow): other model families and data for the healthy side, and second
variants of planted bugs. They were written after the doctor's thresholds were set, to
look for false alarms on setups the first zoo does not have (LSTM, embeddings, soft and
multi-label targets, time-first CTC, ResNet, noisy synthetic data).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from zoo_cases import BUDGET_S, Lambda, _sequences, case, digits, ds


def _seed(*layers: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*layers)


def _run(
    model: nn.Module, xt: Tensor, yt: Tensor, xv: Tensor, yv: Tensor, **kw: Any
) -> dict[str, Any]:
    return {"model": model, "train": ds(xt, yt), "val": ds(xv, yv), "budget_s": BUDGET_S, **kw}


def _sklearn(kind: str, seed: int = 0, n: int = 1200, **kw: Any) -> tuple[Tensor, ...]:
    from sklearn.datasets import make_classification, make_moons

    if kind == "moons":
        x, y = make_moons(n_samples=n, random_state=seed, **kw)
    else:
        x, y = make_classification(n_samples=n, n_features=20, random_state=seed, **kw)
    x = (x - x.mean(0)) / x.std(0)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    cut = int(0.75 * n)
    return xt[:cut], yt[:cut], xt[cut:], yt[cut:]


def _mlp(d_in: int, d_out: int, hidden: int = 64) -> nn.Sequential:
    return _seed(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


# -- healthy -----------------------------------------------------------------------------


@case("healthy-noisy-make-classification", slow=True)
def _h_makeclass() -> dict[str, Any]:
    """Overlapping classes with 5% flipped labels: errors that are no bug."""
    return _run(_mlp(20, 2), *_sklearn("cls", 1, class_sep=0.6, flip_y=0.05))


@case("healthy-moons-mlp", slow=True)
def _h_moons() -> dict[str, Any]:
    """A nonlinear 2-D problem, where the linear baseline is clearly worse."""
    model = _seed(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    return _run(model, *_sklearn("moons", noise=0.2))


class _LSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.fc = nn.LSTM(4, 32, batch_first=True), nn.Linear(32, 3)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@case("healthy-lstm-sequences", slow=True)
def _h_lstm() -> dict[str, Any]:
    """An LSTM classifying (N, T, F) sequences."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (800,), generator=g)
    x = torch.randn(800, 15, 4, generator=g) * 0.5
    x[torch.arange(800), :, 0] += (y.float() - 1)[:, None]
    torch.manual_seed(0)
    return _run(_LSTM(), x[:600], y[:600], x[600:], y[600:])


class _Bag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.fc = nn.Embedding(100, 16), nn.Linear(16, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.emb(x).mean(1))


@case("healthy-embedding-token-ids", slow=True)
def _h_text() -> dict[str, Any]:
    """int64 token ids into an embedding bag: no input scale to judge."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (1000,), generator=g)
    x = torch.randint(0, 100, (1000, 12), generator=g)
    x[:, :3] = torch.where(
        y[:, None] == 1,
        torch.randint(0, 10, (1000, 3), generator=g),
        torch.randint(10, 20, (1000, 3), generator=g),
    )
    torch.manual_seed(0)
    return _run(_Bag(), x[:800], y[:800], x[800:], y[800:])


@case("healthy-soft-labels", slow=True)
def _h_soft() -> dict[str, Any]:
    """One-hot float targets into cross-entropy (class probabilities)."""
    xt, yt, xv, yv = digits()
    return _run(_mlp(64, 10), xt, F.one_hot(yt, 10).float(), xv, F.one_hot(yv, 10).float())


@case("healthy-multi-label-bce", slow=True)
def _h_multilabel() -> dict[str, Any]:
    """Three binary labels per example with BCEWithLogitsLoss."""
    xt, yt, xv, yv = digits()

    def labels(y: Tensor) -> Tensor:
        return torch.stack([y % 2, (y > 4).long(), (y % 3 == 0).long()], 1).float()

    return _run(_mlp(64, 3), xt, labels(yt), xv, labels(yv), loss_fn=nn.BCEWithLogitsLoss())


class _TimeFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 5))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).transpose(0, 1).log_softmax(-1)  # (T, N, C) log-probabilities


@case("healthy-ctc-time-first", slow=True)
def _h_ctc_tf() -> dict[str, Any]:
    """CTC with (T, N, C) log-probabilities, torch's own layout."""
    x, y = _sequences(500)
    torch.manual_seed(0)
    return _run(_TimeFirst(), x[:400], y[:400], x[400:], y[400:], task="ctc", lr=3e-3)


@case("healthy-resnet-bn", slow=True)
def _h_resnet() -> dict[str, Any]:
    """dlstack's small ResNet (batch norm everywhere) on 8x8 digit images."""
    from dlstack.models import build_model

    xt, yt, xv, yv = digits(flat=False)
    torch.manual_seed(0)
    model, _ = build_model("resnet", (1, 8, 8), 10)
    return _run(model, xt, yt, xv, yv, lr=1e-3)


@case("healthy-sequential-loaders-sgd", slow=True)
def _h_sgd() -> dict[str, Any]:
    """Unshuffled DataLoaders and SGD with momentum at a sensible learning rate."""
    xt, yt, xv, yv = digits()
    return {
        "model": _mlp(64, 10),
        "train": DataLoader(ds(xt, yt), batch_size=64),
        "val": DataLoader(ds(xv, yv), batch_size=64),
        "optimizer": "sgd",
        "lr": 0.05,
        "budget_s": BUDGET_S,
    }


# -- planted -----------------------------------------------------------------------------


@case("linear-model-on-moons", "underfitting", slow=True)
def _linear_moons() -> dict[str, Any]:
    """A linear classifier for two interleaved half-moons: too small a model."""
    return _run(_seed(nn.Linear(2, 2)), *_sklearn("moons", noise=0.1))


@case("two-unit-bottleneck", "underfitting", slow=True)
def _bottleneck() -> dict[str, Any]:
    """A 2-unit hidden layer for 10 classes."""
    return _run(_seed(nn.Linear(64, 2), nn.ReLU(), nn.Linear(2, 10)), *digits())


@case("labels-permuted", "label-noise", slow=True)
def _permuted() -> dict[str, Any]:
    """Train labels permuted (misaligned with their inputs), val labels intact."""
    xt, yt, xv, yv = digits()
    return _run(
        _mlp(64, 10),
        xt,
        yt[torch.randperm(len(yt), generator=torch.Generator().manual_seed(1))],
        xv,
        yv,
    )


@case("binary-90-10", "class-imbalance", slow=True)
def _binary_imbalance() -> dict[str, Any]:
    """A binary problem with 90% of one class."""
    return _run(_mlp(20, 2, 32), *_sklearn("cls", 3, weights=[0.9, 0.1]))


@case("noisy-test-images", "distribution-shift", slow=True)
def _noisy_test() -> dict[str, Any]:
    """Test-val and test images with strong sensor noise."""
    xt, yt, xv, yv, xe, ye = digits(600, 200, extra=400)
    xe = xe + 1.5 * torch.randn(xe.shape, generator=torch.Generator().manual_seed(0))
    return _run(
        _mlp(64, 10), xt, yt, xv, yv, test_val=ds(xe[:200], ye[:200]), test=ds(xe[200:], ye[200:])
    )


@case("class-targets-n-by-1", "shape-broadcast", slow=True)
def _targets_n1() -> dict[str, Any]:
    """Class-index targets shaped (N, 1) instead of (N,)."""
    xt, yt, xv, yv = digits()
    return _run(_mlp(64, 10), xt, yt[:, None], xv, yv[:, None])


@case("custom-squared-error-broadcast", "shape-broadcast", slow=True)
def _custom_broadcast() -> dict[str, Any]:
    """A hand-written squared error on (N, 1) outputs and (N,) targets."""
    xt, yt, xv, yv = _sklearn("cls", 6)
    return _run(
        _seed(nn.Linear(20, 1)),
        xt,
        yt.float(),
        xv,
        yv.float(),
        loss_fn=lambda o, t: ((o - t) ** 2).mean(),
    )


@case("int32-class-targets", "input-dtype", slow=True)
def _int32() -> dict[str, Any]:
    """Class indices stored as int32."""
    xt, yt, xv, yv = digits()
    return _run(_mlp(64, 10), xt, yt.int(), xv, yv.int())


@case("divide-by-zero-std", "nan-inf", slow=True)
def _zero_std() -> dict[str, Any]:
    """Standardization inside the model divides constant pixels by a zero std."""
    xt, yt, xv, yv = digits(scale=False)
    model = nn.Sequential(Lambda(lambda t: (t - t.mean(0)) / t.std(0)), _mlp(64, 10))
    return _run(model, xt, yt, xv, yv)


class _HardcodedBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.view(64, -1))  # only works for batches of 64


@case("hard-coded-batch-size", "wont-run", slow=True)
def _hardcoded() -> dict[str, Any]:
    """A reshape with the batch size written in: runs on 64 examples, fails on 32."""
    torch.manual_seed(0)
    return _run(_HardcodedBatch(), *digits())


@case("frozen-output-layer", "no-grad-flow", slow=True)
def _frozen_head() -> dict[str, Any]:
    """The output layer left frozen."""
    model = _mlp(64, 10)
    model[2].requires_grad_(False)
    return _run(model, *digits())


@case("sgd-lr-1-deep", "lr-too-high", slow=True)
def _sgd_high() -> dict[str, Any]:
    """Plain SGD at learning rate 1 on a three-layer MLP."""
    model = _seed(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    return _run(model, *digits(), optimizer="sgd", lr=1.0)


@case("adam-lr-1e-5", "lr-too-low", slow=True)
def _adam_low() -> dict[str, Any]:
    """Adam at 1e-5."""
    return _run(_mlp(64, 10), *digits(), lr=1e-5)


@case("batchnorm-stats-frozen", "train-eval-mode", slow=True)
def _bn_frozen() -> dict[str, Any]:
    """BatchNorm with momentum 0: running statistics stay at their initial 0/1."""
    xt, yt, xv, yv = digits()
    model = _seed(nn.Linear(64, 64), nn.BatchNorm1d(64, momentum=0.0), nn.ReLU(), nn.Linear(64, 10))
    return _run(model, xt * 3 + 5, yt, xv * 3 + 5, yv)


@case("features-on-different-scales", "input-scale", slow=True)
def _feature_scales() -> dict[str, Any]:
    """One feature in thousands, the others standardized."""
    xt, yt, xv, yv = _sklearn("cls", 8)
    xt, xv = xt.clone(), xv.clone()
    xt[:, 0] *= 1000
    xv[:, 0] *= 1000
    return _run(_mlp(20, 2, 32), xt, yt, xv, yv)
