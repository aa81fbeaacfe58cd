"""Groups (issue 25; PROTOCOL.md "Groups"): roles owner/admin/member enforced on the server (the
creator owns the group and cannot be removed or demoted; admins add and remove members and change
the name, topic and avatar; a member only leaves; the owner names admins and transfers ownership, and
cannot leave before it has), and every change a `system` entry in the conversation's seq stream:
live, in history and sync, in order, never unread; a removed member gets the entry that removed
them, then nothing more. A group's avatar is an image upload of the admin who sets it, which
every member (and no one else) may read."""

from __future__ import annotations

import json

import pytest

from chat_client import FAST_ARGS, Api, ChatConn, aio, close_all, connected
from support import run_async
from test_chat_profiles import get, upload_image
from test_uploads import upload_raw

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


def roles(api: Api, user, conv: int) -> dict[int, str]:
    entry = api.conversation(user, conv)
    assert len(entry["roles"]) == len(entry["members"]), entry
    return dict(zip(entry["members"], entry["roles"]))


def set_role(api: Api, user, conv: int, member, role: str):
    return api.request("PUT", f"/api/conversations/{conv}/members/{member.id}/role",
                       {"role": role}, token=user.token)


def transfer(api: Api, user, conv: int, member):
    return api.request("POST", f"/api/conversations/{conv}/transfer", {"members": [member.id]},
                       token=user.token)


def settings(api: Api, user, conv: int, **fields):
    return api.request("PATCH", f"/api/conversations/{conv}", fields, token=user.token)


def system_bodies(api: Api, user, conv: int) -> list[dict]:
    """The system entries of `conv`'s history, oldest first, their bodies parsed."""
    return [json.loads(m["body"]) for m in api.all_messages(user, conv)
            if m["kind"] == "system"]


def test_the_creator_cannot_be_removed(api):
    # The defect of issue 25: any member removed the creator, who then lost the group.
    a, b = api.new_users(2, "gcr")
    conv = api.group(a, [b], "mine")
    r = api.remove_member(b, conv, a)
    assert r.status == 403 and r.json["error"] == "the owner cannot be removed or demoted", r
    assert api.messages(a, conv).status == 200
    assert roles(api, a, conv) == {a.id: "owner", b.id: "member"}


def test_a_member_only_leaves(api):
    a, b, c, d = api.new_users(4, "gml")
    conv = api.group(a, [b, c], "club")
    forbidden = "your role in this group does not allow this"
    r = api.remove_member(b, conv, c)
    assert r.status == 403 and r.json["error"] == forbidden, r
    r = api.add_members(b, conv, [d])
    assert r.status == 403 and r.json["error"] == forbidden, r
    r = set_role(api, b, conv, c, "admin")
    assert r.status == 403 and r.json["error"] == forbidden, r
    r = settings(api, b, conv, name="mine now")
    assert r.status == 403 and r.json["error"] == forbidden, r
    assert transfer(api, b, conv, b).status == 403
    r = api.remove_member(b, conv, b)
    assert r.status == 200 and sorted(r.json["members"]) == sorted([a.id, c.id]), r
    assert api.messages(b, conv).status == 403


def test_admins_manage_members_and_the_owner_manages_admins(api):
    a, b, c, d, e = api.new_users(5, "gad")
    conv = api.group(a, [b, c], "club")
    r = set_role(api, a, conv, b, "admin")
    assert r.status == 200, r
    assert dict(zip(r.json["members"], r.json["roles"])) == {
        a.id: "owner", b.id: "admin", c.id: "member"}, r
    # An admin adds and removes members...
    assert api.add_members(b, conv, [d, e]).status == 200
    assert api.remove_member(b, conv, d).status == 200
    # ...but not the owner, nor another admin, and names no admins.
    assert api.remove_member(b, conv, a).status == 403
    assert set_role(api, a, conv, c, "admin").status == 200
    assert api.remove_member(b, conv, c).status == 403
    assert set_role(api, b, conv, e, "admin").status == 403
    r = set_role(api, b, conv, a, "member")
    assert r.status == 403, r
    r = set_role(api, a, conv, a, "member")
    assert r.status == 403 and r.json["error"] == "the owner cannot be removed or demoted", r
    # The owner demotes and removes an admin.
    assert set_role(api, a, conv, c, "member").status == 200
    assert set_role(api, a, conv, b, "member").status == 200
    assert api.remove_member(b, conv, e).status == 403, "no longer an admin"
    assert api.remove_member(a, conv, e).status == 200
    assert roles(api, c, conv) == {a.id: "owner", b.id: "member", c.id: "member"}


