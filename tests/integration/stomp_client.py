"""A raw STOMP 1.2 client over python3-websockets, for test_stomp.py (proto/PROTOCOL.md,
"STOMP 1.2 over WebSocket"): it writes frames byte for byte as the test gives them (so a test can send
malformed ones, several in one message, or one split over messages) and parses what the server
sends with a parser of its own, independent of the server's.

`StompConn` records every frame the server sends (and the heart-beat EOLs) in arrival order, as
ChatConn does for /ws events; every wait has a bound.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import websockets

from chat_client import TIMEOUT
from support import next_set, ws_connect

ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", ":": "\\c"}
UNESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\c": ":"}


def escape(text: str) -> str:
    return "".join(ESCAPES.get(c, c) for c in text)


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            out.append(UNESCAPES[text[i:i + 2]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def frame(command: str, headers: dict | list | None = None, body: str = "",
          raw: bool = False) -> str:
    """One frame's text: headers escaped (not for CONNECT, or when `raw`), the body as is."""
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    plain = raw or command in ("CONNECT", "STOMP")
    lines = [command] + [f"{k}:{v}" if plain else f"{escape(k)}:{escape(v)}" for k, v in items]
    return "\n".join(lines) + "\n\n" + body + "\0"


@dataclass
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"{self.command} {self.headers} {self.body[:160]!r}"


