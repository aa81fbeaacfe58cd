"""Chat conversations over HTTP (PROTOCOL.md "HTTP API"): creating 1:1s (found again, in either
order) and groups, the listing (members, last_message, unread, read_seq, most recently active
first), adding and removing members (403 for outsiders, 400 for a 1:1, 404s) with the `members`
events that follow, and message history with before/limit/more, newest first."""

from __future__ import annotations

import asyncio

import pytest

from chat_client import Api, ChatConn, aio, chat_args, connected, message_fields_ok, strip_type
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args(max_group_size=8)


def entry(api, user, conv):
    return api.conversation(user, conv)


# -- 1:1 --------------------------------------------------------------------------------------


def test_direct_conversation_is_found_again_in_either_order(api):
    a, b, c = api.new_users(3, "dm")
    r = api.create_conv(a, [b])  # `group` defaults to false with one other member.
    assert r.status == 201, r
    conv = r.json["id"]
    assert isinstance(conv, int) and conv > 0, r

    for who, other, group in ((a, b, None), (a, b, False), (b, a, None), (b, a, False)):
        again = api.create_conv(who, [other], group=group)
        assert again.status == 200 and again.json == {"id": conv}, (who.name, group, again)
    # The creator listed among the members is ignored.
    again = api.create_conv(b, [a, b], group=False)
    assert again.status == 200 and again.json["id"] == conv, again

    other = api.create_conv(a, [c], group=False)
    assert other.status == 201 and other.json["id"] != conv, other

    for u in (a, b):
        e = entry(api, u, conv)
        assert e["group"] is False and e["name"] is None, e
        assert sorted(e["members"]) == sorted([a.id, b.id]), e
        assert e["last_message"] is None and e["last_seq"] == 0, e
        assert e["unread"] == 0 and e["read_seq"] == 0, e
    assert conv not in [x["id"] for x in api.conversations(c)]


def test_direct_conversation_needs_exactly_one_other_member(api):
    a, b, c = api.new_users(3, "dm1")
    for members in ([], [a], [b, c]):
        r = api.create_conv(a, members, group=False)
        assert r.status == 400, (members, r)
        assert isinstance(r.json.get("error"), str), r
    assert api.conversations(a) == []


def test_direct_conversation_with_a_name_is_400(api):
    # A 1:1 has no name; rather than drop the one asked for, say so (new or existing 1:1).
    a, b = api.new_users(2, "dmn")
    r = api.create_conv(a, [b], name="X", group=False)
    assert r.status == 400 and r.json["error"] == "a 1:1 conversation has no name", r
    conv = api.direct(a, b)
    r = api.create_conv(a, [b], name="X", group=False)
    assert r.status == 400 and r.json["error"] == "a 1:1 conversation has no name", r
    # "name": null is no name.
    r = api.request("POST", "/api/conversations",
                    raw=f'{{"members":[{b.id}],"name":null,"group":false}}'.encode(),
                    token=a.token)
    assert r.status == 200 and r.json["id"] == conv, r
    assert entry(api, a, conv)["name"] is None


def test_malformed_ids_in_paths_are_400(api):
    a, b = api.new_users(2, "pid")
    conv = api.group(a, [b], "g")
    for bad in ("abc", "0", "-1", str(2**66), "1.5", "+1", "%31"):
        for method, path in (("GET", f"/api/conversations/{bad}/messages"),
                             ("POST", f"/api/conversations/{bad}/members"),
                             ("DELETE", f"/api/conversations/{conv}/members/{bad}")):
            r = api.request(method, path, raw=b'{"members":[1]}' if method == "POST" else None,
                            token=a.token)
            assert r.status == 400, (method, path, r)
            assert "must be a positive integer" in r.json["error"], (method, path, r)
    # Well formed but naming nothing: 404.
    r = api.messages(a, 2**63 - 1)
    assert r.status == 404 and r.json["error"] == "no such conversation or member", r


def test_duplicate_fields_are_400(api):
    a, b, c = api.new_users(3, "dup")
    r = api.request("POST", "/api/conversations",
                    raw=f'{{"members":[{b.id}],"members":[{c.id}]}}'.encode(), token=a.token)
    assert r.status == 400 and r.json["error"] == 'duplicate field "members"', r
    assert api.conversations(a) == []


