"""permessage-deflate (RFC 7692) with --ws-deflate (proto/PROTOCOL.md, "permessage-deflate").

What Autobahn|Testsuite's sections 12 and 13 check, against real peers: python3-websockets'
permessage-deflate client (every parameter combination it can offer) echoes text and binary
messages of 0 B to 128 KiB, whole and fragmented. The rest uses raw frames (wsraw.py) and
Python's zlib directly, so that what goes over the wire is seen: which frames the server
compresses, the 101's answer to each offer, zip bombs, bad DEFLATE data and RSV1 rules, and a
/raw/{channel} fan-out to deflate and plain clients at once, compressed once per message (the
metrics count it)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import zlib

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from chat_client import Api, ChatConn, chat_args, close_all
from prometheus import scrape, value
from stomp_client import StompConn
from stomp_client import frame as stomp_frame
from support import REPO_ROOT, RingcastServer, free_port, run_async, ws_connect
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RSV1, RawConn,
                   encode_frame, upgrade_request)

DEFLATE = ("--ws-deflate",)
TAIL = b"\x00\x00\xff\xff"
SIZES = (0, 1, 125, 126, 255, 256, 257, 1000, 4096, 65535, 65536, 100_000, 128 * 1024)


def deflate(data: bytes, wbits: int = 15, final: bool = False) -> bytes:
    """A message's payload as a client compresses it (RFC 7692 §7.2.1), without context."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    if final:  # One final block (BFINAL set), which §7.2.3.5 allows too.
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(data: bytes, wbits: int = 15) -> bytes:
    """Strict: the output comes out in small pieces, so a distance past the window fails."""
    d = zlib.decompressobj(-wbits)
    out = d.decompress(data + TAIL, 64)
    while d.unconsumed_tail:
        out += d.decompress(d.unconsumed_tail, 64)
    return out


def chat_text(size: int, seed: int = 0) -> str:
    """JSON chat events with some multi-byte characters, cut to `size` characters."""
    rng = random.Random(seed)
    words = ["hello", "there", "ringcast", "héllo", "naïve", "日本語", "emoji 🎉", "ok", "seq"]
    out = []
    n = 0
    while n < size:
        event = json.dumps({"type": "message", "conv": 42, "seq": len(out), "from": 7,
                            "text": " ".join(rng.choice(words) for _ in range(8))},
                           ensure_ascii=False)
        out.append(event)
        n += len(event)
    return "".join(out)[:size]


def offer_request(offer: str | None, path: str = "/echo") -> bytes:
    extra = [("Sec-WebSocket-Extensions", offer)] if offer is not None else []
    return upgrade_request(path, extra=extra)


def open_raw(port: int, offer: str | None = "permessage-deflate", path: str = "/echo"):
    """A raw connection after a 101; returns it and the 101's extension header (or None)."""
    conn = RawConn.open(port)
    resp = conn.handshake(path, request=offer_request(offer, path))
    return conn, resp.header("Sec-WebSocket-Extensions")


def expect_close(conn: RawConn, code: int):
    before, close = conn.recv_until_close(10)
    assert not [f for f in before if f.opcode in (OP_TEXT, OP_BINARY, OP_CONT)], before
    assert close.close_code == code, close
    conn.expect_eof(10)


# --- Echo through python3-websockets' client, every offer it can make ---------------------------

# client_max_window_bits=8 is left out here: Python's zlib, like zlib itself, refuses to deflate
# raw with an 8-bit window, so this client cannot honour its own offer. The server never limits
# the client's window (it inflates with 15 bits): test_answer_to_each_offer covers the offer.
OFFERS = {
    "plain": {},
    "client_max_window_bits": {"client_max_window_bits": True},
    "server_no_context_takeover": {"server_no_context_takeover": True},
    "client_no_context_takeover": {"client_no_context_takeover": True},
    "server_bits_8": {"server_max_window_bits": 8},
    "server_bits_9": {"server_max_window_bits": 9},
    "server_bits_15": {"server_max_window_bits": 15},
    "client_bits_9": {"client_max_window_bits": 9},
    "client_bits_15": {"client_max_window_bits": 15},
    "everything": {"server_no_context_takeover": True, "client_no_context_takeover": True,
                   "server_max_window_bits": 10, "client_max_window_bits": 12},
}


