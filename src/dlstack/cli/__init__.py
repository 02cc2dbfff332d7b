"""The ``dlstack`` command: one verb per lifecycle stage.

Exit codes (DESIGN.md): 0 ok, 1 a check failed, 2 a user mistake; anything else is a bug.
"""

from __future__ import annotations

import sys

import typer

from dlstack.cli._common import console, err_console
from dlstack.errors import DlstackError

__all__ = ["app", "main"]

app = typer.Typer(
    name="dlstack",
    help="Take a deep-learning project from raw data to a served, monitored model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _register() -> None:
    # Imported here so that `dlstack --help` stays fast and each module stays small.
    from dlstack.cli import data, lifecycle, model

    app.add_typer(data.app, name="data")
    for module in (lifecycle, model):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; turns DlstackError into one line and an exit code."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except DlstackError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing half-written was kept")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click's usage errors and aborts carry their own exit code
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
    _ = console
