"""`sync` over /ws (PROTOCOL.md "sync"): a member who was offline gets everything after the seq it
asks from (or everything, with a bare `{"type":"sync"}`), oldest first, with the conversation's
last_seq, unread, read_seq and members' watermarks; paging with `more` (--sync-limit 5); only
the caller's conversations; and no duplicate and no gap when live messages race a sync."""

from __future__ import annotations

import asyncio

import pytest

from chat_client import (FAST_ARGS, Api, ChatConn, all_connected, chat_args, connected,
                         message_fields_ok, strip_type)
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


async def send_many(conn: ChatConn, conv: int, bodies) -> list[dict]:
    """Pipelines the sends, then collects every ack (each one asserted)."""
    reqs = [conn.send_request(conv, b) for b in bodies]
    for r in reqs:
        await conn.send_json(r)
    out = []
    for r in reqs:
        ev = await conn.wait_for(lambda e, cid=r["cid"]: e.get("type") in ("ack", "error")
                                 and e.get("cid") == cid, what=f"ack {r['cid']}")
        assert ev["type"] == "ack", ev
        out.append(ev)
    return out


def by_conv(sync_event: dict) -> dict[int, dict]:
    assert sync_event.get("type") == "sync", sync_event
    assert isinstance(sync_event.get("convs"), list), sync_event
    out = {}
    for entry in sync_event["convs"]:
        assert entry["conv"] not in out, f"conversation listed twice: {sync_event!r}"
        out[entry["conv"]] = entry
    return out


def test_offline_member_catches_up_with_full_sync(shared_server, api):
    port = shared_server.port
    a, b, c = api.new_users(3, "off")
    dm = api.direct(a, b)
    grp = api.group(a, [b, c], "catch-up")
    not_mine = api.direct(a, c)

    async def go():
        async with connected((port, a.token, "a")) as [ca]:
            dm_acks = await send_many(ca, dm, [f"dm{i}" for i in range(1, 4)])
            grp_acks = await send_many(ca, grp, [f"g{i}" for i in range(1, 6)])
            await send_many(ca, not_mine, ["for c only"])
            async with connected((port, b.token, "b")) as [cb]:
                s = by_conv(await cb.call({"type": "sync"}, "sync"))
                assert set(s) == {dm, grp}, s
                for conv, acks in ((dm, dm_acks), (grp, grp_acks)):
                    e = s[conv]
                    assert e["last_seq"] == len(acks) and e["unread"] == len(acks), e
                    assert e["read_seq"] == 0 and e["more"] is False, e
                    assert [m["seq"] for m in e["messages"]] == list(range(1, len(acks) + 1))
                    for m, ack in zip(e["messages"], acks):
                        message_fields_ok(m)
                        assert (m["id"], m["seq"], m["ts"], m["from"], m["conv"]) == \
                            (ack["id"], ack["seq"], ack["ts"], a.id, conv), (m, ack)
                    members = {x["user"]: x for x in e["members"]}
                    assert set(members) == ({a.id, b.id} if conv == dm else {a.id, b.id, c.id})
                    for x in members.values():
                        assert isinstance(x["delivered"], int) and isinstance(x["read"], int), x
                    assert members[b.id]["read"] == 0, e
                assert [m["body"] for m in s[grp]["messages"]] == [f"g{i}" for i in range(1, 6)]
                # Nothing arrives twice: the synced messages came in the sync, not live.
                await cb.ping()
                assert not cb.messages(), cb.describe()

    run_async(go(), 60)


