"""Call signalling (PROTOCOL.md "Calls: signalling") on one node, against the real binary: an
invite rings every device of the callee and the first accept takes it; SDP and ICE relayed only
between the call's devices; busy, declined, cancelled and missed calls; a dropped participant
who rejoins within --call-rejoin-grace, and one who does not; a group call's mesh and its limit;
who may not call; and the record each call leaves in its conversation (kind "call")."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from chat_client import Api, ChatConn, all_connected, chat_args, close_all, connected
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores


async def ask(conn: ChatConn, type_: str, **fields) -> dict:
    """A call request with a fresh cid: its call_ack, or the error naming the cid."""
    cid = uuid.uuid4().hex[:12]
    start = conn.mark()
    await conn.send_json({"type": type_, "cid": cid, **fields})
    return await conn.wait_for(
        lambda e: e.get("type") in ("call_ack", "error") and e.get("cid") == cid,
        what=f"the answer to {type_}", start=start)


async def invite(conn: ChatConn, conv: int, kind: str = "audio") -> str:
    ack = await ask(conn, "call_invite", conv=conv, call_kind=kind)
    assert ack["type"] == "call_ack", ack
    return ack["call"]


def device(conn: ChatConn) -> int:
    return conn.typed("hello")[0]["device"]


async def blocked_in_call(api: Api, conv: int, caller, caller_conn: ChatConn, callee,
                          callee_conn: ChatConn) -> tuple[str, list[dict]]:
    """A call from `caller` that `callee` accepts, then blocks the caller: the call, and the
    call_ended each side then gets (caller's first)."""
    call = await invite(caller_conn, conv)
    await callee_conn.wait_type("call_ring", call=call)
    assert (await ask(callee_conn, "call_accept", call=call))["type"] == "call_ack"
    api.ok("POST", "/api/blocks", {"user": caller.id}, token=callee.token, expect=201)
    return call, [await c.wait_type("call_ended", call=call) for c in (caller_conn, callee_conn)]


async def record_of(api: Api, user, conv: int, call: str, timeout: float = 10) -> dict:
    """The call's record in the conversation's history (kind "call"), its body parsed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for m in api.all_messages(user, conv):
            if m["kind"] == "call" and json.loads(m["body"])["call"] == call:
                return {**m, "body": json.loads(m["body"])}
        assert asyncio.get_running_loop().time() < deadline, f"no record of call {call}"
        await asyncio.sleep(0.05)


def test_every_device_rings_the_first_accept_takes_the_call_and_signals_reach_one_device(server):
    api = Api(server.port)
    alice, bob, carol = api.new_users(3, "ring")
    conv = api.direct(alice, bob)
    api.group(carol, [alice], "elsewhere")  # Carol shares a group with Alice, not this 1:1.

    async def go():
        async with all_connected(server.port, [alice, bob, bob, carol]) as conns:
            ca, phone, laptop, cc = conns
            devices = {device(c) for c in conns}
            assert len(devices) == 4 and all(0 < d < 2**53 for d in devices), devices

            call = await invite(ca, conv, "video")
            for c in (phone, laptop):
                ring = await c.wait_type("call_ring", call=call)
                assert ring == {"type": "call_ring", "call": call, "conv": conv,
                                "from": alice.id, "call_kind": "video", "group": False}, ring
            assert not cc.typed("call_ring"), "a non-member's device rang"
            await ca.wait_type("call_ringing", call=call, user=bob.id)
            assert not ca.typed("call_ring"), "the caller's own device rang"
            # A device that connects while the call rings finds the ring in its hello.
            late = await ChatConn.connect(server.port, bob.token, name="bob, late")
            conns.append(late)
            assert late.typed("hello")[0]["ringing"] == [ring], late.typed("hello")
            assert ca.typed("hello")[0]["ringing"] == [], "the caller's hello listed a ring"

            mark = {id(c): c.mark() for c in conns}
            ack = await ask(phone, "call_accept", call=call)
            assert ack["type"] == "call_ack", ack
            assert ack["participants"] == [{"user": alice.id, "device": device(ca)}], ack
            stop = await laptop.wait_type("call_stop_ringing", call=call, start=mark[id(laptop)])
            assert stop["reason"] == "answered", stop
            await late.wait_type("call_stop_ringing", call=call, reason="answered")
            joined = await ca.wait_type("call_joined", call=call, start=mark[id(ca)])
            assert joined == {"type": "call_joined", "call": call, "user": bob.id,
                              "device": device(phone)}, joined
            late = await ask(laptop, "call_accept", call=call)
            assert late["type"] == "error" and late["code"] == "not_found", late
            await phone.ping()
            assert not phone.typed("call_stop_ringing", call=call), "the answering device stopped"

            # SDP and ICE go to the one device named, unread.
            offer = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
            mark = {id(c): c.mark() for c in conns}
            sent = await ask(ca, "call_signal", call=call,
                             to={"user": bob.id, "device": device(phone)}, sdp=offer)
            assert sent["type"] == "call_ack", sent
            got = await phone.wait_type("call_signal", call=call, start=mark[id(phone)])
            assert got == {"type": "call_signal", "call": call,
                           "from": {"user": alice.id, "device": device(ca)}, "sdp": offer}, got
            candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                         "sdpMid": "0", "sdpMLineIndex": 0}
            await ask(phone, "call_signal", call=call,
                      to={"user": alice.id, "device": device(ca)}, candidate=candidate)
            got = await ca.wait_type("call_signal", call=call, start=mark[id(ca)])
            assert got["candidate"] == candidate and got["from"]["device"] == device(phone), got

            # Nobody else relays: the callee's other device, a stranger, a wrong device.
            for c, to in ((laptop, ca), (cc, ca), (ca, laptop)):
                refused = await ask(c, "call_signal", call=call,
                                    to={"user": c is ca and bob.id or alice.id,
                                        "device": device(to)}, sdp=offer)
                assert refused["type"] == "error" and refused["code"] == "forbidden", refused
            await asyncio.sleep(0.2)
            assert not laptop.typed("call_signal") and not cc.typed("call_signal")
            assert len(ca.typed("call_signal")) == 1 and len(phone.typed("call_signal")) == 1

            await asyncio.sleep(0.3)  # A duration to see.
            hung = await ask(ca, "call_hangup", call=call)
            assert hung["type"] == "call_ack", hung
            ended = await phone.wait_type("call_ended", call=call)
            assert ended["outcome"] == "completed" and ended["conv"] == conv, ended
            assert ended["duration_ms"] >= 250, ended
            await ca.wait_type("call_ended", call=call, outcome="completed")

            record = await record_of(api, bob, conv, call)
            body = record["body"]
            assert record["from"] == alice.id, record
            assert body["call_kind"] == "video" and body["outcome"] == "completed", body
            assert body["duration_ms"] == ended["duration_ms"], (body, ended)
            assert body["started_at"] <= body["answered_at"] <= body["ended_at"], body
            assert body["ended_at"] - body["answered_at"] >= body["duration_ms"] - 50, body
            assert sorted(body["participants"]) == sorted([alice.id, bob.id]), body
            # Live too, as a message of the conversation.
            await laptop.wait_for(lambda e: e.get("type") == "message" and e.get("kind") == "call")
            # Nobody edits it, its caller included.
            edit = api.request("PATCH", f"/api/conversations/{conv}/messages/{record['seq']}",
                               {"body": "a forged record"}, token=alice.token)
            assert edit.status == 403, edit
            # Search leaves it out: its body is the server's JSON, not words of anyone's.
            await ca.send(conv, "a video call about the completed work")
            await asyncio.sleep(0.5)  # The search index follows the commits (SCHEMA.md).
            for word in ("video", "completed"):
                hits = api.ok("GET", f"/api/search?q={word}", token=bob.token)["results"]
                assert [h["kind"] for h in hits] == ["text"], hits
            # Over: a new call may start at once.
            again = await invite(phone, conv)
            await ask(phone, "call_cancel", call=again)
            await ca.wait_type("call_stop_ringing", call=again)
            metrics = api.request("GET", "/metrics").body.decode()
            assert 'ringcast_calls_ended_total{outcome="completed"} 1' in metrics, metrics
            assert 'ringcast_calls_ended_total{outcome="cancelled"} 1' in metrics, metrics
            assert "ringcast_call_signals_total 2" in metrics, metrics
            assert "ringcast_calls_active 0" in metrics, metrics

    run_async(go(), 60)


@pytest.mark.server_args(*chat_args(call_ring_timeout=1))
def test_busy_declined_cancelled_and_missed(server):
    api = Api(server.port)
    alice, bob, carol = api.new_users(3, "outcome")
    ab = api.direct(alice, bob)
    cb = api.direct(carol, bob)
    ac = api.direct(alice, carol)

    async def go():
        async with all_connected(server.port, [alice, bob, bob, carol]) as conns:
            ca, phone, laptop, cc = conns
            # Busy: the callee rings for Alice; Carol's call to him, and Alice's second call.
            call = await invite(ca, ab)
            await phone.wait_type("call_ring", call=call)
            busy = await ask(cc, "call_invite", conv=cb, call_kind="audio")
            assert busy["type"] == "error" and busy["code"] == "busy", busy
            assert "other member" in busy["message"] and "call" not in busy, busy
            busy = await ask(ca, "call_invite", conv=ac, call_kind="audio")
            assert busy["code"] == "busy" and "you are" in busy["message"], busy

            # Declined on one device: both stop ringing, the caller hears it and the call ends.
            mark = laptop.mark()
            declined = await ask(phone, "call_decline", call=call)
            assert declined["type"] == "call_ack" and declined["ended"] is True, declined
            await laptop.wait_type("call_stop_ringing", call=call, start=mark, reason="declined")
            await ca.wait_type("call_declined", call=call, user=bob.id)
            ended = await ca.wait_type("call_ended", call=call)
            assert ended["outcome"] == "declined" and ended["duration_ms"] == 0, ended
            assert (await record_of(api, alice, ab, call))["body"]["outcome"] == "declined"

            # Cancelled by the caller; the callee may not cancel; a hang-up cancels too.
            call = await invite(ca, ab)
            await laptop.wait_type("call_ring", call=call)
            refused = await ask(phone, "call_cancel", call=call)
            assert refused["code"] == "not_found" or refused["code"] == "forbidden", refused
            mark = laptop.mark()
            assert (await ask(ca, "call_cancel", call=call))["ended"] is True
            await laptop.wait_type("call_stop_ringing", call=call, start=mark, reason="cancelled")
            assert (await ca.wait_type("call_ended", call=call))["outcome"] == "cancelled"
            call = await invite(ca, ab)
            assert (await ask(ca, "call_hangup", call=call))["type"] == "call_ack"
            assert (await ca.wait_type("call_ended", call=call))["outcome"] == "cancelled"
            assert (await record_of(api, bob, ab, call))["body"]["outcome"] == "cancelled"

            # Missed: nobody answers within --call-ring-timeout (1 s).
            call = await invite(cc, cb, "video")
            await phone.wait_type("call_ring", call=call)
            ended = await cc.wait_type("call_ended", call=call, timeout=5)
            assert ended["outcome"] == "missed", ended
            await phone.wait_type("call_stop_ringing", call=call, reason="missed")
            record = await record_of(api, bob, cb, call)
            # Nothing rings any more: a device connecting now has no ring in its hello.
            fresh = await ChatConn.connect(server.port, bob.token, name="bob, after")
            conns.append(fresh)
            assert fresh.typed("hello")[0]["ringing"] == [], fresh.typed("hello")
            assert record["body"]["outcome"] == "missed" and "answered_at" not in record["body"]
            # A missed call is news for the callee: unread, and the conversation's last message.
            summary = api.conversation(bob, cb)
            assert summary["unread"] == 1, summary
            gone = await ask(phone, "call_accept", call=call)
            assert gone["code"] == "not_found", gone

    run_async(go(), 60)


@pytest.mark.server_args(*chat_args(call_rejoin_grace=2))
def test_a_dropped_participant_may_rejoin_within_the_grace_period_else_the_call_ends(server):
    api = Api(server.port)
    alice, bob = api.new_users(2, "drop")
    conv = api.direct(alice, bob)

    async def go():
        ca = await ChatConn.connect(server.port, alice.token, name="alice")
        cb = await ChatConn.connect(server.port, bob.token, name="bob")
        cb2 = None
        try:
            call = await invite(ca, conv)
            await cb.wait_type("call_ring", call=call)
            await ask(cb, "call_accept", call=call)
            old = device(cb)
            await cb.close()
            await asyncio.sleep(0.5)
            assert not ca.typed("call_ended"), "ended before the grace period"
            cb2 = await ChatConn.connect(server.port, bob.token, name="bob again")
            mark = ca.mark()
            back = await ask(cb2, "call_rejoin", call=call)
            assert back["type"] == "call_ack", back
            assert back["participants"] == [{"user": alice.id, "device": device(ca)}], back
            await ca.wait_type("call_left", call=call, device=old, start=mark)
            await ca.wait_type("call_joined", call=call, device=device(cb2), start=mark)

            # Gone for good this time: the call ends for Alice once the grace period is over.
            cb2.abort()
            left = await ca.wait_type("call_left", call=call, device=device(cb2), timeout=10)
            ended = await ca.wait_type("call_ended", call=call)
            assert ended["outcome"] == "completed", (left, ended)
            late = await ask(ca, "call_rejoin", call=call)
            assert late["code"] == "not_found", late

            # The caller gone before an answer, and not back within the grace period: failed.
            cb4 = await ChatConn.connect(server.port, bob.token, name="bob, fourth")
            ca2 = await ChatConn.connect(server.port, alice.token, name="alice, short-lived")
            call = await invite(ca2, conv, "video")
            await cb4.wait_type("call_ring", call=call)
            ca2.abort()
            stop = await cb4.wait_type("call_stop_ringing", call=call, timeout=10)
            assert stop["reason"] == "failed", stop
            assert (await record_of(api, bob, conv, call))["body"]["outcome"] == "failed"
            await cb4.close()

            # A device gone while its accept was on its way is dropped all the same (its close
            # may come before the holder's answer): no ghost stays in the call.
            cb3 = await ChatConn.connect(server.port, bob.token, name="bob, third")
            call = await invite(ca, conv)
            await cb3.wait_type("call_ring", call=call)
            await cb3.send_json({"type": "call_accept", "call": call, "cid": "last words"})
            cb3.abort()
            await ca.wait_type("call_joined", call=call)
            ended = await ca.wait_type("call_ended", call=call, timeout=10)
            assert ended["outcome"] == "completed", ended
        finally:
            await close_all([c for c in (ca, cb, cb2) if c is not None])

    run_async(go(), 60)


@pytest.mark.server_args(*chat_args(call_max_participants=3))
def test_a_group_call_is_a_mesh_up_to_its_limit(server):
    api = Api(server.port)
    a, b, c, d, e = api.new_users(5, "mesh")
    group = api.group(a, [b, c, d, e], "mesh")

    async def go():
        async with all_connected(server.port, [a, b, c, d, e]) as conns:
            ca, cb, cc, cd, ce = conns
            call = await invite(ca, group, "video")
            for conn in (cb, cc, cd, ce):
                ring = await conn.wait_type("call_ring", call=call)
                assert ring["group"] is True, ring
            # One call per group: another member's invite names the one going on.
            busy = await ask(ce, "call_invite", conv=group, call_kind="audio")
            assert busy["code"] == "busy" and busy["call"] == call, busy

            assert (await ask(cb, "call_accept", call=call))["participants"] == [
                {"user": a.id, "device": device(ca)}]
            mark = {id(x): x.mark() for x in conns}
            ack = await ask(cc, "call_accept", call=call)
            assert sorted(p["user"] for p in ack["participants"]) == sorted([a.id, b.id]), ack
            for x in (ca, cb):  # Those in the call offer to the newcomer.
                await x.wait_type("call_joined", call=call, user=c.id, start=mark[id(x)])
            full = await ask(cd, "call_accept", call=call)
            assert full["code"] == "too_many", full
            # The mesh relays between any two of its devices.
            await ask(cb, "call_signal", call=call, to={"user": c.id, "device": device(cc)},
                      sdp={"type": "offer", "sdp": "v=0\r\n"})
            await cc.wait_type("call_signal", call=call)

            # B leaves; the call goes on, and D, who could not join, now may.
            left = await ask(cb, "call_hangup", call=call)
            assert left["type"] == "call_ack" and left["ended"] is False, left
            await ca.wait_type("call_left", call=call, user=b.id)
            assert (await ask(cd, "call_accept", call=call))["type"] == "call_ack"
            # B is free for another call meanwhile.
            other = await invite(cb, api.direct(b, e))
            await ask(cb, "call_cancel", call=other)
            # Down to one, the call is over: the last hang-up's ack says so.
            answers = [await ask(x, "call_hangup", call=call) for x in (ca, cc)]
            assert [a["ended"] for a in answers] == [False, True], answers
            ended = await cd.wait_type("call_ended", call=call)
            assert ended["outcome"] == "completed", ended
            body = (await record_of(api, e, group, call))["body"]
            assert sorted(body["participants"]) == sorted([a.id, b.id, c.id, d.id]), body

    run_async(go(), 60)


def test_who_may_not_call(server):
    api = Api(server.port)
    alice, bob, carol = api.new_users(3, "nocall")
    conv = api.direct(alice, bob)

    async def go():
        async with connected((server.port, alice.token, "alice"),
                             (server.port, carol.token, "carol")) as [ca, cc]:
            stranger = await ask(cc, "call_invite", conv=conv, call_kind="audio")
            assert stranger["code"] == "forbidden", stranger
            unknown = await ask(cc, "call_accept", call="0123456789abcdef/0")
            assert unknown["code"] == "not_found", unknown
            for bad in ("nonsense", "0123456789abcdef/99", "0123456789abcdef/0/other-node"):
                answer = await ask(cc, "call_accept", call=bad)
                assert answer["code"] == "not_found", (bad, answer)
            sent = await ca.answer({"type": "send", "conv": conv, "cid": "k", "kind": "call",
                                    "body": "{}"})
            assert sent["code"] == "bad_request", sent
            alone = api.group(alice, [carol], "soon alone")
            api.remove_member(alice, alone, carol)
            nobody = await ask(ca, "call_invite", conv=alone, call_kind="audio")
            assert nobody["code"] == "bad_request", nobody
            api.ok("POST", "/api/blocks", {"user": alice.id}, token=bob.token, expect=201)
            blocked = await ask(ca, "call_invite", conv=conv, call_kind="audio")
            assert blocked["code"] == "forbidden", blocked

    run_async(go(), 30)
