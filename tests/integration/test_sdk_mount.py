"""The JavaScript SDK's modules at /sdk/ from --sdk-root (proto/PROTOCOL.md, "Static files"):
the shipped clients/js/src by default, a folder of one's own, off with '', next to or without
--web-root, and the web root's rules (no way out, no listing, content types, redirects) at this
mount too. The browser side (the web app importing /sdk/index.js) is tests/browser/."""

from __future__ import annotations

import os
import pathlib

import pytest

import support
from wsraw import RawConn, get_request

# A configuration / files check, not the server's memory handling (conftest.py).
pytestmark = pytest.mark.no_asan

SECRET = b"the secret outside the sdk root"


def fetch(port: int, path: str):
    with RawConn.open(port) as conn:
        conn.send(get_request(path))
        return conn.read_http_response()


def build_roots(base: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    web = base / "web"
    (web / "sdk").mkdir(parents=True)
    (web / "index.html").write_bytes(b"<p>app</p>")
    (web / "sdk" / "index.js").write_bytes(b"web root's own sdk/")
    (web / "sdkish.js").write_bytes(b"not the sdk")
    sdk = base / "sdk"
    (sdk / "docs").mkdir(parents=True)
    (sdk / "index.js").write_bytes(b"export const sdk = 1;\n")
    (sdk / "docs" / "index.html").write_bytes(b"<p>sdk docs</p>")
    (sdk / ".hidden.js").write_bytes(SECRET)
    (base / "secret.js").write_bytes(SECRET)
    os.symlink("../secret.js", sdk / "escape.js")
    os.symlink("../web/index.html", sdk / "into_web.html")  # Out of the SDK root: refused too.
    return web, sdk


@pytest.fixture
def roots(tmp_path):
    return build_roots(tmp_path)


def test_the_shipped_sdk_is_the_default(ringcast_bin, server_factory):
    if support.REPO_ROOT not in ringcast_bin.parents:
        pytest.skip("the binary is not one built in this checkout")
    src = support.REPO_ROOT / "clients" / "js" / "src"
    srv = server_factory()
    for name in ("index.js", "client.js", "connection.js"):
        resp = fetch(srv.port, "/sdk/" + name)
        assert resp.status == 200 and resp.body == (src / name).read_bytes(), (name, resp)
        assert resp.header("Content-Type") == "text/javascript; charset=utf-8", resp
    assert f"static files: {src} at /sdk/" in srv.stderr_text() + srv.stdout_text()
    # The web app is still at /.
    assert fetch(srv.port, "/").body == (support.REPO_ROOT / "web" / "index.html").read_bytes()


def test_a_folder_of_ones_own_hides_the_web_roots_sdk_folder(server_factory, roots):
    web, sdk = roots
    srv = server_factory("--web-root", str(web), "--sdk-root", str(sdk))
    resp = fetch(srv.port, "/sdk/index.js")
    assert resp.status == 200 and resp.body == b"export const sdk = 1;\n", resp
    assert resp.header("Cache-Control") == "public, max-age=300", resp
    assert resp.header("X-Content-Type-Options") == "nosniff", resp
    # Importable from another origin's page (module scripts are fetched in CORS mode); the web
    # app's own files are not shared that way.
    assert resp.header("Access-Control-Allow-Origin") == "*", resp
    app = fetch(srv.port, "/")
    assert app.body == b"<p>app</p>" and app.header("Access-Control-Allow-Origin") is None, app
    assert fetch(srv.port, "/sdkish.js").body == b"not the sdk"  # Only the segment "sdk".


def test_directories_at_the_mount(server_factory, roots):
    web, sdk = roots
    srv = server_factory("--web-root", str(web), "--sdk-root", str(sdk))
    # The mount's root has no index.html: no listing, with or without the '/'.
    for path in ("/sdk", "/sdk/", "/sdk/missing.js"):
        assert fetch(srv.port, path).status == 404, path
    redirect = fetch(srv.port, "/sdk/docs?x=1")
    assert redirect.status == 301 and redirect.header("Location") == "/sdk/docs/?x=1", redirect
    assert fetch(srv.port, "/sdk/docs/").body == b"<p>sdk docs</p>"


@pytest.mark.parametrize("path", [
    "/sdk/../secret.js", "/sdk/%2e%2e/secret.js", "/sdk/..%2fsecret.js", "/sdk/escape.js",
    "/sdk/into_web.html", "/sdk/.hidden.js", "/sdk/%2ehidden.js", "/sdk/docs/../../secret.js",
])
def test_no_way_out_of_the_sdk_root(server_factory, roots, path):
    web, sdk = roots
    srv = server_factory("--web-root", str(web), "--sdk-root", str(sdk))
    resp = fetch(srv.port, path)
    assert resp.status in (400, 404), (path, resp)
    assert SECRET not in resp.body and b"<p>app</p>" not in resp.body, (path, resp)


def test_an_empty_sdk_root_leaves_sdk_to_the_web_root(server_factory, roots):
    web, _ = roots
    srv = server_factory("--web-root", str(web), "--sdk-root", "")
    assert fetch(srv.port, "/sdk/index.js").body == b"web root's own sdk/"
    env_srv = server_factory("--web-root", str(web), env={"RINGCAST_SDK_ROOT": ""})
    assert fetch(env_srv.port, "/sdk/index.js").body == b"web root's own sdk/"


def test_the_sdk_without_a_web_root(server_factory, roots):
    _, sdk = roots
    srv = server_factory("--web-root", "", env={"RINGCAST_SDK_ROOT": str(sdk)})
    assert fetch(srv.port, "/sdk/index.js").body == b"export const sdk = 1;\n"
    for path in ("/", "/index.html"):
        resp = fetch(srv.port, path)
        assert resp.status == 404 and b"no such route" in resp.body, (path, resp)


def test_an_sdk_root_that_is_no_directory_stops_the_start(ringcast_bin, tmp_path):
    result = support.run_binary(ringcast_bin, ["--sdk-root", str(tmp_path / "nope"),
                                               "--data-dir", str(tmp_path / "data")])
    assert result.returncode == 2, result
    assert "--sdk-root" in result.stderr and "not a directory" in result.stderr, result.stderr
