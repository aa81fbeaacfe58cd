"""Changes to messages across two nodes (issue 25; docs/cluster.md, "What crosses nodes"): an
edit and a reaction made through one node and a delete made through the other (so that one of them is
forwarded to the conversation's writer node, whichever it is) reach a member's connection on
the other node live, in seq order after the message they change; a reconnect to the other node
and a `sync` from 0 give the changed message in its current state and the change entries."""
from __future__ import annotations

import pytest

from chat_client import acked, by_seq, change, connected
from support import run_async

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


@pytest.mark.timeout(60)
def test_edit_and_delete_cross_nodes_live_and_after_reconnect(cluster_factory):
    cluster = cluster_factory(2)
    a, b, conv = cluster.api(0).direct_pair("xc")

    async def go():
        async with cluster.sender_on_each_node(a, b) as [a1, a2, b2]:
            kept = await a1.send(conv, "stays")
            gone = await a1.send(conv, "goes")
            edit = acked(await change(a1, "edit", conv, kept["seq"], "x-edit",
                                      body="stays, edited"))
            delete = acked(await change(a2, "delete", conv, gone["seq"], "x-del"))
            react = acked(await change(a1, "react", conv, kept["seq"], "x-re", emoji="\U0001F44D"))
            for seq in (edit["seq"], delete["seq"], react["seq"]):
                await b2.wait_message(conv, lambda m, seq=seq: m["seq"] == seq)
            live = [(m["seq"], m["kind"], m.get("target"), m.get("body"))
                    for m in b2.messages(conv)]
            assert live == [(1, "text", None, "stays"), (2, "text", None, "goes"),
                            (3, "edit", 1, "stays, edited"), (4, "delete", 2, ""),
                            (5, "reaction", 1, "\U0001F44D")], live
            assert b2.messages(conv)[-1]["on"] is True
        async with connected((cluster.port(0), b.token, "b@n1")) as [b1]:
            synced = await b1.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
        [entry] = synced["convs"]
        current = by_seq(entry["messages"])
        assert current[1]["body"] == "stays, edited" and current[1]["edited_at"] == edit["ts"]
        assert current[2]["deleted"] is True and "body" not in current[2], current[2]
        assert [current[s]["kind"] for s in (3, 4, 5)] == ["edit", "delete", "reaction"], current
        assert current[1]["reactions"] == [{"emoji": "\U0001F44D", "count": 1, "users": [a.id]}]
        assert entry["unread"] == 2, entry

    run_async(go(), 50)


@pytest.mark.timeout(60)
def test_changes_over_http_on_either_node_reach_the_other_in_order(cluster_factory):
    """PATCH and DELETE …/messages/{seq} through each node, between WebSocket sends through the
    other: every entry reaches a member on each node live, in one seq order without a gap."""
    cluster = cluster_factory(2)
    api1, api2 = cluster.api(0), cluster.api(1)
    a, b = api1.new_users(2, "xh")
    conv = api1.group(a, [b.id])
    url = f"/api/conversations/{conv}/messages"

    async def go():
        async with connected((cluster.port(0), a.token, "a@n1"), (cluster.port(0), b.token, "b@n1"),
                             (cluster.port(1), b.token, "b@n2")) as [a1, b1, b2]:
            first = await a1.send(conv, "one")
            second = await a1.send(conv, "two")
            edit = api2.ok("PATCH", f"{url}/{first['seq']}", {"body": "one, edited"},
                           token=a.token)
            third = await a1.send(conv, "three")
            delete = api1.ok("DELETE", f"{url}/{second['seq']}", token=a.token)
            last = await a1.send(conv, "four")
            for conn in (b1, b2):
                await conn.wait_message(conv, lambda m: m["seq"] == last["seq"])
            return first, second, edit, third, delete, last, [
                [(m["seq"], m["kind"], m.get("target")) for m in conn.messages(conv)]
                for conn in (b1, b2)]

    first, second, edit, third, delete, last, seen = run_async(go(), 50)
    want = [(first["seq"], "text", None), (second["seq"], "text", None),
            (edit["seq"], "edit", first["seq"]), (third["seq"], "text", None),
            (delete["seq"], "delete", second["seq"]), (last["seq"], "text", None)]
    assert [seq for seq, _, _ in want] == list(range(first["seq"], first["seq"] + 6)), want
    assert seen == [want, want], seen
    history = {m["seq"]: m for m in api2.messages(b, conv).json["messages"]}
    assert history[first["seq"]]["body"] == "one, edited", history
    assert history[second["seq"]]["deleted"] is True, history
