"""What the single-server cases of bench/run run against, and on which CPUs.

The binaries the suite builds and measures, the CPUs of the single-server layout's roles (the
server under test, the load tool), and the targets built from them: ours on one, two and N
shards, and every --peer. The CPU roles (ROLES) are one shared object because every run of the
suite reads them: bench/run sets them once from the CPU layout before anything starts; until then
they are the two-CPU layout's, which is what a test that imports the module gets.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shlex
import sys

import layout
from servers import BENCH_CONNS_PER_IP, Target

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "release"
SERVER_BIN = BUILD / "core" / "ringcast"
TOOL_BIN = BUILD / "tools" / "ringcast-bench"
MICRO_BIN = BUILD / "bench" / "ringcast_micro"
PG_INGEST_BIN = BUILD / "bench" / "ringcast-pg-ingest"
NODE_PEER = REPO / "bench" / "peers" / "node-ws"


@dataclasses.dataclass
class CpuRoles:
    """Where the server under test and the load tool run in the single-server cases: set from
    the CPU layout (layout.py) by bench/run; until then the two-CPU layout's."""
    server: str = "0"
    tool: str = "1"
    tool_threads: int = 1
    tool_first: str = "1"  # The placement probe's and the micro-benchmarks' CPU.
    single_layout: layout.Layout | None = None

    def apply(self, single: layout.Layout) -> None:
        """The single-server layout's CPUs (targets, tool, probes)."""
        self.single_layout = single
        self.server = single.first("server")
        self.tool = single.cpus("tool") or self.tool
        self.tool_first = single.first("tool")
        self.tool_threads = single.tool_threads()

    def tool_thread_args(self) -> list[str]:
        """-t for the load tool: none in the two-CPU layout (one thread, as every figure so
        far)."""
        return ["-t", str(self.tool_threads)] if self.tool_threads > 1 else []


ROLES = CpuRoles()


def our_targets(shards2: bool, server_bin: pathlib.Path = SERVER_BIN,
                shards_n: int = 0) -> list[Target]:
    # The unauthenticated routes the cases drive (/echo, /raw/), and every connection of the
    # load tool from one address (idle38k holds 19,000 per source address).
    base = (f"{shlex.quote(str(server_bin))} --host 127.0.0.1 --port {{port}} --raw-channels "
            f"--echo --max-conns-per-ip {BENCH_CONNS_PER_IP}")
    targets = [Target("ours", f"{base} --threads 1 --no-pin-threads", ROLES.server, 1, "ours",
                      note=f"ringcast, 1 shard, pinned to CPU {ROLES.server}; load tool on CPU "
                           f"{ROLES.tool}")]
    many = ROLES.single_layout is not None and ROLES.single_layout.policy != "two-cpu"
    if shards2 and not many:
        targets.append(Target(
            "ours-2shards", f"{base} --threads 2 --pin-threads", "0,1", 2, "ours",
            note="ringcast, 2 shards pinned to CPUs 0 and 1; the load tool shares CPU 1 with "
                 "shard 1, so these figures are not comparable one to one"))
    elif shards2:
        # ringcast's --pin-threads pins shard i to CPU i, wherever its set lies: the kernel
        # places the shards inside the set instead.
        cpus = ROLES.single_layout.first_cores("server", 2)
        targets.append(Target(
            "ours-2shards", f"{base} --threads 2 --no-pin-threads", cpus, 2, "ours",
            note=f"ringcast, 2 shards on CPUs {cpus} (the server's first two cores); load tool "
                 f"on CPUs {ROLES.tool}"))
    if shards_n > 2 and many:
        cpus = ROLES.single_layout.first_cores("server", shards_n)
        targets.append(Target(
            f"ours-{shards_n}shards", f"{base} --threads {shards_n} --no-pin-threads", cpus,
            shards_n, "ours",
            note=f"ringcast, {shards_n} shards on CPUs {cpus}; load tool on CPUs {ROLES.tool}"))
    return targets


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
        targets.append(Target(name, command, ROLES.server, 1, "peer",
                              url_base=bases.pop(name, "ws://127.0.0.1:{port}"),
                              note=f"peer, pinned to CPU {ROLES.server} (all its threads); load "
                                   f"tool on CPU {ROLES.tool}"))
    if bases:
        sys.exit(f"bench/run: --peer-url-base for unknown peer(s) {sorted(bases)}")
    return targets

