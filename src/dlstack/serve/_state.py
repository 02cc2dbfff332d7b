"""What every request of the prediction server reaches: the server's state and version."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from dlstack.serve._auth import KeyRing
from dlstack.serve._input_range import RangeWatch
from dlstack.serve._monitoring import Metrics
from dlstack.serve._predlog import PredictionLog
from dlstack.serve._registry import ModelRegistry
from dlstack.web import RateLimit

if TYPE_CHECKING:
    from dlstack.config import ServeConfig

__all__ = ["ServerState", "server_state", "server_version"]


@dataclass
class ServerState:
    """One app's parts; ``create_app`` puts it on ``app.state.server``."""

    config: ServeConfig
    keys: KeyRing
    registry: ModelRegistry
    log: PredictionLog
    metrics: Metrics
    page: str  # the web page at /, read once
    decode_slots: asyncio.Semaphore  # images decoded at once (each may be large in memory)
    feedback_limit: RateLimit  # /feedback calls per caller and minute
    range_watch: RangeWatch  # inputs far outside the training range: warn, count, log


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def server_version() -> str:
    """dlstack's version, for the OpenAPI document and the OIP server metadata."""
    try:
        from importlib.metadata import version

        return version("dlstack")
    except Exception:
        return "0"
