"""The Debian package (cmake/Install.cmake, deploy/README.md "Debian package"): `cpack -G DEB`
in the build directory of the binary under test makes a package that

- lintian accepts (no error, no warning; the one override it needs is
  deploy/debian/lintian-overrides, with its reason),
- holds the binary, the web app, the SDK, the systemd unit (ExecStart at /usr/bin), the example
  configuration as a conffile under /etc/ringcast, maintainer scripts that make the `ringcast`
  system user and /var/lib/ringcast, and Depends computed from the libraries the binary links,
- and, unpacked with `dpkg-deb -x` anywhere, runs from there serving its own web app at / and
  its SDK at /sdk/ without flags (the binary finds ../share/ringcast from its own place).

A binary alone, with no share/ringcast next to it, logs a warning that it has no web app.
The package is built once per session (about half a minute: strip and compress)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from chat_client import Api
from support import REPO_ROOT, RingcastServer, run_binary

# A packaging check, not the server's memory handling (conftest.py); an ASan binary is no
# user's package.
pytestmark = pytest.mark.no_asan


@pytest.fixture(scope="module")
def deb(ringcast_bin, tmp_path_factory) -> pathlib.Path:
    if shutil.which("dpkg-deb") is None or shutil.which("dpkg-shlibdeps") is None:
        pytest.skip("needs dpkg-deb and dpkg-shlibdeps (dpkg-dev: tools/deps.sh test)")
    build_dir = ringcast_bin.parents[1]
    config = build_dir / "CPackConfig.cmake"
    assert config.is_file(), f"{config}: not a CMake build directory of ringcast"
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run(["cpack", "-G", "DEB", "--config", str(config), "-B", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    [package] = out.glob("ringcast_*.deb")
    return package


def dpkg_deb(*args) -> str:
    return subprocess.run(["dpkg-deb", *map(str, args)], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_package_contents_and_control(deb, tmp_path):
    files = {line.split()[-1].removeprefix(".") for line in dpkg_deb("-c", deb).splitlines()}
    for path in ("/usr/bin/ringcast", "/usr/share/ringcast/web/index.html",
                 "/usr/share/ringcast/sdk/index.js", "/etc/ringcast/ringcast.toml",
                 "/lib/systemd/system/ringcast.service", "/usr/share/doc/ringcast/copyright",
                 "/usr/share/doc/ringcast/changelog.gz"):
        assert path in files, (path, sorted(files))
    depends = dpkg_deb("-f", deb, "Depends")
    for package in ("adduser", "libc6", "liburing2", "libsqlite3-0", "libpq5"):
        assert package in depends, depends
    control = tmp_path / "control"
    dpkg_deb("-e", deb, control)
    assert (control / "conffiles").read_text().split() == ["/etc/ringcast/ringcast.toml"]
    postinst = (control / "postinst").read_text()
    assert "adduser --quiet --system --group --home /var/lib/ringcast" in postinst
    assert "deb-systemd-helper enable ringcast.service" in postinst
    tree = tmp_path / "tree"
    dpkg_deb("-x", deb, tree)
    unit = (tree / "lib/systemd/system/ringcast.service").read_text()
    assert "ExecStart=/usr/bin/ringcast --config /etc/ringcast/ringcast.toml" in unit
    assert "User=ringcast" in unit
    # The shipped example configuration is one the packaged binary accepts.
    r = run_binary(tree / "usr/bin/ringcast",
                   ["--config", tree / "etc/ringcast/ringcast.toml", "--print-config"])
    assert r.returncode == 0 and "metrics-port = 9464" in r.stdout, r.stderr


@pytest.mark.skipif(shutil.which("lintian") is None,
                    reason="lintian absent (tools/deps.sh test installs it)")
@pytest.mark.timeout(300)
def test_lintian_finds_no_error_or_warning(deb):
    r = subprocess.run(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0",
                        str(deb)],
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stdout + r.stderr


def test_unpacked_package_serves_its_own_web_app_and_sdk(deb, tmp_path):
    tree = tmp_path / "unpacked"
    dpkg_deb("-x", deb, tree)
    srv = RingcastServer(tree / "usr/bin/ringcast", ["--no-pin-threads"], log_dir=tmp_path,
                         name="unpacked", threads=1).start()
    try:
        api = Api(srv.port)
        index = api.request("GET", "/")
        assert index.status == 200, index
        assert index.body == (REPO_ROOT / "web/index.html").read_bytes()
        sdk = api.request("GET", "/sdk/index.js")
        assert sdk.status == 200 and sdk.body == (REPO_ROOT / "clients/js/src/index.js").read_bytes()
        assert f"static files: {tree}/usr/share/ringcast/web at /" in srv.stderr_text()
    finally:
        assert srv.finish() is None


def test_binary_without_its_share_folder_warns(deb, tmp_path):
    tree = tmp_path / "unpacked"
    dpkg_deb("-x", deb, tree)
    lone = tmp_path / "lone" / "ringcast"
    lone.parent.mkdir()
    shutil.copy2(tree / "usr/bin/ringcast", lone)
    srv = RingcastServer(lone, ["--no-pin-threads"], log_dir=tmp_path, name="lone",
                         threads=1).start()
    try:
        assert Api(srv.port).request("GET", "/").status == 404
        warnings = [line for line in srv.stderr_text().splitlines() if " warn " in line]
        assert any("static files: no web app" in line for line in warnings), srv.logs_tail()
    finally:
        assert srv.finish() is None
