"""Clients for the cluster tests (test_cluster.py): devices that fail over to another node and
resume with `sync`, senders that resend with the same cid, and a storm that runs them while a
test disrupts the cluster, then checks the contract of issue 10.

- `Device`: one device of a member. Its connections, in order: the first to the node it was
  placed on, then one per failover (its node was killed, or drained: `Storm` reconnects it to a
  live node) or move (the test closes it and reconnects it elsewhere). A node that drains
  (SIGTERM in cluster mode) sends `{"type":"reconnect","after_ms":N}` before closing 1012: the
  device then waits N ms before it reconnects, as PROTOCOL.md tells a client to. Each new
  connection resumes the way PROTOCOL.md says: `sync` from the last seq the device has, paging
  while `more`.
- `Sender`: a device that sends `count` messages (cids `s<i>-<k>`) into the conversation at a
  pace, with at most `window` unacked. A message answered `unavailable` is sent again with the
  same cid; after a failover or a move, every unacked message is sent again on the new
  connection with the same cid (the server must answer with the original ack).
- `Storm`: runs the senders, reconnects devices whose connection dropped, and offers
  `wait_acked(n)` for a test's disruption to hook on progress; the last 30 % of every sender's
  messages wait until the disruption is over, so that traffic follows it however long it took. `verify()` then checks, for the
  conversation's N = (number of cids) messages:
    - every cid acked, acks seq 1..N, ids distinct, a cid acked twice (a resend) identically;
    - every device holds seq 1..N exactly once over its connections (live + sync answers), and
      every message is the same everywhere (id, from, kind, body, ts) and matches its ack;
    - every connection's live messages are in seq order without a duplicate, and never also in
      one of its own sync answers; a device's first connection (open before the first message)
      received a gap-free run from seq 1, and one that lived through the whole storm (a
      survivor) exactly 1..N;
    - no connection got an error other than a send's `unavailable`.
"""

from __future__ import annotations

import asyncio
import time

import websockets

from chat_client import TIMEOUT, ChatConn, User


