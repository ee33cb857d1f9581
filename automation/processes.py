"""Worker processes: how many cores the run may use, and where workers come from.

Workers are started from a fresh interpreter (forkserver, or spawn where
there is none), never as a plain fork of the run: a forked worker would
inherit the run's lock and pipes and, orphaned by a killed run, hold them.
Shared by the render workers (render.py) and the report's worker
(report_worker.py).
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import ForkServerContext, SpawnContext


def cpu_count() -> int:
    """The cores this process may run on (its affinity where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def fresh_context() -> ForkServerContext | SpawnContext:
    """The forkserver context where there is one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")
