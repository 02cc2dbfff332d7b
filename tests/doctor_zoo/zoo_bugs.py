"""The planted bugs: one bug from the doctor's catalog per case.

They cover the practice's five most common bugs (wrong shapes, wrong preprocessing,
softmax into a logits loss, train/eval mode, numerical instability), dtype casts,
learning rates too high and too low, shuffled labels, class imbalance, distribution
shift, a frozen layer, and the four ways a single batch fails to overfit.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from zoo_cases import BUDGET_S, Lambda, base, case, digits, ds, mlp

# -- 1. it does not run ------------------------------------------------------------------


@case("wrong-in-features", "wont-run")
def _wrong_in_features() -> dict[str, Any]:
    """A first Linear layer sized for 60 features, fed 64."""
    torch.manual_seed(0)
    return base(model=nn.Sequential(nn.Linear(60, 32), nn.ReLU(), nn.Linear(32, 10)))


@case("nhwc-images", "wont-run")
def _nhwc() -> dict[str, Any]:
    """Images delivered channels-last (N, H, W, C) to a Conv2d that wants (N, C, H, W)."""
    xt, yt, xv, yv = digits(flat=False)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10)
    )
    return {
        "model": model,
        "train": ds(xt.permute(0, 2, 3, 1), yt),
        "val": ds(xv.permute(0, 2, 3, 1), yv),
        "budget_s": BUDGET_S,
    }


@case("labels-one-based", "wont-run")
def _one_based() -> dict[str, Any]:
    """Labels 1..10 for a 10-output model (an off-by-one in the label mapping)."""
    xt, yt, xv, yv = digits()
    return base(train=ds(xt, yt + 1), val=ds(xv, yv + 1))


@case("regression-n1-vs-n", "shape-broadcast")
def _broadcast() -> dict[str, Any]:
    """The model returns (N, 1), targets are (N,): MSELoss broadcasts to (N, N)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(600, 5, generator=g)
    y = x[:, 0] * 2 + x[:, 1]
    return {
        "model": mlp(5, 32, 1),
        "train": ds(x[:400], y[:400]),
        "val": ds(x[400:], y[400:]),
        "loss_fn": nn.MSELoss(),
        "budget_s": BUDGET_S,
    }


@case("float64-inputs", "input-dtype")
def _float64() -> dict[str, Any]:
    """numpy float64 arrays turned into tensors without .float()."""
    xt, yt, xv, yv = digits()
    return base(train=ds(xt.double(), yt), val=ds(xv.double(), yv))


@case("uint8-images", "input-dtype", slow=True)
def _uint8() -> dict[str, Any]:
    """Raw uint8 pixels; the model casts them with .float() and never scales them."""
    xt, yt, xv, yv = digits(scale=False)
    torch.manual_seed(0)
    model = nn.Sequential(Lambda(lambda x: x.float()), mlp())
    return base(
        model=model,
        train=ds(xt.round().to(torch.uint8), yt),
        val=ds(xv.round().to(torch.uint8), yv),
    )


@case("nan-in-inputs", "nan-inf")
def _nan_inputs() -> dict[str, Any]:
    """Missing values (NaN) in a few training examples."""
    xt, yt, xv, yv = digits()
    xt = xt.clone()
    xt[::50, 3] = float("nan")
    return base(train=ds(xt, yt), val=ds(xv, yv))


@case("log-of-negative", "nan-inf")
def _log_negative() -> dict[str, Any]:
    """A log feature transform inside the model, on standardized (negative) inputs."""
    torch.manual_seed(0)
    return base(model=nn.Sequential(Lambda(torch.log), mlp()))


@case("unstable-softmax-loss", "nan-inf")
def _unstable_loss() -> dict[str, Any]:
    """A hand-written softmax cross-entropy (exp without subtracting the max) on large
    logits: exp overflows to inf, inf/inf is NaN."""

    def loss(out: Tensor, y: Tensor) -> Tensor:
        p = torch.exp(out) / torch.exp(out).sum(1, keepdim=True)
        return -torch.log(p[torch.arange(len(y)), y]).mean()

    torch.manual_seed(0)
    model = nn.Sequential(mlp(), Lambda(lambda z: 150 * z))
    return base(model=model, loss_fn=loss)