@pytest.fixture(scope="module")
def deflate_server(server_factory_module):
    return server_factory_module(*DEFLATE, "--raw-channels")


@pytest.fixture(scope="module")
def server_factory_module(ringcast_bin, tmp_path_factory):
    """Servers shared by the module's tests (each test opens connections of its own), checked
    at teardown as conftest's are: a clean exit, no sanitizer report."""
    servers = []

    def make(*args):
        # --echo: /echo is the route most of these tests compress on.
        srv = RingcastServer(ringcast_bin, ("--echo", *args),
                             log_dir=tmp_path_factory.mktemp("deflate"),
                             name=f"deflate{len(servers)}")
        servers.append(srv)
        srv.start()
        return srv

    yield make
    problems = [p for p in (srv.finish() for srv in servers) if p]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.mark.parametrize("offer", OFFERS.values(), ids=OFFERS.keys())
def test_echo_every_size_with_each_offer(deflate_server, offer):
    rng = random.Random(len(offer))

    async def go():
        factory = ClientPerMessageDeflateFactory(**offer)
        async with ws_connect(deflate_server.url("/echo"), extensions=[factory]) as ws:
            answer = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in answer, answer
            assert "server_no_context_takeover" in answer, answer
            assert "client_no_context_takeover" in answer, answer
            if "server_max_window_bits" in offer:
                assert f"server_max_window_bits={offer['server_max_window_bits']}" in answer
            for size in SIZES:
                text = chat_text(size, size)
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 10) == text, size
                noisy = bytes(rng.getrandbits(8) for _ in range(size // 2)) + bytes(size - size // 2)
                await ws.send(noisy)
                assert await asyncio.wait_for(ws.recv(), 10) == noisy, size
                # Fragmented: RSV1 on the first frame only, the pieces one DEFLATE stream.
                pieces = [text[i:i + 5000] for i in range(0, len(text), 5000)] or [""]
                await ws.send(pieces)
                assert await asyncio.wait_for(ws.recv(), 10) == text, size
                blobs = [noisy[i:i + 777] for i in range(0, len(noisy), 777)] or [b""]
                await ws.send(blobs)
                assert await asyncio.wait_for(ws.recv(), 10) == noisy, size

    run_async(go(), 120)


# --- What goes over the wire ---------------------------------------------------------------------

def test_server_compresses_what_pays_and_nothing_else(deflate_server):
    conn, answer = open_raw(deflate_server.port)
    with conn:
        assert answer == ("permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover"), answer
        text = chat_text(3000).encode()
        # Sent uncompressed (RSV1 clear: allowed with the extension too), answered compressed.
        conn.send_frame(OP_TEXT, text)
        f = conn.recv_frame()
        assert (f.opcode, f.rsv, f.fin) == (OP_TEXT, 4, True), f
        assert len(f.payload) < len(text) // 2
        assert inflate(f.payload) == text
        # A binary message in one frame takes the echo's masked fast path: compressed too.
        zeros = bytes(5000)
        conn.send_frame(OP_BINARY, zeros)
        f = conn.recv_frame()
        assert (f.opcode, f.rsv) == (OP_BINARY, 4) and inflate(f.payload) == zeros, f
        # Under --ws-deflate-min-size (256): as it is.
        conn.send_frame(OP_TEXT, b"x" * 255)
        f = conn.recv_frame()
        assert (f.opcode, f.rsv, f.payload) == (OP_TEXT, 0, b"x" * 255), f
        # Not smaller compressed: as it is.
        noise = os.urandom(4000)
        conn.send_frame(OP_BINARY, noise)
        f = conn.recv_frame()
        assert (f.opcode, f.rsv, f.payload) == (OP_BINARY, 0, noise), f
        # Compressed in (whole, a final block, fragmented), compressed out.
        for payload in (deflate(text), deflate(text, final=True)):
            conn.send_frame(OP_TEXT, payload, rsv=RSV1)
            f = conn.recv_frame()
            assert f.rsv == 4 and inflate(f.payload) == text, f
        c = deflate(text)
        conn.send(encode_frame(OP_TEXT, c[:10], fin=False, rsv=RSV1) +
                  encode_frame(OP_PING, b"mid") +
                  encode_frame(OP_CONT, c[10:20], fin=False) + encode_frame(OP_CONT, c[20:]))
        pong = conn.recv_frame()
        assert (pong.opcode, pong.rsv, pong.payload) == (OP_PONG, 0, b"mid"), pong
        f = conn.recv_frame()
        assert f.rsv == 4 and inflate(f.payload) == text, f
        # The empty message compressed (§7.2.3.6: a single 00 byte).
        conn.send_frame(OP_BINARY, b"\x00", rsv=RSV1)
        f = conn.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b""), f
        conn.send_close(1000)
        before, close = conn.recv_until_close()
        assert close.rsv == 0 and close.close_code == 1000, close


def test_window_bits_8_is_kept(deflate_server):
    """server_max_window_bits=8: the server's messages decode with a 256-byte window (zlib
    deflates with 9 bits, whose distances stay under 250)."""
    conn, answer = open_raw(deflate_server.port, "permessage-deflate; server_max_window_bits=8")
    with conn:
        assert answer.endswith("; server_max_window_bits=8"), answer
        rng = random.Random(3)
        block = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(300))
        text = block * 40  # Repeats 300 bytes apart: out of an 8-bit window's reach.
        conn.send_frame(OP_TEXT, text)
        f = conn.recv_frame()
        assert f.rsv == 4, f
        assert inflate(f.payload, 8) == text
        with pytest.raises(zlib.error):  # The check is real: a 15-bit stream would not decode.
            inflate(deflate(text, 15), 8)


