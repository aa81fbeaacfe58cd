"""Static files at / from --web-root (proto/PROTOCOL.md, "Static files"): content types,
validators and caching headers, HEAD, methods, directories, and every way out of the root
(encoded dots and slashes, NUL, backslashes, symbolic links) answered 400 or 404, never with the
file. Requests go over raw sockets so that paths reach the server exactly as written.

One server (module scope) serves a root built here; the flag tests start their own."""

from __future__ import annotations

import json
import os
import pathlib
import time

import pytest

import support
from wsraw import RawConn, get_request

SECRET = b"the secret outside the root"
MAX_STATIC_BYTES = 4096

FILES = {
    "index.html": (b"<!doctype html><title>t</title>", "text/html; charset=utf-8"),
    "app.js": (b"export const app = 1;\n", "text/javascript; charset=utf-8"),
    "mod.mjs": (b"export default 2;\n", "text/javascript; charset=utf-8"),
    "style.css": (b"body { color: red }\n", "text/css; charset=utf-8"),
    "data.json": (b'{"a":1}', "application/json"),
    "app.js.map": (b'{"version":3}', "application/json"),
    "logo.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    "logo.png": (b"\x89PNG\r\n\x1a\n", "image/png"),
    "photo.jpg": (b"\xff\xd8\xff\xe0", "image/jpeg"),
    "photo.webp": (b"RIFF\x00\x00\x00\x00WEBP", "image/webp"),
    "favicon.ico": (b"\x00\x00\x01\x00", "image/x-icon"),
    "font.woff2": (b"wOF2", "font/woff2"),
    "robots.txt": (b"User-agent: *\n", "text/plain; charset=utf-8"),
    "blob.bin": (b"\x00\x01\x02", "application/octet-stream"),
    "NOEXT": (b"no extension", "application/octet-stream"),
    "a b.txt": (b"spaced", "text/plain; charset=utf-8"),
    "docs/index.html": (b"<p>docs</p>", "text/html; charset=utf-8"),
    "limit.bin": (b"x" * MAX_STATIC_BYTES, "application/octet-stream"),
    # Files named like the server's own routes: the routes must win.
    "health": (b"file health", None),
    "ready": (b"file ready", None),
    "echo": (b"file echo", None),
    "ws": (b"file ws", None),
    "api/conversations": (b"file api", None),
    "raw/x": (b"file raw", None),
}


def build_root(base: pathlib.Path) -> pathlib.Path:
    root = base / "root"
    for name, (content, _) in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "empty").mkdir()
    (root / ".hidden").write_bytes(SECRET)
    (root / "big.bin").write_bytes(b"y" * (MAX_STATIC_BYTES + 1))
    (base / "secret.txt").write_bytes(SECRET)
    os.symlink("../secret.txt", root / "escape.txt")
    os.symlink(base / "secret.txt", root / "absolute.txt")
    os.symlink("..", root / "up")
    os.symlink("app.js", root / "alias.js")  # Stays inside: followed.
    return root


