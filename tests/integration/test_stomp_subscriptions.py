"""What one STOMP connection may ask for (PROTOCOL.md, "STOMP 1.2 over WebSocket",
SUBSCRIBE), against the real binary with raw frames (stomp_client.py) next to /ws clients:

- one subscription per destination: a second SUBSCRIBE to a destination the connection holds
  is refused as a recoverable error (`conflict`, with its receipt-id), and every event still
  arrives once (before, each duplicate subscription made every event cost one more MESSAGE:
  1,024 of them per event);
- a subscription id over 128 bytes is an ERROR and the close (it travels in every MESSAGE);
- --stomp-max-subscriptions bounds the subscriptions of one connection.
"""

from __future__ import annotations

from chat_client import Api, ChatConn, chat_args, close_all
from stomp_client import StompConn, frame
from support import run_async

EVENTS = "/user/queue/events"
ACKS = "/user/queue/acks"
ERRORS = "/user/queue/errors"


def topic(conv: int) -> str:
    return f"/topic/conversation.{conv}"


def test_a_destination_is_held_once_and_each_event_arrives_once(shared_server, api):
    a, b, conv = api.direct_pair("dup")

    async def go():
        s = await StompConn.connect(shared_server.port, a.token)
        ws_b = await ChatConn.connect(shared_server.port, b.token, name="b-ws")
        try:
            await s.subscribe("errors", ERRORS)
            await s.subscribe("t1", topic(conv))
            await s.subscribe("q1", EVENTS)
            for sub_id, destination in (("t2", topic(conv)), ("q2", EVENTS), ("e2", ERRORS)):
                receipt = f"r-{sub_id}"
                await s.send(frame("SUBSCRIBE", {"id": sub_id, "destination": destination,
                                                 "receipt": receipt}))
                refusal = await s.wait_frame("MESSAGE", destination=ERRORS,
                                             **{"receipt-id": receipt})
                error = refusal.json()
                assert error["type"] == "error" and error["code"] == "conflict", error
                assert destination in error["message"], error
            await s.receipt()
            assert not [f for f in s.matching("RECEIPT") if f.headers["receipt-id"].startswith(
                "r-")], s.describe()

            mark = s.mark()
            await ws_b.send(conv, "once")
            await s.wait_event(topic(conv), "message", body="once", start=mark)
            await s.send(frame("SEND", {"destination": "/app/chat.send",
                                        "conversation": str(conv), "cid": "a-1"}, "mine"))
            await s.wait_event(EVENTS, "ack", cid="a-1", start=mark)
            await s.wait_event(topic(conv), "message", body="mine", start=mark)
            await s.receipt()
            messages = s.matching("MESSAGE", start=mark)
            bodies = [(f.headers["subscription"], f.json()["type"], f.json().get("body"))
                      for f in messages]
            # b's message and a's own, once each on the topic; a's ack once on the events queue.
            assert sorted(bodies, key=repr) == sorted(
                [("t1", "message", "once"), ("t1", "message", "mine"), ("q1", "ack", None)],
                key=repr), s.describe(mark, 20)
            # An UNSUBSCRIBE frees the destination for another id.
            await s.send(frame("UNSUBSCRIBE", {"id": "t1"}))
            await s.subscribe("t3", topic(conv))
            mark = s.mark()
            await ws_b.send(conv, "after")
            message = await s.wait_event(topic(conv), "message", body="after", start=mark)
            assert message.headers["subscription"] == "t3", message
        finally:
            await close_all([ws_b])
            await s.close()

    run_async(go(), 30)


def test_a_subscription_id_over_128_bytes_is_an_error(shared_server, api):
    a = api.new_user("longid")

    async def go():
        s = await StompConn.connect(shared_server.port, a.token)
        await s.subscribe("i" * 128, EVENTS)  # At the bound: taken.
        await s.send(frame("SUBSCRIBE", {"id": "j" * 129, "destination": ACKS}))
        error = await s.wait_frame("ERROR")
        assert error.headers["message"] == "subscription id longer than 128 bytes", error
        code, _ = await s.wait_closed()
        assert code == 1008

    run_async(go(), 30)


def test_max_subscriptions_flag(server_factory):
    srv = server_factory(*chat_args(stomp_max_subscriptions=5))
    api = Api(srv.port)
    a, b, conv = api.direct_pair("cap")
    c = api.new_user("cap")
    conv2 = api.direct(a, c)

    async def go():
        s = await StompConn.connect(srv.port, a.token)
        for sub_id, destination in (("1", EVENTS), ("2", ACKS), ("3", ERRORS),
                                    ("4", "/user/queue/presence"), ("5", topic(conv))):
            await s.subscribe(sub_id, destination)
        await s.send(frame("SUBSCRIBE", {"id": "6", "destination": topic(conv2)}))
        error = await s.wait_frame("ERROR")
        assert error.headers["message"] == \
            "more than 5 subscriptions (--stomp-max-subscriptions)", error
        await s.wait_closed()

    run_async(go(), 30)