def test_unknown_member_is_404(api):
    a, b = api.new_users(2, "unk")
    r = api.create_conv(a, [10_000_000], group=False)
    assert r.status == 404, r
    r = api.create_conv(a, [b, 10_000_001], name="g", group=True)
    assert r.status == 404, r
    assert api.conversations(a) == [] and api.conversations(b) == []


# -- groups -----------------------------------------------------------------------------------


def test_group_with_name_is_listed_for_every_member(api):
    a, b, c, outsider = api.new_users(4, "grp")
    r = api.create_conv(a, [b, c], name="the team", group=True)
    assert r.status == 201, r
    conv = r.json["id"]
    for u in (a, b, c):
        e = entry(api, u, conv)
        assert e["name"] == "the team" and e["group"] is True, e
        assert sorted(e["members"]) == sorted([a.id, b.id, c.id]), e
        assert e["last_message"] is None, e
        assert (e["last_seq"], e["unread"], e["read_seq"]) == (0, 0, 0), e
    assert conv not in [x["id"] for x in api.conversations(outsider)]

    # Two groups of the same people are two conversations (groups are not deduplicated).
    r2 = api.create_conv(a, [b, c], name="the team", group=True)
    assert r2.status == 201 and r2.json["id"] != conv, r2


def test_group_defaults_to_true_with_several_members(api):
    a, b, c = api.new_users(3, "gdef")
    r = api.create_conv(a, [b, c])
    assert r.status == 201, r
    e = entry(api, a, r.json["id"])
    assert e["group"] is True, e
    # A group of one other member is allowed when asked for explicitly, and not deduplicated.
    g1 = api.create_conv(a, [b], name="pair", group=True)
    g2 = api.create_conv(a, [b], name="pair", group=True)
    assert g1.status == 201 and g2.status == 201 and g1.json["id"] != g2.json["id"], (g1, g2)


def test_group_name_limit_and_size_limit(api):
    users = api.new_users(10, "lim")
    a = users[0]
    ok = api.create_conv(a, users[1:3], name="n" * 128, group=True)
    assert ok.status == 201, ok
    assert entry(api, a, ok.json["id"])["name"] == "n" * 128
    long = api.create_conv(a, users[1:3], name="n" * 129, group=True)
    assert long.status == 400, long
    # Multi-byte: 43 × 3 bytes = 129 bytes, though only 43 characters.
    long_utf8 = api.create_conv(a, users[1:3], name="\u20ac" * 43, group=True)
    assert long_utf8.status == 400, long_utf8
    # --max-group-size 8: 10 members is over it however the creator is counted; 4 is fine.
    big = api.create_conv(a, users[1:], name="big", group=True)
    assert big.status == 400, big
    small = api.create_conv(a, users[1:4], name="small", group=True)
    assert small.status == 201, small


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", b'{"members":5}',
                                 b'{"members":["1"]}', b'{"members":[1],"name":5}',
                                 b'{"members":[1],"group":"yes"}'],
                         ids=["garbage", "array", "no-members", "members-int", "member-string",
                              "name-int", "group-string"])
def test_create_bad_body_is_400(api, raw):
    a = api.new_user("badc")
    r = api.request("POST", "/api/conversations", raw=raw, token=a.token)
    assert r.status == 400, (raw, r)
    assert isinstance(r.json.get("error"), str), r


# -- members ----------------------------------------------------------------------------------