OFFER_ANSWERS = [
    ("permessage-deflate", ""),
    ("permessage-deflate; client_max_window_bits", ""),
    # A client's window value is echoed (the client keeps it); the server reads any window.
    ("permessage-deflate; client_max_window_bits=10", "; client_max_window_bits=10"),
    ("permessage-deflate; client_max_window_bits=8; server_no_context_takeover",
     "; client_max_window_bits=8"),
    ("permessage-deflate; server_max_window_bits=9; client_max_window_bits=12",
     "; server_max_window_bits=9; client_max_window_bits=12"),
    ("permessage-deflate; server_max_window_bits=12", "; server_max_window_bits=12"),
    ('permessage-deflate; server_max_window_bits="9"', "; server_max_window_bits=9"),
    # Several offers: the first acceptable one.
    ("permessage-deflate; mystery=1, permessage-deflate; server_max_window_bits=10, "
     "permessage-deflate", "; server_max_window_bits=10"),
    ("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=11",
     "; server_max_window_bits=11"),
    ("permessage-deflate; server_max_window_bits=7, permessage-deflate", ""),
]


@pytest.mark.parametrize("offer,suffix", OFFER_ANSWERS)
def test_answer_to_each_offer(deflate_server, offer, suffix):
    conn, answer = open_raw(deflate_server.port, offer)
    with conn:
        assert answer == ("permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover" + suffix), (offer, answer)


