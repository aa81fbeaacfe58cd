"""tools/redistmp and tools/redis_server.py, which the cluster tests run under: `run` passes a
working URL and the command's exit status and removes the instance, also when the command is
ended by a SIGTERM sent to redistmp; `start`/`url`/`stop` manage a detached instance; and
RedisServer's outage (shutdown_nosave) and restart() on the same port, which
test_cluster.py relies on."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

import pytest

from cluster import redis_server
from support import REPO_ROOT, run_tmp_tool, sigterm_tmp_tool, tmp_tool_script

pytestmark = pytest.mark.needs_redis

REDISTMP = REPO_ROOT / "tools" / "redistmp"
# Prints the URL and the instance's directory, checks the server answers and persists nothing,
# then exits with status 7 (or first waits to be killed).
SCRIPT = tmp_tool_script("""
url = os.environ["RINGCAST_TEST_REDIS_URL"]
cli = lambda *a: subprocess.run(["redis-cli", "-u", url, *a], capture_output=True, text=True,
                                check=True).stdout.strip()
print(url)
print(os.environ["REDISTMP_DIR"])
print(cli("ping"), cli("config", "get", "save").splitlines()[1:] or [""],
      cli("config", "get", "appendonly").splitlines()[1], flush=True)
""")


URL_VARIABLE = "RINGCAST_TEST_REDIS_URL"


def test_run_passes_the_url_and_the_exit_status_and_removes_the_instance():
    res = run_tmp_tool(REDISTMP, SCRIPT, url_variable=URL_VARIABLE)
    assert res.returncode == 7, (res.returncode, res.stderr)
    url, directory, answers = res.stdout.splitlines()
    assert url.startswith("redis://127.0.0.1:"), url
    assert answers == "PONG [''] no", answers
    assert not pathlib.Path(directory).exists(), f"{directory} left behind"


def test_sigterm_reaches_the_command_and_the_instance_is_removed():
    def check_ready(line):
        assert line.startswith("PONG")

    rc, url, directory, _, stderr = sigterm_tmp_tool(
        REDISTMP, SCRIPT, url_variable=URL_VARIABLE, check_ready=check_ready)
    assert rc == 128 + signal.SIGTERM, (rc, stderr)
    assert url and not pathlib.Path(directory).exists(), f"{directory} left behind"
    assert not redis_server.ping(int(url.rsplit(":", 1)[1])), "a redis-server outlived redistmp"


def test_start_url_stop(tmp_path):
    directory = tmp_path / "r"
    start = subprocess.run([str(REDISTMP), "start", str(directory)], capture_output=True,
                           text=True, timeout=30)
    try:
        assert start.returncode == 0, start.stderr
        url = start.stdout.strip()
        got = subprocess.run([str(REDISTMP), "url", str(directory)], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        assert got == url
        assert redis_server.ping(int(url.rsplit(":", 1)[1]))
    finally:
        stop = subprocess.run([str(REDISTMP), "stop", str(directory)], capture_output=True,
                              text=True, timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert not directory.exists()
    assert not redis_server.ping(int(url.rsplit(":", 1)[1]))


def test_outage_and_restart_on_the_same_port(tmp_path):
    with redis_server.RedisServer.start(tmp_path / "r") as server:
        port, url = server.port, server.url
        assert server.cli("set", "k", "v") == "OK"
        server.shutdown_nosave()
        assert not server.running() and not redis_server.ping(port)
        server.restart()
        assert (server.port, server.url) == (port, url)
        assert server.cli("get", "k") == "", "nothing persists across a restart"
        server.restart()  # Also from running.
        assert server.cli("ping") == "PONG"
        directory = server.directory
    assert not directory.exists()
    assert not redis_server.ping(port)


def test_the_reaper_removes_an_instance_whose_owner_died():
    code = ("import sys, time; sys.path.insert(0, %r); import redis_server; "
            "s = redis_server.RedisServer.start(); print(s.directory, s.pid, flush=True); "
            "time.sleep(60)" % str(REPO_ROOT / "tools"))
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        directory, pid = owner.stdout.readline().split()
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (pathlib.Path(directory).exists()
                                           or redis_server._is_redis_process(int(pid))):
        time.sleep(0.05)
    assert not pathlib.Path(directory).exists(), f"{directory} left behind"
    assert not redis_server._is_redis_process(int(pid)), "redis-server left running"


def test_sentinel_group_fails_over_and_cleans_up(tmp_path):
    """SentinelGroup (test_cluster_redis_ha.py's Redis): the URL names the three sentinels,
    a kill -9 of the master promotes the replica, and stop() leaves no process and no
    directory, password or not."""
    group = redis_server.SentinelGroup.start(tmp_path / "g", password="pw")
    try:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels)
        assert group.url() == f"redis+sentinel://:pw@{hosts}/rcmaster"
        assert group.master.cli("set", "k", "v") == "OK"
        assert group.master.cli("wait", "1", "5000") == "1", "the replica is attached"
        old = group.kill_master()
        new = group.wait_failover(20)
        assert new is group.master and new is not old and not old.running()
        assert new.cli("get", "k") == "v", "the replica had the master's data"
        assert new.cli("set", "k2", "v") == "OK", "the promoted replica takes writes"
        pids = [s.pid for s in group.servers + group.sentinels]
        directories = [s.directory for s in group.servers + group.sentinels]
    finally:
        group.stop()
    assert not any(redis_server.throwaway.runs_program(p, b"redis-") for p in pids)
    assert not any(d.exists() for d in directories)
