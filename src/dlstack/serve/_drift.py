"""Drift: do the served inputs and predictions still look like the training data?

``dlstack monitor`` reads the prediction log (lake dataset ``predictions``) and compares
it with the model's own data version, summarized the way the server summarizes each
input (:func:`dlstack.serve._predlog.input_statistics`, on the image the model saw):

=========================  ==========================================  ==================
check                      reference                                   test
=========================  ==========================================  ==================
input intensity            mean pixel intensity of the train split     KS, two-sample
ink share                  share of foreground pixels, train split     KS, two-sample
confidence                 the model's top probability on val          KS, two-sample
predicted classes          the model's predicted classes on val        PSI
=========================  ==========================================  ==================

The predictions are compared with the model's predictions on held-out data (not on
train, where it is over-confident), so a change means the *inputs* changed. A KS check
flags drift when the statistic is at least ``KS_MIN_EFFECT`` and its p-value is below
``ALPHA``: with thousands of predictions tiny, harmless shifts are "significant", so an
effect size is required too. PSI above ``PSI_DRIFT`` is the usual "significant shift"
rule of thumb in production monitoring (0.1-0.2 moderate); the PSI that two samples of
one distribution show by chance, ``(K - 1)(1/n + 1/m)`` for K classes, is added to it.
Fewer than ``MIN_SERVED`` predictions decide nothing.

>>> rng = np.random.default_rng(0)
>>> d, p = ks_2samp(rng.normal(0, 1, 500), rng.normal(0.5, 1, 500))
>>> d > KS_MIN_EFFECT and p < ALPHA
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import DataError, PackageError
from dlstack.inputs import cut_widths
from dlstack.serve._predlog import PREDICTIONS_DATASET, input_statistics

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Lake, Snapshot
    from dlstack.inputs import ImageSpec
    from dlstack.package import ModelPackage
    from dlstack.serve._online import OnlineAccuracy, Window

__all__ = [
    "ALPHA",
    "KS_MIN_EFFECT",
    "MIN_SERVED",
    "PSI_DRIFT",
    "Check",
    "DriftReport",
    "Sample",
    "compare",
    "ks_2samp",
    "monitor",
    "psi",
    "reference_sample",
    "served_sample",
]

ALPHA = 0.01  # KS p-value below which a difference is not chance
KS_MIN_EFFECT = 0.1  # and the CDFs must differ by at least this much somewhere
PSI_DRIFT = 0.2  # population stability index: > 0.2 is a significant shift
MIN_SERVED = 30  # fewer served predictions than this decide nothing
_EPS = 1e-4  # PSI smoothing for classes one side never shows


@dataclass(frozen=True)
class Sample:
    """Per-example summaries: input statistics and the model's answers."""

    input_mean: np.ndarray
    input_ink: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray  # label strings
    # A table model's columns: floats (NaN missing) or category names ("" missing).
    features: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.predicted)


@dataclass(frozen=True)
class Check:
    name: str
    statistic: str  # "KS" or "PSI"
    value: float
    threshold: float
    p_value: float | None
    reference: str  # a one-line summary of each side
    served: str
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    model: str
    version: int
    data_version: str | None
    since: datetime | None
    reference: Sample
    served: Sample
    labels: list[str]
    checks: list[Check] = field(default_factory=list)
    note: str | None = None  # why nothing was decided, if so
    online: OnlineAccuracy | None = None  # people's labels on served predictions, over time

    @property
    def drifted(self) -> bool:
        return any(c.drifted for c in self.checks)

    def write_html(self, path: str | Path) -> Path:
        return _html(self).write(path)


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value (numpy only)."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    both = np.concatenate([a, b])
    d = float(
        np.abs(
            np.searchsorted(a, both, side="right") / n - np.searchsorted(b, both, side="right") / m
        ).max()
    )
    en = math.sqrt(n * m / (n + m))
    x = (en + 0.12 + 0.11 / en) * d  # Stephens' small-sample correction (Numerical Recipes)
    if x < 1e-3:
        return d, 1.0
    k = np.arange(1, 101)
    p = 2 * np.sum((-1.0) ** (k - 1) * np.exp(-2 * k**2 * x**2))
    return d, float(min(max(p, 0.0), 1.0))


