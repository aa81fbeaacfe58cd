#!/usr/bin/python3
"""Plots for a bench/run results file (Debian's python3-matplotlib, Agg backend).

  bench/plot.py bench/results/2026-01-01-host.json     # writes the PNGs beside it

<stem>-fanout-cdf.png   fanout delivery latency CDF, one panel per server, one line per rate
<stem>-throughput.png   echo msgs/s and broadcast deliveries/s against connections, per server
"""

from __future__ import annotations

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

DPI = 90
STYLES = {"ours": ("tab:blue", "-"), "ours-2shards": ("tab:cyan", "--")}
PEER_COLORS = ["tab:orange", "tab:red", "tab:green", "tab:purple", "tab:brown"]


def _ours(name: str) -> bool:
    """ours and ours-Nshards (bench/run on more than two CPUs), not a peer."""
    return name in STYLES or (name.startswith("ours-") and name.endswith("shards"))


def _style(name: str, targets: list[str]) -> tuple[str, str]:
    if name in STYLES:
        return STYLES[name]
    if _ours(name):
        return "navy", "-."
    peers = [t for t in targets if not _ours(t)]
    return PEER_COLORS[peers.index(name) % len(PEER_COLORS)], ":"


def _si(value: float, _pos=None) -> str:
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _si_minor(value: float, _pos=None) -> str:
    text = _si(value)
    return text if text[0] in "235" else ""


def _runs(result: dict, case_prefix: str) -> list[dict]:
    return [r for r in result["runs"] if r["case"].startswith(case_prefix) and r.get("tool")
            and r.get("repeat", 0) == 0]


def _title(result: dict, what: str) -> str:
    m = result["machine"]
    return f"{what} ({m.get('host')}, {result['date'][:10]}, {m.get('online_cpus')} CPUs, noisy)"


def _save(fig, result: dict, what: str, path: pathlib.Path) -> pathlib.Path:
    """Titles the figure (see _title), writes it to `path` and frees it."""
    fig.suptitle(_title(result, what), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def fanout_cdf(result: dict, path: pathlib.Path) -> pathlib.Path | None:
    runs = _runs(result, "fanout")
    if not runs:
        return None
    cases = list(dict.fromkeys(r["case"] for r in runs))
    targets = list(dict.fromkeys(r["target"] for r in runs))
    fig, axes = plt.subplots(len(cases), len(targets),
                             figsize=(3.6 * len(targets) + 0.6, 3.0 * len(cases) + 0.5),
                             squeeze=False, sharey=True)
    for row, case in enumerate(cases):
        for col, target in enumerate(targets):
            ax = axes[row][col]
            run = next((r for r in runs if r["case"] == case and r["target"] == target), None)
            steps = run["tool"].get("results", {}).get("steps", []) if run else []
            cmap = plt.get_cmap("viridis")
            for i, step in enumerate(steps):
                hist = step["latency_ns"]
                buckets = hist.get("buckets") or []
                total = sum(b[2] for b in buckets)
                if not total:
                    continue
                xs, ys, seen = [], [], 0
                for _low, high, count in buckets:
                    seen += count
                    xs.append(high / 1e6)
                    ys.append(seen / total)
                ax.step(xs, ys, where="post", color=cmap(i / max(1, len(steps) - 1) * 0.9),
                        lw=1.3, label=f"{step['rate']:g}/s  p99 {hist['p99'] / 1e6:.1f} ms")
            ax.axvline(10, color="grey", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_title(f"{target}: {case}", fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            if steps:
                ax.legend(fontsize=6, loc="lower right", title="publish rate",
                          title_fontsize=6)
            if row == len(cases) - 1:
                ax.set_xlabel("delivery latency, ms")
        axes[row][0].set_ylabel("fraction of deliveries")
    return _save(fig, result, "fanout to 10,000 subscribers: latency CDF per publish rate", path)


def throughput(result: dict, path: pathlib.Path) -> pathlib.Path | None:
    cases = {c["name"]: c for c in result.get("cases", [])}
    targets = [t["name"] for t in result.get("targets", [])]
    panels = [("echo", "echo: messages/s (16 in flight per connection)", "msgs/s"),
              ("broadcast", "broadcast N²: deliveries/s (20 B)", "deliveries/s")]
    panels = [p for p in panels if _runs(result, p[0])]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.8), squeeze=False)
    for ax, (prefix, title, unit) in zip(axes[0], panels):
        series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for row in result["figures"]:
            case = cases.get(row["case"])
            if not case or case["scenario"] != prefix or row["unit"] != unit:
                continue
            size = case["x"].get("size")
            label_size = "" if size is None else (" 1 KiB" if size == 1024 else f" {size} B")
            for target, value in row["values"].items():
                if value:
                    series.setdefault((target, label_size), []).append(
                        (case["x"]["connections"], value))
        order = {name: i for i, name in enumerate(targets)}
        for (target, size), points in sorted(series.items(),
                                             key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
            points.sort()
            color, ls = _style(target, targets)
            marker = "s" if "KiB" in size else "o"
            ax.plot([p[0] for p in points], [p[1] for p in points], color=color, ls=ls,
                    marker=marker, label=f"{target}{size}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_si))
        ax.yaxis.set_major_formatter(FuncFormatter(_si))
        xs = sorted({x for points in series.values() for x, _ in points})
        ax.set_xticks(xs, [_si(x) for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(FuncFormatter(_si_minor))
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    return _save(fig, result, "throughput vs connections, server on CPU 0, load on CPU 1", path)


def make_plots(result: dict, stem: pathlib.Path) -> list[pathlib.Path]:
    made = [fanout_cdf(result, stem.with_name(stem.name + "-fanout-cdf.png")),
            throughput(result, stem.with_name(stem.name + "-throughput.png"))]
    return [p for p in made if p]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = pathlib.Path(sys.argv[1])
    for p in make_plots(json.loads(src.read_text()), src.with_suffix("")):
        print(p)
