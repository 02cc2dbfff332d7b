"""The model package's metadata, ``model.json``: its schema, read and written in one place.

Everything serving needs (labels, the input spec with its normalization, the output) and
where the model came from (data version, run, training config, metrics). Unknown keys are
kept, so a newer dlstack's extra fields survive a read by this one; a newer *schema* is
refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from dlstack.errors import PackageError
from dlstack.inputs import VARIABLE_WIDTH, ImageSpec, TableEncoder
from dlstack.records import sha256_file, write_atomic

__all__ = [
    "MODEL_FILE",
    "SPEC_FILE",
    "SUPPORTED_SCHEMA",
    "InputRange",
    "InputSpec",
    "NormalizationSpec",
    "OnnxFile",
    "OutputSpec",
    "PackageSpec",
    "read_spec",
    "sha256_file",
    "write_spec",
]

SUPPORTED_SCHEMA = 2  # the newest model.json schema this dlstack reads (and writes)
# Schema 2 adds `decides_sha256`: the hash of every field that changes an answer (labels,
# input spec and normalization, output, the ONNX file's hash). Schema 1 (no hash) still
# reads.
_DECIDING = ("schema_version", "task", "labels", "inputs", "output", "onnx")
_ADDED_LATER = {"kind": "image", "resize": "fit"}  # input fields, and their implied value
SPEC_FILE = "model.json"
MODEL_FILE = "model.onnx"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class NormalizationSpec(_Spec):
    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)


class InputRange(_Spec):
    """Where the model-input tensor lay over the train split, after the preprocessing
    serving applies (scaled and standardized pixels; encoded table features): one entry per
    channel (an image) or per encoded feature (a table). ``low``/``high`` are the
    ``quantile`` and ``1 - quantile`` quantiles (a table's: its min and max, ``quantile``
    0); serving warns when a request lies far outside them (``dlstack.serve``)."""

    per: Literal["channel", "feature"]
    names: list[str] = Field(min_length=1)  # "gray" / "red", "green", "blue"; feature names
    quantile: float = Field(ge=0, lt=0.5)
    low: list[float]
    high: list[float]
    min: list[float]
    max: list[float]
    examples: int = Field(ge=1)  # train examples measured

    @model_validator(mode="after")
    def _one_per_name(self) -> InputRange:
        n = len(self.names)
        if any(len(v) != n for v in (self.low, self.high, self.min, self.max)):
            raise ValueError(f"train_range needs low, high, min and max for each of {n} names")
        return self


class InputSpec(_Spec):
    """The model's input. ``kind`` "image": float32 [-1, C, H, W] made from pixels
    (scaled by ``pixel_scale``, standardized with ``normalization``, prepared by color,
    background and resize); "table": float32 [-1, D] made from a row of columns by the
    fitted encoder in ``table`` (``dlstack.inputs.TableEncoder``)."""

    name: str
    dtype: Literal["float32"]
    kind: Literal["image", "table"] = "image"
    shape: list[int] = Field(min_length=2, max_length=4)  # [-1, C, H, W] or [-1, D]
    layout: Literal["NCHW", "NC"]
    pixel_scale: float | None = Field(default=None, gt=0)
    normalization: NormalizationSpec | None = None
    color: Literal["grayscale", "rgb"] | None = None
    # "dark"/"light": strokes on a background, an image of the other kind is inverted;
    # "any": photos, never inverted.
    background: Literal["dark", "light", "any"] = "dark"
    resize: Literal["fit", "stretch", "crop"] = "fit"  # how other sizes reach (H, W)
    table: dict[str, Any] | None = None  # TableEncoder.to_dict(): columns, mean/std, vocab
    # Added later (packages without it serve without range warnings, and keep their hash:
    # a None is left out of model.json and of the deciding hash). When present it is
    # sealed like the rest: a hand-widened range would silence the warnings.
    train_range: InputRange | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("train_range", ...) is None:
            del data["train_range"]
        return data

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W); W is ``VARIABLE_WIDTH`` (-1) for a line input of any width."""
        return self.shape[2], self.shape[3]

    @property
    def variable_width(self) -> bool:
        """A line input: images of any width, scaled to height H (``[C, H, -1]``)."""
        return self.kind == "image" and len(self.shape) == 4 and self.shape[3] == VARIABLE_WIDTH

    @property
    def norm(self) -> NormalizationSpec:
        """The image normalization (PackageError for a table input)."""
        if self.normalization is None:
            raise PackageError(f"input {self.name!r} is a {self.kind}, not an image")
        return self.normalization

    def image_spec(self) -> ImageSpec:
        """How an image is prepared for this input (what checkout did for training)."""
        if self.kind != "image":
            raise PackageError(f"input {self.name!r} is a {self.kind}, not an image")
        return ImageSpec(self.channels, self.size, self.resize, self.background)  # type: ignore[arg-type]

    def encoder(self) -> TableEncoder:
        """A table input's fitted encoder (PackageError for an image input)."""
        if self.table is None:
            raise PackageError(f"input {self.name!r} is an image, not a table")
        return TableEncoder.from_dict(self.table)


