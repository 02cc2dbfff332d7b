"""Labeling: a queue of examples, people who label them, and the labels that result.

The flow::

    ingest / serving feedback ──► enqueue ──► queue (uncertainty first, else seeded random)
                                                │  next_items(user)
                                                ▼
             web page (`dlstack label`) ──► record_label / skip / undo_last (who, when, time)
                                                │  majority of labels_needed agree,
                                                │  or a reviewer decides
                                                ▼
                          staged (split from data.split/seed) ──► `dlstack data commit`

Gold examples (known answers) measure each labeler; ``human_baseline`` pools them into
the error people make on this data, which reports show next to the model. Agreement is
reported per example and as Cohen's (pairs) and Fleiss' (overall) kappa. Label Studio
JSON moves the work to and from that tool.

The web app (``create_app``) needs FastAPI and is imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlstack.data.labeling._common import InvalidLabel, LabelingRules, NotFound, consensus
from dlstack.data.labeling.accounts import (
    ROLES,
    User,
    authenticate,
    create_user,
    disable_user,
    list_users,
    rotate_token,
)
from dlstack.data.labeling.agreement import (
    Agreement,
    ExampleAgreement,
    PairKappa,
    agreement,
    cohen_kappa,
    fleiss_kappa,
)
from dlstack.data.labeling.baseline import (
    HumanBaseline,
    LabelerScore,
    add_gold,
    human_baseline,
    list_gold,
    remove_gold,
    sample_gold,
)
from dlstack.data.labeling.labels import (
    Annotation,
    Disputed,
    decide,
    disputed,
    record_label,
    undo_last,
)
from dlstack.data.labeling.labelstudio import (
    ImportReport,
    export_labelstudio,
    import_labelstudio,
    label_config,
    read_tasks,
    write_tasks,
)
from dlstack.data.labeling.queue import (
    FEEDBACK_PRIORITY,
    UNCERTAINTY_METHODS,
    QueueItem,
    enqueue,
    next_items,
    set_labels_needed,
    set_priorities,
    uncertainty,
)
from dlstack.data.labeling.stats import LabelingStats, Progress, labeling_stats, progress

if TYPE_CHECKING:
    from dlstack.data.labeling.app import create_app

__all__ = [
    "FEEDBACK_PRIORITY",
    "ROLES",
    "UNCERTAINTY_METHODS",
    "Agreement",
    "Annotation",
    "Disputed",
    "ExampleAgreement",
    "HumanBaseline",
    "ImportReport",
    "InvalidLabel",
    "LabelerScore",
    "LabelingRules",
    "LabelingStats",
    "NotFound",
    "PairKappa",
    "Progress",
    "QueueItem",
    "User",
    "add_gold",
    "agreement",
    "authenticate",
    "cohen_kappa",
    "consensus",
    "create_app",
    "create_user",
    "decide",
    "disable_user",
    "disputed",
    "enqueue",
    "export_labelstudio",
    "fleiss_kappa",
    "human_baseline",
    "import_labelstudio",
    "label_config",
    "labeling_stats",
    "list_gold",
    "list_users",
    "next_items",
    "progress",
    "read_tasks",
    "record_label",
    "remove_gold",
    "rotate_token",
    "sample_gold",
    "set_labels_needed",
    "set_priorities",
    "uncertainty",
    "undo_last",
    "write_tasks",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # FastAPI only when the server is wanted
        from dlstack.data.labeling.app import create_app

        return create_app
    raise AttributeError(f"module 'dlstack.data.labeling' has no attribute {name!r}")
