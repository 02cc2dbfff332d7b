"""Online accuracy: served predictions against the labels people gave them, over time.

Only people can tell what a served input really was. Their labels come from two places,
each joined to the served prediction it is about by ``prediction_id`` in the prediction
log (lake dataset ``predictions``):

- the catalog's label of the flagged input (the example ``POST /feedback`` queued): the
  one decided in labeling (`dlstack label`), or the one it was ingested with when the
  served input is a known example. It wins, being the more deliberate answer;
- else the label sent with the feedback itself (``POST /feedback {"prediction_id": ...,
  "label": "7"}``; lake dataset ``feedback``).

The log's own ``label`` column is the model's answer: comparing the model with itself
measures nothing, so it is never truth. Feedback that flags a prediction without saying
what is right is counted (``flagged_unlabeled``) but not scored; feedback about a
prediction the log does not hold is counted (``unmatched``) and left out.

People mostly flag mistakes, so this accuracy under-states the real one unless feedback
is sent for a random sample of predictions, the right answers included (``label`` equal
to the prediction confirms it).

>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> rows = [LabeledPrediction(str(i), 1, t0 + timedelta(hours=i), "7", "7" if i % 2 else "1",
...                           "feedback") for i in range(4)]
>>> [(w.labeled, w.correct) for w in windows_of(rows, "day", served=[])]
[(4, 2)]
>>> [(w.labeled, w.correct) for w in windows_of(rows, 3, served=[])]
[(3, 1), (1, 1)]
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dlstack.errors import ConfigError
from dlstack.serve._predlog import FEEDBACK_DATASET, PREDICTIONS_DATASET

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Lake

__all__ = [
    "TIME_WINDOWS",
    "LabeledPrediction",
    "OnlineAccuracy",
    "OnlineWindow",
    "decided_labels",
    "labeled_predictions",
    "online_accuracy",
    "parse_window",
    "window_name",
    "windows_of",
]

TIME_WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: week windows start on Mondays

Window = str | int  # a name in TIME_WINDOWS, or a number of labeled predictions


@dataclass(frozen=True)
class LabeledPrediction:
    """A served prediction and a person's label for its input."""

    prediction_id: str
    version: int
    served_at: datetime  # when the prediction was served (the log's ts)
    predicted: str  # the model's answer, from the prediction log
    label: str  # a person's: the catalog's (labeling), else sent with the feedback
    source: str  # "labeling" (the catalog's label) or "feedback"

    @property
    def correct(self) -> bool:
        return self.predicted == self.label


@dataclass(frozen=True)
class OnlineWindow:
    """One window: the predictions served in it, and those of them people labeled."""

    start: datetime
    end: datetime  # exclusive
    served: int  # predictions logged in [start, end)
    labeled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labeled if self.labeled else None


@dataclass(frozen=True)
class OnlineAccuracy:
    """Online accuracy of one model (one version, or all) per window, with its counts."""

    model: str
    window: Window
    windows: list[OnlineWindow]
    labeled: list[LabeledPrediction] = field(default_factory=list)
    flagged_unlabeled: int = 0  # feedback saying "wrong" without the right label
    unmatched: int = 0  # feedback about predictions the log does not hold
    offline: float | None = None  # the package's test accuracy (model.json metrics)

    @property
    def correct(self) -> int:
        return sum(p.correct for p in self.labeled)

    @property
    def accuracy(self) -> float | None:
        return self.correct / len(self.labeled) if self.labeled else None

    def window_label(self, w: OnlineWindow) -> str:
        """When ``w`` was served, as its table row names it."""
        return window_name(w, self.window)

    def title(self) -> str:
        per = f"{self.window} labeled predictions" if isinstance(self.window, int) else self.window
        return f"{self.model}: online accuracy per {per} (people's labels on served predictions)"

    def sources(self) -> dict[str, int]:
        return {s: sum(p.source == s for p in self.labeled) for s in ("labeling", "feedback")}

    def describe(self) -> str:
        """One paragraph: the overall number, where the labels came from, what it misses."""
        if not self.labeled:
            return (
                f"no online accuracy yet: none of {self.model}'s served predictions has a "
                f"person's label ({self.flagged_unlabeled} flagged without one). Send "
                f'POST /feedback {{"prediction_id": ..., "label": "<the right answer>"}} '
                f"or label the flagged examples with `dlstack label`"
            )
        src = self.sources()
        text = (
            f"online accuracy {self.accuracy:.4f} on {len(self.labeled):,} served predictions "
            f"with a person's label ({src['labeling']} from the catalog: decided in "
            f"labeling or ingested; {src['feedback']} sent with the feedback)"
        )
        if self.offline is not None:
            text += f"; {self.offline:.4f} on the test split"
        left = []
        if self.flagged_unlabeled:
            left.append(f"{self.flagged_unlabeled} flagged without a label")
        if self.unmatched:
            left.append(f"{self.unmatched} about predictions not in the log")
        if left:
            text += "; not scored: " + ", ".join(left)
        return (
            text + ". People mostly flag mistakes: unless feedback covers a random sample of "
            "predictions, this under-states online accuracy"
        )


