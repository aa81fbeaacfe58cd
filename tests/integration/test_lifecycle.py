"""Process lifecycle: flags and environment, start-up log, graceful shutdown (SIGTERM → 1001),
idle timeout (ping, then 1001), handshake timeout."""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest

from support import free_port, run_binary, http_get_status
from wsraw import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, RawConn, open_ws

FLAGS = ["--host", "--port", "--threads", "--echo", "--raw-channels", "--max-message-size",
         "--max-outbound-bytes", "--idle-timeout", "--handshake-timeout", "--shutdown-timeout",
         "--max-connections", "--max-conns-per-ip", "--ipv6-prefix", "--max-header-bytes",
         "--recv-buffer-size", "--recv-buffers"]

DEFAULTS = {  # flag → accepted spellings of its default
    "--host": ["0.0.0.0"],
    "--port": ["8080"],
    "--max-message-size": ["1048576", "1 MiB", "1MiB"],
    "--max-outbound-bytes": ["4194304", "4 MiB", "4MiB"],
    "--idle-timeout": ["120"],
    "--handshake-timeout": ["10"],
    "--shutdown-timeout": ["5"],
    "--max-header-bytes": ["8192"],
    "--max-conns-per-ip": ["1024"],
    "--ipv6-prefix": ["64"],
}


def flag_pattern(flag: str) -> str:
    return re.escape(flag) + r"(?![\w-])"


def echo_ok(conn, text: bytes = b"ping?") -> None:
    conn.send_text(text)
    f = conn.recv_frame()
    assert (f.opcode, f.payload) == (OP_TEXT, text), f