class Device:
    def __init__(self, user: User, name: str, conv: int):
        self.user = user
        self.name = name
        self.conv = conv
        self.conns: list[ChatConn] = []
        self.nodes: list[int] = []  # Node index of each connection.
        self.synced: list[list[dict]] = []  # Messages of each connection's sync answers.
        self.leaving = False  # The test is closing this connection on purpose (a move).
        self.resuming: asyncio.Future | None = None
        self.failovers = 0
        self.moves = 0
        self.told_to_reconnect = 0  # Connections that ended with a `reconnect` event.

    # -- state -----------------------------------------------------------------------------

    @property
    def conn(self) -> ChatConn:
        return self.conns[-1]

    @property
    def node(self) -> int:
        return self.nodes[-1]

    def live(self, i: int) -> list[dict]:
        """The `message` events of the conversation on connection i, in arrival order."""
        return self.conns[i].messages(self.conv)

    def all_messages(self) -> list[dict]:
        """Every message this device received, over all its connections, live and synced."""
        out: list[dict] = []
        for i in range(len(self.conns)):
            out += self.live(i)
            out += self.synced[i]
        return out

    def last_seq(self) -> int:
        return max((m["seq"] for m in self.all_messages()), default=0)

    def has_all(self, total: int) -> bool:
        return {m["seq"] for m in self.all_messages()} >= set(range(1, total + 1))

    @property
    def busy(self) -> bool:
        """Between connections: closed by the test, or resuming on a new one."""
        return self.leaving or (self.resuming is not None and not self.resuming.done())

    def live_on_last(self) -> int:
        """How many messages the current connection received live (not through sync)."""
        return len(self.live(len(self.conns) - 1))

    def is_open(self) -> bool:
        return not self.busy and self.conn.closed is None

    def reconnect_hint(self) -> int | None:
        """after_ms of the `reconnect` event the current connection received, if any."""
        hints = self.conn.typed("reconnect")
        return hints[-1]["after_ms"] if hints else None

    async def wait_open(self, timeout: float = 40.0) -> ChatConn:
        deadline = time.monotonic() + timeout
        while not self.is_open():
            if self.resuming is not None and self.resuming.done() and \
                    self.resuming.exception() is not None:
                raise AssertionError(f"{self.name} could not resume") from \
                    self.resuming.exception()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no open connection within {timeout} s; "
                                     f"{self.conn.describe()}")
            await asyncio.sleep(0.01)
        return self.conn

    def describe(self) -> str:
        seqs = sorted(m["seq"] for m in self.all_messages())
        return (f"{self.name} (nodes {[n + 1 for n in self.nodes]}, {len(seqs)} messages, "
                f"last seq {seqs[-1] if seqs else 0}); "
                + "; ".join(c.describe(limit=3) for c in self.conns))

    # -- connecting ------------------------------------------------------------------------

    async def connect(self, port: int, node: int) -> ChatConn:
        c = await ChatConn.connect(port, self.user.token,
                                   name=f"{self.name}@n{node + 1}#{len(self.conns)}")
        self.conns.append(c)
        self.nodes.append(node)
        self.synced.append([])
        return c

    async def resume(self, ports: list[int], nodes: list[int], deadline_s: float = 30.0) -> None:
        """A new connection to the first of `nodes` that accepts one (retried until
        `deadline_s`), then `sync` from the last seq this device has, paging while `more`."""
        deadline = time.monotonic() + deadline_s
        attempt = 0
        while True:
            node = nodes[attempt % len(nodes)]
            attempt += 1
            try:
                c = await self.connect(ports[node], node)
                break
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: no node of {[n + 1 for n in nodes]} "
                                         f"accepted a connection within {deadline_s} s: "
                                         f"{exc!r}") from exc
                await asyncio.sleep(0.1)
        after = max((m["seq"] for i in range(len(self.conns) - 1)
                     for m in self.live(i) + self.synced[i]), default=0)
        for _ in range(10000):
            start = c.mark()
            await c.send_json({"type": "sync", "convs": {str(self.conv): after}})
            # Not call(): a resent message's `error` (which carries its cid) is no answer.
            ev = await c.wait_for(lambda e: e.get("type") == "sync"
                                  or (e.get("type") == "error" and "cid" not in e),
                                  TIMEOUT * 2, f"sync from {after}", start)
            assert ev["type"] == "sync", f"{c.name}: sync from {after} answered {ev!r}"
            entries = [e for e in ev["convs"] if e["conv"] == self.conv]
            assert len(entries) == 1, f"{c.name}: sync answer {str(ev)[:300]}"
            page = entries[0]["messages"]
            self.synced[-1] += page
            if not entries[0]["more"]:
                return
            after = max([after] + [m["seq"] for m in page] + [m["seq"] for m in c.messages(
                self.conv)])
        raise AssertionError(f"{c.name}: sync paging did not end")

    async def move(self, ports: list[int], node: int) -> None:
        """Closes the connection (cleanly) and resumes on `node`."""
        self.leaving = True
        try:
            await self.conn.close()
            self.moves += 1
            self.resuming = asyncio.ensure_future(self.resume(ports, [node]))
            await self.resuming
        finally:
            self.leaving = False


