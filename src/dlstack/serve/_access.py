"""Who may call an endpoint of the prediction server: its API-key checks as dependencies.

The two security schemes (``X-API-Key`` and a bearer token) are declared as FastAPI
dependencies so that /docs shows them. The hot paths (infer, predict) check the key
themselves with dlstack.web's header parsing instead: a FastAPI dependency costs more per
request than the rest of the checks together.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dlstack.serve._auth import Role
from dlstack.serve._state import server_state

__all__ = ["Admin", "Feedback", "Predictor"]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
ApiKey = Annotated[str | None, Security(_api_key)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def _key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    return api_key or None


def _authorize(
    request: Request, role: Role, api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> None:
    server_state(request).keys.require(_key(api_key, bearer), role)


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def require_predict(request: Request, api_key: ApiKey = None, bearer: Bearer = None) -> None:
    _authorize(request, "predict", api_key, bearer)


async def require_admin(request: Request, api_key: ApiKey = None, bearer: Bearer = None) -> None:
    _authorize(request, "admin", api_key, bearer)


async def require_feedback(request: Request, api_key: ApiKey = None, bearer: Bearer = None) -> None:
    """A write to the labeling queue: a predict key (unless serve.feedback_requires_key is
    false), and at most serve.feedback_per_minute requests a minute per caller."""
    state = server_state(request)
    config = state.config
    who = state.keys.require(_key(api_key, bearer), "predict", always=config.feedback_requires_key)
    caller = f"key {who.name!r}" if who is not None else _client(request)
    state.feedback_limit.check(caller)


def _client(request: Request) -> str:
    return f"client {request.client.host}" if request.client else "an unknown client"


Predictor = Depends(require_predict)
Admin = Depends(require_admin)
Feedback = Depends(require_feedback)
