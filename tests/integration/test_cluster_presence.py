"""Cluster mode, part two (issue 11; docs/cluster.md): presence, per-user limits and the node
registry over every node.

- Presence crosses nodes: a user connected to node 1 is online for a contact on node 2, and in
  the `hello` of a contact connecting to node 3; moving to another node within --presence-grace
  makes no offline/online flap anywhere; after the last connection anywhere closes, every
  watcher hears one offline event, after the grace period, with the last_online the store keeps.
- A node killed with SIGKILL does not leave its users online: they go offline within
  --node-ttl + --presence-grace (plus a heartbeat), and come back online when they reconnect.
- A Redis restart (an empty Redis) loses nothing a user sees: each node re-asserts its
  connections, so nobody goes offline, and a new hello still lists them online; nor does a
  node that reads who is online from Redis before another node has re-asserted its users.
- Two users on different nodes who first share a conversation while connected each hear the
  other's presence at once.
- --max-conns-per-user counts the connections on every node; the login limits, per username
  and per client address, count attempts on every node (Redis counters).
- GET /ready follows Redis; GET /api/cluster lists the live nodes (for --admin-token only) and
  forgets a killed one after its TTL.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from chat_client import Api, ChatConn, close_all, connected, now_ms, unique_name
from support import run_async, wait_until

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

GRACE_S = 1
NODE_TTL_S = 2
FLAGS = {"presence_grace": GRACE_S, "node_ttl": NODE_TTL_S}
ADMIN = "operator-token-for-tests"


def poll_until(predicate, timeout: float, what) -> None:
    """wait_until for the test's own thread (HTTP checks outside the event loop)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what() if callable(what) else what}")
        time.sleep(0.05)


def presence_of(conn: ChatConn, user, start: int = 0) -> list[dict]:
    return conn.typed("presence", start, user=user.id)


async def reasserted(cluster, user) -> None:
    """Waits (10 s at most) until `user` is online in Redis again (a node re-asserted its
    connections after Redis lost them)."""
    await wait_until(lambda: "1" in cluster.redis_cli("SISMEMBER", "rc:online", str(user.id)),
                     10, lambda: f"{user.name} was not re-asserted")


def hello_status(conn: ChatConn, user) -> dict:
    listed = {p["user"]: p for p in conn.typed("hello")[0]["presence"]}
    return listed[user.id]


@pytest.mark.timeout(90)
def test_presence_crosses_nodes_without_flapping(cluster_factory):
    cluster = cluster_factory(3, flags=FLAGS)
    api = cluster.api(0)
    a, b, c = api.new_users(3, "pres")
    api.direct(a, b)
    api.direct(a, c)

    async def go():
        async with connected((cluster.port(1), b.token, "b@n2")) as conns:
            [cb] = conns
            assert hello_status(cb, a)["status"] == "offline", cb.describe()
            connected_at = now_ms()
            ca = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
            conns.append(ca)
            on = await cb.wait_type("presence", user=a.id, status="online")
            assert connected_at - 1000 <= on["last_online"] <= now_ms() + 1000, on
            # hello on a third node knows a is online (on node 1).
            cc = await ChatConn.connect(cluster.port(2), c.token, name="c@n3")
            conns.append(cc)
            assert hello_status(cc, a)["status"] == "online", cc.describe()

            # a moves from node 1 to node 3 within the grace period, then adds a device on
            # node 2 and closes it: nobody hears anything.
            marks = {cb: cb.mark(), cc: cc.mark()}
            await ca.close()
            ca = await ChatConn.connect(cluster.port(2), a.token, name="a@n3")
            conns.append(ca)
            extra = await ChatConn.connect(cluster.port(1), a.token, name="a@n2")
            await extra.close()
            await asyncio.sleep(GRACE_S + 1.5)  # Past the grace period and a sweep.
            for watcher, mark in marks.items():
                assert not presence_of(watcher, a, mark), watcher.describe()

            # The last connection anywhere closes: one offline event for every watcher,
            # after the grace period, with the same last_online.
            marks = {cb: cb.mark(), cc: cc.mark()}
            closed_at = time.monotonic()
            await ca.close()
            offs = [await w.wait_type("presence", start=m, user=a.id, timeout=10)
                    for w, m in marks.items()]
            waited = time.monotonic() - closed_at
            assert all(off["status"] == "offline" for off in offs), offs
            assert offs[0] == offs[1], offs
            assert waited >= GRACE_S - 0.2, f"offline after {waited:.2f} s"
            await asyncio.sleep(1.5)
            for watcher, mark in marks.items():
                assert len(presence_of(watcher, a, mark)) == 1, watcher.describe()

            # Stored once, by one node: a new session anywhere reads that last_online.
            cb2 = await ChatConn.connect(cluster.port(0), b.token, name="b@n1")
            conns.append(cb2)
            listed = hello_status(cb2, a)
            assert listed == {"user": a.id, "status": "offline",
                              "last_online": offs[0]["last_online"]}, listed

    run_async(go(), 80)


