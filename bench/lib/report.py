"""From bench/run's run records to what it prints and writes.

A line per run (its figures, the server's CPU, ok or why it failed), the table of figures (one
row per case and metric: the median over repeats of each target, and ours against each peer),
the PostgreSQL ingest ceiling's table and its share row, and the results JSON's text (histogram
buckets on one line; the repeats' buckets dropped).
"""

from __future__ import annotations

import hashlib
import json
import statistics

import layout
import pg
import plan
from servers import Target


def strip_buckets(value) -> None:
    if isinstance(value, dict):
        value.pop("buckets", None)
        for v in value.values():
            strip_buckets(v)
    elif isinstance(value, list):
        for v in value:
            strip_buckets(v)


def describe_layouts(single: layout.Layout, many: layout.Layout) -> str:
    """The machine and both layouts, for the start of the output."""
    m = single.topology.describe()
    head = (f"{m['cpu_count']} CPUs ({m['cpus']}; {m['physical_cores']} cores, "
            f"{'SMT ' + str(m['threads_per_core']) + ' threads a core' if m['smt'] else 'no SMT'}"
            f", {m['numa_nodes']} NUMA node{'s' if m['numa_nodes'] > 1 else ''}), "
            f"{single.policy} policy")
    return (f"{head}\n     single server: {single.line()}; tool threads {single.tool_threads()}"
            f"\n     cluster cases: {many.line()}; tool threads {many.tool_threads()}")


def describe_run(record: dict) -> str:
    parts = []
    for f in record.get("figures", []):
        parts.append(f"{f['metric']} {fmt(f['value'], f['unit'])}")
    tool = record.get("tool")
    reports = tool if isinstance(tool, list) else [tool or {}]
    cpu = [r.get("server", {}).get("cpu_percent_measured") for r in reports]
    if cpu and cpu[0] is not None and record["scenario"] != "idle":
        parts.append(f"server CPU {cpu[0]:.0f}%")
    status = "ok" if record["ok"] else "FAILED"
    if not record["ok"]:
        detail = (record.get("error") or "").split("\n")[0] or "; ".join(
            record.get("errors", [])[:3])
        if not record.get("server_alive_after_load", True):
            detail = "server died during the run; " + detail
        elif not record.get("server_exit_ok", True):
            detail = f"server exit status {record.get('server_exit_code')}; " + detail
        status += f" ({detail or 'tool exit ' + str(record.get('tool_rc'))})"
    return f"{', '.join(parts) or '-'} [{status}, {record.get('seconds', 0):.0f} s]"




def fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "msgs/s" and value < 1000:
        return f"{value:g}/s" if value else "none"
    return f"{value:,.0f}/s" if unit.endswith("/s") else f"{value:,.0f}"


def collect_figures(records: list[dict], cases: list[plan.Case], targets: list[Target]) -> list:
    """One row per (case, metric): the median over repeats of each target's value."""
    rows = []
    for case in cases:
        metrics: dict[str, dict] = {}
        records = [r for r in records if not r.get("superseded")]  # Run again: see placement.
        for rec in records:
            if rec["case"] != case.name:
                continue
            for f in rec.get("figures", []):
                row = metrics.setdefault(f["metric"], {"case": case.name, "metric": f["metric"],
                                                       "unit": f["unit"],
                                                       "higher_is_better": f["higher_is_better"],
                                                       "samples": {}, "ok": {}})
                row["samples"].setdefault(rec["target"], []).append(f["value"])
                row["ok"][rec["target"]] = row["ok"].get(rec["target"], True) and rec["ok"]
        for rec in records:  # A run that yielded no figure (start failure, crash) still shows.
            if rec["case"] == case.name and not rec.get("figures"):
                for row in metrics.values():
                    row["samples"].setdefault(rec["target"], []).append(None)
                    row["ok"][rec["target"]] = False
        for row in metrics.values():
            row["values"] = {t: (statistics.median([v for v in vals if v is not None])
                                 if any(v is not None for v in vals) else None)
                             for t, vals in row["samples"].items()}
            # "How many times better ours is": ours/peer for throughput, peer/ours for memory
            # and latency, so > 1 always favours ours and reads against the targets directly.
            ours = row["values"].get("ours")
            row["ratios"] = {}
            for t in targets:
                if t.kind == "peer":
                    peer = row["values"].get(t.name)
                    ratio = None
                    both_ok = row["ok"].get("ours", True) and row["ok"].get(t.name, True)
                    if ours and peer and both_ok:
                        ratio = ours / peer if row["higher_is_better"] else peer / ours
                    row["ratios"][t.name] = ratio
            rows.append(row)
    return rows