@pytest.fixture(scope="module")
def web(ringcast_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = build_root(base)
    srv = support.RingcastServer(
        ringcast_bin, ["--web-root", str(root), "--max-static-bytes", str(MAX_STATIC_BYTES),
                       "--static-max-age", "600", "--password-cost", "10", "--echo"],
        log_dir=base, name="static")
    srv.web_root = root
    srv.start()
    yield srv
    problem = srv.finish()
    if problem:
        pytest.fail(problem, pytrace=False)


def fetch(port: int, path: str, *, method: str = "GET", headers=None):
    with RawConn.open(port) as conn:
        conn.send(get_request(path, method=method, extra=headers))
        return conn.read_http_response()


def test_files_have_their_content_types_and_bodies(web):
    with RawConn.open(web.port) as conn:  # One keep-alive connection for all of them.
        for name, (content, content_type) in FILES.items():
            if content_type is None:
                continue
            conn.send(get_request("/" + name.replace(" ", "%20")))
            resp = conn.read_http_response()
            assert resp.status == 200, (name, resp)
            assert resp.header("Content-Type") == content_type, (name, resp)
            assert resp.body == content, (name, resp)
            assert resp.header("X-Content-Type-Options") == "nosniff", resp
            assert "close" not in resp.header_tokens("Connection"), resp


def test_root_and_directories_serve_their_index_and_never_a_listing(web):
    for path in ("/", "/index.html", "/?v=2"):
        resp = fetch(web.port, path)
        assert (resp.status, resp.body) == (200, FILES["index.html"][0]), (path, resp)
    assert fetch(web.port, "/docs/").body == b"<p>docs</p>"
    redirect = fetch(web.port, "/docs?x=1")
    assert redirect.status == 301 and redirect.header("Location") == "/docs/?x=1", redirect
    # Protocol-relative paths are redirected within this server, never to another host.
    assert fetch(web.port, "//docs").header("Location") == "/docs/"
    for path in ("/empty", "/empty/", "/missing.html", "/app.js/", "/index.html/x"):
        assert fetch(web.port, path).status == 404, path


def test_etag_and_if_none_match_give_304_with_caching_headers(web):
    first = fetch(web.port, "/app.js")
    etag = first.header("ETag")
    assert etag and etag.startswith('"'), first
    assert first.header("Cache-Control") == "public, max-age=600", first
    index = fetch(web.port, "/")
    assert index.header("Cache-Control") == "no-cache", index  # A deploy is seen at once.
    with RawConn.open(web.port) as conn:
        for value in (etag, f'"nope", W/{etag}', "*"):
            conn.send(get_request("/app.js", extra=[("If-None-Match", value)]))
            resp = conn.read_http_response()
            assert resp.status == 304 and resp.body == b"", (value, resp)
            assert resp.header("ETag") == etag and resp.header("Content-Length") is None, resp
            assert resp.header("Cache-Control") == "public, max-age=600", resp
        conn.send(get_request("/app.js", extra=[("If-None-Match", '"stale"')]))
        assert conn.read_http_response().body == FILES["app.js"][0]
        # Still in step after the bodiless answers: the next request gets its own answer.
        conn.send(get_request("/health"))
        assert json.loads(conn.read_http_response().body)["status"] == "ok"


def test_a_changed_file_gets_a_new_etag(web):
    path = web.web_root / "changing.txt"
    path.write_bytes(b"one")
    first = fetch(web.port, "/changing.txt")
    path.write_bytes(b"two!")
    second = fetch(web.port, "/changing.txt")
    assert second.body == b"two!" and second.header("ETag") != first.header("ETag"), second
    resp = fetch(web.port, "/changing.txt", headers=[("If-None-Match", first.header("ETag"))])
    assert resp.status == 200 and resp.body == b"two!", resp


def read_to_eof(conn: RawConn) -> bytes:
    data = b""
    while chunk := conn.sock.recv(65536):
        data += chunk
    return data


def test_head_has_the_headers_and_no_body(web):
    with RawConn.open(web.port) as conn:
        # Pipelined behind two HEADs, a last GET that closes: any body bytes after a HEAD answer
        # would show up between the heads.
        conn.send(get_request("/app.js", method="HEAD") + get_request("/nope", method="HEAD")
                  + get_request("/../x", method="HEAD")
                  + get_request("/health", extra=[("Connection", "close")]))
        file_head, missing_head, bad_head, health = read_to_eof(conn).split(b"\r\n\r\n", 3)
    assert file_head.startswith(b"HTTP/1.1 200 OK\r\n"), file_head
    assert f"Content-Length: {len(FILES['app.js'][0])}\r\n".encode() in file_head, file_head
    assert b"Content-Type: text/javascript; charset=utf-8" in file_head, file_head
    assert b"ETag: " in file_head, file_head
    assert missing_head.startswith(b"HTTP/1.1 404 "), missing_head
    assert bad_head.startswith(b"HTTP/1.1 400 "), bad_head
    assert health.startswith(b"HTTP/1.1 200 OK\r\n") and b'"status":"ok"' in health, health


def test_only_get_and_head(web):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        resp = fetch(web.port, "/app.js", method=method)
        assert resp.status == 405 and resp.header("Allow") == "GET, HEAD", (method, resp)


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
    "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/docs/../../secret.txt", "/docs/%2e%2e/%2e%2e/secret.txt",
    "/./app.js", "/a%00b", "/app.js%00.png", "/..%5csecret.txt", "/docs\\..\\..\\secret.txt",
    "/%2fetc/passwd", "/escape.txt", "/absolute.txt", "/up/secret.txt", "/up/root/app.js",
    "/.hidden", "/%2ehidden", "/bad%zz", "/bad%2",
])
def test_no_way_out_of_the_root(web, path):
    resp = fetch(web.port, path)
    assert resp.status in (400, 404), (path, resp)
    assert SECRET not in resp.body and b"export" not in resp.body, (path, resp)


