"""Which CPUs each process of a bench run gets: the CPU layout (bench/README.md, "CPU layout").

A layout assigns disjoint CPU sets to roles: the server under test ("server") or a cluster's
nodes ("node1", "node2", ...), PostgreSQL ("postgresql"), each redis-server ("redis1", ...)
and the load tool ("tool"). An empty set means unpinned. The policy:

- **Two CPUs or fewer** (this project's VMs): the layout of every figure taken so far, kept
  exactly so that new figures compare with old ones: the server (every cluster node too) on the
  first CPU, the tool on the second, one tool thread, PostgreSQL and Redis unpinned.
- **More CPUs**: CPUs are handed out by physical core (SMT siblings stay together, read from
  /sys/devices/system/cpu/cpuN/topology), cores ordered by NUMA node, then by CPU number. The
  tool gets a quarter of the cores (at least one) and one thread per CPU of its set, so it is
  not the limit; PostgreSQL a quarter beside a single server, an eighth beside a cluster (at
  least one); each redis-server one core; the server the rest, or the nodes equal shares of the
  rest (leftover cores go to PostgreSQL, the store every node shares). Roles are laid out in
  that order from the lowest CPUs up: server or nodes, Redis, PostgreSQL, tool. Where there are
  too few cores for all that, PostgreSQL and Redis go unpinned first, then the nodes share
  their cores.

Overrides: `--cpus LIST` restricts the CPUs used (`--cpus 0,1` gives the two-CPU layout on any
machine); `--cpu-role ROLE=LIST` fixes one role's set, the others are laid out on what is left.
The server's shard count (ours-Nshards) and a node's --threads are its number of physical
cores; with several shards ringcast runs --no-pin-threads inside its set (its --pin-threads pins
shard i to CPU i, whatever the set).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

SYS_CPU = pathlib.Path("/sys/devices/system/cpu")


def parse_cpu_list(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11]."""
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"not a CPU list: {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low:
            raise ValueError(f"not a CPU list: {text!r}")
        out.update(range(low, high + 1))
    return sorted(out)


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> '0-3,8' (what taskset -c takes)."""
    parts: list[str] = []
    cpus = sorted(set(cpus))
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(parts)


@dataclasses.dataclass
class Topology:
    cpus: list[int]                 # usable CPUs, ascending
    cores: list[list[int]]          # physical cores (SMT siblings within `cpus`), in layout order
    numa_node: dict[int, int]       # CPU -> NUMA node (0 where /sys does not say)
    online: int                     # CPUs online on the machine (os.cpu_count())

    @property
    def smt(self) -> bool:
        return any(len(c) > 1 for c in self.cores)

    def describe(self) -> dict:
        return {"cpus": format_cpu_list(self.cpus), "cpu_count": len(self.cpus),
                "online_cpus": self.online, "physical_cores": len(self.cores),
                "smt": self.smt, "threads_per_core": max((len(c) for c in self.cores), default=1),
                "numa_nodes": len(set(self.numa_node.get(c, 0) for c in self.cpus))}


def _read(path: pathlib.Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def read_topology(cpus: list[int] | None = None) -> Topology:
    """The CPUs this process may run on (or `cpus`, which must be among them), grouped into
    physical cores."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is not None:
        outside = sorted(set(cpus) - set(allowed))
        if outside:
            raise ValueError(f"CPUs {format_cpu_list(outside)} are not available to this "
                             f"process (available: {format_cpu_list(allowed)})")
        allowed = sorted(set(cpus))
    chosen = set(allowed)
    numa: dict[int, int] = {}
    cores: dict[tuple[int, ...], list[int]] = {}
    for cpu in allowed:
        base = SYS_CPU / f"cpu{cpu}"
        node = next((int(p.name[4:]) for p in base.glob("node[0-9]*")), 0)
        numa[cpu] = node
        text = _read(base / "topology" / "thread_siblings_list")
        siblings = [c for c in parse_cpu_list(text) if c in chosen] if text else [cpu]
        if cpu not in siblings:
            siblings = [cpu]
        cores.setdefault(tuple(siblings), siblings)
    ordered = sorted(cores.values(), key=lambda c: (numa[c[0]], c[0]))
    return Topology(allowed, ordered, numa, os.cpu_count() or len(allowed))


