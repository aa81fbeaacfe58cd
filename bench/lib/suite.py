"""bench/run: the benchmark suite. See bench/README.md.

Builds the release preset, then for every case of the plan (bench/lib/plan.py) and every target
(ours on one shard, ours on two shards, each --peer) starts a fresh server pinned with taskset,
runs ringcast-bench pinned with --json and --server-pid, and keeps the tool's report. Which CPUs
each gets is the CPU layout (layout.py: CPU 0 and CPU 1 on two CPUs, sets sized from the core
count on more), printed first and kept in the results.
Writes bench/results/<date>-<host>[-quick][-<peers>][-<only cases>].json with every figure, every tool report
and the machine, PNG plots beside it, and prints the table: scenario, ours, peer, ratio.
chat-1k-pg runs on a throwaway PostgreSQL cluster (bench/lib/pg.py) started once per suite run,
with PostgreSQL's own ingest ceiling (ringcast-pg-ingest) measured after each of its runs.
chat-3node runs its own nodes (bench/lib/cluster.py): 1 node against 3 in cluster mode on the
same cluster, each run with a fresh redis-server.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import pathlib
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import cluster
import layout
import machine
import pg
import placement
import plan
from servers import BENCH_CONNS_PER_IP, Server, Target, free_port, wait_tool

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "release"
SERVER_BIN = BUILD / "core" / "ringcast"
TOOL_BIN = BUILD / "tools" / "ringcast-bench"
MICRO_BIN = BUILD / "bench" / "ringcast_micro"
PG_INGEST_BIN = BUILD / "bench" / "ringcast-pg-ingest"
NODE_PEER = REPO / "bench" / "peers" / "node-ws"
# Where the server under test and the load tool run: set from the CPU layout (layout.py) in
# main(); these are the two-CPU layout's.
SERVER_CPU = "0"
TOOL_CPU = "1"
TOOL_THREADS = 1
TOOL_FIRST_CPU = "1"  # The tool's first CPU: the placement probe's and the micro-benchmarks'.
LAYOUT: layout.Layout | None = None
TOOL_TIMEOUT_S = 300


def log(msg: str) -> None:
    print(msg, flush=True)


# -- targets ---------------------------------------------------------------------------------


def our_targets(shards2: bool, server_bin: pathlib.Path = SERVER_BIN,
                shards_n: int = 0) -> list[Target]:
    # The unauthenticated routes the cases drive (/echo, /raw/), and every connection of the
    # load tool from one address (idle38k holds 19,000 per source address).
    base = (f"{shlex.quote(str(server_bin))} --host 127.0.0.1 --port {{port}} --raw-channels "
            f"--echo --max-conns-per-ip {BENCH_CONNS_PER_IP}")
    targets = [Target("ours", f"{base} --threads 1 --no-pin-threads", SERVER_CPU, 1, "ours",
                      note=f"ringcast, 1 shard, pinned to CPU {SERVER_CPU}; load tool on CPU "
                           f"{TOOL_CPU}")]
    many = LAYOUT is not None and LAYOUT.policy != "two-cpu"
    if shards2 and not many:
        targets.append(Target(
            "ours-2shards", f"{base} --threads 2 --pin-threads", "0,1", 2, "ours",
            note="ringcast, 2 shards pinned to CPUs 0 and 1; the load tool shares CPU 1 with "
                 "shard 1, so these figures are not comparable one to one"))
    elif shards2:
        # ringcast's --pin-threads pins shard i to CPU i, wherever its set lies: the kernel
        # places the shards inside the set instead.
        cpus = LAYOUT.first_cores("server", 2)
        targets.append(Target(
            "ours-2shards", f"{base} --threads 2 --no-pin-threads", cpus, 2, "ours",
            note=f"ringcast, 2 shards on CPUs {cpus} (the server's first two cores); load tool "
                 f"on CPUs {TOOL_CPU}"))
    if shards_n > 2 and many:
        cpus = LAYOUT.first_cores("server", shards_n)
        targets.append(Target(
            f"ours-{shards_n}shards", f"{base} --threads {shards_n} --no-pin-threads", cpus,
            shards_n, "ours",
            note=f"ringcast, {shards_n} shards on CPUs {cpus}; load tool on CPUs {TOOL_CPU}"))
    return targets


def apply_layout(single: layout.Layout) -> None:
    """The single-server cases' CPUs into the module's globals (targets, tool, probes)."""
    global SERVER_CPU, TOOL_CPU, TOOL_THREADS, TOOL_FIRST_CPU, LAYOUT
    LAYOUT = single
    SERVER_CPU = single.first("server")
    TOOL_CPU = single.cpus("tool") or TOOL_CPU
    TOOL_FIRST_CPU = single.first("tool")
    TOOL_THREADS = single.tool_threads()


def tool_thread_args() -> list[str]:
    """-t for the load tool: none in the two-CPU layout (one thread, as every figure so far)."""
    return ["-t", str(TOOL_THREADS)] if TOOL_THREADS > 1 else []


PEER_NAME = re.compile(r"^([a-z0-9][a-z0-9_.-]*)=(.+)$", re.S)


def peer_targets(specs: list[str], url_bases: list[str]) -> list[Target]:
    """--peer [NAME=]CMD: NAME is lowercase (so an environment assignment such as
    PORT={port} at the start of CMD is not taken for one); 'node' is the shipped Node ws peer.
    --peer-url-base NAME=URL overrides ws://127.0.0.1:{port} for that peer."""
    bases = {}
    for spec in url_bases:
        name, sep, url = spec.partition("=")
        if not sep:
            sys.exit(f"bench/run: --peer-url-base wants NAME=URL, got {spec!r}")
        bases[name] = url
    targets = []
    for spec in specs:
        match = PEER_NAME.match(spec)
        name, command = (match.group(1), match.group(2)) if match else ("", spec)
        if command.strip() == "node":
            command = f"node {shlex.quote(str(NODE_PEER / 'server.js'))} {{port}}"
            name = name or "node-ws"
        if "{port}" not in command:
            sys.exit(f"bench/run: a --peer command must contain {{port}}: {command!r}")
        program = next((w for w in shlex.split(command) if "=" not in w), "peer")
        name = name or re.sub(r"[^A-Za-z0-9_.-]", "-", pathlib.Path(program).name)
        if name in ("ours", "ours-2shards") or name in [t.name for t in targets]:
            sys.exit(f"bench/run: peer name {name!r} is taken; use --peer NAME=CMD")
        targets.append(Target(name, command, SERVER_CPU, 1, "peer",
                              url_base=bases.pop(name, "ws://127.0.0.1:{port}"),
                              note=f"peer, pinned to CPU {SERVER_CPU} (all its threads); load "
                                   f"tool on CPU {TOOL_CPU}"))
    if bases:
        sys.exit(f"bench/run: --peer-url-base for unknown peer(s) {sorted(bases)}")
    return targets


