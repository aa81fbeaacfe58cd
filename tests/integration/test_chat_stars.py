"""Stars (PROTOCOL.md, "Stars"; issue 45's sample operation): a member stars a message to find it
again (`star`, answered `starred` in turn) and pages through their starred messages (`stars`,
newest message first, paged by message id). A star is its user's alone: no other member hears
of it or sees it; a deleted message, a conversation left and a deleted account take stars out of
the list; a change or a message that does not exist cannot be starred."""

from __future__ import annotations

import sqlite3

import pytest

import pg_store
from chat_client import FAST_ARGS, PASSWORD, change, connected
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


async def star(conn, conv, seq, on=True):
    return await conn.call({"type": "star", "conv": conv, "seq": seq, "on": on}, "starred")


async def stars(conn, **page):
    return await conn.call({"type": "stars", **page}, "stars")


def stars_stored(srv, user: int) -> int:
    """The rows of `stars` the store holds for `user`, read in the database itself."""
    sql = f"SELECT count(*) FROM stars WHERE user_id = {int(user)}"
    if srv.database_url:
        return int(pg_store.query(srv.database_url, sql)[0][0])
    with sqlite3.connect(srv.data_dir / "chat.db") as db:
        return db.execute(sql).fetchone()[0]


def test_a_star_is_the_users_own_and_pages_newest_first(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("st")
    other = api.group(a, [b.id], "starred group")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            sent = [await wa.send(conv, f"m{i}") for i in range(4)]
            in_group = await wb.send(other, "in the group")
            b_start = wb.mark()
            answers = [await star(wa, conv, sent[i]["seq"]) for i in (0, 2, 3)]
            again = await star(wa, conv, sent[2]["seq"])  # Idempotent.
            from_group = await star(wa, other, in_group["seq"])
            first = await stars(wa, limit=2)
            rest = await stars(wa, before=first["messages"][-1]["id"], limit=2)
            unstarred = await star(wa, conv, sent[3]["seq"], on=False)
            after = await stars(wa)
            await wb.ping()
            heard = wb.typed("starred", b_start) + wb.typed("stars", b_start)
            theirs = await stars(wb)
            return sent, in_group, answers, again, from_group, first, rest, unstarred, after, \
                theirs, heard

    (sent, in_group, answers, again, from_group, first, rest, unstarred, after, theirs,
     heard) = run_async(go(), 60)
    assert [(x["type"], x["conv"], x["seq"], x["on"]) for x in answers] == [
        ("starred", conv, sent[i]["seq"], True) for i in (0, 2, 3)], answers
    assert again["type"] == "starred", again
    assert from_group["type"] == "starred", from_group
    # Newest message first across conversations: the group's message was sent last.
    assert [(m["conv"], m["seq"]) for m in first["messages"]] == [
        (other, in_group["seq"]), (conv, sent[3]["seq"])], first
    assert first["more"] is True, first
    assert first["messages"][1]["body"] == "m3" and first["messages"][1]["from"] == a.id, first
    assert [(m["conv"], m["seq"]) for m in rest["messages"]] == [
        (conv, sent[2]["seq"]), (conv, sent[0]["seq"])], rest
    assert rest["more"] is False, rest
    assert unstarred == {"type": "starred", "conv": conv, "seq": sent[3]["seq"], "on": False}
    assert [m["seq"] for m in after["messages"] if m["conv"] == conv] == [
        sent[2]["seq"], sent[0]["seq"]], after
    assert theirs["messages"] == [] and theirs["more"] is False, theirs
    assert heard == [], heard  # The other member hears nothing of a star.


def test_what_cannot_be_starred_and_what_leaves_the_list(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("sx")
    outsider = api.new_user("sx")
    group = api.group(a, [b.id], "left later")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b"),
                             (port, outsider.token, "o")) as [wa, wb, wo]:
            kept = await wa.send(conv, "kept")
            gone = await wa.send(conv, "deleted later")
            edit = await change(wa, "edit", conv, kept["seq"], "e1", body="kept, edited")
            in_group = await wa.send(group, "in a group b leaves")
            refusals = [
                await star(wa, conv, edit["seq"]),       # A change: not a message to star.
                await star(wa, conv, 999_999),           # No such message.
                await star(wo, conv, kept["seq"]),       # Not a member.
                await star(wa, 999_999, 1),              # No such conversation.
            ]
            for conn, target in ((wb, kept), (wb, gone), (wb, in_group)):
                assert (await star(conn, target["conv"], target["seq"]))["type"] == "starred"
            await change(wa, "delete", conv, gone["seq"], "d1")
            deleted = await star(wb, conv, gone["seq"])
            api.remove_member(b, group, b.id)
            listed = await stars(wb)
            bad = [await wb.call(request, "stars") for request in (
                {"type": "stars", "limit": 0}, {"type": "stars", "before": -1})]
            return kept, refusals, deleted, listed, bad

    kept, refusals, deleted, listed, bad = run_async(go(), 60)
    assert [(e["type"], e["code"]) for e in refusals] == [
        ("error", "not_found"), ("error", "not_found"), ("error", "forbidden"),
        ("error", "forbidden")], refusals
    assert (deleted["type"], deleted["code"]) == ("error", "gone"), deleted
    # The deleted message and the group b left are not listed; the edited one is, as it is now.
    assert [(m["conv"], m["seq"], m["body"]) for m in listed["messages"]] == [
        (conv, kept["seq"], "kept, edited")], listed
    assert [(e["type"], e["code"]) for e in bad] == [("error", "bad_request")] * 2, bad


def test_a_deleted_accounts_stars_go_with_it(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("sd")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            sent = await wa.send(conv, "starred by b")
            assert (await star(wb, conv, sent["seq"]))["type"] == "starred"
            return sent

    run_async(go(), 30)
    assert stars_stored(shared_server, b.id) == 1
    r = api.request("DELETE", "/api/me", {"password": PASSWORD}, token=b.token)
    assert r.status == 200, r
    assert stars_stored(shared_server, b.id) == 0
