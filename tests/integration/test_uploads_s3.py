"""Uploads on object storage (--files-url s3://…, files/README.md) against a real S3 server: Ceph's
RADOS gateway from tools/s3tmp (ctest's `integration_s3` runs this module under it; alone, the
module starts its own). Each test has a bucket of its own; the server gets its keys from AWS's
environment variables, as an operator's would.

What is checked against the bucket itself (boto3): a small file is one object at its content
address, a file past --s3-part-bytes is sent in parts as it streams in and ends as one object
there too, nothing is left under tmp/ and no multipart upload stays open, the same bytes twice
are one object, a thumbnail is an object beside its image; reads stream through the node with
Range and ETag, or redirect to a presigned URL the store serves (tampered: refused); an upload
cut by its client or by a store outage leaves no open multipart upload and answers 503 with the
store down; the sweeper's batch delete takes the objects no upload names; a wrong secret stops
the server at start with the store's reason."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib

import pytest

from chat_client import TIMEOUT, Api, ChatConn, chat_args
from support import run_async
from test_uploads import MiB, _pattern, download, make_png, upload_multipart, upload_raw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import s3_server  # noqa: E402

pytestmark = [pytest.mark.needs_s3, pytest.mark.timeout(180)]

PART = 5 * MiB  # S3's least part size: a 12 MiB file is three parts.


@pytest.fixture(scope="module")
def s3():
    """The S3 server of tools/s3tmp (S3TMP_DIR), or one of this module's own."""
    if os.environ.get("S3TMP_DIR"):
        yield s3_server.S3Server.attach(os.environ["S3TMP_DIR"])
        return
    server = s3_server.S3Server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3):
    name = "rc-" + uuid.uuid4().hex[:16]
    s3.create_bucket(name)
    return name


def s3_env(s3, secret=None):
    return {"AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": secret or s3.secret_key}


def s3_args(s3, bucket, *extra):
    return [*chat_args(max_upload_bytes=60 * MiB),
        "--files-url", f"s3://{bucket}/files", "--s3-endpoint", s3.endpoint,
        "--s3-region", s3.region, "--s3-part-bytes", str(PART), *extra]


def objects(s3, bucket, prefix="files/"):
    """{key: size} under `prefix`, the prefix taken off."""
    listing = s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix):]: o["Size"] for o in listing.get("Contents", [])}


def open_multipart(s3, bucket):
    return s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def content_key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:]}"


