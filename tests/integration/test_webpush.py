"""Web Push (notify/README.md, "Web Push"; PROTOCOL.md, "Web Push"): the VAPID key (generated
once into the data dir, mode 0600, served at /api/push/vapid-public-key), subscriptions
(POST/DELETE /api/push/subscriptions: checked, bounded per user), and delivery to a real push
service on loopback (webpush_service.py: it verifies the VAPID JWT and decrypts the payload
with the subscription's private key), where a 410 Gone deletes the subscription."""

from __future__ import annotations

import base64
import os
import stat
import time

import pytest

from chat_client import Api, ChatConn, chat_args
from support import run_async
from test_notify import metric
from webpush_service import PushService

SUBJECT = "mailto:push-test@example.org"


def vapid_key(api: Api) -> str:
    r = api.request("GET", "/api/push/vapid-public-key")
    assert r.status == 200, r
    return r.json["public_key"]


def push_args(**flags):
    """The push service of the tests listens on plain http."""
    return chat_args(vapid_subject=SUBJECT, **flags) + ("--push-allow-http",)


@pytest.fixture
def push_service():
    services = []

    def make(api: Api) -> PushService:
        service = PushService(vapid_public_key=vapid_key(api), subject=SUBJECT)
        services.append(service)
        return service
    yield make
    for service in services:
        service.close()


def test_vapid_key_is_generated_once_kept_0600_and_served(server_factory):
    srv = server_factory(*chat_args())
    key = vapid_key(Api(srv.port))
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in key, key
    path = srv.data_dir / "vapid-key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert srv.stop() == 0
    again = server_factory(*srv.extra_args, start=False, name="restarted")
    again.data_dir = srv.data_dir
    again.start()
    assert vapid_key(Api(again.port)) == key  # Browsers' subscriptions stay valid.
    assert Api(again.port).request("POST", "/api/push/vapid-public-key").status == 405


def test_subscriptions_are_checked_and_bounded(server_factory, push_service):
    srv = server_factory(*push_args(push_max_subscriptions=2))
    api = Api(srv.port)
    bob = api.new_user("bob")
    service = push_service(api)
    subs = [service.subscribe() for _ in range(3)]
    path = "/api/push/subscriptions"
    assert api.request("POST", path, subs[0].json()).status == 401
    for sub in subs:
        r = api.request("POST", path, sub.json(), token=bob.token)
        assert r.status == 201 and r.json == {"endpoint": sub.endpoint}, r
    # Again: the same endpoint is updated, not doubled.
    assert api.request("POST", path, subs[2].json(), token=bob.token).status == 201
    good = subs[0].json()
    bad_bodies = [
        {**good, "endpoint": "ftp://127.0.0.1/x"},
        {**good, "endpoint": "http://"},
        {**good, "endpoint": "https://example.org/" + "x" * 2100},
        {**good, "keys": {**good["keys"], "p256dh": good["keys"]["p256dh"][:-4] + "AAAA"}},
        {**good, "keys": {**good["keys"], "p256dh": "not base64!"}},
        {**good, "keys": {**good["keys"], "auth": base64.urlsafe_b64encode(b"x" * 15).decode()}},
        {"endpoint": good["endpoint"], "keys": {"p256dh": good["keys"]["p256dh"]}},
        {"keys": good["keys"]},
        [good],
    ]
    for body in bad_bodies:
        r = api.request("POST", path, body, token=bob.token)
        assert r.status == 400, (body, r)
    # The bound: the oldest (subs[0]) made room for subs[2].
    assert api.request("DELETE", path, {"endpoint": subs[0].endpoint}, token=bob.token).status \
        == 404
    assert api.request("DELETE", path, {"endpoint": subs[1].endpoint}, token=bob.token).status \
        == 204
    assert api.request("DELETE", path, {"endpoint": subs[1].endpoint}, token=bob.token).status \
        == 404
    # Someone else's subscription is not theirs to delete.
    carol = api.new_user("carol")
    assert api.request("DELETE", path, {"endpoint": subs[2].endpoint},
                       token=carol.token).status == 404


