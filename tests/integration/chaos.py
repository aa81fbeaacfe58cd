"""The chaos test's machinery (test_chaos.py; issue 28): a highly available cluster on loopback,
faults injected into it one at a time, a steady chat load through it, and the checks that
nothing acked was lost.

The topology (`Topology`), everything started by the test on free ports in its own temp dir:

    PostgreSQL primary + synchronous standby   (tools/pg_cluster.py; ringcast gets the
                                                multi-host URL, target_session_attrs=read-write)
    Redis master + replica + three Sentinels   (tools/redis_server.py SentinelGroup; ringcast
                                                gets the redis+sentinel URL)
    three ringcast nodes                        (cluster.Cluster)
    the shipped nginx in front of them          (tools/nginx_proxy.py: deploy/nginx/ringcast.conf)

Every client goes through nginx, as in a deployment: a device whose node dies reconnects to
nginx, which hands it to a live node.

The load, for the whole run:
  - `BenchLoad`: ringcast-bench's chat scenario through nginx, in bursts back to back (it does
    not reconnect, so each burst connects afresh), with --tolerate-faults: a connection that a
    fault drops is counted, but a message lost, repeated or reordered on a connection that
    stayed open, or a wrong ack, fails the burst, and so the test.
  - a round's devices (cluster_clients: Device, Sender, Storm): a fresh group per round, some
    members with two devices; senders resend with the same cid after `unavailable` or a lost
    connection, devices resume with `sync` after a reconnect.

A round is one fault (`FAULTS`), injected mid-storm and undone (the node restarted, the old
Redis master back as a replica, a new standby built from the promoted primary, the paused
process continued). After it:
  - Storm.verify: every cid acked, acks are seq 1..N, every device holds 1..N exactly once, in
    order on every connection, the same message everywhere (cluster_clients' docstring);
  - the store: every acked message is stored exactly once (by cid), and nothing else is in the
    conversation (`check_store`, through the current primary);
  - presence settles: an observer's hello lists every member with an open device online, and
    after the devices close, offline within the grace (`check_presence`);
  - nothing is wedged: every node answers /health, the Redis master PONGs, the primary takes a
    write (`check_alive`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import random
import signal
import subprocess
import threading
import time
import urllib.request

import cluster as cluster_mod
from chat_client import PASSWORD, Api, ChatConn, close_all
from cluster_clients import Device, Sender, Storm

import nginx_proxy  # noqa: E402 (tools/, which cluster puts on sys.path)
import pg_cluster  # noqa: E402
import redis_server  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Failure texts of ringcast-bench that mean a broken contract, not a dropped connection.
BROKEN_CONTRACT = ("a duplicate", "lost or reordered", "does not match", "second ack",
                   "not what was sent", "did not send", "second hello")


def log(line: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", flush=True)


# -- load --------------------------------------------------------------------------------------


class BenchLoad:
    """ringcast-bench chat bursts through nginx, back to back, on a thread of their own, until
    stop(). Each burst registers its own users (a random prefix) and groups."""

    def __init__(self, bench_bin: pathlib.Path, url: str, out_dir: pathlib.Path, *,
                 rate: int = 150, users: int = 40, group_size: int = 8, burst_s: float = 6.0):
        self.argv = [str(bench_bin), "chat", url, "--tolerate-faults", "--quiet",
                     "--users", str(users), "--groups", str(users // group_size),
                     "--group-size", str(group_size), "--rate", str(rate),
                     "--duration", str(burst_s), "--warmup", "0.5", "--drain-timeout", "8",
                     "--connect-timeout", "15", "--setup-threads", "2", "--heartbeat", "5"]
        self.out_dir = out_dir
        self.bursts: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def start(self) -> "BenchLoad":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            k = len(self.bursts)
            out = self.out_dir / f"bench-{k}.json"
            started = time.monotonic()
            try:
                done = subprocess.run(self.argv + ["--json", str(out)], capture_output=True,
                                      text=True, timeout=90)
                report = json.loads(out.read_text()) if out.exists() else {}
                rc, tail = done.returncode, done.stderr[-2000:]
            except subprocess.TimeoutExpired:
                report, rc, tail = {}, None, "timed out after 90 s"
            self.bursts.append({"index": k, "rc": rc, "seconds": time.monotonic() - started,
                                "errors": report.get("errors", []) if report else [tail],
                                "faults": (report.get("faults") or {}).get("count", 0),
                                "acks": _acks(report), "stderr": tail})
            if rc != 0:
                self._stop.wait(1.0)  # A fault is on; do not spin.

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def summary(self) -> dict:
        return {"bursts": len(self.bursts),
                "clean": sum(1 for b in self.bursts if b["rc"] == 0 and not b["faults"]),
                "with faults counted": sum(1 for b in self.bursts if b["faults"]),
                "failed": sum(1 for b in self.bursts if b["rc"] not in (0,)),
                "acks": sum(b["acks"] for b in self.bursts)}

    def contract_breaches(self) -> list[str]:
        """Errors of any burst that mean a broken delivery contract: a gap, a repeat or a wrong
        ack on a connection that stayed open. Not a dropped connection, a burst that could not
        connect during a fault, nor members short of their group's acked messages when the
        burst ended: a burst that ends while a fault is on (its member's node paused past the
        drain, the store failing over) cannot wait for the rest, which the rounds' devices,
        given time to settle, check arrives."""
        out = []
        for b in self.bursts:
            for e in b["errors"]:
                if any(s in e for s in BROKEN_CONTRACT):
                    out.append(f"burst {b['index']}: {e}")
        return out


def _acks(report: dict) -> int:
    steps = (report.get("results") or {}).get("steps") or []
    return sum(int(s.get("acks", 0)) for s in steps if isinstance(s, dict))


# -- one round ---------------------------------------------------------------------------------


@dataclasses.dataclass
class RoundResult:
    fault: str
    detail: str
    figures: dict
    seconds: float


class SdkClients:
    """The JS SDK's clients in Node (clients/js/test/chaos_client.js): members of the round's
    group that only read it, and senders into a group of their own, all through nginx."""

    SCRIPT = REPO_ROOT / "clients" / "js" / "test" / "chaos_client.js"

    def __init__(self, topo, users, watch_conv: int, own_conv: int, per_client: int = 15):
        self.topo, self.users = topo, users
        self.watch_conv, self.own_conv, self.per_client = watch_conv, own_conv, per_client
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(self.SCRIPT), self.topo.nginx.url, PASSWORD, str(self.watch_conv),
             str(self.own_conv), str(self.per_client), *(u.name for u in self.users)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until every client is connected and synced (before anything is sent to the
        groups: a client follows a conversation from its last_seq at its first connection)."""
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        assert line.strip() == "ready", f"chaos_client.js: {line!r} {self.proc.poll()}"

    async def finish(self, watch_total: int) -> dict:
        """Tells the clients how many messages the watched group holds; checks what they got:
        every message of both groups exactly once, in seq order, every send acked once (seqs
        1..M of their group), and stored once."""
        proc = self.proc
        out, err = await asyncio.to_thread(proc.communicate, f"finish {watch_total}\n", 120)
        assert proc.returncode == 0, f"chaos_client.js exited {proc.returncode}: {out} {err}"
        result = json.loads(out.strip().splitlines()[-1])
        own_total = len(self.users) * self.per_client
        problems = []
        if not result["sent"] or not result["settled"]:
            problems.append(f"sent {result['sent']}, settled {result['settled']}")
        acks = {}
        for c in result["clients"]:
            if c["violations"]:
                problems.append(f"{c['username']}: {c['violations'][:5]}")
            if c["watch"] != list(range(1, watch_total + 1)):
                problems.append(f"{c['username']}: the round's group arrived as "
                                f"{c['watch'][:30]}... (want 1..{watch_total})")
            if c["own"] != list(range(1, own_total + 1)):
                problems.append(f"{c['username']}: its own group arrived as {c['own'][:30]}... "
                                f"(want 1..{own_total})")
            for cid, seq in c["acks"]:
                acks[(c["username"], cid)] = seq
        if sorted(acks.values()) != list(range(1, own_total + 1)):
            problems.append(f"acks of the SDK group are not seqs 1..{own_total}: "
                            f"{sorted(acks.values())[:40]}")
        assert not problems, "SDK clients: " + "; ".join(problems[:10])
        ids = {u.name: u.id for u in self.users}
        await self.topo.check_store_acks(self.own_conv, {(ids[name], cid): seq
                                                         for (name, cid), seq in acks.items()})
        return {"sdk clients": len(self.users), "sdk messages": own_total}

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Round:
    """A fresh group through nginx: `members` users with Python devices, the first `senders` of
    them sending `per_sender` messages each, a second device for every third member; and
    `sdk` more members on the JS SDK (SdkClients), who also write in a group of their own."""

    def __init__(self, topo, name: str, *, members: int = 9, senders: int = 3,
                 per_sender: int = 40, interval: float = 0.05, sdk: int = 2):
        self.topo = topo
        self.name = name
        api = Api(topo.nginx.port)
        everyone = api.new_users(members + sdk, name[:8])
        self.users, sdk_users = everyone[:members], everyone[members:]
        self.conv = api.group(everyone[0], everyone[1:], name)
        self.sdk = None
        if sdk:
            own = api.group(sdk_users[0], sdk_users[1:], name + "-sdk")
            self.sdk = SdkClients(topo, sdk_users, self.conv, own)
        self.plan = [Device(u, f"{name}.u{i}", self.conv) for i, u in enumerate(self.users)]
        self.plan += [Device(u, f"{name}.u{i}b", self.conv)
                      for i, u in enumerate(self.users) if i % 3 == 0]
        self.senders = [Sender(self.plan[i], i, per_sender, interval=interval)
                        for i in range(senders)]

    async def run(self, fault) -> dict:
        port = self.topo.nginx.port
        if self.sdk is not None:
            self.sdk.start()
        try:
            if self.sdk is not None:
                await self.sdk.wait_ready()
            await asyncio.gather(*(d.connect(port, 0) for d in self.plan))
            storm = Storm(lambda: [port], self.conv, self.plan, self.senders)
            try:
                figures = await storm.outcome(
                    disruption=lambda storm: fault(self.topo, storm), settle=45.0)
                await self.topo.check_store(self.conv, storm)
                await check_presence(self.topo, self.users, self.plan)
                if self.sdk is not None:
                    figures.update(await self.sdk.finish(storm.total))
            finally:
                await close_all([c for d in self.plan for c in d.conns])
        finally:
            if self.sdk is not None:
                self.sdk.kill()
        return figures


