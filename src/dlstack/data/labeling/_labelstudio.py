"""Label Studio JSON import and export, so teams can move labeling work both ways.

Export: one task per queue item, in Label Studio's JSON export format::

    {"id": 1,
     "data": {"image": "data:image/png;base64,...", "example_id": "<sha256>"},
     "annotations": [{"completed_by": 2, "dlstack_user": "ada", "was_cancelled": false,
                      "created_at": "2024-05-01T10:00:00+00:00", "lead_time": 1.3,
                      "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                  "value": {"choices": ["7"]}}]}],
     "meta": {"dlstack": {"source": "ingest", "labels_needed": 2, ...}}}

Classification answers are ``choices`` results, transcriptions ``textarea`` results, skips
are cancelled annotations (``was_cancelled``), and a gold example's known answer is an
annotation marked ``ground_truth``. ``label_config()`` gives the matching Label Studio
labeling config.

Images are **embedded as data URIs** by default: the file is self-contained, Label Studio
shows it without access to this machine, and no token ends up in a URL (the labeling
server's image endpoint needs one). Handwriting crops are a few hundred bytes, so this
costs little. ``image_url_prefix`` writes ``PREFIX/<example id>`` instead, for images that
are served some other way.

Import accepts both forms (and any URL whose last path segment is an example id of this
project). Annotations become annotations by a user named after ``completed_by`` (an email
gives its local part, a number ``ls-<n>``), created as labeler accounts if needed; or, with
``as_staged=True``, each task's majority answer goes straight into the working set. The
whole file is checked before anything is written: a malformed task raises DataError naming
its index, and the catalog is left as it was.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy import select
from sqlalchemy.engine import Connection

from dlstack.data._catalog import (
    Catalog,
    examples,
    gold,
    queue,
    staged,
)
from dlstack.data._store import ObjectStore, sha256
from dlstack.data.labeling._accounts import ensure_users
from dlstack.data.labeling._common import (
    CONSENSUS,
    InvalidLabel,
    LabelingRules,
    active_votes,
    annotations_t,
    as_utc,
    check_label,
    classes_of,
    consensus,
    media_type,
    stage,
    utcnow,
)
from dlstack.data.labeling._labels import settle
from dlstack.errors import DataError
from dlstack.inputs import inspect_image
from dlstack.records import write_atomic

__all__ = [
    "ImportReport",
    "export_labelstudio",
    "import_labelstudio",
    "label_config",
    "read_tasks",
    "write_tasks",
]

IMAGE_KEY = "image"  # data.image, the $image of the labeling config
FROM_NAME = {"classification": "label", "ctc": "transcription"}
RESULT_TYPE = {"classification": "choices", "ctc": "textarea"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def label_config(classes: list[str], task: str = "classification") -> str:
    """The Label Studio labeling config (XML) that matches what this module writes."""
    if task == "ctc":
        control = (
            '  <TextArea name="transcription" toName="image" maxSubmissions="1" editable="true"/>'
        )
    else:
        choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
        control = (
            f'  <Choices name="label" toName="image" choice="single" '
            f'showInline="true">\n{choices}\n  </Choices>'
        )
    return f'<View>\n  <Image name="image" value="$image"/>\n{control}\n</View>\n'


def export_labelstudio(
    catalog: Catalog,
    store: ObjectStore,
    *,
    rules: LabelingRules | None = None,
    image_url_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Every queue item as a Label Studio task with its standing answers."""
    rules = rules or LabelingRules()
    with catalog.connect() as conn:
        items = conn.execute(queue.select().order_by(queue.c.added_at, queue.c.example_id)).all()
        votes = active_votes(conn, [r.example_id for r in items])
        known = {r.example_id: r for r in conn.execute(gold.select())}
    user_ids: dict[str, int] = {}
    tasks = []
    for number, item in enumerate(items, start=1):
        eid = item.example_id
        if image_url_prefix is not None:
            image = f"{image_url_prefix.rstrip('/')}/{eid}"
        else:
            data = store.get(eid)
            image = f"data:{media_type(data)};base64,{base64.b64encode(data).decode()}"
        answers = []
        for vote in sorted(votes.get(eid, {}).values(), key=lambda v: v.id):
            answers.append(
                _annotation(
                    vote.id, vote.user, vote.label, vote.created_at, vote.seconds, rules, user_ids
                )
            )
        if eid in known:
            g = known[eid]
            answers.append(
                _annotation(
                    None, g.created_by, g.label, as_utc(g.created_at), None, rules, user_ids
                )
                | {"ground_truth": True}
            )
        meta = dict(item.meta or {})
        tasks.append(
            {
                "id": number,
                "data": {IMAGE_KEY: image, "example_id": eid},
                "annotations": answers,
                "meta": {
                    "dlstack": {
                        "source": item.source,
                        "priority": item.priority,
                        "labels_needed": item.labels_needed,
                        "done": item.done_at is not None,
                        "decision": meta.get("decision"),
                    }
                },
            }
        )
    return tasks


