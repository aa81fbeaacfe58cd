"""Bad input on /ws (PROTOCOL.md "Errors"): every malformed request is answered with an `error`
of code `bad_request` (carrying the cid of a `send` that has one) and the connection stays
usable; `rate_limited` past --msg-rate and then close 1008; the per-user connection limit (one
more is accepted and closed 1008); the per-address connection limit (429 at the upgrade)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chat_client import (TIMEOUT, Api, ChatConn, all_connected, chat_args, close_all, connect_all,
                         connected)
from support import run_async
from wsraw import RawConn, upgrade_request

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args(max_chat_body=100)


@pytest.fixture(scope="module")
def pair(shared_server):
    """Two users with a 1:1, shared by the module's tests."""
    api = Api(shared_server.port)
    a, b = api.new_users(2, "err")
    return a, b, api.direct(a, b)


def send(conv_id, **over):
    """A valid send with fields replaced (`...` removes one)."""
    req = {"type": "send", "conv": conv_id, "cid": "cid-1", "body": "hi"}
    req.update(over)
    return {k: v for k, v in req.items() if v is not ...}


# Each case: (id, request builder (conv → frame: dict / str / bytes)).
BAD = [
    ("not-json", lambda c: "this is not json"),
    ("truncated-json", lambda c: '{"type":"ping"'),
    ("array", lambda c: "[1,2,3]"),
    ("string", lambda c: '"ping"'),
    ("number", lambda c: "42"),
    ("null", lambda c: "null"),
    ("empty-text", lambda c: ""),
    ("no-type", lambda c: {"conv": c}),
    ("type-int", lambda c: {"type": 7}),
    ("type-null", lambda c: {"type": None}),
    ("unknown-type", lambda c: {"type": "teleport"}),
    ("type-case", lambda c: {"type": "PING"}),
    ("send-no-conv", lambda c: send(c, conv=...)),
    ("send-conv-string", lambda c: send(str(c))),
    ("send-conv-float", lambda c: send(c, conv=c + 0.5)),
    ("send-no-cid", lambda c: send(c, cid=...)),
    ("send-cid-int", lambda c: send(c, cid=12)),
    ("send-cid-empty", lambda c: send(c, cid="")),
    ("send-cid-65", lambda c: send(c, cid="c" * 65)),
    ("send-no-body", lambda c: send(c, body=...)),
    ("send-body-int", lambda c: send(c, body=5)),
    ("send-body-null", lambda c: send(c, body=None)),
    ("send-body-101", lambda c: send(c, body="b" * 101)),
    ("send-body-102-utf8", lambda c: send(c, body="\u00e9" * 51)),
    ("send-kind-empty", lambda c: send(c, kind="")),
    ("send-kind-33", lambda c: send(c, kind="k" * 33)),
    ("send-kind-int", lambda c: send(c, kind=1)),
    ("delivered-no-seq", lambda c: {"type": "delivered", "conv": c}),
    ("read-seq-string", lambda c: {"type": "read", "conv": c, "seq": "3"}),
    ("read-no-conv", lambda c: {"type": "read", "seq": 1}),
    ("sync-convs-list", lambda c: {"type": "sync", "convs": [c]}),
    ("sync-convs-value-string", lambda c: {"type": "sync", "convs": {str(c): "0"}}),
    ("history-no-conv", lambda c: {"type": "history"}),
    ("history-limit-string", lambda c: {"type": "history", "conv": c, "limit": "5"}),
    ("history-before-string", lambda c: {"type": "history", "conv": c, "before": "5"}),
    ("typing-no-state", lambda c: {"type": "typing", "conv": c}),
    ("typing-state-int", lambda c: {"type": "typing", "conv": c, "state": 1}),
    ("binary", lambda c: b'{"type":"ping"}'),
]


@pytest.mark.parametrize("build", [b for _, b in BAD], ids=[i for i, _ in BAD])
def test_bad_request_keeps_connection_usable(shared_server, pair, build):
    a, b, conv = pair

    async def go():
        async with connected((shared_server.port, a.token, "a")) as [c]:
            frame = build(conv)
            mark = c.mark()
            await c.send_json(json.dumps(frame) if isinstance(frame, dict) else frame)
            err = await c.wait_type("error", start=mark)
            assert err["code"] == "bad_request", err
            assert isinstance(err.get("message"), str) and err["message"], err
            await c.ping()
            # Nothing else came of it: no ack, no message.
            assert not c.typed("ack") and not c.messages(), c.describe()
            ok = await c.send(conv, "still fine")
            assert ok["type"] == "ack", ok

    run_async(go(), 30)