class Sender:
    def __init__(self, device: Device, index: int, count: int, *, interval: float = 0.02,
                 window: int = 8):
        self.device = device
        self.index = index
        self.cids = [f"s{index}-{k}" for k in range(count)]
        self.interval = interval
        self.window = window
        self.acks: dict[str, dict] = {}
        self.ack_times: dict[str, float] = {}  # cid → monotonic time its first ack was seen.
        self.unacked: dict[str, None] = {}  # In send order.
        self.retry_at: dict[str, float] = {}  # cid answered unavailable → when to resend.
        self.errors: list[str] = []  # Anything that breaks the contract.
        self.unavailable = 0
        self.resent = 0
        self._scanned: list[int] = []  # Per connection of the device: events looked at.
        # Messages from index gate_at on wait for `gate` (Storm.run: the end of the disruption).
        self.gate: asyncio.Event | None = None
        self.gate_at = len(self.cids)
        self._sent_on: ChatConn | None = None
        self._sent_here: set[str] = set()
        self._ever_sent: set[str] = set()

    def body(self, cid: str) -> str:
        k = int(cid.split("-")[1])
        return f"{cid} from {self.device.name} " + "x" * (k * 7 % 60)

    def request(self, cid: str) -> dict:
        return {"type": "send", "conv": self.device.conv, "cid": cid, "body": self.body(cid)}

    def collect(self) -> None:
        """Takes in the acks and errors that arrived on any of the device's connections."""
        while len(self._scanned) < len(self.device.conns):
            self._scanned.append(0)
        for i, c in enumerate(self.device.conns):
            events = c.events
            for ev in events[self._scanned[i]:]:
                kind = ev.get("type")
                if kind == "ack":
                    cid = ev.get("cid")
                    if cid not in self.unacked and cid not in self.acks:
                        self.errors.append(f"{c.name}: ack for a cid never sent: {ev!r}")
                    elif cid in self.acks and self.acks[cid] != ev:
                        self.errors.append(f"{c.name}: {cid} acked twice differently: "
                                           f"{self.acks[cid]!r} then {ev!r}")
                    if cid not in self.acks:
                        self.acks[cid] = ev
                        self.ack_times[cid] = time.monotonic()
                    self.unacked.pop(cid, None)
                    self.retry_at.pop(cid, None)
                elif kind == "error" and "cid" in ev:
                    if ev.get("code") == "unavailable":
                        self.unavailable += 1
                        if ev["cid"] in self.unacked:
                            self.retry_at[ev["cid"]] = time.monotonic() + 0.1
                    else:
                        self.errors.append(f"{c.name}: {ev!r}")
            self._scanned[i] = len(events)

    async def pump(self) -> None:
        """Sends what must go out on the current connection: everything unacked when it is new
        (a failover or a move), else what was never sent on it and what is due for a retry."""
        self.collect()
        c = await self.device.wait_open()
        if c is not self._sent_on:
            self._sent_on = c
            self._sent_here = set()
        now = time.monotonic()
        due = [cid for cid in self.unacked if cid not in self._sent_here
               or (cid in self.retry_at and self.retry_at[cid] <= now)]
        for cid in due:
            try:
                await c.send_json(self.request(cid))
            except websockets.ConnectionClosed:
                return  # The device fails over; the next pump resends on the new connection.
            self.retry_at.pop(cid, None)
            self._sent_here.add(cid)
            if cid in self._ever_sent:
                self.resent += 1
            self._ever_sent.add(cid)

    async def run(self, drain_timeout: float = 60.0) -> None:
        for k, cid in enumerate(self.cids):
            if self.gate is not None and k == self.gate_at:
                await self.gate.wait()
            self.unacked[cid] = None
            await self.pump()
            while True:
                self.collect()
                if len(self.unacked) < self.window:
                    break
                await asyncio.sleep(0.005)
                await self.pump()
            await asyncio.sleep(self.interval)
        deadline = time.monotonic() + drain_timeout
        while self.unacked:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"sender {self.index} ({self.device.name}): {len(self.unacked)} messages "
                    f"not acked within {drain_timeout} s of the last send, e.g. "
                    f"{list(self.unacked)[:5]}; {self.device.describe()}")
            await asyncio.sleep(0.01)
            await self.pump()


