"""Replies and threads across two nodes (issue 25; docs/cluster.md, "What crosses nodes"): a
reply sent through each node (so that one of them is forwarded to the conversation's writer
node, whichever it is) reaches a member's connection on the other node live with its quote and
thread; after a reconnect to either node, sync and `thread` give the root's reply count and the
replies, from the store."""
from __future__ import annotations

import pytest

from chat_client import acked, by_seq, connected, send_with
from support import run_async

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


@pytest.mark.timeout(60)
def test_replies_cross_nodes_with_quote_and_thread_counts(cluster_factory):
    cluster = cluster_factory(2)
    a, b, conv = cluster.api(0).direct_pair("xr")

    async def go():
        async with cluster.sender_on_each_node(a, b) as [a1, a2, b2]:
            root = await a1.send(conv, "the root")
            r1 = acked(await send_with(a1, conv, "one", "x-r1", reply_to=root["seq"], thread=True))
            r2 = acked(await send_with(a2, conv, "two", "x-r2", reply_to=r1["seq"], thread=True))
            live = [await b2.wait_message(conv, lambda m, seq=r["seq"]: m["seq"] == seq)
                    for r in (r1, r2)]
        for msg, parent, text in ((live[0], root, "the root"), (live[1], r1, "one")):
            assert msg["reply_to"] == parent["seq"], msg
            assert msg["quote"] == {"from": a.id, "body": text}, msg
            assert msg["thread_root"] == root["seq"], msg
        for port in (cluster.port(0), cluster.port(1)):
            async with connected((port, b.token, "b again")) as [b1]:
                synced = await b1.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
                thread = await b1.call({"type": "thread", "conv": conv, "root": root["seq"]},
                                       "thread")
            [entry] = synced["convs"]
            stored = by_seq(entry["messages"])[root["seq"]]
            assert (stored["reply_count"], stored["last_reply_seq"]) == (2, r2["seq"]), stored
            assert [m["seq"] for m in thread["messages"]] == [r2["seq"], r1["seq"]], thread

    run_async(go(), 50)
