"""--max-conns-per-ip counted at accept for every connection, whatever its route (issue 44,
items 4 and 8): one address cannot take every slot of --max-connections and leave a bystander's
/ws and GET /health refused; past its limit a cleartext connection is answered 429 and a TLS one
is closed before any handshake work; a closed connection gives its count back. IPv6 clients
count by their network (--ipv6-prefix, item 6; core/net/client_address.h)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time

import pytest
import websockets

from chat_client import Api, ChatConn, chat_args, unique_name
from support import free_port, run_async, ws_connect
from test_tls import issue, make_ca

LIMIT = 4
# A shard's slots: the limit, two for a bystander, one for a refused connection until its client
# has read the 429 and closed.
SLOTS = LIMIT + 3
BYSTANDER = "127.0.0.2"  # Loopback answers on all of 127.0.0.0/8.

ROUTES = {"echo": ("--echo",), "raw": ("--raw-channels",)}


def route_path(route: str) -> str:
    return "/echo" if route == "echo" else "/raw/room"


def refused_per_address(server) -> float:
    """ringcast_connections_refused_total{reason="per_address"}, asked from the bystander's
    address (127.0.0.1 may be at its limit)."""
    metrics = Api(server.port, source=BYSTANDER).request("GET", "/metrics").body.decode()
    for line in metrics.splitlines():
        if line.startswith('ringcast_connections_refused_total{reason="per_address"}'):
            return float(line.split()[-1])
    raise AssertionError(f"no per_address refusals metric in {metrics[:2000]}")


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_one_address_cannot_take_every_slot(server_factory, route):
    """Four WebSockets from 127.0.0.1 fill its limit on a shard of seven slots; the fifth is
    answered 429; a /ws and GET /health from 127.0.0.2 still get slots; a closed connection gives
    its count back."""
    server = server_factory(*chat_args(max_conns_per_ip=LIMIT, max_connections=SLOTS),
                            *ROUTES[route], threads=1)
    bystander_api = Api(server.port, source=BYSTANDER)
    user = bystander_api.new_user("bystander")
    url = server.url(route_path(route))

    async def go():
        async with contextlib.AsyncExitStack() as held:
            conns = [await held.enter_async_context(ws_connect(url)) for _ in range(LIMIT)]
            try:
                async with ws_connect(url):
                    pytest.fail("a connection past --max-conns-per-ip was accepted")
            except websockets.InvalidStatusCode as refused:
                assert refused.status_code == 429, refused
            chat = await ChatConn.connect(server.port, user.token,
                                          local_addr=(BYSTANDER, 0))
            try:
                health = await asyncio.to_thread(bystander_api.request, "GET", "/health")
                assert health.status == 200, health
                assert health.json["connections"] >= LIMIT + 2, health
            finally:
                await chat.close()
            await conns[0].close()
            # Its count back (the server saw its close): one more may come in.
            deadline = time.monotonic() + 5
            while True:
                try:
                    await held.enter_async_context(ws_connect(url))
                    break
                except websockets.InvalidStatusCode as refused:
                    assert refused.status_code == 429 and time.monotonic() < deadline, refused
                    await asyncio.sleep(0.05)

    run_async(go(), 30)
    assert "--max-conns-per-ip (4) reached" in server.stderr_text()


def test_refusals_counted_across_shards(server_factory):
    """Two shards: the address's count lives on one of them, and the kernel spreads the
    connections over both; the limit holds over the node, and every refusal is counted."""
    server = server_factory("--echo", "--max-conns-per-ip", str(LIMIT), threads=2)
    url = server.url("/echo")

    async def go():
        async with contextlib.AsyncExitStack() as held:
            for _ in range(LIMIT):
                await held.enter_async_context(ws_connect(url))
            for _ in range(6):  # Spread over both shards by their source ports.
                try:
                    async with ws_connect(url):
                        pytest.fail("a connection past --max-conns-per-ip was accepted")
                except websockets.InvalidStatusCode as refused:
                    assert refused.status_code == 429, refused
        # All closed: the whole limit is free again.
        async with contextlib.AsyncExitStack() as held:
            deadline = time.monotonic() + 5
            opened = 0
            while opened < LIMIT:
                try:
                    await held.enter_async_context(ws_connect(url))
                    opened += 1
                except websockets.InvalidStatusCode:
                    assert time.monotonic() < deadline, "counts were not given back"
                    await asyncio.sleep(0.05)

    run_async(go(), 30)
    assert refused_per_address(server) == 6


def test_plain_http_connections_count(server_factory):
    """Held HTTP connections (a keep-alive client, or one that sends nothing) count too."""
    server = server_factory("--max-conns-per-ip", str(LIMIT), threads=1)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(LIMIT)]
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(4096)
            assert answer.startswith(b"HTTP/1.1 429 "), answer
            assert b"--max-conns-per-ip" in answer, answer
        assert Api(server.port, source=BYSTANDER).request("GET", "/health").status == 200
    finally:
        for conn in idle:
            conn.close()


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    make_ca(directory)
    cert, key = issue(directory, "server", "localhost")
    return cert, key


def client_hello() -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return tls, incoming, outgoing, outgoing.read()


def half_open(port: int, timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    """A TLS handshake begun and never finished: the ClientHello sent, the server's first flight
    read (b"" when the server closed instead)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(client_hello()[3])
    try:
        flight = sock.recv(65536)
    except ConnectionResetError:
        flight = b""
    return sock, flight


