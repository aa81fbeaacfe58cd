"""Cluster mode on highly available Redis (issue 28; docs/cluster.md, "High availability"):
two ringcast nodes (2 and 1 shards) on one PostgreSQL database and a Redis behind Sentinel
(tools/redis_server.py's SentinelGroup: a master, one replica, three redis-sentinel processes),
each node given only the redis+sentinel:// URL.

- A group's storm while the master is killed with SIGKILL: the sentinels promote the replica,
  both nodes find it by themselves (through the sentinels, and `+switch-master`), and every
  message acked before, during and after the failover reaches every member on both nodes
  exactly once, in order (cluster_clients.Storm.verify); both nodes show the new master in
  their metrics and count the failover; presence crosses the nodes afterwards.
- The same with an ACL user and password on the master and the replica, and an ACL user and
  password on the sentinels (given in the URL's query): a conversation across the nodes before
  and after the failover, and presence afterwards.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys

import pytest

from chat_client import ChatConn, close_all
from cluster_clients import Device, Sender, Storm
from prometheus import scrape, value
from support import run_async, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from redis_server import SentinelGroup  # noqa: E402

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

FLAGS = {"presence_grace": 1, "node_ttl": 3}
MEMBERS = 10
PER_SENDER = 50
SETTLE_S = 20.0


def master_metrics(cluster, node: int) -> tuple[set[str], float]:
    """The master addresses node `node` reports in use, and its failovers counted."""
    families, _ = scrape(cluster.port(node))
    family = families.get("ringcast_redis_master")
    addresses = {s.labels["address"] for s in family.samples if s.value == 1} if family else set()
    return addresses, value(families, "ringcast_redis_failovers")


async def follows(cluster, new_master) -> None:
    """Both nodes use `new_master` and counted a failover (10 s at most)."""
    want = f"{new_master.host}:{new_master.port}"
    for node in (0, 1):
        await wait_until(lambda: (lambda m: m[0] == {want} and m[1] >= 1)(
            master_metrics(cluster, node)), 10,
            lambda: f"node {node + 1} metrics: {master_metrics(cluster, node)}, want {want}")


async def presence_crosses(cluster, api) -> None:
    """A user connecting to node 1 is online for a contact on node 2, offline once gone."""
    a, b = api.new_users(2, "hapres")
    api.direct(a, b)
    cb = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
    ca = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
    try:
        await cb.wait_type("presence", user=a.id, status="online", timeout=10)
        mark = cb.mark()
        await ca.close()
        await cb.wait_type("presence", start=mark, user=a.id, status="offline", timeout=10)
    finally:
        await close_all([ca, cb])


@pytest.mark.timeout(60)
def test_sentinel_failover_during_a_storm_loses_nothing(cluster_factory, tmp_path):
    group = SentinelGroup.start(tmp_path / "sentinel")
    try:
        cluster = cluster_factory(2, redis_url=group.url(), threads=(2, 1), flags=FLAGS)
        api = cluster.api(0)
        assert master_metrics(cluster, 0) == ({f"127.0.0.1:{group.master.port}"}, 0)
        users = api.new_users(MEMBERS, "ha")
        conv = cluster.api(1).group(users[0], users[1:], "ha")

        async def go():
            devices = [Device(u, f"u{i}", conv) for i, u in enumerate(users)]
            await asyncio.gather(*(d.connect(cluster.port(i % 2), i % 2)
                                   for i, d in enumerate(devices)))
            senders = [Sender(devices[i], i, PER_SENDER, interval=0.03) for i in range(3)]
            storm = Storm(lambda: cluster.ports, conv, devices, senders)
            failover: dict = {}

            async def disruption(storm: Storm):
                await storm.wait_acked(storm.total // 4)
                old = await asyncio.to_thread(group.kill_master)
                new = await asyncio.to_thread(group.wait_failover, 20)
                failover["from"], failover["to"] = old.port, new.port
                await follows(cluster, new)

            try:
                figures = await storm.outcome(disruption, SETTLE_S)
                assert figures["survivors"] == len(devices), figures
                await presence_crosses(cluster, api)
                return figures, failover
            finally:
                await close_all([c for d in devices for c in d.conns])

        figures, failover = run_async(go(), 50)
        print(f"Sentinel failover: {failover}, {figures}")
    finally:
        group.stop()


@pytest.mark.timeout(60)
def test_sentinel_with_acl_users_and_passwords(cluster_factory, tmp_path):
    group = SentinelGroup.start(tmp_path / "sentinel", user="chat", password="p@ss/word",
                                sentinel_user="watcher", sentinel_password="s3nt?nel")
    try:
        url = group.url()
        assert "sentinel_user=watcher" in url and "sentinel_password=" in url, url
        cluster = cluster_factory(2, redis_url=url, threads=(1, 1), flags=FLAGS)
        api = cluster.api(0)
        x, y = api.new_users(2, "haacl")
        dm = api.direct(x, y)

        async def exchange(cx, cy, body: str) -> None:
            ack = await cx.send(dm, body)
            m = await cy.wait_message(dm, lambda m: m["id"] == ack["id"], timeout=15)
            assert m["body"] == body, m

        async def go():
            cx = await ChatConn.connect(cluster.port(0), x.token, name="x@n1")
            cy = await ChatConn.connect(cluster.port(1), y.token, name="y@n2")
            try:
                await exchange(cx, cy, "before")
                await asyncio.to_thread(group.kill_master)
                new = await asyncio.to_thread(group.wait_failover, 20)
                await follows(cluster, new)
                await exchange(cy, cx, "after, back")
                await exchange(cx, cy, "after, forth")
                # Each side holds the three messages once, in order.
                for conn in (cx, cy):
                    got = [m["body"] for m in conn.typed("message") if m["conv"] == dm]
                    assert got == ["before", "after, back", "after, forth"], conn.describe()
                await presence_crosses(cluster, api)
            finally:
                await close_all([cx, cy])
            # No password in either node's log.
            for srv in cluster.nodes:
                log = srv.stderr_text() + srv.stdout_text()
                assert "p@ss" not in log and "s3nt" not in log, srv.stderr_path

        run_async(go(), 50)
    finally:
        group.stop()