def test_the_owner_transfers_before_leaving(api):
    a, b = api.new_users(2, "gtr")
    conv = api.group(a, [b], "club")
    r = api.remove_member(a, conv, a)
    assert r.status == 409, r
    assert r.json["error"] == "the owner must transfer ownership before leaving", r
    r = transfer(api, a, conv, b)
    assert r.status == 200, r
    assert dict(zip(r.json["members"], r.json["roles"])) == {a.id: "admin", b.id: "owner"}, r
    assert transfer(api, a, conv, a).status == 403, "no longer the owner"
    assert api.remove_member(a, conv, a).status == 200
    assert roles(api, b, conv) == {b.id: "owner"}


def test_rename_and_topic(api):
    a, b = api.new_users(2, "gst")
    conv = api.group(a, [b], "before")
    assert set_role(api, a, conv, b, "admin").status == 200
    r = settings(api, b, conv, name="after", topic="weekly \"sync\"\nnotes")
    assert r.status == 200 and r.json["name"] == "after", r
    assert r.json["topic"] == "weekly \"sync\"\nnotes", r
    entry = api.conversation(a, conv)
    assert entry["name"] == "after" and entry["topic"] == "weekly \"sync\"\nnotes", entry
    r = settings(api, a, conv, topic="")
    assert r.status == 200 and r.json["topic"] is None, r
    # The same values again write nothing (no new entry).
    before = len(system_bodies(api, a, conv))
    assert settings(api, a, conv, name="after").status == 200
    assert len(system_bodies(api, a, conv)) == before
    for fields, error in (({}, 'give "name", "topic" and/or "avatar"'),
                          ({"name": ""}, "name must be 1 to 128 bytes"),
                          ({"name": "x" * 129}, "name must be 1 to 128 bytes"),
                          ({"topic": "x" * 513}, "topic longer than 512 bytes"),
                          ({"name": None}, "name and topic must be strings")):
        r = settings(api, a, conv, **fields)
        assert r.status == 400 and r.json["error"] == error, (fields, r)
    dm = api.direct(a, b)
    r = settings(api, a, dm, name="dm")
    assert r.status == 400, r


def test_bad_role_requests(api):
    a, b, outsider = api.new_users(3, "gbr")
    conv = api.group(a, [b], "club")
    r = set_role(api, a, conv, b, "owner")
    assert r.status == 400 and r.json["error"] == 'role must be "admin" or "member"', r
    assert set_role(api, a, conv, outsider, "admin").status == 404
    assert set_role(api, outsider, conv, b, "admin").status == 403
    r = api.request("PUT", f"/api/conversations/{conv}/members/x/role", {"role": "admin"},
                    token=a.token)
    assert r.status == 400, r
    r = api.request("POST", f"/api/conversations/{conv}/members/{b.id}/role", {"role": "admin"},
                    token=a.token)
    assert r.status == 405, r
    for body in ({}, {"members": []}, {"members": [b.id, a.id]}):
        r = api.request("POST", f"/api/conversations/{conv}/transfer", body, token=a.token)
        assert r.status == 400, (body, r)
    assert transfer(api, a, conv, outsider).status == 404


