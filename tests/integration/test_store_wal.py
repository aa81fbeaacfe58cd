"""SQLite's WAL under load and on a full disk (issue 32; storage/README.md, "Keeping the WAL
small"): steady writes keep the -wal file under --wal-bound-mib and it is emptied once they stop;
a reader pinning an old snapshot makes the server refuse writes past --wal-hard-cap-mib (reads
still served) until it lets go; a full disk answers `unavailable`, loses no acked message, keeps
serving reads and recovers by itself when space returns.

The bounds are small (a few MiB) so that a few seconds of a debug build's load pass them many
times over; before the bound, the same load grew the WAL by ~15 MB/s for as long as it lasted
and left it there."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest

from chat_client import Api, ChatConn, chat_args
from prometheus import SQLITE_ONLY, dashboard_metrics, sample_names, scrape, value
from support import run_async

MIB = 1 << 20


def wal_path(srv) -> pathlib.Path:
    return srv.data_dir / "chat.db-wal"


def wal_size(srv) -> int:
    try:
        return wal_path(srv).stat().st_size
    except FileNotFoundError:
        return 0


class WalSampler:
    """Samples the -wal file's size every 20 ms on a thread of its own."""

    def __init__(self, srv):
        self.srv = srv
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.max = max(self.max, wal_size(self.srv))
            self.samples += 1
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join()


def bench_tool(ringcast_bin) -> pathlib.Path:
    path = ringcast_bin.parents[1] / "tools" / "ringcast-bench"
    if not path.is_file():
        pytest.fail(f"ringcast-bench not found beside the server: {path}", pytrace=False)
    return path


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_wal_stays_under_its_bound_under_steady_writes_and_empties_after(server_factory,
                                                                          ringcast_bin, tmp_path):
    bound = 4
    srv = server_factory(*chat_args(msg_rate=1000000), "--wal-bound-mib", bound,
                         "--wal-idle-checkpoint-ms", 500, threads=1)
    sampler = WalSampler(srv)
    # 300 msgs/s for 20 s, 100 users in 10 groups: well within a debug build's capacity on a
    # loaded machine. About 0.5 MB of WAL a second: the WAL starts over every 4 s or so, and
    # the checkpointer has seconds to do it before the bound, however busy the machine.
    argv = [str(bench_tool(ringcast_bin)), "chat", srv.url(""), "--users", "100", "--groups",
            "10", "--group-size", "10", "--rate", "300", "-d", "20", "-w", "0.5", "-q",
            "--json", str(tmp_path / "chat.json")]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    ended = time.monotonic()
    during = sampler.max
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    families, _ = scrape(srv.port)
    written = value(families, "ringcast_store_wal_written_bytes")
    restarts = value(families, "ringcast_store_wal_restarts")
    # The load wrote the bound several times over, so the WAL must have started over.
    assert written > 2 * bound * MIB, f"only {written / MIB:.1f} MiB of WAL written"
    # Started over, by whichever checkpoint got there first: on an idle machine the PASSIVE
    # ones keep up and no RESTART is needed (the unit test BatchExecutorTest.SteadyWrites...
    # drives the RESTART path itself).
    assert restarts >= 2, restarts
    assert 0 < during < bound * MIB, \
        f"the WAL reached {during / MIB:.1f} MiB under load (bound {bound} MiB)"
    # Writes paused: the tail is copied back and the WAL truncated within seconds (the gauge
    # is refreshed after the checkpoint is counted).
    while time.monotonic() - ended < 5:
        families, _ = scrape(srv.port)
        if wal_size(srv) == 0 and value(families, "ringcast_store_wal_bytes") == 0:
            break
        time.sleep(0.1)
    sampler.stop()
    assert wal_size(srv) == 0, f"{wal_size(srv)} bytes of WAL 5 s after the load ended"
    assert value(families, "ringcast_store_wal_bytes") == 0
    assert value(families, "ringcast_store_checkpoints", mode="truncate", result="ok") >= 1
    assert value(families, "ringcast_store_wal_over_bound") == 0
    assert "past its bound" not in srv.stderr_text()
    # The dashboard's WAL panels query only what a SQLite node serves.
    wanted = {m for m in dashboard_metrics() if SQLITE_ONLY.match(m)}
    assert wanted and not wanted - sample_names(families), wanted - sample_names(families)


