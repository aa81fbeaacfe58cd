"""What the throwaway servers of tests and benchmarks (tools/pg_cluster.py, tools/redis_server.py,
tools/nginx_proxy.py, tools/coturn_server.py, tools/pgbouncer_server.py) share: a free loopback
port, finding the server's programs, the instance's directory and state file, starting until
ready (a port that accepts connections), the life of a server run as our child (Instance),
and the cleanup after an owner that died without stopping its server (a detached process waits
for the owner to exit, then runs the module's cleanup and removes the server's directory)."""

from __future__ import annotations

import json
import os
import pathlib
import select
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def find_executable(*candidates: str | None, error: type[Exception],
                    missing: str) -> pathlib.Path:
    """The first candidate (None ones skipped) that is an executable file; `error(missing)`
    when there is none."""
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return pathlib.Path(candidate)
    raise error(missing)


def find_program(program: str, debian_path: str, *, package: str, error: type[Exception],
                 env: str | None = None) -> pathlib.Path:
    """A program of a throwaway server (or its client): $ENV (where it has one), else Debian's
    `debian_path`, else `program` on PATH; `error` naming the Debian package when there is
    none (tools/deps.sh test installs the servers)."""
    missing = f"{program} not found: install Debian's `{package}`"
    if env is not None:
        missing += f" (tools/deps.sh test) or set {env}"
    return find_executable(os.environ.get(env) if env else None, debian_path,
                           shutil.which(program), error=error, missing=missing)


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when `host`:`port` accepts a TCP connection: the readiness of a server that has no
    cheaper question to answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def new_directory(directory: str | os.PathLike | None, *, prefix: str,
                  error: type[Exception]) -> pathlib.Path:
    """`directory` made absolute and created (None: a new temporary one named PREFIX...);
    raises `error` unless it is empty: an instance owns its whole directory."""
    if directory is None:
        directory = tempfile.mkdtemp(prefix=prefix)
    directory = pathlib.Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise error(f"{directory} is not empty")
    return directory


def read_state(directory: str | os.PathLike, state_file: str, *, error: type[Exception],
               what: str) -> tuple[pathlib.Path, dict]:
    """The absolute directory and its state file's contents; `error` (saying the directory is
    not `what`) when there is none."""
    directory = pathlib.Path(directory).absolute()
    try:
        return directory, json.loads((directory / state_file).read_text())
    except FileNotFoundError:
        raise error(f"{directory}: no {state_file}; not {what}") from None


def read_text(path: pathlib.Path) -> str:
    """A log's text so far; "" before the server has written it."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def runs_program(pid: int, name: bytes) -> bool:
    """True when process `pid` exists and its argv[0] contains `name`. Guards kills by pid read
    from a state file: the pid may have been reused."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return name in cmdline.split(b"\0", 1)[0]


def wait_until_gone(running: Callable[[], bool], timeout: float) -> bool:
    """Polls `running()` until it is false or `timeout` seconds have passed; True when gone."""
    deadline = time.monotonic() + timeout
    while running() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not running()


class Instance:
    """The life of a throwaway server run as our child, for RedisServer, CoturnServer, PgBouncer
    and NginxProxy. A subclass sets PROGRAM (the bytes argv[0] holds, see runs_program),
    MODULE_FILE (its module's __file__, run as the reaper) and, where the server has one log,
    LOG_FILE (log_path, log_text); it provides _spawn_ready, _save_state (see save_state) and
    attach (and _kill_and_wait, where SIGTERM then SIGKILL to the one process is not enough).
    As a context manager it stops (and removes) the instance on exit."""

    PROGRAM: bytes
    MODULE_FILE: str
    LOG_FILE: str

    def __init__(self, directory: str | os.PathLike, port: int, *, host: str,
                 binary: pathlib.Path):
        self.directory = pathlib.Path(directory)
        self.port = port
        self.host = host
        self.binary = binary
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # Also known for an attached instance (from the state file).

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _is_ours(self, pid: int) -> bool:
        return runs_program(pid, self.PROGRAM)

    @property
    def log_path(self) -> pathlib.Path:
        return self.directory / self.LOG_FILE

    def log_text(self) -> str:
        return read_text(self.log_path)

    @classmethod
    def kill_attached(cls, directory: str) -> None:
        """The reaper's clean_up (see reap()): SIGKILL to the server whose pid the state file in
        `directory` names, if that pid still runs it. A subclass provides attach(directory)."""
        server = cls.attach(directory)
        if server.pid is not None and server._is_ours(server.pid):
            os.kill(server.pid, signal.SIGKILL)

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and self._is_ours(self.pid)

    def _start_watched(self, *, fresh_port: bool, watch: bool) -> None:
        """Spawns until ready and (watch) starts the reaper; on any failure nothing is left."""
        try:
            self._spawn_ready(fresh_port=fresh_port)
            if watch:
                self.watch_owner()
        except BaseException:
            self.stop()
            raise

    def _terminate_child(self, timeout: float) -> bool:
        """Our child: SIGTERM (if it still runs), then up to `timeout` seconds for it to exit.
        False when it still runs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        return True

    def _terminate_attached(self, timeout: float) -> bool:
        """An attached instance (not our child, so its end is polled for): SIGTERM, then up to
        `timeout` seconds for it to go. False when it still runs; nothing is done when the
        pid is not (or no longer) ours."""
        if self.pid is None or not self._is_ours(self.pid):
            return True
        os.kill(self.pid, signal.SIGTERM)
        return wait_until_gone(lambda: self._is_ours(self.pid), timeout)

    def _kill_and_wait(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the server has not exited within `timeout` (a subclass
        whose server has worker processes overrides it)."""
        if self.proc is not None:
            if not self._terminate_child(timeout):
                self.proc.kill()
                self.proc.wait(10)
            return
        if not self._terminate_attached(timeout):
            os.kill(self.pid, signal.SIGKILL)
            wait_until_gone(lambda: self._is_ours(self.pid), 10)

    def stop(self) -> None:
        """Stops the server (if running) and removes the whole directory. Never raises for a
        server that is already gone."""
        try:
            self._kill_and_wait()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def watch_owner(self, owner_pid: int | None = None) -> None:
        """Starts a detached process that, once `owner_pid` (default: this process) has exited,
        kills the server whose pid the state file names and removes the directory, if it is
        still there then."""
        watch_owner(self.MODULE_FILE, self.directory, owner_pid)


