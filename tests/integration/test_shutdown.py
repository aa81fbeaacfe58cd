"""Graceful shutdown under load (docs/architecture.md, "Closing" and "Mailboxes"): SIGTERM during
a chat send storm ends in exit 0 within --shutdown-timeout + 5 s, with every acked message in
the store exactly once; a second SIGTERM during the graceful wait is taken by the server (it
closes what is left at once and still exits 0), never by the default action.

The storm is written with raw sockets, pipelined frames from one thread per connection, so it
offers more than the server commits and the store's queue is full of work when the signal
comes: the state in which a mail path that spins or a store that drains for ever would show.
RINGCAST_STORM_ROUNDS (default 20, as issue 8 asks, so that a rare hang shows) sets how many times
the storm test repeats (a quarter as many with PostgreSQL, whose run is the second of the suite);
raise it locally to hunt a rare hang."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import threading
import time
import urllib.parse

import pytest

import pg_store
from chat_client import JWT_SECRET, Api, chat_args
from wsraw import OP_CLOSE, OP_TEXT, RawConn, close_payload, encode_frame, open_ws

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SHUTDOWN_TIMEOUT = 1
# Rounds of the SIGTERM storm on SQLite (a quarter of them on PostgreSQL): 8 in CI, about 3.5 s
# each; more for a soak (RINGCAST_STORM_ROUNDS=100).
ROUNDS = int(os.environ.get("RINGCAST_STORM_ROUNDS", "8"))
ARGS = chat_args(jwt_secret=JWT_SECRET, msg_rate=100_000_000, presence_grace=0,
                 shutdown_timeout=SHUTDOWN_TIMEOUT)


class StormConn:
    """One /ws connection: a thread writes send requests back to back in batches while
    another reads and records every ack; the reader answers the server's close frame."""

    def __init__(self, port: int, token: str, conv: int, tag: str):
        self.conn = RawConn.open(port, timeout=10)
        self.conn.handshake("/ws?token=" + urllib.parse.quote(token, safe=""))
        first = self.conn.recv_frame(10)
        assert first.opcode == OP_TEXT and json.loads(first.payload)["type"] == "hello", first
        self.conv, self.tag = conv, tag
        self.acks: dict[str, int] = {}  # cid → seq
        self.errors: list[dict] = []
        self.close_code: int | None = None
        self.sent = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _write(self) -> None:
        sock = self.conn.sock
        sock.settimeout(10)
        n = 0
        try:
            while not self.stop.is_set():
                batch = []
                for _ in range(64):
                    req = {"type": "send", "conv": self.conv, "cid": f"{self.tag}-{n}",
                           "body": f"storm {self.tag}-{n}"}
                    batch.append(encode_frame(OP_TEXT, json.dumps(req).encode()))
                    n += 1
                sock.sendall(b"".join(batch))
                self.sent = n
        except OSError:
            pass  # The server closed the connection: the storm is over for this one.

    def _read(self) -> None:
        conn = self.conn
        deadline = time.monotonic() + 120
        try:
            while True:
                frame = conn.recv_frame(max(0.1, deadline - time.monotonic()))
                if frame.opcode == OP_CLOSE:
                    self.close_code = frame.close_code
                    self.stop.set()
                    try:
                        conn.send(encode_frame(OP_CLOSE, close_payload(1000)))
                    except OSError:
                        pass
                    return
                if frame.opcode != OP_TEXT:
                    continue
                ev = json.loads(frame.payload)
                if ev.get("type") == "ack":
                    assert ev["cid"] not in self.acks, f"two acks for {ev['cid']}"
                    self.acks[ev["cid"]] = ev["seq"]
                elif ev.get("type") == "error":
                    self.errors.append(ev)
        except Exception:  # noqa: BLE001 - EOF or reset after the close: the storm is over.
            self.stop.set()

    def join(self, timeout: float) -> None:
        self.stop.set()
        for t in self.threads:
            if t.is_alive():
                t.join(timeout)
        self.conn.close()


def stored_messages(srv) -> dict[str, tuple[int, int]]:
    """cid → (conversation, seq) of every stored message, read straight from the store: the
    PostgreSQL database, or the SQLite file (read-only; the server has exited, so the WAL has
    been checkpointed away)."""
    sql = "SELECT client_msg_id, conversation_id, seq FROM messages"
    if srv.database_url:
        rows = [(cid, int(conv), int(seq)) for cid, conv, seq in pg_store.query(srv.database_url,
                                                                                sql)]
    else:
        db = sqlite3.connect(f"file:{srv.data_dir}/chat.db?mode=ro", uri=True)
        try:
            rows = db.execute(sql).fetchall()
        finally:
            db.close()
    out = {}
    for cid, conv, seq in rows:
        assert cid not in out, f"cid {cid} stored twice"
        out[cid] = (conv, seq)
    return out