def psi(reference: np.ndarray, served: np.ndarray, labels: Sequence[str]) -> float:
    """Population stability index of two label samples over ``labels``."""
    r = np.array([(reference == c).mean() for c in labels]) + _EPS
    s = np.array([(served == c).mean() for c in labels]) + _EPS
    r, s = r / r.sum(), s / s.sum()
    return float(np.sum((s - r) * np.log(s / r)))


def compare(
    reference: Sample,
    served: Sample,
    labels: Sequence[str],
    predicted: str = "predicted classes",
) -> list[Check]:
    """The four checks of the module docstring; ``predicted`` names what the answers'
    check compares (a line reader's: the length of the text read)."""
    checks = []
    pairs = [("confidence", reference.confidence, served.confidence)]
    if len(reference.input_mean) and len(served.input_mean):
        pairs[:0] = [
            ("input intensity", reference.input_mean, served.input_mean),
            ("ink share", reference.input_ink, served.input_ink),
        ]
    for name, values in reference.features.items():
        got_values = served.features.get(name)
        if got_values is None or len(got_values) == 0:
            continue
        if values.dtype.kind == "f":
            ref_present, got_present = values[~np.isnan(values)], got_values[~np.isnan(got_values)]
            if len(ref_present) and len(got_present):
                pairs.append((f"feature {name}", ref_present, got_present))
        else:
            categories = sorted(set(values.tolist()) | set(got_values.tolist()))
            value = psi(values, got_values, categories)
            threshold = PSI_DRIFT + (len(categories) - 1) * (1 / len(values) + 1 / len(got_values))
            checks.append(
                Check(
                    f"feature {name}",
                    "PSI",
                    value,
                    threshold,
                    None,
                    _top_classes(values),
                    _top_classes(got_values),
                    value > threshold,
                )
            )
    for name, ref, got in pairs:
        d, p = ks_2samp(ref, got)
        checks.append(
            Check(
                name,
                "KS",
                d,
                KS_MIN_EFFECT,
                p,
                f"mean {ref.mean():.3f}, n={len(ref)}",
                f"mean {got.mean():.3f}, n={len(got)}",
                d >= KS_MIN_EFFECT and p < ALPHA,
            )
        )
    value = psi(reference.predicted, served.predicted, labels)
    # Two samples of one distribution have PSI ~ (K - 1)(1/n + 1/m) by chance alone.
    threshold = PSI_DRIFT + (len(labels) - 1) * (1 / len(reference) + 1 / len(served))
    checks.append(
        Check(
            predicted,
            "PSI",
            value,
            threshold,
            None,
            _top_classes(reference.predicted),
            _top_classes(served.predicted),
            value > threshold,
        )
    )
    return checks


def _top_classes(predicted: np.ndarray, k: int = 3) -> str:
    names, counts = np.unique(predicted, return_counts=True)
    order = np.argsort(-counts)[:k]
    return ", ".join(f"{names[i]} {counts[i] / len(predicted):.0%}" for i in order)


def reference_sample(
    package: ModelPackage, snapshot: Snapshot, *, input_split: str = "train"
) -> Sample:
    """Input statistics of ``input_split``, the model's answers on ``val`` (or test)."""
    spec = package.spec
    train = snapshot.split(input_split)
    features: dict[str, np.ndarray] = {}
    if snapshot.table is not None:  # a table, alone or with an image per example
        from dlstack.serve._drift_table import reference_features

        features = reference_features(snapshot, input_split)
    image = spec.input_of_kind("image")
    if image is None or snapshot.is_table:
        stats = {"input_mean": np.zeros(0), "input_ink": np.zeros(0)}
    elif train.widths is not None:  # lines: each at its own width, as serving logs them
        rows = [
            input_statistics(line[None], image.background)
            for line in cut_widths(train.images, train.widths)
        ]
        stats = {k: np.concatenate([r[k] for r in rows]) for k in ("input_mean", "input_ink")}
    else:
        stats = input_statistics(train.images, image.background)
    held_out = snapshot.split("val")
    if len(held_out) == 0:
        held_out = snapshot.split("test")
    if len(held_out) == 0:
        raise DataError(
            f"data version {snapshot.version} has no val or test examples to run the model on"
        )
    if spec.task == "ctc":  # a line's answer is its text: compared by the length read
        assert held_out.widths is not None  # a line reader's data holds each line's width
        answers = package.read_lines(cut_widths(held_out.images, held_out.widths))
        return Sample(
            stats["input_mean"],
            stats["input_ink"],
            np.array([a.confidence for a in answers], dtype=float),
            read_lengths([a.label for a in answers]),
            features,
        )
    probabilities = package.predict_arrays(package.model_input(held_out.images, held_out.features))
    top = probabilities.argmax(axis=1)
    return Sample(
        stats["input_mean"],
        stats["input_ink"],
        probabilities.max(axis=1),
        np.array([spec.labels[i] for i in top]),
        features,
    )