def save_state(server: Instance, state_file: str, **more) -> None:
    """Writes the instance's state file: its port, pid and binary and `more` (what else its
    attach() needs), which is how attach() and the reaper find a running server."""
    (server.directory / state_file).write_text(json.dumps({
        "port": server.port, "pid": server.pid, "binary": str(server.binary), **more}) + "\n")


def spawn_until_ready(server, *, what: str, error: type[Exception], ready: Callable[[], bool],
                      log: Callable[[], str], fresh_port: bool, new_session: bool,
                      prepare: Callable[[], None] = lambda: None, stderr=subprocess.DEVNULL,
                      attempts: int = 3, timeout: float = 15.0) -> None:
    """Starts `server._argv()` in `server.directory` (after `prepare()`) and waits until
    `ready()`; sets server.port (a new free one with fresh_port), .proc and .pid and saves its
    state (server._save_state()). A start that lost the race for its free port ("Address
    already in use" in what log() gained) is retried on another; any other failure raises
    `error` with the log's end, after server._kill_and_wait() if the process still runs."""
    for attempt in range(attempts):
        if fresh_port:
            server.port = free_port()
        prepare()
        log_size = len(log())
        server.proc = subprocess.Popen(server._argv(), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr,
                                       cwd=server.directory, start_new_session=new_session)
        server.pid = server.proc.pid
        server._save_state()
        deadline = time.monotonic() + timeout
        while server.proc.poll() is None and time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.02)
        gained = log()[log_size:]
        if server.proc.poll() is None:
            server._kill_and_wait()
            raise error(f"{what} on port {server.port} was not ready within {timeout} s\n"
                        f"{gained[-3000:]}")
        if fresh_port and "Address already in use" in gained and attempt + 1 < attempts:
            continue  # Lost a race for the free port: take another one.
        raise error(f"{what} exited with status {server.proc.returncode} on port "
                    f"{server.port}\n{gained[-3000:]}")


def watch_owner(module_file: str, directory: pathlib.Path, owner_pid: int | None = None) -> None:
    """Starts `python3 module_file reap OWNER DIRECTORY` (the module calls reap() for it), which
    detaches (double fork, own session: killing the owner's process tree does not kill it) and
    waits for `owner_pid` (default: this process) to exit."""
    owner_pid = owner_pid or os.getpid()
    subprocess.run([sys.executable, module_file, "reap", str(owner_pid), str(directory)],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True, timeout=30)


def reap(owner_pid: int, directory: str, state_file: str,
         clean_up: Callable[[str], None]) -> None:
    """The detached side: once the owner has exited, `clean_up(directory)` if the server's state
    file is still there (nobody stopped it), then the directory goes."""
    try:
        pidfd = os.pidfd_open(owner_pid)
    except ProcessLookupError:
        pidfd = None
    if os.fork() != 0:
        os._exit(0)  # The caller's child ends at once; the grandchild is re-parented.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if pidfd is not None:
        select.select([pidfd], [], [])  # Readable once the owner has exited.
    if (pathlib.Path(directory) / state_file).exists():
        try:
            clean_up(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
