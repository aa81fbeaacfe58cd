"""Durability across restarts (PROTOCOL.md "send": an ack means committed; cid dedup "before or
after a restart"): kill -9 during a send storm, start again on the same --data-dir (or
--database-url), and every
acked message is there exactly once with its seq, seqs are gap-free, resending any cid never
duplicates, and new sends continue at last_seq + 1. A clean restart keeps accounts,
conversations, watermarks, last_online and revoked tokens."""

from __future__ import annotations

import asyncio
import signal

import pytest

from chat_client import (JWT_SECRET, TIMEOUT, Api, ChatConn, all_connected, chat_args, close_all,
                         connect_all)
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

ARGS = chat_args(jwt_secret=JWT_SECRET, presence_grace=0)


def restart_on_same_data(server_factory, old, name: str):
    """A new server object (so the old one's logs stay readable) on the old one's store (data
    dir, and database with PostgreSQL) and port."""
    srv = server_factory(*old.extra_args, start=False, name=name, database_url=old.database_url)
    srv.data_dir = old.data_dir
    srv.port = old.port
    srv.start()
    return srv


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_during_send_storm_loses_no_acked_message(server_factory):
    srv = server_factory(*ARGS)
    api = Api(srv.port)
    users = api.new_users(4, "storm")
    conv = api.group(users[0], users[1:], "storm")
    dm = api.direct(users[0], users[1])
    per_sender = 400
    sent: dict[str, tuple[int, str]] = {}  # cid → (conv, body)
    acks: dict[str, dict] = {}

    async def storm():
        conns = await connect_all(srv.port, users)
        stop = asyncio.Event()

        async def sender(i: int, c: ChatConn):
            for k in range(per_sender):
                target = dm if (i < 2 and k % 5 == 0) else conv
                cid = f"u{i}-{k}"
                sent[cid] = (target, f"body {cid}")
                try:
                    await c.send_json(c.send_request(target, f"body {cid}", cid=cid))
                except Exception:  # noqa: BLE001 - the server died: expected
                    return
                if k % 20 == 19:
                    await asyncio.sleep(0.005)
                if stop.is_set():
                    return

        async def killer():
            # Kill once a good share of messages is acked and more are in flight.
            while sum(len(c.typed("ack")) for c in conns) < per_sender:
                await asyncio.sleep(0.005)
            srv.expect_rc = None
            srv.proc.send_signal(signal.SIGKILL)
            stop.set()

        tasks = [asyncio.ensure_future(sender(i, c)) for i, c in enumerate(conns)]
        await asyncio.wait_for(killer(), 60)
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in conns:
            await c.wait_closed(TIMEOUT)
        for c in conns:
            for ev in c.typed("ack"):
                assert ev["cid"] not in acks, f"two acks for {ev['cid']}"
                acks[ev["cid"]] = ev
            errs = c.typed("error")
            assert not errs, errs[:3]
        await close_all(conns)

    run_async(storm(), 90)
    srv.wait(10)
    assert srv.returncode == -signal.SIGKILL, srv.returncode
    assert len(acks) >= per_sender, len(acks)

    new = restart_on_same_data(server_factory, srv, "restarted")
    api = Api(new.port)
    users = [api.login_user(u.name, u.id) for u in users]

    def check_stored():
        """Every acked message stored once with its ack's id/seq; seqs gap-free; returns
        cid → stored message."""
        stored = {}
        for c in (conv, dm):
            hist = api.all_messages(users[0], c)
            assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1)), \
                f"conv {c}: seqs not gap-free from 1: {[m['seq'] for m in hist][:50]}"
            for m in hist:
                cid = m["body"][5:]
                assert m["body"].startswith("body ") and cid in sent, m
                assert cid not in stored, f"message {cid} stored twice: {stored[cid]} and {m}"
                assert sent[cid][0] == c, (m, sent[cid])
                stored[cid] = m
        missing = [cid for cid in acks if cid not in stored]
        assert not missing, f"{len(missing)} acked messages lost, e.g. {missing[:10]}"
        for cid, ack in acks.items():
            m = stored[cid]
            assert (m["id"], m["seq"], m["conv"], m["ts"]) == \
                (ack["id"], ack["seq"], ack["conv"], ack["ts"]), (m, ack)
        return stored

    stored = check_stored()
    last = {c: max([m["seq"] for m in stored.values() if m["conv"] == c], default=0)
            for c in (conv, dm)}

    async def resend(conn: ChatConn, cids: list[str]) -> dict[str, dict]:
        """Pipelines a resend of each cid (same conversation and body), then collects the
        answers: cid → ack or error."""
        for cid in cids:
            await conn.send_json(conn.send_request(sent[cid][0], sent[cid][1], cid=cid))
        return {cid: await conn.wait_for(lambda e, cid=cid: e.get("type") in ("ack", "error")
                                         and e.get("cid") == cid, what=f"ack {cid}")
                for cid in cids}

    def sender_of(cid: str) -> int:
        return int(cid[1:].split("-")[0])

    async def resume():
        async with all_connected(new.port, users) as conns:
            # Resending acked cids: the original acks, nothing stored again. Resending every
            # unacked cid (as a client would): stored at most once in total.
            again = list(acks)[:20] + list(acks)[-20:]
            unacked = [cid for cid in sent if cid not in acks]
            answers = await asyncio.gather(*(
                resend(c, [cid for cid in again + unacked if sender_of(cid) == i])
                for i, c in enumerate(conns)))
            answers = {cid: ev for a in answers for cid, ev in a.items()}
            for cid in again:
                assert answers[cid] == acks[cid], (answers[cid], acks[cid])
            for cid in unacked:
                ev = answers[cid]
                assert ev["type"] == "ack", ev
                if cid in stored:  # Committed before the kill, ack lost: the original.
                    assert (ev["id"], ev["seq"]) == (stored[cid]["id"], stored[cid]["seq"])
            return await conns[0].send(conv, "after restart", cid="fresh-after-restart")

    fresh = run_async(resume(), 90)
    n_new_in_conv = sum(1 for cid in sent if cid not in stored and sent[cid][0] == conv)
    assert fresh["seq"] == last[conv] + n_new_in_conv + 1, (fresh, last, n_new_in_conv)
    for c in (conv, dm):
        hist = api.all_messages(users[0], c)
        bodies = [m["body"] for m in hist]
        assert len(bodies) == len(set(bodies)), "duplicates after resending"
        assert [m["seq"] for m in hist] == list(range(1, len(hist) + 1))
        expected = {f"body {cid}" for cid in sent if sent[cid][0] == c}
        if c == conv:
            expected.add("after restart")
        assert set(bodies) == expected, (len(bodies), len(expected))


