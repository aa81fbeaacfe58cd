"""HTTP/1.1 front door: /health, routing, errors, keep-alive, the opening handshake (RFC 6455
§4.2.1 / §4.2.2) and its failure statuses."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from wsraw import (OP_TEXT, RawConn, accept_key, encode_frame, get_request, new_key,
                   upgrade_request)

SERVER_ARGS = ("--echo",)  # The WebSocket route these tests shake hands with.


def exchange(port: int, request: bytes, timeout: float = 5.0):
    """Sends `request` on a fresh connection; returns (conn, first response). Caller closes."""
    conn = RawConn.open(port)
    try:
        try:
            conn.send(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The server may answer and close before reading everything we sent.
        return conn, conn.read_http_response(timeout)
    except BaseException:
        conn.close()
        raise


def assert_error_closes(port: int, request: bytes, status: int):
    """The server answers `status`, says Connection: close, then closes the connection."""
    conn, resp = exchange(port, request)
    with conn:
        assert resp.status == status, f"expected {status}: {resp!r}"
        assert "close" in resp.header_tokens("Connection"), \
            f"error response without 'Connection: close': {resp!r}"
        conn.expect_eof(timeout=5)
    return resp


def assert_error_keeps_alive(port: int, request: bytes, status: int):
    """A route's error: the request was well framed, so the answer `status` leaves the
    connection open for the next request."""
    with RawConn.open(port) as conn:
        conn.send(request)
        resp = conn.read_http_response()
        assert resp.status == status, f"expected {status}: {resp!r}"
        assert "close" not in resp.header_tokens("Connection"), \
            f"a route's error must not close a keep-alive connection: {resp!r}"
        conn.send(get_request("/health"))
        again = conn.read_http_response()
        assert again.status == 200, again
    return resp


# --------------------------------------------------------------------------------------------
# /health and routing


def test_health_is_json_ok(shared_server):
    conn, resp = exchange(shared_server.port, get_request("/health"))
    conn.close()
    assert resp.status == 200, resp
    assert resp.header("Content-Type").split(";")[0].strip().lower() == "application/json", resp
    assert resp.header("Content-Length") is not None, "keep-alive response needs a length"
    body = json.loads(resp.body)
    assert isinstance(body, dict) and body.get("status") == "ok", body


@pytest.mark.server_args("--echo")
def test_health_counts_connections_on_every_shard(server):
    # /health asks every shard (cross-shard mail, then a deferred answer): with 40 WebSockets
    # spread over both shards by SO_REUSEPORT, it must count all of them plus itself.
    clients = []
    try:
        for _ in range(40):
            client = RawConn.open(server.port)
            clients.append(client)
            client.handshake("/echo")
        conn, resp = exchange(server.port, get_request("/health"))
        conn.close()
        body = json.loads(resp.body)
        assert resp.status == 200 and body["shards"] == 2, body
        assert body["connections"] == 41, body
    finally:
        for client in clients:
            client.close()


def test_unknown_path_is_404(shared_server):
    assert_error_keeps_alive(shared_server.port, get_request("/no-such-path"), 404)


@pytest.mark.parametrize("method,path", [("POST", "/health"), ("PUT", "/health"),
                                         ("DELETE", "/health"), ("POST", "/echo"),
                                         ("PUT", "/echo")])
def test_non_get_is_405(shared_server, method, path):
    request = get_request(path, method=method, extra=[("Content-Length", "0")])
    assert_error_keeps_alive(shared_server.port, request, 405)


def test_head_of_health_and_metrics_has_the_headers_and_no_body(shared_server):
    """HEAD is answered wherever GET is (RFC 9110 §9.1; load balancers probe with it), with
    GET's head and no body: pipelined behind the HEADs, a closing GET would show body bytes
    between the heads. They were 405 before."""
    with RawConn.open(shared_server.port) as conn:
        conn.send(get_request("/health", method="HEAD") + get_request("/metrics", method="HEAD")
                  + get_request("/health", extra=[("Connection", "close")]))
        data = b""
        while chunk := conn.sock.recv(65536):
            data += chunk
    health_head, metrics_head, last = data.split(b"\r\n\r\n", 2)
    assert health_head.startswith(b"HTTP/1.1 200 OK\r\n"), health_head
    assert metrics_head.startswith(b"HTTP/1.1 200 OK\r\n"), metrics_head
    assert b"Content-Type: text/plain; version=0.0.4" in metrics_head, metrics_head
    assert last.startswith(b"HTTP/1.1 200 OK\r\n") and b'"status":"ok"' in last, last
    for head in (health_head, metrics_head):  # GET's length, of a body not sent.
        assert int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1)) > 0, head


def test_echo_without_upgrade_is_426(shared_server):
    assert_error_keeps_alive(shared_server.port, get_request("/echo"), 426)


def test_wrong_websocket_version_is_426_with_version_13(shared_server):
    resp = assert_error_keeps_alive(shared_server.port, upgrade_request("/echo", version="8"),
                                    426)
    assert "13" in resp.header_tokens("Sec-WebSocket-Version"), \
        f"426 must say which version we speak (RFC 6455 §4.4): {resp!r}"


def test_missing_key_is_400(shared_server):
    assert_error_keeps_alive(shared_server.port,
                             upgrade_request("/echo", omit=("Sec-WebSocket-Key",)), 400)


@pytest.mark.parametrize("key", [
    "",                                              # empty
    "abc",                                           # not 16 bytes
    base64.b64encode(b"x" * 15).decode(),            # 15 bytes
    base64.b64encode(b"x" * 17).decode(),            # 17 bytes
    "!!!!not*base64!!!!!!!==",                       # not base64 at all
], ids=["empty", "short", "15-bytes", "17-bytes", "not-base64"])
def test_bad_key_is_400(shared_server, key):
    assert_error_keeps_alive(shared_server.port, upgrade_request("/echo", key=key), 400)


@pytest.mark.parametrize("request_line", [
    b"GARBAGE",
    b"GET",
    b"GET /health",                 # no version (HTTP/0.9 style)
    b"GET /health HTTP/1.1 extra",  # too many parts
    b"GET /hea\x00lth HTTP/1.1",    # NUL in the target
    b"G(T /health HTTP/1.1",        # '(' is not a token character (RFC 9110 §5.6.2)
], ids=["garbage", "method-only", "no-version", "extra-token", "nul", "bad-method-char"])
def test_malformed_request_line_is_400(shared_server, request_line):
    assert_error_closes(shared_server.port, request_line + b"\r\nHost: x\r\n\r\n", 400)


def test_header_without_colon_is_400(shared_server):
    assert_error_closes(shared_server.port,
                        b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400)


def test_oversized_header_is_431(shared_server):
    request = get_request("/health", extra=[("X-Big", "a" * 9000)])  # default limit 8192
    assert_error_closes(shared_server.port, request, 431)


def test_many_headers_over_limit_is_431(shared_server):
    extra = [(f"X-H{i}", "v" * 60) for i in range(150)]  # ~10 KiB of small headers
    assert_error_closes(shared_server.port, get_request("/health", extra=extra), 431)


@pytest.mark.server_args("--max-header-bytes", "1024")
def test_max_header_bytes_flag(server):
    ok, resp = exchange(server.port, get_request("/health", extra=[("X-Pad", "a" * 600)]))
    ok.close()
    assert resp.status == 200, f"a 700-byte head is under a 1024-byte limit: {resp!r}"
    assert_error_closes(server.port, get_request("/health", extra=[("X-Pad", "a" * 1500)]), 431)


@pytest.mark.server_args("--max-body-bytes", "1000")
def test_body_over_max_body_bytes_is_413(server):
    # Refused from the Content-Length alone, before any of the body is read.
    request = get_request("/health", extra=[("Content-Length", "1001")])
    assert_error_closes(server.port, request, 413)


def test_request_body_is_consumed_before_the_next_request(shared_server):
    # A body inside the limit is read and skipped; the pipelined request behind it (whose bytes
    # would look like a request line if the body were not) is answered on its own.
    body = b"GET /nope HTTP/1.1\r\n\r\n"
    request = get_request("/health", extra=[("Content-Length", str(len(body)))]) + body
    with RawConn.open(shared_server.port) as conn:
        conn.send(request + get_request("/health"))
        first = conn.read_http_response()
        second = conn.read_http_response()
    assert first.status == 200 and second.status == 200, (first, second)


def test_transfer_encoding_is_501(shared_server):
    request = get_request("/health", extra=[("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n"
    assert_error_closes(shared_server.port, request, 501)


def test_transfer_encoding_with_content_length_is_400(shared_server):
    # A request-smuggling signal (RFC 9112 §6.3), not an unsupported feature: 400, then close.
    request = get_request("/health", extra=[("Transfer-Encoding", "chunked"),
                                            ("Content-Length", "5")]) + b"0\r\n\r\n"
    resp = assert_error_closes(shared_server.port, request, 400)
    assert b"Transfer-Encoding with Content-Length" in resp.body, resp


def test_http11_without_host_is_400(shared_server):
    # RFC 9112 §3.2: a 1.1 request without Host MUST be answered 400; 1.0 had no Host.
    resp = assert_error_closes(shared_server.port, b"GET /health HTTP/1.1\r\n\r\n", 400)
    assert b"missing Host" in resp.body, resp
    conn, resp = exchange(shared_server.port, b"GET /health HTTP/1.0\r\n\r\n")
    conn.close()
    assert resp.status == 200, resp


def test_reason_phrases(shared_server):
    # The status line carries the RFC 9110 phrase, never "Unknown" (the chat API's 201, 401 and
    # 409 are checked in test_chat_accounts.py).
    for request, status, reason in ((get_request("/health"), 200, "OK"),
                                    (get_request("/nope"), 404, "Not Found"),
                                    (get_request("/echo"), 426, "Upgrade Required")):
        conn, resp = exchange(shared_server.port, request)
        conn.close()
        assert (resp.status, resp.reason) == (status, reason), resp


# --------------------------------------------------------------------------------------------
# Keep-alive


def test_pipelined_requests_get_two_responses(shared_server):
    with RawConn.open(shared_server.port) as conn:
        conn.send(get_request("/health") * 2)
        first = conn.read_http_response()
        second = conn.read_http_response()
        assert first.status == 200 and second.status == 200, (first, second)
        assert json.loads(first.body)["status"] == "ok"
        assert json.loads(second.body)["status"] == "ok"
        # Still open afterwards: a third request on the same socket.
        conn.send(get_request("/health"))
        assert conn.read_http_response().status == 200


def test_sequential_keep_alive_requests(shared_server):
    with RawConn.open(shared_server.port) as conn:
        for _ in range(5):
            conn.send(get_request("/health"))
            resp = conn.read_http_response()
            assert resp.status == 200, resp
            assert "close" not in resp.header_tokens("Connection"), resp


def test_connection_close_request_is_honoured(shared_server):
    with RawConn.open(shared_server.port) as conn:
        conn.send(get_request("/health", extra=[("Connection", "close")]))
        assert conn.read_http_response().status == 200
        conn.expect_eof(timeout=5)


@pytest.mark.server_args("--handshake-timeout", "1")
@pytest.mark.parametrize("partial", [
    b"GET /health HTT",                                        # request line
    b"GET /health HTTP/1.1\r\nHost: x\r\n",                   # head without its blank line
    b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  # body
], ids=["request-line", "head", "body"])
def test_unfinished_request_gets_408_then_close(server, partial):
    # RFC 9110 §15.5.9: the client is told why, rather than finding the connection gone.
    with RawConn.open(server.port) as conn:
        conn.send(partial)
        resp = conn.read_http_response(timeout=10)
        assert resp.status == 408 and resp.reason == "Request Timeout", resp
        assert "close" in resp.header_tokens("Connection"), resp
        conn.expect_eof(timeout=5)


@pytest.mark.server_args("--handshake-timeout", "1")
def test_idle_connection_is_closed_without_an_answer(server):
    # Nothing sent (a fresh connection, or an idle keep-alive one): no 408 that a client about
    # to send a request could take for its answer.
    with RawConn.open(server.port) as fresh, RawConn.open(server.port) as idle:
        idle.send(get_request("/health"))
        assert idle.read_http_response().status == 200
        fresh.expect_eof(timeout=10)
        idle.expect_eof(timeout=10)


def test_request_split_into_tiny_segments(shared_server):
    """The parser must cope with a head that arrives a few bytes at a time."""
    request = get_request("/health", extra=[("User-Agent", "split-test")])
    with RawConn.open(shared_server.port) as conn:
        for i in range(0, len(request), 3):
            conn.send(request[i:i + 3])
            time.sleep(0.002)
        resp = conn.read_http_response()
        assert resp.status == 200, resp


# --------------------------------------------------------------------------------------------
# Opening handshake


def test_accept_key_matches_rfc_example(shared_server):
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
    assert accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    with RawConn.open(shared_server.port) as conn:
        resp = conn.handshake("/echo", key=key)
        assert resp.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp
        assert resp.header("Sec-WebSocket-Extensions") is None, \
            f"no extension was offered, none may be accepted: {resp!r}"


@pytest.mark.parametrize("connection,upgrade", [
    ("Upgrade", "websocket"),
    ("keep-alive, Upgrade", "WebSocket"),
    ("upgrade", "WEBSOCKET"),
    ("Keep-Alive ,  upgrade", "websocket"),
    ("UPGRADE,keep-alive", "websocket"),
], ids=["plain", "keep-alive-first", "lower-upper", "spaces", "upgrade-first"])
def test_upgrade_tokens_case_insensitive(shared_server, connection, upgrade):
    key = new_key()
    with RawConn.open(shared_server.port) as conn:
        resp = conn.handshake(request=upgrade_request("/echo", key=key, connection=connection,
                                                      upgrade=upgrade))
        assert resp.header("Sec-WebSocket-Accept") == accept_key(key), resp
        conn.send_text(b"tokens ok")
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"tokens ok"), frame


def test_header_names_case_insensitive(shared_server):
    key = new_key()
    request = (f"GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nUPGRADE: websocket\r\n"
               f"connection: Upgrade\r\nsec-websocket-key: {key}\r\n"
               f"SEC-WEBSOCKET-VERSION: 13\r\n\r\n").encode()
    with RawConn.open(shared_server.port) as conn:
        resp = conn.handshake(request=request)
        assert resp.header("Sec-WebSocket-Accept") == accept_key(key), resp


def test_frames_pipelined_behind_handshake(shared_server):
    """Frame bytes that arrive in the same segment as the request head belong to the
    WebSocket stream and must not be lost."""
    key = new_key()
    with RawConn.open(shared_server.port) as conn:
        conn.send(upgrade_request("/echo", key=key) + encode_frame(OP_TEXT, b"early bird"))
        resp = conn.read_http_response()
        assert resp.status == 101 and resp.header("Sec-WebSocket-Accept") == accept_key(key)
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"early bird"), frame


def test_every_closing_answer_arrives_under_concurrent_connections(shared_server):
    """Regression: a shutdown(SHUT_WR) still queued in io-wq when its connection was closed hit
    the next connection accepted into the same descriptor, which then lost its answer (about 1
    in 1,500 with 4 concurrent clients)."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    def client(_):
        lost = 0
        for _ in range(1000):
            conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=10)
            try:
                # 404 + Connection: close: the server closes after the answer.
                conn.request("GET", "/no-such-route", headers={"Connection": "close"})
                if conn.getresponse().status != 404:
                    lost += 1
            except (OSError, http.client.HTTPException):
                lost += 1
            finally:
                conn.close()
        return lost

    with ThreadPoolExecutor(4) as pool:
        lost = sum(pool.map(client, range(4)))
    assert lost == 0, f"{lost} of 4000 answers lost"