def read_lengths(texts: Sequence[str]) -> np.ndarray:
    """A line reader's "predicted classes": the length bucket of each text read ("0" for
    an empty read); the texts themselves are nearly all distinct."""
    from dlstack.metrics import length_bucket

    return np.array([length_bucket(len(t)) for t in texts], dtype=str)


def predicted_labels(spec: Any) -> list[str]:
    """The categories the predicted-classes check compares: the labels, or for a line
    reader the length buckets of the texts read."""
    if spec.task != "ctc":
        return list(spec.labels)
    from dlstack.metrics import LENGTH_BUCKETS

    return ["0", *(f"{lo}-{hi}" if hi else f"{lo}+" for lo, hi in LENGTH_BUCKETS)]


def served_sample(
    lake: Lake, model: str, *, version: int | None = None, since: datetime | None = None
) -> Sample:
    """The logged predictions of ``model`` (one version, or all) since a time."""
    from dlstack.serve._drift_table import logged_rows

    rows = logged_rows(lake, PREDICTIONS_DATASET, model, version=version, since=since)
    if rows is None:
        return _empty()
    return Sample(
        rows["input_mean"].to_numpy(zero_copy_only=False).astype(float),
        rows["input_ink"].to_numpy(zero_copy_only=False).astype(float),
        rows["confidence"].to_numpy(zero_copy_only=False).astype(float),
        np.array(rows["label"].to_pylist(), dtype=str),
    )


def _empty() -> Sample:
    return Sample(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=str))


def monitor(
    project: Project,
    model: str | None = None,
    *,
    version: int | None = None,
    since: datetime | None = None,
    window: Window = "day",
) -> DriftReport:
    """Compare a served model's logged predictions with its data version; with them, the
    online accuracy per ``window`` from people's feedback (:mod:`dlstack.serve._online`)."""
    from dlstack.data import Lake
    from dlstack.package import ModelRepository, load_package
    from dlstack.serve._online import online_accuracy

    repo = ModelRepository(project.models_dir)
    try:
        path = repo.version_dir(model or repo.only_name(), version)
    except PackageError as e:
        raise DataError(str(e)) from None
    package = load_package(path)
    spec = package.spec
    lake = Lake(project.lake_url, **project.lake_options)
    served = served_sample(lake, spec.name, version=version, since=since)
    image_input, table_input = spec.input_of_kind("image"), spec.input_of_kind("table")
    image = None if image_input is None else image_input.image_spec()
    reference = reference_sample(package, _snapshot(project, spec.data_version, image))
    if spec.task == "ctc":  # logged labels are the texts read
        served = dataclasses.replace(served, predicted=read_lengths(list(served.predicted)))
    labels = predicted_labels(spec)
    if table_input is not None:  # each feature's drift, beside the image's statistics
        from dlstack.serve._drift_table import served_features

        columns = table_input.encoder().columns
        found = served_features(lake, spec.name, columns, version=version, since=since)
        served = dataclasses.replace(served, features=found)
    note = None
    checks: list[Check] = []
    if len(served) < MIN_SERVED:
        note = (
            f"only {len(served)} logged predictions of {spec.name}"
            f"{'' if version is None else f' v{version}'}; at least {MIN_SERVED} are needed "
            f"to decide anything (is [serve] log_predictions on?)"
        )
    else:
        what = "length of the text read" if spec.task == "ctc" else "predicted classes"
        checks = compare(reference, served, labels, what)
    offline = spec.metrics.get("accuracy")
    online = online_accuracy(
        project,
        lake,
        spec.name,
        version=version,
        since=since,
        window=window,
        offline=float(offline) if isinstance(offline, int | float) else None,
    )
    return DriftReport(
        model=spec.name,
        version=spec.version,
        data_version=spec.data_version,
        since=since,
        reference=reference,
        served=served,
        labels=labels,
        checks=checks,
        note=note,
        online=online,
    )