def ensure_node_peer() -> None:
    if (NODE_PEER / "node_modules" / "ws").is_dir():
        return
    log("== npm ci in bench/peers/node-ws")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_PEER, check=True)


# -- one run ---------------------------------------------------------------------------------

class RssSampler(threading.Thread):
    """Samples a server's RSS every 0.2 s (for idle38k, where two tool processes share it)."""

    def __init__(self, server: Server):
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            rss = self.server.rss_bytes()
            if rss is not None:
                self.samples.append(rss)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.samples, default=0)


class WalSampler(threading.Thread):
    """SQLite's WAL bytes and the acks, scraped from /metrics every 0.5 s during a chat run, for
    the WAL bytes per message at the ceiling: over the 2 s with the most acks."""

    WINDOW = 4  # Samples: 2 s.

    def __init__(self, server: Server):
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[tuple[float, float]] = []  # (WAL bytes written, acks)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                self.samples.append(
                    (scrape_sum(self.server.port, "ringcast_store_wal_written_bytes_total"),
                     scrape_sum(self.server.port, "ringcast_chat_acks_total")))
            except (OSError, ValueError):
                pass

    def stop(self) -> dict:
        self.done.set()
        self.join()
        best = None
        for i in range(len(self.samples) - self.WINDOW):
            (w0, a0), (w1, a1) = self.samples[i], self.samples[i + self.WINDOW]
            if a1 > a0 and (best is None or a1 - a0 > best[1]):
                best = (w1 - w0, a1 - a0)
        if best is None:
            return {}
        return {"ceiling_acks_per_s": best[1] / (self.WINDOW * 0.5),
                "ceiling_bytes_per_message": best[0] / best[1]}


def split_sources(processes: int) -> list[str]:
    per = 16 // processes
    return [f"127.0.0.{1 + i * per}-127.0.0.{(i + 1) * per}" for i in range(processes)]


