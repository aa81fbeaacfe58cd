"""nginx in front of ringcast nodes (issue 11, "Load balancer"): Debian's nginx running the shipped
deploy/nginx/ringcast.conf (tools/nginx_proxy.py changes only its upstream servers and its listen
address) in front of a cluster of two nodes on one PostgreSQL database and one Redis.

- A chat session through nginx: register, login, two WebSockets on /ws through nginx (least_conn
  puts them on different nodes), a message each way, acked after commit and delivered.
- Uploads: a 20 MiB file through nginx (its own location, sized by --max-upload-bytes and
  streamed), while any other body keeps the 1 MiB limit of --max-body-bytes; with one shared
  --files-dir every node serves it, and a node with a directory of its own answers 503 (JSON)
  for the recorded file it lacks, logging it once.
- /metrics is refused by nginx (403) even when a node serves it on its main port.
- A node stopped (SIGTERM): every new connection through nginx afterwards succeeds (HTTP API,
  a login, WebSockets), answered by the node left.
- The per-address limit on failed logins (--login-rate-ip) keys on the real client: with 127.0.0.1 (nginx's
  address towards the nodes) in --trusted-proxies, clients connecting to nginx from 127.0.0.2 and
  127.0.0.3 (loopback is all of 127/8) are counted apart, a forged X-Forwarded-For sent through
  nginx gains nothing, and one sent straight to a node by a peer that is no trusted proxy is
  ignored. Without --trusted-proxies every client behind nginx shares nginx's address (and a
  direct client's forged headers are ignored too).

Each test starts its own nodes (one to three) and nginx (a few seconds each).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import time

import pytest

from chat_client import PASSWORD, TIMEOUT, Api, ChatConn, close_all, unique_name
from support import run_async, ws_connect

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis, pytest.mark.needs_nginx]

# The address nginx connects to the nodes from (its default source address on loopback).
NGINX_SOURCE = "127.0.0.1"
LOGIN_RATE_IP = 3
MiB = 1 << 20


def login_from(port: int, username: str, source: str, headers: dict[str, str] | None = None,
               password: str = PASSWORD) -> int:
    """The status of POST /api/login sent from the local address `source` (a fresh connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT,
                                      source_address=(source, 0))
    try:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request("POST", "/api/login",
                     json.dumps({"username": username, "password": password}), hdrs)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def register(api: Api) -> str:
    """A fresh account (registration is not rate limited, and logs nobody in)."""
    name = unique_name("ng")
    r = api.register(name)
    assert r.status == 201, r
    return name


def upstreams_of(proxy, marker: str) -> list[str]:
    """The upstream field of the access-log lines whose request contains `marker`."""
    return [line.split(" upstream=", 1)[1].split(" xff=", 1)[0]
            for line in proxy.access_lines() if marker in line]


