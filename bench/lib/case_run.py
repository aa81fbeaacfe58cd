"""One run of one case against one target (bench/run's single-server cases).

A fresh server of the target (its own data directory, database and TLS port where the case needs
them), the load tool pinned to its CPUs with --json and --server-pid (two processes with
disjoint --sources for idle38k), and beside them the samplers: the server's RSS, the placement
watch, CPU per thread and process on PostgreSQL, SQLite's WAL bytes. Everything is stopped and
removed whatever happens, and the record says what was measured and whether the run counts:
the tool's reports, the case's figures, the server's exit status, and log tails when it failed.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import machine
import pg
import placement
import plan
from servers import Server, Target, free_port, wait_tool
from targets import ROLES

TOOL_TIMEOUT_S = 300


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
    watch = (placement.Watch(tool_bin, ROLES.server, ROLES.tool_first,
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
            argv = ["taskset", "-c", ROLES.tool, str(tool_bin), case.scenario,
                    url, *case.args, *ROLES.tool_thread_args(), "-q", "--json", str(json_path),
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

