"""Group changes across two nodes (issue 25, "Groups"; docs/cluster.md): a role change, a
removal and a new avatar made through one node reach a member's connection on the other node
live, as `system` entries in seq order and as `members` events carrying the roles and the
avatar; a `sync` on the other node has the entries too."""
from __future__ import annotations

import json

import pytest

from chat_client import ChatConn, aio, close_all, connected
from support import run_async
from test_chat_profiles import upload_image

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


@pytest.mark.timeout(60)
def test_role_change_and_removal_reach_the_other_node(cluster_factory):
    cluster = cluster_factory(2)
    api = cluster.api(0)
    a, b, c = api.new_users(3, "xg")
    conv = api.group(a, [b, c], "across")

    async def go():
        async with connected((cluster.port(1), b.token, "b@n2")) as [b2]:
            start = b2.mark()
            r = await aio(api.request, "PUT", f"/api/conversations/{conv}/members/{b.id}/role",
                          {"role": "admin"}, token=a.token)
            assert r.status == 200, r
            promoted = await b2.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == conv
                and "admin" in e.get("roles", []), what="members event with an admin",
                start=start)
            r = await aio(api.remove_member, a, conv, c)
            assert r.status == 200, r
            r = await aio(api.request, "PATCH", f"/api/conversations/{conv}", {"avatar": image},
                          token=a.token)
            assert r.status == 200, r
            pictured = await b2.wait_for(
                lambda e: e.get("type") == "members" and e.get("conv") == conv
                and e.get("avatar") is not None, what="members event with an avatar",
                start=start)
            entries = [await b2.wait_message(conv, lambda m, seq=seq: m["seq"] == seq, start=start)
                       for seq in (1, 2, 3)]
        async with connected((cluster.port(0), b.token, "b@n1")) as [b1]:
            synced = await b1.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
        return promoted, pictured, entries, synced

    image = upload_image(cluster.port(0), a)
    promoted, pictured, entries, synced = run_async(go(), 50)
    assert dict(zip(promoted["members"], promoted["roles"])) == {
        a.id: "owner", b.id: "admin", c.id: "member"}, promoted
    assert pictured["avatar_thumb"] == f"/files/{image}/thumb", pictured
    expected = [{"action": "role", "actor": a.id, "users": [b.id], "role": "admin"},
                {"action": "removed", "actor": a.id, "users": [c.id]},
                {"action": "updated", "actor": a.id, "avatar": image}]
    assert [m["kind"] for m in entries] == ["system"] * 3, entries
    assert [json.loads(m["body"]) for m in entries] == expected, entries
    [entry] = synced["convs"]
    assert [json.loads(m["body"]) for m in entry["messages"]] == expected, entry
    assert entry["unread"] == 0, entry


@pytest.mark.timeout(60)
def test_a_member_removed_on_one_node_sees_the_removal_on_the_other(cluster_factory):
    """The removed member's connection on the other node gets the entry that removed it, live,
    before its `members` event takes the conversation away: that node applies a membership
    change through the conversation's owner shard, behind the entries already mailed to it, as
    the node that made the change does."""
    cluster = cluster_factory(2)
    api = cluster.api(0)
    a, b, c = api.new_users(3, "xr")
    conv = api.group(a, [b, c], "leaving")

    async def go():
        conns = [await ChatConn.connect(cluster.port(1), c.token, name=f"c{i}@n2")
                 for i in range(4)]
        try:
            starts = [conn.mark() for conn in conns]
            r = await aio(api.remove_member, a, conv, c)
            assert r.status == 200, r
            return [await conn.wait_message(conv, lambda m: m["seq"] == 1, start=start)
                    for conn, start in zip(conns, starts)]
        finally:
            await close_all(conns)

    for entry in run_async(go(), 50):
        assert json.loads(entry["body"]) == {"action": "removed", "actor": a.id,
                                             "users": [c.id]}, entry
