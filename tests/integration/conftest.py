"""pytest wiring for the ringcast integration tests.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration --ringcast=PATH
(PATH defaults to $RINGCAST_BIN, else build/debug/core/ringcast under the repo root).

Fixtures
- `server`: a fresh server per test (flags from @pytest.mark.server_args(...)).
- `server_factory`: start several servers / servers with custom flags in one test.
- `shared_server`: one server per test module (flags from the module's SERVER_ARGS).
Every server is stopped with SIGTERM at teardown and must exit 0 (set `srv.expect_rc = None`
to skip that check) without sanitizer reports on stderr. A failing test shows the stderr of
every server it used.

Every test runs under a SIGALRM watchdog (60 s, or @pytest.mark.timeout(N)) so nothing hangs.
"""

from __future__ import annotations

import os
import pathlib
import signal

import pytest

import support


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


def pytest_configure(config):
    config.addinivalue_line("markers", "server_args(*flags, env=None): flags (and RINGCAST_* "
                                       "environment) for the `server` fixture")
    config.addinivalue_line("markers", "timeout(seconds): watchdog bound for one test "
                                       "(default 60)")
    config.addinivalue_line("markers", "slow: takes several seconds (timeouts, bulk traffic)")
    config.addinivalue_line("markers", "soak: minutes of load on the real binary; run only with "
                                       "--soak")


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
def server_factory(ringcast_bin, tmp_path):
    servers = []

    def make(*args, env=None, base_args=True, threads=2, start=True, name=None):
        srv = support.RingcastServer(ringcast_bin, args, env=env, log_dir=tmp_path,
                                     name=name or f"server{len(servers)}",
                                     base_args=base_args, threads=threads)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    _finish_all(servers)


@pytest.fixture
def server(server_factory, request):
    marker = request.node.get_closest_marker("server_args")
    args = marker.args if marker else ()
    env = marker.kwargs.get("env") if marker else None
    return server_factory(*args, env=env)


@pytest.fixture(scope="module")
def shared_server(ringcast_bin, tmp_path_factory, request):
    args = getattr(request.module, "SERVER_ARGS", ())
    name = request.module.__name__.rsplit(".", 1)[-1]
    srv = support.RingcastServer(ringcast_bin, args, log_dir=tmp_path_factory.mktemp(name),
                                 name=f"shared-{name}")
    srv.start()
    yield srv
    _finish_all([srv])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    support.TOUCHED[:] = list(support.LIVE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in support.TOUCHED:
            report.sections.append((f"ringcast output: {srv.describe()}", srv.logs_tail(4000)))
