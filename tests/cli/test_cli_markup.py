"""User and stored text is printed as it is: never read as rich markup or emoji codes.

`dlstack data commit -m "fix [/x] labels"` used to succeed and then break `data log` and
`data show` for everyone on that catalog (MarkupError); `:x:` in a query result became
an emoji, `dlstack[s3]` lost its brackets and `serve --new-key` printed `[]` where
`[[serve.api_keys]]` belongs. Each printer gets markup here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

MARKUP = "fix [/x] [bold]labels[/bold] :x: [red]"


def dlstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlstack", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("markup")
    for label in ("a", "b"):
        folder = base / "src [1]" / label
        folder.mkdir(parents=True)
        for i in range(6):
            value = 40 * i + (0 if label == "a" else 20)
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(folder / f"[{i}].png")
    (base / "src [1]" / "a" / "[bad].png").write_bytes(b"not an image [/x]")
    root = base / "p"
    assert dlstack("init", str(root), "--from", str(base / "src [1]")).returncode == 0
    assert dlstack("data", "ingest", "-p", str(root), "-q").returncode == 0
    done = dlstack("data", "commit", "-p", str(root), "-m", MARKUP)
    assert done.returncode == 0, done.stderr
    return root


def test_stored_text_prints_literally_everywhere(project: Path) -> None:
    for args in (
        ("data", "log"),
        ("data", "show", "HEAD"),
        ("data", "query", "SELECT message FROM versions"),
    ):
        done = dlstack(*args, "-p", str(project))
        assert done.returncode == 0, (args, done.stderr)
        assert "[/x]" in done.stdout and ":x:" in done.stdout, (args, done.stdout)
        assert "MarkupError" not in done.stderr


def test_rejected_file_names_keep_their_brackets(project: Path) -> None:
    done = dlstack("data", "ingest", "-p", str(project))
    assert done.returncode == 0, done.stderr
    assert "[bad].png" in (done.stdout + done.stderr).replace("\n", "")


def test_errors_quoting_user_text_keep_it(project: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no [such] package")
    for args in (("predict", missing, "x.png"), ("serve", missing)):
        done = dlstack(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "no [such] package" in done.stderr.replace("\n", ""), done.stderr
    done = dlstack("data", "diff", "[/x]", "HEAD", "-p", str(project))
    assert done.returncode == 2 and "'[/x]'" in done.stderr


def test_new_key_prints_the_toml_table_header() -> None:
    done = dlstack("serve", "--new-key", "predict")
    assert done.returncode == 0 and "[[serve.api_keys]]" in done.stdout
