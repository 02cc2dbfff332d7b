""" "Offline and online metrics correlate": served answers against what people said.

An online metric needs the truth about served inputs, and only people give it: the label
sent with "this is wrong" feedback (``POST /feedback``, the lake's ``feedback`` dataset),
or the label the catalog holds for the flagged input (decided in the labeling queue,
`dlstack label`, or ingested with it), which wins over the feedback's. Each is joined to
the served prediction it is about, by ``prediction_id``, in the prediction log. The log's
own ``label`` column is the model's answer: comparing the model with itself measures
nothing, so it is never used as truth.

>>> import tempfile
>>> from dlstack.layout import Layout
>>> labeled_predictions(Evidence(Layout(tempfile.mkdtemp())))
[]
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from dlstack.evaluate._score_checks import AUTOMATED, MISSING, Found
from dlstack.evaluate._score_evidence import FEEDBACK_LOG, PREDICTION_LOGS, Evidence

__all__ = ["LabeledPrediction", "labeled_predictions", "offline_online"]

_PREDICTION_COLUMNS = ("prediction_id", "model", "version", "label")
_ADVICE = (
    "serve with prediction logging (`dlstack serve --project DIR`), send corrections with "
    "POST /feedback and label the flagged examples (`dlstack label`): online accuracy on "
    "them is then compared with the test set's"
)


class LabeledPrediction(NamedTuple):
    """A served prediction of one model and a person's label for its input."""

    prediction_id: str
    model: str
    version: int
    predicted: str  # the model's answer, from the prediction log
    label: str  # a person's: the catalog's label of the input, else the feedback's
    source: str  # "labeling" (the catalog's label) or "feedback"


def _served(ev: Evidence) -> list[dict[str, Any]]:
    """Every logged prediction row (prediction_id, model, version, the model's label, ts)."""
    rows: list[dict[str, Any]] = []
    for name in PREDICTION_LOGS:
        table = ev.lake_datasets.get(name)
        if table is None or not set(_PREDICTION_COLUMNS) <= set(table.column_names):
            continue
        columns = [*_PREDICTION_COLUMNS, *(["ts"] if "ts" in table.column_names else [])]
        rows.extend({"ts": None, **r} for r in table.select(columns).to_pylist())
    return [r for r in rows if r["prediction_id"]]


def _decided(ev: Evidence, example_ids: set[str]) -> dict[str, str]:
    """example id -> the catalog's label of each flagged input (the monitor's query)."""
    if ev.project is None:
        return {}
    from dlstack.serve import decided_labels

    try:
        return decided_labels(ev.project, example_ids)
    except Exception:  # an unreachable catalog is "no evidence", not a crash
        return {}


def labeled_predictions(ev: Evidence) -> list[LabeledPrediction]:
    """Served predictions with a person's label, one per prediction (the latest word).

    The join is `dlstack monitor`'s (``dlstack.serve.labeled_predictions``): one rule for
    what counts as a person's label, whether the monitor or the score asks."""
    from dlstack.serve import labeled_predictions as join

    feedback = ev.lake_datasets.get(FEEDBACK_LOG)
    if feedback is None or feedback.num_rows == 0:
        return []
    served = _served(ev)
    if not served:
        return []
    rows = [r for r in feedback.to_pylist() if r.get("ts") is not None]
    flagged = {str(r.get("example_id")) for r in rows}
    labeled, _, _ = join(served, rows, _decided(ev, flagged))
    model_of = {str(r["prediction_id"]): str(r["model"]) for r in served}
    return [
        LabeledPrediction(
            p.prediction_id, model_of[p.prediction_id], p.version, p.predicted, p.label, p.source
        )
        for p in labeled
    ]


def _offline_accuracy(ev: Evidence, model: str, version: int) -> float | None:
    for package in ev.packages:
        if (package.spec.name, package.spec.version) == (model, version):
            value = package.spec.metrics.get("accuracy")
            return float(value) if isinstance(value, int | float) else None
    return None


def offline_online(ev: Evidence) -> Found:
    """A point when enough served predictions of one package have a person's label to set
    online accuracy beside the package's test accuracy."""
    from dlstack.config import ScoreConfig

    need = (ev.project.config.score if ev.project is not None else ScoreConfig()).min_online_labels
    labeled = labeled_predictions(ev)
    if not labeled:
        logged = sum(ev.served.values())
        if logged:
            return (
                MISSING,
                f"{logged:,} served predictions are logged, but none has a person's label "
                f"(the log's label is the model's own answer, which cannot measure it)",
                _ADVICE,
            )
        return MISSING, "", _ADVICE
    (model, version), n = Counter((p.model, p.version) for p in labeled).most_common(1)[0]
    mine = [p for p in labeled if (p.model, p.version) == (model, version)]
    if n < need:
        return (
            MISSING,
            f"{n} served prediction(s) of {model} v{version} have a person's label; the "
            f"comparison needs {need} ([score] min_online_labels)",
            "label more of the flagged predictions (`dlstack label`), or send labels with "
            "POST /feedback",
        )
    offline = _offline_accuracy(ev, model, version)
    if offline is None:
        return (
            MISSING,
            f"{n} served predictions of {model} v{version} have a person's label, but the "
            f"package's test accuracy is unknown (its model.json is not in this project, is "
            f"unreadable, or records no accuracy)",
            "serve this project's packages, exported with their test metrics (`dlstack run`)",
        )
    online = sum(p.predicted == p.label for p in mine) / n
    sources = Counter(p.source for p in mine)
    return (
        AUTOMATED,
        f"{n:,} served predictions of {model} v{version} have a person's label "
        f"({sources['labeling']} labeled in the catalog, {sources['feedback']} with the "
        f"feedback): online accuracy {online:.3f} vs {offline:.3f} on the test split "
        f"(people flag mistakes, so this sample under-states online accuracy)",
        "",
    )
