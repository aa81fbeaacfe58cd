"""/raw/{channel}: every data message a client sends reaches every subscriber of the channel
(the sender too) verbatim, exactly once, in per-sender order, across shards; channels are
isolated. Two shards (--threads 2): the kernel's SO_REUSEPORT hash spreads 200+ connections over
both, so cross-shard delivery is exercised with overwhelming probability."""

from __future__ import annotations

import asyncio

import pytest

from support import (connect_subscribers, data_message, message_origin, publish_all, run_async,
                     subscribed, sync_barrier, wait_until, ws_connect)
from wsraw import OP_CONT, OP_TEXT, RawConn, open_ws, upgrade_request

pytestmark = pytest.mark.server_args("--raw-channels", "--echo")


def check_sender_stream(sub, sender: int, expected: list):
    """`sub` got exactly `expected` from `sender`, in order, with the same message types."""
    got = [msg for seq, msg in sub.by_sender().get(sender, [])]
    if got == expected:
        return
    seqs = [message_origin(m)[1] for m in got]
    raise AssertionError(f"{sub.name}: from sender {sender} got {len(got)} messages "
                         f"(seqs {seqs[:20]}{'...' if len(seqs) > 20 else ''}), expected "
                         f"{len(expected)} in order; types "
                         f"{sorted({type(m).__name__ for m in got})}")


def all_ended(subs, senders):
    return all(s.ends >= set(senders) or s.closed for s in subs)


def not_ended(subs, senders):
    lagging = [(s.name, sorted(set(senders) - s.ends), len(s.received), repr(s.closed))
               for s in subs if not s.ends >= set(senders)]
    return f"{len(lagging)} subscribers lack end markers, e.g. {lagging[:5]}"


@pytest.mark.server_args()  # Overrides the module mark: no --raw-channels.
def test_raw_channels_off_is_404(server):
    with RawConn.open(server.port) as conn:
        conn.send(upgrade_request("/raw/news"))
        resp = conn.read_http_response()
        assert resp.status == 404, resp


def test_sender_receives_its_own_messages(server):
    async def go():
        async with ws_connect(server.url("/raw/self")) as ws:
            await ws.send("hello me")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello me"
            await ws.send(b"\x00\xffbin")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\xffbin"

    run_async(go(), 20)


def test_echo_still_works_with_raw_channels(server):
    with open_ws(server.port, "/echo") as conn:
        conn.send_text(b"echo")
        assert conn.recv_frame().payload == b"echo"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_fanout_200_subscribers_many_senders(server):
    n_subs, n_senders, per_sender = 220, 4, 50

    async def go():
        async with subscribed(server.url("/raw/news"), n_subs) as subs:
            senders = {sid: subs[sid].ws for sid in range(n_senders)}
            await sync_barrier(senders, subs, timeout=20)

            # Sender 3 publishes binary, the others text; sizes 0..~3000 bytes.
            expected = {sid: [data_message(sid, seq, (seq * 61 + sid) % 3000, binary=sid == 3)
                              for seq in range(per_sender)] for sid in senders}
            await publish_all(senders, expected)
            await wait_until(lambda: all_ended(subs, senders), 60,
                             lambda: not_ended(subs, senders))
            closed = [(s.name, repr(s.closed)) for s in subs if s.closed]
            assert not closed, f"subscribers were disconnected: {closed[:5]}"
            for sub in subs:
                for sid in senders:
                    check_sender_stream(sub, sid, expected[sid])
                assert len(sub.received) == n_senders * per_sender, sub.name

    run_async(go(), 110)


def test_channels_are_isolated(server):
    channels = {"alpha": 0, "alpha2": 1, "beta": 2}  # channel → its sender id

    async def go():
        groups = {ch: await connect_subscribers(server.url(f"/raw/{ch}"), 6, prefix=ch)
                  for ch in channels}
        try:
            for ch, sid in channels.items():
                await sync_barrier({sid: groups[ch][0].ws}, groups[ch])
            # alpha publishes first; once alpha's subscribers have it all, the other channels
            # publish only their end markers.
            alpha_msgs = [data_message(0, seq, 100, binary=seq % 2 == 1) for seq in range(20)]
            for msg in alpha_msgs:
                await groups["alpha"][0].ws.send(msg)
            await groups["alpha"][0].ws.send("end:0")
            await wait_until(lambda: all_ended(groups["alpha"], [0]), 15,
                             lambda: not_ended(groups["alpha"], [0]))
            for ch in ("alpha2", "beta"):
                await groups[ch][0].ws.send(f"end:{channels[ch]}")
                await wait_until(lambda: all_ended(groups[ch], [channels[ch]]), 15,
                                 lambda: not_ended(groups[ch], [channels[ch]]))
            for ch, sid in channels.items():
                for sub in groups[ch]:
                    assert sub.syncs == {sid}, f"{sub.name} saw syncs of {sub.syncs}"
                    assert sub.ends == {sid}, f"{sub.name} saw end markers of {sub.ends}"
                    if ch == "alpha":
                        check_sender_stream(sub, 0, alpha_msgs)
                    else:
                        assert sub.received == [], \
                            f"{sub.name} got messages of another channel: {sub.received[:3]}"
        finally:
            await asyncio.gather(*(s.close() for g in groups.values() for s in g))

    run_async(go(), 50)


