"""Evaluation tests: test the model like code, against a model package, before it ships.

``[tests]`` in dlstack.toml declares what a package must meet: minimum (or maximum)
metrics overall and per slice, a latency and a size budget, invariances (a 1-pixel shift
must not change the answer more than X% of the time) and directional expectations. Some
checks always run: numerical stability (finite probabilities, also on extreme inputs),
training/serving skew (the serving path from encoded images against the training path
from arrays), and, when the package has an earlier version, regression of quality and
latency against it. The package is used the way serving uses it (onnxruntime only).

>>> report = check_package(project, ".dlstack/models/digits")  # doctest: +SKIP
>>> report.passed, [c.name for c in report.failures]  # doctest: +SKIP
(False, ['accuracy >= 0.99'])

Results are written as JSON under ``.dlstack/tests/`` where `dlstack score` finds them.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlstack.errors import ConfigError, DataError
from dlstack.evaluate._perturbations import describe_transform, perturb
from dlstack.evaluate._slices import CLASS_KEY, slice_metrics
from dlstack.metrics import classification_metrics
from dlstack.objective import Constraint, lower_is_better

if TYPE_CHECKING:
    from dlstack.config import EvalTestsConfig, Project
    from dlstack.package import ModelPackage

__all__ = [
    "LATENCY_RUNS",
    "RESULTS_DIR",
    "SKEW_SAMPLE",
    "EvalCheck",
    "EvalData",
    "EvalTestReport",
    "check_package",
    "eval_data",
    "latency_key",
    "latest_results",
    "measure_latency",
    "package_metrics",
    "run_eval_tests",
]

RESULTS_DIR = "tests"  # under .dlstack/
LATENCY_RUNS = 200  # single-image calls timed; the p95 of 200 is stable to ~10%
LATENCY_WARMUP = 10  # first calls allocate and are not what a warm server sees
DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
SKEW_SAMPLE = 500  # examples sent through the serving path (PNG encode, decode, preprocess)


@dataclass(frozen=True)
class EvalData:
    """Labelled images to test a package on, in the data's own class order."""

    images: np.ndarray  # uint8 (n, H, W)
    labels: np.ndarray  # int64 (n,), index into classes
    classes: tuple[str, ...]
    ids: np.ndarray | None = None
    metadata: Mapping[str, np.ndarray] | None = None  # slice keys -> one value per example
    data_version: str = ""
    split: str = "test"

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class EvalCheck:
    """One check: what was required, what was measured, whether it held."""

    name: str  # e.g. "accuracy >= 0.95", "invariance: shift by 1 pixels"
    kind: str  # metric, slice, latency, size, invariance, directional, stability, skew,
    #            regression, staleness
    passed: bool
    measured: float | None = None
    limit: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "measured": self.measured,
            "limit": self.limit,
            "detail": self.detail,
        }


@dataclass
class EvalTestReport:
    """All checks of one package on one data split."""

    package: str
    name: str
    version: int
    data_version: str
    split: str
    n: int
    checks: list[EvalCheck]
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    path: Path | None = None  # where the JSON was written

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[EvalCheck]:
        return [c for c in self.checks if not c.passed]

    def kinds(self) -> set[str]:
        return {c.kind for c in self.checks}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "package": self.package,
            "name": self.name,
            "version": self.version,
            "data_version": self.data_version,
            "split": self.split,
            "n": self.n,
            "passed": self.passed,
            "created": self.created,
            "seconds": self.seconds,
            "metrics": self.metrics,
            "checks": [c.to_dict() for c in self.checks],
        }

    def write_json(self, directory: str | Path) -> Path:
        """``<directory>/<name>-v<version>-<time>.json``; returns its path."""
        from dlstack.report import write_atomic

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = Path(directory) / f"{self.name}-v{self.version}-{stamp}.json"
        write_atomic(path, json.dumps(self.to_dict(), indent=2, default=_json) + "\n")
        self.path = path
        return path


# -- running a package --------------------------------------------------------------------


