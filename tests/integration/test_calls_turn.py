"""TURN credentials for calls (issue 26; PROTOCOL.md "Calls: ICE servers"): GET
/api/calls/ice-servers gives a signed-in client the --stun-urls as they are and the --turn-urls
with a short-lived credential of its own in coturn's TURN REST API scheme, which a real coturn
(tools/coturn_server.py: Debian's turnserver on loopback, `use-auth-secret` with the same
secret) grants a relay for, and refuses under another username or once its expiry has passed.
coturn runs deploy/coturn/turnserver.conf, the configuration we ship. The secret itself is
never sent; bad flags stop the server at start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sys
import time

import pytest

from chat_client import Api, chat_args
from support import REPO_ROOT, run_binary

sys.path.insert(0, str(REPO_ROOT / "tools"))
import coturn_server  # noqa: E402

SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
def coturn():
    # The shipped configuration (deploy/coturn/), its addresses, ports and secret overridden.
    with coturn_server.CoturnServer.start(
            SECRET, config=REPO_ROOT / "deploy/coturn/turnserver.conf") as server:
        yield server


def sign(username: str) -> str:
    """What coturn expects as the password of `username`: base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(
        hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()


def ice_servers(api: Api, user):
    return api.request("GET", "/api/calls/ice-servers", token=user.token)


def test_a_credential_of_ones_own_that_coturn_grants_a_relay_for(server_factory, coturn):
    srv = server_factory(*chat_args(turn_ttl=600), "--stun-urls", coturn.stun_url,
                         "--turn-urls", f"{coturn.url('udp')},{coturn.url('tcp')}",
                         "--turn-secret", SECRET)
    api = Api(srv.port)
    alice, bob = api.new_users(2, "turn")
    before = int(time.time())
    r = ice_servers(api, alice)
    assert r.status == 200, r
    assert r.header("Cache-Control") == "no-store", r
    stun, turn = r.json["ice_servers"]
    assert stun == {"urls": [coturn.stun_url]}, stun
    assert turn["urls"] == [coturn.url("udp"), coturn.url("tcp")], turn
    expiry, _, user = turn["username"].partition(":")
    assert user == str(alice.id), turn
    assert before + 600 <= int(expiry) <= int(time.time()) + 600, turn
    assert r.json["expires_at"] == int(expiry) * 1000, r
    assert SECRET not in r.body.decode(), "the secret stays on the server"

    assert turn["credential"] == sign(turn["username"])
    assert coturn.allocate(turn["username"], turn["credential"]), coturn.log_text()[-2000:]
    # The credential is Alice's: under Bob's id (or any other username) coturn refuses it.
    assert not coturn.allocate(f"{expiry}:{bob.id}", turn["credential"])
    theirs = ice_servers(api, bob).json["ice_servers"][1]
    assert theirs["username"].endswith(f":{bob.id}") and theirs["credential"] != turn["credential"]
    assert coturn.allocate(theirs["username"], theirs["credential"])
    # Signed the same way but expired a minute ago (what the server's would be after --turn-ttl):
    # coturn refuses it, so a leaked credential is good until its expiry only.
    expired = f"{int(time.time()) - 60}:{alice.id}"
    assert not coturn.allocate(expired, sign(expired))
    valid = f"{int(time.time()) + 60}:{alice.id}"
    assert coturn.allocate(valid, sign(valid)), "the same signing, not expired yet"


def test_without_servers_the_list_is_empty_and_a_token_is_needed(shared_server):
    api = Api(shared_server.port)
    [user] = api.new_users(1, "noturn")
    r = ice_servers(api, user)
    assert r.status == 200 and r.json == {"ice_servers": [], "expires_at": None}, r
    r = api.request("GET", "/api/calls/ice-servers")
    assert r.status == 401, r
    r = api.request("POST", "/api/calls/ice-servers", {}, token=user.token)
    assert r.status == 405 and r.header("Allow") == "GET", r


@pytest.mark.parametrize("args, message", [
    (["--turn-urls", "turn:127.0.0.1:3478"], "--turn-urls and --turn-secret go together"),
    (["--turn-secret", "s"], "--turn-urls and --turn-secret go together"),
    (["--turn-urls", "stun:127.0.0.1", "--turn-secret", "s"],
     '--turn-urls: "stun:127.0.0.1" is not turn:HOST[:PORT] or turns:HOST[:PORT]'),
    (["--stun-urls", "stun:a b"], '--stun-urls: "stun:a b" holds a space'),
])
def test_bad_ice_server_flags_stop_the_server(ringcast_bin, args, message):
    r = run_binary(ringcast_bin, [*args, "--print-config"])
    assert r.returncode == 2 and message in r.stderr, (r.returncode, r.stderr)