@pytest.mark.timeout(60)
def test_new_contacts_on_other_nodes_learn_each_others_presence(cluster_factory):
    cluster = cluster_factory(2, flags=FLAGS)
    api = cluster.api(0)
    a, b = api.new_users(2, "meet")

    async def go():
        ca = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
        cb = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
        try:
            api.direct(a, b)
            for conn, other in ((ca, b), (cb, a)):
                p = await conn.wait_type("presence", user=other.id)
                assert p["status"] == "online", conn.describe()
        finally:
            await close_all([ca, cb])

    run_async(go(), 40)


@pytest.mark.timeout(90)
def test_users_of_a_killed_node_go_offline_after_its_ttl(cluster_factory):
    cluster = cluster_factory(2, flags=FLAGS, threads=(2, 1))
    api = cluster.api(1)
    a, b, _ = api.direct_pair("kill")

    async def go():
        cb = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
        ca = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
        try:
            await cb.wait_type("presence", user=a.id, status="online")
            mark = cb.mark()
            cluster.kill(0)
            killed_at = time.monotonic()
            off = await cb.wait_type("presence", start=mark, user=a.id, timeout=20)
            waited = time.monotonic() - killed_at
            assert off["status"] == "offline", off
            # Dead after its TTL (seen at a heartbeat, once a second), then the grace period.
            assert waited <= NODE_TTL_S + GRACE_S + 3, f"offline after {waited:.1f} s"
            assert waited >= NODE_TTL_S - 1, f"offline after {waited:.1f} s: before the TTL"
            # Back on the surviving node: online again.
            mark = cb.mark()
            async with connected((cluster.port(1), a.token, "a@n2")) as [ca2]:
                await cb.wait_type("presence", start=mark, user=a.id, status="online")
        finally:
            ca.abort()
            await close_all([cb])

    run_async(go(), 80)


@pytest.mark.timeout(90)
def test_a_restarted_node_knows_who_is_online_and_a_stopped_one_lets_go(cluster_factory):
    """n2 restarts while a is online on n1: b's hello on the new n2 lists a online. Then n1
    stops cleanly with a on it: b hears a go offline after the grace period, not after the
    node's TTL."""
    cluster = cluster_factory(2, flags={**FLAGS, "node_ttl": 30}, threads=(2, 1))
    api = cluster.api(0)
    a, b, _ = api.direct_pair("rs")

    async def go():
        async with connected((cluster.port(0), a.token, "a@n1")) as conns:
            [ca] = conns
            assert cluster.stop(1) == 0
            cluster.restart(1)
            cb = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
            conns.append(cb)
            assert hello_status(cb, a)["status"] == "online", cb.describe()
            mark = cb.mark()
            stopped_at = time.monotonic()
            assert cluster.stop(0) == 0
            off = await cb.wait_type("presence", start=mark, user=a.id, timeout=15)
            assert off["status"] == "offline", off
            assert time.monotonic() - stopped_at < 10, "offline only after the node's TTL"

    run_async(go(), 80)


@pytest.mark.timeout(120)
def test_a_redis_restart_makes_nobody_offline(cluster_factory):
    cluster = cluster_factory(2, own_redis=True, flags=FLAGS, threads=(1, 1))
    api = cluster.api(0)
    a, b, c = api.new_users(3, "rr")
    api.direct(a, b)
    api.direct(a, c)

    async def go():
        async with connected((cluster.port(1), b.token, "b@n2"),
                             (cluster.port(0), a.token, "a@n1")) as conns:
            cb, ca = conns
            await cb.wait_type("presence", user=a.id, status="online")
            # A few transitions first: the numbers Redis gave them must not outrank the ones a
            # restarted Redis gives later ones.
            for _ in range(2):
                mark = cb.mark()
                await ca.close()
                await cb.wait_type("presence", start=mark, user=a.id, status="offline")
                ca = conns[1] = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
                await cb.wait_type("presence", start=mark, user=a.id, status="online")
            mark = cb.mark()
            cluster.redis.shutdown_nosave()  # Every key is gone with it.
            await asyncio.sleep(0.5)
            for node in range(2):
                ready = cluster.api(node).request("GET", "/ready")
                assert ready.status == 503 and ready.json["redis"] == "unreachable", ready
            cluster.redis.restart()
            for node in range(2):
                await wait_until(
                    lambda n=node: cluster.api(n).request("GET", "/ready").status == 200, 20,
                    lambda: "a node never became ready again")
            # The nodes re-asserted their connections: a is online in the new Redis.
            await reasserted(cluster, a)
            cc = await ChatConn.connect(cluster.port(1), c.token, name="c@n2")
            conns.append(cc)
            assert hello_status(cc, a)["status"] == "online", cc.describe()
            await asyncio.sleep(GRACE_S + 1.5)
            assert not presence_of(cb, a, mark), cb.describe()
            # Transitions after the restart still reach every watcher.
            await ca.close()
            for watcher in (cb, cc):
                off = await watcher.wait_type("presence", start=mark if watcher is cb else 0,
                                              user=a.id, timeout=10)
                assert off["status"] == "offline", watcher.describe()

    run_async(go(), 110)


