"""Slow consumer policy: a subscriber whose outbound backlog passes --max-outbound-bytes is cut
off with close 1008 (after the frames already queued for it); the others are not affected, and
the server does not hold the backlog in memory."""

from __future__ import annotations

import asyncio
import time

import pytest

from support import data_message, run_async, subscribed, sync_barrier, wait_until
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, open_ws

OUTBOUND_LIMIT = 262144
MESSAGES = 1200  # 37.5 MiB: a server that kept the cut-off backlog would grow by ~34 MiB.
MESSAGE_SIZE = 32 * 1024
WINDOW = 4  # Messages the publisher may run ahead of the slowest *normal* subscriber.
RSS_GROWTH_LIMIT_KIB = 16 * 1024  # Observed growth is ~3 MiB (debug build).

pytestmark = pytest.mark.server_args("--raw-channels", "--max-outbound-bytes",
                                     str(OUTBOUND_LIMIT))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_slow_consumer_is_cut_off_with_1008(server):
    published = [data_message(0, seq, MESSAGE_SIZE - 9, binary=True) for seq in range(MESSAGES)]
    assert all(len(m) == MESSAGE_SIZE for m in published)

    # A raw subscriber with a tiny receive window that stops reading after the barrier.
    slow = open_ws(server.port, "/raw/slow", rcvbuf=8192)
    slow_synced = []

    def read_first_frame():
        frame = slow.recv_frame(timeout=20)
        slow_synced.append(frame)

    async def go():
        async with subscribed(server.url("/raw/slow"), 4, prefix="normal") as normals:
            publisher = normals[0].ws
            reader = asyncio.get_running_loop().run_in_executor(None, read_first_frame)
            await sync_barrier({0: publisher}, normals, timeout=20,
                               extra_done=lambda sid: bool(slow_synced))
            await asyncio.wait_for(reader, 20)
            rss_before = server.rss_kib()

            # Publish with a window over the normal subscribers only, so none of them can fall
            # behind by more than WINDOW * 32 KiB (well under the limit): only `slow` lags.
            for seq, msg in enumerate(published):
                await wait_until(
                    lambda: min(len(s.received) for s in normals) >= seq - WINDOW
                    or any(s.closed for s in normals), 30,
                    lambda: [(s.name, len(s.received), repr(s.closed)) for s in normals],
                    interval=0.002)
                closed = [(s.name, repr(s.closed)) for s in normals if s.closed]
                assert not closed, f"normal subscribers were disconnected: {closed}"
                await publisher.send(msg)
            await wait_until(lambda: all(len(s.received) == MESSAGES or s.closed
                                         for s in normals), 30,
                             lambda: [(s.name, len(s.received)) for s in normals])
            for s in normals:
                assert s.closed is None, (s.name, s.closed)
                assert s.received == published, f"{s.name}: messages differ"

            rss_after = server.rss_kib()
            # ASan's quarantine holds every freed frame (up to 256 MiB) resident, so RSS says
            # nothing about our memory there; the debug run checks it.
            if not server.sanitized:
                assert rss_after - rss_before < RSS_GROWTH_LIMIT_KIB, \
                    f"server RSS grew from {rss_before} KiB to {rss_after} KiB"

            # The server still works for the others after cutting one off.
            await publisher.send("after the cut")
            await wait_until(lambda: all(s.received[-1:] == ["after the cut"] for s in normals),
                             10, "message after the cut-off not delivered")

    try:
        run_async(go(), 100)

        # Now drain the slow consumer: data frames (a prefix of what was published, in order,
        # never all of it), then close 1008, then EOF.
        data = []
        while True:
            frame = slow.recv_frame(timeout=15)
            if frame.opcode == OP_CLOSE:
                break
            assert frame.opcode in (OP_TEXT, OP_BINARY) and frame.fin, frame
            if frame.opcode == OP_TEXT and frame.payload.startswith(b"sync:"):
                continue
            data.append(frame.payload)
        assert len(data) < MESSAGES, "the slow consumer was never cut off"
        assert data == published[:len(data)], \
            "the slow consumer's frames are not an in-order prefix of what was published"
        assert frame.close_code == 1008, (frame.close_code, frame.close_reason)
        reason = frame.close_reason.decode("utf-8").lower()
        assert any(w in reason for w in ("slow", "outbound", "backpressure", "limit")), \
            f"close reason should say why: {reason!r}"
        slow.expect_eof(timeout=10)
    finally:
        slow.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_reader_back_after_the_close_timeout_still_gets_1008(server_factory):
    """Issue 29, item 4: a subscriber that reads nothing while 60 KB messages flow fills the
    kernel's buffers, and the send in flight when it is cut off holds whole frames the kernel
    never takes. The close frame used to wait behind them, and after --close-timeout the
    connection was closed with the stream ending mid-frame and no 1008. Now the close frame
    follows the frame the kernel has part of, and the connection waits (--idle-timeout) for the
    reader to take it: read back later, the stream is whole frames, 1008, EOF."""
    import threading

    # One shard: the publisher's frames reach `slow` as fast as the kernel fills (on another
    # shard they come in bursts of mail, and the cut can come while the kernel still has room).
    # The publisher reads its own copies from a Python thread that can lag a few frames: the cap
    # is 2 MiB so that only `slow`, which reads nothing, is cut off.
    server = server_factory("--raw-channels", "--max-outbound-bytes", str(2 << 20),
                            "--close-timeout", "1", threads=1)
    slow = open_ws(server.port, "/raw/late", rcvbuf=8192)
    publisher = open_ws(server.port, "/raw/late")
    stop = threading.Event()

    def drain_own_copies():  # The publisher is a subscriber too, and a fast one.
        while not stop.is_set():
            try:
                publisher.recv_frame(timeout=0.2)
            except Exception:
                pass

    drainer = threading.Thread(target=drain_own_copies, daemon=True)
    drainer.start()
    message = b"m" * 60000
    count = 200  # 12 MB: far past what the kernel holds for `slow` (~3 MB) plus the cap.
    try:
        for _ in range(count):
            publisher.send_binary(message)
            # A steady flow, as chat traffic is: the kernel grows its send buffer for `slow` to
            # megabytes and fills it, so the send in flight at the cut can take nothing more.
            # (A burst cuts `slow` off while the buffer is small and still has room.)
            time.sleep(0.003)
        time.sleep(2.5)  # Past --close-timeout: the server has given up on a quick close.
        frames = 0
        while True:
            frame = slow.recv_frame(timeout=15)  # PeerClosed if the stream ends mid-frame.
            if frame.opcode == OP_CLOSE:
                break
            assert frame.opcode == OP_BINARY and frame.fin and frame.payload == message, frame
            frames += 1
        assert 0 < frames < count, frames
        assert frame.close_code == 1008, (frame.close_code, frame.close_reason)
        assert b"slow consumer" in frame.close_reason, frame.close_reason
        slow.expect_eof(timeout=10)
    finally:
        stop.set()
        drainer.join()
        publisher.close()
        slow.close()
