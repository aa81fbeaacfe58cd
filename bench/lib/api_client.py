"""The server's HTTP API as the bench scripts outside the suite call it (bench/search_bench.py,
bench/uploads_bench.py, which put this folder on sys.path): one request on a connection of its own
to 127.0.0.1, so a script needs no session object and a server restart leaves nothing stale."""

from __future__ import annotations

import http.client
import json


def request(port: int, method: str, path: str, body=None, token: str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """`body` other than None goes as JSON; `token` as the bearer. Returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, out
