"""STOMP 1.2 over WebSocket (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"), raw frames over
python3-websockets (stomp_client.py) next to /ws JSON clients (chat_client.py) in the same
conversations, on SQLite (the gateway is the same whatever the store):

- the route and subprotocol: /stomp with and without v12.stomp, /ws offering v12.stomp, a
  client offering only other versions (400), accept-version without 1.2;
- CONNECT: the token as passcode or Authorization, a missing, bad or revoked token (ERROR with
  a message, then the close), a frame before CONNECT, --handshake-timeout, bytes before CONNECT;
- SEND /app/chat.send: the same seq as the /ws clients see, the RECEIPT only once the message
  is committed (history has it), the ack on /user/queue/acks, idempotent resend by cid;
- read receipts, typing, sync (resume) and history through /app/...;
- SUBSCRIBE: a conversation's topic (a non-member refused: on /user/queue/errors when
  subscribed, else ERROR and close), personal queues, hello on the first /user/queue/events;
- the frame edges: malformed frames, escapes both ways, several frames in one message, a frame
  split over messages, frames pipelined behind CONNECT, bodies over --max-chat-body, ACK and
  transactions refused;
- heart-beats both ways; DISCONNECT with a receipt after the earlier SENDs' acks.

Across two nodes (needs_pg, needs_redis): a STOMP client on one node and a /ws client on the
other in one conversation: the same seqs both ways, read receipts crossing.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from chat_client import Api, ChatConn, aio, chat_args, opened
from stomp_client import StompConn, frame
from support import run_async

# The frames, destinations and subscriptions are the gateway's, whatever the store: the chat
# suites run the stores' differences on PostgreSQL, so this module runs on SQLite only (CI time).
pytestmark = [pytest.mark.both_stores,
              pytest.mark.sqlite_only("STOMP is the gateway's: the store behind it is the chat suites'")]

SERVER_ARGS = chat_args(stomp_heartbeat_ms=1000)

EVENTS = "/user/queue/events"
ACKS = "/user/queue/acks"
ERRORS = "/user/queue/errors"


def topic(conv: int) -> str:
    return f"/topic/conversation.{conv}"


def send_frame(conv: int, body: str, cid: str | None = None, receipt: str | None = None,
               **extra) -> str:
    headers = {"destination": "/app/chat.send", "conversation": str(conv)}
    if cid is not None:
        headers["cid"] = cid
    if receipt is not None:
        headers["receipt"] = receipt
    headers.update(extra)
    return frame("SEND", headers, body)


async def expect_error(conn: StompConn, message_part: str, timeout: float = 10.0):
    """An ERROR whose message holds `message_part`, then the server's close."""
    error = await conn.wait_frame("ERROR", timeout=timeout)
    assert message_part in error.headers.get("message", ""), conn.describe()
    code, _ = await conn.wait_closed()
    return error, code


# -- the route, the subprotocol, CONNECT --------------------------------------------------------


def test_route_and_subprotocol_negotiation(shared_server, api):
    port = shared_server.port
    a = api.new_user("route")

    async def go():
        # /stomp offering the three versions (what @stomp/stompjs sends): v12.stomp is chosen.
        c = await StompConn.open(port, subprotocols=("v10.stomp", "v11.stomp", "v12.stomp"))
        assert c.ws.subprotocol == "v12.stomp"
        await c.close()
        # No subprotocol: the path says STOMP; the 101 names none.
        c = await StompConn.open(port, subprotocols=None)
        assert c.ws.subprotocol is None
        await c.send(frame("CONNECT", {"accept-version": "1.2", "passcode": a.token}))
        await c.wait_frame("CONNECTED")
        await c.close()
        # /ws offering v12.stomp is STOMP, no token on the URL.
        c = await StompConn.open(port, path="/ws")
        assert c.ws.subprotocol == "v12.stomp"
        await c.send(frame("CONNECT", {"accept-version": "1.1,1.2", "passcode": a.token}))
        connected = await c.wait_frame("CONNECTED")
        assert connected.headers["user-name"] == str(a.id), connected
        await c.close()
        # Only older versions offered: refused before the upgrade.
        with pytest.raises(websockets.InvalidStatusCode) as refused:
            await StompConn.open(port, subprotocols=("v10.stomp", "v11.stomp"))
        assert refused.value.status_code == 400
        # A plain /ws JSON client is unaffected by a subprotocol it offers.
        ws = await ChatConn.connect(port, a.token, subprotocols=["chat"])
        await ws.close()

    run_async(go(), 30)