@pytest.mark.slow
@pytest.mark.timeout(60 + ROUNDS * 15)
def test_sigterm_during_send_storm_exits_in_time_and_keeps_every_ack(server_factory):
    srv = server_factory(*ARGS, name="storm")
    api = Api(srv.port)
    users = api.new_users(4, "storm")
    # Consecutive ids: owners on both shards (a conversation's owner is id % shards).
    convs = [api.direct(users[0], users[1]), api.direct(users[2], users[3])]
    assert {c % 2 for c in convs} == {0, 1}, convs
    budget = SHUTDOWN_TIMEOUT + 5
    exit_times = []
    acked_total = 0
    rounds = max(1, ROUNDS // 4) if srv.database_url else ROUNDS
    for r in range(rounds):
        if r > 0:
            srv.spawn()
            srv.wait_ready(15)
            users = [api.login_user(u.name, u.id) for u in users]
        # Six connections: each shard gets some unless the kernel's hash is very unlucky.
        conns = [StormConn(srv.port, users[i % 4].token, convs[(i % 4) // 2], f"r{r}c{i}")
                 for i in range(6)]
        for c in conns:  # Only once all have their hello.
            c.start()
        # Storm until acks flow and the store has a queue behind them.
        deadline = time.monotonic() + 10
        while sum(len(c.acks) for c in conns) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(budget + 20)
        took = time.monotonic() - started
        for c in conns:
            c.join(10)
        if rc is None:
            srv.proc.kill()
            srv.proc.wait(10)
            pytest.fail(f"round {r}: still running {budget + 20} s after SIGTERM\n"
                        f"{srv.logs_tail()}")
        assert rc == 0, f"round {r}: exit status {rc}\n{srv.logs_tail()}"
        assert took <= budget, f"round {r}: exited {took:.1f} s after SIGTERM (budget {budget} s)"
        exit_times.append(took)

        stored = stored_messages(srv)
        for c in conns:
            assert not c.errors or all(e.get("code") == "unavailable" for e in c.errors), \
                c.errors[:3]
            lost = [cid for cid in c.acks if cid not in stored]
            assert not lost, f"round {r}: {len(lost)} acked messages not stored: {lost[:5]}"
            wrong = [cid for cid, seq in c.acks.items() if stored[cid] != (c.conv, seq)]
            assert not wrong, f"round {r}: acks disagree with the store: {wrong[:5]}"
            acked_total += len(c.acks)
        for conv in convs:
            seqs = sorted(seq for cv, seq in stored.values() if cv == conv)
            assert seqs == list(range(1, len(seqs) + 1)), f"conv {conv}: seqs not gap-free"
    print(f"{rounds} rounds, {acked_total} acks, exit after SIGTERM: "
          f"max {max(exit_times):.2f} s, mean {sum(exit_times) / len(exit_times):.2f} s")


@pytest.mark.timeout(60)
def test_second_sigterm_during_graceful_wait_is_handled(server_factory):
    # A connection that never answers the close frame keeps the server in its graceful wait.
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET, shutdown_timeout=30), "--echo",
                         name="twice")
    with open_ws(srv.port, "/echo") as conn:
        conn.send_text(b"hi")
        assert conn.recv_frame().payload == b"hi"
        srv.send_signal(signal.SIGTERM)
        close = conn.recv_frame(5)  # 1001: the graceful shutdown has begun.
        assert close.opcode == OP_CLOSE and close.close_code == 1001, close
        time.sleep(0.05)
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(10)
        took = time.monotonic() - started
    assert rc == 0, f"exit status {rc} after a second SIGTERM\n{srv.logs_tail()}"
    assert took < 5, f"the second SIGTERM did not cut the 30 s wait short ({took:.1f} s)"
    assert "during shutdown" in srv.stderr_text(), srv.logs_tail()


def test_two_quick_sigterms_with_a_client_connected(server_factory):
    # The reproduction: two SIGTERMs 50 ms apart while a client is on /echo.
    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET), "--echo", name="quick")
    with open_ws(srv.port, "/echo") as conn:
        conn.send_text(b"hi")
        assert conn.recv_frame().payload == b"hi"
        srv.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(15)
    assert rc == 0, f"exit status {rc}\n{srv.logs_tail()}"


@pytest.mark.timeout(60)
def test_a_store_queue_past_its_bound_answers_unavailable_and_loses_no_ack(server_factory):
    # --max-store-queue bounds the work (and the message bodies) waiting for the store: a storm
    # past it is answered `unavailable` at once, per send, while what was acked stays committed.
    srv = server_factory(*ARGS, "--max-store-queue", "64", name="bounded")
    api = Api(srv.port)
    a, b, conv = api.direct_pair("bound")
    storm = StormConn(srv.port, a.token, conv, "bq")
    storm.start()
    deadline = time.monotonic() + 20
    while (len(storm.acks) < 200 or len(storm.errors) < 200) and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.send_signal(signal.SIGTERM)
    assert srv.wait(30) == 0, srv.logs_tail()
    storm.join(10)
    assert len(storm.acks) >= 200, (len(storm.acks), storm.errors[:3])
    assert len(storm.errors) >= 200, f"{len(storm.acks)} acks and no refusal past 64 queued"
    assert {e.get("code") for e in storm.errors} == {"unavailable"}, storm.errors[:3]
    stored = stored_messages(srv)
    assert not [cid for cid in storm.acks if cid not in stored], "acked messages not stored"
    refused = {e["cid"] for e in storm.errors}
    assert not refused & set(stored), "a refused send was stored"
