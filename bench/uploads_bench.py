#!/usr/bin/env python3
"""Uploads and downloads (chat/api/upload_api.h, docs/architecture.md "Streamed bodies",
files/README.md):

1. Chat send latency on the shard that receives an upload (`ack`): one server with --threads 1,
   one WebSocket client sending a message and waiting for its ack, back to back, for --seconds;
   alternately alone and while another client uploads --upload-mib (100) MiB as fast as
   loopback lets it. Reported: the ack latency's median, p99 and max per mode, and the upload's
   MB/s.
2. Download throughput (`static`): the same file (--download-mib, default 64) fetched from
   GET /files/{id} (read with IORING_OP_READ on the shard's ring, sent as it is read) and from
   the static files (--web-root: a worker preads the whole file into one buffer, then it is
   sent: the plain path), --rounds times each, interleaved. Reported: MB/s medians, and the
   server's peak RSS growth during each (the plain path holds the whole file per request).
3. Where the files live (`backends`): each of --backends, disk (--files-dir, the default) and s3
   (--files-url s3://BUCKET on a throwaway radosgw: tools/s3_server.py, or the one of
   `tools/s3tmp run` when S3TMP_DIR is set), measured the same way in the same run, rounds
   interleaved (the order flips each round) so that noise hits both:
   - upload throughput: K (--concurrency, 1 and 8) uploads of a --backend-mib (64) MiB file at
     once, each of different bytes (no dedup), MB/s over all (K files / the time until the last
     201);
   - memory per upload: the server's RSS growth while those K run (peak RSS, from VmHWM reset
     before by /proc/PID/clear_refs and from VmRSS sampled every 5 ms, minus VmRSS before), over
     K;
   - download throughput of one of those files: GET /files/{id} read as a stream (1 MiB reads,
     nothing kept), and for s3 also with --files-serve redirect, the client following the 302
     to the store's presigned URL.
   Each (round, backend, K) has a fresh server, data directory and bucket (emptied and deleted
   after: radosgw's memstore keeps objects in RAM at about twice their size). Reported: the
   medians per backend and their ratios s3 / disk.

    /usr/bin/python3 bench/uploads_bench.py [--binary build/release/core/ringcast] [--rounds 3]
        [--seconds 3] [--measure ack,static,backends] [--backends disk,s3]
    tools/s3tmp run -- /usr/bin/python3 bench/uploads_bench.py --measure backends

/usr/bin/python3: the s3 backend needs Debian's python3-boto3, the ack latency websockets. Not a
test: nothing is asserted. Writes bench/results/uploads.json (--out).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench" / "lib"))
import api_client  # noqa: E402
from throwaway import free_port  # noqa: E402

MiB = 1 << 20
PASSWORD = "benchmark-password"


def request(port, method, path, body=None, token=None):
    return api_client.request(port, method, path, body, token, timeout=120)


def login(port, name):
    _, data = request(port, "POST", "/api/login", {"username": name, "password": PASSWORD})
    reply = json.loads(data)
    return reply["user_id"], reply["token"]


def user(port, name):
    request(port, "POST", "/api/register", {"username": name, "password": PASSWORD})
    return login(port, name)


def upload_block(chunk=MiB):
    """A random block: an upload is this block repeated, so that its bytes differ from every
    other upload's (the content address: no dedup) without the client drawing them all."""
    return os.urandom(chunk)


def upload(port, token, size, chunk=MiB, block=None, barrier=None):
    """POST /api/uploads of `size` bytes; (status, reply, seconds, monotonic end). The headers
    go before `barrier` (so that K uploads start their bodies together), the clock starts after
    it."""
    block = block or upload_block(chunk)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.putrequest("POST", "/api/uploads?name=bench.bin")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    if barrier is not None:
        barrier.wait()
    sent = 0
    start = time.monotonic()
    while sent < size:
        n = min(len(block), size - sent)
        conn.send(block[:n])
        sent += n
    r = conn.getresponse()
    body = r.read()
    end = time.monotonic()
    conn.close()
    return r.status, json.loads(body), end - start, end


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return proc_status_kib(pid, "VmRSS")


