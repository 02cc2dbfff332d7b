"""dlstack.web: the tokens, roles and error body the two web apps share."""

from __future__ import annotations

import copy
import hashlib
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dlstack.web import (
    TOKEN_BYTES,
    BadRequest,
    HttpError,
    NotFound,
    Roles,
    TooManyRequests,
    error_body,
    hash_token,
    match_token,
    new_token,
    token_from_headers,
)


def test_hash_token_is_sha256_hex() -> None:
    # What is stored is exactly the sha256 a user can compute (`sha256sum`) for the config.
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token("dlsl_x"))


def test_new_tokens_are_random_url_safe_and_prefixed() -> None:
    tokens = {new_token("dlsl_") for _ in range(100)}
    # Never the same twice; 256 bits of URL-safe base64 after the prefix, as headers carry it.
    assert len(tokens) == 100
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for token in tokens:
        body = token.removeprefix("dlsl_")
        assert token.startswith("dlsl_") and set(body) <= alphabet
        assert len(body) == 43 and TOKEN_BYTES * 8 == 256
    assert not new_token().startswith("dlsl_")  # no prefix unless asked for


def test_match_token_finds_the_right_entry_among_all() -> None:
    a, b, c = new_token(), new_token(), new_token()
    known = [(hash_token(a), "ada"), (hash_token(b), "bob"), (hash_token(c), "cy")]
    # Each token finds its own owner wherever it sits in the list.
    assert [match_token(t, known) for t in (a, b, c)] == ["ada", "bob", "cy"]
    # An unknown token, no token, and a digest presented as the token find nobody.
    assert match_token("not-a-token", known) is None
    assert match_token(None, known) is None
    assert match_token(hash_token(a), known) is None
    assert match_token(a, []) is None


def test_match_token_compares_every_entry() -> None:
    # Constant time over all entries: the loop does not stop at the match (a timing hint
    # would say where in the list, or how early, a guess matched).
    token = new_token()
    seen: list[str] = []

    def entries():
        for owner in ("first", "second", "third"):
            seen.append(owner)
            yield (hash_token(token) if owner == "first" else hash_token(owner)), owner

    assert match_token(token, entries()) == "first"
    assert seen == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer  abc "}, "abc"),  # the scheme is case-insensitive
        ({"x-api-key": " abc "}, "abc"),
        ({"authorization": "Bearer abc", "x-api-key": "def"}, "abc"),  # bearer first
        ({"authorization": "Basic YWRhOng=", "x-api-key": "def"}, "def"),
        ({"authorization": "Basic YWRhOng="}, None),  # another scheme is no token
        ({"authorization": "Bearer "}, None),
        ({"x-api-key": "  "}, None),
        ({}, None),
    ],
)
def test_token_from_headers(headers: dict[str, str], token: str | None) -> None:
    assert token_from_headers(headers) == token


def test_roles_are_ordered_weakest_first() -> None:
    roles = Roles("labeler", "reviewer", "admin")
    # A role may act as itself and every weaker role, never as a stronger one.
    assert roles.may("admin", "labeler") and roles.may("reviewer", "reviewer")
    assert not roles.may("labeler", "reviewer")
    # Still the tuple the apps print and test membership on, through copies too.
    assert roles == ("labeler", "reviewer", "admin") and "admin" in roles
    assert copy.deepcopy(roles) == roles and isinstance(copy.copy(roles), Roles)
    with pytest.raises(ValueError, match="'owner' is not one of labeler, reviewer, admin"):
        roles.may("owner", "labeler")
    with pytest.raises(ValueError, match="distinct"):
        Roles("a", "a")


def test_errors_carry_status_headers_and_one_body() -> None:
    assert BadRequest("x").status == 400 and NotFound("x").status == 404
    busy = TooManyRequests("the queue is full", retry_after=3)
    # 429 tells the client when to come back; every error is a DlstackError with a message.
    assert (busy.status, busy.headers, busy.retry_after) == (429, {"Retry-After": "3"}, 3)
    assert isinstance(busy, HttpError) and error_body(str(busy)) == {"error": "the queue is full"}


