"""A send storm for the fault tests: clients that keep sending with unique cids and resend the
same cid after `unavailable`, as a real client would (test_pg_faults.py,
test_delivery_faults.py)."""

from __future__ import annotations

import asyncio
import time

from chat_client import ChatConn
from support import wait_until


class TimedEvents(list):
    """A ChatConn's event list that also records when each event arrived (monotonic)."""

    def __init__(self, events):
        super().__init__(events)
        now = time.monotonic()
        self.times = [now] * len(events)

    def append(self, ev) -> None:
        self.times.append(time.monotonic())
        super().append(ev)


class StormClient:
    """Sends to its conversations in turn with unique cids, at most `window` unanswered; an
    `unavailable` error schedules a resend of the same cid (same conversation and body) after a
    short pause, as a client would. Records every attempt's answer time; `answer_limit_s`: an
    attempt answered later than that is recorded in `late`, and one unanswered for 5 s more
    fails the run."""

    def __init__(self, conn: ChatConn, tag: str, convs: list[int], *, answer_limit_s: float,
                 window: int = 4):
        self.conn, self.tag, self.convs, self.window = conn, tag, convs, window
        self.answer_limit_s = answer_limit_s
        conn.events = TimedEvents(conn.events)
        self.sent: dict[str, tuple[int, str]] = {}  # cid → (conv, body)
        self.in_flight: dict[str, float] = {}  # cid → when the current attempt was sent
        self.retry_at: dict[str, float] = {}  # cid → when to resend
        self.acks: dict[str, dict] = {}
        self.unavailable = 0
        self.latencies: list[float] = []  # Of every answered attempt, seconds.
        self.late: list[str] = []  # Attempts answered (or still unanswered) too late.
        self.other_errors: list[dict] = []
        self.next_k = 0
        self.seen = 0

    async def _attempt(self, cid: str) -> None:
        conv, body = self.sent[cid]
        self.in_flight[cid] = time.monotonic()
        await self.conn.send_json(self.conn.send_request(conv, body, cid=cid))

    def _take_answers(self) -> None:
        events = self.conn.events
        limit = self.answer_limit_s
        while self.seen < len(events):
            ev, at = events[self.seen], events.times[self.seen]
            self.seen += 1
            cid = ev.get("cid")
            if ev.get("type") not in ("ack", "error") or cid not in self.in_flight:
                continue
            took = at - self.in_flight.pop(cid)
            self.latencies.append(took)
            if took > limit:
                self.late.append(f"{cid}: {ev.get('type')} after {took:.2f} s")
            if ev["type"] == "ack":
                assert cid not in self.acks, f"two acks for {cid}: {self.acks[cid]} and {ev}"
                self.acks[cid] = ev
            elif ev.get("code") == "unavailable":
                self.unavailable += 1
                self.retry_at[cid] = time.monotonic() + 0.2
            else:
                self.other_errors.append(ev)
        now = time.monotonic()
        for cid, since in self.in_flight.items():
            if now - since > limit + 5:
                raise AssertionError(f"{self.tag}: no answer to {cid} for {now - since:.1f} s "
                                     f"(answers are due within {limit:.1f} s); "
                                     f"{self.conn.describe()}")

    async def run(self, stop_new: asyncio.Event) -> None:
        while True:
            self._take_answers()
            now = time.monotonic()
            for cid in [c for c, t in self.retry_at.items() if t <= now]:
                del self.retry_at[cid]
                await self._attempt(cid)
            if not stop_new.is_set() and len(self.in_flight) + len(self.retry_at) < self.window:
                cid = f"{self.tag}-{self.next_k}"
                self.sent[cid] = (self.convs[self.next_k % len(self.convs)], f"storm {cid}")
                self.next_k += 1
                await self._attempt(cid)
                continue
            if stop_new.is_set() and not self.in_flight and not self.retry_at:
                return
            if self.conn.closed is not None:
                raise AssertionError(f"{self.tag}: connection closed {self.conn.closed}")
            await asyncio.sleep(0.01)


class Storm:
    """A StormClient on each of `conns` (client i sends to convs_of[i]), running from creation
    until `stop()`; `run(driver)` runs `driver` beside them and then lets them finish what is in
    flight (a client that fails fails the run)."""

    def __init__(self, conns: list[ChatConn], convs_of: list[list[int]], *,
                 answer_limit_s: float):
        self.clients = [StormClient(c, f"c{i}", convs_of[i], answer_limit_s=answer_limit_s)
                        for i, c in enumerate(conns)]
        self.stop_new = asyncio.Event()
        self.tasks = [asyncio.ensure_future(c.run(self.stop_new)) for c in self.clients]

    def acked(self) -> int:
        return sum(len(c.acks) for c in self.clients)

    async def wait_acked(self, n: int, timeout: float, what: str, *, every_client: bool = False,
                         interval: float = 0.05) -> None:
        """Until `n` sends in all are acked (and with every_client, at least one of each client:
        after a fault, all of them send again); AssertionError saying `what` after `timeout` s."""
        await wait_until(lambda: self.acked() >= n and (
            not every_client or all(c.acks for c in self.clients)), timeout, what, interval)

    async def run(self, driver) -> None:
        try:
            await asyncio.gather(driver, *self.tasks)
        finally:
            self.stop_new.set()
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
