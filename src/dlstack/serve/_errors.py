"""What the prediction server answers when it cannot answer with a prediction.

The HTTP errors are dlstack.web's, shared with the labeling app (one hierarchy, one body:
``{"error": message}``, the Open Inference Protocol's); serving adds the two refusals of
its batcher:

    HttpError (ServeError)      carries the HTTP status; the body is {"error": message}
    ├── BadRequest, Unauthorized, Forbidden, NotFound, PayloadTooLarge, UnsupportedMedia
    ├── TooManyRequests   429
    │   └── QueueFull          backpressure: the model's queue is full (Retry-After)
    └── Unavailable       503  the model is unloading
        └── DeadlineExceeded   the deadline cannot be met
"""

from __future__ import annotations

from dlstack.errors import DataError, PackageError
from dlstack.web import HttpError, TooManyRequests, Unavailable

__all__ = ["ERROR_STATUSES", "DeadlineExceeded", "QueueFull", "ServeError"]

# What a user mistake that is not an HttpError answers with: bad input, a bad package.
ERROR_STATUSES: dict[type[Exception], int] = {DataError: 400, PackageError: 400}

ServeError = HttpError  # the name serving's users know; every web error is one


class QueueFull(TooManyRequests):
    """The queue holds ``max_queue_size`` rows; ``retry_after`` is a guess in seconds."""


class DeadlineExceeded(Unavailable):
    """The request could not finish within its deadline, so it was not run (or not awaited)."""