def test_connected_names_the_session_and_the_heartbeats(shared_server, api):
    a = api.new_user("conn")

    async def go():
        c = await StompConn.open(shared_server.port)
        await c.send(frame("CONNECT", {"accept-version": "1.0,1.1,1.2", "host": "x",
                                       "heart-beat": "500,3000",
                                       "Authorization": f"Bearer {a.token}"}))
        connected = await c.wait_frame("CONNECTED")
        assert connected.headers["version"] == "1.2"
        # --stomp-heartbeat-ms 1000 both ways.
        assert connected.headers["heart-beat"] == "1000,1000"
        assert connected.headers["server"].startswith("ringcast/")
        assert connected.headers["user-name"] == str(a.id)
        assert int(connected.headers["session"]) > 0
        # hello comes with the first subscription to /user/queue/events.
        await c.subscribe("e", EVENTS)
        hello = (await c.wait_event(EVENTS, "hello")).json()
        assert hello["user"] == a.id and hello["device"] == int(connected.headers["session"])
        await c.close()

    run_async(go(), 30)


@pytest.mark.parametrize("headers,message", [
    ({"accept-version": "1.2"}, "missing token"),
    ({"accept-version": "1.2", "passcode": "not.a.token"}, "invalid token"),
    ({"accept-version": "1.2", "Authorization": "Basic abc"}, "missing token"),
    ({"accept-version": "1.0,1.1", "passcode": "x"}, "STOMP 1.2 only"),
    ({"passcode": "x"}, "STOMP 1.2 only"),  # No accept-version: a STOMP 1.0 client.
    ({"accept-version": "1.2", "passcode": "{token}", "heart-beat": "x"}, "heart-beat"),
])
def test_bad_connect_is_an_error_frame_then_the_close(shared_server, api, headers, message):
    a = api.new_user("bad")
    headers = {k: v.replace("{token}", a.token) for k, v in headers.items()}

    async def go():
        c = await StompConn.open(shared_server.port)
        await c.send(frame("CONNECT", headers))
        error, code = await expect_error(c, message)
        assert code == 1008, c.closed
        assert not c.matching("CONNECTED")

    run_async(go(), 30)


def test_a_revoked_token_is_refused_and_a_logout_ends_the_session(shared_server, api):
    a = api.new_user("revoke")
    other = api.login_user(a.name, a.id)

    async def go():
        live = await StompConn.connect(shared_server.port, other.token)
        await live.subscribe("e", EVENTS)
        assert (await aio(api.logout, other.token)).status == 200
        error, code = await expect_error(live, "token revoked")
        assert code == 1008
        c = await StompConn.open(shared_server.port)
        await c.send(frame("CONNECT", {"accept-version": "1.2", "passcode": other.token}))
        await expect_error(c, "token revoked")

    run_async(go(), 30)


def test_frames_before_connect(shared_server, api):
    async def go():
        c = await StompConn.open(shared_server.port)
        await c.send("\n\n" + frame("SUBSCRIBE", {"id": "0", "destination": EVENTS}))
        await expect_error(c, "the first frame must be CONNECT")
        # More than --max-header-bytes (8192) of an unfinished frame before CONNECT.
        c = await StompConn.open(shared_server.port)
        await c.send("CONNECT\naccept-version:1.2\nx:" + "y" * 9000)
        await expect_error(c, "headers are too large")

    run_async(go(), 30)


@pytest.mark.server_args(*chat_args(handshake_timeout=1))
def test_no_connect_within_the_handshake_timeout(server):
    async def go():
        c = await StompConn.open(server.port)
        started = time.monotonic()
        await c.send("\n")  # A heart-beat is not a CONNECT.
        await expect_error(c, "no CONNECT frame within --handshake-timeout", timeout=5)
        assert time.monotonic() - started < 4

    run_async(go(), 30)