def _label_map(package: ModelPackage, classes: Sequence[str]) -> np.ndarray:
    """Data class index -> package output index, matched by label name."""
    index = {label: i for i, label in enumerate(package.labels)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise DataError(
            f"the package's labels ({', '.join(package.labels[:12])}) lack the data's "
            f"class(es) {', '.join(map(repr, missing[:5]))}; test it on the data it was "
            f"trained for"
        )
    return np.array([index[c] for c in classes], dtype=np.int64)


def _probabilities(package: ModelPackage, images: np.ndarray) -> np.ndarray:
    from dlstack.inputs import to_model_input

    norm = package.spec.input.normalization
    return package.predict_arrays(to_model_input(images, norm.mean, norm.std))


def package_metrics(
    package: ModelPackage, data: EvalData
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """(metric values by name, targets, probabilities), in the package's label space."""
    targets = _label_map(package, data.classes)[data.labels]
    probabilities = _probabilities(package, data.images)
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    scores = classification_metrics(targets, predictions, len(package.labels), probabilities)
    return scores.values(package.labels), targets, probabilities


def measure_latency(
    package: ModelPackage,
    images: np.ndarray,
    *,
    runs: int = LATENCY_RUNS,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, float]:
    """Milliseconds per single-image call after a warm-up: ``latency_p50_ms``... and
    ``latency_mean_ms``."""
    from dlstack.inputs import to_model_input

    norm = package.spec.input.normalization
    x = to_model_input(images[: max(1, min(len(images), runs))], norm.mean, norm.std)
    for i in range(LATENCY_WARMUP):
        package.predict_arrays(x[i % len(x) : i % len(x) + 1])
    times = []
    for i in range(runs):
        one = x[i % len(x) : i % len(x) + 1]
        t = time.perf_counter()
        package.predict_arrays(one)
        times.append((time.perf_counter() - t) * 1000)
    ms = np.asarray(times)
    out = {latency_key(p): float(np.percentile(ms, p)) for p in percentiles}
    out["latency_mean_ms"] = float(ms.mean())
    return out


def latency_key(percentile: float) -> str:
    """``latency_p95_ms`` for 95; ``latency_p99_9_ms`` for 99.9."""
    return f"latency_p{percentile:g}_ms".replace(".", "_")


def package_size_mb(package: ModelPackage) -> float:
    return (package.path / package.spec.onnx.file).stat().st_size / 1e6


# -- the checks ---------------------------------------------------------------------------


def run_eval_tests(
    package: ModelPackage,
    data: EvalData,
    config: EvalTestsConfig | None = None,
    *,
    previous: ModelPackage | None = None,
) -> EvalTestReport:
    """Run every check ``config`` declares, plus the built-in ones, on ``data``."""
    from dlstack.config import EvalTestsConfig

    cfg = config if config is not None else EvalTestsConfig()
    if len(data) == 0:
        raise DataError(f"no examples to test on in split {data.split!r}")
    started = time.perf_counter()
    values, targets, probabilities = package_metrics(package, data)
    percentiles = sorted({*DEFAULT_PERCENTILES, cfg.latency_percentile})
    values.update(measure_latency(package, data.images, percentiles=percentiles))
    values["size_mb"] = package_size_mb(package)
    _check_names(cfg, values, data)

    checks: list[EvalCheck] = []
    checks += _metric_checks(cfg, values)
    checks += _slice_checks(cfg, package, data, targets, probabilities)
    checks += _budget_checks(cfg, package, data, values)
    checks += _invariance_checks(cfg, package, data, probabilities)
    checks += _directional_checks(cfg, package, data, targets, probabilities)
    checks.append(_stability_check(package, data, probabilities))
    checks.append(_skew_check(cfg, package, data, probabilities))
    if previous is not None:
        checks += _regression_checks(cfg, package, previous, data, values)
    if cfg.max_age_days is not None:
        checks.append(_staleness_check(package, cfg.max_age_days))
    return EvalTestReport(
        package=str(package.path),
        name=package.spec.name,
        version=package.spec.version,
        data_version=data.data_version,
        split=data.split,
        n=len(data),
        checks=checks,
        metrics={k: v for k, v in values.items() if "[" not in k},
        seconds=time.perf_counter() - started,
    )


def _check_names(cfg: EvalTestsConfig, values: Mapping[str, float], data: EvalData) -> None:
    known = sorted(k for k in values if "[" not in k)
    for section, mapping in (("min_metrics", cfg.min_metrics), ("max_metrics", cfg.max_metrics)):
        for name in mapping:
            if name not in values:
                raise ConfigError(
                    f"tests.{section} names {name!r}, which is not a metric here; known: "
                    f"{', '.join(known)}, and per class e.g. 'recall[{data.classes[0]}]'"
                )
    slice_names = ("accuracy", "error", "precision", "recall", "f1")
    for i, s in enumerate(cfg.slices):
        bad = [m for m in s.min_metrics if m not in slice_names]
        if bad:
            raise ConfigError(
                f"tests.slices[{i}].min_metrics names {', '.join(map(repr, bad))}; a slice "
                f"has {', '.join(slice_names)}"
            )
        if s.by != CLASS_KEY and (data.metadata is None or s.by not in data.metadata):
            have = [CLASS_KEY, *sorted((data.metadata or {}).keys())]
            raise ConfigError(
                f"tests.slices[{i}].by = {s.by!r} is not in the examples' metadata; "
                f"available: {', '.join(have)} (metadata comes from the ingest manifest's "
                f"columns)"
            )


def _metric_checks(cfg: EvalTestsConfig, values: Mapping[str, float]) -> list[EvalCheck]:
    out = []
    for name, bound in cfg.min_metrics.items():
        ok, measured, _ = Constraint.parse(f"{name} >= {bound!r}", "tests").check(values)
        out.append(EvalCheck(f"{name} >= {bound:g}", "metric", ok, measured, bound))
    for name, bound in cfg.max_metrics.items():
        ok, measured, _ = Constraint.parse(f"{name} <= {bound!r}", "tests").check(values)
        out.append(EvalCheck(f"{name} <= {bound:g}", "metric", ok, measured, bound))
    return out


def _slice_checks(
    cfg: EvalTestsConfig,
    package: ModelPackage,
    data: EvalData,
    targets: np.ndarray,
    probabilities: np.ndarray,
) -> list[EvalCheck]:
    out = []
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    for s in cfg.slices:
        groups = {} if s.by == CLASS_KEY else {s.by: (data.metadata or {})[s.by]}
        rows = slice_metrics(
            targets,
            predictions,
            len(package.labels),
            groups,
            classes=package.labels,
            include_classes=s.by == CLASS_KEY,
        )
        judged = [r for r in rows if r.n >= s.min_examples]
        small = [r for r in rows if r.n < s.min_examples]
        for metric, bound in s.min_metrics.items():
            low = lower_is_better(metric)
            failing = [
                r
                for r in judged
                if (r.metrics[metric] > bound if low else r.metrics[metric] < bound)
            ]
            pick = max if low else min
            worst = pick(judged, key=lambda r: r.metrics[metric]) if judged else None
            op = "<=" if low else ">="
            parts = [f"{len(judged)} slices judged"]
            if worst:
                parts.append(f"worst {worst.value!r} ({worst.n} examples)")
            if failing:
                shown = ", ".join(f"{r.value!r} {r.metrics[metric]:.3f}" for r in failing[:8])
                parts.append(f"failing: {shown}")
            if small:
                parts.append(f"{len(small)} slice(s) under {s.min_examples} examples not judged")
            detail = "; ".join(parts)
            out.append(
                EvalCheck(
                    f"every {s.by} slice: {metric} {op} {bound:g}",
                    "slice",
                    bool(judged) and not failing,
                    worst.metrics[metric] if worst else None,
                    bound,
                    detail if judged else f"no slice of {s.by} has {s.min_examples}+ examples",
                )
            )
    return out


def _budget_checks(
    cfg: EvalTestsConfig, package: ModelPackage, data: EvalData, values: Mapping[str, float]
) -> list[EvalCheck]:
    out = []
    if cfg.max_latency_ms is not None:
        key = latency_key(cfg.latency_percentile)
        measured = values[key]
        out.append(
            EvalCheck(
                f"{key} <= {cfg.max_latency_ms:g}",
                "latency",
                measured <= cfg.max_latency_ms,
                measured,
                cfg.max_latency_ms,
                f"single-image calls, {LATENCY_RUNS} timed after {LATENCY_WARMUP} warm-up; "
                f"p50 {values['latency_p50_ms']:.3f} ms",
            )
        )
    if cfg.max_size_mb is not None:
        size = values["size_mb"]
        out.append(
            EvalCheck(
                f"size_mb <= {cfg.max_size_mb:g}",
                "size",
                size <= cfg.max_size_mb,
                size,
                cfg.max_size_mb,
                f"{package.spec.onnx.file}",
            )
        )
    return out


def _invariance_checks(
    cfg: EvalTestsConfig, package: ModelPackage, data: EvalData, probabilities: np.ndarray
) -> list[EvalCheck]:
    out = []
    before = probabilities.argmax(axis=1)
    background = package.spec.input.background
    for i, inv in enumerate(cfg.invariance):
        changed_images = perturb(
            data.images, inv.transform, inv.amount, background=background, seed=cfg.seed + i
        )
        after = _probabilities(package, changed_images).argmax(axis=1)
        rate = float((after != before).mean())
        out.append(
            EvalCheck(
                f"invariance: {describe_transform(inv.transform, inv.amount)}",
                "invariance",
                rate <= inv.max_changed,
                rate,
                inv.max_changed,
                f"{int((after != before).sum())} of {len(before)} predictions changed "
                f"(at most {inv.max_changed:.1%} allowed)",
            )
        )
    return out


def _directional_checks(
    cfg: EvalTestsConfig,
    package: ModelPackage,
    data: EvalData,
    targets: np.ndarray,
    probabilities: np.ndarray,
) -> list[EvalCheck]:
    out = []
    rows = np.arange(len(targets))
    before = probabilities[rows, targets]
    background = package.spec.input.background
    for i, d in enumerate(cfg.directional):
        changed = perturb(
            data.images, d.transform, d.amount, background=background, seed=cfg.seed + 100 + i
        )
        after = _probabilities(package, changed)[rows, targets]
        moved = after < before if d.expect == "decrease" else after > before
        rate = float(moved.mean())
        out.append(
            EvalCheck(
                f"directional: {describe_transform(d.transform, d.amount)} -> true-class "
                f"probability {d.expect}s",
                "directional",
                rate >= d.min_rate,
                rate,
                d.min_rate,
                f"moved as expected for {int(moved.sum())} of {len(moved)} examples; mean "
                f"true-class probability {before.mean():.3f} -> {after.mean():.3f}",
            )
        )
    return out


def _stability_check(package: ModelPackage, data: EvalData, probabilities: np.ndarray) -> EvalCheck:
    """Finite probabilities that sum to 1, on the data and on extreme inputs."""
    h, w = data.images.shape[1:]
    rng = np.random.default_rng(0)
    extremes = np.stack(
        [
            np.zeros((h, w), np.uint8),
            np.full((h, w), 255, np.uint8),
            rng.integers(0, 256, (h, w), dtype=np.uint8),
            (np.indices((h, w)).sum(axis=0) % 2 * 255).astype(np.uint8),  # checkerboard
        ]
    )
    extreme_probs = _probabilities(package, extremes)
    problems = []
    for what, p in (("the data", probabilities), ("extreme inputs", extreme_probs)):
        if not np.isfinite(p).all():
            problems.append(f"{int((~np.isfinite(p)).any(axis=1).sum())} NaN/inf rows on {what}")
        elif np.abs(p.sum(axis=1) - 1).max() > 1e-3:
            problems.append(f"probabilities on {what} do not sum to 1")
    return EvalCheck(
        "numerical stability: finite probabilities",
        "stability",
        not problems,
        float(len(problems)),
        0.0,
        "; ".join(problems)
        or f"{len(probabilities)} examples and {len(extremes)} extreme inputs (blank, "
        f"saturated, noise, checkerboard) give finite probabilities",
    )


def _skew_check(
    cfg: EvalTestsConfig, package: ModelPackage, data: EvalData, probabilities: np.ndarray
) -> EvalCheck:
    """Serving path (PNG bytes -> preprocess) against the training path (arrays)."""
    from PIL import Image

    n = min(len(data), SKEW_SAMPLE)
    encoded = []
    for image in data.images[:n]:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    served = package.predict_images(encoded, top_k=len(package.labels))
    index = {label: i for i, label in enumerate(package.labels)}
    serve_pred = np.array([index[p.label] for p in served])
    train_pred = probabilities[:n].argmax(axis=1)
    differ = serve_pred != train_pred
    rate = float(differ.mean())
    serve_probs = np.array(
        [[dict(p.top_k)[label] for label in package.labels] for p in served], dtype=np.float64
    )
    gap = float(np.abs(serve_probs - probabilities[:n]).max())
    notices = sorted({note for p in served for note in p.notices})
    detail = (
        f"{int(differ.sum())} of {n} predictions differ between predict_images (serving) and "
        f"predict_arrays (training); max probability gap {gap:.2g}"
    )
    if notices:
        detail += f"; serving preprocessing said: {'; '.join(notices[:3])}"
    return EvalCheck(
        f"training/serving skew <= {cfg.max_skew:g}",
        "skew",
        rate <= cfg.max_skew,
        rate,
        cfg.max_skew,
        detail,
    )


def _regression_checks(
    cfg: EvalTestsConfig,
    package: ModelPackage,
    previous: ModelPackage,
    data: EvalData,
    values: Mapping[str, float],
) -> list[EvalCheck]:
    before, _, _ = package_metrics(previous, data)
    # Both latencies measured now, on this machine: a fair comparison.
    old_latency = measure_latency(previous, data.images)["latency_p50_ms"]
    new_latency = measure_latency(package, data.images)["latency_p50_ms"]
    drop = before["accuracy"] - values["accuracy"]
    increase = new_latency / old_latency - 1 if old_latency > 0 else 0.0
    who = f"v{previous.spec.version}"
    return [
        EvalCheck(
            f"accuracy drop vs {who} <= {cfg.max_accuracy_drop:g}",
            "regression",
            drop <= cfg.max_accuracy_drop,
            drop,
            cfg.max_accuracy_drop,
            f"accuracy {before['accuracy']:.4f} ({who}) -> {values['accuracy']:.4f}",
        ),
        EvalCheck(
            f"latency increase vs {who} <= {cfg.max_latency_increase:.0%}",
            "latency_regression",
            increase <= cfg.max_latency_increase,
            increase,
            cfg.max_latency_increase,
            f"p50 {old_latency:.3f} ms ({who}) -> {new_latency:.3f} ms",
        ),
    ]


def _staleness_check(package: ModelPackage, max_age_days: float) -> EvalCheck:
    created = package.spec.created
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return EvalCheck(
            f"age <= {max_age_days:g} days",
            "staleness",
            False,
            None,
            max_age_days,
            f"model.json has no readable created time ({created!r})",
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - when).total_seconds() / 86400
    return EvalCheck(
        f"age <= {max_age_days:g} days",
        "staleness",
        age <= max_age_days,
        age,
        max_age_days,
        f"created {created}",
    )


# -- projects -----------------------------------------------------------------------------


def eval_data(
    project: Project,
    *,
    version: str | None = None,
    split: str = "test",
    metadata: bool = True,
) -> EvalData:
    """A data version's ``split`` (HEAD by default), with example metadata for slices."""
    from dlstack.data import DataRepo

    repo = DataRepo.open(project)
    try:
        if repo.head() is None:
            raise DataError(
                "the project has no data version yet; run `dlstack data ingest` and "
                "`dlstack data commit -m MSG` (or `dlstack run`)"
            )
        ref = version or "HEAD"
        # "<id>+<step>...": data derived by the project's declared steps (cached).
        _, snapshot = repo.checkout(ref.split("+", 1)[0], progress=False)
        if "+" in ref:
            snapshot, _ = repo.run_steps(snapshot, project)
    finally:
        repo.close()
    arrays = snapshot.split(split)
    meta = None
    if metadata:
        from dlstack.evaluate._slices import example_metadata

        meta = example_metadata(project, arrays.ids)
    return EvalData(
        np.asarray(arrays.images),
        np.asarray(arrays.labels, dtype=np.int64),
        tuple(snapshot.classes),
        np.asarray(arrays.ids),
        meta,
        snapshot.version,
        split,
    )


def check_package(
    project: Project,
    package_path: str | Path,
    *,
    version: str | None = None,
    write: bool = True,
) -> EvalTestReport:
    """`dlstack test`: load the package, test it on its data version (or ``version``).

    The previous version of the package, if any, is the reference for regressions. With
    ``write`` the report is saved under ``.dlstack/tests/`` for `dlstack score`.
    """
    from dlstack.package import load_package, previous_version

    package = load_package(package_path)
    cfg = project.config.tests
    ref = version or package.spec.data_version or "HEAD"
    try:
        data = eval_data(project, version=ref, split=cfg.split)
    except DataError as e:
        if version is None and package.spec.data_version:
            raise DataError(
                f"{e}; the package was trained on data version "
                f"{package.spec.data_version[:12]}, which this project cannot check out; "
                f"pass --data HEAD (or a version) to test it on other data"
            ) from None
        raise
    older = previous_version(package.path)
    previous = None
    if older is not None:
        try:
            previous = load_package(older)
        except Exception:  # a damaged old version is no reason not to test this one
            previous = None
    report = run_eval_tests(package, data, cfg, previous=previous)
    if write:
        report.write_json(project.state_dir / RESULTS_DIR)
    return report


def latest_results(project: Project) -> list[dict[str, Any]]:
    """Every saved `dlstack test` result of the project, newest first."""
    folder = project.state_dir / RESULTS_DIR
    if not folder.is_dir():
        return []
    out: list[tuple[str, int, dict[str, Any]]] = []
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("schema") == 1 and "checks" in record:
            record["_path"] = str(path)
            # created is to the second; the file's mtime orders results within one
            out.append((str(record.get("created", "")), path.stat().st_mtime_ns, record))
    return [r for _, _, r in sorted(out, key=lambda x: (x[0], x[1]), reverse=True)]


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
