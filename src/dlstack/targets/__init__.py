"""A task's targets: how they are stored, what a model learns from, how answers are read.

Torch-free (part of the kernel): ingest reads targets here, checkout turns them into
arrays, serving turns a model's outputs back into answers.

- ``_stored``: the canonical stored label per task (:class:`TargetSpec`), target arrays,
  :func:`decide` and feedback labels;
- ``_ctc``: line texts <-> codes, greedy and beam-search decoding of CTC frames;
- ``_answer``: :class:`Answer`, one example's answer.
"""

from dlstack.targets._answer import Answer
from dlstack.targets._ctc import (
    BLANK,
    CTC_DECODERS,
    DEFAULT_BEAM_WIDTH,
    beam_decode,
    ctc_codes,
    ctc_text,
    decide_ctc,
    greedy_decode,
    line_frames,
    softmax,
)
from dlstack.targets._stored import (
    DEFAULT_SEPARATOR,
    DEFAULT_THRESHOLD,
    FLOAT_TARGETS,
    TASKS,
    TargetSpec,
    canonical_multilabel,
    canonical_regression,
    decide,
    feedback_label,
    multilabel_names,
    regression_values,
    sigmoid,
    target_matrix,
)

__all__ = [
    "BLANK",
    "CTC_DECODERS",
    "DEFAULT_BEAM_WIDTH",
    "DEFAULT_SEPARATOR",
    "DEFAULT_THRESHOLD",
    "FLOAT_TARGETS",
    "TASKS",
    "Answer",
    "TargetSpec",
    "beam_decode",
    "canonical_multilabel",
    "canonical_regression",
    "ctc_codes",
    "ctc_text",
    "decide",
    "decide_ctc",
    "feedback_label",
    "greedy_decode",
    "line_frames",
    "multilabel_names",
    "regression_values",
    "sigmoid",
    "softmax",
    "target_matrix",
]