@case("ctc-output-too-short", "ctc-too-few-frames")
def _ctc_short() -> dict[str, Any]:
    """A CTC model that pools time 4x: 3 output frames for 3-label targets with repeats."""
    from zoo_cases import _sequences

    x, y = _sequences(300)
    y[:, 1] = y[:, 0]  # a repeated label needs a blank between: 4 frames at least
    torch.manual_seed(0)
    model = nn.Sequential(
        Lambda(lambda t: F.avg_pool1d(t.transpose(1, 2), 4).transpose(1, 2)), nn.Linear(5, 5)
    )
    return {
        "model": model,
        "train": ds(x[:200], y[:200]),
        "val": ds(x[200:], y[200:]),
        "task": "ctc",
        "budget_s": BUDGET_S,
    }


# -- 2. inputs and loss ------------------------------------------------------------------


@case("unnormalized-0-255", "input-scale", slow=True)
def _unnormalized() -> dict[str, Any]:
    """Float pixels left at 0..255."""
    xt, yt, xv, yv = digits(scale=False)
    return base(train=ds(xt, yt), val=ds(xv, yv))


@case("val-not-normalized", "input-scale")
def _val_raw() -> dict[str, Any]:
    """Train standardized, val left at 0..255: preprocessing applied to one split only."""
    xt, yt, _, _ = digits()
    _, _, xv, yv = digits(scale=False)
    return base(train=ds(xt, yt), val=ds(xv, yv))


@case("softmax-then-cross-entropy", "softmax-before-loss")
def _softmax_ce() -> dict[str, Any]:
    """A Softmax layer at the end of the model, and nn.CrossEntropyLoss (wants logits)."""
    return base(model=nn.Sequential(mlp(), nn.Softmax(dim=1)), loss_fn=nn.CrossEntropyLoss())


@case("softmax-then-nll", "softmax-before-loss", slow=True)
def _softmax_nll() -> dict[str, Any]:
    """Softmax probabilities into NLLLoss, which wants log-probabilities."""
    return base(model=nn.Sequential(mlp(), nn.Softmax(dim=1)), loss_fn=nn.NLLLoss())


@case("softmax-wrong-dim", "softmax-before-loss", slow=True)
def _softmax_dim0() -> dict[str, Any]:
    """A softmax over the batch dimension, inside a custom loss wrapper."""
    return base(
        model=nn.Sequential(mlp(), nn.Softmax(dim=0)),
        loss_fn=lambda out, y: F.cross_entropy(out, y),
    )


class FunctionalDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.dropout(F.relu(self.body(x)), 0.5))  # training=True by default


@case("functional-dropout", "train-eval-mode", slow=True)
def _functional_dropout() -> dict[str, Any]:
    """F.dropout without training=self.training: still dropping at evaluation."""
    torch.manual_seed(0)
    return base(model=FunctionalDropout())


@case("bn-without-running-stats", "train-eval-mode")
def _bn_batch_stats() -> dict[str, Any]:
    """BatchNorm1d(track_running_stats=False): evaluation depends on the batch."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 64),
        nn.BatchNorm1d(64, track_running_stats=False),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    return base(model=model)


@case("left-in-eval-mode", "train-eval-mode", slow=True)
def _eval_mode() -> dict[str, Any]:
    """A model with dropout handed over (and so trained) in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))
    return base(model=model.eval())


@case("frozen-layer", "no-grad-flow")
def _frozen() -> dict[str, Any]:
    """The first layer left with requires_grad=False."""
    model = mlp()
    model[0].requires_grad_(False)
    return base(model=model)


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features, self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU()), nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).detach())


@case("detached-features", "no-grad-flow")
def _detached() -> dict[str, Any]:
    """.detach() between the feature layers and the head."""
    torch.manual_seed(0)
    return base(model=Detached())


@case("dead-relu", "no-grad-flow")
def _dead_relu() -> dict[str, Any]:
    """Hidden biases initialized to -50: every ReLU unit is off for every input."""
    model = mlp()
    with torch.no_grad():
        model[0].bias.fill_(-50.0)
    return base(model=model)


@case("huge-last-layer", "bad-init-loss")
def _huge_init() -> dict[str, Any]:
    """The output layer's weights scaled up 30x: confident, wrong first predictions."""
    model = mlp()
    with torch.no_grad():
        model[2].weight.mul_(30)
    return base(model=model)


@case("imbalanced-classes", "class-imbalance")
def _imbalanced() -> dict[str, Any]:
    """Class 0 kept whole, the other classes cut to a tenth."""
    xt, yt, xv, yv = digits(1400, 300)
    keep = (yt == 0) | (torch.arange(len(yt)) % 10 == 0)
    return base(train=ds(xt[keep], yt[keep]), val=ds(xv, yv), lr=1e-3)


# -- 3-4. overfitting one batch, learning rate -------------------------------------------


