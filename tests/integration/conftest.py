"""pytest wiring for the ringcast integration tests.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration --ringcast=PATH
(PATH defaults to $RINGCAST_BIN, else build/debug/core/ringcast under the repo root).

Fixtures
- `server`: a fresh server per test (flags from @pytest.mark.server_args(...)).
- `server_factory`: start several servers / servers with custom flags in one test.
- `shared_server`: one server per test module (flags from the module's SERVER_ARGS).
- `api`: a chat_client.Api on the module's shared_server.
Every server is stopped with SIGTERM at teardown and must exit 0 (set `srv.expect_rc = None`
to skip that check) without sanitizer reports on stderr. A failing test shows the stderr of
every server it used.
Servers started with the base flags (--host/--port/...) also get --metrics-on-main-port
(support.py), so that tests scrape /metrics on the port they already know, unless their own
flags say where metrics go; test_metrics.py checks the default (none on the main port).

Every test runs under a SIGALRM watchdog (60 s, or @pytest.mark.timeout(N)) so nothing hangs.

Two stores
A module marked `pytest.mark.both_stores` (the chat suites) runs each of its server tests twice:
`[sqlite]`, the default store in the server's --data-dir, and `[pg]`, marked `needs_pg`, where
every server gets `--database-url` naming a FRESH database (CREATE DATABASE … TEMPLATE
template0, dropped after the test; a module's shared server gets one for the module). Servers of
one test that must share a store are given the same URL: `server_factory(...,
database_url=old.database_url)` (see test_chat_restart.py). `@pytest.mark.sqlite_only(reason)`
keeps one test of such a module on SQLite (it reads the SQLite file, or tests the engine alone).
`server_factory.store` / `srv.database_url` tell a test which store it has.

The PostgreSQL server is the one named by $RINGCAST_TEST_DATABASE_URL (set by
`tools/pgtmp run -- …`, which ctest uses), else a throwaway cluster (tools/pg_cluster.py)
started on first use and removed at the end of the session; `-m "not needs_pg"` never starts
one. The database password must never appear in a server's output (checked at teardown).

Cluster mode (needs_redis)
`cluster_factory(count=3, ...)` starts a cluster.Cluster: `count` ringcast nodes (n1..nN, 2/1/2
shards) on one fresh PostgreSQL database and one Redis, stopped (exit 0 expected, except for
nodes the test killed) and the database dropped after the test. The Redis is the one named by
$RINGCAST_TEST_REDIS_URL (set by `tools/redistmp run -- …`, which ctest uses), else a throwaway
redis-server (tools/redis_server.py) started on first use and stopped at the end of the session;
`cluster_factory(own_redis=True)` gives the cluster a redis-server of its own (`cluster.redis`),
which the test may shut down and restart. Tests that use it carry both needs_pg and needs_redis.

nginx (needs_nginx)
`nginx_factory(upstreams)` starts a throwaway nginx (tools/nginx_proxy.py: Debian's nginx, not
as a daemon, on a free 127.0.0.1 port, in a temporary directory) running the shipped
deploy/nginx/ringcast.conf in front of `upstreams` (ports on 127.0.0.1), stopped at teardown;
a failing test shows its error and access logs. Its tests run behind a cluster_factory cluster,
so they carry needs_pg and needs_redis too (ctest's `integration_cluster` runs them).
"""

from __future__ import annotations

import os
import pathlib
import signal

import pytest

import cluster as cluster_mod
import pg_store
import support
from chat_client import Api

import nginx_proxy  # noqa: E402 (tools/, which cluster puts on sys.path)

# The nginx instances of the running test, for its failure report.
_PROXIES: list[nginx_proxy.NginxProxy] = []


def pytest_addoption(parser):
    parser.addoption(
        "--ringcast", action="store",
        default=os.environ.get("RINGCAST_BIN") or str(support.DEFAULT_BINARY),
        help="path to the ringcast binary (default: $RINGCAST_BIN or "
             "build/debug/core/ringcast under the repo root)")
    parser.addoption(
        "--soak", action="store_true", default=False,
        help="also run the tests marked `soak` (minutes each; ctest runs them as their own test, "
             "in builds without sanitizers)")
    parser.addoption(
        "--chaos-minutes", action="store", type=float, default=0.0,
        help="test_chaos.py: inject faults drawn at random for this many minutes (default 0: one "
             "round of each fault, as CI runs it)")