def test_serve_errors_are_the_web_errors() -> None:
    # serve's public names keep working, and are the same classes as dlstack.web's.
    from dlstack.serve import DeadlineExceeded, QueueFull, ServeError
    from dlstack.web import Unavailable

    assert ServeError is HttpError
    assert issubclass(QueueFull, TooManyRequests) and issubclass(DeadlineExceeded, Unavailable)
    assert QueueFull("full", retry_after=1).headers == {"Retry-After": "1"}


# -- both apps answer with the one error body ------------------------------------------------


@pytest.fixture
def serve_client() -> TestClient:
    from dlstack.config import ServeConfig
    from dlstack.serve import create_app

    # No model needed: the admin and the unknown routes are refused before any model runs.
    return TestClient(create_app([], config=ServeConfig()))


@pytest.fixture
def labeling(tmp_path: Path):
    """The labeling app of a fresh project, and a labeler's token for it."""
    from dlstack.config import init_project
    from dlstack.data import DataRepo, create_labeling_app
    from dlstack.data.labeling import create_user

    project = init_project(tmp_path / "proj", "builtin:digits8", max_epochs=1)
    repo = DataRepo.open(project)
    _, token = create_user(repo.catalog, "ada", "labeler")
    yield TestClient(create_labeling_app(project, repo=repo)), token
    repo.close()


def _is_error_body(response) -> bool:
    body = response.json()
    return set(body) == {"error"} and isinstance(body["error"], str) and body["error"] != ""


def test_serve_app_answers_401_and_404_with_the_error_body(serve_client: TestClient) -> None:
    unauthorized = serve_client.post("/v2/repository/index")  # admin endpoint, no key
    assert unauthorized.status_code == 401 and _is_error_body(unauthorized)
    for path in ("/no/such/page", "/v2/models/nope"):  # an unknown route, an unknown model
        missing = serve_client.get(path)
        assert missing.status_code == 404 and _is_error_body(missing), path


def test_labeling_app_answers_401_403_404_422_with_the_error_body(labeling) -> None:
    client, token = labeling
    unauthorized = client.get("/api/me")  # no token
    assert unauthorized.status_code == 401 and _is_error_body(unauthorized)
    assert unauthorized.headers["www-authenticate"] == "Bearer"  # the challenge is kept
    auth = {"Authorization": f"Bearer {token}"}
    forbidden = client.get("/api/admin/stats", headers=auth)  # a labeler, not an admin
    assert forbidden.status_code == 403 and _is_error_body(forbidden)
    for path in ("/no/such/page", "/api/image/" + "0" * 64):  # no route; no such example
        missing = client.get(path, headers=auth)
        assert missing.status_code == 404 and _is_error_body(missing), path
    # FastAPI's own validation errors too: one string, not a list under "detail".
    invalid = client.get("/api/next", params={"limit": 0}, headers=auth)
    assert invalid.status_code == 422 and _is_error_body(invalid)
    assert "limit" in invalid.json()["error"]


def test_importing_web_is_light() -> None:
    # The labeling accounts (and so `dlstack.data.labeling`) import dlstack.web: tokens and
    # errors must not pull in FastAPI, nor anything of torch; the handlers load on first use.
    code = (
        "import sys, dlstack.web, dlstack.data.labeling; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_status_for_follows_the_most_specific_registered_type() -> None:
    from dlstack.errors import DataError, PackageError
    from dlstack.web import NotFound, status_for

    statuses = {DataError: 400, PackageError: 409}
    assert status_for(NotFound("x"), statuses) == 404
    assert status_for(PackageError("x"), statuses) == 409
    assert status_for(DataError("x"), statuses) == 400
    assert status_for(ValueError("x"), statuses) == 500


def test_labeling_app_bounds_json_and_body_size(labeling) -> None:
    # The shared RequestGuard: the labeling app's FastAPI-parsed bodies are bounded too.
    client, token = labeling
    auth = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    deep = client.post(
        "/api/label", content='{"answers": ' + "[" * 3000 + "]" * 3000 + "}", headers=auth
    )
    assert deep.status_code == 400 and "levels deep" in deep.json()["error"]
    big = client.post("/api/label", content=b"x" * (2 * 1024 * 1024), headers=auth)
    assert big.status_code == 413 and _is_error_body(big)