def test_an_admin_deletes_anothers_message(shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "gdel")
    conv = api.group(a, [b, c], "club")

    async def delete(conn, seq, cid):
        start = conn.mark()
        await conn.send_json({"type": "delete", "conv": conv, "seq": seq, "cid": cid})
        return await conn.wait_for(
            lambda e: e.get("type") in ("ack", "error") and e.get("cid") == cid,
            what=f"the answer to {cid}", start=start)

    async def go():
        wa, wb, wc = [await ChatConn.connect(port, u.token, name=u.name) for u in (a, b, c)]
        try:
            first = await wc.send(conv, "first")
            second = await wc.send(conv, "second")
            by_member = await delete(wb, first["seq"], "d1")
            by_owner = await delete(wa, first["seq"], "d2")
            await aio(set_role, api, a, conv, b, "admin")
            by_admin = await delete(wb, second["seq"], "d3")
            return by_member, by_owner, by_admin
        finally:
            await close_all([wa, wb, wc])

    by_member, by_owner, by_admin = run_async(go(), 60)
    assert by_member["type"] == "error" and by_member["code"] == "forbidden", by_member
    assert by_owner["type"] == "ack", by_owner
    assert by_admin["type"] == "ack", by_admin
    kinds = [(m["kind"], m.get("deleted", False)) for m in api.all_messages(a, conv)
             if m["kind"] == "text"]
    assert kinds == [("text", True), ("text", True)], kinds


def test_system_entries_live_in_history_and_sync_in_order_never_unread(shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "gsys")
    conv = api.group(a, [b], "club")

    async def go():
        async with connected((port, b.token, "b")) as [wb]:
            start = wb.mark()
            assert (await aio(api.add_members, a, conv, [c])).status == 200
            assert (await aio(set_role, api, a, conv, c, "admin")).status == 200
            assert (await aio(settings, api, c, conv, name="renamed", topic="t")).status == 200
            assert (await aio(transfer, api, a, conv, c)).status == 200
            assert (await aio(api.remove_member, c, conv, a)).status == 200
            live = []
            for _ in range(5):
                live.append(await wb.wait_message(
                    conv, lambda m: m["kind"] == "system" and m["id"] not in
                    [x["id"] for x in live], start=start))
        # A fresh connection's sync (one that has had them live skips them).
        async with connected((port, b.token, "b2")) as [fresh]:
            return live, await fresh.call({"type": "sync", "convs": {str(conv): 0}}, "sync")

    live, sync = run_async(go(), 60)
    expected = [
        {"action": "added", "actor": a.id, "users": [c.id]},
        {"action": "role", "actor": a.id, "users": [c.id], "role": "admin"},
        {"action": "updated", "actor": c.id, "name": "renamed", "topic": "t"},
        {"action": "transferred", "actor": a.id, "users": [c.id]},
        {"action": "removed", "actor": c.id, "users": [a.id]},
    ]
    assert [json.loads(m["body"]) for m in live] == expected, live
    assert [m["seq"] for m in live] == [1, 2, 3, 4, 5], live
    assert [m["from"] for m in live] == [a.id, a.id, c.id, a.id, c.id], live
    assert system_bodies(api, b, conv) == expected
    (entry,) = sync["convs"]
    assert [json.loads(m["body"]) for m in entry["messages"] if m["kind"] == "system"] == expected, entry
    assert entry["unread"] == 0 and entry["last_seq"] == 5, entry
    listed = api.conversation(b, conv)
    assert listed["unread"] == 0 and listed["last_message"] is None, listed
    assert listed["name"] == "renamed" and listed["topic"] == "t", listed
    assert dict(zip(listed["members"], listed["roles"])) == {b.id: "member", c.id: "owner"}

    # No change may name a system entry.
    async def delete_entry():
        async with connected((port, c.token, "c")) as [wc]:
            start = wc.mark()
            await wc.send_json({"type": "delete", "conv": conv, "seq": 1, "cid": "ds"})
            return await wc.wait_for(lambda e: e.get("cid") == "ds", start=start)

    refused = run_async(delete_entry(), 30)
    assert refused["type"] == "error" and refused["code"] == "not_found", refused