def write_tasks(path: str | Path, tasks: list[dict[str, Any]]) -> None:
    write_atomic(path, json.dumps(tasks, indent=1, ensure_ascii=False))


def read_tasks(path: str | Path) -> list[Any]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = (
            f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        )
        raise DataError(
            f"{path} is not a JSON file{where}; expected Label Studio's JSON "
            f"export (a list of tasks)"
        ) from None
    if not isinstance(raw, list):
        raise DataError(
            f"{path} holds a JSON {type(raw).__name__}; expected Label Studio's "
            f"JSON export, a list of tasks"
        )
    return raw


@dataclass
class ImportReport:
    tasks: int = 0
    examples_added: int = 0  # images that were new to this project
    queued: int = 0
    annotations: int = 0
    duplicates: int = 0  # answers already in the catalog (the file was imported before)
    staged: int = 0  # with as_staged
    gold: int = 0
    users_created: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # as_staged: no majority, queued


@dataclass
class _Answer:
    user: str
    label: str | None
    created_at: datetime
    seconds: float | None
    ground_truth: bool


@dataclass
class _Task:
    index: int
    example_id: str
    image: bytes | None  # set when the image is new to this project
    answers: list[_Answer]
    meta: dict[str, Any]


def import_labelstudio(
    catalog: Catalog,
    store: ObjectStore,
    tasks: list[Any] | str | Path,
    *,
    rules: LabelingRules | None = None,
    as_staged: bool = False,
    labels_needed: int = 1,
    default_user: str = "labelstudio",
) -> ImportReport:
    """Bring a Label Studio JSON export (a path or the parsed list) into the catalog."""
    rules = rules or LabelingRules()
    raw = read_tasks(tasks) if isinstance(tasks, str | Path) else tasks
    if not isinstance(raw, list):
        raise DataError("expected Label Studio's JSON export, a list of tasks")
    with catalog.connect() as conn:
        classes = classes_of(catalog, conn)
        vocabulary = catalog.get_meta(conn, "vocabulary")
        parsed = [
            _parse_task(i, t, conn, rules, classes, vocabulary, default_user)
            for i, t in enumerate(raw)
        ]
    report = ImportReport(tasks=len(parsed))
    for t in parsed:  # objects first: content-addressed, so an abort leaves nothing visible
        if t.image is not None:
            store.put(t.image)
    now = utcnow()
    with catalog.begin() as conn:
        _add_examples(conn, parsed, report, now)
        if not as_staged:
            names = [a.user for t in parsed for a in t.answers if not a.ground_truth]
            report.users_created = ensure_users(conn, names)
        for t in parsed:
            _import_task(conn, t, report, rules, as_staged, labels_needed, now)
    return report


# -- export helpers -------------------------------------------------------------------------


def _annotation(
    annotation_id: int | None,
    user: str,
    label: str | None,
    created: datetime,
    seconds: float | None,
    rules: LabelingRules,
    user_ids: dict[str, int],
) -> dict[str, Any]:
    result = []
    if label is not None:
        kind = RESULT_TYPE[rules.task]
        value = {"choices": [label]} if kind == "choices" else {"text": [label]}
        result.append(
            {
                "id": f"r{annotation_id or 0}",
                "from_name": FROM_NAME[rules.task],
                "to_name": IMAGE_KEY,
                "type": kind,
                "value": value,
            }
        )
    out: dict[str, Any] = {
        "completed_by": user_ids.setdefault(user, len(user_ids) + 1),
        "dlstack_user": user,
        "was_cancelled": label is None,
        "ground_truth": False,
        "created_at": created.isoformat(),
        "lead_time": seconds,
        "result": result,
    }
    if annotation_id is not None:
        out["id"] = annotation_id
    return out


# -- import: check everything first ----------------------------------------------------------


