#!/usr/bin/env python3
"""Uploads and downloads (chat/api/upload_api.h, docs/architecture.md "Streamed bodies"):

1. Chat send latency on the shard that receives an upload: one server with --threads 1, one
   WebSocket client sending a message and waiting for its ack, back to back, for --seconds;
   alternately alone and while another client uploads 100 MiB as fast as loopback lets it.
   Reported: the ack latency's median, p99 and max per mode, and the upload's MB/s.
2. Download throughput: the same file (--download-mib, default 64) fetched from GET /files/{id}
   (read with IORING_OP_READ on the shard's ring, sent as it is read) and from the static files
   (--web-root: a worker preads the whole file into one buffer, then it is sent: the plain
   path), --rounds times each, interleaved. Reported: MB/s medians, and the server's peak RSS
   growth during each (the plain path holds the whole file per request).

    bench/uploads_bench.py [--binary build/release/core/ringcast] [--rounds 3] [--seconds 3]

Not a test: nothing is asserted. Writes bench/results/uploads.json.
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

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench" / "lib"))
import api_client  # noqa: E402
from throwaway import free_port  # noqa: E402

import websockets  # noqa: E402

MiB = 1 << 20


def request(port, method, path, body=None, token=None):
    return api_client.request(port, method, path, body, token, timeout=120)


def user(port, name):
    request(port, "POST", "/api/register", {"username": name, "password": "benchmark-password"})
    _, data = request(port, "POST", "/api/login", {"username": name, "password": "benchmark-password"})
    reply = json.loads(data)
    return reply["user_id"], reply["token"]


def upload(port, token, size, chunk=MiB):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.putrequest("POST", "/api/uploads?name=bench.bin")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    block = os.urandom(chunk)
    sent = 0
    start = time.monotonic()
    while sent < size:
        n = min(chunk, size - sent)
        conn.send(block[:n])
        sent += n
    r = conn.getresponse()
    body = r.read()
    elapsed = time.monotonic() - start
    conn.close()
    return r.status, json.loads(body), elapsed


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def ack_latencies(port, token, conv, seconds, stop_when=None):
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "build/release/core/ringcast"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--upload-mib", type=int, default=100)
    parser.add_argument("--download-mib", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        web = pathlib.Path(tmp) / "web"
        web.mkdir()
        port = free_port()
        server = subprocess.Popen(
            [args.binary, "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
             "--data-dir", str(pathlib.Path(tmp) / "data"), "--password-cost", "10",
             "--msg-rate", "1000000", "--login-rate-ip", "100000",
             "--register-rate-ip", "100000", "--web-root", str(web),
             "--max-static-bytes", str(args.download_mib * MiB + 1),
             "--max-upload-bytes", str(max(args.upload_mib, args.download_mib) * MiB),
             "--upload-quota-bytes", str(1 << 40), "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    if request(port, "GET", "/health")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            a_id, a_token = user(port, "bench_a")
            b_id, b_token = user(port, "bench_b")
            _, conv = request(port, "POST", "/api/conversations", {"members": [b_id], "group": False},
                              token=a_token)
            conv = json.loads(conv)["id"]

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
                status, _, elapsed = holder["r"]
                assert status == 201, status
                results["upload_mb_s"].append(round(args.upload_mib * MiB / elapsed / 1e6, 1))

            # Downloads: the same bytes through both paths.
            data = os.urandom(args.download_mib * MiB)
            (web / "big.bin").write_bytes(data)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            conn.request("POST", "/api/uploads?name=big.bin", body=data,
                         headers={"Authorization": f"Bearer {a_token}",
                                  "Content-Type": "application/octet-stream"})
            rec = json.loads(conn.getresponse().read())
            conn.close()
            digest = hashlib.sha256(data).hexdigest()
            paths = {"io_uring /files/{id}": (rec["url"], a_token), "plain static": ("/big.bin", None)}
            downloads = {name: {"mb_s": [], "rss_growth_mib": []} for name in paths}
            for _ in range(args.rounds):
                for name, (path, token) in paths.items():
                    before = rss_kib(server.pid)
                    peak = [before]
                    stop = threading.Event()

                    def watch():
                        while not stop.is_set():
                            peak[0] = max(peak[0], rss_kib(server.pid))
                            time.sleep(0.005)

                    w = threading.Thread(target=watch)
                    w.start()
                    t0 = time.monotonic()
                    status, body = request(port, "GET", path, token=token)
                    elapsed = time.monotonic() - t0
                    stop.set()
                    w.join()
                    assert status == 200 and hashlib.sha256(body).hexdigest() == digest, name
                    downloads[name]["mb_s"].append(round(len(body) / elapsed / 1e6, 1))
                    downloads[name]["rss_growth_mib"].append(round((peak[0] - before) / 1024, 1))
        finally:
            server.terminate()
            server.wait(20)

    report = {
        "binary": args.binary,
        "send_ack_latency": {"idle": summary(results["idle"]),
                             "during_upload": summary(results["during_upload"]),
                             "upload_mb_s": results["upload_mb_s"]},
        "download": {name: {"median_mb_s": statistics.median(v["mb_s"]), **v}
                     for name, v in downloads.items()},
    }
    out = ROOT / "bench/results/uploads.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