def test_add_and_remove_members(api):
    a, b, c, d, outsider = api.new_users(5, "mem")
    conv = api.group(a, [b], "club")

    r = api.add_members(a, conv, [c])
    assert r.status == 200, r
    assert r.json["id"] == conv and sorted(r.json["members"]) == sorted([a.id, b.id, c.id]), r
    # Twice is not an error, and adds nobody twice (test_chat_groups.py: who may add).
    r = api.add_members(a, conv, [c, d])
    assert r.status == 200 and sorted(r.json["members"]) == sorted([a.id, b.id, c.id, d.id]), r
    assert sorted(entry(api, c, conv)["members"]) == sorted([a.id, b.id, c.id, d.id])

    # An outsider may neither add nor remove.
    assert api.add_members(outsider, conv, [outsider]).status == 403
    assert api.remove_member(outsider, conv, b).status == 403
    # Unknown conversation / user.
    assert api.add_members(a, 10_000_000, [b]).status == 404
    assert api.remove_member(a, 10_000_000, b).status == 404
    assert api.remove_member(a, conv, outsider).status == 404  # not a member
    assert api.add_members(a, conv, [10_000_000]).status == 404

    # The owner removes a member; a member leaves.
    r = api.remove_member(a, conv, d)
    assert r.status == 200 and sorted(r.json["members"]) == sorted([a.id, b.id, c.id]), r
    assert conv not in [x["id"] for x in api.conversations(d)]
    r = api.remove_member(c, conv, c)
    assert r.status == 200 and sorted(r.json["members"]) == sorted([a.id, b.id]), r
    assert api.messages(c, conv).status == 403
    assert api.add_members(c, conv, [c]).status == 403  # no longer a member
    assert sorted(entry(api, b, conv)["members"]) == sorted([a.id, b.id])


def test_members_of_a_direct_conversation_cannot_change(api):
    a, b, c = api.new_users(3, "dmm")
    conv = api.direct(a, b)
    assert api.add_members(a, conv, [c]).status == 400
    assert api.remove_member(a, conv, b).status == 400
    assert api.remove_member(a, conv, a).status == 400
    assert sorted(entry(api, a, conv)["members"]) == sorted([a.id, b.id])


def test_bad_members_requests(api):
    a, b = api.new_users(2, "badm")
    conv = api.group(a, [b], "g")
    for raw in (b"junk", b"{}", b'{"members":"x"}', b'{"members":[true]}'):
        r = api.request("POST", f"/api/conversations/{conv}/members", raw=raw, token=a.token)
        assert r.status == 400, (raw, r)
    r = api.request("DELETE", f"/api/conversations/{conv}/members/abc", token=a.token)
    assert r.status == 400, r


def test_membership_changes_send_members_events(shared_server):
    port = shared_server.port
    api = Api(port)
    a, b, c = api.new_users(3, "mev")

    async def go():
        ca = await ChatConn.connect(port, a.token, name="a")
        cb = await ChatConn.connect(port, b.token, name="b")
        cc = await ChatConn.connect(port, c.token, name="c")
        try:
            conv = await aio(api.group, a, [b], "evented")
            for conn in (ca, cb):
                ev = await conn.wait_type("members", conv=conv)
                assert ev["name"] == "evented" and ev["group"] is True, ev
                assert sorted(ev["members"]) == sorted([a.id, b.id]), ev
            # c is not a member yet: nothing about it, and none of its messages.
            await ca.send(conv, "before c")
            await cb.wait_message(conv, lambda m: m["body"] == "before c")
            await cc.ping()
            assert not cc.typed("members", conv=conv) and not cc.messages(conv), cc.describe()

            mark = cc.mark()
            r = await aio(api.add_members, a, conv, [c])
            assert r.status == 200, r
            for conn in (ca, cb, cc):
                ev = await conn.wait_for(
                    lambda e: e.get("type") == "members" and e.get("conv") == conv
                    and c.id in e.get("members", []), what="members event with c",
                    start=mark if conn is cc else 0)
                assert sorted(ev["members"]) == sorted([a.id, b.id, c.id]), ev
            ack = await ca.send(conv, "after c")
            got = await cc.wait_message(conv, lambda m: m["body"] == "after c")
            # Seq 2 is the system entry that added c (test_chat_groups.py).
            assert got["seq"] == ack["seq"] == 3, (got, ack)

            # Adding members who are in already changes nothing and tells nobody (idempotent).
            marks = {conn: conn.mark() for conn in (ca, cb, cc)}
            r = await aio(api.add_members, a, conv, [b, c])
            assert r.status == 200 and sorted(r.json["members"]) == sorted([a.id, b.id, c.id]), r
            ack = await cb.send(conv, "after the no-op")  # Behind any event the add would send.
            for conn in (ca, cb, cc):
                await conn.wait_message(conv, lambda m: m["id"] == ack["id"], start=marks[conn])
                assert not conn.typed("members", marks[conn], conv=conv), conn.describe(marks[conn])

            # Removing c: c's connection is told, and gets nothing of the group afterwards.
            marks = {conn: conn.mark() for conn in (ca, cb, cc)}
            r = await aio(api.remove_member, a, conv, c)
            assert r.status == 200, r
            for conn in (ca, cb, cc):
                ev = await conn.wait_type("members", conv=conv, start=marks[conn])
                assert sorted(ev["members"]) == sorted([a.id, b.id]), ev
            mark = cc.mark()
            await ca.send(conv, "after removal")
            await cb.wait_message(conv, lambda m: m["body"] == "after removal")
            await asyncio.sleep(0.3)
            await cc.ping()
            assert not cc.messages(conv, mark), cc.describe(mark)
            err = await cc.send_raw(conv, "not a member any more")
            assert err["type"] == "error" and err["code"] == "forbidden", err
        finally:
            for conn in (ca, cb, cc):
                await conn.close()

    run_async(go(), 60)


