"""Profiles (PROTOCOL.md "Profiles"): PATCH /api/me sets a display name (1 to 64 characters,
trimmed, no control characters), a status (at most 140) and an avatar (an image upload of the
caller's own, with its thumbnail, readable by any signed-in user); null clears; GET /api/me and
every user listing show them; user search finds display names by the start of any word,
ignoring ASCII case; a change reaches the user's other devices and everyone who shares a
conversation with them live (the `profile` event), and nobody else."""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid

import pytest

from chat_client import Api, ChatConn, chat_args
from support import run_async
from test_uploads import make_png, upload_raw

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args()


def me(api: Api, user) -> dict:
    return api.ok("GET", "/api/me", token=user.token)


def patch(api: Api, user, body: dict):
    return api.request("PATCH", "/api/me", body, token=user.token)


def upload_image(port: int, user) -> str:
    png = make_png(400, 300)
    status, _, body = upload_raw(port, user.token, png, len(png), name="me.png",
                                 content_type="image/png")
    assert status == 201, body
    return json.loads(body)["id"]


def get(port: int, path: str, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_display_name_and_status_are_set_checked_and_cleared(shared_server):
    api = Api(shared_server.port)
    u = api.new_user("prof")
    assert me(api, u) == {"id": u.id, "username": u.name, "email": None, "display_name": None,
                          "avatar": None, "avatar_thumb": None, "status": None}
    r = patch(api, u, {"display_name": "  Zoë Ångström 🚀 ", "status": "out to lunch"})
    assert r.status == 200, r
    assert r.json["display_name"] == "Zoë Ångström 🚀" and r.json["status"] == "out to lunch"
    assert me(api, u)["display_name"] == "Zoë Ångström 🚀"
    # 64 characters (not bytes) is the most; 65 is refused.
    assert patch(api, u, {"display_name": "é" * 64}).status == 200
    for bad, reason in (("é" * 65, "at most 64"), ("a\nb", "control"), ("a\x07", "control"),
                        ("a\u0085b", "control"), (7, "string or null")):
        r = patch(api, u, {"display_name": bad})
        assert r.status == 400 and reason in r.json["error"], (bad, r)
    assert patch(api, u, {"status": "x" * 141}).status == 400
    assert patch(api, u, {"status": "x" * 140}).status == 200
    # Only the fields given change; null (or only spaces) clears one.
    r = patch(api, u, {"status": None})
    assert r.json["status"] is None and r.json["display_name"] == "é" * 64, r
    assert patch(api, u, {"display_name": "   "}).json["display_name"] is None
    assert patch(api, u, {}).status == 400
    assert api.request("PATCH", "/api/me", {"display_name": "x"}).status == 401


def test_listings_show_profiles_and_search_finds_display_name_words(shared_server):
    api = Api(shared_server.port)
    searcher, u, v = api.new_users(3, "lst")
    word = "W" + uuid.uuid4().hex[:10]  # A word no other test's names hold.
    assert patch(api, u, {"display_name": f"Anna {word}-Maria", "status": "hi"}).status == 200
    assert patch(api, v, {"display_name": f"{word.lower()}x"}).status == 200

    def ids(query):
        r = api.request("GET", "/api/users?" + query, token=searcher.token)
        assert r.status == 200, r
        return [x["id"] for x in r.json["users"]]

    # Any word's prefix, ASCII case ignored; both users start a word with `word`.
    assert sorted(ids(f"q={word.upper()}")) == sorted([u.id, v.id])
    assert ids(f"q={word}x") == [v.id]
    assert ids("q=maria&limit=50").count(u.id) == 1
    assert ids(f"q={word}-M") == []  # A separator is no word's.
    # Non-ASCII words match as typed.
    assert patch(api, v, {"display_name": f"Ölaf{word}"}).status == 200
    assert ids(f"q=%C3%96laf{word}") == [v.id]
    assert ids(f"q={word}x") == []  # The old name's words are gone.
    # Lookup by id shows the profile.
    r = api.request("GET", f"/api/users?ids={u.id}", token=searcher.token)
    assert r.json["users"] == [{"id": u.id, "username": u.name,
                                "display_name": f"Anna {word}-Maria", "avatar": None,
                                "avatar_thumb": None, "status": "hi"}], r


def test_avatar_is_an_own_image_readable_by_others(shared_server):
    api = Api(shared_server.port)
    u, other = api.new_users(2, "ava")
    image = upload_image(shared_server.port, u)
    r = patch(api, u, {"avatar": image})
    assert r.status == 200, r
    assert r.json["avatar"] == f"/files/{image}"
    assert r.json["avatar_thumb"] == f"/files/{image}/thumb"
    # Another user (no conversation in common) can fetch it and its thumbnail.
    status, body = get(shared_server.port, r.json["avatar"], other.token)
    assert status == 200 and body.startswith(b"\x89PNG"), status
    status, body = get(shared_server.port, r.json["avatar_thumb"], other.token)
    assert status == 200 and body[:3] == b"\xff\xd8\xff", status
    # Someone else's upload, a file that is not an image, an unknown id: refused.
    theirs = upload_image(shared_server.port, other)
    status, _, text = upload_raw(shared_server.port, u.token, b"plain", 5, name="a.txt",
                                 content_type="text/plain")
    text_id = json.loads(text)["id"]
    for bad in (theirs, text_id, "nope"):
        r = patch(api, u, {"avatar": bad})
        assert r.status == 400 and "image you uploaded" in r.json["error"], (bad, r)
    assert me(api, u)["avatar"] == f"/files/{image}"
    assert patch(api, u, {"avatar": None}).json["avatar"] is None


def test_profile_event_reaches_contacts_and_own_devices_only(shared_server):
    api = Api(shared_server.port)
    u, friend, stranger = api.new_users(3, "evt")
    api.direct(u, friend)

    async def go():
        conns = [await ChatConn.connect(shared_server.port, x.token, name=n)
                 for x, n in ((u, "own"), (friend, "friend"), (stranger, "stranger"))]
        try:
            r = await asyncio.to_thread(patch, api, u, {"display_name": "New Name",
                                                        "status": "busy"})
            assert r.status == 200, r
            for conn in conns[:2]:
                ev = await conn.wait_type("profile")
                assert ev["user"] == {"id": u.id, "username": u.name,
                                      "display_name": "New Name", "avatar": None,
                                      "avatar_thumb": None, "status": "busy"}, ev
            await conns[2].ping()
            assert conns[2].typed("profile") == []
        finally:
            for conn in conns:
                await conn.close()

    run_async(go(), 30)
