"""Server processes for the bench suite: ours (ringcast) and peers started from a command.

A Target says how to start one server configuration (command template with {port}, the CPUs it
is pinned to with taskset, a label). Every scenario run starts a fresh Server from a Target on a
free port, waits until it accepts TCP connections, and stops it with SIGTERM (SIGKILL after a
bounded wait). stdout and stderr go to a log file whose tail lands in the results when something
went wrong.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import time

# ringcast's --max-conns-per-ip for every case: the load tool's connections come from one address
# (a few with --sources), and idle38k holds 19,000 per address.
BENCH_CONNS_PER_IP = 1_000_000


@dataclasses.dataclass
class Target:
    name: str             # Column label: "ours", "ours-2shards", "node-ws", ...
    command: str          # Shell command template; {port} is replaced.
    server_cpus: str      # taskset -c list for the server.
    threads: int          # Server threads/shards (1 for a peer: one event loop).
    kind: str             # "ours" or "peer".
    url_base: str = "ws://127.0.0.1:{port}"
    note: str = ""

    def describe(self) -> dict:
        return dataclasses.asdict(self)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_tool(proc: subprocess.Popen, timeout_s: float, record: dict) -> int:
    """The load tool's exit status; one still running after `timeout_s` is killed and the run's
    `record` gets the error."""
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        record["error"] = f"load tool still running after {timeout_s} s; killed"
        return proc.wait()


class Server:
    """One running server process (the pid is the server itself: the shell execs it)."""

    def __init__(self, target: Target, log_path: pathlib.Path, extra_args: list[str] = ()):
        self.target = target
        self.log_path = log_path
        self.extra_args = list(extra_args)  # Appended to the target's command (shell-quoted).
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "") -> str:
        return self.target.url_base.format(port=self.port) + path

    def command_line(self) -> str:
        return " ".join([self.target.command.format(port=self.port),
                         *map(shlex.quote, self.extra_args)])

    def start(self, ready_timeout: float = 20.0, attempts: int = 3) -> "Server":
        last_error = ""
        for _ in range(attempts):
            self.port = free_port()
            argv = ["taskset", "-c", self.target.server_cpus, "/bin/sh", "-c",
                    "exec " + self.command_line()]
            with open(self.log_path, "ab") as log:
                log.write(f"$ {shlex.join(argv)}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if accepts(self.port):
                    time.sleep(0.2)  # Let the rest of the start-up (other shards) finish.
                    if self.proc.poll() is None:
                        return self
                    break
                time.sleep(0.05)
            rc = self.proc.poll()
            last_error = (f"{self.target.name}: exited with {rc} before accepting connections"
                          if rc is not None else
                          f"{self.target.name}: not accepting on port {self.port} after "
                          f"{ready_timeout} s")
            self.stop()
            if "in use" not in self.log_tail(2000).lower():
                break
        raise RuntimeError(f"{last_error}\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text[-limit:]