async def check_presence(topo, users, devices) -> None:
    """An observer (the group's first member, on a fresh connection) hears everyone with an
    open device online in its hello; once every device closes, each goes offline."""
    observer = users[0]
    deadline = time.monotonic() + 20
    want = {d.user.id for d in devices if d.is_open()} - {observer.id}
    while True:
        conn = await ChatConn.connect(topo.nginx.port, observer.token, name="observer")
        try:
            hello = await conn.hello()
        finally:
            await conn.close()
        online = {p["user"] for p in hello.get("presence", []) if p["status"] == "online"}
        if want <= online:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"presence did not settle: {sorted(want - online)} not online "
                                 f"in {observer.id}'s hello: {hello.get('presence')}")
        await asyncio.sleep(0.5)


# -- faults ------------------------------------------------------------------------------------


async def _hold(storm: Storm, acked: int) -> None:
    """Lets a fault start mid-storm: after `acked` acks."""
    await storm.wait_acked(acked, timeout=60)


def fault_kill_node(rng: random.Random):
    async def run(topo, storm):
        k = rng.randrange(len(topo.cluster.nodes))
        await _hold(storm, storm.total // 4)
        log(f"kill -9 node n{k + 1}")
        topo.cluster.kill(k)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(topo.cluster.restart, k)
        log(f"node n{k + 1} back")
    return run


def fault_term_node(rng: random.Random):
    async def run(topo, storm):
        k = rng.randrange(len(topo.cluster.nodes))
        await _hold(storm, storm.total // 4)
        log(f"SIGTERM node n{k + 1}")
        rc = await asyncio.to_thread(topo.cluster.stop, k)
        assert rc == 0, f"n{k + 1} exited {rc} on SIGTERM"
        await asyncio.to_thread(topo.cluster.restart, k)
        log(f"node n{k + 1} back")
    return run


def fault_pause(rng: random.Random):
    """SIGSTOP a node, the Redis master or the PostgreSQL primary for longer than the timeouts
    that notice it (--node-ttl, Sentinel's down-after, --db-timeout-ms), then SIGCONT."""
    async def run(topo, storm):
        target, pids = rng.choice(topo.pausable())
        await _hold(storm, storm.total // 4)
        seconds = topo.pause_seconds
        log(f"SIGSTOP {target} (pids {pids}) for {seconds} s")
        signal_all(pids, signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)
        finally:
            signal_all(pids, signal.SIGCONT)
        log(f"SIGCONT {target}")
        await asyncio.to_thread(topo.after_pause, target)
    return run


def _failover(what: str, method: str, done: str):
    """A fault the topology injects and undoes itself (`method`, blocking)."""
    def make(rng: random.Random):
        async def run(topo, storm):
            await _hold(storm, storm.total // 4)
            log(what)
            await asyncio.to_thread(getattr(topo, method))
            log(done)
        return run
    return make


fault_redis_failover = _failover("kill -9 the Redis master", "redis_failover",
                                 "Redis failed over")
fault_pg_failover = _failover("kill the PostgreSQL primary, promote the standby", "pg_failover",
                              "PostgreSQL failed over; a new standby follows")


FAULTS = {"kill-node": fault_kill_node, "term-node": fault_term_node, "pause": fault_pause,
          "redis-failover": fault_redis_failover, "pg-failover": fault_pg_failover}


async def run_rounds(topo, plan, rng: random.Random) -> list[RoundResult]:
    """One round per fault name that `plan` yields."""
    results = []
    for i, name in enumerate(plan):
        started = time.monotonic()
        rnd = Round(topo, f"r{i}{name[:3]}")
        log(f"round {i}: {name}")
        figures = await rnd.run(FAULTS[name](rng))
        await asyncio.to_thread(topo.check_alive)
        results.append(RoundResult(name, "", figures, time.monotonic() - started))
        log(f"round {i} ({name}) passed in {time.monotonic() - started:.1f} s: {figures}")
    return results


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return json.loads(r.read())


def poll(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a postmaster and its backends)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = pathlib.Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return out


def postmaster_pid(pg) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


def signal_all(pids: list[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


# -- the topology ------------------------------------------------------------------------------


class Topology:
    """What the chaos test runs (module docstring). Start with `Topology.start(...)`; `stop()`
    always cleans up and returns the problems the nodes' exits showed."""

    # Node flags: timeouts short enough that a round sees each fault noticed and undone.
    NODE_FLAGS = {"presence_grace": 1, "node_ttl": 3, "forward_timeout_ms": 500,
                  "db_timeout_ms": 3000, "cluster_check_interval": 1}

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.pg_primary = None
        self.pg_standby = None
        self.redis = None
        self.cluster = None
        self.nginx = None
        self.dbname = "chaos"
        # Longer than every timeout that notices a paused process: --node-ttl, Sentinel's
        # down-after-milliseconds, --db-timeout-ms.
        self.pause_seconds = 5.0
        self.events: list[str] = []

    @classmethod
    def start(cls, directory: pathlib.Path, ringcast_bin: pathlib.Path) -> "Topology":
        topo = cls(directory)
        try:
            topo._start(ringcast_bin)
        except BaseException:
            topo.stop()
            raise
        return topo

    def _start(self, ringcast_bin: pathlib.Path) -> None:
        self.pg_primary = pg_cluster.Cluster.create()
        self.pg_primary.watch_owner()
        self.pg_primary.psql(f"CREATE DATABASE {self.dbname} OWNER {pg_cluster.ROLE}")
        self.pg_standby = pg_cluster.Cluster.create_standby(
            self.pg_primary, synchronous=True)
        self.pg_standby.watch_owner()
        database_url = pg_cluster.multi_host_url([self.pg_primary, self.pg_standby], self.dbname)
        self.redis = redis_server.SentinelGroup.start(self.directory / "redis")
        self.cluster = cluster_mod.Cluster(
            ringcast_bin, self.directory / "nodes", database_url=database_url,
            redis_url=self.redis.url(), flags=dict(self.NODE_FLAGS), threads=(2, 1, 1),
            secrets=[self.pg_primary.password])
        self.cluster.start(3)
        self.nginx = nginx_proxy.NginxProxy.start(self.cluster.ports,
                                                  directory=self.directory / "nginx")

    def stop(self) -> list[str]:
        problems: list[str] = []
        if self.nginx is not None:
            self.nginx.stop()
        if self.cluster is not None:
            problems += self.cluster.finish()
        if self.redis is not None:
            self.redis.stop()
        for pg in (self.pg_standby, self.pg_primary):
            if pg is not None:
                pg.destroy()
        return problems

    # -- faults ------------------------------------------------------------------------------

    def pausable(self) -> list[tuple[str, list[int]]]:
        """(name, pids) of what the pause fault may stop: a node, the Redis master, the
        PostgreSQL primary (its postmaster and every backend)."""
        out = [(f"node {srv.node_id}", [srv.proc.pid]) for srv in self.cluster.nodes]
        out.append(("the Redis master", [self.redis.master.proc.pid]))
        out.append(("the PostgreSQL primary", process_tree(postmaster_pid(self.pg_primary))))
        return out

    def after_pause(self, target: str) -> None:
        if target == "the Redis master":
            # Paused past down-after-milliseconds: the Sentinels may have promoted the replica
            # meanwhile, and turn the old master into its replica once it is back.
            self.redis.wait_settled(timeout=60)

    def redis_failover(self) -> None:
        old = self.redis.kill_master()
        self.redis.wait_failover(timeout=60)
        old.restart()  # Empty; the Sentinels make it the new master's replica.
        self.redis.wait_settled(timeout=60)

    def pg_failover(self) -> None:
        """The primary dies (immediate stop: no shutdown checkpoint, as a crash), the
        synchronous standby is promoted, and a new synchronous standby is built from it on the
        old primary's port, so that the URL ringcast was given stays right for the next
        failover."""
        old, new = self.pg_primary, self.pg_standby
        port = old.port
        old.stop("immediate")
        new.promote()
        self.pg_primary, self.pg_standby = new, None
        old.destroy()
        self.pg_standby = pg_cluster.Cluster.create_standby(
            new, synchronous=True, port=port)
        self.pg_standby.watch_owner()

    # -- checks ------------------------------------------------------------------------------

    async def check_store(self, conv: int, storm: Storm) -> None:
        await self.check_store_acks(conv, {(s.device.user.id, cid): ack["seq"]
                                           for s in storm.senders for cid, ack in s.acks.items()})

    async def check_store_acks(self, conv: int, acked: dict) -> None:
        """acked: (sender id, cid) → seq. Every acked message stored exactly once, at its seq,
        and nothing else in the conversation."""
        rows = await asyncio.to_thread(
            self.pg_primary.psql,
            "SELECT seq, sender_id, client_msg_id FROM messages "
            f"WHERE conversation_id = {int(conv)} AND kind = 'text' ORDER BY seq",
            self.dbname)
        stored = [line.split("|") for line in rows.splitlines() if line.strip()]
        got = {(int(sender), cid): int(seq) for seq, sender, cid in stored}
        assert len(got) == len(stored), f"conversation {conv}: a cid stored twice: {stored}"
        assert got == acked, (f"conversation {conv}: stored {len(got)} messages, acked "
                              f"{len(acked)}; stored but not acked "
                              f"{sorted(set(got) - set(acked))[:10]}, acked but not stored "
                              f"{sorted(set(acked) - set(got))[:10]}")

    def check_alive(self) -> None:
        """Nothing wedged: every node answers /health, the Redis master PONGs, the primary
        takes a write."""
        for srv in self.cluster.nodes:
            poll(lambda: health(srv.port) is not None, 30, f"/health of {srv.node_id}")
        poll(lambda: self.redis.master.cli("PING") == "PONG", 30, "the Redis master's PING")
        self.pg_primary.psql("CREATE TEMP TABLE alive (x int); INSERT INTO alive VALUES (1)",
                             self.dbname)
