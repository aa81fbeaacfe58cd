"""Calls across nodes (docs/cluster.md, "Calls"; docs/calls.md): the caller on node 1, the
callee's phone on node 2 and its laptop on node 3. Both ring; the accept on one stops the other;
SDP and ICE cross nodes to the one device named; one call per user holds over every node (Redis).
Killing the callee's node mid-call ends the call for the caller within --node-ttl +
--call-rejoin-grace (and a beat); killing the caller's node, which holds the call, ends it for
the callee as `failed` within --node-ttl. The record lands in the conversation either way the
holder lives."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chat_client import Api, ChatConn, close_all, opened
from support import run_async
from test_calls import ask, blocked_in_call, device, invite, record_of

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

NODE_TTL_S = 2
GRACE_S = 1
FLAGS = {"node_ttl": NODE_TTL_S, "call_rejoin_grace": GRACE_S, "presence_grace": 1}


def test_a_call_across_three_nodes_and_a_callee_node_killed_mid_call(cluster_factory):
    cluster = cluster_factory(3, flags=FLAGS)
    api = Api(cluster.port(0))
    alice, bob, carol = api.new_users(3, "xcall")
    conv = api.direct(alice, bob)
    carol_bob = api.direct(carol, bob)

    async def go():
        async with opened(ChatConn.connect(cluster.port(0), alice.token, name="alice@n1"),
                          ChatConn.connect(cluster.port(1), bob.token, name="bob-phone@n2"),
                          ChatConn.connect(cluster.port(2), bob.token, name="bob-laptop@n3"),
                          ChatConn.connect(cluster.port(2), carol.token, name="carol@n3")) as conns:
            ca, phone, laptop, cc = conns
            call = await invite(ca, conv, "video")
            assert call.endswith("/n1"), call  # Held by the caller's node.
            for c in (phone, laptop):
                await c.wait_type("call_ring", call=call)
            await ca.wait_type("call_ringing", call=call, user=bob.id)
            # Busy over every node: Carol, on node 3, calls Bob while he rings for Alice.
            busy = await ask(cc, "call_invite", conv=carol_bob, call_kind="audio")
            assert busy["code"] == "busy", busy

            mark = laptop.mark()
            ack = await ask(phone, "call_accept", call=call)
            assert ack["type"] == "call_ack", ack
            assert ack["participants"] == [{"user": alice.id, "device": device(ca)}], ack
            await laptop.wait_type("call_stop_ringing", call=call, start=mark)
            await ca.wait_type("call_joined", call=call, device=device(phone))
            assert (await ask(laptop, "call_accept", call=call))["code"] == "not_found"

            offer = {"type": "offer", "sdp": "v=0\r\n"}
            await ask(ca, "call_signal", call=call, to={"user": bob.id, "device": device(phone)},
                      sdp=offer)
            got = await phone.wait_type("call_signal", call=call)
            assert got["sdp"] == offer and got["from"]["device"] == device(ca), got
            await ask(phone, "call_signal", call=call,
                      to={"user": alice.id, "device": device(ca)},
                      candidate={"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
            await ca.wait_type("call_signal", call=call)
            refused = await ask(laptop, "call_signal", call=call,
                                to={"user": alice.id, "device": device(ca)}, sdp=offer)
            assert refused["code"] == "forbidden", refused

            # The callee's node dies: the holder drops its device once the node is found dead,
            # and ends the call after the rejoin grace.
            killed_at = time.monotonic()
            cluster.kill(1)
            left = await ca.wait_type("call_left", call=call, user=bob.id, timeout=15)
            ended = await ca.wait_type("call_ended", call=call, timeout=5)
            took = time.monotonic() - killed_at
            assert ended["outcome"] == "completed", (left, ended)
            assert took < NODE_TTL_S + GRACE_S + 3, took
            record = await record_of(api, alice, conv, call)
            assert record["body"]["outcome"] == "completed", record
            # Both free again, over every node.
            other = await invite(cc, carol_bob)
            await ask(cc, "call_cancel", call=other)

    run_async(go(), 90)


def test_the_holder_node_killed_ends_the_call_for_the_other_nodes(cluster_factory):
    cluster = cluster_factory(2, flags=FLAGS, threads=(2, 1))
    api = Api(cluster.port(1))
    alice, bob, conv = api.direct_pair("xhold")

    async def go():
        ca = await ChatConn.connect(cluster.port(0), alice.token, name="alice@n1")
        cb = await ChatConn.connect(cluster.port(1), bob.token, name="bob@n2")
        try:
            call = await invite(ca, conv)
            await cb.wait_type("call_ring", call=call)
            await ask(cb, "call_accept", call=call)
            killed_at = time.monotonic()
            cluster.kill(0)
            ended = await cb.wait_type("call_ended", call=call, timeout=15)
            assert ended["outcome"] == "failed", ended
            assert time.monotonic() - killed_at < NODE_TTL_S + 3
            # Its busy marks went with it: Alice, back on node 2, calls Bob again at once.
            cb2 = await ChatConn.connect(cluster.port(1), alice.token, name="alice@n2")
            try:
                again = await invite(cb2, conv)
                assert again.endswith("/n2"), again
                await cb.wait_type("call_ring", call=again)
                await ask(cb2, "call_cancel", call=again)
            finally:
                await cb2.close()
        finally:
            await close_all([ca, cb])

    run_async(go(), 60)


def test_a_removal_and_a_block_made_on_another_node_reach_the_holder(cluster_factory):
    """Issue 44 item 10 across nodes: the call is held on node 1; the removal and the block are
    made through node 2, whose store change reaches the holder by Redis (the `M` publication; the
    blocker's busy mark naming the call)."""
    cluster = cluster_factory(2, flags=FLAGS)
    api = Api(cluster.port(1))
    alice, bob, carol = api.new_users(3, "xaccess")
    group = api.group(alice, [bob, carol], "removed elsewhere")
    conv = api.direct(alice, bob)

    async def go():
        async with opened(ChatConn.connect(cluster.port(0), alice.token, name="alice@n1"),
                          ChatConn.connect(cluster.port(1), bob.token, name="bob@n2"),
                          ChatConn.connect(cluster.port(1), carol.token, name="carol@n2")) as conns:
            ca, cb, cc = conns
            call = await invite(ca, group)
            await cc.wait_type("call_ring", call=call)
            assert api.remove_member(alice, group, carol).status == 200
            stop = await cc.wait_type("call_stop_ringing", call=call)
            assert stop["reason"] == "removed", stop
            refused = await ask(cc, "call_accept", call=call)
            assert refused["code"] == "forbidden", refused
            await ask(ca, "call_cancel", call=call)

            call, ended_both = await blocked_in_call(api, conv, alice, ca, bob, cb)
            for ended in ended_both:
                assert ended["reason"] == "blocked", ended
            body = (await record_of(api, bob, conv, call))["body"]
            assert body["reason"] == "blocked" and body["outcome"] == "completed", body

    run_async(go(), 60)