async def send_until(conn: ChatConn, conv: int, pred, limit: int, acked: dict, timeout: float,
                     body_bytes: int = 900):
    """Sends one message at a time until an answer satisfies `pred`; acked: id -> seq."""
    deadline = time.monotonic() + timeout
    for i in range(limit):
        cid = uuid.uuid4().hex
        ev = await conn.send_raw(conv, f"m{i} " + "x" * body_bytes, cid)
        if ev["type"] == "ack":
            acked[ev["id"]] = ev["seq"]
        if pred(ev):
            return ev
        assert time.monotonic() < deadline, f"no such answer within {timeout} s: last {ev}"
        if ev["type"] == "error":
            await asyncio.sleep(0.02)  # Refused: no need to hurry the next try.
    raise AssertionError(f"no such answer in {limit} sends")


def check_history(api: Api, user, conv: int, acked: dict) -> None:
    history = api.all_messages(user, conv)
    seqs = [m["seq"] for m in history]
    assert seqs == list(range(1, len(seqs) + 1)), "seq has gaps or repeats"
    stored = {m["id"]: m["seq"] for m in history}
    lost = {id_: seq for id_, seq in acked.items() if stored.get(id_) != seq}
    assert not lost, f"{len(lost)} acked messages missing or moved: {list(lost.items())[:5]}"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_pinned_reader_makes_writes_unavailable_past_the_hard_cap(server_factory):
    srv = server_factory(*chat_args(), "--wal-bound-mib", 2, "--wal-hard-cap-mib", 4,
                         "--wal-idle-checkpoint-ms", 200, threads=1)
    api = Api(srv.port)
    alice, bob = api.new_users(2, "wal")
    conv = api.group(alice, [bob], "wal")
    acked: dict[int, int] = {}

    async def scenario():
        conn = await ChatConn.connect(srv.port, alice.token, name="alice")
        await conn.hello()
        await conn.send(conv, "before the reader")
        # Another process's read transaction: a snapshot no checkpoint may overwrite.
        reader = sqlite3.connect(srv.data_dir / "chat.db", isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] >= 1
        try:
            refused = await send_until(conn, conv, lambda e: e["type"] == "error", 20000,
                                       acked, timeout=60, body_bytes=16000)
            assert refused["code"] == "unavailable", refused
            assert wal_size(srv) < 4 * MIB + MIB, f"WAL at {wal_size(srv) / MIB:.1f} MiB"
            # Reads are still served.
            assert api.messages(alice, conv, limit=5).status == 200
            refused_again = await conn.send_raw(conv, "still pinned")
            assert refused_again["type"] == "error", refused_again
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        # Let go: the checkpointer starts the WAL over and writes resume by themselves.
        try:
            await send_until(conn, conv, lambda e: e["type"] == "ack", 100000, acked, timeout=15)
        except AssertionError:
            families, _ = scrape(srv.port)
            raise AssertionError({k: value(families, "ringcast_store_checkpoints", mode=k[0],
                                           result=k[1])
                                  for k in [("restart", "ok"), ("restart", "busy"),
                                            ("restart", "error"), ("passive", "ok"),
                                            ("passive", "busy")]})
        await conn.close()

    run_async(scenario(), 120)
    check_history(api, alice, conv, acked)
    text = srv.stderr_text()
    assert "refusing writes" in text and "--wal-hard-cap-mib" in text, text[-3000:]
    assert "past its bound" in text
    assert "writes accepted again" in text
    families, _ = scrape(srv.port)
    assert value(families, "ringcast_store_wal_refused_writes") >= 1
    assert value(families, "ringcast_store_checkpoints", mode="restart", result="busy") >= 1


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs at tmp_path/disk, unmounted afterwards (skipped where mount(2) is not
    permitted: the test must run as root, or with CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path: pathlib.Path) -> None:
    """Writes `path` until the file system is full."""
    chunk = b"\0" * (256 * 1024)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_full_disk_answers_unavailable_keeps_acked_messages_and_recovers(server_factory,
                                                                          small_disk):
    srv = server_factory(*chat_args(), "--wal-idle-checkpoint-ms", 300, threads=1, start=False)
    srv.data_dir = small_disk / "data"
    srv.start()
    api = Api(srv.port)
    alice, bob = api.new_users(2, "disk")
    conv = api.group(alice, [bob], "disk")
    acked: dict[int, int] = {}
    ballast = small_disk / "ballast"

    async def scenario():
        conn = await ChatConn.connect(srv.port, alice.token, name="alice")
        await conn.hello()
        for i in range(20):
            ev = await conn.send(conv, f"before {i}")
            acked[ev["id"]] = ev["seq"]
        await asyncio.sleep(1)  # The idle checkpoint empties the WAL.
        fill(ballast)
        refused = await send_until(conn, conv, lambda e: e["type"] == "error", 5000, acked,
                                   timeout=60)
        assert refused["code"] == "unavailable", refused
        # Reads go on: history, and the connection itself.
        assert api.messages(alice, conv, limit=10).status == 200
        await conn.ping()
        for _ in range(8):  # Idle checkpoints fail meanwhile (no room to copy pages back).
            ev = await conn.send_raw(conv, "disk still full")
            assert ev["type"] == "error" and ev["code"] == "unavailable", ev
            await asyncio.sleep(0.2)
        check_history(api, alice, conv, acked)
        # Space returns: the very next sends succeed, no restart needed.
        os.unlink(ballast)
        await send_until(conn, conv, lambda e: e["type"] == "ack", 100, acked, timeout=10)
        for i in range(20):
            ev = await conn.send(conv, f"after {i}")
            acked[ev["id"]] = ev["seq"]
        await conn.close()

    run_async(scenario(), 150)
    check_history(api, alice, conv, acked)
    # A failing checkpoint is logged once, not once per try.
    assert srv.stderr_text().count("checkpoint of") <= 2, srv.stderr_text()[-3000:]
    # And after a restart on the same files, every acked message is still there.
    srv.stop()
    assert srv.returncode == 0, srv.stderr_text()[-3000:]
    again = server_factory(*srv.extra_args, threads=1, start=False, name="again")
    again.data_dir = srv.data_dir
    again.start()
    check_history(Api(again.port), alice, conv, acked)
    shutil.rmtree(again.data_dir, ignore_errors=True)


