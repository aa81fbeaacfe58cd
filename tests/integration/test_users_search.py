"""User search, GET /api/users?q=PREFIX[&limit=N] (PROTOCOL.md, "HTTP API"): prefix matches
ignoring case, ordered by the lowercased username, names as registered; the limit (default 20,
at most 50); q 1 to 64 bytes of UTF-8 without control characters; a token required. Lookup by
id, GET /api/users?ids=1,2,3: the known ones ordered by id, at most 100 positive ids. Both
answer profiles (display names: test_chat_profiles.py)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chat_client import Api, chat_args

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = chat_args()


def stem() -> str:
    """A prefix no other test's usernames share (usernames outlive a test on a shared server)."""
    return "s" + uuid.uuid4().hex[:9]


def register_all(api: Api, names) -> dict[str, int]:
    def one(name):
        r = api.register(name)
        assert r.status == 201, (name, r)
        return name, r.json["user_id"]
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, names))


def prof(uid: int, name: str) -> dict:
    """A user without a profile as every listing shows them."""
    return {"id": uid, "username": name, "display_name": None, "avatar": None,
            "avatar_thumb": None, "status": None}


def search(api: Api, token: str, query: str):
    return api.request("GET", "/api/users?" + query, token=token)


def test_prefix_search_ignores_case_and_orders_by_name(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("searcher")
    s = stem()
    ids = register_all(api, [f"{s}AL.b", f"{s}al_x", f"{s}Alfred", f"{s}alice", f"{s}alz",
                             f"{s}al", f"{s}bob"])
    # Byte order of the lowercased names: '.' < '_' < letters; shorter first.
    expected = [prof(ids[n], n)
                for n in (f"{s}al", f"{s}AL.b", f"{s}al_x", f"{s}Alfred", f"{s}alice", f"{s}alz")]
    for q in (f"{s}al", f"{s.upper()}AL", f"{s}aL"):
        r = search(api, me.token, f"q={q}")
        assert r.status == 200 and r.header("Content-Type") == "application/json", r
        assert r.json == {"users": expected}, (q, r)
    assert search(api, me.token, f"q={s}al_").json["users"] == [expected[2]]  # '_' is literal.
    assert search(api, me.token, f"q={s}al.").json["users"] == [expected[1]]
    assert search(api, me.token, f"q={s}ALFRED").json["users"] == [expected[3]]
    assert search(api, me.token, f"q={s}b").json["users"] == [prof(ids[f"{s}bob"], f"{s}bob")]
    assert search(api, me.token, f"q={s}alfreda").json == {"users": []}
    # Escaped letters are decoded (an encoder may escape anything).
    assert search(api, me.token, f"q=%{ord(s[0]):02X}{s[1:]}al&limit=1").json["users"] == \
        expected[:1]


def test_limit_defaults_to_20_and_is_at_most_50(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("limiter")
    s = stem()
    names = sorted(f"{s}u{i:02d}" for i in range(22))
    ids = register_all(api, names)
    r = search(api, me.token, f"q={s}")
    assert [u["username"] for u in r.json["users"]] == names[:20], r
    assert [u["id"] for u in r.json["users"]] == [ids[n] for n in names[:20]]
    assert len(search(api, me.token, f"q={s}&limit=50").json["users"]) == 22
    assert [u["username"] for u in search(api, me.token, f"limit=3&q={s}").json["users"]] == \
        names[:3]
    for limit in ("0", "51", "-1", "abc", "", "3.5", "1e1"):
        r = search(api, me.token, f"q={s}&limit={limit}")
        assert r.status == 400 and r.json["error"] == "limit must be 1 to 50", (limit, r)


def test_q_must_be_text_of_at_most_64_bytes(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("checker")
    r = search(api, me.token, "")
    assert r.status == 400 and "missing q" in r.json["error"], r
    for q in ("", "a%", "a%2", "x" * 65, "a%00", "a%1F", "%FF", "%C3"):
        r = search(api, me.token, f"q={q}")
        assert r.status == 400, (q, r)
        assert r.json["error"] == \
            "q must be 1 to 64 bytes of UTF-8 text, no control characters", (q, r)
    # Outside the username alphabet: no username matches, and no word holds a separator.
    for q in ("a%20b", "a+b", "%C3%BC" + uuid.uuid4().hex, "a*", "x" * 64):
        assert search(api, me.token, f"q={q}").json == {"users": []}, q


def test_lookup_by_ids_answers_the_known_ones_ordered_by_id(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("namer")
    s = stem()
    ids = register_all(api, [f"{s}Zed", f"{s}amy", f"{s}Bo"])
    by_id = sorted((i, n) for n, i in ids.items())
    expected = [prof(i, n) for i, n in by_id]
    unknown = max(ids.values()) + 1_000_000
    asked = ",".join(str(i) for i in [by_id[2][0], unknown, by_id[0][0], by_id[1][0],
                                       by_id[0][0]])
    r = search(api, me.token, f"ids={asked}")
    assert r.status == 200 and r.header("Content-Type") == "application/json", r
    assert r.json == {"users": expected}, r
    assert search(api, me.token, f"ids={me.id}").json == {"users": [prof(me.id, me.name)]}
    assert search(api, me.token, f"ids={unknown}").json == {"users": []}
    # Escaped commas (URLSearchParams escapes them).
    assert search(api, me.token, f"ids={by_id[1][0]}%2C{by_id[0][0]}").json == \
        {"users": expected[:2]}
    assert search(api, me.token, "ids=" + ",".join([str(me.id)] * 100)).status == 200


def test_lookup_ids_must_be_1_to_100_positive_integers(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("idcheck")
    for ids in ("", "0", "-1", "1,", ",1", "1,,2", "a", "1.5", "1%202", "1%2C", "+1", "%",
                "9223372036854775808", ",".join(["1"] * 101)):
        r = search(api, me.token, f"ids={ids}")
        assert r.status == 400, (ids, r)
        assert r.json["error"] == "ids must be 1 to 100 positive integers, comma-separated", \
            (ids, r)
    r = search(api, me.token, f"ids={me.id}&q=a")  # One or the other.
    assert r.status == 400, r
    for token in (None, "not-a-token"):
        assert search(api, token, f"ids={me.id}").status == 401


def test_search_needs_a_valid_token_and_get(shared_server):
    api = Api(shared_server.port)
    me = api.new_user("guard")
    for token in (None, "not-a-token", me.token + "x"):
        r = search(api, token, "q=a")
        assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer", r
    r = api.request("POST", "/api/users?q=a", {}, token=me.token)
    assert r.status == 405 and r.header("Allow") == "GET", r
    assert api.request("GET", "/api/users/1", token=me.token).status == 404
    assert api.logout(me.token).status == 200
    assert search(api, me.token, "q=a").status == 401  # Revoked.
