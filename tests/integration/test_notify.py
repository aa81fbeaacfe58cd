"""Offline notifications, mentions and mute (issue 14; notify/README.md, PROTOCOL.md): a real
webhook receiver on loopback (http.server in a thread) checks every request's
Ringcast-Signature and counts deliveries; ringcast runs with a short --notify-delay."""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

from chat_client import JWT_SECRET, TIMEOUT, Api, ChatConn, chat_args, close_all, connected
from support import run_async

pytestmark = pytest.mark.both_stores

SECRET = "webhook-test-secret"
DELAY_MS = 300


class Receiver:
    """A webhook endpoint: answers `fail_next` requests 500, then 200; keeps every request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts: list[dict] = []   # Every request (verified), delivered or not.
        self.delivered: list[dict] = []  # Bodies answered 200.
        self.bad_signatures = 0
        self.fail_next = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sig = dict(p.split("=", 1) for p in self.headers["Ringcast-Signature"].split(","))
                want = hmac.new(SECRET.encode(), sig["t"].encode() + b"." + body,
                                hashlib.sha256).hexdigest()
                doc = json.loads(body)
                with receiver.lock:
                    if not hmac.compare_digest(want, sig["v1"]) or \
                            abs(time.time() - int(sig["t"])) > 300 or \
                            self.headers["Ringcast-Idempotency-Key"] != doc["idempotency_key"]:
                        receiver.bad_signatures += 1
                    receiver.attempts.append(doc)
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.delivered.append(doc)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def for_user(self, user_id: int) -> list[dict]:
        with self.lock:
            return [d for d in self.delivered if d["recipient"]["id"] == user_id]

    def wait_for(self, user_id: int, n: int = 1, timeout: float = TIMEOUT) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.for_user(user_id)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{n} notification(s) for user {user_id} expected; "
                             f"got {self.for_user(user_id)}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
    assert r.bad_signatures == 0


def notify_args(receiver: Receiver, delay_ms: int = DELAY_MS) -> tuple[str, ...]:
    return chat_args(jwt_secret=JWT_SECRET, presence_grace=0, notify_delay=delay_ms,
                     notify_webhook=receiver.url, notify_webhook_secret=SECRET,
                     notify_backoff_ms=50, notify_poll_ms=50)


def quiet(seconds: float = 3 * DELAY_MS / 1000 + 0.5) -> None:
    """Long enough for anything due to have been delivered."""
    time.sleep(seconds)


def send_and_leave(port: int, user, conv: int, bodies, *, mentions=None) -> list[dict]:
    """Connects `user`, sends `bodies` (acked), disconnects; returns the acks."""
    async def go():
        c = await ChatConn.connect(port, user.token, name=user.name)
        await c.hello()
        acks = []
        for body in bodies:
            req = c.send_request(conv, body)
            if mentions is not None:
                req["mentions"] = mentions
            start = c.mark()
            await c.send_json(req)
            ev = await c.wait_for(lambda e: e.get("cid") == req["cid"], TIMEOUT, "ack", start)
            assert ev["type"] == "ack", ev
            acks.append(ev)
        await c.close()
        return acks
    return run_async(go(), 30)


def metric(text: str, name: str, **labels) -> float | None:
    """The value of the sample of `name` with exactly these labels, in the text format."""
    for line in text.splitlines():
        if not labels and line.startswith(name + " "):
            return float(line.split()[1])
        if not line.startswith(name + "{"):
            continue
        inside, value = line[len(name) + 1:].rsplit("} ", 1)
        got = dict(part.split("=", 1) for part in inside.split(","))
        if got == {k: f'"{v}"' for k, v in labels.items()}:
            return float(value)
    return None


def test_offline_member_gets_one_notification_for_a_burst(server_factory, receiver):
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("burst")
    acks = send_and_leave(srv.port, alice, conv, [f"m{i}" for i in range(5)])
    got = receiver.wait_for(bob.id)
    quiet()
    got = receiver.for_user(bob.id)
    assert len(got) == 1, got
    n = got[0]
    assert n["count"] == 5 and n["latest"]["body"] == "m4" and n["latest"]["seq"] == 5, n
    assert n["latest"]["from"] == alice.id and n["latest"]["from_username"] == alice.name
    assert n["recipient"]["username"] == bob.name and n["conversation"]["id"] == conv
    assert n["mention"] is False
    assert n["idempotency_key"] == f"rcn1-{bob.id}-{conv}-{acks[-1]['seq']}"
    assert receiver.for_user(alice.id) == []  # The sender is never notified.


def test_a_missed_call_notifies_a_callee_with_no_connection(server_factory, receiver):
    """Issue 26: a call's record is a message (kind "call"): a callee who had no device to ring
    hears of the missed call like of any message."""
    srv = server_factory(*notify_args(receiver), "--call-ring-timeout", "1")
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("missed")

    async def call():
        async with connected((srv.port, alice.token, "alice")) as [ca]:
            cid = "k1"
            await ca.send_json({"type": "call_invite", "conv": conv, "call_kind": "video",
                                "cid": cid})
            ack = await ca.wait_type("call_ack", cid=cid)
            ended = await ca.wait_type("call_ended", call=ack["call"], timeout=5)
            assert ended["outcome"] == "missed", ended
    run_async(call(), 30)
    got = receiver.wait_for(bob.id)
    latest = got[0]["latest"]
    assert latest["kind"] == "call" and latest["from"] == alice.id, got
    body = json.loads(latest["body"])
    assert body["outcome"] == "missed" and body["call_kind"] == "video", body
    assert receiver.for_user(alice.id) == []


def test_member_who_reads_within_the_delay_gets_none(server_factory, receiver):
    srv = server_factory(*notify_args(receiver, delay_ms=1500))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("reader")
    acks = send_and_leave(srv.port, alice, conv, ["read me"])

    async def read():
        c = await ChatConn.connect(srv.port, bob.token, name="bob")
        await c.hello()
        await c.send_json({"type": "read", "conv": conv, "seq": acks[0]["seq"]})
        await c.wait_type("receipt")
        await c.close()
    run_async(read(), 20)
    time.sleep(2.5)
    assert receiver.for_user(bob.id) == []


def test_changes_to_messages_are_never_notified_nor_shown(server_factory, receiver):
    """Issue 25: a notification counts and shows only ordinary messages (a deleted one's body
    never), and a window that holds only changes to earlier messages notifies nobody."""
    srv = server_factory(*notify_args(receiver, delay_ms=1500))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("chg")

    async def change_all(requests):
        async with connected((srv.port, alice.token, "alice")) as [c]:
            for request in requests:
                start = c.mark()
                await c.send_json(request)
                ev = await c.wait_for(lambda e: e.get("cid") == request["cid"], TIMEOUT, "ack",
                                      start)
                assert ev["type"] == "ack", ev

    run_async(change_all([
        {"type": "send", "conv": conv, "cid": "s1", "body": "secret"},
        {"type": "send", "conv": conv, "cid": "s2", "body": "hello"},
        {"type": "delete", "conv": conv, "seq": 1, "cid": "d1"},
        {"type": "edit", "conv": conv, "seq": 2, "cid": "e1", "body": "hello!"}]), 30)
    receiver.wait_for(bob.id)
    quiet()
    [n] = receiver.for_user(bob.id)
    assert n["count"] == 2 and n["latest"]["seq"] == 2, n
    assert n["latest"]["body"] == "hello!" and "secret" not in json.dumps(n), n
    run_async(change_all([{"type": "edit", "conv": conv, "seq": 2, "cid": "e2",
                           "body": "hello again"}]), 30)
    # The notifier saw the window (only the edit) and skipped it: nothing more was sent.
    deadline = time.monotonic() + TIMEOUT
    while (metric(api.request("GET", "/metrics").body.decode(),
                  "ringcast_notifications_skipped_total", reason="changes") or 0) < 1:
        assert time.monotonic() < deadline, "the edit-only window was never skipped"
        time.sleep(0.05)
    assert len(receiver.for_user(bob.id)) == 1, receiver.for_user(bob.id)


def test_an_edit_that_newly_mentions_a_reader_notifies_with_the_edited_message(server_factory,
                                                                             receiver):
    """Issue 25: an edit that names someone who has already read the message notifies them once,
    showing the edited message (not the edit entry) and counting it as one message."""
    srv = server_factory(*notify_args(receiver, delay_ms=1500))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("edm")

    async def read(seq):
        c = await ChatConn.connect(srv.port, bob.token, name="bob")
        await c.hello()
        await c.send_json({"type": "read", "conv": conv, "seq": seq})
        await c.wait_type("receipt")
        await c.close()

    [ack] = send_and_leave(srv.port, alice, conv, ["lunch?"])
    run_async(read(ack["seq"]), 20)

    async def edit():
        async with connected((srv.port, alice.token, "alice")) as [c]:
            ev = await c.answer({"type": "edit", "conv": conv, "seq": ack["seq"], "cid": "e1",
                                 "body": f"lunch, @{bob.name}?", "mentions": [bob.id]})
            assert ev["type"] == "ack", ev
    run_async(edit(), 20)
    receiver.wait_for(bob.id)
    quiet()
    [n] = receiver.for_user(bob.id)
    assert n["mention"] is True and n["count"] == 1, n
    assert n["latest"]["seq"] == ack["seq"] and n["latest"]["kind"] == "text", n
    assert n["latest"]["body"] == f"lunch, @{bob.name}?", n


def test_online_member_gets_none(server_factory, receiver):
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("online")

    async def go():
        c = await ChatConn.connect(srv.port, bob.token, name="bob")
        await c.hello()
        send_task = asyncio_to_thread(send_and_leave, srv.port, alice, conv, ["hello"])
        await send_task
        await c.wait_message(conv)
        await asyncio_sleep(3 * DELAY_MS / 1000 + 0.5)
        await c.close()
    run_async(go(), 30)
    # Offline now, but what reached a connection is not notified afterwards.
    quiet()
    assert receiver.for_user(bob.id) == []


async def asyncio_to_thread(fn, *args):
    import asyncio
    return await asyncio.to_thread(fn, *args)


async def asyncio_sleep(seconds: float):
    import asyncio
    await asyncio.sleep(seconds)


def test_webhook_failing_three_times_then_delivered_once(server_factory, receiver):
    receiver.fail_next = 3
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("retry")
    send_and_leave(srv.port, alice, conv, ["again"])
    receiver.wait_for(bob.id)
    quiet()
    assert len(receiver.for_user(bob.id)) == 1
    with receiver.lock:
        keys = [a["idempotency_key"] for a in receiver.attempts if a["recipient"]["id"] == bob.id]
    assert len(keys) == 4 and len(set(keys)) == 1, keys
    metrics = api.request("GET", "/metrics").body.decode()
    assert metric(metrics, "ringcast_notifications_total", sink="webhook", outcome="retry") == 3
    assert metric(metrics, "ringcast_notifications_total", sink="webhook",
                  outcome="delivered") == 1


def test_dead_letter_after_max_attempts_then_never_again(server_factory, receiver):
    receiver.fail_next = 10**6
    srv = server_factory(*notify_args(receiver), "--notify-max-attempts", "3")
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("dead")
    send_and_leave(srv.port, alice, conv, ["nobody hears this"])

    def attempts() -> int:
        with receiver.lock:
            return sum(1 for a in receiver.attempts if a["recipient"]["id"] == bob.id)
    deadline = time.monotonic() + TIMEOUT
    while attempts() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    quiet(2)
    assert attempts() == 3 and receiver.for_user(bob.id) == []
    metrics = api.request("GET", "/metrics").body.decode()
    assert metric(metrics, "ringcast_notifications_total", sink="webhook",
                  outcome="dead_letter") == 1
    assert metric(metrics, "ringcast_notifications_total", sink="webhook", outcome="retry") == 2
    assert "dead-lettered" in srv.logs_tail()


def test_restart_while_due_delivers_once_after(server_factory, receiver):
    args = notify_args(receiver, delay_ms=1500)
    srv = server_factory(*args)
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("restart")
    send_and_leave(srv.port, alice, conv, ["before the restart"])
    assert srv.stop() == 0
    assert receiver.for_user(bob.id) == []
    new = server_factory(*srv.extra_args, start=False, name="restarted",
                         database_url=srv.database_url)
    new.data_dir = srv.data_dir
    new.port = srv.port
    new.start()
    receiver.wait_for(bob.id)
    quiet(2.5)
    got = receiver.for_user(bob.id)
    assert len(got) == 1 and got[0]["latest"]["body"] == "before the restart", got


def test_mentions_events_counts_and_listing(server_factory, receiver):
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob, carol, dave = api.new_users(4, "ment")
    conv = api.group(alice, [bob, carol], "mentions")

    async def go():
        b = await ChatConn.connect(srv.port, bob.token, name="bob")
        c = await ChatConn.connect(srv.port, carol.token, name="carol")
        await b.hello()
        await c.hello()
        acks = await asyncio_to_thread(functools.partial(
            send_and_leave, srv.port, alice, conv,
            [f"hi @{bob.name.upper()}, mail alice@example.com and @nobody"],
            mentions=[carol.id, dave.id, alice.id]))  # dave: no member; alice: the sender.
        msg = await b.wait_message(conv)
        assert sorted(msg["mentions"]) == sorted([bob.id, carol.id]), msg
        for conn in (b, c):
            ev = await conn.wait_type("mention")
            assert ev["message"]["seq"] == acks[0]["seq"], ev
        await close_all([b, c])
        return acks
    acks = run_async(go(), 30)
    page = api.ok("GET", "/api/mentions", token=bob.token)
    assert [m["seq"] for m in page["mentions"]] == [acks[0]["seq"]] and page["more"] is False
    assert api.ok("GET", "/api/mentions", token=dave.token)["mentions"] == []
    assert api.conversation(bob, conv)["unread_mentions"] == 1
    assert api.conversation(alice, conv)["unread_mentions"] == 0

    async def sync_then_read():
        b = await ChatConn.connect(srv.port, bob.token, name="bob")
        await b.hello()
        ev = await b.call({"type": "sync"}, "sync")
        assert [x["unread_mentions"] for x in ev["convs"] if x["conv"] == conv] == [1], ev
        await b.send_json({"type": "read", "conv": conv, "seq": acks[0]["seq"]})
        await b.wait_type("receipt")
        await b.close()
    run_async(sync_then_read(), 20)
    assert api.conversation(bob, conv)["unread_mentions"] == 0
    # Paging: newest first, `before` the last id of the page.
    more = send_and_leave(srv.port, alice, conv, ["@" + bob.name + " two", "three"],
                          mentions=[bob.id])
    page = api.ok("GET", "/api/mentions?limit=1", token=bob.token)
    assert [m["seq"] for m in page["mentions"]] == [more[1]["seq"]] and page["more"] is True
    page = api.ok("GET", f"/api/mentions?limit=5&before={page['next_before']}",
                  token=bob.token)
    assert [m["seq"] for m in page["mentions"]] == [more[0]["seq"], acks[0]["seq"]]
    assert api.request("GET", "/api/mentions?limit=0", token=bob.token).status == 400


def test_messages_read_back_carry_their_mentions(server_factory, receiver):
    """History, sync, the conversation list and the mentions list show a message as its live
    event did: `mentions` sorted, absent when none. Reads once carried none at all."""
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob, carol = api.new_users(3, "back")
    conv = api.group(alice, [bob, carol], "read back")

    async def live():
        b = await ChatConn.connect(srv.port, bob.token, name="bob")
        await b.hello()
        await asyncio_to_thread(functools.partial(
            send_and_leave, srv.port, alice, conv, [f"@{carol.name} and @{bob.name}"]))
        first = await b.wait_message(conv)
        await asyncio_to_thread(functools.partial(
            send_and_leave, srv.port, alice, conv, ["nobody named"]))
        second = await b.wait_message(conv, lambda e: e["seq"] == first["seq"] + 1)
        await b.close()
        return first, second
    first, second = run_async(live(), 30)
    assert first["mentions"] == sorted([bob.id, carol.id]), first
    assert "mentions" not in second, second

    def shown(message: dict) -> dict:
        return {k: message[k] for k in ("seq", "body", "mentions") if k in message}
    expected = [shown(first), shown(second)]
    assert [shown(m) for m in api.all_messages(bob, conv)] == expected
    assert shown(api.conversation(bob, conv)["last_message"]) == expected[1]
    listed = api.ok("GET", "/api/mentions", token=carol.token)["mentions"]
    assert [shown(m) for m in listed] == expected[:1]

    async def sync():
        c = await ChatConn.connect(srv.port, carol.token, name="carol")
        await c.hello()
        ev = await c.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
        await c.close()
        return ev
    synced = run_async(sync(), 20)["convs"][0]["messages"]
    assert [shown(m) for m in synced] == expected


def test_mute_notifies_only_mentions(server_factory, receiver):
    srv = server_factory(*notify_args(receiver))
    api = Api(srv.port)
    alice, bob = api.new_users(2, "mute")
    conv = api.group(alice, [bob], "muted")
    r = api.ok("POST", f"/api/conversations/{conv}/mute", token=bob.token)
    assert r == {"muted_until": "forever"}
    assert api.conversation(bob, conv)["muted_until"] == "forever"
    assert api.conversation(alice, conv)["muted_until"] is None
    send_and_leave(srv.port, alice, conv, ["plain"])
    quiet()
    assert receiver.for_user(bob.id) == []
    send_and_leave(srv.port, alice, conv, [f"look @{bob.name}"])
    got = receiver.wait_for(bob.id)
    assert got[0]["mention"] is True and got[0]["latest"]["body"] == f"look @{bob.name}", got
    # A mute with an end, then unmute.
    until = int(time.time() * 1000) + 3_600_000
    r = api.ok("POST", f"/api/conversations/{conv}/mute", {"until": until}, token=bob.token)
    assert api.conversation(bob, conv)["muted_until"] == until
    api.ok("DELETE", f"/api/conversations/{conv}/mute", token=bob.token)
    assert api.conversation(bob, conv)["muted_until"] is None
    send_and_leave(srv.port, alice, conv, ["unmuted"])
    got = receiver.wait_for(bob.id, 2)
    assert got[1]["latest"]["body"] == "unmuted" and got[1]["mention"] is False
    # Errors: not a member, no such conversation, a bad body.
    stranger = api.new_user("mute")
    assert api.request("POST", f"/api/conversations/{conv}/mute", token=stranger.token).status \
        == 403
    assert api.request("POST", "/api/conversations/999999/mute", token=bob.token).status == 404
    assert api.request("POST", f"/api/conversations/{conv}/mute", {"until": "x"},
                       token=bob.token).status == 400


@pytest.mark.parametrize("flags, reason, status", [
    (["--notify-webhook", "ftp://127.0.0.1/x", "--notify-webhook-secret", "s"],
     "--notify-webhook must be an http:// or https:// URL", 1),
    # A bad value, refused with the flags before anything starts (test_lifecycle.py).
    (["--notify-webhook", "http://127.0.0.1/x"], "--notify-webhook needs --notify-webhook-secret",
     2),
    (["--amqp", "http://127.0.0.1"], "--amqp must be amqp://", 1),
])
def test_unusable_notify_flags_refuse_to_start(ringcast_bin, tmp_path, flags, reason, status):
    import socket
    import subprocess
    with socket.socket() as s:  # A free port, should it get that far (it must not).
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    done = subprocess.run([str(ringcast_bin), "--host", "127.0.0.1", "--port", port, "--data-dir",
                           str(tmp_path), *flags],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == status and reason in done.stderr, (done.returncode, done.stderr)
