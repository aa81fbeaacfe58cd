"""/echo: every data message comes back with the same opcode and payload (RFC 6455 §5.6),
whatever its size or fragmentation; pings get pongs (§5.5.2/§5.5.3); nothing is unsolicited."""

from __future__ import annotations

import asyncio
import base64
import random
import time

import pytest

from support import run_async, ws_connect
from wsraw import (OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawConn, encode_frame, open_ws,
                   upgrade_request)

SERVER_ARGS = ("--echo",)  # /echo is off unless asked for; --max-message-size 1048576.

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


def text_payload(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return base64.b64encode(rng.randbytes(size))[:size].decode("ascii")


def binary_payload(size: int, seed: int = 2) -> bytes:
    return random.Random(seed).randbytes(size)


def test_echo_is_off_by_default(server_factory):
    """Issue 44, item 2: /echo is unauthenticated (and, with --ws-deflate, inflates and compresses
    every message), so it is off unless --echo: 404 saying so, as /raw/ is without its flag."""
    server = server_factory()
    with RawConn.open(server.port) as conn:
        conn.send(upgrade_request("/echo"))
        resp = conn.read_http_response()
        assert resp.status == 404, resp
        assert b"--echo" in resp.body, resp


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_echo_sizes_websockets(shared_server, kind, size):
    payload = text_payload(size) if kind == "text" else binary_payload(size)

    async def go():
        async with ws_connect(shared_server.url("/echo")) as ws:
            await ws.send(payload)
            got = await asyncio.wait_for(ws.recv(), 15)
            assert type(got) is type(payload), f"opcode changed: sent {kind}, got {type(got)}"
            assert len(got) == len(payload) and got == payload

    run_async(go(), 30)


@pytest.mark.parametrize("size,length_code", [(0, 0), (125, 125), (126, 126), (65535, 126),
                                              (65536, 127)])
def test_echo_frame_layout(shared_server, size, length_code):
    """Raw view of the echo: one frame, FIN set, same opcode, unmasked, minimal length
    encoding (RFC 6455 §5.2: 'the minimal number of bytes MUST be used')."""
    payload = binary_payload(size, seed=size)
    with open_ws(shared_server.port) as conn:
        conn.send_binary(payload)
        frame = conn.recv_frame(timeout=10)
        assert frame.opcode == OP_BINARY and frame.fin and frame.rsv == 0, frame
        assert frame.length_code == length_code, frame
        assert frame.payload == payload


def test_echo_multibyte_utf8(shared_server):
    text = "héllo wörld ✓ 𝄞 日本語 — " * 200

    async def go():
        async with ws_connect(shared_server.url("/echo")) as ws:
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 10) == text

    run_async(go(), 20)


def test_fragmented_text_with_interleaved_ping(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_TEXT, b"Hello, ", fin=False)
        conn.send_frame(OP_PING, b"ping-in-the-middle")
        conn.send_frame(OP_CONT, b"frag", fin=False)
        conn.send_frame(OP_CONT, b"mented world", fin=True)
        pong = conn.recv_frame()
        assert pong.opcode == OP_PONG and pong.fin, pong
        assert pong.payload == b"ping-in-the-middle", pong
        msg = conn.recv_frame()
        assert msg.opcode == OP_TEXT and msg.fin, f"expected one unfragmented text frame: {msg}"
        assert msg.payload == b"Hello, fragmented world"
        conn.expect_silence(0.3)


def test_fragmented_binary(shared_server):
    parts = [binary_payload(n, seed=n) for n in (1000, 70000, 5)]
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_BINARY, parts[0], fin=False)
        conn.send_frame(OP_CONT, parts[1], fin=False)
        conn.send_frame(OP_CONT, parts[2], fin=True)
        msg = conn.recv_frame(timeout=10)
        assert msg.opcode == OP_BINARY and msg.fin, msg
        assert msg.payload == b"".join(parts)


def test_fragment_boundary_inside_utf8_sequence(shared_server):
    """'€' is E2 82 AC; each byte in a different fragment is still valid UTF-8 (§8.1 applies
    to the whole message, not to fragments)."""
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_TEXT, b"price: \xe2", fin=False)
        conn.send_frame(OP_CONT, b"\x82", fin=False)
        conn.send_frame(OP_CONT, b"\xac100", fin=True)
        msg = conn.recv_frame()
        assert (msg.opcode, msg.payload) == (OP_TEXT, "price: €100".encode()), msg


