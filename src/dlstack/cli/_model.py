"""`dlstack train`, `evaluate`, `export` (alias `package`) and `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlstack.cli._common import ProjectOpt, QuietOpt, console, open_project, styled, table

if TYPE_CHECKING:
    from dlstack.package import ModelPackage, Prediction

RunOpt = Annotated[str | None, typer.Option("--run", help="Run id (default: the latest run).")]


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.command()(export)
    app.command(name="package", help="Alias of `export`.")(export)
    app.command()(predict)


def train(
    project: ProjectOpt = Path("."),
    version: Annotated[str, typer.Option(help="Data version to train on.")] = "HEAD",
    resume: Annotated[
        str | None,
        typer.Option(help="Continue a run from its last checkpoint: a run id, or 'last'."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE over dlstack.toml for this run ([train]/[model] keys, e.g. "
            "train.lr=1e-3); repeatable.",
        ),
    ] = None,
    from_trial: Annotated[
        int | None,
        typer.Option("--from-trial", help="Train with a tuning trial's parameters (its number)."),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="--from-trial: the study (default: the project's).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="--from-trial: the study's storage URL.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train with the practice's defaults on a data version; tracked in MLflow."""
    from dlstack.config import parse_override
    from dlstack.data import snapshot_for
    from dlstack.errors import ConfigError
    from dlstack.lifecycle import preflight
    from dlstack.train import fit, get_task

    proj = open_project(project)
    overrides: dict[str, object] = {}
    origin = None
    if from_trial is not None:
        from dlstack.tune import study_name, trial_overrides

        overrides.update(trial_overrides(proj, from_trial, study=study, storage=storage))
        origin = {"study": study_name(proj, study), "from_trial": from_trial}
    overrides.update(dict(parse_override(item) for item in set_ or []))
    if resume and overrides:
        raise ConfigError(
            "--resume continues a run with its own settings; --set and --from-trial start a "
            "new run. Use one or the other"
        )
    _, snapshot = snapshot_for(proj, version, steps=True, progress=not quiet)
    preflight(proj, snapshot)
    if overrides and not quiet:
        console.print("overrides: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    result = fit(
        proj,
        snapshot,
        resume=True if resume == "last" else resume,
        progress=not quiet,
        overrides=overrides,
        origin=origin,
        tags={} if origin is None else {"dlstack.from_trial": str(from_trial)},
    )
    last = result.history[-1] if result.history else {}
    monitor = get_task(proj.config.project.task).monitor  # val_acc, val_cer, val_rmse...
    console.print(
        table(
            f"run {result.run_id}",
            ["epochs", monitor, "val_loss", "checkpoint"],
            [
                [
                    len(result.history),
                    last.get(monitor),
                    last.get("val_loss"),
                    result.best_checkpoint,
                ]
            ],
        )
    )


def evaluate(project: ProjectOpt = Path("."), run: RunOpt = None, quiet: QuietOpt = False) -> None:
    """Test-set metrics of a run beside its baselines and reference points, under the
    objective; rewrites the run's report.html (and evaluation.json) from them."""
    from dlstack.cli._evaluation import report_evaluation
    from dlstack.data import snapshot_for
    from dlstack.lifecycle import evaluate_run
    from dlstack.train import load_run

    proj = open_project(project)
    result = load_run(proj, run)
    version, snapshot = snapshot_for(proj, result.data_version, progress=not quiet)
    evaluation, baselines = evaluate_run(result, snapshot, proj)
    report_evaluation(proj, result, version, snapshot, evaluation, baselines)


def export(project: ProjectOpt = Path("."), run: RunOpt = None, quiet: QuietOpt = False) -> None:
    """Export a run as a model package (model.onnx + model.json), checked against torch."""
    from dlstack.data import snapshot_for
    from dlstack.lifecycle import evaluate_run, export_run
    from dlstack.train import load_run

    proj = open_project(project)
    result = load_run(proj, run)
    _, snapshot = snapshot_for(proj, result.data_version, progress=not quiet)
    evaluation, _ = evaluate_run(result, snapshot)
    path = export_run(proj, result, snapshot, evaluation)
    console.print(f"model package: {path}")


