"""The base install (`pip install dlstack`, no extras) serves, predicts and monitors without
torch: a fresh venv gets only that install, then runs `dlstack predict`, `dlstack serve`
and `dlstack monitor` on a project whose package and data were made here (with torch).

Slow-ish (~1 min with a warm pip cache: it installs the base dependencies into a new venv)
but in the default run: it is the only test of what a serving container gets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from services import require_service

ROOT = Path(__file__).resolve().parents[1]
# What only the [train] extra may bring.
TRAIN_ONLY = ("torch", "lightning", "torchmetrics", "mlflow", "sklearn", "onnx", "mlxtend")
EXAMPLES_PER_CLASS = 20


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


@pytest.fixture(scope="module")
def serving_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("serving") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run([*pip, str(ROOT)], capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        require_service(f"pip could not install the base dlstack into a venv: {done.stderr[-800:]}")
    return venv


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project from a folder of PNG digits, one data version, one exported package
    trained (a few steps, enough to predict) on that version."""
    from dlstack.compress import export_package
    from dlstack.config import init_project
    from dlstack.data import DataRepo, Snapshot
    from dlstack.inputs import channel_stats, to_model_input
    from dlstack.train import Normalization, TrainResult

    base = tmp_path_factory.mktemp("project")
    digits = Snapshot.from_builtin("digits8")
    for c, name in enumerate(digits.classes):
        folder = base / "scans" / name
        folder.mkdir(parents=True)
        for i, img in enumerate(digits.images[digits.labels == c][:EXAMPLES_PER_CLASS]):
            Image.fromarray(img).save(folder / f"{i}.png")
    proj = init_project(base / "p", str(base / "scans"), name="digits")
    toml = proj.config_file.read_text() + (
        "\n[serve]\nlog_sample_rate = 1.0\nlog_flush_seconds = 0.2\n"
    )
    proj.config_file.write_text(toml)
    repo = DataRepo.open(proj)
    try:
        repo.ingest(str(base / "scans"), split=(0.8, 0.1, 0.1), seed=0, progress=False)
        version = repo.commit("scans")
        _, snapshot = repo.checkout(version.id, progress=False)
    finally:
        repo.close()
    train = snapshot.split("train")
    norm = Normalization(*channel_stats(train.images))
    x = torch.from_numpy(to_model_input(train.images, norm.mean, norm.std))
    y = torch.from_numpy(np.asarray(train.labels, dtype=np.int64))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    result = TrainResult(
        run_id="run-1",
        run_dir=proj.runs_dir / "run-1",
        model=model.eval(),
        task="classification",
        architecture="linear",
        normalization=norm,
        input_shape=(1, 8, 8),
        classes=snapshot.classes,
        data_version=version.id,
        code_version="test",
        config=proj.config,
        best_checkpoint=proj.runs_dir / "run-1" / "best.ckpt",
    )
    export_package(result, proj.models_dir, "digits", sample=x[:8].numpy())
    return proj.root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited: {server.communicate()[1][-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server was not ready within {timeout_s} s")


def test_the_base_install_has_no_torch(serving_venv: Path) -> None:
    python = serving_venv / "bin" / "python"
    done = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert done.returncode != 0 and "No module named 'torch'" in done.stderr
    (site,) = (serving_venv / "lib").glob("python3.*/site-packages")
    assert [m for m in TRAIN_ONLY if (site / m).exists()] == []
    print(f"serving-only venv: {_du_mb(serving_venv):.0f} MB")  # shown with -s


def test_base_install_predicts_serves_and_monitors(serving_venv: Path, project: Path) -> None:
    dlstack = str(serving_venv / "bin" / "dlstack")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    package = project / ".dlstack" / "models" / "digits" / "1"
    image = next((project.parent / "scans" / "3").glob("*.png"))

    done = subprocess.run(
        [dlstack, "predict", str(package), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"{image}  " in done.stdout  # one line: path, label, confidence

    port = _free_port()
    server = subprocess.Popen(
        [dlstack, "serve", "-p", str(project), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", server)
        for png in sorted((project.parent / "scans").rglob("*.png"))[:30]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=png.read_bytes(),
                headers={"Content-Type": "image/png"},
            )
            with urllib.request.urlopen(request, timeout=30) as r:
                body = json.loads(r.read())
            assert r.status == 200 and body["label"] in [str(d) for d in range(10)]
    finally:
        server.send_signal(signal.SIGINT)  # a graceful stop flushes the prediction log
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()

    done = subprocess.run(
        [dlstack, "monitor", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode in (0, 1), done.stderr  # 1 = drift flagged, also an answer
    assert "30 served vs data version" in done.stdout.replace("\n", " "), done.stdout
    assert (project / ".dlstack" / "monitor" / "digits.html").is_file()

    # A verb that needs torch says what to install, in one line (no traceback).
    done = subprocess.run(
        [dlstack, "train", "-p", str(project)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'dlstack[train]'" in done.stderr and "Traceback" not in done.stderr
