"""``[serve]``: the prediction server's limits, keys and logging (dlstack.serve)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from dlstack.config._base import Section

__all__ = ["ServeConfig", "ServeKeyConfig"]


class ServeKeyConfig(Section):
    """One ``[[serve.api_keys]]`` entry. The key itself is never written in dlstack.toml:
    give its ``sha256`` (``dlstack serve --new-key ROLE`` prints a key and its hash) or the
    name of the environment variable (``env``) that holds it. ``admin`` may also predict."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    role: Literal["predict", "admin"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    env: Annotated[str | None, Field(validate_default=True)] = None

    @field_validator("env")
    @classmethod
    def _one_source(cls, v: str | None, info: ValidationInfo) -> str | None:
        if (v is None) == (info.data.get("sha256") is None):
            raise ValueError(
                "needs exactly one of sha256 (the key's hash) or env (a variable holding it)"
            )
        return v


class ServeConfig(Section):
    """``[serve]``: the prediction server (dlstack.serve). Owned by the serve stage.

    The batching defaults are dlstack.serve._batching's DEFAULT_* (a test keeps them equal).
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    # Adaptive batching (dlstack.serve._batching): off means one request per model call.
    batching: bool = True
    max_batch_size: Annotated[int, Field(ge=1, le=4096)] = 32  # rows per model call, at most
    max_queue_delay_ms: Annotated[float, Field(ge=0, le=10_000)] = 2.0  # wait to fill a batch
    latency_slo_ms: Annotated[float, Field(gt=0, le=600_000)] = 100.0  # per-request deadline
    max_queue_size: Annotated[int, Field(ge=1)] = 1024  # rows waiting per model; full -> 429
    # Rows one request may carry; more is refused (413) before anything is queued.
    max_request_batch: Annotated[int, Field(ge=1)] = 256
    # Limits on what a client can make the server hold or decode.
    max_request_bytes: Annotated[int, Field(ge=1024)] = 8 * 1024 * 1024
    max_image_pixels: Annotated[int, Field(ge=1)] = 50_000_000  # decompression-bomb cap
    # A body that takes longer to arrive is answered 408 and its connection closed (slow
    # clients holding connections); connections beyond max_connections get 503 at once.
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    max_connections: Annotated[int, Field(ge=1)] = 512
    intra_op_threads: Annotated[int, Field(ge=1)] | None = None  # onnxruntime; None: all cores
    # Keys and roles: admin endpoints always need an admin key; predict only if this is true.
    predict_requires_key: bool = False
    # /feedback writes to the labeling queue: it needs a predict (or admin) key unless this
    # is false, and each caller (key, or client address) is held to feedback_per_minute.
    feedback_requires_key: bool = True
    feedback_per_minute: Annotated[float, Field(gt=0)] = 30.0
    api_keys: tuple[ServeKeyConfig, ...] = ()
    # Prediction log: summaries and outputs of every prediction to the data lake, a sample
    # of the inputs to the object store.
    log_predictions: bool = True
    log_sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    log_flush_seconds: Annotated[float, Field(gt=0)] = 10.0

    @field_validator("max_request_batch")
    @classmethod
    def _fits_queue(cls, v: int, info: ValidationInfo) -> int:
        queue = info.data.get("max_queue_size")
        if queue is not None and v > queue:
            raise ValueError(
                f"must be <= max_queue_size ({queue}): a larger request could never be "
                f"queued, got {v}"
            )
        return v
