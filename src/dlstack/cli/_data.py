"""`dlstack data ...`: ingest, status, commit, log, show, checkout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import DataRepo

from dlstack.cli._common import ProjectOpt, QuietOpt, console, open_project, styled, table

app = typer.Typer(
    help="Version the data: ingest, commit, log, show, checkout.", no_args_is_help=True
)


def _repo(project_dir: Path) -> tuple[Project, DataRepo]:
    from dlstack.data import DataRepo

    project = open_project(project_dir)
    return project, DataRepo.open(project)


@app.command()
def ingest(
    project: ProjectOpt = Path("."),
    source: Annotated[str | None, typer.Option(help="Overrides data.source.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Store the source's examples and stage them for the next commit."""
    from dlstack.cli._lifecycle import print_ingest

    proj, repo = _repo(project)
    cfg = proj.config.data
    report = repo.ingest(source or proj.source, split=cfg.split, seed=cfg.seed, progress=not quiet)
    print_ingest(report)


@app.command()
def status(project: ProjectOpt = Path(".")) -> None:
    """The working set against HEAD, the task, the image input and the classes."""
    from dlstack.data import data_status

    _, repo = _repo(project)
    st = data_status(repo)
    head = st.head.short if st.head is not None else "- (no version yet)"
    rows: list[list[Any]] = [
        ["HEAD", head],
        [
            "working set",
            ", ".join(f"{k} {v}" for k, v in st.staged.items())
            + (" (not committed)" if st.uncommitted else ""),
        ],
        ["task", st.task],
        ["input", st.input or "table rows"],
        ["alphabet" if st.task == "ctc" else "classes", _classes_text(st.task, st.classes)],
    ]
    if st.composed_with is not None:
        rows.append(["composed with", _composed_text(st.composed_with)])
    console.print(table("data status", ["field", "value"], rows))


def _classes_text(task: str, classes: tuple[str, ...]) -> str:
    if task == "ctc":  # one character each; repr shows the space
        return " ".join(repr(c) for c in classes)
    return ", ".join(classes)


def _composed_text(record: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in record.get("counts", {}).items())
    params = ", ".join(f"{k} = {v}" for k, v in record.get("params", {}).items())
    return f"{record.get('source', '')}: {counts} lines, seed {record.get('seed')}; {params}"


@app.command()
def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="What changed and why.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Record the staged examples as a new immutable version."""
    _, repo = _repo(project)
    version = repo.commit(message)
    if version is None:
        head = repo.head()
        console.print(f"nothing to commit: the data equals version {head.short if head else '-'}")
        return
    counts = ", ".join(f"{k} {v}" for k, v in version.counts.items())
    console.print(
        styled(
            "committed version [bold]{short}[/] ({n} examples: {counts})",
            short=version.short,
            n=version.n_examples,
            counts=counts,
        )
    )


@app.command()
def log(project: ProjectOpt = Path(".")) -> None:
    """List the versions, newest first."""
    _, repo = _repo(project)
    rows = [
        [
            v.short,
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            v.author,
            v.n_examples,
            " / ".join(str(v.counts.get(s, 0)) for s in ("train", "val", "test")),
            v.message,
        ]
        for v in repo.log()
    ]
    if not rows:
        console.print("no versions yet: `dlstack data ingest` then `dlstack data commit -m ...`")
        return
    console.print(
        table(
            "data versions",
            ["version", "created (UTC)", "author", "examples", "train / val / test", "message"],
            rows,
        )
    )


@app.command()
def show(
    version: Annotated[str, typer.Argument()] = "HEAD", project: ProjectOpt = Path(".")
) -> None:
    """Show one version."""
    _, repo = _repo(project)
    v = repo.resolve(version)
    task = repo.task()
    rows: list[list[Any]] = [
        ["id", v.id],
        ["parent", v.parent[:12] if v.parent else "-"],
        ["message", v.message],
        ["author", v.author],
        ["created (UTC)", v.created_at.isoformat(timespec="seconds")],
        ["examples", v.n_examples],
        ["splits", v.counts],
        ["alphabet" if task == "ctc" else "classes", _classes_text(task, v.classes)],
    ]
    composed = repo.composed_with(v.id)
    if composed is not None:
        rows.append(["composed with", _composed_text(composed)])
    console.print(table(f"version {v.short}", ["field", "value"], rows))


@app.command()
def checkout(
    version: Annotated[str, typer.Argument()] = "HEAD",
    project: ProjectOpt = Path("."),
    quiet: QuietOpt = False,
) -> None:
    """Materialize a version as local files that training reads fast."""
    proj, repo = _repo(project)
    v, snap = repo.checkout(version, progress=not quiet)
    shape = (
        f"{len(snap.table.columns)} columns"
        if snap.table is not None
        else f"lines of height {snap.input_shape[0]}, up to {snap.input_shape[1]} wide"
        if snap.widths is not None
        else "x".join(str(d) for d in snap.input_shape[:2])
    )
    console.print(
        f"version {v.short} -> {proj.snapshots_dir / v.short} ({len(snap.labels)} examples, "
        f"{shape})"
    )


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Older version.")],
    b: Annotated[str, typer.Argument(help="Newer version.")] = "HEAD",
    project: ProjectOpt = Path("."),
) -> None:
    """What changed from version A to version B."""
    _, repo = _repo(project)
    va, vb = repo.resolve(a), repo.resolve(b)
    d = repo.diff(va.id, vb.id)
    console.print(
        table(
            f"{va.short} -> {vb.short}",
            ["change", "count", "examples"],
            [
                [
                    kind,
                    getattr(d, kind),
                    "; ".join(f"{k[:10]} {x}->{y}".strip() for k, x, y in d.examples.get(kind, [])),
                ]
                for kind in ("added", "removed", "relabeled", "moved", "unchanged")
            ],
        )
    )


