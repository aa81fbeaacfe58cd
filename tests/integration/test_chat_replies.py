"""Replies and threads (PROTOCOL.md, "Replies and threads"; issue 25): a `send` with `reply_to`
answers an earlier ordinary message of the same conversation, and every read of the reply (live,
sync, history, last_message) carries `reply_to` and a quote of the parent as it is now (a
deleted parent's quote has no body, an edited one's shows the new text); `thread: true` puts the
reply in the thread of the parent's root, whose `reply_count`, `last_reply_seq` and
`last_reply_at` the store keeps; the `thread` request pages a thread's replies."""

from __future__ import annotations

import pytest

from chat_client import FAST_ARGS, by_seq, connected, send_with
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


def test_a_reply_carries_its_parent_live_in_sync_history_and_last_message(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("rp")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            parent = await wa.send(conv, "the question, " + "x" * 300)
            start = wb.mark()
            reply = await send_with(wb, conv, "the answer", "r1", reply_to=parent["seq"])
            assert reply["type"] == "ack", reply
            live = await wa.wait_message(conv, lambda m: m["seq"] == reply["seq"], start=0)
            own = await wb.wait_message(conv, lambda m: m["seq"] == reply["seq"], start=start)
            paged = await wa.call({"type": "history", "conv": conv}, "history")
        # A new device: sync leaves out only what its own connection received live.
        async with connected((port, a.token, "a2")) as [wc]:
            synced = await wc.call({"type": "sync", "convs": {str(conv): 0}}, "sync")
        return parent, reply, live, own, synced, paged

    parent, reply, live, own, synced, paged = run_async(go(), 60)
    quote = {"from": a.id, "body": ("the question, " + "x" * 300)[:100]}
    assert live["reply_to"] == parent["seq"] and live["quote"] == quote, live
    assert own["quote"] == quote, own
    assert "thread_root" not in live, live  # Not a thread reply.
    [sconv] = synced["convs"]
    assert by_seq(sconv["messages"])[reply["seq"]]["quote"] == quote, sconv
    assert by_seq(paged["messages"])[reply["seq"]]["quote"] == quote, paged
    http = by_seq(api.messages(a, conv).json["messages"])[reply["seq"]]
    assert (http["reply_to"], http["quote"]) == (parent["seq"], quote), http
    assert "reply_to" not in by_seq(api.messages(a, conv).json["messages"])[parent["seq"]]
    [summary] = [c for c in api.conversations(a) if c["id"] == conv]
    assert summary["last_message"]["quote"] == quote, summary


def test_a_reply_to_no_ordinary_message_of_the_conversation_is_refused(shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "rpx")
    conv = api.direct(a, b)
    other = api.direct(a, c)

    async def go():
        async with connected((port, a.token, "a")) as [wa]:
            first = await wa.send(conv, "one")
            elsewhere = await wa.send(other, "only in the other conversation")
            await wa.send(other, "two")  # The other conversation now has seq 1 and 2.
            edit = await send_with(wa, conv, "", "e1", type="edit", seq=first["seq"])
            assert edit["type"] == "ack", edit
            missing = await send_with(wa, conv, "x", "r1", reply_to=99)
            to_change = await send_with(wa, conv, "x", "r2", reply_to=edit["seq"])
            across = await send_with(wa, conv, "x", "r3", reply_to=elsewhere["seq"] + 2)
            bad = await send_with(wa, conv, "x", "r4", reply_to="1")
            lone_thread = await send_with(wa, conv, "x", "r5", thread=True)
            ok = await send_with(wa, conv, "fine", "r6", reply_to=first["seq"])
            return missing, to_change, across, bad, lone_thread, ok, edit

    missing, to_change, across, bad, lone_thread, ok, edit = run_async(go(), 60)
    for refused in (missing, to_change, across):
        assert refused["type"] == "error" and refused["code"] == "not_found", refused
    assert bad["code"] == "bad_request" and "reply_to" in bad["message"], bad
    assert lone_thread["code"] == "bad_request" and "reply_to" in lone_thread["message"], lone_thread
    assert ok["type"] == "ack" and ok["seq"] == edit["seq"] + 1, ok  # Refusals took no seq.


def test_the_quote_shows_the_parent_as_it_is_now(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("rpq")

    async def go():
        async with connected((port, a.token, "a")) as [wa]:
            edited = await wa.send(conv, "first words")
            deleted = await wa.send(conv, "a hidden text that must go")
            r1 = await send_with(wa, conv, "on the first", "r1", reply_to=edited["seq"])
            r2 = await send_with(wa, conv, "on the second", "r2", reply_to=deleted["seq"])
            assert (await send_with(wa, conv, "better words", "e1", type="edit",
                               seq=edited["seq"]))["type"] == "ack"
            assert (await send_with(wa, conv, "", "d1", type="delete",
                               seq=deleted["seq"]))["type"] == "ack"
            paged = await wa.call({"type": "history", "conv": conv}, "history")
            return r1, r2, paged

    r1, r2, paged = run_async(go(), 60)
    for messages in (paged["messages"], api.messages(b, conv).json["messages"]):
        seen = by_seq(messages)
        assert seen[r1["seq"]]["quote"] == {"from": a.id, "body": "better words"}, seen[r1["seq"]]
        assert seen[r2["seq"]]["quote"] == {"from": a.id, "deleted": True}, seen[r2["seq"]]
        assert "hidden" not in str(seen[r2["seq"]]), seen[r2["seq"]]
    synced = api.all_messages(b, conv)
    assert "hidden" not in str(synced), synced


def test_thread_replies_count_on_the_root_and_page_newest_first(shared_server, api):
    port = shared_server.port
    a, b = api.new_users(2, "th")
    conv = api.group(a, [b.id])

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            root = await wa.send(conv, "the root")
            replies = []
            for i in range(5):
                who = wb if i % 2 else wa
                # Replying to a thread reply joins the same thread (its root's).
                parent = replies[-1]["seq"] if replies else root["seq"]
                ack = await send_with(who, conv, f"reply {i}", f"t{i}", reply_to=parent,
                                      thread=True)
                assert ack["type"] == "ack", ack
                replies.append(ack)
            plain = await send_with(wa, conv, "not in the thread", "p1", reply_to=root["seq"])
            live = await wb.wait_message(conv, lambda m: m["seq"] == replies[0]["seq"])
            first = await wa.call({"type": "thread", "conv": conv, "root": root["seq"],
                                   "limit": 3}, "thread")
            second = await wa.call({"type": "thread", "conv": conv, "root": root["seq"],
                                    "limit": 3, "before": first["messages"][-1]["seq"]},
                                   "thread")
            not_root = await wa.call({"type": "thread", "conv": conv,
                                      "root": replies[0]["seq"]}, "thread")
            return root, replies, plain, live, first, second, not_root

    root, replies, plain, live, first, second, not_root = run_async(go(), 60)
    assert live["thread_root"] == root["seq"] and live["reply_to"] == root["seq"], live
    seqs = [r["seq"] for r in replies]
    assert [m["seq"] for m in first["messages"]] == seqs[::-1][:3] and first["more"], first
    assert [m["seq"] for m in second["messages"]] == seqs[::-1][3:], second
    assert not second["more"], second
    assert all(m["thread_root"] == root["seq"] for m in first["messages"] + second["messages"])
    assert plain["seq"] not in seqs
    assert not_root["type"] == "error" and not_root["code"] == "not_found", not_root

    stored = by_seq(api.messages(b, conv).json["messages"])[root["seq"]]
    assert stored["reply_count"] == 5, stored
    assert stored["last_reply_seq"] == seqs[-1] and stored["last_reply_at"] == replies[-1]["ts"]
    assert "reply_count" not in by_seq(api.messages(b, conv).json["messages"])[seqs[0]]


def test_thread_unread_follows_each_members_thread_watermark(shared_server, api):
    port = shared_server.port
    a, b = api.new_users(2, "tu")
    conv = api.group(a, [b.id])

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            root = await wa.send(conv, "root")
            r1 = await send_with(wa, conv, "one", "u1", reply_to=root["seq"], thread=True)
            r2 = await send_with(wa, conv, "two", "u2", reply_to=root["seq"], thread=True)
            ask = {"type": "thread", "conv": conv, "root": root["seq"]}
            before = await wb.call(ask, "thread")
            own = await wa.call(ask, "thread")
            marked = await wb.call({"type": "thread_read", "conv": conv, "root": root["seq"],
                                    "seq": r1["seq"]}, "thread_read")
            back = await wb.call({"type": "thread_read", "conv": conv, "root": root["seq"],
                                  "seq": 1}, "thread_read")
            after = await wb.call(ask, "thread")
            bad = await wb.call({"type": "thread_read", "conv": conv, "root": r1["seq"],
                                 "seq": r2["seq"]}, "thread_read")
            return r1, r2, before, own, marked, back, after, bad

    r1, r2, before, own, marked, back, after, bad = run_async(go(), 60)
    assert (before["read_seq"], before["unread"]) == (0, 2), before
    assert (own["read_seq"], own["unread"]) == (r2["seq"], 0), own  # Sending reads the thread.
    assert marked["read_seq"] == r1["seq"] and back["read_seq"] == r1["seq"], (marked, back)
    assert (after["read_seq"], after["unread"]) == (r1["seq"], 1), after
    assert bad["type"] == "error" and bad["code"] == "not_found", bad


def test_a_thread_reads_over_http_as_over_the_websocket(shared_server, api):
    """GET /api/conversations/{id}/threads/{root}: the `thread` answer's fields and pages, the
    caller's own watermark, and the request's and the store's refusals."""
    port = shared_server.port
    a, b, outsider = api.new_users(3, "th")
    conv = api.group(a, [b.id])

    async def go():
        async with connected((port, a.token, "a")) as [wa]:
            root = await wa.send(conv, "root")
            replies = [await send_with(wa, conv, f"r{i}", f"h{i}", reply_to=root["seq"],
                                       thread=True)
                       for i in range(3)]
            plain = await wa.send(conv, "plain")
            ws = await wa.call({"type": "thread", "conv": conv, "root": root["seq"]}, "thread")
            return root, replies, plain, ws

    root, replies, plain, ws = run_async(go(), 60)
    path = f"/api/conversations/{conv}/threads/{root['seq']}"
    seqs = [r["seq"] for r in replies][::-1]
    whole = api.ok("GET", path, token=b.token)
    assert [m["seq"] for m in whole["messages"]] == seqs and not whole["more"], whole
    assert (whole["root"], whole["read_seq"], whole["unread"]) == (root["seq"], 0, 3), whole
    assert whole["messages"] == ws["messages"], (whole, ws)
    own = api.ok("GET", path, token=a.token)  # Sending reads the thread for its sender.
    assert (own["read_seq"], own["unread"]) == (seqs[0], 0), own
    first = api.ok("GET", f"{path}?limit=2", token=b.token)
    assert [m["seq"] for m in first["messages"]] == seqs[:2] and first["more"], first
    rest = api.ok("GET", f"{path}?limit=2&before={seqs[1]}", token=b.token)
    assert [m["seq"] for m in rest["messages"]] == seqs[2:] and not rest["more"], rest

    def refused(status: int, url: str, user, words: str, method: str = "GET"):
        r = api.request(method, url, token=user.token)
        assert r.status == status and words in r.json["error"], (url, r)

    refused(403, path, outsider, "not a member")
    # Any ordinary message outside a thread is a root, with no replies yet.
    empty = api.ok("GET", f"/api/conversations/{conv}/threads/{plain['seq']}", token=b.token)
    assert (empty["messages"], empty["unread"], empty["more"]) == ([], 0, False), empty
    refused(404, f"/api/conversations/{conv}/threads/{replies[0]['seq']}", b, "thread root")
    refused(404, f"/api/conversations/{conv + 1000000}/threads/1", b, "no such conversation")
    refused(400, f"/api/conversations/{conv}/threads/x", b, "thread root must be")
    refused(400, f"{path}?limit=0", b, "limit must be 1 to 200")
    refused(400, f"{path}?before=-1", b, "before must be")
    refused(405, path, b, "method not allowed", method="POST")
    assert api.request("GET", path).status == 401
