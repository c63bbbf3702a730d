"""Where an import's time and memory go: phase marks on stderr when RMDASH_TRACE=1.

Purpose: `RMDASH_TRACE=1 rmdash import FILE` prints one line per phase (seconds
since the process started, resident and peak memory), for the benchmarks'
breakdown and for a user asking why an import is slow. Boundary: stdlib only
and nothing at all when the variable is unset.
"""

from __future__ import annotations

import os
import sys
import time

ENABLED = os.environ.get("RMDASH_TRACE") == "1"


def _process_start() -> float:
    """The process's start on the time.monotonic() clock (Linux); else this module's import."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return time.monotonic() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic()


_STARTED = _process_start() if ENABLED else 0.0


def mark(phase: str) -> None:
    """Print ``trace <seconds> <phase> rss=<MB> peak=<MB>`` on stderr, when tracing."""
    if not ENABLED:
        return
    memory = {}
    try:
        with open("/proc/self/status") as fh:
            memory = {
                k: int(v.split()[0]) // 1024
                for k, v in (line.split(":", 1) for line in fh)
                if k in ("VmRSS", "VmHWM")
            }
    except (OSError, ValueError):
        pass
    print(
        f"trace {time.monotonic() - _STARTED:7.3f} {phase} rss={memory.get('VmRSS', '?')}MB peak={memory.get('VmHWM', '?')}MB",
        file=sys.stderr,
        flush=True,
    )
