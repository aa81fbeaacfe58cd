"""PostgreSQL for the bench suite: the throwaway cluster, a fresh database per run, the ingest
ceiling (ringcast-pg-ingest) and a CPU sampler that tells ringcast's threads and PostgreSQL's
processes apart.

The cluster (tools/pg_cluster.py: initdb in a temporary directory, loopback, fsync on) is
started the first time a case needs it, once per suite run, and destroyed when the suite ends,
also on failure or Ctrl-C; a detached reaper (Cluster.watch_owner) removes it should the suite
itself be killed. PostgreSQL's processes are pinned to the CPU layout's "postgresql" set
(bench/lib/layout.py) on machines with room for it: every process at the time (taskset -a -p),
and new backends inherit the postmaster's affinity. On two CPUs they are not pinned and compete
with the server on CPU 0 and the load tool on CPU 1 alike.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import pg_cluster  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


class PgService:
    """The suite's cluster, created on first use. `close()` stops and removes it."""

    def __init__(self, log):
        self._log = log
        self.cluster: pg_cluster.Cluster | None = None
        self._databases = 0
        self.cpus: str | None = None  # taskset -c list; None: unpinned
        self._pinned = False

    def ensure(self) -> pg_cluster.Cluster:
        if self.cluster is None:
            self._log("== PostgreSQL: starting a throwaway cluster (tools/pg_cluster.py, fsync on)")
            self.cluster = pg_cluster.Cluster.create()
            self.cluster.watch_owner()
            version = self.cluster.psql("SHOW server_version").strip()
            self._log(f"   PostgreSQL {version} on 127.0.0.1:{self.cluster.port} in "
                      f"{self.cluster.directory}")
            self._apply_pin()
        return self.cluster

    def pin(self, cpus: str | None) -> None:
        """Pins PostgreSQL to `cpus` (None: unpinned) now if it runs, else once started."""
        self.cpus = cpus
        if self.cluster is not None:
            self._apply_pin()

    def _apply_pin(self) -> None:
        if self.cpus is None and not self._pinned:
            return  # Never pinned: leave it as started (the two-CPU layout).
        cpus = self.cpus or ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        for pid in self.pids():
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        self._pinned = self.cpus is not None

    def describe(self) -> dict | None:
        if self.cluster is None:
            return None
        settings = self.cluster.psql(
            "SELECT name || '=' || setting FROM pg_settings WHERE name IN ('server_version', "
            "'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_wal_size', "
            "'checkpoint_timeout', 'wal_buffers', 'commit_delay') ORDER BY name")
        return {"settings": dict(line.split("=", 1) for line in settings.splitlines() if line),
                "pinning": (f"CPUs {self.cpus}" if self.cpus
                            else "unpinned (competes with CPUs 0 and 1)")}

    def fresh_database(self, label: str) -> tuple[str, str]:
        """CREATE DATABASE for one run: (name, URL for the ringcast role)."""
        cluster = self.ensure()
        self._databases += 1
        name = re.sub(r"[^a-z0-9_]", "_", f"bench_{self._databases}_{label}".lower())[:63]
        cluster.psql(f'CREATE DATABASE "{name}" OWNER {pg_cluster.ROLE}')
        return name, cluster.url(name)

    def drop_database(self, name: str) -> None:
        if self.cluster is not None:
            try:
                self.cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except pg_cluster.ClusterError as exc:
                self._log(f"   (could not drop {name}: {exc})")

    def pids(self) -> dict[int, str]:
        """PostgreSQL's processes now: pid -> role ('backend' for a client connection, else the
        auxiliary process's title: walwriter, checkpointer, ...)."""
        if self.cluster is None:
            return {}
        try:
            postmaster = int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return {}
        out = {postmaster: "postmaster"}
        for child in _children(postmaster):
            title = _read(f"/proc/{child}/cmdline").replace("\0", " ").strip()
            title = title.removeprefix("postgres: ")
            # A backend's title is "USER DB HOST(PORT) STATE"; auxiliaries have a plain name.
            out[child] = "backend" if re.search(r"\(\d+\)", title) else title.split(" process")[0]
        return out

    def close(self) -> None:
        if self.cluster is not None:
            self._log("== PostgreSQL: stopping and removing the cluster")
            self.cluster.destroy()
            self.cluster = None


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        out += [int(c) for c in _read(f"{task}/children").split()]
    return out


def _cpu_seconds(stat_path: str) -> float | None:
    text = _read(stat_path)
    if not text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of `pid`, keyed 'TID comm' (comm from /proc: shard threads are
    named; an unnamed thread shows the process name)."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        cpu = _cpu_seconds(f"{task}/stat")
        if cpu is not None:
            comm = _read(f"{task}/comm").strip()
            out[f"{task.name} {comm}{' (main)' if task.name == str(pid) else ''}"] = cpu
    return out


