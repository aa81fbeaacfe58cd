"""What the results need to say about the machine and the build: CPU, kernel, memory, load,
hypervisor steal time over the run (the noise the figures carry), git commit, tool versions."""

from __future__ import annotations

import os
import pathlib
import platform
import socket
import subprocess


def _read(path: str) -> str:
    try:
        return pathlib.Path(path).read_text()
    except OSError:
        return ""


def cpu_times() -> list[int]:
    """Aggregate /proc/stat cpu line: user nice system idle iowait irq softirq steal ..."""
    for line in _read("/proc/stat").splitlines():
        if line.startswith("cpu "):
            return [int(v) for v in line.split()[1:]]
    return []


def cpu_usage_between(before: list[int], after: list[int]) -> dict:
    """Percent of all CPU time between two cpu_times() samples: busy, steal."""
    if not before or not after:
        return {}
    delta = [a - b for a, b in zip(after, before)]
    total = sum(delta[:8]) or 1
    idle = delta[3] + delta[4]
    steal = delta[7] if len(delta) > 7 else 0
    return {"busy_percent": round(100.0 * (total - idle - steal) / total, 1),
            "steal_percent": round(100.0 * steal / total, 1)}


def _cmd(argv: list[str], cwd: pathlib.Path | None = None) -> str:
    try:
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=20)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def describe(repo: pathlib.Path) -> dict:
    cpu_model = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_total_kib = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_total_kib = int(line.split()[1])
    status = _cmd(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    build_type = ""
    for line in _read(str(repo / "build/release/CMakeCache.txt")).splitlines():
        if line.startswith("CMAKE_BUILD_TYPE:"):
            build_type = line.split("=", 1)[1]
    return {
        "host": socket.gethostname(),
        "kernel": " ".join(platform.uname()[2:4]),
        "cpu_model": cpu_model,
        "online_cpus": os.cpu_count(),
        "mem_total_bytes": mem_total_kib * 1024,
        "loadavg_start": _read("/proc/loadavg").split()[:3],
        "fd_limit": _cmd(["sh", "-c", "ulimit -n"]),
        "git_commit": _cmd(["git", "rev-parse", "HEAD"], repo),
        "git_modified_files": [line.split(maxsplit=1)[-1] for line in status.splitlines()],
        "build_type": build_type,
        "compiler": _cmd(["c++", "--version"]).splitlines()[0:1],
        "python": platform.python_version(),
        "node": _cmd(["node", "--version"]),
    }
