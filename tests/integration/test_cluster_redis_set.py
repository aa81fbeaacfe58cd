"""Cluster mode over several Redis instances (issue 28; docs/cluster.md, "High availability" →
"Several instances"): two ringcast nodes given `--redis redis://A,redis://B`, two throwaway
redis-servers.

- Conversations whose channels hash to either instance carry messages across the nodes, and the
  traffic really is spread (each instance's PUBLISH count, per the `redis` label, grows).
- Presence and --max-conns-per-user count over both nodes (their scripts run on the first
  instance).
- The second instance is shut down (SHUTDOWN NOSAVE): conversations on the first keep flowing
  live; those on the second still reach the other node (from the store, through the periodic
  checks: --cluster-check-interval 1); it comes back on the same port and they flow live again.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
import time

import pytest

from chat_client import ChatConn, close_all
from prometheus import scrape, value
from support import run_async, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from redis_server import RedisServer  # noqa: E402

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

FLAGS = {"presence_grace": 1, "node_ttl": 3, "cluster_check_interval": 1,
         "max_conns_per_user": 2}


def instance_of(channel: str, count: int) -> int:
    """core/cluster/redis_bus_set.h's InstanceOf: FNV-1a (64 bits) of the channel's name."""
    h = 14695981039346656037
    for byte in channel.encode():
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return h % count


def publishes(cluster, node: int, instance: RedisServer, what: str = "publishes") -> float:
    """Node `node`'s ringcast_redis_<what>_total on `instance` (publishes, received)."""
    families, _ = scrape(cluster.port(node))
    return value(families, f"ringcast_redis_{what}", redis=f"127.0.0.1:{instance.port}")


@pytest.mark.timeout(60)
def test_two_instances_spread_fail_alone_and_recover(cluster_factory, tmp_path):
    first = RedisServer.start(tmp_path / "redis-a")
    second = RedisServer.start(tmp_path / "redis-b")
    try:
        cluster = cluster_factory(2, redis_url=f"{first.url},{second.url}", threads=(2, 1),
                                  flags=FLAGS)
        api = cluster.api(0)
        users = api.new_users(6, "set")
        # Direct conversations between users[0] (node 1) and the others (node 2), until one
        # lives on each instance.
        convs: dict[int, tuple[int, int]] = {}  # instance → (conv, peer index)
        for k in range(1, len(users)):
            conv = api.direct(users[0], users[k])
            convs.setdefault(instance_of(f"rc:conv:{conv}", 2), (conv, k))
            if len(convs) == 2:
                break
        assert len(convs) == 2, f"no conversation on each instance: {convs}"
        (conv_a, peer_a), (conv_b, peer_b) = convs[0], convs[1]

        async def exchange(sender, receiver, conv: int, body: str, timeout: float = 10) -> None:
            ack = await sender.send(conv, body)
            m = await receiver.wait_message(conv, lambda m: m["id"] == ack["id"],
                                            timeout=timeout)
            assert m["body"] == body, m

        async def go():
            c0 = await ChatConn.connect(cluster.port(0), users[0].token, name="u0@n1")
            ca = await ChatConn.connect(cluster.port(1), users[peer_a].token, name="pa@n2")
            cb = await ChatConn.connect(cluster.port(1), users[peer_b].token, name="pb@n2")
            conns = [c0, ca, cb]
            try:
                before = [publishes(cluster, 0, s) for s in (first, second)]
                await exchange(c0, ca, conv_a, "on A")
                await exchange(c0, cb, conv_b, "on B")
                await exchange(cb, c0, conv_b, "on B, back")
                after = [publishes(cluster, 0, s) for s in (first, second)]
                assert all(b > a for a, b in zip(before, after)), (before, after)

                # Presence across nodes: users[0] on node 1 is online for the peers on node 2.
                listed = {p["user"]: p for p in ca.typed("hello")[0]["presence"]}
                assert listed[users[0].id]["status"] == "online", listed
                # --max-conns-per-user 2 over both nodes.
                extra = [await ChatConn.connect(cluster.port(1), users[0].token, name="u0@n2")]
                conns += extra
                refused = await ChatConn.connect(cluster.port(0), users[0].token,
                                                 name="u0#3", hello=False)
                conns.append(refused)
                code, reason = await refused.wait_closed(15)
                assert (code, reason) == (1008, "too many connections for this user"), \
                    refused.describe()

                # The second instance goes away: A's conversation stays live, B's messages
                # still arrive (from the store), and nobody's connection drops.
                await asyncio.to_thread(second.shutdown_nosave)
                started = time.monotonic()
                await exchange(c0, ca, conv_a, "A while B is down", timeout=3)
                live_s = time.monotonic() - started
                await exchange(c0, cb, conv_b, "B while B is down", timeout=15)
                await exchange(cb, c0, conv_b, "B while B is down, back", timeout=15)
                await asyncio.to_thread(second.restart)
                await wait_until(lambda: all(
                    value(scrape(cluster.port(n))[0], "ringcast_redis_connected") == 2
                    for n in (0, 1)), 15, "both nodes back on both instances")
                b_back = publishes(cluster, 0, second)
                received_back = publishes(cluster, 1, second, "received")
                await exchange(c0, cb, conv_b, "B live again", timeout=5)
                # Through B itself: node 1 published it there and node 2 received it there.
                assert publishes(cluster, 0, second) > b_back
                await wait_until(lambda: publishes(cluster, 1, second, "received") >
                                 received_back, 5, "node 2 received nothing through B")
                await exchange(c0, ca, conv_a, "A still live", timeout=5)
                for c in (c0, ca, cb):
                    assert c.closed is None, c.describe()
                # Each message once, in order, on both sides.
                want = {conv_a: ["on A", "A while B is down", "A still live"],
                        conv_b: ["on B", "on B, back", "B while B is down",
                                 "B while B is down, back", "B live again"]}
                for conv, conn in ((conv_a, ca), (conv_b, cb)):
                    for c in (c0, conn):
                        got = [m["body"] for m in c.typed("message", conv=conv)]
                        assert got == want[conv], c.describe()
                # users[0] leaves both nodes: the peers on node 2 see it go offline.
                mark = ca.mark()
                await close_all([c0, *extra])
                await ca.wait_type("presence", start=mark, user=users[0].id, status="offline",
                                   timeout=10)
                return live_s
            finally:
                await close_all(conns)

        live_s = run_async(go(), 50)
        print(f"A's message while B was down: {live_s:.3f} s")
    finally:
        first.stop()
        second.stop()
