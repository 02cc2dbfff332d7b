"""Online augmentation: reproducible per (seed, epoch), the same as the reference ops,
applied to training batches only, and a resumed run augments like an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlstack.config import Config, Project, parse_config
from dlstack.data import Snapshot
from dlstack.errors import ConfigError
from dlstack.train import SnapshotDataModule, fit, get_task
from dlstack.train._augment import BatchAugment, _roll_each


def batch(n: int = 32, c: int = 1, size: int = 12) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(3))


def test_each_image_is_rolled_like_torch_roll() -> None:
    x = batch(c=3)
    shifts = torch.randint(-3, 4, (len(x), 2), generator=torch.Generator().manual_seed(1))
    expected = torch.stack(
        [
            torch.roll(img, shifts=(int(dy), int(dx)), dims=(1, 2))
            for img, (dy, dx) in zip(x, shifts, strict=True)
        ]
    )
    assert torch.equal(_roll_each(x, shifts), expected)


def test_same_seed_and_epoch_same_draws_new_epoch_new_draws() -> None:
    x = batch()
    a, b = (
        BatchAugment(max_shift=2, thicken=True, seed=7),
        BatchAugment(max_shift=2, thicken=True, seed=7),
    )
    a.start_epoch(4)
    b.start_epoch(4)
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, a(x))  # the next batch of the epoch gets new draws
    a.start_epoch(4)
    assert torch.equal(first, a(x))  # restarting the epoch replays it (resume)
    a.start_epoch(5)
    assert not torch.equal(first, a(x))


def test_shift_only_moves_pixels_and_strokes_follow_the_neighbourhood() -> None:
    x = batch()
    shift_only = BatchAugment(max_shift=2, thicken=False, seed=0)
    shift_only.start_epoch(0)
    moved = shift_only(x)
    for before, after in zip(
        x, moved, strict=True
    ):  # a roll permutes pixels: same values, same count
        assert torch.equal(before.flatten().sort().values, after.flatten().sort().values)
    assert not torch.equal(moved, x)

    strokes = BatchAugment(max_shift=0, thicken=True, seed=0)
    strokes.start_epoch(0)
    out = strokes(x)
    dilated = torch.stack([x] + [torch.roll(x, s, d) for d in (2, 3) for s in (1, -1)]).amax(0)
    eroded = torch.stack([x] + [torch.roll(x, s, d) for d in (2, 3) for s in (1, -1)]).amin(0)
    kinds = [
        "thick"
        if torch.equal(o, t)
        else "thin"
        if torch.equal(o, e)
        else "same"
        if torch.equal(o, i)
        else "?"
        for o, t, e, i in zip(out, dilated, eroded, x, strict=True)
    ]
    assert "?" not in kinds and {"thick", "thin", "same"} <= set(kinds)


def test_only_training_batches_are_augmented(digits8: Snapshot) -> None:
    data = SnapshotDataModule(
        digits8, get_task("classification"), batch_size=16,
        augment=BatchAugment(max_shift=2, thicken=True, seed=0),
    )  # fmt: skip
    data.setup("fit")
    inputs, targets = next(iter(data.val_dataloader()))

    class Trainer:
        training = False
        current_epoch = 0

    data.trainer = Trainer()  # type: ignore[assignment]
    same, _ = data.on_after_batch_transfer((inputs, targets), 0)
    assert torch.equal(same, inputs)
    Trainer.training = True
    changed, labels = data.on_after_batch_transfer((inputs, targets), 0)
    assert not torch.equal(changed, inputs) and torch.equal(labels, targets)


def test_config_validates_augment() -> None:
    config = parse_config("[train]\naugment = {max_shift = 3, thicken = false}\n")
    assert config.train.augment is not None and config.train.augment.max_shift == 3
    assert Config().train.augment is None  # off unless asked for
    with pytest.raises(ConfigError, match="max_shift"):
        parse_config("[train]\naugment = {max_shift = -1}\n")
    with pytest.raises(ConfigError, match="rotate"):
        parse_config("[train]\naugment = {rotate = 10}\n")


def test_augmented_run_resumes_like_an_uninterrupted_one(tmp_path: Path, digits8: Snapshot) -> None:
    def project(epochs: int) -> Project:
        raw = {
            "project": {"name": "aug"},
            "data": {"source": "builtin:digits8", "subset": 400},
            "train": {"max_epochs": epochs, "augment": {"max_shift": 1}},
        }
        return Project(tmp_path, Config.model_validate(raw))

    straight = fit(project(3), digits8, progress=False)
    partial = fit(project(2), digits8, progress=False)
    resumed = fit(project(3), digits8, resume=partial.run_id, progress=False)
    ws, wr = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(ws[k], wr[k]) for k in ws)
    plain = fit(Project(tmp_path, project(3).config.model_copy(update={
        "train": project(3).config.train.model_copy(update={"augment": None})
    })), digits8, progress=False)  # fmt: skip
    # The augmentation did something: the same seed without it trains other weights.
    assert not np.allclose(
        plain.history[-1]["train_loss"], straight.history[-1]["train_loss"], rtol=1e-6
    )
