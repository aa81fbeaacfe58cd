"""TLS on --tls-port (https://, wss://) beside the cleartext --port, against Python's ssl and
openssl s_client: a test CA's certificate verified, HTTP and WebSocket (echo and chat) over it,
records larger than one TLS record, bad certificates, cleartext to the TLS port, renegotiation,
old protocol versions, and a SIGHUP reload that keeps open connections."""

from __future__ import annotations

import asyncio
import http.client
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import time

import pytest
import websockets

from chat_client import Api, ChatConn
from support import free_port, run_async, run_binary
from wsraw import RawConn

pytestmark = pytest.mark.sqlite_only("TLS is the transport's; the store plays no part")


def openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: pathlib.Path) -> pathlib.Path:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ringcast test CA",
            cwd=directory)
    return directory / "ca.pem"


def issue(directory: pathlib.Path, name: str, common_name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """A leaf for 127.0.0.1 and localhost signed by the test CA: NAME.pem (leaf + CA, a chain)
    and NAME.key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=directory)
    (directory / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.leaf",
            cwd=directory)
    chain = directory / f"{name}.pem"
    chain.write_bytes((directory / f"{name}.leaf").read_bytes() +
                      (directory / "ca.pem").read_bytes())
    return chain, directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    cert, key = issue(directory, "server", "first")
    return directory, ca, cert, key


@pytest.fixture
def tls_server(server_factory, pki):
    directory, ca, cert, key = pki
    port = free_port()
    srv = server_factory("--tls-port", port, "--tls-cert", cert, "--tls-key", key, "--echo")
    srv.tls_port = port
    return srv


def client_context(ca: pathlib.Path, **kw) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    for name, value in kw.items():
        setattr(context, name, value)
    return context


def https_get(port: int, ca: pathlib.Path, path: str = "/health") -> tuple[int, bytes, ssl.SSLSocket]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=client_context(ca))
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    sock = conn.sock
    conn.close()
    return response.status, body, sock


def peer_common_name(port: int, ca: pathlib.Path) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_context(ca).wrap_socket(raw, server_hostname="localhost") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject["commonName"]


def metric(api: Api, name: str) -> float:
    for line in api.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_https_and_cleartext_side_by_side(tls_server, pki):
    _, ca, _, _ = pki
    status, body, _ = https_get(tls_server.tls_port, ca)
    assert status == 200 and b'"status":"ok"' in body
    assert Api(tls_server.port).request("GET", "/health").status == 200
    # ALPN: HTTP/1.1 chosen from a browser's offer; TLS 1.3 by default.
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as raw:
        context = client_context(ca)
        context.set_alpn_protocols(["h2", "http/1.1"])
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
            assert tls.version() == "TLSv1.3"
    api = Api(tls_server.port)
    assert metric(api, "ringcast_tls_handshakes_total") >= 2
    assert metric(api, 'ringcast_tls_connections{mode="user"}') >= 0


def test_tls12_works_and_older_versions_are_refused(tls_server, pki):
    _, ca, _, _ = pki
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as raw:
        context = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.2"
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{tls_server.tls_port}", "-tls1_1",
         "-cipher", "DEFAULT@SECLEVEL=0"],
        input=b"", capture_output=True, timeout=20)
    assert result.returncode != 0, result.stdout


def test_wss_echo_across_record_sizes(tls_server, pki):
    _, ca, _, _ = pki

    async def go():
        async with websockets.connect(f"wss://localhost:{tls_server.tls_port}/echo",
                                      ssl=client_context(ca), max_size=None) as ws:
            # Around one TLS record (16 KiB) and one receive buffer, and far past both.
            for size in (0, 1, 125, 16383, 16384, 16385, 65536, 300_000, 1_000_000):
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload, size
            await ws.send("text ✓")
            assert await ws.recv() == "text ✓"
            # Many small messages in flight at once: several per record, several records a send.
            for i in range(500):
                await ws.send(f"m{i}")
            for i in range(500):
                assert await ws.recv() == f"m{i}"
    run_async(go(), 60)


def test_chat_over_https_and_wss(tls_server, pki):
    """The whole chat over the TLS port: login by https, a session by wss, a message acked after
    commit and delivered to a cleartext session of the other user."""
    _, ca, _, _ = pki
    api = Api(tls_server.port)
    alice, bob, conv = api.direct_pair()
    https = http.client.HTTPSConnection("127.0.0.1", tls_server.tls_port, timeout=10,
                                        context=client_context(ca))
    https.request("POST", "/api/login",
                  body=f'{{"username":"{alice.name}","password":"{alice.password}"}}',
                  headers={"Content-Type": "application/json"})
    login = https.getresponse()
    assert login.status == 200
    token = __import__("json").loads(login.read())["token"]

    async def go():
        ws = await websockets.connect(f"wss://localhost:{tls_server.tls_port}/ws?token={token}",
                                      ssl=client_context(ca))
        a = ChatConn(ws, "alice-wss")
        await a.hello()
        b = await ChatConn.connect(tls_server.port, bob.token, name="bob")
        ack = await a.send(conv, "over TLS")
        got = await b.wait_message(conv, lambda m: m["seq"] == ack["seq"])
        assert got["body"] == "over TLS"
        reply = await b.send(conv, "back in cleartext " + "x" * 40_000)
        got = await a.wait_message(conv, lambda m: m["seq"] == reply["seq"])
        assert got["body"].startswith("back in cleartext")
        await a.close()
        await b.close()
    run_async(go(), 30)


def test_cleartext_http_to_tls_port_is_answered_and_closed(tls_server):
    api = Api(tls_server.port)
    before = metric(api, "ringcast_tls_handshake_failures_total")
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):  # Until the server's FIN.
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"This port speaks TLS" in answer
    # Garbage: an alert, then the close.
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(64))
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        assert received[:1] in (b"\x15", b""), received  # An alert record, or nothing.
    assert metric(api, "ringcast_tls_handshake_failures_total") >= before + 2
    assert Api(tls_server.port).request("GET", "/health").status == 200


def test_renegotiation_is_refused(tls_server):
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{tls_server.tls_port}", "-tls1_2"],
        input=b"R\n", capture_output=True, timeout=20)
    output = result.stdout + result.stderr
    assert b"RENEGOTIATING" in output, output
    assert b"no renegotiation" in output, output


def test_bad_certificate_flags_stop_the_start(ringcast_bin, tmp_path, pki):
    directory, _, cert, key = pki
    other_key = directory / "other.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            "other.key", cwd=directory)
    base = ["--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(tmp_path / "d")]
    cases = [
        (["--tls-cert", str(cert), "--tls-key", str(other_key)], 1, "mismatch"),
        (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)], 1, "missing.pem"),
        (["--tls-cert", str(key), "--tls-key", str(key)], 1, "--tls-cert"),
        (["--tls-cert", str(cert)], 2, "--tls-cert and --tls-key go together"),
    ]
    for extra, code, words in cases:
        result = run_binary(ringcast_bin, base + extra, timeout=30)
        assert result.returncode == code, (extra, result.returncode, result.stderr)
        assert words in result.stderr, (extra, result.stderr)


def test_sighup_reloads_the_certificate_and_keeps_connections(server_factory, pki, tmp_path):
    directory, ca, _, _ = pki
    first_cert, first_key = issue(directory, "first", "first")
    second_cert, second_key = issue(directory, "second", "second")
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    live_cert.write_bytes(first_cert.read_bytes())
    live_key.write_bytes(first_key.read_bytes())
    port = free_port()
    srv = server_factory("--tls-port", port, "--tls-cert", live_cert, "--tls-key", live_key,
                         "--echo")
    assert peer_common_name(port, ca) == "first"

    async def go():
        async with websockets.connect(f"wss://localhost:{port}/echo",
                                      ssl=client_context(ca)) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            # A renewal as certbot's deploy hook does it: new files, then SIGHUP.
            live_cert.write_bytes(second_cert.read_bytes())
            live_key.write_bytes(second_key.read_bytes())
            srv.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(peer_common_name, port, ca) != "second":
                assert time.monotonic() < deadline, "the new certificate was not served"
                await asyncio.sleep(0.1)
            await ws.send("after")  # The connection made on the old certificate goes on.
            assert await ws.recv() == "after"
            # A broken renewal keeps the current pair.
            live_key.write_bytes(first_key.read_bytes())
            srv.proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert await asyncio.to_thread(peer_common_name, port, ca) == "second"
            await ws.send("still")
            assert await ws.recv() == "still"
    run_async(go(), 60)
    log = srv.stderr_path.read_text()
    assert "TLS certificate reloaded" in log
    assert "TLS certificate not reloaded" in log


def test_slow_consumer_over_tls_is_cut_off_cleanly(server_factory, pki):
    """A TLS subscriber that stops reading: its records are encrypted a batch at a time, so what
    it has not taken stays queued as plaintext and counts against --max-outbound-bytes; past it,
    1008 after the rest of the frame the kernel has part of, in a record stream still whole."""
    _, ca, cert, key = pki
    port = free_port()
    srv = server_factory("--tls-port", port, "--tls-cert", cert, "--tls-key", key,
                         "--raw-channels", "--max-outbound-bytes", 256 * 1024)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow = RawConn(client_context(ca).wrap_socket(raw, server_hostname="localhost"))
    slow.handshake("/raw/slow")
    payload = os.urandom(32 * 1024)

    async def publish():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/raw/slow", max_size=None) as ws:
            await asyncio.sleep(0.3)  # The subscription has taken effect (one shard: none due).
            # 25 MiB to a subscriber that reads nothing meanwhile: far more than the kernel's
            # buffers on both sides take.
            for _ in range(800):
                await ws.send(payload)
                # The publisher is a subscriber too: in step with its own copy, it never lags.
                assert await ws.recv() == payload
    run_async(publish(), 60)
    before, close = slow.recv_until_close(timeout=60)
    assert close.close_code == 1008 and b"slow consumer" in close.close_reason, close
    assert 0 < len(before) < 800 and all(f.payload == payload for f in before), len(before)
    slow.close()
    assert metric(Api(srv.port), "ringcast_slow_consumers_total") >= 1


@pytest.mark.needs_pg
@pytest.mark.needs_redis
def test_chat_over_wss_with_deflate_across_two_cluster_nodes(cluster_factory, pki):
    """Cluster mode with TLS and permessage-deflate on every node: a wss:// session on each of
    two nodes in one conversation (python3-websockets offers deflate by default), messages both
    ways with the same seqs, a long one compressed on both nodes' way out."""
    _, ca, cert, key = pki
    tls_ports = [free_port(), free_port()]
    cluster = cluster_factory(2, args=["--ws-deflate"],
                              node_args=lambda i: ["--tls-port", tls_ports[i], "--tls-cert",
                                                   cert, "--tls-key", key])
    a, b = cluster.api(0).new_users(2, "xtls")
    conv = cluster.api(0).direct(a, b)
    long_body = " ".join(f"line {i} of a message long enough to be compressed" for i in range(40))

    async def connect(port: int, token: str, name: str) -> ChatConn:
        ws = await websockets.connect(f"wss://localhost:{port}/ws?token={token}",
                                      ssl=client_context(ca), max_size=None)
        assert "permessage-deflate" in ws.response_headers.get("Sec-WebSocket-Extensions", "")
        conn = ChatConn(ws, name)
        await conn.hello()
        return conn

    async def go():
        on_first = await connect(tls_ports[0], a.token, "a@n1")
        on_second = await connect(tls_ports[1], b.token, "b@n2")
        try:
            ack = await on_first.send(conv, "from node 1 over TLS")
            got = await on_second.wait_message(conv, lambda m: m["seq"] == ack["seq"])
            assert got["body"] == "from node 1 over TLS"
            reply = await on_second.send(conv, long_body)
            got = await on_first.wait_message(conv, lambda m: m["seq"] == reply["seq"])
            assert got["body"] == long_body and reply["seq"] == ack["seq"] + 1
        finally:
            await on_first.close()
            await on_second.close()
    run_async(go(), 60)
    for index in (0, 1):  # Each node compressed what it sent its client (the long message).
        assert metric(cluster.api(index), 'ringcast_ws_deflate_messages_total{direction="out"}') > 0
