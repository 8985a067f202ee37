"""CPU time of server process trees, read from ``/proc/<pid>/stat``.

A process's ``utime + stime`` (fields 14 and 15) covers all of its threads. A tree's CPU is
that sum over the root and every live descendant, plus ``cutime + cstime`` (fields 16 and 17):
the CPU of children that already exited and were reaped. So the difference of two readings is
the CPU the whole tree spent in between, whether children came, went or stayed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields after the command name (``comm`` may hold spaces and parentheses)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    return parents


def tree(roots: Iterable[int]) -> set[int]:
    """The root processes and all their live descendants."""
    parents = _parents()
    found = {pid for pid in roots if pid in parents}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def cpu_seconds(roots: Iterable[int]) -> float:
    """utime + stime (+ reaped children's) of every process in the trees under ``roots``."""
    ticks = 0
    for pid in tree(roots):
        fields = _stat_fields(pid)
        if fields is not None:  # fields[11:15] = utime stime cutime cstime (stat fields 14-17)
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS_PER_SECOND


class CpuMeter:
    """CPU seconds the trees under ``roots`` spend between ``start()`` and ``stop()``."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self._start = 0.0
        self.seconds = 0.0

    def start(self) -> None:
        self._start = cpu_seconds(self.roots)

    def stop(self) -> float:
        self.seconds = cpu_seconds(self.roots) - self._start
        return self.seconds


def settle(roots: Iterable[int], quiet: float = 0.3, limit: float = 5.0) -> None:
    """Wait until the trees spend no CPU for ``quiet`` seconds (at most ``limit`` seconds):
    requests a load generator gave up on at its deadline finish inside the window."""
    pids = list(roots)
    deadline = time.monotonic() + limit
    last = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pids)
        if now == last:
            return
        last = now