def pytest_configure(config):
    config.addinivalue_line("markers", "server_args(*flags, env=None): flags (and RINGCAST_* "
                                       "environment) for the `server` fixture")
    config.addinivalue_line("markers", "timeout(seconds): watchdog bound for one test "
                                       "(default 60)")
    config.addinivalue_line("markers", "slow: takes several seconds (timeouts, bulk traffic)")
    config.addinivalue_line("markers", "no_asan: checks a tool, configuration or files rather "
                            "than the server's memory handling; CI's split run "
                            "(RINGCAST_SPLIT_INTEGRATION) leaves it to the debug build")
    config.addinivalue_line("markers", "soak: minutes of load on the real binary; run only with "
                                       "--soak")
    config.addinivalue_line("markers", "needs_pg: runs ringcast on PostgreSQL (ctest's "
                                       "`integration_pg`)")
    config.addinivalue_line("markers", "needs_redis: runs ringcast in cluster mode against "
                                       "redis-server (ctest's `integration_cluster`)")
    config.addinivalue_line("markers", "needs_nginx: runs Debian's nginx in front of ringcast "
                                       "nodes (with needs_redis: ctest's `integration_cluster`)")
    config.addinivalue_line("markers", "needs_amqp: starts a throwaway rabbitmq-server (ctest's "
                                       "`integration_amqp`)")
    config.addinivalue_line("markers", "needs_s3: stores uploads in a bucket of a throwaway S3 "
                                       "server, Ceph's radosgw (ctest's `integration_s3`, under "
                                       "tools/s3tmp)")
    config.addinivalue_line("markers", "both_stores: run each server test of the module with "
                                       "SQLite and with PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only(reason): in a both_stores module, run this "
                                       "test with SQLite only")


def pytest_generate_tests(metafunc):
    if "chat_store" not in metafunc.fixturenames:
        return
    if not metafunc.definition.get_closest_marker("both_stores"):
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        return
    # Module scope: a module's shared server is started once per store, and pytest runs all of
    # a module's SQLite tests before its PostgreSQL ones.
    metafunc.parametrize("chat_store", [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("pg", id="pg", marks=pytest.mark.needs_pg),
    ], indirect=True, scope="module")


