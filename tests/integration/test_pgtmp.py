"""tools/pgtmp, which ctest's PostgreSQL entries run under: the command gets a working URL whose
role may create databases, its exit status comes back, and the cluster is gone afterwards, also
when the command is ended by a SIGTERM sent to pgtmp."""

from __future__ import annotations

import pathlib
import signal

import pytest

from support import REPO_ROOT, run_tmp_tool, sigterm_tmp_tool, tmp_tool_script

pytestmark = pytest.mark.needs_pg

PGTMP = REPO_ROOT / "tools" / "pgtmp"
# Prints the URL and the cluster's directory, checks that the role can create a database, then
# exits with status 7.
SCRIPT = tmp_tool_script("""
url = os.environ["RINGCAST_TEST_DATABASE_URL"]
run = lambda sql: subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                                  "-c", sql], capture_output=True, text=True, check=True).stdout
print(url)
print(os.environ["PGTMP_DIR"])
run("CREATE DATABASE pgtmp_check TEMPLATE template0")
print(run("SELECT current_user || ' ' || current_setting('fsync')").strip(), flush=True)
""")


URL_VARIABLE = "RINGCAST_TEST_DATABASE_URL"


def test_run_passes_the_url_and_the_exit_status_and_removes_the_cluster():
    res = run_tmp_tool(PGTMP, SCRIPT, url_variable=URL_VARIABLE)
    assert res.returncode == 7, (res.returncode, res.stderr)
    url, directory, who = res.stdout.splitlines()
    assert url.startswith("postgres://ringcast:") and "@127.0.0.1:" in url, url
    assert who == "ringcast on", who
    assert not pathlib.Path(directory).exists(), f"{directory} left behind"


def test_sigterm_reaches_the_command_and_the_cluster_is_removed():
    def check_ready(line):
        assert line.strip() == "ringcast on"

    rc, url, directory, seconds, stderr = sigterm_tmp_tool(
        PGTMP, SCRIPT, url_variable=URL_VARIABLE, check_ready=check_ready)
    assert rc == 128 + signal.SIGTERM, (rc, stderr)
    assert seconds < 15
    assert url and not pathlib.Path(directory).exists(), f"{directory} left behind"