def _parse_task(
    index: int,
    task: Any,
    conn: Connection,
    rules: LabelingRules,
    classes: list[str],
    vocabulary: str | None,
    default_user: str,
) -> _Task:
    where = f"task index {index}"
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise DataError(
            f"{where}: expected an object with a 'data' object (a Label Studio "
            f"task), got {_describe(task)}"
        )
    data = task["data"]
    image = data.get(IMAGE_KEY)
    if not isinstance(image, str) or not image:
        raise DataError(
            f"{where}: expected data.{IMAGE_KEY}, a data: URI or a URL ending in "
            f"an example id, got {_describe(image)} (data keys: "
            f"{', '.join(map(str, data)) or 'none'})"
        )
    example_id, blob = _resolve_image(where, image, data.get("example_id"), conn)
    answers_raw = task.get("annotations", [])
    if not isinstance(answers_raw, list):
        raise DataError(
            f"{where}: expected 'annotations' to be a list, got {_describe(answers_raw)}"
        )
    answers = [
        _parse_answer(f"{where}, annotation {j}", a, rules, classes, vocabulary, default_user)
        for j, a in enumerate(answers_raw)
    ]
    raw_meta = task.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    raw_ours = meta.get("dlstack")
    ours: dict[str, Any] = raw_ours if isinstance(raw_ours, dict) else {}
    decision = ours.get("decision")
    if isinstance(decision, dict) and decision.get("by") not in (None, CONSENSUS):
        try:
            check_label(str(decision.get("label")), rules, classes, vocabulary)
        except InvalidLabel as e:
            raise DataError(f"{where}: meta.dlstack.decision: {e}") from None
    return _Task(index, example_id, blob, answers, ours)


def _resolve_image(
    where: str, image: str, given_id: Any, conn: Connection
) -> tuple[str, bytes | None]:
    if image.startswith("data:"):
        header, _, payload = image.partition(",")
        if not header.endswith(";base64") or not payload:
            raise DataError(
                f"{where}: data.{IMAGE_KEY} is a data: URI that is not base64; "
                f"expected 'data:image/png;base64,...'"
            )
        try:
            blob = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise DataError(f"{where}: data.{IMAGE_KEY} holds invalid base64") from None
        example_id = sha256(blob)
        if _known(conn, example_id):
            return example_id, None
        try:
            inspect_image(blob)  # any size: checkout brings it to the input spec's
        except DataError as e:
            raise DataError(f"{where}: data.{IMAGE_KEY}: {e}") from None
        return example_id, blob
    last = image.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    candidates = [
        c
        for c in (given_id, last, last.rsplit(".", 1)[0])
        if isinstance(c, str) and _HEX64.match(c)
    ]
    for candidate in candidates:
        if _known(conn, candidate):
            return candidate, None
    raise DataError(
        f"{where}: image {image[:80]!r} is neither a data: URI nor a URL ending in "
        f"the id of an example in this project; export with embedded images "
        f"(the default) to move images between projects"
    )


def _parse_answer(
    where: str,
    ann: Any,
    rules: LabelingRules,
    classes: list[str],
    vocabulary: str | None,
    default_user: str,
) -> _Answer:
    if not isinstance(ann, dict):
        raise DataError(f"{where}: expected an object, got {_describe(ann)}")
    result = ann.get("result", [])
    if not isinstance(result, list):
        raise DataError(f"{where}: expected 'result' to be a list, got {_describe(result)}")
    kind = RESULT_TYPE[rules.task]
    label: str | None = None
    if not ann.get("was_cancelled"):
        found = [r for r in result if isinstance(r, dict) and r.get("type") == kind]
        if not found and result:
            types = sorted({str(r.get("type")) for r in result if isinstance(r, dict)})
            raise DataError(
                f"{where}: result types {', '.join(types) or '(none)'} are not "
                f"supported; expected '{kind}' for a {rules.task} project"
            )
        if found:
            value = found[0].get("value")
            key = "choices" if kind == "choices" else "text"
            picked = value.get(key) if isinstance(value, dict) else None
            if isinstance(picked, str):
                picked = [picked]
            if not isinstance(picked, list) or len(picked) != 1 or not isinstance(picked[0], str):
                raise DataError(
                    f"{where}: expected value.{key} to be a list with one "
                    f"string, got {_describe(picked)}"
                )
            try:
                label = check_label(picked[0], rules, classes, vocabulary)
            except InvalidLabel as e:
                raise DataError(f"{where}: {e}") from None
    seconds = ann.get("lead_time")
    return _Answer(
        user=_user_name(ann, default_user),
        label=label,
        created_at=_when(ann.get("created_at")),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        ground_truth=bool(ann.get("ground_truth")),
    )


def _user_name(ann: dict[str, Any], default: str) -> str:
    """Our user name for an annotation: ours if we wrote the file, else from completed_by
    (an email gives its local part, a number ``ls-<n>``), made safe for an account name."""
    who = ann.get("dlstack_user") or ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("username") or who.get("id")
    if isinstance(who, bool) or who is None:
        return default
    if isinstance(who, int):
        return f"ls-{who}"
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(who).split("@", 1)[0]).lstrip("_.+-")
    return name[:64] or default


