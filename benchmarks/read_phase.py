"""Benchmark: the read phase alone (package check, calamine, frames, validation), per shape.

What the weekly run logs as "read": from the workbook's path to the validated
Services lines (`decide.load` and `prechecks.check_only`), each shape in a
fresh process, as a run meets it: pandas not yet imported, nothing cached.
Prints wall and CPU seconds (CPU counts every thread: the sheets are parsed on
two) and the process's peak memory. Uses weekly_run.py's cached workbooks
(built once; the 1,048,575-row one with --limit takes about 20 minutes).

    python benchmarks/read_phase.py                    # every weekly_run shape
    python benchmarks/read_phase.py --shapes base,inline --repeat 3
    python benchmarks/read_phase.py --shapes base --limit
    python benchmarks/read_phase.py --realtime          # a shared machine, as if quiet

With --realtime (root, or the right to raise priorities, needed; else it is
ignored) each measured process runs at a real-time priority, its main thread
one above the threads it starts: the machine's other work no longer slows
it, and its own threads share the cores among themselves without holding the
main thread back. Round-robin among threads is coarser than the ordinary
scheduler's, so the figures come near a quiet machine's, not exactly to them.

Targets on the 2-core machine: under 1 s for 100,000 rows. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import weekly_run as w  # benchmarks/ is on sys.path

CHILD = """
import json, os, resource, sys, threading, time
from datetime import date
from pathlib import Path
if os.environ.get("READ_PHASE_REALTIME"):
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(11))
    except (OSError, AttributeError):
        pass
    else:
        _run = threading.Thread.run
        def _lower(self):
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
            _run(self)
        threading.Thread.run = _lower
import automation.cli  # the run's start-up, as run_billing.py has it
automation.cli.settle_process()  # and its process settings
from automation.decide import load
from automation.prechecks import check_only
from automation.request import RunRequest
request = RunRequest(workbook=Path(sys.argv[1]), as_of=date.fromisoformat(sys.argv[2]))
wall, cpu = time.perf_counter(), time.process_time()
data, book, lines, errors = load(request)
check_only(request, book)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "cpu": cpu, "peak": peak, "lines": len(lines)}))
"""


def measure(path: Path, realtime: bool = False) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(w.ROOT)}
    if realtime:
        env["READ_PHASE_REALTIME"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), w.AS_OF.isoformat()],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(s.name for s in w.SHAPES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per shape; the fastest shown")
    parser.add_argument("--limit", action="store_true", help="also the 1,048,575-row sheet")
    parser.add_argument(
        "--realtime", action="store_true", help="measure at a real-time priority (see above)"
    )
    args = parser.parse_args()
    print(w.machine())
    print(w.compile_code(w.ROOT))
    by_name = {s.name: s for s in w.SHAPES}
    shapes = [by_name[n] for n in args.shapes.split(",")]
    if args.limit:
        base = w.Shape("limit", "Excel's last row", new_lines=5000, inline=True)
        shapes.append(replace(base, rows=1_048_575))
    print(f"\n{'shape':<12}{'rows':>11}{'wall s':>9}{'CPU s':>8}{'peak MB':>9}  load")
    for shape in shapes:
        path, _facts = w.cached_workbook(shape)
        runs = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            runs.append((measure(path, args.realtime), load))
        best, load = min(runs, key=lambda r: r[0]["wall"])
        print(
            f"{shape.name:<12}{shape.rows:>11,}{best['wall']:>9.2f}{best['cpu']:>8.2f}"
            f"{best['peak']:>9.0f}  {load:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