def test_oversize_body_error_carries_cid_and_limits_are_inclusive(shared_server, pair):
    a, b, conv = pair

    async def go():
        async with all_connected(shared_server.port, [a, b]) as [ca, cb]:
            err = await ca.send_raw(conv, "x" * 101, cid="too-long")
            assert err["type"] == "error" and err["code"] == "bad_request", err
            assert err["cid"] == "too-long", err
            # Exactly at the limits: body 100 bytes (50 two-byte characters), cid 64, kind 32.
            ack = await ca.send(conv, "\u00e9" * 50, cid="c" * 64, kind="k" * 32)
            m = await cb.wait_message(conv, lambda m: m["id"] == ack["id"])
            assert (m["body"], m["kind"]) == ("\u00e9" * 50, "k" * 32), m
            # The refused send was not stored: the cid is free for a real message.
            ok = await ca.send(conv, "now short", cid="too-long")
            assert ok["seq"] == ack["seq"] + 1, (ack, ok)
            await cb.ping()
            assert "x" * 101 not in [m["body"] for m in cb.messages()], cb.describe()

    run_async(go(), 30)


@pytest.mark.parametrize("frame, message, cid", [
    ('{"type":"send","conv":CONV,"cid":"","body":"x"}', 'field "cid" must be 1 to 64 bytes', ""),
    ('{"type":"send","conv":CONV,"cid":"' + "c" * 65 + '","body":"x"}',
     'field "cid" must be 1 to 64 bytes', "c" * 65),
    ('{"type":"send","conv":CONV,"cid":12,"body":"x"}', 'field "cid" must be a string', 12),
    ('{"type":"send","conv":"CONV","cid":"c-conv","body":"x"}',
     'field "conv" must be a positive integer', "c-conv"),
    ('{"type":"send","conv":CONV,"conv":CONV,"cid":"c-dup","body":"x"}',
     'duplicate field "conv"', "c-dup"),
    ('{"type":"send","conv":CONV,"cid":"c-sur","body":"\\udc00"}',
     'field "body" is not a valid string', "c-sur"),
    # PostgreSQL's text cannot hold U+0000: refused on every store alike.
    ('{"type":"send","conv":CONV,"cid":"c-nul","body":"a\\u0000b"}',
     'field "body" must not contain U+0000', "c-nul"),
], ids=["cid-empty", "cid-65", "cid-number", "conv-string", "duplicate", "lone-surrogate",
        "nul"])
def test_errors_name_the_fault_and_echo_the_cid(shared_server, pair, frame, message, cid):
    a, b, conv = pair

    async def go():
        async with connected((shared_server.port, a.token, "conn")) as [c]:
            err = await c.call(frame.replace("CONV", str(conv)), "ack")
            assert err["type"] == "error" and err["code"] == "bad_request", err
            assert err["message"].startswith(message), err
            assert "cid" in err and err["cid"] == cid, err

    run_async(go(), 30)


def test_unknown_fields_are_ignored(shared_server, pair):
    a, b, conv = pair

    async def go():
        async with connected((shared_server.port, a.token, "conn")) as [c]:
            ack = await c.call({"type": "send", "conv": conv, "cid": "extra-fields",
                                "body": "x", "priority": "high", "nested": {"a": [1]}}, "ack")
            assert ack["type"] == "ack", ack
            pong = await c.call({"type": "ping", "payload": 1}, "pong")
            assert pong["type"] == "pong", pong

    run_async(go(), 30)


# -- rate limit -------------------------------------------------------------------------------


@pytest.mark.server_args(*chat_args(msg_rate=5))
def test_rate_limited_then_usable_again(server):
    api = Api(server.port)
    a = api.new_user("rate")

    async def go():
        async with connected((server.port, a.token, "conn")) as [c]:
            # Burst 10 (twice --msg-rate): 15 at once leaves some over it, not yet 2 × burst.
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for _ in range(15):
                await c.send_json({"type": "ping"})
            await c.wait_count(lambda e: e.get("type") in ("pong", "error"), 15)
            elapsed = loop.time() - t0
            pongs = len(c.typed("pong"))
            limited = c.typed("error", code="rate_limited")
            assert limited, c.describe()
            assert pongs + len(limited) == 15, c.describe(limit=20)
            # The whole burst passes; beyond it only what 5/s refilled meanwhile (+1 slack).
            assert 10 <= pongs <= 10 + 5 * elapsed + 1, (pongs, elapsed)
            assert c.closed is None
            # Dropped, not queued: after a pause the bucket has refilled and requests pass.
            await asyncio.sleep(2.5)
            mark = c.mark()
            await c.ping()
            assert not c.typed("error", mark), c.describe(mark)

    run_async(go(), 30)


