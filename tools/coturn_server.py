"""Throwaway coturn TURN servers for the tests (the integration tests import this module), as
tools/redis_server.py is for Redis.

An instance lives in one directory, removed as a whole when the instance is stopped:

    DIR/turn.log        the server's log (allocations, authentication failures)
    DIR/turnserver.conf the configuration the command line adds to: empty, or a copy of one given
    DIR/coturn.json     port, pid and secret: how the reaper finds it

The server is Debian's /usr/bin/turnserver (or $TURNSERVER), listening on 127.0.0.1 only, UDP
and TCP on a free port, relaying from 127.0.0.1 (peers on loopback allowed, as the tests' are),
with the TURN REST API's shared secret (`use-auth-secret`, `static-auth-secret`: the scheme
ringcast's GET /api/calls/ice-servers signs credentials for), no TLS, no CLI, in the foreground
as a child of the process that started it. Readiness is a STUN Binding request on UDP answered
with a success. coturn runs fine as root here: it only binds ports above 1024.

`allocate(username, password)` asks for a relay the way a WebRTC client would, with
turnutils_uclient (coturn's test client, in the same package): True when the server granted it.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import socket
import subprocess
import sys

import throwaway  # noqa: E402 (tools/ is on sys.path wherever this module is)

STATE_FILE = "coturn.json"
LOG_FILE = "turn.log"
CONF_FILE = "turnserver.conf"
HOST = "127.0.0.1"
REALM = "ringcast.test"


class CoturnError(Exception):
    pass


def stun_binding_answered(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when a STUN Binding request (RFC 8489 §6: type 0x0001, no attributes) to UDP `port`
    gets a Binding success response (0x0101) with our transaction id."""
    transaction = secrets.token_bytes(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request, (host, port))
            answer, _ = s.recvfrom(2048)
        except OSError:
            return False
    return answer[:2] == b"\x01\x01" and answer[8:20] == transaction


class CoturnServer(throwaway.Instance):
    """One throwaway turnserver in `directory`. Create with `CoturnServer.start(secret)`; as a
    context manager it stops (and removes) the instance on exit."""

    PROGRAM = b"turnserver"
    MODULE_FILE = __file__
    LOG_FILE = LOG_FILE

    def __init__(self, directory: pathlib.Path, port: int, secret: str, *,
                 binary: pathlib.Path):
        super().__init__(directory, port, host=HOST, binary=binary)
        self.secret = secret

    @classmethod
    def start(cls, secret: str, directory: str | os.PathLike | None = None, *,
              config: str | os.PathLike | None = None, watch: bool = True) -> "CoturnServer":
        """Starts a server with `secret` on a free port and waits until it answers STUN.
        config: a turnserver.conf to start from (deploy/coturn/turnserver.conf); the command
        line overrides its addresses, ports, secret, realm and log (DIR/turn.log, not syslog). On any failure nothing is
        left behind."""
        binary = throwaway.find_program("turnserver", "/usr/bin/turnserver", package="coturn",
                                        env="TURNSERVER", error=CoturnError)
        directory = throwaway.new_directory(directory, prefix="coturn-", error=CoturnError)
        # Debian's /etc/turnserver.conf is never read: this file (empty, or a copy of `config`
        # less its `syslog`, which no option turns off again) stands in for it.
        lines = pathlib.Path(config).read_text().splitlines() if config else []
        (directory / CONF_FILE).write_text(
            "".join(f"{line}\n" for line in lines if line.strip() != "syslog"))
        server = cls(directory, 0, secret, binary=binary)
        server._start_watched(fresh_port=True, watch=watch)
        return server

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> "CoturnServer":
        directory, state = throwaway.read_state(directory, STATE_FILE, error=CoturnError,
                                                what="a coturn instance")
        server = cls(directory, state["port"], state["secret"],
                     binary=pathlib.Path(state["binary"]))
        server.pid = state.get("pid")
        return server

    def url(self, transport: str = "udp") -> str:
        return f"turn:{self.host}:{self.port}?transport={transport}"

    @property
    def stun_url(self) -> str:
        return f"stun:{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        # Relay ports above Linux's ephemeral range (32768-60999), where the free port of the
        # listener comes from, so the two never meet.
        return [str(self.binary), "-c", str(self.directory / CONF_FILE),
                "--listening-ip", self.host, "--relay-ip", self.host,
                "--listening-port", str(self.port), "--min-port", "61000", "--max-port", "61999",
                "--use-auth-secret", "--static-auth-secret", self.secret, "--realm", REALM,
                "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
                "--no-stdout-log", "--simple-log", "--log-file", str(self.log_path),
                "--pidfile", str(self.directory / "turnserver.pid"),
                "--userdb", str(self.directory / "turndb")]

    def _save_state(self) -> None:
        throwaway.save_state(self, STATE_FILE, secret=self.secret)

    def _spawn_ready(self, *, fresh_port: bool) -> None:
        throwaway.spawn_until_ready(self, what="turnserver", error=CoturnError,
                                    ready=lambda: stun_binding_answered(self.port),
                                    log=self.log_text, fresh_port=fresh_port,
                                    new_session=False)

    def allocate(self, username: str, password: str, timeout: float = 20.0) -> bool:
        """Allocates a relay with these credentials and sends a few packets through it to a
        second allocation of the same client (turnutils_uclient -y): True when the server
        granted both and the packets came back."""
        uclient = throwaway.find_program("turnutils_uclient", "/usr/bin/turnutils_uclient",
                                         package="coturn", error=CoturnError)
        proc = subprocess.run(
            [str(uclient), "-p", str(self.port), "-u", username, "-w", password,
             "-n", "2", "-m", "1", "-y", "-e", self.host, self.host],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return proc.returncode == 0 and "Total lost packets 0 " in proc.stdout + proc.stderr


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "reap":
    throwaway.reap(int(sys.argv[2]), sys.argv[3], STATE_FILE, CoturnServer.kill_attached)
