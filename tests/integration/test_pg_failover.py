"""PostgreSQL failover (issue 28): ringcast on a multi-host URL
(postgresql://…@primary,standby/db?target_session_attrs=read-write) while the primary dies and its
streaming standby is promoted, and a primary turned read-only without a restart.

- Synchronous standby: a send storm (several users and conversations; each client resends after
  `unavailable`, as a real one does); `pg_ctl stop -m immediate` on the primary, the standby
  promoted a second later. Every attempt is answered (an ack or `unavailable`) in bounded time,
  the server reconnects to the promoted standby by itself, and at the end every acked message is
  on the new primary exactly once, as acked, each conversation's seqs gap-free, and each client
  saw its conversations' messages live in seq order and, with a sync after the storm, all of
  them: zero acked messages lost.
- Asynchronous standby: the same, with a window made real: the primary's WAL sender is stopped
  (SIGSTOP) while 50 more sends are acked, then killed with the primary, so the promoted standby
  lacks those commits (how many acked messages it lacks is printed). Nothing stored twice, the
  service recovers; the seqs the database hands out again are noticed by the conversations'
  owners (ringcast_chat_seq_rewinds_total), which publish the new messages rather than dropping
  them as already seen, so every connected client still gets every stored message live, in seq
  order (chat/README.md, "A database that lost acked commits").
- Read-only: `ALTER SYSTEM SET default_transaction_read_only = on` and a reload: sends answer
  `unavailable` (never hang), /ready says unreachable, the outage is logged once; writable again
  → sends succeed, recovery logged once.

Each test builds its own primary (+ standby) with tools/pg_cluster.py, not the session's server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

import pg_store
import prometheus
from chat_client import JWT_SECRET, Api, aio, all_connected, chat_args, close_all, connect_all
from pg_store import pg_cluster
from storm import Storm
from support import run_async

pytestmark = pytest.mark.needs_pg

DB_TIMEOUT_MS = 2000
SLACK_S = 1.5


@pytest.fixture
def clusters():
    made: list[pg_cluster.Cluster] = []

    def make(primary: pg_cluster.Cluster | None = None, synchronous: bool = False):
        if primary is None:
            cluster = pg_cluster.Cluster.create()
        else:
            cluster = pg_cluster.Cluster.create_standby(primary, synchronous=synchronous)
        cluster.watch_owner()
        made.append(cluster)
        return cluster

    yield make
    for cluster in reversed(made):
        cluster.destroy()


def new_database(primary: pg_cluster.Cluster, name: str) -> None:
    primary.psql(f"CREATE DATABASE {name} OWNER {pg_cluster.ROLE} TEMPLATE template0")


def stored_messages(url: str) -> dict[str, tuple[int, int, int]]:
    """cid → (conv, seq, id) of every message in the database at `url` (asserting each cid once)."""
    stored: dict[str, tuple[int, int, int]] = {}
    for cid, conv, seq, mid in pg_store.query(
            url, "SELECT client_msg_id, conversation_id, seq, id FROM messages "
                 "ORDER BY conversation_id, seq"):
        assert cid not in stored, f"{cid} stored twice"
        stored[cid] = (int(conv), int(seq), int(mid))
    return stored


async def sync_all(conn, conv: int, after: int) -> list[dict]:
    """Every message of `conv` after seq `after`, through `sync` (paging while `more`)."""
    out: list[dict] = []
    for _ in range(1000):
        ev = await conn.call({"type": "sync", "convs": {str(conv): after}}, "sync")
        entry = next(c for c in ev["convs"] if c["conv"] == conv)
        out += entry["messages"]
        if not entry["more"] or not entry["messages"]:
            return out
        after = entry["messages"][-1]["seq"]
    raise AssertionError("sync paging did not end")


def live(conn, conv: int) -> list[tuple[int, str]]:
    """(seq, body) of the messages `conn` got live in `conv`, in arrival order. The body names
    the message (its cid): after a failover that lost commits, ids are handed out again too."""
    return [(m["seq"], m["body"]) for m in conn.messages(conv)]


def failover_run(clusters, server_factory, *, synchronous: bool, tag: str):
    primary = clusters()
    db = f"failover_{tag}"
    new_database(primary, db)
    standby = clusters(primary, synchronous=synchronous)
    url = pg_cluster.multi_host_url([primary, standby], db)
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET, presence_grace=0, msg_rate=100000),
                         "--db-timeout-ms", DB_TIMEOUT_MS, database_url=url, name=tag)
    api = Api(srv.port)
    users = api.new_users(4, tag)
    group = api.group(users[0], users[1:], "everyone")
    dm01, dm23 = api.direct(users[0], users[1]), api.direct(users[2], users[3])
    convs_of = [[group, dm01], [dm01, group], [group, dm23], [dm23]]
    members = {group: [0, 1, 2, 3], dm01: [0, 1], dm23: [2, 3]}
    timeline: dict[str, float] = {}
    log_window: list[str] = []

    async def run():
        conns = await connect_all(srv.port, users)
        storm = Storm(conns, convs_of, answer_limit_s=DB_TIMEOUT_MS / 1000 + SLACK_S)

        async def failover():
            await storm.wait_acked(200, 20, "the storm does not get going")
            lines_before = len(srv.stderr_text().splitlines())
            if not synchronous:
                # Make the window real: the WAL sender stops sending (its commits go on being
                # acked), then the primary dies with what it did not send.
                (sender,) = pg_store.query(
                    primary.url(db), "SELECT pid FROM pg_stat_replication "
                                     f"WHERE application_name = '{standby.name}'")
                os.kill(int(sender[0]), signal.SIGSTOP)
                acked_at_stop = storm.acked()
                await storm.wait_acked(acked_at_stop + 50, 10,
                                       "no acks with the WAL sender stopped", interval=0.02)
                os.kill(int(sender[0]), signal.SIGKILL)
            timeline["down"] = time.monotonic()
            await aio(primary.stop, "immediate")
            await asyncio.sleep(1)
            timeline["promote"] = time.monotonic()
            await aio(standby.promote)
            acked_at_promote = storm.acked()
            await storm.wait_acked(acked_at_promote + 200, 30,
                                   "sends do not succeed after the promotion", every_client=True)
            timeline["recovered"] = time.monotonic()
            # Every connection back (readers may trail the writers): the recovery is logged.
            deadline = time.monotonic() + 10
            while (await aio(api.request, "GET", "/ready")).status != 200:
                assert time.monotonic() < deadline, "/ready not 200 after the promotion"
                await asyncio.sleep(0.1)
            log_window.extend(srv.stderr_text().splitlines()[lines_before:])
            storm.stop_new.set()

        try:
            await storm.run(failover())
            await asyncio.sleep(0.5)  # The last publications reach every session.
        finally:
            await close_all(conns)
        # A sync leaves out what its connection got live: ask on new connections.
        fresh = await connect_all(srv.port, users)
        try:
            synced = {}
            for i, conn in enumerate(conns):
                for conv in {c for c, m in members.items() if i in m}:
                    synced[(i, conv)] = (live(conn, conv), await sync_all(fresh[i], conv, 0))
        finally:
            await close_all(fresh)
        return storm.clients, synced

    clients, synced = run_async(run(), 120)

    late = [x for c in clients for x in c.late]
    assert not late, f"answers later than {DB_TIMEOUT_MS} ms + {SLACK_S} s: {late[:10]}"
    others = [e for c in clients for e in c.other_errors]
    assert not others, f"errors other than unavailable: {others[:5]}"
    unavailable = sum(c.unavailable for c in clients)
    # (A send waiting less than --db-timeout-ms for the promotion is acked, not refused: a run
    # may see no `unavailable` at all.)
    # Logged once as it began and once as it ended, not per failed request or connection (and
    # once per conversation that the database rewound).
    assert any("unreachable" in line for line in log_window), log_window
    assert any("reachable again" in line for line in log_window), log_window
    assert len(log_window) <= 6 + len(members), "\n".join(log_window[:40])

    sent = {cid: v for c in clients for cid, v in c.sent.items()}
    acks = {cid: a for c in clients for cid, a in c.acks.items()}
    assert set(acks) == set(sent), f"unacked at the end: {sorted(set(sent) - set(acks))[:10]}"
    new_url = standby.url(db)
    assert pg_store.query(new_url, "SELECT pg_is_in_recovery()") == [("f",)]
    stored = stored_messages(new_url)
    assert set(stored) <= set(sent), f"stored, never sent: {sorted(set(stored) - set(sent))[:5]}"
    lost = sorted(cid for cid in acks if cid not in stored)
    for conv in members:
        seqs = sorted(seq for cv, seq, _ in stored.values() if cv == conv)
        assert seqs == list(range(1, len(seqs) + 1)), f"conv {conv}: seqs not gap-free"
    if synchronous:
        assert not lost, f"{len(lost)} acked messages lost with a synchronous standby: {lost[:10]}"
        wrong = [(cid, stored[cid], a) for cid, a in acks.items()
                 if stored[cid] != (a["conv"], a["seq"], a["id"])]
        assert not wrong, f"acks that disagree with the new primary: {wrong[:5]}"
    else:
        assert lost, "the WAL sender was stopped, yet the promoted standby lost nothing"
    lost_bodies = {sent[cid][1] for cid in lost}
    # The database handed the lost seqs out again: each conversation's owner followed it
    # (ringcast_chat_seq_rewinds_total) and the connected clients got the new messages at
    # those seqs live too.
    rewound = {acks[cid]["conv"] for cid in lost}
    families, _ = prometheus.scrape(srv.port)
    rewinds = prometheus.value(families, "ringcast_chat_seq_rewinds")
    assert (1 <= rewinds <= len(rewound)) if lost else rewinds == 0, (rewinds, rewound)
    # Every client got every stored message of its conversations live, in seq order, once; and
    # the same through sync. Live, it may also have got the lost ones (acked, then gone with
    # the old primary), and nothing else.
    for (i, conv), (got, through_sync) in synced.items():
        expect = sorted((seq, sent[cid][1]) for cid, (cv, seq, _) in stored.items() if cv == conv)
        assert [(m["seq"], m["body"]) for m in through_sync] == expect, \
            f"client {i}, conv {conv}: sync disagrees with the new primary"
        kept = [x for x in got if x in set(expect)]
        assert kept == expect, \
            (f"client {i}, conv {conv}: live delivery missed, repeated or reordered stored "
             f"messages: missing {sorted(set(expect) - set(kept))[:10]}, got {kept[-20:]}")
        extra = [x for x in got if x not in set(expect)]
        assert all(body in lost_bodies for _, body in extra), \
            f"client {i}, conv {conv}: delivered live, never stored nor acked: {extra[:10]}"
    print(f"{'sync' if synchronous else 'async'} standby: {len(sent)} messages, {len(acks)} "
          f"acked, {len(lost)} acked and lost{' ' + str(lost[:10]) if lost else ''}, "
          f"{unavailable} unavailable answers, sends acked again "
          f"{timeline['recovered'] - timeline['promote']:.1f} s after the promotion; logged:\n"
          + "\n".join(log_window))
    return lost


@pytest.mark.timeout(120)
def test_failover_to_a_synchronous_standby_loses_no_acked_message(clusters, server_factory):
    failover_run(clusters, server_factory, synchronous=True, tag="sync")


@pytest.mark.timeout(120)
def test_failover_to_an_asynchronous_standby_measures_the_window(clusters, server_factory):
    failover_run(clusters, server_factory, synchronous=False, tag="async")


@pytest.mark.timeout(90)
def test_primary_turned_read_only_answers_unavailable_then_recovers(clusters, server_factory):
    primary = clusters()
    new_database(primary, "readonly")
    url = primary.url("readonly")
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET), "--db-timeout-ms", DB_TIMEOUT_MS,
                         database_url=url, name="readonly")
    api = Api(srv.port)
    a, b = api.new_users(2, "ro")
    conv = api.direct(a, b)

    async def run():
        async with all_connected(srv.port, [a]) as [conn]:
            assert (await conn.send(conv, "before"))["seq"] == 1
            lines_before = len(srv.stderr_text().splitlines())
            await aio(primary.psql, "ALTER SYSTEM SET default_transaction_read_only = on")
            await aio(primary.reload)
            # Every send is answered in time, `unavailable` while the server refuses writes.
            answers = []
            for k in range(3):
                started = time.monotonic()
                ev = await conn.send_raw(conv, f"during {k}", cid=f"ro-{k}",
                                         timeout=DB_TIMEOUT_MS / 1000 + SLACK_S + 5)
                answers.append((ev, time.monotonic() - started))
            assert all(ev["type"] == "error" and ev["code"] == "unavailable"
                       for ev, _ in answers), answers
            assert max(t for _, t in answers) <= DB_TIMEOUT_MS / 1000 + SLACK_S, answers
            ready = await aio(api.request, "GET", "/ready")
            assert ready.status == 503, ready
            await aio(primary.psql, "ALTER SYSTEM RESET default_transaction_read_only")
            await aio(primary.reload)
            # Writable again: the same cid goes through (the refused attempts stored nothing).
            deadline = time.monotonic() + 15
            while True:
                ev = await conn.send_raw(conv, "during 0", cid="ro-0", timeout=10)
                if ev["type"] == "ack":
                    break
                assert ev.get("code") == "unavailable", ev
                assert time.monotonic() < deadline, "sends still refused once writable again"
                await asyncio.sleep(0.2)
            assert ev["seq"] == 2, ev
            await asyncio.sleep(0.5)
            return srv.stderr_text().splitlines()[lines_before:]

    log = run_async(run(), 60)
    assert sum("read-only" in line and "unreachable" in line for line in log) == 1, log
    assert sum("reachable again" in line for line in log) == 1, log
    rows = pg_store.query(url, "SELECT client_msg_id, seq FROM messages ORDER BY seq")
    assert [seq for _, seq in rows] == ["1", "2"] and rows[1][0] == "ro-0", rows


@pytest.mark.timeout(90)
def test_owner_follows_a_database_that_lost_acked_commits(pg_server, server_factory):
    """What a failover to an asynchronous standby that lacked the newest commits does, made
    deterministic: the newest messages of a conversation are taken out of the database behind
    the server's back, so the next send gets a seq that was published already. The owner notices
    (log, ringcast_chat_seq_rewinds_total), drops what it cached of the lost history and
    publishes the new message and the next ones instead of dropping them as already seen."""
    url = pg_server.create_database()
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET), database_url=url, name="rewind")
    api = Api(srv.port)
    a, b = api.new_users(2, "rw")
    conv = api.direct(a, b)

    async def run():
        async with all_connected(srv.port, [a, b]) as [ca, cb]:
            for k in range(1, 4):
                assert (await ca.send(conv, f"old {k}", cid=f"old-{k}"))["seq"] == k
            await cb.wait_count(lambda e: e.get("type") == "message", 3)
            # seqs 2 and 3 "lost": as if the primary that acked them was replaced by a standby
            # that never received them.
            await aio(pg_store.query, url,
                      f"DELETE FROM messages WHERE conversation_id = {conv} AND seq >= 2; "
                      f"UPDATE conversations SET last_seq = 1 WHERE id = {conv}")
            new = await ca.send(conv, "new 2", cid="new-2")
            assert new["seq"] == 2, new
            # A connection that arrives now gets the next one live (it would be dropped as
            # already published), and history no longer serves the lost messages.
            (cc,) = await connect_all(srv.port, [b])
            try:
                mark = cc.mark()
                nxt = await ca.send(conv, "new 3", cid="new-3")
                assert nxt["seq"] == 3, nxt
                got = await cc.wait_message(conv, lambda e: e["seq"] == 3, start=mark)
                assert got["body"] == "new 3", got
            finally:
                await close_all([cc])
            # While sessions are in the conversation its owner answers history from its cache.
            return await aio(api.all_messages, b, conv)

    history = run_async(run(), 60)
    assert [(m["seq"], m["body"]) for m in history] == \
        [(1, "old 1"), (2, "new 2"), (3, "new 3")], history
    families, _ = prometheus.scrape(srv.port)
    assert prometheus.value(families, "ringcast_chat_seq_rewinds") == 1
    assert sum("lost acknowledged commits" in line
               for line in srv.stderr_text().splitlines()) == 1, srv.stderr_text()[-2000:]
