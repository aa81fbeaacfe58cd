"""Message search (PROTOCOL.md, "Search"; issue 25): GET /api/search finds the messages of the
caller's conversations that hold every word, ranked then newest first, with highlighted snippets
as segments, a page at a time by an opaque cursor, filtered by conversation, author and date.
Never another conversation's messages; an edited message by its new body only; a deleted one
never; FTS syntax in the query is text."""

from __future__ import annotations

import urllib.parse

import pytest

from chat_client import Api, ChatConn, acked, change, chat_args, close_all, connected
from prometheus import scrape, value
from support import run_async, wait_until

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

# New messages join the SQLite index in the transaction of their send, so that a search right
# after an ack finds them; the default, in bulk every 200 ms, has a test of its own (the last).
SERVER_ARGS = chat_args(search_index_interval_ms=0)


def search(api: Api, user, q: str, **params):
    query = urllib.parse.urlencode({"q": q, **params})
    return api.request("GET", f"/api/search?{query}", token=user.token)


def found(api: Api, user, q: str, **params) -> dict:
    r = search(api, user, q, **params)
    assert r.status == 200, r
    return r.json


def seqs(answer: dict) -> list[int]:
    return [hit["seq"] for hit in answer["results"]]


async def kept_edited_deleted(conn: ChatConn, conv: int, word: str, cid: str):
    """Three messages with `word`: "kept WORD", "first draft WORD" edited to "final WORD", and
    "doomed WORD" deleted (the changes' cids CID1 and CID2, each acked). The acks of the first
    two (kept, edited)."""
    kept = await conn.send(conv, f"kept {word}")
    edited = await conn.send(conv, f"first draft {word}")
    doomed = await conn.send(conv, f"doomed {word}")
    acked(await change(conn, "edit", conv, edited["seq"], f"{cid}1", body=f"final {word}"))
    acked(await change(conn, "delete", conv, doomed["seq"], f"{cid}2"))
    return kept, edited


def send_all(port: int, user, conv: int, bodies: list[str]) -> list[dict]:
    async def go():
        conn = await ChatConn.connect(port, user.token, name=user.name)
        try:
            return [await conn.send(conv, body) for body in bodies]
        finally:
            await close_all([conn])

    return run_async(go(), 60)


def test_finds_by_word_with_snippet_segments(shared_server, api):
    a, b, conv = api.direct_pair("sw")
    acks = send_all(shared_server.port, a, conv, [
        "the quick brown fox jumps", "nothing to see here", "A FOX in <b>caps</b> & more"])
    answer = found(api, b, "fox")
    assert sorted(seqs(answer)) == sorted([acks[0]["seq"], acks[2]["seq"]]), answer
    assert answer["next_cursor"] is None, answer
    hit = next(h for h in answer["results"] if h["seq"] == acks[2]["seq"])
    assert (hit["conv"], hit["from"], hit["kind"], hit["ts"]) == (
        conv, a.id, "text", acks[2]["ts"]), hit
    assert hit["id"] == acks[2]["id"], hit
    # Segments rebuild the text; the matched word alone is marked, whatever its case; markup in
    # the body is plain text.
    assert "".join(s["text"] for s in hit["snippet"]) == "A FOX in <b>caps</b> & more", hit
    assert [s["text"] for s in hit["snippet"] if s["match"]] == ["FOX"], hit
    # Every word must be there (AND); case does not matter.
    assert seqs(found(api, b, "QUICK Fox")) == [acks[0]["seq"]]
    assert seqs(found(api, b, "quick caps")) == []


