"""Uploads and files (PROTOCOL.md "Files"): POST /api/uploads streamed to disk (raw and
multipart), GET /files/{id} with ETag/304, Range/206/416, safe headers, access for the uploader
only (non-member → 404), signed URLs until they expire, the size limit and the quota (no partial
file left), kill -9 mid-upload (no visible partial file, temp files removed at restart), and a
chat send acked on the same shard while a large upload is in flight.

The chat-and-store cases run on both stores (conftest.py, "Two stores"); the rest, which test
the engine and the file store, on SQLite only."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import http.client
import io
import json
import os
import signal
import socket
import threading
import time
import struct
import urllib.parse
import zlib

import pytest

from chat_client import FAST_ARGS, TIMEOUT, Api, ChatConn, chat_args
from support import run_async

pytestmark = pytest.mark.both_stores

MiB = 1 << 20
BOUNDARY = "----ringcastTestBoundary7MA4YWxk"

SQLITE_ONLY = pytest.mark.sqlite_only("the file store and the engine, not the chat store")


def _pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that are not all alike (a hash mismatch shows a shifted chunk)."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def upload_raw(port: int, token: str, data, size: int, *, name: str = "f.bin",
               content_type: str = "application/octet-stream", timeout: float = 60.0):
    """POST /api/uploads with the file as the body (bytes, or an iterable of chunks)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("POST", "/api/uploads?name=" + urllib.parse.quote(name))
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for chunk in ([data] if isinstance(data, (bytes, bytearray)) else data):
            conn.send(chunk)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def multipart_parts(file: bytes, name: str, file_type: str) -> tuple[bytes, bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: {file_type}\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail


def upload_multipart(port: int, token: str, file: bytes, *, name: str = "m.bin",
                     file_type: str = "application/octet-stream"):
    head, tail = multipart_parts(file, name, file_type)
    chunks = [head] + [file[i:i + MiB] for i in range(0, len(file), MiB)] + [tail]
    return upload_raw(port, token, chunks, len(head) + len(file) + len(tail), name="",
                      content_type=f"multipart/form-data; boundary={BOUNDARY}")


def download(port: int, path: str, token: str | None = None, headers=None,
             method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        conn.request(method, path, headers=hdrs)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def make_png(width: int, height: int) -> bytes:
    """A real RGB PNG (a gradient), without an imaging library."""
    row = lambda y: b"\x00" + bytes(v for x in range(width) for v in (x % 256, y % 256, 90))
    raw = b"".join(row(y) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xC3:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no SOF marker")


def stored_files(data_dir) -> tuple[list[str], list[str]]:
    """(files under <data-dir>/files/ab/..., files in <data-dir>/files/tmp/<this server's>/)."""
    root = os.path.join(str(data_dir), "files")
    stored, temp = [], []
    for dirpath, _, names in os.walk(root):
        for n in names:
            temporary = os.sep + "tmp" in dirpath[len(root):]
            (temp if temporary else stored).append(os.path.join(dirpath, n))
    return stored, temp


SERVER_ARGS = chat_args(max_upload_bytes=60 * MiB)


@SQLITE_ONLY
@pytest.mark.timeout(240)
def test_raw_and_multipart_roundtrip_with_checksums(shared_server, api):
    port = shared_server.port
    user = api.new_user("up")
    for size in (0, 1, 8 * 1024, 50 * MiB):
        data = _pattern(size, size)
        digest = hashlib.sha256(data).hexdigest()
        for how in ("raw", "multipart"):
            if how == "raw":
                status, _, body = upload_raw(port, user.token, data, size, name=f"r{size}.bin")
            else:
                status, _, body = upload_multipart(port, user.token, data, name=f"m{size}.bin")
            assert status == 201, (how, size, body[:200])
            rec = json.loads(body)
            assert set(rec) >= {"id", "name", "size", "type", "sha256", "url"}
            assert rec["size"] == size and rec["sha256"] == digest, (how, size, rec)
            assert rec["name"] == (f"r{size}.bin" if how == "raw" else f"m{size}.bin")
            assert rec["url"] == "/files/" + rec["id"] and len(rec["id"]) == 22
            status, headers, got = download(port, rec["url"], user.token)
            assert status == 200 and hashlib.sha256(got).hexdigest() == digest, (how, size)
            assert headers["etag"] == f'"{digest}"'
            assert headers["x-content-type-options"] == "nosniff"
            assert "immutable" in headers["cache-control"]
            assert headers["cache-control"].startswith("private")
            assert headers["content-disposition"].startswith("attachment;")
    # The same bytes are stored once (content-addressed): 4 sizes, raw and multipart alike.
    stored, temp = stored_files(shared_server.data_dir)
    assert len(stored) == 4 and temp == [], (stored, temp)


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_concurrent_uploads_from_several_clients(shared_server, api):
    port = shared_server.port
    users = api.new_users(4, "cc")
    results: dict[int, tuple] = {}

    def one(i):
        data = _pattern(3 * MiB + i, 100 + i)
        chunks = (data[j:j + 64 * 1024] for j in range(0, len(data), 64 * 1024))
        results[i] = (upload_raw(port, users[i].token, chunks, len(data)),
                      hashlib.sha256(data).hexdigest())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert len(results) == 4
    for i, ((status, _, body), digest) in results.items():
        assert status == 201, body
        rec = json.loads(body)
        assert rec["sha256"] == digest
        status, _, got = download(port, rec["url"], users[i].token)
        assert status == 200 and hashlib.sha256(got).hexdigest() == digest


@SQLITE_ONLY
def test_range_resume_304_and_416(shared_server, api):
    port = shared_server.port
    user = api.new_user("rg")
    data = _pattern(1 * MiB + 123, 7)
    status, _, body = upload_raw(port, user.token, data, len(data))
    rec = json.loads(body)
    url = rec["url"]
    half = len(data) // 2
    status, headers, first = download(port, url, user.token, {"Range": f"bytes=0-{half - 1}"})
    assert status == 206 and first == data[:half]
    assert headers["content-range"] == f"bytes 0-{half - 1}/{len(data)}"
    status, headers, rest = download(port, url, user.token, {"Range": f"bytes={half}-"})
    assert status == 206 and first + rest == data  # A resumed download.
    status, _, tail = download(port, url, user.token, {"Range": "bytes=-10"})
    assert status == 206 and tail == data[-10:]
    status, headers, _ = download(port, url, user.token, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    status, headers, got = download(port, url, user.token, {"If-None-Match": f'"{rec["sha256"]}"'})
    assert status == 304 and got == b"" and headers["etag"] == f'"{rec["sha256"]}"'
    status, headers, got = download(port, url, user.token, method="HEAD")
    assert status == 200 and got == b"" and headers["content-length"] == str(len(data))


@SQLITE_ONLY
def test_expect_100_continue(shared_server, api):
    """A client that sends `Expect: 100-continue` gets the interim answer before the body, and
    none when the upload is refused at once."""
    user = api.new_user("ec")
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        head = (f"POST /api/uploads?name=e.txt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                f"Authorization: Bearer {user.token}\r\nExpect: 100-continue\r\n"
                f"Content-Length: 5\r\n\r\n")
        sock.sendall(head.encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 201 "), reply
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall((f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      f"Content-Length: {100 * MiB}\r\nAuthorization: Bearer {user.token}\r\n\r\n"
                      ).encode())
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413 "), reply


@SQLITE_ONLY
def test_html_uploaded_as_png_is_never_inline(shared_server, api):
    port = shared_server.port
    user = api.new_user("xs")
    html = b"<html><body><script>alert(1)</script></body></html>"
    status, _, body = upload_raw(port, user.token, html, len(html), name="evil.png",
                                 content_type="image/png")
    rec = json.loads(body)
    assert status == 201 and rec["type"] == "application/octet-stream", rec
    status, headers, got = download(port, rec["url"], user.token)
    assert status == 200 and got == html
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment;")
    assert headers["x-content-type-options"] == "nosniff"
    # A real PNG signature is accepted as image/png and shown inline, with its name encoded.
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    status, _, body = upload_raw(port, user.token, png, len(png), name="caf\u00e9 \"1\".png",
                                 content_type="image/png")
    rec = json.loads(body)
    assert rec["type"] == "image/png"
    status, headers, _ = download(port, rec["url"], user.token)
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"] == (
        "inline; filename=\"caf__ _1_.png\"; filename*=UTF-8''caf%C3%A9%20%221%22.png")


@SQLITE_ONLY
def test_image_thumbnail(shared_server, api):
    port = shared_server.port
    user = api.new_user("th")
    png = make_png(640, 400)
    status, _, body = upload_multipart(port, user.token, png, name="pic.png", file_type="image/png")
    rec = json.loads(body)
    assert status == 201 and rec["type"] == "image/png", rec
    assert (rec["width"], rec["height"]) == (640, 400)
    assert rec["thumb_url"] == rec["url"] + "/thumb"
    status, headers, thumb = download(port, rec["thumb_url"], user.token)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert headers["content-disposition"].startswith("inline;")
    assert thumb[:3] == b"\xff\xd8\xff" and jpeg_size(thumb) == (320, 200)
    # Not an image, or a small one: no thumbnail route / a thumbnail no bigger than the image.
    status, _, body = upload_raw(port, user.token, b"plain", 5, content_type="text/plain")
    rec = json.loads(body)
    assert "thumb_url" not in rec and "width" not in rec
    assert download(port, rec["url"] + "/thumb", user.token)[0] == 404
    status, _, body = upload_raw(port, user.token, make_png(40, 90), len(make_png(40, 90)),
                                 content_type="image/png")
    rec = json.loads(body)
    assert jpeg_size(download(port, rec["thumb_url"], user.token)[2]) == (40, 90)


def pil_image(fmt: str, width: int, height: int, **save) -> bytes:
    """An image in `fmt` (GIF, WEBP) made with Pillow (python3-pil, tools/deps.sh)."""
    from PIL import Image  # Only these cases need it.

    image = Image.new("RGB", (width, height), (30, 160, 90))
    for x in range(0, width, 7):  # Some detail, so that no encoder shortcut applies.
        image.putpixel((x, (x * 3) % height), (250, 20, 20))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


@SQLITE_ONLY
def test_gif_and_webp_thumbnails(shared_server, api):
    """GIF (the first frame) and WebP uploads get a JPEG thumbnail too; a GIF that claims a
    huge logical screen (a decompression bomb) is stored with its size but no thumbnail."""
    port = shared_server.port
    user = api.new_user("gw")
    cases = [("a.gif", "image/gif", pil_image("GIF", 500, 250), (320, 160)),
             ("b.webp", "image/webp", pil_image("WEBP", 300, 600, quality=80), (160, 320)),
             ("c.webp", "image/webp", pil_image("WEBP", 90, 60, lossless=True), (90, 60))]
    for name, kind, data, thumb_size in cases:
        status, _, body = upload_raw(port, user.token, data, len(data), name=name,
                                     content_type=kind)
        rec = json.loads(body)
        assert status == 201 and rec["type"] == kind, rec
        assert rec["thumb_url"] == rec["url"] + "/thumb", rec
        status, headers, thumb = download(port, rec["thumb_url"], user.token)
        assert status == 200 and headers["content-type"] == "image/jpeg", (name, status)
        assert thumb[:3] == b"\xff\xd8\xff" and jpeg_size(thumb) == thumb_size, name
    # A GIF declared as WebP is not a WebP: stored as bytes, no thumbnail.
    gif = cases[0][2]
    status, _, body = upload_raw(port, user.token, gif, len(gif), content_type="image/webp")
    rec = json.loads(body)
    assert rec["type"] == "application/octet-stream" and "thumb_url" not in rec, rec
    # The bomb: 65535 x 65535 declared in a file of a few hundred bytes.
    bomb = bytearray(pil_image("GIF", 4, 4))
    bomb[6:10] = struct.pack("<HH", 65535, 65535)
    status, _, body = upload_raw(port, user.token, bytes(bomb), len(bomb), content_type="image/gif")
    rec = json.loads(body)
    assert status == 201 and rec["type"] == "image/gif", rec
    assert (rec["width"], rec["height"]) == (65535, 65535) and "thumb_url" not in rec, rec


def test_attachments_in_messages_grant_members_access(shared_server, api):
    """Both stores: `send` with attachments (only the sender's own uploads), the message event,
    history and the mentions list carry their metadata, and membership of the conversation
    grants access."""
    port = shared_server.port
    a, b, c = api.new_users(3, "at")
    conv = api.direct(a, b)
    png = make_png(64, 48)
    status, _, body = upload_raw(port, a.token, png, len(png), name="p.png", content_type="image/png")
    rec = json.loads(body)
    status, _, body = upload_raw(port, c.token, b"not yours", 9)
    foreign = json.loads(body)
    assert download(port, rec["url"], b.token)[0] == 404  # Not yet attached anywhere.

    async def go():
        wa = await ChatConn.connect(port, a.token, name="a")
        wb = await ChatConn.connect(port, b.token, name="b")
        try:
            await wa.send_json({"type": "send", "conv": conv, "cid": "bad", "body": "x",
                                "attachments": [foreign["id"]]})
            refused = await wa.wait_for(lambda e: e.get("cid") == "bad", TIMEOUT, "bad's answer")
            start = wb.mark()
            await wa.send_json({"type": "send", "conv": conv, "cid": "ok", "body": "look",
                                "mentions": [b.id], "attachments": [rec["id"]]})
            ack = await wa.wait_for(lambda e: e.get("cid") == "ok", TIMEOUT, "ok's ack")
            msg = await wb.wait_type("message", start=start, conv=conv)
            return refused, ack, msg
        finally:
            await wa.ws.close()
            await wb.ws.close()

    refused, ack, msg = run_async(go(), 60)
    assert refused["type"] == "error" and "own uploads" in refused["message"], refused
    assert ack["type"] == "ack", ack
    [att] = msg["attachments"]
    assert att["id"] == rec["id"] and att["url"] == rec["url"] and att["sha256"] == rec["sha256"]
    assert att["type"] == "image/png" and (att["width"], att["height"]) == (64, 48)
    assert att["thumb_url"] == rec["url"] + "/thumb" and att["name"] == "p.png"
    # A member of the conversation may read it now; an outsider still gets 404.
    status, _, got = download(port, rec["url"], b.token)
    assert status == 200 and got == png
    assert download(port, rec["thumb_url"], b.token)[0] == 200
    assert download(port, rec["url"], c.token)[0] == 404
    history = api.messages(b, conv).json["messages"]
    assert history[0]["attachments"] == msg["attachments"]
    # The mentions list shows the message whole (on SQLite it once left the files out).
    [mentioned] = api.ok("GET", "/api/mentions", token=b.token)["mentions"]
    assert mentioned["attachments"] == msg["attachments"] and mentioned["mentions"] == [b.id]


def test_access_non_member_404_and_signed_urls(server_factory):
    srv = server_factory(*chat_args(file_url_ttl=2))
    api = Api(srv.port)
    owner, other = api.new_users(2, "ac")
    data = b"secret bytes"
    status, _, body = upload_raw(srv.port, owner.token, data, len(data))
    rec = json.loads(body)
    assert download(srv.port, rec["url"], owner.token)[0] == 200
    assert download(srv.port, rec["url"] + "?token=" + owner.token)[0] == 200  # For <img src>.
    assert download(srv.port, rec["url"], other.token)[0] == 404  # Not 403: nothing revealed.
    assert download(srv.port, "/files/AAAAAAAAAAAAAAAAAAAAAA", owner.token)[0] == 404
    assert download(srv.port, rec["url"])[0] == 401
    assert api.request("GET", "/api/uploads/" + rec["id"], token=other.token).status == 404
    # The signed URL: no token needed, public caching bounded by its expiry, until it expires.
    signed = rec["signed_url"]
    status, headers, got = download(srv.port, signed)
    assert status == 200 and got == data
    assert headers["cache-control"].startswith("public, max-age=")
    tampered = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    assert download(srv.port, tampered)[0] == 404
    time.sleep(3.1)
    assert download(srv.port, signed)[0] == 404
    fresh = api.ok("GET", "/api/uploads/" + rec["id"], token=owner.token)["signed_url"]
    assert download(srv.port, fresh)[0] == 200


def test_oversize_413_and_quota_leave_no_file(server_factory):
    srv = server_factory(*chat_args(max_upload_bytes=MiB, upload_quota_bytes=MiB + MiB // 2))
    api = Api(srv.port)
    user = api.new_user("qt")
    # By Content-Length, before any byte of the body.
    status, _, body = upload_raw(srv.port, user.token, b"", MiB + 1)
    assert status == 413, body
    # While streaming: a multipart body within the framing allowance whose file is too big.
    status, headers, body = upload_multipart(srv.port, user.token, _pattern(MiB + 1000))
    assert status == 413 and b"--max-upload-bytes" in body, body
    assert headers.get("connection") == "close"
    # The quota: one file fits, the next does not (507, a JSON error naming the flag).
    status, _, body = upload_raw(srv.port, user.token, _pattern(MiB), MiB)
    assert status == 201, body
    status, _, body = upload_raw(srv.port, user.token, _pattern(MiB, 2), MiB)
    assert status == 507, body
    err = json.loads(body)
    assert "quota" in err["error"] and err["used_bytes"] == MiB
    deadline = time.monotonic() + 5  # Temporary files are removed on a worker, just after.
    while time.monotonic() < deadline:
        stored, temp = stored_files(srv.data_dir)
        if temp == [] and len(stored) == 1:
            break
        time.sleep(0.05)
    assert temp == [] and len(stored) == 1, (stored, temp)


@pytest.mark.slow  # Waits of seconds on a 1 s ttl: debug build only (tests/README.md).
def test_orphan_uploads_are_swept(server_factory):
    """Both stores, --upload-orphan-ttl 1: an upload no message carries is deleted (record,
    file, thumbnail; its bytes leave the quota) ~2-3 s later; an attached one stays, and so does
    the file an attached and an orphan upload share (the same bytes); a send with an upload
    older than the ttl is refused."""
    shared = _pattern(1000, 41)
    png = make_png(64, 48)
    other = _pattern(1000, 42)
    quota = 2 * len(shared) + len(png) + 2 * len(other)
    srv = server_factory(*chat_args(upload_orphan_ttl=1, upload_quota_bytes=quota))
    api = Api(srv.port)
    a, b, conv = api.direct_pair("gc")

    def up(data, kind="application/octet-stream"):
        status, _, body = upload_raw(srv.port, a.token, data, len(data), content_type=kind)
        assert status == 201, body
        return json.loads(body)

    async def attach_fresh_and_stale_uploads():
        stale = up(other)
        uploaded = time.monotonic()
        ws = await ChatConn.connect(srv.port, a.token)
        try:
            rec = up(shared)  # Attached at once, well within the ttl.
            await ws.send_json({"type": "send", "conv": conv, "cid": "k", "body": "kept",
                                "attachments": [rec["id"]]})
            ack = await ws.wait_for(lambda e: e.get("cid") == "k", TIMEOUT, "the ack")
            assert ack["type"] == "ack", ack
            # Past the ttl (1 s) but before the sweep may take it (ttl + margin = 2 s): refused.
            await asyncio.sleep(max(0.0, 1.3 - (time.monotonic() - uploaded)))
            await ws.send_json({"type": "send", "conv": conv, "cid": "s", "body": "late",
                                "attachments": [stale["id"]]})
            refused = await ws.wait_for(lambda e: e.get("cid") == "s", TIMEOUT, "the refusal")
            assert refused["type"] == "error" and "expired" in refused["message"], refused
            return rec
        finally:
            await ws.ws.close()

    kept = run_async(attach_fresh_and_stale_uploads(), 30)
    twin = up(shared)  # The same bytes: one file with `kept`.
    image = up(png, "image/png")
    alone = up(other)
    assert "thumb_url" in image
    assert len(stored_files(srv.data_dir)[0]) == 4  # shared, png, its thumbnail, other.
    status, _, body = upload_raw(srv.port, a.token, b"x", 1)
    assert status == 507, body  # The quota is full.
    sha = kept["sha256"]
    kept_file = os.path.join(str(srv.data_dir), "files", sha[:2], sha[2:])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # Records first, then files.
        if (api.request("GET", "/api/uploads/" + alone["id"], token=a.token).status == 404
                and stored_files(srv.data_dir)[0] == [kept_file]):
            break
        time.sleep(0.2)
    for orphan in (twin, image, alone):
        assert api.request("GET", "/api/uploads/" + orphan["id"], token=a.token).status == 404
        assert download(srv.port, orphan["url"], a.token)[0] == 404
    assert download(srv.port, image["url"] + "/thumb", a.token)[0] == 404
    # The attached upload, and the file it shares with `twin`, stay; the others are gone.
    status, _, got = download(srv.port, kept["url"], b.token)
    assert status == 200 and got == shared
    stored, _ = stored_files(srv.data_dir)
    assert stored == [kept_file], stored
    # The orphans' bytes left the quota.
    status, _, body = upload_raw(srv.port, a.token, other, len(other))
    assert status == 201, body


@SQLITE_ONLY
@pytest.mark.slow  # Waits for the first sweep (1 s after start): debug build only.
def test_files_a_sweep_had_moved_aside_are_put_back_at_restart(server_factory):
    """A sweep moves a file aside, asks the store again, then removes it or puts it back; a
    process that dies in between leaves <temp>/<sha256>.swept. The next start puts it back (it
    may be the only copy of bytes an upload names), and its first sweep removes it when no
    upload names it. Before, such a file stayed aside and its upload answered 404 for good."""
    srv = server_factory(*chat_args(upload_orphan_ttl=1))
    api = Api(srv.port)
    a, b, conv = api.direct_pair("aside")
    kept = _pattern(3000, 51)
    status, _, body = upload_raw(srv.port, a.token, kept, len(kept))
    assert status == 201, body
    rec = json.loads(body)

    async def attach():
        ws = await ChatConn.connect(srv.port, a.token)
        try:
            await ws.send_json({"type": "send", "conv": conv, "cid": "c", "body": "file",
                                "attachments": [rec["id"]]})
            ack = await ws.wait_for(lambda e: e.get("cid") == "c", TIMEOUT, "the ack")
            assert ack["type"] == "ack", ack
        finally:
            await ws.ws.close()
    run_async(attach(), 30)
    srv.stop()

    files = os.path.join(str(srv.data_dir), "files")
    [temp_dir] = [d for d in glob.glob(os.path.join(files, "tmp", "*")) if os.path.isdir(d)]
    kept_hash = hashlib.sha256(kept).hexdigest()
    kept_path = os.path.join(files, kept_hash[:2], kept_hash[2:])
    os.rename(kept_path, os.path.join(temp_dir, kept_hash + ".swept"))
    unnamed = _pattern(2000, 52)
    unnamed_hash = hashlib.sha256(unnamed).hexdigest()
    with open(os.path.join(temp_dir, unnamed_hash + ".swept"), "wb") as f:
        f.write(unnamed)

    srv.start()
    assert not glob.glob(os.path.join(temp_dir, "*.swept"))
    status, _, got = download(srv.port, rec["url"], b.token)
    assert status == 200 and got == kept
    unnamed_path = os.path.join(files, unnamed_hash[:2], unnamed_hash[2:])
    deadline = time.monotonic() + 10
    while os.path.exists(unnamed_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(unnamed_path), "the first sweep kept a file no upload names"
    assert os.path.exists(kept_path) and download(srv.port, rec["url"], b.token)[0] == 200


@pytest.mark.slow  # Waits past a 2 s --idle-timeout: debug build only.
def test_download_to_a_client_that_stops_reading_is_closed(server_factory):
    """A client that asks for a file and then reads nothing is disconnected after
    --idle-timeout (2 s here) rather than holding the file and its buffers for ever."""
    srv = server_factory(*chat_args(idle_timeout=2))
    api = Api(srv.port)
    user = api.new_user("sr")
    size = 32 * MiB  # Far more than the socket buffers on both sides hold.
    status, _, body = upload_raw(srv.port, user.token, _pattern(size, 9), size)
    rec = json.loads(body)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", srv.port))
    sock.sendall((f"GET {rec['url']} HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {user.token}\r\n\r\n").encode())
    time.sleep(4.5)  # Reads nothing: past --idle-timeout and the next 1 s timer tick.
    got = 0
    sock.settimeout(5)
    try:
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        pass  # Aborted: what was queued may be dropped.
    finally:
        sock.close()
    assert got < size, got  # The answer ended early: the server closed the connection.
    # A client that reads gets the whole file.
    status, _, data = download(srv.port, rec["url"], user.token)
    assert status == 200 and len(data) == size


@SQLITE_ONLY
def test_kill9_mid_upload_leaves_no_visible_file(server_factory):
    srv = server_factory(*FAST_ARGS)
    api = Api(srv.port)
    user = api.new_user("k9")
    sock = socket.create_connection(("127.0.0.1", srv.port))
    size = 8 * MiB
    sock.sendall((f"POST /api/uploads?name=big HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {user.token}\r\nContent-Length: {size}\r\n\r\n").encode())
    sock.sendall(_pattern(3 * MiB))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # Until the temporary file has some of it.
        _, temp = stored_files(srv.data_dir)
        if temp and os.path.getsize(temp[0]) > 0:
            break
        time.sleep(0.05)
    assert temp, "no temporary file while the upload streams"
    srv.expect_rc = None
    srv.send_signal(signal.SIGKILL)
    srv.wait(10)
    sock.close()
    stored, temp = stored_files(srv.data_dir)
    assert stored == [] and all(t.endswith(".part") for t in temp), (stored, temp)
    srv.start()  # The same data dir: the restart removes what the crash left.
    stored, temp = stored_files(srv.data_dir)
    assert stored == [] and temp == [], (stored, temp)


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_chat_send_acked_while_upload_streams_on_the_same_shard(server_factory):
    """--threads 1: the upload and the chat share the only shard. The client sends the upload
    slowly; a send made in the middle of it is acked before the upload's answer comes."""
    srv = server_factory(*FAST_ARGS, threads=1)
    api = Api(srv.port)
    a, b, conv = api.direct_pair("sh")
    size = 24 * MiB
    events: list[tuple[str, float]] = []
    halfway = threading.Event()

    def upload():
        def chunks():
            data = _pattern(size, 5)
            for i in range(0, size, MiB):
                yield data[i:i + MiB]
                if i == 12 * MiB:
                    halfway.set()
                time.sleep(0.05)  # Throttled by the client: ~1.2 s in all.
        status, _, body = upload_raw(srv.port, a.token, chunks(), size)
        events.append(("upload", time.monotonic()))
        assert status == 201, body

    async def go():
        ws = await ChatConn.connect(srv.port, a.token)
        try:
            t = threading.Thread(target=upload)
            t.start()
            await asyncio.get_running_loop().run_in_executor(None, halfway.wait, 30)
            sent = time.monotonic()
            await ws.send(conv, "during the upload")
            events.append(("ack", time.monotonic()))
            await asyncio.get_running_loop().run_in_executor(None, t.join, 60)
            return sent
        finally:
            await ws.ws.close()

    sent = run_async(go(), 90)
    order = [name for name, _ in events]
    assert order == ["ack", "upload"], events
    ack_latency = events[0][1] - sent
    assert ack_latency < 5.0, ack_latency  # Generous: a bound, not a benchmark (bench/ has one).


@pytest.mark.needs_pg
@pytest.mark.needs_redis
@pytest.mark.timeout(120)
def test_attachments_cross_nodes_with_a_shared_files_dir(cluster_factory, tmp_path):
    """Cluster mode: a file uploaded on node 1 and sent to a user on node 2 arrives there with
    the message (the `x` record), and node 2 serves it from the shared --files-dir."""
    shared = tmp_path / "files"
    cluster = cluster_factory(2, flags={"files_dir": shared})
    a, b = cluster.api(0).new_users(2, "cx")
    conv = cluster.api(1).direct(a, b)
    data = b"bytes uploaded on node 1"
    status, _, body = upload_raw(cluster.port(0), a.token, data, len(data), name="n1.txt",
                                 content_type="text/plain")
    rec = json.loads(body)
    assert status == 201, body

    async def go():
        cb = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
        ca = await ChatConn.connect(cluster.port(0), a.token, name="a@n1")
        try:
            start = cb.mark()
            await ca.send_json({"type": "send", "conv": conv, "cid": "x1", "body": "from n1",
                                "attachments": [rec["id"]]})
            ack = await ca.wait_for(lambda e: e.get("cid") == "x1", TIMEOUT, "x1's ack")
            msg = await cb.wait_type("message", start=start, conv=conv)
            return ack, msg
        finally:
            await ca.ws.close()
            await cb.ws.close()

    ack, msg = run_async(go(), 60)
    assert ack["type"] == "ack", ack
    assert [a["id"] for a in msg["attachments"]] == [rec["id"]], msg
    status, _, got = download(cluster.port(1), rec["url"], b.token)
    assert status == 200 and got == data


@pytest.mark.slow
@pytest.mark.sqlite_only("the HTTP layer's timers; the store plays no part")
def test_a_download_outlasting_the_answer_timeout_streams_whole(server_factory):
    """--answer-timeout bounds the wait for an answer to begin, not a streamed answer: a download
    read slowly for longer than it arrives whole."""
    srv = server_factory(*chat_args(answer_timeout=1))
    api = Api(srv.port)
    user = api.new_user("slow")
    data = os.urandom(24 << 20)  # Past the loopback socket buffers: the server keeps streaming.
    status, _, body = upload_raw(srv.port, user.token, data, len(data), name="big.bin")
    assert status == 201, body
    url = json.loads(body)["url"]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request("GET", url, headers={"Authorization": f"Bearer {user.token}"})
        r = conn.getresponse()
        assert r.status == 200
        got, started = bytearray(), time.monotonic()
        while chunk := r.read(256 << 10):
            got += chunk
            time.sleep(0.03)  # About 8 MB/s: some 3 s in all.
        assert time.monotonic() - started > 2, "the download was not slow enough to test"
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        conn.close()
