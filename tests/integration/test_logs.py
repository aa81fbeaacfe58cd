"""Logs against the real binary: --log-format json (every stderr line one JSON object with
time, level, event, and shard on shard threads), lines flushed on a failed start, and the
access log (--access-log): a line per HTTP request and per WebSocket session at its close."""

from __future__ import annotations

import json
import re
import signal
import socket
import time

from chat_client import Api, FAST_ARGS, unique_name, ws_url
from support import RingcastServer, run_binary
from wsraw import OP_TEXT, RawConn, get_request, open_ws


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        record = json.loads(line)  # Every line, or the test fails here.
        assert isinstance(record, dict), line
        assert isinstance(record["time"], str) and record["time"].endswith("Z"), line
        assert record["level"] in ("debug", "info", "warn", "error"), line
        assert isinstance(record["event"], str) and record["event"], line
        lines.append(record)
    return lines


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def echo_session(port: int, messages: int) -> None:
    conn = open_ws(port, "/echo")
    for i in range(messages):
        conn.send_text(f"m{i}")
        assert conn.recv_frame().opcode == OP_TEXT
    conn.send_close(1000)
    conn.recv_until_close()
    conn.close()


def test_json_log_and_access_log_on_stderr(ringcast_bin, tmp_path):
    srv = RingcastServer(ringcast_bin, ["--log-format", "json", "--access-log", "-",
                                        "--log-level", "debug", "--echo"],
                         log_dir=tmp_path).start()
    try:
        with RawConn.open(srv.port) as c:
            c.send(get_request("/health?probe=1"))
            assert c.read_http_response().status == 200
        echo_session(srv.port, 3)
        wait_for(lambda: '"access.ws"' in srv.stderr_text())
    finally:
        assert srv.finish() is None
    records = json_lines(srv.stderr_text())
    events = [r["event"] for r in records]
    assert "runtime.shard_set" in events and "chat.service" in events
    # Lines logged on a shard thread name it; the others have no shard member.
    listening = [r for r in records if "listening on" in r.get("msg", "")]
    assert sorted(r["shard"] for r in listening) == [0, 1]
    assert all("shard" not in r for r in records if r["event"] == "chat.service")
    assert all(re.fullmatch(r"\w+\.cc:\d+", r["src"]) for r in records if "msg" in r)
    http = [r for r in records if r["event"] == "access.http"]
    # Ours, not the readiness probes: its query made it longer (the query is never logged).
    probe = get_request("/health?probe=1")
    [h] = [r for r in http if r["path"] == "/health" and r["bytes_in"] == len(probe)]
    assert (h["client"], h["method"], h["status"]) == ("127.0.0.1", "GET", 200)
    assert h["bytes_out"] > 0 and "probe" not in srv.stderr_text()
    assert isinstance(h["duration_ms"], float) and h["shard"] in (0, 1)
    [ws] = [r for r in records if r["event"] == "access.ws"]
    assert (ws["path"], ws["client"], ws["user"]) == ("/echo", "127.0.0.1", "-")
    assert (ws["messages_in"], ws["messages_out"]) == (3, 3)
    assert (ws["close_code"], ws["closed_by"]) == (1000, "client")
    assert ws["bytes_in"] > 0 and ws["bytes_out"] > 0 and ws["duration_ms"] >= 0