def predict(
    package: Annotated[Path, typer.Argument(help="A model package directory (or its name dir).")],
    images: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Image files; for a table model, CSV/JSONL/Parquet files of rows; for a "
            "model of an image and features, images with --row, or manifests naming each "
            "image in a 'path' column beside the feature columns.",
            show_default=False,
        ),
    ] = None,
    row: Annotated[
        str | None,
        typer.Option(
            "--row",
            help="Table row(s) as JSON {column: value} (a list: one per image), or a JSON "
            "file of them; for a model of an image and features, or of features alone.",
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many classes to list.")] = 1,
) -> None:
    """Label images (or table rows, or both) with a model package, using onnxruntime only."""
    from dlstack.errors import DataError
    from dlstack.package import load_package

    pkg = load_package(package)
    files = list(images or [])
    kinds = {i.kind for i in pkg.spec.inputs}
    rows = _rows_option(row) if row is not None else None
    if rows is not None and "table" not in kinds:
        raise DataError(f"--row: package {pkg.spec.name} takes images only; leave --row out")
    if not files and rows is None:
        what = "image files" if "image" in kinds else "files of rows, or --row"
        raise DataError(f"give {what} to predict (package {pkg.spec.name})")
    if kinds == {"image", "table"}:
        if rows is not None:
            names, preds = [str(p) for p in files], pkg.predict(files, rows, top_k=top_k)
        else:
            names, preds = _predict_manifests(pkg, files, top_k)
        what = "image + row"
    elif "table" in kinds:
        if rows is not None:
            names, preds = [f"row {i + 1}" for i in range(len(rows))], pkg.predict_rows(rows, top_k)
        else:
            names, preds = _predict_rows(pkg, files, top_k)
        what = "row"
    else:
        names, preds = [str(p) for p in files], pkg.predict_images(files, top_k=top_k)
        what = "image"
    header = f"{pkg.spec.name} v{pkg.spec.version}: {what}, {_ANSWER_HEADER[pkg.task]}"
    console.print(styled("[dim]{header}[/]", header=header))
    for path, p in zip(names, preds, strict=True):
        # One line per image, never wrapped: scripts can split it on whitespace.
        console.print(f"{path}  {_answer(p)}", soft_wrap=True, highlight=False)
        for notice in p.notices:
            console.print(styled("  [dim]note: {notice}[/]", notice=notice), soft_wrap=True)


# What `dlstack predict` prints after each input's name, per task.
_ANSWER_HEADER = {
    "classification": "label, confidence",
    "multilabel": "labels given ('-': none), each class's probability",
    "regression": "the predicted number(s)",
    "ctc": "the text read (JSON-quoted), its least sure character's confidence",
}


def _answer(p: Prediction) -> str:
    """One prediction on one line: ``7  0.981  (1 0.012)``; ``cat,dog  (cat 0.93 ...)``;
    ``151.2`` or ``y1 1.5  y2 -2``; a line's text, quoted (it may hold spaces):
    ``"12 05"  0.981``."""
    if p.task == "ctc":
        import json

        return f"{json.dumps(p.label)}  {p.confidence:.3f}"
    if p.task == "regression":
        if len(p.values) == 1:
            return f"{next(iter(p.values.values())):.6g}"
        return "  ".join(f"{name} {value:.6g}" for name, value in p.values.items())
    if p.task == "multilabel":
        scores = "  ".join(f"{lab} {conf:.3f}" for lab, conf in p.top_k)
        return f"{','.join(p.labels) or '-'}  ({scores})"
    others = "  ".join(f"{lab} {conf:.3f}" for lab, conf in p.top_k[1:])
    return f"{p.label}  {p.confidence:.3f}" + (f"  ({others})" if others else "")


def _rows_option(text: str) -> list[dict[str, object]]:
    """--row: a JSON object or list of objects, given inline or as a file's path."""
    import json

    from dlstack.errors import DataError

    source = Path(text)
    try:
        doc = json.loads(source.read_text() if source.is_file() else text)
    except (OSError, ValueError) as e:
        raise DataError(
            f"--row must be JSON {{column: value}} (or a list of them, or a JSON file), got "
            f"{text[:60]!r} ({e})"
        ) from None
    rows = doc if isinstance(doc, list) else [doc]
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise DataError(
            f"--row must be an object of column: value (or a list of them), got {text[:60]!r}"
        )
    return rows


def _table_columns(pkg: ModelPackage) -> list[str]:
    return [c.name for c in pkg.encoder.columns]


def _read_manifest_rows(
    files: list[Path], columns: list[str]
) -> tuple[list[str], list[dict[str, object]], list[dict[str, object]], set[str]]:
    """(names, rows of ``columns``, the files' full rows, the columns left out)."""
    from dlstack.data import read_rows

    names: list[str] = []
    rows: list[dict[str, object]] = []
    full: list[dict[str, object]] = []
    ignored: set[str] = set()
    for file in files:
        for i, found in enumerate(read_rows(file), start=1):
            ignored.update(k for k in found if k not in columns)
            rows.append({k: found.get(k) for k in columns})
            full.append(found)
            names.append(f"{file}:{i}")
    return names, rows, full, ignored


def _left_out(ignored: set[str]) -> None:
    if ignored:
        console.print(
            styled(
                "[dim]note: columns the model does not take, left out: {c}[/]",
                c=", ".join(sorted(ignored)),
            ),
            soft_wrap=True,
        )


def _predict_rows(
    pkg: ModelPackage, files: list[Path], top_k: int
) -> tuple[list[str], list[Prediction]]:
    """Every row of every file; columns the model does not take (the target, ids) are
    left out, and said so once."""
    names, rows, _, ignored = _read_manifest_rows(files, _table_columns(pkg))
    _left_out(ignored)
    return names, pkg.predict_rows(rows, top_k=top_k)


def _predict_manifests(
    pkg: ModelPackage, files: list[Path], top_k: int
) -> tuple[list[str], list[Prediction]]:
    """Every row of every manifest: its 'path' image (relative to the manifest) with its
    feature columns, as ingest reads a manifest of two inputs."""
    from dlstack.errors import DataError
    from dlstack.inputs import MANIFEST_SUFFIXES

    not_manifests = [str(f) for f in files if f.suffix.lower() not in MANIFEST_SUFFIXES]
    if not_manifests:
        raise DataError(
            f"package {pkg.spec.name} takes an image and a table row per example: give the "
            f"row with --row JSON, or manifests ({', '.join(MANIFEST_SUFFIXES)}) with a "
            f"'path' column; got {', '.join(not_manifests[:3])}"
        )
    names, rows, full, ignored = _read_manifest_rows(files, _table_columns(pkg))
    images: list[Path] = []
    for name, found, file in zip(names, full, _file_of_each(files, names), strict=True):
        if not str(found.get("path") or "").strip():
            raise DataError(f"{name} has no 'path': name the row's image file in it")
        images.append(file.parent / str(found["path"]).strip())
    _left_out(ignored - {"path"})
    return names, pkg.predict(images, rows, top_k=top_k)


def _file_of_each(files: list[Path], names: list[str]) -> list[Path]:
    """The manifest each row name (``FILE:i``) came from."""
    by_name = {str(f): f for f in files}
    return [by_name[n.rsplit(":", 1)[0]] for n in names]
