"""load_package and ModelPackage: the torch-free read side of the model package contract."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlstack.errors import DataError, PackageError
from dlstack.inputs import to_model_input
from dlstack.package import SUPPORTED_SCHEMA, load_package


def _edit_json(package_dir: Path, change) -> None:
    spec_file = package_dir / "model.json"
    spec = json.loads(spec_file.read_text())
    change(spec)
    spec_file.write_text(json.dumps(spec))


# -- loading ----------------------------------------------------------------------------


def test_load_by_version_dir_name_dir_and_json(package_dir: Path) -> None:
    by_version = load_package(package_dir)
    by_name = load_package(package_dir.parent)
    by_json = load_package(package_dir / "model.json")
    assert by_version.path == by_name.path == by_json.path == package_dir
    assert by_version.spec == by_name.spec == by_json.spec
    assert by_version.labels == [str(d) for d in range(10)]


def test_name_dir_means_the_highest_version(package_dir: Path) -> None:
    # Numeric, not lexicographic: 10 is newer than 9.
    for n in (9, 10):
        shutil.copytree(package_dir, package_dir.parent / str(n))
        _edit_json(package_dir.parent / str(n), lambda s, n=n: s.update(version=n))
    assert load_package(package_dir.parent).spec.version == 10


def test_newer_schema_is_refused_with_the_fix(package_dir: Path) -> None:
    _edit_json(package_dir, lambda s: s.update(schema_version=SUPPORTED_SCHEMA + 1))
    with pytest.raises(PackageError) as err:
        load_package(package_dir)
    message = str(err.value)
    assert f"made by a newer dlstack (schema {SUPPORTED_SCHEMA + 1})" in message
    assert f"this dlstack reads schema {SUPPORTED_SCHEMA}" in message
    assert "upgrade dlstack" in message


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "model.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "model.json").write_text("[]"), "schema_version"),
        (lambda d: _edit_json(d, lambda s: s.pop("labels")), "labels"),
        (lambda d: _edit_json(d, lambda s: s["input"].pop("normalization")), "normalization"),
        (lambda d: _edit_json(d, lambda s: s.update(labels=["a", "b"])), "output.shape"),
        (lambda d: _edit_json(d, lambda s: s["input"].update(dtype="float64")), "dtype"),
        (lambda d: (d / "model.onnx").unlink(), "no model.onnx"),
        (lambda d: (d / "model.onnx").write_bytes(b"\x00" * 10), "sha256"),
        (lambda d: (d / "model.json").unlink(), "no model.json"),
    ],
    ids=[
        "corrupt-json",
        "not-an-object",
        "missing-labels",
        "missing-normalization",
        "labels-vs-output",
        "wrong-dtype",
        "missing-onnx",
        "tampered-onnx",
        "missing-json",
    ],
)
def test_damaged_packages_are_refused_with_a_package_error(package_dir, damage, message):
    damage(package_dir)
    target = package_dir.parent if message == "no model.json" else package_dir
    with pytest.raises(PackageError, match=message):
        load_package(target)


def test_a_path_that_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no model package at"):
        load_package(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match="dlstack export"):  # says how to make one
        load_package(tmp_path / "empty")


# -- predicting -------------------------------------------------------------------------


def test_predict_arrays_matches_torch(package_dir, digits8, result, torch_probabilities):
    x = to_model_input(
        digits8.split("test").images[:11], result.normalization.mean, result.normalization.std
    )
    probabilities = load_package(package_dir).predict_arrays(x)
    np.testing.assert_allclose(probabilities, torch_probabilities(x), atol=1e-5)


def test_predict_arrays_checks_the_shape(package_dir) -> None:
    with pytest.raises(DataError, match=r"\(N, 1, 8, 8\)"):
        load_package(package_dir).predict_arrays(np.zeros((2, 8, 8), np.float32))


def _png(pixels: np.ndarray, path: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    if path is not None:
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_predict_images_of_the_right_size_needs_no_notice(
    package_dir, digits8, result, torch_probabilities, tmp_path
) -> None:
    images = digits8.split("test").images[:4]
    paths = []
    for i, im in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        _png(im, paths[-1])
    predictions = load_package(package_dir).predict_images(paths, top_k=3)
    x = to_model_input(images, result.normalization.mean, result.normalization.std)
    expected = torch_probabilities(x)
    for p, probs, path in zip(predictions, expected, paths, strict=True):
        assert p.notices == []  # PNG is lossless and the size is right: nothing to change
        assert p.label == str(int(probs.argmax()))  # the same answer as the torch model
        assert p.confidence == pytest.approx(float(probs.max()), abs=1e-5)
        assert p.top_k[0][0] == p.label and len(p.top_k) == 3
        assert [q for _, q in p.top_k] == sorted((q for _, q in p.top_k), reverse=True)
        assert p.source == str(path)


def test_bytes_are_accepted_like_files(package_dir, digits8) -> None:
    image = digits8.split("test").images[0]
    (p,) = load_package(package_dir).predict_images([_png(image)], top_k=20)
    assert len(p.top_k) == 10  # top_k is capped at the number of labels
    assert "bytes" in p.source


def test_wrong_size_and_color_are_fixed_with_notices(package_dir, tmp_path) -> None:
    rgb = np.zeros((40, 24, 3), np.uint8)
    rgb[10:30, 8:16] = (255, 40, 40)  # a reddish stroke on black
    path = tmp_path / "big_color.png"
    _png(rgb, path)
    (p,) = load_package(package_dir).predict_images([path])
    text = " | ".join(p.notices)
    assert "24x40" in text and "8x8" in text  # both sizes named
    assert "grayscale" in text


def test_light_background_is_inverted_with_a_notice(package_dir, digits8) -> None:
    dark = digits8.split("test").images[0]
    package = load_package(package_dir)
    (as_trained,) = package.predict_images([_png(dark)])
    (inverted,) = package.predict_images([_png(255 - dark)])  # black digit on white
    assert any("inverted" in n for n in inverted.notices)
    # After inversion the model sees the original image, so it gives the same answer.
    assert inverted.label == as_trained.label
    assert inverted.confidence == pytest.approx(as_trained.confidence, abs=1e-6)


def test_unreadable_input_is_a_data_error_naming_the_file(package_dir, tmp_path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    package = load_package(package_dir)
    with pytest.raises(DataError, match=r"notes\.txt.*PNG, JPEG"):
        package.predict_images([bad])
    with pytest.raises(DataError, match="no such file"):
        package.predict_images([tmp_path / "missing.png"])


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(labels=s["labels"][::-1]),  # reversed labels: wrong answers
        lambda s: s["input"]["normalization"].update(mean=[0.9]),  # another mean
        lambda s: s["input"].update(background="light"),  # inverts every input
        lambda s: s["onnx"].update(sha256="0" * 64),  # points at another graph
    ],
    ids=["labels", "mean", "background", "onnx-hash"],
)
def test_edited_answer_deciding_metadata_is_refused(package_dir: Path, change) -> None:
    # These used to load and answer wrongly ("digit_3.png 6 0.980").
    _edit_json(package_dir, change)
    with pytest.raises(PackageError, match="changed after export"):
        load_package(package_dir)


def test_metadata_that_decides_nothing_may_change(package_dir: Path) -> None:
    _edit_json(package_dir, lambda s: s.update(created="2020-01-01T00:00:00Z", note="x"))
    assert load_package(package_dir).spec.created == "2020-01-01T00:00:00Z"


def test_a_graph_whose_input_shape_disagrees_is_refused_at_load(package_dir: Path) -> None:
    # A changed input shape used to load, then fail every request inside onnxruntime.
    def change(s: dict) -> None:
        s["input"]["shape"] = [-1, 1, 9, 9]
        s.pop("decides_sha256")
        s["schema_version"] = 1  # an older package: no seal, so the graph check must catch it

    _edit_json(package_dir, change)
    with pytest.raises(
        PackageError, match=r"takes input of shape .* model.json says \[-1, 1, 9, 9\]"
    ):
        load_package(package_dir)
