"""Presence (PROTOCOL.md "presence"): hello's presence list, online on the first connection,
offline only after --presence-grace once the last connection closes (no offline/online pair for
a quick reconnect), several devices, `last_online` persisted, new contacts' presence told at
once (a conversation created or members added while both are connected), and the heartbeat
timeout (--presence-timeout) closing a silent connection with 1008 while any frame keeps one
alive."""

from __future__ import annotations

import asyncio

import pytest

from chat_client import (Api, ChatConn, all_connected, chat_args, close_all, connect_all, connected,
                         now_ms)
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores


def presence_of(conn: ChatConn, user, start: int = 0) -> list[dict]:
    return conn.typed("presence", start, user=user.id)


@pytest.mark.server_args(*chat_args(presence_grace=1))
def test_hello_lists_the_presence_of_contacts(server):
    api = Api(server.port)
    a, b, c, stranger = api.new_users(4, "hello")
    api.direct(a, b)
    api.group(a, [c], "with c")

    async def go():
        cb = await ChatConn.connect(server.port, b.token, name="b")
        cs = await ChatConn.connect(server.port, stranger.token, name="stranger")
        try:
            async with connected((server.port, a.token, "a")) as [ca]:
                hello = ca.typed("hello")[0]
                assert hello["user"] == a.id, hello
                listed = {p["user"]: p for p in hello["presence"]}
                assert b.id in listed and c.id in listed, hello
                assert stranger.id not in listed, hello
                assert set(listed) <= {a.id, b.id, c.id}, hello
                assert listed[b.id]["status"] == "online", hello
                assert listed[c.id]["status"] == "offline", hello
                assert listed[c.id]["last_online"] is None, hello  # Never connected.
        finally:
            await close_all([cb, cs])

    run_async(go(), 30)


def test_new_contacts_learn_each_others_presence_at_once(shared_server):
    api = Api(shared_server.port)
    a, b, c, d = api.new_users(4, "meet")

    async def go():
        async with all_connected(shared_server.port, [a, b, c]) as conns:
            ca, cb, cc = conns
            # A 1:1 created while both are connected: each hears the other is online, after the
            # conversation's own event.
            api.direct(a, b)
            for conn, other in ((ca, b), (cb, a)):
                members = await conn.wait_type("members")
                p = await conn.wait_type("presence", user=other.id)
                assert p["status"] == "online", conn.describe()
                assert conn.events.index(members) < conn.events.index(p), conn.describe()

            # Members added: the newcomer learns everyone's presence (d never connected), the
            # others the newcomer's; nobody hears again of a contact it already had.
            marks = {conn: conn.mark() for conn in conns}
            conv = api.group(a, [b, d], "meet")
            await cb.wait_type("members", start=marks[cb], conv=conv)
            r = api.add_members(a, conv, [c])
            assert r.status == 200, r
            for conn, other in ((ca, c), (cb, c), (cc, a), (cc, b)):
                p = await conn.wait_type("presence", start=marks[conn], user=other.id)
                assert p["status"] == "online", conn.describe()
            p = await cc.wait_type("presence", start=marks[cc], user=d.id)
            assert p == {"type": "presence", "user": d.id, "status": "offline",
                         "last_online": None}, p
            await asyncio.sleep(0.3)
            for conn, other in ((ca, b), (cb, a), (ca, d), (cb, d)):
                assert len(presence_of(conn, other, marks[conn])) == \
                    (1 if other is d else 0), conn.describe()
            assert len(presence_of(cc, a, marks[cc])) == 1, cc.describe()

    run_async(go(), 30)


@pytest.mark.slow
@pytest.mark.server_args(*chat_args(presence_grace=1))
def test_online_on_connect_offline_after_grace_and_last_online(server):
    api = Api(server.port)
    a, b, stranger = api.new_users(3, "onoff")
    api.direct(a, b)

    async def go():
        loop = asyncio.get_running_loop()
        ca = await ChatConn.connect(server.port, a.token, name="a")
        cs = await ChatConn.connect(server.port, stranger.token, name="stranger")
        try:
            connected_at = now_ms()
            cb = await ChatConn.connect(server.port, b.token, name="b")
            on = await ca.wait_type("presence", user=b.id, status="online")
            assert set(on) >= {"type", "user", "status", "last_online"}, on

            mark = ca.mark()
            await cb.close()
            closed_at = loop.time()
            off = await ca.wait_type("presence", start=mark, user=b.id, timeout=15)
            waited = loop.time() - closed_at
            assert off["status"] == "offline", off
            assert waited >= 0.8, f"offline after {waited:.2f} s, grace is 1 s"
            last = off["last_online"]
            assert isinstance(last, int) and connected_at - 1000 <= last <= now_ms() + 1000, off

            # A later hello reports it (as stored), and the stranger heard nothing of b.
            ca2 = await ChatConn.connect(server.port, a.token, name="a2")
            listed = {p["user"]: p for p in ca2.typed("hello")[0]["presence"]}
            assert listed[b.id]["status"] == "offline", listed
            assert listed[b.id]["last_online"] == last, (listed, off)
            await ca2.close()
            await cs.ping()
            assert not presence_of(cs, b), cs.describe()

            # Back online; then gone without a close handshake (a vanished client).
            mark = ca.mark()
            cb = await ChatConn.connect(server.port, b.token, name="b again")
            on = await ca.wait_type("presence", start=mark, user=b.id)
            assert on["status"] == "online", on
            mark = ca.mark()
            cb.abort()
            off = await ca.wait_type("presence", start=mark, user=b.id, timeout=15)
            assert off["status"] == "offline" and off["last_online"] >= last, off
            await cb.close()
        finally:
            await close_all([ca, cs])

    run_async(go(), 50)