# -- listing order and last_message -----------------------------------------------------------


def test_listing_is_most_recently_active_first_with_last_message(shared_server):
    port = shared_server.port
    api = Api(port)
    a, b, c = api.new_users(3, "ord")

    async def go():
        one = await aio(api.direct, a, b)
        two = await aio(api.group, a, [b, c], "two")
        async with connected((port, a.token, "a")) as [ca]:
            ack1 = await ca.send(one, "first in one")
            ack2 = await ca.send(two, "first in two")
            lst = await aio(api.conversations, b)
            assert [x["id"] for x in lst][:2] == [two, one], lst
            await ca.send(one, "second in one", kind="note")
            lst = await aio(api.conversations, b)
            assert [x["id"] for x in lst][:2] == [one, two], lst
            e_one = next(x for x in lst if x["id"] == one)
            lm = e_one["last_message"]
            message_fields_ok(lm)
            assert (lm["conv"], lm["seq"], lm["from"], lm["kind"], lm["body"]) == \
                (one, 2, a.id, "note", "second in one"), lm
            assert e_one["last_seq"] == 2 and e_one["unread"] == 2 and e_one["read_seq"] == 0
            e_two = next(x for x in lst if x["id"] == two)
            assert e_two["last_message"]["id"] == ack2["id"] and e_two["last_seq"] == 1, e_two
            assert ack1["seq"] == 1 and ack2["seq"] == 1

    run_async(go(), 60)


# -- history over HTTP ------------------------------------------------------------------------


def test_message_history_paging(shared_server):
    port = shared_server.port
    api = Api(port)
    a, b, outsider = api.new_users(3, "hist")
    conv = api.direct(a, b)

    async def go():
        async with connected((port, a.token, "a")) as [ca]:
            acks = [await ca.send(conv, f"m{i}") for i in range(1, 8)]
            events = await ca.wait_count(lambda e: e.get("type") == "message"
                                         and e.get("conv") == conv, 7)
            return acks, events

    acks, events = run_async(go(), 60)
    assert [x["seq"] for x in acks] == list(range(1, 8)), acks

    def page(user=b, **kw):
        r = api.messages(user, conv, **kw)
        assert r.status == 200, (kw, r)
        return r.json

    full = page()
    assert [m["seq"] for m in full["messages"]] == [7, 6, 5, 4, 3, 2, 1], full
    assert full["more"] is False, full
    for m in full["messages"]:
        message_fields_ok(m)
        assert m["body"] == f"m{m['seq']}" and m["from"] == a.id and m["kind"] == "text", m
        assert m["conv"] == conv
    # HTTP history and the live `message` events describe the same messages.
    assert sorted(full["messages"], key=lambda m: m["seq"]) == [strip_type(e) for e in events]
    assert {m["id"]: m["seq"] for m in full["messages"]} == {x["id"]: x["seq"] for x in acks}

    p1 = page(limit=3)
    assert [m["seq"] for m in p1["messages"]] == [7, 6, 5] and p1["more"] is True, p1
    p2 = page(before=5, limit=3)
    assert [m["seq"] for m in p2["messages"]] == [4, 3, 2] and p2["more"] is True, p2
    p3 = page(before=2, limit=3)
    assert [m["seq"] for m in p3["messages"]] == [1] and p3["more"] is False, p3
    p4 = page(before=1)
    assert p4 == {"messages": [], "more": False} or (p4["messages"] == [] and not p4["more"])
    p5 = page(before=100, limit=200)
    assert [m["seq"] for m in p5["messages"]] == [7, 6, 5, 4, 3, 2, 1], p5
    assert page(limit=7)["more"] is False
    assert page(limit=1, before=8)["messages"][0]["seq"] == 7
    assert page(user=a, limit=2)["messages"] == p1["messages"][:2]

    # before=0 is "the newest", as absent (and as in the WebSocket `history`).
    assert page(before=0) == full
    assert page(before=0, limit=3) == p1
    for bad in ("limit=0", "limit=201", "limit=abc", "before=x", "limit=-1", "before=1.5",
                "before=-1"):
        r = api.request("GET", f"/api/conversations/{conv}/messages?{bad}", token=b.token)
        assert r.status == 400, (bad, r)
    assert api.messages(outsider, conv).status == 403
    assert api.messages(b, 10_000_000).status == 404
    assert api.request("GET", f"/api/conversations/{conv}/messages").status == 401


