"""`dlstack label ...` commands, on a project the way a user drives it."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from dlstack.cli._label import register
from dlstack.data._catalog import staged
from dlstack.data.labeling import authenticate, list_users, record_label


def _cli():
    root = typer.Typer()
    register(root)

    @root.command()
    def version() -> None:  # a second command keeps `label` a subcommand, as in dlstack
        pass

    return root


def _run(*args):
    result = CliRunner().invoke(_cli(), list(args))
    return result


def test_user_add_prints_the_token_once_and_stores_only_its_hash(lp):
    root = str(lp.project.root)
    r = _run("label", "user", "add", "ada", "--role", "reviewer", "-p", root)
    assert r.exit_code == 0, r.output
    token = next(line for line in r.output.splitlines() if line.startswith("dlsl_"))
    # The printed token logs in as ada ...
    assert authenticate(lp.catalog, token).role == "reviewer"
    # ... and the catalog doesn't hold it, only its sha256.
    with lp.catalog.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM users"))
    assert token not in dump
    r = _run("label", "user", "list", "-p", root)
    assert "ada" in r.output and "reviewer" in r.output and token not in r.output
    r = _run("label", "user", "disable", "ada", "-p", root)
    assert r.exit_code == 0 and list_users(lp.catalog)[0].disabled
    new = _run("label", "user", "token", "ada", "-p", root)
    fresh = next(line for line in new.output.splitlines() if line.startswith("dlsl_"))
    # A new token replaces the old one.
    assert authenticate(lp.catalog, token) is None and authenticate(lp.catalog, fresh)


def test_bad_role_is_a_user_error(lp):
    r = _run("label", "user", "add", "ada", "--role", "boss", "-p", str(lp.project.root))
    # DlstackError reaches dlstack's main(), which prints one line and exits 2.
    assert r.exit_code != 0 and "labeler, reviewer, admin" in str(r.exception)


def test_export_import_stats_and_queue(lp, new_project, tmp_path):
    root = str(lp.project.root)
    _run("label", "user", "add", "ada", "-p", root)
    for eid in lp.ids[:5]:
        record_label(lp.catalog, eid, "ada", lp.truth[eid])
    out = tmp_path / "ls.json"
    r = _run("label", "export", str(out), "-p", root)
    assert r.exit_code == 0, r.output
    # The tasks and the matching Label Studio labeling config are written side by side.
    assert len(json.loads(out.read_text())) == len(lp.ids)
    assert (tmp_path / "ls.label_config.xml").read_text().startswith("<View>")

    other = new_project("other", n=0)
    r = _run("label", "import", str(out), "-p", str(other.project.root))
    assert r.exit_code == 0 and "5 answers" in r.output, r.output

    with lp.catalog.begin() as conn:  # a few examples labeled at ingest: trusted for gold
        conn.execute(
            staged.insert(),
            [{"example_id": e, "label": lp.truth[e], "split": "test"} for e in lp.ids[10:14]],
        )
    r = _run("label", "gold", "sample", "2", "-p", root)
    assert r.exit_code == 0 and "2 gold examples" in r.output
    r = _run("label", "stats", "--json", "-p", root)
    stats = json.loads(r.output)
    # Progress counts what was decided; no gold answers yet means no human baseline.
    assert stats["progress"]["done"] == 5 and stats["progress"]["gold"] == 2
    assert stats["human_baseline"] is None
    r = _run("label", "stats", "-p", root)
    assert r.exit_code == 0 and "human baseline" in r.output
    r = _run("label", "queue", "--labels-needed", "3", "-p", root)
    assert r.exit_code == 0 and "now need 3" in r.output