@pytest.mark.slow
@pytest.mark.sqlite_only("presence timing: no store in it")
@pytest.mark.server_args(*chat_args(presence_grace=3))
def test_quick_reconnect_within_grace_does_not_flap(server):
    a, b, _ = Api(server.port).direct_pair("flap")

    async def go():
        loop = asyncio.get_running_loop()
        async with connected((server.port, a.token, "a"), (server.port, b.token, "b")) as conns:
            ca, cb = conns
            await ca.wait_type("presence", user=b.id, status="online")
            mark = ca.mark()
            await cb.close()
            await asyncio.sleep(0.3)
            cb = conns[1] = await ChatConn.connect(server.port, b.token, name="b again")
            await asyncio.sleep(4.0)  # Past the grace of the first close.
            await ca.ping()
            await cb.ping()
            assert not presence_of(ca, b, mark), ca.describe(mark)

            # Now for good: offline after the grace, not before.
            await cb.close()
            closed_at = loop.time()
            off = await ca.wait_type("presence", start=mark, user=b.id, timeout=20)
            waited = loop.time() - closed_at
            assert off["status"] == "offline" and 2.5 <= waited, (off, waited)

    run_async(go(), 50)


@pytest.mark.server_args(*chat_args(presence_grace=0))
def test_online_while_any_device_is_connected(server):
    a, b, _ = Api(server.port).direct_pair("dev")

    async def go():
        loop = asyncio.get_running_loop()
        ca = await ChatConn.connect(server.port, a.token, name="a")
        b1, b2 = await connect_all(server.port, [b, b])
        try:
            await ca.wait_type("presence", user=b.id, status="online")
            await asyncio.sleep(0.3)
            assert len(presence_of(ca, b)) == 1, ca.describe()  # Online once, not per device.
            mark = ca.mark()
            await b1.close()
            await asyncio.sleep(1.0)
            await ca.ping()
            assert not presence_of(ca, b, mark), ca.describe(mark)
            await b2.close()
            t0 = loop.time()
            off = await ca.wait_type("presence", start=mark, user=b.id)
            assert off["status"] == "offline" and loop.time() - t0 < 5, off
        finally:
            await close_all([ca, b1, b2])

    run_async(go(), 30)


@pytest.mark.slow
@pytest.mark.sqlite_only("presence timing: no store in it")
@pytest.mark.server_args(*chat_args(presence_timeout=2, presence_grace=0))
def test_silent_connection_is_closed_by_presence_timeout(server):
    api = Api(server.port)
    a, b, c = api.new_users(3, "hb")
    api.group(a, [b, c], "heartbeat")

    async def go():
        loop = asyncio.get_running_loop()
        # a heartbeats with `ping` messages, c with WebSocket pings only, b is silent.
        ca = await ChatConn.connect(server.port, a.token, name="a (ping messages)")
        cc = await ChatConn.connect(server.port, c.token, name="c (ws pings)",
                                    ping_interval=0.5, ping_timeout=10)
        t0 = loop.time()
        cb = await ChatConn.connect(server.port, b.token, name="b (silent)",
                                    ping_interval=None)

        async def heartbeat():
            while True:
                await ca.send_json({"type": "ping"})
                await asyncio.sleep(0.5)

        beat = asyncio.ensure_future(heartbeat())
        try:
            code, reason = await cb.wait_closed(15)
            elapsed = loop.time() - t0
            assert (code, reason) == (1008, "presence timeout"), (code, reason)
            assert elapsed >= 1.5, f"closed after {elapsed:.2f} s; timeout is 2 s"
            off = await ca.wait_for(lambda e: e.get("type") == "presence"
                                    and e.get("user") == b.id and e.get("status") == "offline",
                                    10, "b offline")
            assert off["last_online"] is not None, off
            await asyncio.sleep(max(0.0, 5.0 - (loop.time() - t0)))
            assert ca.closed is None and cc.closed is None, (ca.closed, cc.closed)
            await ca.ping()
            await cc.ping()
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            await close_all([ca, cb, cc])

    run_async(go(), 40)