@pytest.mark.timeout(90)
def test_a_resync_before_the_other_node_reasserts_makes_nobody_offline(cluster_factory):
    # Redis loses everything, another node's re-assertion takes a presence number, and both
    # nodes' subscriptions drop: each reads who is online as soon as it resubscribes (within
    # ~150 ms), typically before a's node re-asserts a at its next heartbeat (within 1 s).
    # Absent from that first read, a must not go offline for b.
    cluster = cluster_factory(2, own_redis=True, flags=FLAGS, threads=(1, 1))
    api = cluster.api(0)
    a, b, _ = api.direct_pair("rs")

    async def go():
        async with connected((cluster.port(1), b.token, "b@n2"),
                             (cluster.port(0), a.token, "a@n1")) as conns:
            cb, ca = conns
            await cb.wait_type("presence", user=a.id, status="online")
            mark = cb.mark()
            cluster.redis_cli("FLUSHALL")
            seconds, micros = re.findall(r'"(\d+)"', cluster.redis_cli("TIME"))
            cluster.redis_cli("SET", "rc:presence-seq", seconds + micros.zfill(6))
            cluster.redis_cli("CLIENT", "KILL", "TYPE", "pubsub")
            await reasserted(cluster, a)
            # Past the second look (--node-ttl after the resync) and a grace period.
            await asyncio.sleep(NODE_TTL_S + GRACE_S + 1.5)
            assert not presence_of(cb, a, mark), cb.describe()
            assert cb.closed is None, cb.describe()
            await ca.close()
            off = await cb.wait_type("presence", start=mark, user=a.id, timeout=10)
            assert off["status"] == "offline", cb.describe()

    run_async(go(), 80)


@pytest.mark.timeout(60)
def test_max_conns_per_user_counts_every_node(cluster_factory):
    cluster = cluster_factory(3, flags={**FLAGS, "max_conns_per_user": 2})
    a = cluster.api(0).new_user("mc")

    async def go():
        first = [await ChatConn.connect(cluster.port(0), a.token, name="a@n1"),
                 await ChatConn.connect(cluster.port(1), a.token, name="a@n2")]
        try:
            extra = await ChatConn.connect(cluster.port(2), a.token, name="a@n3", hello=False)
            code, reason = await extra.wait_closed(15)
            assert (code, reason) == (1008, "too many connections for this user"), \
                extra.describe()
            await first[0].close()
            for attempt in range(50):  # The close reaches Redis through node 1's owner.
                again = await ChatConn.connect(cluster.port(2), a.token, name="again",
                                               hello=False)
                first.append(again)
                try:
                    await again.wait_for(lambda e: e.get("type") == "hello", 10, "hello")
                    break
                except AssertionError:
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await close_all(first)

    run_async(go(), 50)


@pytest.mark.timeout(60)
def test_login_limits_count_failures_on_every_node(cluster_factory):
    """--login-rate-user 3 (failures a minute on one username from one address) over 2 nodes:
    successes never count; 3 wrong passwords alternating between the nodes exhaust it for the
    whole cluster, and another username from the same address is not held back."""
    cluster = cluster_factory(2, flags={"login_rate_user": 3})
    name = unique_name("lim")
    assert cluster.api(0).register(name).status == 201
    for node in (0, 1, 0, 1):
        assert cluster.api(node).login(name).status == 200
    for node in (1, 0, 1):
        assert cluster.api(node).login(name, "wrong password").status == 401
    for node in (1, 0):
        r = cluster.api(node).login(name)
        assert r.status == 429, (node, r)
        assert 1 <= int(r.header("Retry-After")) <= 60, r
    assert cluster.redis_cli("HGET", f"rc:login:fail:pair:{name.lower()}|127.0.0.1", "n") == '"3"'
    other = unique_name("lim")
    assert cluster.api(1).register(other).status == 201
    assert cluster.api(1).login(other).status == 200