@case("flipped-loss-sign", "overfit-error-up")
def _flipped() -> dict[str, Any]:
    """The loss is the negative cross-entropy: gradient ascent."""
    return base(loss_fn=lambda out, y: -F.cross_entropy(out, y))


@case("sgd-lr-explodes", "overfit-explodes")
def _explodes() -> dict[str, Any]:
    """Plain SGD at lr 50 on a deeper net: the weights blow up to inf."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    return base(model=model, optimizer="sgd", lr=50.0)


class RandomLabels(Dataset[tuple[Tensor, Tensor]]):
    """A dataset whose __getitem__ draws a new label on every read (a shuffling bug)."""

    def __init__(self, x: Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], torch.randint(0, 10, ())


@case("labels-redrawn-each-read", "overfit-oscillates", "label-noise")
def _redrawn() -> dict[str, Any]:
    """Labels drawn anew on every read of an example."""
    xt, _, xv, yv = digits()
    return base(train=RandomLabels(xt), val=ds(xv, yv))


@case("sigmoid-into-cross-entropy", "overfit-plateau")
def _sigmoid_ce() -> dict[str, Any]:
    """A sigmoid on the logits before cross-entropy: bounded logits, the loss plateaus."""
    return base(model=nn.Sequential(mlp(), nn.Sigmoid()))


@case("adam-lr-1", "lr-too-high")
def _lr_high() -> dict[str, Any]:
    """Adam at learning rate 1."""
    return base(lr=1.0)


@case("adam-lr-1e-7", "lr-too-low")
def _lr_low() -> dict[str, Any]:
    """Adam at learning rate 1e-7."""
    return base(lr=1e-7)


# -- 5-6. known result, bias-variance ----------------------------------------------------


def _shuffled(fraction: float) -> dict[str, Any]:
    xt, yt, xv, yv = digits(900, 300)
    g = torch.Generator().manual_seed(5)
    rows = torch.randperm(len(yt), generator=g)[: int(fraction * len(yt))]
    yt = yt.clone()
    yt[rows] = torch.randint(0, 10, (len(rows),), generator=g)
    return base(train=ds(xt, yt), val=ds(xv, yv), lr=1e-3)


@case("shuffled-labels-40pct", "label-noise")
def _noise40() -> dict[str, Any]:
    """40% of the train labels replaced by random ones."""
    return _shuffled(0.4)


@case("shuffled-labels-all", "label-noise", slow=True)
def _noise_all() -> dict[str, Any]:
    """Every train label replaced by a random one."""
    return _shuffled(1.0)


class Memorizer(nn.Module):
    """A lookup table keyed by a hash of the input: fits anything, generalizes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(4096, 10)

    def forward(self, x: Tensor) -> Tensor:
        key = (x.flatten(1) * 1000).round().long().abs().sum(1) % 4096
        return self.table(key)


@case("memorizer", "worse-than-baseline")
def _memorizer() -> dict[str, Any]:
    """A model that memorizes its inputs instead of learning from them."""
    torch.manual_seed(0)
    return base(model=Memorizer(), lr=1e-2)


@case("too-much-weight-decay", "underfitting")
def _weight_decay() -> dict[str, Any]:
    """Adam with weight_decay=1: fits one batch without it, under-fits with it."""
    return base(optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=1.0))


@case("tiny-train-set", "overfitting")
def _tiny() -> dict[str, Any]:
    """40 training examples for a 300k-parameter MLP."""
    xt, yt, xv, yv = digits(40, 400)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )
    return base(model=model, train=ds(xt, yt), val=ds(xv, yv), lr=1e-3)


@case("inverted-test-images", "distribution-shift")
def _shift() -> dict[str, Any]:
    """Test-val and test images inverted (another scanner): a shifted test distribution."""
    xt, yt, xv, yv, xe, ye = digits(700, 200, extra=400)
    xe = xe.max() + xe.min() - xe
    return base(
        train=ds(xt, yt),
        val=ds(xv, yv),
        test_val=ds(xe[:200], ye[:200]),
        test=ds(xe[200:], ye[200:]),
        lr=1e-3,
    )


@case("test-val-leaked-from-train", "val-overfitting")
def _leaked() -> dict[str, Any]:
    """A "test-val" set made of training examples, so it looks far better than test."""
    xt, yt, xv, yv, xe, ye = digits(200, 200, extra=200)
    return base(train=ds(xt, yt), val=ds(xv, yv), test_val=ds(xt, yt), test=ds(xe, ye), lr=1e-3)