@app.command()
def tag(
    name: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument()] = "HEAD",
    project: ProjectOpt = Path("."),
) -> None:
    """Name a version (tags never move)."""
    _, repo = _repo(project)
    v = repo.tag(name, version)
    console.print(f"tagged {v.short} as {name}")


@app.command()
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="DuckDB SQL over lake datasets and catalog "
            "tables (examples, versions, version_rows, ...)."
        ),
    ],
    project: ProjectOpt = Path("."),
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
    allow_files: Annotated[
        bool,
        typer.Option(
            "--allow-files", help="Let the SQL read and write files (COPY, read_csv, ATTACH)."
        ),
    ] = False,
) -> None:
    """Query the data lake and the catalog with SQL (read-only unless --allow-files)."""
    _, repo = _repo(project)
    result = repo.query(sql, allow_files=allow_files)
    rows = result.slice(0, limit).to_pylist()
    console.print(
        table(
            f"{result.num_rows} rows", list(result.column_names), [list(r.values()) for r in rows]
        )
    )
    if result.num_rows > limit:
        console.print(f"... {result.num_rows - limit} more (use --limit)")


@app.command()
def verify(
    project: ProjectOpt = Path("."),
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Remove damaged objects (re-ingest restores them) and damaged snapshots "
            "(the next checkout rebuilds them).",
        ),
    ] = False,
) -> None:
    """Check every stored object and every snapshot against its hash (exit 1 if damaged)."""
    proj, repo = _repo(project)
    try:
        found = repo.verify(repair=repair, cache_dirs=(proj.steps_cache_dir,))
    finally:
        repo.close()
    rows: list[list[Any]] = [
        ["objects", found.objects, len(found.damaged_objects)],
        ["snapshots and cached steps", found.snapshots, len(found.damaged_snapshots)],
    ]
    console.print(table("data integrity", ["what", "checked", "damaged"], rows))
    for key in found.damaged_objects[:20]:
        console.print(f"damaged object {key}", highlight=False, markup=False)
    for _, why in found.damaged_snapshots:
        console.print(f"damaged snapshot: {why}", highlight=False, markup=False)
    if found.versions_affected:
        versions = ", ".join(v[:12] for v in found.versions_affected)
        console.print(f"versions holding damaged objects: {versions}", markup=False)
    if found.ok:
        console.print("everything matches its hash")
    elif repair:
        console.print(
            "removed what was damaged: run `dlstack data ingest` to store the objects again; "
            "checkouts rebuild the snapshots",
            markup=False,
        )
    else:
        console.print(
            "run `dlstack data verify --repair`, then `dlstack data ingest`", markup=False
        )
        raise typer.Exit(1)


@app.command(name="run")
def run_steps(
    version: Annotated[str, typer.Argument()] = "HEAD",
    project: ProjectOpt = Path("."),
    quiet: QuietOpt = False,
) -> None:
    """Run the declared data steps; only stale steps execute, cached ones are reported."""
    proj, repo = _repo(project)
    _, snap = repo.checkout(version, progress=not quiet)
    out, reports = repo.run_steps(snap, proj)
    if not reports:
        console.print("no data steps declared (\\[\\[data.steps]] in dlstack.toml)")
        return
    console.print(
        table(
            "data steps",
            ["step", "status", "seconds", "examples"],
            [[r.name, r.status, round(r.seconds, 2), r.examples] for r in reports],
        )
    )
    console.print(
        f"result: {len(out.labels)} examples, "
        + ", ".join(f"{k} {v}" for k, v in out.counts().items())
    )


@app.command()
def lineage(
    package: Annotated[Path, typer.Argument(help="A model package directory.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Which data version and which run produced a model package."""
    from dlstack.data import lineage as trace

    _, repo = _repo(project)
    info = trace(repo, package)
    m = info.model
    rows = [
        ["package", f"{m['name']} v{m['version']} ({info.package})"],
        ["created", m["created"]],
        ["run", m["run_id"]],
        ["MLflow run", m["mlflow_run_id"] or "-"],
        ["architecture", m["architecture"]],
        ["code version", m["code_version"]],
    ]
    if info.data_version is None:
        rows.append(["data version", f"{m['data_version']} (not in this project's catalog)"])
    else:
        v = info.data_version
        rows += [
            [
                "data version",
                f"{v.short} '{v.message}' by {v.author}, {v.created_at:%Y-%m-%d %H:%M}",
            ],
            ["examples", ", ".join(f"{k} {n}" for k, n in v.counts.items())],
        ]
        if info.derived_by:
            rows.append(["data steps", " -> ".join(info.derived_by)])
        rows.append(["data history", " <- ".join(x.short for x in info.history)])
    metrics = m.get("metrics") or {}
    if metrics:
        rows.append(
            [
                "metrics",
                ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, int | float)),
            ]
        )
    console.print(table("lineage", ["", ""], rows))


@app.command()
def rm(
    examples: Annotated[list[str], typer.Argument(help="Example ids (or 8+ character prefixes).")],
    project: ProjectOpt = Path("."),
) -> None:
    """Remove examples from the working set; the next commit records it (old versions keep them)."""
    _, repo = _repo(project)
    removed = repo.remove(examples)
    console.print(
        f"removed {len(removed)} example(s) from the working set; "
        f"`dlstack data commit -m MSG` records it"
    )