@dataclasses.dataclass
class Layout:
    """Roles -> CPUs for one phase of a run (the single-server cases, or one cluster case)."""
    topology: Topology
    policy: str                       # "two-cpu" or "many-cpu"
    roles: dict[str, list[int]]       # role -> CPUs; [] = unpinned
    notes: list[str] = dataclasses.field(default_factory=list)

    def cpus(self, role: str) -> str | None:
        """taskset -c list of the role, None when it runs unpinned."""
        cpus = self.roles.get(role) or []
        return format_cpu_list(cpus) if cpus else None

    def first(self, role: str) -> str:
        """The role's first CPU (for one-CPU targets and the placement probe)."""
        return str((self.roles.get(role) or self.topology.cpus)[0])

    def first_cores(self, role: str, count: int) -> str:
        """taskset -c list of the role's first `count` physical cores (ours-2shards)."""
        cpus = set(self.roles.get(role) or [])
        cores = [[c for c in core if c in cpus] for core in self.topology.cores]
        return format_cpu_list([c for core in [k for k in cores if k][:count] for c in core])

    def cores_of(self, role: str) -> int:
        """Physical cores in the role's set (a node's --threads, the server's shard count)."""
        cpus = set(self.roles.get(role) or [])
        return max(1, sum(1 for core in self.topology.cores if cpus & set(core)))

    def tool_threads(self) -> int:
        """Load tool threads: one per CPU of its set (one in the two-CPU layout)."""
        return 1 if self.policy == "two-cpu" else max(1, len(self.roles.get("tool") or []))

    def describe(self) -> dict:
        return {"policy": self.policy,
                "roles": {r: (format_cpu_list(c) if c else "unpinned")
                          for r, c in self.roles.items()},
                "tool_threads": self.tool_threads(), "notes": self.notes}

    def line(self) -> str:
        parts = [f"{r} {format_cpu_list(c) if c else 'unpinned'}" for r, c in self.roles.items()]
        return "; ".join(parts)


def plan(topology: Topology, *, nodes: int = 0, redis: int = 0, postgresql: bool = False,
         fixed: dict[str, list[int]] | None = None) -> Layout:
    """The layout for one server (nodes == 0) or `nodes` cluster nodes, with PostgreSQL when
    `postgresql`, `redis` redis-server instances and the tool. `fixed` roles keep their CPUs."""
    fixed = {r: sorted(c) for r, c in (fixed or {}).items()}
    node_roles = [f"node{k + 1}" for k in range(nodes)] if nodes else ["server"]
    redis_roles = [f"redis{k + 1}" for k in range(redis)]
    if len(topology.cpus) <= 2 and not fixed:
        first, last = topology.cpus[0], topology.cpus[-1]
        roles = {r: [first] for r in node_roles}
        roles |= {r: [] for r in redis_roles}
        if postgresql:
            roles["postgresql"] = []
        roles["tool"] = [last]
        notes = ["two CPUs or fewer: the server (every node) on the first, the tool on the "
                 "second, PostgreSQL and Redis unpinned (the figures of bench/README.md)"]
        if len(topology.cpus) == 1:
            notes.append("one CPU: the server and the tool share it")
        return Layout(topology, "two-cpu", roles, notes)

    used = {c for cpus in fixed.values() for c in cpus}
    cores = [[c for c in core if c not in used] for core in topology.cores]
    cores = [c for c in cores if c]
    notes: list[str] = []
    want_pg = postgresql and "postgresql" not in fixed
    want_redis = [r for r in redis_roles if r not in fixed]
    want_nodes = [r for r in node_roles if r not in fixed]
    total = len(cores)
    if total < 1 and (want_nodes or want_pg or want_redis or "tool" not in fixed):
        raise ValueError("no CPU left for the roles that --cpu-role does not fix")
    tool = 0 if "tool" in fixed else max(1, total // 4)
    pg = max(1, total // (8 if nodes else 4)) if want_pg else 0
    per_redis = 1
    if total - tool - pg - per_redis * len(want_redis) < max(1, len(want_nodes)):
        if pg or want_redis:
            notes.append("too few cores to pin PostgreSQL and Redis apart: they run unpinned")
        pg, per_redis = 0, 0
    rest = total - tool - pg - per_redis * len(want_redis)
    if want_nodes and rest < 1:  # Three cores or so: the tool keeps one, the server the rest.
        tool = max(0 if "tool" in fixed else 1, total - 1)
        rest = total - tool
    sizes: dict[str, int] = {}
    shared = bool(want_nodes) and rest < len(want_nodes)
    if want_nodes and not shared:
        share = rest // len(want_nodes)
        sizes = {r: share for r in want_nodes}
        leftover = rest - share * len(want_nodes)
        if pg:  # The store every node shares.
            pg += leftover
        else:
            tool += leftover if "tool" not in fixed else 0
    roles: dict[str, list[int]] = {}
    at = 0

    def take(count: int) -> list[int]:
        nonlocal at
        out = [c for core in cores[at:at + count] for c in core]
        at += count
        return out

    if shared:
        notes.append("fewer cores than nodes: the nodes share their cores")
        common = take(rest)
        for r in want_nodes:
            roles[r] = list(common)
    else:
        for r in want_nodes:
            roles[r] = take(sizes[r])
    for r in want_redis:
        roles[r] = take(per_redis) if per_redis else []
    if postgresql and "postgresql" not in fixed:
        roles["postgresql"] = take(pg) if pg else []
    if "tool" not in fixed:
        roles["tool"] = take(tool)
    for r, cpus in fixed.items():
        roles[r] = cpus
    order = node_roles + redis_roles + (["postgresql"] if postgresql else []) + ["tool"]
    roles = {r: roles.get(r, []) for r in order} | {r: c for r, c in roles.items()
                                                   if r not in order}
    notes.insert(0, "by physical core: the server or nodes first, then Redis, PostgreSQL, the "
                    "tool (a quarter of the cores, one thread per CPU)")
    return Layout(topology, "many-cpu", roles, notes)