def tls_pair(logs: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A self-signed P-256 certificate and key for the TLS cases, made once per run (the tool
    does not verify it)."""
    cert, key = logs / "tls-cert.pem", logs / "tls-key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    return cert, key


def run_case(case: plan.Case, target: Target, logs: pathlib.Path, repeat: int,
             tool_bin: pathlib.Path, pgsvc: pg.PgService, attempt: int = 0,
             watch_placement: bool = False) -> dict:
    stem = f"{case.name}.{target.name}.{repeat}" + (f".again{attempt}" if attempt else "")
    data_dir = logs / f"{stem}.data" if case.server_args or target.kind == "ours" else None
    database = None
    if any("{database_url}" in a for a in case.server_args):
        database = pgsvc.fresh_database(stem)
    extra = [a.replace("{data_dir}", str(data_dir))
             .replace("{database_url}", database[1] if database else "") for a in case.server_args]
    if case.server_args:  # ringcast's chat cases: wal_written() scrapes its main port.
        extra.append("--metrics-on-main-port")
    elif target.kind == "ours":
        # The raw cases open the chat store too: a fresh one, never the checkout's
        # ./ringcast-data, which a newer build may have migrated past an older one (--server-bin).
        extra += ["--data-dir", str(data_dir)]
    tls_port = 0
    if case.tls:
        cert, key = tls_pair(logs)
        tls_port = free_port()
        extra += ["--tls-port", str(tls_port), "--tls-cert", str(cert), "--tls-key", str(key)]
    server = Server(target, logs / f"{stem}.server.log", extra)
    record: dict = {"case": case.name, "scenario": case.scenario, "target": target.name,
                    "repeat": repeat, "ok": False}
    started = time.monotonic()

    def clean_up() -> None:
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
        if database is not None:
            pgsvc.drop_database(database[0])

    try:
        server.start()
    except RuntimeError as exc:
        record["error"] = str(exc)
        clean_up()
        return record
    # The database URL carries the cluster's password: the results show it without.
    record["server_command"] = (server.command_line().replace(database[1], "URL") if database
                                else server.command_line())
    record["loadavg_at_start"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    cpu_before = machine.cpu_times()
    sampler = RssSampler(server)
    baseline = server.rss_bytes() or 0
    sampler.start()
    procs = []
    cpu_sampler = None
    wal_before = pg_wal_lsn(pgsvc) if database is not None else None
    wal_sampler = None
    watch = (placement.Watch(tool_bin, SERVER_CPU, TOOL_FIRST_CPU,
                             logs / f"{stem}.cpu-distance.json")
             if watch_placement else None)
    if case.scenario == "chat" and target.kind == "ours" and database is None:
        wal_sampler = WalSampler(server)
        wal_sampler.start()
    try:
        sources = split_sources(case.processes) if case.processes > 1 else [None]
        for i, src in enumerate(sources):
            json_path = logs / f"{stem}.tool{i}.json"
            url = (f"wss://127.0.0.1:{tls_port}{case.path}" if case.tls
                   else server.url(case.path))
            argv = ["taskset", "-c", TOOL_CPU, str(tool_bin), case.scenario,
                    url, *case.args, *tool_thread_args(), "-q", "--json", str(json_path),
                    "--server-pid", str(server.pid)]
            if src:
                argv += ["--sources", src]
            out = open(logs / f"{stem}.tool{i}.log", "wb")
            procs.append((subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT), argv, json_path, out))
        if case.needs_pg():  # Where the time goes: ringcast's threads, PostgreSQL, the tool.
            cpu_sampler = pg.CpuSampler(server.pid, pgsvc, [p.pid for p, *_ in procs])
            cpu_sampler.start()
        reports, rcs = [], []
        for proc, argv, json_path, out in procs:
            rc = wait_tool(proc, TOOL_TIMEOUT_S, record)
            out.close()
            rcs.append(rc)
            try:
                reports.append(json.loads(json_path.read_text()))
            except (OSError, ValueError):
                reports.append({})
            record.setdefault("tool_commands", []).append(shlex.join(argv))
        peak = sampler.stop()
        if watch is not None:
            samples = watch.stop()
            if samples:
                record["cpu_distance_ns"] = placement.summarize(samples)
        if cpu_sampler is not None:
            record["cpu_breakdown"] = cpu_sampler.stop()
        alive = server.alive()
        if case.scenario == "chat" and target.kind == "ours" and alive:
            record["wal"] = wal_written(server, pgsvc if database is not None else None,
                                        wal_before)
            if wal_sampler is not None:
                record["wal"].update(wal_sampler.stop())
    finally:
        if watch is not None:
            watch.stop()
        if sampler.is_alive():
            sampler.stop()
        if cpu_sampler is not None and cpu_sampler.is_alive():
            cpu_sampler.stop()
        if wal_sampler is not None and wal_sampler.is_alive():
            wal_sampler.stop()
        for proc, *_ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
        clean_up()
    record["seconds"] = round(time.monotonic() - started, 1)
    record["machine_cpu"] = machine.cpu_usage_between(cpu_before, machine.cpu_times())
    record["tool_rc"] = rcs
    record["tool"] = reports if case.processes > 1 else reports[0]
    record["server_exit_code"] = server.exit_code
    record["server_alive_after_load"] = alive
    record["server_rss"] = {"baseline_bytes": baseline, "peak_bytes": peak}
    tool_ok = all(rc == 0 and rep.get("ok") for rc, rep in zip(rcs, reports))
    # Ours must exit 0 on SIGTERM (it drains and says bye); a peer may die of the signal.
    clean_exits = (0,) if target.kind == "ours" else (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    record["server_exit_ok"] = server.exit_code in clean_exits and not server.killed
    record["ok"] = tool_ok and alive and record["server_exit_ok"]
    errors = [e for rep in reports for e in rep.get("errors", [])]
    if errors:
        record["errors"] = errors[:20]
    figures = case.figures(reports) if all(reports) else []
    if case.processes > 1:
        opened = sum(rep.get("connect", {}).get("opened", 0) for rep in reports)
        record["connections_opened"] = opened
        if opened:
            figures = [("server RSS per connection", (peak - baseline) / opened, "B", False),
                       ("connections held", float(opened), "conns", True)]
    wal = record.get("wal") or {}
    if wal.get("bytes_per_message"):
        figures = list(figures) + [("WAL bytes per stored message", wal["bytes_per_message"],
                                    "B", False)]
    if wal.get("ceiling_bytes_per_message"):
        figures = list(figures) + [("WAL bytes per message at the ceiling (busiest 2 s)",
                                    wal["ceiling_bytes_per_message"], "B", False)]
    record["figures"] = [{"metric": m, "value": v, "unit": u, "higher_is_better": h}
                         for m, v, u, h in figures]
    if not record["ok"]:
        record["server_log_tail"] = server.log_tail()
        record["tool_log_tail"] = "".join(
            (logs / f"{stem}.tool{i}.log").read_text(errors="replace")[-2000:]
            for i in range(len(procs)))
    return record


def scrape_sum(port: int, name: str) -> float:
    """The sum of the samples of `name` on the server's /metrics (0 if it has none)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(m.group(1)) for m in
               re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def pg_wal_lsn(pgsvc: pg.PgService) -> int:
    return int(float(pgsvc.ensure().psql("SELECT pg_current_wal_lsn() - '0/0'").strip()))


def wal_written(server: Server, pgsvc: pg.PgService | None, lsn_before: int | None) -> dict:
    """WAL bytes per stored (acked) message over the whole run: SQLite's frames written by
    commits (ringcast_store_wal_written_bytes_total), or PostgreSQL's WAL position moved
    (pg_current_wal_lsn; the cluster serves nothing else meanwhile)."""
    try:
        acks = scrape_sum(server.port, "ringcast_chat_acks_total")
        if pgsvc is not None and lsn_before is not None:
            written = float(pg_wal_lsn(pgsvc) - lsn_before)
        else:
            written = scrape_sum(server.port, "ringcast_store_wal_written_bytes_total")
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}
    return {"bytes": written, "acked_messages": acks,
            "bytes_per_message": written / acks if acks and written else None}


def placement_nearest(nearest: float | None, record: dict) -> float | None:
    distance = record.get("cpu_distance_ns")
    if nearest is None or not distance:
        return nearest
    return min(nearest, distance["median"])


def far_run(record: dict, nearest: float | None) -> bool:
    distance = record.get("cpu_distance_ns")
    return bool(distance) and nearest is not None and placement.is_far([distance["max"]], nearest)


