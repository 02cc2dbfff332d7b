"""`dlstack init`: a fresh dlstack.toml, written from the defaults themselves.

Every value the template spells out is read from the config sections' defaults, so the
file a user starts from and the behaviour of a missing key can never disagree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dlstack.config._data import BUILTIN_SOURCES, DataConfig
from dlstack.config._gate import DEFAULT_REQUIRED_GATES, GATE_NAMES
from dlstack.config._infer import TableGuess, is_table_source, source_image_spec, source_table
from dlstack.config._lines import LINES_ALPHABET, LinesConfig
from dlstack.config._metric import TASK_OBJECTIVES, MetricConfig
from dlstack.config._root import Project, parse_config
from dlstack.config._train import DEFAULT_MAX_EPOCHS, AugmentConfig, ModelConfig, TrainConfig
from dlstack.config._tune import DEFAULT_SPACE, TuneConfig
from dlstack.errors import ConfigError
from dlstack.inputs import MANIFEST_SUFFIXES, ImageSpec, is_hf_source
from dlstack.layout import CONFIG_FILE
from dlstack.models import ARCHITECTURE_NAMES
from dlstack.records import write_atomic

__all__ = ["init_project", "render_template", "toml_value"]

_COMMENT_COLUMN = 35  # where trailing comments start, as in the README's examples

# The 5,000 MNIST digits over-fit a LeNet (train accuracy 1.00, val 0.98), and the doctor's
# plan for over-fitting reads "more data, normalization, augmentation". On the demo's split
# (seeds 0-2, chosen by mean validation accuracy; bench/digits_defaults.py) shifts and
# stroke changes drawn afresh each epoch tied fixed augmented copies (val 0.987 both) at
# half the training time, and beat batch norm (0.982) and no change (0.984).
_AUGMENT_ON_FOR = ("builtin:digits", "builtin:lines")
# The line reader's recipe (bench/lines.py): without augmentation and dropout it over-fits
# the train writers' glyphs (train loss 0.03 against val 0.18 at 12 epochs); with them
# train and val agree and it keeps improving. 30 epochs of batch 32 fit in 15 minutes of
# 2 CPU cores.
LINES_RECIPE = {"lr": 1e-3, "batch_size": 32, "max_epochs": 30, "dropout": 0.2}
LINES_SOURCE = "builtin:lines"


# What the task line of a fresh dlstack.toml says about the other tasks.
TASK_COMMENTS = {
    "classification": 'or "multilabel", "regression", "ctc" (line transcription)',
    "multilabel": 'inferred: the target holds sets of labels ("cat|dog")',
    "regression": 'inferred: the target holds numbers; "classification" for codes',
    "ctc": "line transcription: a line image -> its text ([data] classes: the alphabet)",
}

OBJECTIVE_COMMENTS = {
    "multilabel": "or map, f1[CLASS]; per class f1/precision/recall/ap",
    "regression": "or mae, rmse (lower is better); per target mae[y], r2[y]",
}


def toml_value(value: Any) -> str:
    """A TOML literal for a default: strings quoted, floats as written, tables inline.

    >>> toml_value(3e-4), toml_value((0.8, 0.1, 0.1)), toml_value({"a": True})
    ('3e-4', '[0.8, 0.1, 0.1]', '{a = true}')
    >>> print(toml_value('say "hi"'))
    "say \\"hi\\""
    """
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def _float(value: float) -> str:
    """The shortest exact spelling, exponent form for small steps (``3e-4``, not ``0.0003``)."""
    plain = repr(value)
    if value != 0 and abs(value) < 1e-2:
        mantissa, exponent = f"{value:e}".split("e")
        short = f"{float(mantissa):g}e{int(exponent)}"
        if float(short) == value:
            return short
    return plain


def _line(key: str, value: Any, comment: str = "", *, commented: bool = False) -> str:
    text = f"{'# ' if commented else ''}{key} = {toml_value(value)}"
    if comment:
        text = f"{text.ljust(_COMMENT_COLUMN - 2)}  # {comment}"
    return text


def _table_lines(guess: TableGuess) -> list[str]:
    """``[data.table]``: the features of a table source, as init read them."""
    categorical = [c.name for c in guess.table.columns if c.kind == "categorical"]
    return [
        "[data.table]".ljust(_COMMENT_COLUMN - 2) + "  # inferred from the source; check it",
        *[f"# {note}" for note in guess.notes],
        _line("features", guess.table.names),
        _line("categorical", categorical, "one-hot; the others are numbers, standardized"),
        _line("missing", "mean", 'a missing value: train mean / no category; or "refuse"'),
        "",
    ]


def _image_lines(image: ImageSpec | None, notes: Sequence[str]) -> list[str]:
    """``[data.image]``: what the source's images imply, spelled out for the user to check."""
    if image is None:
        return [
            "[data.image]".ljust(_COMMENT_COLUMN - 2)
            + "  # inferred at the first ingest when left out",
            _line("channels", 3, "1 grayscale, 3 RGB", commented=True),
            _line("size", [32, 32], "[height, width]", commented=True),
            _line("resize", "fit", "other sizes: fit (pad), stretch, crop", commented=True),
            "",
        ]
    if image.variable_width:
        return [
            "[data.image]",
            *[f"# {note}" for note in notes],
            _line("channels", image.channels, "1 grayscale, 3 RGB"),
            _line("size", image.to_dict()["size"], "[height, width]: lines keep their aspect"),
            _line("background", image.background, "dark/light: strokes (inverted to match); any"),
            "",
        ]
    return [
        "[data.image]".ljust(_COMMENT_COLUMN - 2) + "  # inferred from the source; check it",
        *[f"# {note}" for note in notes],
        _line("channels", image.channels, "1 grayscale, 3 RGB"),
        _line("size", list(image.size), "[height, width]"),
        _line("resize", image.resize, "other sizes: fit (keep aspect, pad), stretch, crop"),
        _line("background", image.background, "dark/light: strokes (inverted to match); any"),
        "",
    ]


