"""Who may be in a call, asked of the store each time (issue 44, items 10 and 12; PROTOCOL.md
"Calls: signalling"): a member removed from the group while its call rings stops ringing, cannot
accept, and her new connection's hello lists no ring; one removed during the call is put out of
it and cannot rejoin; a block during a 1:1 call ends it at once for both, with its reason, and
the call keeps its record. A group call rings at most --call-ring-max members, in one note per
shard whatever their number; the others join it unrung."""

from __future__ import annotations

import asyncio

import pytest

from chat_client import Api, ChatConn, all_connected, chat_args, close_all, connect_all
from prometheus import scrape, value
from support import run_async
from test_calls import ask, blocked_in_call, device, invite, record_of

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores


def test_a_member_removed_while_the_call_rings_cannot_take_it(server):
    api = Api(server.port)
    a, b, c = api.new_users(3, "rmring")
    group = api.group(a, [b, c], "removed while ringing")

    async def go():
        async with all_connected(server.port, [a, b, c]) as conns:
            ca, cb, cc = conns
            call = await invite(ca, group)
            await cc.wait_type("call_ring", call=call)
            assert api.remove_member(a, group, c).status == 200
            # The store says who is a member: her accept is refused, whatever her devices hold.
            refused = await ask(cc, "call_accept", call=call)
            assert refused["type"] == "error" and refused["code"] == "forbidden", refused
            assert "not a member" in refused["message"], refused
            stop = await cc.wait_type("call_stop_ringing", call=call)
            assert stop["reason"] == "removed", stop
            # A connection of hers made now is not told of the ring.
            late = await ChatConn.connect(server.port, c.token, name="c, late")
            conns.append(late)
            assert late.typed("hello")[0]["ringing"] == [], late.typed("hello")
            refused = await ask(late, "call_accept", call=call)
            assert refused["code"] == "forbidden", refused
            # The call rings on for the others, and she is not among its devices.
            ack = await ask(cb, "call_accept", call=call)
            assert ack["participants"] == [{"user": a.id, "device": device(ca)}], ack
            offer = await ask(ca, "call_signal", call=call,
                              to={"user": c.id, "device": device(cc)},
                              sdp={"type": "offer", "sdp": "v=0\r\n"})
            assert offer["code"] == "forbidden", offer
            await asyncio.sleep(0.2)
            assert not cc.typed("call_signal") and not late.typed("call_signal")

    run_async(go(), 60)


@pytest.mark.server_args(*chat_args(call_rejoin_grace=10))
def test_a_member_removed_during_the_call_is_put_out_and_cannot_rejoin(server):
    api = Api(server.port)
    a, b, c, d = api.new_users(4, "rmcall")
    group = api.group(a, [b, c, d], "removed during the call")

    async def go():
        async with all_connected(server.port, [a, b, c, d]) as conns:
            ca, cb, cc, cd = conns
            call = await invite(ca, group)
            for conn in (cb, cc, cd):
                assert (await ask(conn, "call_accept", call=call))["type"] == "call_ack"

            # Live: out of the call at once, told why; the others see her leave.
            mark = ca.mark()
            assert api.remove_member(a, group, c).status == 200
            ended = await cc.wait_type("call_ended", call=call)
            assert ended["reason"] == "removed" and ended["outcome"] == "completed", ended
            await ca.wait_type("call_left", call=call, user=c.id, start=mark)
            relay = await ask(ca, "call_signal", call=call,
                              to={"user": c.id, "device": device(cc)},
                              sdp={"type": "offer", "sdp": "v=0\r\n"})
            assert relay["code"] == "forbidden", relay
            again = await ask(cc, "call_accept", call=call)
            assert again["code"] == "forbidden", again

            # Dropped, then removed within the grace period: no way back in.
            cb.abort()
            await asyncio.sleep(0.3)
            assert api.remove_member(a, group, b).status == 200
            back = await ChatConn.connect(server.port, b.token, name="b again")
            conns.append(back)
            rejoin = await ask(back, "call_rejoin", call=call)
            assert rejoin["type"] == "error", rejoin
            assert rejoin["code"] in ("not_found", "forbidden"), rejoin
            # The two left go on, then end it; the record names who took part.
            await ask(ca, "call_hangup", call=call)
            await cd.wait_type("call_ended", call=call)
            body = (await record_of(api, a, group, call))["body"]
            assert sorted(body["participants"]) == sorted([a.id, b.id, c.id, d.id]), body

    run_async(go(), 60)


