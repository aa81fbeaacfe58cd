"""Where the host put our two vCPUs during a run, and whether that run counts.

On the VMs we bench on, one cache line's round trip between CPU 0 (the server) and CPU 1 (the
load tool) is about 90 ns most of the time and about 430 ns when the host has moved the two vCPUs
onto cores that share no cache. Every loopback packet crosses between them, so a run on distant
vCPUs is 10-25% slower with the same binary (bench/README.md, "Placement"). bench/run watches the
distance during each run with `ringcast-bench cpu-distance` and runs again, a bounded number of
times, any run that saw it jump: the figures then compare binaries, not placements.
"""

from __future__ import annotations

import json
import pathlib
import signal
import statistics
import subprocess
import time

# A run is on distant vCPUs when a sample is this many times the nearest distance of the session
# (the lowest median of a run): near samples stay within 1.5x of one another, distant ones are
# 4-5x the near ones.
FAR_FACTOR = 2.5
SAMPLE_EVERY_MS = 250
WAIT_POLL_S = 2.0


def is_far(samples_ns: list[float], nearest_ns: float, factor: float = FAR_FACTOR) -> bool:
    """Whether any sample of a run lies beyond `factor` times the session's nearest distance."""
    return bool(samples_ns) and nearest_ns > 0 and max(samples_ns) > factor * nearest_ns


class Watch:
    """One `ringcast-bench cpu-distance --every-ms` process alongside a run."""

    def __init__(self, tool_bin: pathlib.Path, cpu_a: str, cpu_b: str, json_path: pathlib.Path):
        self.json_path = json_path
        self.proc = subprocess.Popen(
            [str(tool_bin), "cpu-distance", "--cpu-a", cpu_a, "--cpu-b", cpu_b, "--every-ms",
             str(SAMPLE_EVERY_MS), "-q", "--json", str(json_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> list[float]:
        """The samples, in ns (empty when the probe could not run: too few CPUs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            report = json.loads(self.json_path.read_text())
        except (OSError, ValueError):
            return []
        return [s["round_trip_ns"] for s in report.get("samples", [])]


def summarize(samples_ns: list[float]) -> dict:
    """What a run's record keeps of its samples (`cpu_distance_ns`)."""
    return {"min": min(samples_ns), "median": statistics.median(samples_ns),
            "max": max(samples_ns), "samples": [round(v) for v in samples_ns]}


def merge(summaries: list[dict]) -> dict | None:
    """One record's distance from those of its parts (the runs of a cluster case)."""
    if not summaries:
        return None
    return {"min": min(s["min"] for s in summaries),
            "median": min(s["median"] for s in summaries),
            "max": max(s["max"] for s in summaries)}


def measure_once(tool_bin: pathlib.Path, cpu_a: str, cpu_b: str) -> float | None:
    """One sample, in ns; None when the probe cannot pin to those CPUs."""
    out = subprocess.run([str(tool_bin), "cpu-distance", "--cpu-a", cpu_a, "--cpu-b", cpu_b],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return None
    try:
        return float(out.stdout.split(":")[-1].split()[0])
    except (IndexError, ValueError):
        return None


def wait_for_near(tool_bin: pathlib.Path, cpu_a: str, cpu_b: str, nearest_ns: float,
                  timeout_s: float) -> tuple[bool, float]:
    """Polls until the distance is near again (a far spell lasts seconds to minutes), at most
    `timeout_s`: (near, seconds waited)."""
    started = time.monotonic()
    while True:
        distance = measure_once(tool_bin, cpu_a, cpu_b)
        waited = time.monotonic() - started
        if distance is None or not is_far([distance], nearest_ns):
            return True, waited
        if waited + WAIT_POLL_S > timeout_s:
            return False, waited
        time.sleep(WAIT_POLL_S)


def nearest_after(nearest: float | None, record: dict) -> float | None:
    """The session's nearest distance once a run's record is in: a run's median, not one
    sample, can lower it. None stays None (the distance cannot be measured here)."""
    distance = record.get("cpu_distance_ns")
    if nearest is None or not distance:
        return nearest
    return min(nearest, distance["median"])


def far_run(record: dict, nearest: float | None) -> bool:
    distance = record.get("cpu_distance_ns")
    return bool(distance) and nearest is not None and is_far([distance["max"]], nearest)


def summary(records: list[dict], nearest: float | None, reruns: int) -> dict:
    """The results' `placement`: the runs superseded by a rerun, and those still far when the
    reruns ran out (they count as they are)."""
    far = [r for r in records if r.get("superseded")]
    still = [r for r in records if not r.get("superseded") and far_run(r, nearest)]
    return {"nearest_ns": nearest, "far_factor": FAR_FACTOR, "reruns": reruns,
            "far_runs": len(far), "still_far": len(still)}
