"""Throwaway PostgreSQL clusters for the tests and the benchmarks (tools/pgtmp is the command line;
the integration tests import this module).

A cluster lives in one directory, removed as a whole when the cluster is destroyed:

    DIR/data/          the cluster (initdb), fsync on: benchmarks measure real commits
    DIR/.s.PGSQL.PORT  its unix socket (nothing else listens there; the directory is private)
    DIR/postgres.log   the server's log
    DIR/pgtmp.json     port, role, password: how another process (`pgtmp stop DIR`) finds it

The server listens on 127.0.0.1 on a free port and accepts password (SCRAM) logins from there;
the role `ringcast` may log in and CREATE DATABASE, so a URL such as
postgres://ringcast:PASSWORD@127.0.0.1:PORT/postgres is enough to make a fresh database per
test. The password is random per cluster, so a test can look for it in logs. The superuser
`postgres` has no password and logs in only over the private socket (`Cluster.psql`).

PostgreSQL refuses to run as root: as root, every server-side program runs as the Debian
`postgres` system user (runuser, else setpriv) and the directory belongs to it; otherwise as the
current user.

Replication (the failover and read-replica tests, a chaos test):

    primary = Cluster.create()
    standby = Cluster.create_standby(primary, synchronous=True)   # pg_basebackup -R, started
    url = multi_host_url([primary, standby], "db")   # ...?target_session_attrs=read-write
    primary.stop("immediate"); standby.promote()     # the standby is the primary now
    standby.replay_pause() / replay_resume()         # a lagging replica, on demand

From a shell: `tools/pgtmp standby [--sync] PRIMARY_DIR DIR`, `tools/pgtmp promote DIR`.
A standby streams from its primary over the primary's private unix socket as the superuser (a
`local replication` entry in pg_hba; every cluster has one), so it needs no password and shares
the primary's role and its password. Its application_name (`cluster_name`) is
`standby.name`; `synchronous=True` names it in the primary's synchronous_standby_names (ALTER
SYSTEM, reloaded), so that every commit waits for its flush: destroy or promote with that in
mind (a primary whose synchronous standby is gone waits forever; `set_synchronous(None)` undoes
it). `wait_streaming()` waits until the primary sees it streaming; `promote()` runs `pg_ctl
promote -w`.

A cluster is stopped with `pg_ctl stop -m fast`, and `-m immediate` if that does not finish in
time. `watch_owner()` starts a detached reaper that stops and removes the cluster if the process
that owns it dies without doing so (killed by a ctest timeout, say), so no postmaster outlives a
test run.
"""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)
from throwaway import free_port  # noqa: E402,F401 (also this module's API)

ROLE = "ringcast"
SUPERUSER = "postgres"
STATE_FILE = "pgtmp.json"
# Every server of a test session keeps `--db-writers` + `--db-readers` connections open (6 by
# default) and a test has up to a few servers alive at once; the fault tests add their own.
DEFAULT_MAX_CONNECTIONS = 200
# A unix socket path is at most 107 bytes (sun_path); the socket is DIR/.s.PGSQL.NNNNN.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")


class ClusterError(Exception):
    pass


def find_bindir() -> pathlib.Path:
    """The directory of initdb, pg_ctl and postgres: $PG_BINDIR, else Debian's
    /usr/lib/postgresql/<newest>/bin, else wherever initdb is on PATH."""
    if os.environ.get("PG_BINDIR"):
        candidates = [pathlib.Path(os.environ["PG_BINDIR"])]
    else:
        versions = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"),
                          key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                          reverse=True)
        on_path = shutil.which("initdb")
        candidates = versions + ([pathlib.Path(on_path).resolve().parent] if on_path else [])
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return bindir
    raise ClusterError("PostgreSQL server programs (initdb, pg_ctl, postgres, psql) not found: "
                       "install Debian's `postgresql` (tools/deps.sh test) or set PG_BINDIR")