def test_sync_from_a_seq_and_only_asked_conversations(shared_server, api):
    port = shared_server.port
    a, b, outsider = api.new_users(3, "from")
    dm = api.direct(a, b)
    grp = api.group(a, [b], "partial")
    foreign = api.direct(a, outsider)

    async def go():
        async with connected((port, a.token, "a")) as [ca]:
            acks = await send_many(ca, dm, [f"m{i}" for i in range(1, 7)])
            await send_many(ca, grp, ["g1"])
            await send_many(ca, foreign, ["secret"])
            async with connected((port, b.token, "b")) as [cb]:
                req = {"type": "sync", "convs": {str(dm): 4, str(foreign): 0,
                                                 "10000000": 0}}
                s = by_conv(await cb.call(req, "sync"))
                assert set(s) == {dm}, s  # grp not asked; foreign and unknown left out.
                e = s[dm]
                assert [m["seq"] for m in e["messages"]] == [5, 6], e
                assert [m["id"] for m in e["messages"]] == [x["id"] for x in acks[4:]]
                assert (e["last_seq"], e["unread"], e["more"]) == (6, 6, False), e
                # Up to date: an empty list of messages, but the entry is there.
                s = by_conv(await cb.call({"type": "sync", "convs": {str(dm): 6}}, "sync"))
                assert s[dm]["messages"] == [] and s[dm]["more"] is False, s
                # Past the end: nothing, not an error.
                s = by_conv(await cb.call({"type": "sync", "convs": {str(dm): 60}}, "sync"))
                assert s[dm]["messages"] == [], s
                # A read watermark shows in read_seq and unread.
                await cb.send_json({"type": "read", "conv": dm, "seq": 2})
                await cb.wait_type("receipt", conv=dm, user=b.id)
                s = by_conv(await cb.call({"type": "sync", "convs": {str(dm): 6}}, "sync"))
                assert (s[dm]["read_seq"], s[dm]["unread"]) == (2, 4), s
                s = by_conv(await cb.call({"type": "sync", "convs": {}}, "sync"))
                assert s == {}, s

    run_async(go(), 60)


@pytest.mark.server_args(*chat_args(sync_limit=5))
def test_sync_pages_with_more(server):
    api = Api(server.port)
    a, b, conv = api.direct_pair("more")
    small = api.group(a, [b], "small")

    async def go():
        async with connected((server.port, a.token, "a")) as [ca]:
            await send_many(ca, conv, [f"p{i}" for i in range(1, 13)])
            await send_many(ca, small, ["s1", "s2"])
            async with connected((server.port, b.token, "b")) as [cb]:
                s = by_conv(await cb.call({"type": "sync"}, "sync"))
                assert [m["seq"] for m in s[conv]["messages"]] == [1, 2, 3, 4, 5], s
                assert s[conv]["more"] is True and s[conv]["last_seq"] == 12, s
                assert [m["seq"] for m in s[small]["messages"]] == [1, 2], s
                assert s[small]["more"] is False, s
                got = list(s[conv]["messages"])
                for expect, more in (([6, 7, 8, 9, 10], True), ([11, 12], False)):
                    req = {"type": "sync", "convs": {str(conv): got[-1]["seq"]}}
                    s = by_conv(await cb.call(req, "sync"))
                    assert [m["seq"] for m in s[conv]["messages"]] == expect, s
                    assert s[conv]["more"] is more, s
                    got += s[conv]["messages"]
                assert [m["body"] for m in got] == [f"p{i}" for i in range(1, 13)]
            # Exactly 5 left after 7: more is false (not true with an empty next page). A new
            # connection: this one has had them all, and never gets a message twice.
            async with connected((server.port, b.token, "b2")) as [cb]:
                s = by_conv(await cb.call({"type": "sync", "convs": {str(conv): 7}}, "sync"))
                assert [m["seq"] for m in s[conv]["messages"]] == [8, 9, 10, 11, 12], s
                assert s[conv]["more"] is False, s

    run_async(go(), 60)


