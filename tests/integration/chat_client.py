"""A small client for the chat service (proto/PROTOCOL.md, "The chat service"), used by the
test_chat_* modules.

- `Api`: the HTTP API over http.client, one connection per request (keep-alive is tested
  on its own; a fresh connection each time keeps the other tests independent of it).
  Blocking; async tests call it through `aio()` so their WebSocket readers keep running.
- `ChatConn`: a websockets client on `/ws` whose reader task records every event (parsed JSON)
  in arrival order, so tests can wait for an event and later check what else arrived (or did
  not) without racing the reader.

Everything waits with a bound: a test fails with a description of what it was waiting for and
what arrived instead, never hangs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import websockets

from support import close_reader, next_set, ws_connect

# Registration hashes with scrypt; the default cost (~50 ms a hash, ~250 ms under ASan) would
# dominate the suite. The per-address limits (logins, registrations, connections) are raised
# because every test comes from 127.0.0.1 and one module's shared server sees hundreds of each,
# and the message rate because the storms pipeline hundreds of sends; the per-address login
# backoff is off, since tests of wrong passwords would otherwise wait; the tests of those limits
# set their own.
BASE_FLAGS = {"--password-cost": "10", "--login-rate-ip": "100000", "--login-rate-user": "1000",
              "--register-rate-ip": "100000", "--max-conns-per-ip": "100000",
              "--msg-rate": "10000", "--login-backoff-after": "0"}


def chat_args(**flags) -> tuple[str, ...]:
    """Server flags: BASE_FLAGS with `flags` (msg_rate=5 → --msg-rate 5) added or replacing
    (the server refuses a flag given twice)."""
    opts = dict(BASE_FLAGS)
    for k, v in flags.items():
        opts["--" + k.replace("_", "-")] = str(v)
    return tuple(x for kv in opts.items() for x in kv)


FAST_ARGS = chat_args()

PASSWORD = "correct horse battery staple"
JWT_SECRET = "integration-tests-secret-0123456789abcdef"  # >= 32 bytes (HS256 key size)

# Generous: the same tests run on slow CI machines and under ASan.
TIMEOUT = 15.0

_counter = itertools.count(1)


def unique_name(prefix: str = "u") -> str:
    """A fresh username (≤ 32 chars of the allowed set), unique across servers and runs."""
    return f"{prefix[:12]}_{next(_counter)}_{uuid.uuid4().hex[:8]}"


def now_ms() -> int:
    return int(time.time() * 1000)


async def aio(fn, *args, **kw):
    """Runs a blocking call (an Api method) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kw)


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Resp:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self):
        """The parsed body; AssertionError (showing the body) when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"response body is not JSON: {self!r}") from None

    def __repr__(self) -> str:
        return f"Resp({self.status}, body={self.body[:300]!r}, headers={self.headers!r})"


@dataclass
class User:
    name: str
    id: int
    token: str
    password: str = PASSWORD
    expires_at: int = 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    def __init__(self, port: int, host: str = "127.0.0.1", source: str | None = None):
        """`source`: the local address to connect from (any of 127.0.0.0/8 on loopback)."""
        self.port = port
        self.host = host
        self.source = None if source is None else (source, 0)

    def request(self, method: str, path: str, body=None, *, token: str | None = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                timeout: float = TIMEOUT) -> Resp:
        """One request on a fresh connection. `body` is sent as JSON; `raw` as is."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=self.source)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read(), r.reason)
        finally:
            conn.close()

    def ok(self, method: str, path: str, body=None, *, token: str | None = None,
           expect: int | tuple[int, ...] = 200) -> dict:
        """request() that insists on the status (200 by default) and a JSON object body."""
        r = self.request(method, path, body, token=token)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert r.status in expected, f"{method} {path} {body!r}: expected {expect}, got {r!r}"
        data = r.json
        assert isinstance(data, dict), f"{method} {path}: body is not an object: {r!r}"
        return data

    # -- accounts ------------------------------------------------------------------------------

    def register(self, username: str, password: str = PASSWORD) -> Resp:
        return self.request("POST", "/api/register", {"username": username,
                                                      "password": password})

    def login(self, username: str, password: str = PASSWORD) -> Resp:
        return self.request("POST", "/api/login", {"username": username, "password": password})

    def logout(self, token: str) -> Resp:
        return self.request("POST", "/api/logout", token=token)

    def new_user(self, prefix: str = "u") -> User:
        """Registers and logs in a fresh user."""
        name = unique_name(prefix)
        r = self.register(name)
        assert r.status == 201, f"register {name}: {r!r}"
        uid = r.json["user_id"]
        return self.login_user(name, uid)

    def login_user(self, name: str, uid: int | None = None, password: str = PASSWORD) -> User:
        r = self.login(name, password)
        assert r.status == 200, f"login {name}: {r!r}"
        data = r.json
        if uid is not None:
            assert data["user_id"] == uid, f"login {name}: {data!r}, registered as {uid}"
        return User(name, data["user_id"], data["token"], password, data["expires_at"])

    def new_users(self, n: int, prefix: str = "u") -> list[User]:
        """`n` fresh users, registered a few at a time (hashing runs on the server's workers)."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: self.new_user(prefix), range(n)))

    # -- conversations -------------------------------------------------------------------------

    def create_conv(self, user: User, members, *, name=None, group=None) -> Resp:
        body: dict = {"members": [m.id if isinstance(m, User) else m for m in members]}
        if name is not None:
            body["name"] = name
        if group is not None:
            body["group"] = group
        return self.request("POST", "/api/conversations", body, token=user.token)

    def direct(self, user: User, other: User) -> int:
        """The 1:1 between the two (created or found)."""
        r = self.create_conv(user, [other], group=False)
        assert r.status in (200, 201), f"create 1:1 {user.name}-{other.name}: {r!r}"
        return r.json["id"]

    def direct_pair(self, prefix: str = "u") -> tuple[User, User, int]:
        """Two fresh users and the 1:1 between them: (a, b, conv)."""
        a, b = self.new_users(2, prefix)
        return a, b, self.direct(a, b)

    def group(self, user: User, members, name: str = "group") -> int:
        r = self.create_conv(user, members, name=name, group=True)
        assert r.status == 201, f"create group {name}: {r!r}"
        return r.json["id"]

    def conversations(self, user: User) -> list[dict]:
        data = self.ok("GET", "/api/conversations", token=user.token)
        assert isinstance(data.get("conversations"), list), data
        return data["conversations"]

    def conversation(self, user: User, conv: int) -> dict:
        """`user`'s entry for `conv` in GET /api/conversations (AssertionError if absent)."""
        convs = self.conversations(user)
        for c in convs:
            if c["id"] == conv:
                return c
        raise AssertionError(f"conversation {conv} not in {user.name}'s list: {convs!r}")

    def messages(self, user: User, conv: int, before=None, limit=None, seen=None) -> Resp:
        query = {k: v for k, v in (("before", before), ("limit", limit), ("seen", seen))
                 if v is not None}
        path = f"/api/conversations/{conv}/messages"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.request("GET", path, token=user.token)

    def all_messages(self, user: User, conv: int) -> list[dict]:
        """Every message of `conv`, oldest first, paging with before/limit=200."""
        out: list[dict] = []
        before = None
        for _ in range(10000):
            r = self.messages(user, conv, before=before, limit=200)
            assert r.status == 200, r
            data = r.json
            out += data["messages"]
            if not data["more"]:
                return out[::-1]
            assert data["messages"], f"more=true with no messages: {data!r}"
            before = data["messages"][-1]["seq"]
        raise AssertionError("history paging did not end")

    def add_members(self, user: User, conv: int, members) -> Resp:
        ids = [m.id if isinstance(m, User) else m for m in members]
        return self.request("POST", f"/api/conversations/{conv}/members", {"members": ids},
                            token=user.token)

    def remove_member(self, user: User, conv: int, member) -> Resp:
        mid = member.id if isinstance(member, User) else member
        return self.request("DELETE", f"/api/conversations/{conv}/members/{mid}",
                            token=user.token)


