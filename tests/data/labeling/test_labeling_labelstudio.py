"""Label Studio JSON: export then import gives the same labels; bad files are refused whole."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from dlstack.data._catalog import queue, staged
from dlstack.data.labeling import (
    LabelingRules,
    add_gold,
    create_user,
    decide,
    enqueue,
    export_labelstudio,
    import_labelstudio,
    label_config,
    list_gold,
    record_label,
    undo_last,
    write_tasks,
)
from dlstack.data.labeling._common import annotations_t
from dlstack.errors import DataError


def _state(p):
    """Everything labeling produced, in a form two projects can be compared by."""
    with p.catalog.connect() as conn:
        answers = sorted(
            (r.example_id, r.user, r.label or "<skip>")
            for r in conn.execute(
                select(annotations_t).where(annotations_t.c.retracted_at.is_(None))
            )
        )
        labels = {r.example_id: (r.label, r.split) for r in conn.execute(staged.select())}
        done = {r.example_id: r.done_at is not None for r in conn.execute(queue.select())}
    return answers, labels, done, list_gold(p.catalog)


def _label_some(p):
    for name, role in (("ada", "labeler"), ("bob", "labeler"), ("rev", "reviewer")):
        create_user(p.catalog, name, role)
    ids = p.ids
    enqueue(p.catalog, ids[:6], source="manual", labels_needed=2)
    for eid in ids[:3]:  # agree
        record_label(p.catalog, eid, "ada", p.truth[eid], seconds=1.0)
        record_label(p.catalog, eid, "bob", p.truth[eid], seconds=2.0)
    record_label(p.catalog, ids[3], "ada", "1")  # disagree, then a reviewer decides
    record_label(p.catalog, ids[3], "bob", "7")
    decide(p.catalog, ids[3], "7", user="rev")
    record_label(p.catalog, ids[4], "ada", None)  # skip
    record_label(p.catalog, ids[5], "ada", "2")
    undo_last(p.catalog, "ada")  # undone: not exported
    add_gold(p.catalog, {ids[6]: p.truth[ids[6]]}, created_by="rev")
    record_label(p.catalog, ids[6], "bob", p.truth[ids[6]])


def test_export_then_import_gives_the_same_labels(lp, new_project, tmp_path):
    _label_some(lp)
    tasks = export_labelstudio(lp.catalog, lp.repo.store, rules=lp.rules)
    path = tmp_path / "export.json"
    write_tasks(path, tasks)
    # The file is Label Studio's shape: tasks with data.image and choices results.
    first = json.loads(path.read_text())[0]
    assert first["data"]["image"].startswith("data:image/png;base64,")
    agreed = next(t for t in tasks if t["data"]["example_id"] == lp.ids[0])
    assert agreed["annotations"][0]["result"][0]["type"] == "choices"
    assert agreed["annotations"][0]["result"][0]["value"] == {"choices": [lp.truth[lp.ids[0]]]}

    fresh = new_project("fresh", n=0)  # same classes, no examples, no accounts
    report = import_labelstudio(fresh.catalog, fresh.repo.store, path, rules=fresh.rules)
    # Images came along inside the file; annotators became accounts.
    assert report.examples_added == len(tasks) and sorted(report.users_created) == ["ada", "bob"]
    # Same answers by the same people, same staged labels and splits, same finished items,
    # same gold: nothing lost on the way.
    assert _state(fresh) == _state(lp)

    # Importing the same file again changes nothing.
    again = import_labelstudio(fresh.catalog, fresh.repo.store, path, rules=fresh.rules)
    assert again.annotations == 0 and again.duplicates == report.annotations
    assert _state(fresh) == _state(lp)


def test_import_what_label_studio_writes(lp):
    # As Label Studio exports it: completed_by is a user id (or an object with an email),
    # images are URLs of its own server; ours end in the example id.
    png = lp.repo.store.get(lp.ids[0])
    tasks = [
        {
            "id": 1,
            "data": {"image": f"/data/upload/3/{lp.ids[1]}.png"},
            "annotations": [
                {
                    "completed_by": 10,
                    "was_cancelled": False,
                    "lead_time": 3.5,
                    "created_at": "2024-03-09T22:16:08.728353Z",
                    "result": [
                        {
                            "type": "choices",
                            "from_name": "label",
                            "to_name": "image",
                            "value": {"choices": ["4"]},
                        }
                    ],
                }
            ],
        },
        {
            "id": 2,
            "data": {"image": "data:image/png;base64," + base64.b64encode(png).decode()},
            "annotations": [
                {
                    "completed_by": {"id": 3, "email": "kim@example.org"},
                    "result": [{"type": "choices", "value": {"choices": ["9"]}}],
                },
                {"completed_by": 10, "was_cancelled": True, "result": []},
            ],
        },
    ]
    report = import_labelstudio(lp.catalog, lp.repo.store, tasks, rules=lp.rules)
    assert sorted(report.users_created) == ["kim", "ls-10"] and report.annotations == 3
    answers, labels, _, _ = _state(lp)
    # Annotations by the people who made them; a cancelled annotation is a skip.
    assert (lp.ids[1], "ls-10", "4") in answers and (lp.ids[0], "kim", "9") in answers
    assert (lp.ids[0], "ls-10", "<skip>") in answers
    assert labels[lp.ids[1]][0] == "4" and labels[lp.ids[0]][0] == "9"


def test_import_as_staged_labels(lp):
    tasks = [
        {
            "data": {"image": f"http://ls/{lp.ids[0]}"},
            "annotations": [
                {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["5"]}}]},
                {"completed_by": 2, "result": [{"type": "choices", "value": {"choices": ["5"]}}]},
            ],
        },
        {
            "data": {"image": f"http://ls/{lp.ids[1]}"},
            "annotations": [
                {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["1"]}}]},
                {"completed_by": 2, "result": [{"type": "choices", "value": {"choices": ["7"]}}]},
            ],
        },
    ]
    report = import_labelstudio(lp.catalog, lp.repo.store, tasks, rules=lp.rules, as_staged=True)
    answers, labels, done, _ = _state(lp)
    # The majority answer goes straight into the working set; no accounts, no answers.
    assert labels == {lp.ids[0]: ("5", labels[lp.ids[0]][1])} and answers == []
    assert report.staged == 1 and not report.users_created and done[lp.ids[0]]
    # A tie is not guessed: the example waits in the queue.
    assert report.unresolved == [lp.ids[1]] and not done[lp.ids[1]]


BAD = [
    ({"data": {"image": "x"}}, "expected Label Studio's JSON export, a list"),
    ([{"data": {"text": "hello"}}], r"task index 0: expected data.image, .* \(data keys: text\)"),
    ([{"id": 1}], "task index 0: expected an object with a 'data' object"),
    ("ok-then-bad", r"task index 1: image 'http://x/nothing.png' is neither"),
    ([{"data": {"image": "data:image/png;base64,!!!"}}], "task index 0: .*invalid base64"),
    (
        "rect",
        r"task index 0, annotation 0: result types rectanglelabels are not supported; "
        r"expected 'choices'",
    ),
    ("unknown-class", r"task index 0, annotation 0: label 'cat' is not one of the classes"),
]


@pytest.mark.parametrize(("tasks", "message"), BAD, ids=[m[:20] for _, m in BAD])
def test_malformed_files_are_refused_whole(lp, tasks, message):
    good = {
        "data": {"image": f"/x/{lp.ids[0]}"},
        "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["3"]}}]}
        ],
    }
    if tasks == "ok-then-bad":
        tasks = [good, {"data": {"image": "http://x/nothing.png"}}]
    elif tasks == "rect":
        tasks = [
            {
                "data": {"image": f"/x/{lp.ids[0]}"},
                "annotations": [
                    {"result": [{"type": "rectanglelabels", "value": {"rectanglelabels": ["3"]}}]}
                ],
            }
        ]
    elif tasks == "unknown-class":
        tasks = [
            {
                "data": {"image": f"/x/{lp.ids[0]}"},
                "annotations": [{"result": [{"type": "choices", "value": {"choices": ["cat"]}}]}],
            }
        ]
    with pytest.raises(DataError, match=message):
        import_labelstudio(lp.catalog, lp.repo.store, tasks, rules=lp.rules)
    # Checked before writing: the good task before the bad one was not imported either.
    with lp.catalog.connect() as conn:
        assert conn.execute(select(func.count()).select_from(annotations_t)).scalar() == 0


def test_a_file_that_is_not_json_names_the_line(lp, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"data": {"image": "x"}},\n  oops]')
    with pytest.raises(DataError, match="not a JSON file at line 2"):
        import_labelstudio(lp.catalog, lp.repo.store, path, rules=lp.rules)


def test_transcriptions_round_trip_as_textarea(lp, new_project):
    ctc = LabelingRules(task="ctc")
    create_user(lp.catalog, "ada")
    record_label(lp.catalog, lp.ids[0], "ada", "  12.05  2024 ", rules=ctc)
    tasks = export_labelstudio(lp.catalog, lp.repo.store, rules=ctc)
    result = next(t for t in tasks if t["annotations"])["annotations"][0]["result"][0]
    # Transcriptions travel as textarea results (whitespace normalized when recorded).
    assert result["type"] == "textarea" and result["value"] == {"text": ["12.05 2024"]}
    fresh = new_project("fresh", n=0)
    import_labelstudio(fresh.catalog, fresh.repo.store, tasks, rules=ctc)
    assert _state(fresh)[0] == [(lp.ids[0], "ada", "12.05 2024")]


def test_label_config_matches_the_export():
    xml = label_config(["0", "1"], "classification")
    # The config's names are the ones the export's results refer to.
    assert '<Image name="image" value="$image"/>' in xml and '<Choices name="label"' in xml
    assert '<Choice value="1"/>' in xml
    assert '<TextArea name="transcription"' in label_config([], "ctc")