def test_large_message_fanout(server):
    big = bytes(range(256)) * 4096  # 1 MiB, the default --max-message-size

    async def go():
        async with subscribed(server.url("/raw/big"), 10) as subs:
            await sync_barrier({0: subs[0].ws}, subs)
            await subs[0].ws.send(big)
            await wait_until(lambda: all(len(s.received) == 1 or s.closed for s in subs), 30,
                             lambda: [(s.name, len(s.received)) for s in subs])
            for s in subs:
                assert s.closed is None, (s.name, s.closed)
                assert s.received == [big], f"{s.name}: payload differs"

    run_async(go(), 50)


def test_subscribers_leaving_do_not_disturb_others(server):
    async def go():
        async with subscribed(server.url("/raw/churn"), 10) as subs:
            stay, leave = subs[:5], subs[5:]
            await sync_barrier({0: stay[0].ws}, subs)
            for s in leave[:3]:
                s.ws.transport.abort()  # Vanish without a close handshake.
            for s in leave[3:]:
                await s.close()
            expected = [data_message(0, seq, 50, binary=False) for seq in range(30)]
            for msg in expected:
                await stay[0].ws.send(msg)
            await stay[0].ws.send("end:0")
            await wait_until(lambda: all_ended(stay, [0]), 15, lambda: not_ended(stay, [0]))
            for s in stay:
                assert s.closed is None, (s.name, s.closed)
                check_sender_stream(s, 0, expected)

    run_async(go(), 40)


def test_fragmented_publish_is_delivered_whole(server):
    """A message sent in fragments reaches subscribers as the same (whole) text message."""
    async def go():
        async with subscribed(server.url("/raw/frag"), 5) as subs:
            raw = open_ws(server.port, "/raw/frag")
            try:
                await sync_barrier({0: subs[0].ws}, subs)
                raw.send_frame(OP_TEXT, b"m:7:0:", fin=False)
                raw.send_frame(OP_CONT, b"xx", fin=False)
                raw.send_frame(OP_CONT, b"yy", fin=True)
                await wait_until(lambda: all(s.received for s in subs), 10,
                                 lambda: [(s.name, s.received) for s in subs])
                for s in subs:
                    assert s.received == ["m:7:0:xxyy"], (s.name, s.received)
            finally:
                raw.close()

    run_async(go(), 30)



def test_four_shards_many_channels_join_and_leave(server_factory):
    """Four shards, so that most channels' interest lives on a home shard that is neither the
    publisher's nor every subscriber's (core/pubsub/topic_table.h): every subscriber still gets
    every message, in order, before and after half of them leave."""
    server = server_factory("--raw-channels", threads=4)
    channels, per_channel, per_sender = 12, 16, 20

    async def publish_and_check(groups, round_no):
        for subs in groups.values():
            await sync_barrier({ch_of(subs): subs[0].ws}, subs)
            for sub in subs:
                sub.received.clear()
                sub.ends.clear()
        expected = {ch: [data_message(ch, seq, 64 + seq, binary=seq % 3 == 0)
                         for seq in range(per_sender)] for ch in groups}
        for ch, subs in groups.items():
            for msg in expected[ch]:
                await subs[0].ws.send(msg)
            await subs[0].ws.send(f"end:{ch}")
        for ch, subs in groups.items():
            await wait_until(lambda: all_ended(subs, [ch]), 20, lambda: not_ended(subs, [ch]))
            for sub in subs:
                assert not sub.closed, f"{sub.name} was disconnected: {sub.closed!r}"
                assert sub.received == expected[ch], \
                    f"{sub.name}: round {round_no}: got {len(sub.received)} of {per_sender}"

    def ch_of(subs):
        return int(subs[0].name.split("-")[0][4:])

    async def go():
        groups = {ch: await connect_subscribers(server.url(f"/raw/room{ch}"), per_channel,
                                                prefix=f"room{ch}-") for ch in range(channels)}
        try:
            await publish_and_check(groups, 0)
            # Half of each channel leaves (never its sender): the rest still gets everything.
            for subs in groups.values():
                await asyncio.gather(*(s.close() for s in subs[per_channel // 2:]))
                del subs[per_channel // 2:]
            await publish_and_check(groups, 1)
        finally:
            await asyncio.gather(*(s.close() for g in groups.values() for s in g))

    run_async(go(), 90)
