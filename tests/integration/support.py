"""Process management and asyncio helpers shared by the integration tests.

RingcastServer runs the real binary on 127.0.0.1 with a free port, waits (bounded) until
GET /health answers 200, and stops it with SIGTERM (SIGKILL after a bounded wait). stderr and
stdout go to files so a failing test can show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Callable

import websockets

import wsraw

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "build" / "debug" / "core" / "ringcast"

# Servers a failing test should report: those alive when the test started plus any started
# during it (see conftest.pytest_runtest_makereport).
LIVE: list["RingcastServer"] = []
TOUCHED: list["RingcastServer"] = []


class ServerError(Exception):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now. Bound without SO_REUSEPORT, so a port held by any
    other listener (ours included) is never returned."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def url_or_own(env: str, start_own: Callable[[], object],
               url_of: Callable[[object], str]) -> tuple[str, object | None]:
    """A session's server of one kind: (the URL $`env` names, None) when it is set (a server
    someone else runs: `tools/pgtmp run`, `tools/redistmp run`), else (its URL, the server) of
    `start_own()`, ours to stop at the end."""
    url = os.environ.get(env)
    if url:
        return url, None
    server = start_own()
    return url_of(server), server


def run_async(coro, timeout: float):
    """Runs a coroutine with an overall bound; raises TimeoutError when it is exceeded."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def tmp_tool_script(body: str) -> str:
    """A script for run_tmp_tool and sigterm_tmp_tool: `body` (os, subprocess and sys
    imported), then exit status 7, after waiting 60 s to be killed when given an argument (as
    sigterm_tmp_tool gives it)."""
    return ("import os, subprocess, sys\n" + body +
            "if len(sys.argv) > 1:\n    import time; time.sleep(60)\nsys.exit(7)\n")


def run_tmp_tool(tool: pathlib.Path, script: str, *args: str,
                 url_variable: str) -> subprocess.CompletedProcess:
    """`TOOL run -- python -c SCRIPT ARGS...` (tools/pgtmp, tools/redistmp) without
    $URL_VARIABLE, so that the tool starts an instance of its own."""
    return subprocess.run([str(tool), "run", "--", sys.executable, "-c", script, *args],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != url_variable})


