"""``[data]``: where examples come from and where the data stage keeps them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from dlstack.config._base import Section
from dlstack.config._lines import LinesConfig
from dlstack.inputs import VARIABLE_WIDTH
from dlstack.layout import STATE_DIR
from dlstack.targets import DEFAULT_SEPARATOR

__all__ = [
    "BUILTIN_SOURCES",
    "DEFAULT_SPLIT",
    "MAX_IMAGE_SIDE",
    "DataConfig",
    "ImageConfig",
    "S3Config",
    "StepConfig",
    "TableConfig",
]

DEFAULT_SPLIT = (0.8, 0.1, 0.1)  # train/val/test fractions of each class
BUILTIN_SOURCES = ("builtin:digits", "builtin:digits8", "builtin:lines")
# Arrays of N x side x side x 3 bytes: a snapshot of 10,000 images at 1024 px is 31 GB.
MAX_IMAGE_SIDE = 1024


class S3Config(Section):
    """Where an ``s3://`` store lives. Credentials come from the usual AWS environment
    variables or profiles; they are not written into dlstack.toml."""

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO/moto; AWS if None
    region: str | None = None
    profile: str | None = None


class StepConfig(Section):
    """One declared data step (see dlstack.data.run_steps)."""

    name: Annotated[str, Field(min_length=1)]
    call: Annotated[str, Field(min_length=1)]  # built-in step name or "module:function"
    params: dict[str, Any] = Field(default_factory=dict)


class ImageConfig(Section):
    """``[data.image]``: the model's image input, applied at checkout and at serving.

    Left out, ``channels`` and ``size`` are inferred at the first ingest (the majority
    size; RGB when the images hold color) and ``dlstack data status`` shows what was
    inferred; `dlstack init` writes them here for the user to check.
    """

    channels: Literal[1, 3] | None = None  # 1 grayscale, 3 RGB
    # [height, width], or [height, "variable"]: lines, each scaled to the height keeping
    # its aspect ratio (batches padded with the background; the resize policy is unused).
    size: tuple[int, int | Literal["variable"]] | None = None
    # Other sizes: "fit" keeps the aspect ratio and pads, "stretch", "crop" keeps the center.
    resize: Literal["fit", "stretch", "crop"] = "fit"
    # "dark"/"light": strokes on a background (an image of the other kind is inverted at
    # serving); "any": photos, never inverted; "auto": inferred from the images' borders.
    background: Literal["auto", "dark", "light", "any"] = "auto"

    @field_validator("size", mode="before")
    @classmethod
    def _size_form(cls, v: Any) -> Any:
        if v is None:
            return v
        side = range(1, MAX_IMAGE_SIDE + 1)

        def is_side(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool) and x in side

        ok = (
            isinstance(v, list | tuple)
            and len(v) == 2
            and is_side(v[0])
            and (is_side(v[1]) or v[1] == "variable")
        )
        if not ok:
            raise ValueError(
                f"must be [height, width] (whole pixels, 1 to {MAX_IMAGE_SIDE}) or "
                f'[height, "variable"] for lines of any width, got {v!r}; e.g. size = '
                f'[28, 28], or size = [32, "variable"]'
            )
        return tuple(v)

    @property
    def spec_size(self) -> tuple[int, int] | None:
        """``size`` as an ``ImageSpec`` takes it: a variable width is ``VARIABLE_WIDTH``."""
        if self.size is None:
            return None
        h, w = self.size
        return (h, VARIABLE_WIDTH if w == "variable" else w)

    @property
    def variable_width(self) -> bool:
        return self.size is not None and self.size[1] == "variable"


class TableConfig(Section):
    """``[data.table]``: the feature columns of a tabular source (a CSV, JSONL or Parquet
    manifest without a ``path`` column). `dlstack init` writes what it inferred."""

    # Empty: every column but the target and split. Columns left out are metadata (slices).
    features: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    categorical: tuple[str, ...] = ()  # read as categories (one-hot); the others numeric
    # A missing value: "mean" fills numbers with the train mean and encodes a category as
    # all zeros; "refuse" rejects the row at ingest.
    missing: Literal["mean", "refuse"] = "mean"


class DataConfig(Section):
    source: str = "builtin:digits"
    store: str = f"{STATE_DIR}/objects"
    catalog: str = f"sqlite:///{STATE_DIR}/catalog.db"
    lake: str = f"{STATE_DIR}/lake"  # Parquet logs; may be s3://bucket/lake
    s3: S3Config = S3Config()
    split: tuple[float, float, float] = DEFAULT_SPLIT
    seed: int = 0
    # "Start with a small training set": a count (>1) or a fraction (<=1) of the train split.
    subset: Annotated[float, Field(gt=0)] | None = None
    steps: tuple[StepConfig, ...] = ()
    image: ImageConfig = ImageConfig()
    table: TableConfig = TableConfig()
    lines: LinesConfig = LinesConfig()  # how builtin:lines composes its lines
    # The manifest column to learn; a regression may name several: ["y1", "y2"].
    target: (
        Annotated[str, Field(min_length=1)] | tuple[Annotated[str, Field(min_length=1)], ...]
    ) = "label"
    # A multilabel column's separator between labels ("cat|dog"); a JSON list also reads.
    separator: Annotated[str, Field(min_length=1)] = DEFAULT_SEPARATOR
    # The classes (a ctc task: the alphabet's characters); empty: those the data holds.
    # Declared, a label outside them is an error.
    classes: tuple[Annotated[str, Field(min_length=1)], ...] = ()

    @field_validator("target")
    @classmethod
    def _targets(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(v, tuple):
            if not v:
                raise ValueError('must name at least one column, e.g. "label" or ["y1", "y2"]')
            if len(set(v)) != len(v):
                raise ValueError(f"names a column twice: {list(v)}")
            if len(v) == 1:
                return v[0]
        return v

    @property
    def targets(self) -> tuple[str, ...]:
        """The target column(s) as a tuple."""
        return (self.target,) if isinstance(self.target, str) else tuple(self.target)

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] == 0:
            raise ValueError(
                f"must be three non-negative fractions (train, val, test) summing to 1 "
                f"with train > 0, got {list(v)}"
            )
        return v