def test_login_limit_per_address_counts_failures_on_every_node(cluster_factory):
    """--login-rate-ip 4 over 2 nodes: 4 failed logins from 127.0.0.1 alternating between the
    nodes (2 each, so a per-node count would allow 2 more on each) exhaust it for the whole
    cluster, for the right password too."""
    limit = 4
    cluster = cluster_factory(2, flags={"login_rate_ip": limit})
    name = unique_name("ip")
    assert cluster.api(0).register(name).status == 201
    assert cluster.api(1).login(name).status == 200  # A success counts nothing.
    # Distinct usernames (one of them real): only the address's count can add up.
    outcomes = [cluster.api(k % 2).login(name if k == 0 else unique_name("nobody"),
                                         "wrong password").status for k in range(limit)]
    assert outcomes == [401] * limit, outcomes
    assert cluster.redis_cli("HGET", "rc:login:fail:ip:127.0.0.1", "n") == f'"{limit}"'
    for node in (0, 1):
        r = cluster.api(node).login(name)
        assert r.status == 429, (node, r)
        assert 1 <= int(r.header("Retry-After")) <= 60, r


def test_login_backoff_is_shared_by_the_nodes(cluster_factory):
    """--login-backoff-after 2: after two failures from one address (one on each node), the
    next login waits 1 s on either node (the time of the latest failure is Redis's)."""
    cluster = cluster_factory(2, flags={"login_backoff_after": 2, "login_backoff_max": 1})
    name = unique_name("bk")
    assert cluster.api(0).register(name).status == 201
    assert cluster.api(0).login(name, "wrong password").status == 401
    assert cluster.api(1).login(name, "wrong password").status == 401
    for node in (0, 1):
        r = cluster.api(node).login(name)
        assert r.status == 429 and r.header("Retry-After") == "1", (node, r)
    time.sleep(1.1)
    assert cluster.api(1).login(name).status == 200


def test_register_limit_per_address_counts_on_every_node(cluster_factory):
    """--register-rate-ip 3 over 2 nodes (issue 29, item 2): registrations from 127.0.0.1
    alternating between the nodes exhaust it for the whole cluster, in Redis as logins do."""
    limit = 3
    cluster = cluster_factory(2, flags={"register_rate_ip": limit})
    outcomes = [cluster.api(k % 2).register(unique_name("reg")).status for k in range(limit)]
    assert outcomes == [201] * limit, outcomes
    assert cluster.redis_cli("GET", "rc:register:ip:127.0.0.1") == f'"{limit}"'
    for node in (0, 1):
        r = cluster.api(node).register(unique_name("reg"))
        assert r.status == 429, (node, r)
        assert 1 <= int(r.header("Retry-After")) <= 60, r


@pytest.mark.timeout(60)
def test_cluster_view_lists_live_nodes_for_an_operator(cluster_factory):
    cluster = cluster_factory(3, flags={"node_ttl": NODE_TTL_S, "admin_token": ADMIN})
    api = cluster.api(1)
    assert api.request("GET", "/api/cluster").status == 401
    assert api.request("GET", "/api/cluster", token="wrong").status == 401
    assert api.request("POST", "/api/cluster", token=ADMIN).status == 405

    def view(node: int = 1) -> dict:
        r = cluster.api(node).request("GET", "/api/cluster", token=ADMIN)
        assert r.status == 200, r
        return r.json

    poll_until(lambda: len(view()["nodes"]) == 3, 10, lambda: repr(view()))
    seen = view()
    assert seen["cluster"] is True and seen["node"] == "n2", seen
    by_id = {n["id"]: n for n in seen["nodes"]}
    assert set(by_id) == {"n1", "n2", "n3"}, seen
    for index, node_id in enumerate(("n1", "n2", "n3")):
        entry = by_id[node_id]
        assert entry["address"].endswith(f":{cluster.port(index)}"), entry
        assert entry["shards"] == cluster.nodes[index].threads, entry
        assert entry["connections"] >= 0 and entry["version"], entry
        assert 0 < entry["expires_in_ms"] <= NODE_TTL_S * 1000, entry
        assert entry["started_ms"] <= now_ms(), entry
    ready = cluster.api(0).request("GET", "/ready")
    assert ready.status == 200, ready
    assert ready.json == {"ready": True, "store": "ok", "node": "n1", "redis": "ok"}, ready.json

    cluster.kill(2)
    poll_until(lambda: {n["id"] for n in view(0)["nodes"]} == {"n1", "n2"}, NODE_TTL_S + 5,
               lambda: repr(view(0)))
    # A clean stop leaves at once.
    assert cluster.stop(1) == 0
    poll_until(lambda: {n["id"] for n in view(0)["nodes"]} == {"n1"}, 3, lambda: repr(view(0)))


def test_operator_routes_without_an_admin_token(cluster_factory):
    cluster = cluster_factory(1)
    r = cluster.api(0).request("GET", "/api/cluster", token="anything")
    assert r.status == 403 and "--admin-token" in r.json["error"], r
