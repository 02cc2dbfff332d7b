"""Rule-based baselines: a few lines of hand-written logic a model must beat.

A rule is a Python function ``rule(images, classes[, train])`` that returns, for uint8
images ``(n, H, W)``, class indices ``(n,)``, class names ``(n,)`` or probabilities
``(n, C)``. Register one with :func:`register_rule` (or name ``"module:function"`` in
``[metric.baselines] rules``). dlstack ships ``"digits"``: the nearest class profile on
eight image statistics anyone could script (ink, holes, shape, balance).

>>> import numpy as np
>>> def always_one(images, classes):
...     return np.ones(len(images), dtype=np.int64)
>>> register_rule("always-one", always_one, "predicts class 1")
>>> "always-one" in registered_rules()
True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import ConfigError, DataError
from dlstack.resolve import is_code_spec, resolve

if TYPE_CHECKING:
    from dlstack.data import SplitArrays

__all__ = [
    "DIGIT_CLASSES",
    "DIGIT_FEATURES",
    "RuleFn",
    "digit_features",
    "digits_rule",
    "register_rule",
    "registered_rules",
    "resolve_rule",
    "rule_predictions",
]

RuleFn = Callable[..., Any]
DIGIT_CLASSES = tuple(str(d) for d in range(10))
DIGIT_FEATURES = (
    "ink",  # share of pixels that are stroke
    "holes",  # enclosed background regions: 0 for 1/2/3/5/7, 1 for 0/6/9 (4), 2 for 8
    "aspect",  # height / width of the stroke's bounding box
    "row_center",  # centre of mass, 0 = top of the box, 1 = bottom
    "col_center",
    "top_share",  # share of the ink in the top half of the box
    "left_share",
    "middle_row_ink",  # ink crossing the middle row of the box (the bar of a 4, the waist of 8)
)
INK_THRESHOLD = 0.5  # of the image's own maximum: strokes vs background, any contrast

_RULES: dict[str, tuple[RuleFn, str]] = {}


def register_rule(name: str, fn: RuleFn, description: str = "") -> None:
    """Make ``fn`` available as a rule baseline named ``name`` (replaces one of that name)."""
    if not name or not callable(fn):
        raise ConfigError(f"register_rule needs a name and a function, got {name!r}, {fn!r}")
    _RULES[name] = (fn, description or _first_line(fn.__doc__))


def registered_rules() -> dict[str, str]:
    """Registered rule names and their descriptions."""
    return {name: desc for name, (_, desc) in _RULES.items()}


def resolve_rule(spec: str, search_path: str | Path | None = None) -> tuple[str, RuleFn, str]:
    """A registered name or ``"module:function"`` -> (name, function, description)."""
    try:
        resolved, found = resolve(
            spec,
            what="rule baseline",
            registry={n: fn for n, (fn, _) in _RULES.items()},
            search_path=search_path,
        )
    except ConfigError as e:
        if is_code_spec(spec):
            raise
        raise ConfigError(
            f"{e}; register it with dlstack.evaluate.register_rule or write 'module:function'"
        ) from None
    if resolved in _RULES:
        return resolved, found, _RULES[resolved][1]
    name = spec.partition(":")[2]
    return name, found, _first_line(found.__doc__) or f"user rule {spec}"


def rule_predictions(
    fn: RuleFn, images: np.ndarray, classes: Sequence[str], train: SplitArrays
) -> tuple[np.ndarray, np.ndarray | None]:
    """Call a rule and normalize its answer to (class indices, probabilities or None)."""
    params = inspect.signature(fn).parameters
    kwargs = {"train": train} if "train" in params else {}
    out = np.asarray(fn(images, tuple(classes), **kwargs))
    n, c = len(images), len(classes)
    if out.ndim == 2 and out.shape == (n, c):
        probs = out.astype(np.float32)
        return probs.argmax(axis=1).astype(np.int64), probs
    if out.ndim == 1 and out.shape[0] == n:
        if out.dtype.kind in "iu":
            if out.size and (out.min() < 0 or out.max() >= c):
                raise DataError(f"a rule returned class indices outside 0..{c - 1}")
            return out.astype(np.int64), None
        index = {str(name): i for i, name in enumerate(classes)}
        unknown = sorted({str(v) for v in out} - set(index))
        if unknown:
            raise DataError(
                f"a rule returned labels {unknown[:5]} that are not classes ({', '.join(classes)})"
            )
        return np.array([index[str(v)] for v in out], dtype=np.int64), None
    raise DataError(
        f"a rule must return {n} class indices or labels, or probabilities ({n}, {c}); "
        f"got an array of shape {out.shape}"
    )


# -- the shipped digits rule --------------------------------------------------------------


def digit_features(images: np.ndarray) -> np.ndarray:
    """The eight statistics of ``DIGIT_FEATURES`` per image: float64 ``(n, 8)``.

    Strokes are pixels above half the image's maximum; light-background images are
    inverted first (the stroke is the minority of pixels).
    """
    from scipy import ndimage

    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise DataError(f"digit features need grayscale images (n, H, W), got {x.shape}")
    out = np.zeros((len(x), len(DIGIT_FEATURES)))
    for i, image in enumerate(x):
        top = image.max()
        ink = image > INK_THRESHOLD * top if top > 0 else np.zeros(image.shape, bool)
        if ink.mean() > 0.5:  # light background: the stroke is the dark minority
            ink = ~ink
        if not ink.any():
            continue
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        h, w = box.shape
        background, count = ndimage.label(~box)  # 4-connected background regions
        border = set(
            np.unique(
                np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
            )
        )
        holes = len(set(range(1, count + 1)) - border)
        r, c = np.nonzero(box)
        out[i] = (
            ink.mean(),
            min(holes, 2),
            h / w,
            (r.mean() + 0.5) / h,
            (c.mean() + 0.5) / w,
            box[: h // 2].sum() / box.sum(),
            box[:, : w // 2].sum() / box.sum(),
            box[h // 2].mean(),
        )
    return out


def digits_rule(images: np.ndarray, classes: Sequence[str], train: SplitArrays) -> np.ndarray:
    """Nearest class profile on 8 image statistics (ink, holes, shape, balance)."""
    f_train = digit_features(train.images)
    mean, std = f_train.mean(axis=0), f_train.std(axis=0)
    std[std < 1e-9] = 1.0
    z_train = (f_train - mean) / std
    profiles = np.stack(
        [
            z_train[train.labels == k].mean(axis=0)
            if (train.labels == k).any()
            else np.full(z_train.shape[1], np.inf)
            for k in range(len(classes))
        ]
    )  # (C, 8): each class's typical statistics
    z = (digit_features(images) - mean) / std  # (n, 8)
    distance = ((z[:, None, :] - profiles[None, :, :]) ** 2).sum(axis=2)  # (n, C)
    return distance.argmin(axis=1).astype(np.int64)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n")[0].rstrip(".")


register_rule("digits", digits_rule)