# --------------------------------------------------------------------------------------------
# JWT helpers (for tampering tests)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT: {token!r}"
    return json.loads(b64url_decode(parts[1]))


def make_jwt(claims: dict, secret: str | bytes, header: dict | None = None) -> str:
    """An HS256 JWT signed with `secret`."""
    key = secret.encode() if isinstance(secret, str) else secret
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


# --------------------------------------------------------------------------------------------
# WebSocket


def ws_url(port: int, token: str | None = None) -> str:
    url = f"ws://127.0.0.1:{port}/ws"
    if token is not None:
        url += "?token=" + urllib.parse.quote(token, safe="")
    return url


class ChatConn:
    """One `/ws` connection; a reader task appends every event to `events`."""

    def __init__(self, ws, name: str = "conn"):
        self.ws = ws
        self.name = name
        self.events: list[dict] = []
        self.sizes: list[int] = []  # Of each event's frame, bytes.
        self.not_type_first: list[str] = []  # Frames whose first key is not "type".
        self.closed: tuple[int | None, str] | None = None
        self.opened_at = time.monotonic()  # Upgraded (before hello).
        self.closed_at: float | None = None  # time.monotonic() when the reader saw the close.
        self._new = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    @classmethod
    async def connect(cls, port: int, token: str, *, name: str = "conn", header: bool = False,
                      hello: bool = True, timeout: float = TIMEOUT, **kw) -> "ChatConn":
        """Opens /ws with `?token=` (or `Authorization: Bearer` with header=True) and, unless
        hello=False, waits for `hello`. Extra keywords go to websockets.connect."""
        if header:
            kw.setdefault("extra_headers", {})["Authorization"] = f"Bearer {token}"
            url = ws_url(port)
        else:
            url = ws_url(port, token)
        ws = await asyncio.wait_for(ws_connect(url, **kw), timeout)
        conn = cls(ws, name)
        if hello:
            await conn.hello(timeout)
        return conn

    async def _run(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    ev = {"type": "<binary>", "data": msg}
                else:
                    try:
                        ev = json.loads(msg)
                    except ValueError:
                        ev = {"type": "<not json>", "text": msg}
                    if not isinstance(ev, dict):
                        ev = {"type": "<not an object>", "value": ev}
                    elif next(iter(ev), None) != "type":
                        self.not_type_first.append(msg[:200])
                self.events.append(ev)
                self.sizes.append(len(msg if isinstance(msg, bytes) else msg.encode()))
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason)
            self.closed_at = time.monotonic()
            self._new.set()

    # -- waiting -------------------------------------------------------------------------------

    def mark(self) -> int:
        """Index of the next event; pass as `start` to look only at what arrives later."""
        return len(self.events)

    def typed(self, type_: str, start: int = 0, **match) -> list[dict]:
        return [e for e in self.events[start:] if e.get("type") == type_
                and all(e.get(k) == v for k, v in match.items())]

    def describe(self, start: int = 0, limit: int = 8) -> str:
        evs = self.events[start:]
        tail = [json.dumps(e, default=repr)[:200] for e in evs[-limit:]]
        return (f"{self.name}: {len(evs)} events since #{start}, closed={self.closed}, "
                f"last: {tail}")

    async def _more(self, deadline: float, start: int, closed: str, late: str) -> None:
        """Waits for the next event, at most until `deadline` (the loop's time). An
        AssertionError (with the events since `start`) once the connection has closed
        ("connection closed CLOSED") or the deadline has passed (LATE)."""
        if self.closed is not None:
            raise AssertionError(f"connection closed {closed}; {self.describe(start)}")
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"{late}; {self.describe(start)}")
        await next_set(self._new, remaining)

    async def wait_for(self, pred, timeout: float = TIMEOUT, what: str = "an event",
                       start: int = 0) -> dict:
        """The first event at index >= start for which pred(event) is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        i = start
        while True:
            while i < len(self.events):
                ev = self.events[i]
                i += 1
                if pred(ev):
                    return ev
            await self._more(deadline, start, f"while waiting for {what}",
                             f"no {what} within {timeout} s")

    async def wait_type(self, type_: str, timeout: float = TIMEOUT, start: int = 0,
                        **match) -> dict:
        """The first event of `type_` whose fields equal `match`."""
        return await self.wait_for(
            lambda e: e.get("type") == type_ and all(e.get(k) == v for k, v in match.items()),
            timeout, f"{type_!r} event matching {match}", start)

    async def wait_count(self, pred, n: int, timeout: float = TIMEOUT,
                         what: str = "events", start: int = 0) -> list[dict]:
        """Waits until at least `n` events from `start` satisfy pred; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            got = [e for e in self.events[start:] if pred(e)]
            if len(got) >= n:
                return got
            await self._more(deadline, start, f"with {len(got)}/{n} {what}",
                             f"only {len(got)}/{n} {what} within {timeout} s")

    async def hello(self, timeout: float = TIMEOUT) -> dict:
        ev = await self.wait_for(lambda e: True, timeout, "hello")
        assert ev.get("type") == "hello", f"first event is not hello: {ev!r}"
        return ev

    async def wait_closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """(close code, reason) once the server has closed the connection."""
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.name} still open after {timeout} s; "
                                 f"{self.describe()}") from None
        return self.closed

    # -- requests ------------------------------------------------------------------------------

    async def send_json(self, obj) -> None:
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def call(self, obj, reply: str, timeout: float = TIMEOUT) -> dict:
        """Sends a request and returns the next `reply` (or `error`) event after it."""
        start = self.mark()
        await self.send_json(obj)
        return await self.wait_for(lambda e: e.get("type") in (reply, "error"), timeout,
                                   f"{reply!r} or error after {obj!r}"[:200], start)

    async def answer(self, obj: dict, timeout: float = TIMEOUT) -> dict:
        """Sends a request that carries a `cid` (a send, a change to a message): its `ack`, or the
        `error` naming that cid."""
        cid = obj["cid"]
        start = self.mark()
        await self.send_json(obj)
        return await self.wait_for(
            lambda e: e.get("type") in ("ack", "error") and e.get("cid") == cid, timeout,
            f"the answer to {obj.get('type')} {cid}", start)

    async def ping(self, timeout: float = TIMEOUT) -> None:
        """A `ping` → `pong` round trip: proves the connection is open and answering, and that
        earlier requests that need no store answer (typing, bad input) were handled. (Answers
        that wait for the store — ack, sync, history — may come after the pong.)"""
        ev = await self.call({"type": "ping"}, "pong", timeout)
        assert ev["type"] == "pong", f"{self.name}: ping answered with {ev!r}"

    def send_request(self, conv: int, body: str, cid: str | None = None,
                     kind: str | None = None) -> dict:
        req = {"type": "send", "conv": conv, "cid": cid or uuid.uuid4().hex, "body": body}
        if kind is not None:
            req["kind"] = kind
        return req

    async def send_raw(self, conv: int, body: str, cid: str | None = None,
                       kind: str | None = None, timeout: float = TIMEOUT) -> dict:
        """Sends a message; returns its `ack` or the `error` carrying its cid."""
        req = self.send_request(conv, body, cid, kind)
        start = self.mark()
        await self.send_json(req)
        return await self.wait_for(
            lambda e: e.get("type") in ("ack", "error") and e.get("cid") == req["cid"],
            timeout, f"ack or error for cid {req['cid']}", start)

    async def send(self, conv: int, body: str, cid: str | None = None,
                   kind: str | None = None, timeout: float = TIMEOUT) -> dict:
        """Sends a message and returns its `ack` (AssertionError on an error)."""
        ev = await self.send_raw(conv, body, cid, kind, timeout)
        assert ev["type"] == "ack", f"{self.name}: send {body[:50]!r} answered {ev!r}"
        return ev

    def messages(self, conv: int | None = None, start: int = 0) -> list[dict]:
        return [e for e in self.events[start:] if e.get("type") == "message"
                and (conv is None or e.get("conv") == conv)]

    async def wait_message(self, conv: int, pred=None, timeout: float = TIMEOUT,
                           start: int = 0) -> dict:
        return await self.wait_for(
            lambda e: e.get("type") == "message" and e.get("conv") == conv
            and (pred is None or pred(e)), timeout, f"a message in conv {conv}", start)

    async def close(self) -> None:
        await close_reader(self.ws, self.task)

    def abort(self) -> None:
        """Drops the TCP connection without a close handshake (a vanished client)."""
        self.ws.transport.abort()


