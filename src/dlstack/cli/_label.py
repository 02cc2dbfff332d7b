"""`dlstack label ...`: serve the labeling page, accounts, gold, Label Studio, stats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlstack.cli._common import ProjectOpt, console, err_console, open_project, styled, table

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import DataRepo

app = typer.Typer(
    help="Label data: the labeling page, accounts, gold examples, Label Studio "
    "import/export, progress and agreement.",
    invoke_without_command=True,
)
user_app = typer.Typer(help="Labeling accounts (labeler, reviewer, admin).", no_args_is_help=True)
gold_app = typer.Typer(
    help="Gold examples: known answers that measure each labeler.", no_args_is_help=True
)
app.add_typer(user_app, name="user")
app.add_typer(gold_app, name="gold")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="label")


@contextmanager
def _repo(project_dir: Path) -> Iterator[tuple[Project, DataRepo]]:
    from dlstack.data import DataRepo

    project = open_project(project_dir)
    repo = DataRepo.open(project)
    try:
        yield project, repo
    finally:
        repo.close()


@app.callback()
def serve(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on; tokens travel in plain "
            "HTTP, so keep 127.0.0.1 unless a TLS proxy is in "
            "front."
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the labeling page (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from dlstack.data import serve_labeling as run_server

    proj = open_project(project)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            styled(
                "[yellow]warning:[/] listening on {host}: tokens cross the network "
                "unencrypted unless a TLS proxy is in front",
                host=host,
            )
        )
    console.print(
        f"labeling {proj.config.project.name} on http://{host}:{port}/ (Ctrl-C to "
        f"stop); sign in with a token from `dlstack label user add NAME`"
    )
    run_server(proj, host=host, port=port)


# -- accounts ----------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[str, typer.Option(help="labeler, reviewer or admin.")] = "labeler",
    project: ProjectOpt = Path("."),
) -> None:
    """Create an account and print its token (shown once; only its hash is kept)."""
    from dlstack.data.labeling import create_user

    with _repo(project) as (_, repo):
        user, token = create_user(repo.catalog, name, role)
    _print_token(user.name, user.role, token)


@user_app.command("token")
def user_token(name: Annotated[str, typer.Argument()], project: ProjectOpt = Path(".")) -> None:
    """Issue a new token for an account (the old one stops working)."""
    from dlstack.data.labeling import list_users, rotate_token

    with _repo(project) as (_, repo):
        token = rotate_token(repo.catalog, name)
        role = next(u.role for u in list_users(repo.catalog) if u.name == name)
    _print_token(name, role, token)


@user_app.command("list")
def user_list(project: ProjectOpt = Path(".")) -> None:
    """List the accounts."""
    from dlstack.data.labeling import list_users

    with _repo(project) as (_, repo):
        users = list_users(repo.catalog)
    if not users:
        console.print("no accounts yet: `dlstack label user add NAME --role admin`")
        return
    console.print(
        table(
            "labeling accounts",
            ["name", "role", "created (UTC)", "disabled"],
            [
                [
                    u.name,
                    u.role,
                    u.created_at.strftime("%Y-%m-%d %H:%M"),
                    "yes" if u.disabled else "",
                ]
                for u in users
            ],
        )
    )


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument()],
    enable: Annotated[bool, typer.Option("--enable", help="Let the account back in.")] = False,
    project: ProjectOpt = Path("."),
) -> None:
    """Lock an account out (its answers stay)."""
    from dlstack.data.labeling import disable_user

    with _repo(project) as (_, repo):
        user = disable_user(repo.catalog, name, disabled=not enable)
    console.print(f"{user.name}: {'disabled' if user.disabled else 'enabled'}")


def _author() -> str:
    import getpass
    import os

    try:
        return os.environ.get("DLSTACK_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _print_token(name: str, role: str, token: str) -> None:
    console.print(
        styled("{role} [bold]{name}[/]; token (shown once, keep it secret):", role=role, name=name)
    )
    print(token)  # plain stdout: easy to pipe, never wrapped
    console.print(
        f"sign in at http://127.0.0.1:8765/#token={token}", highlight=False, soft_wrap=True
    )


# -- gold ------------------------------------------------------------------------------------


@gold_app.command("sample")
def gold_sample(
    n: Annotated[int, typer.Argument(help="How many labeled examples to make gold.")],
    split: Annotated[str | None, typer.Option(help="Only from this split.")] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Make N labeled examples gold (seeded by data.seed)."""
    from dlstack.data.labeling import LabelingRules, sample_gold

    with _repo(project) as (proj, repo):
        picked = sample_gold(
            repo.catalog,
            n,
            created_by=_author(),
            seed=proj.config.data.seed,
            split=split,
            rules=LabelingRules.from_project(proj),
        )
    console.print(f"{len(picked)} gold examples; labelers meet them in the queue")


