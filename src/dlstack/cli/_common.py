"""What every CLI module shares: consoles, the project option, small table helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dlstack.config import Project, load_project

console = Console()
err_console = Console(stderr=True)

ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Project directory (holds dlstack.toml).",
        show_default="current directory",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def open_project(path: Path) -> Project:
    return load_project(path)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
