"""``[data]``: where examples come from and where the data stage keeps them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from dlstack.config._base import Section
from dlstack.layout import STATE_DIR

__all__ = ["BUILTIN_SOURCES", "DEFAULT_SPLIT", "DataConfig", "S3Config", "StepConfig"]

DEFAULT_SPLIT = (0.8, 0.1, 0.1)  # train/val/test fractions of each class
BUILTIN_SOURCES = ("builtin:digits", "builtin:digits8")


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

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] == 0:
            raise ValueError(
                f"must be three non-negative fractions (train, val, test) summing to 1 "
                f"with train > 0, got {list(v)}"
            )
        return v