def connect_refused(port: int) -> bool:
    """True when a TCP connect to the port is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def wait_closed_by_server(conn: RawConn, timeout: float) -> None:
    """Any bytes (an error response) are fine; the server must then close the connection."""
    deadline = time.monotonic() + timeout
    try:
        while conn._fill(deadline, "the server to close the connection"):
            pass
    except TimeoutError:
        raise AssertionError(f"connection still open after {timeout} s; got "
                             f"{bytes(conn.buf[:100])!r}")


# --------------------------------------------------------------------------------------------
# Flags and environment


def test_help_lists_every_flag_with_default(ringcast_bin):
    res = run_binary(ringcast_bin, ["--help"])
    assert res.returncode == 0, f"--help exited {res.returncode}; stderr: {res.stderr[-2000:]}"
    text = res.stdout
    assert text.strip(), f"--help printed nothing on stdout (stderr: {res.stderr[-500:]!r})"
    positions = {}
    for flag in FLAGS:
        m = re.search(flag_pattern(flag), text)
        assert m, f"--help does not list {flag}:\n{text}"
        positions[flag] = m.start()
    for flag, spellings in DEFAULTS.items():
        start = positions[flag]
        later = [m.start() for f in FLAGS for m in re.finditer(flag_pattern(f), text)
                 if m.start() > start]
        segment = text[start:min(later) if later else len(text)]
        assert any(s in segment for s in spellings), \
            f"--help does not show the default of {flag} ({spellings[0]}): {segment!r}"


@pytest.mark.parametrize("args", [
    ["--port", "abc"],
    ["--port", "70000"],
    ["--port", "-1"],
    ["--threads", "0"],
    ["--threads", "many"],
    ["--max-message-size", "lots"],
    ["--idle-timeout", "soon"],
    ["--no-such-flag"],
    ["--trusted-proxies", "10.0.0.1,nginx.local"],
    ["--trusted-proxies", "10.0.0.0/33"],
    ["--trusted-proxies", "10.0.0.1,,::1"],
    ["--wal-bound-mib", "256", "--wal-hard-cap-mib", "128"],
], ids=lambda a: " ".join(a))
def test_bad_flag_exits_2_with_one_line(ringcast_bin, args):
    base = {"--host": "127.0.0.1", "--port": str(free_port()), "--threads": "2"}
    for flag in args:  # Never pass a flag twice: that is an error of its own.
        base.pop(flag, None)
    argv = [x for kv in base.items() for x in kv] + args
    res = run_binary(ringcast_bin, argv, timeout=5)
    assert res.returncode == 2, \
        f"{args}: exit status {res.returncode}, expected 2; stderr: {res.stderr[-1000:]!r}"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"{args}: want one stderr line: {res.stderr!r}"


@pytest.mark.parametrize("args, message", [
    (["--jwt-secret", "short"], "ringcast: --jwt-secret must be at least 32 bytes, got 5"),
    (["--host", "no-such-host.invalid"],
     "ringcast: --host: cannot resolve 'no-such-host.invalid'"),
    (["--host", "999.1.1.1"], "ringcast: --host: cannot resolve '999.1.1.1'"),
    (["--port", "abc"], "ringcast: --port: 'abc' is not a number"),
    (["--max-body-bytes", "1k"], "ringcast: --max-body-bytes: '1k' is not a number"),
    (["--notify-webhook", "http://127.0.0.1:9/hook"],
     "ringcast: --notify-webhook needs --notify-webhook-secret"),
])
def test_bad_values_exit_2_with_a_clear_line_before_anything_starts(ringcast_bin, tmp_path, args,
                                                                   message):
    """README: a bad value exits 2 with a one-line reason. Refused before the store opens (the
    data dir stays empty: no chat.db, no generated secret) and before the shards start (each
    of the two would have said it again)."""
    data = tmp_path / "data"
    data.mkdir()
    base = {"--data-dir": str(data), "--host": "127.0.0.1", "--port": str(free_port()),
            "--threads": "2"}
    for flag in args:  # Never pass a flag twice: that is an error of its own.
        base.pop(flag, None)
    r = run_binary(ringcast_bin, [x for kv in base.items() for x in kv] + args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), r.stderr
    assert list(data.iterdir()) == []


def test_bad_env_value_exits_2(ringcast_bin):
    res = run_binary(ringcast_bin, [], env={"RINGCAST_HOST": "127.0.0.1",
                                            "RINGCAST_PORT": "abc"}, timeout=10)
    assert res.returncode == 2, (res.returncode, res.stderr[-1000:])
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_configuration_from_environment(server_factory):
    srv = server_factory(base_args=False, env={
        "RINGCAST_HOST": "127.0.0.1", "RINGCAST_PORT": "{port}", "RINGCAST_THREADS": "2",
        "RINGCAST_RAW_CHANNELS": "1", "RINGCAST_MAX_MESSAGE_SIZE": "1000", "RINGCAST_ECHO": "1"})
    assert http_get_status(srv.port, "/health") == 200
    with open_ws(srv.port, "/raw/env") as conn:  # RINGCAST_RAW_CHANNELS took effect.
        echo_ok(conn, b"via env")
    with open_ws(srv.port, "/echo") as conn:     # RINGCAST_MAX_MESSAGE_SIZE took effect.
        conn.send_frame(OP_BINARY, b"x" * 1001)
        _, close = conn.recv_until_close()
        assert close.close_code == 1009, close


def test_startup_log_names_shards_and_kernel_features(server):
    text = server.stderr_text()
    assert "shard 0" in text and "shard 1" in text, f"start-up log: {text[-2000:]!r}"
    # The probed io_uring features, e.g. "io_uring +single_issuer +multishot_accept ...", or a
    # line that says "kernel"/"features".
    assert re.search(r"(?im)(kernel|feature|io_uring\s+[+-]?\w+)", text), \
        f"no kernel-features line in the start-up log: {text[-2000:]!r}"


# --------------------------------------------------------------------------------------------
# Graceful shutdown


@pytest.mark.server_args("--echo", "--shutdown-timeout", "3")
def test_sigterm_sends_1001_to_every_client_and_exits_0(server):
    conns = [open_ws(server.port) for _ in range(10)]  # 10 connections: both shards
    try:
        for i, c in enumerate(conns):
            echo_ok(c, f"hello {i}".encode())
        server.send_signal(signal.SIGTERM)
        for i, c in enumerate(conns):
            before, close = c.recv_until_close(timeout=10)
            assert not [f for f in before if f.opcode in (OP_TEXT, OP_BINARY)], before
            assert close.close_code == 1001, f"client {i}: {close}"
            try:
                c.send_close(1001)  # Complete the close handshake like a real client.
            except OSError:
                pass
            c.expect_eof(timeout=10)
        rc = server.wait(3 + 10)
        assert rc is not None, "server still running 13 s after SIGTERM"
        assert rc == 0, f"exit status {rc}"
        assert connect_refused(server.port), "port still accepts connections after exit"
    finally:
        for c in conns:
            c.close()


@pytest.mark.slow
@pytest.mark.server_args("--echo", "--shutdown-timeout", "3")
def test_shutdown_does_not_wait_forever_for_silent_clients(server):
    """One client never answers the close and one never reads at all: the server keeps
    draining until the shutdown timeout, refusing new connections meanwhile, then exits 0."""
    mute = open_ws(server.port)
    deaf = open_ws(server.port)
    try:
        echo_ok(mute)
        echo_ok(deaf)
        server.send_signal(signal.SIGTERM)
        _, close = mute.recv_until_close(timeout=10)
        assert close.close_code == 1001, close
        # While the server waits for the two close handshakes that never come, its listeners
        # (one per shard) are closed: connects are refused while the process is still alive.
        while not connect_refused(server.port):
            assert server.proc.poll() is None, \
                "new connections were still accepted until the server exited"
            time.sleep(0.05)
        rc = server.wait(3 + 10)
        assert rc is not None, "server did not exit within shutdown timeout + 10 s"
        assert rc == 0, f"exit status {rc}"
    finally:
        mute.close()
        deaf.close()


# --------------------------------------------------------------------------------------------
# Idle timeout


@pytest.mark.slow
@pytest.mark.server_args("--echo", "--idle-timeout", "2")
def test_idle_client_gets_ping_then_1001(server):
    with open_ws(server.port) as conn:
        first = conn.recv_frame(timeout=10)
        assert first.opcode == OP_PING, f"expected a ping from the idle timer, got {first}"
        before, close = conn.recv_until_close(timeout=15)  # We never answer the ping.
        assert all(f.opcode == OP_PING for f in before), before
        assert close.close_code == 1001, close
        assert b"idle" in close.close_reason.lower(), close
        conn.expect_eof(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.server_args("--echo", "--idle-timeout", "2")
def test_active_clients_stay_open(server):
    """A client that answers pings and one that keeps sending data both outlive several idle
    periods."""
    ponger = open_ws(server.port)
    talker = open_ws(server.port)
    pings_answered = 0
    try:
        deadline = time.monotonic() + 7  # 3.5 idle periods
        n = 0
        while time.monotonic() < deadline:
            try:
                f = ponger.recv_frame(timeout=0.25)
                assert f.opcode == OP_PING, f"ponger got {f}"
                ponger.send_frame(OP_PONG, f.payload)
                pings_answered += 1
            except TimeoutError:
                pass
            talker.send_text(f"keepalive {n}".encode())
            while True:  # Answer pings while waiting for the echo.
                f = talker.recv_frame(timeout=5)
                if f.opcode == OP_PING:
                    talker.send_frame(OP_PONG, f.payload)
                    continue
                assert (f.opcode, f.payload) == (OP_TEXT, f"keepalive {n}".encode()), f
                break
            n += 1
            time.sleep(0.2)
        assert pings_answered >= 1, "the silent-but-answering client never got a ping"
        echo_ok(ponger, b"still open")
        echo_ok(talker, b"still open")
    finally:
        ponger.close()
        talker.close()


# --------------------------------------------------------------------------------------------
# Handshake timeout


@pytest.mark.server_args("--echo", "--handshake-timeout", "1")
def test_handshake_timeout_closes_stalled_connections(server):
    stalled = {
        "silent": b"",
        "partial-request-line": b"GET /echo HT",
        "partial-headers": b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
    }
    conns = {}
    try:
        for name, data in stalled.items():
            conns[name] = RawConn.open(server.port)
            if data:
                conns[name].send(data)
        for name, conn in conns.items():
            try:
                wait_closed_by_server(conn, timeout=10)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}")
        assert http_get_status(server.port, "/health") == 200
    finally:
        for c in conns.values():
            c.close()


@pytest.mark.server_args("--echo", "--handshake-timeout", "1")
def test_handshake_timeout_does_not_apply_after_upgrade(server):
    with open_ws(server.port) as conn:
        conn.expect_silence(2.5)
        echo_ok(conn, b"upgraded connections are not on the handshake clock")


@pytest.mark.sqlite_only("the SQLite --data-dir; PostgreSQL's start-up errors are in "
                         "test_pg_faults.py")
@pytest.mark.parametrize("flags, reason", [
    (["--data-dir", "/proc/ringcast-cannot-be-here"], "--data-dir"),
    # A short --jwt-secret is a bad value: exit 2 (test_bad_values_exit_2_...).
])
def test_chat_store_problems_exit_1_with_a_reason(ringcast_bin, tmp_path, flags, reason):
    argv = ["--host", "127.0.0.1", "--port", str(free_port())]
    if "--data-dir" not in flags:
        argv += ["--data-dir", str(tmp_path / "data")]
    res = run_binary(ringcast_bin, argv + flags, timeout=10)
    assert res.returncode == 1, (res.returncode, res.stderr[-1000:])
    assert reason in res.stderr, res.stderr[-1000:]
