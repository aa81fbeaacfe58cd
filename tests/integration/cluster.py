"""Several ringcast nodes as one chat service (cluster mode, issue 10): one PostgreSQL database,
one Redis, N nodes on 127.0.0.1.

`Cluster` starts the nodes with support.RingcastServer, each as

    ringcast --host 127.0.0.1 --port P --threads T --data-dir D --database-url U
             --redis R --node-id nK --jwt-secret S [chat flags]

on a free port with a data dir of its own, node ids n1..nN, shard counts cycling through
`threads` (default 2, 1, 2: one- and two-shard nodes side by side), and the same --jwt-secret,
so a token from any node is valid on every node. It can kill -9 a node, restart it (same port,
data dir and node id, so clients come back to the same URL), start an extra node, and
`finish()` stops them all (SIGTERM, exit status 0 expected as for every test server, except for
killed nodes). Every incarnation of a node is its own RingcastServer object, so the logs of a
killed node stay readable and a failing test shows them all.

`redis_url=None` starts the nodes without --redis (and without --node-id): plain servers sharing
one database (accounts, tokens, conversations and messages, but no cross-node fan-out), which is
how this harness was first checked.

The Redis of the tests is `SessionRedis`: $RINGCAST_TEST_REDIS_URL (set by `tools/redistmp run
-- …`, which ctest uses), else a throwaway redis-server (tools/redis_server.py) started on first
use and stopped at the end of the session. A test that stops and restarts Redis gets a
redis-server of its own (conftest's `cluster_factory(own_redis=True)`), never the shared one.
Redis pub/sub ignores the database number, so two clusters must never share one Redis at the
same time: the fixtures run one cluster per test, and ctest runs the cluster suite alone.
"""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys

import support
from chat_client import BASE_FLAGS, JWT_SECRET, Api, User, connected

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import redis_server  # noqa: E402

ENV_URL = "RINGCAST_TEST_REDIS_URL"


class SessionRedis:
    """The session's Redis: the one $RINGCAST_TEST_REDIS_URL names, or one of our own."""

    def __init__(self, url: str, server: redis_server.RedisServer | None = None):
        self.url = url
        self.server = server  # Ours to stop at the end; None for $RINGCAST_TEST_REDIS_URL.

    @classmethod
    def start(cls) -> "SessionRedis":
        return cls(*support.url_or_own(ENV_URL, redis_server.RedisServer.start,
                                       lambda server: server.url))

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


