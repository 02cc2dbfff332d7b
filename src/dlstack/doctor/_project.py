"""The doctor on a dlstack project, and on a user's file that defines a model and data.

``examine_project`` rebuilds what ``dlstack train`` would train (the configured
architecture, train-only normalization, the configured optimizer and learning rate) on a
snapshot, examines it, and writes ``report.html`` and ``report.json`` under
``.dlstack/doctor/`` (or ``out_dir``).

``examine_file`` loads a Python file that defines ``model()`` and ``data()`` (returning
``(train, val)`` or ``(train, val, test, test_val)``), and optionally ``loss_fn``,
``task``, ``human_error``, ``optimizer`` and ``lr``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.doctor._findings import sort_key
from dlstack.doctor._record import DOCTOR_RECORD
from dlstack.errors import ConfigError, DataError

if TYPE_CHECKING:
    from dlstack.config import Project
    from dlstack.data import Snapshot
    from dlstack.doctor._report import Report

__all__ = ["examine_file", "examine_project", "load_case_file"]

FILE_OPTIONS = ("task", "human_error", "optimizer", "lr", "batch_size")


def examine_project(
    project: Project,
    snapshot: Snapshot | None = None,
    *,
    budget_s: float = 120.0,
    seed: int | None = None,
    lr: float | None = None,
    human_error: float | None = None,
    out_dir: str | Path | None = None,
    progress: Any = None,
) -> tuple[Report, Path]:
    """Examine the project's model on a snapshot (HEAD by default); returns (report, html).

    ``lr`` overrides the project's learning rate (to examine another one); the optimizer,
    batch size, dropout and weight decay are the project's.

    >>> report, html = examine_project(project)  # doctest: +SKIP
    >>> html.name  # doctest: +SKIP
    'report.html'
    """
    import torch
    from torch.utils.data import TensorDataset

    from dlstack.doctor._runner import examine
    from dlstack.inputs import VARIABLE_WIDTH, example_shape, map_input
    from dlstack.models import build_model
    from dlstack.train import Normalization, get_task, resolve_optimizer

    cfg = project.config
    if cfg.project.task not in ("classification", "multilabel", "regression", "ctc"):
        raise ConfigError(
            f'dlstack doctor on a project supports task = "classification", "multilabel", '
            f'"regression" and "ctc", got {cfg.project.task!r}; call dlstack.doctor.examine '
            f"with your own model and data instead"
        )
    if snapshot is None:
        snapshot = _head_snapshot(project)
    snapshot = snapshot.with_train_subset(cfg.data.subset, seed=cfg.data.seed)
    train = snapshot.split("train")
    if len(train) == 0 or len(snapshot.split("val")) == 0:
        raise DataError(
            f"the doctor needs train and val examples; data version "
            f"{snapshot.version} has {snapshot.counts()}"
        )
    normalization = Normalization.fit(train, snapshot.table)  # as training does
    task = get_task(cfg.project.task)
    task.fit(train.y)  # a regression's targets standardized with train's mean/std, as training

    def dataset(name: str) -> Any:  # a torch Dataset of (input, label), or None
        s = snapshot.split(name)
        if len(s) == 0:
            return None
        x = map_input(torch.from_numpy, normalization.model_input(s))
        y = task.targets(s.y)  # class indices, 0/1 per class, or standardized numbers
        # Several inputs: each example is ({name: tensor}, label), as training batches them.
        return _DictDataset(x, y) if isinstance(x, dict) else TensorDataset(x, y)

    sample = normalization.model_input(train.rows(0, 1))
    shape = example_shape(sample)
    if snapshot.widths is not None and isinstance(shape, tuple) and len(shape) == 3:
        shape = (*shape[:2], VARIABLE_WIDTH)  # lines: the model takes any width, as training
    model, _ = build_model(
        cfg.model.architecture,
        shape,
        snapshot.num_classes,
        dropout=cfg.train.dropout,
        width=cfg.model.width,
        search_path=project.root,
    )
    report = examine(
        model,
        dataset("train"),
        dataset("val"),
        test=dataset("test"),
        budget_s=budget_s,
        seed=cfg.train.seed if seed is None else seed,
        optimizer=resolve_optimizer(cfg.train.optimizer, weight_decay=cfg.train.weight_decay),
        lr=cfg.train.lr if lr is None else lr,
        human_error=human_error,
        batch_size=cfg.train.batch_size,
        progress=progress,
        task=cfg.project.task,
    )
    if snapshot.widths is not None and cfg.project.task == "ctc":
        _line_frames(report, model, snapshot, normalization, task)
    report.settings["data_version"] = snapshot.version
    report.settings["architecture"] = cfg.model.architecture
    out = Path(out_dir) if out_dir is not None else project.doctor_dir
    report.to_json(out / DOCTOR_RECORD)
    return report, report.to_html(out / "report.html")


def _line_frames(
    report: Report, model: Any, snapshot: Snapshot, normalization: Any, task: Any
) -> None:
    """ctc-too-few-frames at each line's own width, as training and serving run a line.

    The doctor's own check sees the lines padded to their split's widest, where a short
    line gets every frame of the widest one; here each line gets the frames of its own
    run width (``line_width``), one forward pass per distinct width."""
    import torch

    from dlstack.doctor._ctc import frames_finding, frames_needed
    from dlstack.doctor._plan import make_plan
    from dlstack.doctor._problem import ctc_log_probs
    from dlstack.inputs import line_width
    from dlstack.train import forward

    probe = model.eval()
    needs, frames, ids, counts = [], [], [], {}
    for name in ("train", "val", "test"):
        s = snapshot.split(name)
        if len(s) == 0 or s.widths is None:
            continue
        channels, height = normalization.model_input(s.rows(0, 1)).shape[1:3]
        runs = sorted({line_width(int(w)) for w in s.widths})
        with torch.no_grad():
            for w in runs:
                if w not in counts:
                    out = forward(probe, torch.zeros(1, channels, height, w))
                    counts[w] = int(ctc_log_probs(out, 1).shape[0])
        needs.append(frames_needed(torch.as_tensor(task.targets(s.y))))
        frames.append(torch.tensor([counts[line_width(int(w))] for w in s.widths]))
        ids += [f"{name}[{i}]" for i in range(len(s))]
    if not needs:
        return
    report.evidence["ctc_frames_by_width"] = counts
    finding = frames_finding(torch.cat(needs), torch.cat(frames), "", ids)
    if finding is None:
        return
    kept = [f for f in report.findings if f.code != "ctc-too-few-frames"]
    report.findings = sorted([*kept, finding], key=lambda f: sort_key(f)[1])
    report.plan = make_plan(report.findings)


class _DictDataset:
    """(``{name: x[name][i]}``, ``y[i]``) pairs: a dataset of several inputs per example."""

    def __init__(self, x: dict[str, Any], y: Any) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[dict[str, Any], Any]:
        return {name: v[i] for name, v in self.x.items()}, self.y[i]


def _head_snapshot(project: Project) -> Snapshot:
    from dlstack.data import snapshot_for

    return snapshot_for(project, progress=False)[1]  # the CLI shows its own status line


def load_case_file(path: str | Path) -> dict[str, Any]:
    """Import a doctor file; returns examine's arguments: model, train, val, ... options."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist; pass a Python file that defines model() and data()"
        )
    name = f"_dlstack_doctor_case_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"importing {path} raised {type(e).__name__}: {e}") from e
    finally:
        sys.path.remove(str(path.parent.resolve()))
    for needed in ("model", "data"):
        if not callable(getattr(module, needed, None)):
            raise ConfigError(
                f"{path} must define a function {needed}(); it defines "
                f"{', '.join(n for n in vars(module) if not n.startswith('_'))}"
            )
    data = module.data()
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise ConfigError(
            f"data() in {path} must return (train, val) or (train, val, test, "
            f"test_val), got {type(data).__name__} of length "
            f"{len(data) if isinstance(data, (tuple, list)) else '?'}"
        )
    args: dict[str, Any] = {"model": module.model(), "train": data[0], "val": data[1]}
    if len(data) == 4:
        args["test"], args["test_val"] = data[2], data[3]
    loss = getattr(module, "loss_fn", None)
    if loss is not None:
        args["loss_fn"] = _loss(loss)
    for option in FILE_OPTIONS:
        if hasattr(module, option):
            args[option] = getattr(module, option)
    return args


def _loss(loss: Any) -> Any:
    """``loss_fn`` may be the loss itself or a factory that takes no arguments."""
    import torch

    if isinstance(loss, torch.nn.Module) or not callable(loss):
        return loss
    try:
        params = inspect.signature(loss).parameters.values()
    except (TypeError, ValueError):
        return loss
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return loss() if not required else loss


def examine_file(path: str | Path, **options: Any) -> Report:
    """Examine the model and data a doctor file defines; ``options`` override the file's."""
    from dlstack.doctor._runner import examine

    args = {**load_case_file(path), **options}
    return examine(args.pop("model"), args.pop("train"), args.pop("val"), **args)
