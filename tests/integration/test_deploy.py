"""Deployment files: the Dockerfile installs every library the binary links (and tools/deps.sh builds
with); deploy/systemd/ringcast.service passes `systemd-analyze verify`; the Docker
seccomp profile parses, allows io_uring and is enough for ringcast (run under that very filter
with libseccomp; Docker itself is not available to the tests); deploy/docker-compose.yml parses
and names files that exist, and so does its object-storage variant, deploy/docker-compose.s3.yml,
whose nodes share a MinIO bucket instead of a volume; deploy/try-cluster's nodes share one
--files-dir, or one bucket."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support import REPO_ROOT, clean_env, free_port, http_get_status
from wsraw import OP_TEXT, open_ws

# A configuration / files check, not the server's memory handling (conftest.py).
pytestmark = pytest.mark.no_asan

DEPLOY = REPO_ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "ringcast.service"
PROFILE = DEPLOY / "docker" / "seccomp-io-uring.json"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_S3 = DEPLOY / "docker-compose.s3.yml"
IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze absent (Debian's systemd package: tools/deps.sh test)")
@pytest.mark.parametrize("credentials", [False, True], ids=["as-shipped", "with-credentials"])
def test_systemd_unit_verifies(ringcast_bin, tmp_path, credentials):
    text = UNIT.read_text()
    # The unit names the installed binary; verify checks that ExecStart is executable.
    text = text.replace("ExecStart=/usr/local/bin/ringcast", f"ExecStart={ringcast_bin}")
    if credentials:  # The commented-out example lines must be right too.
        text = re.sub(r"^#(LoadCredential|Environment)=", r"\1=", text, flags=re.M)
    unit = tmp_path / "ringcast.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    # verify exits 0 on unknown keys too, with a warning: any output is a failure.
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r


def test_systemd_unit_settings():
    s = unit_settings()
    for key, value in [("DynamicUser", "yes"), ("StateDirectory", "ringcast"),
                       ("Restart", "on-failure"), ("KillSignal", "SIGTERM"),
                       ("LimitMEMLOCK", "infinity"), ("SystemCallFilter", "@system-service")]:
        assert s.get(key) == [value], key
    assert int(s["LimitNOFILE"][0]) >= 65536
    assert "RINGCAST_DATA_DIR=/var/lib/ringcast" in s["Environment"]
    # Longer than the drain: --shutdown-timeout (5 s) and --reconnect-jitter-ms (2 s) by default.
    assert int(s["TimeoutStopSec"][0].rstrip("s")) > 5 + 2


def profile_names() -> set[str]:
    profile = json.loads(PROFILE.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = set()
    for rule in profile["syscalls"]:
        assert rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"), rule
        allowed |= set(rule["names"])
    return allowed


def test_seccomp_profile_allows_io_uring():
    names = profile_names()
    assert IO_URING <= names
    # Docker 25's default blocks these; ringcast does not need them and neither does this.
    assert not {"mount", "kexec_load", "bpf", "ptrace", "init_module"} & names


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_seccomp_profile_is_what_the_generator_writes():
    out = subprocess.run([str(DEPLOY / "docker" / "gen-seccomp-profile")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out == PROFILE.read_text(), "regenerate: deploy/docker/gen-seccomp-profile > " \
                                       "deploy/docker/seccomp-io-uring.json"


def run_filtered(ringcast_bin, tmp_path, names: set[str]) -> tuple[subprocess.Popen, int]:
    seccomp = pytest.importorskip("seccomp", reason="python3-seccomp (tools/deps.sh test)")

    def confine():
        f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))  # EPERM, as Docker's.
        for name in sorted(names):
            try:
                f.add_rule(seccomp.ALLOW, name)
            except (RuntimeError, ValueError):
                pass  # Not a system call of this architecture.
        f.load()

    port = free_port()
    args = [str(ringcast_bin), "--host", "127.0.0.1", "--port", str(port), "--threads", "2",
            "--data-dir", str(tmp_path / "data"), "--echo"]
    # An ASan build's leak check stops the threads with ptrace, which the profile (as Docker's)
    # refuses: not what is being tested here.
    env = clean_env()
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    with open(tmp_path / "stderr", "wb") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                preexec_fn=confine)
    return proc, port


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


def test_ringcast_runs_under_the_seccomp_profile(ringcast_bin, tmp_path):
    proc, port = run_filtered(ringcast_bin, tmp_path, profile_names())
    try:
        deadline = time.monotonic() + 20
        while http_get_status(port, timeout=1.0) != 200:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            assert time.monotonic() < deadline, (tmp_path / "stderr").read_text()
            time.sleep(0.05)
        conn = open_ws(port, "/echo")
        conn.send_text("under seccomp")
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"under seccomp")
        conn.close()
    finally:
        assert stop(proc) == 0, (tmp_path / "stderr").read_text()


def test_without_io_uring_the_filter_stops_ringcast(ringcast_bin, tmp_path):
    """The control: the same filter without io_uring_setup (Docker 25's default) fails at start
    with the reason, so the test above passes because of what the profile allows."""
    proc, _ = run_filtered(ringcast_bin, tmp_path, profile_names() - {"io_uring_setup"})
    assert proc.wait(timeout=30) == 1
    assert "io_uring_setup failed" in (tmp_path / "stderr").read_text()


def test_compose_file_parses_and_names_existing_files():
    yaml = pytest.importorskip("yaml", reason="python3-yaml (tools/deps.sh test)")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "redis", "ringcast1", "ringcast2", "nginx"} <= set(services)
    for name in ("ringcast1", "ringcast2"):
        node = services[name]
        build = node["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
        [seccomp] = [o for o in node["security_opt"] if o.startswith("seccomp=")]
        assert (DEPLOY / seccomp.removeprefix("seccomp=")).resolve() == PROFILE.resolve()
        env = node["environment"]
        assert env["RINGCAST_REDIS_URL"].startswith("redis://redis:")
        assert "@postgres:5432/" in env["RINGCAST_DATABASE_URL"]
        assert node["ulimits"]["memlock"] == -1
    assert services["ringcast1"]["environment"]["RINGCAST_NODE_ID"] != \
        services["ringcast2"]["environment"]["RINGCAST_NODE_ID"]
    # nginx runs deploy/nginx/ringcast.conf with its upstream lines rewritten by sed: the lines
    # it rewrites must still be there.
    nginx = services["nginx"]
    [mount] = nginx["volumes"]
    conf = (DEPLOY / mount.split(":")[0]).resolve()
    text = conf.read_text()
    script = " ".join(nginx["command"])
    for server in re.findall(r"server (127\.0\.0\.1:\d+) ", script):
        assert f"server {server} " in text, server
    assert "listen [::]:80;" in text
    # Uploaded files: one volume both nodes mount where RINGCAST_FILES_DIR points (docs/
    # cluster.md), created in the image for its user; a directory per node answered downloads
    # on one node only.
    mounts = []
    for name in ("ringcast1", "ringcast2"):
        files_dir = services[name]["environment"]["RINGCAST_FILES_DIR"]
        [volume] = [v.split(":")[0] for v in services[name]["volumes"]
                    if v.split(":")[1] == files_dir]
        mounts.append((volume, files_dir))
    assert mounts[0] == mounts[1] and mounts[0][0] in compose["volumes"], mounts
    assert f" {mounts[0][1]}\n" in (REPO_ROOT / "Dockerfile").read_text()
    assert_own_data_dirs(services)


def assert_own_data_dirs(services) -> None:
    """Each node's data dir is its own path, inside its own volume: a node's temporaries (in a
    shared files dir or a bucket) are named after that path, and its start clears them."""
    dirs = []
    for name in ("ringcast1", "ringcast2"):
        data_dir = services[name]["environment"]["RINGCAST_DATA_DIR"]
        [volume] = [v.split(":")[0] for v in services[name]["volumes"]
                    if data_dir.startswith(v.split(":")[1] + "/")]
        dirs.append((data_dir, volume))
    assert dirs[0][0] != dirs[1][0] and dirs[0][1] != dirs[1][1], dirs


def test_compose_s3_variant_shares_a_bucket_and_no_volume():
    """docker-compose.s3.yml: the same cluster (PostgreSQL, Redis and nginx are docker-compose.yml's
    own, by `extends`), its nodes' uploads in the one bucket that its minio/mc service creates
    on the MinIO service, with MinIO's keys, and no volume shared between the nodes."""
    yaml = pytest.importorskip("yaml", reason="python3-yaml (tools/deps.sh test)")
    base = yaml.safe_load(COMPOSE.read_text())
    compose = yaml.safe_load(COMPOSE_S3.read_text())
    services = compose["services"]
    assert compose["name"] != base["name"]  # Volumes of their own: two databases, not one.
    for name in ("postgres", "redis", "nginx"):
        extends = services[name]["extends"]
        assert (DEPLOY / extends["file"]).resolve() == COMPOSE.resolve()
        assert extends["service"] == name and name in base["services"]
    assert "postgres-data" in compose["volumes"]
    minio = services["minio"]
    assert minio["image"].startswith("minio/minio")
    user = minio["environment"]["MINIO_ROOT_USER"]
    password = minio["environment"]["MINIO_ROOT_PASSWORD"]
    init = services["minio-bucket"]
    assert init["image"].startswith("minio/mc")
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = " ".join(init["command"])
    [(alias, endpoint, key, secret)] = re.findall(r"mc alias set (\S+) (\S+) (\S+) (\S+)", script)
    assert (key, secret) == (user, password)
    [bucket] = re.findall(rf"mc mb --ignore-existing {alias}/(\S+)", script)
    [rule_prefix] = re.findall(rf"mc ilm rule add --prefix (\S+) .*{alias}/{bucket}\b", script)
    volumes = {}
    for name in ("ringcast1", "ringcast2"):
        node = services[name]
        env = node["environment"]
        assert "RINGCAST_FILES_DIR" not in env
        url = re.fullmatch(r"s3://([^/]+)/(.+)", env["RINGCAST_FILES_URL"])
        assert url and url.group(1) == bucket, env["RINGCAST_FILES_URL"]
        # The lifecycle rule covers the nodes' temporaries (files/README.md's layout).
        assert rule_prefix == url.group(2) + "/tmp/"
        assert env["RINGCAST_S3_ENDPOINT"] == endpoint == "http://minio:9000"
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (user, password)
        assert node["depends_on"]["minio-bucket"]["condition"] == \
            "service_completed_successfully"
        assert (DEPLOY / node["build"]["context"] / node["build"]["dockerfile"]).is_file()
        [seccomp] = [o for o in node["security_opt"] if o.startswith("seccomp=")]
        assert (DEPLOY / seccomp.removeprefix("seccomp=")).resolve() == PROFILE.resolve()
        volumes[name] = {v.split(":")[0] for v in node["volumes"]}
        assert [v.split(":")[1] for v in node["volumes"]] == ["/var/lib/ringcast"]
    assert not volumes["ringcast1"] & volumes["ringcast2"], volumes
    assert_own_data_dirs(services)
    assert services["ringcast1"]["environment"]["RINGCAST_NODE_ID"] != \
        services["ringcast2"]["environment"]["RINGCAST_NODE_ID"]
    # Both variants may exist side by side: networks of their own.
    [base_net], [net] = (c["networks"]["ringcast"]["ipam"]["config"] for c in (base, compose))
    assert base_net["subnet"] != net["subnet"]
    assert services["ringcast1"]["environment"]["RINGCAST_TRUSTED_PROXIES"] == net["subnet"]


def load_try_cluster():
    loader = importlib.machinery.SourceFileLoader("try_cluster", str(DEPLOY / "try-cluster"))
    spec = importlib.util.spec_from_loader("try_cluster", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_try_cluster_nodes_share_one_files_dir(tmp_path):
    """deploy/try-cluster gives every node the same --files-dir (its own, in its temporary
    directory): nginx may send a download to any node."""
    module = load_try_cluster()
    dirs = []
    for index in range(3):
        node = module.Node(index, pathlib.Path("ringcast"), tmp_path, threads=1,
                           database_url="postgres://x", redis_url="redis://x", extra=[])
        dirs.append(node.argv[node.argv.index("--files-dir") + 1])
    assert len(set(dirs)) == 1 and dirs[0].startswith(str(tmp_path)), dirs


def test_try_cluster_nodes_share_one_bucket_instead(tmp_path):
    """With a bucket (--s3, --files-url) every node gets its flags and keys, and no --files-dir:
    each keeps only its temporaries, in its own data dir."""
    module = load_try_cluster()
    files = ["--files-url", "s3://ringcast/files", "--s3-endpoint", "http://127.0.0.1:9"]
    keys = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    for index in range(2):
        node = module.Node(index, pathlib.Path("ringcast"), tmp_path, threads=1,
                           database_url="postgres://x", redis_url="redis://x", extra=[],
                           files=files, env=keys)
        assert "--files-dir" not in node.argv
        at = node.argv.index("--files-url")
        assert node.argv[at:at + len(files)] == files
        assert {k: node.env[k] for k in keys} == keys
    help_text = subprocess.run([sys.executable, str(DEPLOY / "try-cluster"), "--help"],
                               capture_output=True, text=True, timeout=30).stdout
    assert "--s3" in help_text and "--files-url" in help_text


def dockerfile_stages() -> list[set[str]]:
    """The packages each stage of the Dockerfile installs with apt-get, in stage order."""
    stages = []
    for stage in re.split(r"^FROM ", (REPO_ROOT / "Dockerfile").read_text(), flags=re.M)[1:]:
        packages = set()
        for command in re.findall(r"apt-get install ([^&]*)", stage):
            packages |= {w for w in command.replace("\\", " ").split() if not w.startswith("-")}
        stages.append(packages)
    return stages


def packages_of(paths: list[str]) -> set[str]:
    # Debian 12 merged /lib into /usr/lib; dpkg knows a file by the path its package ships, so
    # ask for every spelling at once (one dpkg run) and take what it finds.
    spellings = {}
    for path in paths:
        real = str(pathlib.Path(path).resolve())
        for candidate in (path, real, "/usr" + path, "/usr" + real):
            spellings[candidate] = path
    found = subprocess.run(["dpkg", "-S", *spellings], capture_output=True, text=True).stdout
    packages, shipped = set(), set()
    for line in found.splitlines():
        package, _, file = line.partition(": ")
        if file in spellings:
            packages.add(package.split(":")[0])
            shipped.add(spellings[file])
    assert shipped == set(paths), f"no package ships {sorted(set(paths) - shipped)}"
    return packages


@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("readelf") is None,
                    reason="needs dpkg and readelf (binutils)")
def test_dockerfile_installs_every_library_the_binary_needs(ringcast_bin):
    # The image is not built here (no Docker), so check its package lists against what the
    # binary links and what tools/deps.sh builds with: a library added to one and not the other
    # breaks the image's build or its start.
    build_stage, runtime_stage = dockerfile_stages()
    dynamic = subprocess.run(["readelf", "-d", str(ringcast_bin)], capture_output=True,
                             text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)",
                               subprocess.run(["ldd", str(ringcast_bin)], capture_output=True,
                                              text=True, check=True).stdout, flags=re.M))
    in_every_debian = {"libc6", "libstdc++6", "libgcc-s1"}
    runtime = packages_of([resolved[soname] for soname in needed]) - in_every_debian
    # Sanitizer builds link their runtimes (libasan8, libubsan1): not part of a user's image.
    runtime = {p for p in runtime if not re.match(r"lib(asan|ubsan|lsan|tsan)\d", p)}
    assert runtime <= runtime_stage, f"runtime stage lacks {sorted(runtime - runtime_stage)}"
    deps = (REPO_ROOT / "tools" / "deps.sh").read_text()
    declared = re.search(r"^build_packages=\(([^)]*)\)", deps, flags=re.M).group(1).split()
    for_tests_only = {"git", "libgtest-dev", "libbenchmark-dev"}
    # make: the README's plain build (CMake's default generator); the image builds a preset.
    not_for_the_image = {"make"}
    missing = set(declared) - for_tests_only - not_for_the_image - build_stage
    assert not missing, f"build stage lacks {sorted(missing)} (tools/deps.sh build_packages)"
