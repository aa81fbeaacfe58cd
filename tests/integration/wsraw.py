"""Raw WebSocket / HTTP client pieces for the integration tests.

python3-websockets only sends well-formed traffic. These helpers let a test put any bytes on the
wire (unmasked frames, RSV bits, reserved opcodes, broken handshakes, byte-at-a-time delivery)
and read back exactly what the server sent, frame by frame (RFC 6455 §5.2 layout).

Everything here is blocking socket code with explicit deadlines: every read takes a timeout and
raises TimeoutError when it passes, so a silent server fails a test instead of hanging it.
Nothing here imports the project's C++ or its headers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass, field

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

RSV1, RSV2, RSV3 = 4, 2, 1  # Values for encode_frame(rsv=...): bit 6, 5, 4 of byte 0.


class PeerClosed(Exception):
    """The server closed the TCP connection (EOF or reset) while more bytes were expected."""


# --------------------------------------------------------------------------------------------
# Frames


def accept_key(client_key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4)."""
    digest = hashlib.sha1(client_key.encode("ascii") + WS_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR `data` with the repeating 4-byte `key` (RFC 6455 §5.3)."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                 mask: bool = True, mask_key: bytes | None = None,
                 declared_length: int | None = None) -> bytes:
    """One frame as a client would send it (masked unless mask=False).

    Any opcode / RSV / FIN combination is allowed, valid or not. `declared_length` puts a
    different length in the header than the payload carried (for "huge frame" tests); the
    length is always encoded minimally for the declared value.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if declared_length is None else declared_length
    mbit = 0x80 if mask else 0
    if n < 126:
        header = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4) if mask_key is None else mask_key
    return header + key + apply_mask(payload, key)


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    if code is None:
        return reason
    return struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    length_code: int  # The 7-bit length field as sent (126 / 127 mean extended lengths).
    payload: bytes

    @property
    def close_code(self) -> int | None:
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:] if self.opcode == OP_CLOSE else b""

    def __repr__(self) -> str:
        body = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (f"Frame(op={self.opcode:#x}, fin={self.fin}, rsv={self.rsv}, "
                f"len={len(self.payload)}, payload={body!r})")


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass
class HttpResponse:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_tokens(self, name: str) -> list[str]:
        """All comma-separated tokens of every header `name`, lower-cased."""
        out = []
        for k, v in self.headers:
            if k.lower() == name.lower():
                out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self) -> str:
        return (f"HttpResponse({self.status} {self.reason!r}, headers={self.headers!r}, "
                f"body={self.body[:200]!r})")


def upgrade_request(path: str = "/echo", *, key: str | None = None, host: str = "127.0.0.1",
                    version: str = "13", upgrade: str = "websocket",
                    connection: str = "Upgrade", extra: list[tuple[str, str]] | None = None,
                    omit: tuple[str, ...] = (), method: str = "GET") -> bytes:
    """An opening handshake request (RFC 6455 §4.1), with any header changed or left out."""
    headers = [
        ("Host", host),
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("Sec-WebSocket-Key", new_key() if key is None else key),
        ("Sec-WebSocket-Version", version),
    ]
    headers = [(k, v) for k, v in headers if k.lower() not in {o.lower() for o in omit}]
    headers += extra or []
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get_request(path: str = "/health", *, method: str = "GET",
                extra: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (extra or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------------------------
# Connection


class RawConn:
    """A TCP connection with a read buffer, speaking HTTP and then WebSocket frames."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.reset = False  # True when the close was an RST rather than a FIN.

    @classmethod
    def open(cls, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
             rcvbuf: int | None = None, source: str | None = None) -> "RawConn":
        """`source`: the local address to connect from (127.0.0.x: another client)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source is not None:
                sock.bind((source, 0))
            if rcvbuf is not None:  # Must precede connect() to bound the advertised window.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def send(self, data: bytes, timeout: float = 10.0) -> None:
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes | str = b"", **kw) -> None:
        self.send(encode_frame(opcode, payload, **kw))

    def send_text(self, text: str | bytes, **kw) -> None:
        self.send_frame(OP_TEXT, text, **kw)

    def send_binary(self, data: bytes, **kw) -> None:
        self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code: int | None = None, reason: bytes | str = b"", **kw) -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    # -- receiving -------------------------------------------------------------------------

    def _fill(self, deadline: float, what: str) -> bool:
        """Reads more bytes into buf. False on EOF/reset; TimeoutError past the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out waiting for {what}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError(f"timed out waiting for {what}") from None
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self, n: int, deadline: float, what: str) -> bytes:
        while len(self.buf) < n:
            if not self._fill(deadline, what):
                raise PeerClosed(f"connection closed after {len(self.buf)} of {n} bytes of {what}")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_http_response(self, timeout: float = 5.0) -> HttpResponse:
        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > 65536:
                raise AssertionError(f"response head over 64 KiB: {bytes(self.buf[:200])!r}")
            if not self._fill(deadline, "an HTTP response head"):
                raise PeerClosed(f"connection closed before a full response head; got "
                                 f"{bytes(self.buf)!r}")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"bad status line {lines[0]!r}")
        resp = HttpResponse(status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "",
                            version=parts[0])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise AssertionError(f"bad response header line {line!r}")
            resp.headers.append((name.strip(), value.strip()))
        if resp.status == 101 or 100 <= resp.status < 200 or resp.status in (204, 304):
            return resp
        length = resp.header("Content-Length")
        if length is not None:
            resp.body = self._take(int(length), deadline, "an HTTP response body")
        elif resp.header("Transfer-Encoding"):
            raise AssertionError(f"unexpected chunked response: {resp!r}")
        else:  # Body delimited by close (RFC 9112 §6.3 item 8).
            while self._fill(deadline, "a close-delimited body"):
                pass
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def handshake(self, path: str = "/echo", *, key: str | None = None,
                  request: bytes | None = None, timeout: float = 5.0,
                  expect_status: int = 101) -> HttpResponse:
        """Sends an upgrade request and reads the response; checks a 101 in full."""
        key = new_key() if key is None else key
        self.send(request if request is not None else upgrade_request(path, key=key))
        resp = self.read_http_response(timeout)
        assert resp.status == expect_status, f"expected {expect_status}, got {resp!r}"
        if expect_status == 101 and request is None:
            assert resp.header("Sec-WebSocket-Accept") == accept_key(key), resp
            assert "websocket" in resp.header_tokens("Upgrade"), resp
            assert "upgrade" in resp.header_tokens("Connection"), resp
        return resp

    def _parse_frame(self) -> tuple[Frame, int] | None:
        """The frame at the start of buf and its wire size, or None if it is incomplete."""
        buf = self.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        length_code = b1 & 0x7F
        pos = 2
        if length_code == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif length_code == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
        else:
            n = length_code
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos:pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        if masked:
            payload = apply_mask(payload, key)
        frame = Frame(fin=bool(b0 & 0x80), rsv=(b0 >> 4) & 7, opcode=b0 & 0xF, masked=masked,
                      length_code=length_code, payload=payload)
        return frame, pos + n

    def recv_frame(self, timeout: float = 5.0, allow_masked: bool = False) -> Frame:
        """The next whole frame. A timeout leaves any partial frame buffered for the next call;
        EOF in the middle of a frame raises PeerClosed."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse_frame()
            if parsed is not None:
                break
            if not self._fill(deadline, "a frame"):
                raise PeerClosed(f"connection closed (reset={self.reset}) with "
                                 f"{len(self.buf)} bytes of an incomplete frame buffered: "
                                 f"{bytes(self.buf[:40])!r}")
        frame, size = parsed
        del self.buf[:size]
        if frame.masked and not allow_masked:
            raise AssertionError(f"server sent a masked frame (RFC 6455 §5.1 forbids): {frame!r}")
        return frame

    def recv_until_close(self, timeout: float = 5.0) -> tuple[list[Frame], Frame]:
        """Reads frames until a close frame. Returns (frames before it, the close frame)."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f.opcode == OP_CLOSE:
                return before, f
            before.append(f)

    def expect_eof(self, timeout: float = 5.0) -> None:
        """Asserts the server closes the TCP connection (FIN or RST) with no more bytes."""
        deadline = time.monotonic() + timeout
        if self.buf:
            raise AssertionError(f"expected EOF, but {len(self.buf)} more bytes are buffered: "
                                 f"{bytes(self.buf[:100])!r}")
        try:
            if self._fill(deadline, "the server to close the TCP connection"):
                raise AssertionError(f"expected EOF, got {bytes(self.buf[:100])!r}")
        except TimeoutError:
            raise AssertionError(f"server did not close the TCP connection within {timeout} s")

    def expect_silence(self, timeout: float) -> None:
        """Asserts nothing arrives (and the connection stays open) for `timeout` seconds."""
        try:
            got = self._fill(time.monotonic() + timeout, "silence")
        except TimeoutError:
            return
        if got:
            raise AssertionError(f"expected nothing, got {bytes(self.buf[:100])!r}")
        raise AssertionError("expected nothing, but the server closed the connection")


def open_ws(port: int, path: str = "/echo", timeout: float = 5.0,
            rcvbuf: int | None = None) -> RawConn:
    """TCP connect + successful opening handshake."""
    conn = RawConn.open(port, timeout=timeout, rcvbuf=rcvbuf)
    try:
        conn.handshake(path, timeout=timeout)
    except BaseException:
        conn.close()
        raise
    return conn
