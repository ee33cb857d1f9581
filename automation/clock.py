"""How long this process has been running, for the run log's start-up figure.

The start-up of a run (the interpreter, the imports, the config) happens before
any of our code can start a stopwatch, so it is measured from the process's own
start time as the kernel recorded it (Linux; elsewhere there is no figure).

>>> age = process_age()
>>> age is None or 0 <= age < 10**7
True
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_age() -> float | None:
    """Seconds since this process started, or None where the system does not say."""
    try:
        stat = Path("/proc/self/stat").read_text()
        # Field 22 (starttime, in clock ticks since boot) counts from after the
        # command name, which may itself hold spaces: split after its ")".
        started = int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