def test_private_use_characters_are_text_and_forge_no_match(shared_server, api):
    """Issue 44 item 11: the highlight was marked in the text by U+E000/U+E001, which a body may
    hold, so a sender could make any words come back as a match, and those characters vanished.
    Matches are positions now: the body's characters come back as they are."""
    a, b, conv = api.direct_pair("pu")
    forged = "the needle: look \ue000forged\ue001 here, and \ue001stray\ue000 marks"
    acks = send_all(shared_server.port, a, conv, [forged])
    answer = found(api, b, "needle")
    assert seqs(answer) == [acks[0]["seq"]], answer
    snippet = answer["results"][0]["snippet"]
    assert "".join(s["text"] for s in snippet) == forged, snippet
    assert [s["text"] for s in snippet if s["match"]] == ["needle"], snippet
    # Another real match in the same body is the only segment marked.
    other = found(api, b, "look")
    assert [s["text"] for s in other["results"][0]["snippet"] if s["match"]] == ["look"], other


def test_ranked_then_newest(shared_server, api):
    a, b, conv = api.direct_pair("sr")
    acks = send_all(shared_server.port, a, conv, [
        "llama in a long sentence with many other words around it here",
        "llama llama llama",
        "llama in a long sentence with many other words around it here",
    ])
    order = seqs(found(api, a, "llama"))
    # The message that is all llama ranks first; the two equal ones follow, newest first.
    assert order == [acks[1]["seq"], acks[2]["seq"], acks[0]["seq"]], order


def test_pages_by_cursor(shared_server, api):
    a, b, conv = api.direct_pair("sp")
    acks = send_all(shared_server.port, a, conv, [f"page word {i}" for i in range(7)])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        answer = found(api, a, "page", **params)
        pages += 1
        assert len(answer["results"]) <= 3, answer
        seen += seqs(answer)
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == sorted(ack["seq"] for ack in acks), (pages, seen)
    assert len(set(seen)) == 7, seen
    assert seen == seqs(found(api, a, "page", limit=50)), seen  # The same order as one page.
    for bad in ("x", "0123456789abcdef.0", "zz23456789abcdef.5", "0123456789abcdef"):
        r = search(api, a, "page", cursor=bad)
        assert r.status == 400 and "cursor" in r.json["error"], r


def test_filters_by_conversation_author_and_date(shared_server, api):
    a, b, c = api.new_users(3, "sf")
    ab, group = api.direct(a, b), api.group(a, [b, c], "search filters")
    first = send_all(shared_server.port, a, ab, ["filter alpha"])[0]
    second = send_all(shared_server.port, b, group, ["filter beta"])[0]
    third = send_all(shared_server.port, c, group, ["filter gamma"])[0]
    everything = {(h["conv"], h["seq"]) for h in found(api, b, "filter")["results"]}
    assert everything == {(ab, first["seq"]), (group, second["seq"]), (group, third["seq"])}
    assert seqs(found(api, b, "filter", conv=group)) == [third["seq"], second["seq"]]
    assert [h["from"] for h in found(api, b, "filter", **{"from": c.id})["results"]] == [c.id]
    # Dates: ms since the epoch, both bounds exclusive.
    assert seqs(found(api, b, "filter", after=second["ts"], conv=group)) == (
        [third["seq"]] if third["ts"] > second["ts"] else [])
    assert seqs(found(api, b, "filter", before=first["ts"])) == []
    assert {h["seq"] for h in found(api, b, "filter", before=first["ts"] + 1)["results"]} == {
        first["seq"]}
    assert found(api, b, "filter", after=third["ts"])["results"] == []
    for params, word in (({"conv": "x"}, "conv"), ({"from": "0"}, "from"),
                         ({"before": "-1"}, "before"), ({"limit": "51"}, "limit"),
                         ({"limit": "0"}, "limit")):
        r = search(api, b, "filter", **params)
        assert r.status == 400 and word in r.json["error"], (params, r)