def parse_window(text: str) -> Window:
    """``hour``, ``day``, ``week`` or a positive count of labeled predictions per window."""
    value = text.strip().lower()
    if value in TIME_WINDOWS:
        return value
    if value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    raise ConfigError(
        f"--window must be one of {', '.join(TIME_WINDOWS)} or a positive number of labeled "
        f"predictions per window, got {text!r}; e.g. --window day or --window 50"
    )


def labeled_predictions(
    predictions: Sequence[dict[str, Any]],
    feedback: Sequence[dict[str, Any]],
    decided: dict[str, str],
) -> tuple[list[LabeledPrediction], int, int]:
    """Join feedback rows to logged predictions: (labeled, flagged without a label,
    about no logged prediction). ``decided``: example id -> the catalog's label.
    One answer per prediction: the latest feedback about it."""
    served = {str(r["prediction_id"]): r for r in predictions if r.get("prediction_id")}
    found: dict[str, LabeledPrediction] = {}
    unlabeled: set[str] = set()
    unmatched: set[str] = set()
    for r in sorted(feedback, key=lambda r: r["ts"]):
        pid = str(r.get("prediction_id") or "")
        prediction = served.get(pid)
        if prediction is None:
            unmatched.add(pid)
            continue
        label, source = decided.get(str(r.get("example_id") or ""), ""), "labeling"
        if not label:
            label, source = str(r.get("suggested_label") or ""), "feedback"
        if not label:
            unlabeled.add(pid)
            continue
        unlabeled.discard(pid)
        found[pid] = LabeledPrediction(
            pid,
            int(prediction["version"]),
            prediction["ts"],
            str(prediction["label"]),
            label,
            source,
        )
    return list(found.values()), len(unlabeled - set(found)), len(unmatched)


def windows_of(
    labeled: Sequence[LabeledPrediction], window: Window, *, served: Sequence[datetime]
) -> list[OnlineWindow]:
    """Labeled predictions grouped by when they were served: calendar windows (UTC) of
    ``window`` (hour, day, week), or consecutive groups of ``window`` labeled predictions.
    Windows without a labeled prediction are left out."""
    rows = sorted(labeled, key=lambda p: p.served_at)
    groups: list[tuple[datetime, datetime, list[LabeledPrediction]]] = []
    if isinstance(window, int):
        for i in range(0, len(rows), window):
            chunk = rows[i : i + window]
            end = chunk[-1].served_at + timedelta(microseconds=1)
            groups.append((chunk[0].served_at, end, chunk))
    else:
        width = TIME_WINDOWS[window]
        by_start: dict[datetime, list[LabeledPrediction]] = {}
        for p in rows:
            start = _EPOCH + ((p.served_at - _EPOCH) // width) * width
            by_start.setdefault(start, []).append(p)
        groups = [(start, start + width, chunk) for start, chunk in by_start.items()]
    times = sorted(served)
    return [
        OnlineWindow(
            start,
            end,
            bisect_left(times, end) - bisect_left(times, start),
            len(chunk),
            sum(p.correct for p in chunk),
        )
        for start, end, chunk in groups
    ]


def online_accuracy(
    project: Project,
    lake: Lake,
    model: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
    window: Window = "day",
    offline: float | None = None,
) -> OnlineAccuracy:
    """Online accuracy of ``model`` (one version, or all) on predictions served since
    ``since``, per ``window``; see the module docstring for what counts as a label."""
    from dlstack.serve._drift_table import logged_rows

    logged = logged_rows(lake, PREDICTIONS_DATASET, model, version=version, since=since)
    # Feedback about a prediction served since `since` may come later: no time filter here.
    flagged = logged_rows(lake, FEEDBACK_DATASET, model, version=version)
    if logged is None or flagged is None or flagged.num_rows == 0:
        return OnlineAccuracy(model, window, [], offline=offline)
    predictions = logged.select(["prediction_id", "ts", "version", "label"]).to_pylist()
    feedback = flagged.to_pylist()
    labeled, unlabeled, unmatched = labeled_predictions(
        predictions, feedback, decided_labels(project, {str(r.get("example_id")) for r in feedback})
    )
    return OnlineAccuracy(
        model,
        window,
        windows_of(labeled, window, served=[r["ts"] for r in predictions]),
        labeled,
        unlabeled,
        unmatched,
        offline,
    )


def decided_labels(project: Project, example_ids: set[str]) -> dict[str, str]:
    """example id -> the catalog's label of each flagged input (staged: decided in
    labeling, or ingested with it)."""
    from dlstack.data import DataRepo

    repo = DataRepo.open(project)
    try:
        table = repo.query(
            "SELECT DISTINCT s.example_id, s.label FROM staged s "
            "JOIN feedback f ON s.example_id = f.example_id"
        )
    finally:
        repo.close()
    return {
        str(r["example_id"]): str(r["label"])
        for r in table.to_pylist()
        if r["label"] and str(r["example_id"]) in example_ids
    }


def window_name(w: OnlineWindow, window: Window) -> str:
    if isinstance(window, int):
        same_day = w.start.date() == w.end.date()
        return (
            f"{w.start:%Y-%m-%d %H:%M:%S} to {w.end:%H:%M:%S}"
            if same_day
            else (f"{w.start:%Y-%m-%d %H:%M:%S} to {w.end:%Y-%m-%d %H:%M:%S}")
        )
    return f"{w.start:%Y-%m-%d %H:00}" if window == "hour" else f"{w.start:%Y-%m-%d}"