def sigterm_tmp_tool(tool: pathlib.Path, script: str, *, url_variable: str,
                     check_ready: Callable[[str], None]) -> tuple[int, str, str, float, str]:
    """`TOOL run -- python -c SCRIPT wait` as run_tmp_tool, where SCRIPT prints the instance's
    URL, its directory and a line that `check_ready` asserts on, then waits: once the three are
    out (the directory must exist), TOOL gets a SIGTERM. Returns TOOL's exit status, the URL,
    the directory, the seconds from the signal to the exit, and TOOL's stderr."""
    proc = subprocess.Popen([str(tool), "run", "--", sys.executable, "-c", script, "wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != url_variable})
    try:
        url = proc.stdout.readline().strip()
        directory = proc.stdout.readline().strip()
        check_ready(proc.stdout.readline())
        assert pathlib.Path(directory).exists()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, url, directory, seconds, proc.stderr.read()


def _read_text(path: pathlib.Path) -> str:
    """A log's text so far; "" before the process has written it."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


async def next_set(event: asyncio.Event, timeout: float) -> None:
    """Clears `event` and waits until it is set again, at most `timeout` seconds: a reader sets
    it on everything it appends, and the waiter looks again either way."""
    event.clear()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        pass


async def close_reader(ws, task: asyncio.Task) -> None:
    """Closes `ws` (within 5 s, else the transport is aborted) and ends `task`, the coroutine
    that was reading it."""
    try:
        await asyncio.wait_for(ws.close(), 5)
    except (asyncio.TimeoutError, websockets.WebSocketException, OSError):
        ws.transport.abort()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def ws_connect(url: str, **kw):
    opts = dict(max_size=None, ping_interval=None, compression=None, open_timeout=10,
                close_timeout=5, max_queue=None)
    opts.update(kw)
    return websockets.connect(url, **opts)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any RINGCAST_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(extra or {})
    return env


def http_get_status(port: int, path: str = "/health", timeout: float = 2.0) -> int | None:
    """Status of GET `path`, or None when the server does not answer properly."""
    try:
        with wsraw.RawConn.open(port, timeout=timeout) as c:
            c.send(wsraw.get_request(path))
            return c.read_http_response(timeout).status
    except (OSError, TimeoutError, wsraw.PeerClosed, AssertionError, ValueError):
        return None


class RingcastServer:
    def __init__(self, binary: pathlib.Path, args=(), *, env: dict[str, str] | None = None,
                 log_dir: pathlib.Path, name: str = "ringcast", base_args: bool = True,
                 threads: int = 2, port: int | None = None, database_url: str | None = None):
        self.binary = pathlib.Path(binary)
        self.extra_args = [str(a) for a in args]
        self.env_extra = dict(env or {})
        self.log_dir = pathlib.Path(log_dir)
        self.name = name
        self.base_args = base_args
        self.threads = threads
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.expect_rc: int | None = 0  # Checked at teardown; None: do not check.
        self.killed = False
        self.returncode: int | None = None
        self.stderr_path = self.log_dir / f"{name}.stderr"
        self.stdout_path = self.log_dir / f"{name}.stdout"
        # The chat store; kept across restarts of this object (kill -9 then start again).
        self.data_dir = self.log_dir / f"{name}.data"
        # The PostgreSQL store (--database-url) instead of SQLite in data_dir; the JWT secret
        # stays in data_dir either way.
        self.database_url = database_url
        # Strings that must never appear in the server's output (the database password).
        self.secrets: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------

    def argv(self) -> list[str]:
        argv = [str(self.binary)]
        if self.base_args:
            argv += ["--host", "127.0.0.1", "--port", str(self.port),
                     "--threads", str(self.threads), "--data-dir", str(self.data_dir)]
            if self.database_url:
                argv += ["--database-url", self.database_url]
            # The tests scrape /metrics on the main port (off by default: docs/metrics.md),
            # unless they choose where it is served.
            if not any(a.startswith(("--metrics", "--no-metrics")) for a in self.extra_args):
                argv.append("--metrics-on-main-port")
        return argv + self.extra_args

    def env(self) -> dict[str, str]:
        """The RINGCAST_* environment; "{port}" in a value becomes the chosen port."""
        return {k: v.replace("{port}", str(self.port)) for k, v in self.env_extra.items()}

    def spawn(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # In its log dir: a server started without --data-dir keeps its store there.
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=clean_env(self.env()),
                                         cwd=self.log_dir)
        LIVE.append(self)
        TOUCHED.append(self)

    def start(self, ready_timeout: float = 15.0, attempts: int = 3) -> "RingcastServer":
        """Spawns the server and waits until GET /health answers 200 (bounded)."""
        explicit_port = self.port is not None
        for attempt in range(attempts):
            if not explicit_port:
                self.port = free_port()
            self.spawn()
            try:
                self.wait_ready(ready_timeout)
                return self
            except ServerError:
                in_use = "in use" in self.stderr_text().lower()
                if self.proc.poll() is None:
                    self.stop()
                self._retire()
                if in_use and not explicit_port and attempt + 1 < attempts:
                    continue  # Lost a race for the free port: try another one.
                raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerError(f"{self.describe()} exited with status {rc} before answering "
                                  f"GET /health\n{self.logs_tail()}")
            if http_get_status(self.port, "/health", timeout=1.0) == 200:
                return
            if time.monotonic() > deadline:
                raise ServerError(f"{self.describe()} did not answer GET /health with 200 "
                                  f"within {timeout} s\n{self.logs_tail()}")
            time.sleep(0.05)

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Exit status, or None when still running after `timeout` seconds."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, bounded wait, SIGKILL if needed. Returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.killed = True
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        return self.returncode

    def _retire(self) -> None:
        if self in LIVE:
            LIVE.remove(self)

    def finish(self) -> str | None:
        """Teardown: stops the server and returns a problem description, or None if clean."""
        rc = self.stop()
        self._retire()
        problems = []
        if self.killed:
            problems.append("did not exit within 15 s of SIGTERM and was killed")
        elif self.expect_rc is not None and rc != self.expect_rc:
            problems.append(f"exit status {rc}, expected {self.expect_rc}")
        text = self.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            if marker in text:
                problems.append(f"stderr contains {marker!r}")
        output = text + self.stdout_text()
        for secret in self.secrets:
            if secret in output:
                problems.append("the database password appears in its output")
        if not problems:
            return None
        return f"{self.describe()}: " + "; ".join(problems) + "\n" + self.logs_tail()

    # -- introspection ---------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def describe(self) -> str:
        args = " ".join(self.argv()[1:])
        for secret in self.secrets:
            args = args.replace(secret, "***")
        return f"ringcast[{self.name} port={self.port}] ({args})"

    def stderr_text(self) -> str:
        return _read_text(self.stderr_path)

    def stdout_text(self) -> str:
        return _read_text(self.stdout_path)

    def logs_tail(self, limit: int = 6000) -> str:
        err = self.stderr_text()
        out = self.stdout_text()
        text = f"--- stderr ({len(err)} chars) ---\n{err[-limit:]}"
        if out:
            text += f"\n--- stdout ({len(out)} chars) ---\n{out[-limit // 2:]}"
        return text

    @property
    def sanitized(self) -> bool:
        """True for an AddressSanitizer build, whose quarantine keeps freed memory resident."""
        out = subprocess.run(["ldd", str(self.binary)], capture_output=True, text=True).stdout
        return "libasan" in out

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")


def run_binary(binary: pathlib.Path, args, *, env: dict[str, str] | None = None,
               timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs the binary to completion (for --help / bad flags); kills it past `timeout`."""
    proc = subprocess.Popen([str(binary), *map(str, args)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(env), cwd=tempfile.gettempdir())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"{binary} {' '.join(map(str, args))} still running after "
                             f"{timeout} s; stderr: {err.decode(errors='replace')[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       out.decode(errors="replace"), err.decode(errors="replace"))


# --------------------------------------------------------------------------------------------
# Pub/sub helpers for /raw/{channel}
#
# Messages carry their origin so a subscriber can check "every message exactly once, in order
# per sender": text "m:<sender>:<seq>:<pad>" or binary b"B" + !II(sender, seq) + pad. "sync:<id>"
# and "end:<id>" are markers: sync proves a sender's messages reach a subscriber (a barrier run
# before counting, since the spec does not say how soon a new subscription takes effect
# everywhere); end follows a sender's last message (per-sender order puts it after all of them).


def data_message(sender: int, seq: int, pad: int, binary: bool):
    if binary:
        return b"B" + struct.pack("!II", sender, seq) + bytes([seq % 251]) * pad
    return f"m:{sender}:{seq}:" + chr(ord("a") + seq % 26) * pad


def message_origin(msg) -> tuple[int, int]:
    if isinstance(msg, bytes):
        assert msg[:1] == b"B" and len(msg) >= 9, f"unexpected binary message {msg[:40]!r}"
        return struct.unpack("!II", msg[1:9])
    tag, sender, seq, _ = msg.split(":", 3)
    assert tag == "m", f"unexpected text message {msg[:40]!r}"
    return int(sender), int(seq)


class Subscriber:
    """A websockets client on /raw/{channel} that records what it receives, in a task."""

    def __init__(self, ws, name: str):
        self.ws = ws
        self.name = name
        self.received: list = []  # Data messages, in arrival order (markers excluded).
        self.syncs: set[int] = set()
        self.ends: set[int] = set()
        self.closed: BaseException | None = None
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            async for msg in self.ws:
                if isinstance(msg, str) and msg.startswith("sync:"):
                    self.syncs.add(int(msg[5:]))
                elif isinstance(msg, str) and msg.startswith("end:"):
                    self.ends.add(int(msg[4:]))
                else:
                    self.received.append(msg)
            self.closed = EOFError(f"closed with {self.ws.close_code} {self.ws.close_reason!r}")
        except websockets.ConnectionClosed as exc:
            self.closed = exc

    def by_sender(self) -> dict[int, list]:
        out: dict[int, list] = {}
        for msg in self.received:
            sender, seq = message_origin(msg)
            out.setdefault(sender, []).append((seq, msg))
        return out

    async def close(self):
        await close_reader(self.ws, self.task)


async def connect_subscribers(url: str, count: int, batch: int = 50,
                              prefix: str = "sub") -> list[Subscriber]:
    subs: list[Subscriber] = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        conns = await asyncio.gather(*(ws_connect(url) for _ in range(n)))
        subs += [Subscriber(ws, f"{prefix}{start + i}") for i, ws in enumerate(conns)]
    return subs


@contextlib.asynccontextmanager
async def subscribed(url: str, count: int, **kw):
    """connect_subscribers(url, count, ...) for the block, all closed when it ends, however it
    ends."""
    subs = await connect_subscribers(url, count, **kw)
    try:
        yield subs
    finally:
        await asyncio.gather(*(s.close() for s in subs))


async def wait_until(predicate, timeout: float, what, interval: float = 0.02) -> None:
    """Polls `predicate` until true; AssertionError with what() (or what) after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"not within {timeout} s: {detail}")
        await asyncio.sleep(interval)


async def publish_all(senders: dict[int, object], expected: dict[int, list]) -> None:
    """Every sender (id → websocket) sends its `expected` messages in order, then "end:<id>";
    the senders all at once."""
    async def publish(sid):
        for msg in expected[sid]:
            await senders[sid].send(msg)
        await senders[sid].send(f"end:{sid}")

    await asyncio.gather(*(publish(sid) for sid in senders))


async def sync_barrier(senders: dict[int, object], subs: list[Subscriber],
                       timeout: float = 15.0, extra_done=None) -> None:
    """Each sender (id → websocket) repeats "sync:<id>" until every subscriber has seen one.
    `extra_done(id)` can add a condition (e.g. a raw-socket subscriber saw it too)."""
    deadline = asyncio.get_running_loop().time() + timeout
    pending = set(senders)
    while pending:
        for sid in sorted(pending):
            if all(sid in s.syncs for s in subs) and (extra_done is None or extra_done(sid)):
                pending.discard(sid)
            else:
                await senders[sid].send(f"sync:{sid}")
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            missing = {sid: [s.name for s in subs if sid not in s.syncs][:10] for sid in pending}
            raise AssertionError(f"sync messages from senders {sorted(pending)} did not reach "
                                 f"every subscriber within {timeout} s; e.g. missing: {missing}")
        await asyncio.sleep(0.05)
