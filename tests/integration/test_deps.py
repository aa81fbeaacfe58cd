"""The test install itself (tools/deps.sh), without apt: its service hold (tools/hold-services
with tools/policy-rc.d) refuses every service action but `status`, is in place only while the
command runs and is removed afterwards (also when the command fails or is interrupted), leaves a
machine's own hook alone and disables the boot links the command made, all on a DPKG_ROOT of
the test's own; and the npm packages it installs run on Debian 12's Node (tools/node_engines.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import node_engines  # noqa: E402

# Checks the install tooling, not the server's memory handling (conftest.py).
pytestmark = pytest.mark.no_asan

HOLD = REPO_ROOT / "tools" / "hold-services"
HOOK = REPO_ROOT / "tools" / "policy-rc.d"
NODE_PACKAGES = [REPO_ROOT / "clients" / "js", REPO_ROOT / "tests" / "browser"]


@pytest.mark.parametrize("args, allowed", [
    (["nginx", "start"], False),
    (["postgresql", "(start)", "2"], False),  # invoke-rc.d's form outside the runlevel.
    (["--quiet", "redis-server", "restart"], False),
    (["rabbitmq-server.service", "stop"], False),  # Running services are left alone too.
    (["dbus", "reload"], False),
    (["nginx", "force-reload"], False),
    (["nginx", "try-restart"], False),
    (["nginx", "status start"], False),  # An action with its fallback: both must be allowed.
    (["--list", "nginx"], False),
    ([], False),
    (["postgresql", "status"], True),
    (["--quiet", "postgresql", "status", "5"], True),
])
def test_the_hook_refuses_every_action_but_status(args, allowed):
    r = subprocess.run([str(HOOK), *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == (0 if allowed else 101), (args, r)
    # invoke-rc.d reads the hook's output as a fallback action: there must be none.
    assert r.stdout == "", r


def hold(root, *command, **kw):
    env = {**os.environ, "DPKG_ROOT": str(root)}
    return subprocess.run([str(HOLD), *command], capture_output=True, text=True, timeout=30,
                          env=env, **kw)


def test_the_hook_is_in_place_while_the_command_runs_and_removed_after_it_fails(tmp_path):
    hook = tmp_path / "usr" / "sbin" / "policy-rc.d"
    r = hold(tmp_path, "sh", "-c",
             f'cmp "{HOOK}" "$DPKG_ROOT/usr/sbin/policy-rc.d" && '
             '"$DPKG_ROOT/usr/sbin/policy-rc.d" nginx start; echo "start $?"; exit 7')
    assert r.returncode == 7, r
    assert r.stdout == "start 101\n", r
    assert not hook.exists() and not hook.is_symlink()


@pytest.mark.skipif(shutil.which("deb-systemd-invoke") is None,
                    reason="deb-systemd-invoke absent (Debian's init-system-helpers)")
def test_debian_service_starters_obey_it(tmp_path):
    # deb-systemd-invoke is what maintainer scripts start units with on a systemd host (and
    # invoke-rc.d, which asks the same hook, elsewhere). The unit does not exist: were the hook
    # ignored, systemctl would refuse it, and the message below would be missing.
    unit = f"ringcast-test-{os.getpid()}.service"
    r = hold(tmp_path, "deb-systemd-invoke", "start", unit)
    assert r.returncode == 0, r
    assert "policy-rc.d returned 101, not running" in r.stderr, r


def test_an_interrupted_install_still_removes_the_hook(tmp_path):
    hook = tmp_path / "usr" / "sbin" / "policy-rc.d"
    started = tmp_path / "started"
    env = {**os.environ, "DPKG_ROOT": str(tmp_path)}
    # The signal is sent once the command runs, not once the hook exists: a signal landing
    # between bash's fork and the child's exec is lost to the child (it still has bash's
    # handler), so the script would rightly wait out the whole command (23 in 300 under load).
    proc = subprocess.Popen([str(HOLD), "sh", "-c", 'touch "$1" && exec sleep 60', "sh",
                             str(started)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.02)
        assert hook.exists()
        os.killpg(proc.pid, signal.SIGTERM)  # As a Ctrl-C reaches apt and the script alike.
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not hook.exists()


def test_a_hook_the_machine_has_is_left_alone(tmp_path):
    hook = tmp_path / "usr" / "sbin" / "policy-rc.d"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n# the machine's own\nexit 0\n")
    hook.chmod(0o755)
    r = hold(tmp_path, "sh", "-c", '"$DPKG_ROOT/usr/sbin/policy-rc.d" nginx start; echo $?')
    assert r.returncode == 0 and r.stdout == "0\n", r
    assert hook.read_text() == "#!/bin/sh\n# the machine's own\nexit 0\n"


UNIT = "[Unit]\nDescription=test\n[Service]\nExecStart=/bin/true\n" \
       "[Install]\nWantedBy=multi-user.target\n"
INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test
### END INIT INFO
exit 0
"""


