"""Background jobs over AMQP (issue 14; notify/README.md, "AMQP jobs"): a throwaway
rabbitmq-server (Debian's, started here on free ports with its own epmd, data dir and cookie),
ringcast with --amqp, and a python3-pika consumer bound to the exchange with "#": each job
arrives once, persistent, with its documented routing key. Skipped when rabbitmq-server or pika
is not installed (tools/deps.sh test installs both)."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from chat_client import JWT_SECRET, Api, chat_args
from test_notify import metric, send_and_leave

RABBITMQ = pathlib.Path("/usr/lib/rabbitmq/bin/rabbitmq-server")

pytestmark = [
    pytest.mark.needs_amqp,
    pytest.mark.skipif(not RABBITMQ.exists() or shutil.which("epmd") is None,
                       reason="rabbitmq-server is not installed (tools/deps.sh test)"),
]
pika = pytest.importorskip("pika", reason="python3-pika is not installed (tools/deps.sh test)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    base = tmp_path_factory.mktemp("rabbitmq")
    (base / "enabled_plugins").write_text("[].\n")
    port, dist, epmd = free_port(), free_port(), free_port()
    env = dict(os.environ, HOME=str(base), RABBITMQ_NODENAME=f"rctest{port}@localhost",
               RABBITMQ_MNESIA_BASE=str(base / "mnesia"), RABBITMQ_LOG_BASE=str(base / "log"),
               RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(dist),
               ERL_EPMD_PORT=str(epmd), RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
               RABBITMQ_CONFIG_FILES=str(base / "conf.d"), RABBITMQ_PID_FILE=str(base / "pid"),
               RABBITMQ_LOGS="-")
    log = open(base / "server.log", "wb")
    proc = subprocess.Popen([str(RABBITMQ)], cwd=base, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port)).close()
                break
            except pika.exceptions.AMQPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("rabbitmq-server did not start:\n" +
                                (base / "server.log").read_text()[-3000:], pytrace=False)
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # epmd daemonizes out of the server's process group: stop it by its port.
        subprocess.run(["epmd", "-kill"], env=env, capture_output=True, timeout=10)
        log.close()


def bound_queue(port: int, key: str):
    """A connection to the broker, its channel, and a queue of its own bound to ringcast's
    exchange for the routing keys `key` matches."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = conn.channel()
    channel.exchange_declare("ringcast", exchange_type="topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "ringcast", routing_key=key)
    return conn, channel, queue


def take_jobs(channel, queue: str, n: int, timeout: float = 20) -> list[tuple[str, dict, int]]:
    """Up to `n` jobs from `queue` (routing key, JSON, delivery mode), waiting up to `timeout`."""
    jobs: list[tuple[str, dict, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(jobs) < n:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        jobs.append((method.routing_key, json.loads(body), props.delivery_mode))
    return jobs


@pytest.mark.timeout(120)
def test_each_job_published_once_with_its_routing_key(rabbit, server_factory):
    conn, channel, queue = bound_queue(rabbit, "#")

    srv = server_factory(*chat_args(jwt_secret=JWT_SECRET, presence_grace=0, notify_delay=300,
                                    amqp=f"amqp://guest:guest@127.0.0.1:{rabbit}"))
    api = Api(srv.port)
    alice, bob, conv = api.direct_pair("amqp")
    acks = send_and_leave(srv.port, alice, conv, [f"hello @{bob.name}", "second"])

    jobs = take_jobs(channel, queue, 4)
    time.sleep(1.5)  # Anything sent twice would be here by now.
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        jobs.append((method.routing_key, json.loads(body), props.delivery_mode))
    conn.close()

    assert all(mode == 2 for _, _, mode in jobs), jobs
    by_key: dict[str, list[dict]] = {}
    for key, doc, _ in jobs:
        by_key.setdefault(key, []).append(doc)
    assert sorted(by_key) == ["mention", "message.committed", "notification.due"], jobs
    committed = by_key["message.committed"]
    assert [m["message"]["seq"] for m in committed] == [a["seq"] for a in acks], committed
    assert committed[0]["message"]["mentions"] == [bob.id]
    assert by_key["mention"] == [{"type": "mention", "user": bob.id,
                                  "message": committed[0]["message"]}]
    due = by_key["notification.due"]
    assert len(due) == 1 and due[0]["recipient"]["id"] == bob.id and due[0]["count"] == 2, due
    assert due[0]["mention"] is True
    assert due[0]["idempotency_key"] == f"rcn1-{bob.id}-{conv}-{acks[-1]['seq']}"
    metrics = api.request("GET", "/metrics").body.decode()
    assert metric(metrics, "ringcast_jobs_total", outcome="confirmed") == 4, metrics


@pytest.mark.timeout(90)
def test_email_digest_is_published_as_a_job(rabbit, server_factory):
    """notify/email/README.md: each digest the SMTP server accepted is also `email.digest`."""
    from test_email_digest import Sink, wait_until
    from aiosmtpd.controller import Controller
    from support import free_port as free_tcp_port

    conn, channel, queue = bound_queue(rabbit, "email.#")
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_tcp_port())
    smtp.start()
    try:
        srv = server_factory(*chat_args(presence_grace=0, email_digest_after=1,
                                        smtp=f"smtp://127.0.0.1:{smtp.port}",
                                        amqp=f"amqp://guest:guest@127.0.0.1:{rabbit}"))
        api = Api(srv.port)
        alice, bob = api.new_users(2, "digest")
        assert api.request("PATCH", "/api/me", {"email": "bob@example.org"},
                           token=bob.token).status == 200
        conv = api.direct(alice, bob)
        acks = send_and_leave(srv.port, alice, conv, ["hello"])
        wait_until(lambda: sink.to("bob@example.org"), 20, "the digest")
        jobs = take_jobs(channel, queue, 1)
        assert jobs == [("email.digest", {
            "user": bob.id, "username": bob.name, "email": "bob@example.org",
            "conversations": [{"conv": conv, "unread": 1, "last_seq": acks[0]["seq"],
                               "latest_seq": acks[0]["seq"]}]}, 2)], jobs
    finally:
        conn.close()
        smtp.stop()


@pytest.mark.timeout(90)
def test_each_call_publishes_call_ended(rabbit, server_factory):
    """Issue 26 (proto/PROTOCOL.md, "Records"): a call, answered or not, is one `call.ended` job
    with its outcome, duration and participants."""
    from chat_client import connected
    from support import run_async
    from test_calls import ask, invite

    conn, channel, queue = bound_queue(rabbit, "call.#")
    try:
        srv = server_factory(*chat_args(amqp=f"amqp://guest:guest@127.0.0.1:{rabbit}"))
        api = Api(srv.port)
        alice, bob, conv = api.direct_pair("amqpcall")

        async def calls():
            async with connected((srv.port, alice.token, "alice"),
                                 (srv.port, bob.token, "bob")) as [ca, cb]:
                answered = await invite(ca, conv, "video")
                await cb.wait_type("call_ring", call=answered)
                await ask(cb, "call_accept", call=answered)
                await asyncio.sleep(0.2)
                await ask(cb, "call_hangup", call=answered)
                await ca.wait_type("call_ended", call=answered)
                declined = await invite(ca, conv)
                await ask(cb, "call_decline", call=declined)
                await ca.wait_type("call_ended", call=declined)
                return answered, declined

        answered, declined = run_async(calls(), 30)
        jobs = take_jobs(channel, queue, 2)
        assert [(key, job["call"], job["outcome"]) for key, job, _ in jobs] == [
            ("call.ended", answered, "completed"), ("call.ended", declined, "declined")], jobs
        done = jobs[0][1]
        assert done["type"] == "call" and done["conv"] == conv and done["call_kind"] == "video"
        assert done["duration_ms"] >= 150 and sorted(done["participants"]) == sorted(
            [alice.id, bob.id]), done
        assert jobs[1][1]["duration_ms"] == 0 and "answered_at" not in jobs[1][1], jobs
    finally:
        conn.close()
