"""Read replicas in cluster mode keep read-your-writes (issue 44, item 13; storage/README.md,
"Read replicas"; docs/cluster.md, "High availability").

Three nodes share a PostgreSQL primary and read from an asynchronous standby of it
(--database-read-url, no lag bound) whose replay is paused: n1 with the default flags (its sends
go to each conversation's writer node, which may be any of the three), n3 with
--no-forward-sends (it commits its own sends), and n2, where the reads go, as the shipped nginx
may send any request to any node. For conversations n2 follows (a member's connection is on it)
and conversations it does not, a message acked through n1 or n3, and an edit answered over HTTP
by n1, must be in `GET …/messages` answered by n2 right after: with no `seen` (n2 cannot know
what another node acked a moment ago: the primary answers) and with `seen` naming the acked seq
(the replica lacks it: the primary answers). A read that names a seq the replica holds is still
answered there.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import prometheus
from chat_client import connected
from pg_store import pg_cluster
from support import run_async

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

CONVS_EACH = 8  # Conversations n2 follows, and as many it does not.


def metric(srv, name: str, **labels) -> float:
    families, _ = prometheus.scrape(srv.port)
    return prometheus.value(families, name, **labels)


@pytest.mark.timeout(90)
def test_a_message_acked_on_one_node_is_read_on_another_while_the_replica_lags(
        pg_replica_pair, cluster_factory):
    primary, standby = pg_replica_pair
    cluster = cluster_factory(
        3, database_url=primary.url("replica"), threads=(1,),
        args=("--database-read-url", standby.url("replica"), "--db-replica-max-lag-ms", "0"),
        node_args=lambda index: ["--no-forward-sends"] if index == 2 else [])
    api1, api2 = cluster.api(0), cluster.api(1)
    reader_node = cluster.nodes[1]
    a, b, c = api1.new_users(3, "rr")
    followed = [api1.group(a, [b.id], name=f"f{k}") for k in range(CONVS_EACH)]
    unfollowed = [api1.group(a, [c.id], name=f"u{k}") for k in range(CONVS_EACH)]
    reader = {conv: b for conv in followed} | {conv: c for conv in unfollowed}

    def seqs(conv: int, seen: int | None = None, want: int = 200) -> list[int]:
        r = api2.messages(reader[conv], conv, limit=want, seen=seen)
        assert r.status == 200, r
        return [m["seq"] for m in r.json["messages"]]

    def replayed() -> bool:
        ids = ",".join(str(conv) for conv in reader)
        held = pg_cluster.psql_url(
            standby.url("replica"),
            f"SELECT count(*) FROM conversations WHERE id IN ({ids}) AND last_seq >= 1")
        return held.strip() == str(len(reader))

    async def go():
        # b's connection makes n2 follow b's conversations; c is on no node, so n2 follows
        # c's only while a request of its own is in them.
        async with connected((cluster.port(0), a.token, "a@n1"), (cluster.port(2), a.token, "a@n3"),
                             (cluster.port(1), b.token, "b@n2")) as [a1, a3, _]:
            for conv in reader:
                assert (await a1.send(conv, "before the pause"))["seq"] == 1
            deadline = time.monotonic() + 15
            while not replayed():
                assert time.monotonic() < deadline, "the standby did not replay seq 1 in 15 s"
                await asyncio.sleep(0.05)
            standby.replay_pause()
            try:
                # What the client names and the replica holds: answered there.
                reads = metric(reader_node, "ringcast_db_replica_reads")
                for conv in reader:
                    assert seqs(conv, seen=1) == [1]
                assert metric(reader_node, "ringcast_db_replica_reads") >= reads + len(reader)

                stale = []
                checked = 0
                for conv in reader:
                    for sender in (a1, a3):
                        ack = await sender.send(conv, f"from {sender.name}")
                        for seen in (None, ack["seq"]):
                            checked += 1
                            got = seqs(conv, seen)
                            if ack["seq"] not in got:
                                stale.append((conv, sender.name, seen, ack["seq"], got))
                # An edit answered over HTTP by n1 (never forwarded: n1 commits it).
                for conv in (followed[0], unfollowed[0]):
                    r = api1.request("PATCH", f"/api/conversations/{conv}/messages/1",
                                     {"body": "edited"}, token=a.token)
                    assert r.status == 200, r
                    for seen in (None, r.json["seq"]):
                        checked += 1
                        r2 = api2.messages(reader[conv], conv, limit=200, seen=seen)
                        first = [m for m in r2.json["messages"] if m["seq"] == 1]
                        if [m.get("body") for m in first] != ["edited"]:
                            stale.append((conv, "PATCH@n1", seen, r.json["seq"], first))
                assert not stale, (f"{len(stale)} of {checked} reads through n2 lacked what was "
                                   f"acked: (conv, sender, seen, acked seq, got) {stale}")
                assert metric(reader_node, "ringcast_db_replica_fallbacks", reason="unnamed") > 0
                assert metric(reader_node, "ringcast_db_replica_fallbacks", reason="stale") > 0
            finally:
                standby.replay_resume()

    run_async(go(), 80)