@pytest.mark.server_args(*chat_args(msg_rate=5))
def test_rate_limit_abuse_closes_1008(server):
    api = Api(server.port)
    a, b, conv = api.direct_pair("abuse")

    async def go():
        c = await ChatConn.connect(server.port, a.token)
        other = await ChatConn.connect(server.port, a.token, name="second device")
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for i in range(200):
                if c.closed is not None:
                    break
                try:
                    await c.send_json(c.send_request(conv, f"spam {i}", cid=f"spam-{i}"))
                except Exception:  # noqa: BLE001 - closed under us: what the test expects
                    break
                await asyncio.sleep(0.002)
            code, reason = await c.wait_closed(15)
            elapsed = loop.time() - t0
            assert (code, reason) == (1008, "rate limit exceeded"), (code, reason)
            limited = c.typed("error", code="rate_limited")
            assert limited, c.describe()
            assert all(e.get("cid", "").startswith("spam-") for e in limited), limited[:3]
            acks = c.typed("ack")
            # Burst 10, then 5 a second (+1 for timing slack).
            allowed = 10 + 5 * elapsed + 1
            assert 1 <= len(acks) <= allowed, (len(acks), elapsed)
            # The limit is per connection: the user's other connection is fine.
            await other.ping()
            ok = await other.send(conv, "not spam")
            return acks, ok, allowed
        finally:
            await close_all([c, other])

    acks, ok, allowed = run_async(go(), 40)
    # What was stored: each acked message once, nothing over the rate, seqs gap-free. (A send
    # let through just before the close may be stored without its ack having arrived.)
    hist = api.all_messages(b, conv)
    assert [m["seq"] for m in hist] == list(range(1, ok["seq"] + 1)), hist
    spam = [m["body"] for m in hist[:-1]]
    assert len(set(spam)) == len(spam) and len(spam) <= allowed, spam
    assert {f"spam {a['cid'][5:]}" for a in acks} <= set(spam), (acks, spam)


# -- connections per user ---------------------------------------------------------------------


@pytest.mark.server_args(*chat_args(max_conns_per_user=2))
def test_too_many_connections_for_one_user(server):
    api = Api(server.port)
    a, b = api.new_users(2, "conns")

    async def go():
        first = await connect_all(server.port, [a, a])
        try:
            # The count is over all shards: several attempts land on either shard, and each
            # one is refused.
            for i in range(4):
                extra = await ChatConn.connect(server.port, a.token, name=f"extra{i}",
                                               hello=False)
                code, reason = await extra.wait_closed(15)
                assert (code, reason) == (1008, "too many connections for this user"), \
                    (code, reason, extra.describe())
            for c in first:
                await c.ping()
            # Another user is not affected.
            others = await connect_all(server.port, [b, b])
            await close_all(others)
            # Once one closes, a new connection is allowed again (the count is released).
            await first[0].close()
            for attempt in range(50):
                again = await ChatConn.connect(server.port, a.token, name="again", hello=False)
                try:
                    await again.wait_for(lambda e: e.get("type") == "hello", 10, "hello")
                    await again.ping()
                    await again.close()
                    break
                except AssertionError:
                    if again.closed is None or again.closed[0] != 1008:
                        raise
                    await asyncio.sleep(0.1)  # The close may not be processed yet.
            else:
                raise AssertionError("a connection never got through after one was closed")
        finally:
            await close_all(first)

    run_async(go(), 40)


@pytest.mark.sqlite_only("a per-node count at the upgrade; the store plays no part")
@pytest.mark.server_args(*chat_args(max_conns_per_ip=3, trusted_proxies="127.0.0.1"))
def test_too_many_connections_from_one_address(server):
    """--max-conns-per-ip (issue 29, item 3): past it the upgrade is answered 429, counted per
    client address over the node's shards, the address a trusted proxy forwards included."""
    user = Api(server.port).new_user("perip")
    held: list[RawConn] = []

    def upgrade(source: str = "127.0.0.1", forwarded: str | None = None):
        conn = RawConn.open(server.port, timeout=TIMEOUT, source=source)
        extra = [("X-Forwarded-For", forwarded)] if forwarded else None
        conn.send(upgrade_request("/ws?token=" + user.token, extra=extra))
        r = conn.read_http_response(TIMEOUT)
        if r.status == 101:
            held.append(conn)
        else:
            conn.close()
        return r

    try:
        # Several connections, so both shards take some: the count is the node's.
        for i in range(3):
            assert upgrade().status == 101, i
        for _ in range(2):
            r = upgrade()
            assert r.status == 429, r
            assert json.loads(r.body)["error"] == \
                "too many connections from this address (--max-conns-per-ip)", r
        # Behind the trusted proxy (127.0.0.1), the forwarded client is its own address; from
        # an untrusted peer the header is ignored and the peer is the client.
        for i in range(3):
            assert upgrade(forwarded="10.9.8.7").status == 101, i
        assert upgrade(forwarded="10.9.8.7").status == 429
        assert upgrade(source="127.0.0.2", forwarded="10.9.8.7").status == 101
        # Plain HTTP is not counted (PROTOCOL.md says why).
        assert Api(server.port).request("GET", "/health").status == 200
        # A closed connection frees its place.
        held.pop(0).close()
        for _ in range(50):
            r = upgrade()
            if r.status == 101:
                break
            assert r.status == 429, r
            time.sleep(0.1)  # The close may not have reached the count yet.
        else:
            raise AssertionError("no connection got through after one closed")
    finally:
        for conn in held:
            conn.close()