@pytest.mark.skipif(shutil.which("deb-systemd-helper") is None or shutil.which("update-rc.d") is None,
                    reason="deb-systemd-helper or update-rc.d absent (Debian's init-system-helpers)")
def test_boot_links_the_install_made_are_disabled_and_others_kept(tmp_path):
    for name in ("ours", "theirs"):
        unit = tmp_path / "lib" / "systemd" / "system" / f"{name}.service"
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(UNIT)
        script = tmp_path / "etc" / "init.d" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(INIT_SCRIPT.format(name=name))
        script.chmod(0o755)
    env = {**os.environ, "DPKG_ROOT": str(tmp_path), "DPKG_MAINTSCRIPT_PACKAGE": "test"}

    def enable(name):  # What a package's postinst does on its first installation.
        return (f"deb-systemd-helper enable {name}.service && "
                f"update-rc.d {name} defaults >/dev/null 2>&1")

    subprocess.run(["sh", "-c", enable("theirs")], env=env, check=True, timeout=30)
    r = subprocess.run([str(HOLD), "sh", "-c", enable("ours")], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r

    wants = tmp_path / "etc" / "systemd" / "system" / "multi-user.target.wants"
    assert (wants / "theirs.service").is_symlink()
    assert not (wants / "ours.service").exists() and not (wants / "ours.service").is_symlink()
    for level in "2345":
        rc = tmp_path / "etc" / f"rc{level}.d"
        assert [p.name for p in rc.iterdir() if p.name.endswith("ours")] == ["K01ours"], level
        assert (rc / "S01theirs").is_symlink(), level
    # Disabled as an admin would: a later upgrade of the package (its postinst asks whether the
    # unit was enabled) leaves it so.
    was = subprocess.run(["deb-systemd-helper", "was-enabled", "ours.service"], env=env,
                         capture_output=True, timeout=30)
    assert was.returncode != 0
    was = subprocess.run(["deb-systemd-helper", "was-enabled", "theirs.service"], env=env,
                         capture_output=True, timeout=30)
    assert was.returncode == 0


@pytest.mark.parametrize("range_text, accepts", [
    (">=18", True), (">=20", False), (">= 18.0.0", True), (">=18.20.5", False),
    ("^18.19.0 || >=20", True), ("^20.9", False), ("14 - 16", False), ("14 - 18", True),
    (">=14.17", True), ("18.x", True), ("<18", False), ("<=18", True), ("~18.20.0", True),
    ("~18.19", False), ("*", True), (">16 <19", True), (">18", False),
])
def test_engines_ranges_are_read_as_npm_reads_them(range_text, accepts):
    assert node_engines.satisfies(node_engines.DEBIAN_12_NODE, range_text) == accepts


@pytest.mark.parametrize("package", NODE_PACKAGES, ids=lambda p: p.name)
def test_the_npm_packages_run_on_debian_12s_node(package):
    ranges = node_engines.node_ranges(package)
    assert ranges[0][1] is not None, f"{package}/package.json declares no engines.node"
    assert len(ranges) > 1, f"{package}/package-lock.json names no engines"
    excluding = [(who, r) for who, r in ranges
                 if not node_engines.satisfies(node_engines.DEBIAN_12_NODE, r)]
    assert excluding == [], f"Debian 12's Node {node_engines.DEBIAN_12_NODE} is excluded"


def test_deps_says_when_a_lockfile_excludes_the_node_it_finds(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"engines": {"node": ">=18"}}))
    (tmp_path / "package-lock.json").write_text(json.dumps({"packages": {
        "": {"engines": {"node": ">=18"}},
        "node_modules/playwright-core": {"version": "1.65.1", "engines": {"node": ">=20"}}}}))
    check = [sys.executable, str(REPO_ROOT / "tools" / "node_engines.py"), "check"]
    r = subprocess.run([*check, "--node", "v18.20.4", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, r
    assert "Node v18.20.4 is outside the supported range" in r.stderr, r
    assert "node_modules/playwright-core needs Node >=20" in r.stderr, r
    r = subprocess.run([*check, "--node", "v20.20.2", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
