"""What training costs: time per epoch measured here, estimated on common GPUs.

The estimate is arithmetic a person can check: the model's training FLOPs per example
(forward FLOPs counted by ``torch.utils.flop_counter``, times 3 for the backward pass),
divided by each GPU's FP32 peak times a utilization, and never less than a fixed overhead
per optimizer step. Peaks, prices, the utilization and the overhead are in one TOML file
(``gpus.toml``, with the date they were taken) that the user can edit: a ``gpus.toml`` in
the project directory replaces the bundled one.

>>> table = load_gpu_table()
>>> est = estimate_compute(table, seconds_per_epoch=10.0, examples_per_epoch=4000,
...                        flops_per_example=3e6, batch_size=64, epochs=15)
>>> [round(r.seconds_per_epoch, 3) for r in est.rows][:1]
[0.126]
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlstack.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BACKWARD_FACTOR",
    "GPU_TABLE_FILE",
    "ComputeEstimate",
    "GpuRow",
    "GpuSpec",
    "GpuTable",
    "estimate_compute",
    "load_gpu_table",
    "training_flops_per_example",
]

GPU_TABLE_FILE = "gpus.toml"
BACKWARD_FACTOR = 3.0  # training ~ forward + backward (2x forward): the usual 3x rule
_BUNDLED = Path(__file__).with_name(GPU_TABLE_FILE)


@dataclass(frozen=True)
class GpuSpec:
    name: str
    tflops_fp32: float
    usd_per_hour: float
    price_from: str = ""


@dataclass(frozen=True)
class GpuTable:
    """The GPU data file: GPUs, the utilization and step overhead assumed, and its date."""

    gpus: tuple[GpuSpec, ...]
    as_of: str
    source: str
    utilization: float
    step_overhead_ms: float
    path: Path


@dataclass(frozen=True)
class GpuRow:
    gpu: GpuSpec
    seconds_per_epoch: float
    seconds_total: float
    usd_total: float
    speedup: float  # measured time here / estimated time on this GPU
    bound: str  # "compute" or "overhead": what limits it


@dataclass(frozen=True)
class ComputeEstimate:
    """Time and cost of ``epochs`` epochs here (measured) and on each GPU (estimated)."""

    seconds_per_epoch: float  # measured here
    examples_per_epoch: int
    flops_per_example: float  # training FLOPs (forward x BACKWARD_FACTOR)
    batch_size: int
    epochs: int
    rows: tuple[GpuRow, ...]
    table: GpuTable
    where: str = "this machine"

    @property
    def achieved_tflops(self) -> float:
        """FLOP rate reached here: useful to judge the utilization assumed for GPUs."""
        return self.flops_per_example * self.examples_per_epoch / self.seconds_per_epoch / 1e12

    @property
    def seconds_total(self) -> float:
        return self.seconds_per_epoch * self.epochs

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds_per_epoch_here": self.seconds_per_epoch,
            "examples_per_epoch": self.examples_per_epoch,
            "flops_per_example": self.flops_per_example,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "achieved_tflops_here": self.achieved_tflops,
            "table": {
                "path": str(self.table.path),
                "as_of": self.table.as_of,
                "utilization": self.table.utilization,
                "step_overhead_ms": self.table.step_overhead_ms,
            },
            "gpus": [
                {
                    "name": r.gpu.name,
                    "seconds_per_epoch": r.seconds_per_epoch,
                    "seconds_total": r.seconds_total,
                    "usd_total": r.usd_total,
                    "usd_per_hour": r.gpu.usd_per_hour,
                    "speedup": r.speedup,
                    "bound": r.bound,
                }
                for r in self.rows
            ],
        }

    def scaled(self, data_factor: float) -> ComputeEstimate:
        """The same estimate with ``data_factor`` times the examples per epoch."""
        return estimate_compute(
            self.table,
            seconds_per_epoch=self.seconds_per_epoch * data_factor,
            examples_per_epoch=max(1, round(self.examples_per_epoch * data_factor)),
            flops_per_example=self.flops_per_example,
            batch_size=self.batch_size,
            epochs=self.epochs,
        )


def load_gpu_table(path: str | Path | None = None, *, project_root: Path | None = None) -> GpuTable:
    """Read a GPU table: ``path``, else ``<project>/gpus.toml`` if present, else the bundled one."""
    if path is None and project_root is not None and (project_root / GPU_TABLE_FILE).is_file():
        path = project_root / GPU_TABLE_FILE
    file = Path(path) if path is not None else _BUNDLED
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read the GPU table {file}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the GPU table {file} is not valid TOML: {e}") from None
    try:
        gpus = tuple(
            GpuSpec(
                str(g["name"]),
                _positive(g["tflops_fp32"], "tflops_fp32"),
                _positive(g["usd_per_hour"], "usd_per_hour", allow_zero=True),
                str(g.get("price_from", "")),
            )
            for g in raw.get("gpu", [])
        )
        utilization = _positive(raw.get("utilization", 0.3), "utilization")
        if utilization > 1:
            raise ValueError(f"utilization must be a share in (0, 1], got {utilization}")
        table = GpuTable(
            gpus,
            str(raw.get("as_of", "unknown")),
            str(raw.get("source", "")),
            utilization,
            _positive(raw.get("step_overhead_ms", 0.0), "step_overhead_ms", allow_zero=True),
            file,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"the GPU table {file} is invalid ({e}); each [[gpu]] needs name, tflops_fp32 and "
            f"usd_per_hour (numbers > 0); see the bundled {_BUNDLED} for the format"
        ) from None
    if not gpus:
        raise ConfigError(f"the GPU table {file} lists no [[gpu]]; add at least one")
    return table


def _positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return v


def estimate_compute(
    table: GpuTable,
    *,
    seconds_per_epoch: float,
    examples_per_epoch: int,
    flops_per_example: float,
    batch_size: int,
    epochs: int,
) -> ComputeEstimate:
    """Each GPU's epoch time: max(FLOPs / (peak x utilization), steps x step overhead)."""
    steps = math.ceil(examples_per_epoch / batch_size)
    flops = flops_per_example * examples_per_epoch
    rows = []
    for gpu in table.gpus:
        compute_s = flops / (gpu.tflops_fp32 * 1e12 * table.utilization)
        overhead_s = steps * table.step_overhead_ms / 1000
        epoch_s = max(compute_s, overhead_s)
        total = epoch_s * epochs
        rows.append(
            GpuRow(
                gpu,
                epoch_s,
                total,
                total / 3600 * gpu.usd_per_hour,
                seconds_per_epoch / epoch_s if epoch_s > 0 else math.inf,
                "compute" if compute_s >= overhead_s else "overhead",
            )
        )
    return ComputeEstimate(
        seconds_per_epoch,
        int(examples_per_epoch),
        float(flops_per_example),
        batch_size,
        epochs,
        tuple(rows),
        table,
    )


def training_flops_per_example(model: torch.nn.Module, input_shape: Sequence[int]) -> float:
    """Training FLOPs per example: forward FLOPs (counted on a batch of 8) x BACKWARD_FACTOR.

    Counts matrix multiplications and convolutions (what dominates); 0 for a model made of
    other operations only.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    batch = 8
    x = torch.zeros((batch, *[int(d) for d in input_shape]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return float(counter.get_total_flops()) / batch * BACKWARD_FACTOR
