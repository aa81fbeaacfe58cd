"""Throwaway nginx instances in front of ringcast nodes, for the tests (tests/integration/
test_nginx.py) and deploy/try-cluster.

The instance runs the shipped deploy/nginx/ringcast.conf, changed only where a try-out must differ
from a deployment: the `server` lines of `upstream ringcast` become the given nodes (each keeping
the first line's parameters: max_fails, fail_timeout) and the `listen` lines of the server block
become one loopback address and port. Anything else in the shipped file is tested as written; a
shipped file whose upstream or listen lines cannot be found fails loudly (NginxError) rather than
silently testing something else.

An instance lives in one directory, removed as a whole when it is stopped:

    DIR/nginx.conf       the main configuration: one worker process, the logs and the temporary
                         paths in DIR, `include ringcast.conf` in the http block
    DIR/ringcast.conf    the derived copy of deploy/nginx/ringcast.conf
    DIR/error.log        nginx's error log (also the start-up log: `-e`)
    DIR/access.log       one line per request, with the upstream node that answered
    DIR/nginxtmp.json    port and pid: how the reaper (or another process) finds it

It is Debian's /usr/sbin/nginx (or $NGINX), started in the foreground (`-g 'daemon off; pid ...;
error_log ...;'`) with `-p DIR -c DIR/nginx.conf`, as a child of the process that starts it, in
its own process group so that stopping it also ends its worker. Readiness: the port accepts a
TCP connection while the master runs. As root, the worker runs as `nobody:nogroup` (nginx's
master stays root to bind; DIR is made traversable for the worker and nginx hands it the
temporary directories); as any other user, everything runs as that user (nginx ignores `user`
then, so none is written). Nothing outside DIR is written either way: the system nginx that
Debian's package may start (port 80, /var/log/nginx) is not touched.

`stop()` always cleans up (SIGTERM, the fast shutdown; SIGKILL of the whole process group after a
bounded wait; then the directory). A detached reaper (`watch_owner()`, started by `start()`)
does the same if the process that owns the instance dies first, so no nginx outlives a test run.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)
from throwaway import free_port  # noqa: E402,F401 (also this module's API)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED_CONF = REPO_ROOT / "deploy" / "nginx" / "ringcast.conf"
STATE_FILE = "nginxtmp.json"
ERROR_LOG = "error.log"
ACCESS_LOG = "access.log"
HOST = "127.0.0.1"
# The unprivileged account of Debian's base system; its group is `nogroup` (there is no group
# `nobody`, which nginx would otherwise assume).
WORKER_USER = ("nobody", "nogroup")


class NginxError(Exception):
    pass


# -- the configuration ----------------------------------------------------------------------


_UPSTREAM = re.compile(r"(^[ \t]*upstream[ \t]+ringcast[ \t]*\{)(.*?)(^[ \t]*\})",
                       re.MULTILINE | re.DOTALL)
_SERVER_LINE = re.compile(r"^([ \t]*)server[ \t]+(\S+)([^;\n]*);[ \t]*\n", re.MULTILINE)
_LISTEN_LINE = re.compile(r"^([ \t]*)listen[ \t]+[^;\n]+;[ \t]*\n", re.MULTILINE)


def derive_config(text: str, upstreams: list[str], listen: str) -> str:
    """The shipped configuration `text` with the server lines of `upstream ringcast` replaced by
    one per address in `upstreams` ("127.0.0.1:8081"; the first shipped line's parameters kept
    on each) and every `listen` line (all of them in the server block) replaced by a single
    `listen LISTEN;` ("127.0.0.1:PORT")."""
    if not upstreams:
        raise NginxError("no upstream node given")
    found = list(_UPSTREAM.finditer(text))
    if len(found) != 1:
        raise NginxError(f"{SHIPPED_CONF}: expected one `upstream ringcast {{ … }}` block, found "
                         f"{len(found)}")
    block = found[0]
    servers = list(_SERVER_LINE.finditer(block.group(2)))
    if not servers:
        raise NginxError(f"{SHIPPED_CONF}: no `server` line in `upstream ringcast`")
    indent, params = servers[0].group(1), servers[0].group(3)
    body = block.group(2)
    new_lines = "".join(f"{indent}server {address}{params};\n" for address in upstreams)
    body = body[:servers[0].start()] + new_lines + _SERVER_LINE.sub("", body[servers[0].end():])
    text = text[:block.start(2)] + body + text[block.end(2):]

    listens = list(_LISTEN_LINE.finditer(text))
    if not listens:
        raise NginxError(f"{SHIPPED_CONF}: no `listen` line")
    first = listens[0]
    text = (text[:first.start()] + f"{first.group(1)}listen {listen};\n"
            + _LISTEN_LINE.sub("", text[first.end():]))
    return text


def main_config(directory: pathlib.Path, *, as_root: bool) -> str:
    """nginx.conf for an instance in `directory`: what Debian's /etc/nginx/nginx.conf would
    provide around a conf.d file, with every path inside `directory`. pid and error_log come
    from the command line (-g), so they are not here."""
    d = directory
    user = f"user {WORKER_USER[0]} {WORKER_USER[1]};\n" if as_root else ""
    return (
        "# tools/nginx_proxy.py: a throwaway nginx in front of ringcast nodes.\n"
        f"{user}"
        # One worker: on a shared two-core machine more would only compete with the nodes, and
        # the upstream's zone would share their view of the nodes anyway.
        "worker_processes 1;\n"
        "events {\n    worker_connections 4096;\n}\n"
        "http {\n"
        # Defaults compiled into Debian's nginx point at /var/lib/nginx and /var/log/nginx,
        # which an unprivileged user cannot write: nginx creates these at start.
        f"    client_body_temp_path {d}/temp/body;\n"
        f"    proxy_temp_path {d}/temp/proxy;\n"
        f"    fastcgi_temp_path {d}/temp/fastcgi;\n"
        f"    uwsgi_temp_path {d}/temp/uwsgi;\n"
        f"    scgi_temp_path {d}/temp/scgi;\n"
        "    log_format upstream '$remote_addr \"$request\" $status upstream=$upstream_addr '\n"
        "                        'xff=\"$http_x_forwarded_for\"';\n"
        f"    access_log {d}/{ACCESS_LOG} upstream;\n"
        f"    include {d}/ringcast.conf;\n"
        "}\n")


# -- the process ----------------------------------------------------------------------------


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class NginxProxy(throwaway.Instance):
    """One throwaway nginx in `directory` (see the module docstring). Create with
    `NginxProxy.start(upstreams)`; as a context manager it stops (and removes) the instance on
    exit."""

    PROGRAM = b"nginx"  # nginx rewrites its command line to "nginx: master process …".
    MODULE_FILE = __file__

    def __init__(self, directory: pathlib.Path, port: int, *, binary: pathlib.Path,
                 upstreams: list[str], conf: pathlib.Path):
        super().__init__(directory, port, host=HOST, binary=binary)
        self.upstreams = list(upstreams)
        self.conf = pathlib.Path(conf)

    @classmethod
    def start(cls, upstreams: list[str] | list[int], *, directory: str | os.PathLike | None = None,
              port: int | None = None, conf: str | os.PathLike = SHIPPED_CONF,
              watch: bool = True) -> "NginxProxy":
        """Starts nginx in front of `upstreams` ("host:port", or ports on 127.0.0.1) in
        `directory` (created; must be absent or empty; default: a new temporary directory), on
        127.0.0.1:`port` (default: a free one), and waits until it accepts connections. watch:
        start the reaper (see watch_owner). On any failure nothing is left behind."""
        binary = throwaway.find_program("nginx", "/usr/sbin/nginx", package="nginx",
                                        env="NGINX", error=NginxError)
        addresses = [f"{HOST}:{u}" if isinstance(u, int) else str(u) for u in upstreams]
        directory = throwaway.new_directory(directory, prefix="nginxtmp-", error=NginxError)
        proxy = cls(directory, port or 0, binary=binary, upstreams=addresses,
                    conf=pathlib.Path(conf))
        proxy._start_watched(fresh_port=port is None, watch=watch)
        return proxy

    # -- addresses and logs ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def error_log(self) -> str:
        return self._read(ERROR_LOG)

    def access_log(self) -> str:
        return self._read(ACCESS_LOG)

    def access_lines(self) -> list[str]:
        return self.access_log().splitlines()

    def _read(self, name: str) -> str:
        return throwaway.read_text(self.directory / name)

    def describe(self) -> str:
        return f"nginx {self.url} → {', '.join(self.upstreams)} (in {self.directory})"

    # -- running -----------------------------------------------------------------------------

    def _write_config(self) -> None:
        as_root = os.geteuid() == 0
        if as_root:
            # The worker (nobody) opens nothing here by name, but nginx hands it the temporary
            # directories it creates; it must be able to reach them.
            self.directory.chmod(0o755)
        text = derive_config(self.conf.read_text(), self.upstreams, f"{self.host}:{self.port}")
        (self.directory / "ringcast.conf").write_text(text)
        (self.directory / "nginx.conf").write_text(main_config(self.directory, as_root=as_root))
        (self.directory / "temp").mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        d = self.directory
        return [str(self.binary), "-p", f"{d}/", "-c", str(d / "nginx.conf"), "-e",
                str(d / ERROR_LOG), "-g",
                f"daemon off; pid {d}/nginx.pid; error_log {d}/{ERROR_LOG} info;"]

    def _save_state(self) -> None:
        throwaway.save_state(self, STATE_FILE, upstreams=self.upstreams, url=self.url)

    def _spawn_ready(self, *, fresh_port: bool) -> None:
        # Its own process group: _kill_and_wait signals the workers with the master.
        throwaway.spawn_until_ready(self, what="nginx", error=NginxError,
                                    ready=lambda: throwaway.accepts(self.port, HOST),
                                    log=self.error_log,
                                    fresh_port=fresh_port, new_session=True,
                                    prepare=self._write_config, stderr=subprocess.STDOUT)

    def _kill_and_wait(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (fast shutdown: open connections, WebSockets included, are
        closed at once; SIGQUIT would wait for them), then SIGKILL to its whole process group if
        it has not exited within `timeout`, and in any case to what is left of the group (a
        worker that outlived a killed master)."""
        if self.proc is not None:
            self._terminate_child(timeout)
            _kill_group(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.wait(10)
            return
        if self.pid is None or not self._is_ours(self.pid):
            return
        # Attached (the reaper).
        self._terminate_attached(timeout)
        _kill_group(self.pid)

    # -- reaper (stop() and watch_owner() are throwaway.Instance's) ----------------------------

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> "NginxProxy":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=NginxError,
                                                what="a throwaway nginx")
        proxy = cls(directory, state["port"], binary=pathlib.Path(state["binary"]),
                    upstreams=state["upstreams"], conf=SHIPPED_CONF)
        proxy.pid = state.get("pid")
        return proxy


def _kill_attached(directory: str) -> None:
    proxy = NginxProxy.attach(directory)
    if proxy.pid is not None and proxy._is_ours(proxy.pid):
        _kill_group(proxy.pid)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE, _kill_attached)