def wal_bytes_per_message(srv, ringcast_bin, tmp_path, name: str) -> tuple[float, int]:
    """Runs 2 s of chat at 400 msgs/s (60 users in 6 groups of 10) against `srv`; returns the
    WAL bytes its commits wrote per acked message, and the database's page size."""
    report = tmp_path / f"{name}.json"
    argv = [str(bench_tool(ringcast_bin)), "chat", srv.url(""), "--users", "60", "--groups",
            "6", "--group-size", "10", "--body-bytes", "100", "--rate", "400", "-d", "2", "-w",
            "0.3", "-q", "--json", str(report)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    families, _ = scrape(srv.port)
    acks = value(families, "ringcast_chat_acks")
    assert acks > 500, acks
    with sqlite3.connect(srv.data_dir / "chat.db") as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    return value(families, "ringcast_store_wal_written_bytes") / acks, page_size


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_new_databases_use_small_pages_and_write_less_wal_per_message(server_factory,
                                                                       ringcast_bin, tmp_path):
    """Each commit writes every page it dirtied whole, and an append dirties a few scattered
    index leaves: 1 KiB pages (the default for a new file) write well under half the bytes of
    SQLite's 4 KiB for the same messages. A file keeps the page size it was created with."""
    args = chat_args(msg_rate=1000000)
    small = server_factory(*args, threads=1, name="small")
    large = server_factory(*args, "--sqlite-page-size", 4096, threads=1, name="large")
    per_msg_small, page_small = wal_bytes_per_message(small, ringcast_bin, tmp_path, "small")
    per_msg_large, page_large = wal_bytes_per_message(large, ringcast_bin, tmp_path, "large")
    assert (page_small, page_large) == (1024, 4096)
    assert per_msg_small < 0.5 * per_msg_large, (per_msg_small, per_msg_large)
    # Restarted with another --sqlite-page-size, the 4 KiB file stays 4 KiB.
    large.stop()
    again = server_factory(*args, threads=1, name="again", start=False)
    again.data_dir = large.data_dir
    again.start()
    with sqlite3.connect(again.data_dir / "chat.db") as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096
