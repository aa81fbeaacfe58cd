"""Throwaway S3 servers for the tests and the benchmarks (tools/s3tmp is the command line; tests
import this module): a single-node Ceph cluster, one monitor, one OSD on `memstore` (objects in
RAM) and radosgw, Ceph's real S3 gateway, as tools/redis_server.py is for Redis.

An instance lives in one directory, removed as a whole when the instance is stopped:

    DIR/ceph.conf       the cluster's configuration (every path in it is under DIR)
    DIR/mon, DIR/osd0   the monitor's store, the OSD's (memstore: empty until a TERM, see stop())
    DIR/log/            each daemon's log (NAME.log) and stderr (NAME.stderr), mkfs and admin output
    DIR/s3tmp.json      ports, pids and the S3 keys: how another process (`s3tmp stop DIR`, the
                        reaper) finds it

The programs are Debian's (ceph-mon, ceph-osd, radosgw, ceph-common: Ceph 16, Pacific), run in
the foreground (-f) as children of the process that started them. Everything listens on
127.0.0.1 only (the monitor on a free port, msgr2 only; the OSD on ports of its own in
6800-7300; radosgw's beast frontend on a free port) without cephx (auth none: loopback); S3's
own authentication (SigV4, an S3 user with random keys) is on. No ceph-mgr: RADOS and radosgw do
not need one (`ceph -s` says HEALTH_WARN, harmless). Readiness is an HTTP answer from radosgw.
A start takes about 2 s and the whole about 165 MiB of RAM, plus about twice what is stored.

`stop()` always cleans up; `outage()` kills radosgw only (the port refuses connections, the
data stays) and `restore()` starts it again on the same port. A detached reaper (started by
`start()`) kills the daemons and removes the directory if the process that owns them dies first.

RGW differs from AWS S3 in places (an empty ETag in CompleteMultipartUpload's answer, any
region accepted, DeleteObjects without Content-MD5 accepted...): a test passing here has not
proven those. `client()` and `create_bucket()` need boto3 (Debian's python3-boto3, so run them
under /usr/bin/python3).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)

STATE_FILE = "s3tmp.json"
HOST = "127.0.0.1"
REGION = "us-east-1"
USER = "test"

# name -> (program, Debian package, the Ceph entity it runs as)
DAEMONS = {"mon": ("ceph-mon", "ceph-mon", "mon.a"), "osd": ("ceph-osd", "ceph-osd", "osd.0"),
           "rgw": ("radosgw", "radosgw", "client.rgw")}

CONF = """\
[global]
fsid = {fsid}
mon_host = [v2:{host}:{mon_port}]
ms_bind_msgr1 = false
# A port taken by someone else fails the bind at once, so that start() takes another (by
# default the monitor tries 3 times, 5 s apart).
ms_bind_retry_count = 1
# Daemons default to ms_mon_client_mode = secure, which auth "none" cannot give: radosgw would
# wait client_mount_timeout for the monitor. 30 s, not 300, bounds any such wait.
ms_mon_client_mode = crc secure
client_mount_timeout = 30
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = /dev/null
run_dir = {dir}/run
admin_socket = {dir}/run/$cluster-$name.asok
# No pid files: the daemons are children of the process that started them (s3tmp.json has
# their pids).
pid_file =
log_file = {dir}/log/$name.log
log_to_stderr = false
err_to_stderr = true
crash_dir = {dir}/crash
mon_cluster_log_file = {dir}/log/cluster.log
# The temporary directory's file system may be nearly full: the monitor would refuse to run.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_allow_pool_delete = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000
# The monitor commits map changes once a second by default, and each pool radosgw creates costs
# several: start would take about 14 s and the first CreateBucket and PUT 2.5 s each.
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
[mon]
mon_data = {dir}/mon
[osd]
osd_data = {dir}/osd0
osd_objectstore = memstore
memstore_device_bytes = {mem_bytes}
public_addr = {host}
cluster_addr = {host}
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
[client]
rgw_data = {dir}/rgw
rgw_dns_name = localhost
rgw_thread_pool_size = 32
# Deleted, overwritten and aborted data waits for the garbage collector, 2 h by default: in
# memstore, that is RAM.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
# radosgw's SIGTERM handler waits this long (120 s by default) for a monitor or OSD that is gone.
rgw_exit_timeout_secs = 5
"""


class S3Error(Exception):
    pass


def http_answers(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when `port` answers an anonymous GET / as radosgw does (any status, with an
    x-amz-request-id): a foreign listener, or none, gives False. The timeout keeps a listener
    that never answers from hanging the caller."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        return conn.getresponse().getheader("x-amz-request-id") is not None
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def mon_answers(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when `port` greets as a Ceph daemon does (msgr2's banner, "ceph v2\\n"): a
    listener that took the monitor's port first would merely accept."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            return s.recv(8) == b"ceph v2\n"
    except OSError:
        return False


def _random_key(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class S3Server:
    """One throwaway Ceph cluster with radosgw in `directory` (see the module docstring). Create
    with `S3Server.start()`, find a running one with `S3Server.attach(directory)`. As a context
    manager it stops (and removes) the instance on exit."""

    def __init__(self, directory: pathlib.Path, state: dict):
        self.directory = pathlib.Path(directory)
        self.host = HOST
        self.port: int = state.get("port", 0)  # radosgw's
        self.mon_port: int = state.get("mon_port", 0)
        self.access_key: str = state["access_key"]
        self.secret_key: str = state["secret_key"]
        self.pids: dict[str, int] = dict(state.get("pids", {}))
        self.procs: dict[str, subprocess.Popen] = {}  # Those that are our children.
        self.detach = False  # Daemons in their own session (see start()).

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike | None = None, *, watch: bool = True,
              detach: bool = False, mem_bytes: int = 1 << 30,
              timeout: float = 60.0) -> "S3Server":
        """Starts the cluster in `directory` (created; must be absent or empty; default: a new
        temporary directory), creates the S3 user and waits until radosgw answers. watch: start
        the reaper (see the module docstring). detach: the daemons in their own session, so
        they outlive this process (`s3tmp start`). mem_bytes: memstore's size (only reported,
        not enforced). On any failure nothing is left behind."""
        for program, package, _ in DAEMONS.values():
            throwaway.find_program(program, f"/usr/bin/{program}", package=package, error=S3Error)
        directory = throwaway.new_directory(directory, prefix="s3tmp-", error=S3Error)
        server = cls(directory, {"access_key": _random_key(20, string.ascii_uppercase
                                                           + string.digits),
                                 "secret_key": _random_key(40, string.ascii_letters
                                                           + string.digits)})
        server.detach = detach
        try:
            server._save_state()
            if watch:
                throwaway.watch_owner(__file__, directory)
            server._create(mem_bytes, time.monotonic() + timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> "S3Server":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=S3Error,
                                                what="an s3tmp instance")
        server = cls(directory, state)
        server.detach = True  # What it starts (restore()) is not ours to keep.
        return server

    def _create(self, mem_bytes: int, deadline: float) -> None:
        d = self.directory
        for sub in ("run", "log", "crash", "osd0", "rgw"):
            (d / sub).mkdir()
        fsid = str(uuid.uuid4())
        for attempt in range(3):  # The monitor's free port may be taken before it binds it.
            self.mon_port = throwaway.free_port()
            self.conf_path.write_text(CONF.format(fsid=fsid, host=self.host, dir=d,
                                                  mon_port=self.mon_port, mem_bytes=mem_bytes))
            shutil.rmtree(d / "mon", ignore_errors=True)  # ceph-mon --mkfs makes it.
            self._run(["monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
                       f"[v2:{self.host}:{self.mon_port}]", str(d / "monmap")], deadline)
            self._run(["ceph-mon", "--mkfs", "-i", "a", "--monmap", str(d / "monmap")], deadline)
            if self._spawn_ready("mon", ["-i", "a"], lambda: mon_answers(self.mon_port),
                                 deadline, retry=attempt < 2):
                break

        # The OSD: `ceph osd new` waits for the monitor's quorum, radosgw-admin for the OSD
        # (its pools' placement groups) and creates the zone, its pools and the user.
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run(["ceph", "osd", "new", osd_uuid], deadline).strip()
        if osd_id != "0":
            raise S3Error(f"ceph osd new gave OSD {osd_id!r}, not 0")
        self._run(["ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid], deadline)
        self._spawn_ready("osd", ["-i", "0"], self._osd_up, deadline)
        self._run(["radosgw-admin", "user", "create", f"--uid={USER}", f"--display-name={USER}",
                   f"--access-key={self.access_key}", f"--secret-key={self.secret_key}"],
                  deadline)
        self._start_rgw(deadline, fresh_port=True)

    # -- properties ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def region(self) -> str:
        return REGION

    @property
    def conf_path(self) -> pathlib.Path:
        return self.directory / "ceph.conf"

    def env(self) -> dict[str, str]:
        """What `s3tmp run` gives its command (and `s3tmp env` prints)."""
        return {"RINGCAST_TEST_S3_ENDPOINT": self.endpoint,
                "RINGCAST_TEST_S3_ACCESS_KEY": self.access_key,
                "RINGCAST_TEST_S3_SECRET_KEY": self.secret_key,
                "RINGCAST_TEST_S3_REGION": self.region, "S3TMP_DIR": str(self.directory)}

    def _log_paths(self, name: str) -> list[pathlib.Path]:
        entity = DAEMONS[name][2]
        return [self.directory / "log" / f"{entity}.log",
                self.directory / "log" / f"{entity}.stderr"]

    def log_text(self, name: str) -> str:
        """Daemon `name`'s log and stderr so far ("" before it has written any)."""
        return "".join(map(throwaway.read_text, self._log_paths(name)))

    # -- running ---------------------------------------------------------------------------

    def _save_state(self) -> None:
        (self.directory / STATE_FILE).write_text(json.dumps({
            "port": self.port, "mon_port": self.mon_port, "endpoint": self.endpoint,
            "access_key": self.access_key, "secret_key": self.secret_key,
            "pids": self.pids}) + "\n")

    def _run(self, argv: list[str], deadline: float) -> str:
        """Runs a Ceph command-line tool on this cluster; its stdout. Its stderr goes to
        DIR/log/tools.log, whose end a failure shows."""
        log = self.directory / "log" / "tools.log"
        with log.open("a") as err:
            err.write(f"$ {' '.join(argv)}\n")
            err.flush()
            try:
                proc = subprocess.run([argv[0], "-c", str(self.conf_path), *argv[1:]],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=err, text=True,
                                      timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise S3Error(f"{argv[0]} timed out\n{throwaway.read_text(log)[-2000:]}\n"
                              f"{self._logs()}") from None
        if proc.returncode != 0:
            raise S3Error(f"{' '.join(argv)} failed ({proc.returncode})\n"
                          f"{throwaway.read_text(log)[-2000:]}\n{self._logs()}")
        return proc.stdout

    def _logs(self) -> str:
        return "\n".join(f"-- {name}:\n{self.log_text(name)[-1500:]}" for name in DAEMONS
                         if name in self.pids)

    def _spawn_ready(self, name: str, args: list[str], ready, deadline: float, *,
                     retry: bool = False) -> bool:
        """Starts daemon `name` in the foreground with `args` and waits until `ready()`. False
        (retry) when it exited because its port was taken: the caller takes another one; any
        other failure raises S3Error with the daemon's log."""
        program = DAEMONS[name][0]
        paths = self._log_paths(name)
        sizes = [len(throwaway.read_text(path)) for path in paths]
        with open(paths[1], "a") as stderr:
            proc = subprocess.Popen([program, "-f", "-c", str(self.conf_path), *args],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=stderr, cwd=self.directory,
                                    start_new_session=self.detach)
        self.procs[name], self.pids[name] = proc, proc.pid
        self._save_state()
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                return True
            time.sleep(0.05)
        gained = "".join(throwaway.read_text(path)[size:] for path, size in zip(paths, sizes))
        if proc.poll() is None:
            raise S3Error(f"{program} was not ready in time\n{gained[-3000:]}")
        del self.procs[name], self.pids[name]
        proc.wait()
        if retry and ("Address already in use" in gained or "failed to bind" in gained):
            return False
        raise S3Error(f"{program} exited with status {proc.returncode}\n{gained[-3000:]}")

    def _osd_up(self) -> bool:
        dump = json.loads(self._run(["ceph", "osd", "dump", "-f", "json"],
                                    time.monotonic() + 10))
        return any(osd.get("up") == 1 for osd in dump.get("osds", []))

    def _start_rgw(self, deadline: float, *, fresh_port: bool) -> None:
        for attempt in range(3):  # Its free port may be taken before it binds it.
            if fresh_port:
                self.port = throwaway.free_port()
            if self._spawn_ready("rgw", ["-n", "client.rgw", "--rgw_frontends",
                                         f"beast endpoint={self.host}:{self.port}"],
                                 lambda: http_answers(self.port), deadline,
                                 retry=fresh_port and attempt < 2):
                return

    def _is_ours(self, name: str) -> bool:
        """Whether the pid recorded for `name` still runs that daemon on this cluster (pids
        read from the state file may have been reused, by another cluster's daemon too). A
        zombie has no command line: it counts as gone (it holds no port, file or memory)."""
        pid = self.pids.get(name)
        if pid is None:
            return False
        try:
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return DAEMONS[name][0].encode() in argv[0] and str(self.conf_path).encode() in argv

    def running(self, name: str = "rgw") -> bool:
        proc = self.procs.get(name)
        return proc.poll() is None if proc is not None else self._is_ours(name)

    def _signal_and_wait(self, name: str, signum: int, timeout: float = 10.0) -> None:
        """`signum` to daemon `name` (if it runs), SIGKILL if it has not exited within
        `timeout`; returns once it is gone."""
        if not self.running(name):
            return
        proc = self.procs.get(name)
        try:
            os.kill(self.pids[name], signum)
            if not throwaway.wait_until_gone(lambda: self.running(name), timeout):
                os.kill(self.pids[name], signal.SIGKILL)
                throwaway.wait_until_gone(lambda: self.running(name), 10)
        except ProcessLookupError:
            pass  # An attached instance's daemon ended by itself meanwhile.
        if proc is not None:
            proc.wait(10)

    def _reread_pids(self) -> None:
        """Takes the pids from the state file: another process (`s3tmp restore DIR`) may have
        started radosgw again since (the radosgw we started, then killed, is reaped here)."""
        try:
            state = json.loads((self.directory / STATE_FILE).read_text())
        except (OSError, ValueError):
            return
        for name, pid in state.get("pids", {}).items():
            if pid != self.pids.get(name):
                old = self.procs.pop(name, None)
                if old is not None:
                    old.poll()
                self.pids[name] = pid

    def stop(self) -> None:
        """Stops the daemons and removes the whole directory. Never raises for daemons that are
        already gone. The order matters: radosgw first (with its monitor or OSD gone, its
        SIGTERM shutdown waits rgw_exit_timeout_secs); the OSD gets SIGKILL (on SIGTERM
        memstore writes every object to DIR/osd0, seconds for a few hundred MiB, only for it to
        be removed); the monitor last."""
        self._reread_pids()
        try:
            self._signal_and_wait("rgw", signal.SIGTERM)
            self._signal_and_wait("osd", signal.SIGKILL)
            self._signal_and_wait("mon", signal.SIGTERM)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def outage(self) -> None:
        """SIGKILL to radosgw only: the S3 port refuses connections (a request in flight
        fails), the stored buckets and objects stay in the OSD."""
        self._reread_pids()
        self._signal_and_wait("rgw", signal.SIGKILL)

    def restore(self, timeout: float = 60.0) -> None:
        """Starts radosgw again on the same port (after outage(); stopping it first if it
        runs) and waits until it answers."""
        self.outage()
        self._start_rgw(time.monotonic() + timeout, fresh_port=False)

    def kill_all(self) -> None:
        """The reaper's clean-up: SIGKILL to every daemon at once (nothing in memstore is worth
        a clean shutdown)."""
        for name in DAEMONS:
            if self._is_ours(name):
                try:
                    os.kill(self.pids[name], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- S3 --------------------------------------------------------------------------------

    def client(self, **config):
        """A boto3 S3 client for this server: SigV4, path-style addressing (a bucket in the
        path: BUCKET.localhost would need a resolver that knows *.localhost), no retries.
        `config`: more botocore Config settings."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise S3Error("boto3 not found: install Debian's python3-boto3 and run under "
                          "/usr/bin/python3") from None
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}, **config))

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE,
                   lambda directory: S3Server.attach(directory).kill_all())