def pytest_collection_modifyitems(config, items):
    if config.getoption("soak"):
        return
    skip = pytest.mark.skip(reason="a soak test: pass --soak (ctest's `soak` test does)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ringcast_bin(pytestconfig) -> pathlib.Path:
    path = pathlib.Path(pytestconfig.getoption("ringcast")).resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"ringcast binary not found or not executable: {path} "
                    f"(build it, or pass --ringcast=PATH / set RINGCAST_BIN)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def chat_store(request) -> str:
    """The store of this test's servers: "sqlite" unless parametrized (both_stores)."""
    return getattr(request, "param", "sqlite")


def _session_service(start, error: type[Exception], what: str, marker: str):
    """`start()`'s server for the session, closed at its end; a failed start (`error`) fails
    the test that asked for it, saying which server (`what`) its `marker` tests lack."""
    try:
        service = start()
    except error as exc:
        pytest.fail(f"no {what} for the {marker} tests: {exc}", pytrace=False)
    yield service
    service.close()


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL server (see the module docstring)."""
    yield from _session_service(pg_store.PgServer.start, pg_store.pg_cluster.ClusterError,
                                "PostgreSQL", "needs_pg")


@pytest.fixture(scope="session")
def session_redis():
    """The session's Redis (see the module docstring)."""
    yield from _session_service(cluster_mod.SessionRedis.start,
                                cluster_mod.redis_server.RedisError, "Redis", "needs_redis")


@pytest.fixture
def cluster_factory(ringcast_bin, tmp_path, request):
    """make(count=3, *, own_redis=False, redis=True, redis_url=None, flags=None, args=(),
    threads=(2, 1, 2), jwt_secret=JWT_SECRET, node_args=None, database_url=None) → a started
    cluster.Cluster (node_args(index): flags of one node alone). redis_url: this --redis (a Redis
    the test started, e.g. a redis_server.SentinelGroup's url()). redis=False: no --redis (plain
    nodes sharing the database); jwt_secret=None: no --jwt-secret (the database keeps the
    secret). database_url: a database of the test's own PostgreSQL (pg_replica_pair's), else a
    fresh one of the session's, dropped after the test."""
    clusters: list[cluster_mod.Cluster] = []
    urls: list[str] = []
    own: list[cluster_mod.redis_server.RedisServer] = []

    def make(count: int = 3, *, own_redis: bool = False, redis: bool = True,
             redis_url: str | None = None, flags=None, args=(), threads=(2, 1, 2), jwt_secret: str | None = cluster_mod.JWT_SECRET,
             node_args=None, database_url: str | None = None) -> cluster_mod.Cluster:
        if database_url is None:
            database_url = request.getfixturevalue("pg_server").create_database()
            urls.append(database_url)
        server = None
        if redis_url is not None:
            pass
        elif own_redis:
            server = cluster_mod.redis_server.RedisServer.start(
                tmp_path / f"redis{len(own)}")
            own.append(server)
            redis_url = server.url
        elif redis:
            redis_url = request.getfixturevalue("session_redis").url
        else:
            redis_url = None
        password = pg_store.pg_cluster.url_password(database_url)
        c = cluster_mod.Cluster(ringcast_bin, tmp_path / f"cluster{len(clusters)}",
                                database_url=database_url, redis_url=redis_url, redis=server,
                                flags=flags, args=args, threads=threads, jwt_secret=jwt_secret,
                                secrets=[password] if password else [], node_args=node_args)
        clusters.append(c)
        return c.start(count)

    yield make
    try:
        problems = [p for c in clusters for p in c.finish()]
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
    finally:
        for server in own:
            server.stop()
        for url in urls:
            request.getfixturevalue("pg_server").drop_database(url)


@pytest.fixture
def pg_replica_pair():
    """(primary, standby): a PostgreSQL primary of the test's own (tools/pg_cluster.py) with a
    database `replica`, and an asynchronous streaming standby of it (replay_pause() and
    replay_resume() hold its replay); both removed after the test."""
    pg_cluster = pg_store.pg_cluster
    primary = pg_cluster.Cluster.create()
    primary.watch_owner()
    standby = None
    try:
        primary.psql(f"CREATE DATABASE replica OWNER {pg_cluster.ROLE} TEMPLATE template0")
        standby = pg_cluster.Cluster.create_standby(primary)
        standby.watch_owner()
        yield primary, standby
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture
def nginx_factory():
    """make(upstreams, **kw) → a started nginx_proxy.NginxProxy in front of `upstreams` (ports
    on 127.0.0.1; keywords go to NginxProxy.start). Stopped (and its directory removed) at
    teardown."""
    proxies: list[nginx_proxy.NginxProxy] = []

    def make(upstreams, **kw) -> nginx_proxy.NginxProxy:
        try:
            proxy = nginx_proxy.NginxProxy.start(list(upstreams), **kw)
        except nginx_proxy.NginxError as exc:
            pytest.fail(f"no nginx for the needs_nginx tests: {exc}", pytrace=False)
        proxies.append(proxy)
        _PROXIES.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


class _Databases:
    """The databases a fixture made; dropped once its servers have stopped."""

    def __init__(self, request, chat_store: str):
        self.pg = request.getfixturevalue("pg_server") if chat_store == "pg" else None
        self.urls: list[str] = []

    def attach(self, srv: support.RingcastServer, database_url: str | None) -> None:
        if database_url is None and self.pg is not None and srv.base_args:
            database_url = self.pg.create_database()
            self.urls.append(database_url)
        srv.database_url = database_url
        password = pg_store.pg_cluster.url_password(database_url) if database_url else None
        if password:
            srv.secrets.append(password)

    def drop_all(self) -> None:
        for url in self.urls:
            self.pg.drop_database(url)


class _WatchdogTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _watchdog(request):
    marker = request.node.get_closest_marker("timeout")
    seconds = int(marker.args[0]) if marker else 60

    def on_alarm(signum, frame):
        raise _WatchdogTimeout(f"test exceeded its {seconds} s watchdog")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _finish_all(servers):
    problems = [p for p in (srv.finish() for srv in servers) if p]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def server_factory(ringcast_bin, tmp_path, chat_store, request):
    servers = []
    databases = _Databases(request, chat_store)

    def make(*args, env=None, base_args=True, threads=2, start=True, name=None,
             database_url=None):
        """database_url: the store of an earlier server (a restart); default: SQLite in the
        server's own --data-dir, or with PostgreSQL a fresh database."""
        srv = support.RingcastServer(ringcast_bin, args, env=env, log_dir=tmp_path,
                                     name=name or f"server{len(servers)}",
                                     base_args=base_args, threads=threads)
        databases.attach(srv, database_url)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    make.store = chat_store
    yield make
    try:
        _finish_all(servers)
    finally:
        databases.drop_all()


@pytest.fixture
def server(server_factory, request):
    marker = request.node.get_closest_marker("server_args")
    args = marker.args if marker else ()
    env = marker.kwargs.get("env") if marker else None
    return server_factory(*args, env=env)


@pytest.fixture(scope="module")
def shared_server(ringcast_bin, tmp_path_factory, chat_store, request):
    args = getattr(request.module, "SERVER_ARGS", ())
    name = request.module.__name__.rsplit(".", 1)[-1]
    srv = support.RingcastServer(ringcast_bin, args, log_dir=tmp_path_factory.mktemp(name),
                                 name=f"shared-{name}-{chat_store}")
    databases = _Databases(request, chat_store)
    databases.attach(srv, None)
    try:
        srv.start()
    except BaseException:
        databases.drop_all()
        raise
    yield srv
    try:
        _finish_all([srv])
    finally:
        databases.drop_all()


@pytest.fixture
def api(shared_server):
    return Api(shared_server.port)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    support.TOUCHED[:] = list(support.LIVE)
    _PROXIES.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in support.TOUCHED:
            report.sections.append((f"ringcast output: {srv.describe()}", srv.logs_tail(4000)))
        for proxy in _PROXIES:
            report.sections.append((f"{proxy.describe()}: error.log",
                                    proxy.error_log()[-4000:]))
            report.sections.append((f"{proxy.describe()}: access.log",
                                    "\n".join(proxy.access_lines()[-40:])))
