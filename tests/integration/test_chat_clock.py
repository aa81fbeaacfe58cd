"""Durations are measured on the monotonic clock (issue 8, item 4): a wall-clock step, as NTP
or an operator makes, closes no chat session and leaves timeouts alone, while timestamps shown to
users (`ts`) follow the wall clock.

The server's wall clock is stepped with libfaketime (Debian package `faketime`, installed by
tools/deps.sh test): LD_PRELOAD with an offset read from a file the test rewrites, and
DONT_FAKE_MONOTONIC=1 so only CLOCK_REALTIME moves, as in a real step."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from chat_client import Api, ChatConn, chat_args, connected, now_ms
from support import run_async

LIBFAKETIME = pathlib.Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
HOUR_MS = 3600 * 1000


def faketime_env(offset_file: pathlib.Path) -> dict[str, str]:
    offset_file.write_text("+0\n")
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_CACHE_DURATION": "1",  # The file is read again at most once a second.
        "DONT_FAKE_MONOTONIC": "1",
    }


@pytest.mark.sqlite_only("the engine's timers, which no store takes part in; libfaketime moves "
                         "only the server's clock, not a database server's")
@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime not installed (tools/deps.sh test)")
def test_wall_clock_steps_close_no_session(server_factory, tmp_path):
    offset = tmp_path / "faketime.rc"
    srv = server_factory(*chat_args(presence_timeout=30, presence_grace=1),
                         env=faketime_env(offset), start=False)
    if srv.sanitized:
        pytest.skip("ASan's runtime must be the first library loaded, before libfaketime")
    srv.start()
    api = Api(srv.port)
    a, b, conv = api.direct_pair("clock")

    async def ts_of_a_message(conn: ChatConn) -> int:
        return (await conn.send(conv, "what time is it"))["ts"]

    async def go():
        async with connected((srv.port, a.token, "a"), (srv.port, b.token, "b")) as [ca, cb]:
            assert abs(await ts_of_a_message(ca) - now_ms()) < 60_000
            for step, expected in (("-1h", -HOUR_MS), ("+1h", +HOUR_MS)):
                offset.write_text(step + "\n")
                # libfaketime reads the file within a second, the server sweeps once a second:
                # before the fix, both sessions were closed 1008 "presence timeout" by now.
                await asyncio.sleep(3.5)
                for conn in (ca, cb):
                    assert conn.closed is None, f"{step}: {conn.name} closed {conn.closed}"
                    await conn.ping()
                # The step did happen, and `ts` follows it (timestamps are wall-clock time).
                skew = await ts_of_a_message(cb) - now_ms()
                assert abs(skew - expected) < 60_000, f"{step}: ts off by {skew} ms"

    run_async(go(), 60)