_TASK_FIELDS = ("activation", "thresholds", "scaling", "blank", "decoder", "beam_width")
CTC_OUTPUT = "frame_logits"  # a line reader's output kind: (N, T, K+1), blank first


class OutputSpec(_Spec):
    """The graph's output, one row per example: ``kind`` "logits" turned into class
    probabilities by ``activation`` (softmax: one class; sigmoid: each class on its own,
    given at its ``thresholds``), or "values": a regression's numbers per target, already
    in the target's units (the graph applies ``scaling``, the train mean and std the model
    was trained to predict standardized), or "frame_logits": a line reader's (N, T, K+1)
    scores per frame, ``blank`` (0) first, then one per character of ``labels`` (the
    alphabet), read into text by ``decoder`` (greedy, or CTC prefix beam search of
    ``beam_width``)."""

    name: str
    kind: Literal["logits", "values", "frame_logits"] = "logits"
    # [-1, num_classes | targets]; frame_logits: [-1, -1, K + 1] (batch, frames, symbols)
    shape: list[int] = Field(min_length=2, max_length=3)
    activation: Literal["softmax", "sigmoid"] | None = None  # None: softmax (older packages)
    thresholds: list[float] | None = None  # sigmoid: per class; None means 0.5 each
    scaling: dict[str, list[float]] | None = None  # values: {"mean", "std"}, in the graph
    blank: int | None = None  # frame_logits: the CTC blank's index (0)
    decoder: Literal["greedy", "beam"] | None = None  # frame_logits: how frames become text
    beam_width: int | None = Field(default=None, ge=1)  # decoder "beam": prefixes kept

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields of other tasks are left out when unset: a classification package's
        model.json reads as it always did."""
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in _TASK_FIELDS and v is None)}


class OnnxFile(_Spec):
    file: str = MODEL_FILE
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    opset: int | None = None
    exporter: str | None = None  # "torch.export" or "torchscript"


class PackageSpec(_Spec):
    """The validated content of ``model.json``; unknown keys are kept.

    A model of one input states it as ``input`` (as every package before several inputs
    did); a model of several as ``inputs``, a list, each named as the ONNX graph's input
    (``"image"``, ``"features"``). Both read into :attr:`inputs`; :attr:`input` is the one
    input of a one-input package.
    """

    schema_version: int
    name: str
    version: int
    task: Literal["classification", "multilabel", "regression", "ctc"]
    labels: list[str] = Field(min_length=1)
    inputs: list[InputSpec] = Field(min_length=1)
    output: OutputSpec
    onnx: OnnxFile
    data_version: str | None = None
    run_id: str | None = None
    mlflow_run_id: str | None = None
    architecture: str | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    code_version: str | None = None
    dlstack_version: str | None = None
    created: str | None = None
    decides_sha256: str | None = None  # schema 2: see deciding_hash()

    @model_validator(mode="before")
    @classmethod
    def _one_input(cls, data: Any) -> Any:
        """``input`` (one input) reads as ``inputs`` of one; giving both is an error."""
        if isinstance(data, dict) and "input" in data:
            if "inputs" in data:
                raise ValueError("model.json has both 'input' and 'inputs'; keep one")
            data = {k: v for k, v in data.items() if k != "input"} | {"inputs": [data["input"]]}
        return data

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """One input is written as ``input``, as before several inputs existed: old
        readers read it, and its deciding hash is the one it always had."""
        data: dict[str, Any] = handler(self)
        inputs = data.get("inputs")
        if isinstance(inputs, list) and len(inputs) == 1:
            data = {
                ("input" if k == "inputs" else k): (v[0] if k == "inputs" else v)
                for k, v in data.items()
            }
        return data

    @property
    def input(self) -> InputSpec:
        """The one input of a one-input package (PackageError when it has several)."""
        if len(self.inputs) != 1:
            raise PackageError(
                f"package {self.name} takes {len(self.inputs)} inputs "
                f"({', '.join(i.name for i in self.inputs)}); use spec.inputs"
            )
        return self.inputs[0]

    def input_named(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def input_of_kind(self, kind: str) -> InputSpec | None:
        """The (first) input of ``kind`` "image" or "table", if the model takes one."""
        return next((i for i in self.inputs if i.kind == kind), None)

    def deciding_hash(self) -> str:
        """sha256 of the fields that decide the package's answers, canonically encoded:
        reversed labels or a changed mean give wrong answers silently, so they are sealed."""
        data = self.model_dump(mode="json", include=set(_DECIDING), exclude_none=True)
        # Fields added to schema 2 later are hashed only when they differ from what older
        # packages meant without them, so those packages keep their hash.
        for spec in [data["input"]] if "input" in data else data["inputs"]:
            for key, implied in _ADDED_LATER.items():
                if spec.get(key) == implied:
                    del spec[key]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def sealed(self) -> PackageSpec:
        """This spec with ``decides_sha256`` set (what export writes)."""
        return self.model_copy(update={"decides_sha256": self.deciding_hash()})

    @model_validator(mode="after")
    def _consistent(self) -> PackageSpec:
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"inputs must have distinct names, got {names}")
        for spec in self.inputs:
            if spec.kind == "table":
                self._check_table(spec)
            else:
                self._check_image(spec)
            self._check_range(spec)
        if self.task == "ctc":
            self._check_ctc()
            return self
        if self.output.shape != [-1, len(self.labels)]:
            raise ValueError(
                f"output.shape must be [-1, {len(self.labels)}] for "
                f"{len(self.labels)} labels, got {self.output.shape}"
            )
        self._check_output()
        return self

    def _check_ctc(self) -> None:
        """A line reader: one image input of any width, frame logits for blank + alphabet."""
        out, k = self.output, len(self.labels)
        if any(len(c) != 1 for c in self.labels) or len(set(self.labels)) != k:
            raise ValueError("a ctc package's labels are its alphabet: distinct single characters")
        if len(self.inputs) != 1 or not self.inputs[0].variable_width:
            raise ValueError("a ctc package takes one image input of shape [-1, C, H, -1]")
        if out.kind != CTC_OUTPUT or out.shape != [-1, -1, k + 1] or out.blank != 0:
            raise ValueError(
                f"a ctc package's output is kind {CTC_OUTPUT!r}, shape [-1, -1, {k + 1}] "
                f"(the blank and {k} characters) and blank 0; got kind {out.kind!r}, shape "
                f"{out.shape}, blank {out.blank}"
            )

    def _check_output(self) -> None:
        """The output the task needs: values for a regression, logits otherwise."""
        out = self.output
        want = "values" if self.task == "regression" else "logits"
        if out.kind != want:
            raise ValueError(f"a {self.task} package's output.kind is {want!r}, got {out.kind!r}")
        if self.task == "multilabel" and out.activation != "sigmoid":
            raise ValueError("a multilabel package's output.activation is 'sigmoid'")
        if out.thresholds is not None and len(out.thresholds) != len(self.labels):
            raise ValueError(
                f"output.thresholds needs one per label ({len(self.labels)}), got "
                f"{len(out.thresholds)}"
            )

    @staticmethod
    def _check_range(spec: InputSpec) -> None:
        """A train range has one entry per channel of an image, per feature of a table."""
        r = spec.train_range
        if r is None:
            return
        want = ("channel", spec.shape[1]) if spec.kind == "image" else ("feature", spec.shape[1])
        if (r.per, len(r.names)) != want:
            raise ValueError(
                f"input {spec.name!r}: train_range must be per {want[0]}, {want[1]} of them; "
                f"got per {r.per}, {len(r.names)}"
            )

    @staticmethod
    def _check_table(spec: InputSpec) -> None:
        shape, table = spec.shape, spec.table
        if len(shape) != 2 or shape[0] != -1 or shape[1] < 1 or spec.layout != "NC":
            raise ValueError(f"a table input has shape [-1, D] and layout NC, got {shape}")
        if table is None:
            raise ValueError("a table input needs input.table (its fitted encoder)")
        try:
            width = TableEncoder.from_dict(table).width
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"input.table is not a table encoder ({e})") from None
        if width != shape[1]:
            raise ValueError(f"input.table encodes {width} values, input.shape says {shape[1]}")

    @staticmethod
    def _check_image(spec: InputSpec) -> None:
        shape = spec.shape
        if len(shape) != 4 or spec.layout != "NCHW":
            raise ValueError(f"an image input has shape [-1, C, H, W] and layout NCHW, got {shape}")
        c = shape[1]
        if (
            shape[0] != -1
            or any(d < 1 for d in shape[1:3])
            or not (shape[3] >= 1 or shape[3] == VARIABLE_WIDTH)
        ):
            raise ValueError(
                f"input.shape must be [-1, C, H, W] with C, H, W >= 1 (W -1: lines of any "
                f"width), got {shape}"
            )
        if spec.color is None or spec.normalization is None:
            raise ValueError("an image input needs input.color and input.normalization")
        want_c = 1 if spec.color == "grayscale" else 3
        if c != want_c:
            raise ValueError(
                f"input.color {spec.color!r} needs {want_c} channel(s), input.shape has {c}"
            )
        norm = spec.normalization
        if len(norm.mean) != c or len(norm.std) != c or min(norm.std) <= 0:
            raise ValueError(
                f"input.normalization needs {c} mean(s) and {c} positive std(s), "
                f"got mean={norm.mean} std={norm.std}"
            )
        if spec.pixel_scale != 255:
            raise ValueError(f"input.pixel_scale must be 255, got {spec.pixel_scale}")


def read_spec(path: Path) -> PackageSpec:
    """Parse and validate a model.json; refuse schemas newer than this dlstack reads."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PackageError(f"cannot read {path}: {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(
            f"{path} is not valid JSON ({e}); the package is damaged, export "
            f"the model again with `dlstack export`"
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("schema_version"), int):
        raise PackageError(
            f"{path} has no integer schema_version; it is not a dlstack model "
            f"package (expected model.json written by `dlstack export`)"
        )
    schema = raw["schema_version"]
    if schema > SUPPORTED_SCHEMA:
        raise PackageError(
            f"{path} was made by a newer dlstack (schema {schema}); this dlstack "
            f"reads schema {SUPPORTED_SCHEMA}; upgrade dlstack"
        )
    if schema < 1:
        raise PackageError(f"{path} has schema_version {schema}; valid schemas start at 1")
    try:
        spec = PackageSpec.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'model.json'}: {err['msg']}"
            for err in e.errors()
        )
        raise PackageError(
            f"{path} is not a valid schema-{schema} package: {problems}; "
            f"export the model again with `dlstack export`"
        ) from None
    if schema >= 2 and spec.decides_sha256 != spec.deciding_hash():
        raise PackageError(
            f"{path} was changed after export: its labels, input spec (size, "
            f"normalization), output or ONNX hash no longer match the hash sealed in it "
            f"(decides_sha256); export the model again rather than editing model.json"
        )
    return spec


def write_spec(directory: Path, spec: PackageSpec) -> Path:
    """``directory/model.json``, written atomically (never half a file under the name),
    sealed with the hash of the fields that decide answers (schema 2 and later)."""
    if spec.schema_version >= 2:
        spec = spec.sealed()
    text = json.dumps(spec.model_dump(mode="json"), indent=2) + "\n"
    return write_atomic(Path(directory) / SPEC_FILE, text)
