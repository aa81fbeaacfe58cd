"""Draining a cluster node and rolling restarts (issue 11; docs/cluster.md, "Draining and rolling
restarts"): three nodes (2, 1 and 2 shards) on one PostgreSQL database and one Redis.

- SIGTERM to a node with 50 chat clients: each gets `{"type":"reconnect","after_ms":N}` with
  0 <= N <= --reconnect-jitter-ms, drawn per connection (the values differ), as its last event,
  then close 1012 "service restart"; an /echo connection gets 1001; the node exits 0 within
  --shutdown-timeout. Sends pipelined right up to the signal: the ones acked, and the ones whose
  commit was in flight, reach the members on the other nodes before anyone resends (the
  periodic store check is off, so only the draining node's own publications can bring the last
  ones); the senders then resend what was not acked, same cid, on another node and get the
  original acks: every message once, in order, for every member.
- A rolling restart of the three nodes, one after another (SIGTERM, exit 0, start again with
  the same node id and data dir, serving), under a steady send load from clients that
  reconnect as told (cluster_clients.Storm: wait after_ms, reconnect to a live node, sync,
  resend unacked with the same cid): Storm.verify's contract holds, and a watcher (a member
  with a connection open at every moment, on node 3 until it restarts and on node 1 once it
  is back) gets no presence event for any member that came back within --presence-grace.
- Presence (its own test): users whose node drains and who reconnect to other nodes within
  --presence-grace cause no offline/online presence event for a contact connected to a node
  that stays up, while a user who does not come back goes offline once (presence across
  nodes).
- The mail a draining node's shards post one another while closing their connections runs
  before they leave: 16 sessions all on shard 1, half of their users owned by shard 0, which
  has nothing of its own to close; every one of them goes offline for a watcher on node 2
  (a lost detach would leave a user online in Redis for good).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.parse

import pytest
import websockets

from chat_client import ChatConn, close_all, connected
from cluster_clients import Device, Sender, Storm
from support import run_async, wait_until, ws_connect
from wsraw import RawConn, get_request

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]

JITTER_MS = 2000
SHUTDOWN_TIMEOUT = 5


def drain_node(cluster, index: int) -> tuple[int | None, float]:
    """SIGTERM to node index+1; (exit status, seconds to exit), waiting at most
    --shutdown-timeout + 5 s (a node still running then fails the test at teardown)."""
    srv = cluster.nodes[index]
    started = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(SHUTDOWN_TIMEOUT + 5)
    return rc, time.monotonic() - started


# -- one node drains ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_drains_chat_clients_with_jittered_reconnect_then_1012(cluster_factory):
    # Commits wait 200 ms for their batch to fill, so that many are in flight at the signal:
    # longer than the clients take to answer the close frames.
    cluster = cluster_factory(3, flags={"reconnect_jitter_ms": JITTER_MS,
                                        "shutdown_timeout": SHUTDOWN_TIMEOUT,
                                        "cluster_check_interval": 3600,
                                        "batch_delay_us": 200_000}, args=("--echo",))
    victim = 0  # Two shards.
    api = cluster.api(1)
    users = api.new_users(52, "drain")
    on_victim, w2, w3 = users[:50], users[50], users[51]
    conv = api.group(w2, [u for u in users if u is not w2], "drain")
    senders = 5
    per_sender = 40

    async def go():
        clients = []
        for start in range(0, len(on_victim), 25):
            clients += await asyncio.gather(*(
                ChatConn.connect(cluster.port(victim), u.token, name=f"d{start + i}@n1")
                for i, u in enumerate(on_victim[start:start + 25])))
        c2 = await ChatConn.connect(cluster.port(1), w2.token, name="w2@n2")
        c3 = await ChatConn.connect(cluster.port(2), w3.token, name="w3@n3")
        echo = await ws_connect(cluster.nodes[victim].url("/echo"))
        later: list[ChatConn] = []
        try:
            # Acked before the drain.
            first = await clients[0].send(conv, "before the drain", cid="first")
            # Sends pipelined through the signal: some acked before it, some committing when
            # it comes, the rest refused by the closing connection or never sent.
            cids = {k: [f"p{k}-{n}" for n in range(per_sender)] for k in range(senders)}

            async def pipeline(k: int) -> None:
                try:
                    for cid in cids[k]:
                        await clients[k].send_json(clients[k].send_request(conv, cid, cid=cid))
                        await asyncio.sleep(0.01)
                except websockets.ConnectionClosed:
                    pass

            sending = [asyncio.ensure_future(pipeline(k)) for k in range(senders)]
            await clients[0].wait_type("ack", cid=cids[0][2])
            rc, took = await asyncio.to_thread(drain_node, cluster, victim)
            await asyncio.gather(*sending)
            assert rc == 0, f"exit status {rc} after SIGTERM"
            assert took < SHUTDOWN_TIMEOUT, f"exited {took:.2f} s after SIGTERM"

            # Every chat client: the hint, last, then 1012.
            hints = []
            for c in clients:
                code, reason = await c.wait_closed(5)
                assert (code, reason) == (1012, "service restart"), c.describe()
                told = c.typed("reconnect")
                assert len(told) == 1 and c.events[-1] is told[0], c.describe()
                after = told[0]["after_ms"]
                assert isinstance(after, int) and 0 <= after <= JITTER_MS, told[0]
                assert list(told[0]) == ["type", "after_ms"], told[0]
                hints.append(after)
            # 50 uniform draws from 2001 values: about 49 distinct; the same draw for every
            # connection (or a tiny range) would show here.
            assert len(set(hints)) >= 40, sorted(hints)
            assert max(hints) - min(hints) >= JITTER_MS // 2, sorted(hints)
            # /echo has no protocol for a hint: the engine's close.
            await asyncio.wait_for(echo.wait_closed(), 5)
            assert echo.close_code == 1001, (echo.close_code, echo.close_reason)

            # What the node committed reached the other nodes before any resend.
            last_seq = (await asyncio.to_thread(api.conversation, w2, conv))["last_seq"]
            acked = {e["cid"]: e for c in clients[:senders] for e in c.typed("ack")}
            assert acked["first"] == first
            assert 2 <= len(acked) and max(a["seq"] for a in acked.values()) <= last_seq
            for c in (c2, c3):
                got = await c.wait_count(lambda e: e.get("type") == "message"
                                         and e.get("conv") == conv, last_seq, 5,
                                         f"the {last_seq} messages committed by node 1")
                assert [m["seq"] for m in got] == list(range(1, last_seq + 1)), c.describe()
            print(f"drain: {len(acked)} acked, {last_seq} committed of "
                  f"{1 + senders * per_sender} sent; after_ms {min(hints)}..{max(hints)}, "
                  f"{len(set(hints))} distinct; exit after {took:.2f} s")

            # The senders resend what was not acked, same cids, on node 2 (resume with sync
            # first, as a client does): committed ones get their original ack.
            total = 1 + senders * per_sender
            for k in range(senders):
                c = await ChatConn.connect(cluster.port(1), on_victim[k].token,
                                           name=f"d{k}@n2")
                later.append(c)
                synced = await c.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
                assert synced["type"] == "sync", synced
                for cid in cids[k]:
                    if cid not in acked:
                        await c.send_json(c.send_request(conv, cid, cid=cid))
                for cid in cids[k]:
                    if cid not in acked:
                        acked[cid] = await c.wait_type("ack", cid=cid)
            assert sorted(a["seq"] for a in acked.values()) == list(range(1, total + 1))
            body_of = {a["seq"]: cid for cid, a in acked.items()}
            for c in (c2, c3):
                got = await c.wait_count(lambda e: e.get("type") == "message"
                                         and e.get("conv") == conv, total, 10,
                                         "every message")
                assert [m["seq"] for m in got] == list(range(1, total + 1)), c.describe()
                for m in got:
                    assert m["id"] == acked[body_of[m["seq"]]]["id"], m
                    want = "before the drain" if body_of[m["seq"]] == "first" else \
                        body_of[m["seq"]]
                    assert m["body"] == want, m
        finally:
            await close_all(clients + [c2, c3] + later)
            await echo.close()

    run_async(go(), 100)


# -- rolling restart ---------------------------------------------------------------------------

GROUP = 24
PER_SENDER = 90
ROLLING_GRACE_S = 3
# A user counts as back within the grace period when its longest time without an open
# connection, seen from the client, was this much shorter than --presence-grace: the server saw
# the close a little earlier and the new connection a little later than the client did.
GAP_SLACK_S = 1.0


def offline_gaps(devices: list[Device], until: float) -> dict[int, float]:
    """User id → the longest time (s) none of its devices had an open connection, from the
    first connection to `until` (ChatConn.opened_at / closed_at, monotonic)."""
    spans: dict[int, list[tuple[float, float]]] = {}
    for d in devices:
        for c in d.conns:
            spans.setdefault(d.user.id, []).append(
                (c.opened_at, c.closed_at if c.closed_at is not None else until))
    gaps = {}
    for user, intervals in spans.items():
        intervals.sort()
        longest, covered = 0.0, intervals[0][1]
        for opened, closed in intervals[1:]:
            longest = max(longest, opened - covered)
            covered = max(covered, closed)
        gaps[user] = max(longest, until - covered)
    return gaps


def presence_now(conn: ChatConn) -> dict[int, str]:
    """User → status as `conn` knows it: its hello, then the presence events since."""
    status = {p["user"]: p["status"] for p in conn.typed("hello")[0]["presence"]}
    status.update({e["user"]: e["status"] for e in conn.typed("presence")})
    return status


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_rolling_restart_under_load_loses_nothing(cluster_factory):
    """24 members (8 per node, 6 with a second device on the next node), senders on each node;
    nodes 1, 2, 3 restart in turn while they send. Clients follow the reconnect hint.
    A 25th member watches presence from node 3 (restarted last) and from node 1 (restarted
    first; the watcher comes back to it once it serves): between them, a watcher connection is
    open at every moment of the restarts. No member who came back within --presence-grace
    causes a presence event on either."""
    jitter_ms = 1000
    cluster = cluster_factory(3, flags={"reconnect_jitter_ms": jitter_ms,
                                        "shutdown_timeout": SHUTDOWN_TIMEOUT,
                                        "presence_grace": ROLLING_GRACE_S})
    users = cluster.api(0).new_users(GROUP + 1, "roll")
    users, watcher = users[:GROUP], users[GROUP]
    conv = cluster.api(1).group(users[0], users[1:] + [watcher], "roll")
    restarts: list[dict] = []

    async def go():
        plan = []
        for u, user in enumerate(users):
            plan.append((Device(user, f"u{u}", conv), u % 3))
            if u % 4 == 0:
                plan.append((Device(user, f"u{u}b", conv), (u + 1) % 3))
        await asyncio.gather(*(d.connect(cluster.port(node), node) for d, node in plan))
        devices = [d for d, _ in plan]
        by_name = {d.name: d for d in devices}
        ids = {u.id for u in users}
        # (connection, index of its first event that counts): from when it knew all online.
        watching: list[tuple[ChatConn, int]] = []

        async def watch(node: int, name: str) -> None:
            w = await ChatConn.connect(cluster.port(node), watcher.token, name=name)
            watching.append((w, 0))
            await wait_until(lambda: all(presence_now(w).get(u) == "online" for u in ids), 10,
                             w.describe)
            watching[-1] = (w, w.mark())

        await watch(2, "w@n3")
        await watch(0, "w@n1")
        # Senders on nodes 1, 2, 3, 1: a pace that keeps them sending through the restarts.
        senders = [Sender(by_name[f"u{i}"], i, PER_SENDER, interval=0.06) for i in range(4)]
        storm = Storm(lambda: cluster.ports, conv, devices, senders)
        last_drained: list[float] = []

        async def disruption(storm: Storm):
            for victim in range(3):
                # At 1/8, 3/8 and 5/8 of the acks: load runs between the restarts.
                await storm.wait_acked(storm.total * (2 * victim + 1) // 8)
                storm.dead.add(victim)  # No reconnect goes there meanwhile.
                rc, took = await asyncio.to_thread(drain_node, cluster, victim)
                assert rc == 0, f"node {victim + 1}: exit status {rc} after SIGTERM"
                assert took < SHUTDOWN_TIMEOUT, f"node {victim + 1} exited after {took:.2f} s"
                last_drained[:] = [time.monotonic()]
                started = time.monotonic()
                await asyncio.to_thread(cluster.restart, victim)
                storm.dead.discard(victim)
                if victim == 0:
                    await watch(0, "w@n1#1")
                restarts.append({"node": victim + 1, "exit s": round(took, 2),
                                 "start s": round(time.monotonic() - started, 2),
                                 "acked": storm.acked()})

        try:
            figures = await storm.outcome(disruption, 30)
            # Every device was on a node that restarted, so each was told to reconnect.
            for d in devices:
                assert d.told_to_reconnect >= 1 and len(d.conns) >= 2, d.describe()
            assert figures["survivors"] == 0, figures

            # Presence: an offline event comes --presence-grace after a close at the latest.
            await asyncio.sleep(max(0.0, last_drained[0] + ROLLING_GRACE_S + 1.5 -
                                    time.monotonic()))
            gaps = offline_gaps(devices, time.monotonic())
            back = {u for u, gap in gaps.items() if gap < ROLLING_GRACE_S - GAP_SLACK_S}
            # The clients reconnect within jitter_ms: nearly all of them are back in time.
            assert len(back) >= GROUP // 2, f"offline gaps (s): {gaps}"
            (w_last, _), (w_first, _), (w_back, _) = watching
            assert w_last.closed == (1012, "service restart") and w_first.closed is not None
            assert w_back.closed is None, w_back.describe()
            # A watcher connection was open at every moment since the first one knew all online.
            assert w_back.opened_at < w_last.closed_at, (w_back.opened_at, w_last.closed_at)
            flaps = {w.name: [e for e in w.typed("presence", start) if e["user"] in back]
                     for w, start in watching}
            assert not any(flaps.values()), \
                f"presence events for users back within the grace period: {flaps}; gaps {gaps}"
            figures["longest offline gap s"] = round(max(gaps.values()), 2)
            return figures
        finally:
            await close_all([c for d in devices for c in d.conns] + [w for w, _ in watching])

    figures = run_async(go(), 110)
    print(f"rolling restart: {figures}; {restarts}")


# -- presence ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_no_presence_flap_for_clients_that_reconnect_within_the_grace_period(cluster_factory):
    """Six users on node 1 move to nodes 2 and 3 as the drain tells them (within 1 s, grace
    3 s); a seventh does not come back. Watchers on nodes 2 and 3 share a group with all of
    them: before the drain they see all seven online, through it no presence event for the
    six, and one offline for the seventh once the grace period is over."""
    grace = 3
    cluster = cluster_factory(3, flags={"reconnect_jitter_ms": 1000, "presence_grace": grace,
                                        "shutdown_timeout": SHUTDOWN_TIMEOUT})
    api = cluster.api(1)
    users = api.new_users(9, "flap")
    movers, leaver, watchers = users[:6], users[6], users[7:]
    api.group(watchers[0], users[:7] + watchers[1:], "flap")
    problems: list[str] = []

    async def go():
        on_victim = [await ChatConn.connect(cluster.port(0), u.token, name=f"m{i}@n1")
                     for i, u in enumerate(movers + [leaver])]
        watching = [await ChatConn.connect(cluster.port(n + 1), w.token, name=f"w@n{n + 2}")
                    for n, w in enumerate(watchers)]
        moved: list[ChatConn] = []
        try:
            for w in watching:
                hello = w.typed("hello")[0]
                status = {p["user"]: p["status"] for p in hello["presence"]}
                offline = [u.name for u in movers + [leaver] if status.get(u.id) != "online"]
                if offline:
                    problems.append(f"{w.name}: hello shows users connected to node 1 as "
                                    f"not online: {offline}")
            marks = {w: w.mark() for w in watching}
            rc, took = await asyncio.to_thread(drain_node, cluster, 0)
            assert rc == 0, f"exit status {rc} after SIGTERM"
            drained_at = time.monotonic()

            async def come_back(i: int, c: ChatConn) -> ChatConn:
                await c.wait_closed(5)
                after_ms = c.typed("reconnect")[-1]["after_ms"]
                await asyncio.sleep(after_ms / 1000)
                node = 1 + i % 2
                return await ChatConn.connect(cluster.port(node), movers[i].token,
                                              name=f"m{i}@n{node + 1}")

            moved += await asyncio.gather(*(come_back(i, c)
                                            for i, c in enumerate(on_victim[:6])))
            # Past the grace period (counted from the drain's end, later than each close).
            await asyncio.sleep(max(0.0, drained_at + grace + 1.5 - time.monotonic()))
            ids = {u.id: u.name for u in movers}
            for w in watching:
                await w.ping()
                events = w.typed("presence", marks[w])
                flaps = [e for e in events if e["user"] in ids]
                if flaps:
                    problems.append(f"{w.name}: presence events for users who came back within "
                                    f"the grace period: {flaps}")
                gone = [e["status"] for e in events if e["user"] == leaver.id]
                if gone != ["offline"]:
                    problems.append(f"{w.name}: presence of the user who did not come back: "
                                    f"{gone} (expected one offline)")
            assert not problems, "\n  ".join(["presence across a drain:"] + problems)
        finally:
            await close_all(on_victim + watching + moved)

    run_async(go(), 80)


def ws_on_shard(port: int, token: str, shard: int, attempts: int = 200) -> RawConn:
    """A /ws connection accepted by `shard`: GET /health on a fresh connection says which shard
    holds it (SO_REUSEPORT chose); the upgrade follows on the same connection once it is the
    one wanted. Returns it after `hello`."""
    for _ in range(attempts):
        conn = RawConn.open(port, timeout=5)
        conn.send(get_request("/health"))
        if json.loads(conn.read_http_response(5).body)["shard"] != shard:
            conn.close()
            continue
        conn.handshake("/ws?token=" + urllib.parse.quote(token, safe=""))
        hello = json.loads(conn.recv_frame(5).payload)
        assert hello["type"] == "hello", hello
        return conn
    raise AssertionError(f"no connection landed on shard {shard} in {attempts} tries")


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_drained_node_runs_the_mail_its_shards_post_each_other_while_closing(cluster_factory):
    """16 users, each with one connection, all on shard 1 of node 1 (2 shards; the stop reaches
    shard 0 first): the half whose ids are even are owned by shard 0, which has no connection of
    its own to close and so would be ready to leave at once, before shard 1 has closed its 16
    sessions. Shard 0 must still run shard 1's detach of those users before it leaves (else
    Redis keeps them online for good: a stopped node is out of the registry, nobody reaps it).
    A watcher on node 2 sees all 16 go offline after the grace period."""
    grace = 1
    cluster = cluster_factory(2, flags={"presence_grace": grace,
                                        "shutdown_timeout": SHUTDOWN_TIMEOUT}, threads=(2, 1))
    api = cluster.api(1)
    users = api.new_users(17, "mail")
    watcher = users.pop()
    assert {u.id % 2 for u in users} == {0, 1}
    api.group(watcher, users, "mail")
    conns = [ws_on_shard(cluster.port(0), u.token, 1) for u in users]

    def answer_close(conn: RawConn) -> int | None:
        _, close = conn.recv_until_close(SHUTDOWN_TIMEOUT)
        conn.send_close(1000)
        conn.expect_eof()
        conn.close()  # The server reads until our EOF.
        return close.close_code

    async def go():
        async with connected((cluster.port(1), watcher.token, "w@n2")) as [w]:
            status = {p["user"]: p["status"] for p in w.typed("hello")[0]["presence"]}
            assert status == {u.id: "online" for u in users}, status
            mark = w.mark()
            closing = [asyncio.ensure_future(asyncio.to_thread(answer_close, c))
                       for c in conns]
            rc, took = await asyncio.to_thread(drain_node, cluster, 0)
            assert rc == 0 and took < SHUTDOWN_TIMEOUT, (rc, took)
            assert await asyncio.gather(*closing) == [1012] * len(conns)
            try:
                await w.wait_count(lambda e: e.get("type") == "presence", len(users),
                                   grace + 5, "every user going offline", mark)
            finally:
                got = {e["user"]: e["status"] for e in w.typed("presence", mark)}
                never = sorted(u.id for u in users if got.get(u.id) != "offline")
                assert not never, f"users {never} never went offline: {got}"

    try:
        run_async(go(), 40)
    finally:
        for c in conns:
            c.close()
