"""What a call participant relays to the others (PROTOCOL.md, "Calls: signalling") reaches them
as JSON the server wrote, on every transport, against the real binary: a `call_signal`'s object is
parsed whole and written anew, so raw CR characters and text that is not JSON never reach another
user's SSE stream, long-poll answer or /ws frame. A relayed object that is not JSON is refused
to its sender (an `error` with its cid) and nothing reaches the peer.

Before the fix the object was spliced in as the client sent it: a CR in it ended an SSE data line
(HTML's event stream format ends a line at CR too), so a participant could make the peer's
stream carry events of its choosing (a `message` "from" someone else), and every long-poll
answer holding it was not JSON.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from chat_client import ChatConn, chat_args
from sse_client import SseConn, http_request, query
from support import run_async

SERVER_ARGS = chat_args(sse_poll_timeout=2)

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}


class Poller:
    """A long-polled session (GET /sse/poll): the events of its answers, in order."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.session: str | None = None
        self.after = 0
        self.events: list[dict] = []

    async def poll(self) -> None:
        target = "/sse/poll?" + query(session=self.session,
                                      after=self.after if self.session else None)
        status, _, raw = await http_request(self.port, "GET", target, token=self.token)
        assert status == 200, (status, raw)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise AssertionError(f"a long-poll answer that is not JSON: {raw[:300]!r}") from None
        self.session = answer["session"]
        for event in answer["events"]:
            self.after = max(self.after, event["id"])
            self.events.append(event["data"])

    async def wait_for(self, pred, what: str) -> dict:
        for _ in range(10):
            found = [e for e in self.events if pred(e)]
            if found:
                return found[0]
            await self.poll()
        raise AssertionError(f"no {what} in {self.events[-5:]}")

    async def post(self, request: dict) -> None:
        status, _, raw = await http_request(
            self.port, "POST", "/sse/send?" + query(session=self.session), token=self.token,
            body=json.dumps(request))
        assert status == 202, (status, raw)


def signal_frame(call: str, cid: str, to: dict, sdp_text: str) -> str:
    """A call_signal with `sdp_text` as its object's text, byte for byte."""
    head = json.dumps({"type": "call_signal", "call": call, "cid": cid, "to": to})
    return head[:-1] + ',"sdp":' + sdp_text + "}"


def test_relayed_signals_are_written_anew_and_invalid_json_is_refused(shared_server, api):
    port = shared_server.port
    alice, bob, carol, dave = api.new_users(4, "relay")
    conv = api.group(alice, [bob, carol, dave], "relay")

    async def go():
        attacker = await ChatConn.connect(port, alice.token, name="alice/ws")
        on_ws = await ChatConn.connect(port, dave.token, name="dave/ws")
        on_sse = await SseConn.open(port, bob.token, name="bob/sse")
        on_poll = Poller(port, carol.token)
        try:
            await on_poll.poll()
            hello = await on_poll.wait_for(lambda e: e.get("type") == "hello", "hello")
            devices = {alice.id: attacker.typed("hello")[0]["device"],
                       dave.id: on_ws.typed("hello")[0]["device"],
                       bob.id: on_sse.typed("hello")[0]["device"], carol.id: hello["device"]}

            start = attacker.mark()
            await attacker.send_json({"type": "call_invite", "conv": conv, "call_kind": "audio",
                                      "cid": "invite"})
            ack = await attacker.wait_type("call_ack", cid="invite", start=start)
            call = ack["call"]
            await on_ws.send_json({"type": "call_accept", "call": call, "cid": "d"})
            await on_ws.wait_type("call_ack", cid="d")
            await on_sse.send_json({"type": "call_accept", "call": call, "cid": "b"})
            await on_sse.wait_type("call_ack", cid="b")
            await on_poll.post({"type": "call_accept", "call": call, "cid": "c"})
            await on_poll.wait_for(lambda e: e.get("cid") == "c", "carol's call_ack")
            for user in (bob, carol, dave):
                await attacker.wait_type("call_joined", call=call, user=user.id)

            marks = {"ws": on_ws.mark(), "sse": on_sse.mark(), "poll": len(on_poll.events)}
            start = attacker.mark()
            forged = json.dumps({"type": "message", "conv": conv, "seq": 999, "from": carol.id,
                                 "kind": "text", "body": "forged by alice"})
            for user in (bob, carol, dave):
                to = {"user": user.id, "device": devices[user.id]}
                # Valid JSON with raw CRs between its tokens (whitespace to JSON, a line end
                # to an event stream).
                await attacker.send_json(signal_frame(
                    call, f"ok-{user.id}", to,
                    '{"type":"offer",\r"sdp":' + json.dumps(OFFER["sdp"]) + "\r}"))
                # Not JSON: CRs around a forged event, and a bare word.
                await attacker.send_json(signal_frame(
                    call, f"bad-{user.id}", to,
                    '{"type":"offer"\r\revent: message\rdata: ' + forged + '\r\rid: x\r\r}'))
            answers = {}
            for user in (bob, carol, dave):
                for cid in (f"ok-{user.id}", f"bad-{user.id}"):
                    answers[cid] = await attacker.wait_for(
                        lambda e, cid=cid: e.get("cid") == cid, what=f"the answer to {cid}",
                        start=start)

            # Everything the peers were sent before a ping's answer has reached them.
            expected = {"type": "call_signal", "call": call,
                        "from": {"user": alice.id, "device": devices[alice.id]}, "sdp": OFFER}
            await on_ws.ping()
            await on_sse.ping()
            for name, events in (("bob over SSE", on_sse.events[marks["sse"]:]),
                                 ("dave over /ws", on_ws.events[marks["ws"]:])):
                got = [e for e in events if e.get("type") != "pong"]
                assert got == [expected], f"{name} got {got}"
            await on_poll.post({"type": "ping"})
            await on_poll.wait_for(lambda e: e.get("type") == "pong", "pong")
            got = [e for e in on_poll.events[marks["poll"]:] if e.get("type") != "pong"]
            assert got == [expected], f"carol over long polling got {got}"

            for user in (bob, carol, dave):
                assert answers[f"ok-{user.id}"]["type"] == "call_ack", answers
                bad = answers[f"bad-{user.id}"]
                assert bad["type"] == "error" and bad["code"] == "bad_request", bad
                assert "is not valid JSON" in bad["message"], bad
        finally:
            for conn in (attacker, on_ws, on_sse):
                await conn.close()

    run_async(go(), 60)
