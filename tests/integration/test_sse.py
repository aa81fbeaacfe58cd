"""The chat's HTTP transports (PROTOCOL.md, "SSE and long polling") on one node with
2 shards, against the real binary and real /ws peers:

- GET /sse: the head (text/event-stream, no-cache, X-Accel-Buffering: no), the `session` event
  and its id, `hello` as event 1 with the id "<session>:1", the token by header or ?token=.
- POST /sse/send: a send acked on the stream after its commit with the seq a /ws member of the
  conversation sees; several requests in one POST (one per line); a resend of a cid answered
  with the original ack and delivered once; POSTs reaching either shard (each on a new
  connection) all handled.
- Last-Event-ID: a dropped stream resumes on a new connection with the messages sent meanwhile,
  no gap and no duplicate, no second hello; one past the buffer (--sse-buffer-events) starts a
  new session with hello.
- GET /sse/poll: a session opened by a poll, answers at once when events wait, held up to
  --sse-poll-timeout when none do, `after` confirming what the client has.
- Errors: no or a bad token 401, a malformed session 400, an unknown one 404, another user's
  404 too (test_sse_sessions.py checks the two answers are one), an empty body 400, a body over --max-message-size 413, a poll of a node-less id.
- A logout closes the stream (the `close` event 1008 "token revoked"); a polled client that
  falls behind the buffer is cut (410, then a fresh session); a session nobody polls ends after
  --sse-grace; the metrics count sessions by transport.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import pytest

from chat_client import Api, ChatConn, aio, chat_args, opened
from prometheus import scrape, value
from sse_client import SseConn, http_request, poll, query
from support import run_async

pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args(sse_buffer_events=32, sse_poll_timeout=2, sse_grace=3,
                        max_message_size=8192)

SESSION_ID = re.compile(r"^[0-9a-f]{32}~[01]$")


def send_request(conv: int, body: str, cid: str | None = None) -> dict:
    return {"type": "send", "conv": conv, "cid": cid or uuid.uuid4().hex, "body": body}


def test_stream_head_session_event_and_hello(shared_server, api):
    port = shared_server.port
    a = api.new_user("head")

    async def go():
        for in_query in (False, True):
            async with opened(SseConn.open(port, a.token, in_query=in_query)) as [conn]:
                assert conn.status == 200, conn.headers
                assert conn.headers["content-type"] == "text/event-stream", conn.headers
                assert "no-cache" in conn.headers["cache-control"], conn.headers
                assert conn.headers["x-accel-buffering"] == "no", conn.headers
                assert SESSION_ID.match(conn.session), conn.session
                assert conn.resumed is False
                hello = conn.events[0]
                assert hello["type"] == "hello" and hello["user"] == a.id, hello
                assert conn.ids[0] == f"{conn.session}:1", conn.ids
                await conn.ping()
                assert conn.ids[-1] == f"{conn.session}:2", conn.ids

    run_async(go(), 45)


def test_posts_acked_on_the_stream_with_the_seq_ws_members_see(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("post")

    async def go():
        async with opened(SseConn.open(port, a.token, name="a/sse"),
                          ChatConn.connect(port, b.token, name="b/ws")) as [sse, ws]:
            ack = await sse.send(conv, "over http")
            seen = await ws.wait_message(conv, lambda m: m["seq"] == ack["seq"])
            assert (seen["body"], seen["from"], seen["id"]) == ("over http", a.id, ack["id"])
            own = sse.messages(conv)
            assert [m["seq"] for m in own] == [ack["seq"]], own
            # The sender's own copy comes before its ack, as on /ws.
            assert sse.events.index(own[0]) < sse.events.index(ack)

            reply = await ws.send(conv, "back over ws")
            got = await sse.wait_message(conv, lambda m: m["seq"] == reply["seq"])
            assert got["body"] == "back over ws" and got["seq"] == ack["seq"] + 1, got

            # Several requests in one POST, one per line: handled in order.
            start = sse.mark()
            lines = [send_request(conv, f"batch {i}", f"batch-{i}") for i in range(3)]
            status, _ = await sse.post("\n".join(json.dumps(r) for r in lines) + "\n")
            assert status == 202
            acks = await sse.wait_count(lambda e: e.get("type") == "ack", 3, start=start)
            assert [x["cid"] for x in acks] == ["batch-0", "batch-1", "batch-2"], acks
            assert [x["seq"] for x in acks] == [reply["seq"] + 1 + i for i in range(3)], acks

    run_async(go(), 45)


def test_resend_of_a_cid_is_answered_with_the_original_ack_and_delivered_once(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("idem")

    async def go():
        async with opened(SseConn.open(port, a.token),
                          ChatConn.connect(port, b.token)) as [sse, ws]:
            first = await sse.send(conv, "once", cid="same-cid")
            again = await sse.send(conv, "once", cid="same-cid")
            assert (again["seq"], again["id"]) == (first["seq"], first["id"]), (first, again)
            after = await ws.send(conv, "later")  # Everything before it has reached b.
            await sse.wait_message(conv, lambda m: m["seq"] == after["seq"])
            assert [m["seq"] for m in ws.messages(conv)] == [first["seq"], after["seq"]]
            assert [m["seq"] for m in sse.messages(conv)] == [first["seq"], after["seq"]]

    run_async(go(), 45)


def test_posts_through_either_shard_reach_the_session(shared_server, api):
    """Each POST is a new connection, which the kernel hands to either of the 2 shards: 16 of
    them all land on the session's shard with probability 2^-15."""
    port = shared_server.port
    a = api.new_user("shards")

    async def go():
        async with opened(SseConn.open(port, a.token)) as [sse]:
            start = sse.mark()
            for i in range(16):
                await sse.send_json({"type": "ping"})
            await sse.wait_count(lambda e: e.get("type") == "pong", 16, start=start)
            assert sse.posts == [202] * 16

    run_async(go(), 45)


