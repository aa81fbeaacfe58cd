"""The fixed set of scenarios the suite runs, and the headline figure each one yields.

A Case is one ringcast-bench invocation (or, for idle38k, two at once) against a fresh server.
Its `figures` function turns the tool's JSON report(s) into headline figures:
[(metric, value, unit, higher_is_better)]. Cases are identical for every target, so figures in
one row of the table are measured the same way, in the same run.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

Figure = tuple[str, float | None, str, bool]  # metric, value, unit, higher is better


@dataclasses.dataclass
class ClusterSpec:
    """A cluster case (bench/lib/cluster.py): the case's load against 1 node and `nodes` nodes
    on one database and one Redis. With compare_timing (chat): `rates` stepped up for the
    ceilings first, then latency at `share` of the 1-node ceiling (rounded to `round_to`).
    Without (fanout): every variant steps through `rates` and the p99 per rate compares."""
    nodes: int
    rates: str                          # --rates for the stepped runs (with --keep-going)
    step_timing: list[str]              # -d/-w per step of those
    compare_timing: list[str] | None = None  # -d/-w of the fixed-rate comparison runs
    share: float = 0.5
    round_to: int = 500
    # Scaling (chat-3node-fanout100, -redis2): 1 node and `nodes` nodes step through `rates`
    # until the ack p99 passes ack_limit_ms; deliveries/s of the best step within it compare.
    scaling: bool = False
    redis: int = 1                      # redis-server instances of the cluster (--redis a,b)
    ack_limit_ms: float = 20.0


@dataclasses.dataclass
class Case:
    name: str                 # "echo-100c-32B"
    scenario: str             # ringcast-bench subcommand
    path: str                 # URL path appended to the target's base URL
    args: list[str]           # scenario flags (besides url, --json, --server-pid, -q)
    figures: Callable[[list[dict]], list[Figure]]
    targets: str = "all"      # "all", "ours" (ours, 1 shard), "ours-2shards" only
    processes: int = 1        # > 1: that many tool processes at once, disjoint --sources
    about: str = ""
    x: dict = dataclasses.field(default_factory=dict)  # Plot coordinates (connections, size).
    # Extra flags for the server of this case (ours only); "{data_dir}" becomes a fresh
    # directory for the run, removed after it; "{database_url}" a fresh database (CREATE
    # DATABASE) on the suite's throwaway PostgreSQL cluster, dropped after it.
    server_args: list[str] = dataclasses.field(default_factory=list)
    # PostgreSQL's own ingest ceiling, measured by ringcast-pg-ingest after each run of this
    # case (interleaved with its repeats): mode:batch:connections points, seconds, warmup.
    pg_ceiling: list[str] = dataclasses.field(default_factory=list)
    pg_ceiling_timing: tuple[float, float] = (3.0, 0.5)
    # A cluster case runs its own set of servers (targets="cluster"), see ClusterSpec.
    cluster: ClusterSpec | None = None
    # Over TLS: ours gets a throwaway self-signed certificate and --tls-port, and the tool
    # connects with wss:// there (its twin without "-tls" runs the same load in cleartext).
    tls: bool = False

    def needs_pg(self) -> bool:
        return bool(self.pg_ceiling) or any("{database_url}" in a for a in self.server_args)


def _server_cpu_figures(reports: list[dict], messages: float | None) -> list[Figure]:
    """Server CPU per message: what a message costs the server whatever limits the rate (on two
    cores the load tool often does, and more so when it too runs TLS or deflate)."""
    cpu = (reports[0].get("server") or {}).get("cpu_seconds_measured")
    return [("server CPU per message", cpu / messages * 1e9, "ns", False)] if cpu and messages \
        else []


def _echo_figures(reports: list[dict]) -> list[Figure]:
    r = reports[0]["results"]
    return [("messages/s", r.get("messages_per_s"), "msgs/s", True)] + \
        _server_cpu_figures(reports, r.get("messages_measured"))


def _broadcast_figures(reports: list[dict]) -> list[Figure]:
    r = reports[0]["results"]
    return [("deliveries/s", r.get("deliveries_per_s"), "deliveries/s", True)] + \
        _server_cpu_figures(reports, r.get("deliveries_in_window"))


def _wire_figures(reports: list[dict]) -> list[Figure]:
    """The wire's share of the payload (the chat-payload cases, with and without
    permessage-deflate, read side by side)."""
    totals = reports[0].get("totals") or {}
    payload, wire = totals.get("payload_bytes_received"), totals.get("bytes_received")
    return [("bytes received / payload bytes", 100.0 * wire / payload, "%", False)] \
        if payload and wire else []


def _chat_echo_figures(reports: list[dict]) -> list[Figure]:
    return _echo_figures(reports) + _wire_figures(reports)


def _chat_broadcast_figures(reports: list[dict]) -> list[Figure]:
    return _broadcast_figures(reports) + _wire_figures(reports)


def _fanout_figures(reports: list[dict]) -> list[Figure]:
    r = reports[0]["results"]
    out: list[Figure] = [("max rate with p99 <= 10 ms", r.get("max_rate_within_limit") or 0.0,
                          "msgs/s", True)]
    steps = r.get("steps") or []
    if steps:
        first = steps[0]
        out.append((f"p99 at {first['rate']:g} msgs/s", first["latency_ns"]["p99"] / 1e6, "ms",
                    False))
    return out


def _chat_figures(reports: list[dict]) -> list[Figure]:
    r = reports[0]["results"]
    out: list[Figure] = [
        ("max rate with ack p99 <= 20 ms", r.get("max_rate_within_limit") or 0.0, "msgs/s", True),
        ("persisted msgs/s (best step)", r.get("max_acks_per_s"), "msgs/s", True)]
    steps = r.get("steps") or []
    if steps:
        first = steps[0]
        out.append((f"ack p99 at {first['rate']:g} msgs/s", first["ack_latency_ns"]["p99"] / 1e6,
                    "ms", False))
        out.append((f"delivery p99 at {first['rate']:g} msgs/s",
                    first["delivery_latency_ns"]["p99"] / 1e6, "ms", False))
        # The target rate (ack p99 <= 20 ms at 25,000 msgs/s), when the steps got there.
        at_target = next((s for s in steps if s["rate"] == 25000), None)
        if at_target is not None and at_target is not first:
            out.append(("ack p99 at 25000 msgs/s", at_target["ack_latency_ns"]["p99"] / 1e6, "ms",
                        False))
    return out


# The chat server for the chat case: cheap password hashes (setup registers 1,000 users), no
# login or message rate limit in the way of the load, and its own store.
CHAT_SERVER_ARGS = ["--data-dir", "{data_dir}", "--password-cost", "10", "--login-rate-ip",
                    "1000000", "--login-rate-user", "1000", "--register-rate-ip", "1000000",
                    "--msg-rate", "1000000"]


def _overload_figures(reports: list[dict]) -> list[Figure]:
    # chat-overload: one step far past the store's ceiling, refusals not retried (--no-retry).
    r = reports[0]["results"]
    step = (r.get("steps") or [{}])[0]
    sent = step.get("sent") or 0
    refused = step.get("refused") or 0
    lat = step.get("ack_latency_ns") or {}
    return [("acks/s", step.get("acks_per_s"), "msgs/s", True),
            ("ack p99", lat["p99"] / 1e6 if "p99" in lat else None, "ms", False),
            ("ack max", lat["max"] / 1e6 if "max" in lat else None, "ms", False),
            ("refused share", 100.0 * refused / sent if sent else None, "%", False)]


def _idle_figures(reports: list[dict]) -> list[Figure]:
    server = reports[0].get("server") or {}
    return [("server RSS per connection", server.get("rss_bytes_per_connection"), "B", False)]


def _idle_multi_figures(reports: list[dict]) -> list[Figure]:
    # Filled in by the suite from its own /proc sampling across all processes (see case_run.py).
    return []


def build(quick: bool) -> list[Case]:
    """The plan. Full: about a minute per target and case set (ours, 2 shards: ~3 minutes).
    Quick: about 30 s per target."""
    d, w = ("2", "0.5") if quick else ("5", "1")
    timing = ["-d", d, "-w", w]
    cases: list[Case] = []
    echo_shapes = [(100, 32), (1000, 1024)]
    if not quick:
        echo_shapes = [(100, 32), (100, 1024), (1000, 32), (1000, 1024)]
    for conns, size in echo_shapes:
        label = "1KiB" if size == 1024 else f"{size}B"
        cases.append(Case(
            f"echo-{conns}c-{label}", "echo", "/echo",
            ["-c", str(conns), "-p", "16", "-s", str(size), *timing], _echo_figures,
            about=f"{conns} connections x 16 messages of {size} B in flight, closed loop",
            x={"connections": conns, "size": size}))
    for clients in [100, 500]:
        cases.append(Case(
            f"broadcast-{clients}c", "broadcast", "/raw/bench",
            ["-c", str(clients), "-s", "20", *timing], _broadcast_figures,
            about=f"{clients} clients on one channel; each iteration all send one 20-byte "
                  f"binary message and wait for all {clients}",
            x={"connections": clients}))
    # TLS (ours only: the peers are run without it): the same loads as echo-100c-1KiB,
    # echo-1000c-1KiB and broadcast-500c, over wss:// to --tls-port, so the table shows what
    # TLS costs against cleartext in the same run.
    for twin in [c for c in cases
                 if c.name in ("echo-100c-1KiB", "echo-1000c-1KiB", "broadcast-500c")]:
        cases.append(dataclasses.replace(
            twin, name=twin.name + "-tls", targets="ours", tls=True,
            about=twin.about + "; over TLS (wss://, user-space OpenSSL in the server)",
            x=dict(twin.x, tls=True)))
    # permessage-deflate (--ws-deflate): the same chat-like payloads (JSON chat events,
    # ringcast-bench --payload chat) with and without it, in the same run, ours only (the peers
    # are not set up for it). The client offers no context takeover and compresses every message
    # it sends, as browsers do; the figures add the server's CPU per message (per delivery for
    # broadcast) and the bytes received per payload byte (the wire's share: what deflate saves).
    for deflate in (False, True):
        kind = "deflate" if deflate else "chat"
        flags = ["--payload", "chat"] + (["--deflate"] if deflate else [])
        server = ["--data-dir", "{data_dir}"] + (["--ws-deflate"] if deflate else [])
        cases.append(Case(
            f"echo-{kind}-100c-1KiB", "echo", "/echo",
            ["-c", "100", "-p", "16", "-s", "1024", *flags, *timing], _chat_echo_figures,
            targets="ours", server_args=server,
            about="100 connections x 16 messages of 1 KiB of JSON chat events in flight" +
                  (", permessage-deflate both ways" if deflate else ", uncompressed"),
            x={"connections": 100, "size": 1024}))
        cases.append(Case(
            f"broadcast-{kind}-100c", "broadcast", "/raw/bench",
            ["-c", "100", "-s", "400", *flags, *timing], _chat_broadcast_figures,
            targets="ours", server_args=server,
            about="100 clients on one channel, each iteration all send one 400-byte message of "
                  "JSON chat events and wait for all 100" +
                  (", permessage-deflate (compressed once per message, however many "
                   "recipients)" if deflate else ", uncompressed"),
            x={"connections": 100}))
    # One message to 1,000 subscribers is a burst of 1,000 sends, each a loopback TCP segment
    # whose receive path the kernel runs on the sending CPU: the burst alone takes several ms.
    # 100 channels of 100 show the delivery capacity instead of the burst length.
    fanout_timing = ["-d", "2", "-w", "0.5"] if quick else ["-d", "3", "-w", "1"]
    fanout_shapes = [(100, "250,750")] if quick else [
        (10, "10,25,50,100,150,200,300"), (100, "100,250,500,750,1000,1250,1500,2000,3000")]
    for channels, rates in fanout_shapes:
        per_channel = 10000 // channels
        cases.append(Case(
            "fanout-10k" if channels == 10 else f"fanout-10k-{channels}ch", "fanout", "",
            ["-c", "10000", "-k", str(channels), "-s", "32", "--rates", rates,
             "--p99-limit-ms", "10", *fanout_timing], _fanout_figures,
            about=f"10,000 subscribers over {channels} channels ({per_channel} each), "
                  f"{channels} open-loop publishers; the rate steps up until p99 delivery "
                  f"latency > 10 ms",
            x={"connections": 10000, "channels": channels}))
    # Chat: the whole service (JSON, SQLite group commit, fan-out to members), ours only since
    # the peers have no chat. 1,000 users in 100 groups of 10; the rate steps up until the ack
    # p99 (the message is committed) exceeds 20 ms.
    chat_rates = "10000,25000" if quick else "5000,10000,25000,40000,50000,60000,75000,100000"
    chat_timing = ["-d", "2", "-w", "0.5"] if quick else ["-d", "3", "-w", "1"]
    cases.append(Case(
        "chat-1k", "chat", "",
        ["--users", "1000", "--groups", "100", "--group-size", "10", "--body-bytes", "100",
         "--rates", chat_rates, "--p99-limit-ms", "20", *chat_timing], _chat_figures,
        targets="ours",
        about="chat service: 1,000 users (one WebSocket each) in 100 groups of 10, open-loop "
              "sends of 100-byte messages; rates step up until the ack p99 > 20 ms",
        x={"connections": 1000}, server_args=CHAT_SERVER_ARGS))
    # The same load on the PostgreSQL store: a fresh database per run on the suite's cluster
    # (fsync on, synchronous_commit on: an ack is a commit), beside PostgreSQL's own ceiling
    # for the same rows, so the persisted rate reads as a share of what the database takes.
    # Steps to 50,000/s with --keep-going, so the ack p99 at 25,000/s (the target) is
    # measured even when a lower rate already missed 20 ms, and the best step's acks/s is what
    # the store sustains under overload.
    pg_rates = "5000,25000" if quick else "5000,10000,25000,40000,50000"
    chat_args = [pg_rates if a == chat_rates else a for a in cases[-1].args] + ["--keep-going"]
    if quick:
        ceiling = ["store:1000:1", "store:1000:2", "insert:1:1"]
    else:
        ceiling = [f"store:{b}:{c}" for c in (1, 2) for b in (1, 16, 256, 1000)]
        ceiling += ["insert:1:1", "insert:1000:1"]
    cases.append(Case(
        "chat-1k-pg", "chat", "", list(chat_args), _chat_figures, targets="ours",
        about="chat-1k on PostgreSQL: a fresh database per run on a throwaway cluster (fsync "
              "on); then PostgreSQL's ingest ceiling for the same rows (ringcast-pg-ingest)",
        x={"connections": 1000}, server_args=CHAT_SERVER_ARGS + ["--database-url",
                                                                 "{database_url}"],
        pg_ceiling=ceiling, pg_ceiling_timing=(2.0, 0.5) if quick else (3.0, 0.5)))
    # Overload (issue 28): chat-1k's load at 100,000 msgs/s, about 4x the SQLite store's
    # one-shard ceiling, for a few seconds; `unavailable` answers are counted, not retried, so
    # the figures are the ack latency of what was admitted and the refused share
    # (--max-store-wait-ms bounds the first; with the count bound alone it was seconds).
    cases.append(Case(
        "chat-overload", "chat", "",
        ["--users", "1000", "--groups", "100", "--group-size", "10", "--body-bytes", "100",
         "--rates", "100000", "--p99-limit-ms", "1000", "--no-retry",
         *(["-d", "3", "-w", "0.5"] if quick else ["-d", "5", "-w", "1"])], _overload_figures,
        targets="ours",
        about="chat-1k's load at 100,000 msgs/s (about 4x the SQLite ceiling) for a few "
              "seconds, refusals counted, not retried: ack latency of the admitted, refused share",
        x={"connections": 1000}, server_args=CHAT_SERVER_ARGS))
    # Cluster mode (issue 10): chat-1k against 3 nodes (each --threads 1, all on CPU 0) on one
    # PostgreSQL database and one Redis, users spread round-robin over the nodes, against 1
    # node on the same store in the same run. On 2 cores this shows what crossing nodes costs
    # (delivery latency at half the 1-node ceiling, persisted msgs/s), not scaling.
    if not quick:  # About 3 minutes for both: the full plan only.
        cases.append(Case(
            "chat-3node", "chat", "",
            ["--users", "1000", "--groups", "100", "--group-size", "10", "--body-bytes", "100",
             "--p99-limit-ms", "20"], lambda reports: [], targets="cluster",
            about="chat-1k on PostgreSQL: 1 node vs 3 nodes (cluster mode: one database, one "
                  "Redis, users round-robin over the nodes); ceilings, then delivery latency "
                  "at half the 1-node ceiling",
            x={"connections": 1000}, server_args=CHAT_SERVER_ARGS + ["--database-url",
                                                                     "{database_url}"],
            cluster=ClusterSpec(nodes=3, rates="5000,10000,20000,30000,40000",
                                step_timing=["-d", "3", "-w", "1"],
                                compare_timing=["-d", "10", "-w", "2"])))
        # Scaling out (issue 28): groups of 100, so a message is 100 deliveries and fan-out, not
        # the store's writes, is the work; 1 node against 3 on their own cores (layout.py),
        # then the same on two redis-server instances (--redis a,b; skipped by servers
        # without the list form).
        fanout100 = ["--users", "1000", "--groups", "10", "--group-size", "100",
                     "--body-bytes", "100", "--p99-limit-ms", "20"]
        for name, redis in (("chat-3node-fanout100", 1), ("chat-3node-redis2", 2)):
            cases.append(Case(
                name, "chat", "", list(fanout100), lambda reports: [], targets="cluster",
                about="chat on PostgreSQL, 1,000 users in 10 groups of 100 (a message is 100 "
                      "deliveries): 1 node vs 3 nodes on " + (
                          "one Redis" if redis == 1 else f"{redis} redis-server instances") +
                      ", rates stepped up until the ack p99 > 20 ms; deliveries/s of the best "
                      "step within it, delivery p99 to the sender's node and another",
                x={"connections": 1000}, server_args=CHAT_SERVER_ARGS + [
                    "--database-url", "{database_url}"],
                cluster=ClusterSpec(nodes=3, rates="100,250,500,1000,2000,3000,4000,6000,"
                                                   "8000,12000,16000,24000,32000",
                                    step_timing=["-d", "3", "-w", "1"], scaling=True,
                                    redis=redis)))
        # Raw channels across nodes: 1,000 subscribers over 10 channels (100 each) spread over
        # the nodes, 10 publishers; cluster mode needs --database-url, though raw channels do
        # not touch the database.
        cases.append(Case(
            "fanout-3node", "fanout", "",
            ["-c", "1000", "-k", "10", "-s", "32", "--p99-limit-ms", "10"], lambda reports: [],
            targets="cluster",
            about="1,000 subscribers over 10 raw channels, 10 publishers: 1 node vs 3 nodes "
                  "(cluster mode: one Redis, subscribers and publishers round-robin over the "
                  "nodes) at the same rates",
            x={"connections": 1000},
            server_args=["--raw-channels", "--data-dir", "{data_dir}", "--database-url",
                         "{database_url}"],
            cluster=ClusterSpec(nodes=3, rates="100,250,500,1000,1500",
                                step_timing=["-d", "3", "-w", "1"])))
    hold = "1" if quick else "5"
    for conns in ([10000] if quick else [10000, 19000]):
        cases.append(Case(
            f"idle{conns // 1000}k", "idle", "/echo",
            ["-c", str(conns), "--hold", hold], _idle_figures, targets="ours-and-peers",
            about=f"{conns} idle WebSocket connections held {hold} s; fresh server",
            x={"connections": conns}))
    if not quick:
        cases.append(Case(
            "idle38k", "idle", "/echo", ["-c", "19000", "--hold", hold], _idle_multi_figures,
            targets="ours-2shards", processes=2,
            about="38,000 idle connections to one 2-shard server from two client processes "
                  "(one process is limited to 20,000 fds)",
            x={"connections": 38000}))
    return cases


def applies(case: Case, target_name: str, target_kind: str) -> bool:
    if case.cluster is not None:  # Runs its own nodes (bench/lib/cluster.py), no target's.
        return False
    if case.targets == "all":
        return True
    if case.targets == "ours-and-peers":  # Idle per-connection memory: 1-shard figures only.
        return not target_name.startswith("ours-")
    return case.targets == target_name
