"""PostgreSQL for the integration tests: one server per pytest session, a fresh database per
ringcast server.

The server is either the one `tools/pgtmp run` started (RINGCAST_TEST_DATABASE_URL: a
postgres:// URL of a role that may CREATE DATABASE) or a throwaway cluster this session starts
itself (tools/pg_cluster.py) on first use and removes at the end. SQL goes through psql (Debian's
postgresql-client, which `postgresql` depends on), so the tests need no Python driver.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import sys
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import pg_cluster  # noqa: E402
import support  # noqa: E402

ENV_URL = "RINGCAST_TEST_DATABASE_URL"


def query(url: str, sql: str, timeout: float = 60.0) -> list[tuple[str, ...]]:
    """Rows of the last statement in `sql`, as strings (NULL → ""), through psql."""
    out = pg_cluster.psql_url(url, sql, timeout=timeout)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


class PgServer:
    """Makes and drops databases on one PostgreSQL server (`admin_url`'s role owns them).

    CREATE and DROP DATABASE take about 0.2 s each (fsync), for every server of a test: the
    next database is created in the background while the current one is in use, and drops run
    in the background too; close() waits for them."""

    def __init__(self, admin_url: str, cluster: pg_cluster.Cluster | None = None):
        self.admin_url = admin_url
        self.cluster = cluster  # Ours to remove at the end; None for RINGCAST_TEST_DATABASE_URL.
        self.password = pg_cluster.url_password(admin_url)
        # The pid keeps two sessions on one shared server apart.
        self._names = (f"rc_{os.getpid()}_{n}" for n in itertools.count(1))
        self._next: tuple[str, pg_cluster.PsqlJob] | None = None
        self._drops: list[pg_cluster.PsqlJob] = []

    @classmethod
    def start(cls) -> "PgServer":
        return cls(*support.url_or_own(ENV_URL, new_cluster, lambda cluster: cluster.url()))

    def close(self) -> None:
        try:
            if self._next is not None:
                name, job = self._next
                self._next = None
                job.result()
                self.drop_database(pg_cluster.with_dbname(self.admin_url, name))
            for job in self._drops:
                job.result()
        finally:
            if self.cluster is not None:
                self.cluster.destroy()

    def _start_create(self) -> None:
        name = next(self._names)
        self._next = (name, pg_cluster.PsqlJob(
            self.admin_url, f"CREATE DATABASE {name} TEMPLATE template0"))

    def create_database(self) -> str:
        """A new, empty database (from template0); returns its URL (same role and password)."""
        if self._next is None:
            self._start_create()
        name, job = self._next
        self._next = None
        job.result()
        self._start_create()
        return pg_cluster.with_dbname(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drops it (in the background), even if a killed server left a connection behind."""
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        finished: list[pg_cluster.PsqlJob] = []
        running: list[pg_cluster.PsqlJob] = []
        for job in self._drops:
            (running if job.proc.poll() is None else finished).append(job)
        running.append(pg_cluster.PsqlJob(
            self.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self._drops = running
        for job in finished:
            job.result()  # Raises if that drop failed (once: it is off the list now).


_own_database_numbers = itertools.count(1)


def own_database(cluster: pg_cluster.Cluster, prefix: str) -> tuple[str, str]:
    """(name, URL for the ringcast role) of a new database the ringcast role owns, on a cluster
    a test module made for itself (one it stops or crashes: test_pg_faults.py,
    test_delivery_faults.py)."""
    name = f"{prefix}_{next(_own_database_numbers)}"
    cluster.psql(f"CREATE DATABASE {name} OWNER {pg_cluster.ROLE} TEMPLATE template0")
    return name, cluster.url(name)


def new_cluster() -> pg_cluster.Cluster:
    """A throwaway cluster whose reaper removes it should this process die first."""
    cluster = pg_cluster.Cluster.create()
    cluster.watch_owner()
    return cluster


def own_cluster():
    """A cluster of a test module's own, for tests that stop or crash PostgreSQL (not the
    session's server), removed after the module; as its fixture:
    `pg = pytest.fixture(scope="module")(pg_store.own_cluster)`."""
    cluster = new_cluster()
    yield cluster
    cluster.destroy()
