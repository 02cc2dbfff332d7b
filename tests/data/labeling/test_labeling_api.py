"""The labeling API through FastAPI's TestClient: label, undo, skip, roles, isolation."""

from __future__ import annotations

import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette asks for httpx2 for its TestClient; the dev install pins httpx (DESIGN.md).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient
from sqlalchemy import select

from dlstack.config import load_project
from dlstack.data import create_labeling_app as create_app
from dlstack.data._catalog import staged
from dlstack.data._labeling_app import key_map
from dlstack.data.labeling import create_user, enqueue, list_gold
from dlstack.data.labeling._common import annotations_t


def _client(lp):
    return TestClient(create_app(lp.project, repo=lp.repo))


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_label_skip_undo_through_the_api(lp, tokens):
    c, h = _client(lp), _auth(tokens["ada"])
    me = c.get("/api/me", headers=h).json()
    # The page learns who it is and the key map: digits are their own keys.
    assert (me["user"], me["role"], me["task"]) == ("ada", "labeler", "classification")
    assert me["keys"] == {str(d): str(d) for d in range(10)}

    items = c.get("/api/next", params={"limit": 3}, headers=h).json()["items"]
    a, b, d = (i["example_id"] for i in items)
    # Images come from the object store, byte for byte.
    img = c.get(items[0]["image"], headers=h)
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content == lp.repo.store.get(a)

    r = c.post(
        "/api/label", json={"example_id": a, "label": lp.truth[a], "seconds": 0.8}, headers=h
    )
    assert r.status_code == 200 and r.json()["done"] is True  # labels_needed=1: decided
    assert c.post("/api/label", json={"example_id": b, "label": "0"}, headers=h).status_code == 200
    undone = c.post("/api/undo", headers=h).json()["undone"]
    assert (undone["example_id"], undone["label"]) == (b, "0")  # the latest answer
    assert (
        c.post("/api/label", json={"example_id": b, "label": lp.truth[b]}, headers=h).status_code
        == 200
    )
    assert c.post("/api/skip", json={"example_id": d}, headers=h).status_code == 200

    with lp.catalog.connect() as conn:
        rows = conn.execute(select(annotations_t).order_by(annotations_t.c.id)).all()
        labels = {r.example_id: r.label for r in conn.execute(staged.select())}
    # Every answer is kept with who and when; the undone one is retracted, not deleted.
    assert [(r.example_id, r.user, r.label, r.retracted_at is not None) for r in rows] == [
        (a, "ada", lp.truth[a], False),
        (b, "ada", "0", True),
        (b, "ada", lp.truth[b], False),
        (d, "ada", None, False),
    ]
    assert all(r.created_at for r in rows) and rows[0].seconds == pytest.approx(0.8)
    # The working set holds the two labels, not the skip.
    assert labels == {a: lp.truth[a], b: lp.truth[b]}
    # Answered examples are not offered to Ada again.
    offered = {
        i["example_id"] for i in c.get("/api/next", params={"limit": 50}, headers=h).json()["items"]
    }
    assert not offered & {a, b, d}


def test_bad_tokens_get_401_json(lp, tokens):
    c = _client(lp)
    for headers in ({}, _auth("dlsl_not-a-token"), {"Authorization": "Basic YWRhOng="}):
        r = c.get("/api/next", headers=headers)
        # No token, a wrong one, or the wrong scheme: 401 with a JSON reason and a challenge.
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["error"]
    # The page itself holds no data and loads without a token.
    assert c.get("/").status_code == 200


def test_disabled_accounts_are_refused(lp, tokens):
    c = _client(lp)
    r = c.post("/api/admin/users/ada/disable", headers=_auth(tokens["root"]))
    assert r.status_code == 200
    r = c.get("/api/me", headers=_auth(tokens["ada"]))
    assert r.status_code == 401 and "disabled" in r.json()["error"]


def test_roles(lp, tokens):
    c = _client(lp)
    admin_pages = [
        ("get", "/api/admin/stats"),
        ("get", "/api/admin/users"),
        ("get", "/api/admin/gold"),
        ("post", "/api/admin/users"),
        ("delete", f"/api/admin/gold/{lp.ids[0]}"),
    ]
    for who in ("ada", "rev"):
        for method, path in admin_pages:
            r = c.request(method, path, headers=_auth(tokens[who]), json={"name": "x"})
            # Labelers and reviewers can't see or change admin pages.
            assert r.status_code == 403, (who, path)
            assert "admin role" in r.json()["error"]
    # Reviewing is for reviewers and up.
    assert c.get("/api/review", headers=_auth(tokens["ada"])).status_code == 403
    assert c.get("/api/review", headers=_auth(tokens["rev"])).status_code == 200
    # An admin sees the stats and can make accounts; the new token works at once.
    assert c.get("/api/admin/stats", headers=_auth(tokens["root"])).json()["progress"][
        "waiting"
    ] == len(lp.ids)
    made = c.post(
        "/api/admin/users", json={"name": "eve", "role": "reviewer"}, headers=_auth(tokens["root"])
    )
    assert made.status_code == 201
    assert c.get("/api/me", headers=_auth(made.json()["token"])).json()["role"] == "reviewer"


