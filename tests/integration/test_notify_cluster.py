"""Notifications in cluster mode (notify/README.md, "The guarantee"): two nodes, both with the
webhook configured, notify once between them (the Redis lease rc:notifier), and presence is the
cluster's (a member connected to the other node is not notified)."""

from __future__ import annotations

import pytest

from chat_client import ChatConn
from support import run_async
from test_notify import SECRET, Receiver, metric, quiet, send_and_leave

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


@pytest.mark.timeout(120)
def test_two_nodes_notify_once_with_cluster_wide_presence(cluster_factory):
    receiver = Receiver()
    try:
        cluster = cluster_factory(2, own_redis=True, threads=(2, 1),
                                  flags={"presence_grace": 0, "notify_delay": 300,
                                         "notify_poll_ms": 50, "notify_webhook": receiver.url,
                                         "notify_webhook_secret": SECRET})
        api = cluster.api(0)
        alice, bob, carol = api.new_users(3, "cnot")
        conv = api.direct(alice, bob)
        send_and_leave(cluster.port(1), alice, conv, ["one", "two", "three"])
        got = receiver.wait_for(bob.id)
        quiet()
        got = receiver.for_user(bob.id)
        assert len(got) == 1 and got[0]["count"] == 3, got
        leaders = [metric(cluster.api(i).request("GET", "/metrics").body.decode(),
                          "ringcast_notifier_leader") for i in range(2)]
        assert sorted(leaders) == [0, 1], leaders

        # Carol is connected to one node; the message goes through the other: whichever node
        # notifies, it knows she is online.
        dm = api.direct(alice, carol)

        async def online_elsewhere():
            c = await ChatConn.connect(cluster.port(1), carol.token, name="carol@n2")
            await c.hello()
            await asyncio_to_thread(send_and_leave, cluster.port(0), alice, dm, ["are you there"])
            await c.wait_message(dm)
            await asyncio_sleep(1.5)
            await c.close()
        run_async(online_elsewhere(), 30)
        quiet()
        assert receiver.for_user(carol.id) == []
        assert receiver.bad_signatures == 0
    finally:
        receiver.close()


async def asyncio_to_thread(fn, *args):
    import asyncio
    return await asyncio.to_thread(fn, *args)


async def asyncio_sleep(seconds: float):
    import asyncio
    await asyncio.sleep(seconds)


@pytest.mark.timeout(120)
def test_two_nodes_mail_one_digest(cluster_factory):
    """notify/email/README.md: every node has --smtp, one mails (the same lease). The SMTP
    server answers slowly, so that a second mailer's pass would find the digest still due."""
    from aiosmtpd.controller import Controller

    from support import free_port
    from test_email_digest import Sink, wait_until

    sink = Sink(delay=2.5)
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        cluster = cluster_factory(2, own_redis=True, threads=(2, 1),
                                  flags={"presence_grace": 0, "email_digest_after": 1,
                                         "smtp": f"smtp://127.0.0.1:{smtp.port}"})
        api = cluster.api(0)
        alice, bob = api.new_users(2, "cmail")
        assert api.request("PATCH", "/api/me", {"email": "bob@example.org"},
                           token=bob.token).status == 200
        conv = api.direct(alice, bob)
        send_and_leave(cluster.port(1), alice, conv, ["one", "two"])
        wait_until(lambda: sink.to("bob@example.org"), 20, "the digest")
        quiet(3.0)  # Three passes of each node's mailer.
        assert len(sink.messages) == 1, [m.get_content() for _, _, m in sink.messages]
    finally:
        smtp.stop()