def test_offers_split_over_header_lines(deflate_server):
    request = upgrade_request("/echo", extra=[
        ("Sec-WebSocket-Extensions", "permessage-deflate; bogus"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=13")])
    with RawConn.open(deflate_server.port) as conn:
        resp = conn.handshake("/echo", request=request)
        assert resp.header("Sec-WebSocket-Extensions").endswith("server_max_window_bits=13")


MALFORMED = [
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; server_no_context_takeover=true",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; =15",
    'permessage-deflate; server_max_window_bits="10',
    "permessage-deflate;;",
    "permessage-deflate; a=" + "b" * 3000,
    "x-webkit-deflate-frame",
    ",,,",
]


@pytest.mark.parametrize("offer", MALFORMED)
def test_malformed_offer_is_declined(deflate_server, offer):
    """Declined (RFC 7692 §5.1): the upgrade goes on without the extension, and RSV1 is then
    a protocol error."""
    conn, answer = open_raw(deflate_server.port, offer)
    with conn:
        assert answer is None, (offer, answer)
        conn.send_frame(OP_TEXT, b"plain")
        assert conn.recv_frame().payload == b"plain"
        conn.send_frame(OP_TEXT, deflate(b"hello"), rsv=RSV1)
        expect_close(conn, 1002)


def test_off_by_default(server_factory_module):
    plain = server_factory_module()
    conn, answer = open_raw(plain.port)
    with conn:
        assert answer is None
        conn.send_frame(OP_TEXT, deflate(b"hello hello hello"), rsv=RSV1)
        expect_close(conn, 1002)

    async def go():  # A deflate client still talks to it, uncompressed.
        factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
        async with ws_connect(plain.url("/echo"), extensions=[factory]) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response_headers
            await ws.send("x" * 1000)
            assert await asyncio.wait_for(ws.recv(), 10) == "x" * 1000

    run_async(go(), 20)


def test_rsv1_without_an_offer_is_1002(deflate_server):
    conn, answer = open_raw(deflate_server.port, None)
    with conn:
        assert answer is None
        conn.send_frame(OP_BINARY, deflate(b"data" * 100), rsv=RSV1)
        expect_close(conn, 1002)


@pytest.mark.parametrize("frames", [
    # RSV1 on a continuation frame (§6.1: only the first frame carries it).
    lambda c: (encode_frame(OP_TEXT, c[:4], fin=False, rsv=RSV1) +
               encode_frame(OP_CONT, c[4:], rsv=RSV1)),
    lambda c: encode_frame(OP_BINARY, c[:4], fin=False) + encode_frame(OP_CONT, c[4:], rsv=RSV1),
    # On control frames.
    lambda c: encode_frame(OP_PING, b"p", rsv=RSV1),
    lambda c: encode_frame(OP_CLOSE, b"\x03\xe8", rsv=RSV1),
    # RSV2, RSV3 stay reserved.
    lambda c: encode_frame(OP_TEXT, c, rsv=RSV1 | 2),
    lambda c: encode_frame(OP_TEXT, b"x", rsv=1),
], ids=["rsv1-cont-after-rsv1", "rsv1-cont", "rsv1-ping", "rsv1-close", "rsv2", "rsv3"])
def test_rsv_rules_with_the_extension(deflate_server, frames):
    conn, answer = open_raw(deflate_server.port)
    with conn:
        assert answer is not None
        conn.send(frames(deflate(b"some text to compress")))
        expect_close(conn, 1002)


def test_invalid_deflate_data_is_1007(deflate_server):
    conn, _ = open_raw(deflate_server.port)
    with conn:
        conn.send_frame(OP_BINARY, b"\xff\xff\xff\xff\x12\x34", rsv=RSV1)
        expect_close(conn, 1007)


def test_compressed_text_checked_as_utf8_once_inflated(deflate_server):
    conn, _ = open_raw(deflate_server.port)
    with conn:
        good = "naïve 日本語 🎉".encode() * 50
        conn.send_frame(OP_TEXT, deflate(good), rsv=RSV1)
        assert inflate(conn.recv_frame().payload) == good
        conn.send_frame(OP_TEXT, deflate(b"ok then \xc0\x80" * 50), rsv=RSV1)
        expect_close(conn, 1007)


# --- Limits after inflation ----------------------------------------------------------------------

LIMIT = 65536


@pytest.fixture(scope="module")
def limited_server(server_factory_module):
    return server_factory_module(*DEFLATE, "--max-message-size", str(LIMIT), "--metrics-port",
                                 str(free_port()))


def test_zip_bomb_closes_1009(limited_server):
    """16 MiB of zeros compress to 16 KiB, well under the limit on the wire: 1009 all the same,
    without the server inflating them (its RSS does not grow by them)."""
    bomb = deflate(bytes(16 << 20))
    assert len(bomb) < LIMIT // 2
    rss_before = limited_server.rss_kib()
    conn, _ = open_raw(limited_server.port)
    with conn:
        conn.send_frame(OP_BINARY, bomb, rsv=RSV1)
        expect_close(conn, 1009)
    assert limited_server.rss_kib() - rss_before < 8 * 1024


def test_limit_counts_inflated_bytes_exactly(limited_server):
    conn, _ = open_raw(limited_server.port)
    with conn:
        at_limit = chat_text(LIMIT).encode()[:LIMIT]
        conn.send_frame(OP_BINARY, deflate(at_limit), rsv=RSV1)
        f = conn.recv_frame()
        assert inflate(f.payload) == at_limit
        conn.send_frame(OP_BINARY, deflate(at_limit + b"!"), rsv=RSV1)
        expect_close(conn, 1009)


def test_incompressible_at_the_limit_still_fits(limited_server):
    """A client that compresses everything (browsers, python3-websockets) sends LIMIT bytes of
    noise as slightly more than LIMIT: the compressed size alone does not refuse it."""
    noise = os.urandom(LIMIT)
    compressed = deflate(noise)
    assert len(compressed) > LIMIT
    conn, _ = open_raw(limited_server.port)
    with conn:
        conn.send_frame(OP_BINARY, compressed, rsv=RSV1)
        f = conn.recv_frame(10)
        assert f.rsv == 0 and f.payload == noise


# --- Fan-out: one compression per message, deflate and plain recipients together ----------------

def test_raw_fanout_to_deflate_and_plain_clients(limited_server_with_raw):
    srv, metrics_port = limited_server_with_raw
    # Every long one compresses with a 9-bit window too (zlib's reaches back 250 bytes).
    messages = [chat_text(300 + 97 * i, i) for i in range(20)] + ["short"] + \
        [bytes(range(200)) * 10]
    before, _ = scrape(metrics_port)

    async def go():
        url = srv.url("/raw/room")
        deflaters = [ws_connect(url, extensions=[ClientPerMessageDeflateFactory()])
                     for _ in range(6)]
        narrow = ws_connect(url, extensions=[ClientPerMessageDeflateFactory(
            server_max_window_bits=9)])
        plains = [ws_connect(url) for _ in range(4)]
        clients = [await c.__aenter__() for c in deflaters + [narrow] + plains]
        try:
            for ws in clients[:7]:
                assert "permessage-deflate" in ws.response_headers["Sec-WebSocket-Extensions"]
            for ws in clients[7:]:
                assert "Sec-WebSocket-Extensions" not in ws.response_headers
            publisher = clients[-1]  # A plain client: its sends arrive uncompressed.
            for m in messages:
                await publisher.send(m)
            for ws in clients:
                got = [await asyncio.wait_for(ws.recv(), 10) for _ in messages]
                assert got == messages
        finally:
            for ws in clients:
                await ws.close()

    run_async(go(), 60)
    after, _ = scrape(metrics_port)
    compressed = (value(after, "ringcast_ws_deflate_messages", direction="out") -
                  value(before, "ringcast_ws_deflate_messages", direction="out"))
    delivered = (value(after, "ringcast_ws_deflate_deliveries") -
                 value(before, "ringcast_ws_deflate_deliveries"))
    compressible = 21  # The 20 chat texts and the binary; "short" is under the minimum.
    # 7 deflate recipients each got every compressible message compressed ...
    assert delivered == 7 * compressible
    # ... compressed once per window size (15 and 9), shard races aside (two shards: at most
    # two builds per form), not once per recipient.
    assert 2 * compressible <= compressed <= 2 * 2 * compressible
    raw = (value(after, "ringcast_ws_deflate_bytes", direction="out", form="raw") -
           value(before, "ringcast_ws_deflate_bytes", direction="out", form="raw"))
    small = (value(after, "ringcast_ws_deflate_bytes", direction="out", form="compressed") -
             value(before, "ringcast_ws_deflate_bytes", direction="out", form="compressed"))
    assert 0 < small < raw / 2
    assert value(after, "ringcast_ws_deflate_connections") >= 7


@pytest.fixture(scope="module")
def limited_server_with_raw(server_factory_module):
    metrics_port = free_port()
    srv = server_factory_module(*DEFLATE, "--raw-channels", "--metrics-port", str(metrics_port))
    return srv, metrics_port


# --- The chat's /ws: the deferred upgrade carries the agreement ---------------------------------

def test_chat_conversation_with_deflate_and_plain_members(server_factory_module):
    """/ws answers its upgrade later (the token and the per-address count first): the agreement
    travels with the deferred request. A group with deflate and plain members: every member
    gets every message, long (compressed to the deflate ones) and short."""
    srv = server_factory_module(*chat_args(), *DEFLATE)
    api = Api(srv.port)
    alice, bob, carol = api.new_users(3, "dfl")
    conv = api.group(alice, [bob.id, carol.id], "deflate")
    long_body = chat_text(2000, 5)

    async def go():
        deflate_kw = {"extensions": [ClientPerMessageDeflateFactory()]}
        a = await ChatConn.connect(srv.port, alice.token, name="alice", **deflate_kw)
        b = await ChatConn.connect(srv.port, bob.token, name="bob")
        c = await ChatConn.connect(srv.port, carol.token, name="carol", **deflate_kw)
        try:
            for conn, agreed in ((a, True), (b, False), (c, True)):
                answer = conn.ws.response_headers.get("Sec-WebSocket-Extensions")
                assert (answer is not None) == agreed, (conn.name, answer)
            await a.send(conv, long_body)
            await b.send(conv, "short from bob")
            await c.send(conv, long_body[::-1])
            for conn in (a, b, c):
                for body in (long_body, "short from bob", long_body[::-1]):
                    await conn.wait_message(conv, lambda m, body=body: m["body"] == body)
        finally:
            await close_all([a, b, c])

    run_async(go(), 60)
    families, _ = scrape(srv.port)  # --metrics-on-main-port (support.RingcastServer).
    assert value(families, "ringcast_ws_deflate_connections") == 2
    # alice's and carol's sends came compressed (the client compresses everything) ...
    assert value(families, "ringcast_ws_deflate_messages", direction="in") >= 2
    # ... and the two long events went out compressed to both deflate members (acks and other
    # events may add more).
    assert value(families, "ringcast_ws_deflate_deliveries") >= 4


def test_chat_ws_inflates_no_further_than_a_request_can_be(server_factory_module):
    """Issue 44, item 5: /ws takes no request longer than 6 × --max-chat-body + 128 KiB of JSON
    (RequestLimits::max_request_bytes). A compressed one that inflates past that closes 1009
    naming the bound, having inflated no more than it, though --max-message-size (1 MiB) is far
    above; a normal compressed request is answered as ever."""
    max_chat_body = 1024
    bound = 6 * max_chat_body + 128 * 1024
    srv = server_factory_module(*chat_args(max_chat_body=max_chat_body), *DEFLATE)
    api = Api(srv.port)
    alice, _, conv = api.direct_pair("bound")

    async def go():
        a = await ChatConn.connect(srv.port, alice.token, name="alice",
                                   extensions=[ClientPerMessageDeflateFactory()])
        try:
            assert a.ws.response_headers.get("Sec-WebSocket-Extensions") is not None
            await a.send(conv, chat_text(max_chat_body // 2, 3))  # Compressed, and fine.
            # Far over the body's limit, and over the bound once inflated: a few KiB on the wire.
            await a.ws.send(json.dumps({"type": "send", "conv": conv, "cid": "big",
                                        "body": "x" * (2 * bound)}))
            code, reason = await a.wait_closed()
            assert code == 1009, (code, reason)
            assert f"inflates past {bound} bytes, this route's limit" in reason, reason
        finally:
            await close_all([a])

    run_async(go(), 30)
    families, _ = scrape(srv.port)
    assert value(families, "ringcast_ws_deflate_too_big") == 1
    assert 0 < value(families, "ringcast_ws_deflate_too_big_bytes") <= bound + 1


def test_stomp_inflates_no_further_than_a_frame_can_be(server_factory_module):
    """The same for /stomp: no frame is longer than --max-header-bytes + --max-chat-body (+ its
    NUL and 1 KiB of heart-beat EOLs), so a compressed message is inflated no further."""
    max_chat_body = 1024
    bound = 8192 + max_chat_body + 1 + 1024
    srv = server_factory_module(*chat_args(max_chat_body=max_chat_body), *DEFLATE)
    user = Api(srv.port).new_user("sbound")

    async def go():
        conn = await StompConn.connect(srv.port, user.token,
                                       extensions=[ClientPerMessageDeflateFactory()])
        try:
            await conn.send(stomp_frame("SEND", {"destination": "/app/chat.send"},
                                        "x" * (2 * bound)))
            await asyncio.wait_for(asyncio.shield(conn.task), 15)  # Its reader ends at the close.
            code, reason = conn.closed
            assert code == 1009, (code, reason)
            assert f"inflates past {bound} bytes, this route's limit" in reason, reason
        finally:
            await conn.ws.close()

    run_async(go(), 30)


# --- Node's ws (perMessageDeflate), the SDK's WebSocket in Node -----------------------------------

NODE_ECHO = r"""
const WebSocket = require('ws');
const [url, optionsJson] = process.argv.slice(1);  // node -e: no script path.
const options = JSON.parse(optionsJson);
const sizes = [0, 1, 125, 126, 1023, 1024, 1025, 4096, 65535, 65536, 131072];
function chat(n, seed) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += JSON.stringify({type: 'message', seq: seed + i, body: 'héllo 日本 ' + (i % 7)});
  return s.slice(0, n);
}
// threshold 0: every message compressed, the small ones too (ws's default leaves < 1 KiB alone).
const ws = new WebSocket(url, {perMessageDeflate: {threshold: 0, ...options}});
let step = 0;
const expected = [];
for (const n of sizes) {
  expected.push(chat(n, n));
  expected.push(Buffer.from(Array.from({length: n}, (_, i) => (i * 31 + (i >> 8)) & 0xff)));
}
ws.on('open', () => {
  for (const m of expected) ws.send(m);
});
ws.on('message', (data, isBinary) => {
  const want = expected[step++];
  const got = isBinary ? data : data.toString();
  if (isBinary !== Buffer.isBuffer(want) || !(isBinary ? want.equals(got) : want === got)) {
    console.log(JSON.stringify({ok: false, step, size: want.length}));
    process.exit(1);
  }
  if (step === expected.length) {
    console.log(JSON.stringify({ok: true, extensions: ws.extensions, messages: step}));
    ws.close(1000);
  }
});
ws.on('error', (e) => { console.log(JSON.stringify({ok: false, error: String(e)})); process.exit(1); });
const timer = setTimeout(() => {
  console.log(JSON.stringify({ok: false, error: 'timeout', step}));
  process.exit(1);
}, 20000);
ws.on('close', () => clearTimeout(timer));
"""

NODE_OFFERS = {
    "default": {},
    "no_context_both": {"serverNoContextTakeover": True, "clientNoContextTakeover": True},
    "server_bits_9": {"serverMaxWindowBits": 9},
    "client_bits_10": {"clientMaxWindowBits": 10},
    "everything": {"serverNoContextTakeover": True, "clientNoContextTakeover": True,
                   "serverMaxWindowBits": 12, "clientMaxWindowBits": 11},
}


@pytest.mark.parametrize("options", NODE_OFFERS.values(), ids=NODE_OFFERS.keys())
def test_node_ws_echo_with_each_offer(deflate_server, options):
    """Node's ws, the client the JavaScript SDK uses in Node (clients/js/node_modules, which
    tools/deps.sh test installs with npm ci)."""
    modules = REPO_ROOT / "clients" / "js" / "node_modules"
    if shutil.which("node") is None or not (modules / "ws").is_dir():
        pytest.fail(f"node and {modules}/ws are needed (tools/deps.sh test installs both)",
                    pytrace=False)
    proc = subprocess.run(["node", "-e", NODE_ECHO, deflate_server.url("/echo"),
                           json.dumps(options)], capture_output=True, text=True, timeout=40,
                          env={**os.environ, "NODE_PATH": str(modules)})
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, (proc.returncode, proc.stdout, proc.stderr)
    result = json.loads(lines[-1])
    assert result["ok"] and result["messages"] == 22, result
    assert "permessage-deflate" in result["extensions"], result
