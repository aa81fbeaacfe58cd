#!/usr/bin/env python3
"""Whether a Node version is one that the project's npm packages accept (`engines.node`).

    tools/node_engines.py check [--node VERSION] DIR...

checks VERSION (default: `node --version`) against the engines.node range of DIR/package.json
and of every package in DIR/package-lock.json (what `npm ci` installs), and says which ones
exclude it (exit 1). tools/deps.sh test runs it on clients/js and tests/browser;
tests/integration/test_deps.py holds the lockfiles to Debian 12's nodejs (DEBIAN_12_NODE).

`satisfies` reads npm's range grammar (node-semver, "Ranges"): `||`, hyphen ranges, x-ranges,
`^`, `~` and the comparison operators, for release versions (Node has no prereleases).
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys

DEBIAN_12_NODE = "18.20.4"  # bookworm's nodejs (and bookworm-security's, at 18.20.4+dfsg-1~deb12u1)

_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$")
_INF = 1 << 62


def parse_version(text: str) -> tuple[int, int, int]:
    """v18.20.4 or 18.20.4 -> (18, 20, 4)."""
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if not m:
        raise ValueError(f"not a Node version: {text!r}")
    return int(m[1]), int(m[2]), int(m[3])


def _partial(text: str) -> list[int]:
    """'1.2' -> [1, 2]; 'x', '*' or '' -> []: the numbers given before the first wildcard."""
    if text in ("", "*", "x", "X"):
        return []
    m = _PARTIAL.match(text)
    if not m:
        raise ValueError(f"bad version in range: {text!r}")
    parts = []
    for group in m.groups():
        if group is None or group in "xX*":
            break
        parts.append(int(group))
    return parts


def _bump(parts: list[int]) -> tuple[int, int, int]:
    """The first version past every one that starts with `parts` ([1, 2] -> 1.3.0)."""
    if not parts:
        return (_INF, 0, 0)
    bumped = parts[:-1] + [parts[-1] + 1]
    return tuple(bumped + [0] * (3 - len(bumped)))  # type: ignore[return-value]


def _low(parts: list[int]) -> tuple[int, int, int]:
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


def _interval(op: str, parts: list[int]) -> tuple[tuple, tuple]:
    """A comparator as [low, high): the versions v with low <= v < high."""
    zero, top = (0, 0, 0), (_INF, 0, 0)
    if op in ("", "="):
        return (_low(parts), _bump(parts)) if parts else (zero, top)
    if op == ">=":
        return _low(parts), top
    if op == ">":
        return (_bump(parts), top) if parts else (top, top)
    if op == "<":
        return zero, (_low(parts) if parts else zero)
    if op == "<=":
        return zero, _bump(parts)
    if op == "~":
        return _low(parts), _bump(parts[:2] if len(parts) > 1 else parts)
    if op == "^":
        # The first non-zero number given may not change (^0.2.3 < 0.3.0, ^0.0 < 0.1.0).
        significant = next((i for i, n in enumerate(parts) if n != 0), len(parts) - 1)
        return _low(parts), _bump(parts[:significant + 1])
    raise ValueError(f"bad operator {op!r}")


def satisfies(version: str, range_text: str) -> bool:
    v = parse_version(version)
    for alternative in range_text.split("||"):
        alternative = alternative.strip()
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", alternative)
        if hyphen:
            intervals = [_interval(">=", _partial(hyphen[1])), _interval("<=", _partial(hyphen[2]))]
        else:
            # npm allows a space between an operator and its version (">= 18").
            tokens = re.findall(r"(<=|>=|<|>|=|\^|~>?|)\s*([^\s<>=^~]*)", alternative)
            intervals = [_interval(op.rstrip(">") if op.startswith("~") else op, _partial(ver))
                         for op, ver in tokens if op or ver] or [_interval("", [])]
        if all(low <= v < high for low, high in intervals):
            return True
    return False


def node_ranges(directory: pathlib.Path) -> list[tuple[str, str]]:
    """(who, engines.node) for the package in `directory` and every package its lockfile holds."""
    ranges = []
    package = json.loads((directory / "package.json").read_text())
    ranges.append((f"{directory}/package.json", package.get("engines", {}).get("node")))
    lock = directory / "package-lock.json"
    if lock.exists():
        for path, entry in json.loads(lock.read_text()).get("packages", {}).items():
            engines = entry.get("engines")
            # Very old packages wrote engines as a list ("node >= 0.8"); npm ignores those.
            if isinstance(engines, dict) and "node" in engines:
                ranges.append((f"{directory}/package-lock.json: {path or '(root)'}",
                               engines["node"]))
    return ranges


def main(argv: list[str]) -> int:
    args = argv[1:]
    if not args or args[0] != "check":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    args = args[1:]
    if args[:1] == ["--node"]:
        version, args = args[1], args[2:]
        which = version
    else:
        try:
            version = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                     check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            print("tools/node_engines.py: no working `node` on PATH", file=sys.stderr)
            return 1
        which = f"{version} ({shutil.which('node')})"
    failures = []
    for directory in args:
        for who, range_text in node_ranges(pathlib.Path(directory)):
            if range_text is None:
                failures.append(f"{who} declares no engines.node")
            elif not satisfies(version, range_text):
                failures.append(f"{who} needs Node {range_text}")
    for failure in failures:
        print(f"tools/node_engines.py: Node {which} is outside the supported range: {failure}",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
