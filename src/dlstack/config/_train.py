"""``[model]`` and ``[train]``: what is trained and how; the practice's defaults, once.

The numbers below are the defaults of every training dlstack runs: `dlstack train`, the
doctor's short trainings and `dlstack scope`'s learning curve all take them from here.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from pydantic import Field, field_validator

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
