"""Flow control (docs/architecture.md "Slow consumers", PROTOCOL.md "sync"/"history"): the outbound
cap judges what is already queued, so one large frame always gets out; long answers are bounded
by --max-answer-bytes and paged with `more`; requests behind a long answer wait for the client
to read it instead of piling answers up; only a client that stops reading is cut off, and one
that is merely behind loses typing events, not its connection."""

from __future__ import annotations

import asyncio
import json

import pytest

from chat_client import Api, ChatConn, aio, chat_args, connected
from prometheus import scrape, value
from support import run_async, ws_connect
from wsraw import OP_PING, OP_TEXT, encode_frame, open_ws

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

BIG = 64 * 1024 - 16  # Bodies just under --max-chat-body, so each message is ~64 KiB on the wire.
ANSWER_BYTES = 1 << 20
ONE_MESSAGE = BIG + 200  # A message event's JSON around such a body.


async def send_pipelined(conn: ChatConn, conv: int, bodies, window: int = 32) -> list[dict]:
    """Sends with at most `window` unacknowledged; returns the acks in send order."""
    acks = []
    reqs = [conn.send_request(conv, b) for b in bodies]
    for i in range(0, len(reqs), window):
        batch = reqs[i:i + window]
        start = conn.mark()
        for r in batch:
            await conn.send_json(r)
        for r in batch:
            ev = await conn.wait_for(lambda e, cid=r["cid"]: e.get("type") in ("ack", "error")
                                     and e.get("cid") == cid, timeout=60, start=start,
                                     what=f"ack {r['cid']}")
            assert ev["type"] == "ack", ev
            acks.append(ev)
    return acks


def sync_entry(event: dict, conv: int) -> dict:
    assert event.get("type") == "sync", event
    entries = [e for e in event["convs"] if e["conv"] == conv]
    assert len(entries) == 1, event
    return entries[0]


