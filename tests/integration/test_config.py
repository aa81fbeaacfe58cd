"""Configuration layers against the real binary: --config FILE (TOML or INI), the precedence
command line > RINGCAST_* environment > file > default, --print-config (every flag, secrets
redacted, read back as a file), the *-file secrets, and exit 2 naming the file and key."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from chat_client import Api, FAST_ARGS, b64url, unique_name
from support import RingcastServer, free_port, http_get_status, run_binary

# A configuration / files check, not the server's memory handling (conftest.py).
pytestmark = pytest.mark.no_asan


def effective(ringcast_bin, *args, env=None) -> dict[str, str]:
    """key → value (as printed) of --print-config."""
    r = run_binary(ringcast_bin, [*args, "--print-config"], env=env)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            out[key] = value
    return out


def test_each_layer_overrides_the_next(ringcast_bin, tmp_path):
    conf = tmp_path / "ringcast.toml"
    conf.write_text("port = 9001\nidle-timeout = 31\nmax_chat_body = 1000\n")
    assert effective(ringcast_bin)["port"] == "8080"  # Default.
    layers = effective(ringcast_bin, "--config", conf)
    assert (layers["port"], layers["idle-timeout"], layers["max-chat-body"]) == \
        ("9001", "31", "1000")
    env = {"RINGCAST_PORT": "9002", "RINGCAST_IDLE_TIMEOUT": "32"}
    layers = effective(ringcast_bin, "--config", conf, env=env)
    # The environment beats the file (CLI11's own config reader would have it the other way).
    assert (layers["port"], layers["idle-timeout"], layers["max-chat-body"]) == \
        ("9002", "32", "1000")
    layers = effective(ringcast_bin, "--config", conf, "--port", "9003", env=env)
    assert (layers["port"], layers["idle-timeout"]) == ("9003", "32")
    # The file may also be named by the environment.
    assert effective(ringcast_bin, env={"RINGCAST_CONFIG": str(conf)})["port"] == "9001"


def test_server_listens_where_the_layers_say(ringcast_bin, tmp_path):
    file_port, env_port = free_port(), free_port()
    conf = tmp_path / "ringcast.ini"
    conf.write_text(f"; INI flavour\n[ringcast]\nhost=127.0.0.1\nport={file_port}\n"
                    f"threads=1\ndata-dir={tmp_path / 'data'}\n")
    srv = RingcastServer(ringcast_bin, ["--config", conf], log_dir=tmp_path, name="file",
                         base_args=False, port=file_port).start()
    try:
        assert http_get_status(file_port) == 200
    finally:
        assert srv.finish() is None
    srv = RingcastServer(ringcast_bin, ["--config", conf], env={"RINGCAST_PORT": str(env_port)},
                         log_dir=tmp_path, name="env", base_args=False, port=env_port).start()
    try:
        assert http_get_status(env_port) == 200
        assert http_get_status(file_port, timeout=0.5) is None
    finally:
        assert srv.finish() is None


def test_print_config_covers_every_flag_and_reads_back(ringcast_bin, tmp_path):
    helptext = run_binary(ringcast_bin, ["--help"]).stdout
    flags = set(re.findall(r"^\s+(?:-\w,\s?)?--([a-z0-9-]+)", helptext, re.M))
    first = run_binary(ringcast_bin, ["--port", "9100", "--raw-channels", "--no-pin-threads",
                                      "--trusted-proxies", "10.0.0.0/8,fd00::/8",
                                      "--print-config"])
    assert first.returncode == 0, first.stderr
    printed = {line.split(" = ")[0] for line in first.stdout.splitlines()
               if line and not line.startswith("#")}
    # Every setting flag, whenever it was added; the commands are not settings.
    assert flags - printed == {"help", "config", "print-config", "version"}
    conf = tmp_path / "printed.toml"
    conf.write_text(first.stdout)
    again = run_binary(ringcast_bin, ["--config", conf, "--print-config"])
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    values = effective(ringcast_bin, "--config", conf)
    assert (values["port"], values["raw-channels"], values["pin-threads"]) == \
        ("9100", "true", "false")
    assert values["trusted-proxies"] == '"10.0.0.0/8,fd00::/8"'


def test_print_config_redacts_secrets(ringcast_bin):
    secrets = ["jwt-s3cret-0123456789abcdef0123456789", "adm1n-t0ken", "pg-pa55", "red1s-pa55"]
    r = run_binary(ringcast_bin, [
        "--jwt-secret", secrets[0], "--admin-token", secrets[1],
        "--database-url", f"postgres://ringcast:{secrets[2]}@db:5432/ringcast",
        "--redis", f"redis://:{secrets[3]}@cache:6379", "--print-config"])
    assert r.returncode == 0, r.stderr
    for secret in secrets:
        assert secret not in r.stdout
    lines = r.stdout.splitlines()
    assert '# jwt-secret = "<redacted>"' in lines
    assert '# admin-token = "<redacted>"' in lines
    assert '# database-url = "postgres://ringcast:<redacted>@db:5432/ringcast"' in lines
    assert '# redis = "redis://:<redacted>@cache:6379"' in lines
    # A URL without a password is no secret.
    plain = effective(ringcast_bin, "--database-url", "postgres://ringcast@db/ringcast")
    assert plain["database-url"] == '"postgres://ringcast@db/ringcast"'


@pytest.mark.parametrize("text,message", [
    ("port = 8080\nbogus-key = 1\n", ":2: unknown key 'bogus-key'"),
    ("port = 70000\n", ":1: port: --port: Value 70000 not in range 1 to 65535"),
    ("idle_timeout = soon\n", ":1: idle_timeout: "),
    ("raw-channels = maybe\n", ":1: raw-channels: "),
    ("log-format = xml\n", ":1: log-format: "),
    ("[server]\nport = 1\n", ":1: unknown section [server]"),
    ("print-config = true\n", ":1: unknown key 'print-config'"),
])
def test_bad_file_entries_exit_2_naming_file_and_key(ringcast_bin, tmp_path, text, message):
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    r = run_binary(ringcast_bin, ["--config", conf])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{conf}{message}" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unreadable_files_exit_2_naming_the_path(ringcast_bin, tmp_path):
    missing = tmp_path / "nowhere.toml"
    r = run_binary(ringcast_bin, ["--config", missing])
    assert r.returncode == 2 and f"--config: cannot read {missing}" in r.stderr, r.stderr
    for flag in ("--jwt-secret-file", "--database-url-file", "--redis-url-file",
                 "--admin-token-file"):
        r = run_binary(ringcast_bin, [flag, missing, "--print-config"])
        assert r.returncode == 2 and f"{flag}: cannot read {missing}" in r.stderr, r.stderr


def test_secret_and_its_file_at_one_level_is_refused(ringcast_bin, tmp_path):
    (tmp_path / "token").write_text("t\n")
    r = run_binary(ringcast_bin, ["--admin-token", "x", "--admin-token-file", tmp_path / "token"])
    assert r.returncode == 2 and "given at the same level" in r.stderr, r.stderr


def test_jwt_secret_file_signs_tokens(ringcast_bin, tmp_path):
    """The file's content, less its trailing newline, is the signing key: a token the server
    issues verifies with it. A secret file on the command line outranks the variable."""
    secret = "from-a-file-0123456789abcdef0123456789"
    path = tmp_path / "jwt-secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    srv = RingcastServer(ringcast_bin, [*FAST_ARGS, "--jwt-secret-file", path],
                         env={"RINGCAST_JWT_SECRET": "env-secret-that-must-lose-0123456789ab"},
                         log_dir=tmp_path).start()
    try:
        api = Api(srv.port)
        name = unique_name()
        assert api.register(name).status in (200, 201)
        token = api.login(name).json["token"]
        head, payload, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256)
        assert signature == b64url(expected.digest())
        assert secret not in srv.stderr_text()
    finally:
        assert srv.finish() is None


def test_version(ringcast_bin):
    r = run_binary(ringcast_bin, ["--version"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"ringcast \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}|unknown)\)", lines[0])
    # The running kernel's grant, as the server's start-up line reports it.
    assert re.fullmatch(r"io_uring features: (\+\w+ ?)+", lines[1]) or \
        lines[1].startswith("io_uring: unavailable here"), lines
    assert "+recv_multishot" in lines[1]  # Linux 6.0+, which the tests need anyway.