def test_never_another_conversations_messages(shared_server, api):
    a, b, c = api.new_users(3, "sn")
    ab, ac = api.direct(a, b), api.direct(a, c)
    send_all(shared_server.port, a, ab, ["secret zebra for b"])
    send_all(shared_server.port, a, ac, ["secret zebra for c"])
    assert [h["conv"] for h in found(api, b, "zebra")["results"]] == [ab]
    assert [h["conv"] for h in found(api, c, "zebra")["results"]] == [ac]
    # Naming someone else's conversation finds nothing rather than its messages.
    assert found(api, b, "zebra", conv=ac)["results"] == []
    outsider = api.new_user("so")
    assert found(api, outsider, "zebra")["results"] == []
    assert found(api, outsider, "zebra", conv=ab)["results"] == []
    # Leaving a group ends access to its messages in search.
    group = api.group(a, [b, c], "leavers")
    send_all(shared_server.port, a, group, ["zebra crossing"])
    assert {h["conv"] for h in found(api, c, "zebra")["results"]} == {ac, group}
    assert api.remove_member(c, group, c).status in (200, 204)
    assert {h["conv"] for h in found(api, c, "zebra")["results"]} == {ac}


def test_edit_reindexes_and_delete_removes(shared_server, api):
    a, b, conv = api.direct_pair("se")

    async def go():
        async with connected((shared_server.port, a.token, "a")) as [conn]:
            edited = await conn.send(conv, "original platypus wording")
            deleted = await conn.send(conv, "doomed platypus wording")
            acked(await change(conn, "edit", conv, edited["seq"], "se1", body="revised wombat"))
            acked(await change(conn, "delete", conv, deleted["seq"], "se2"))
            return edited

    edited = run_async(go(), 60)
    assert found(api, b, "platypus")["results"] == []  # Neither the old body nor the deleted one.
    assert found(api, b, "doomed")["results"] == []
    assert found(api, b, "original")["results"] == []
    [hit] = found(api, b, "wombat")["results"]
    assert hit["seq"] == edited["seq"] and hit["edited_at"] > 0, hit
    # The change rows themselves (the edit's own body) are not results.
    assert all(h["kind"] == "text" for h in found(api, b, "revised")["results"])
    assert len(found(api, b, "revised")["results"]) == 1


def test_fts_syntax_is_text(shared_server, api):
    a, b, conv = api.direct_pair("sx")
    acks = send_all(shared_server.port, a, conv, [
        'say "NEAR" now', "minus-sign here", "star* power", "column:value pair"])
    hits = lambda q: seqs(found(api, a, q))  # noqa: E731
    assert hits('"near') == [acks[0]["seq"]]
    assert hits("NEAR(say now)") == [acks[0]["seq"]]
    assert hits("minus -sign") == [acks[1]["seq"]]
    assert hits("star*") == [acks[2]["seq"]]
    assert hits("column:value") == [acks[3]["seq"]]
    assert hits("say OR star") == []  # OR is a word like any other: no message holds all three.
    assert hits("body:say AND) (") == []
    # Words the index does not keep (emoji, punctuation outside ASCII): answered, not an error,
    # and they match nothing (on PostgreSQL such a query is empty: ANDed with the conversation's
    # own lexeme it would have matched every message of it).
    for q in ("\U0001F600", "\u2014"):
        r = search(api, a, q)
        assert r.status == 200 and r.json["results"] == [], (q, r)
    assert search(api, a, "say \u2014").status == 200
    for q in ("*", '"', "-", "   ", "()", "^"):
        r = search(api, a, q)
        assert r.status == 400 and "words" in r.json["error"], (q, r)


def test_bad_queries(shared_server, api):
    a = api.new_user("sb")
    assert api.request("GET", "/api/search?q=x").status == 401
    assert search(api, a, "").status == 400
    r = api.request("GET", "/api/search", token=a.token)
    assert r.status == 400 and "q" in r.json["error"], r
    r = search(api, a, "x" * 257)
    assert r.status == 400 and "256" in r.json["error"], r
    assert search(api, a, "y" * 256).status == 200
    r = search(api, a, " ".join(f"w{i}" for i in range(17)))
    assert r.status == 400 and "16" in r.json["error"], r
    r = api.request("GET", "/api/search?q=%FF%FE", token=a.token)
    assert r.status == 400 and "UTF-8" in r.json["error"], r
    assert api.request("POST", "/api/search?q=x", token=a.token).status == 405


