"""Throwaway redis-server instances for the tests and the benchmarks (tools/redistmp is the
command line; the integration tests import this module).

An instance lives in one directory, removed as a whole when the instance is stopped:

    DIR/redis.log       the server's log
    DIR/redistmp.json   port and pid: how another process (`redistmp stop DIR`, the reaper)
                        finds it

The server is Debian's /usr/bin/redis-server (or $REDIS_SERVER), listening on 127.0.0.1 only, on
a free port, without persistence (`--save '' --appendonly no`: a restart starts empty, as after
`SHUTDOWN NOSAVE`) and in the foreground (`--daemonize no`) as a child of the process that
started it. Readiness is a PING answered +PONG. Redis runs fine as root.

`stop()` always cleans up (SIGTERM, SIGKILL after a bounded wait, then the directory);
`shutdown_nosave()` ends the server the way `redis-cli shutdown nosave` does and keeps the
directory, so that `restart()` can start it again on the same port (the URL clients were given
stays valid: a Redis outage, as ringcast's cluster mode sees one). A detached reaper
(`watch_owner()`, started by `start()`) kills the server and removes the directory if the
process that owns it dies first (a ctest timeout), so no redis-server outlives a test run.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)
from throwaway import free_port  # noqa: E402,F401 (also this module's API)

STATE_FILE = "redistmp.json"
LOG_FILE = "redis.log"
HOST = "127.0.0.1"


class RedisError(Exception):
    pass


def find_redis_server() -> pathlib.Path:
    """$REDIS_SERVER, else /usr/bin/redis-server, else redis-server on PATH."""
    return throwaway.find_executable(
        os.environ.get("REDIS_SERVER"), "/usr/bin/redis-server", shutil.which("redis-server"),
        error=RedisError, missing="redis-server not found: install Debian's `redis-server` "
        "(tools/deps.sh test) or set REDIS_SERVER")


def find_redis_cli() -> pathlib.Path:
    return throwaway.find_executable(
        "/usr/bin/redis-cli", shutil.which("redis-cli"), error=RedisError,
        missing="redis-cli not found: install Debian's `redis-tools` (a dependency of "
        "redis-server)")


def ping(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when a server on `port` answers PING with +PONG (a loading or refusing server, or
    none, gives False)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    return False
                reply += chunk
            return reply == b"+PONG\r\n"
    except OSError:
        return False


def _is_redis_process(pid: int) -> bool:
    """Guards kills by pid read from a state file: the pid may have been reused."""
    return throwaway.runs_program(pid, RedisServer.PROGRAM)


class RedisServer(throwaway.Instance):
    """One throwaway redis-server in `directory` (see the module docstring). Create with
    `RedisServer.start()`, find a running one with `RedisServer.attach(directory)`. As a context
    manager it stops (and removes) the instance on exit."""

    PROGRAM = b"redis-server"
    MODULE_FILE = __file__
    LOG_FILE = LOG_FILE

    def __init__(self, directory: pathlib.Path, port: int, *, binary: pathlib.Path):
        super().__init__(directory, port, host=HOST, binary=binary)
        self.detach = False  # Its own session (see start()).

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike | None = None, port: int | None = None, *,
              watch: bool = True, detach: bool = False) -> "RedisServer":
        """Starts a server in `directory` (created; must be absent or empty; default: a new
        temporary directory) on `port` (default: a free one) and waits until it answers PING.
        watch: start the reaper (see watch_owner). detach: its own session, so it outlives
        this process (`redistmp start`). On any failure nothing is left behind."""
        binary = find_redis_server()
        directory = throwaway.new_directory(directory, prefix="redistmp-", error=RedisError)
        server = cls(directory, port or 0, binary=binary)
        server.detach = detach
        server._start_watched(fresh_port=port is None, watch=watch)
        return server

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> "RedisServer":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=RedisError,
                                                what="a redistmp instance")
        server = cls(directory, state["port"], binary=pathlib.Path(state["binary"]))
        server.pid = state.get("pid")
        return server

    # -- paths and URLs --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    # -- running ---------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return [str(self.binary), "--bind", self.host, "--port", str(self.port),
                "--dir", str(self.directory), "--logfile", str(self.log_path),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                # Loopback only, no password: protected mode would refuse nothing here anyway.
                "--protected-mode", "no"]

    def _save_state(self) -> None:
        (self.directory / STATE_FILE).write_text(json.dumps({
            "port": self.port, "pid": self.pid, "binary": str(self.binary),
            "url": self.url}) + "\n")

    def _spawn_ready(self, *, fresh_port: bool) -> None:
        throwaway.spawn_until_ready(self, what="redis-server", error=RedisError,
                                    ready=lambda: ping(self.port), log=self.log_text,
                                    fresh_port=fresh_port, new_session=self.detach)

    def cli(self, *args: str, timeout: float = 10.0, check: bool = True) -> str:
        """Runs `redis-cli -h HOST -p PORT ARGS...` and returns its output (stripped). Raises
        RedisError when redis-cli fails or (check) prints an error reply."""
        proc = subprocess.run([str(find_redis_cli()), "-h", self.host, "-p", str(self.port),
                               *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        out = proc.stdout.strip()
        if proc.returncode != 0 or (check and out.startswith(("ERR", "(error)"))):
            raise RedisError(f"redis-cli {' '.join(map(str, args))} failed "
                             f"({proc.returncode}): {out} {proc.stderr.strip()}")
        return out

    def shutdown_nosave(self, timeout: float = 10.0) -> None:
        """What `redis-cli shutdown nosave` does (the server ends at once, nothing saved; every
        client's connection drops), then waits for the process to be gone. The directory and
        the port stay ours for restart()."""
        if not self.running():
            return
        # redis-cli reports the dropped connection of a successful SHUTDOWN as an error on some
        # versions: the process ending is what counts.
        self.cli("shutdown", "nosave", timeout=timeout, check=False)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.running():
            raise RedisError(f"redis-server (pid {self.pid}) still running {timeout} s after "
                             f"SHUTDOWN NOSAVE\n{self.log_text()[-2000:]}")
        if self.proc is not None:
            self.proc.wait()

    def restart(self) -> None:
        """Starts the server again on the same port (shutting it down first if it runs), empty,
        and waits until it answers PING."""
        self.shutdown_nosave()
        self._spawn_ready(fresh_port=False)

    # stop() and watch_owner() (the reaper: it kills the pid the state file names, which
    # restart() updates) are throwaway.Instance's.


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE, RedisServer.kill_attached)
