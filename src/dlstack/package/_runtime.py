"""A loaded model package: ``model.onnx`` run by onnxruntime, ``model.json`` saying how.

Nothing in a package is executed or unpickled: the JSON is parsed and validated, the ONNX
graph's hash is checked, and the graph is run by onnxruntime (no torch).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlstack.errors import DataError, PackageError
from dlstack.inputs import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    PreparedImage,
    TableEncoder,
    input_rows,
    line_groups,
    take_rows,
    to_model_input,
)
from dlstack.package._feed import check_model_input, encode_rows, prepare_images
from dlstack.package._outputs import output_scores
from dlstack.package._spec import InputSpec, PackageSpec
from dlstack.targets import DEFAULT_BEAM_WIDTH, Answer, decide, decide_ctc

__all__ = ["DEFAULT_TOP_K", "ModelPackage", "Prediction", "softmax"]

DEFAULT_TOP_K = 3
_RUN_BATCH = 256  # rows per onnxruntime call: bounds memory on large inputs


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one example; ``notices`` say what preprocessing changed.

    Classification: ``label`` is the class, ``top_k`` the most probable classes. Multilabel:
    ``labels`` the classes given (``label`` their stored form, ``["cat","dog"]``), ``top_k``
    every class's probability, highest first, ``confidence`` the least sure decision.
    Regression: ``values`` the numbers by target name (``label`` their stored form,
    ``top_k`` the same pairs, ``confidence`` NaN). Ctc (a line): ``label`` the text read,
    ``characters`` each character with its confidence, ``confidence`` the least sure one.
    """

    label: str
    confidence: float
    top_k: list[tuple[str, float]]
    notices: list[str] = field(default_factory=list)
    source: str = ""
    task: str = "classification"
    labels: tuple[str, ...] = ()  # multilabel: the classes given
    values: dict[str, float] = field(default_factory=dict)  # regression: number by target
    characters: tuple[tuple[str, float], ...] = ()  # ctc: (character, confidence)


