"""`dlstack train`, `evaluate`, `export` (alias `package`) and `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlstack.cli._common import ProjectOpt, QuietOpt, console, open_project, styled, table
from dlstack.cli._lifecycle import print_evaluation

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
    quiet: QuietOpt = False,
) -> None:
    """Train with the practice's defaults on a data version; tracked in MLflow."""
    from dlstack.data import snapshot_for
    from dlstack.lifecycle import preflight
    from dlstack.train import fit

    proj = open_project(project)
    _, snapshot = snapshot_for(proj, version, steps=True, progress=not quiet)
    preflight(proj, snapshot)
    result = fit(proj, snapshot, resume=True if resume == "last" else resume, progress=not quiet)
    last = result.history[-1] if result.history else {}
    console.print(
        table(
            f"run {result.run_id}",
            ["epochs", "val_acc", "val_loss", "checkpoint"],
            [
                [
                    len(result.history),
                    last.get("val_acc"),
                    last.get("val_loss"),
                    result.best_checkpoint,
                ]
            ],
        )
    )


def evaluate(project: ProjectOpt = Path("."), run: RunOpt = None, quiet: QuietOpt = False) -> None:
    """Test-set metrics of a run beside the majority-class and logistic-regression baselines."""
    from dlstack.data import snapshot_for
    from dlstack.lifecycle import details_of, evaluate_run
    from dlstack.train import load_run

    proj = open_project(project)
    result = load_run(proj, run)
    version, snapshot = snapshot_for(proj, result.data_version, progress=not quiet)
    evaluation, baselines = evaluate_run(result, snapshot, proj)
    print_evaluation(
        evaluation,
        baselines,
        title=f"run {result.run_id} on data version "
        f"{version.short} (test, {evaluation.n} examples)",
        details=details_of(proj, evaluation, baselines),  # verdicts by the project's objective
    )


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
        list[Path],
        typer.Argument(help="Image files; for a table model, CSV/JSONL/Parquet files of rows."),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="How many classes to list.")] = 1,
) -> None:
    """Label images (or table rows) with a model package, using onnxruntime only (no torch)."""
    from dlstack.package import load_package

    pkg = load_package(package)
    if pkg.spec.input.kind == "table":
        names, preds = _predict_rows(pkg, images, top_k)
        what = "row"
    else:
        names, preds = [str(p) for p in images], pkg.predict_images(list(images), top_k=top_k)
        what = "image"
    header = f"{pkg.spec.name} v{pkg.spec.version}: {what}, label, confidence"
    console.print(styled("[dim]{header}[/]", header=header))
    for path, p in zip(names, preds, strict=True):
        others = "  ".join(f"{lab} {conf:.3f}" for lab, conf in p.top_k[1:])
        # One line per image, never wrapped: scripts can split it on whitespace.
        console.print(
            f"{path}  {p.label}  {p.confidence:.3f}" + (f"  ({others})" if others else ""),
            soft_wrap=True,
            highlight=False,
        )
        for notice in p.notices:
            console.print(styled("  [dim]note: {notice}[/]", notice=notice), soft_wrap=True)


def _predict_rows(
    pkg: ModelPackage, files: list[Path], top_k: int
) -> tuple[list[str], list[Prediction]]:
    """Every row of every file; columns the model does not take (the target, ids) are
    left out, and said so once."""
    from dlstack.data import read_rows

    columns = [c.name for c in pkg.spec.input.encoder().columns]
    names: list[str] = []
    rows: list[dict[str, object]] = []
    ignored: set[str] = set()
    for file in files:
        for i, row in enumerate(read_rows(file), start=1):
            ignored.update(k for k in row if k not in columns)
            rows.append({k: row.get(k) for k in columns})
            names.append(f"{file}:{i}")
    if ignored:
        console.print(
            styled(
                "[dim]note: columns the model does not take, left out: {c}[/]",
                c=", ".join(sorted(ignored)),
            ),
            soft_wrap=True,
        )
    return names, pkg.predict_rows(rows, top_k=top_k)