@pytest.mark.sqlite_only("engine only: /echo, no chat traffic")
@pytest.mark.server_args("--echo", "--max-message-size", "16777216")
def test_echo_of_one_message_larger_than_the_outbound_cap(server):
    """4 MiB echoed with the default 4 MiB cap: nothing else is queued, so it goes out."""
    payload = bytes(range(256)) * (4 * 1024 * 1024 // 256)

    async def go():
        async with ws_connect(server.url("/echo")) as ws:
            await ws.send(payload)
            echoed = await asyncio.wait_for(ws.recv(), 30)
            assert echoed == payload
            await ws.send("still open")
            assert await asyncio.wait_for(ws.recv(), 10) == "still open"

    run_async(go(), 60)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.server_args(*chat_args(max_chat_body=65536))
def test_large_backlog_syncs_and_pages_history_without_being_cut(server):
    """500 messages of 64 KiB (32 MiB): a fresh member syncs to the end (bare sync first, as a
    client that knows nothing does), and pages history and HTTP history through all of it."""
    api = Api(server.port)
    a, b, conv = api.direct_pair("bulk")
    total = 500
    bodies = [f"{i:05d}" + "x" * (BIG - 5) for i in range(1, total + 1)]

    async def go():
        async with connected((server.port, a.token, "a")) as [ca]:
            await send_pipelined(ca, conv, bodies)

        cb = await ChatConn.connect(server.port, b.token, name="b", max_size=None)
        try:
            got = []
            first = await cb.call({"type": "sync"}, "sync", timeout=60)
            entry = sync_entry(first, conv)
            assert entry["last_seq"] == total
            got += entry["messages"]
            pages = 1
            while entry["more"]:
                assert entry["messages"], "a page with more must move on"
                ask = {"type": "sync", "convs": {str(conv): got[-1]["seq"]}}
                entry = sync_entry(await cb.call(ask, "sync", timeout=60), conv)
                got += entry["messages"]
                pages += 1
            assert [m["seq"] for m in got] == list(range(1, total + 1))
            assert [m["body"] for m in got] == bodies
            assert pages >= total * BIG // ANSWER_BYTES, f"{pages} pages: not bounded by bytes"
            assert not cb.messages(), "no live message was expected"

            # WebSocket history, newest first, paged with before.
            seqs = []
            before = None
            while True:
                ask = {"type": "history", "conv": conv, "limit": 200}
                if before is not None:
                    ask["before"] = before
                page = await cb.call(ask, "history", timeout=60)
                assert page["type"] == "history", page
                seqs += [m["seq"] for m in page["messages"]]
                if not page["more"]:
                    break
                before = page["messages"][-1]["seq"]
            assert seqs == list(range(total, 0, -1))
            assert cb.closed is None
        finally:
            await cb.close()
        return cb

    cb = run_async(go(), 280)
    for ev, size in zip(cb.events, cb.sizes):
        assert size <= ANSWER_BYTES + ONE_MESSAGE, (ev.get("type"), size)

    # HTTP history pages: each at most the bound plus one message.
    seqs, before = [], None
    while True:
        resp = api.messages(b, conv, before=before, limit=200)
        assert resp.status == 200, resp
        assert len(resp.body) <= ANSWER_BYTES + ONE_MESSAGE, len(resp.body)
        page = resp.json
        seqs += [m["seq"] for m in page["messages"]]
        if not page["more"]:
            break
        before = page["messages"][-1]["seq"]
    assert seqs == list(range(total, 0, -1))


@pytest.mark.slow
@pytest.mark.timeout(240)
# A small SQLite page cache, so the store's caches filling as the database grows do not hide
# what this measures (the answers queued for the clients).
@pytest.mark.server_args(*chat_args(max_chat_body=65536, store_cache_mib=1))
def test_pipelined_syncs_wait_for_the_reader_and_a_stalled_reader_is_cut_alone(server):
    """60 syncs of ~1 MiB each pipelined at once: a client that reads gets all 60 answers (they
    go out as it reads, not all at once into a 4 MiB cap). A client that does the same and stops
    reading is closed 1008 once live traffic takes it past the cap; server memory stays bounded
    and the reading client is unaffected."""
    api = Api(server.port)
    a, b, c = api.new_users(3, "pipe")
    conv = api.group(a, [b, c], "pipelined")
    asks = 60

    async def go():
        async with connected((server.port, a.token, "a")) as [ca]:
            await send_pipelined(ca, conv, ["y" * BIG for _ in range(40)])
            rss_before = server.rss_kib()

            # The stalled client: a raw socket with a small receive buffer that never reads.
            stalled = open_ws(server.port, f"/ws?token={c.token}", rcvbuf=16384)
            sync = json.dumps({"type": "sync", "convs": {str(conv): 0}}).encode()
            stalled.send(b"".join(encode_frame(OP_TEXT, sync) for _ in range(asks)))

            cb = await ChatConn.connect(server.port, b.token, name="b", max_size=None)
            try:
                start = cb.mark()
                for _ in range(asks):
                    await cb.send_json({"type": "sync", "convs": {str(conv): 0}})
                answers = await cb.wait_count(lambda e: e.get("type") == "sync", asks,
                                              timeout=120, start=start, what="sync answers")
                for ans in answers:
                    entry = sync_entry(ans, conv)
                    assert [m["seq"] for m in entry["messages"]][:1] == [1], entry["more"]
                assert cb.closed is None

                # Live traffic: the stalled client's queue passes the cap and it is cut off.
                mark = cb.mark()
                await send_pipelined(ca, conv, ["z" * BIG for _ in range(120)])
                await cb.wait_count(lambda e: e.get("type") == "message", 120, timeout=60,
                                    start=mark, what="live messages")
                assert cb.closed is None
            finally:
                await cb.close()
            _, close = await aio(stalled.recv_until_close, 60)
            assert close.close_code == 1008 and b"slow consumer" in close.close_reason, close
            stalled.close()
            if not server.sanitized:
                growth = server.rss_kib() - rss_before
                # 60 answers of 1 MiB held for the stalled client would be 60 MiB; what it may
                # hold is the 4 MiB cap plus one answer, and the reader's paced answers.
                assert growth < 32 * 1024, f"server RSS grew by {growth} KiB"

    run_async(go(), 220)


def test_asking_again_from_zero_gets_the_same_messages(server):
    """PROTOCOL.md: a sync gives what was asked for, except messages this connection received
    live; asking twice from 0 gives the messages twice."""
    api = Api(server.port)
    a, b, conv = api.direct_pair("again")

    async def go():
        async with connected((server.port, a.token, "a")) as [ca]:
            for i in range(5):
                await ca.send(conv, f"m{i}")
            async with connected((server.port, b.token, "b")) as [cb]:
                ask = {"type": "sync", "convs": {str(conv): 0}}
                for _ in range(2):
                    entry = sync_entry(await cb.call(ask, "sync"), conv)
                    assert [m["seq"] for m in entry["messages"]] == [1, 2, 3, 4, 5], entry
                # A message that arrives live is not repeated by a later sync.
                await ca.send(conv, "live")
                await cb.wait_message(conv, lambda m: m["seq"] == 6)
                entry = sync_entry(await cb.call(ask, "sync"), conv)
                assert [m["seq"] for m in entry["messages"]] == [1, 2, 3, 4, 5], entry

    run_async(go(), 60)


@pytest.mark.sqlite_only("typing is never stored")
# The cap well above what the test queues: the kernel takes up to tcp_wmem's 4 MiB of a stalled
# reader's stream (loopback's send buffer grows with the congestion window, not with the
# reader's tiny window), so 8 MiB sent leaves megabytes queued in the server, never past 32.
@pytest.mark.server_args(*chat_args(max_chat_body=65536, max_outbound_bytes=32 << 20))
def test_typing_is_dropped_for_a_reader_behind_and_the_connection_kept(server):
    """PROTOCOL.md ("typing ... is the first thing dropped for a connection that is slow to
    read"), docs/architecture.md "Slow consumers": a reader that stopped reading with megabytes
    unsent (more than the 64 KiB past which droppable frames are skipped, under the cap) gets no
    typing event while behind: ringcast_frames_dropped_total counts each skipped one, the
    connection stays open, and once the client reads it gets every message and the typing
    events that were not dropped, and typing again after it caught up."""
    api = Api(server.port)
    a, b, conv = api.direct_pair("behind")
    messages = 128  # Of ~64 KiB: 8 MiB.

    def dropped() -> float:
        return value(scrape(server.port)[0], "ringcast_frames_dropped")

    def read_events(conn, until) -> list[dict]:
        """Events of the raw connection up to and including the first for which until() holds."""
        events = []
        while not events or not until(events[-1]):
            frame = conn.recv_frame(timeout=20)
            if frame.opcode == OP_PING:
                continue
            assert frame.opcode == OP_TEXT, f"{frame!r} after {len(events)} events"
            events.append(json.loads(frame.payload))
        return events

    async def go():
        ca = await ChatConn.connect(server.port, a.token, name="a")
        # b: a raw socket with a small receive buffer that stops reading after hello.
        behind = open_ws(server.port, f"/ws?token={b.token}", rcvbuf=8192)
        try:
            assert read_events(behind, lambda e: True)[0]["type"] == "hello"
            dropped_before = await aio(dropped)
            await send_pipelined(ca, conv, ["d" * BIG for _ in range(messages)])
            # The messages reach b's queue soon after a's acks: a typing event sent before then
            # goes out (and is counted below), the first one after is dropped.
            typings = 0
            for _ in range(50):
                await ca.send_json({"type": "typing", "conv": conv, "state": "start"})
                typings += 1
                await ca.ping()
                if await aio(dropped) > dropped_before:
                    break
                await asyncio.sleep(0.1)
            skipped = await aio(dropped) - dropped_before
            assert skipped >= 1, f"no typing event dropped after {typings}"

            # b reads again: every message, the typing events not dropped, no close.
            behind.send_text(json.dumps({"type": "ping"}))
            events = await aio(read_events, behind, lambda e: e["type"] == "pong")
            seqs = [e["seq"] for e in events if e["type"] == "message"]
            assert seqs == list(range(1, messages + 1)), seqs
            got = [e for e in events if e["type"] == "typing"]
            assert len(got) == typings - skipped, (typings, skipped, got)
            assert {e["type"] for e in events} <= {"message", "typing", "pong"}, events

            # Caught up: typing reaches b again.
            await ca.send_json({"type": "typing", "conv": conv, "state": "stop"})
            ev = (await aio(read_events, behind, lambda e: e["type"] == "typing"))[-1]
            assert ev == {"type": "typing", "conv": conv, "user": a.id, "state": "stop"}, ev
            assert await aio(dropped) - dropped_before == skipped
            print(f"{typings} typing events sent while behind, {skipped:.0f} dropped")
        finally:
            behind.close()
            await ca.close()

    run_async(go(), 60)
