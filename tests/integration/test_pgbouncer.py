"""ringcast on PostgreSQL through a real pgbouncer (Debian 12: 1.18) in transaction pooling mode
(storage/README.md, "Through pgbouncer"; issue 28).

The pooler (tools/pgbouncer_server.py) has 2 server connections for ringcast's 5 (3 writers, 2
readers), so consecutive transactions of one ringcast connection run on different server
connections; nothing may rely on session state.

- With --no-db-prepared-statements: accounts, 1:1 and group chat (live delivery, acks), history,
  sync, search and edits all work, and PostgreSQL never saw more than the pool's 2 connections
  for the database.
- With prepared statements (the default) the second connection's statements collide with the
  first's on the shared server connection: ringcast exits 1 at start with a line that names the
  pooler and the flag, instead of a bare "prepared statement already exists".
"""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest

import pg_store
from chat_client import JWT_SECRET, Api, ChatConn, acked, change, chat_args, close_all
from support import free_port, run_async, run_binary

import pgbouncer_server  # noqa: E402 (tools/, which pg_store puts on sys.path)

pytestmark = pytest.mark.needs_pg

POOL_SIZE = 2
WRITERS, READERS = 3, 2


@pytest.fixture
def pooled(pg_server):
    """(pgbouncer, URL through it, direct URL) for a fresh database of the session's server."""
    direct = pg_server.create_database()
    parts = urllib.parse.urlsplit(direct)
    try:
        bouncer = pgbouncer_server.PgBouncer.start(parts.hostname, parts.port, parts.username,
                                                   parts.password, pool_size=POOL_SIZE)
    except pgbouncer_server.PgBouncerError as exc:
        pg_server.drop_database(direct)
        pytest.fail(f"no pgbouncer: {exc}", pytrace=False)
    try:
        yield bouncer, bouncer.url(parts.path.lstrip("/")), direct
    finally:
        bouncer.stop()
        pg_server.drop_database(direct)


def backends(direct_url: str) -> int:
    """Server connections to the URL's database other than this query's own."""
    name = urllib.parse.urlsplit(direct_url).path.lstrip("/")
    rows = pg_store.query(direct_url, "SELECT count(*) FROM pg_stat_activity "
                                      f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    return int(rows[0][0])


@pytest.mark.timeout(90)
def test_chat_through_pgbouncer_in_transaction_mode(pooled, server_factory):
    bouncer, url, direct = pooled
    srv = server_factory("--no-db-prepared-statements", "--db-writers", str(WRITERS),
                         "--db-readers", str(READERS), database_url=url)
    api = Api(srv.port)
    # Accounts: registration, login (a read), a wrong password refused.
    a, b, c = api.new_users(3, "pool")
    assert api.login(a.name).status == 200
    assert api.login(a.name, "wrong password").status == 401
    direct_conv = api.direct(a, b)
    group = api.group(a, [b.id, c.id], "pooled")

    async def go():
        ca = await ChatConn.connect(srv.port, a.token, name="a")
        cb = await ChatConn.connect(srv.port, b.token, name="b")
        cc = await ChatConn.connect(srv.port, c.token, name="c")
        try:
            # Sends from three connections at once: batches on several writer lanes, each a
            # transaction on whichever server connection pgbouncer has free.
            bodies = [f"one to one {i}" for i in range(30)]
            acks = await asyncio.gather(*(ca.send(direct_conv, body) for body in bodies))
            assert sorted(ack["seq"] for ack in acks) == list(range(1, 31))
            group_acks = await asyncio.gather(
                *(conn.send(group, f"group {conn.name} {i} marsupial")
                  for conn in (ca, cb, cc) for i in range(10)))
            assert sorted(ack["seq"] for ack in group_acks) == list(range(1, 31))
            await cb.wait_count(lambda e: e.get("type") == "message"
                                and e.get("conv") == direct_conv, 30)
            # An edit, and a sync that sees it.
            edited = acks[0]
            acked(await change(ca, "edit", direct_conv, edited["seq"], "edit1",
                               body="one to one, edited"))
            synced = await cb.call({"type": "sync"}, "sync")
            convs = {entry["conv"]: entry for entry in synced["convs"]}
            assert convs[direct_conv]["last_seq"] == 31, synced  # The edit is an entry too.
            assert convs[group]["last_seq"] == 30, synced
            return edited["seq"]
        finally:
            await close_all([ca, cb, cc])

    edited_seq = run_async(go(), 60)
    history = api.all_messages(b, direct_conv)
    texts = [m for m in history if m["kind"] == "text"]
    assert [m["seq"] for m in texts] == list(range(1, 31))
    assert {m["body"] for m in texts} == {f"one to one {i}" for i in range(1, 30)} | {
        "one to one, edited"}
    assert [(m["seq"], m["target"]) for m in history if m["kind"] == "edit"] == [(31, edited_seq)]
    assert next(m for m in texts if m["seq"] == edited_seq).get("edited_at", 0) > 0
    assert len(api.all_messages(c, group)) == 30
    found = api.request("GET", "/api/search?q=marsupial", token=c.token)
    assert found.status == 200, found
    assert len(found.json["results"]) > 0
    assert all(hit["conv"] == group for hit in found.json["results"]), found.json
    # ringcast's 5 connections really shared the pool's 2.
    assert backends(direct) <= POOL_SIZE
    assert "unprepared statements" in srv.stderr_text() + srv.stdout_text()


def test_prepared_statements_through_pgbouncer_fail_with_a_clear_reason(pooled, ringcast_bin,
                                                                        tmp_path):
    bouncer, url, _ = pooled
    argv = ["--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(tmp_path),
            "--database-url", url, "--db-writers", str(WRITERS), "--db-readers", str(READERS),
            *chat_args(jwt_secret=JWT_SECRET)]
    res = run_binary(ringcast_bin, argv, timeout=30)
    out = res.stderr + res.stdout
    assert res.returncode == 1, (res.returncode, out[-2000:])
    assert "--no-db-prepared-statements" in res.stderr, res.stderr[-2000:]
    assert "pgbouncer" in res.stderr, res.stderr[-2000:]
    assert bouncer.password not in out