def test_half_open_tls_handshakes_count(server_factory, pki_dir):
    """Item 8: an address at its limit cannot hold one more TLS handshake in progress; the
    refused one is closed without a byte of TLS from the server."""
    cert, key = pki_dir
    tls_port = free_port()
    server = server_factory("--tls-port", tls_port, "--tls-cert", cert, "--tls-key", key,
                            "--max-conns-per-ip", str(LIMIT), threads=2)
    held = []
    try:
        for _ in range(LIMIT):
            sock, flight = half_open(tls_port)
            held.append(sock)
            assert flight[:1] == b"\x16", flight[:16]  # A handshake record: the ServerHello.
        sock, flight = half_open(tls_port)
        with sock:
            assert flight == b"", flight[:16]
        # A bystander's handshake is unaffected.
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5,
                                      source_address=(BYSTANDER, 0)) as other:
            other.sendall(client_hello()[3])
            assert other.recv(65536)[:1] == b"\x16"
    finally:
        for sock in held:
            sock.close()
    assert refused_per_address(server) == 1


# -- IPv6 by network (--ipv6-prefix, item 6) ---------------------------------------------------
# Loopback has one IPv6 address (::1), so two addresses of one /64 come as a trusted proxy
# (127.0.0.1) names them, which is how the chat learns a client's address behind nginx.

def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.mark.parametrize("prefix,second", [(None, 429), ("128", 201)])
def test_registrations_count_ipv6_by_network(server_factory, prefix, second):
    """--register-rate-ip 1: a second address of the same /64 is refused (the default prefix);
    with --ipv6-prefix 128 each address counts alone; another /64 is never refused."""
    flags = chat_args(register_rate_ip=1, trusted_proxies="127.0.0.1")
    server = server_factory(*flags, *(("--ipv6-prefix", prefix) if prefix else ()), threads=1)
    api = Api(server.port)

    def register(address: str) -> int:
        return api.request("POST", "/api/register",
                           {"username": unique_name("v6"), "password": "correct horse battery"},
                           headers=forwarded(address)).status

    assert register("2001:db8:1:2::1") == 201
    assert register("2001:db8:1:2:ffff:eeee:dddd:9") == second
    assert register("2001:db8:1:3::1") == 201
    # An IPv4-mapped address is its IPv4 address.
    assert register("::ffff:198.51.100.7") == 201
    assert register("198.51.100.7") == 429


def test_chat_sessions_count_ipv6_by_network(server_factory):
    """--max-conns-per-ip 1 behind a trusted proxy: a /ws from another address of the same /64
    is answered 429; one from another /64 is not."""
    server = server_factory(*chat_args(max_conns_per_ip=1, trusted_proxies="127.0.0.1"),
                            threads=2)
    api = Api(server.port)
    user = api.new_user("v6")

    async def go():
        first = await ChatConn.connect(server.port, user.token,
                                       extra_headers=forwarded("2001:db8:5:6::1"))
        try:
            with pytest.raises(websockets.InvalidStatusCode) as refused:
                await ChatConn.connect(server.port, user.token,
                                       extra_headers=forwarded("2001:db8:5:6::2"))
            assert refused.value.status_code == 429
            other = await ChatConn.connect(server.port, user.token,
                                           extra_headers=forwarded("2001:db8:5:7::1"))
            await other.close()
        finally:
            await first.close()

    run_async(go(), 30)
