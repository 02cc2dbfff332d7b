"""dlstack.toml -> validated, frozen config objects.

A project is a directory holding ``dlstack.toml``; everything dlstack writes lives under
``.dlstack/`` beside it. Validation happens once, here; code inside trusts the objects.

>>> cfg = Config.model_validate({"project": {"name": "demo"}})
>>> cfg.train.lr
0.0003
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlstack.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "Config",
    "DataConfig",
    "MetricConfig",
    "ModelConfig",
    "Project",
    "ProjectConfig",
    "TrainConfig",
    "init_project",
    "load_project",
]

CONFIG_FILE = "dlstack.toml"
STATE_DIR = ".dlstack"

DEFAULT_LR = 3e-4  # Adam's default step size, the practice's recommended starting point
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_EPOCHS = 15
DEFAULT_SPLIT = (0.8, 0.1, 0.1)  # train/val/test fractions of each class
BUILTIN_SOURCES = ("builtin:digits", "builtin:digits8")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProjectConfig(_Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "project"
    task: Literal["classification", "ctc"] = "classification"


class S3Config(_Section):
    """Where an ``s3://`` store lives. Credentials come from the usual AWS environment
    variables or profiles; they are not written into dlstack.toml."""

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO/moto; AWS if None
    region: str | None = None
    profile: str | None = None


class StepConfig(_Section):
    """One declared data step (see dlstack.data.workflow)."""

    name: Annotated[str, Field(min_length=1)]
    call: Annotated[str, Field(min_length=1)]  # built-in step name or "module:function"
    params: dict[str, Any] = {}


class DataConfig(_Section):
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


class ModelConfig(_Section):
    # "auto" picks by modality; else a registered name or "package.module:callable".
    architecture: str = "auto"

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, v: str) -> str:
        names = ("auto", "mlp", "lenet", "resnet")
        if v in names or (":" in v and all(v.split(":", 1))):
            return v
        raise ValueError(
            f"must be one of {', '.join(repr(n) for n in names)} or 'module:callable', got {v!r}"
        )


class TrainConfig(_Section):
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: Annotated[float, Field(gt=0)] = DEFAULT_LR
    batch_size: Annotated[int, Field(ge=1)] = DEFAULT_BATCH_SIZE
    max_epochs: Annotated[int, Field(ge=1)] = DEFAULT_MAX_EPOCHS
    seed: int = 0
    # The practice starts with no regularization; these exist so that it can be added later.
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    num_workers: Annotated[int, Field(ge=0)] = 0


class MetricConfig(_Section):
    optimize: str = "accuracy"
    constraints: tuple[str, ...] = ()
    requirement: Annotated[float, Field(gt=0, le=1)] | None = None


class ServeConfig(_Section):
    """``[serve]``: the prediction server (dlstack.serve). Owned by the serve stage."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080


class EvalTestsConfig(_Section):
    """``[tests]``: what a model package must meet (`dlstack test`). Owned by evaluate."""


class Config(_Section):
    project: ProjectConfig = ProjectConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    metric: MetricConfig = MetricConfig()
    tests: EvalTestsConfig = EvalTestsConfig()
    serve: ServeConfig = ServeConfig()