async def connect_all(port: int, users, per_user: int = 1, batch: int = 25,
                      **kw) -> list[ChatConn]:
    """`per_user` connections for each user (hello received on each), `batch` at a time."""
    plan = [(u, i) for u in users for i in range(per_user)]
    conns: list[ChatConn] = []
    for b in range(0, len(plan), batch):
        conns += await asyncio.gather(*(ChatConn.connect(port, u.token, name=f"{u.name}#{i}",
                                                         **kw)
                                        for u, i in plan[b:b + batch]))
    return conns


async def close_all(conns) -> None:
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


@contextlib.asynccontextmanager
async def all_connected(port: int, users, **kw):
    """connect_all's connections for the block, every one closed when it ends, however it
    ends."""
    conns = await connect_all(port, users, **kw)
    try:
        yield conns
    finally:
        await close_all(conns)


def connected(*logins: tuple[int, str, str]):
    """`opened` for a ChatConn for each (port, token, name) of `logins`, each past its hello."""
    return opened(*(ChatConn.connect(port, token, name=name) for port, token, name in logins))


@contextlib.asynccontextmanager
async def opened(*openings):
    """Each of `openings` (a coroutine that opens a connection: ChatConn.connect, SseConn.open,
    StompConn.connect, ...) awaited in order: the block gets the list (and may add to it, or
    replace one), and every connection the list holds is closed, in order, when the block ends,
    however it ends (an exception, a failed open, a return). A close that raises (a STOMP reader
    that failed an assertion) fails the block once the others are closed, as a close in a
    `finally` did."""
    conns: list = []
    pending = list(openings)
    try:
        while pending:
            conns.append(await pending.pop(0))
        yield conns
    finally:
        for coro in pending:  # Never awaited: an earlier one failed.
            coro.close()
        failure = None
        for conn in conns:
            try:
                await conn.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


