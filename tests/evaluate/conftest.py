"""Fixtures for evaluate tests: the digits8 snapshot, a small model trained on it, and
model packages and projects made without training (fast)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from eval_fixtures import (
    WRITERS,
    ManifestProject,
    fit_linear,
    make_linear_package,
)

from dlstack.data import Snapshot
from dlstack.inputs import channel_stats, to_model_input
from dlstack.train._result import Normalization


@pytest.fixture(scope="session")
def digits8() -> Snapshot:
    return Snapshot.from_builtin("digits8")


@pytest.fixture(scope="session")
def digits8_norm(digits8: Snapshot) -> Normalization:
    mean, std = channel_stats(digits8.split("train").images)
    return Normalization(mean, std)


@pytest.fixture(scope="session")
def trained_mlp(digits8: Snapshot, digits8_norm: Normalization) -> torch.nn.Module:
    """An MLP fit full-batch on digits8 train for a second: good enough to beat baselines."""
    torch.manual_seed(0)
    train = digits8.split("train")
    x = torch.from_numpy(to_model_input(train.images, digits8_norm.mean, digits8_norm.std))
    y = torch.from_numpy(train.labels)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def logits_of() -> Callable[[torch.nn.Module, np.ndarray, Normalization], np.ndarray]:
    """The model's logits on uint8 images, computed directly (the reference for evaluate)."""

    def run(model: torch.nn.Module, images: np.ndarray, norm: Normalization) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(to_model_input(images, norm.mean, norm.std))).numpy()

    return run


# -- packages and projects without training (helpers in eval_fixtures.py) -----------


@pytest.fixture(scope="session")
def manifest_project(tmp_path_factory: pytest.TempPathFactory) -> ManifestProject:
    from PIL import Image

    from dlstack.config import init_project, load_project
    from dlstack.data import DataRepo, load_builtin

    root = tmp_path_factory.mktemp("manifest") / "proj"
    raw = load_builtin("digits8")
    images_dir = root.parent / "images"
    images_dir.mkdir()
    lines = ["path,label,writer"]
    for i, (image, label) in enumerate(zip(raw.images, raw.labels, strict=True)):
        Image.fromarray(image).save(images_dir / f"{i}.png")
        lines.append(f"{i}.png,{raw.classes[label]},{WRITERS[i % len(WRITERS)]}")
    manifest = images_dir / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    init_project(root, "builtin:digits8", max_epochs=1)
    toml = root / "dlstack.toml"
    toml.write_text(toml.read_text().replace('"builtin:digits8"', f'"{manifest}"'))
    project = load_project(root)
    repo = DataRepo.open(project)
    try:
        repo.ingest(str(manifest), progress=False)
        version = repo.commit("digits8 with writers")
        assert version is not None
        _, snapshot = repo.checkout(version.id, progress=False)
    finally:
        repo.close()
    model = fit_linear(snapshot)
    name_dir = project.models_dir / "digits"
    labels = list(snapshot.classes)
    good = make_linear_package(
        name_dir / "1",
        model.weights,
        model.bias,
        labels,
        model.norm,
        data_version=snapshot.version,
    )
    # Deliberately broken: the labels are rotated, as if model.json were written for
    # another model. It loads and runs; only testing its answers shows the damage.
    broken = make_linear_package(
        name_dir / "2",
        model.weights,
        model.bias,
        labels[1:] + labels[:1],
        model.norm,
        version=2,
        data_version=snapshot.version,
    )
    return ManifestProject(project, snapshot, good, broken, model)
