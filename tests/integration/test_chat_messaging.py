"""Chat messaging over /ws (PROTOCOL.md "WebSocket: GET /ws"): send → ack + message to every
connection of every member (the sender's too), per-conversation order and exactly-once delivery
with concurrent senders in a 50-member group spread over both shards (2 shards; the kernel's
SO_REUSEPORT hash spreads 50+ connections over both with overwhelming probability), idempotent
resend by cid (same connection, another device, after a reconnect, and racing), receipts,
typing, history over WS, ping, and sends to conversations the caller is not in."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chat_client import (FAST_ARGS, TIMEOUT, ChatConn, aio, all_connected, close_all, connect_all,
                         connected, message_fields_ok, now_ms, opened, receipts_after, strip_type)
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


# -- 1:1 basics -------------------------------------------------------------------------------


def test_direct_message_reaches_both_sides_and_all_devices(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("dm")

    async def go():
        async with all_connected(port, [a, b], per_user=2) as [a1, a2, b1, b2]:
            before = now_ms()
            ack = await a1.send(conv, "hello b \u2764", cid="c-1")
            after = now_ms()
            assert set(ack) >= {"type", "cid", "conv", "id", "seq", "ts"}, ack
            assert (ack["cid"], ack["conv"], ack["seq"]) == ("c-1", conv, 1), ack
            assert before - 2000 <= ack["ts"] <= after + 2000, (before, ack, after)
            for c in (a1, a2, b1, b2):
                m = await c.wait_message(conv)
                message_fields_ok(m)
                assert strip_type(m) == {"id": ack["id"], "conv": conv, "seq": 1, "from": a.id,
                                         "kind": "text", "body": "hello b \u2764",
                                         "ts": ack["ts"]}, (c.name, m)
            ack2 = await b2.send(conv, "", kind="sticker")  # An empty body is a valid string.
            assert ack2["seq"] == 2 and ack2["id"] != ack["id"], ack2
            for c in (a1, a2, b1, b2):
                m = await c.wait_message(conv, lambda m: m["seq"] == 2)
                assert (m["from"], m["kind"], m["body"]) == (b.id, "sticker", ""), m
            for c in (a1, a2, b1, b2):
                assert not c.not_type_first, (c.name, c.not_type_first)
                assert len(c.messages(conv)) == 2, c.describe()

    run_async(go(), 60)


def test_requests_sent_before_hello_are_answered_in_order(shared_server, api):
    a, b, conv = api.direct_pair("early")

    async def go():
        async with opened(ChatConn.connect(shared_server.port, a.token, name="early",
                                           hello=False)) as [c]:
            await c.send_json({"type": "ping"})
            await c.send_json(c.send_request(conv, "early bird", cid="e1"))
            await c.send_json({"type": "ping"})
            await c.wait_count(lambda e: e.get("type") == "pong", 2)
            await c.wait_type("ack", cid="e1")
            kinds = [e["type"] for e in c.events if e["type"] in ("hello", "pong", "ack")]
            # Handled in order after hello; the ack waits for the commit, so the second pong
            # may overtake it (PROTOCOL.md).
            assert kinds[:2] == ["hello", "pong"], c.describe()
            assert sorted(kinds[2:]) == ["ack", "pong"], c.describe()

    run_async(go(), 30)


def test_ping_is_answered_with_pong(shared_server, api):
    a = api.new_user("pp")

    async def go():
        async with connected((shared_server.port, a.token, "conn")) as [c]:
            for _ in range(3):
                await c.ping()
            assert c.typed("pong") == [{"type": "pong"}] * 3, c.describe()

    run_async(go(), 30)


def test_send_to_foreign_or_unknown_conversation_is_forbidden(shared_server, api):
    a, b, outsider = api.new_users(3, "forb")
    conv = api.direct(a, b)

    async def go():
        async with connected((shared_server.port, outsider.token, "outsider"),
                             (shared_server.port, b.token, "b")) as [co, cb]:
            for target in (conv, 10_000_000):
                err = await co.send_raw(target, "let me in", cid=f"x-{target}")
                assert err["type"] == "error" and err["code"] == "forbidden", err
                assert err["cid"] == f"x-{target}" and isinstance(err["message"], str), err
            h = await co.call({"type": "history", "conv": conv}, "history")
            assert h["type"] == "error" and h["code"] == "forbidden", h
            await co.ping()  # Still open and answering.
            # b got nothing from the outsider.
            await cb.ping()
            await asyncio.sleep(0.2)
            assert not cb.messages(conv), cb.describe()
            ack = await cb.send(conv, "first real")
            assert ack["seq"] == 1, ack  # The refused sends took no seq.

    run_async(go(), 30)


# -- groups, concurrency, order ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_group_of_50_concurrent_senders_exactly_once_same_order(shared_server, api):
    port = shared_server.port
    users = api.new_users(50, "g50")
    owner = users[0]
    conv = api.group(owner, users[1:], "fifty")
    n_senders, per_sender = 5, 20
    senders = users[:n_senders]

    async def go():
        conns = await connect_all(port, users)
        # Each sender has a second, silent device that must see its own messages too.
        second = await connect_all(port, senders)
        everyone = conns + second
        try:
            async def storm(i: int):
                c = conns[i]
                reqs = [c.send_request(conv, f"s{i}-{k}", cid=f"s{i}-{k}")
                        for k in range(per_sender)]
                for req in reqs:  # Pipelined: acks are awaited only at the end.
                    await c.send_json(req)
                got = []
                for req in reqs:
                    got.append(await c.wait_for(
                        lambda e, cid=req["cid"]: e.get("type") in ("ack", "error")
                        and e.get("cid") == cid, TIMEOUT * 2, f"ack {req['cid']}"))
                return got

            results = await asyncio.gather(*(storm(i) for i in range(n_senders)))
            acks = [a for r in results for a in r]
            errors = [a for a in acks if a["type"] != "ack"]
            assert not errors, errors[:5]
            total = n_senders * per_sender
            assert sorted(a["seq"] for a in acks) == list(range(1, total + 1)), \
                sorted(a["seq"] for a in acks)
            assert len({a["id"] for a in acks}) == total
            by_seq = {a["seq"]: a for a in acks}

            for c in everyone:
                await c.wait_count(lambda e: e.get("type") == "message"
                                   and e.get("conv") == conv, total, TIMEOUT * 2,
                                   "group messages")
            await asyncio.gather(*(c.ping() for c in everyone))
            reference = None
            for c in everyone:
                msgs = c.messages(conv)
                seqs = [m["seq"] for m in msgs]
                assert seqs == list(range(1, total + 1)), \
                    f"{c.name}: {len(seqs)} messages, seqs {seqs[:30]}..."
                for m in msgs:
                    a = by_seq[m["seq"]]
                    assert (m["id"], m["ts"], m["body"]) == \
                        (a["id"], a["ts"], a["cid"]), (c.name, m, a)
                view = [(m["id"], m["from"], m["body"]) for m in msgs]
                reference = reference or view
                assert view == reference, c.name
            # Every message's sender is right.
            for m in conns[0].messages(conv):
                i = int(m["body"][1:].split("-")[0])
                assert m["from"] == senders[i].id, m
        finally:
            await close_all(everyone)

    run_async(go(), 110)

    e = api.conversation(users[-1], conv)
    assert e["last_seq"] == n_senders * per_sender and e["unread"] == e["last_seq"], e
    hist = api.all_messages(users[-1], conv)
    assert [m["seq"] for m in hist] == list(range(1, n_senders * per_sender + 1))


def test_messages_of_other_conversations_do_not_leak(shared_server, api):
    a, b, c = api.new_users(3, "leak")
    ab = api.direct(a, b)
    ac = api.direct(a, c)

    async def go():
        async with all_connected(shared_server.port, [a, b, c]) as [ca, cb, cc]:
            await ca.send(ab, "for b")
            await ca.send(ac, "for c")
            await cb.wait_message(ab)
            await cc.wait_message(ac)
            await asyncio.gather(cb.ping(), cc.ping())
            await asyncio.sleep(0.2)
            assert [m["body"] for m in cb.messages()] == ["for b"], cb.describe()
            assert [m["body"] for m in cc.messages()] == ["for c"], cc.describe()
            assert (cb.messages()[0]["seq"], cc.messages()[0]["seq"]) == (1, 1)

    run_async(go(), 30)


# -- idempotent resend ------------------------------------------------------------------------


def test_resend_with_same_cid_is_acked_again_and_not_redelivered(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("idem")

    async def go():
        a1, a2, cb = await connect_all(port, [a, a, b])
        try:
            first = await a1.send(conv, "once", cid="same-cid")
            again = await a1.send_raw(conv, "once", cid="same-cid")
            assert again == first, (first, again)
            # Another device of the same user, with a different body: the original ack.
            other = await a2.send_raw(conv, "changed body", cid="same-cid")
            assert other == first, (first, other)
            # A new cid gets the next seq: the duplicates took none.
            nxt = await a1.send(conv, "next", cid="next-cid")
            assert nxt["seq"] == first["seq"] + 1, (first, nxt)
            for c in (a1, a2, cb):
                await c.wait_message(conv, lambda m: m["body"] == "next")
                await c.ping()
            await asyncio.sleep(0.2)
            for c in (a1, a2, cb):
                assert [m["body"] for m in c.messages(conv)] == ["once", "next"], c.describe()
            # After a reconnect, too.
            await a1.close()
            async with connected((port, a.token, "a3")) as [a3]:
                late = await a3.send_raw(conv, "once", cid="same-cid")
                assert late == first, (first, late)
                await a3.ping()
            await cb.ping()
            await asyncio.sleep(0.2)
            assert [m["body"] for m in cb.messages(conv)] == ["once", "next"], cb.describe()
            # cid is per sender: b may use the same cid for its own message.
            bs = await cb.send(conv, "b's own", cid="same-cid")
            assert bs["seq"] == first["seq"] + 2 and bs["id"] != first["id"], bs
        finally:
            await close_all([a2, cb])

    run_async(go(), 60)
    hist = api.all_messages(b, conv)
    assert [(m["seq"], m["body"]) for m in hist] == [(1, "once"), (2, "next"), (3, "b's own")]


def test_concurrent_duplicates_from_two_devices_store_one_message(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("race")

    async def go():
        devices = await connect_all(port, [a], per_user=4)
        cb = await ChatConn.connect(port, b.token, name="b")
        try:
            cids = [f"r{k}-{uuid.uuid4().hex[:6]}" for k in range(10)]
            for cid in cids:  # Each cid sent by all four devices at once.
                for d in devices:
                    await d.send_json(d.send_request(conv, cid, cid=cid))
            acks = {}
            for d in devices:
                for cid in cids:
                    ev = await d.wait_for(lambda e, cid=cid: e.get("type") in ("ack", "error")
                                          and e.get("cid") == cid, what=f"ack {cid}")
                    assert ev["type"] == "ack", ev
                    acks.setdefault(cid, []).append(ev)
            for cid, evs in acks.items():
                assert all(e == evs[0] for e in evs), evs
            assert sorted(evs[0]["seq"] for evs in acks.values()) == list(range(1, 11))
            await cb.wait_count(lambda e: e.get("type") == "message", 10)
            await cb.ping()
            await asyncio.sleep(0.3)
            assert sorted(m["body"] for m in cb.messages(conv)) == sorted(cids), cb.describe()
            for d in devices:
                assert len(d.messages(conv)) == 10, d.describe()
        finally:
            await close_all(devices + [cb])

    run_async(go(), 60)


# -- receipts ---------------------------------------------------------------------------------


def test_receipts_move_forward_only_and_reach_every_member(shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "rcpt")
    conv = api.group(a, [b, c], "receipts")

    async def go():
        ca, cb, cb2, cc = await connect_all(port, [a, b, b, c])
        everyone = [ca, cb, cb2, cc]
        try:
            for i in range(4):
                await ca.send(conv, f"r{i}")
            await cb.wait_count(lambda e: e.get("type") == "message", 4)

            for x, ev in await receipts_after(everyone, conv, b.id, (cb, "delivered", 2)):
                assert ev.get("delivered") == 2 and "read" not in ev, (x.name, ev)

            # Backwards / unchanged: no receipt. Proven by the next receipt being the read.
            for x, ev in await receipts_after(everyone, conv, b.id, (cb, "delivered", 1),
                                              (cb, "delivered", 2), (cb, "read", 3)):
                # read 3 also moved delivered from 2 to 3: the receipt carries both.
                assert (ev.get("read"), ev.get("delivered")) == (3, 3), (x.name, ev)

            # A seq beyond last_seq is taken as last_seq (4).
            for x, ev in await receipts_after(everyone, conv, b.id, (cb2, "read", 1000)):
                assert (ev.get("read"), ev.get("delivered")) == (4, 4), (x.name, ev)

            # Read below delivered: c delivers 4, then reads 2 (delivered stays 4).
            marks = {x: x.mark() for x in everyone}
            await cc.send_json({"type": "delivered", "conv": conv, "seq": 4})
            await cc.send_json({"type": "read", "conv": conv, "seq": 2})
            await cc.send_json({"type": "read", "conv": conv, "seq": 2})  # no change
            await cc.send_json({"type": "delivered", "conv": conv, "seq": 3})  # no change
            await cc.ping()
            for x in everyone:
                evs = await x.wait_count(lambda e: e.get("type") == "receipt"
                                         and e.get("user") == c.id, 2, start=marks[x])
                assert evs[0].get("delivered") == 4 and "read" not in evs[0], evs
                assert evs[1].get("read") == 2 and evs[1].get("delivered", 4) == 4, evs
            await asyncio.gather(*(x.ping() for x in everyone))
            await asyncio.sleep(0.3)
            for x in everyone:
                assert len(x.typed("receipt", marks[x])) == 2, x.describe(marks[x])

            # The watermarks as the store has them, through sync.
            s = await ca.call({"type": "sync", "convs": {str(conv): 4}}, "sync")
            assert s["type"] == "sync", s
            (entry,) = s["convs"]
            wm = {m["user"]: (m["delivered"], m["read"]) for m in entry["members"]}
            assert wm[b.id] == (4, 4) and wm[c.id] == (4, 2), wm
            assert set(wm) == {a.id, b.id, c.id}, entry
        finally:
            await close_all(everyone)

    run_async(go(), 60)
    assert api.conversation(b, conv)["unread"] == 0
    assert api.conversation(c, conv)["unread"] == 2
    assert api.conversation(c, conv)["read_seq"] == 2


def test_receipts_for_foreign_conversation_are_forbidden(shared_server, api):
    a, b, outsider = api.new_users(3, "rcf")
    conv = api.direct(a, b)

    async def go():
        async with all_connected(shared_server.port, [outsider, a]) as [co, ca]:
            await ca.send(conv, "x")
            for kind in ("delivered", "read"):
                err = await co.call({"type": kind, "conv": conv, "seq": 1}, "receipt")
                assert err["type"] == "error" and err["code"] == "forbidden", err
            await ca.ping()
            await asyncio.sleep(0.2)
            assert not ca.typed("receipt"), ca.describe()

    run_async(go(), 30)


# -- typing -----------------------------------------------------------------------------------


def test_typing_reaches_other_members_only(shared_server, api):
    port = shared_server.port
    a, b, c, outsider = api.new_users(4, "typ")
    conv = api.group(a, [b, c], "typing")

    async def go():
        async with all_connected(port, [a, b, c, outsider]) as [ca, cb, cc, co]:
            await ca.send_json({"type": "typing", "conv": conv, "state": "start"})
            for x in (cb, cc):
                ev = await x.wait_type("typing", conv=conv, user=a.id)
                assert ev == {"type": "typing", "conv": conv, "user": a.id,
                              "state": "start"}, ev
            await ca.send_json({"type": "typing", "conv": conv, "state": "stop"})
            for x in (cb, cc):
                await x.wait_type("typing", conv=conv, user=a.id, state="stop")
            await asyncio.gather(*(x.ping() for x in (ca, co)))
            await asyncio.sleep(0.3)
            assert not ca.typed("typing"), ca.describe()
            assert not co.typed("typing"), co.describe()
            # Typing is not a message: nothing stored.
            assert (await aio(api.conversation, b, conv))["last_seq"] == 0
            err = await co.call({"type": "typing", "conv": conv, "state": "start"}, "typing")
            assert err["type"] == "error" and err["code"] == "forbidden", err

    run_async(go(), 30)


# -- history over WS --------------------------------------------------------------------------


def test_history_over_websocket(shared_server, api):
    a, b, conv = api.direct_pair("wsh")

    async def go():
        async with all_connected(shared_server.port, [a, b]) as [ca, cb]:
            acks = [await ca.send(conv, f"h{i}") for i in range(1, 7)]
            h = await cb.call({"type": "history", "conv": conv}, "history")
            assert h["type"] == "history" and h["conv"] == conv, h
            assert [m["seq"] for m in h["messages"]] == [6, 5, 4, 3, 2, 1] and not h["more"], h
            for m in h["messages"]:
                message_fields_ok(m)
                assert m["id"] == acks[m["seq"] - 1]["id"] and m["body"] == f"h{m['seq']}", m
            h = await cb.call({"type": "history", "conv": conv, "limit": 2}, "history")
            assert [m["seq"] for m in h["messages"]] == [6, 5] and h["more"] is True, h
            h = await cb.call({"type": "history", "conv": conv, "before": 5, "limit": 3},
                              "history")
            assert [m["seq"] for m in h["messages"]] == [4, 3, 2] and h["more"] is True, h
            h = await cb.call({"type": "history", "conv": conv, "before": 2}, "history")
            assert [m["seq"] for m in h["messages"]] == [1] and h["more"] is False, h
            # The same messages as over HTTP.
            r = await aio(api.messages, b, conv)
            assert r.json["messages"] == (await cb.call(
                {"type": "history", "conv": conv}, "history"))["messages"]

    run_async(go(), 30)