def _snapshot(project: Project, data_version: str | None, image: ImageSpec | None) -> Snapshot:
    """The package's training data, prepared as the package prepares what it serves."""
    from dlstack.data import Snapshot

    if data_version is None:
        raise DataError(
            "the model package records no data version, so there is no training data "
            "to compare with; export it again with `dlstack export`"
        )
    if data_version.startswith("builtin:"):
        return Snapshot.from_builtin(data_version)
    from dlstack.data import DataRepo

    repo = DataRepo.open(project)
    try:
        _, snapshot = repo.checkout(data_version, progress=False, image=image)
    finally:
        repo.close()
    return snapshot


# -- the report -------------------------------------------------------------------------------


def _html(report: DriftReport) -> Any:
    from dlstack.report import HtmlReport

    verdict = "drift" if report.drifted else "no drift"
    html = HtmlReport(
        f"Monitoring: {report.model} v{report.version}",
        f"served predictions vs data version {report.data_version}"
        + (f", since {report.since:%Y-%m-%d %H:%M} UTC" if report.since else "")
        + f" — {verdict}",
    )
    summary = html.section("Checks")
    if report.note:
        summary.paragraph(report.note, kind="warn")
    else:
        summary.paragraph(
            "Drift in the inputs means the world changed; in the predictions alone, the "
            "model's view of it did. Flagged rows need a look, then new labels "
            "(feedback and the labeling queue) and retraining.",
            kind="bad" if report.drifted else "good",
        )
        summary.table(
            ["check", "test", "value", "threshold", "p-value", "reference", "served", "drift"],
            [
                [
                    c.name,
                    c.statistic,
                    c.value,
                    c.threshold,
                    "" if c.p_value is None else f"{c.p_value:.2g}",
                    c.reference,
                    c.served,
                    "yes" if c.drifted else "no",
                ]
                for c in report.checks
            ],
            row_kinds=["bad" if c.drifted else None for c in report.checks],
        )
    if len(report.served):
        plots = html.section("Distributions")
        plots.image(_histograms_png(report), alt="served vs reference histograms")
        plots.image(_classes_png(report), alt="predicted class distribution")
    if report.online is not None:
        from dlstack.serve._online_html import online_section

        online_section(html, report.online)
    return html


def _histograms_png(report: DriftReport) -> bytes:
    from matplotlib.figure import Figure

    from dlstack.report import figure_png

    ref_s, got_s = report.reference, report.served
    panels = [("confidence", ref_s.confidence, got_s.confidence)]
    if len(ref_s.input_mean):
        panels[:0] = [
            ("input intensity (mean, 0..1)", ref_s.input_mean, got_s.input_mean),
            ("ink share", ref_s.input_ink, got_s.input_ink),
        ]
    for name, ref_values in ref_s.features.items():  # a table: its first numeric columns
        got_values = got_s.features.get(name, np.zeros(0))
        if len(panels) < 3 and ref_values.dtype.kind == "f" and len(got_values):
            panels.append(
                (name, ref_values[~np.isnan(ref_values)], got_values[~np.isnan(got_values)])
            )
    panels = [(t, r, g) for t, r, g in panels if len(r) and len(g)]
    fig = Figure(figsize=(11, 3.2))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(panels))))
    for ax, (title, ref, got) in zip(axes, panels, strict=False):
        lo, hi = min(ref.min(), got.min()), max(ref.max(), got.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-3, 30)
        ax.hist(ref, bins=bins, density=True, alpha=0.5, label="reference", color="#8c959f")
        ax.hist(got, bins=bins, density=True, alpha=0.5, label="served", color="#0969da")
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    return figure_png(fig)


def _classes_png(report: DriftReport) -> bytes:
    from matplotlib.figure import Figure

    from dlstack.report import figure_png

    labels = report.labels
    ref = [(report.reference.predicted == c).mean() for c in labels]
    got = [(report.served.predicted == c).mean() for c in labels]
    fig = Figure(figsize=(max(5, 0.5 * len(labels) + 2), 3.2))
    ax = fig.subplots()
    x = np.arange(len(labels))
    ax.bar(x - 0.2, ref, 0.4, label="reference (val)", color="#8c959f")
    ax.bar(x + 0.2, got, 0.4, label="served", color="#0969da")
    ax.set_xticks(x, [lb.replace("$", r"\$") for lb in labels])
    ax.set_ylabel("share of predictions")
    ax.legend()
    fig.tight_layout()
    return figure_png(fig)


def utcnow() -> datetime:
    return datetime.now(UTC)
