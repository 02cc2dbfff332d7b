"""HtmlReport: escaping, embedding, atomic writes."""

from __future__ import annotations

import base64
import re

import numpy as np

from dlstack.report import HtmlReport, image_png, training_curves_png


def test_every_text_is_escaped() -> None:
    report = HtmlReport("<b>title</b>", subtitle="a & b")
    s = report.section("<i>section</i>")
    s.paragraph("<img src=x onerror=alert(1)>", kind="warn")
    s.table(['<th>"h"'], [["<td>cell"]])
    s.key_values({"<k>": "<v>"})
    html = report.render()
    assert "<img src=x" not in html and "<b>title" not in html and "<td>cell" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "a &amp; b" in html


def test_numbers_are_formatted_and_right_aligned() -> None:
    html = HtmlReport("t").section("s").table(["n", "x"], [[12345, 0.123456]]).render()
    assert '<td class="num">12,345</td>' in html and '<td class="num">0.1235</td>' in html


def test_images_are_embedded_png() -> None:
    png = image_png(np.eye(8, dtype=np.uint8) * 255)
    html = HtmlReport("t").section("s").image(png, alt="eye").render()
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert data and base64.b64decode(data.group(1)) == png
    assert png.startswith(b"\x89PNG")


def test_training_curves_tolerate_missing_values() -> None:
    # Early epochs without validation (val check interval) must not break the plot.
    history = [
        {"epoch": 0, "train_loss": 1.0, "train_acc": 0.5},
        {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.6, "val_acc": 0.7},
    ]
    assert training_curves_png(history).startswith(b"\x89PNG")
    assert training_curves_png([]) is None


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path) -> None:
    path = tmp_path / "out" / "r.html"
    HtmlReport("first").write(path)
    HtmlReport("second").write(path)
    assert "second" in path.read_text() and [p.name for p in path.parent.iterdir()] == ["r.html"]


def test_public_api() -> None:
    import dlstack.report as api

    assert all(hasattr(api, name) for name in api.__all__)
