#!/usr/bin/env python3
"""What scraping /metrics costs the hot path (docs/metrics.md): the chat-1k load (1,000 users,
100 groups of 10, open-loop sends) at a fixed rate, on a fresh server per run, alternately
without and with a scraper that GETs /metrics every --interval seconds (10 a second by default:
150 times Prometheus' usual 15 s). Runs alternate A/B so that drift of a noisy machine hits
both; the report is each figure's median per mode and the ratio with/without.

    bench/metrics_overhead.py [--rate 5000] [--rounds 3] [--interval 0.1] [--metrics-port]

With --metrics-port the scrapes go to a listener of its own (the text is rendered off the
shard); without, to the main port (rendered on the shard that finishes last).

Needs the release build (bench/run builds it: cmake --preset release && cmake --build --preset
release). Writes bench/results/metrics-overhead.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from throwaway import free_port  # noqa: E402

SERVER = ROOT / "build/release/core/ringcast"
TOOL = ROOT / "build/release/tools/ringcast-bench"
SERVER_ARGS = ["--password-cost", "10", "--login-rate-ip", "1000000", "--login-rate-user",
               "1000", "--register-rate-ip", "1000000", "--msg-rate", "1000000", "--threads", "1"]


class Scraper(threading.Thread):
    def __init__(self, port: int, interval: float):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.interval = interval
        self.stopping = threading.Event()
        self.scrapes = 0
        self.seconds: list[float] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            with urllib.request.urlopen(self.url, timeout=10) as response:
                response.read()
            self.seconds.append(time.monotonic() - started)
            self.scrapes += 1
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))


def one_run(rate: int, scrape_interval: float | None, seconds: float, own_port: bool) -> dict:
    port = free_port()
    metrics_port = free_port() if own_port else port
    extra = ["--metrics-port", str(metrics_port)] if own_port else ["--metrics-on-main-port"]
    with tempfile.TemporaryDirectory(prefix="rc-metrics-bench-") as data_dir:
        server = subprocess.Popen([str(SERVER), "--host", "127.0.0.1", "--port", str(port),
                                   "--data-dir", data_dir, *SERVER_ARGS, *extra],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not start")
                    time.sleep(0.05)
            scraper = Scraper(metrics_port, scrape_interval) if scrape_interval else None
            if scraper:
                scraper.start()
            report_path = pathlib.Path(data_dir) / "report.json"
            subprocess.run(["taskset", "-c", "1", str(TOOL), "chat", f"ws://127.0.0.1:{port}",
                            "--users", "1000", "--groups", "100", "--group-size", "10",
                            "--rates", str(rate), "-d", str(seconds), "-w", "1", "-q",
                            "--json", str(report_path)], check=True, stdout=subprocess.DEVNULL)
            if scraper:
                scraper.stopping.set()
                scraper.join()
            step = json.loads(report_path.read_text())["results"]["steps"][0]
        finally:
            server.terminate()
            server.wait(30)
    out = {"acks_per_s": step["acks_per_s"],
           "ack_p50_ms": step["ack_latency_ns"]["p50"] / 1e6,
           "ack_p99_ms": step["ack_latency_ns"]["p99"] / 1e6,
           "delivery_p99_ms": step["delivery_latency_ns"]["p99"] / 1e6}
    if scraper:
        out["scrapes"] = scraper.scrapes
        out["scrape_p50_ms"] = statistics.median(scraper.seconds) * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5000,
                        help="msgs/s (default 5000: well below one shard's ceiling here, so that "
                             "latency, not a queue, is measured)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B pairs (default 3)")
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per run")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between scrapes")
    parser.add_argument("--metrics-port", action="store_true",
                        help="scrape a --metrics-port listener instead of the main port")
    args = parser.parse_args()
    for binary in (SERVER, TOOL):
        if not binary.exists():
            sys.exit(f"{binary} is missing: cmake --preset release && "
                     "cmake --build --preset release")
    runs: dict[str, list[dict]] = {"without": [], "with": []}
    for round_ in range(args.rounds):
        for mode in ("without", "with"):
            result = one_run(args.rate, args.interval if mode == "with" else None, args.seconds,
                             args.metrics_port)
            runs[mode].append(result)
            print(f"round {round_ + 1} {mode:7} scraping: " +
                  ", ".join(f"{k} {v:.3f}" for k, v in result.items()), flush=True)
    where = "a --metrics-port listener" if args.metrics_port else "the main port"
    print(f"\nchat-1k at {args.rate} msgs/s, 1 shard, medians of {args.rounds} runs each; "
          f"scraping {where} every {args.interval} s")
    print(f"{'figure':18} {'without':>10} {'with':>10} {'with/without':>13}")
    summary = {}
    for key in ("acks_per_s", "ack_p50_ms", "ack_p99_ms", "delivery_p99_ms"):
        a = statistics.median(r[key] for r in runs["without"])
        b = statistics.median(r[key] for r in runs["with"])
        summary[key] = {"without": a, "with": b, "ratio": b / a if a else None}
        print(f"{key:18} {a:10.3f} {b:10.3f} {b / a if a else float('nan'):13.3f}")
    out = ROOT / "bench/results/metrics-overhead.json"
    out.write_text(json.dumps({"rate": args.rate, "interval_s": args.interval,
                               "metrics_port": args.metrics_port,
                               "runs": runs, "summary": summary}, indent=1) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
