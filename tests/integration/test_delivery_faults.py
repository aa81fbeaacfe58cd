"""Live delivery across store faults (issue 29): whatever the store answers late, loses or
reports as a duplicate, every committed seq reaches every member's connection once, in seq
order, with no gap and no `sync` from the client (proto/PROTOCOL.md, "Delivery").

A send storm (storm.StormClient: unique cids, `unavailable` answered by a resend of the same
cid) runs from one connection per user while a second connection per user only listens; in the
middle of it the store stalls for longer than --db-timeout-ms or crashes:
- PostgreSQL stalled: SIGSTOP to the postmaster and every backend, SIGCONT 6 s later. Commits
  whose answers the server gave up on finish after the SIGCONT; their resends come back as
  duplicates after later seqs went out, which is how seqs went missing live before.
- PostgreSQL crashed: `pg_ctl stop -m immediate`, started again 3 s later.
- SQLite stalled: another process holds the database's write lock (BEGIN IMMEDIATE) for longer
  than the store's busy timeout, so whole batches fail and are resent.
Then every connection, the listeners and the senders alike, must hold exactly the seqs 1..head
of each of its conversations, in order, each once, where head is the newest stored seq.

Each case also runs on a cluster of two nodes (PostgreSQL and Redis), where the two connections
of a user sit on different nodes. RINGCAST_FAULT_ROUNDS=N runs every case N times (default 1;
issue 29 asks for 10 in a row, which is a manual run: tests/README.md).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

import cluster as cluster_mod
import pg_store
from chat_client import JWT_SECRET, Api, aio, chat_args, close_all, connect_all
from pg_store import pg_cluster
from storm import Storm
from support import run_async

DB_TIMEOUT_MS = 1500
STALL_S = 6
ROUNDS = range(int(os.environ.get("RINGCAST_FAULT_ROUNDS", "1")))
USERS = 5
# Acks before the fault, and after the recovery, before the storm stops.
ACKS_BEFORE, ACKS_AFTER = 200, 200

pytestmark = [pytest.mark.slow]


# A cluster of its own (these tests stop PostgreSQL).
pg = pytest.fixture(scope="module")(pg_store.own_cluster)


# --------------------------------------------------------------------------------------------
# Faults: each runs in a thread and returns once the store serves again.


def postgres_pids(pg: pg_cluster.Cluster) -> list[int]:
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            pids.append(int(entry))
    return pids


def stall_postgres(pg: pg_cluster.Cluster) -> None:
    pids = postgres_pids(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_S)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def crash_postgres(pg: pg_cluster.Cluster) -> None:
    pg.stop("immediate")
    time.sleep(3)
    pg.start()


def stall_sqlite(db_path) -> None:
    # Longer than the store's busy timeout (5 s, storage/sqlite_db.h), so the writer's BEGIN
    # gives up and its batches fail.
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        time.sleep(STALL_S + 1)
        db.execute("ROLLBACK")
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# The storm and what every connection must hold afterwards


def run_storm(ports: list[int], api: Api, fault) -> dict:
    """Users, a group of all and a 1:1 per pair of neighbours; per user a sending connection on
    ports[i % n] and a listening one on the next port. Runs `fault` (in a thread) once the
    storm is going. Returns what the checks need."""
    users = api.new_users(USERS, "fault")
    group = api.group(users[0], users[1:], "everyone")
    directs = [api.direct(users[i], users[i + 1]) for i in range(0, USERS - 1, 2)]
    convs_of = [[group] + [d for k, d in enumerate(directs) if i in (2 * k, 2 * k + 1)]
                for i in range(USERS)]
    members = {group: set(range(USERS))}
    for k, d in enumerate(directs):
        members[d] = {2 * k, 2 * k + 1}
    limit_s = DB_TIMEOUT_MS / 1000 + 8  # An SQLite batch waits out the busy timeout first.

    async def storm():
        senders = []
        listeners = []
        for i, u in enumerate(users):
            senders += await connect_all(ports[i % len(ports)], [u])
            listeners += await connect_all(ports[(i + 1) % len(ports)], [u])
        storm = Storm(senders, convs_of, answer_limit_s=limit_s)

        async def drive():
            await storm.wait_acked(ACKS_BEFORE, 30, "the storm does not get going")
            await aio(fault)
            after = storm.acked()
            await storm.wait_acked(after + ACKS_AFTER, 60, "sends do not succeed after the fault")
            storm.stop_new.set()

        try:
            await storm.run(drive())
            heads = {}
            for c in storm.clients:
                for a in c.acks.values():
                    heads[a["conv"]] = max(heads.get(a["conv"], 0), a["seq"])
            # Everything acked reaches every member's connections (a few seconds at most: a
            # gap is filled from the store).
            conns = [(i, c) for i, c in enumerate(senders)] + \
                    [(i, c) for i, c in enumerate(listeners)]
            for i, c in conns:
                for conv, head in heads.items():
                    if i not in members[conv]:
                        continue
                    try:
                        await c.wait_for(
                            lambda e, conv=conv, head=head: e.get("type") == "message"
                            and e.get("conv") == conv and e.get("seq") == head,
                            timeout=15, what=f"seq {head} in conv {conv}")
                    except AssertionError:
                        pass  # Reported with the whole stream below.
            received = {(i, id(c)): c for i, c in conns}
            return storm.clients, received, heads
        finally:
            await close_all(senders + listeners)

    clients, received, heads = run_async(storm(), 150)
    others = [e for c in clients for e in c.other_errors]
    assert not others, f"errors other than unavailable: {others[:5]}"
    sent = {cid for c in clients for cid in c.sent}
    acks = {cid: a for c in clients for cid, a in c.acks.items()}
    assert set(acks) == sent, f"unacked at the end: {sorted(sent - set(acks))[:10]}"
    return {"clients": clients, "received": received, "heads": heads, "members": members,
            "acks": acks, "unavailable": sum(c.unavailable for c in clients)}


def assert_every_connection_has_every_seq_once(result: dict) -> None:
    problems = []
    for (i, _), conn in result["received"].items():
        for conv, head in result["heads"].items():
            if i not in result["members"][conv]:
                continue
            seqs = [e["seq"] for e in conn.messages(conv)]
            if seqs != list(range(1, head + 1)):
                missing = sorted(set(range(1, head + 1)) - set(seqs))
                twice = sorted({s for s in seqs if seqs.count(s) > 1})
                disorder = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
                problems.append(f"{conn.name} conv {conv}: {len(seqs)} messages for head {head};"
                                f" missing {missing[:10]}, twice {twice[:10]}, "
                                f"out of order {disorder[:5]}")
    assert not problems, "\n".join(problems[:20])
    # The acks agree with what was delivered.
    by_seq = {}
    for conn in result["received"].values():
        for e in conn.messages():
            by_seq.setdefault((e["conv"], e["seq"]), e["id"])
    wrong = [(cid, a) for cid, a in result["acks"].items()
             if by_seq.get((a["conv"], a["seq"])) != a["id"]]
    assert not wrong, f"acks that disagree with the messages delivered: {wrong[:5]}"


def stored_seqs_are_gap_free(url: str) -> None:
    rows = pg_store.query(url, "SELECT conversation_id, seq FROM messages ORDER BY 1, 2")
    by_conv: dict[int, list[int]] = {}
    for conv, seq in rows:
        by_conv.setdefault(int(conv), []).append(int(seq))
    for conv, seqs in by_conv.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"conv {conv}: stored seqs not gap-free"


# --------------------------------------------------------------------------------------------
# One node


def single_node(server_factory, pg, url=None):
    args = chat_args(jwt_secret=JWT_SECRET, presence_grace=0, msg_rate=100000)
    return server_factory(*args, "--db-timeout-ms", DB_TIMEOUT_MS, database_url=url,
                          name="node")


@pytest.mark.needs_pg
@pytest.mark.parametrize("fault", ["stall", "crash"])
@pytest.mark.parametrize("round_", ROUNDS)
@pytest.mark.timeout(200)
def test_one_node_on_postgres_delivers_every_committed_seq_live(pg, server_factory, fault,
                                                                 round_):
    _, url = pg_store.own_database(pg, "delivery")
    srv = single_node(server_factory, pg, url)
    action = {"stall": lambda: stall_postgres(pg), "crash": lambda: crash_postgres(pg)}[fault]
    result = run_storm([srv.port], Api(srv.port), action)
    assert result["unavailable"] > 0, "the fault was never felt"
    assert_every_connection_has_every_seq_once(result)
    stored_seqs_are_gap_free(url)


@pytest.mark.parametrize("round_", ROUNDS)
@pytest.mark.timeout(200)
def test_one_node_on_sqlite_delivers_every_committed_seq_after_a_stall(server_factory, round_):
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET, presence_grace=0, msg_rate=100000),
                         name="node")
    db_path = srv.data_dir / "chat.db"
    result = run_storm([srv.port], Api(srv.port), lambda: stall_sqlite(db_path))
    assert result["unavailable"] > 0, "the stall was never felt"
    assert_every_connection_has_every_seq_once(result)


# --------------------------------------------------------------------------------------------
# Two nodes


@pytest.mark.needs_pg
@pytest.mark.needs_redis
@pytest.mark.parametrize("fault", ["stall", "crash"])
@pytest.mark.parametrize("round_", ROUNDS)
@pytest.mark.timeout(240)
def test_two_nodes_deliver_every_committed_seq_live(pg, ringcast_bin, tmp_path, request, fault,
                                                    round_):
    _, url = pg_store.own_database(pg, "delivery")
    redis_url = request.getfixturevalue("session_redis").url
    nodes = cluster_mod.Cluster(ringcast_bin, tmp_path / "cluster", database_url=url,
                                redis_url=redis_url, threads=(2, 1),
                                flags={"msg_rate": 100000, "presence_grace": 0,
                                       "db_timeout_ms": DB_TIMEOUT_MS},
                                secrets=[pg.password])
    try:
        nodes.start(2)
        action = {"stall": lambda: stall_postgres(pg),
                  "crash": lambda: crash_postgres(pg)}[fault]
        result = run_storm(nodes.ports, nodes.api(0), action)
        assert result["unavailable"] > 0, "the fault was never felt"
        assert_every_connection_has_every_seq_once(result)
        stored_seqs_are_gap_free(url)
    finally:
        problems = nodes.finish()
    assert not problems, "\n".join(problems)
