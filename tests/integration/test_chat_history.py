"""History over the WebSocket: answered from the conversation owner's cache of recent messages
when it holds the page, from the store otherwise. Either way every page must equal the store's
(the HTTP API reads the store), at the edges of the cache too."""

from __future__ import annotations

import pytest

from chat_client import FAST_ARGS, aio, all_connected
from support import run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores

SERVER_ARGS = FAST_ARGS


def test_every_history_page_matches_the_store(shared_server, api):
    a, b = api.new_users(2, "hist")
    conv = api.group(a, [b], name="history")
    total = 100  # More than the owner keeps (64), so some pages come from the store.

    async def go():
        async with all_connected(shared_server.port, [a, b]) as [ca, cb]:
            for i in range(1, total + 1):
                await ca.send(conv, f"m{i}")
            pages = [(None, None), (None, 50), (None, 64), (None, 65), (None, 200), (101, 10),
                     (60, 20), (40, 5), (37, 1), (36, 30), (20, 50), (2, 10), (1, 10), (500, 3),
                     (0, None), (0, 7)]  # before 0: the newest, over HTTP as over /ws
            for before, limit in pages:
                ask = {"type": "history", "conv": conv}
                if before is not None:
                    ask["before"] = before
                if limit is not None:
                    ask["limit"] = limit
                ws = await cb.call(ask, "history")
                http = (await aio(api.messages, b, conv, before=before, limit=limit)).json
                assert ws["messages"] == http["messages"], (before, limit, ws, http)
                assert ws["more"] == http["more"], (before, limit, ws["more"], http["more"])
                seqs = [m["seq"] for m in ws["messages"]]
                assert seqs == sorted(seqs, reverse=True), seqs

    run_async(go(), 60)