def test_a_block_ends_a_one_to_one_call_for_both_and_keeps_its_record(server):
    api = Api(server.port)
    a, b = api.new_users(2, "blockcall")
    conv = api.direct(a, b)

    async def go():
        async with all_connected(server.port, [a, b]) as conns:
            ca, cb = conns
            # Going on: both get call_ended with the reason, the relay stops, the record stays.
            call, ended_both = await blocked_in_call(api, conv, a, ca, b, cb)
            for ended in ended_both:
                assert ended["reason"] == "blocked" and ended["outcome"] == "completed", ended
            relay = await ask(ca, "call_signal", call=call,
                              to={"user": b.id, "device": device(cb)},
                              sdp={"type": "offer", "sdp": "v=0\r\n"})
            assert relay["type"] == "error", relay
            record = await record_of(api, a, conv, call)
            assert record["from"] == a.id, record
            assert record["body"]["outcome"] == "completed", record
            assert record["body"]["reason"] == "blocked", record

            # Ringing: the caller blocks; the ring stops, the call ends cancelled, with its record.
            api.ok("DELETE", f"/api/blocks/{a.id}", token=b.token)
            call = await invite(ca, conv)
            await cb.wait_type("call_ring", call=call)
            api.ok("POST", "/api/blocks", {"user": b.id}, token=a.token, expect=201)
            stop = await cb.wait_type("call_stop_ringing", call=call)
            assert stop["reason"] == "blocked", stop
            ended = await ca.wait_type("call_ended", call=call)
            assert ended["outcome"] == "cancelled" and ended["reason"] == "blocked", ended
            refused = await ask(cb, "call_accept", call=call)
            assert refused["type"] == "error", refused
            body = (await record_of(api, b, conv, call))["body"]
            assert body["outcome"] == "cancelled" and body["reason"] == "blocked", body

    run_async(go(), 60)


RING_MAX = 3


@pytest.mark.server_args(*chat_args(call_ring_max=RING_MAX))
def test_a_group_call_rings_at_most_the_cap_in_one_note_per_shard(server):
    shards = server.threads
    assert shards >= 2, "a note per member would cost as little as one per shard"
    api = Api(server.port)
    users = api.new_users(8, "ringcap")
    caller, members = users[0], users[1:]
    group = api.group(caller, members, "larger than the ring cap")

    async def go():
        conns = await connect_all(server.port, users)
        ca, others = conns[0], conns[1:]
        try:
            before = value(scrape(server.port)[0], "ringcast_call_note_mails")
            call = await invite(ca, group)
            await ca.wait_count(
                lambda e: e.get("type") == "call_ringing" and e.get("call") == call, RING_MAX,
                what="call_ringing of the rung members")
            await asyncio.sleep(0.3)  # Time for a ring past the cap to show.
            rang = [conn for conn in others if conn.typed("call_ring", call=call)]
            assert len(rang) == RING_MAX, [len(conn.typed("call_ring")) for conn in others]
            # The invite's cost: its ack, one ring note to each shard for all it rings, and a
            # call_ringing per member that rang; a note per member would be RING_MAX per shard.
            spent = value(scrape(server.port)[0], "ringcast_call_note_mails") - before
            assert 0 < spent <= 1 + shards + RING_MAX, (spent, shards)

            # A member it did not ring learns of the call from its conversation (an invite
            # answers busy, naming it) and joins.
            unrung = next(conn for conn in others if conn not in rang)
            busy = await ask(unrung, "call_invite", conv=group, call_kind="audio")
            assert busy["code"] == "busy" and busy["call"] == call, busy
            joined = await ask(unrung, "call_accept", call=call)
            assert joined["type"] == "call_ack", joined
            assert joined["participants"] == [{"user": caller.id, "device": device(ca)}], joined
            await ask(ca, "call_hangup", call=call)
        finally:
            await close_all(conns)

    run_async(go(), 60)
