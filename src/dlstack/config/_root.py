"""dlstack.toml -> one validated, frozen :class:`Config`; a :class:`Project` is a directory
holding one, with every path of :class:`dlstack.layout.Layout`.

>>> cfg = Config.model_validate({"project": {"name": "demo"}})
>>> cfg.train.lr
0.0003
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from dlstack.config._base import Section, format_validation_error
from dlstack.config._data import DataConfig
from dlstack.config._gate import GateConfig
from dlstack.config._metric import TASK_OBJECTIVES, MetricConfig
from dlstack.config._project import ProjectConfig
from dlstack.config._score import ScoreConfig
from dlstack.config._serve import ServeConfig
from dlstack.config._tests import EvalTestsConfig
from dlstack.config._train import ModelConfig, TrainConfig
from dlstack.config._tune import TuneConfig
from dlstack.errors import ConfigError
from dlstack.layout import CONFIG_FILE, Layout

__all__ = ["Config", "Project", "load_project", "parse_config"]


class Config(Section):
    project: ProjectConfig = ProjectConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    metric: MetricConfig = MetricConfig()
    tests: EvalTestsConfig = EvalTestsConfig()
    score: ScoreConfig = ScoreConfig()
    gate: GateConfig = GateConfig()
    serve: ServeConfig = ServeConfig()
    tune: TuneConfig = TuneConfig()

    @model_validator(mode="before")
    @classmethod
    def _task_objective(cls, raw: Any) -> Any:
        """``[metric] optimize`` left out: the task's own default (TASK_OBJECTIVES)."""
        if not isinstance(raw, dict):
            return raw
        project, metric = raw.get("project"), raw.get("metric")
        task = project.get("task") if isinstance(project, dict) else None
        if not isinstance(task, str) or task not in TASK_OBJECTIVES or task == "classification":
            return raw
        if metric is None:
            metric = {}
        if not isinstance(metric, dict) or "optimize" in metric or "objective" in metric:
            return raw
        return {**raw, "metric": {**metric, "optimize": TASK_OBJECTIVES[task]}}

    @model_validator(mode="after")
    def _targets_fit_task(self) -> Config:
        task, targets = self.project.task, self.data.targets
        if len(targets) > 1 and task != "regression":
            raise ValueError(
                f"data.target names {len(targets)} columns ({', '.join(targets)}); only a "
                f'regression learns several (project.task = "regression"); a {task} task '
                f"learns one column"
            )
        return self

    @model_validator(mode="after")
    def _tune_space_fits(self) -> Config:
        """Each [tune.space] key is a [train]/[model] key and its ends are valid values."""
        from dlstack.config._overrides import full_key

        seen: dict[str, str] = {}
        for written, dim in self.tune.space.items():
            try:
                key = full_key(written)
            except ConfigError as e:
                raise ValueError(f"tune.space.{written}: {e}") from None
            if key in seen:
                raise ValueError(
                    f"tune.space names {key} twice ({seen[key]!r} and {written!r}); keep one"
                )
            seen[key] = written
            section_name, name = key.split(".", 1)
            section: Section = getattr(self, section_name)
            if dim.kind == "float" and _takes_int(type(section), name):
                raise ValueError(
                    f'tune.space.{written}: {key} takes whole numbers; use "int LOW HIGH" '
                    f'or "log-int LOW HIGH", not {dim.describe()!r}'
                )
            for value in dim.ends():
                try:
                    type(section).model_validate({**section.model_dump(), name: value})
                except ValidationError as e:
                    problem = format_validation_error(e, type(section)).splitlines()[0]
                    raise ValueError(
                        f"tune.space.{written} = {dim.describe()!r}: {value!r} is not a valid "
                        f"{key} ({problem})"
                    ) from None
        return self


def _takes_int(section: type[Section], name: str) -> bool:
    from typing import get_args

    annotation = section.model_fields[name].annotation
    return annotation is int or int in get_args(annotation)


class Project(Layout):
    """A project directory and its validated config: the layout's paths, plus the
    locations the config decides (store, catalog, lake)."""

    def __init__(self, root: Path, config: Config) -> None:
        super().__init__(root)
        self.config = config

    @property
    def source(self) -> str:
        """``[data] source``: a ``builtin:`` or ``hf:`` name as written; a path relative to
        the project directory (not to wherever the command runs)."""
        source = self.config.data.source
        return source if source.startswith(("builtin:", "hf:")) else self._resolve(source)

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

    @property
    def catalog_url(self) -> str:
        url = self.config.data.catalog
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.root / url.removeprefix("sqlite:///"))
        return url

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

    def _resolve(self, location: str) -> str:
        if "://" in location:
            return location
        path = Path(location).expanduser()
        return os.path.normpath(path if path.is_absolute() else self.root / path)


def parse_config(text: str, source: str = CONFIG_FILE) -> Config:
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(
            f"{source} nests tables or arrays too deeply to be a dlstack.toml; fix the file "
            f"or re-create it with `dlstack init`"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{source} is not valid TOML: {e}; fix the file or re-create it with `dlstack init`"
        ) from None
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, Config)) from None


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