# -- SEND and the chat service ---------------------------------------------------------------


def test_send_same_seq_as_ws_clients_receipt_after_commit(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("send")

    async def go():
        async with opened(StompConn.connect(port, a.token),
                          ChatConn.connect(port, a.token, name="a-ws"),
                          ChatConn.connect(port, b.token, name="b-ws")) as [s, ws_a, ws_b]:
            await s.subscribe("t", topic(conv))
            await s.subscribe("k", ACKS)
            receipt = await s.send_for_receipt(
                send_frame(conv, "from stomp \u2764\nsecond line", cid="s-1", receipt="r-1"), "r-1")
            # The RECEIPT follows the commit: the store has the message when it arrives.
            stored = await aio(api.all_messages, a, conv)
            assert [(m["seq"], m["body"]) for m in stored] == \
                [(1, "from stomp \u2764\nsecond line")], stored
            ack_frame = await s.wait_event(ACKS, "ack", cid="s-1")
            ack = ack_frame.json()
            assert (ack["conv"], ack["seq"]) == (conv, 1), ack
            # The ack's MESSAGE came ahead of the RECEIPT (stomp.test.js reads it on the RECEIPT).
            assert s.frames.index(ack_frame) < s.frames.index(receipt), s.describe()
            live = await s.wait_event(topic(conv), "message", seq=1)
            assert live.headers["subscription"] == "t"
            assert live.headers["content-type"] == "application/json"
            assert live.headers["message-id"]
            assert int(live.headers["content-length"]) == len(live.body.encode())
            for c in (ws_a, ws_b):
                m = await c.wait_message(conv)
                assert m == {**live.json()}, (c.name, m, live)
            # The message event reached the topic before the ack (as on /ws).
            assert s.frames.index(live) < s.frames.index(receipt)

            # A /ws send reaches the STOMP subscriber with its seq.
            ack2 = await ws_b.send(conv, "from ws")
            m2 = (await s.wait_event(topic(conv), "message", seq=ack2["seq"])).json()
            assert (m2["seq"], m2["from"], m2["body"]) == (2, b.id, "from ws"), m2

    run_async(go(), 60)


def test_idempotent_resend_by_cid(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("idem")

    async def go():
        async with opened(StompConn.connect(port, a.token),
                          ChatConn.connect(port, b.token, name="b-ws")) as [s, ws_b]:
            await s.subscribe("k", ACKS)
            await s.send_for_receipt(send_frame(conv, "once", cid="dup-1", receipt="r1"), "r1")
            # Resent (a lost RECEIPT, a reconnect): the original ack, no second message.
            s2 = await StompConn.connect(port, a.token, name="again")
            await s2.subscribe("k", ACKS)
            await s2.send_for_receipt(send_frame(conv, "once", cid="dup-1", receipt="r2"), "r2")
            first = (await s.wait_event(ACKS, "ack", cid="dup-1")).json()
            second = (await s2.wait_event(ACKS, "ack", cid="dup-1")).json()
            assert first == second and first["seq"] == 1, (first, second)
            await ws_b.send(conv, "after")
            await ws_b.wait_message(conv, lambda m: m["seq"] == 2)
            assert [m["seq"] for m in ws_b.messages(conv)] == [1, 2], ws_b.describe()
            assert [m["seq"] for m in await aio(api.all_messages, a, conv)] == [1, 2]
            await s2.close()

    run_async(go(), 60)


def test_a_send_without_cid_gets_one(shared_server, api):
    a, b, conv = api.direct_pair("nocid")

    async def go():
        async with opened(StompConn.connect(shared_server.port, a.token)) as [s]:
            await s.subscribe("k", ACKS)
            await s.send_for_receipt(
                send_frame(conv, "one", receipt="r1") + send_frame(conv, "two"), "r1")
            acks = [await s.wait_event(ACKS, "ack", seq=n) for n in (1, 2)]
            cids = [f.json()["cid"] for f in acks]
            assert len(set(cids)) == 2 and all(c.startswith("stomp.") for c in cids), cids

    run_async(go(), 30)


def test_read_receipts_typing_and_other_destinations(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("read")

    async def go():
        async with opened(StompConn.connect(port, a.token),
                          ChatConn.connect(port, b.token, name="b-ws")) as [s, ws_b]:
            await s.subscribe("t", topic(conv))
            ack = await ws_b.send(conv, "read me")
            await s.wait_event(topic(conv), "message", seq=ack["seq"])
            await s.send_for_receipt(frame("SEND", {"destination": "/app/chat.read",
                                                    "conversation": str(conv),
                                                    "seq": str(ack["seq"]), "receipt": "rr"}),
                                     "rr")
            ev = await ws_b.wait_type("receipt", conv=conv, user=a.id)
            assert (ev.get("read"), ev.get("delivered")) == (1, 1), ev
            # The STOMP client's own topic has the receipt too (a conversation's event).
            await s.wait_event(topic(conv), "receipt", user=a.id, read=1)
            await s.send(frame("SEND", {"destination": "/app/chat.typing",
                                        "conversation": str(conv)}))
            typing = await ws_b.wait_type("typing", conv=conv, user=a.id)
            assert typing["state"] == "start", typing
            await ws_b.send_json({"type": "typing", "conv": conv, "state": "stop"})
            await s.wait_event(topic(conv), "typing", user=b.id, state="stop")

    run_async(go(), 60)


def test_resume_with_sync_and_history(shared_server, api):
    a, b, conv = api.direct_pair("sync")

    async def go():
        async with opened(ChatConn.connect(shared_server.port, b.token, name="b-ws")) as [ws_b]:
            for i in range(3):
                await ws_b.send(conv, f"m{i}")
            s = await StompConn.connect(shared_server.port, a.token)
            await s.subscribe("e", EVENTS)
            await s.send(frame("SEND", {"destination": "/app/chat.sync"}, f'{{"{conv}":1}}'))
            answer = (await s.wait_event(EVENTS, "sync")).json()
            [entry] = answer["convs"]
            assert [m["seq"] for m in entry["messages"]] == [2, 3], answer
            await s.send(frame("SEND", {"destination": "/app/chat.history",
                                        "conversation": str(conv), "limit": "2"}))
            page = (await s.wait_event(EVENTS, "history")).json()
            assert [m["seq"] for m in page["messages"]] == [3, 2] and page["more"], page
            await s.close()

    run_async(go(), 30)


# -- SUBSCRIBE -------------------------------------------------------------------------------


def test_a_non_member_subscription_is_refused(shared_server, api):
    a, b, conv = api.direct_pair("member")
    outsider = api.new_user("outsider")

    async def go():
        s = await StompConn.connect(shared_server.port, outsider.token)
        await s.subscribe("x", ERRORS)
        await s.send(frame("SUBSCRIBE", {"id": "t", "destination": topic(conv),
                                         "receipt": "sub-t"}))
        refusal = await s.wait_frame("MESSAGE", destination=ERRORS)
        assert refusal.headers["receipt-id"] == "sub-t"
        assert refusal.json()["code"] == "forbidden", refusal
        assert not s.matching("RECEIPT", **{"receipt-id": "sub-t"})
        # Recoverable: the session goes on. A send to the conversation is refused the same way.
        await s.send(send_frame(conv, "let me in", cid="o-1", receipt="r-o"))
        sent = await s.wait_frame("MESSAGE", destination=ERRORS, pred=lambda f: "cid" in f.body)
        assert sent.json() == {"type": "error", "code": "forbidden",
                               "message": "not a member of this conversation", "cid": "o-1"}
        assert sent.headers["receipt-id"] == "r-o"
        await s.receipt()
        await s.close()
        # Without a subscription that takes errors: ERROR, then the close.
        s = await StompConn.connect(shared_server.port, outsider.token)
        await s.send(frame("SUBSCRIBE", {"id": "t", "destination": topic(conv)}))
        error, code = await expect_error(s, "forbidden: not a member of conversation")
        assert error.json()["code"] == "forbidden"

    run_async(go(), 30)


def test_only_subscribed_conversations_reach_the_client(shared_server, api):
    a, b, conv = api.direct_pair("only")
    c_user = api.new_user("third")
    conv2 = api.direct(a, c_user)

    async def go():
        async with opened(StompConn.connect(shared_server.port, a.token),
                          ChatConn.connect(shared_server.port, c_user.token, name="c-ws"),
                          ChatConn.connect(shared_server.port, b.token, name="b-ws")) as conns:
            s, ws_c, ws_b = conns
            await s.subscribe("t1", topic(conv))
            await ws_c.send(conv2, "not subscribed")
            await ws_b.send(conv, "subscribed")
            await s.wait_event(topic(conv), "message", body="subscribed")
            await s.receipt()
            assert not s.matching("MESSAGE", destination=topic(conv2)), s.describe()
            # Unsubscribed: nothing more of it.
            await s.send_for_receipt(frame("UNSUBSCRIBE", {"id": "t1", "receipt": "u1"}), "u1")
            mark = s.mark()
            await ws_b.send(conv, "after unsubscribe")
            await ws_b.wait_message(conv, lambda m: m["body"] == "after unsubscribe")
            await s.receipt()
            assert not s.matching("MESSAGE", start=mark), s.describe(mark)

    run_async(go(), 30)


@pytest.mark.parametrize("frames,message", [
    (frame("SUBSCRIBE", {"destination": EVENTS}), "SUBSCRIBE needs an id header"),
    (frame("SUBSCRIBE", {"id": "1", "destination": "/queue/x"}), "no such destination"),
    (frame("SUBSCRIBE", {"id": "1", "destination": EVENTS, "ack": "client"}), "ack:auto"),
    (frame("SUBSCRIBE", {"id": "1", "destination": EVENTS}) +
     frame("SUBSCRIBE", {"id": "1", "destination": ACKS}), "in use"),
    (frame("UNSUBSCRIBE", {"id": "nope"}), "no subscription with id nope"),
    (frame("SEND", {"destination": "/app/nothing"}), "no such destination for SEND"),
    (frame("SEND", {"destination": "/app/chat.send"}, "x"), "missing header \"conversation\""),
    (frame("SEND", {"destination": "/app/chat.read", "conversation": "1"}),
     "missing header \"seq\""),
    (frame("SEND", {}, "x"), "SEND needs a destination header"),
    (frame("ACK", {"id": "1"}), "ACK and NACK are not supported"),
    (frame("BEGIN", {"transaction": "t"}), "transactions"),
    (frame("CONNECT", {"accept-version": "1.2"}), "already connected"),
    (frame("MESSAGE", {}), "MESSAGE is a server frame"),
    ("HELLO\n\n\0", "unknown command"),
    ("SEND\ndestination\n\n\0", "a header line without a colon"),
    ("SEND\ndestination:/app/chat.send\nbad:\\t\n\n\0", "undefined escape sequence"),
    ("SEND\ncontent-length:3\n\nabcd\0", "not followed by NUL"),
])
def test_malformed_or_unsupported_frames_are_errors(shared_server, api, frames, message):
    a = api.new_user("bad")

    async def go():
        s = await StompConn.connect(shared_server.port, a.token)
        await s.receipt()  # Connected and taking frames.
        await s.send(frames)
        error, code = await expect_error(s, message)
        assert code == 1008, s.closed

    run_async(go(), 30)


def test_a_body_over_max_chat_body_is_refused(server_factory):
    srv = server_factory(*chat_args(max_chat_body=100))

    async def go():
        api = Api(srv.port)
        a, b, conv = await aio(api.direct_pair, "big")
        s = await StompConn.connect(srv.port, a.token)
        await s.subscribe("k", ACKS)
        await s.send_for_receipt(send_frame(conv, "x" * 100, cid="fits", receipt="r"), "r")
        await s.send(send_frame(conv, "x" * 101, cid="over"))
        await expect_error(s, "body is over the limit")
        # With a content-length too, refused before the body is read.
        s = await StompConn.connect(srv.port, a.token)
        await s.send("SEND\ndestination:/app/chat.send\ncontent-length:1000\n\nxx")
        await expect_error(s, "body is over the limit")
        assert [m["body"] for m in await aio(api.all_messages, a, conv)] == ["x" * 100]

    run_async(go(), 30)


# -- framing -----------------------------------------------------------------------------------


def test_escaped_headers_both_ways(shared_server, api):
    a, b, conv = api.direct_pair("esc")

    async def go():
        async with opened(StompConn.connect(shared_server.port, a.token)) as [s]:
            await s.subscribe("k", ACKS)
            # cid and receipt with a colon, a newline, a CR and a backslash: escaped by frame().
            cid = "c:1\\x\ny"
            receipt = "r:\r\\\n"
            # Its RECEIPT found by the unescaped value: the server escaped it back as it came.
            await s.send_for_receipt(send_frame(conv, "escaped", cid=cid, receipt=receipt,
                                                kind="te:xt"), receipt)
            ack = (await s.wait_event(ACKS, "ack")).json()
            assert ack["cid"] == cid, ack
            [m] = await aio(api.all_messages, a, conv)
            assert m["kind"] == "te:xt", m

    run_async(go(), 30)


def test_several_frames_per_message_and_a_frame_split_over_messages(shared_server, api):
    a, b, conv = api.direct_pair("split")

    async def go():
        async with opened(StompConn.open(shared_server.port)) as [s]:
            # CONNECT with frames pipelined behind it, in one message: they wait for CONNECTED.
            await s.send_for_receipt(
                frame("CONNECT", {"accept-version": "1.2", "passcode": a.token}) + "\n" +
                frame("SUBSCRIBE", {"id": "t", "destination": topic(conv)}) +
                frame("SUBSCRIBE", {"id": "k", "destination": ACKS}) +
                send_frame(conv, "pipelined", cid="p1", receipt="rp"), "rp")
            assert s.frames[0].command == "CONNECTED", s.describe()
            await s.wait_event(topic(conv), "message", body="pipelined")
            # One frame over three messages, the cut inside the headers and inside the body;
            # CRLF lines and heart-beats between frames.
            text = send_frame(conv, "split body", cid="p2", receipt="rs").replace(
                "\n", "\r\n", 3)
            await s.send(text[:9])
            await s.send(text[9:40])
            await s.send_for_receipt(text[40:] + "\r\n\n", "rs")
            m = await s.wait_event(topic(conv), "message", body="split body")
            assert m.json()["seq"] == 2
            # content-length: a body with a NUL inside is taken whole (and refused by the chat,
            # which stores no U+0000), not cut at the NUL.
            await s.subscribe("e", ERRORS)
            await s.send("SEND\ndestination:/app/chat.send\nconversation:%d\ncid:nul\n"
                         "content-length:3\n\na\0b\0" % conv)
            refused = (await s.wait_frame("MESSAGE", destination=ERRORS)).json()
            assert (refused["code"], refused["cid"]) == ("bad_request", "nul"), refused

    run_async(go(), 30)


def test_binary_messages_are_refused(shared_server, api):
    a = api.new_user("bin")

    async def go():
        s = await StompConn.connect(shared_server.port, a.token)
        await s.ws.send(b"SEND\ndestination:/app/chat.send\n\n\0")
        await expect_error(s, "text messages")

    run_async(go(), 30)


# -- heart-beats and DISCONNECT ----------------------------------------------------------------


@pytest.mark.slow
def test_heartbeats_both_ways(shared_server, api):
    a = api.new_user("beat")

    async def go():
        # The client wants one at least every 1000 ms and sends none itself.
        s = await StompConn.connect(shared_server.port, a.token, heart_beat="0,1000")
        await asyncio.sleep(3.5)
        assert len(s.heartbeats) >= 2, s.heartbeats
        gaps = [t2 - t1 for t1, t2 in zip(s.heartbeats, s.heartbeats[1:])]
        assert all(g < 2.0 for g in gaps), gaps
        assert s.closed is None
        await s.close()
        # A client that promises one every 1000 ms and stays silent is closed after about 2 s.
        s = await StompConn.connect(shared_server.port, a.token, heart_beat="1000,0")
        started = time.monotonic()
        await expect_error(s, "heart-beat", timeout=6)
        assert 1.5 < time.monotonic() - started < 5, time.monotonic() - started
        # One that keeps its promise stays.
        s = await StompConn.connect(shared_server.port, a.token, heart_beat="1000,0")
        for _ in range(8):
            await s.send("\n")
            await asyncio.sleep(0.4)
        assert s.closed is None, s.describe()
        await s.close()

    run_async(go(), 30)


def test_disconnect_receipt_after_the_acks(shared_server, api):
    a, b, conv = api.direct_pair("bye")

    async def go():
        s = await StompConn.connect(shared_server.port, a.token)
        await s.subscribe("k", ACKS)
        # Pipelined with the sends: its RECEIPT comes after both acks.
        receipt = await s.send_for_receipt(
            send_frame(conv, "one", cid="d1") + send_frame(conv, "two", cid="d2") +
            frame("DISCONNECT", {"receipt": "bye"}) + send_frame(conv, "ignored"), "bye")
        acks = s.matching("MESSAGE", destination=ACKS)
        assert [f.json()["cid"] for f in acks] == ["d1", "d2"], s.describe()
        assert s.frames.index(receipt) > s.frames.index(acks[-1])
        code, _ = await s.wait_closed()
        assert code == 1000, s.closed
        assert [m["body"] for m in await aio(api.all_messages, a, conv)] == ["one", "two"]

    run_async(go(), 30)


# -- across two nodes ----------------------------------------------------------------------------


@pytest.mark.needs_pg
@pytest.mark.needs_redis
@pytest.mark.sqlite_only("a cluster runs on PostgreSQL by itself (cluster_factory)")
@pytest.mark.timeout(90)
def test_stomp_and_ws_clients_on_two_nodes(cluster_factory):
    cluster = cluster_factory(2)
    api0, api1 = cluster.api(0), cluster.api(1)
    a, b = api0.new_users(2, "xnode")
    conv = api1.direct(a, b)

    async def go():
        async with opened(StompConn.connect(cluster.port(0), a.token, name="stomp@n1"),
                          ChatConn.connect(cluster.port(1), b.token, name="ws@n2")) as [s, ws_b]:
            await s.subscribe("t", topic(conv))
            await s.subscribe("k", ACKS)
            for i in range(5):
                await s.send_for_receipt(send_frame(conv, f"s{i}", cid=f"x{i}", receipt=f"r{i}"),
                                         f"r{i}")
                ack = await ws_b.send(conv, f"w{i}")
                assert ack["seq"] == 2 * i + 2, ack
            await s.wait_event(topic(conv), "message", seq=10)
            stomp_seen = [f.json()["seq"] for f in s.matching(
                "MESSAGE", destination=topic(conv), pred=lambda f: '"type":"message"' in f.body)]
            await ws_b.wait_message(conv, lambda m: m["seq"] == 10)
            assert stomp_seen == list(range(1, 11)), s.describe()
            assert [m["seq"] for m in ws_b.messages(conv)] == list(range(1, 11))
            acks = {f.json()["cid"]: f.json()["seq"] for f in s.matching("MESSAGE",
                                                                        destination=ACKS)}
            assert acks == {f"x{i}": 2 * i + 1 for i in range(5)}, acks
            ws_bodies = {m["seq"]: m["body"] for m in ws_b.messages(conv)}
            assert [ws_bodies[seq] for seq in range(1, 11)] == \
                [f"{who}{i}" for i in range(5) for who in "sw"], ws_bodies
            # A read receipt from the STOMP client on node 1 reaches node 2.
            await s.send(frame("SEND", {"destination": "/app/chat.read",
                                        "conversation": str(conv), "seq": "10"}))
            ev = await ws_b.wait_type("receipt", conv=conv, user=a.id)
            assert ev.get("read") == 10, ev
            # And node 2's typing reaches the STOMP client on node 1.
            await ws_b.send_json({"type": "typing", "conv": conv, "state": "start"})
            await s.wait_event(topic(conv), "typing", user=b.id)

    run_async(go(), 80)
