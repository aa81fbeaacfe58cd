"""Bounded memory over a long uptime (issue 8, item 6; chat/README.md "Memory over a long
uptime"): 100,000 distinct conversations and 10,000 users are touched through the server (each
user connects, which joins its conversations at their owners and counts it online; each
conversation gets a message), then everything goes idle, and the server's resident memory must
come back to within MARGIN_KIB of its baseline.

The users, conversations and memberships are written into the store directly (sqlite3, schema in
storage/SCHEMA.md) while the server is stopped, and tokens are signed here with the server's
--jwt-secret: that is only set-up; every touch goes through the server's WebSocket API.

The work is done twice on disjoint halves of the seed: round A on the first 10,000 users and
100,000 conversations, round B on the other ones. The baseline is taken once round A has gone
idle, so what any run keeps for good at its working size (the allocator's spare pages, the hash
tables' bucket arrays grown to 100,000 entries, SQLite's bounded page caches full) is in it; what
round B leaves above it is what each distinct user and conversation costs for good, which must be
nothing. (A baseline after a smaller warm-up round left those working-size costs in the
difference: +2.4 to +8.4 MiB run to run, which a margin of 8 MiB could not tell from a leak.)
SQLite's page caches, bounded by --store-cache-mib per connection and database file (search.db's
too), are held at 1 MiB, and the store's table of recent client message ids
(--sqlite-recent-cids, ~5 MiB at its default of 32,768 entries once 100,000 messages went by) at
its smallest, 1,024, so these bounded caches do not hide what is measured. Resident memory is
read as Rss − LazyFree from /proc/PID/smaps_rollup: pages the allocator has given back with
MADV_FREE still count in Rss until the kernel needs them.

Debug build only (the `soak` marker, selected by its own ctest entry): under ASan the quarantine
keeps freed memory resident, which is what this test measures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
import uuid

import pytest

from chat_client import JWT_SECRET, b64url, chat_args, now_ms
from support import run_async, ws_connect

USERS = 10_000  # Per round.
CONVERSATIONS = 100_000  # Per round.
PER_ROUND_BATCH = 200  # Users connected at once.
# What the server may keep above its baseline once idle. Measured with a baseline after a
# warm-up of a tenth of the work: on 2026-11-22 (debug build, 2 shards) +0.1 MiB, and +64 MiB
# with the owners' idle conversation records never forgotten; on 2026-11-25 +9.7 MiB while the
# search index's files took SQLite's default page caches whatever --store-cache-mib said.
# With the baseline after round A (2026-11-27): see chat/README.md "Memory over a long uptime".
MARGIN_KIB = 8 * 1024
IDLE_TTL_S = 2

# SQLite only: it seeds chat.db directly (conftest.py, "Two stores").
pytestmark = [pytest.mark.soak, pytest.mark.slow,
              pytest.mark.sqlite_only("seeds the SQLite file directly")]


def members_of(conv_index: int) -> tuple[int, int]:
    """The two (0-based) users of conversation `conv_index`: user i is first in conversations
    i, i + USERS, ... (ten of them) and second in ten others."""
    first = conv_index % USERS
    return first, (first + 1 + conv_index // USERS) % USERS


def seed(db_path, ts: int) -> tuple[list[int], list[int]]:
    """Both rounds' users and conversations straight into the store; returns their ids, round A's
    first. Round B's conversations have round B's users only."""
    db = sqlite3.connect(db_path)
    with db:
        first_user = (db.execute("SELECT COALESCE(MAX(id), 0) FROM users").fetchone()[0]) + 1
        db.executemany(
            "INSERT INTO users(id, username, password_hash, created_at) VALUES (?, ?, 'x', ?)",
            ((first_user + i, f"soak{i}", ts) for i in range(2 * USERS)))
        first_conv = (db.execute("SELECT COALESCE(MAX(id), 0) FROM conversations")
                      .fetchone()[0]) + 1
        db.executemany(
            "INSERT INTO conversations(id, name, is_group, created_at) VALUES (?, NULL, 1, ?)",
            ((first_conv + c, ts) for c in range(2 * CONVERSATIONS)))
        db.executemany(
            "INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
            "VALUES (?, ?, ?)",
            ((first_conv + r * CONVERSATIONS + c, first_user + r * USERS + u, ts)
             for r in range(2) for c in range(CONVERSATIONS) for u in members_of(c)))
    db.close()
    return ([first_user + i for i in range(2 * USERS)],
            [first_conv + c for c in range(2 * CONVERSATIONS)])


def token_for(user: int) -> str:
    """A token as the server signs them (chat/auth/jwt.h: that exact header, compact JSON)."""
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    now = now_ms() // 1000
    claims = {"sub": str(user), "iat": now, "exp": now + 3600, "jti": uuid.uuid4().hex}
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(JWT_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


async def touch(port: int, users: list[int], convs: list[int]) -> int:
    """One round: each of the round's users connects (its conversations are joined at their
    owners before `hello`) and sends one message to each conversation it is first in; returns
    the messages acked."""
    acked = 0

    async def one(index: int) -> None:
        nonlocal acked
        url = f"ws://127.0.0.1:{port}/ws?token={token_for(users[index])}"
        async with ws_connect(url) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello", hello
            mine = [convs[c] for c in range(index, CONVERSATIONS, USERS)]
            for n, conv in enumerate(mine):
                await ws.send(json.dumps({"type": "send", "conv": conv, "cid": f"s{n}",
                                          "body": "touch"}))
            pending = len(mine)
            while pending:
                event = json.loads(await ws.recv())
                assert event["type"] != "error", event
                if event["type"] == "ack":
                    pending -= 1
                    acked += 1

    for start in range(0, USERS, PER_ROUND_BATCH):
        batch = range(start, min(start + PER_ROUND_BATCH, USERS))
        await asyncio.gather(*(one(i) for i in batch))
    return acked


def resident_kib(pid: int) -> int:
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    return fields["Rss"] - fields.get("LazyFree", 0)


def settle(srv, seconds: float) -> int:
    """Resident memory once the idle sweeps have run (the smallest of a few readings)."""
    time.sleep(seconds)
    readings = []
    for _ in range(3):
        readings.append(resident_kib(srv.pid))
        time.sleep(0.5)
    return min(readings)


@pytest.mark.timeout(600)
def test_memory_returns_to_baseline_after_100k_conversations_go_idle(server_factory, tmp_path):
    args = (*chat_args(presence_grace=0, idle_state_ttl=IDLE_TTL_S, max_group_size=10),
            "--jwt-secret", JWT_SECRET, "--synchronous", "normal", "--store-cache-mib", "1",
            "--sqlite-recent-cids", "1024")
    first = server_factory(*args, name="soak")
    first.stop()
    users, convs = seed(first.data_dir / "chat.db", now_ms())

    srv = server_factory(*args, name="soak")
    if srv.sanitized:
        pytest.skip("ASan's quarantine keeps freed memory resident")
    t0 = time.monotonic()
    acked_a = run_async(touch(srv.port, users[:USERS], convs[:CONVERSATIONS]), 300)
    baseline = settle(srv, IDLE_TTL_S + 8)
    t1 = time.monotonic()
    acked_b = run_async(touch(srv.port, users[USERS:], convs[CONVERSATIONS:]), 300)
    t2 = time.monotonic()
    peak = resident_kib(srv.pid)
    idle = settle(srv, IDLE_TTL_S + 8)
    report = (f"round A: {acked_a} messages in {t1 - t0:.0f} s, idle {baseline} KiB; "
              f"round B: {acked_b} messages from {USERS} other users in {t2 - t1:.0f} s; "
              f"peak {peak} KiB; idle {idle} KiB (+{idle - baseline} KiB, "
              f"margin {MARGIN_KIB} KiB)")
    print(report)
    assert acked_a == acked_b == CONVERSATIONS, report
    assert idle - baseline <= MARGIN_KIB, report
