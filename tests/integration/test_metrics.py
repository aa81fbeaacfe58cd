"""GET /metrics (docs/metrics.md): the Prometheus text format, parsed by the reference parser
(Debian's python3-prometheus-client), with figures that move as load is applied.

- Every family has HELP and TYPE; counters end in _total; histograms are cumulative and end in
  +Inf with _count equal to it.
- 100 messages sent → sends and acks +100, ack latency observations +100; fan-out deliveries
  count each recipient connection; a refused send counts an error by code; a client's close
  counts by reason and code; HTTP requests count by route and status; the store counts batches;
  the loops count their turns, completions and socket sends.
- --metrics-port serves /metrics on a listener of its own (127.0.0.1 by default); without
  --metrics-on-main-port the main (public) port has no /metrics, and by default it has none.
  (The test harness passes --metrics-on-main-port to its servers: support.py.)
"""

from __future__ import annotations

import time
import urllib.request

import pytest

from chat_client import Api, chat_args, connected
from prometheus import scrape, value
from support import free_port, run_async

# Every test twice: SQLite and PostgreSQL (conftest.py, "Two stores").
pytestmark = pytest.mark.both_stores


@pytest.mark.server_args(*chat_args())
def test_metrics_parse_and_move_with_load(server):
    api = Api(server.port)
    before, content_type = scrape(server.port)
    assert content_type.startswith("text/plain; version=0.0.4")
    for name, family in before.items():
        # The parser strips _total from a counter's family name; each has its HELP text.
        assert family.documentation, name
        assert family.type in ("counter", "gauge", "histogram"), (name, family.type)
    assert value(before, "ringcast_build_info") == 1
    assert value(before, "ringcast_shards") == 2
    assert value(before, "process_resident_memory_bytes") > 1e6
    assert value(before, "ringcast_scrape_incomplete") == 0

    a, b, conv = api.direct_pair("met")

    async def go():
        async with connected((server.port, a.token, "a"), (server.port, b.token, "b")) as [ca, cb]:
            for i in range(100):
                await ca.send(conv, f"m{i}")
            await cb.wait_count(lambda e: e.get("type") == "message", 100)
            refused = await ca.send_raw(conv + 1000, "nobody's conversation")
            assert refused["type"] == "error" and refused["code"] == "forbidden", refused

    run_async(go(), 60)
    # A closed connection is counted once its socket is released, just after the closing
    # handshake the client saw.
    deadline = time.monotonic() + 10
    while True:
        after, _ = scrape(server.port)
        closed = value(after, "ringcast_connections_closed", reason="peer_closed", code="1000")
        if closed - value(before, "ringcast_connections_closed", reason="peer_closed",
                          code="1000") >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    def delta(family, sample=None, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert delta("ringcast_chat_sends") == 100
    assert delta("ringcast_chat_acks") == 100
    assert delta("ringcast_chat_ack_latency_seconds", "ringcast_chat_ack_latency_seconds_count") \
        == 100
    # Each message to both members' connections (the sender gets its own copy too).
    assert delta("ringcast_fanout_deliveries") >= 200
    assert delta("ringcast_chat_delivery_latency_seconds",
                 "ringcast_chat_delivery_latency_seconds_count") >= 100
    assert delta("ringcast_chat_errors", code="forbidden") == 1
    assert delta("ringcast_websocket_messages_received") >= 101
    assert delta("ringcast_connections_closed", reason="peer_closed", code="1000") == 2
    assert delta("ringcast_http_requests", route="/api/register", code="201") == 2
    assert delta("ringcast_http_requests", route="/ws", code="101") == 2
    assert delta("ringcast_store_batches") >= 1
    # The loop's own figures: every delivery left in some send, each turn reaped completions.
    sends = delta("ringcast_socket_sends")
    assert 1 <= sends <= delta("ringcast_websocket_frames_sent")
    turns = sum(delta("ringcast_loop_turns", shard=str(i)) for i in range(2))
    assert turns >= 1
    assert sum(delta("ringcast_loop_completions", shard=str(i)) for i in range(2)) >= sends
    assert delta("ringcast_store_write_jobs") >= 100
    assert value(after, "ringcast_store_up") == 1
    # Histograms: cumulative buckets, the last (+Inf) equal to _count.
    ack = [s for s in after["ringcast_chat_ack_latency_seconds"].samples]
    buckets = [s.value for s in ack if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets)
    assert [s.labels["le"] for s in ack if s.name.endswith("_bucket")][-1] == "+Inf"
    assert buckets[-1] == value(after, "ringcast_chat_ack_latency_seconds",
                                "ringcast_chat_ack_latency_seconds_count")
    assert value(after, "ringcast_chat_ack_latency_seconds",
                 "ringcast_chat_ack_latency_seconds_sum") > 0


def test_metrics_port_is_a_listener_of_its_own(server_factory):
    metrics_port = free_port()
    server = server_factory(*chat_args(), "--metrics-port", str(metrics_port))
    families, _ = scrape(metrics_port)
    assert value(families, "ringcast_shards") == 2
    # Not on the main port then: there it is an ordinary path (no file of that name).
    assert Api(server.port).request("GET", "/metrics").status == 404
    other = urllib.request.Request(f"http://127.0.0.1:{metrics_port}/other")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(other, timeout=10)
    assert refused.value.code == 404


@pytest.mark.sqlite_only("the engine's routes, not the store")
def test_no_metrics_on_the_public_port_by_default(server_factory, tmp_path):
    """No metrics flag at all (not even the harness's --metrics-on-main-port): the public port
    answers /metrics as any unknown path."""
    server = server_factory(base_args=False, env={
        "RINGCAST_HOST": "127.0.0.1", "RINGCAST_PORT": "{port}", "RINGCAST_THREADS": "1",
        "RINGCAST_DATA_DIR": str(tmp_path / "data")})
    assert "--metrics" not in " ".join(server.argv())
    assert Api(server.port).request("GET", "/metrics").status == 404
    assert Api(server.port).request("GET", "/health").status == 200
