"""What a session of the HTTP transports (PROTOCOL.md, "SSE and long polling") gives away and
what it costs, against the real binary:

- ids: the secret part of a session id is 128 bits from the CSPRNG, so that one id tells
  nothing of the next (they were a bijective mix of a counter: one observed id gave the next
  user's); and another user's session is answered exactly as one that is not there (same
  status, headers and body), so that an answer tells nothing of which ids exist;
- opens: one refused as it starts (past --max-conns-per-user) takes its close event and leaves
  nothing behind (no channel kept for --sse-grace); and past --sse-opens-per-minute a user's
  opens are answered 429 with Retry-After before anything is made for them.
"""

from __future__ import annotations

import secrets

from chat_client import Api, ChatConn, aio, chat_args
from prometheus import scrape, value
from sse_client import SseConn, http_request, poll, query
from support import run_async

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
CAP_CLOSE = {"type": "close", "code": 1008, "reason": "too many connections for this user"}


def unxorshift(x: int, shift: int) -> int:
    """The inverse of x ^= x >> shift on 64 bits."""
    result = x
    for _ in range(64 // shift + 1):
        result = x ^ (result >> shift)
    return result & MASK


def old_next(secret: int) -> int:
    """The id the old scheme (splitmix64 over a counter stepped by the golden ratio) made next
    on the same shard, from the one before."""
    z = unxorshift(secret, 31)
    z = (z * pow(0x94D049BB133111EB, -1, 1 << 64)) & MASK
    z = unxorshift(z, 27)
    z = (z * pow(0xBF58476D1CE4E5B9, -1, 1 << 64)) & MASK
    counter = unxorshift(z, 30)
    z = (counter + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def halves(secret_hex: str) -> list[int]:
    return [int(secret_hex[i:i + 16], 16) for i in range(0, len(secret_hex) - 15, 16)]


async def answers_for(port: int, token: str, session: str) -> list[tuple[int, dict, bytes]]:
    """A poll and a POST naming `session`: (status, headers but Date, body) of each."""
    got = []
    for method, target, body in (
            ("GET", "/sse/poll?" + query(session=session, after=0), None),
            ("POST", "/sse/send?" + query(session=session), '{"type":"ping"}')):
        status, headers, raw = await http_request(port, method, target, token=token, body=body)
        headers.pop("date", None)
        got.append((status, headers, raw))
    return got


def test_session_ids_are_unpredictable(server_factory):
    srv = server_factory(*chat_args())
    owner = Api(srv.port).new_user("sseid")

    async def go():
        ids = []
        for _ in range(12):
            status, first = await poll(srv.port, owner.token)
            assert status == 200, first
            ids.append(first["session"])
        by_shard: dict[str, list[str]] = {}
        for session in ids:
            secret, shard = session.split("~")[:2]
            by_shard.setdefault(shard, []).append(secret)
        for secrets_made in by_shard.values():
            for before, after in zip(secrets_made, secrets_made[1:]):
                predicted = {old_next(part) for part in halves(before)}
                assert not predicted & set(halves(after)), f"{after} follows from {before}"
                differ = bin(int(before, 16) ^ int(after, 16)).count("1")
                assert differ > 40, f"{before} then {after}: {differ} bits differ"
        for session in ids:
            secret = session.split("~")[0]
            assert len(secret) * 4 >= 128, f"a secret of {len(secret) * 4} bits: {session}"

    run_async(go(), 60)


def test_another_users_session_is_answered_as_one_that_is_not_there(server_factory):
    srv = server_factory(*chat_args())
    owner, other = Api(srv.port).new_users(2, "sseid")

    async def go():
        status, first = await poll(srv.port, owner.token)
        assert status == 200, first
        session = first["session"]
        # Another user's session, and a made-up one of the same shape: one answer.
        secret, rest = session.split("~", 1)
        made_up = secrets.token_hex(len(secret) // 2) + "~" + rest
        theirs = await answers_for(srv.port, other.token, session)
        nobodys = await answers_for(srv.port, other.token, made_up)
        assert theirs == nobodys, f"another user's: {theirs}; a made-up one: {nobodys}"
        assert [status for status, _, _ in theirs] == [404, 404], theirs
        # The owner's own session is there.
        status, answer = await poll(srv.port, owner.token, session, 0)
        assert status == 200 and answer["session"] == session, answer

    run_async(go(), 60)


def test_refused_opens_leave_no_channel_behind(server_factory):
    srv = server_factory(*chat_args(max_conns_per_user=2, sse_grace=30))
    user = Api(srv.port).new_user("refused")

    async def go():
        ws = await ChatConn.connect(srv.port, user.token, name="ws")
        status, live = await poll(srv.port, user.token)  # The user's second: at the cap.
        assert status == 200 and live["events"][0]["data"]["type"] == "hello", live
        try:
            refused = []
            for i in range(20):  # Streams and polls alike, each refused as it starts.
                if i % 2:
                    conn = await SseConn.open(srv.port, user.token, name=f"stream-{i}")
                    await conn.close()
                    assert conn.events == [CAP_CLOSE], conn.events
                    refused.append(conn.session)
                else:
                    status, answer = await poll(srv.port, user.token)
                    assert status == 200, answer
                    assert [e["data"] for e in answer["events"]] == [CAP_CLOSE], answer
                    refused.append(answer["session"])
            # Nothing of them is kept for --sse-grace: each is gone at once.
            for session in refused:
                status, answer = await poll(srv.port, user.token, session, 0)
                assert status == 404, f"refused session {session} kept: {status} {answer}"
            families = (await aio(scrape, srv.port))[0]
            assert "ringcast_chat_sse_channels" in families
            assert value(families, "ringcast_chat_sse_channels") == 1  # The live one only.
            assert value(families, "ringcast_chat_sessions_by_transport", transport="poll") == 1
            status, answer = await poll(srv.port, user.token, live["session"], 0)
            assert status == 200, answer  # The live session still answers.
        finally:
            await ws.close()

    run_async(go(), 60)


def test_opens_past_the_rate_get_429_with_retry_after(server_factory):
    srv = server_factory(*chat_args(sse_opens_per_minute=5))
    user, other = Api(srv.port).new_users(2, "rate")

    async def go():
        streams = []
        try:
            for i in range(5):
                if i % 2:
                    streams.append(await SseConn.open(srv.port, user.token, name=f"s{i}"))
                else:
                    status, _ = await poll(srv.port, user.token)
                    assert status == 200
            for target in ("/sse", "/sse/poll"):
                status, headers, body = await http_request(srv.port, "GET", target,
                                                           token=user.token)
                assert status == 429, (target, status, body)
                assert 1 <= int(headers["retry-after"]) <= 60, headers
                assert b"--sse-opens-per-minute" in body, body
            # Per user: another one opens; and the user's own sessions go on (a resume of a
            # stream is not an open).
            status, _ = await poll(srv.port, other.token)
            assert status == 200
            resumed = await SseConn.open(srv.port, user.token, last_event_id=streams[0].last_id,
                                         hello=False)
            streams.append(resumed)
            assert resumed.resumed is True, resumed.session
            await resumed.ping()
        finally:
            for conn in streams:
                await conn.close()

    run_async(go(), 60)
