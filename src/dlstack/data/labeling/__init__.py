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

The web app is :func:`dlstack.data.create_labeling_app` (`dlstack label`).
"""

from __future__ import annotations

from dlstack.data.labeling._accounts import (
    ROLES,
    User,
    authenticate,
    create_user,
    disable_user,
    list_users,
    rotate_token,
)
from dlstack.data.labeling._agreement import (
    Agreement,
    ExampleAgreement,
    PairKappa,
    agreement,
    cohen_kappa,
    fleiss_kappa,
)
from dlstack.data.labeling._baseline import (
    HumanBaseline,
    LabelerScore,
    add_gold,
    human_baseline,
    list_gold,
    remove_gold,
    sample_gold,
)
from dlstack.data.labeling._common import InvalidLabel, LabelingRules, NotFound, consensus
from dlstack.data.labeling._labels import (
    Annotation,
    Disputed,
    decide,
    disputed,
    record_label,
    undo_last,
)
from dlstack.data.labeling._labelstudio import (
    ImportReport,
    export_labelstudio,
    import_labelstudio,
    label_config,
    read_tasks,
    write_tasks,
)
from dlstack.data.labeling._queue import (
    FEEDBACK_PRIORITY,
    UNCERTAINTY_METHODS,
    QueueItem,
    enqueue,
    enqueue_example,
    next_items,
    set_labels_needed,
    set_priorities,
    uncertainty,
)
from dlstack.data.labeling._stats import LabelingStats, Progress, labeling_stats, progress

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
    "create_user",
    "decide",
    "disable_user",
    "disputed",
    "enqueue",
    "enqueue_example",
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