class CpuSampler(threading.Thread):
    """Every `interval` s: CPU seconds of each ringcast thread, each PostgreSQL process, the
    load tool and any `others` (name -> pid: redis-server). summary() gives percent of one CPU
    over the whole sampling, per key and grouped. `servers` is one ringcast pid, or name -> pid
    for several (a cluster's nodes: keys and groups "ringcast-NAME ...")."""

    def __init__(self, servers: int | dict[str, int], pg: PgService, tool_pids: list[int],
                 interval: float = 1.0, others: dict[str, int] | None = None):
        super().__init__(daemon=True)
        self.servers = ({"ringcast": servers} if isinstance(servers, int)
                        else {f"ringcast-{name}": pid for name, pid in servers.items()})
        self.pg, self.tool_pids, self.others = pg, tool_pids, others or {}
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.done = threading.Event()

    def sample(self) -> None:
        cpu: dict[str, float] = {}
        for label, pid in self.servers.items():
            for key, value in thread_cpu(pid).items():
                cpu[f"{label} {key}"] = value
        for pid, role in self.pg.pids().items():
            value = _cpu_seconds(f"/proc/{pid}/stat")
            if value is not None:
                cpu[f"postgres {pid} {role}"] = value
        for pid in self.tool_pids:
            value = _cpu_seconds(f"/proc/{pid}/stat")
            if value is not None:
                cpu[f"tool {pid}"] = value
        for name, pid in self.others.items():
            value = _cpu_seconds(f"/proc/{pid}/stat")
            if value is not None:
                cpu[f"{name} {pid}"] = value
        self.samples.append((time.monotonic(), cpu))

    def run(self) -> None:
        self.sample()
        while not self.done.wait(self.interval):
            self.sample()

    def stop(self) -> dict:
        self.done.set()
        self.join()
        return self.summary()

    @staticmethod
    def _grouped(per_key: dict[str, float]) -> dict[str, float]:
        groups: dict[str, float] = {}
        for key, pct in per_key.items():
            words = key.split()
            group = ("postgres " + " ".join(words[2:]) if words[0] == "postgres"
                     else words[0] + " " + " ".join(words[2:]) if words[0].startswith("ringcast")
                     else "load tool" if words[0] == "tool" else words[0])
            groups[group] = round(groups.get(group, 0.0) + pct, 1)
        return groups

    @staticmethod
    def _percent(a: tuple[float, dict], b: tuple[float, dict]) -> dict[str, float]:
        wall = (b[0] - a[0]) or 1.0
        return {k: round(100 * (v - a[1].get(k, 0.0)) / wall, 1) for k, v in b[1].items()}

    def summary(self) -> dict:
        """Over the whole tool run (setup included: the password hashes of 1,000 registrations
        land on ringcast's worker threads) and, in `series`, per sampling interval, so a rate
        step's share can be read off the seconds it ran."""
        if len(self.samples) < 2:
            return {}
        per_key = self._percent(self.samples[0], self.samples[-1])
        series = [{"t": round(b[0] - self.samples[0][0], 1),
                   **{k: v for k, v in self._grouped(self._percent(a, b)).items() if v >= 0.5}}
                  for a, b in zip(self.samples, self.samples[1:])]
        return {"seconds": round(self.samples[-1][0] - self.samples[0][0], 1),
                "percent_of_one_cpu": per_key, "grouped": self._grouped(per_key),
                "series": series}


def run_ceiling(binary: pathlib.Path, pg: PgService, points: list[str], seconds: float,
                warmup: float, cpu: str, log_path: pathlib.Path, label: str) -> dict:
    """ringcast-pg-ingest on a fresh database, pinned to `cpu`; its JSON plus the command."""
    name, url = pg.fresh_database(label)
    argv = ["taskset", "-c", cpu, str(binary), url, "--points", ",".join(points),
            "--seconds", str(seconds), "--warmup", str(warmup)]
    record: dict = {"command": " ".join(argv[:4] + ["URL"] + argv[5:]), "ok": False}
    started = time.monotonic()
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log,
                                  timeout=60 + len(points) * (seconds + warmup + 30))
        record["rc"] = proc.returncode
        if proc.returncode == 0:
            record.update(json.loads(proc.stdout))
            record["ok"] = True
        else:
            record["error"] = log_path.read_text(errors="replace")[-2000:]
    except (subprocess.TimeoutExpired, ValueError) as exc:
        record["error"] = repr(exc)
    finally:
        pg.drop_database(name)
    record["seconds_total"] = round(time.monotonic() - started, 1)
    return record


def point_label(p: dict) -> str:
    what = "store statements" if p["mode"] == "store" else "plain INSERT, seq given"
    return f"{what}, batch {p['batch']}, {p['connections']} conn"
