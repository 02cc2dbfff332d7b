"""What the prediction server answers when it cannot answer with a prediction.

    DlstackError
    └── ServeError            carries the HTTP status; the body is {"error": message}
        ├── BadRequest        400  wrong input name, shape, datatype; not an image; empty body
        ├── Unauthorized      401  no API key, or an unknown one
        ├── Forbidden         403  a key whose role may not do this
        ├── NotFound          404  no such model, version or prediction
        ├── PayloadTooLarge   413  body over max_request_bytes, rows over max_request_batch
        ├── UnsupportedMedia  415  a content type or encoding the endpoint does not read
        ├── QueueFull         429  backpressure: the model's queue is full (Retry-After)
        └── Unavailable       503  the deadline cannot be met, or the model is unloading

The error body follows the Open Inference Protocol: ``{"error": "<message>"}``; every
message names the problem, what was received and what is allowed.
"""

from __future__ import annotations

from dlstack.errors import DlstackError

__all__ = [
    "BadRequest",
    "DeadlineExceeded",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "QueueFull",
    "ServeError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMedia",
]


class ServeError(DlstackError):
    """A request the server refuses; ``status`` is its HTTP status code."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class BadRequest(ServeError):
    status = 400


class Unauthorized(ServeError):
    status = 401


class Forbidden(ServeError):
    status = 403


class NotFound(ServeError):
    status = 404


class PayloadTooLarge(ServeError):
    status = 413


class UnsupportedMedia(ServeError):
    status = 415


class QueueFull(ServeError):
    """The queue holds ``max_queue_size`` rows; ``retry_after`` is a guess in seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Unavailable(ServeError):
    status = 503


class DeadlineExceeded(Unavailable):
    """The request could not finish within its deadline, so it was not run (or not awaited)."""
