"""PostgreSQL read replicas (issue 28): --database-read-url names a streaming standby.

One test, in steps, on a primary and an asynchronous standby of its own (tools/pg_cluster.py):
- the standby named as --database-url: the server exits 1 saying so;
- history (HTTP), sync (/ws) and search are answered by the replica once it has replayed what this node
  knows committed (ringcast_db_replica_reads_total);
- replay paused on the standby (`pg_wal_replay_pause()`): reads that must see newer messages (the
  client's own acked ones: history, sync, search) fall back to the primary and return them
  (ringcast_db_replica_fallbacks_total{reason="stale"}), the lag shows in
  ringcast_db_replica_lag_bytes; replay resumed → the replica answers again;
- the standby stopped: reads are still answered (by the primary), /ready stays 200, the replica
  is reported down; started again → it answers again by itself.
"""

from __future__ import annotations

import time

import pytest

import prometheus
from chat_client import JWT_SECRET, Api, all_connected, chat_args
from pg_store import pg_cluster
from support import free_port, run_async, run_binary

pytestmark = pytest.mark.needs_pg


def metric(srv, name: str, **labels) -> float:
    families, _ = prometheus.scrape(srv.port)
    return prometheus.value(families, name, **labels)


def wait_until(pred, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (got := pred()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return got


@pytest.mark.timeout(120)
def test_reads_use_the_replica_without_reading_older_than_acked(pg_replica_pair,
                                                                server_factory, ringcast_bin,
                                                                tmp_path):
    primary, standby = pg_replica_pair
    # A standby named as the primary: refused at start with the reason.
    res = run_binary(ringcast_bin, ["--host", "127.0.0.1", "--port", free_port(), "--data-dir",
                                    tmp_path, "--database-url", standby.url("replica"),
                                    *chat_args(jwt_secret=JWT_SECRET)], timeout=30)
    assert res.returncode == 1 and "standby" in res.stderr, (res.returncode, res.stderr[-2000:])
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET), "--db-timeout-ms", "2000",
                         "--database-read-url", standby.url("replica"),
                         "--db-replica-max-lag-ms", "0",
                         database_url=primary.url("replica"), name="replica")
    api = Api(srv.port)
    a, b = api.new_users(2, "rr")
    conv = api.direct(a, b)
    created = time.monotonic()

    def replayed(seq: int) -> bool:
        rows = pg_cluster.psql_url(standby.url("replica"),
                                   f"SELECT last_seq FROM conversations WHERE id = {conv}")
        return rows.strip() != "" and int(rows) >= seq

    async def send(bodies: list[str]) -> list[int]:
        async with all_connected(srv.port, [a]) as [conn]:
            return [(await conn.send(conv, body))["seq"] for body in bodies]

    async def sync_from(after: int) -> list[int]:
        async with all_connected(srv.port, [b]) as [conn]:
            ev = await conn.call({"type": "sync", "convs": {str(conv): after}}, "sync")
            return [m["seq"] for m in ev["convs"][0]["messages"]]

    def history() -> list[int]:
        return [m["seq"] for m in api.all_messages(b, conv)]

    # 1. The replica answers once it has what this node acked.
    assert run_async(send([f"m{k}" for k in range(1, 6)]), 30) == [1, 2, 3, 4, 5]
    wait_until(lambda: replayed(5), "the standby replays seq 5")
    reads = metric(srv, "ringcast_db_replica_reads")
    assert history() == [1, 2, 3, 4, 5]
    assert run_async(sync_from(2), 30) == [3, 4, 5]
    # Search checks the caller's memberships: the conversation's creation sends b's searches to
    # the primary for --db-timeout-ms + max(--db-replica-max-lag-ms, --db-timeout-ms).
    time.sleep(max(0.0, created + 4.2 - time.monotonic()))
    r = api.request("GET", "/api/search?q=m3", token=b.token)
    assert r.status == 200 and [h["seq"] for h in r.json["results"]] == [3], r
    assert metric(srv, "ringcast_db_replica_reads") >= reads + 3
    assert metric(srv, "ringcast_db_replica_up") == 1

    # 2. Replay paused: what the replica lacks comes from the primary.
    standby.replay_pause()
    try:
        assert run_async(send(["n6", "n7", "n8"]), 30) == [6, 7, 8]
        assert not replayed(6)
        stale = metric(srv, "ringcast_db_replica_fallbacks", reason="stale")
        assert history() == list(range(1, 9))
        assert run_async(sync_from(5), 30) == [6, 7, 8]
        # Search too: the sender finds what it was just acked.
        r = api.request("GET", "/api/search?q=n7", token=a.token)
        assert r.status == 200 and [h["seq"] for h in r.json["results"]] == [7], r
        assert metric(srv, "ringcast_db_replica_fallbacks", reason="stale") >= stale + 3
        # The lag is measured by the reads, at most once a second.
        time.sleep(1.1)
        history()
        wait_until(lambda: metric(srv, "ringcast_db_replica_lag_bytes") > 0, "lag bytes > 0",
                   timeout=5)
    finally:
        standby.replay_resume()
    wait_until(lambda: replayed(8), "the standby replays seq 8")
    reads = metric(srv, "ringcast_db_replica_reads")
    assert history() == list(range(1, 9))
    assert metric(srv, "ringcast_db_replica_reads") > reads

    # 3. The replica down: reads are answered all the same, the node stays ready.
    lines_before = len(srv.stderr_text().splitlines())
    standby.stop("immediate")
    wait_until(lambda: metric(srv, "ringcast_db_replica_up") == 0, "replica reported down")
    assert history() == list(range(1, 9))
    assert run_async(sync_from(6), 30) == [7, 8]
    assert api.request("GET", "/ready").status == 200
    assert metric(srv, "ringcast_db_replica_fallbacks", reason="unusable") >= 1
    # 4. Back by itself.
    standby.start()
    wait_until(lambda: metric(srv, "ringcast_db_replica_up") == 1, "replica reported up again")
    reads = metric(srv, "ringcast_db_replica_reads")
    assert history() == list(range(1, 9))
    assert metric(srv, "ringcast_db_replica_reads") > reads
    # Logged once as it went and once as it came back.
    log = srv.stderr_text().splitlines()[lines_before:]
    assert sum("read replica unreachable" in line for line in log) == 1, log
    assert sum("read replica reachable again" in line for line in log) == 1, log