def _lines_lines() -> list[str]:
    """``[data.lines]``: how builtin:lines composes its lines, every default spelled out."""
    lines = LinesConfig()
    comments = {
        "train": "lines per split (val, test below)",
        "seed": "the composer's; the glyphs' splits follow [data] split and seed",
        "glyph_scale": "a glyph's height / the line's",
        "spacing": "gap / line height (negative overlaps)",
        "stroke": "P(thinner, same, thicker)",
        "kinds": "weights of the kinds of line",
    }
    return [
        "[data.lines]".ljust(_COMMENT_COLUMN - 2)
        + f"  # {LINES_SOURCE}: lines from the digits' glyphs",
        *[_line(k, v, comments.get(k, "")) for k, v in lines.model_dump().items()],
        "",
    ]


def _gate_lines() -> list[str]:
    """``[gate]``, commented: the defaults hold until the user changes them."""
    others = ", ".join(g for g in GATE_NAMES if g not in DEFAULT_REQUIRED_GATES)
    return [
        "",
        "# [gate]".ljust(_COMMENT_COLUMN - 2) + "  # what `dlstack run` requires to release",
        _line("required", list(DEFAULT_REQUIRED_GATES), f"also: {others}", commented=True),
    ]


def _tune_lines() -> list[str]:
    """``[tune]``, commented: what `dlstack tune` searches when the user asks for more."""
    tune = TuneConfig()
    return [
        "",
        "# [tune]".ljust(_COMMENT_COLUMN - 2) + "  # `dlstack tune`; without a space: lr only",
        _line("strategy", tune.strategy, 'or "random", "bayes"', commented=True),
        _line("trials", tune.trials, "all rounds together", commented=True),
        _line("max_epochs", 5, "per trial; retrain the winner: --from-trial", commented=True),
        _line("pruner", tune.pruner, 'or "median", "hyperband"', commented=True),
        "# [tune.space]",
        _line("lr", DEFAULT_SPACE["lr"], "any [train] or [model] key", commented=True),
        _line("width", "int 16 128", "the first layer's width", commented=True),
    ]


