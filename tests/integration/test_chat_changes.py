"""Changes to messages (PROTOCOL.md, "Changes to messages"; issue 25): `edit` and `delete` over
/ws are entries of the conversation's own seq stream (kind "edit"/"delete", `target` the seq
changed), acked by cid and delivered live and in sync like any message; history, sync and
`last_message` show the changed message in its current state (edited body with `edited_at`, a
deletion as a tombstone without body, files or mentions); only the author changes a message,
edits within --edit-window; unread counts only ordinary messages; a deleted message's files,
mentions and edit bodies are gone."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import pytest

from chat_client import FAST_ARGS, Api, ChatConn, by_seq, change, chat_args, close_all, connected
from support import run_async, wait_until
from test_uploads import download, stored_files, upload_raw

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


def test_edit_reaches_members_live_and_reads_show_the_current_state(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("ed")

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            sent = await wa.send(conv, "helo")
            start = wb.mark()
            ack = await change(wa, "edit", conv, sent["seq"], "e1", body=f"hello @{b.name}")
            assert ack["type"] == "ack" and ack["seq"] == sent["seq"] + 1, ack
            live = await wb.wait_message(conv, lambda m: m["seq"] == ack["seq"], start=start)
            mention = await wb.wait_type("mention", start=start)
            # The same cid again: the original ack, nothing stored twice.
            again = await change(wa, "edit", conv, sent["seq"], "e1", body="other")
            return sent, ack, live, mention, again

    sent, ack, live, mention, again = run_async(go(), 60)
    assert (live["kind"], live["target"], live["body"], live["from"]) == (
        "edit", sent["seq"], f"hello @{b.name}", a.id), live
    assert live["mentions"] == [b.id], live  # Named for the first time: notified.
    assert mention["message"]["seq"] == ack["seq"], mention
    assert again["type"] == "ack" and again["seq"] == ack["seq"], again

    history = by_seq(api.messages(b, conv).json["messages"])
    edited = history[sent["seq"]]
    assert edited["body"] == f"hello @{b.name}" and edited["edited_at"] == ack["ts"], edited
    assert edited["mentions"] == [b.id] and "target" not in edited, edited
    assert history[ack["seq"]]["kind"] == "edit", history  # Change entries are in history too.
    [summary] = [c for c in api.conversations(b) if c["id"] == conv]
    assert summary["last_message"]["seq"] == sent["seq"], summary  # The newest ordinary one.
    assert summary["last_message"]["body"] == f"hello @{b.name}", summary
    assert summary["last_seq"] == ack["seq"] and summary["unread"] == 1, summary
    assert summary["unread_mentions"] == 1, summary


def test_delete_leaves_a_tombstone_and_takes_body_files_and_mentions(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("del")
    status, _, body = upload_raw(port, a.token, b"secret bytes", 12, name="s.txt")
    assert status == 201
    upload = json.loads(body)

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            start = wa.mark()
            await wa.send_json({"type": "send", "conv": conv, "cid": "s1", "body": "secret",
                                "mentions": [b.id], "attachments": [upload["id"]]})
            sent = await wa.wait_type("ack", start=start, cid="s1")
            edit = await change(wa, "edit", conv, sent["seq"], "e1", body="secret, edited")
            assert edit["type"] == "ack", edit
            assert download(port, upload["url"], b.token)[0] == 200  # A member reads it.
            start = wb.mark()
            gone = await change(wa, "delete", conv, sent["seq"], "d1")
            live = await wb.wait_message(conv, lambda m: m["kind"] == "delete", start=start)
            twice = await change(wa, "delete", conv, sent["seq"], "d2")
            edit_after = await change(wa, "edit", conv, sent["seq"], "e2", body="back")
            return sent, edit, gone, live, twice, edit_after

    sent, edit, gone, live, twice, edit_after = run_async(go(), 60)
    assert gone["type"] == "ack", gone
    assert (live["target"], live["body"], live["from"]) == (sent["seq"], "", a.id), live
    assert (twice["code"], edit_after["code"]) == ("gone", "gone"), (twice, edit_after)

    for reader in (a, b):
        history = by_seq(api.messages(reader, conv).json["messages"])
        tomb = history[sent["seq"]]
        assert tomb["deleted"] is True and tomb["deleted_by"] == a.id, tomb
        assert tomb["deleted_at"] == gone["ts"], tomb
        assert not {"body", "attachments", "mentions", "edited_at"} & set(tomb), tomb
        assert history[edit["seq"]]["body"] == "", history  # The edit's words went too.
    [summary] = [c for c in api.conversations(b) if c["id"] == conv]
    assert summary["last_message"]["deleted"] is True, summary
    assert summary["unread_mentions"] == 0 and summary["unread"] == 1, summary
    assert all(m["conv"] != conv for m in api.ok("GET", "/api/mentions",
                                                 token=b.token)["mentions"])
    # The file went with its only message: the member's access, the record, the quota.
    assert download(port, upload["url"], b.token)[0] == 404
    assert api.request("GET", "/api/uploads/" + upload["id"], token=a.token).status == 404


def test_who_may_change_what(shared_server, api):
    port = shared_server.port
    a, b, outsider = api.new_users(3, "who")
    conv = api.group(a, [b])

    async def go():
        wa, wb, wo = [await ChatConn.connect(port, u.token, name=u.name) for u in (a, b, outsider)]
        try:
            sent = await wa.send(conv, "mine")
            answers = {
                "other's edit": await change(wb, "edit", conv, sent["seq"], "x1", body="no"),
                "other's delete": await change(wb, "delete", conv, sent["seq"], "x2"),
                "outsider": await change(wo, "delete", conv, sent["seq"], "x3"),
                "no such seq": await change(wa, "edit", conv, 999, "x4", body="no"),
                "seq 0": await change(wa, "delete", conv, 0, "x5"),
            }
            edit = await change(wa, "edit", conv, sent["seq"], "x6", body="yes")
            answers["a change's seq"] = await change(wa, "delete", conv, edit["seq"], "x7")
            start = wa.mark()
            await wa.send_json({"type": "edit", "conv": conv, "cid": "x8", "body": "?"})
            answers["no seq"] = await wa.wait_type("error", start=start)
            return answers
        finally:
            await close_all([wa, wb, wo])

    answers = run_async(go(), 60)
    assert answers["other's edit"]["code"] == "forbidden", answers
    assert "author" in answers["other's edit"]["message"], answers
    assert answers["other's delete"]["code"] == "forbidden", answers
    assert answers["outsider"]["code"] == "forbidden", answers
    assert "member" in answers["outsider"]["message"], answers
    assert answers["no such seq"]["code"] == "not_found", answers
    assert answers["seq 0"]["code"] == "bad_request", answers
    assert answers["a change's seq"]["code"] == "not_found", answers
    assert answers["no seq"]["code"] == "bad_request", answers
    assert answers["no seq"]["message"] == 'missing field "seq"', answers
    history = api.messages(a, conv).json["messages"]
    assert [m["kind"] for m in history] == ["edit", "text"], history  # Nothing else stored.


def test_unread_and_sync_count_only_ordinary_messages(shared_server, api):
    port = shared_server.port
    a, b, conv = api.direct_pair("unr")

    async def go():
        async with connected((port, a.token, "a")) as [wa]:
            first = await wa.send(conv, "one")
            await wa.send(conv, "two")
            assert (await change(wa, "edit", conv, first["seq"], "u1", body="1"))["type"] == "ack"
            assert (await change(wa, "delete", conv, first["seq"], "u2"))["type"] == "ack"
        async with connected((port, b.token, "b")) as [wb]:
            return await wb.call({"type": "sync", "convs": {str(conv): 0}}, "sync")

    synced = run_async(go(), 60)
    [entry] = synced["convs"]
    assert entry["last_seq"] == 4 and entry["unread"] == 2, entry
    kinds = [(m["seq"], m["kind"], m.get("target")) for m in entry["messages"]]
    assert kinds == [(1, "text", None), (2, "text", None), (3, "edit", 1), (4, "delete", 1)]
    assert entry["messages"][0]["deleted"] is True, entry
    [summary] = [c for c in api.conversations(b) if c["id"] == conv]
    assert summary["unread"] == 2, summary


def test_edit_window(server_factory):
    srv = server_factory(*chat_args(edit_window=1))
    api = Api(srv.port)
    a, b, conv = api.direct_pair("win")

    async def go():
        async with connected((srv.port, a.token, "a")) as [wa]:
            sent = await wa.send(conv, "quick")
            in_time = await change(wa, "edit", conv, sent["seq"], "w1", body="quick!")
            # Past the window (1 s after the send, on the server's clock): refused; deleting
            # is still allowed.
            late = None
            for attempt in range(40):
                late = await change(wa, "edit", conv, sent["seq"], f"w2-{attempt}", body="late")
                if late["type"] == "error":
                    break
                await asyncio.sleep(0.1)
            removed = await change(wa, "delete", conv, sent["seq"], "w3")
            return in_time, late, removed

    in_time, late, removed = run_async(go(), 60)
    assert in_time["type"] == "ack", in_time
    assert late["code"] == "edit_window", late
    assert removed["type"] == "ack", removed


def test_a_deleted_messages_file_leaves_the_disk(server_factory):
    """The upload sweeper removes the bytes a deletion released (--upload-orphan-ttl 1: a pass a
    second), unless another upload has the same bytes."""
    srv = server_factory(*chat_args(upload_orphan_ttl=1))
    api = Api(srv.port)
    a, b, conv = api.direct_pair("disk")
    alone = json.loads(upload_raw(srv.port, a.token, b"only here", 9)[2])
    shared = json.loads(upload_raw(srv.port, a.token, b"twice here", 10)[2])
    twin = json.loads(upload_raw(srv.port, b.token, b"twice here", 10)[2])

    async def go():
        async with connected((srv.port, a.token, "a"), (srv.port, b.token, "b")) as [wa, wb]:
            start = wa.mark()
            await wa.send_json({"type": "send", "conv": conv, "cid": "f1", "body": "files",
                                "attachments": [alone["id"], shared["id"]]})
            sent = await wa.wait_type("ack", start=start, cid="f1")
            start = wb.mark()
            await wb.send_json({"type": "send", "conv": conv, "cid": "f2", "body": "mine",
                                "attachments": [twin["id"]]})
            await wb.wait_type("ack", start=start, cid="f2")
            assert (await change(wa, "delete", conv, sent["seq"], "f3"))["type"] == "ack"

    run_async(go(), 30)

    def names():
        return {path.rsplit("/", 2)[-2] + path.rsplit("/", 1)[-1]
                for path in stored_files(srv.data_dir)[0]}

    run_async(wait_until(lambda: alone["sha256"] not in names(), 10, lambda: sorted(names())), 15)
    assert shared["sha256"] in names()  # The other upload of the same bytes keeps them.
    assert download(srv.port, twin["url"], b.token)[0] == 200


def test_reactions_toggle_aggregate_and_are_bounded(server_factory):
    """Any member reacts with one emoji (one grapheme cluster); adding twice is once, taking
    away is idempotent; reads aggregate them (emoji, count, users); --max-reactions bounds the
    distinct emoji; a deleted message keeps none."""
    srv = server_factory(*chat_args(max_reactions=2))
    api = Api(srv.port)
    a, b, outsider = api.new_users(3, "rx")
    conv = api.group(a, [b])
    thumbs, heart, party = "\U0001F44D", "\u2764\ufe0f", "\U0001F389"

    async def go():
        wa, wb, wo = [await ChatConn.connect(srv.port, u.token, name=u.name)
                      for u in (a, b, outsider)]
        try:
            sent = await wa.send(conv, "react to me")
            seq = sent["seq"]
            start = wa.mark()
            acks = [await change(wb, "react", conv, seq, "r1", emoji=thumbs),
                    await change(wb, "react", conv, seq, "r2", emoji=thumbs),  # Twice: once.
                    await change(wa, "react", conv, seq, "r3", emoji=thumbs),
                    await change(wa, "react", conv, seq, "r4", emoji=heart),
                    await change(wb, "react", conv, seq, "r5", emoji=heart, on=False),  # None.
                    await change(wa, "react", conv, seq, "r6", emoji=heart, on=False)]
            live = await wa.wait_message(conv, lambda m: m["seq"] == acks[-1]["seq"],
                                         start=start)
            refused = {
                "third emoji": await change(wa, "react", conv, seq, "x0", emoji=heart),
                "two": await change(wb, "react", conv, seq, "x1", emoji=thumbs + thumbs),
                "outsider": await change(wo, "react", conv, seq, "x2", emoji=thumbs),
                "no emoji": await change(wb, "react", conv, seq, "x3"),
            }
            # The heart was taken away: a new emoji fits again, then the limit holds.
            refused["limit"] = await change(wb, "react", conv, seq, "x4", emoji=party)
            return sent, acks, live, refused
        finally:
            await close_all([wa, wb, wo])

    sent, acks, live, refused = run_async(go(), 60)
    assert all(ack["type"] == "ack" for ack in acks), acks
    assert refused["third emoji"]["type"] == "ack", refused  # heart again: 2 distinct.
    assert (live["kind"], live["target"], live["body"], live["on"]) == (
        "reaction", sent["seq"], heart, False), live
    assert refused["limit"]["code"] == "too_many_reactions", refused
    assert refused["two"]["code"] == "bad_request" and "emoji" in refused["two"]["message"]
    assert refused["outsider"]["code"] == "forbidden", refused
    assert refused["no emoji"]["message"] == 'missing field "emoji"', refused
    [message] = [m for m in api.messages(b, conv).json["messages"] if m["seq"] == sent["seq"]]
    assert message["reactions"] == [  # In the emoji's byte order.
        {"emoji": heart, "count": 1, "users": [a.id]},
        {"emoji": thumbs, "count": 2, "users": sorted([a.id, b.id])}], message
    [summary] = [c for c in api.conversations(b) if c["id"] == conv]
    assert summary["last_message"]["seq"] == sent["seq"] and summary["unread"] == 0, summary

    async def delete():
        async with connected((srv.port, a.token, "a")) as [wa]:
            return await change(wa, "delete", conv, sent["seq"], "d1")

    assert run_async(delete(), 30)["type"] == "ack"
    [tomb] = [m for m in api.messages(b, conv).json["messages"] if m["seq"] == sent["seq"]]
    assert "reactions" not in tomb and tomb["deleted"] is True, tomb


def test_pins_are_listed_newest_first_and_bounded(server_factory):
    """Any member pins and unpins (idempotent both ways); GET /api/conversations/{id}/pins lists
    the pinned messages, newest pin first, to members only; --max-pins bounds them; a deleted
    message is unpinned."""
    srv = server_factory(*chat_args(max_pins=2))
    api = Api(srv.port)
    a, b, outsider = api.new_users(3, "pin")
    conv = api.group(a, [b])

    async def go():
        wa, wb = [await ChatConn.connect(srv.port, u.token, name=u.name) for u in (a, b)]
        try:
            first, second, third = [await wa.send(conv, f"m{i}") for i in range(3)]
            start = wa.mark()
            acks = [await change(wb, "pin", conv, first["seq"], "p1"),
                    await change(wa, "pin", conv, second["seq"], "p2"),
                    await change(wa, "pin", conv, first["seq"], "p3")]  # Pinned: no change.
            live = await wa.wait_message(conv, lambda m: m["seq"] == acks[0]["seq"], start=start)
            too_many = await change(wa, "pin", conv, third["seq"], "p4")
            listed = api.ok("GET", f"/api/conversations/{conv}/pins", token=b.token)["pins"]
            unpinned = await change(wb, "unpin", conv, second["seq"], "p5")
            again = await change(wb, "unpin", conv, second["seq"], "p6")  # Not pinned: fine.
            fits = await change(wa, "pin", conv, third["seq"], "p7")
            deleted = await change(wa, "delete", conv, third["seq"], "p8")
            return first, second, acks, live, too_many, listed, [unpinned, again, fits, deleted]
        finally:
            await close_all([wa, wb])

    first, second, acks, live, too_many, listed, later = run_async(go(), 60)
    assert all(ack["type"] == "ack" for ack in acks + later), (acks, later)
    assert (live["kind"], live["target"], live["from"]) == ("pin", first["seq"], b.id), live
    assert too_many["code"] == "too_many_pins", too_many
    assert [m["seq"] for m in listed] == [second["seq"], first["seq"]], listed
    assert listed[1]["pinned_by"] == b.id and listed[1]["pinned_at"] == acks[0]["ts"], listed
    pins = api.ok("GET", f"/api/conversations/{conv}/pins", token=a.token)["pins"]
    assert [m["seq"] for m in pins] == [first["seq"]], pins  # The deleted one went too.
    assert api.request("GET", f"/api/conversations/{conv}/pins",
                       token=outsider.token).status == 403
    assert api.request("GET", "/api/conversations/999999/pins", token=a.token).status == 404


def test_edit_and_delete_over_http(shared_server, api):
    """PATCH and DELETE /api/conversations/{id}/messages/{seq}: the same entries as the
    WebSocket's (live, in history), the same rules with HTTP statuses, and a cid's retry answered
    with the first outcome."""
    port = shared_server.port
    a, b, outsider = api.new_users(3, "hc")
    conv = api.group(a, [b.id])
    url = f"/api/conversations/{conv}/messages"

    async def go():
        async with connected((port, a.token, "a"), (port, b.token, "b")) as [wa, wb]:
            sent = await wa.send(conv, "helo")
            other = await wb.send(conv, "b's")
            start = wb.mark()
            edit = api.ok("PATCH", f"{url}/{sent['seq']}",
                          {"body": f"hello @{b.name}", "cid": "he1"}, token=a.token)
            live_edit = await wb.wait_message(conv, lambda m: m["seq"] == edit["seq"],
                                              start=start)
            mention = await wb.wait_type("mention", start=start)
            again = api.ok("PATCH", f"{url}/{sent['seq']}", {"body": "other", "cid": "he1"},
                           token=a.token)
            gone = api.ok("DELETE", f"{url}/{sent['seq']}", token=a.token)
            live_delete = await wb.wait_message(conv, lambda m: m["seq"] == gone["seq"],
                                                start=start)
            # The WebSocket's next send takes the seq after the HTTP changes.
            after = await wa.send(conv, "after")
            return sent, other, edit, live_edit, mention, again, gone, live_delete, after

    sent, other, edit, live_edit, mention, again, gone, live_delete, after = run_async(go(), 60)
    assert (edit["cid"], edit["conv"], edit["seq"]) == ("he1", conv, other["seq"] + 1), edit
    assert (live_edit["kind"], live_edit["target"], live_edit["body"], live_edit["from"]) == (
        "edit", sent["seq"], f"hello @{b.name}", a.id), live_edit
    assert mention["message"]["seq"] == edit["seq"], mention
    assert again == edit, again  # The same cid: the first outcome, nothing stored twice.
    assert gone["seq"] == edit["seq"] + 1 and gone["cid"].startswith("http."), gone
    assert (live_delete["kind"], live_delete["target"]) == ("delete", sent["seq"]), live_delete
    assert after["seq"] == gone["seq"] + 1, after
    history = by_seq(api.messages(b, conv).json["messages"])
    assert history[sent["seq"]]["deleted"] is True, history
    assert history[edit["seq"]]["kind"] == "edit" and history[gone["seq"]]["kind"] == "delete"

    def refused(method: str, seq, user, status: int, words: str, body=None, raw=None):
        r = api.request(method, f"{url}/{seq}", body, token=user.token, raw=raw)
        assert r.status == status and words in r.json["error"], (method, seq, r)

    refused("PATCH", other["seq"], a, 403, "only its author may edit", {"body": "no"})
    refused("DELETE", after["seq"], b, 403, "its author or a group admin")
    refused("PATCH", sent["seq"], a, 410, "deleted", {"body": "back"})
    refused("DELETE", sent["seq"], a, 410, "deleted")
    refused("DELETE", edit["seq"], a, 404, "itself a change")
    refused("DELETE", 9999, a, 404, "no such message")
    refused("DELETE", other["seq"], outsider, 403, "not a member")
    refused("PATCH", other["seq"], b, 400, 'missing field "body"', {"cid": "x"})
    refused("PATCH", other["seq"], b, 400, 'field "cid" must be 1 to 64 bytes',
            {"body": "x", "cid": ""})
    refused("PATCH", other["seq"], b, 400, "truncated", raw=b"{")
    refused("PATCH", "x", b, 400, "seq must be a positive integer", {"body": "x"})
    refused("POST", other["seq"], b, 405, "method not allowed", {"body": "x"})
    assert api.request("DELETE", f"{url}/{other['seq']}").status == 401
    # Nothing refused was stored: the last entry is still the WebSocket's send.
    assert api.messages(b, conv).json["messages"][0]["seq"] == after["seq"]


def test_reactions_and_pins_over_http(server_factory):
    """PUT and DELETE on /messages/{seq}/reactions/{emoji} and /messages/{seq}/pin: the
    WebSocket's react and pin/unpin entries (live, aggregated in history, listed in pins), the
    same limits, with HTTP statuses."""
    srv = server_factory(*chat_args(max_reactions=1, max_pins=1))
    api = Api(srv.port)
    a, b, outsider = api.new_users(3, "hr")
    conv = api.group(a, [b.id])
    url = f"/api/conversations/{conv}/messages"
    thumbs, heart = "\U0001F44D", "\u2764\ufe0f"
    enc = {e: urllib.parse.quote(e, safe="") for e in (thumbs, heart)}

    async def go():
        wa, wb = [await ChatConn.connect(srv.port, u.token, name=u.name) for u in (a, b)]
        try:
            sent = await wa.send(conv, "react over http")
            other = await wa.send(conv, "another")
            start = wa.mark()
            react = api.ok("PUT", f"{url}/{sent['seq']}/reactions/{enc[thumbs]}",
                           {"cid": "hr1"}, token=b.token)
            live = await wa.wait_message(conv, lambda m: m["seq"] == react["seq"], start=start)
            again = api.ok("PUT", f"{url}/{sent['seq']}/reactions/{enc[thumbs]}", token=a.token)
            pin = api.ok("PUT", f"{url}/{sent['seq']}/pin", token=b.token)
            live_pin = await wa.wait_message(conv, lambda m: m["seq"] == pin["seq"], start=start)
            return sent, other, react, live, again, pin, live_pin
        finally:
            await close_all([wa, wb])

    sent, other, react, live, again, pin, live_pin = run_async(go(), 60)
    assert (live["kind"], live["target"], live["body"], live["on"], live["from"]) == (
        "reaction", sent["seq"], thumbs, True, b.id), live
    assert again["seq"] == react["seq"] + 1, again
    assert (live_pin["kind"], live_pin["target"]) == ("pin", sent["seq"]), live_pin
    [message] = [m for m in api.messages(b, conv).json["messages"] if m["seq"] == sent["seq"]]
    assert message["reactions"] == [
        {"emoji": thumbs, "count": 2, "users": sorted([a.id, b.id])}], message
    pins = api.ok("GET", f"/api/conversations/{conv}/pins", token=a.token)["pins"]
    assert [m["seq"] for m in pins] == [sent["seq"]], pins

    def status(method: str, path: str, user, body=None) -> tuple[int, str]:
        r = api.request(method, f"{url}/{path}", body, token=user.token)
        return r.status, (r.json or {}).get("error", "") if r.status != 200 else ""

    assert status("PUT", f"{sent['seq']}/reactions/{enc[heart]}", a)[0] == 409  # --max-reactions
    assert status("PUT", f"{other['seq']}/pin", a)[0] == 409  # --max-pins
    code, why = status("PUT", f"{sent['seq']}/reactions/{enc[thumbs] * 2}", a)
    assert code == 400 and "one grapheme cluster" in why, why
    assert status("PUT", f"{sent['seq']}/reactions/%ZZ", a)[0] == 400
    assert status("PUT", f"{sent['seq']}/pin", outsider)[0] == 403
    assert status("POST", f"{sent['seq']}/pin", a)[0] == 405
    assert status("PATCH", f"{sent['seq']}/reactions/{enc[thumbs]}", a)[0] == 405
    assert status("PUT", f"{sent['seq']}/other", a)[0] == 404
    assert status("PUT", "9999/pin", a)[0] == 404
    # Taken away, both idempotent; then the limits leave room again.
    for _ in range(2):
        assert status("DELETE", f"{sent['seq']}/reactions/{enc[thumbs]}", a)[0] == 200
        assert status("DELETE", f"{sent['seq']}/pin", a)[0] == 200
    assert status("PUT", f"{other['seq']}/pin", a)[0] == 200
    [message] = [m for m in api.messages(b, conv).json["messages"] if m["seq"] == sent["seq"]]
    assert message["reactions"] == [{"emoji": thumbs, "count": 1, "users": [b.id]}], message
    pins = api.ok("GET", f"/api/conversations/{conv}/pins", token=a.token)["pins"]
    assert [m["seq"] for m in pins] == [other["seq"]], pins


@pytest.mark.sqlite_only("the HTTP layer's limit; the store plays no part")
def test_http_changes_are_limited_by_msg_rate(server_factory):
    """A client without a connection has no session's token bucket: its HTTP changes count
    against --msg-rate per user and second (per shard), answered 429 with Retry-After past it,
    and allowed again a second later."""
    srv = server_factory(*chat_args(msg_rate=3))
    api = Api(srv.port)
    a, b = api.new_users(2, "hl")
    conv = api.group(a, [b.id])
    url = f"/api/conversations/{conv}/messages"

    async def send():
        async with connected((srv.port, a.token, "a")) as [wa]:
            return await wa.send(conv, "pin me")

    seq = run_async(send(), 30)["seq"]
    answers = [api.request("PUT", f"{url}/{seq}/pin", token=a.token) for _ in range(20)]
    codes = [r.status for r in answers]
    assert 429 in codes and codes.count(200) >= 3, codes
    refused = answers[codes.index(429)]
    assert int(refused.header("Retry-After")) >= 1 and "--msg-rate" in refused.json["error"]
    # Another user has a count of its own.
    assert api.request("PUT", f"{url}/{seq}/pin", token=b.token).status == 200
    time.sleep(1.1)
    assert api.request("DELETE", f"{url}/{seq}/pin", token=a.token).status == 200
