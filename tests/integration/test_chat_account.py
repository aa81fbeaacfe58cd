"""Account control (PROTOCOL.md "Account control"): a password change ends every other login
(their access tokens refused at once, their connections closed, their refresh tokens gone) and
keeps the caller's; a wrong current password is 403 and counts as a failed login; the sessions
list (one entry per login, with its User-Agent and address, `current` for the caller's) and the
revocation of one; account deletion (login refused, sessions ended, username released, groups
left, the messages kept under the anonymized id); blocks (a 1:1 neither opened nor written to
in either direction, groups unaffected, unblock restores)."""

from __future__ import annotations

import asyncio

import pytest

from chat_client import PASSWORD, Api, ChatConn, chat_args, connected
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args()
NEW_PASSWORD = "another long passphrase"


def login(api: Api, name: str, password: str = PASSWORD, agent: str = "test-agent") -> dict:
    r = api.request("POST", "/api/login", {"username": name, "password": password},
                    headers={"User-Agent": agent})
    assert r.status == 200, r
    return r.json


def refresh(api: Api, token: str):
    return api.request("POST", "/api/token/refresh", {"refresh_token": token})


def sessions(api: Api, token: str) -> list[dict]:
    return api.ok("GET", "/api/me/sessions", token=token)["sessions"]


def test_sessions_list_and_revoke_one(shared_server):
    api = Api(shared_server.port)
    u = api.new_user("sess")
    phone = login(api, u.name, agent="phone/1.0")
    laptop = login(api, u.name, agent="laptop/2.0")
    listed = sessions(api, laptop["token"])
    # new_user's own login too: three, newest first.
    assert len(listed) == 3, listed
    mine = [s for s in listed if s["current"]]
    assert len(mine) == 1 and mine[0]["user_agent"] == "laptop/2.0", listed
    assert {s["user_agent"] for s in listed} >= {"phone/1.0", "laptop/2.0"}
    assert all(s["address"] == "127.0.0.1" and s["created_at"] <= s["last_used_at"]
               for s in listed), listed
    phone_id = next(s["id"] for s in listed if s["user_agent"] == "phone/1.0")

    async def go():
        conn = await ChatConn.connect(shared_server.port, phone["token"], name="phone")
        try:
            r = await asyncio.to_thread(api.request, "DELETE", f"/api/me/sessions/{phone_id}",
                                        token=laptop["token"])
            assert r.status == 200, r
            code, _ = await conn.wait_closed()
            assert code == 1008
        finally:
            await conn.close()

    run_async(go(), 30)
    assert api.request("GET", "/api/me", token=phone["token"]).status == 401
    assert refresh(api, phone["refresh_token"]).status == 401
    assert api.request("GET", "/api/me", token=laptop["token"]).status == 200
    assert len(sessions(api, laptop["token"])) == 2
    # Unknown, or another user's: the same 404.
    other = api.new_user("sess2")
    other_id = sessions(api, other.token)[0]["id"]
    for sid in ("nope", other_id, phone_id):
        r = api.request("DELETE", f"/api/me/sessions/{sid}", token=laptop["token"])
        assert r.status == 404, (sid, r)
    assert api.request("GET", "/api/me", token=other.token).status == 200
    assert api.request("POST", "/api/me/sessions", token=laptop["token"]).status == 405


def test_password_change_ends_other_sessions_and_keeps_the_caller(shared_server):
    api = Api(shared_server.port)
    u = api.new_user("pw")
    other = login(api, u.name)
    caller = login(api, u.name)

    async def go():
        other_conn = await ChatConn.connect(shared_server.port, other["token"], name="other")
        caller_conn = await ChatConn.connect(shared_server.port, caller["token"], name="caller")
        try:
            r = await asyncio.to_thread(
                api.request, "POST", "/api/me/password",
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                token=caller["token"])
            assert r.status == 200 and r.json["changed"] is True, r
            assert r.json["sessions_ended"] == 2, r  # new_user's login and `other`.
            code, _ = await other_conn.wait_closed()
            assert code == 1008
            await caller_conn.ping()
            assert caller_conn.closed is None
        finally:
            await other_conn.close()
            await caller_conn.close()

    run_async(go(), 30)
    assert api.request("GET", "/api/me", token=other["token"]).status == 401
    assert api.request("GET", "/api/me", token=u.token).status == 401
    assert refresh(api, other["refresh_token"]).status == 401
    assert api.request("GET", "/api/me", token=caller["token"]).status == 200
    assert refresh(api, caller["refresh_token"]).status == 200
    assert api.login(u.name).status == 401
    assert api.login(u.name, NEW_PASSWORD).status == 200


def test_password_change_is_checked(shared_server):
    api = Api(shared_server.port)
    u = api.new_user("pwc")
    for body in ({"current_password": PASSWORD}, {"new_password": NEW_PASSWORD},
                 {"current_password": PASSWORD, "new_password": "short"}, [],
                 {"current_password": 7, "new_password": NEW_PASSWORD}):
        r = api.request("POST", "/api/me/password", body, token=u.token)
        assert r.status == 400, (body, r)
    r = api.request("POST", "/api/me/password",
                    {"current_password": "wrong password!", "new_password": NEW_PASSWORD},
                    token=u.token)
    assert r.status == 403 and r.json["error"] == "wrong password", r
    assert api.request("POST", "/api/me/password",
                       {"current_password": PASSWORD, "new_password": NEW_PASSWORD}).status == 401
    assert api.request("GET", "/api/me/password", token=u.token).status == 405
    assert api.login(u.name).status == 200  # Unchanged.


