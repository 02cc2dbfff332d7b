"""`dlstack serve` (the prediction server) and `dlstack monitor` (drift report).

`monitor` exits 1 when it flags drift, so a scheduled job can alert on it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlstack.cli._common import ProjectOpt, console, styled, table
from dlstack.errors import ConfigError, DataError

if TYPE_CHECKING:
    from dlstack.serve import OnlineAccuracy


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(monitor)


def serve(
    packages: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Model packages (.dlstack/models/NAME or NAME/N); default: every model "
            "of the project. A model folder (NAME) serves its newest version that passed "
            "its release gate.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOpt = Path("."),
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    batching: Annotated[
        bool | None, typer.Option("--batching/--no-batching", help="Adaptive batching.")
    ] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Rows per model call.")] = None,
    max_queue_delay_ms: Annotated[float | None, typer.Option(help="Batch fill wait.")] = None,
    latency_slo_ms: Annotated[float | None, typer.Option(help="Per-request deadline.")] = None,
    max_queue_size: Annotated[int | None, typer.Option(help="Rows queued per model.")] = None,
    allow_failed: Annotated[
        bool,
        typer.Option(
            "--allow-failed",
            help="Serve a version whose release gate failed (the newest one, or the one named).",
        ),
    ] = False,
    new_key: Annotated[
        str | None,
        typer.Option(
            "--new-key",
            metavar="ROLE",
            help="Print a new API key for ROLE (predict or admin) and the dlstack.toml "
            "lines that enable it, then exit.",
        ),
    ] = None,
) -> None:
    """Serve model packages over HTTP: Open Inference Protocol, /predict, a web page.

    Settings come from [serve] in dlstack.toml; options override them for this run.
    Without a version, each model serves its newest version that passed its release gate
    (`dlstack run` judges it); a failed version is refused unless --allow-failed.
    """
    if new_key is not None:
        _print_new_key(new_key)
        return
    from dlstack.config import CONFIG_FILE, ServeConfig, load_project
    from dlstack.serve import serve as run

    proj = load_project(project) if (project / CONFIG_FILE).is_file() else None
    base = proj.config.serve if proj is not None else ServeConfig()
    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "batching": batching,
            "max_batch_size": max_batch_size,
            "max_queue_delay_ms": max_queue_delay_ms,
            "latency_slo_ms": latency_slo_ms,
            "max_queue_size": max_queue_size,
        }.items()
        if v is not None
    }
    config = _override(base, overrides)
    paths = list(packages or [])
    if not paths:
        if proj is None:
            raise ConfigError(
                f"no {CONFIG_FILE} in {project.resolve()} and no PACKAGE given; pass model "
                f"packages or --project DIR"
            )
        from dlstack.package import ModelRepository

        root = proj.models_dir
        paths = [root / name for name in ModelRepository(root).names()]
        if not paths:
            raise DataError(f"no model packages in {root}; create one with `dlstack export`")
    paths = choose_versions(paths, allow_failed=allow_failed)
    console.print(
        f"serving {', '.join(str(p) for p in paths)} on http://{config.host}:{config.port} "
        f"(batching {'on' if config.batching else 'off'}, SLO {config.latency_slo_ms:g} ms); "
        f"docs at /docs, metrics at /metrics",
        highlight=False,
        soft_wrap=True,
    )
    run(paths, config=config, project=proj)


def choose_versions(paths: list[Path], *, allow_failed: bool = False) -> list[Path]:
    """Each path as the version dir to serve: a model folder gives its newest version that
    passed the release gate, a version dir is checked; the choice and its reason are
    printed. Other paths are left to the loader, whose error names them."""
    from dlstack.package import SPEC_FILE, check_servable, select_version, version_numbers

    chosen = []
    for path in paths:
        if (path.is_file() and path.name == SPEC_FILE) or (path / SPEC_FILE).is_file():
            selection = check_servable(path, allow_failed=allow_failed)
        elif path.is_dir() and version_numbers(path):
            selection = select_version(path, allow_failed=allow_failed)
        else:
            chosen.append(path)
            continue
        console.print(f"serving {selection.reason}", highlight=False, soft_wrap=True)
        chosen.append(selection.path)
    return chosen


def _override(base: Any, overrides: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from dlstack.config import ServeConfig, format_validation_error

    try:
        return ServeConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, ServeConfig)) from None


def _print_new_key(role: str) -> None:
    from dlstack.serve import ROLES, new_key

    if role not in ROLES:
        raise ConfigError(f"--new-key must be one of {', '.join(ROLES)}, got {role!r}")
    key, digest = new_key()
    console.print(
        f"key (give it to the client; it is not stored anywhere): {key}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f'add to dlstack.toml:\n\n[[serve.api_keys]]\nname = "{role}-key"\nrole = "{role}"\n'
        f'sha256 = "{digest}"',
        highlight=False,
        soft_wrap=True,
    )


def monitor(
    project: ProjectOpt = Path("."),
    model: Annotated[str | None, typer.Option(help="Model name (needed if several).")] = None,
    version: Annotated[int | None, typer.Option(help="One version (default: all).")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only predictions since: 7d, 24h, 30m or a date YYYY-MM-DD."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
    window: Annotated[
        str,
        typer.Option(
            help="Online accuracy per hour, day or week of serving, or per N labeled "
            "predictions (a number)."
        ),
    ] = "day",
) -> None:
    """Compare served inputs and predictions with the training data; flag drift (exit 1).
    Also online accuracy over time: served predictions against the labels people gave
    them (POST /feedback with a label, or `dlstack label` on the flagged examples)."""
    from dlstack.cli._common import open_project
    from dlstack.serve import monitor as run
    from dlstack.serve import parse_window

    proj = open_project(project)
    every = parse_window(window)
    report = run(proj, model, version=version, since=_since(since), window=every)
    path = out or proj.state_dir / "monitor" / f"{report.model}.html"
    report.write_html(path)
    if report.note:
        console.print(styled("[yellow]{note}[/]", note=report.note), soft_wrap=True)
    else:
        console.print(
            table(
                f"{report.model}: {len(report.served)} served vs data version "
                f"{report.data_version}",
                ["check", "test", "value", "threshold", "p-value", "drift"],
                [
                    [
                        c.name,
                        c.statistic,
                        c.value,
                        c.threshold,
                        "" if c.p_value is None else f"{c.p_value:.2g}",
                        "DRIFT" if c.drifted else "ok",
                    ]
                    for c in report.checks
                ],
            )
        )
    if report.online is not None:
        print_online(report.online)
    console.print(f"report: {path}", highlight=False, soft_wrap=True)
    if report.drifted:
        raise typer.Exit(1)


def print_online(online: OnlineAccuracy) -> None:
    """Online accuracy per window (only people's labels), then the overall line."""
    if online.windows:
        console.print(
            table(
                online.title(),
                ["served in", "served", "labeled", "correct", "accuracy"],
                [
                    [online.window_label(w), w.served, w.labeled, w.correct, w.accuracy]
                    for w in online.windows
                ],
            )
        )
    console.print(online.describe(), highlight=False, soft_wrap=True)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    m = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if m:
        n, unit = int(m[1]), m[2]
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}
        return datetime.now(UTC) - delta[unit]
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(
            f"--since must be like 7d, 24h, 30m or YYYY-MM-DD, got {text!r}"
        ) from None