def test_fragments_with_empty_parts(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_TEXT, b"", fin=False)
        conn.send_frame(OP_CONT, b"abc", fin=False)
        conn.send_frame(OP_CONT, b"", fin=True)
        msg = conn.recv_frame()
        assert (msg.opcode, msg.payload, msg.fin) == (OP_TEXT, b"abc", True), msg


def test_many_pipelined_messages_in_order_websockets(shared_server):
    count = 1000
    msgs = [f"msg-{i}-" + "x" * (i % 300) if i % 2 == 0 else bytes([i % 256]) * (i % 500)
            for i in range(count)]

    async def go():
        async with ws_connect(shared_server.url("/echo")) as ws:
            async def sender():
                for m in msgs:
                    await ws.send(m)

            async def receiver():
                return [await ws.recv() for _ in range(count)]

            _, got = await asyncio.gather(sender(), receiver())
            for i, (sent, back) in enumerate(zip(msgs, got)):
                assert type(sent) is type(back) and sent == back, f"message {i} differs"

    run_async(go(), 30)


def test_many_frames_in_one_segment(shared_server):
    """300 frames written with one send(): the server must parse every frame boundary inside
    one receive buffer and echo them in order."""
    frames = [(OP_TEXT if i % 3 else OP_BINARY, (f"{i}:" + "z" * (i % 200)).encode())
              for i in range(300)]
    with open_ws(shared_server.port) as conn:
        conn.send(b"".join(encode_frame(op, p) for op, p in frames))
        for i, (op, payload) in enumerate(frames):
            f = conn.recv_frame(timeout=10)
            assert (f.opcode, f.payload) == (op, payload), f"frame {i}: {f}"


def test_frame_delivered_byte_by_byte(shared_server):
    """A frame whose header and payload trickle in a few bytes per segment."""
    payload = binary_payload(300, seed=7)
    wire = encode_frame(OP_BINARY, payload) + encode_frame(OP_TEXT, b"second")
    with open_ws(shared_server.port) as conn:
        for i in range(0, 24):  # Header, mask key and the first payload bytes one by one.
            conn.send(wire[i:i + 1])
            time.sleep(0.002)
        conn.send(wire[24:])
        first = conn.recv_frame()
        assert (first.opcode, first.payload) == (OP_BINARY, payload), first
        second = conn.recv_frame()
        assert (second.opcode, second.payload) == (OP_TEXT, b"second"), second


def test_nothing_unsolicited_after_handshake(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.expect_silence(1.0)
        conn.send_text(b"one")
        assert conn.recv_frame().payload == b"one"
        conn.expect_silence(0.5)


@pytest.mark.parametrize("size", [0, 1, 125])
def test_ping_gets_pong_with_same_payload(shared_server, size):
    payload = binary_payload(size, seed=size)
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_PING, payload)
        pong = conn.recv_frame()
        assert pong.opcode == OP_PONG and pong.fin and pong.payload == payload, pong


def test_unsolicited_pong_is_ignored(shared_server):
    """§5.5.3: an unsolicited pong is a unidirectional heartbeat; no response is expected."""
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_PONG, b"heartbeat")
        conn.expect_silence(0.5)
        conn.send_text(b"still here")
        assert conn.recv_frame().payload == b"still here"


def test_many_concurrent_clients(shared_server):
    clients, rounds = 50, 20

    async def one(idx):
        async with ws_connect(shared_server.url("/echo")) as ws:
            for r in range(rounds):
                msg = f"client {idx} round {r}"
                await ws.send(msg)
                assert await asyncio.wait_for(ws.recv(), 10) == msg

    async def go():
        await asyncio.gather(*(one(i) for i in range(clients)))

    run_async(go(), 45)


def test_websockets_close_handshake_is_clean(shared_server):
    """The library's own close handshake completes with 1000 both ways."""
    async def go():
        ws = await ws_connect(shared_server.url("/echo"))
        await ws.send("bye")
        assert await asyncio.wait_for(ws.recv(), 5) == "bye"
        await asyncio.wait_for(ws.close(1000, "done"), 10)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)

    run_async(go(), 20)