@gold_app.command("add")
def gold_add(
    example: Annotated[str, typer.Argument(help="Example id (64 hex characters).")],
    label: Annotated[str, typer.Argument(help="Its known answer.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Make one example gold with its known answer."""
    from dlstack.data.labeling import LabelingRules, add_gold

    with _repo(project) as (proj, repo):
        add_gold(
            repo.catalog,
            {example: label},
            created_by=_author(),
            rules=LabelingRules.from_project(proj),
        )
    console.print(f"gold: {example[:12]} = {label}")


@gold_app.command("list")
def gold_list(project: ProjectOpt = Path(".")) -> None:
    """List the gold examples."""
    from dlstack.data.labeling import list_gold

    with _repo(project) as (_, repo):
        known = list_gold(repo.catalog)
    console.print(
        table(
            f"gold examples ({len(known)})",
            ["example", "answer"],
            [[k, v] for k, v in known.items()],
        )
    )


@gold_app.command("remove")
def gold_remove(example: Annotated[str, typer.Argument()], project: ProjectOpt = Path(".")) -> None:
    """Stop using an example as gold (its label stays staged)."""
    from dlstack.data.labeling import remove_gold

    with _repo(project) as (_, repo):
        n = remove_gold(repo.catalog, [example])
    console.print(f"removed {n} gold example(s)")


# -- queue, Label Studio, stats ---------------------------------------------------------------


@app.command("queue")
def queue_cmd(
    labels_needed: Annotated[
        int | None,
        typer.Option(help="Labelers needed per waiting example (a majority of them must agree)."),
    ] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Show the queue; optionally set how many labelers each waiting example needs."""
    from dlstack.data.labeling import LabelingRules, progress, set_labels_needed

    with _repo(project) as (proj, repo):
        if labels_needed is not None:
            n = set_labels_needed(
                repo.catalog, labels_needed, rules=LabelingRules.from_project(proj)
            )
            console.print(f"{n} waiting example(s) now need {labels_needed} label(s)")
        p = progress(repo.catalog)
    console.print(
        table(
            "labeling queue",
            ["waiting", "done", "gold", "by source"],
            [[p.waiting, p.done, p.gold, ", ".join(f"{k} {v}" for k, v in p.by_source.items())]],
        )
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON export.")],
    as_staged: Annotated[
        bool,
        typer.Option(
            "--as-staged",
            help="Stage each task's majority answer directly, instead of "
            "importing the answers as annotations.",
        ),
    ] = False,
    labels_needed: Annotated[
        int, typer.Option(help="Labelers needed for tasks new to the queue.")
    ] = 1,
    project: ProjectOpt = Path("."),
) -> None:
    """Import a Label Studio JSON export (checked in full before anything is written)."""
    from dlstack.data.labeling import LabelingRules, import_labelstudio

    with _repo(project) as (proj, repo):
        r = import_labelstudio(
            repo.catalog,
            repo.store,
            file,
            as_staged=as_staged,
            labels_needed=labels_needed,
            rules=LabelingRules.from_project(proj),
        )
    console.print(
        f"{file}: {r.tasks} tasks, {r.examples_added} new images, {r.queued} queued, "
        f"{r.annotations} answers ({r.duplicates} already here), {r.staged} staged, "
        f"{r.gold} gold; new accounts: {', '.join(r.users_created) or 'none'}"
    )
    if r.unresolved:
        console.print(f"{len(r.unresolved)} task(s) had no majority and wait in the queue")


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the Label Studio JSON.")],
    image_url_prefix: Annotated[
        str | None,
        typer.Option(
            help="Reference images as PREFIX/<example id> instead of embedding them as data URIs."
        ),
    ] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Export the queue and its answers as Label Studio JSON (+ a matching labeling config)."""
    from dlstack.data.labeling import (
        LabelingRules,
        export_labelstudio,
        label_config,
        write_tasks,
    )
    from dlstack.records import write_atomic

    with _repo(project) as (proj, repo):
        rules = LabelingRules.from_project(proj)
        tasks = export_labelstudio(
            repo.catalog, repo.store, rules=rules, image_url_prefix=image_url_prefix
        )
        with repo.catalog.connect() as conn:
            classes = list(repo.catalog.get_meta(conn, "classes") or [])
    write_tasks(file, tasks)
    config = file.with_name(file.stem + ".label_config.xml")
    write_atomic(config, label_config(classes, rules.task))
    console.print(
        f"wrote {len(tasks)} tasks to {file} and the Label Studio labeling config to {config}"
    )


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectOpt = Path("."),
) -> None:
    """Progress, agreement (Cohen's and Fleiss' kappa) and the human baseline."""
    from dlstack.data.labeling import labeling_stats

    with _repo(project) as (_, repo):
        s = labeling_stats(repo.catalog)
    if as_json:
        print(json.dumps(s.to_dict(), indent=1))
        return
    p, a, hb = s.progress, s.agreement, s.baseline
    console.print(table("queue", ["waiting", "done", "gold"], [[p.waiting, p.done, p.gold]]))
    if p.labelers:
        console.print(
            table(
                "labelers",
                ["user", "labels", "skips", "undone", "median s"],
                [[x.user, x.labels, x.skips, x.undone, x.median_seconds] for x in p.labelers],
            )
        )
    console.print(
        table(
            "agreement",
            ["examples with 2+ labels", "mean majority share", "Fleiss' kappa"],
            [[len(a.examples), a.mean_share, a.fleiss]],
        )
    )
    if a.pairs:
        console.print(
            table(
                "Cohen's kappa",
                ["labeler", "labeler", "shared", "kappa"],
                [[x.a, x.b, x.n, x.kappa] for x in a.pairs],
            )
        )
    if hb is None:
        console.print(
            "human baseline: no answers to gold examples yet (`dlstack label gold sample 50`)"
        )
        return
    rows = [["everyone", hb.n_answers, hb.error_rate]]
    rows += [[u, x.answers, x.error_rate] for u, x in hb.per_labeler.items()]
    console.print(
        table(
            f"human baseline ({hb.n_gold} gold examples answered)",
            ["who", "answers", "error rate"],
            rows,
        )
    )