def test_symbolic_links_inside_the_root_are_followed(web):
    assert fetch(web.port, "/alias.js").body == FILES["app.js"][0]


def test_the_servers_routes_win_over_files(web):
    health = fetch(web.port, "/health")
    assert health.status == 200 and json.loads(health.body)["status"] == "ok", health
    assert fetch(web.port, "/ready").header("Content-Type") == "application/json"
    assert fetch(web.port, "/echo").status == 426  # The WebSocket route, not the file.
    assert fetch(web.port, "/ws").status == 401
    assert fetch(web.port, "/api/conversations").status == 401
    raw = fetch(web.port, "/raw/x")  # /raw/ stays reserved while --raw-channels is off.
    assert raw.status == 404 and b"file raw" not in raw.body, raw


def test_a_file_over_max_static_bytes_is_refused(web):
    assert len(fetch(web.port, "/limit.bin").body) == MAX_STATIC_BYTES
    resp = fetch(web.port, "/big.bin")
    assert resp.status == 500 and b"--max-static-bytes" in resp.body, resp
    assert b"yyyy" not in resp.body


@pytest.mark.timeout(90)
def test_reads_in_flight_are_bounded_per_shard(server_factory, tmp_path):
    # One shard, one worker kept busy hashing a password: the first file read waits in the
    # worker queue, and with --max-static-reads 1 the next one is refused at once.
    import threading
    import chat_client

    (tmp_path / "f.txt").write_bytes(b"f")
    srv = server_factory("--web-root", str(tmp_path), "--workers", "1",
                         "--max-static-reads", "1", "--password-cost", "16", threads=1)
    api = chat_client.Api(srv.port)
    for attempt in range(5):
        hashing = threading.Thread(target=api.register, args=(chat_client.unique_name(),))
        hashing.start()
        try:
            time.sleep(0.05)  # The registration reaches the worker first.
            with RawConn.open(srv.port) as waiting:
                waiting.send(get_request("/f.txt"))
                time.sleep(0.02)
                refused = fetch(srv.port, "/f.txt")
                assert waiting.read_http_response(timeout=30).body == b"f"
        finally:
            hashing.join()
        if refused.status == 503:
            break
    assert refused.status == 503 and refused.header("Retry-After") == "1", refused
    assert fetch(srv.port, "/f.txt").body == b"f"  # Free again.


def test_empty_web_root_serves_nothing(server_factory, tmp_path):
    srv = server_factory("--web-root", "")
    resp = fetch(srv.port, "/")
    assert resp.status == 404, resp
    assert fetch(srv.port, "/health").status == 200
    env_srv = server_factory(env={"RINGCAST_WEB_ROOT": ""})
    assert fetch(env_srv.port, "/index.html").status == 404


def test_web_root_from_the_environment(server_factory, tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"hi")
    srv = server_factory(env={"RINGCAST_WEB_ROOT": str(tmp_path)})
    assert fetch(srv.port, "/hello.txt").body == b"hi"


def test_a_web_root_that_is_no_directory_stops_the_start(ringcast_bin, tmp_path):
    result = support.run_binary(ringcast_bin, ["--web-root", str(tmp_path / "nope"),
                                               "--data-dir", str(tmp_path / "data")])
    assert result.returncode == 2, result
    assert "--web-root" in result.stderr and "not a directory" in result.stderr, result.stderr


def test_the_shipped_web_folder_is_the_default(ringcast_bin, server_factory):
    shipped = support.REPO_ROOT / "web" / "index.html"
    if support.REPO_ROOT not in ringcast_bin.parents:
        pytest.skip("the binary is not one built in this checkout")
    srv = server_factory()
    resp = fetch(srv.port, "/")
    assert resp.status == 200 and resp.body == shipped.read_bytes(), resp
    assert f"static files: {support.REPO_ROOT / 'web'}" in srv.stderr_text() + srv.stdout_text()