async def change(conn: ChatConn, kind: str, conv: int, seq: int, cid: str, **fields) -> dict:
    """An edit, delete or react request on message `seq`; its ack, or the error carrying its
    cid."""
    return await conn.answer({"type": kind, "conv": conv, "seq": seq, "cid": cid, **fields})


async def send_with(conn: ChatConn, conv: int, body: str, cid: str, **fields) -> dict:
    """A send with extra fields (reply_to, thread, ...); its ack, or the error carrying its
    cid."""
    return await conn.answer({"type": "send", "conv": conv, "cid": cid, "body": body, **fields})


async def receipts_after(conns, conv: int, user: int,
                         *requests: tuple[ChatConn, str, int]) -> list[tuple[ChatConn, dict]]:
    """Sends each (conn, "delivered" or "read", seq) request for `conv`, then waits on each of
    `conns` for the first `receipt` event of `user` in `conv` after them: [(conn, event)]."""
    marks = {c: c.mark() for c in conns}
    for conn, kind, seq in requests:
        await conn.send_json({"type": kind, "conv": conv, "seq": seq})
    return [(c, await c.wait_type("receipt", start=marks[c], conv=conv, user=user))
            for c in conns]


def acked(ev: dict) -> dict:
    """`ev`, asserted to be an ack."""
    assert ev["type"] == "ack", ev
    return ev