class ModelPackage:
    """A loaded package: its spec and an onnxruntime session. Use :func:`load_package`."""

    def __init__(self, path: Path, spec: PackageSpec, session: Any) -> None:
        self.path = path
        self.spec = spec
        self.session = session

    def __repr__(self) -> str:
        return f"ModelPackage({self.spec.name!r}, version={self.spec.version}, path={self.path})"

    @functools.cached_property
    def encoder(self) -> TableEncoder:
        """A table input's encoder, built once per loaded package (PackageError for a
        package without a table input): serving uses it on every request."""
        table = self.spec.input_of_kind("table")
        if table is None:
            raise PackageError(f"package {self.spec.name} takes images, not table rows")
        return table.encoder()

    @property
    def labels(self) -> list[str]:
        return self.spec.labels

    @property
    def metadata(self) -> dict[str, Any]:
        """model.json as a plain dict."""
        return self.spec.model_dump()

    @property
    def several_inputs(self) -> bool:
        """The model takes several inputs (an image and a table row): a dict of them."""
        return len(self.spec.inputs) > 1

    def model_input(
        self, images: np.ndarray | None = None, features: np.ndarray | None = None
    ) -> Any:
        """Stored examples -> this model's input, as training made it: uint8 images
        (N, H, W[, 3]) standardized, a table's raw rows (N, F) encoded, or both, as a
        dict by input name, for a model of several inputs."""
        out: dict[str, np.ndarray] = {}
        for spec in self.spec.inputs:
            if spec.kind == "table":
                if features is None:
                    raise DataError(f"package {self.spec.name} takes table rows ({spec.name})")
                out[spec.name] = self.encoder.transform(features)
            else:
                if images is None:
                    raise DataError(f"package {self.spec.name} takes images ({spec.name})")
                out[spec.name] = to_model_input(images, spec.norm.mean, spec.norm.std)
        return out if self.several_inputs else next(iter(out.values()))

    @property
    def task(self) -> str:
        return self.spec.task

    def predict_arrays(self, x: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """Model input float32 (N, C, H, W) or (N, D), or a dict of them by input name
        for several inputs -> class probabilities (N, classes): softmax, or sigmoid per
        class for multilabel; a regression's numbers (N, targets)."""
        return self.scores(self.logits(self.check_input(x)))

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """The graph's output (N, K) -> probabilities or numbers, as ``output`` says."""
        return output_scores(self.spec.output, raw)

    def answers(self, scores: np.ndarray) -> list[Answer]:
        """:meth:`scores` -> each example's answer in the task's terms (dlstack.targets);
        a line's text by the package's decoder (greedy, or beam search)."""
        out = self.spec.output
        if self.task == "ctc":
            return decide_ctc(
                scores,
                self.labels,
                decoder=out.decoder or "greedy",
                beam_width=out.beam_width or DEFAULT_BEAM_WIDTH,
            )
        return decide(self.task, scores, self.labels, out.thresholds)

    def check_input(self, x: np.ndarray | Mapping[str, np.ndarray]) -> Any:
        """``x`` as contiguous float32 of the shapes model.json states; DataError naming
        the input that does not fit."""
        return check_model_input(self.spec, x)

    def logits(self, x: Any) -> np.ndarray:
        """Checked float32 input (an array, or a dict by input name for several inputs)
        -> the graph's logits (N, num_classes), no softmax.

        The server's batcher calls this with input it has already validated.
        """
        out = self.spec.output.name
        names = [i.name for i in self.spec.inputs]

        def feed(part: Any) -> dict[str, np.ndarray]:
            return dict(part) if isinstance(part, Mapping) else {names[0]: part}

        n = input_rows(x)
        if n <= _RUN_BATCH:
            return np.asarray(self.session.run([out], feed(x))[0])
        return np.concatenate(
            [
                self.session.run([out], feed(take_rows(x, slice(i, i + _RUN_BATCH))))[0]
                for i in range(0, n, _RUN_BATCH)
            ]
        )

    def predict(
        self,
        images: Sequence[ImageSource] | None = None,
        rows: Sequence[Mapping[str, Any]] | None = None,
        top_k: int = DEFAULT_TOP_K,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> list[Prediction]:
        """What the model takes, as a client has it -> one Prediction per example: image
        files or bytes, table rows ({column: value}), or both (the i-th image with the
        i-th row) for a model of several inputs. A missing input is a DataError naming it.

        >>> pkg.predict(images=["seven.png"], rows=[{"shift": 5}])[0].label  # doctest: +SKIP
        '2'
        """
        if top_k < 1:
            raise DataError(f"top_k must be >= 1, got {top_k}")
        image_spec = self.spec.input_of_kind("image")
        table_spec = self.spec.input_of_kind("table")
        wanted = [("image(s)", image_spec, images), ("table row(s)", table_spec, rows)]
        for what, spec, given in wanted:
            if spec is not None and not given:
                raise DataError(
                    f"package {self.spec.name} takes {what} as input {spec.name!r}; none "
                    f"were given" + self._takes()
                )
            if spec is None and given:
                raise DataError(f"package {self.spec.name} takes no {what}" + self._takes())
        x: dict[str, np.ndarray] = {}
        notes: list[tuple[str, list[str]]] = []
        if image_spec is not None and images:
            x[image_spec.name], prepared = prepare_images(image_spec, images, max_pixels)
            notes = [(p.name, list(p.notices)) for p in prepared]
            if image_spec.variable_width:
                return self._read_lines(image_spec, prepared, notes)
        if table_spec is not None and rows:
            x[table_spec.name], row_notes = encode_rows(self.encoder, rows)
            if notes:
                if len(rows) != len(notes):
                    raise DataError(
                        f"{len(notes)} image(s) and {len(rows)} row(s) given; the model takes "
                        f"one row per image"
                    )
                notes = [(n, a + b) for (n, a), (_, b) in zip(notes, row_notes, strict=True)]
            else:
                notes = row_notes
        probabilities = self.predict_arrays(x if self.several_inputs else next(iter(x.values())))
        return self._ranked(probabilities, top_k, notes)

    def _read_lines(
        self, spec: InputSpec, prepared: list[PreparedImage], notes: list[tuple[str, list[str]]]
    ) -> list[Prediction]:
        """Each line run at its own width (``line_groups``): its answer does not depend on
        the other lines of the call."""
        answers = self.read_lines([p.pixels for p in prepared])
        return [
            Prediction(
                answers[i].label,
                answers[i].confidence,
                [],
                notices,
                name,
                "ctc",
                characters=answers[i].characters,
            )
            for i, (name, notices) in enumerate(notes)
        ]

    def line_inputs(self, lines: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Preprocessed uint8 lines (H, w_i) -> (their indices, model input) per run width,
        each line padded to its own run width (``line_groups``), as serving runs them."""
        spec = self.spec.input_of_kind("image")
        if spec is None or not spec.variable_width:
            raise DataError(f"package {self.spec.name} does not read lines of any width")
        fill = 255 if spec.background == "light" else 0
        return [
            (rows, to_model_input(batch, spec.norm.mean, spec.norm.std))
            for rows, batch in line_groups(lines, fill)
        ]

    def line_scores(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each line's frame probabilities (T_i, K+1), the line run at its own width."""
        out: list[np.ndarray] = [np.empty(0)] * len(lines)
        for rows, x in self.line_inputs(lines):
            for i, scores in zip(rows.tolist(), self.scores(self.logits(x)), strict=True):
                out[i] = scores
        return out

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[Answer]:
        """Preprocessed uint8 lines (H, w_i) -> each one's answer (the text read), in order;
        a line's answer never depends on the other lines given with it."""
        answers: list[Answer | None] = [None] * len(lines)
        for rows, x in self.line_inputs(lines):
            for i, a in zip(rows.tolist(), self.answers(self.scores(self.logits(x))), strict=True):
                answers[i] = a
        return [a for a in answers if a is not None]

    def _takes(self) -> str:
        what = ", ".join(f"{i.name} ({i.kind})" for i in self.spec.inputs)
        return f"; it takes {what}"

    def predict_images(
        self,
        images: Sequence[ImageSource],
        top_k: int = DEFAULT_TOP_K,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> list[Prediction]:
        """Image paths or encoded bytes -> one Prediction each, in order.

        An unreadable image raises DataError naming it (the batch is not half-answered).
        A model of several inputs takes :meth:`predict` with the rows too.
        """
        if self.spec.input_of_kind("image") is None:
            raise DataError(
                f"package {self.spec.name} takes table rows, not images; send rows of "
                f"{', '.join(self.encoder.feature_names[:8])}..."
            )
        return self.predict(images=images, top_k=top_k, max_pixels=max_pixels)

    def predict_rows(
        self, rows: Sequence[Mapping[str, Any]], top_k: int = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """Table rows ({column: value}, null for a missing value) -> one Prediction each.

        A row with an unknown or a missing column, or a non-number in a numeric one, is a
        DataError naming it; a category the training data never had encodes as all zeros
        (the stated rule), and the Prediction's notices say so. A model of several inputs
        takes :meth:`predict` with the images too.
        """
        if len(rows) == 0:
            raise DataError("no rows given; pass one or more rows of column: value")
        return self.predict(rows=rows, top_k=top_k)

    def _ranked(
        self, probabilities: np.ndarray, top_k: int, names: list[tuple[str, list[str]]]
    ) -> list[Prediction]:
        k = min(top_k, len(self.labels))
        out = []
        if self.task != "classification":
            for answer, (name, notices) in zip(self.answers(probabilities), names, strict=True):
                pairs = list(answer.scores.items())
                if self.task == "multilabel":
                    pairs.sort(key=lambda kv: -kv[1])
                out.append(
                    Prediction(
                        answer.label,
                        answer.confidence,
                        pairs,
                        notices,
                        name,
                        self.task,
                        answer.labels,
                        answer.values,
                    )
                )
            return out
        for p, (name, notices) in zip(probabilities, names, strict=True):
            order = np.argsort(-p, kind="stable")[:k]
            ranked = [(self.labels[i], float(p[i])) for i in order]
            out.append(Prediction(ranked[0][0], ranked[0][1], ranked, notices, name))
        return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (N, K)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