@pytest.mark.server_args(*chat_args(login_rate_user=3, login_backoff_after=100))
def test_wrong_current_passwords_are_rate_limited_like_logins(server):
    api = Api(server.port)
    u = api.new_user("pwr")
    statuses = [api.request("POST", "/api/me/password",
                            {"current_password": f"wrong password {i}",
                             "new_password": NEW_PASSWORD}, token=u.token).status
                for i in range(5)]
    assert statuses[:3] == [403] * 3 and statuses[3:] == [429] * 2, statuses


def test_delete_account(shared_server):
    api = Api(shared_server.port)
    u, friend, third = api.new_users(3, "del")
    group = api.group(u, [friend, third], "team")
    direct = api.direct(u, friend)
    second = login(api, u.name)

    async def go():
        conn = await ChatConn.connect(shared_server.port, second["token"], name="second")
        friend_conn = await ChatConn.connect(shared_server.port, friend.token, name="friend")
        try:
            await conn.send(group, "hello from a user who leaves")
            assert (await api_delete(api, u, {"password": "wrong password!"})).status == 403
            r = await api_delete(api, u, {"password": PASSWORD})
            assert r.status == 200 and r.json == {"deleted": True}, r
            code, _ = await conn.wait_closed()
            assert code == 1008
            # The group's members are told the member left.
            await friend_conn.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == group
                and u.id not in e.get("members", [u.id]), what="the group without u")
        finally:
            await conn.close()
            await friend_conn.close()

    run_async(go(), 30)
    for token in (u.token, second["token"]):
        assert api.request("GET", "/api/me", token=token).status == 401
    assert refresh(api, second["refresh_token"]).status == 401
    assert api.login(u.name).status == 401
    # The messages stay (the conversation stays whole), under the id of a deleted user.
    bodies = [m["body"] for m in api.all_messages(friend, group)]
    assert "hello from a user who leaves" in bodies
    r = api.request("GET", f"/api/users?ids={u.id}", token=friend.token)
    assert r.json["users"] == [{"id": u.id, "username": "", "display_name": None,
                                "avatar": None, "avatar_thumb": None, "status": None,
                                "deleted": True}], r
    assert api.request("GET", f"/api/users?q={u.name}", token=friend.token).json == {"users": []}
    assert u.id not in [m for m in members_of(api, friend, group)]
    # u owned the group: ownership passed on before it left (issue 25, "Groups").
    entry = api.conversation(friend, group)
    assert sorted(entry["roles"]) == ["member", "owner"], entry
    assert direct in [c["id"] for c in api.conversations(friend)]
    # The username is free again.
    assert api.register(u.name).status == 201


async def api_delete(api: Api, user, body):
    return await asyncio.to_thread(api.request, "DELETE", "/api/me", body, token=user.token)


def members_of(api: Api, user, conv: int) -> list[int]:
    for c in api.conversations(user):
        if c["id"] == conv:
            return [m if isinstance(m, int) else m.get("id", m.get("user")) for m in c["members"]]
    raise AssertionError(f"conversation {conv} not listed")


def test_blocks_refuse_a_1to1_both_ways_and_leave_groups_alone(shared_server):
    api = Api(shared_server.port)
    a, b, c = api.new_users(3, "blk")
    existing = api.direct(a, c)
    group = api.group(a, [b, c], "together")
    r = api.request("POST", "/api/blocks", {"user": b.id}, token=a.token)
    assert r.status == 201 and r.json == {"blocked": b.id}, r
    assert api.request("POST", "/api/blocks", {"user": b.id}, token=a.token).status == 201
    blocks = api.ok("GET", "/api/blocks", token=a.token)["blocks"]
    assert [x["id"] for x in blocks] == [b.id] and blocks[0]["username"] == b.name
    # Neither side can open the 1:1; the reason does not say who blocked whom.
    for x, y in ((b, a), (a, b)):
        r = api.create_conv(x, [y], group=False)
        assert r.status == 403, r
        assert r.json["error"] == "you cannot start a conversation with this user", r
    # An existing 1:1: c blocks a.
    assert api.request("POST", "/api/blocks", {"user": a.id}, token=c.token).status == 201

    async def go():
        ca = await ChatConn.connect(shared_server.port, a.token, name="a")
        cc = await ChatConn.connect(shared_server.port, c.token, name="c")
        try:
            for conn in (ca, cc):
                ev = await conn.send_raw(existing, "blocked?")
                assert ev["type"] == "error" and ev["code"] == "forbidden", ev
            # Groups are unaffected.
            await ca.send(group, "still in the group")
            await cc.send(group, "me too")
        finally:
            await ca.close()
            await cc.close()

    run_async(go(), 30)
    assert api.request("DELETE", f"/api/blocks/{a.id}", token=c.token).status == 200
    assert api.request("DELETE", f"/api/blocks/{b.id}", token=a.token).status == 200
    assert api.ok("GET", "/api/blocks", token=a.token)["blocks"] == []
    assert api.create_conv(b, [a], group=False).status == 201

    async def after():
        async with connected((shared_server.port, a.token, "a")) as [ca]:
            await ca.send(existing, "unblocked")

    run_async(after(), 30)


def test_block_requests_are_checked(shared_server):
    api = Api(shared_server.port)
    a = api.new_user("blc")
    for body in ({}, {"user": 0}, {"user": "1"}, {"user": a.id}, []):
        r = api.request("POST", "/api/blocks", body, token=a.token)
        assert r.status == 400, (body, r)
    assert api.request("POST", "/api/blocks", {"user": 10**12}, token=a.token).status == 404
    assert api.request("DELETE", "/api/blocks/x", token=a.token).status == 400
    assert api.request("GET", "/api/blocks").status == 401
    assert api.request("PUT", "/api/blocks", token=a.token).status == 405