def test_members_event_carries_roles_and_a_removed_member_gets_its_entry_then_nothing(
        shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "grm")
    conv = api.group(a, [b, c], "club")

    async def go():
        wa, wc = [await ChatConn.connect(port, u.token, name=u.name) for u in (a, c)]
        try:
            start = wc.mark()
            assert (await aio(set_role, api, a, conv, c, "admin")).status == 200
            promoted = await wc.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == conv,
                what="members event", start=start)
            start = wc.mark()
            assert (await aio(api.remove_member, a, conv, c)).status == 200
            removed = await wc.wait_message(conv, lambda m: m["kind"] == "system", start=start)
            gone = await wc.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == conv,
                what="members event", start=start)
            # The entry that removed c comes before the event that takes c out.
            order = (wc.events.index(removed), wc.events.index(gone))
            after = wc.mark()
            await wa.send(conv, "after c left")
            await wc.ping()
            return promoted, removed, gone, wc.messages(conv, after), order
        finally:
            await close_all([wa, wc])

    promoted, removed, gone, later, order = run_async(go(), 60)
    assert dict(zip(promoted["members"], promoted["roles"])) == {
        a.id: "owner", b.id: "member", c.id: "admin"}, promoted
    assert json.loads(removed["body"]) == {"action": "removed", "actor": a.id,
                                           "users": [c.id]}, removed
    assert c.id not in gone["members"], gone
    assert order[0] < order[1], order
    assert later == [], later


def test_group_avatar(shared_server, api):
    port = shared_server.port
    a, b, outsider = api.new_users(3, "gav")
    conv = api.group(a, [b], "pictured")
    image, another = upload_image(port, a), upload_image(port, a)
    bobs = upload_image(port, b)
    status, _, text = upload_raw(port, a.token, b"plain", 5, name="a.txt",
                                 content_type="text/plain")
    assert status == 201, text
    not_image = json.loads(text)["id"]

    async def go():
        wb = await ChatConn.connect(port, b.token, name=b.name)
        try:
            start = wb.mark()
            r = await aio(settings, api, a, conv, avatar=image)
            event = await wb.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == conv,
                what="members event", start=start)
            entry = await wb.wait_message(conv, lambda m: m["kind"] == "system", start=start)
            return r, event, entry
        finally:
            await close_all([wb])

    r, event, entry = run_async(go(), 60)
    assert r.status == 200, r
    url, thumb = f"/files/{image}", f"/files/{image}/thumb"
    assert (r.json["avatar"], r.json["avatar_thumb"]) == (url, thumb), r
    assert (event["avatar"], event["avatar_thumb"]) == (url, thumb), event
    assert json.loads(entry["body"]) == {"action": "updated", "actor": a.id, "avatar": image}
    listed = api.conversation(b, conv)
    assert (listed["avatar"], listed["avatar_thumb"]) == (url, thumb), listed
    # Every member reads it and its thumbnail; nobody else does.
    status, body = get(port, url, b.token)
    assert status == 200 and body.startswith(b"\x89PNG"), status
    status, body = get(port, thumb, b.token)
    assert status == 200 and body[:3] == b"\xff\xd8\xff", status
    assert get(port, url, outsider.token)[0] == 404
    # A member sets none; an admin only an image of their own.
    r = settings(api, b, conv, avatar=bobs)
    assert r.status == 403 and r.json["error"] == "your role in this group does not allow this", r
    assert set_role(api, a, conv, b, "admin").status == 200
    for bad in (another, not_image, "nope"):
        r = settings(api, b, conv, avatar=bad)
        assert r.status == 400, (bad, r)
        assert r.json["error"] == "avatar must be an image you uploaded (with a thumbnail)", r
    r = settings(api, b, conv, avatar=7)
    assert r.status == 400 and r.json["error"] == 'field "avatar" must be a string or null', r
    # The same avatar again writes nothing; null removes it, and the history that showed the old
    # picture still lets the members read it.
    before = len(system_bodies(api, a, conv))
    assert settings(api, a, conv, avatar=image).status == 200
    assert len(system_bodies(api, a, conv)) == before
    r = settings(api, a, conv, avatar=None)
    assert r.status == 200 and r.json["avatar"] is None and r.json["avatar_thumb"] is None, r
    assert system_bodies(api, a, conv)[-1] == {"action": "updated", "actor": a.id, "avatar": ""}
    assert api.conversation(a, conv)["avatar"] is None
    assert get(port, url, b.token)[0] == 200