def placement_summary(records: list[dict], nearest: float | None, reruns: int) -> dict:
    far = [r for r in records if r.get("superseded")]
    still = [r for r in records if not r.get("superseded") and far_run(r, nearest)]
    return {"nearest_ns": nearest, "far_factor": placement.FAR_FACTOR, "reruns": reruns,
            "far_runs": len(far), "still_far": len(still)}


def strip_buckets(value) -> None:
    if isinstance(value, dict):
        value.pop("buckets", None)
        for v in value.values():
            strip_buckets(v)
    elif isinstance(value, list):
        for v in value:
            strip_buckets(v)


def describe_layouts(single: layout.Layout, many: layout.Layout) -> str:
    """The machine and both layouts, for the start of the output."""
    m = single.topology.describe()
    head = (f"{m['cpu_count']} CPUs ({m['cpus']}; {m['physical_cores']} cores, "
            f"{'SMT ' + str(m['threads_per_core']) + ' threads a core' if m['smt'] else 'no SMT'}"
            f", {m['numa_nodes']} NUMA node{'s' if m['numa_nodes'] > 1 else ''}), "
            f"{single.policy} policy")
    return (f"{head}\n     single server: {single.line()}; tool threads {single.tool_threads()}"
            f"\n     cluster cases: {many.line()}; tool threads {many.tool_threads()}")


def describe_run(record: dict) -> str:
    parts = []
    for f in record.get("figures", []):
        parts.append(f"{f['metric']} {fmt(f['value'], f['unit'])}")
    tool = record.get("tool")
    reports = tool if isinstance(tool, list) else [tool or {}]
    cpu = [r.get("server", {}).get("cpu_percent_measured") for r in reports]
    if cpu and cpu[0] is not None and record["scenario"] != "idle":
        parts.append(f"server CPU {cpu[0]:.0f}%")
    status = "ok" if record["ok"] else "FAILED"
    if not record["ok"]:
        detail = (record.get("error") or "").split("\n")[0] or "; ".join(
            record.get("errors", [])[:3])
        if not record.get("server_alive_after_load", True):
            detail = "server died during the run; " + detail
        elif not record.get("server_exit_ok", True):
            detail = f"server exit status {record.get('server_exit_code')}; " + detail
        status += f" ({detail or 'tool exit ' + str(record.get('tool_rc'))})"
    return f"{', '.join(parts) or '-'} [{status}, {record.get('seconds', 0):.0f} s]"


# -- figures and table -------------------------------------------------------------------------

def fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "msgs/s" and value < 1000:
        return f"{value:g}/s" if value else "none"
    return f"{value:,.0f}/s" if unit.endswith("/s") else f"{value:,.0f}"


def collect_figures(records: list[dict], cases: list[plan.Case], targets: list[Target]) -> list:
    """One row per (case, metric): the median over repeats of each target's value."""
    rows = []
    for case in cases:
        metrics: dict[str, dict] = {}
        records = [r for r in records if not r.get("superseded")]  # Run again: see placement.
        for rec in records:
            if rec["case"] != case.name:
                continue
            for f in rec.get("figures", []):
                row = metrics.setdefault(f["metric"], {"case": case.name, "metric": f["metric"],
                                                       "unit": f["unit"],
                                                       "higher_is_better": f["higher_is_better"],
                                                       "samples": {}, "ok": {}})
                row["samples"].setdefault(rec["target"], []).append(f["value"])
                row["ok"][rec["target"]] = row["ok"].get(rec["target"], True) and rec["ok"]
        for rec in records:  # A run that yielded no figure (start failure, crash) still shows.
            if rec["case"] == case.name and not rec.get("figures"):
                for row in metrics.values():
                    row["samples"].setdefault(rec["target"], []).append(None)
                    row["ok"][rec["target"]] = False
        for row in metrics.values():
            row["values"] = {t: (statistics.median([v for v in vals if v is not None])
                                 if any(v is not None for v in vals) else None)
                             for t, vals in row["samples"].items()}
            # "How many times better ours is": ours/peer for throughput, peer/ours for memory
            # and latency, so > 1 always favours ours and reads against the targets directly.
            ours = row["values"].get("ours")
            row["ratios"] = {}
            for t in targets:
                if t.kind == "peer":
                    peer = row["values"].get(t.name)
                    ratio = None
                    both_ok = row["ok"].get("ours", True) and row["ok"].get(t.name, True)
                    if ours and peer and both_ok:
                        ratio = ours / peer if row["higher_is_better"] else peer / ours
                    row["ratios"][t.name] = ratio
            rows.append(row)
    return rows


