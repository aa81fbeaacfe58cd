"""PostgreSQL faults (issue 9): the database going away under a send storm, and start-up errors.

- Outage: `pg_ctl stop -m immediate` (a crash, as far as clients can tell) during a send storm
  from several connections (several users, several conversations; each client sends with unique
  cids and resends what was not acked), started again 10 s later. Every attempt is answered, an
  ack or {"type":"error","code":"unavailable"}, within --db-timeout-ms + slack; HTTP reads answer
  503 meanwhile, and so does GET /ready (`{"ready":false,"store":"unreachable"}`, 200 again
  once the database is back); the server reconnects by itself; every message is then stored exactly once with
  its ack's conversation, seq and id, seqs are gap-free per conversation (read straight from the
  database, and through the server), and the server logs the outage a bounded number of times,
  not once per request.
- /ready without traffic: 503 within --db-timeout-ms of PostgreSQL stopping, 200 again once it
  is back, with no request needed to notice either.
- Start-up: a malformed URL, a refused connection, a wrong password, a missing database and a
  role that may not create the schema each end in exit status 1 with a short reason.
- Everywhere: the password of the URL never appears in the server's output.

kill -9 of ringcast under load on PostgreSQL, restarted on the same database (every acked message
exactly once, seqs gap-free, the next send at last_seq + 1): test_chat_restart.py[pg].

These tests stop PostgreSQL, so they use a cluster of their own (tools/pg_cluster.py), not the
session's.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

import pg_store
from chat_client import JWT_SECRET, Api, aio, chat_args, close_all, connect_all
from pg_store import pg_cluster
from storm import Storm
from support import free_port, run_async, run_binary

pytestmark = pytest.mark.needs_pg

DB_TIMEOUT_MS = 2000
# How late past --db-timeout-ms an answer may come: the server's timer granularity, a debug
# build on a loaded 2-core machine, and our own event loop.
SLACK_S = 1.5
OUTAGE_S = 10
DB_CONNECTIONS = 2 + 2  # The defaults of --db-writers and --db-readers.


# A cluster of its own (these tests stop PostgreSQL).
cluster = pytest.fixture(scope="module")(pg_store.own_cluster)


# --------------------------------------------------------------------------------------------
# The outage


def stderr_lines(srv) -> list[str]:
    return srv.stderr_text().splitlines()


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_outage_answers_unavailable_in_time_and_loses_nothing(cluster, server_factory):
    _, url = pg_store.own_database(cluster, "fault")
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET, presence_grace=0, msg_rate=100000),
                         "--db-timeout-ms", DB_TIMEOUT_MS, database_url=url, name="outage")
    api = Api(srv.port)
    users = api.new_users(6, "outage")
    group = api.group(users[0], users[1:], "everyone")
    dm01, dm23, dm45 = (api.direct(users[i], users[i + 1]) for i in (0, 2, 4))
    convs_of = [[group, dm01], [group, dm01], [group, dm23], [group, dm23], [dm45, group],
                [dm45]]
    timeline: dict[str, float] = {}

    def timed_read(user) -> tuple[int, float]:
        started = time.monotonic()
        status = api.request("GET", "/api/conversations", token=user.token).status
        return status, time.monotonic() - started
    reads: list[tuple[int, float]] = []  # (status, seconds) of each HTTP read in the outage
    log_window: list[str] = []
    readiness: list = []  # GET /ready in the outage, then once sends succeed again.

    async def storm():
        conns = await connect_all(srv.port, users)
        storm = Storm(conns, convs_of, answer_limit_s=DB_TIMEOUT_MS / 1000 + SLACK_S)

        async def outage():
            await storm.wait_acked(300, 20, "the storm does not get going")
            lines_before = len(stderr_lines(srv))
            timeline["down"] = time.monotonic()
            await aio(cluster.stop, "immediate")
            # Reads while the database is away, all at once: 503 within the timeout each.
            await asyncio.sleep(1)
            reads.extend(await asyncio.gather(*(aio(timed_read, u) for u in users * 2)))
            readiness.append(await aio(api.request, "GET", "/ready"))
            await asyncio.sleep(OUTAGE_S - (time.monotonic() - timeline["down"]))
            acked_at_restart = storm.acked()
            timeline["up"] = time.monotonic()
            await aio(cluster.start)
            # Recovered once acks flow again for every client that sends.
            await storm.wait_acked(acked_at_restart + 300, 60,
                                   "sends do not succeed again after recovery", every_client=True)
            timeline["recovered"] = time.monotonic()
            # Ready again once every database connection is back (readers may trail writers).
            deadline = time.monotonic() + 10
            while (ready := await aio(api.request, "GET", "/ready")).status != 200 and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            readiness.append(ready)
            await asyncio.sleep(1)
            log_window.extend(stderr_lines(srv)[lines_before:])
            storm.stop_new.set()

        try:
            await storm.run(outage())
        finally:
            await close_all(conns)
        return storm.clients

    clients = run_async(storm(), 120)

    # Every attempt was answered in time, with an ack or `unavailable` only.
    late = [x for c in clients for x in c.late]
    assert not late, f"{len(late)} answers later than {DB_TIMEOUT_MS} ms + {SLACK_S} s: {late[:10]}"
    others = [e for c in clients for e in c.other_errors]
    assert not others, f"errors other than unavailable: {others[:5]}"
    unavailable = sum(c.unavailable for c in clients)
    assert unavailable >= 6, f"only {unavailable} unavailable answers during a {OUTAGE_S} s outage"
    assert reads and all(status == 503 for status, _ in reads), reads
    assert max(took for _, took in reads) <= DB_TIMEOUT_MS / 1000 + SLACK_S, reads
    # /ready (proto/PROTOCOL.md, docs/cluster.md) takes the node out while the store is away and
    # back once it serves again.
    down, up = readiness
    assert (down.status, down.json) == (503, {"ready": False, "store": "unreachable"}), down
    assert (up.status, up.json) == (200, {"ready": True, "store": "ok"}), up

    # The outage is logged, but not once per failed request (there were len(reads) failed
    # reads and `unavailable` failed sends): at most a line per database connection as it
    # fails and as it comes back, and a couple more.
    bound = 2 * DB_CONNECTIONS + 2
    assert log_window, "nothing logged about the outage"
    assert len(log_window) <= bound, \
        f"{len(log_window)} log lines during the outage ({unavailable} unavailable answers); " \
        f"expected at most {bound}:\n" + "\n".join(log_window[:40])

    # Every message stored exactly once, as acked; every send eventually acked.
    sent = {cid: v for c in clients for cid, v in c.sent.items()}
    acks = {cid: a for c in clients for cid, a in c.acks.items()}
    assert set(acks) == set(sent), f"unacked at the end: {sorted(set(sent) - set(acks))[:10]}"
    rows = pg_store.query(url, "SELECT client_msg_id, conversation_id, seq, id FROM messages "
                               "ORDER BY conversation_id, seq")
    stored: dict[str, tuple[int, int, int]] = {}
    for cid, conv, seq, mid in rows:
        assert cid not in stored, f"{cid} stored twice"
        stored[cid] = (int(conv), int(seq), int(mid))
    assert set(stored) == set(sent), \
        (f"stored but never sent: {sorted(set(stored) - set(sent))[:5]}; "
         f"sent but not stored: {sorted(set(sent) - set(stored))[:5]}")
    wrong = [(cid, stored[cid], a) for cid, a in acks.items()
             if stored[cid] != (a["conv"], a["seq"], a["id"]) or sent[cid][0] != a["conv"]]
    assert not wrong, f"acks that disagree with the database: {wrong[:5]}"
    for conv in {group, dm01, dm23, dm45}:
        seqs = sorted(seq for cv, seq, _ in stored.values() if cv == conv)
        assert seqs == list(range(1, len(seqs) + 1)), f"conv {conv}: seqs not gap-free"
    # The same through the server (its history reads go through the recovered readers).
    hist = api.all_messages(users[0], group)
    assert [(m["seq"], m["id"]) for m in hist] == \
        sorted((seq, mid) for cv, seq, mid in stored.values() if cv == group)

    assert pg_cluster.url_password(url) not in srv.stderr_text() + srv.stdout_text()
    worst = max(x for c in clients for x in c.latencies)
    print(f"{len(sent)} messages, {unavailable} unavailable answers, slowest answer "
          f"{worst:.2f} s, recovered {timeline['recovered'] - timeline['up']:.1f} s after "
          f"PostgreSQL came back; logged during the outage:\n" + "\n".join(log_window))


@pytest.mark.timeout(90)
def test_ready_follows_the_database_without_traffic(cluster, server_factory):
    """GET /ready with nothing else going on: 503 `{"ready":false,"store":"unreachable"}` within
    --db-timeout-ms + slack of PostgreSQL going away (its idle connections see it close), 200
    `{"ready":true,"store":"ok"}` again once it is back, with no request needed to notice."""
    _, url = pg_store.own_database(cluster, "fault")
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET), "--db-timeout-ms", DB_TIMEOUT_MS,
                         database_url=url, name="ready")
    api = Api(srv.port)

    def ready_becomes(status: int, body: dict, within: float) -> float:
        started = time.monotonic()
        while True:
            r = api.request("GET", "/ready")
            if r.status == status:
                assert r.json == body, r
                return time.monotonic() - started
            assert time.monotonic() - started < within, f"/ready still {r!r} after {within} s"
            time.sleep(0.05)

    ready_becomes(200, {"ready": True, "store": "ok"}, 5)
    try:
        cluster.stop("immediate")
        down = ready_becomes(503, {"ready": False, "store": "unreachable"},
                             DB_TIMEOUT_MS / 1000 + SLACK_S)
    finally:
        cluster.start()
    up = ready_becomes(200, {"ready": True, "store": "ok"}, 15)
    print(f"/ready: 503 {down:.2f} s after the stop, 200 {up:.2f} s after the start")


# --------------------------------------------------------------------------------------------
# Start-up errors


def startup(ringcast_bin, tmp_path, database_url: str):
    argv = ["--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(tmp_path),
            "--database-url", database_url, "--db-timeout-ms", str(DB_TIMEOUT_MS),
            *chat_args(jwt_secret=JWT_SECRET)]
    return run_binary(ringcast_bin, argv, timeout=30)


def assert_exit_1_with_reason(res, words: tuple[str, ...], hidden: list[str]) -> None:
    out = res.stderr + res.stdout
    assert res.returncode == 1, (res.returncode, out[-2000:])
    for secret in hidden:
        assert secret not in out, f"the password appears in the output:\n{out[-2000:]}"
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if any(w in line.lower() for w in words)]
    assert reasons, f"no line names the reason (one of {words}):\n{res.stderr[-2000:]}"
    # A reason, not a retry loop or a dump.
    assert len(lines) <= 8, f"{len(lines)} lines on stderr:\n{res.stderr[-2000:]}"


@pytest.mark.parametrize("make_url, words", [
    (lambda c, pw: f"postgres://ringcast:{pw}@127.0.0.1:notaport/postgres", ("port", "invalid")),
    (lambda c, pw: f"host=127.0.0.1 no_such_option=1 password={pw}", ("no_such_option", "invalid")),
    (lambda c, pw: f"postgres://ringcast:{pw}@127.0.0.1:{free_port()}/postgres",
     ("refused", "connect")),
    (lambda c, pw: c.url("postgres", password=pw), ("password", "authentication")),
    (lambda c, pw: c.url("no_such_database"), ("no_such_database", "does not exist")),
], ids=["malformed-url", "unknown-option", "refused", "wrong-password", "no-database"])
def test_startup_errors_exit_1_with_a_reason(ringcast_bin, tmp_path, cluster, make_url, words):
    wrong = "wrong-" + secrets.token_hex(8)
    url = make_url(cluster, wrong)
    res = startup(ringcast_bin, tmp_path, url)
    assert_exit_1_with_reason(res, words, [wrong, cluster.password])


def test_role_without_privileges_exits_1_with_a_reason(ringcast_bin, tmp_path, cluster):
    name, _ = pg_store.own_database(cluster, "fault")
    password = secrets.token_hex(12)
    role = f"noprivs_{name}"
    # May log in and connect (PUBLIC's default), but not create the schema: since PostgreSQL 15
    # only the database owner may create in `public`.
    cluster.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    res = startup(ringcast_bin, tmp_path, cluster.url(name, user=role, password=password))
    assert_exit_1_with_reason(res, ("permission", "privilege"), [password])