def _run_as_prefix() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs a server-side program as the cluster's owner, and that
    owner's uid/gid (None when it is the current user)."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise ClusterError("running as root, and PostgreSQL refuses root: there is no "
                           f"`{SUPERUSER}` system user to run it as (install Debian's postgresql, "
                           "or run as an ordinary user)") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", SUPERUSER, "--"], pw.pw_uid, pw.pw_gid
    if shutil.which("setpriv"):
        return (["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                 "--"], pw.pw_uid, pw.pw_gid)
    raise ClusterError("running as root and neither runuser nor setpriv is installed "
                       "(util-linux) to run PostgreSQL as the postgres user")


def database_url(host: str, port: int, dbname: str, user: str = ROLE,
                 password: str | None = None) -> str:
    auth = urllib.parse.quote(user, safe="")
    if password is not None:
        auth += ":" + urllib.parse.quote(password, safe="")
    return f"postgres://{auth}@{host}:{port}/{urllib.parse.quote(dbname, safe='')}"


def multi_host_url(clusters: list["Cluster"], dbname: str, *,
                   target_session_attrs: str | None = "read-write") -> str:
    """postgresql://ringcast:PASSWORD@127.0.0.1:P1,127.0.0.1:P2/dbname?target_session_attrs=...:
    libpq tries the hosts in order and keeps the first that matches (the clusters share the
    role's password: a standby's is its primary's)."""
    hosts = ",".join(f"{c.host}:{c.port}" for c in clusters)
    password = urllib.parse.quote(clusters[0].password, safe="")
    url = f"postgresql://{ROLE}:{password}@{hosts}/{urllib.parse.quote(dbname, safe='')}"
    return url + (f"?target_session_attrs={target_session_attrs}" if target_session_attrs else "")


def with_dbname(url: str, dbname: str) -> str:
    """`url` (postgres:// or postgresql://) naming database `dbname` instead."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ClusterError("expected a postgres:// URL, not a key=value connection string")
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(dbname, safe="")))


def url_password(url: str) -> str | None:
    return urllib.parse.urlsplit(url).password


def psql_url(url: str, sql: str, *, bindir: pathlib.Path | None = None,
             timeout: float = 60.0) -> str:
    """Runs `sql` (one or more statements, each in its own transaction) through psql against
    `url`; returns what it printed (unaligned, tuples only, `|` between columns). Raises
    ClusterError with psql's message on any error."""
    return PsqlJob(url, sql, bindir=bindir).result(timeout)


class PsqlJob:
    """psql running `sql` against `url` in the background; result() waits for its output."""

    def __init__(self, url: str, sql: str, *, bindir: pathlib.Path | None = None):
        psql = str((bindir or find_bindir()) / "psql")
        self.proc = subprocess.Popen(
            [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_client_env())
        # Written at once (it fits in the pipe) so psql runs without waiting for result().
        assert len(sql.encode()) < 32768, "the SQL of one psql job must fit in a pipe"
        self.proc.stdin.write(sql)
        self.proc.stdin.close()
        self.proc.stdin = None  # So that communicate() does not flush it.
        self._sql = sql

    def result(self, timeout: float = 60.0) -> str:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise ClusterError(f"psql still running after {timeout} s: {self._sql[:200]}")
        if self.proc.returncode != 0:
            raise ClusterError(f"psql failed ({self.proc.returncode}): {err.strip()}")
        return out


def _client_env() -> dict[str, str]:
    """The environment for client programs: no PG* variable of the caller may redirect them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


class Cluster:
    """One throwaway cluster in `directory` (see the module docstring). Create with
    `Cluster.create()`, find a running one with `Cluster.attach(directory)`."""

    def __init__(self, directory: pathlib.Path, *, port: int, password: str,
                 bindir: pathlib.Path):
        self.directory = pathlib.Path(directory)
        self.port = port
        self.password = password
        self.bindir = bindir
        self.host = "127.0.0.1"
        self._prefix, self._uid, self._gid = _run_as_prefix()

    # -- paths and URLs --------------------------------------------------------------------

    @property
    def data_dir(self) -> pathlib.Path:
        return self.directory / "data"

    @property
    def log_path(self) -> pathlib.Path:
        return self.directory / "postgres.log"

    def url(self, dbname: str = "postgres", user: str = ROLE,
            password: str | None = None) -> str:
        """A TCP URL for `user` (default: the ringcast role, with its password)."""
        if password is None and user == ROLE:
            password = self.password
        return database_url(self.host, self.port, dbname, user, password)

    def log_text(self) -> str:
        return throwaway.read_text(self.log_path)

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | os.PathLike | None = None, *,
               max_connections: int = DEFAULT_MAX_CONNECTIONS,
               settings: dict[str, str] | None = None) -> "Cluster":
        """initdb in `directory` (created; must be absent or empty; default: a new temporary
        directory), start the server, create the ringcast role. On any failure nothing is left
        behind."""
        bindir = find_bindir()
        directory = throwaway.new_directory(directory, prefix="pgtmp-", error=ClusterError)
        if len(str(directory)) > _MAX_SOCKET_DIR:
            raise ClusterError(f"{directory}: path too long for a unix socket "
                               f"(at most {_MAX_SOCKET_DIR} bytes)")
        cluster = cls(directory, port=0, password=secrets.token_hex(16), bindir=bindir)
        try:
            cluster._initdb(max_connections, settings or {})
            cluster.start()
            cluster.psql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{cluster.password}'")
            # DROP DATABASE ... WITH (FORCE) ends every connection to the database, an
            # autovacuum worker's too, which only a member of pg_signal_backend may end.
            cluster.psql(f"GRANT pg_signal_backend TO {ROLE}")
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    @classmethod
    def create_standby(cls, primary: "Cluster", directory: str | os.PathLike | None = None, *,
                       synchronous: bool = False, port: int | None = None) -> "Cluster":
        """A hot standby of `primary` (running): pg_basebackup -R into a new directory (as
        `create`), started on `port` (default: a free one) and streaming. `synchronous`: the
        primary's commits wait for it (synchronous_standby_names). On any failure nothing is
        left behind."""
        directory = throwaway.new_directory(directory, prefix="pgtmp-", error=ClusterError)
        if len(str(directory)) > _MAX_SOCKET_DIR:
            raise ClusterError(f"{directory}: path too long for a unix socket")
        standby = cls(directory, port=port or 0, password=primary.password, bindir=primary.bindir)
        try:
            directory.chmod(0o700)
            standby._chown(directory)
            proc = standby._server_cmd(
                primary.bindir / "pg_basebackup", "-D", standby.data_dir, "-h",
                primary.directory, "-p", primary.port, "-U", SUPERUSER, "-R", "-X", "stream",
                "-c", "fast", "--no-sync", check=False)
            if proc.returncode != 0:
                raise ClusterError(f"pg_basebackup failed ({proc.returncode}): "
                                   f"{proc.stderr.strip()}")
            # The copy carries the primary's settings: its own socket directory and name.
            with open(standby.data_dir / "postgresql.conf", "a") as f:
                f.write(f"\n# tools/pg_cluster.py: standby of port {primary.port}\n"
                        f"unix_socket_directories = '{directory}'\n"
                        f"cluster_name = '{standby.name}'\n")
            if port:
                # The copy names its primary's port. A caller's port (the one a dead primary
                # left: a URL listing it stays right after a failover) replaces it.
                standby._write(standby.data_dir / "pgtmp_port.conf", f"port = {port}\n")
                standby._save_state()
            standby.start()
            if synchronous:
                primary.set_synchronous(standby.name)
            standby.wait_streaming(primary)
        except BaseException:
            standby.destroy()
            raise
        return standby

    @property
    def name(self) -> str:
        """The application_name a standby streams under (its directory's name)."""
        return self.directory.name.replace("-", "_")

    def set_synchronous(self, name: str | None) -> None:
        """Makes commits on this (primary) cluster wait for standby `name`; None: for none."""
        value = f"'\"{name}\"'" if name else "''"
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = {value}")
        self.reload()

    def reload(self, timeout: float = 30.0) -> None:
        """Reloads the configuration and returns once every session has it coming: its next
        command runs under the new settings. pg_reload_conf() only signals the postmaster, which
        reads the files and then signals each backend; a new session (forked by the postmaster
        after that) showing a newer pg_conf_load_time() says it has done both."""
        query = "SELECT pg_conf_load_time()"
        before = self.psql(query)
        self.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while self.psql(query) == before:
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.directory}: configuration not reloaded in {timeout} s")
            time.sleep(0.02)

    def wait_streaming(self, primary: "Cluster", timeout: float = 30.0) -> None:
        """Waits until `primary` sees this standby streaming (and, if synchronous, as sync)."""
        deadline = time.monotonic() + timeout
        while True:
            state = primary.psql("SELECT state FROM pg_stat_replication "
                                 f"WHERE application_name = '{self.name}'").strip()
            if state == "streaming":
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"standby {self.name} not streaming after {timeout} s "
                                   f"({state or 'not connected'})")
            time.sleep(0.05)

    def promote(self) -> None:
        """pg_ctl promote -w: the standby leaves recovery and takes writes."""
        proc = self._server_cmd(self.bindir / "pg_ctl", "-D", self.data_dir, "-w", "-t", "60",
                                "promote", check=False)
        if proc.returncode != 0:
            raise ClusterError(f"pg_ctl promote failed ({proc.returncode}): "
                               f"{proc.stderr.strip()}")

    def replay_pause(self) -> None:
        """On a standby: stops applying WAL (it keeps receiving it), so it lags on demand."""
        self.psql("SELECT pg_wal_replay_pause()")

    def replay_resume(self) -> None:
        self.psql("SELECT pg_wal_replay_resume()")

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> "Cluster":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=ClusterError,
                                                what="a pgtmp cluster")
        return cls(directory, port=state["port"], password=state["password"],
                   bindir=pathlib.Path(state["bindir"]))

    def _chown(self, path: pathlib.Path) -> None:
        if self._uid is not None:
            os.chown(path, self._uid, self._gid)

    def _write(self, path: pathlib.Path, text: str) -> None:
        path.write_text(text)
        self._chown(path)

    def _server_cmd(self, *argv, check: bool = True, timeout: float = 120.0,
                    **kw) -> subprocess.CompletedProcess:
        """Runs a server-side program (initdb, pg_ctl) as the cluster's owner."""
        return subprocess.run([*self._prefix, *map(str, argv)], cwd=self.directory, check=check,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def _initdb(self, max_connections: int, settings: dict[str, str]) -> None:
        self.directory.chmod(0o700)
        self._chown(self.directory)
        # --no-sync: initdb's own final fsync of the new files; a throwaway cluster does not
        # need to survive an OS crash between initdb and its first checkpoint. The server
        # itself runs with fsync on.
        proc = self._server_cmd(self.bindir / "initdb", "-D", self.data_dir, "-U", SUPERUSER,
                                "--auth-local=trust", "--auth-host=scram-sha-256",
                                "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", check=False)
        if proc.returncode != 0:
            raise ClusterError(f"initdb failed ({proc.returncode}): {proc.stderr.strip()}")
        # Only the owner can reach the socket directory, so trust there is the owner (and
        # root); TCP needs the role's password.
        self._write(self.data_dir / "pg_hba.conf",
                    "local all all trust\n"
                    "local replication all trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n"
                    "host replication all 127.0.0.1/32 scram-sha-256\n")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "unix_socket_permissions": "0700",
            "max_connections": str(max_connections),
            "fsync": "on",
            "synchronous_commit": "on",
            "password_encryption": "'scram-sha-256'",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] '",
            **settings,
        }
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("\n# tools/pg_cluster.py\n")
            f.writelines(f"{k} = {v}\n" for k, v in conf.items())
            f.write("include_if_exists = 'pgtmp_port.conf'\n")

    def _save_state(self) -> None:
        self._write(self.directory / STATE_FILE, json.dumps({
            "port": self.port, "password": self.password, "bindir": str(self.bindir),
            "role": ROLE, "url": self.url()}) + "\n")

    # -- running ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        """Starts the server (on its port; a new cluster on a free one) and waits until it
        accepts connections."""
        for attempt in range(attempts):
            fresh_port = self.port == 0
            if fresh_port:
                self.port = free_port()
                self._write(self.data_dir / "pgtmp_port.conf", f"port = {self.port}\n")
                self._save_state()
            log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
            if not self.log_path.exists():
                self._write(self.log_path, "")
            proc = self._server_cmd(self.bindir / "pg_ctl", "-D", self.data_dir, "-l",
                                    self.log_path, "-w", "-t", "60", "start", check=False)
            if proc.returncode == 0:
                return
            log = self.log_text()[log_size:]
            if fresh_port and "could not bind" in log and attempt + 1 < attempts:
                self.port = 0  # Lost a race for the free port: take another one.
                continue
            raise ClusterError(f"pg_ctl start failed ({proc.returncode}): "
                               f"{proc.stderr.strip()}\n{log[-3000:]}")

    def running(self) -> bool:
        if not self.data_dir.exists():
            return False
        return self._server_cmd(self.bindir / "pg_ctl", "-D", self.data_dir, "status",
                                check=False).returncode == 0

    def stop(self, mode: str = "fast", timeout: int = 30) -> None:
        """pg_ctl stop -m `mode`; a fast stop that does not finish within `timeout` seconds is
        made immediate. A stopped cluster stays stopped (no error)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        proc = self._server_cmd(self.bindir / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w",
                                "-t", timeout, "stop", check=False, timeout=timeout + 30)
        if proc.returncode == 0 or not self.running():
            return
        if mode != "immediate":
            self.stop("immediate", timeout)
            return
        raise ClusterError(f"pg_ctl stop -m immediate failed: {proc.stderr.strip()}")

    def destroy(self) -> None:
        """Stops the server (if running) and removes the whole directory."""
        try:
            if self.data_dir.exists():
                self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- SQL -------------------------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres", timeout: float = 60.0) -> str:
        """Runs `sql` as the superuser over the private socket (see psql_url for the output)."""
        conninfo = f"host={self.directory} port={self.port} user={SUPERUSER} dbname={dbname}"
        return psql_url(conninfo, sql, bindir=self.bindir, timeout=timeout)

    # -- reaper ----------------------------------------------------------------------------

    def watch_owner(self, owner_pid: int | None = None) -> None:
        """Starts a detached process that stops and removes this cluster once `owner_pid`
        (default: this process) has exited, if it is still there then. Detached (double fork,
        own session) so that killing the owner's process tree does not kill it too."""
        throwaway.watch_owner(__file__, self.directory, owner_pid)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE,
                lambda directory: Cluster.attach(directory).stop(mode="immediate"))
