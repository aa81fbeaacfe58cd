"""What the throwaway servers of tests and benchmarks (tools/pg_cluster.py, tools/redis_server.py,
tools/nginx_proxy.py) share: a free loopback port, starting until ready, and the cleanup after an owner that died without stopping its
server (a detached process waits for the owner to exit, then runs the module's cleanup and
removes the server's directory)."""

from __future__ import annotations

import os
import pathlib
import select
import shutil
import socket
import subprocess
import sys
import time
from typing import Callable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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