class Cluster:
    def __init__(self, binary: pathlib.Path, log_dir: pathlib.Path, *, database_url: str,
                 redis_url: str | None, redis: redis_server.RedisServer | None = None,
                 jwt_secret: str | None = JWT_SECRET, flags: dict[str, object] | None = None,
                 args=(), threads=(2, 1, 2), secrets=(), node_args=None):
        """flags: chat flags added to or replacing chat_client.BASE_FLAGS (`{"msg_rate": 5}`);
        args: further flags (`--raw-channels`). redis: the RedisServer behind redis_url when
        the test owns it (restart it through cluster.redis)."""
        self.binary = pathlib.Path(binary)
        self.log_dir = pathlib.Path(log_dir)
        self.database_url = database_url
        self.redis_url = redis_url
        self.redis = redis
        self.jwt_secret = jwt_secret
        self.flags = dict(flags or {})
        self.args = [str(a) for a in args]
        # node_args(index) → flags of that node alone (its own --tls-port, say).
        self.node_args = node_args
        self.threads = tuple(threads)
        self.secrets = list(secrets)
        self.nodes: list[support.RingcastServer] = []  # The current incarnation of node k+1.
        self.incarnations: list[support.RingcastServer] = []  # Every server object, in order.

    # -- nodes -----------------------------------------------------------------------------

    def node_flags(self, index: int) -> list[str]:
        """The flags of node index+1 after the --host/--port/--threads/--data-dir/
        --database-url that support.RingcastServer adds."""
        opts: dict[str, str] = dict(BASE_FLAGS)
        if self.jwt_secret is not None:  # None: the database's secret (server_settings).
            opts["--jwt-secret"] = self.jwt_secret
        if self.redis_url is not None:
            opts["--redis"] = self.redis_url
            opts["--node-id"] = self.node_id(index)
        for k, v in self.flags.items():
            opts["--" + k.replace("_", "-")] = str(v)
        own = [str(a) for a in self.node_args(index)] if self.node_args else []
        return [x for kv in opts.items() for x in kv] + self.args + own

    @staticmethod
    def node_id(index: int) -> str:
        return f"n{index + 1}"

    def _server(self, index: int, *, port: int | None, threads: int) -> support.RingcastServer:
        node_id = self.node_id(index)
        generation = sum(1 for s in self.incarnations if s.node_id == node_id)
        name = node_id if generation == 0 else f"{node_id}.{generation}"
        srv = support.RingcastServer(self.binary, self.node_flags(index), log_dir=self.log_dir,
                                     name=name, threads=threads, port=port,
                                     database_url=self.database_url)
        srv.node_id = node_id
        # Every incarnation of a node keeps the first one's data dir (its node-id file).
        srv.data_dir = self.log_dir / f"{node_id}.data"
        srv.secrets += self.secrets
        self.incarnations.append(srv)
        return srv

    def start(self, count: int = 3) -> "Cluster":
        if self.redis_url is not None and self.redis_url.startswith("redis://"):
            # Keys (presence, the node registry, login counters) from an earlier cluster of
            # the session would be this one's: user ids restart with every database. (A
            # redis+sentinel:// URL names a SentinelGroup the test started empty.)
            self.redis_cli("FLUSHALL")
        for _ in range(count):
            self.add_node()
        return self

    def add_node(self, threads: int | None = None) -> support.RingcastServer:
        """Starts node n(len+1) on a free port (waits for GET /health)."""
        index = len(self.nodes)
        if threads is None:
            threads = self.threads[index % len(self.threads)]
        srv = self._server(index, port=None, threads=threads)
        self.nodes.append(srv)
        srv.start()
        return srv

    def kill(self, index: int) -> None:
        """kill -9 of node index+1; returns once the process is gone."""
        srv = self.nodes[index]
        srv.expect_rc = None
        srv.send_signal(signal.SIGKILL)
        srv.wait(10)

    def restart(self, index: int) -> support.RingcastServer:
        """Starts node index+1 again (after kill() or stop()) on the same port, data dir and
        node id, as a new RingcastServer object."""
        old = self.nodes[index]
        assert old.proc is None or old.proc.poll() is not None, f"{old.describe()} still runs"
        srv = self._server(index, port=old.port, threads=old.threads)
        self.nodes[index] = srv
        srv.start()
        return srv

    def stop(self, index: int) -> int:
        """SIGTERM to node index+1 (a clean stop); returns its exit status."""
        return self.nodes[index].stop()

    def redis_cli(self, *args: str) -> str:
        """A command to the cluster's Redis (redis-cli); its output."""
        done = subprocess.run([str(redis_server.find_redis_cli()), "-u", self.redis_url,
                               "--no-raw", *args], capture_output=True, text=True, timeout=10,
                              check=True)
        return done.stdout.strip()

    # -- clients ---------------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [srv.port for srv in self.nodes]

    def port(self, index: int) -> int:
        return self.nodes[index].port

    def api(self, index: int = 0) -> Api:
        return Api(self.nodes[index].port)

    def sender_on_each_node(self, a: User, b: User):
        """`connected` for a on node 1 and on node 2 and b on node 2 (the block gets [a1, a2,
        b2]): of two requests of a's, one through each node, one is forwarded to the
        conversation's writer node, whichever it is, and b sees both from node 2."""
        return connected((self.port(0), a.token, "a@n1"), (self.port(1), a.token, "a@n2"),
                         (self.port(1), b.token, "b@n2"))

    # -- teardown --------------------------------------------------------------------------

    def finish(self) -> list[str]:
        """Stops every node still running; returns the problems found (see
        RingcastServer.finish: exit status, sanitizer reports, the password in the output)."""
        problems = []
        for srv in self.incarnations:
            problem = srv.finish()
            if problem:
                problems.append(problem)
        return problems

    def describe(self) -> str:
        return ", ".join(f"{srv.node_id}:{srv.port}" for srv in self.nodes)