def test_access_log_file_text_with_chat_user(ringcast_bin, tmp_path):
    access = tmp_path / "access.log"
    srv = RingcastServer(ringcast_bin, [*FAST_ARGS, "--access-log", access],
                         log_dir=tmp_path).start()
    try:
        api = Api(srv.port)
        name = unique_name()
        assert api.register(name).status in (200, 201)
        login = api.login(name).json
        token, user = login["token"], login["user_id"]
        import asyncio
        import websockets

        async def session():
            async with websockets.connect(ws_url(srv.port, token), ping_interval=None) as ws:
                await ws.send(json.dumps({"type": "ping", "id": 1}))
                await ws.recv()
        asyncio.run(asyncio.wait_for(session(), 15))
        assert api.request("GET", "/api/conversations", token=token).status == 200
        text = wait_for(lambda: "access.ws" in access.read_text()
                        and "path=/api/conversations" in access.read_text() and access.read_text())
    finally:
        assert srv.finish() is None
    assert token not in text and token not in srv.stderr_text()
    assert "access." not in srv.stderr_text()  # To the file only.
    lines = text.splitlines()
    login_line = next(line for line in lines if "path=/api/login" in line)
    fields = dict(f.split("=", 1) for f in login_line.split()[3:])
    assert login_line.split()[1:3] == ["info", "access.http"]
    assert (fields["method"], fields["status"], fields["client"]) == ("POST", "200", "127.0.0.1")
    assert fields["user"] == "-"  # No token yet.
    api_line = next(line for line in lines if "path=/api/conversations" in line)
    fields = dict(f.split("=", 1) for f in api_line.split()[3:])
    assert (fields["user"], fields["status"]) == (str(user), "200")
    ws_line = next(line for line in lines if "access.ws" in line)
    fields = dict(f.split("=", 1) for f in ws_line.split()[3:])
    assert (fields["path"], fields["user"]) == ("/ws", str(user))
    assert int(fields["messages_in"]) >= 1 and int(fields["messages_out"]) >= 1


def test_sighup_reopens_the_access_log_for_rotation(ringcast_bin, tmp_path):
    """Rotation by rename: after SIGHUP the server writes to a new file of the same name, the
    renamed one keeps what came before, and the server serves on. Before, SIGHUP killed it."""
    access = tmp_path / "access.log"
    srv = RingcastServer(ringcast_bin, [*FAST_ARGS, "--access-log", access],
                         log_dir=tmp_path).start()
    try:
        api = Api(srv.port)
        # A path of this test's own: start() probes /health, and the probe's line may reach the
        # log after the test's, so waiting for "/health" could rename the file too early.
        assert api.request("GET", "/before-rotation").status == 404
        wait_for(lambda: "path=/before-rotation" in access.read_text())
        rotated = tmp_path / "access.log.1"
        access.rename(rotated)
        srv.send_signal(signal.SIGHUP)
        wait_for(lambda: access.exists() and "access log reopened" in srv.stderr_text())
        assert api.request("GET", "/after-rotation").status == 404
        wait_for(lambda: "path=/after-rotation" in access.read_text())
    finally:
        assert srv.finish() is None
    assert "path=/before-rotation" not in access.read_text()
    assert "path=/before-rotation" in rotated.read_text()
    assert "path=/after-rotation" not in rotated.read_text()


def test_failed_start_is_logged_in_json(ringcast_bin, tmp_path):
    """A start that fails still writes its reason (the buffer is flushed on the way out)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_binary(ringcast_bin, ["--host", "127.0.0.1", "--port", port, "--threads", "1",
                                      "--data-dir", tmp_path / "data", "--log-format", "json"],
                       timeout=30)
    assert r.returncode == 1, r
    records = json_lines(r.stderr)
    assert any(r["level"] == "error" and "cannot listen" in r["msg"] for r in records), records
    assert records[-1]["event"] == "chat.service"  # The last line before the exit, too.


def test_bad_log_flags(ringcast_bin, tmp_path):
    r = run_binary(ringcast_bin, ["--log-format", "yaml"])
    assert r.returncode == 2 and "--log-format" in r.stderr
    r = run_binary(ringcast_bin, ["--log-buffer-lines", "8"])
    assert r.returncode == 2 and "--log-buffer-lines" in r.stderr
    r = run_binary(ringcast_bin, ["--access-log", tmp_path / "no" / "such" / "dir.log",
                                  "--data-dir", tmp_path / "data"])
    assert r.returncode == 2 and "--access-log: cannot open" in r.stderr, r.stderr
