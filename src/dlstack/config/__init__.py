"""dlstack.toml -> validated, frozen config: one section per stage, each in its own module.

A project is a directory holding ``dlstack.toml``; everything dlstack writes lives under
``.dlstack/`` beside it (:mod:`dlstack.layout`). Validation happens once, here; code
inside trusts the objects. torch-free: serving reads its ``[serve]`` section too.

    [project]  _project.py    [data]   _data.py     [model], [train]  _train.py
    [metric]   _metric.py     [tests]  _tests.py    [score]  _score.py (+ _rubric.py)
    [gate]     _gate.py       [serve]  _serve.py    [tune]   _tune.py
    --set KEY=VALUE and a tuning trial's values                       _overrides.py
    the whole file, Project, load_project                             _root.py
    `dlstack init`'s template, written from the defaults              _template.py

>>> cfg = Config.model_validate({"project": {"name": "demo"}})
>>> cfg.train.lr
0.0003
"""

from dlstack.config._base import Section, format_validation_error
from dlstack.config._data import (
    BUILTIN_SOURCES,
    DEFAULT_SPLIT,
    DataConfig,
    ImageConfig,
    S3Config,
    StepConfig,
    TableConfig,
)
from dlstack.config._gate import DEFAULT_REQUIRED_GATES, GATE_NAMES, GateConfig
from dlstack.config._lines import (
    DEFAULT_LINES_TEST,
    DEFAULT_LINES_TRAIN,
    DEFAULT_LINES_VAL,
    LINES_ALPHABET,
    LinesConfig,
)
from dlstack.config._metric import (
    TASK_OBJECTIVES,
    BaselinesConfig,
    ExternalBaselineConfig,
    MetricConfig,
)
from dlstack.config._overrides import full_key, overridable_keys, parse_override, with_overrides
from dlstack.config._project import ProjectConfig
from dlstack.config._root import Config, Project, load_project, parse_config
from dlstack.config._rubric import BANDS as SCORE_BANDS
from dlstack.config._rubric import SECTIONS as SCORE_SECTIONS
from dlstack.config._rubric import TEST_IDS as SCORE_TEST_IDS
from dlstack.config._rubric import TESTS as SCORE_TESTS
from dlstack.config._score import ManualCheckConfig, ScoreConfig
from dlstack.config._serve import ServeConfig, ServeKeyConfig
from dlstack.config._template import init_project, render_template
from dlstack.config._tests import (
    DirectionalTestConfig,
    EvalTestsConfig,
    InvarianceTestConfig,
    SliceTestConfig,
)
from dlstack.config._train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_OPTIMIZER,
    OPTIMIZERS,
    SGD_MOMENTUM,
    AugmentConfig,
    ModelConfig,
    TrainConfig,
)
from dlstack.config._tune import DEFAULT_SPACE, DISTRIBUTIONS, Dimension, TuneConfig
from dlstack.layout import CONFIG_FILE

__all__ = [
    "BUILTIN_SOURCES",
    "CONFIG_FILE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LINES_TEST",
    "DEFAULT_LINES_TRAIN",
    "DEFAULT_LINES_VAL",
    "DEFAULT_LR",
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_OPTIMIZER",
    "DEFAULT_REQUIRED_GATES",
    "DEFAULT_SPACE",
    "DEFAULT_SPLIT",
    "DISTRIBUTIONS",
    "GATE_NAMES",
    "LINES_ALPHABET",
    "OPTIMIZERS",
    "SCORE_BANDS",
    "SCORE_SECTIONS",
    "SCORE_TESTS",
    "SCORE_TEST_IDS",
    "SGD_MOMENTUM",
    "TASK_OBJECTIVES",
    "AugmentConfig",
    "BaselinesConfig",
    "Config",
    "DataConfig",
    "Dimension",
    "DirectionalTestConfig",
    "EvalTestsConfig",
    "ExternalBaselineConfig",
    "GateConfig",
    "ImageConfig",
    "InvarianceTestConfig",
    "LinesConfig",
    "ManualCheckConfig",
    "MetricConfig",
    "ModelConfig",
    "Project",
    "ProjectConfig",
    "S3Config",
    "ScoreConfig",
    "Section",
    "ServeConfig",
    "ServeKeyConfig",
    "SliceTestConfig",
    "StepConfig",
    "TableConfig",
    "TrainConfig",
    "TuneConfig",
    "format_validation_error",
    "full_key",
    "init_project",
    "load_project",
    "overridable_keys",
    "parse_config",
    "parse_override",
    "render_template",
    "with_overrides",
]