def test_last_event_id_resumes_with_no_gap_and_no_duplicate(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("resume")

    async def go():
        async with opened(ChatConn.connect(port, b.token), SseConn.open(port, a.token)) as held:
            ws, sse = held
            first = await ws.send(conv, "before the drop")
            await sse.wait_message(conv, lambda m: m["seq"] == first["seq"])
            last_id, session = sse.last_id, sse.session
            sse.abort()
            sent = [await ws.send(conv, f"while away {i}") for i in range(5)]
            # The resume may land on either shard; the stream moves there.
            resumed = await SseConn.open(port, a.token, last_event_id=last_id, name="resumed")
            held.append(resumed)
            assert (resumed.session, resumed.resumed) == (session, True)
            got = await resumed.wait_count(lambda e: e.get("type") == "message", 5)
            assert [m["seq"] for m in got] == [s["seq"] for s in sent], got
            assert not resumed.typed("hello"), resumed.describe()
            n = int(last_id.rsplit(":", 1)[1])
            assert resumed.ids[:5] == [f"{session}:{n + 1 + i}" for i in range(5)], resumed.ids
            # Live again: requests and messages both ways.
            ack = await resumed.send(conv, "back")
            await ws.wait_message(conv, lambda m: m["seq"] == ack["seq"])
            more = await ws.send(conv, "welcome back")
            await resumed.wait_message(conv, lambda m: m["seq"] == more["seq"])
            assert [m["seq"] for m in resumed.messages(conv)] == [
                s["seq"] for s in sent] + [ack["seq"], more["seq"]]

    run_async(go(), 45)


def test_resume_past_the_buffer_starts_a_new_session_with_hello(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("past")

    async def go():
        async with opened(ChatConn.connect(port, b.token), SseConn.open(port, a.token)) as held:
            ws, sse = held
            last_id, session = sse.last_id, sse.session
            sse.abort()
            for i in range(40):  # Past --sse-buffer-events (32) while nobody reads.
                await ws.send(conv, f"flood {i}")
            fresh = await SseConn.open(port, a.token, last_event_id=last_id, name="fresh")
            held.append(fresh)
            assert fresh.resumed is False and fresh.session != session
            assert fresh.events[0]["type"] == "hello", fresh.describe()
            # A POST for the old session: gone.
            status, answer = await fresh.post(json.dumps({"type": "ping"}), session=session)
            assert status == 404, answer

    run_async(go(), 45)


def test_long_poll_opens_waits_and_answers(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("poll")

    async def go():
        async with opened(ChatConn.connect(port, b.token)) as [ws]:
            status, first = await poll(port, a.token)
            assert status == 200, first
            session = first["session"]
            assert SESSION_ID.match(session), first
            assert [e["data"]["type"] for e in first["events"]][:1] == ["hello"], first
            after = first["events"][-1]["id"]

            # Nothing waiting: held until --sse-poll-timeout (2 s), then answered empty.
            began = time.monotonic()
            status, empty = await poll(port, a.token, session, after)
            waited = time.monotonic() - began
            assert status == 200 and empty == {"session": session, "events": []}, empty
            assert 1.0 <= waited <= 4.5, waited

            # A message while a poll waits: it answers at once.
            waiting = asyncio.ensure_future(poll(port, a.token, session, after))
            await asyncio.sleep(0.3)
            ack = await ws.send(conv, "to the poller")
            status, got = await asyncio.wait_for(waiting, 2)
            messages = [e["data"] for e in got["events"] if e["data"]["type"] == "message"]
            assert [m["seq"] for m in messages] == [ack["seq"]], got
            assert got["events"][0]["id"] == after + 1, got

            # A send over POST; its ack comes in a poll. Asking again with an older `after`
            # gives the same events again (the client had not confirmed them).
            after = got["events"][-1]["id"]
            status, _, _ = await http_request(port, "POST", "/sse/send?" + query(session=session),
                                              token=a.token,
                                              body=json.dumps(send_request(conv, "polled", "p1")))
            assert status == 202
            status, answer = await poll(port, a.token, session, after)
            acks = [e["data"] for e in answer["events"] if e["data"]["type"] == "ack"]
            if not acks:  # The message came first, in its own answer.
                status, answer = await poll(port, a.token, session, answer["events"][-1]["id"])
                acks = [e["data"] for e in answer["events"] if e["data"]["type"] == "ack"]
            assert acks and acks[0]["cid"] == "p1", answer
            status, again = await poll(port, a.token, session, after)
            assert [e["id"] for e in again["events"]][:1] == [after + 1], again
            await ws.wait_message(conv, lambda m: m["seq"] == acks[0]["seq"])

    run_async(go(), 45)


def test_bad_requests_are_refused_with_a_reason(shared_server, api):
    port = shared_server.port
    a, b = api.new_users(2, "bad")

    async def go():
        async with opened(SseConn.open(port, a.token)) as [sse]:
            session = sse.session
            ping = json.dumps({"type": "ping"})
            cases = [
                (None, session, ping, 401),
                ("not.a.token", session, ping, 401),
                (a.token, "nonsense", ping, 400),
                (a.token, "0123456789abcdef" * 2 + "~0", ping, 404),
                (a.token, "0123456789abcdef" * 2 + "~9", ping, 404),
                (b.token, session, ping, 404),  # Another user's: as one not there.
                (a.token, session, "\n \n", 400),
                (a.token, session, "x" * 9000, 413),
            ]
            for token, sid, body, want in cases:
                status, _, raw = await http_request(port, "POST", "/sse/send?" + query(session=sid),
                                                    token=token, body=body)
                assert status == want, (token, sid, body[:20], status, raw)
                assert "error" in json.loads(raw), raw
            status, _, _ = await http_request(port, "POST", "/sse/send", token=a.token, body=ping)
            assert status == 400
            # Polls: another user's session, a malformed one, a bad `after`, another node's.
            assert (await poll(port, b.token, session, 0))[0] == 404
            assert (await poll(port, a.token, "zz"))[0] == 400
            status, _, _ = await http_request(port, "GET", "/sse/poll?session=" + session +
                                              "&after=-1", token=a.token)
            assert status == 400
            assert (await poll(port, a.token, session.split("~")[0] + "~0~elsewhere", 0))[0] == 421
            status, _, _ = await http_request(port, "GET", "/sse", token="bad")
            assert status == 401
            status, _, _ = await http_request(port, "GET", "/sse/nothing", token=a.token)
            assert status == 404
            # Bad JSON in a POST is the chat protocol's error, on the stream.
            start = sse.mark()
            status, _ = await sse.post("{not json")
            assert status == 202
            err = await sse.wait_type("error", start=start)
            assert err["code"] == "bad_request", err
            await sse.ping()  # Nothing broke.

    run_async(go(), 45)


def test_logout_closes_the_stream(shared_server, api):
    port = shared_server.port
    a = api.new_user("revoke")

    async def go():
        async with opened(SseConn.open(port, a.token)) as [sse]:
            assert (await aio(api.logout, a.token)).status == 200
            closed = await sse.wait_type("close")
            assert (closed["code"], closed["reason"]) == (1008, "token revoked"), closed
            await asyncio.wait_for(asyncio.shield(sse.task), 5)  # The stream ends.
            status, _ = await sse.post(json.dumps({"type": "ping"}), token=api.login_user(
                a.name, a.id).token)
            assert status == 404

    run_async(go(), 45)


def test_polled_client_behind_the_buffer_is_cut_and_starts_again(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("behind")

    async def go():
        async with opened(ChatConn.connect(port, b.token)) as [ws]:
            status, first = await poll(port, a.token)
            session, after = first["session"], first["events"][-1]["id"]
            for i in range(40):  # Nobody polls meanwhile: past --sse-buffer-events (32).
                await ws.send(conv, f"flood {i}")
            status, answer = await poll(port, a.token, session, after)
            assert status == 410, answer
            status, _, _ = await http_request(port, "POST", "/sse/send?" + query(session=session),
                                              token=a.token, body=json.dumps({"type": "ping"}))
            assert status == 404
            status, again = await poll(port, a.token)
            assert status == 200 and again["session"] != session, again
            assert again["events"][0]["data"]["type"] == "hello", again

    run_async(go(), 45)


def test_session_nobody_polls_ends_after_the_grace_and_metrics_count_transports(server_factory):
    srv = server_factory(*SERVER_ARGS)
    port = srv.port
    a, b = Api(port).new_users(2, "grace")

    def by_transport() -> dict[str, float]:
        samples = scrape(port)[0]
        return {t: value(samples, "ringcast_chat_sessions_by_transport", transport=t)
                for t in ("ws", "sse", "poll")}

    async def go():
        async with opened(SseConn.open(port, a.token),
                          ChatConn.connect(port, b.token)) as [sse, ws]:
            status, first = await poll(port, a.token)
            assert await aio(by_transport) == {"ws": 1, "sse": 1, "poll": 1}
            # Not polled for --sse-grace (3 s): the polled session ends; the others live.
            await asyncio.sleep(5)
            status, _ = await poll(port, a.token, first["session"], first["events"][-1]["id"])
            assert status == 404
            assert await aio(by_transport) == {"ws": 1, "sse": 1, "poll": 0}
            await sse.ping()

    run_async(go(), 45)


@pytest.mark.timeout(60)
def test_keepalive_comments_on_a_quiet_stream(server_factory):
    srv = server_factory(*chat_args(sse_keepalive=1))
    a = Api(srv.port).new_user("quiet")

    async def go():
        async with opened(SseConn.open(srv.port, a.token)) as [sse]:
            await asyncio.sleep(2.5)
            assert sse.comments >= 1, sse.comments
            assert sse.closed is None

    run_async(go(), 45)