def wait_logged(proxy, marker: str, count: int, timeout: float = 10.0) -> list[str]:
    """The upstreams of the access-log lines containing `marker`, once there are `count` of them
    (nginx logs a WebSocket when it has closed both sides, a moment after the client's close)."""
    deadline = time.monotonic() + timeout
    while len(upstreams_of(proxy, marker)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    found = upstreams_of(proxy, marker)
    assert len(found) == count, (marker, count, proxy.access_lines())
    return found


def test_chat_session_through_nginx(cluster_factory, nginx_factory):
    cluster = cluster_factory(2, flags={"trusted_proxies": NGINX_SOURCE})
    proxy = nginx_factory(cluster.ports)
    api = Api(proxy.port)
    r = api.request("GET", "/health")
    assert r.status == 200 and r.json["status"] == "ok", r
    alice, bob = api.new_user("alice"), api.new_user("bob")  # Register and log in via nginx.
    conv = api.direct(alice, bob)

    async def go():
        a = await ChatConn.connect(proxy.port, alice.token, name="alice")
        b = await ChatConn.connect(proxy.port, bob.token, name="bob")
        try:
            start = b.mark()
            ack = await a.send(conv, "hello through nginx")
            got = await b.wait_message(conv, start=start)
            assert (got["seq"], got["body"], got["from"]) == (ack["seq"], "hello through nginx",
                                                             alice.id), (ack, got)
            start = a.mark()
            ack2 = await b.send(conv, "and back")
            got2 = await a.wait_message(conv, lambda m: m["seq"] == ack2["seq"], start=start)
            assert got2["body"] == "and back" and ack2["seq"] == ack["seq"] + 1, (ack2, got2)
            await a.ping()
            await b.ping()
        finally:
            await close_all([a, b])

    run_async(go(), 60)
    # The history through nginx has both, acked means committed.
    assert [m["body"] for m in api.all_messages(alice, conv)] == ["hello through nginx",
                                                                   "and back"]
    # least_conn: the second WebSocket went to the node without the first, so the message
    # crossed nodes through Redis. (nginx logs an upgraded request when it closes.)
    ws = wait_logged(proxy, '"GET /ws?token=', 2)
    assert set(ws) == {f"127.0.0.1:{p}" for p in cluster.ports}, proxy.access_lines()


def test_stopped_node_new_connections_go_to_the_other(cluster_factory, nginx_factory):
    cluster = cluster_factory(2, flags={"trusted_proxies": NGINX_SOURCE})
    proxy = nginx_factory(cluster.ports)
    api = Api(proxy.port)
    users = [api.new_user("fo") for _ in range(4)]
    for _ in range(4):
        assert api.request("GET", "/health").status == 200
    assert set(upstreams_of(proxy, "/health")) == {f"127.0.0.1:{p}" for p in cluster.ports}

    assert cluster.stop(1) == 0
    survivor = f"127.0.0.1:{cluster.port(0)}"

    # The query marks these requests in the access log.
    statuses = [api.request("GET", f"/health?after-stop={i}").status for i in range(30)]
    assert statuses == [200] * 30, statuses
    assert api.login(users[0].name).status == 200

    async def go():
        conns = await asyncio.gather(*(ChatConn.connect(proxy.port, u.token, name=f"c{i}")
                                       for i, u in enumerate(users * 3)))
        try:
            await asyncio.gather(*(c.ping() for c in conns))
        finally:
            await close_all(conns)

    run_async(go(), 60)
    # Each was answered by the node left (one that tried the stopped node first logs both:
    # "stopped, survivor").
    answered = wait_logged(proxy, "/health?after-stop=", 30) + wait_logged(proxy, "/ws?token=", 12)
    assert all(a.split(", ")[-1] == survivor for a in answered), answered
    # nginx did try the stopped node (both were in use before), and passed the request on.
    stopped = f"127.0.0.1:{cluster.port(1)}"
    assert f"{stopped}, {survivor}" in answered, answered


def exhaust_via(port: int, username: str, source: str, attempts: int,
                forged: bool = False) -> list[int]:
    """Failed logins (a wrong password) from `source` until the first 429 (at most `attempts`);
    with `forged`, each carries a different made-up X-Forwarded-For and X-Real-IP."""
    statuses = []
    for i in range(attempts):
        headers = ({"X-Forwarded-For": f"198.51.100.{i + 1}", "X-Real-IP": f"203.0.113.{i + 1}"}
                   if forged else None)
        statuses.append(login_from(port, username, source, headers, "wrong password"))
        if statuses[-1] == 429:
            break
    return statuses


def test_login_limit_sees_the_client_behind_a_trusted_nginx(cluster_factory, nginx_factory):
    cluster = cluster_factory(2, flags={"trusted_proxies": NGINX_SOURCE,
                                        "login_rate_ip": LOGIN_RATE_IP})
    proxy = nginx_factory(cluster.ports)
    name = register(Api(proxy.port))

    # 127.0.0.2 through nginx, each attempt with a different forged X-Forwarded-For: nginx
    # appends 127.0.0.2 to it and the node takes that, so forging gains nothing. (Whether the
    # nodes count together or each on its own, LOGIN_RATE_IP per node at most are heard.)
    statuses = exhaust_via(proxy.port, name, "127.0.0.2", 2 * LOGIN_RATE_IP + 1, forged=True)
    assert statuses[-1] == 429 and statuses.count(401) >= LOGIN_RATE_IP, statuses
    xff = [line.split(' xff="', 1)[1] for line in proxy.access_lines() if "/api/login" in line]
    assert xff[0].startswith("198.51.100.1"), xff  # What the client sent, as nginx saw it.

    # 127.0.0.3 through nginx is another client: the right password works, and it has its
    # whole allowance of failures, on whichever node.
    assert login_from(proxy.port, name, "127.0.0.3") == 200
    for _ in range(LOGIN_RATE_IP):
        assert login_from(proxy.port, name, "127.0.0.3", password="wrong password") == 401

    # Straight to a node from 127.0.0.4, which is no trusted proxy: its X-Forwarded-For and
    # X-Real-IP (different each time) are ignored, so the attempts are counted on 127.0.0.4.
    statuses = exhaust_via(cluster.port(0), name, "127.0.0.4", LOGIN_RATE_IP + 1, forged=True)
    assert statuses == [401] * LOGIN_RATE_IP + [429], statuses
    # ... and charged nobody else: the addresses it claimed are not limited.
    assert login_from(proxy.port, name, "127.0.0.5") == 200


def test_without_trusted_proxies_nginx_is_the_client(cluster_factory, nginx_factory):
    # One node, so that one shared key is visibly shared whatever the coordination between nodes.
    cluster = cluster_factory(1, flags={"login_rate_ip": LOGIN_RATE_IP})
    proxy = nginx_factory(cluster.ports)
    name = register(Api(proxy.port))

    statuses = exhaust_via(proxy.port, name, "127.0.0.2", LOGIN_RATE_IP + 1)
    assert statuses == [401] * LOGIN_RATE_IP + [429], statuses
    # nginx's address is the key: 127.0.0.3 behind it is limited too.
    assert login_from(proxy.port, name, "127.0.0.3") == 429

    # A direct client's forged headers are ignored as well.
    statuses = exhaust_via(cluster.port(0), name, "127.0.0.4", LOGIN_RATE_IP + 1, forged=True)
    assert statuses == [401] * LOGIN_RATE_IP + [429], statuses


def test_websocket_upgrade_is_proxied_verbatim(cluster_factory, nginx_factory):
    """/echo through nginx: the upgrade and binary and text frames pass unchanged (the map's
    Connection: upgrade, HTTP/1.1 to the node, no buffering)."""
    cluster = cluster_factory(2, args=("--echo",))
    proxy = nginx_factory(cluster.ports)

    async def go():
        async with ws_connect(f"{proxy.ws_url}/echo") as ws:
            for payload in ("text", b"\x00\x01binary", "x" * 100_000):
                await ws.send(payload)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == payload

    run_async(go(), 30)


def upload(port: int, token: str, data: bytes) -> tuple[int, str, bytes]:
    """POST /api/uploads of `data` (streamed in 1 MiB pieces): status, content type, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest("POST", "/api/uploads?name=big.bin")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        for i in range(0, len(data), MiB):
            conn.send(data[i:i + MiB])
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        conn.close()


def fetch(port: int, path: str, token: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        conn.close()


def big_file(size: int) -> bytes:
    """Bytes that are not all alike (a shifted piece changes the hash)."""
    block = hashlib.sha256(b"nginx").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.timeout(120)
def test_uploads_pass_nginx_and_other_bodies_keep_its_1mib_limit(cluster_factory, nginx_factory):
    """deploy/nginx/ringcast.conf's /api/uploads location: bigger than the 1 MiB of the rest
    (which gave every upload over 1 MiB nginx's HTML 413)."""
    cluster = cluster_factory(1)
    proxy = nginx_factory(cluster.ports)
    api = Api(proxy.port)
    user = api.new_user("up")
    data = big_file(3 * MiB)
    status, ctype, body = upload(proxy.port, user.token, data)
    assert status == 201 and ctype.startswith("application/json"), (status, body[:300])
    rec = json.loads(body)
    status, _, got = fetch(proxy.port, rec["url"], user.token)
    assert status == 200 and got == data
    # Any other body: nginx still refuses more than --max-body-bytes (1 MiB) itself.
    big_login = json.dumps({"username": user.name, "password": "x" * (2 * MiB)})
    r = api.request("POST", "/api/login", big_login)
    assert r.status == 413, r


@pytest.mark.timeout(180)
def test_shared_files_dir_serves_every_node_and_a_node_without_it_answers_503(
        cluster_factory, nginx_factory, tmp_path):
    """docs/cluster.md: --files-dir must be storage every node shares. A 20 MiB upload through
    nginx is then served by every node (directly, and through nginx whichever node it picks); a
    node given a directory of its own has the record (the database) but not the bytes: 503
    with a JSON error, logged once however often it is asked."""
    cluster = cluster_factory(2, flags={"files_dir": tmp_path / "shared-files"})
    proxy = nginx_factory(cluster.ports)
    user = Api(proxy.port).new_user("big")
    data = big_file(20 * MiB)
    status, _, body = upload(proxy.port, user.token, data)
    assert status == 201, (status, body[:300])
    rec = json.loads(body)
    for port in cluster.ports:
        status, _, got = fetch(port, rec["url"], user.token)
        assert status == 200 and got == data, (port, status, len(got))
    for _ in range(4):  # least_conn alternates between the two idle nodes.
        status, _, got = fetch(proxy.port, rec["url"], user.token)
        assert status == 200 and got == data, (status, len(got))

    cluster.flags["files_dir"] = tmp_path / "own-files"
    lone = cluster.add_node(threads=1)  # One shard: its one limiter sees every request.
    for _ in range(3):
        status, ctype, body = fetch(lone.port, rec["url"], user.token)
        assert status == 503 and ctype.startswith("application/json"), (status, body)
        assert json.loads(body) == {"error": "file unavailable on this node"}, body
    deadline = time.monotonic() + 5
    while "files: cannot open" not in lone.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lone.stderr_text().count("files: cannot open") == 1, lone.logs_tail()


def test_metrics_are_refused_by_nginx(cluster_factory, nginx_factory):
    """The nodes serve /metrics on their main port here (the harness's --metrics-on-main-port),
    and nginx still refuses it: the shipped config denies /metrics whatever the nodes' flags."""
    cluster = cluster_factory(1)
    proxy = nginx_factory(cluster.ports)
    assert cluster.api(0).request("GET", "/metrics").status == 200
    for path in ("/metrics", "/metrics?x=1", "/%6detrics"):
        assert Api(proxy.port).request("GET", path).status == 403, path
    assert Api(proxy.port).request("GET", "/health").status == 200