def print_table(rows: list, targets: list[Target]) -> str:
    header = ["scenario", "metric"] + [t.name for t in targets]
    for t in targets:
        if t.kind == "peer":
            header.append(f"ours vs {t.name}")
    lines = [header]
    for row in rows:
        line = [row["case"], row["metric"] + ("" if row["higher_is_better"] else " (lower better)")]
        for t in targets:
            if t.name not in row["values"]:
                line.append("n/a")
                continue
            value = row["values"][t.name]
            text = fmt(value, row["unit"]) if value is not None else ""
            if not row["ok"].get(t.name, True):
                text = (text + " FAIL").strip()
            line.append(text)
        for t in targets:
            if t.kind == "peer":
                r = row["ratios"].get(t.name)
                line.append("-" if r is None else f"{r:.2f}x")
        lines.append(line)
    widths = [max(len(l[i]) for l in lines) for i in range(len(header))]
    text = []
    for n, l in enumerate(lines):
        cells = [l[0].ljust(widths[0]), l[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(l[2:], widths[2:])]
        text.append("  ".join(cells))
        if n == 0:
            text.append("  ".join("-" * w for w in widths))
    out = "\n".join(text)
    print(out, flush=True)
    return out


def describe_ceiling(record: dict) -> str:
    if not record["ok"]:
        return f"FAILED ({(record.get('error') or '').strip().splitlines()[-1:]})"
    best = max((p for p in record["points"] if p["mode"] == "store"),
               key=lambda p: p["rows_per_s"], default=None)
    parts = [f"{p['mode']} {p['batch']}x{p['connections']}: {p['rows_per_s']:,.0f}/s"
             for p in record["points"]]
    head = f"best store {best['rows_per_s']:,.0f} rows/s; " if best else ""
    return f"{head}{', '.join(parts)} [ok, {record['seconds_total']:.0f} s]"


def ceiling_rows(records: list[dict]) -> list[dict]:
    """Medians over the repeats of each ceiling point."""
    by_point: dict[tuple, list[dict]] = {}
    for rec in records:
        for p in rec.get("points", []) if rec["ok"] else []:
            by_point.setdefault((p["mode"], p["batch"], p["connections"]), []).append(p)
    rows = []
    for (mode, batch, conns), points in by_point.items():
        rows.append({"mode": mode, "batch": batch, "connections": conns,
                     "label": pg.point_label(points[0]),
                     "rows_per_s": statistics.median(p["rows_per_s"] for p in points),
                     "samples": [p["rows_per_s"] for p in points],
                     "batch_ms_p99": statistics.median(p["batch_ms_p99"] for p in points)})
    return rows


def add_ceiling_ratio(rows: list, ceiling: list[dict]) -> None:
    """chat-1k-pg's persisted msgs/s as a share of PostgreSQL's best rate for the store's
    statements measured in the same run, as a row of the main table."""
    store = [c for c in ceiling if c["mode"] == "store"]
    if not store:
        return
    best = max(store, key=lambda c: c["rows_per_s"])
    for i, row in enumerate(rows):
        if row["case"] == "chat-1k-pg" and row["metric"] == "persisted msgs/s (best step)":
            ours = row["values"].get("ours")
            rows.insert(i + 1, {
                "case": row["case"], "unit": "x", "higher_is_better": True,
                "metric": f"persisted / PG ceiling ({best['rows_per_s']:,.0f} rows/s: batch "
                          f"{best['batch']}, {best['connections']} conn)",
                "values": {"ours": ours / best["rows_per_s"] if ours else None},
                "ok": dict(row["ok"]), "ratios": {}, "samples": {}})
            return


def print_ceiling(ceiling: list[dict]) -> str:
    lines = ["PostgreSQL ingest ceiling (ringcast-pg-ingest, no ringcast; fsync on; rows/s, "
             "medians):"]
    for c in ceiling:
        lines.append(f"  {c['label']:<44} {c['rows_per_s']:>10,.0f} rows/s   "
                     f"commit p99 {c['batch_ms_p99']:.1f} ms")
    out = "\n".join(lines)
    print(out, flush=True)
    return out


def results_name(stem: str, quick: bool, peers: list[str], only: str,
                 case_names: list[str]) -> str:
    """The results file's name: <stem>[-quick][-<peers>][-<only cases>].json. A partial run
    (--only) never overwrites a full run's results, so it is named by its cases; when a prefix
    picked many of them (`echo` is a dozen), by the selection as given, and past that by a hash of
    it: a file name has at most 255 bytes."""
    suffix = ("-quick" if quick else "") + "".join(f"-{peer}" for peer in peers)
    if only:
        picked = "-".join(case_names)
        if len(picked) > 100:
            picked = "-".join(w.strip() for w in only.split(",") if w.strip())
        if len(picked) > 100:
            picked = "only-" + hashlib.sha256(only.encode()).hexdigest()[:12]
        suffix += "-" + picked
    return f"{stem}{suffix}.json"


def dump_json(value, indent: str = "") -> str:
    """Indented JSON whose lists of numbers (histogram buckets) stay on one line each."""
    inner = indent + " "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [inner + dump_json(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, separators=(",", ":"))