def test_unread_and_read_seq_follow_read_receipts(shared_server):
    port = shared_server.port
    api = Api(port)
    a, b, conv = api.direct_pair("unr")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [ca, cb]:
            for i in range(5):
                await ca.send(conv, f"x{i}")
            e = await aio(entry, api, b, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (5, 0, 5), e
            await cb.send_json({"type": "read", "conv": conv, "seq": 3})
            await cb.wait_type("receipt", conv=conv, user=b.id, read=3)
            e = await aio(entry, api, b, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (5, 3, 2), e
            await cb.send_json({"type": "read", "conv": conv, "seq": 99})  # → last_seq
            await cb.wait_type("receipt", conv=conv, user=b.id, read=5)
            e = await aio(entry, api, b, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (5, 5, 0), e
            await ca.send(conv, "one more")
            e = await aio(entry, api, b, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (6, 5, 1), e

    run_async(go(), 60)


def test_own_messages_are_not_unread(shared_server):
    # Sending marks the conversation read up to the message: the sender's own messages are
    # never unread to it (and what came before them was seen). No receipt is sent for it: the
    # `message` event itself says its sender has read up to its seq.
    port = shared_server.port
    api = Api(port)
    a, b, conv = api.direct_pair("own")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [ca, cb]:
            await cb.send(conv, "from b")
            await ca.send(conv, "a1")
            ack = await ca.send(conv, "a2")
            assert ack["seq"] == 3, ack
            e = await aio(entry, api, a, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (3, 3, 0), e
            e = await aio(entry, api, b, conv)
            assert (e["last_seq"], e["read_seq"], e["unread"]) == (3, 1, 2), e
            sync = await ca.call({"type": "sync", "convs": {str(conv): 3}}, "sync")
            members = {m["user"]: m for m in sync["convs"][0]["members"]}
            assert (members[a.id]["delivered"], members[a.id]["read"]) == (3, 3), sync
            # The receipt the client would send anyway moves nothing, so nobody hears of it.
            await ca.send_json({"type": "read", "conv": conv, "seq": 3})
            await ca.ping()  # a's receipt is on its way to the owner.
            # b's goes the same way (owner, store, owner) just behind it; once it has arrived,
            # and a moment later, one for a would have too.
            await cb.send_json({"type": "read", "conv": conv, "seq": 3})
            for conn in (ca, cb):
                await conn.wait_type("receipt", conv=conv, user=b.id, read=3)
            await asyncio.sleep(0.3)
            for conn in (ca, cb):
                assert not conn.typed("receipt", conv=conv, user=a.id), conn.describe()

    run_async(go(), 60)


def test_conversation_routes_need_a_token(api):
    a = api.new_user("nt")
    for method, path in (("GET", "/api/conversations"), ("POST", "/api/conversations"),
                         ("GET", "/api/conversations/1/messages"),
                         ("POST", "/api/conversations/1/members"),
                         ("DELETE", f"/api/conversations/1/members/{a.id}")):
        r = api.request(method, path, raw=b"{}" if method == "POST" else None)
        assert r.status == 401, (method, path, r)
