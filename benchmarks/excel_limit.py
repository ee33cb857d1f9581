"""Benchmark: a Services sheet at Excel's limit (1,048,576 rows), 5,000 new lines.

Builds (once, cached in the temp folder) a service log whose Services sheet
is full to Excel's last row: four years of history for 1,000 clients, each
history week invoiced (and its invoices listed, paid, on the Invoices sheet),
the last 5,000 rows this week's new lines. XlsxWriter writes it in
constant_memory mode (strings inline, as streaming writers do). Then runs
`run_billing.py` on a copy, against a local SMTP server, the same way
weekly_run.py does, and again with nothing to do; and the same on a
100,000-row log of the same shape, to show what grows with the history.

    python benchmarks/excel_limit.py
    python benchmarks/excel_limit.py --rows 300000     # a quicker look

Targets on the 2-core machine: under 60 s and 1.5 GB. Not run in CI.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import weekly_run as w  # benchmarks/ is on sys.path

EXCEL_ROWS = 1_048_576
TARGET_SECONDS = 60.0
TARGET_MB = 1500.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=EXCEL_ROWS - 1, help="Services data rows")
    parser.add_argument("--small", type=int, default=100_000, help="the smaller log, to compare")
    args = parser.parse_args()
    print(w.machine())
    print(w.compile_code(w.CODE[0]))
    w.adopt_orphans()
    base = w.Shape("limit", "Excel's last row", clients=1000, new_lines=5000, inline=True)
    shapes = [replace(base, rows=args.small, name="small"), replace(base, rows=args.rows)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sink = w.Sink()
        with w.smtp_server(sink) as port:
            for shape in shapes:
                began = time.perf_counter()
                source, facts = w.cached_workbook(shape)
                built = time.perf_counter() - began
                print(
                    f"{shape.rows:,} Services rows ({facts['history_invoices']:,} history "
                    f"invoices): {source.stat().st_size / 1e6:.0f} MB"
                    + (f", built in {built:.0f} s" if built > 1 else " (cached)")
                )
                folder = w.fresh_copy(source, Path(tmp) / shape.name, port, 1)
                first = w.run_ours(folder, sink)
                workbook = folder / "service_log.xlsx"
                before = w.digest(workbook)
                rerun = w.run_ours(folder, sink)
                results.append((shape, first, rerun, w.digest(workbook) == before))
    print(f"\n{'phase':<14}" + "".join(f"{s.rows:>14,}" for s, *_ in results))
    for phase in w.PHASES:
        print(
            f"{phase:<14}" + "".join(f"{r.timings.get(phase, 0.0):14.2f}" for _, r, *_ in results)
        )
    print(f"{'whole run':<14}" + "".join(f"{r.wall:14.2f}" for _, r, *_ in results))
    print(f"{'CPU seconds':<14}" + "".join(f"{r.cpu:14.2f}" for _, r, *_ in results))
    print(f"{'peak MB':<14}" + "".join(f"{r.peak_mb:14.0f}" for _, r, *_ in results))
    print(f"{'rerun':<14}" + "".join(f"{rr.wall:14.2f}" for _, _, rr, _ in results))
    print(f"{'messages':<14}" + "".join(f"{r.messages:14,}" for _, r, *_ in results))
    shape, big, rerun, unchanged = results[-1]
    print(
        f"\n{shape.rows:,} rows: {big.wall:.1f} s (target {TARGET_SECONDS:.0f} s: "
        f"{w.verdict(big.wall < TARGET_SECONDS)}), peak {big.peak_mb:.0f} MB (target "
        f"{TARGET_MB:.0f} MB: {w.verdict(big.peak_mb < TARGET_MB)}); rerun {rerun.wall:.1f} s, "
        f"workbook {'unchanged' if unchanged else 'CHANGED'}; load {big.load:.1f}, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