def test_plain_http_endpoints_need_the_flag(server_factory):
    srv = server_factory(*chat_args())
    api = Api(srv.port)
    bob = api.new_user("bob")
    service = PushService(vapid_public_key=vapid_key(api), subject=SUBJECT)
    try:
        r = api.request("POST", "/api/push/subscriptions", service.subscribe().json(),
                        token=bob.token)
        assert r.status == 400 and "https" in r.json["error"], r
    finally:
        service.close()


@pytest.mark.timeout(90)
def test_offline_member_gets_one_encrypted_push_and_410_removes_the_subscription(
        server_factory, push_service):
    srv = server_factory(*push_args(notify_delay=500) + ("--web-push",))
    api = Api(srv.port)
    alice, bob = api.new_user("alice"), api.new_user("bob")
    service = push_service(api)
    phone, laptop = service.subscribe(), service.subscribe()
    for sub in (phone, laptop):
        r = api.request("POST", "/api/push/subscriptions", sub.json(), token=bob.token)
        assert r.status == 201, r
    conv = api.direct(alice, bob)

    async def send(*bodies):
        a = await ChatConn.connect(srv.port, alice.token, name="alice")
        for body in bodies:
            await a.send(conv, body)
        await a.ws.close()

    # A burst while bob is offline: one notification for it, to each browser.
    run_async(send("one", "two", "three ✓"), 30)
    service.wait_for(lambda d: True, n=2)
    time.sleep(1.5)  # Several polls of the notifier: nothing more.
    assert [len(service.to(phone)), len(service.to(laptop))] == [1, 1], service.deliveries
    for delivery in service.deliveries:
        assert delivery.problems == [], delivery
        assert delivery.headers["urgency"] == "normal" and delivery.headers["ttl"] == "86400"
        payload = delivery.payload
        assert payload["conv"] == conv and payload["count"] == 3 and not payload["mention"]
        assert payload["latest"]["body"] == "three ✓" and payload["latest"]["from"] == alice.id
        assert payload["latest"]["from_name"] == alice.name and payload["latest"]["seq"] == 3
        assert payload["id"], payload

    # The laptop's push service says the subscription is gone: it is deleted, and the next
    # notification reaches the phone only.
    laptop.answer = 410
    run_async(send("four"), 30)
    service.wait_for(lambda d: d.subscription == laptop.id, n=2)
    service.wait_for(lambda d: d.subscription == phone.id, n=2)
    run_async(send("five"), 30)
    service.wait_for(lambda d: d.subscription == phone.id, n=3)
    time.sleep(1.5)
    assert len(service.to(laptop)) == 2, service.deliveries
    assert service.to(phone)[-1].payload["latest"]["body"] == "five"
    assert all(d.problems == [] for d in service.deliveries), service.deliveries
    r = api.request("DELETE", "/api/push/subscriptions", {"endpoint": laptop.endpoint},
                    token=bob.token)
    assert r.status == 404, r
    metrics = api.request("GET", "/metrics").body.decode()
    assert metric(metrics, "ringcast_webpush_requests_total", outcome="accepted") == 4, metrics
    assert metric(metrics, "ringcast_webpush_requests_total", outcome="failed") == 1, metrics
    assert metric(metrics, "ringcast_webpush_subscriptions_removed_total") == 1, metrics


@pytest.mark.needs_pg
def test_postgresql_nodes_share_the_vapid_key_of_the_first(server_factory, pg_server):
    """A single node moving to PostgreSQL keeps its key (so its browsers' subscriptions stay
    valid), and every other node on that database signs with it too."""
    single = server_factory(*chat_args(), name="sqlite")
    key = vapid_key(Api(single.port))
    assert single.stop() == 0
    url = pg_server.create_database()
    try:
        first = server_factory(*chat_args(), start=False, name="first", database_url=url)
        first.data_dir = single.data_dir
        first.start()
        second = server_factory(*chat_args(), name="second", database_url=url)
        assert vapid_key(Api(first.port)) == key
        assert vapid_key(Api(second.port)) == key
        assert not (second.data_dir / "vapid-key").exists()  # The database's, not a file.
        assert first.stop() == 0 and second.stop() == 0
    finally:
        pg_server.drop_database(url)