class Project:
    """A project directory and its validated config; paths of everything dlstack keeps there."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root
        self.config = config

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def store_url(self) -> str:
        return self._resolve(self.config.data.store)

    @property
    def lake_url(self) -> str:
        return self._resolve(self.config.data.lake)

    @property
    def lake_options(self) -> dict[str, Any]:
        return self._s3_options(self.lake_url)

    @property
    def store_options(self) -> dict[str, Any]:
        """fsspec options for the store (S3 endpoint, region, profile; env fills the rest)."""
        return self._s3_options(self.store_url)

    def _s3_options(self, url: str) -> dict[str, Any]:
        if not url.startswith("s3://"):
            return {}
        s3 = self.config.data.s3
        endpoint = (
            s3.endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        opts: dict[str, Any] = {}
        if endpoint:
            opts["endpoint_url"] = endpoint
        if s3.region:
            opts["client_kwargs"] = {"region_name": s3.region}
        if s3.profile:
            opts["profile"] = s3.profile
        return opts

    @property
    def catalog_url(self) -> str:
        url = self.config.data.catalog
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.root / url.removeprefix("sqlite:///"))
        return url

    @property
    def snapshots_dir(self) -> Path:
        return self.state_dir / "snapshots"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def models_dir(self) -> Path:
        return self.state_dir / "models"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def artifacts_uri(self) -> str:
        return (self.state_dir / "mlruns").as_uri()

    def _resolve(self, location: str) -> str:
        if "://" in location:
            return location
        path = Path(location)
        return str(path if path.is_absolute() else self.root / path)


def format_validation_error(err: ValidationError) -> str:
    """One line per problem: ``train.lr must be > 0, got -1``."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "config"
        got = e.get("input")
        ctx = e.get("ctx") or {}
        kind = e["type"]
        if kind == "extra_forbidden":
            section = e["loc"][:-1]
            allowed = _allowed_keys(section)
            lines.append(f"{key} is not a known key; allowed here: {', '.join(allowed)}")
            continue
        if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            op = {
                "greater_than": ">",
                "greater_than_equal": ">=",
                "less_than": "<",
                "less_than_equal": "<=",
            }[kind]
            bound = next(iter(ctx.values()))
            if isinstance(bound, float) and bound.is_integer():
                bound = int(bound)
            lines.append(f"{key} must be {op} {bound}, got {got!r}")
        elif kind == "literal_error":
            lines.append(f"{key} must be one of {ctx.get('expected')}, got {got!r}")
        elif kind == "value_error":
            lines.append(f"{key} {ctx.get('error', e['msg'])}")
        elif kind == "missing":
            lines.append(f"{key} is required")
        else:
            lines.append(f"{key}: {e['msg'].lower()}, got {got!r}")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            break
        model = field.annotation
    return sorted(model.model_fields)


def parse_config(text: str, source: str = CONFIG_FILE) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{source} is not valid TOML: {e}; fix the file or re-create it with `dlstack init`"
        ) from None
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def load_project(root: str | Path = ".") -> Project:
    """Read and validate ``ROOT/dlstack.toml``."""
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}; create one with `dlstack init {root} --from "
            f"builtin:digits` or pass the project directory"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    return Project(root, parse_config(text, str(path)))


_TEMPLATE = """\
[project]
name = "{name}"
task = "{task}"                  # or "ctc" for line transcription

[data]
source = "{source}"
store = ".dlstack/objects"         # or "s3://bucket/prefix"
catalog = "sqlite:///.dlstack/catalog.db"
split = [0.8, 0.1, 0.1]            # train, val, test fractions of each class
seed = 0
# subset = 500                     # start with a small training set (count or fraction)

[model]
architecture = "auto"              # by modality; or "mlp", "lenet", "resnet", "pkg.mod:build"

[train]                            # the practice's defaults, spelled out
optimizer = "adam"
lr = 3e-4
batch_size = 64
max_epochs = {max_epochs}
seed = 0

[metric]
optimize = "accuracy"
"""


def init_project(
    root: str | Path,
    source: str = "builtin:digits",
    *,
    name: str | None = None,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    force: bool = False,
) -> Project:
    """Write a fresh ``dlstack.toml`` into ROOT (created if missing)."""
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to overwrite it")
    if not (source in BUILTIN_SOURCES or Path(source).expanduser().is_dir()):
        raise ConfigError(
            f"--from must be one of {', '.join(BUILTIN_SOURCES)} or an existing folder, "
            f"got {source!r}"
        )
    if name is None:
        name = source.split(":", 1)[1] if source.startswith("builtin:") else root.name
    text = _TEMPLATE.format(name=name, task="classification", source=source, max_epochs=max_epochs)
    config = parse_config(text)  # the template itself must validate
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return Project(root, config)