def by_seq(messages: list[dict]) -> dict[int, dict]:
    return {m["seq"]: m for m in messages}


def message_fields_ok(m: dict) -> None:
    """A message object has exactly the documented fields with the documented types."""
    assert set(m) >= {"id", "conv", "seq", "from", "kind", "body", "ts"}, m
    for k in ("id", "conv", "seq", "from", "ts"):
        assert isinstance(m[k], int) and not isinstance(m[k], bool) and m[k] > 0, (k, m)
    assert isinstance(m["kind"], str) and isinstance(m["body"], str), m


def strip_type(m: dict) -> dict:
    """A `message` event as a message object (for comparing with HTTP/sync/history)."""
    return {k: v for k, v in m.items() if k != "type"}


# --------------------------------------------------------------------------------------------
# Upgrade checks without websockets (to see the status line and headers of a refusal)


def ws_upgrade_status(port: int, token: str | None = None, *, header: str | None = None,
                      timeout: float = TIMEOUT):
    """Sends a /ws upgrade request (token in the query, or a raw Authorization header value)
    and returns the wsraw.HttpResponse."""
    from wsraw import RawConn, upgrade_request
    path = "/ws" + ("?token=" + urllib.parse.quote(token, safe="") if token is not None else "")
    extra = [("Authorization", header)] if header is not None else None
    with RawConn.open(port, timeout=timeout) as c:
        c.send(upgrade_request(path, extra=extra))
        return c.read_http_response(timeout)
