"""The ``dlstack`` command: one verb per lifecycle stage.

Exit codes (DESIGN.md): 0 ok, 1 a check failed, 2 a user mistake; anything else is a bug.
"""

from __future__ import annotations

import sys
import warnings
from typing import TextIO

import typer

from dlstack.cli._common import err_console, styled
from dlstack.errors import DlstackError, DlstackWarning

__all__ = ["TRAIN_EXTRA_MODULES", "app", "main"]

# What `pip install 'dlstack[train]'` adds to the base install (pyproject.toml).
TRAIN_EXTRA_MODULES = frozenset(
    {"torch", "lightning", "torchmetrics", "mlflow", "mlxtend", "sklearn", "onnx", "onnxscript"}
)

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
    from dlstack.cli import _data as data
    from dlstack.cli import _doctor as doctor
    from dlstack.cli import _evaluate as evaluate
    from dlstack.cli import _label as label
    from dlstack.cli import _lifecycle as lifecycle
    from dlstack.cli import _model as model
    from dlstack.cli import _serve as serve
    from dlstack.cli import _tune as tune

    app.add_typer(data.app, name="data")
    for module in (lifecycle, model, tune, doctor, evaluate, serve, label):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; turns DlstackError into one line and an exit code.

    Click's standalone mode handles usage errors (exit 2) and Ctrl-C; a DlstackError from
    any stage becomes ``error: <message>`` on stderr and its exit code, without traceback.
    """
    _register()
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=True)
    except DlstackError as e:
        err_console.print(styled("[bold red]error:[/] {e}", e=e), soft_wrap=True)
        sys.exit(e.exit_code)
    except ModuleNotFoundError as e:
        root = (e.name or "").split(".")[0]
        if root not in TRAIN_EXTRA_MODULES:
            raise
        # The base install serves without torch; a verb that trains says what to install.
        err_console.print(
            styled(
                "[bold red]error:[/] this command needs {root}, which the base install leaves "
                "out; install the training extra: {fix}",
                root=root,
                fix="pip install 'dlstack[train]'",
            ),
            soft_wrap=True,
        )
        sys.exit(2)


_default_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """dlstack's own warnings as one readable line; anything else as Python prints it."""
    if issubclass(category, DlstackWarning):
        err_console.print(styled("[yellow]warning:[/] {text}", text=message), soft_wrap=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)