def print_table(rows: list, targets: list[Target]) -> str:
    header = ["scenario", "metric"] + [t.name for t in targets]
    for t in targets:
        if t.kind == "peer":
            header.append(f"ours vs {t.name}")
    lines = [header]
    for row in rows:
        line = [row["case"], row["metric"] + ("" if row["higher_is_better"] else " (lower better)")]
        for t in targets:
            if t.name not in row["values"]:
                line.append("n/a")
                continue
            value = row["values"][t.name]
            text = fmt(value, row["unit"]) if value is not None else ""
            if not row["ok"].get(t.name, True):
                text = (text + " FAIL").strip()
            line.append(text)
        for t in targets:
            if t.kind == "peer":
                r = row["ratios"].get(t.name)
                line.append("-" if r is None else f"{r:.2f}x")
        lines.append(line)
    widths = [max(len(l[i]) for l in lines) for i in range(len(header))]
    text = []
    for n, l in enumerate(lines):
        cells = [l[0].ljust(widths[0]), l[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(l[2:], widths[2:])]
        text.append("  ".join(cells))
        if n == 0:
            text.append("  ".join("-" * w for w in widths))
    out = "\n".join(text)
    print(out, flush=True)
    return out


# -- PostgreSQL ------------------------------------------------------------------------------

def describe_ceiling(record: dict) -> str:
    if not record["ok"]:
        return f"FAILED ({(record.get('error') or '').strip().splitlines()[-1:]})"
    best = max((p for p in record["points"] if p["mode"] == "store"),
               key=lambda p: p["rows_per_s"], default=None)
    parts = [f"{p['mode']} {p['batch']}x{p['connections']}: {p['rows_per_s']:,.0f}/s"
             for p in record["points"]]
    head = f"best store {best['rows_per_s']:,.0f} rows/s; " if best else ""
    return f"{head}{', '.join(parts)} [ok, {record['seconds_total']:.0f} s]"


def ceiling_rows(records: list[dict]) -> list[dict]:
    """Medians over the repeats of each ceiling point."""
    by_point: dict[tuple, list[dict]] = {}
    for rec in records:
        for p in rec.get("points", []) if rec["ok"] else []:
            by_point.setdefault((p["mode"], p["batch"], p["connections"]), []).append(p)
    rows = []
    for (mode, batch, conns), points in by_point.items():
        rows.append({"mode": mode, "batch": batch, "connections": conns,
                     "label": pg.point_label(points[0]),
                     "rows_per_s": statistics.median(p["rows_per_s"] for p in points),
                     "samples": [p["rows_per_s"] for p in points],
                     "batch_ms_p99": statistics.median(p["batch_ms_p99"] for p in points)})
    return rows


def add_ceiling_ratio(rows: list, ceiling: list[dict]) -> None:
    """chat-1k-pg's persisted msgs/s as a share of PostgreSQL's best rate for the store's
    statements measured in the same run, as a row of the main table."""
    store = [c for c in ceiling if c["mode"] == "store"]
    if not store:
        return
    best = max(store, key=lambda c: c["rows_per_s"])
    for i, row in enumerate(rows):
        if row["case"] == "chat-1k-pg" and row["metric"] == "persisted msgs/s (best step)":
            ours = row["values"].get("ours")
            rows.insert(i + 1, {
                "case": row["case"], "unit": "x", "higher_is_better": True,
                "metric": f"persisted / PG ceiling ({best['rows_per_s']:,.0f} rows/s: batch "
                          f"{best['batch']}, {best['connections']} conn)",
                "values": {"ours": ours / best["rows_per_s"] if ours else None},
                "ok": dict(row["ok"]), "ratios": {}, "samples": {}})
            return


def print_ceiling(ceiling: list[dict]) -> str:
    lines = ["PostgreSQL ingest ceiling (ringcast-pg-ingest, no ringcast; fsync on; rows/s, "
             "medians):"]
    for c in ceiling:
        lines.append(f"  {c['label']:<44} {c['rows_per_s']:>10,.0f} rows/s   "
                     f"commit p99 {c['batch_ms_p99']:.1f} ms")
    out = "\n".join(lines)
    print(out, flush=True)
    return out


# -- micro-benchmarks ------------------------------------------------------------------------

def run_micro(logs: pathlib.Path, micro_bin: pathlib.Path) -> dict:
    out = logs / "micro.json"
    argv = ["taskset", "-c", TOOL_FIRST_CPU, str(micro_bin), f"--benchmark_out={out}",
            "--benchmark_out_format=json"]
    log(f"== micro-benchmarks: {shlex.join(argv)}")
    with open(logs / "micro.log", "wb") as console:  # Its own table and context lines.
        subprocess.run(argv, check=True, stdout=console, stderr=subprocess.STDOUT)
    data = json.loads(out.read_text())
    for b in data.get("benchmarks", []):
        extra = f"  {b['bytes_per_second'] / 1e9:.2f} GB/s" if "bytes_per_second" in b else ""
        log(f"  {b['name']:<40} {b['cpu_time']:>10.1f} {b['time_unit']}{extra}")
    return data


# -- main ------------------------------------------------------------------------------------

def dump_json(value, indent: str = "") -> str:
    """Indented JSON whose lists of numbers (histogram buckets) stay on one line each."""
    inner = indent + " "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [inner + dump_json(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, separators=(",", ":"))


def build(with_micro: bool, with_pg: bool) -> None:
    log("== build (release)")
    subprocess.run(["cmake", "--preset", "release", "-DRINGCAST_BUILD_BENCH=ON"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    targets = ["ringcast", "ringcast-bench"] + (["ringcast_micro"] if with_micro else []) + (
        ["ringcast-pg-ingest"] if with_pg else [])
    subprocess.run(["cmake", "--build", "--preset", "release", "--target", *targets], cwd=REPO,
                   check=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="ringcast benchmark suite: ours (1 shard, CPU 0) and peers side by side, "
                    "load from ringcast-bench on CPU 1. Results in bench/results/.")
    p.add_argument("--quick", action="store_true", help="a ~1-minute subset")
    p.add_argument("--micro", action="store_true",
                   help="also run the Google Benchmark micro-benchmarks (ringcast_micro)")
    p.add_argument("--peer", action="append", default=[], metavar="[NAME=]CMD",
                   help="a peer server: shell command with {port}, started pinned to CPU 0 "
                        "(repeatable); NAME (lowercase) labels its column; 'node' starts "
                        "bench/peers/node-ws")
    p.add_argument("--peer-url-base", action="append", default=[], metavar="NAME=URL",
                   help="base URL of that peer (default ws://127.0.0.1:{port}); /echo and "
                        "/raw/{channel} are appended")
    shards = p.add_mutually_exclusive_group()
    shards.add_argument("--shards2", dest="shards2", action="store_true", default=None,
                        help="also run ours with 2 shards (default in the full run)")
    shards.add_argument("--no-shards2", dest="shards2", action="store_false",
                        help="skip ours with 2 shards (default with --quick)")
    p.add_argument("--only", default="", metavar="LIST",
                   help="comma-separated case names or prefixes (e.g. echo,idle10k): a name "
                        "picks that case only (chat-1k, not chat-1k-pg), a prefix every case "
                        "it starts")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per case and target; the table shows the median")
    p.add_argument("--placement-reruns", type=int, default=3, metavar="N",
                   help="run again, up to N more times, a run during which the server's and "
                        "the load tool's vCPUs were far apart (placement.py); 0: only record it")
    p.add_argument("--placement-wait", type=float, default=120, metavar="S",
                   help="before running it again, wait up to S seconds for the vCPUs to be "
                        "near again")
    p.add_argument("--server-bin", metavar="PATH",
                   help="ours is this ringcast binary instead of build/release's (another "
                        "build, for a before/after comparison of cases that take no --peer)")
    p.add_argument("--cpus", metavar="LIST",
                   help="CPUs the run may use (taskset list, e.g. 0-15; default: all this "
                        "process may run on); two or fewer give the two-CPU layout "
                        "(bench/README.md, \"CPU layout\")")
    p.add_argument("--cpu-role", action="append", default=[], metavar="ROLE=LIST",
                   help="fix one role's CPUs (server; node1.., redis1.. of the cluster cases; "
                        "tool, postgresql of both; repeatable); the other roles are laid out on "
                        "the rest")
    p.add_argument("--shards", type=int, default=None, metavar="N",
                   help="also run ours with N shards on the server's CPUs (ours-Nshards); "
                        "default on more than two CPUs: one per core of the server's set in the "
                        "full run; 0: not")
    p.add_argument("--no-build", action="store_true", help="use the existing build/release")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--out", metavar="FILE", help="results JSON (default bench/results/"
                                                 "<date>-<host>[-quick][-<peers>][-<only cases>].json)")
    p.add_argument("--list", action="store_true", help="print the plan and exit")
    args = p.parse_args(argv)
    if args.shards2 is None:
        args.shards2 = not args.quick
    return args


def layouts(args: argparse.Namespace) -> tuple[layout.Layout, layout.Layout]:
    """The CPU layouts of the run: the single-server cases' (server, PostgreSQL, tool) and the
    cluster cases' (every node, two Redis, PostgreSQL, tool). Each is the same whatever --only
    picks, so figures of one machine compare across runs."""
    try:
        topo = layout.read_topology(layout.parse_cpu_list(args.cpus) if args.cpus else None)
        fixed: dict[str, dict[str, list[int]]] = {"single": {}, "cluster": {}}
        for spec in args.cpu_role:
            role, sep, cpus = spec.partition("=")
            if not sep or not role:
                sys.exit(f"bench/run: --cpu-role wants ROLE=LIST, got {spec!r}")
            phase = ("cluster" if role.startswith(("node", "redis")) else
                     "single" if role == "server" else None)
            for name in ([phase] if phase else ["single", "cluster"]):
                fixed[name][role] = layout.parse_cpu_list(cpus)
        single = layout.plan(topo, postgresql=True, fixed=fixed["single"])
        many = layout.plan(topo, nodes=cluster.MAX_NODES, redis=cluster.MAX_REDIS,
                           postgresql=True, fixed=fixed["cluster"])
    except ValueError as exc:
        sys.exit(f"bench/run: {exc}")
    return single, many


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    single_layout, cluster_layout = layouts(args)
    apply_layout(single_layout)
    if args.shards is None:
        args.shards = (single_layout.cores_of("server") if single_layout.policy != "two-cpu"
                       and not args.quick else 0)
    cases = plan.build(args.quick)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        names = {c.name for c in cases}
        cases = [c for c in cases if any(c.name == w or (w not in names and c.name.startswith(w))
                                         for w in wanted)]
    peers = peer_targets(args.peer, args.peer_url_base)
    targets = our_targets(args.shards2, shards_n=args.shards) + peers
    if args.list:
        for c in cases:
            names = [t.name for t in targets if plan.applies(c, t.name, t.kind)]
            if c.cluster:
                threads = cluster_layout.cores_of("node1")
                names = [f"1 node and {c.cluster.nodes} nodes, --threads {threads} each, CPUs "
                         + " / ".join(cluster_layout.cpus(f"node{k + 1}") or "-"
                                      for k in range(c.cluster.nodes))]
            log(f"{c.name:<18} {c.scenario} {' '.join(c.args)}  [{', '.join(names)}]\n"
                f"{'':<18} {c.about}")
            if c.server_args:
                log(f"{'':<18} server flags: {' '.join(c.server_args)}")
            if c.cluster and c.cluster.scaling:
                log(f"{'':<18} 1 node, then {c.cluster.nodes} nodes on {c.cluster.redis} "
                    f"redis-server(s), each --rates {c.cluster.rates} "
                    f"{' '.join(c.cluster.step_timing)} until the ack p99 > "
                    f"{c.cluster.ack_limit_ms:g} ms")
            elif c.cluster and c.cluster.compare_timing:
                log(f"{'':<18} ceilings at --rates {c.cluster.rates} --keep-going "
                    f"{' '.join(c.cluster.step_timing)}; then 1 node, 1 node with --redis "
                    f"and {c.cluster.nodes} nodes at {c.cluster.share:g} x the 1-node ceiling, "
                    f"{' '.join(c.cluster.compare_timing)}")
            elif c.cluster:
                log(f"{'':<18} 1 node, 1 node with --redis and {c.cluster.nodes} nodes, each "
                    f"--rates {c.cluster.rates} --keep-going {' '.join(c.cluster.step_timing)}")
            if c.pg_ceiling:
                log(f"{'':<18} then ringcast-pg-ingest (PostgreSQL alone), points "
                    f"{','.join(c.pg_ceiling)}, {c.pg_ceiling_timing[0]:g} s each")
        log(f"   CPU layout: {describe_layouts(single_layout, cluster_layout)}")
        return 0
    with_pg = any(c.needs_pg() for c in cases)
    if not args.no_build:
        build(args.micro, with_pg)
    server_bin = pathlib.Path(args.server_bin) if args.server_bin else SERVER_BIN
    binaries = ((server_bin, TOOL_BIN) + ((MICRO_BIN,) if args.micro else ())
                + ((PG_INGEST_BIN,) if with_pg else ()))
    for binary in binaries:
        if not binary.is_file():
            sys.exit(f"bench/run: {binary} is missing (build the release preset)")
    if any(str(NODE_PEER) in t.command for t in targets):
        ensure_node_peer()

    suite_start = time.monotonic()
    now = datetime.datetime.now()
    info = machine.describe(REPO)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    logs = REPO / "build" / "bench" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    # The whole run uses copies of the binaries: build/release may be rebuilt meanwhile.
    bins = logs / "bin"
    bins.mkdir()
    for binary in binaries:  # --server-bin's file may have any name: it is ours, "ringcast".
        shutil.copy2(binary, bins / (SERVER_BIN.name if binary == server_bin else binary.name))
    info["binaries"] = {b.name: {"sha256": hashlib.sha256(b.read_bytes()).hexdigest()[:16],
                                 "built": datetime.datetime.fromtimestamp(
                                     b.stat().st_mtime).isoformat(timespec="seconds")}
                        for b in sorted(bins.iterdir())}
    targets = our_targets(args.shards2, bins / SERVER_BIN.name, args.shards) + peers
    # A cluster case runs its own nodes and reports under "ours"; a target no case of the plan
    # runs (ours-2shards for --only chat-3node) would only add an empty column.
    targets = [t for t in targets
               if any(plan.applies(c, t.name, t.kind) for c in cases)
               or (t.name == "ours" and any(c.cluster for c in cases))]
    for old in sorted(logs.parent.iterdir())[:-5]:  # Keep the logs of the last five runs.
        shutil.rmtree(old, ignore_errors=True)
    # A partial run (--only) never overwrites a full run's results.
    suffix = ("-quick" if args.quick else "") + "".join(
        f"-{t.name}" for t in targets if t.kind == "peer") + (
        "-" + "-".join(c.name for c in cases) if args.only else "")
    out = pathlib.Path(args.out) if args.out else (
        REPO / "bench" / "results" / f"{now:%Y-%m-%d}-{info['host']}{suffix}.json")

    log(f"== bench/run {'quick' if args.quick else 'full'}: {len(cases)} cases; logs in "
        f"{logs.relative_to(REPO)}")
    log(f"   CPU layout: {describe_layouts(single_layout, cluster_layout)}")
    for t in targets:
        log(f"   {t.name}: {t.note}")
    cpu_before = machine.cpu_times()
    records: list[dict] = []
    ceiling_records: list[dict] = []
    pgsvc = pg.PgService(log)
    pgsvc.pin(single_layout.cpus("postgresql"))

    def terminated(signum, frame):  # SIGTERM ends the run as Ctrl-C does: the cluster goes too.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    # The nearest distance between the server's and the tool's CPUs seen so far: a run whose
    # samples stray far above it ran on distant vCPUs (placement.py). None: cannot be measured.
    probes = [placement.measure_once(bins / TOOL_BIN.name, SERVER_CPU, TOOL_FIRST_CPU)
              for _ in range(3)]
    measured = [p for p in probes if p is not None]
    nearest = statistics.median(measured) if measured else None
    if nearest is None:
        log("note: CPU distance cannot be measured here (one CPU?): runs are not checked for "
            "vCPU placement")
    try:
        for case in cases:
            log(f"-- {case.name}: {case.about}")
            # Repeats interleave the targets (ours, peer, ours, peer, ...) so a noisy spell
            # on the machine is less likely to land on one side only.
            for rep in range(args.repeat):
                if case.cluster:
                    pgsvc.pin(cluster_layout.cpus("postgresql"))
                    rec = cluster.run_cluster_case(
                        case, rep, logs, bins / SERVER_BIN.name, bins / TOOL_BIN.name, pgsvc,
                        log, lambda: time.monotonic() - suite_start, nearest is not None,
                        cluster_layout)
                    pgsvc.pin(single_layout.cpus("postgresql"))
                    nearest = placement_nearest(nearest, rec)  # Recorded, never run again.
                    if rep > 0:
                        strip_buckets(rec)
                    records.append(rec)
                    log(f"   [{time.monotonic() - suite_start:5.0f}s] {case.name}: " + (
                        "ok" if rec["ok"] else "FAILED (" + "; ".join(rec.get("errors", [])[:3])
                        + ")"))
                    for f in rec["figures"]:
                        log(f"      {f['metric']:<58} {fmt(f['value'], f['unit'])}")
                for target in targets:
                    if not plan.applies(case, target.name, target.kind):
                        continue
                    rec = run_case(case, target, logs, rep, bins / TOOL_BIN.name, pgsvc,
                                   watch_placement=nearest is not None)
                    for attempt in range(1, args.placement_reruns + 1):
                        nearest = placement_nearest(nearest, rec)
                        if not far_run(rec, nearest):
                            break
                        rec["superseded"] = True
                        records.append(rec)
                        near, waited = placement.wait_for_near(
                            bins / TOOL_BIN.name, SERVER_CPU, TOOL_FIRST_CPU, nearest,
                            args.placement_wait)
                        log(f"   [{time.monotonic() - suite_start:5.0f}s] {target.name:<14} "
                            f"{describe_run(rec)}: the vCPUs were far apart (cache line "
                            f"{rec['cpu_distance_ns']['max']:.0f} ns, nearest "
                            f"{nearest:.0f} ns); " + (f"near again after {waited:.0f} s"
                                                      if near else f"still far after "
                                                      f"{waited:.0f} s") + ": running it again")
                        rec = run_case(case, target, logs, rep, bins / TOOL_BIN.name, pgsvc,
                                       attempt, watch_placement=True)
                    nearest = placement_nearest(nearest, rec)
                    if rep > 0:
                        strip_buckets(rec)  # The first run's histograms are kept whole.
                    records.append(rec)
                    elapsed = time.monotonic() - suite_start
                    log(f"   [{elapsed:5.0f}s] {target.name:<14} {describe_run(rec)}")
                    if not rec["ok"]:
                        tail = rec.get("server_log_tail", "").strip().splitlines()[-8:]
                        for line in tail:
                            log(f"      | {line}")
                if case.pg_ceiling:
                    seconds, warmup = case.pg_ceiling_timing
                    rec = pg.run_ceiling(bins / PG_INGEST_BIN.name, pgsvc, case.pg_ceiling,
                                         seconds, warmup, TOOL_CPU,
                                         logs / f"{case.name}.pg-ceiling.{rep}.log",
                                         f"ceiling_{rep}")
                    rec |= {"case": case.name, "repeat": rep,
                            "loadavg_end": pathlib.Path("/proc/loadavg").read_text().split()[:3]}
                    ceiling_records.append(rec)
                    elapsed = time.monotonic() - suite_start
                    log(f"   [{elapsed:5.0f}s] {'PostgreSQL':<14} {describe_ceiling(rec)}")
    except KeyboardInterrupt:
        log("interrupted: writing what was measured")
    finally:
        try:
            info["postgresql"] = pgsvc.describe()
        except (pg.pg_cluster.ClusterError, ValueError) as exc:
            info["postgresql"] = {"error": str(exc)}
        finally:
            pgsvc.close()
    micro = run_micro(logs, bins / MICRO_BIN.name) if args.micro else None
    cpu_after = machine.cpu_times()

    result_placement = placement_summary(records, nearest, args.placement_reruns)
    rows = collect_figures(records, cases, targets)
    ceiling = ceiling_rows(ceiling_records)
    add_ceiling_ratio(rows, ceiling)
    info["loadavg_end"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    info["cpu_during_run"] = machine.cpu_usage_between(cpu_before, cpu_after)
    tool_version = next((r["tool"].get("version") for r in records
                         if isinstance(r.get("tool"), dict) and r["tool"].get("version")), None)
    two_shards_cpus = next((t.server_cpus for t in targets if t.name == "ours-2shards"), "0,1")
    result = {
        "suite": "ringcast bench/run",
        "format": 1,
        "date": now.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "command_line": shlex.join(["bench/run", *argv]),
        "duration_s": None,
        "machine": info,
        "tool_version": tool_version,
        "pinning": {"server": f"CPU {SERVER_CPU} (ours-2shards: CPUs {two_shards_cpus})",
                    "load_tool": f"CPU {TOOL_CPU}"},
        "layout": {"machine": single_layout.topology.describe(),
                   "single": single_layout.describe(), "cluster": cluster_layout.describe()},
        "targets": [t.describe() for t in targets],
        "cases": [{"name": c.name, "scenario": c.scenario, "args": c.args, "about": c.about,
                   "processes": c.processes, "x": c.x} for c in cases],
        "figures": [{k: v for k, v in row.items() if k != "samples"} | {"samples": row["samples"]}
                    for row in rows],
        "runs": records,
        "placement": result_placement,
        "micro": micro,
        "pg_ceiling": {"figures": ceiling, "runs": ceiling_records} if ceiling_records else None,
        "plots": [],
    }
    if any(str(NODE_PEER) in t.command for t in targets):
        try:
            lock = json.loads((NODE_PEER / "node_modules" / "ws" / "package.json").read_text())
            result["machine"]["node_ws_version"] = lock.get("version")
        except (OSError, ValueError):
            pass

    log("")
    log(f"== figures ({info['host']}, {now:%Y-%m-%d}; medians of {args.repeat} run(s); "
        f"'ours vs peer' > 1 means ours is better: ours/peer for rates, peer/ours for bytes "
        f"and latency)")
    table = print_table(rows, targets)
    if ceiling:
        table += "\n\n" + print_ceiling(ceiling)
    result["table"] = table
    failed = [r for r in records if not r["ok"]]
    failed += [r | {"target": "postgresql", "case": "pg-ceiling"} for r in ceiling_records
               if not r["ok"]]
    if failed:
        log(f"!! {len(failed)} run(s) failed their checks: "
            + ", ".join(f"{r['case']}/{r['target']}" for r in failed))
    if "ours-2shards" in [t.name for t in targets]:
        log("note: ours-2shards runs both CPUs; the load tool shares CPU 1 with shard 1.")
    if result_placement["far_runs"] or result_placement["still_far"]:
        log(f"note: {result_placement['far_runs']} run(s) met distant vCPUs (a cache line "
            f"round trip over {placement.FAR_FACTOR:g} x the nearest, "
            f"{result_placement['nearest_ns']:.0f} ns) and were run again; "
            f"{result_placement['still_far']} still far after {args.placement_reruns} "
            f"more tries count as they are")
    usage = info["cpu_during_run"]
    if usage:
        log(f"note: hypervisor steal {usage.get('steal_percent')}% of CPU time during the run; "
            f"load average {' '.join(info['loadavg_start'])} -> {' '.join(info['loadavg_end'])}")
    result["duration_s"] = round(time.monotonic() - suite_start, 1)

    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.no_plots:
        sys.path.insert(0, str(REPO / "bench"))
        try:
            import plot
            result["plots"] = [str(p.relative_to(out.parent)) for p in
                               plot.make_plots(result, out.with_suffix(""))]
        except Exception as exc:  # Plots are a convenience: never lose the results for them.
            log(f"plots failed: {exc!r}")
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(dump_json(result) + "\n")
    tmp.replace(out)
    log(f"== wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}"
        + "".join(f", {p}" for p in result["plots"])
        + f" in {result['duration_s']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
