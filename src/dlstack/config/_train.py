"""``[model]`` and ``[train]``: what is trained and how; the practice's defaults, once.

The numbers below are the defaults of every training dlstack runs: `dlstack train`, the
doctor's short trainings and `dlstack scope`'s learning curve all take them from here.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from pydantic import Field, field_validator, model_validator

from dlstack.config._base import Section
from dlstack.models import ARCHITECTURE_NAMES
from dlstack.resolve import check_spec

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LR",
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_OPTIMIZER",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "SGD_MOMENTUM",
    "AugmentConfig",
    "ModelConfig",
    "TrainConfig",
]

DEFAULT_OPTIMIZER: Final = "adam"  # the practice: start with Adam
DEFAULT_LR = 3e-4  # Adam's default step size, the practice's recommended starting point
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_EPOCHS = 15
SGD_MOMENTUM = 0.9  # the usual companion of plain SGD; Adam/AdamW keep torch's betas
Optimizer = Literal["adam", "adamw", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)  # dlstack.train's registry, by name
# How the learning rate moves over the run, per optimizer step: held ("constant"), cosine
# decay from lr to 0 ("cosine"), or warm-up to lr then down to ~0 ("onecycle").
LrSchedule = Literal["constant", "cosine", "onecycle"]
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)
# How the training processes are run (dlstack.train's fit): "auto" is one process when
# devices = 1 and DDP otherwise; "ddp" is DistributedDataParallel, one process per device,
# started by dlstack on one machine or by torchrun/srun across machines; "ddp_spawn" is
# DDP whose processes dlstack always starts itself (one machine only).
Strategy = Literal["auto", "ddp", "ddp_spawn"]


class ModelConfig(Section):
    # "auto" picks by modality; else a registered name or "package.module:callable".
    architecture: str = "auto"
    # The first layer's width (units or channels); later layers keep the architecture's
    # ratios. None: the zoo's own (mlp 256, lenet 64, resnet 16, line_cnn_lstm 16, fusion
    # 128). A user callable gets it as ``width=`` when its signature takes it.
    width: Annotated[int, Field(ge=1, le=4096)] | None = None

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, v: str) -> str:
        return check_spec(v, ("auto", *ARCHITECTURE_NAMES))


class AugmentConfig(Section):
    """``[train] augment = {...}``: new random changes to every training batch, each epoch
    (dlstack.train's BatchAugment); validation and test images are never changed."""

    max_shift: Annotated[int, Field(ge=0, le=8)] = 2  # pixels, along each axis
    thicken: bool = True  # a quarter of the images 1 px thicker strokes, a quarter thinner


class TrainConfig(Section):
    optimizer: Optimizer = DEFAULT_OPTIMIZER
    lr: Annotated[float, Field(gt=0)] = DEFAULT_LR
    lr_schedule: LrSchedule = "constant"
    batch_size: Annotated[int, Field(ge=1)] = DEFAULT_BATCH_SIZE
    max_epochs: Annotated[int, Field(ge=1)] = DEFAULT_MAX_EPOCHS
    seed: int = 0
    # The practice starts with no regularization; these exist so that it can be added later.
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    augment: AugmentConfig | None = None  # off unless set
    num_workers: Annotated[int, Field(ge=0)] = 0
    # Training processes per machine: GPUs on a GPU machine, CPU processes (gloo) without.
    # batch_size stays per process, as in Lightning: the global batch of one optimizer step
    # is batch_size x devices x machines, so 2 devices at batch_size 32 step like one at 64.
    devices: Annotated[int, Field(ge=1)] = 1
    strategy: Strategy = "auto"

    @model_validator(mode="after")
    def _spawn_needs_devices(self) -> TrainConfig:
        # ddp_spawn starts its processes on this machine, so one device means no DDP at all.
        # "ddp" with one device is checked by fit: it is right under torchrun/srun across
        # machines (one process per machine), and only the environment tells.
        if self.strategy == "ddp_spawn" and self.devices < 2:
            raise ValueError(
                f"train.strategy 'ddp_spawn' starts one process per device on this machine and "
                f"needs train.devices >= 2, got {self.devices}; set devices = 2 or more "
                f'(--devices 2), or strategy = "auto" for one process'
            )
        return self