@pytest.mark.timeout(90)
def test_live_messages_racing_a_sync_arrive_exactly_once(shared_server, api):
    """b connects while a (two devices) keeps sending, and resumes with a sync from the last seq
    it had before connecting; live `message` events and the sync answer together must hold every
    message exactly once, and the live ones in seq order."""
    port = shared_server.port
    a, b = api.new_users(2, "race")
    conv = api.group(a, [b], "race")
    rounds = 5
    pre, live_per_sender = 20, 60

    async def paced(conn: ChatConn, tag: str, n: int) -> list[dict]:
        """Sends n messages ~2 ms apart (a storm lasting well over the connect + sync), then
        collects their acks."""
        reqs = []
        for i in range(n):
            reqs.append(conn.send_request(conv, f"{tag}{i}"))
            await conn.send_json(reqs[-1])
            await asyncio.sleep(0.002)
        return [await conn.wait_for(lambda e, cid=r["cid"]: e.get("type") in ("ack", "error")
                                    and e.get("cid") == cid, what=f"ack {r['cid']}")
                for r in reqs]

    async def go():
        async with all_connected(port, [a, a]) as [a1, a2]:
            await send_many(a1, conv, [f"pre{i}" for i in range(pre)])
            total = pre
            for r in range(rounds):
                # b has seen up to `seen` (it "was online before"); the rest comes by sync.
                seen = total - 7 if r % 2 else 0
                storm = asyncio.gather(paced(a1, f"r{r}a", live_per_sender),
                                       paced(a2, f"r{r}b", live_per_sender))
                await asyncio.sleep(0.02 + 0.01 * r)  # Connect and sync mid-storm.
                async with connected((port, b.token, f"b-round{r}")) as [cb]:
                    syncs = []
                    last = seen
                    while True:
                        s = by_conv(await cb.call({"type": "sync", "convs": {str(conv): last}},
                                                  "sync"))
                        syncs += s[conv]["messages"]
                        if not s[conv]["more"]:
                            break
                        last = s[conv]["messages"][-1]["seq"]
                    acks = await storm
                    assert all(x["type"] == "ack" for x in acks[0] + acks[1]), acks
                    total += 2 * live_per_sender
                    # Every message after `seen` reaches this connection exactly once.
                    await cb.wait_for(
                        lambda e: any(m["seq"] == total for m in syncs)
                        or (e.get("type") == "message" and e.get("seq") == total),
                        what=f"seq {total}")
                    await cb.ping()
                    live = [strip_type(m) for m in cb.messages(conv)]
                    live_seqs = [m["seq"] for m in live]
                    assert live_seqs == sorted(live_seqs), f"live out of order: {live_seqs}"
                    everything = sorted(syncs + live, key=lambda m: m["seq"])
                    seqs = [m["seq"] for m in everything]
                    dups = sorted({s for s in seqs if seqs.count(s) > 1})
                    assert not dups, (f"round {r}: duplicates {dups}; sync had "
                                      f"{[m['seq'] for m in syncs]}, live had {live_seqs}")
                    assert seqs == list(range(seen + 1, total + 1)), \
                        f"round {r}: from {seen}: got {seqs}"
                    # Sync and live describe the same messages.
                    ids = {m["seq"]: m["id"] for m in everything}
                    assert len(set(ids.values())) == len(ids)
        return total

    total = run_async(go(), 80)
    hist = api.all_messages(b, conv)
    assert [m["seq"] for m in hist] == list(range(1, total + 1))


def test_new_conversation_while_connected_is_synced_and_live(shared_server, api):
    """A conversation created after b connected: b's connection learns of it (members event),
    receives its messages live, and a bare sync includes it."""
    port = shared_server.port
    a, b = api.new_users(2, "later")

    async def go():
        async with all_connected(port, [a, b]) as [ca, cb]:
            conv = await asyncio.to_thread(api.group, a, [b], "later")
            await cb.wait_type("members", conv=conv)
            ack = await ca.send(conv, "hi")
            m = await cb.wait_message(conv)
            assert m["id"] == ack["id"], m
            s = by_conv(await cb.call({"type": "sync"}, "sync"))
            assert conv in s and s[conv]["last_seq"] == 1, s

    run_async(go(), 30)
