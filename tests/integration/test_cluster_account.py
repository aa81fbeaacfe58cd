"""Profiles and account control across two nodes (docs/cluster.md, "What crosses nodes"): a
profile change made through node 1 reaches a contact's connection on node 2 live (the `profile`
event); a password change through node 1 closes the user's other login's connection on node 2
(1008 "token revoked") and keeps the caller's."""
from __future__ import annotations

import pytest

from chat_client import PASSWORD, aio, connected
from support import run_async, wait_until

pytestmark = [pytest.mark.needs_pg, pytest.mark.needs_redis]


@pytest.mark.timeout(60)
def test_profile_event_and_password_change_cross_nodes(cluster_factory):
    cluster = cluster_factory(2)
    api = cluster.api(0)
    u, friend = api.new_users(2, "xn")
    api.direct(u, friend)
    other = api.login_user(u.name, u.id)

    async def go():
        async with connected((cluster.port(1), friend.token, "friend@n2"),
                             (cluster.port(1), other.token, "u-other@n2"),
                             (cluster.port(0), u.token, "u@n1")) as [friend_conn, doomed, kept]:
            r = await aio(api.request, "PATCH", "/api/me", {"display_name": "Across"},
                          token=u.token)
            assert r.status == 200, r
            ev = await friend_conn.wait_type("profile")
            assert ev["user"]["id"] == u.id and ev["user"]["display_name"] == "Across", ev
            r = await aio(api.request, "POST", "/api/me/password",
                          {"current_password": PASSWORD, "new_password": "a new passphrase"},
                          token=u.token)
            assert r.status == 200, r
            await wait_until(lambda: doomed.closed is not None, 10, doomed.describe)
            assert doomed.closed == (1008, "token revoked"), doomed.describe()
            await kept.ping()
            assert kept.closed is None, kept.describe()

    run_async(go(), 40)
    assert cluster.api(1).request("GET", "/api/me", token=other.token).status == 401