class RssWatch:
    """The peak growth of a process's RSS over a `with` block: VmHWM (reset to the current RSS
    at the start, where the kernel lets us: clear_refs 5) and VmRSS sampled every 5 ms, whichever
    saw more; a short spike between samples is seen by the first."""

    def __init__(self, pid):
        self.pid = pid
        self.growth_kib = 0

    def __enter__(self):
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.before = rss_kib(self.pid)
        self.peak = self.before
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        if self.hwm_reset:
            self.peak = max(self.peak, proc_status_kib(self.pid, "VmHWM"))
        self.growth_kib = self.peak - self.before

    @property
    def growth_mib(self):
        return self.growth_kib / 1024


async def ack_latencies(port, token, conv, seconds, stop_when=None):
    import websockets

    lat = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token}",
                                  max_size=None) as ws:
        await ws.recv()  # hello
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline and not (stop_when and stop_when.is_set()):
            i += 1
            cid = f"c{i}"
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "send", "conv": conv, "cid": cid, "body": "x"}))
            while True:
                ev = json.loads(await ws.recv())
                if ev.get("type") == "ack" and ev.get("cid") == cid:
                    break
            lat.append((time.perf_counter() - t0) * 1000)
    return lat


def summary(values):
    values = sorted(values)
    if not values:
        return {}
    return {"n": len(values), "median_ms": round(statistics.median(values), 3),
            "p99_ms": round(values[int(len(values) * 0.99) - 1 if len(values) > 1 else 0], 3),
            "max_ms": round(values[-1], 3)}


class Server:
    """One ringcast process with the bench's settings (--threads 1, limits out of the way), its
    stderr in DATA_DIR/../NAME.log, shown when it does not come up."""

    def __init__(self, binary, data_dir, max_upload_bytes, extra=(), env=None, threads=1):
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--host", "127.0.0.1", "--port", str(self.port), "--threads",
                 str(threads), "--data-dir", str(self.data_dir), "--password-cost", "10",
                 "--msg-rate", "1000000", "--login-rate-ip", "100000",
                 "--register-rate-ip", "100000", "--max-upload-bytes", str(max_upload_bytes),
                 "--upload-quota-bytes", str(1 << 40), "--log-level", "warn", *extra],
                stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, **(env or {})))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not come up: {' '.join(extra)}\n"
                           f"{self.log_path.read_text(errors='replace')[-3000:]}")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def measure_ack_latency(args, port, a_token, b_token, conv):
    results = {"idle": [], "during_upload": [], "upload_mb_s": []}
    for _ in range(args.rounds):
        results["idle"] += asyncio.run(ack_latencies(port, a_token, conv, args.seconds))
        done = threading.Event()
        holder = {}

        def run_upload():
            holder["r"] = upload(port, b_token, args.upload_mib * MiB)
            done.set()

        t = threading.Thread(target=run_upload)
        t.start()
        time.sleep(0.05)
        results["during_upload"] += asyncio.run(
            ack_latencies(port, a_token, conv, 60, stop_when=done))
        t.join()
        status, _, elapsed, _ = holder["r"]
        assert status == 201, status
        results["upload_mb_s"].append(round(args.upload_mib * MiB / elapsed / 1e6, 1))
    return {"idle": summary(results["idle"]),
            "during_upload": summary(results["during_upload"]),
            "upload_mb_s": results["upload_mb_s"]}