def test_reviewer_decides_a_disagreement(lp, tokens):
    c = _client(lp)
    eid = lp.ids[0]
    enqueue(lp.catalog, [eid], source="manual", labels_needed=2)
    c.post("/api/label", json={"example_id": eid, "label": "1"}, headers=_auth(tokens["ada"]))
    c.post("/api/label", json={"example_id": eid, "label": "7"}, headers=_auth(tokens["bob"]))
    items = c.get("/api/review", headers=_auth(tokens["rev"])).json()["items"]
    assert [(i["example_id"], i["votes"]) for i in items] == [(eid, {"1": 1, "7": 1})]
    r = c.post("/api/review", json={"example_id": eid, "label": "7"}, headers=_auth(tokens["rev"]))
    assert r.status_code == 200 and r.json()["by"] == "rev"
    assert c.get("/api/review", headers=_auth(tokens["rev"])).json()["items"] == []


def test_unknown_label_is_422_naming_the_classes(lp, tokens):
    c = _client(lp)
    r = c.post(
        "/api/label", json={"example_id": lp.ids[0], "label": "cat"}, headers=_auth(tokens["ada"])
    )
    assert r.status_code == 422
    body = r.json()
    # The reply says what is allowed, for people and for programs.
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in body["error"]
    assert body["allowed"] == [str(d) for d in range(10)]
    # And nothing was recorded.
    with lp.catalog.connect() as conn:
        assert conn.execute(select(annotations_t.c.id)).first() is None
    # An example that isn't queued (or isn't an id at all) is 404 / 422, not a 500.
    r = c.post(
        "/api/label", json={"example_id": "a" * 64, "label": "1"}, headers=_auth(tokens["ada"])
    )
    assert r.status_code == 404
    assert (
        c.post(
            "/api/label", json={"example_id": "../etc", "label": "1"}, headers=_auth(tokens["ada"])
        ).status_code
        == 422
    )


def test_admin_manages_gold(lp, tokens):
    c, h = _client(lp), _auth(tokens["root"])
    eid = lp.ids[0]
    assert c.post("/api/admin/gold", json={"answers": {eid: lp.truth[eid]}}, headers=h).json() == {
        "added": 1
    }
    assert list_gold(lp.catalog) == {eid: lp.truth[eid]}
    assert c.get("/api/admin/gold", headers=h).json()["gold"] == {eid: lp.truth[eid]}
    assert c.delete(f"/api/admin/gold/{eid}", headers=h).status_code == 200
    assert list_gold(lp.catalog) == {}


def test_a_token_of_one_project_does_not_open_another(new_project):
    a = new_project("alpha", n=4)
    b = new_project("beta", n=4, offset=100)
    _, token_a = create_user(a.catalog, "ada", "admin")
    create_user(b.catalog, "ada", "admin")  # same name, other project, other token
    ca, cb = _client(a), _client(b)
    assert ca.get("/api/me", headers=_auth(token_a)).status_code == 200
    # A's token is nobody on B's server, even for a user of the same name.
    for path in ("/api/me", "/api/next", "/api/admin/stats", f"/api/image/{a.ids[0]}"):
        assert cb.get(path, headers=_auth(token_a)).status_code == 401, path
    # And B's server never serves A's images, even to B's own admin.
    _, token_b = create_user(b.catalog, "bea", "admin")
    assert cb.get(f"/api/image/{a.ids[0]}", headers=_auth(token_b)).status_code == 404


def test_key_map_for_other_class_lists():
    # Single characters are their own keys; longer names get 1..9, 0, then letters.
    assert key_map(["a", "b"]) == {"a": "a", "b": "b"}
    assert key_map(["cat", "dog", "other"]) == {"1": "cat", "2": "dog", "3": "other"}
    assert list(key_map([f"c{i}" for i in range(12)]))[9:] == ["0", "q", "w"]


def test_transcription_projects_take_text(lp, tokens):
    toml = lp.project.root / "dlstack.toml"
    toml.write_text(toml.read_text().replace('task = "classification"', 'task = "ctc"'))
    c = TestClient(create_app(load_project(lp.project.root), repo=lp.repo))
    h = _auth(tokens["ada"])
    me = c.get("/api/me", headers=h).json()
    assert me["task"] == "ctc" and me["keys"] == {}  # a text box, not keys
    r = c.post("/api/label", json={"example_id": lp.ids[0], "label": " 3.14  15 "}, headers=h)
    # Whitespace is normalized; the text is the label.
    assert r.status_code == 200 and r.json()["label"] == "3.14 15"
    r = c.post("/api/label", json={"example_id": lp.ids[1], "label": "   "}, headers=h)
    assert r.status_code == 422 and "skip" in r.json()["error"]
