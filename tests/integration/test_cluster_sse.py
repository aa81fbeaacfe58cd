"""The HTTP transports across two cluster nodes (PROTOCOL.md, "SSE and long
polling"; docs/cluster.md): an SSE client on node 1 and a /ws client on node 2 in one
conversation exchange messages both ways with the same seqs; POSTs for the stream's session
that arrive at node 2 are forwarded to node 1 over Redis (rc:node:<id>) and answered on the
stream; a long-polled session on node 2 chats with the /ws client on node 1; a poll that reaches
the wrong node is answered 421."""

from __future__ import annotations

import json

import pytest

from chat_client import ChatConn, opened
from sse_client import SseConn, http_request, poll, query
from support import run_async

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


def test_sse_and_ws_on_two_nodes_with_posts_forwarded(cluster_factory):
    cluster = cluster_factory(2)
    a, b, conv = cluster.api(0).direct_pair("xsse")

    async def go():
        async with opened(SseConn.open(cluster.port(0), a.token, name="a/sse@n1"),
                          ChatConn.connect(cluster.port(1), b.token, name="b/ws@n2")) as [sse, ws]:
            assert sse.session.endswith("~n1"), sse.session
            ack = await sse.send(conv, "from sse on node 1")
            got = await ws.wait_message(conv, lambda m: m["seq"] == ack["seq"])
            assert (got["body"], got["from"]) == ("from sse on node 1", a.id)
            reply = await ws.send(conv, "from ws on node 2")
            got = await sse.wait_message(conv, lambda m: m["seq"] == reply["seq"])
            assert got["body"] == "from ws on node 2" and reply["seq"] == ack["seq"] + 1

            # POSTs through node 2 for the session node 1 holds: forwarded, answered there.
            start = sse.mark()
            for i in range(3):
                body = json.dumps({"type": "send", "conv": conv, "cid": f"via-n2-{i}",
                                   "body": f"posted to node 2, #{i}"})
                status, answer = await sse.post(body, port=cluster.port(1))
                assert (status, answer.get("forwarded")) == (202, True), answer
            acks = await sse.wait_count(lambda e: e.get("type") == "ack", 3, start=start)
            assert [x["cid"] for x in acks] == [f"via-n2-{i}" for i in range(3)], acks
            for x in acks:
                seen = await ws.wait_message(conv, lambda m, s=x["seq"]: m["seq"] == s)
                assert seen["id"] == x["id"], (seen, x)
            # Another user's token through node 2: dropped there, nothing reaches the stream.
            await sse.post(json.dumps({"type": "ping"}), token=b.token, port=cluster.port(1))
            await sse.ping()
            assert len(sse.typed("pong", start)) == 1, sse.describe(start)

    run_async(go(), 60)


def test_polled_session_on_one_node_chats_with_ws_on_another(cluster_factory):
    cluster = cluster_factory(2)
    a, b, conv = cluster.api(0).direct_pair("xpoll")

    async def go():
        async with opened(ChatConn.connect(cluster.port(0), b.token, name="b/ws@n1")) as [ws]:
            status, first = await poll(cluster.port(1), a.token)
            assert status == 200, first
            session = first["session"]
            assert session.endswith("~n2"), session
            after = first["events"][-1]["id"]
            # The wrong node: 421, nothing else.
            status, _ = await poll(cluster.port(0), a.token, session, after)
            assert status == 421
            ack = await ws.send(conv, "to the poller on node 2")
            seen = []
            while not any(e["data"].get("seq") == ack["seq"] for e in seen):
                status, answer = await poll(cluster.port(1), a.token, session, after)
                assert status == 200, answer
                seen += answer["events"]
                after = answer["events"][-1]["id"] if answer["events"] else after
            status, _, _ = await http_request(
                cluster.port(0), "POST", "/sse/send?" + query(session=session), token=a.token,
                body=json.dumps({"type": "send", "conv": conv, "cid": "p-n1",
                                 "body": "polled, posted via node 1"}))
            assert status == 202
            got = await ws.wait_message(conv, lambda m: m["body"] == "polled, posted via node 1")
            assert got["from"] == a.id and got["seq"] == ack["seq"] + 1, got

    run_async(go(), 60)
