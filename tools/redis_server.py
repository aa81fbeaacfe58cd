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

`SentinelGroup` (see its docstring) is Redis under Sentinel for the high-availability tests: a
master, one replica and three redis-sentinel processes (Debian's `redis-sentinel`), each one of
the instances above with its own directory and reaper; `url()` is the redis+sentinel:// URL,
`kill_master()` and `wait_failover()` drive a failover, `stop()` always cleans up.
"""

from __future__ import annotations

import os
import pathlib
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


def find_redis_cli() -> pathlib.Path:
    # Debian's redis-server depends on redis-tools, so it is there wherever the server is.
    return throwaway.find_program("redis-cli", "/usr/bin/redis-cli", package="redis-tools",
                                  error=RedisError)


def _resp(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def ping(port: int, host: str = HOST, timeout: float = 1.0, *, password: str | None = None,
         user: str | None = None) -> bool:
    """True when a server on `port` answers PING with +PONG (a loading or refusing server, or
    none, gives False), after AUTH [user] password when a password is given."""
    request, expected = _resp("PING"), b"+PONG\r\n"
    if password is not None:
        auth = ("AUTH", user, password) if user else ("AUTH", password)
        request, expected = _resp(*auth) + request, b"+OK\r\n" + expected
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request)
            reply = b""
            while reply.count(b"\r\n") < expected.count(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    return False
                reply += chunk
            return reply == expected
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
        self.extra_args: list[str] = []  # Appended to the command line (see start()).
        self.auth: tuple[str | None, str] | None = None  # (user, password) for ping and cli.

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike | None = None, port: int | None = None, *,
              watch: bool = True, detach: bool = False, args: list[str] | tuple = (),
              auth: tuple[str | None, str] | None = None) -> "RedisServer":
        """Starts a server in `directory` (created; must be absent or empty; default: a new
        temporary directory) on `port` (default: a free one) and waits until it answers PING.
        watch: start the reaper (see watch_owner). detach: its own session, so it outlives
        this process (`redistmp start`). args: more redis-server options (`--requirepass`,
        `--replicaof`...); auth: the (user or None, password) that PING and cli() need then.
        On any failure nothing is left behind."""
        binary = throwaway.find_program("redis-server", "/usr/bin/redis-server",
                                        package="redis-server", env="REDIS_SERVER",
                                        error=RedisError)
        directory = throwaway.new_directory(directory, prefix="redistmp-", error=RedisError)
        server = cls(directory, port or 0, binary=binary)
        server.detach = detach
        server.extra_args = list(args)
        server.auth = auth
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
                "--protected-mode", "no", *self.extra_args]

    def ping(self) -> bool:
        user, password = self.auth or (None, None)
        return ping(self.port, self.host, password=password, user=user)

    def _save_state(self) -> None:
        throwaway.save_state(self, STATE_FILE, url=self.url)

    def _spawn_ready(self, *, fresh_port: bool) -> None:
        throwaway.spawn_until_ready(self, what="redis-server", error=RedisError,
                                    ready=self.ping, log=self.log_text,
                                    fresh_port=fresh_port, new_session=self.detach)

    def cli(self, *args: str, timeout: float = 10.0, check: bool = True) -> str:
        """Runs `redis-cli -h HOST -p PORT ARGS...` and returns its output (stripped). Raises
        RedisError when redis-cli fails or (check) prints an error reply."""
        auth = []
        env = None
        if self.auth is not None:
            user, password = self.auth
            auth = ["--no-auth-warning"] + (["--user", user] if user else [])
            env = {**os.environ, "REDISCLI_AUTH": password}
        proc = subprocess.run([str(find_redis_cli()), "-h", self.host, "-p", str(self.port),
                               *auth, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, env=env)
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


class SentinelServer(RedisServer):
    """One throwaway redis-sentinel (SentinelGroup starts three). Its configuration file,
    DIR/sentinel.conf, is written at each start (Sentinel rewrites it as it learns)."""

    PROGRAM = b"redis-sentinel"

    def __init__(self, directory: pathlib.Path, port: int, *, binary: pathlib.Path):
        super().__init__(directory, port, binary=binary)
        self.config_lines: list[str] = []

    @classmethod
    def start_sentinel(cls, directory: str | os.PathLike | None, config_lines: list[str], *,
                       auth: tuple[str | None, str] | None = None,
                       watch: bool = True) -> "SentinelServer":
        binary = throwaway.find_program("redis-sentinel", "/usr/bin/redis-sentinel",
                                        package="redis-sentinel", env="REDIS_SENTINEL",
                                        error=RedisError)
        directory = throwaway.new_directory(directory, prefix="sentineltmp-", error=RedisError)
        server = cls(directory, 0, binary=binary)
        server.config_lines = list(config_lines)
        server.auth = auth
        server._start_watched(fresh_port=True, watch=watch)
        return server

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        config = self.directory / "sentinel.conf"
        config.write_text("\n".join([
            f"port {self.port}", f"bind {self.host}", "daemonize no", "protected-mode no",
            f"dir {self.directory}", f"logfile {self.log_path}", *self.config_lines]) + "\n")
        return [str(self.binary), str(config)]

    def _save_state(self) -> None:
        # `sentinel`: how the reaper (_kill_attached) tells the two kinds apart.
        throwaway.save_state(self, STATE_FILE, sentinel=True)


class SentinelGroup:
    """Redis with Sentinel on loopback, for the tests: a master, one replica (--replicaof) and
    three redis-sentinel processes (quorum 2) watching master MASTER_NAME, each in a directory
    of its own (under `directory` when given, else each a new temporary one), each with the
    reaper of RedisServer.start, so none outlives the test process.

        group = SentinelGroup.start(password="pw", user="app", sentinel_password="spw")
        url = group.url()               # redis+sentinel://app:pw@127.0.0.1:P1,.../rcmaster?...
        old = group.kill_master()       # kill -9 of the current master
        new = group.wait_failover(30)   # the replica the sentinels promoted (a RedisServer)
        old.restart()                   # back, empty: the sentinels make it new's replica
        group.wait_settled(60)          # one master, every other server its replica
        group.stop()                    # always cleans up (also a context manager)

    password (and user: an ACL user with every right; the default user is then off) protect
    the master and the replica; sentinel_password (and sentinel_user) protect the sentinels.
    `master` is the RedisServer the sentinels name now; `servers` and `sentinels` list them
    all. down-after-milliseconds is `down_after_ms` (1000) and failover-timeout
    `failover_timeout_ms` (3000), so a failover takes a few seconds."""

    MASTER_NAME = "rcmaster"

    def __init__(self):
        self.servers: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []
        self.master: RedisServer | None = None
        self.user: str | None = None
        self.password: str | None = None
        self.sentinel_user: str | None = None
        self.sentinel_password: str | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def start(cls, directory: str | os.PathLike | None = None, *, password: str | None = None,
              user: str | None = None, sentinel_password: str | None = None,
              sentinel_user: str | None = None, down_after_ms: int = 1000,
              failover_timeout_ms: int = 3000, timeout: float = 30.0) -> "SentinelGroup":
        """Starts everything and waits until every sentinel knows the replica and the two other
        sentinels (so that a failover can be agreed); on any failure nothing is left."""
        group = cls()
        group.user, group.password = user, password
        group.sentinel_user, group.sentinel_password = sentinel_password and sentinel_user, \
            sentinel_password
        base = pathlib.Path(directory) if directory is not None else None

        def where(name: str):
            return base / name if base is not None else None

        try:
            auth_args: list[str] = []
            if password is not None:
                if user:
                    auth_args += ["--user", user, "on", f">{password}", "~*", "&*", "+@all",
                                  "--user", "default", "off", "--masteruser", user]
                else:
                    auth_args += ["--requirepass", password]
                auth_args += ["--masterauth", password]
            auth = (user, password) if password is not None else None
            master = RedisServer.start(where("master"), args=auth_args, auth=auth)
            group.servers.append(master)
            group.master = master
            replica = RedisServer.start(where("replica"), auth=auth, args=[
                *auth_args, "--replicaof", master.host, str(master.port)])
            group.servers.append(replica)
            name = cls.MASTER_NAME
            lines = [f"sentinel monitor {name} {master.host} {master.port} 2",
                     f"sentinel down-after-milliseconds {name} {down_after_ms}",
                     f"sentinel failover-timeout {name} {failover_timeout_ms}",
                     f"sentinel parallel-syncs {name} 1"]
            if password is not None:
                if user:
                    lines.append(f"sentinel auth-user {name} {user}")
                lines.append(f"sentinel auth-pass {name} {password}")
            sentinel_auth = None
            if sentinel_password is not None:
                sentinel_auth = (group.sentinel_user, sentinel_password)
                if group.sentinel_user:
                    lines += [f"user {group.sentinel_user} on >{sentinel_password} ~* &* +@all",
                              "user default off",
                              f"sentinel sentinel-user {group.sentinel_user}"]
                else:
                    lines.append(f"requirepass {sentinel_password}")
                lines.append(f"sentinel sentinel-pass {sentinel_password}")
            for i in range(3):
                group.sentinels.append(SentinelServer.start_sentinel(
                    where(f"sentinel{i + 1}"), lines, auth=sentinel_auth))
            group._wait_ready(timeout)
        except BaseException:
            group.stop()
            raise
        return group

    def url(self, db: int = 0) -> str:
        """redis+sentinel://[user:password@]HOST:PORT,.../MASTER_NAME[/db][?sentinel_...]."""
        from urllib.parse import quote
        credentials = ""
        if self.password is not None:
            credentials = f"{quote(self.user or '', safe='')}:{quote(self.password, safe='')}@"
        hosts = ",".join(s.url for s in self.sentinels)
        out = f"redis+sentinel://{credentials}{hosts}/{self.MASTER_NAME}"
        if db:
            out += f"/{db}"
        query = []
        if self.sentinel_user:
            query.append(f"sentinel_user={quote(self.sentinel_user, safe='')}")
        if self.sentinel_password is not None:
            query.append(f"sentinel_password={quote(self.sentinel_password, safe='')}")
        return out + ("?" + "&".join(query) if query else "")

    def sentinel_master(self, sentinel: SentinelServer) -> int | None:
        """The master's port as `sentinel` tells it (None: no answer)."""
        try:
            out = sentinel.cli("SENTINEL", "get-master-addr-by-name", self.MASTER_NAME,
                               timeout=5).split()
        except (RedisError, subprocess.TimeoutExpired):
            return None
        return int(out[1]) if len(out) == 2 else None

    def _info(self, sentinel: SentinelServer) -> dict[str, str]:
        out = sentinel.cli("SENTINEL", "master", self.MASTER_NAME, timeout=5).splitlines()
        return dict(zip(out[0::2], out[1::2]))

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                infos = [self._info(s) for s in self.sentinels]
                if all(i.get("num-slaves") == "1" and i.get("num-other-sentinels") == "2"
                       and "s_down" not in i.get("flags", "") for i in infos):
                    return
            except RedisError:
                infos = []
            if time.monotonic() > deadline:
                raise RedisError(f"the sentinels did not see the replica and each other within "
                                 f"{timeout} s: {infos}")
            time.sleep(0.1)

    def kill_master(self) -> RedisServer:
        """kill -9 of the current master; returns it (its process is gone when this returns)."""
        master = self.master
        assert master is not None and master.proc is not None
        master.proc.kill()
        master.proc.wait()
        return master

    def wait_failover(self, timeout: float = 30.0) -> RedisServer:
        """Waits until every sentinel names another master than the one they named before and
        that server's ROLE says master; returns it (now `master`)."""
        old = self.master
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = {self.sentinel_master(s) for s in self.sentinels}
            if len(ports) == 1 and None not in ports and (old is None or ports != {old.port}):
                port = ports.pop()
                server = next((s for s in self.servers if s.port == port), None)
                if server is not None and server.running():
                    try:
                        if server.cli("ROLE", timeout=5).splitlines()[0] == "master":
                            self.master = server
                            return server
                    except RedisError:
                        pass
            time.sleep(0.1)
        raise RedisError(f"no failover within {timeout} s; sentinel logs:\n" + "\n".join(
            s.log_text()[-1500:] for s in self.sentinels))

    def wait_settled(self, timeout: float = 60.0) -> RedisServer:
        """Waits until every sentinel names one master, whose ROLE says master, and every other
        server (started again after kill_master, or continued after a pause) is its replica
        with the link up: the group is whole again, ready for the next failover. Returns the
        master (now `master`)."""
        deadline = time.monotonic() + timeout
        state = "no answer"
        while time.monotonic() < deadline:
            try:
                ports = {self.sentinel_master(s) for s in self.sentinels}
                if len(ports) == 1 and None not in ports:
                    port = ports.pop()
                    master = next(s for s in self.servers if s.port == port)
                    roles = {s.port: s.cli("ROLE", timeout=5).splitlines() for s in self.servers}
                    state = str(roles)
                    replicas_ok = all(r[0] == "slave" and int(r[2]) == port and r[3] == "connected"
                                      for p, r in roles.items() if p != port)
                    if roles[port][0] == "master" and replicas_ok:
                        self.master = master
                        return master
            except (RedisError, StopIteration, IndexError, ValueError):
                pass
            time.sleep(0.2)
        raise RedisError(f"the group did not settle within {timeout} s: {state}")

    def stop(self) -> None:
        """Stops every process (the sentinels first, so none reconfigures a server as it goes)
        and removes their directories. Never raises for what is already gone."""
        for server in [*self.sentinels, *self.servers]:
            try:
                server.stop()
            except Exception:  # noqa: BLE001 (cleanup goes on)
                pass
        self.sentinels, self.servers = [], []


def _kill_attached(directory: str) -> None:
    """The reaper's clean_up: a redis-server or a redis-sentinel, as its state file says."""
    _, state = throwaway.read_state(directory, STATE_FILE, error=RedisError,
                                    what="a redistmp instance")
    (SentinelServer if state.get("sentinel") else RedisServer).kill_attached(directory)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE, _kill_attached)
