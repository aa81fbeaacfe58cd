"""Every chat operation over every transport (chat/ops/README.md): each sample request of
tests/data/operations.json (one per operation in the registry, tests/unit/chat/ops/registry_test.cc
checks the list) sent over /ws, over SSE (POST /sse/send) and, where its operation maps a STOMP
destination, as a STOMP SEND; each reaches its operation (the answer it names, never a parser's
refusal). An operation that is not over STOMP has no destination: its SEND is refused.
"""

from __future__ import annotations

import json
import pathlib
import re

from chat_client import ChatConn
from sse_client import SseConn
from stomp_client import StompConn, frame
from support import run_async

import pytest

pytestmark = pytest.mark.both_stores

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = json.loads((REPO / "tests" / "data" / "operations.json").read_text())["operations"]


def test_the_readme_names_every_family_file():
    """chat/ops/README.md's table of families names each family's wire, action and routes file
    once, and every one there is: the operations themselves are listed by the registry (the
    samples, which the registry's unit test holds to it), not by the README."""
    readme = (REPO / "chat" / "ops" / "README.md").read_text()
    table = readme[readme.index("| family | wire |"):].split("\n\n")[0]
    named = []
    for row in re.findall(r"^\|[^|]+\|([^|]*)\|([^|]*)\|[^|]*\|([^|]*)\|$", table,
                          re.M)[2:]:  # Past the header and its rule.
        wire, action, routes = (cell.strip() for cell in row)
        if wire or action:
            assert wire.removesuffix("_wire.cc") == action.removesuffix("_ops.cc"), row
        named += [wire, action, *re.findall(r"^(\w+_routes\.cc)", routes)]
    on_disk = [path.name for pattern in ("*_wire.cc", "*_ops.cc", "*_routes.cc")
               for path in (REPO / "chat" / "ops").glob(pattern)]
    assert sorted(name for name in named if name) == sorted(on_disk)


def fill(value, names: dict):
    """The sample with its placeholders (CONV, SEQ, THEIRS, TOKEN) filled as values, and inside
    strings too (a sync's "convs" key, a STOMP body or header)."""
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    for name, filled in names.items():
        value = value.replace(name, str(filled))
    return value


async def placeholders(a_conn: ChatConn, b_conn: ChatConn, conv: int, token: str,
                       why: str) -> dict:
    """A message of each member's for the sample to name, the sender's (SEQ) and the other's."""
    seq = (await a_conn.send(conv, f"mine, for {why}"))["seq"]
    theirs = (await b_conn.send(conv, f"theirs, for {why}"))["seq"]
    return {"CONV": conv, "SEQ": seq, "THEIRS": theirs, "TOKEN": token}


def matches(event: dict, answer: str) -> bool:
    return event.get("type") in (answer, "error")


async def check(conn, names: dict, sample: dict) -> None:
    """One sample over `conn` (a /ws or SSE session of the conversation's member)."""
    request = fill(sample["request"], names)
    start = conn.mark()
    await conn.send_json(request)
    answer = sample["answer"]
    if answer is None:  # Nothing comes back to the sender: a refusal would, before the pong.
        await conn.ping()
        errors = [e for e in conn.events[start:] if e.get("type") == "error"]
        assert not errors, (sample["type"], errors)
        return
    event = await conn.wait_for(lambda e: matches(e, answer), what=f"{answer} to {request}",
                                start=start)
    assert event["type"] == answer, (request, event)
    if answer == "error":  # The operation's own refusal, never the parser's.
        assert event["code"] != "bad_request", (request, event)
    if request["type"] == "call_invite":  # One call per conversation: the next pass starts anew.
        cancel = {"type": "call_cancel", "call": event["call"], "cid": "op-cancel-invite"}
        start = conn.mark()
        await conn.send_json(cancel)
        ack = await conn.wait_for(lambda e: e.get("cid") == cancel["cid"], start=start)
        assert ack["type"] == "call_ack", ack


def test_every_operation_over_ws_and_sse(shared_server, api):
    a, b, conv = api.direct_pair("ops")

    async def go():
        sender = await ChatConn.connect(shared_server.port, a.token, name="sender")
        other = await ChatConn.connect(shared_server.port, b.token, name="other")
        ws = await ChatConn.connect(shared_server.port, a.token, name="ws")
        sse = await SseConn.open(shared_server.port, a.token)
        try:
            for conn in (ws, sse):
                for sample in SAMPLES:
                    names = await placeholders(sender, other, conv, a.token, sample["type"])
                    await check(conn, names, sample)
        finally:
            for conn in (sender, other, ws, sse):
                await conn.close()

    run_async(go(), 120)


def test_every_operation_over_stomp_or_refused_there(shared_server, api):
    a, b, conv = api.direct_pair("stompops")

    async def go():
        sender = await ChatConn.connect(shared_server.port, a.token, name="sender")
        other = await ChatConn.connect(shared_server.port, b.token, name="other")
        s = await StompConn.connect(shared_server.port, a.token)
        try:
            for sub, destination in (("e", "/user/queue/events"), ("a", "/user/queue/acks"),
                                     ("x", "/user/queue/errors"),
                                     ("t", f"/topic/conversation.{conv}")):
                await s.subscribe(sub, destination)
            for sample in SAMPLES:
                if sample["stomp"] is None:
                    continue
                names = await placeholders(sender, other, conv, a.token, sample["type"])
                stomp = fill(sample["stomp"], names)
                headers = {"destination": stomp["destination"],
                           **{k: str(v) for k, v in stomp["headers"].items()}}
                start = s.mark()
                await s.send(frame("SEND", headers, stomp["body"]))
                answer = sample["answer"]
                if answer is None:
                    continue
                got = await s.wait_for(
                    lambda f: f.command == "ERROR" or
                    (f.command == "MESSAGE" and matches(f.json(), answer)),
                    what=f"{answer} to {headers}", start=start)
                assert got.command == "MESSAGE" and got.json()["type"] == answer, (headers, got)
        finally:
            for conn in (s, sender, other):
                await conn.close()
        # Not over STOMP: no destination of that name.
        for sample in SAMPLES:
            if sample["stomp"] is not None:
                continue
            s = await StompConn.connect(shared_server.port, a.token)
            await s.send(frame("SEND", {"destination": f"/app/chat.{sample['type']}"}, ""))
            error = await s.wait_frame("ERROR")
            assert "no such destination" in error.headers.get("message", ""), error
            await s.close()

    run_async(go(), 120)