@pytest.mark.server_args(*chat_args(search_index_interval_ms=400))
def test_new_messages_are_indexed_in_bulk_within_the_interval(server):
    """SQLite indexes new messages every --search-index-interval-ms (PostgreSQL at once), and a
    search waits for what was committed before it: each is found; an edit or a deletion that
    comes before the message was indexed is what gets indexed (the new body; nothing)."""
    api = Api(server.port)
    a, b, conv = api.direct_pair("sb")

    async def go():
        async with connected((server.port, a.token, "a")) as [conn]:
            kept, edited = await kept_edited_deleted(conn, conv, "quokka", "sb")
            await wait_until(lambda: len(found(api, b, "quokka")["results"]) == 2, 5,
                             lambda: found(api, b, "quokka"))
            return kept, edited

    kept, edited = run_async(go(), 30)
    assert sorted(seqs(found(api, b, "quokka"))) == [kept["seq"], edited["seq"]]
    assert seqs(found(api, b, "final")) == [edited["seq"]]
    assert found(api, b, "draft")["results"] == [] and found(api, b, "doomed")["results"] == []
    # Once indexed, an edit and a deletion are found as they are now at once, as before.
    async def change_again():
        async with connected((server.port, a.token, "a")) as [conn]:
            acked(await change(conn, "edit", conv, edited["seq"], "sb3", body="later wallaby"))
            acked(await change(conn, "delete", conv, kept["seq"], "sb4"))

    run_async(change_again(), 30)
    assert seqs(found(api, b, "wallaby")) == [edited["seq"]]
    assert found(api, b, "quokka")["results"] == []


@pytest.mark.sqlite_only("search.db and its index thread are the SQLite store's")
@pytest.mark.server_args(*chat_args(search_index_interval_ms=60000))
def test_a_search_finds_what_was_acked_before_it(server):
    """With no pass due for a minute, only the search itself can have the index catch up: a
    message, an edit and a deletion acked just before a search are what it finds, and it counts
    as a search that waited (not a stale one)."""
    api = Api(server.port)
    a, b, conv = api.direct_pair("sf")

    async def go():
        async with connected((server.port, a.token, "a")) as [conn]:
            first = await conn.send(conv, "fresh numbat")
            assert seqs(found(api, b, "numbat")) == [first["seq"]]
            other = await conn.send(conv, "draft numbat")
            acked(await change(conn, "edit", conv, other["seq"], "sf1", body="final bilby"))
            assert seqs(found(api, b, "bilby")) == [other["seq"]]
            assert seqs(found(api, b, "numbat")) == [first["seq"]]
            acked(await change(conn, "delete", conv, first["seq"], "sf2"))
            assert found(api, b, "numbat")["results"] == []

    run_async(go(), 30)
    families, _ = scrape(server.port)
    assert value(families, "ringcast_store_search_stale") == 0
    assert value(families, "ringcast_store_search_waits") >= 3


@pytest.mark.sqlite_only("search.db is the SQLite store's")
def test_search_db_is_rebuilt_from_the_chat_database(server_factory):
    """search.db is derived: deleted while the server is stopped, it is built again from chat.db
    at the next start, and the messages are found as before (an edited one by its new body, a
    deleted one not at all)."""
    srv = server_factory(*SERVER_ARGS)
    api = Api(srv.port)
    a, b, conv = api.direct_pair("sr")

    async def go():
        async with connected((srv.port, a.token, "a")) as [conn]:
            return await kept_edited_deleted(conn, conv, "wombat", "sr")

    kept, edited = run_async(go(), 30)
    assert sorted(seqs(found(api, b, "wombat"))) == [kept["seq"], edited["seq"]]
    srv.stop()
    index = srv.data_dir / "search.db"
    assert index.exists()
    for path in srv.data_dir.glob("search.db*"):
        path.unlink()
    srv.start()
    assert sorted(seqs(found(api, b, "wombat"))) == [kept["seq"], edited["seq"]]
    assert found(api, b, "draft")["results"] == [] and found(api, b, "doomed")["results"] == []
    assert index.exists()
