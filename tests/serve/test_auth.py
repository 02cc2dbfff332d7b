"""API keys and roles; admin loads a new version and rolls back without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_helpers import serve_config

from dlstack.config import ServeConfig
from dlstack.errors import ConfigError
from dlstack.package import load_package
from dlstack.serve._app import create_app
from dlstack.serve._auth import KeyRing, new_key
from dlstack.web import token_from_headers as key_from_headers

ADMIN_KEY, ADMIN_SHA = new_key()
PREDICT_KEY, PREDICT_SHA = new_key()
KEYS = [
    {"name": "ops", "role": "admin", "sha256": ADMIN_SHA},
    {"name": "web", "role": "predict", "sha256": PREDICT_SHA},
]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin_client(exported_v2: Path) -> Iterator[TestClient]:
    """Serves version 1 of digits8; version 2 is on disk beside it, not loaded."""
    app = create_app([exported_v2.parent / "1"], config=serve_config(api_keys=KEYS))
    with TestClient(app) as c:
        yield c


def _infer(c: TestClient, x: np.ndarray, version: str | None = None, **kw) -> dict:
    path = "/v2/models/digits8" + (f"/versions/{version}" if version else "") + "/infer"
    body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32"}]}
    body["inputs"][0]["data"] = x.ravel().tolist()
    r = c.post(path, json=body, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def test_admin_endpoints_always_need_an_admin_key(admin_client: TestClient) -> None:
    assert admin_client.post("/v2/repository/index").status_code == 401
    wrong = admin_client.post("/v2/repository/index", headers=_bearer("not-a-key"))
    assert wrong.status_code == 401 and "not one of this server's keys" in wrong.json()["error"]
    weak = admin_client.post("/v2/repository/index", headers={"X-API-Key": PREDICT_KEY})
    assert weak.status_code == 403 and "'web' has role 'predict'" in weak.json()["error"]
    ok = admin_client.post("/v2/repository/index", headers=_bearer(ADMIN_KEY))
    assert ok.json() == [{"name": "digits8", "version": "1", "state": "READY", "current": True}]


def test_predict_is_open_by_default_and_keyed_when_configured(
    exported: Path, test_inputs: np.ndarray
) -> None:
    with TestClient(create_app([exported], config=serve_config())) as open_server:
        _infer(open_server, test_inputs[:1])
    cfg = serve_config(api_keys=KEYS, predict_requires_key=True)
    with TestClient(create_app([exported], config=cfg)) as keyed:
        r = keyed.post("/v2/models/digits8/infer", json={"inputs": []})
        assert r.status_code == 401 and "needs a predict API key" in r.json()["error"]
        assert keyed.get("/v2/models/digits8").status_code == 401
        assert keyed.get("/v2/health/live").status_code == 200  # health stays open
        _infer(keyed, test_inputs[:1], headers={"X-API-Key": PREDICT_KEY})
        _infer(keyed, test_inputs[:1], headers=_bearer(ADMIN_KEY))  # admin may predict


def test_load_a_new_version_then_roll_back_without_restart(
    admin_client: TestClient, exported_v2: Path, test_inputs: np.ndarray
) -> None:
    x = test_inputs[:4]
    v1 = load_package(exported_v2.parent / "1").logits(x)
    v2 = load_package(exported_v2).logits(x)
    assert not np.array_equal(v1, v2)
    admin = _bearer(ADMIN_KEY)

    def current_logits() -> np.ndarray:
        out = _infer(admin_client, x)["outputs"][0]
        return np.array(out["data"], np.float32).reshape(out["shape"])

    np.testing.assert_array_equal(current_logits(), v1)
    r = admin_client.post("/v2/repository/models/digits8/load", headers=admin)  # newest: v2
    assert r.status_code == 200 and r.json()["version"] == "2"
    np.testing.assert_array_equal(current_logits(), v2)
    assert admin_client.get("/v2/models/digits8").json()["versions"] == ["1", "2"]
    # Roll back: version 1 is still loaded, it becomes current at once.
    r = admin_client.post(
        "/v2/repository/models/digits8/load", json={"parameters": {"version": "1"}}, headers=admin
    )
    assert r.json() == {"name": "digits8", "version": "1", "state": "READY", "current": True}
    np.testing.assert_array_equal(current_logits(), v1)
    np.testing.assert_array_equal(
        np.array(_infer(admin_client, x, version="2")["outputs"][0]["data"]).reshape(4, -1),
        v2,
    )
    # Unload version 2: requests for it are 404, the current version is untouched.
    r = admin_client.post(
        "/v2/repository/models/digits8/unload", json={"parameters": {"version": 2}}, headers=admin
    )
    assert r.json()[0]["state"] == "UNAVAILABLE"
    assert admin_client.get("/v2/models/digits8/versions/2/ready").status_code == 404
    np.testing.assert_array_equal(current_logits(), v1)


def test_loading_what_is_not_there_is_a_clear_4xx(admin_client: TestClient) -> None:
    admin = _bearer(ADMIN_KEY)
    r = admin_client.post(
        "/v2/repository/models/digits8/load", json={"parameters": {"version": 9}}, headers=admin
    )
    assert r.status_code == 404 and "no version 9" in r.json()["error"]
    r = admin_client.post("/v2/repository/models/letters/load", headers=admin)
    assert r.status_code == 404 and "no model 'letters'" in r.json()["error"]
    r = admin_client.post("/v2/repository/models/..%2F..%2Fetc/load", headers=admin)
    assert r.status_code in (400, 404)
    r = admin_client.post(
        "/v2/repository/models/digits8/load",
        json={"parameters": {"version": "../1"}},
        headers=admin,
    )
    assert r.status_code == 400 and "version number" in r.json()["error"]


def test_keys_from_the_environment_and_config_mistakes() -> None:
    cfg = ServeConfig.model_validate(
        {"api_keys": [{"name": "ci", "role": "admin", "env": "DLSTACK_TEST_KEY"}]}
    )
    ring = KeyRing.from_config(cfg, {"DLSTACK_TEST_KEY": "s3cret"})
    assert ring.require("s3cret", "admin").name == "ci"
    with pytest.raises(ConfigError, match=r"\$DLSTACK_TEST_KEY, which is not set"):
        KeyRing.from_config(cfg, {})
    with pytest.raises(ConfigError, match="api_keys is empty"):
        KeyRing.from_config(ServeConfig(predict_requires_key=True))


def test_key_headers() -> None:
    assert key_from_headers({"authorization": "Bearer abc"}) == "abc"
    assert key_from_headers({"x-api-key": " abc "}) == "abc"
    assert key_from_headers({"authorization": "Basic abc"}) is None
