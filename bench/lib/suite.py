"""bench/run: the benchmark suite. See bench/README.md.

Builds the release preset, then for every case of the plan (plan.py) and every target (ours on
one shard, ours on two shards, each --peer; targets.py) starts a fresh server pinned with
taskset, runs ringcast-bench pinned with --json and --server-pid, and keeps the tool's report
(case_run.py). Which CPUs each gets is the CPU layout (layout.py: CPU 0 and CPU 1 on two CPUs,
sets sized from the core count on more), printed first and kept in the results.
Writes bench/results/<date>-<host>[-quick][-<peers>][-<only cases>].json with every figure,
every tool report and the machine, PNG plots beside it, and prints the table: scenario, ours,
peer, ratio (report.py).
chat-1k-pg runs on a throwaway PostgreSQL cluster (bench/lib/pg.py) started once per suite run,
with PostgreSQL's own ingest ceiling (ringcast-pg-ingest) measured after each of its runs.
chat-3node runs its own nodes (bench/lib/cluster.py): 1 node against 3 in cluster mode on the
same cluster, each run with a fresh redis-server.
This module is the command: its flags, the plan it lists, the order of the runs (with the
placement reruns) and the results file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import pathlib
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

import cluster
import layout
import machine
import pg
import placement
import plan
import report
from case_run import run_case
from servers import Target
from targets import (MICRO_BIN, NODE_PEER, PG_INGEST_BIN, REPO, ROLES, SERVER_BIN, TOOL_BIN,
                     our_targets, peer_targets)


def log(msg: str) -> None:
    print(msg, flush=True)


def ensure_node_peer() -> None:
    if (NODE_PEER / "node_modules" / "ws").is_dir():
        return
    log("== npm ci in bench/peers/node-ws")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_PEER, check=True)



def build(with_micro: bool, with_pg: bool) -> None:
    log("== build (release)")
    subprocess.run(["cmake", "--preset", "release", "-DRINGCAST_BUILD_BENCH=ON"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    targets = ["ringcast", "ringcast-bench"] + (["ringcast_micro"] if with_micro else []) + (
        ["ringcast-pg-ingest"] if with_pg else [])
    subprocess.run(["cmake", "--build", "--preset", "release", "--target", *targets], cwd=REPO,
                   check=True)


def run_micro(logs: pathlib.Path, micro_bin: pathlib.Path) -> dict:
    out = logs / "micro.json"
    argv = ["taskset", "-c", ROLES.tool_first, str(micro_bin), f"--benchmark_out={out}",
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



def select_cases(args: argparse.Namespace) -> list[plan.Case]:
    """The plan, cut to --only: a case's name picks it alone, anything else every case it
    starts."""
    cases = plan.build(args.quick)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        names = {c.name for c in cases}
        cases = [c for c in cases if any(c.name == w or (w not in names and c.name.startswith(w))
                                         for w in wanted)]
    return cases


def print_plan(cases: list[plan.Case], targets: list[Target], single_layout: layout.Layout,
               cluster_layout: layout.Layout) -> None:
    """--list: every case, what it runs against and how, then the CPU layouts."""
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
    log(f"   CPU layout: {report.describe_layouts(single_layout, cluster_layout)}")


class SuiteRun:
    """The runs of one bench/run, in order, and what they yielded so far: an interrupted suite
    still writes every record made before the interruption."""

    def __init__(self, args: argparse.Namespace, logs: pathlib.Path, bins: pathlib.Path,
                 pgsvc: pg.PgService, single_layout: layout.Layout,
                 cluster_layout: layout.Layout, nearest: float | None, started: float):
        self.args = args
        self.logs = logs
        self.server_bin = bins / SERVER_BIN.name
        self.tool_bin = bins / TOOL_BIN.name
        self.pg_ingest_bin = bins / PG_INGEST_BIN.name
        self.pgsvc = pgsvc
        self.single_layout = single_layout
        self.cluster_layout = cluster_layout
        # The nearest distance between the server's and the tool's CPUs seen so far: a run whose
        # samples stray far above it ran on distant vCPUs (placement.py). None: cannot be
        # measured.
        self.nearest = nearest
        self.started = started  # The suite's start: the run lines show the time since.
        self.records: list[dict] = []
        self.ceiling_records: list[dict] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run(self, cases: list[plan.Case], targets: list[Target]) -> None:
        for case in cases:
            log(f"-- {case.name}: {case.about}")
            # Repeats interleave the targets (ours, peer, ours, peer, ...) so a noisy spell
            # on the machine is less likely to land on one side only.
            for rep in range(self.args.repeat):
                if case.cluster:
                    self.run_cluster(case, rep)
                for target in targets:
                    if plan.applies(case, target.name, target.kind):
                        self.run_target(case, target, rep)
                if case.pg_ceiling:
                    self.run_ceiling(case, rep)

    def run_cluster(self, case: plan.Case, rep: int) -> None:
        self.pgsvc.pin(self.cluster_layout.cpus("postgresql"))
        rec = cluster.run_cluster_case(
            case, rep, self.logs, self.server_bin, self.tool_bin, self.pgsvc, log, self.elapsed,
            self.nearest is not None, self.cluster_layout)
        self.pgsvc.pin(self.single_layout.cpus("postgresql"))
        self.nearest = placement.nearest_after(self.nearest, rec)  # Recorded, never run again.
        if rep > 0:
            report.strip_buckets(rec)
        self.records.append(rec)
        log(f"   [{self.elapsed():5.0f}s] {case.name}: " + (
            "ok" if rec["ok"] else "FAILED (" + "; ".join(rec.get("errors", [])[:3]) + ")"))
        for f in rec["figures"]:
            log(f"      {f['metric']:<58} {report.fmt(f['value'], f['unit'])}")

    def run_target(self, case: plan.Case, target: Target, rep: int) -> None:
        """One run, and again (at most --placement-reruns times) while it ran on distant vCPUs:
        the runs it supersedes stay in the records, marked."""
        rec = run_case(case, target, self.logs, rep, self.tool_bin, self.pgsvc,
                       watch_placement=self.nearest is not None)
        for attempt in range(1, self.args.placement_reruns + 1):
            self.nearest = placement.nearest_after(self.nearest, rec)
            if not placement.far_run(rec, self.nearest):
                break
            rec["superseded"] = True
            self.records.append(rec)
            near, waited = placement.wait_for_near(self.tool_bin, ROLES.server, ROLES.tool_first,
                                                   self.nearest, self.args.placement_wait)
            log(f"   [{self.elapsed():5.0f}s] {target.name:<14} "
                f"{report.describe_run(rec)}: the vCPUs were far apart (cache line "
                f"{rec['cpu_distance_ns']['max']:.0f} ns, nearest "
                f"{self.nearest:.0f} ns); " + (f"near again after {waited:.0f} s"
                                               if near else f"still far after "
                                               f"{waited:.0f} s") + ": running it again")
            rec = run_case(case, target, self.logs, rep, self.tool_bin, self.pgsvc, attempt,
                           watch_placement=True)
        self.nearest = placement.nearest_after(self.nearest, rec)
        if rep > 0:
            report.strip_buckets(rec)  # The first run's histograms are kept whole.
        self.records.append(rec)
        log(f"   [{self.elapsed():5.0f}s] {target.name:<14} {report.describe_run(rec)}")
        if not rec["ok"]:
            tail = rec.get("server_log_tail", "").strip().splitlines()[-8:]
            for line in tail:
                log(f"      | {line}")

    def run_ceiling(self, case: plan.Case, rep: int) -> None:
        seconds, warmup = case.pg_ceiling_timing
        rec = pg.run_ceiling(self.pg_ingest_bin, self.pgsvc, case.pg_ceiling, seconds, warmup,
                             ROLES.tool, self.logs / f"{case.name}.pg-ceiling.{rep}.log",
                             f"ceiling_{rep}")
        rec |= {"case": case.name, "repeat": rep,
                "loadavg_end": pathlib.Path("/proc/loadavg").read_text().split()[:3]}
        self.ceiling_records.append(rec)
        log(f"   [{self.elapsed():5.0f}s] {'PostgreSQL':<14} {report.describe_ceiling(rec)}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    single_layout, cluster_layout = layouts(args)
    ROLES.apply(single_layout)
    if args.shards is None:
        args.shards = (single_layout.cores_of("server") if single_layout.policy != "two-cpu"
                       and not args.quick else 0)
    cases = select_cases(args)
    peers = peer_targets(args.peer, args.peer_url_base)
    targets = our_targets(args.shards2, shards_n=args.shards) + peers
    if args.list:
        print_plan(cases, targets, single_layout, cluster_layout)
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
    out = pathlib.Path(args.out) if args.out else (
        REPO / "bench" / "results" / report.results_name(
            f"{now:%Y-%m-%d}-{info['host']}", args.quick,
            [t.name for t in targets if t.kind == "peer"], args.only, [c.name for c in cases]))

    log(f"== bench/run {'quick' if args.quick else 'full'}: {len(cases)} cases; logs in "
        f"{logs.relative_to(REPO)}")
    log(f"   CPU layout: {report.describe_layouts(single_layout, cluster_layout)}")
    for t in targets:
        log(f"   {t.name}: {t.note}")
    cpu_before = machine.cpu_times()
    pgsvc = pg.PgService(log)
    pgsvc.pin(single_layout.cpus("postgresql"))

    def terminated(signum, frame):  # SIGTERM ends the run as Ctrl-C does: the cluster goes too.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    probes = [placement.measure_once(bins / TOOL_BIN.name, ROLES.server, ROLES.tool_first)
              for _ in range(3)]
    measured = [p for p in probes if p is not None]
    nearest = statistics.median(measured) if measured else None
    if nearest is None:
        log("note: CPU distance cannot be measured here (one CPU?): runs are not checked for "
            "vCPU placement")
    runs = SuiteRun(args, logs, bins, pgsvc, single_layout, cluster_layout, nearest, suite_start)
    try:
        runs.run(cases, targets)
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
    records, ceiling_records = runs.records, runs.ceiling_records

    result_placement = placement.summary(records, runs.nearest, args.placement_reruns)
    rows = report.collect_figures(records, cases, targets)
    ceiling = report.ceiling_rows(ceiling_records)
    report.add_ceiling_ratio(rows, ceiling)
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
        "pinning": {"server": f"CPU {ROLES.server} (ours-2shards: CPUs {two_shards_cpus})",
                    "load_tool": f"CPU {ROLES.tool}"},
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
    table = report.print_table(rows, targets)
    if ceiling:
        table += "\n\n" + report.print_ceiling(ceiling)
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
    tmp.write_text(report.dump_json(result) + "\n")
    tmp.replace(out)
    log(f"== wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}"
        + "".join(f", {p}" for p in result["plots"])
        + f" in {result['duration_s']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
