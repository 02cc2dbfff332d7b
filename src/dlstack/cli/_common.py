"""What every CLI module shares: consoles, the project option, small table helpers.

Text that dlstack prints comes from users and from stored data (commit messages, file
names, tags, query results, error messages quoting them): the consoles never read it as
rich markup or emoji codes (`-m "fix [/x] labels"` once broke `data log` for everyone).
Styling is opt-in with :func:`styled`, which escapes every value it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dlstack.config import Project, load_project

console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def styled(template: str, **values: Any) -> Text:
    """``template``'s rich markup with ``values`` inserted as plain text.

    >>> styled("[bold]{name}[/]", name="[/x]").plain
    '[/x]'
    """
    return Text.from_markup(template.format(**{k: escape(str(v)) for k, v in values.items()}))


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
    """A table whose title, headers and cells are plain text (a ``Text`` cell keeps its
    style: make it with :func:`styled`)."""
    t = Table(title=Text(title), title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(Text(c))
    for r in rows:
        t.add_row(*[v if isinstance(v, Text) else Text(fmt(v)) for v in r])
    return t


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
