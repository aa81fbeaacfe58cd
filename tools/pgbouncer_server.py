"""Throwaway pgbouncer instances in front of a PostgreSQL server (a tools/pg_cluster.py cluster),
for the tests that run ringcast through a pooler in transaction mode.

An instance lives in one directory, removed as a whole when the instance is stopped:

    DIR/pgbouncer.ini   its configuration (below)
    DIR/userlist.txt    the auth_file: the one role it lets in, with its password (mode 0600)
    DIR/pgbouncer.log   its log
    DIR/pgbouncertmp.json  port and pid: how the reaper finds it

The pooler is Debian's /usr/sbin/pgbouncer (or $PGBOUNCER; Debian 12 has 1.18), listening on
127.0.0.1 only, on a free port, no unix socket, in the foreground as our child, with
`pool_mode = transaction` by default and a small `default_pool_size`: every database name is
passed to the server (`* = host=... port=...`), so a test's fresh database needs no entry of its
own. Clients log in with SCRAM (auth_type scram-sha-256); pgbouncer logs in to PostgreSQL as the
same role with the password from its auth_file. The password is kept in plain text there (a
private directory, 0600): a SCRAM secret from pg_authid would do for the clients, but needs the
superuser's socket, which a cluster named only by a URL ($RINGCAST_TEST_DATABASE_URL) lacks.

pgbouncer refuses to run as root: as root it runs as the `postgres` system user (setpriv, which
execs it in place, so our child and the pid in the state file are pgbouncer itself), and the
directory belongs to that user. `stop()` always cleans up (SIGTERM, SIGKILL after a bounded wait,
then the directory); a detached reaper (`watch_owner()`, started by `start()`) kills it and
removes the directory if the process that owns it dies first.
"""

from __future__ import annotations

import os
import pathlib
import pwd
import sys

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)

STATE_FILE = "pgbouncertmp.json"
LOG_FILE = "pgbouncer.log"
HOST = "127.0.0.1"
RUN_AS = "postgres"


class PgBouncerError(Exception):
    pass


class PgBouncer(throwaway.Instance):
    """One throwaway pgbouncer in `directory` (see the module docstring). Create with
    `PgBouncer.start(...)`; as a context manager it stops (and removes) the instance on exit."""

    PROGRAM = b"pgbouncer"
    MODULE_FILE = __file__
    LOG_FILE = LOG_FILE

    def __init__(self, directory: pathlib.Path, port: int, *, binary: pathlib.Path):
        super().__init__(directory, port, host=HOST, binary=binary)
        self.settings: dict[str, str] = {}
        self.user = ""
        self.password = ""
        self._uid: int | None = None
        self._gid: int | None = None
        self._server: tuple[str, int] = ("", 0)

    @classmethod
    def start(cls, server_host: str, server_port: int, user: str, password: str, *,
              pool_mode: str = "transaction", pool_size: int = 2,
              settings: dict[str, str] | None = None, directory=None,
              watch: bool = True) -> "PgBouncer":
        """Starts pgbouncer in front of the PostgreSQL at server_host:server_port for `user`
        (logging in to it with `password`), `pool_size` server connections per database and
        user, and waits until it accepts connections. `settings`: more [pgbouncer] lines. On any
        failure nothing is left behind."""
        binary = throwaway.find_program("pgbouncer", "/usr/sbin/pgbouncer",
                                        package="pgbouncer", env="PGBOUNCER",
                                        error=PgBouncerError)
        directory = throwaway.new_directory(directory, prefix="pgbouncertmp-",
                                            error=PgBouncerError)
        bouncer = cls(directory, 0, binary=binary)
        bouncer.user, bouncer.password = user, password
        bouncer._server = (server_host, server_port)
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(RUN_AS)
            except KeyError:
                raise PgBouncerError("running as root, and pgbouncer refuses root: there is no "
                                     f"`{RUN_AS}` system user to run it as") from None
            bouncer._uid, bouncer._gid = pw.pw_uid, pw.pw_gid
        bouncer.settings = {
            "listen_addr": HOST,
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(directory / "userlist.txt"),
            "pool_mode": pool_mode,
            "default_pool_size": str(pool_size),
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "max_client_conn": "200",
            "logfile": str(directory / LOG_FILE),
            "log_connections": "0",
            "log_disconnections": "0",
            # libpq sends these in the startup packet; pgbouncer would refuse an unknown one.
            "ignore_startup_parameters": "extra_float_digits,options",
            **(settings or {}),
        }
        bouncer._start_watched(fresh_port=True, watch=watch)
        return bouncer

    @classmethod
    def attach(cls, directory) -> "PgBouncer":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=PgBouncerError,
                                                what="a pgbouncer instance")
        bouncer = cls(directory, state["port"], binary=pathlib.Path(state["binary"]))
        bouncer.pid = state.get("pid")
        return bouncer

    def url(self, dbname: str) -> str:
        """A URL for ringcast (or psql) through the pooler to database `dbname`."""
        import pg_cluster  # Only here: attach() (the reaper) needs nothing of PostgreSQL.
        return pg_cluster.database_url(self.host, self.port, dbname, self.user, self.password)

    def _write(self, path: pathlib.Path, text: str, mode: int = 0o644) -> None:
        path.write_text(text)
        path.chmod(mode)
        if self._uid is not None:
            os.chown(path, self._uid, self._gid)

    def _prepare(self, server_host: str, server_port: int) -> None:
        if self._uid is not None:
            os.chown(self.directory, self._uid, self._gid)
        self.directory.chmod(0o700)
        quoted = self.password.replace('"', '""')
        self._write(self.directory / "userlist.txt", f'"{self.user}" "{quoted}"\n', 0o600)
        lines = ["[databases]", f"* = host={server_host} port={server_port}", "", "[pgbouncer]",
                 f"listen_port = {self.port}",
                 *(f"{k} = {v}" for k, v in self.settings.items())]
        self._write(self.directory / "pgbouncer.ini", "\n".join(lines) + "\n")
        if not (self.directory / LOG_FILE).exists():
            self._write(self.directory / LOG_FILE, "")

    def _argv(self) -> list[str]:
        prefix = []
        if self._uid is not None:
            prefix = ["setpriv", f"--reuid={self._uid}", f"--regid={self._gid}",
                      "--clear-groups", "--"]
        return [*prefix, str(self.binary), str(self.directory / "pgbouncer.ini")]

    def _save_state(self) -> None:
        throwaway.save_state(self, STATE_FILE)

    def _spawn_ready(self, *, fresh_port: bool) -> None:
        server_host, server_port = self._server
        throwaway.spawn_until_ready(
            self, what="pgbouncer", error=PgBouncerError,
            ready=lambda: throwaway.accepts(self.port, HOST, timeout=1.0),
            log=self.log_text, fresh_port=fresh_port, new_session=False,
            prepare=lambda: self._prepare(server_host, server_port))


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE, PgBouncer.kill_attached)
