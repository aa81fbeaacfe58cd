"""Clients of the chat's HTTP transports (proto/PROTOCOL.md, "SSE and long
polling") for test_sse.py and test_cluster_sse.py.

- `SseConn`: a GET /sse stream read by a task that records every event in arrival order (the
  chat event's JSON, as `ChatConn.events` holds them), with its SSE id in `ids`; requests go out
  as POST /sse/send. It has ChatConn's waiting helpers (wait_type, send, answer, ping...), since
  it is one: only the transport differs.
- `http_request`: one asyncio HTTP/1.1 request (Connection: close), for the POSTs and polls.

Everything waits with a bound, as chat_client does.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

from chat_client import TIMEOUT, ChatConn


async def http_request(port: int, method: str, target: str, *, token: str | None = None,
                       body: bytes | str | None = None, headers: dict | None = None,
                       timeout: float = TIMEOUT) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of one request on a new connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        data = body.encode() if isinstance(body, str) else (body or b"")
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if method != "GET" or data:
            lines.append(f"Content-Length: {len(data)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), found, rest


async def event_stream_lines(reader):
    """The lines of an event stream as HTML's parser cuts them ("Server-sent events", "Parsing
    an event stream"): a line ends at CR LF, at LF, or at a lone CR. (The browsers' EventSource
    and the JS SDK cut there too: a CR the server lets into a data line starts a line of its
    own, which is how a forged field or event would get in.)"""
    pending = b""
    after_cr = False  # The previous chunk ended in CR: an LF first in the next is its pair.
    while chunk := await reader.read(65536):
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        pending += chunk
        lines = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line.decode()


def query(**params) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class SseConn(ChatConn):
    """One GET /sse stream (see the module's doc)."""

    def __init__(self, reader, writer, token: str, port: int, name: str):
        # ChatConn's state, without a WebSocket.
        self.ws = None
        self.name = name
        self.events: list[dict] = []
        self.sizes: list[int] = []
        self.not_type_first: list[str] = []
        self.closed: tuple[int | None, str] | None = None
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self._new = asyncio.Event()
        self.reader, self.writer = reader, writer
        self.token, self.port = token, port
        self.session: str | None = None
        self.resumed: bool | None = None
        self.ids: list[str | None] = []  # The SSE id of each event in `events`.
        self.comments = 0                # Keep-alive comment lines seen.
        self.status = 0
        self.headers: dict = {}
        self.posts: list[int] = []       # The status of each POST.
        self.task = asyncio.ensure_future(self._run())

    @classmethod
    async def open(cls, port: int, token: str, *, name: str = "sse", last_event_id=None,
                   in_query: bool = False, hello: bool = True,
                   timeout: float = TIMEOUT) -> "SseConn":
        """GET /sse (token as a Bearer header, or ?token= with in_query); `last_event_id` as
        the Last-Event-ID header. Waits for the head and the `session` event, and unless
        hello=False for the first chat event (hello, or a resumed stream's first)."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port),
                                                timeout)
        target = "/sse"
        lines = [f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        if in_query:
            target += "?" + query(token=token)
        else:
            lines.append(f"Authorization: Bearer {token}")
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        writer.write((f"GET {target} HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        conn = cls(reader, writer, token, port, name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while conn.session is None:
            await conn._more(deadline, 0, "before its session event", "no session event")
        if hello:
            await conn.wait_for(lambda e: True, max(0.1, deadline - loop.time()), "first event")
        return conn

    async def _run(self) -> None:
        try:
            status_line = await self.reader.readline()
            self.status = int(status_line.split()[1])
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                self.headers[name.strip().lower()] = value.strip()
            if self.status != 200:
                body = await self.reader.read()
                self.closed = (self.status, body.decode(errors="replace"))
                return
            fields: dict[str, list[str]] = {}
            async for text in event_stream_lines(self.reader):
                if text.startswith(":"):
                    self.comments += 1
                    continue
                if text:
                    name, _, value = text.partition(":")
                    fields.setdefault(name, []).append(value[1:] if value.startswith(" ")
                                                       else value)
                    continue
                self._dispatch(fields)
                fields = {}
            if self.closed is None:
                self.closed = (None, "stream ended")
        except (ConnectionError, asyncio.IncompleteReadError):
            if self.closed is None:
                self.closed = (None, "connection lost")
        finally:
            self.closed_at = time.monotonic()
            self._new.set()

    def _dispatch(self, fields: dict[str, list[str]]) -> None:
        if "data" not in fields:
            return
        text = "\n".join(fields["data"])
        try:
            data = json.loads(text)
        except ValueError:  # Recorded as ChatConn records such a frame.
            data = {"type": "<not json>", "text": text}
        if not isinstance(data, dict):
            data = {"type": "<not an object>", "value": data}
        if fields.get("event") == ["session"]:
            self.session, self.resumed = data["session"], data["resumed"]
        else:
            self.events.append(data)
            self.ids.append(fields["id"][0] if "id" in fields else None)
            if data.get("type") == "close":
                self.closed = (data["code"], data["reason"])
        self._new.set()

    @property
    def last_id(self) -> str | None:
        return next((i for i in reversed(self.ids) if i is not None), None)

    async def post(self, body: str, *, token: str | None = None, session: str | None = None,
                   port: int | None = None) -> tuple[int, dict]:
        status, _, raw = await http_request(
            port or self.port, "POST", "/sse/send?" + query(session=session or self.session),
            token=token or self.token, body=body)
        self.posts.append(status)
        return status, json.loads(raw) if raw else {}

    async def send_json(self, obj) -> None:
        status, answer = await self.post(obj if isinstance(obj, str) else json.dumps(obj))
        assert status == 202, (status, answer)

    async def close(self) -> None:
        self.writer.close()
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    def abort(self) -> None:
        self.writer.transport.abort()


async def poll(port: int, token: str, session: str | None = None, after: int | None = None,
               timeout: float = TIMEOUT) -> tuple[int, dict]:
    """GET /sse/poll: (status, parsed body)."""
    status, _, raw = await http_request(port, "GET", "/sse/poll?" + query(session=session,
                                                                          after=after),
                                        token=token, timeout=timeout)
    return status, json.loads(raw) if raw else {}