def test_small_and_multipart_uploads_stream_into_the_bucket(server_factory, s3, bucket):
    srv = server_factory(*s3_args(s3, bucket), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    small = _pattern(100_000, seed=1)
    large = _pattern(12 * MiB + 123, seed=2)  # Two whole parts and a short last one.
    status, _, body = upload_raw(srv.port, alice.token, small, len(small), name="small.bin")
    assert status == 201, body
    small_id = json.loads(body)["id"]
    status, _, body = upload_multipart(srv.port, alice.token, large, name="large.bin")
    assert status == 201, body
    large_id = json.loads(body)["id"]

    stored = objects(s3, bucket)
    assert stored == {content_key(small): len(small), content_key(large): len(large)}, stored
    assert objects(s3, bucket, "files/tmp/") == {}
    assert open_multipart(s3, bucket) == []

    for file_id, data in ((small_id, small), (large_id, large)):
        status, headers, got = download(srv.port, f"/files/{file_id}", alice.token)
        assert status == 200 and got == data, (status, len(got))
        etag = headers["etag"]
        assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
        status, _, _ = download(srv.port, f"/files/{file_id}", alice.token,
                                headers={"If-None-Match": etag})
        assert status == 304
    # A range that crosses a part's end and a download window's.
    status, headers, got = download(srv.port, f"/files/{large_id}", alice.token,
                                    headers={"Range": f"bytes={PART - 10}-{PART + 2 * MiB}"})
    assert status == 206 and got == large[PART - 10:PART + 2 * MiB + 1]
    assert headers["content-range"] == f"bytes {PART - 10}-{PART + 2 * MiB}/{len(large)}"
    # No temporary file left on the node's disk.
    temp_root = os.path.join(srv.data_dir, "files", "tmp")
    assert [n for _, _, names in os.walk(temp_root) for n in names] == []


def test_the_same_bytes_are_one_object_and_a_thumbnail_lies_beside_its_image(
        server_factory, s3, bucket):
    srv = server_factory(*s3_args(s3, bucket), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    data = _pattern(300_000, seed=3)
    ids = []
    for name in ("one.bin", "two.bin"):
        status, _, body = upload_raw(srv.port, alice.token, data, len(data), name=name)
        assert status == 201, body
        ids.append(json.loads(body)["id"])
    assert ids[0] != ids[1]
    assert objects(s3, bucket) == {content_key(data): len(data)}

    png = make_png(900, 600)
    status, _, body = upload_raw(srv.port, alice.token, png, len(png), name="p.png",
                                 content_type="image/png")
    assert status == 201, body
    image = json.loads(body)["id"]
    status, headers, thumb = download(srv.port, f"/files/{image}/thumb", alice.token)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    stored = objects(s3, bucket)
    assert stored[content_key(png)] == len(png)
    assert stored[content_key(thumb)] == len(thumb)
    assert len(stored) == 3


def noisy_png(width: int, height: int) -> bytes:
    """A PNG of random pixels: as large as its pixels (a gradient compresses to little)."""
    raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def test_a_large_image_keeps_its_thumbnail(server_factory, s3, bucket):
    # Larger than two parts: its parts go on as it streams, its bytes stay for the thumbnail.
    png = noisy_png(2600, 1700)
    assert len(png) > 2 * PART, len(png)
    srv = server_factory(*s3_args(s3, bucket), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    status, _, body = upload_raw(srv.port, alice.token, png, len(png), name="big.png",
                                 content_type="image/png")
    assert status == 201, body
    record = json.loads(body)
    assert (record["width"], record["height"]) == (2600, 1700)
    status, _, thumb = download(srv.port, f"/files/{record['id']}/thumb", alice.token)
    assert status == 200 and thumb[:2] == b"\xff\xd8"
    status, _, got = download(srv.port, f"/files/{record['id']}", alice.token)
    assert status == 200 and got == png


def test_redirect_to_a_presigned_url_that_the_store_serves(server_factory, s3, bucket):
    srv = server_factory(*s3_args(s3, bucket, "--files-serve", "redirect"), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    data = _pattern(2 * MiB, seed=4)
    status, _, body = upload_raw(srv.port, alice.token, data, len(data), name="report v2.pdf",
                                 content_type="application/pdf")
    assert status == 201, body
    file_id = json.loads(body)["id"]
    status, headers, _ = download(srv.port, f"/files/{file_id}", alice.token)
    assert status == 302
    assert headers["cache-control"] == "no-store"
    location = headers["location"]
    assert location.startswith(s3.endpoint + f"/{bucket}/files/")
    assert "X-Amz-Signature=" in location
    # The store serves it to a client without credentials: the bytes, the type and disposition
    # ringcast chose, and a Range.
    with urllib.request.urlopen(location, timeout=30) as answer:
        assert answer.read() == data
        assert answer.headers["Content-Type"] == "application/pdf"
        assert answer.headers["Content-Disposition"].startswith("attachment")
    ranged = urllib.request.Request(location, headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(ranged, timeout=30) as answer:
        assert answer.status == 206 and answer.read() == data[10:20]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(location.replace("X-Amz-Expires=", "X-Amz-Expires=1"), timeout=30)
    assert refused.value.code == 403
    # A hostile name reaches the store's answer only as the node wrote it: control bytes gone,
    # quotes escaped, the rest percent-encoded (the presigned URL carries it encoded once).
    status, _, body = upload_raw(srv.port, alice.token, data[:100], 100,
                                 name='a"\r\nX-Injected: 1;\u00e9.pdf')
    assert status == 201, body
    status, headers, _ = download(srv.port, f"/files/{json.loads(body)['id']}", alice.token)
    assert status == 302
    with urllib.request.urlopen(headers["location"], timeout=30) as answer:
        assert answer.headers["X-Injected"] is None
        disposition = answer.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition, disposition
    assert disposition.startswith('attachment; filename="a_X-Injected: 1;__.pdf"'), disposition
    assert "filename*=UTF-8''a%22X-Injected%3A%201%3B%C3%A9.pdf" in disposition, disposition
    # HEAD is answered by the node, from the record.
    status, headers, _ = download(srv.port, f"/files/{file_id}", alice.token, method="HEAD")
    assert status == 200 and headers["content-length"] == str(len(data))


def send_part_then_stop(port: int, token: str, total: int, sent: int) -> socket.socket:
    """An upload whose client sends `sent` of `total` bytes and then stays silent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall((f"POST /api/uploads?name=cut.bin HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {total}\r\n\r\n").encode())
    data = _pattern(sent, seed=5)
    for at in range(0, sent, MiB):
        sock.sendall(data[at:at + MiB])
    return sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout=20.0, what="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_upload_cut_by_its_client_aborts_its_multipart_upload(server_factory, s3,
                                                                 bucket):
    srv = server_factory(*s3_args(s3, bucket), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    sock = send_part_then_stop(srv.port, alice.token, 20 * MiB, 12 * MiB)
    # Parts went on while it streamed.
    wait_for(lambda: open_multipart(s3, bucket), what="a multipart upload under way")
    sock.close()
    wait_for(lambda: open_multipart(s3, bucket) == [], what="the multipart upload aborted")
    assert objects(s3, bucket) == {}


def test_a_store_outage_answers_503_and_recovers(server_factory, s3, bucket):
    srv = server_factory(*s3_args(s3, bucket, "--s3-timeout", "5"), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    data = _pattern(100_000, seed=6)
    s3.outage()
    try:
        status, headers, body = upload_raw(srv.port, alice.token, data, len(data))
        assert status == 503, body
        assert b"object store" in body
        # Mid-upload: the parts cannot go on.
        big = _pattern(12 * MiB, seed=7)
        status, _, body = upload_raw(srv.port, alice.token, big, len(big))
        assert status == 503, body
    finally:
        s3.restore()
    status, _, body = upload_raw(srv.port, alice.token, data, len(data))
    assert status == 201, body
    assert objects(s3, bucket) == {content_key(data): len(data)}


def test_the_sweeper_deletes_the_objects_no_upload_names(server_factory, s3, bucket):
    srv = server_factory(*s3_args(s3, bucket, "--upload-orphan-ttl", "1"), env=s3_env(s3))
    alice = Api(srv.port).new_user("alice")
    data = _pattern(50_000, seed=8)
    status, _, body = upload_raw(srv.port, alice.token, data, len(data))
    assert status == 201, body
    assert objects(s3, bucket) == {content_key(data): len(data)}
    # Past the ttl and its margin (min(ttl, 60 s)), the next pass (every second) takes it.
    wait_for(lambda: objects(s3, bucket) == {}, timeout=20, what="the orphan's object deleted")
    assert objects(s3, bucket, "files/swept/") == {}


def test_a_wrong_secret_stops_the_server_at_start(ringcast_bin, tmp_path, s3, bucket):
    result = subprocess.run(
        [ringcast_bin, "--port", str(free_port()), "--data-dir", str(tmp_path / "data"),
         *s3_args(s3, bucket)[len(chat_args(max_upload_bytes=60 * MiB)):]],
        env={**os.environ, **s3_env(s3, secret="x" * 40)}, capture_output=True, text=True,
        timeout=60)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr + result.stdout, result.stderr


def test_migrate_files_moves_a_folder_into_the_bucket_resumably(server_factory, ringcast_bin, s3,
                                                                 bucket):
    # Files uploaded while the server kept them on disk...
    srv = server_factory(*chat_args(max_upload_bytes=60 * MiB))
    alice = Api(srv.port).new_user("alice")
    files = {}
    for size, seed in ((1000, 11), (PART + 2 * MiB, 12)):  # One part, and two.
        data = _pattern(size, seed=seed)
        status, _, body = upload_raw(srv.port, alice.token, data, len(data))
        assert status == 201, body
        files[json.loads(body)["id"]] = data
    srv.stop()
    files_dir = srv.data_dir / "files"
    # ...and one whose bytes are not its name (a disk fault): reported, not copied.
    bad = files_dir / "ff" / ("0" * 62)
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(b"not these bytes")

    def migrate():
        result = subprocess.run(
            [ringcast_bin, "--data-dir", str(srv.data_dir), *s3_args(s3, bucket)[
                len(chat_args(max_upload_bytes=60 * MiB)):], "--migrate-files"],
            env={**os.environ, **s3_env(s3)}, capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout + result.stderr

    rc, log = migrate()
    assert rc == 1, log
    assert "not its name: not copied" in log and "3 files, 2 copied" in log, log
    assert objects(s3, bucket) == {content_key(d): len(d) for d in files.values()}
    bad.unlink()
    rc, log = migrate()  # Run again: what is there is not sent twice.
    assert rc == 0 and "2 files, 0 copied (0 bytes), 2 there already, 0 failed" in log, log

    # The same node now serves them from the bucket, the folder gone.
    shutil.rmtree(files_dir)
    srv.extra_args += s3_args(s3, bucket)[len(chat_args(max_upload_bytes=60 * MiB)):]
    srv.env_extra.update(s3_env(s3))
    srv.start()
    for file_id, data in files.items():
        status, _, got = download(srv.port, f"/files/{file_id}", alice.token)
        assert status == 200 and got == data, (status, len(got))


def rgw_requests(s3, pattern: str) -> list[str]:
    """radosgw's access log lines (beast, debug_rgw 1: `"METHOD /bucket/key HTTP/1.1" status`)
    whose request matches `pattern`."""
    log = s3.directory / "log" / "client.rgw.log"
    request = re.compile(r'"([A-Z]+ \S+) HTTP/1\.1"')
    found = []
    with open(log, errors="replace") as lines:
        for line in lines:
            match = request.search(line)
            if match and re.fullmatch(pattern, match.group(1)):
                found.append(match.group(1))
    return found


@pytest.mark.needs_pg
@pytest.mark.needs_redis
def test_cluster_nodes_with_their_own_files_dir_share_one_bucket(cluster_factory, s3, bucket,
                                                                  tmp_path, monkeypatch):
    """Node 1 and node 2, each with a --files-dir of its own and the same --files-url: an image
    uploaded on one node and attached to a message is read, with its thumbnail, by the other
    member through the other node, both ways; neither node keeps a file on its disk; the
    message's deletion takes its image and thumbnail from the bucket, each set aside once (the
    released hashes are taken by one node's sweeper, storage/pg_upload_store.cc)."""
    for name, value in s3_env(s3).items():
        monkeypatch.setenv(name, value)  # The nodes inherit the runner's environment.
    files_dirs = [tmp_path / "n1-files", tmp_path / "n2-files"]
    # --upload-orphan-ttl 4: a sweeper pass every second (clamp(ttl / 4, 1 s, 60 s)), and four
    # seconds to attach an upload.
    bucket_args = s3_args(s3, bucket)[len(chat_args(max_upload_bytes=60 * MiB)):]
    cluster = cluster_factory(2, flags={"upload_orphan_ttl": 4},
                              node_args=lambda i: ["--files-dir", files_dirs[i], *bucket_args])
    a, b = cluster.api(0).new_users(2, "s3x")
    conv = cluster.api(1).direct(a, b)
    images = {0: make_png(900, 600), 1: make_png(640, 800)}
    sender = {0: a, 1: b}

    def upload_on(node: int) -> dict:
        png = images[node]
        status, _, body = upload_raw(cluster.port(node), sender[node].token, png, len(png),
                                     name=f"n{node + 1}.png", content_type="image/png")
        assert status == 201, body
        return json.loads(body)

    async def send_each_from_its_node():
        conns = [await ChatConn.connect(cluster.port(0), a.token, name="a@n1"),
                 await ChatConn.connect(cluster.port(1), b.token, name="b@n2")]
        try:
            sent = {}
            for node in (0, 1):
                record = upload_on(node)
                reader = conns[1 - node]
                start = reader.mark()
                await conns[node].send_json({"type": "send", "conv": conv, "cid": f"c{node}",
                                             "body": "look", "attachments": [record["id"]]})
                ack = await conns[node].wait_for(lambda e, n=node: e.get("cid") == f"c{n}",
                                                 TIMEOUT, "the ack")
                assert ack["type"] == "ack", ack
                msg = await reader.wait_type("message", start=start, conv=conv)
                assert [f["id"] for f in msg["attachments"]] == [record["id"]], msg
                sent[node] = (record, ack["seq"])
            return sent
        finally:
            for conn in conns:
                await conn.ws.close()

    sent = run_async(send_each_from_its_node(), 60)
    expected = {}
    for node, (record, _) in sent.items():
        other = 1 - node
        reader = sender[other]
        status, headers, got = download(cluster.port(other), record["url"], reader.token)
        assert status == 200 and got == images[node], (node, status, len(got))
        assert headers["etag"] == f'"{hashlib.sha256(images[node]).hexdigest()}"'
        status, headers, thumb = download(cluster.port(other), record["thumb_url"], reader.token)
        assert status == 200 and headers["content-type"] == "image/jpeg", (node, status)
        expected[content_key(images[node])] = len(images[node])
        expected[content_key(thumb)] = len(thumb)
    assert objects(s3, bucket) == expected
    assert open_multipart(s3, bucket) == []
    # Each node's own disk holds no file, only its (empty) temporary folder.
    for files_dir in files_dirs:
        kept = [os.path.join(d, n) for d, _, names in os.walk(files_dir) for n in names]
        assert kept == [], kept

    # b deletes its message (on node 2): its image and thumbnail leave the bucket; a's stay.
    deleted, seq = sent[1]
    status, _, thumb = download(cluster.port(0), deleted["thumb_url"], a.token)
    assert status == 200
    gone = {hashlib.sha256(images[1]).hexdigest(), hashlib.sha256(thumb).hexdigest()}

    async def delete():
        conn = await ChatConn.connect(cluster.port(1), b.token, name="b@n2")
        try:
            await conn.send_json({"type": "delete", "conv": conv, "seq": seq, "cid": "d"})
            ack = await conn.wait_for(lambda e: e.get("cid") == "d", TIMEOUT, "the delete's ack")
            assert ack["type"] == "ack", ack
        finally:
            await conn.ws.close()

    run_async(delete(), 30)
    kept = {key: size for key, size in expected.items()
            if key.replace("/", "") not in gone}
    assert len(kept) == 2
    wait_for(lambda: objects(s3, bucket) == kept, timeout=30,
             what="the deleted file's objects swept")
    for node in (0, 1):
        assert download(cluster.port(node), deleted["url"], a.token)[0] == 404
        assert download(cluster.port(node), deleted["thumb_url"], a.token)[0] == 404
        status, _, got = download(cluster.port(node), sent[0][0]["url"], b.token)
        assert status == 200 and got == images[0]
    # Once: each hash was copied aside (the sweep's first step) by one node, one time, and no
    # copy stays. A few more passes of both sweepers change nothing.
    time.sleep(2.5)
    assert objects(s3, bucket) == kept
    assert objects(s3, bucket, "files/swept/") == {}
    for digest in gone:
        aside = wait_for(
            lambda d=digest: rgw_requests(s3, rf"PUT /{bucket}/files/swept/[A-Za-z0-9._-]+/{d}"),
            what="radosgw's log of the copy aside")
        assert len(aside) == 1, aside


def test_files_past_one_copy_are_refused_at_start(ringcast_bin, tmp_path, s3, bucket):
    result = subprocess.run(
        [ringcast_bin, "--port", str(free_port()), "--data-dir", str(tmp_path / "data"),
         "--max-upload-bytes", str(6 << 30), "--files-url", f"s3://{bucket}"],
        env={**os.environ, **s3_env(s3)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--max-upload-bytes must not be above 5368709120" in result.stderr, result.stderr