def render_template(
    *,
    name: str,
    source: str,
    task: str = "classification",
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    image: ImageSpec | None = None,
    image_notes: Sequence[str] = (),
    table: TableGuess | None = None,
    classes: Sequence[str] = (),
) -> str:
    """The dlstack.toml `dlstack init` writes (validated by the caller). ``classes``:
    declared ``[data] classes`` (builtin:lines: its alphabet, the space included)."""
    data, model, train, metric = DataConfig(), ModelConfig(), TrainConfig(), MetricConfig()
    augment = AugmentConfig()
    on = source in _AUGMENT_ON_FOR
    names = ", ".join(toml_value(n) for n in ARCHITECTURE_NAMES)
    lines = [
        "[project]",
        _line("name", name),
        _line("task", task, TASK_COMMENTS.get(task, "")),
        "",
        "[data]",
        _line("source", source),
        *([_line("target", table.target, "the column to learn")] if table is not None else []),
        *(
            [_line("separator", data.separator, "between the labels of one example")]
            if task == "multilabel"
            else []
        ),
        *([_line("classes", list(classes), _classes_comment(task))] if classes else []),
        _line("store", data.store, 'or "s3://bucket/prefix"'),
        _line("catalog", data.catalog),
        _line("split", data.split, "train, val, test fractions of each class"),
        _line("seed", data.seed),
        _line("subset", 500, "start with a small training set (count or fraction)", commented=True),
        "",
        "# [[data.steps]]".ljust(_COMMENT_COLUMN - 2)
        + "  # versioned, cached transforms of the data (see README)",
        '# name = "augment"                 # built-ins: resample, augment, resplit, resize',
        '# call = "augment"                 # or "package.module:function"',
        "# params = {copies = 1, max_shift = 2}",
        "",
        *(_image_lines(image, image_notes) if table is None or table.images else []),
        *(_table_lines(table) if table is not None else []),
        *(_lines_lines() if source == LINES_SOURCE else []),
        "[model]",
        _line("architecture", model.architecture, f'by modality; or {names}, "pkg.mod:build"'),
        "",
        "[train]".ljust(_COMMENT_COLUMN - 2) + "  # the practice's defaults, spelled out",
        _line("optimizer", train.optimizer),
        _line("lr", LINES_RECIPE["lr"] if task == "ctc" else train.lr),
        _line("batch_size", LINES_RECIPE["batch_size"] if task == "ctc" else train.batch_size),
        _line("max_epochs", max_epochs),
        _line("seed", train.seed),
        *(
            [_line("dropout", LINES_RECIPE["dropout"], "before the last layer")]
            if task == "ctc"
            else []
        ),
        *(
            []
            if table is not None and not table.images  # shifts and strokes: images only
            else [
                _line(
                    "augment",
                    augment,
                    "new random shifts each epoch" if on else "if it over-fits",
                    commented=not on,
                )
            ]
        ),
        "",
        "[metric]",
        _line(
            "optimize", TASK_OBJECTIVES.get(task, metric.optimize), OBJECTIVE_COMMENTS.get(task, "")
        ),
        *_gate_lines(),
        *_tune_lines(),
    ]
    return "\n".join(lines) + "\n"


def _classes_comment(task: str) -> str:
    if task == "ctc":
        return "the alphabet, in output order (the last is a space)"
    return "a label outside them is refused"


def init_project(
    root: str | Path,
    source: str = "builtin:digits",
    *,
    name: str | None = None,
    max_epochs: int | None = None,
    force: bool = False,
) -> Project:
    """Write a fresh ``dlstack.toml`` into ROOT (created if missing)."""
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to overwrite it")
    manifest = is_table_source(source)
    table = source_table(source) if manifest else None
    known = source in BUILTIN_SOURCES or Path(source).expanduser().is_dir() or manifest
    if not (known or is_hf_source(source)):
        raise ConfigError(
            f"--from must be one of {', '.join(BUILTIN_SOURCES)}, an existing folder of "
            f"class subfolders, a manifest ({', '.join(MANIFEST_SUFFIXES)}: feature "
            f"columns, a 'path' column naming images, or both), or a Hugging Face dataset "
            f"(a save_to_disk folder, a Parquet export, hf:NAME), got {source!r}"
        )
    if name is None:
        name = source.split(":", 1)[1] if source.startswith("builtin:") else root.name
    tabular = table is not None and not table.images
    image, notes = (None, []) if tabular else source_image_spec(source)
    if max_epochs is None:
        # Images train for the default epochs; a small table needs more (TableGuess.epochs).
        max_epochs = table.epochs if tabular and table is not None else DEFAULT_MAX_EPOCHS
        if source == LINES_SOURCE:
            max_epochs = int(LINES_RECIPE["max_epochs"])
    if not source.startswith(("builtin:", "hf:")):
        # Written relative to the project directory (where dlstack resolves it), so the
        # project finds its data whatever folder a later command runs in.
        source = os.path.relpath(Path(source).expanduser().resolve(), root)
    lines = source == LINES_SOURCE
    text = render_template(
        name=name,
        source=source,
        task="ctc" if lines else table.task if table is not None else "classification",
        max_epochs=max_epochs,
        image=image,
        image_notes=notes,
        table=table,
        classes=list(LINES_ALPHABET) if lines else (),
    )
    config = parse_config(text)  # the template itself must validate
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return Project(root, config)
