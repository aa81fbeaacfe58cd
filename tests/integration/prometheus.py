"""GET /metrics read with the reference parser (Debian's python3-prometheus-client)."""

from __future__ import annotations

import json
import pathlib
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "deploy/grafana/ringcast.json"


def scrape(port: int) -> tuple[dict, str]:
    """Families by name (a counter's without _total, as the parser names them), and the
    Content-Type."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
        content_type = response.headers["Content-Type"]
    return {family.name: family for family in text_string_to_metric_families(text)}, content_type


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """The sum of the samples of `family` named `sample` (default: the family's own, with
    _total for a counter) whose labels include `labels`; 0 when there are none."""
    if family not in families:
        return 0.0
    found = families[family]
    name = sample or (found.name + "_total" if found.type == "counter" else found.name)
    return sum(s.value for s in found.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def dashboard_metrics() -> set[str]:
    """The sample names the Grafana dashboard's queries use."""
    exprs = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
             for target in panel.get("targets", [])]
    return {name for expr in exprs for name in re.findall(r"\b(?:ringcast|process)_\w+", expr)}


# What only the SQLite store serves (its WAL and checkpoints): a PostgreSQL node has none of it,
# so the cluster test leaves these to test_store_wal.py.
SQLITE_ONLY = re.compile(r"^ringcast_store_(wal|checkpoints)_")


def sample_names(families: dict) -> set[str]:
    return {s.name for family in families.values() for s in family.samples}
