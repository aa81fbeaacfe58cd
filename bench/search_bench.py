#!/usr/bin/env python3
"""Message search latency (GET /api/search; storage/SCHEMA.md "Search"), issue 25's target: p99
<= 50 ms with 1,000,000 messages across 10,000 conversations, on SQLite and on PostgreSQL.

1. A server starts on a fresh data dir (and, for --store pg, a fresh database at
   $RINGCAST_TEST_DATABASE_URL: run under tools/pgtmp) and creates the schema; --searchers users
   register and log in through the API; the server stops.
2. The store is filled directly (SQLite: one transaction of INSERTs, the FTS5 triggers indexing
   as they would; PostgreSQL: COPY with the search index dropped, then created again as the
   migration does): --users filler users, --conversations groups of 3 of them, --messages
   messages spread evenly, 4 to 20 words each drawn from a Zipf (s = 1) vocabulary of 5,000
   words. Each searcher is a member of --member-of conversations (100 messages each by default).
3. The server starts again on the filled store; after a warm-up, --queries searches round-robin
   over the searchers, from a fixed mix: a rare word (vocabulary rank 1000-5000), a middling one
   (100-1000), a common one (10-100), two words (common AND middling), a middling word within one
   conversation, and a middling word from one author. Each is timed at the client (HTTP on
   loopback, one keep-alive connection) and reported per class and overall: p50, p99, max.

    tools/pgtmp run -- /usr/bin/python3 bench/search_bench.py --store pg \
        --binary build/release/core/ringcast
    /usr/bin/python3 bench/search_bench.py --store sqlite --messages 1000000

With --index-cost instead: what keeping the index costs the writes. chat-1k (bench/plan.py: 1,000
users in 100 groups of 10, open-loop 100-byte sends, rates stepping up until the ack p99 > 20 ms)
from ringcast-bench (--tool, CPU 1) against a fresh SQLite server (--threads 1, CPU 0), with the
index (--binary) and without it (--without-binary: a build of the commit before search, where
nothing else differs), alternated for --rounds. Reported: the persisted msgs/s (best step) and
the highest rate within the p99 limit, per round and as medians.

    /usr/bin/python3 bench/search_bench.py --index-cost --rounds 3 --without-binary PATH

Not a test: nothing is asserted. Writes bench/results/search-<store>.json (search-index-cost.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench" / "lib"))
import api_client  # noqa: E402
from throwaway import free_port  # noqa: E402

VOCABULARY = 5000
PASSWORD = "benchmark-password"
SERVER_FLAGS = ["--threads", "2", "--password-cost", "10", "--login-rate-ip", "100000",
                "--login-rate-user", "100000", "--register-rate-ip", "100000",
                "--login-backoff-after", "0"]


def words() -> list[str]:
    """5,000 distinct pronounceable words, the same every run."""
    rng = random.Random(25)
    syllables = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < VOCABULARY:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


class Server:
    def __init__(self, binary: str, data_dir: str, database_url: str | None, log: pathlib.Path):
        self.port = free_port()
        self.metrics_port = free_port()
        args = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", data_dir,
                "--metrics-port", str(self.metrics_port), *SERVER_FLAGS]
        env = dict(os.environ)
        if database_url:
            env["RINGCAST_DATABASE_URL"] = database_url
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/api/users?q=x")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"server did not start; see {log}")

    def request(self, method: str, path: str, body=None, token=None) -> tuple[int, bytes]:
        return api_client.request(self.port, method, path, body, token)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def register(server: Server, count: int) -> list[tuple[int, str]]:
    users = []
    for i in range(count):
        name = f"searcher{i}"
        status, body = server.request("POST", "/api/register",
                                      {"username": name, "password": PASSWORD})
        assert status == 201, (status, body)
        status, body = server.request("POST", "/api/login",
                                      {"username": name, "password": PASSWORD})
        assert status == 200, (status, body)
        data = json.loads(body)
        users.append((data["user_id"], data["token"]))
    return users


def zipf_sampler(rng: random.Random, vocab: list[str]):
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def body() -> str:
        return " ".join(rng.choices(vocab, cum_weights=cumulative, k=rng.randint(4, 20)))

    return body


def plan(args, searchers: list[tuple[int, str]], first_user: int):
    """Filler users, conversations with their members, and the messages, as rows."""
    rng = random.Random(1)
    fillers = list(range(first_user, first_user + args.users))
    members: dict[int, list[int]] = {}
    for conv in range(1, args.conversations + 1):
        members[conv] = rng.sample(fillers, 3)
    for user, _ in searchers:
        for conv in rng.sample(range(1, args.conversations + 1), args.member_of):
            members[conv].append(user)
    return fillers, members


def message_rows(args, members: dict[int, list[int]], vocab: list[str]):
    rng = random.Random(2)
    body = zipf_sampler(rng, vocab)
    per_conv = args.messages // args.conversations
    start = 1_700_000_000_000
    for conv, users in members.items():
        for seq in range(1, per_conv + 1):
            yield (conv, seq, rng.choice(users[:3]), body(), start + conv * 1000 + seq)


def fill_sqlite(args, data_dir: str, searchers, vocab) -> dict[int, list[int]]:
    db = sqlite3.connect(os.path.join(data_dir, "chat.db"), isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    first_user = db.execute("SELECT max(id) + 1 FROM users").fetchone()[0]
    fillers, members = plan(args, searchers, first_user)
    db.execute("BEGIN")
    db.executemany("INSERT INTO users(id, username, password_hash, created_at) VALUES (?, ?, 'x', 1)",
                   ((u, f"filler{u}") for u in fillers))
    db.executemany("INSERT INTO conversations(id, name, is_group, created_at) VALUES (?, ?, 1, 1)",
                   ((c, f"group {c}") for c in members))
    db.executemany("INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
                   "VALUES (?, ?, 1)", ((c, u) for c, us in members.items() for u in us))
    db.executemany("INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at) "
                   "VALUES (?, ?, ?, 'text', ?, ?)", message_rows(args, members, vocab))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return members


def fill_pg(args, url: str, searchers, vocab, tmp: str) -> dict[int, list[int]]:
    def psql(sql: str) -> str:
        return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    first_user = int(psql("SELECT max(id) + 1 FROM users"))
    fillers, members = plan(args, searchers, first_user)
    index = psql("SELECT pg_get_indexdef('messages_search'::regclass)")
    files = {name: os.path.join(tmp, name) for name in ("users", "convs", "members", "messages")}
    with open(files["users"], "w") as f:
        f.writelines(f"{u}\tfiller{u}\tx\t1\n" for u in fillers)
    with open(files["convs"], "w") as f:
        f.writelines(f"{c}\tgroup {c}\tt\t1\t{args.messages // args.conversations}\n"
                     for c in members)
    with open(files["members"], "w") as f:
        f.writelines(f"{c}\t{u}\t1\n" for c, us in members.items() for u in us)
    with open(files["messages"], "w") as f:
        for n, (conv, seq, sender, body, ts) in enumerate(message_rows(args, members, vocab)):
            f.write(f"{conv}\t{seq}\t{sender}\ttext\t{body}\t{ts}\tb{n}\n")
    psql("DROP INDEX messages_search")
    script = "\n".join([
        "SET maintenance_work_mem = '256MB';",
        f"\\copy users(id, username, password_hash, created_at) FROM '{files['users']}'",
        f"\\copy conversations(id, name, is_group, created_at, last_seq) FROM '{files['convs']}'",
        f"\\copy users_conversations(conversation_id, user_id, joined_at) FROM '{files['members']}'",
        f"\\copy messages(conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id) "
        f"FROM '{files['messages']}'",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));",
        "SELECT setval(pg_get_serial_sequence('conversations', 'id'), "
        "(SELECT max(id) FROM conversations));",
        f"{index};",
        "VACUUM ANALYZE;",
    ])
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input=script, text=True,
                   check=True, capture_output=True)
    return members


def queries(args, searchers, members, vocab) -> list[tuple[str, str, dict]]:
    rng = random.Random(3)
    mine = {user: [c for c, us in members.items() if user in us] for user, _ in searchers}
    out = []
    classes = ["rare", "middling", "common", "two words", "in a conversation", "from an author"]
    for i in range(args.queries):
        user, token = searchers[i % len(searchers)]
        kind = classes[i % len(classes)]
        params: dict = {}
        if kind == "rare":
            q = rng.choice(vocab[1000:])
        elif kind == "middling":
            q = rng.choice(vocab[100:1000])
        elif kind == "common":
            q = rng.choice(vocab[10:100])
        elif kind == "two words":
            q = f"{rng.choice(vocab[10:100])} {rng.choice(vocab[100:1000])}"
        elif kind == "in a conversation":
            q = rng.choice(vocab[100:1000])
            params["conv"] = rng.choice(mine[user])
        else:
            q = rng.choice(vocab[100:1000])
            params["from"] = rng.choice(members[rng.choice(mine[user])][:3])
        out.append((kind, token, {"q": q, **params}))
    return out


def measure(server: Server, work) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    timings: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    for kind, token, params in work:
        path = "/api/search?" + urllib.parse.urlencode(params)
        start = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - start) * 1000
        assert r.status == 200, (r.status, body)
        timings.setdefault(kind, []).append(elapsed)
        hits.setdefault(kind, []).append(len(json.loads(body)["results"]))
    conn.close()

    def summary(values: list[float]) -> dict:
        values = sorted(values)
        return {"n": len(values), "p50_ms": round(statistics.median(values), 2),
                "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
                "max_ms": round(values[-1], 2)}

    out = {kind: summary(values) | {"mean_hits": round(statistics.mean(hits[kind]), 1)}
           for kind, values in timings.items()}
    out["all"] = summary([v for values in timings.values() for v in values])
    return out


CHAT_1K = ["--users", "1000", "--groups", "100", "--group-size", "10", "--body-bytes", "100",
           "--rates", "5000,10000,25000,40000,50000,60000,75000,100000", "--p99-limit-ms", "20",
           "-d", "3", "-w", "1"]
# --keep-going: every rate is run, so the best step is what the store sustains overloaded
# (chat-1k-pg's way), not the step where the p99 first went over.
KEEP_GOING = ["--keep-going"]
CHAT_SERVER = ["--threads", "1", "--no-pin-threads", "--password-cost", "10",
               "--login-rate-ip", "1000000", "--login-rate-user", "1000", "--register-rate-ip",
               "1000000", "--msg-rate", "1000000"]


def chat_1k(args, binary: str, tmp: str, label: str) -> dict:
    data_dir = os.path.join(tmp, label)
    os.mkdir(data_dir)
    log = pathlib.Path(tmp) / f"{label}.log"

    metrics_port = free_port()

    def start() -> tuple[subprocess.Popen, int]:
        port = free_port()
        proc = subprocess.Popen(["taskset", "-c", "0", binary, "--host", "127.0.0.1",
                                 "--port", str(port), "--data-dir", data_dir, *CHAT_SERVER,
                                 "--metrics-port", str(metrics_port)],
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                return proc, port
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"server did not start; see {log}")

    proc, port = start()
    report = os.path.join(tmp, f"{label}.json")
    subprocess.run(["taskset", "-c", "1", args.tool, "chat", f"ws://127.0.0.1:{port}", *CHAT_1K,
                    *(KEEP_GOING if args.keep_going else []), "-q", "--json", report, "--server-pid", str(proc.pid)],
                   stdout=subprocess.DEVNULL)  # Over the limit it exits 1: the report says how.
    # The index (search.db, a thread at a lower priority) may be behind the appends after an
    # overloaded run: how far, and how long it takes to catch up once the load stops.
    lag_at_end, caught_up_s = index_lag(metrics_port), None
    if lag_at_end is not None:
        began = time.monotonic()
        while time.monotonic() - began < 300:
            if index_lag(metrics_port) == 0:
                caught_up_s = round(time.monotonic() - began, 2)
                break
            time.sleep(0.1)
    proc.terminate()
    proc.wait(60)
    results = json.loads(pathlib.Path(report).read_text())["results"]
    p99 = {f"ack_p99_ms_at_{step['rate']}": round(step["ack_latency_ns"]["p99"] / 1e6, 1)
           for step in results.get("steps", []) if step["rate"] in (5000, 10000)}
    return {"persisted_msgs_per_s": results.get("max_acks_per_s"),
            "max_rate_within_p99_limit": results.get("max_rate_within_limit"), **p99,
            "index_lag_at_end_messages": lag_at_end,
            "index_caught_up_after_s": caught_up_s}


def index_lag(metrics_port: int) -> int | None:
    """ringcast_store_search_index_lag_messages, or None for a server without it (before v16)."""
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        for line in conn.getresponse().read().decode().splitlines():
            if line.startswith("ringcast_store_search_index_lag_messages "):
                return int(float(line.split()[1]))
    except OSError:
        pass
    finally:
        conn.close()
    return None


def index_cost(args) -> int:
    tmp = tempfile.mkdtemp(prefix="search-index-cost-")
    rounds: list[dict] = []
    try:
        for n in range(args.rounds):
            row = {}
            for indexed in (True, False):
                label = f"{'with' if indexed else 'without'}-{n}"
                binary = args.binary if indexed else args.without_binary
                row["with index" if indexed else "without index"] = chat_1k(args, binary, tmp,
                                                                            label)
                print(label, row, flush=True)
            rounds.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    medians = {mode: {metric: statistics.median(r[mode][metric] or 0 for r in rounds)
                      for metric in rounds[0][mode] if not metric.startswith("index_")}
               for mode in rounds[0]}
    with_rate = medians["with index"]["persisted_msgs_per_s"]
    without_rate = medians["without index"]["persisted_msgs_per_s"]
    result = {"rounds": rounds, "medians": medians,
              "persisted_cost_percent": round(100 * (1 - with_rate / without_rate), 1)
              if without_rate else None}
    print(json.dumps(result, indent=1))
    out = pathlib.Path(args.out or ROOT / "bench/results/search-index-cost.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=str(ROOT / "build/release/core/ringcast"))
    p.add_argument("--store", choices=["sqlite", "pg"], default="sqlite")
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--conversations", type=int, default=10_000)
    p.add_argument("--users", type=int, default=3_000, help="filler users (3 per conversation)")
    p.add_argument("--searchers", type=int, default=10)
    p.add_argument("--member-of", type=int, default=100,
                   help="conversations each searcher is a member of")
    p.add_argument("--queries", type=int, default=1200)
    p.add_argument("--out", default=None)
    p.add_argument("--index-cost", action="store_true",
                   help="chat-1k with and without the index instead (SQLite)")
    p.add_argument("--without-binary",
                   help="--index-cost: the server built from the commit before search")
    p.add_argument("--tool", default=str(ROOT / "build/release/tools/ringcast-bench"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--keep-going", action="store_true",
                   help="--index-cost: run every rate (the best step under overload)")
    args = p.parse_args()
    if args.index_cost:
        if not args.without_binary:
            p.error("--index-cost needs --without-binary")
        return index_cost(args)
    url = os.environ.get("RINGCAST_TEST_DATABASE_URL") if args.store == "pg" else None
    if args.store == "pg" and not url:
        raise SystemExit("--store pg runs under tools/pgtmp run -- (RINGCAST_TEST_DATABASE_URL)")
    vocab = words()
    tmp = tempfile.mkdtemp(prefix="search-bench-")
    log = pathlib.Path(tmp) / "server.log"
    result: dict = {"store": args.store, "args": vars(args)}
    try:
        if url:
            name = f"search_bench_{os.getpid()}"
            subprocess.run(["psql", url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
            url = urllib.parse.urlunsplit(
                urllib.parse.urlsplit(url)._replace(path=f"/{name}"))
        data_dir = os.path.join(tmp, "data")
        os.mkdir(data_dir)
        server = Server(args.binary, data_dir, url, log)
        searchers = register(server, args.searchers)
        server.stop()
        started = time.monotonic()
        if url:
            members = fill_pg(args, url, searchers, vocab, tmp)
        else:
            members = fill_sqlite(args, data_dir, searchers, vocab)
        result["fill_s"] = round(time.monotonic() - started, 1)
        print(f"filled {args.messages} messages in {result['fill_s']} s", flush=True)
        server = Server(args.binary, data_dir, url, log)
        if not url:
            # The server builds search.db from the messages (its index thread, in passes of
            # 20,000): timed, then the searches run on the whole index.
            started = time.monotonic()
            while index_lag(server.metrics_port) != 0:
                if time.monotonic() - started > 1800:
                    raise SystemExit(f"search.db not built in 30 minutes; see {log}")
                time.sleep(0.2)
            result["index_build_s"] = round(time.monotonic() - started, 1)
            print(f"search.db built in {result['index_build_s']} s", flush=True)
        work = queries(args, searchers, members, vocab)
        measure(server, work[: len(work) // 4])  # Warm-up: the caches, the prepared plans.
        result["latency"] = measure(server, work)
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result["latency"], indent=1))
    out = pathlib.Path(args.out or ROOT / f"bench/results/search-{args.store}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