@pytest.mark.timeout(90)
def test_clean_restart_keeps_accounts_conversations_and_state(server_factory):
    srv = server_factory(*ARGS)
    api = Api(srv.port)
    a, b, c = api.new_users(3, "keep")
    conv = api.group(a, [b, c], "kept")

    async def before():
        async with all_connected(srv.port, [a, b, c]) as [ca, cb, cc]:
            acks = [await ca.send(conv, f"k{i}", cid=f"k{i}") for i in range(5)]
            await cb.send_json({"type": "read", "conv": conv, "seq": 3})
            await ca.wait_type("receipt", conv=conv, user=b.id, read=3)
            await cc.send_json({"type": "delivered", "conv": conv, "seq": 5})
            await ca.wait_type("receipt", conv=conv, user=c.id, delivered=5)
            return acks

    acks = run_async(before(), 40)
    revoked = api.login_user(a.name, a.id)
    assert api.logout(revoked.token).status == 200
    assert srv.stop() == 0

    new = restart_on_same_data(server_factory, srv, "restarted")
    api = Api(new.port)
    # Accounts survive (a duplicate is still refused), and so does the revocation.
    assert api.register(a.name.upper()).status == 409
    assert api.request("GET", "/api/conversations", token=revoked.token).status == 401
    a2, b2, c2 = (api.login_user(u.name, u.id) for u in (a, b, c))

    e = api.conversation(b2, conv)
    assert e["name"] == "kept" and sorted(e["members"]) == sorted([a.id, b.id, c.id]), e
    assert (e["last_seq"], e["read_seq"], e["unread"]) == (5, 3, 2), e
    assert e["last_message"]["id"] == acks[-1]["id"], e
    hist = api.all_messages(c2, conv)
    assert [(m["id"], m["seq"], m["body"]) for m in hist] == \
        [(x["id"], x["seq"], f"k{i}") for i, x in enumerate(acks)]

    async def after():
        async with all_connected(new.port, [a2, b2]) as [ca, cb]:
            hello = ca.typed("hello")[0]
            listed = {p["user"]: p for p in hello["presence"]}
            # c was online before the restart: its last_online was persisted.
            assert listed[c.id]["status"] == "offline", listed
            assert isinstance(listed[c.id]["last_online"], int), listed
            s = await cb.call({"type": "sync", "convs": {str(conv): 5}}, "sync")
            (entry,) = s["convs"]
            wm = {m["user"]: (m["delivered"], m["read"]) for m in entry["members"]}
            assert wm[b.id] == (3, 3) and wm[c.id] == (5, 0), wm
            # The cid of a message from before the restart: the original ack.
            again = await ca.send_raw(conv, "k0", cid="k0")
            assert again == acks[0], (again, acks[0])
            nxt = await ca.send(conv, "k5", cid="k5")
            assert nxt["seq"] == 6 and nxt["id"] not in {x["id"] for x in acks}, nxt

    run_async(after(), 40)