def parse_frames(text: str) -> tuple[list[Frame | None], str]:
    """The frames in `text` (None for each heart-beat EOL) and what is left unfinished."""
    out: list[Frame | None] = []
    while text:
        if text.startswith("\r\n") or text.startswith("\n"):
            text = text[2:] if text.startswith("\r") else text[1:]
            out.append(None)
            continue
        head_end = text.find("\n\n")
        if head_end < 0:
            break
        lines = text[:head_end].split("\n")
        command, headers = lines[0], {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if command != "CONNECTED":
                name, value = unescape(name), unescape(value)
            headers.setdefault(name, value)  # The first of repeated headers counts.
        rest = text[head_end + 2:]
        if "content-length" in headers:
            n = int(headers["content-length"])
            # content-length counts octets.
            raw = rest.encode()
            if len(raw) < n + 1:
                break
            assert raw[n] == 0, f"no NUL after content-length {n}: {raw[:n + 8]!r}"
            body = raw[:n].decode()
            text = raw[n + 1:].decode()
        else:
            nul = rest.find("\0")
            if nul < 0:
                break
            body, text = rest[:nul], rest[nul + 1:]
        out.append(Frame(command, headers, body))
    return out, text


class StompConn:
    """One STOMP connection; a reader task appends each frame (and None per heart-beat)."""

    def __init__(self, ws, name: str):
        self.ws = ws
        self.name = name
        self.frames: list[Frame] = []
        self.heartbeats: list[float] = []  # time.monotonic() of each EOL received.
        self.messages_received = 0  # WebSocket messages.
        self.closed: tuple[int | None, str] | None = None
        self._partial = ""
        self._new = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    @classmethod
    async def open(cls, port: int, *, path: str = "/stomp", subprotocols=("v12.stomp",),
                   name: str = "stomp", **kw) -> "StompConn":
        ws = await asyncio.wait_for(
            ws_connect(f"ws://127.0.0.1:{port}{path}",
                       subprotocols=list(subprotocols) if subprotocols else None, **kw),
            TIMEOUT)
        return cls(ws, name)

    @classmethod
    async def connect(cls, port: int, token: str, *, heart_beat: str = "0,0",
                      name: str = "stomp", **kw) -> "StompConn":
        """Opens /stomp, sends CONNECT with the token as passcode and waits for CONNECTED."""
        conn = await cls.open(port, name=name, **kw)
        await conn.send(frame("CONNECT", {"accept-version": "1.2", "host": "ringcast",
                                          "heart-beat": heart_beat, "passcode": token}))
        connected = await conn.wait_frame("CONNECTED")
        assert connected.headers["version"] == "1.2", connected
        return conn

    async def _run(self) -> None:
        try:
            async for msg in self.ws:
                assert isinstance(msg, str), f"{self.name}: a binary message: {msg!r}"
                self.messages_received += 1
                frames, self._partial = parse_frames(self._partial + msg)
                for f in frames:
                    if f is None:
                        self.heartbeats.append(time.monotonic())
                    else:
                        self.frames.append(f)
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason)
            self._new.set()

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def subscribe(self, sub_id: str, destination: str, receipt: str | None = None) -> None:
        headers = {"id": sub_id, "destination": destination}
        if receipt is None:
            receipt = f"sub-{sub_id}"
        headers["receipt"] = receipt
        await self.send_for_receipt(frame("SUBSCRIBE", headers), receipt)

    async def send_for_receipt(self, text: str, receipt: str, timeout: float = TIMEOUT) -> Frame:
        """Sends `text` (frames, one of which asks for `receipt`) and waits for that RECEIPT:
        the server has handled every frame before it. Returns the RECEIPT."""
        await self.send(text)
        return await self.wait_frame("RECEIPT", timeout=timeout, **{"receipt-id": receipt})

    def describe(self, start: int = 0, limit: int = 10) -> str:
        shown = self.frames[start:][-limit:]
        return f"{self.name}: {len(self.frames)} frames, closed={self.closed}: {shown}"

    def mark(self) -> int:
        return len(self.frames)

    def matching(self, command: str, start: int = 0, pred=None, **headers) -> list[Frame]:
        return [f for f in self.frames[start:]
                if f.command == command and all(f.headers.get(k) == v for k, v in headers.items())
                and (pred is None or pred(f))]

    async def wait_for(self, pred, timeout: float = TIMEOUT, what: str = "a frame",
                       start: int = 0) -> Frame:
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            if self.closed is not None:
                raise AssertionError(f"closed while waiting for {what}: {self.describe()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s: {self.describe()}")
            await next_set(self._new, remaining)

    async def wait_frame(self, command: str, start: int = 0, pred=None,
                         timeout: float = TIMEOUT, **headers) -> Frame:
        return await self.wait_for(
            lambda f: f.command == command and all(f.headers.get(k) == v
                                                   for k, v in headers.items())
            and (pred is None or pred(f)),
            timeout, f"{command} {headers}", start)

    async def wait_event(self, destination: str, type_: str, start: int = 0,
                         timeout: float = TIMEOUT, **fields) -> Frame:
        """The MESSAGE on `destination` whose JSON body is a `type_` event with `fields`."""
        def match(f: Frame) -> bool:
            if f.command != "MESSAGE" or f.headers.get("destination") != destination:
                return False
            ev = f.json()
            return ev.get("type") == type_ and all(ev.get(k) == v for k, v in fields.items())
        return await self.wait_for(match, timeout, f"{type_} {fields} on {destination}", start)

    async def wait_closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        assert self.closed is not None
        return self.closed

    async def receipt(self, timeout: float = TIMEOUT) -> None:
        """A round trip (STOMP has no ping frame): a SUBSCRIBE and its UNSUBSCRIBE with a
        receipt; once the RECEIPT is back, every frame sent before them has been handled. The
        connection must not hold /user/queue/presence (one subscription per destination)."""
        sub_id = f"probe-{len(self.frames)}-{time.monotonic_ns()}"
        await self.send(frame("SUBSCRIBE", {"id": sub_id, "destination": "/user/queue/presence"}))
        await self.send_for_receipt(frame("UNSUBSCRIBE", {"id": sub_id, "receipt": sub_id}), sub_id,
                                    timeout)

    async def close(self) -> None:
        await self.ws.close()
        try:
            await asyncio.wait_for(self.task, TIMEOUT)
        except asyncio.TimeoutError:
            self.task.cancel()
