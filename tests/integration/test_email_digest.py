"""The unread digest by email (notify/README.md, "Email digest"), against a real SMTP server on
loopback (Debian's python3-aiosmtpd): a user with an email address who has not read (nor had
delivered) messages for --email-digest-after gets exactly one email listing the unread
conversations; the same messages are never mailed again, not even after a restart; a user who
read in time, and one without an address, get none. Also the account's `email` field
(GET/PATCH /api/me)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from chat_client import Api, ChatConn, aio, chat_args
from support import free_port, run_async
from test_notify import metric

pytestmark = pytest.mark.both_stores

DELAY_S = 2


class Sink:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self, delay: float = 0.0):
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.delay = delay  # Seconds before answering 250: a slow server.

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        with self.lock:
            return [m for _, rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def wait_until(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def digest_args(port: int):
    return chat_args(smtp=f"smtp://127.0.0.1:{port}", email_digest_after=DELAY_S,
                     email_from="ringcast@example.org", presence_grace=0)


def test_account_email_is_settable_and_checked(server_factory, smtp):
    srv = server_factory(*chat_args())
    api = Api(srv.port)
    bob = api.new_user("bob")
    me = api.request("GET", "/api/me", token=bob.token)
    assert me.status == 200 and me.json == {
        "id": bob.id, "username": bob.name, "email": None, "display_name": None, "avatar": None,
        "avatar_thumb": None, "status": None}, me
    r = api.request("PATCH", "/api/me", {"email": "bob@example.org"}, token=bob.token)
    assert r.status == 200 and r.json["email"] == "bob@example.org", r
    assert api.request("GET", "/api/me", token=bob.token).json["email"] == "bob@example.org"
    for bad in ("bob", "bob@", "@example.org", "bob @example.org", "a@b\r\nBcc: x@y.z", 7, ""):
        r = api.request("PATCH", "/api/me", {"email": bad}, token=bob.token)
        assert r.status == 400, (bad, r)
    assert api.request("PATCH", "/api/me", {}, token=bob.token).status == 400
    assert api.request("GET", "/api/me").status == 401
    r = api.request("PATCH", "/api/me", {"email": None}, token=bob.token)
    assert r.status == 200 and r.json["email"] is None, r


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_one_digest_per_unread_messages_across_a_restart(server_factory, smtp):
    sink, smtp_port = smtp
    srv = server_factory(*digest_args(smtp_port))
    api = Api(srv.port)
    alice, bob, carol, dave = (api.new_user(n) for n in ("alice", "bob", "carol", "dave"))
    for user, address in ((bob, "bob@example.org"), (dave, "dave@example.org")):
        assert api.request("PATCH", "/api/me", {"email": address}, token=user.token).status == 200
    direct = api.direct(alice, bob)
    trip = api.group(alice, [bob, carol, dave], name="Trip to Lisbon")

    async def scene():
        a = await ChatConn.connect(srv.port, alice.token, name="alice")
        d = await ChatConn.connect(srv.port, dave.token, name="dave")
        await a.send(direct, "first of two")
        await a.send(direct, "are you there, bob? ünïcode")
        ack = await a.send(trip, "tickets booked")
        # Dave reads at once: no digest for him.
        await d.wait_for(lambda e: e.get("type") == "message" and e.get("conv") == trip)
        await d.send_json({"type": "read", "conv": trip, "seq": ack["seq"]})
        await d.wait_for(lambda e: e.get("type") == "receipt" and e.get("user") == dave.id
                         and e.get("read") == ack["seq"])
        await d.ws.close()
        await a.ws.close()
    run_async(scene(), 30)

    wait_until(lambda: sink.to("bob@example.org"), DELAY_S + 15, "bob's digest")
    time.sleep(DELAY_S + 1.5)  # Several passes of the mailer: nothing more.
    assert len(sink.to("bob@example.org")) == 1
    assert sink.to("dave@example.org") == []
    assert all(rcpts != [] for _, rcpts, _ in sink.messages)
    mail = sink.to("bob@example.org")[0]
    assert mail["From"] == "ringcast <ringcast@example.org>"
    assert mail["Subject"] == "3 unread messages on ringcast", mail["Subject"]
    text = mail.get_content()
    assert f"* {alice.name} (2 unread)" in text, text
    assert f"{alice.name}: are you there, bob? ünïcode" in text, text
    assert "* Trip to Lisbon (1 unread)" in text, text
    assert f"{alice.name}: tickets booked" in text, text
    assert "first of two" not in text  # Only the latest message of each conversation.
    metrics = api.request("GET", "/metrics").body.decode()
    assert metric(metrics, "ringcast_email_digests_total", outcome="sent") == 1, metrics

    # The watermark is durable: a restart sends nothing again.
    assert srv.stop() == 0
    again = server_factory(*srv.extra_args, start=False, name="restarted",
                           database_url=srv.database_url)
    again.data_dir, again.port = srv.data_dir, srv.port
    again.start()
    time.sleep(DELAY_S + 1.5)
    assert len(sink.to("bob@example.org")) == 1

    # Something new: one more digest, with only what is new past the last one.
    async def more():
        a = await ChatConn.connect(again.port, alice.token, name="alice")
        await a.send(direct, "third")
        await a.ws.close()
    run_async(more(), 30)
    wait_until(lambda: len(sink.to("bob@example.org")) == 2, DELAY_S + 15, "the second digest")
    text = sink.to("bob@example.org")[1].get_content()
    assert f"* {alice.name} (3 unread)" in text and f"{alice.name}: third" in text, text
    assert "Trip to Lisbon" not in text, text
    assert len(sink.messages) == 2