def _when(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00"))).astimezone(UTC)
        except ValueError:
            pass
    return utcnow()


# -- import: write ----------------------------------------------------------------------------


def _add_examples(
    conn: Connection, parsed: list[_Task], report: ImportReport, now: datetime
) -> None:
    seen = set()
    for t in parsed:
        if t.image is None or t.example_id in seen:
            continue
        seen.add(t.example_id)
        info = inspect_image(t.image)
        width, height, mode = info.width, info.height, info.mode
        conn.execute(
            examples.insert().values(
                id=t.example_id,
                width=width,
                height=height,
                mode=mode,
                source="labelstudio",
                meta={"name": f"labelstudio task {t.index}"},
                created_at=now,
            )
        )
        report.examples_added += 1


def _import_task(
    conn: Connection,
    t: _Task,
    report: ImportReport,
    rules: LabelingRules,
    as_staged: bool,
    labels_needed: int,
    now: datetime,
) -> None:
    eid = t.example_id
    truth = [a for a in t.answers if a.ground_truth and a.label is not None]
    answers = [a for a in t.answers if not a.ground_truth]
    item = conn.execute(queue.select().where(queue.c.example_id == eid)).first()
    if item is None:
        needed = t.meta.get("labels_needed")
        conn.execute(
            queue.insert().values(
                example_id=eid,
                source="gold" if truth else "import",
                priority=float(t.meta.get("priority") or 0.0),
                labels_needed=needed if isinstance(needed, int) and needed >= 1 else labels_needed,
                added_at=now,
                done_at=None,
                meta={},
            )
        )
        report.queued += 1
    if truth:
        conn.execute(gold.delete().where(gold.c.example_id == eid))
        conn.execute(
            gold.insert().values(
                example_id=eid,
                label=truth[-1].label,
                created_by=truth[-1].user,
                created_at=truth[-1].created_at,
            )
        )
        stage(conn, eid, str(truth[-1].label), rules)
        conn.execute(
            queue.update().where(queue.c.example_id == eid).values(source="gold", done_at=None)
        )
        report.gold += 1
    if as_staged:
        labels = [a.label for a in answers if a.label is not None]
        winner = consensus(labels, len(labels)) if labels else None
        if winner is None:
            if labels:
                report.unresolved.append(eid)
            return
        stage(conn, eid, winner, rules)
        if not truth:
            conn.execute(
                queue.update()
                .where(queue.c.example_id == eid)
                .values(
                    done_at=now,
                    meta={
                        "decision": {
                            "by": "import",
                            "label": winner,
                            "at": now.isoformat(),
                            "replaced": None,
                        }
                    },
                )
            )
        report.staged += 1
        return
    _insert_answers(conn, eid, answers, report)
    decision = t.meta.get("decision")
    if isinstance(decision, dict) and decision.get("by") not in (None, CONSENSUS):
        row = conn.execute(queue.select().where(queue.c.example_id == eid)).first()
        current: dict[str, Any] = dict(row.meta or {}) if row is not None else {}
        if not current.get("decision"):
            before = conn.execute(select(staged.c.label).where(staged.c.example_id == eid)).scalar()
            stage(conn, eid, str(decision["label"]), rules)
            conn.execute(
                queue.update()
                .where(queue.c.example_id == eid)
                .values(
                    done_at=now,
                    meta={**current, "decision": {**decision, "replaced": before}},
                )
            )
    settle(conn, eid, rules)


def _insert_answers(
    conn: Connection, eid: str, answers: list[_Answer], report: ImportReport
) -> None:
    existing = {
        (r.user, r.label, as_utc(r.created_at))
        for r in conn.execute(
            select(annotations_t.c.user, annotations_t.c.label, annotations_t.c.created_at).where(
                annotations_t.c.example_id == eid
            )
        )
    }
    for a in sorted(answers, key=lambda a: a.created_at):
        if (a.user, a.label, a.created_at) in existing:
            report.duplicates += 1
            continue
        # One standing answer per person and example, as when labeling here: a later
        # answer by the same person replaces (retracts) the earlier one.
        conn.execute(
            annotations_t.update()
            .where(
                annotations_t.c.example_id == eid,
                annotations_t.c.user == a.user,
                annotations_t.c.retracted_at.is_(None),
            )
            .values(retracted_at=a.created_at)
        )
        conn.execute(
            annotations_t.insert().values(
                example_id=eid,
                user=a.user,
                label=a.label,
                created_at=a.created_at,
                seconds=a.seconds,
            )
        )
        report.annotations += 1


def _known(conn: Connection, example_id: str) -> bool:
    return (
        conn.execute(select(examples.c.id).where(examples.c.id == example_id)).first() is not None
    )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    text = json.dumps(value)[:60] if isinstance(value, dict | list | str) else repr(value)
    return f"{type(value).__name__} {text}"