def measure_static_downloads(args, server, web, token):
    """The same bytes through GET /files/{id} and through the static files."""
    port = server.port
    data = os.urandom(args.download_mib * MiB)
    (web / "big.bin").write_bytes(data)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("POST", "/api/uploads?name=big.bin", body=data,
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/octet-stream"})
    rec = json.loads(conn.getresponse().read())
    conn.close()
    digest = hashlib.sha256(data).hexdigest()
    paths = {"io_uring /files/{id}": (rec["url"], token), "plain static": ("/big.bin", None)}
    downloads = {name: {"mb_s": [], "rss_growth_mib": []} for name in paths}
    for _ in range(args.rounds):
        for name, (path, path_token) in paths.items():
            with RssWatch(server.pid) as watch:
                t0 = time.monotonic()
                status, body = request(port, "GET", path, token=path_token)
                elapsed = time.monotonic() - t0
            assert status == 200 and hashlib.sha256(body).hexdigest() == digest, name
            downloads[name]["mb_s"].append(round(len(body) / elapsed / 1e6, 1))
            downloads[name]["rss_growth_mib"].append(round(watch.growth_mib, 1))
    return {name: {"median_mb_s": statistics.median(v["mb_s"]), **v}
            for name, v in downloads.items()}


# -- backends ---------------------------------------------------------------------------------


class S3Backend:
    """The throwaway S3 server: `tools/s3tmp run`'s (S3TMP_DIR) or one of our own, stopped at
    the end. One bucket per server run, emptied and deleted after it."""

    def __init__(self):
        import s3_server

        if os.environ.get("S3TMP_DIR"):
            self.server = s3_server.S3Server.attach(os.environ["S3TMP_DIR"])
            self.owned = False
        else:
            self.server = s3_server.S3Server.start()
            self.owned = True
        # Deleting a bucket of 8 x 64 MiB multipart objects can keep radosgw busy past
        # botocore's 60 s read timeout on a loaded machine.
        self.client = self.server.client(read_timeout=600)

    def close(self):
        if self.owned:
            self.server.stop()

    def new_bucket(self):
        name = "bench-" + uuid.uuid4().hex[:16]
        self.client.create_bucket(Bucket=name)  # With the long read timeout (above).
        return name

    def drop_bucket(self, name):
        """Everything in `name` deleted and the bucket too (memstore frees the RAM once radosgw's
        garbage collector has run, rgw_gc_obj_min_wait: 30 s)."""
        for up in self.client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            self.client.abort_multipart_upload(Bucket=name, Key=up["Key"],
                                               UploadId=up["UploadId"])
        while True:
            listing = self.client.list_objects_v2(Bucket=name)
            keys = [{"Key": o["Key"]} for o in listing.get("Contents", [])]
            if not keys:
                break
            self.client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        self.client.delete_bucket(Bucket=name)

    def server_args(self, bucket, serve, part_bytes):
        extra = ["--files-url", f"s3://{bucket}/files", "--s3-endpoint", self.server.endpoint,
                 "--s3-region", self.server.region, "--files-serve", serve]
        if part_bytes:
            extra += ["--s3-part-bytes", str(part_bytes)]
        return extra, {"AWS_ACCESS_KEY_ID": self.server.access_key,
                       "AWS_SECRET_ACCESS_KEY": self.server.secret_key}

    def osd_rss_mib(self):
        pid = self.server.pids.get("osd")
        try:
            return round(rss_kib(pid) / 1024, 1) if pid else None
        except OSError:
            return None


def concurrent_uploads(server, token, k, size):
    """K uploads at once, each of its own bytes; (MB/s over all, RSS growth per upload in MiB,
    the replies, the blocks they were made of)."""
    blocks = [upload_block() for _ in range(k)]
    barrier = threading.Barrier(k + 1)
    replies = [None] * k

    def run(i):
        try:
            replies[i] = upload(server.port, token, size, block=blocks[i], barrier=barrier)
        except Exception as e:  # noqa: BLE001 (reported below, with the others)
            barrier.abort()
            replies[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(k)]
    with RssWatch(server.pid) as watch:
        for t in threads:
            t.start()
        barrier.wait(timeout=120)
        start = time.monotonic()
        for t in threads:
            t.join()
    for r in replies:
        if isinstance(r, Exception) or r[0] != 201:
            raise RuntimeError(f"an upload failed: {r!r}\n"
                               f"{server.log_path.read_text(errors='replace')[-3000:]}")
    elapsed = max(r[3] for r in replies) - start
    return k * size / elapsed / 1e6, watch.growth_mib / k, [r[1] for r in replies], blocks


def stream_download(server, path, token, first_chunk, size, follow_redirect=False):
    """GET `path` read in 1 MiB pieces, none kept; checks the length and the first piece (the
    file's identity: each upload's block differs). (MB/s, whether it was redirected)."""
    buf = bytearray(MiB)
    view = memoryview(buf)
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    redirected = False
    if r.status == 302 and follow_redirect:
        # A presigned URL carries its own signature: no Authorization header with it.
        location = urllib.parse.urlsplit(r.getheader("Location"))
        r.read()
        conn.close()
        conn = http.client.HTTPConnection(location.hostname, location.port or 80, timeout=300)
        conn.request("GET", location.path + ("?" + location.query if location.query else ""))
        r = conn.getresponse()
        redirected = True
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {r.read()[:500]!r}")
    got = 0
    head = b""
    while True:
        n = r.readinto(view)
        if n == 0:
            break
        if len(head) < len(first_chunk):
            head += bytes(view[:min(n, len(first_chunk) - len(head))])
        got += n
    elapsed = time.monotonic() - t0
    conn.close()
    if got != size or head != first_chunk:
        raise RuntimeError(f"GET {path}: {got} bytes, not {size}, or other bytes")
    return got / elapsed / 1e6, redirected


def median_or_none(values):
    return round(statistics.median(values), 2) if values else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def measure_backends(args, tmp, s3):
    size = args.backend_mib * MiB
    max_upload = size
    results = {b: {"upload": {str(k): {"mb_s": [], "rss_per_upload_mib": []}
                              for k in args.concurrency},
                   "download": {serve: {"mb_s": [], "rss_growth_mib": []}
                                for serve in (["stream", "redirect"] if b == "s3"
                                              else ["stream"])}}
               for b in args.backends}
    osd_rss = []
    runs = 0

    def start(backend, bucket, serve="stream", data_dir=None):
        nonlocal runs
        runs += 1
        data_dir = data_dir or pathlib.Path(tmp) / f"{backend}-{runs}"
        if backend == "disk":
            return Server(args.binary, data_dir, max_upload, threads=args.threads)
        extra, env = s3.server_args(bucket, serve, args.s3_part_bytes)
        return Server(args.binary, data_dir, max_upload, extra, env, threads=args.threads)

    for rnd in range(args.rounds):
        order = args.backends if rnd % 2 == 0 else args.backends[::-1]
        for backend in order:
            for i, k in enumerate(args.concurrency):
                last = i == len(args.concurrency) - 1
                bucket = s3.new_bucket() if backend == "s3" else None
                server = None
                try:
                    server = start(backend, bucket)
                    _, token = user(server.port, "bench")
                    mb_s, rss_mib, replies, blocks = concurrent_uploads(server, token, k, size)
                    entry = results[backend]["upload"][str(k)]
                    entry["mb_s"].append(round(mb_s, 1))
                    entry["rss_per_upload_mib"].append(round(rss_mib, 2))
                    print(f"round {rnd + 1} {backend} upload x{k}: {mb_s:.1f} MB/s, "
                          f"{rss_mib:.2f} MiB RSS per upload", flush=True)
                    if last:  # Downloads of one of the files just uploaded.
                        url = replies[0]["url"]
                        serves = ["stream"] + (["redirect"] if backend == "s3" else [])
                        for serve in serves:
                            if serve == "redirect":
                                # The same records and bucket, served by redirect instead.
                                data_dir = server.data_dir
                                server.stop()
                                server = start(backend, bucket, "redirect", data_dir)
                                _, token = login(server.port, "bench")
                            with RssWatch(server.pid) as watch:
                                dl_mb_s, redirected = stream_download(
                                    server, url, token, blocks[0], size,
                                    follow_redirect=serve == "redirect")
                            assert redirected == (serve == "redirect"), (serve, redirected)
                            entry = results[backend]["download"][serve]
                            entry["mb_s"].append(round(dl_mb_s, 1))
                            entry["rss_growth_mib"].append(round(watch.growth_mib, 1))
                            print(f"round {rnd + 1} {backend} download ({serve}): "
                                  f"{dl_mb_s:.1f} MB/s", flush=True)
                finally:
                    if server:
                        server.stop()
                    if bucket:
                        osd_rss.append(s3.osd_rss_mib())
                        s3.drop_bucket(bucket)

    report = {"file_mib": args.backend_mib, "concurrency": args.concurrency,
              "rounds": args.rounds, "threads": args.threads,
              "s3_part_bytes": args.s3_part_bytes or "server default"}
    for backend, r in results.items():
        for k, v in r["upload"].items():
            v["median_mb_s"] = median_or_none(v["mb_s"])
            v["median_rss_per_upload_mib"] = median_or_none(v["rss_per_upload_mib"])
        for v in r["download"].values():
            v["median_mb_s"] = median_or_none(v["mb_s"])
            v["median_rss_growth_mib"] = median_or_none(v["rss_growth_mib"])
        report[backend] = r
    if osd_rss:
        report["s3_osd_rss_mib_before_each_bucket_drop"] = osd_rss
    if "disk" in results and "s3" in results:
        disk, s3r = results["disk"], results["s3"]
        report["s3_over_disk"] = {
            "upload_mb_s": {k: ratio(s3r["upload"][k]["median_mb_s"], v["median_mb_s"])
                            for k, v in disk["upload"].items()},
            "rss_per_upload": {k: ratio(s3r["upload"][k]["median_rss_per_upload_mib"],
                                        v["median_rss_per_upload_mib"])
                               for k, v in disk["upload"].items()},
            "download_mb_s": {serve: ratio(v["median_mb_s"],
                                           disk["download"]["stream"]["median_mb_s"])
                              for serve, v in s3r["download"].items()},
        }
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "build/release/core/ringcast"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--upload-mib", type=int, default=100)
    parser.add_argument("--download-mib", type=int, default=64)
    parser.add_argument("--measure", default="ack,static,backends",
                        help="which of ack, static, backends (comma-separated)")
    parser.add_argument("--backends", default="disk,s3",
                        help="where the files live in `backends`: disk, s3 (comma-separated)")
    parser.add_argument("--backend-mib", type=int, default=64,
                        help="the size of each file in `backends`")
    parser.add_argument("--concurrency", default="1,8",
                        help="how many uploads at once in `backends` (comma-separated)")
    parser.add_argument("--threads", type=int, default=1, help="the servers' --threads")
    parser.add_argument("--s3-part-bytes", type=int, default=0,
                        help="the s3 servers' --s3-part-bytes (0: theirs, 8 MiB)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/uploads.json"))
    args = parser.parse_args()
    measures = set(filter(None, args.measure.split(",")))
    if measures - {"ack", "static", "backends"}:
        parser.error(f"--measure: unknown {sorted(measures - {'ack', 'static', 'backends'})}")
    args.backends = list(filter(None, args.backends.split(",")))
    if set(args.backends) - {"disk", "s3"}:
        parser.error("--backends: disk and s3 only")
    args.concurrency = [int(k) for k in args.concurrency.split(",")]
    # memstore holds what a bucket stores in RAM (about 2.2 times), until the bucket is dropped
    # and radosgw's garbage collector has run: one server run's files stay well under 1 GiB.
    if "backends" in measures and "s3" in args.backends \
            and max(args.concurrency) * args.backend_mib > 768:
        parser.error("--concurrency x --backend-mib over 768 MiB: radosgw's memstore keeps "
                     "objects in RAM")

    report = {"binary": args.binary}
    with tempfile.TemporaryDirectory() as tmp:
        if measures & {"ack", "static"}:
            web = pathlib.Path(tmp) / "web"
            web.mkdir()
            server = Server(args.binary, pathlib.Path(tmp) / "data",
                            max(args.upload_mib, args.download_mib) * MiB,
                            ["--web-root", str(web),
                             "--max-static-bytes", str(args.download_mib * MiB + 1)])
            try:
                a_id, a_token = user(server.port, "bench_a")
                b_id, b_token = user(server.port, "bench_b")
                _, conv = request(server.port, "POST", "/api/conversations",
                                  {"members": [b_id], "group": False}, token=a_token)
                conv = json.loads(conv)["id"]
                if "ack" in measures:
                    report["send_ack_latency"] = measure_ack_latency(args, server.port, a_token,
                                                                     b_token, conv)
                if "static" in measures:
                    report["download"] = measure_static_downloads(args, server, web, a_token)
            finally:
                server.stop()
        if "backends" in measures:
            s3 = S3Backend() if "s3" in args.backends else None
            try:
                report["backends"] = measure_backends(args, tmp, s3)
            finally:
                if s3:
                    s3.close()

    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