class Storm:
    def __init__(self, ports, conv: int, devices: list[Device], senders: list[Sender]):
        """ports: a callable giving the nodes' current ports (a node may be added)."""
        self.ports = ports
        self.conv = conv
        self.devices = devices
        self.senders = senders
        self.dead: set[int] = set()  # Nodes killed and not back: no failover goes there.
        self._failover_task: asyncio.Future | None = None
        self.running = False
        self.acked_at_disruption_end: int | None = None

    @property
    def total(self) -> int:
        return sum(len(s.cids) for s in self.senders)

    def acked(self) -> int:
        for s in self.senders:
            s.collect()
        return sum(len(s.acks) for s in self.senders)

    async def wait_acked(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked() < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.acked()}/{n} messages acked within {timeout} "
                                     f"s; senders: {[len(s.acks) for s in self.senders]}")
            await asyncio.sleep(0.01)

    def live_nodes(self) -> list[int]:
        return [i for i in range(len(self.ports())) if i not in self.dead]

    async def _failover(self) -> None:
        """Reconnects every device whose connection dropped (not closed by the test) to a live
        node: spread by device, never the node it was on; after the `reconnect` event's
        after_ms when its node drained."""
        while self.running:
            for k, d in enumerate(self.devices):
                if d.busy or d.conn.closed is None:
                    continue
                if d.resuming is not None and d.resuming.exception() is not None:
                    continue  # Reported by wait_open / verify.
                d.failovers += 1
                after_ms = d.reconnect_hint()
                if after_ms is not None:
                    d.told_to_reconnect += 1
                d.resuming = asyncio.ensure_future(self._resume(d, k, (after_ms or 0) / 1000))
            await asyncio.sleep(0.02)

    async def _resume(self, d: Device, k: int, delay: float) -> None:
        """After `delay` seconds: resumes `d` on a node live by then."""
        if delay > 0:
            await asyncio.sleep(delay)
        candidates = [n for n in self.live_nodes() if n != d.node] or self.live_nodes()
        assert candidates, "every node is down"
        candidates = candidates[k % len(candidates):] + candidates[:k % len(candidates)]
        await d.resume(self.ports(), candidates)

    async def run(self, disruption=None, hold_tail: float = 0.3) -> None:
        """Runs the senders (and `await disruption(self)` beside them) to the last ack. The last
        `hold_tail` of each sender's messages wait until the disruption is over, so that
        traffic follows it whatever its duration (a node that starts slowly under load still
        gets its share), while the disruption itself starts mid-storm: it must not wait for
        more than 1 - hold_tail of the acks."""
        self.running = True
        self._failover_task = asyncio.ensure_future(self._failover())
        try:
            tasks = [asyncio.ensure_future(s.run()) for s in self.senders]
            if disruption is not None:
                gate = asyncio.Event()
                for s in self.senders:
                    s.gate = gate
                    s.gate_at = int(len(s.cids) * (1 - hold_tail))

                async def disrupt():
                    try:
                        await disruption(self)
                    finally:
                        self.acked_at_disruption_end = self.acked()
                        gate.set()

                tasks.append(asyncio.ensure_future(disrupt()))
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for t in done:
                t.result()  # Raises the first failure.
        finally:
            self.running = False
            await asyncio.gather(self._failover_task, return_exceptions=True)

    async def outcome(self, disruption=None, settle: float = 30.0) -> dict:
        """run(disruption), then settle(settle): verify()'s figures."""
        await self.run(disruption)
        await self.settle(settle)
        return self.verify()

    async def settle(self, timeout: float = 30.0) -> None:
        """Waits until every device holds seq 1..N (and no device is between connections)."""
        total = self.total
        deadline = time.monotonic() + timeout
        while True:
            lagging = [d for d in self.devices if d.busy or not d.has_all(total)]
            if not lagging:
                return
            for d in self.devices:
                if d.resuming is not None and d.resuming.done() and \
                        d.resuming.exception() is not None:
                    raise AssertionError(f"{d.name} could not resume") from \
                        d.resuming.exception()
            if time.monotonic() > deadline:
                detail = []
                for d in lagging[:5]:
                    have = {m["seq"] for m in d.all_messages()}
                    missing = sorted(set(range(1, total + 1)) - have)
                    detail.append(f"{d.describe()}\n    missing {len(missing)}: {missing[:20]}")
                raise AssertionError(f"{len(lagging)} devices lack messages of 1..{total} "
                                     f"{timeout} s after the last ack:\n  " + "\n  ".join(detail))
            await asyncio.sleep(0.05)

    def verify(self) -> dict:
        """The checks of the module docstring; returns some figures for the test to print."""
        total = self.total
        problems: list[str] = []
        acks: dict[int, tuple[Sender, str, dict]] = {}
        for s in self.senders:
            s.collect()
            problems += s.errors
            missing = [cid for cid in s.cids if cid not in s.acks]
            if missing:
                problems.append(f"sender {s.index}: not acked {missing[:10]}")
            for cid, ack in s.acks.items():
                if ack["seq"] in acks:
                    problems.append(f"seq {ack['seq']} acked for {cid} and "
                                    f"{acks[ack['seq']][1]}")
                acks[ack["seq"]] = (s, cid, ack)
        if sorted(acks) != list(range(1, total + 1)):
            problems.append(f"ack seqs are not 1..{total}: {len(acks)} acks, "
                            f"missing {sorted(set(range(1, total + 1)) - set(acks))[:20]}, "
                            f"beyond {sorted(set(acks) - set(range(1, total + 1)))[:20]}")
        if len({a["id"] for _, _, a in acks.values()}) != len(acks):
            problems.append("two acks carry the same message id")

        reference: dict[int, tuple] = {}
        for seq, (s, cid, ack) in acks.items():
            reference[seq] = (ack["id"], s.device.user.id, "text", s.body(cid), ack["ts"])
        survivors = 0
        for d in self.devices:
            seqs = sorted(m["seq"] for m in d.all_messages())
            if seqs != list(range(1, total + 1)):
                dups = sorted({x for x in seqs if seqs.count(x) > 1})
                gone = sorted(set(range(1, total + 1)) - set(seqs))
                problems.append(f"{d.name}: holds {len(seqs)} messages, duplicates {dups[:20]}, "
                                f"missing {gone[:20]}; {d.describe()}")
            for m in d.all_messages():
                want = reference.get(m["seq"])
                got = (m["id"], m["from"], m["kind"], m["body"], m["ts"])
                if want is not None and got != want:
                    problems.append(f"{d.name}: seq {m['seq']} is {got}, acked as {want}")
                    break
            for i, c in enumerate(d.conns):
                live = [m["seq"] for m in d.live(i)]
                if live != sorted(set(live)):
                    problems.append(f"{c.name}: live messages out of order or duplicated: "
                                    f"{live[:50]}")
                both = set(live) & {m["seq"] for m in d.synced[i]}
                if both:
                    problems.append(f"{c.name}: seqs {sorted(both)[:20]} came live and in a "
                                    f"sync answer")
                errors = [e for e in c.typed("error") if e.get("code") != "unavailable"
                          or "cid" not in e]
                if errors:
                    problems.append(f"{c.name}: errors {errors[:3]}")
            first = [m["seq"] for m in d.live(0)]
            if first != list(range(1, len(first) + 1)):
                problems.append(f"{d.conns[0].name}: live messages are not a gap-free run from "
                                f"seq 1: {first[:50]}")
            if len(d.conns) == 1:
                survivors += 1
                live = [m["seq"] for m in d.live(0)]
                if live != list(range(1, total + 1)):
                    problems.append(f"{d.conns[0].name} (a survivor) received live "
                                    f"{len(live)} messages, not 1..{total}: {live[:40]}...")
        if problems:
            raise AssertionError(f"{len(problems)} problems:\n  " + "\n  ".join(problems[:30]))
        return {"messages": total, "devices": len(self.devices), "survivors": survivors,
                "acked when the disruption ended": self.acked_at_disruption_end,
                "failovers": sum(d.failovers for d in self.devices),
                "told to reconnect": sum(d.told_to_reconnect for d in self.devices),
                "moves": sum(d.moves for d in self.devices),
                "resent": sum(s.resent for s in self.senders),
                "unavailable": sum(s.unavailable for s in self.senders)}
