"""Does a run's cost follow the open invoices, not the years of paid ones?

Issues N invoices, has them all paid and thanked, then times one more run
with nothing to do, twice: as the tool runs it (paid invoices are settled and
skipped) and with every invoice the ledger knows looked at again.

    python benchmarks/paid_history.py --invoices 3000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import client, service, write_workbook  # noqa: E402

import automation.decide as decide  # noqa: E402
from automation.config import Config, EmailConfig  # noqa: E402
from automation.model import CellUpdate  # noqa: E402
from automation.pipeline import RunRequest, run_billing  # noqa: E402
from automation.writeback import apply_updates  # noqa: E402

CONFIG = Config(email=EmailConfig(mode="outbox", sender="billing@firm.example"))


def steady_run(folder: Path, count: int, settle: bool) -> tuple[float, dict[str, float]]:
    workbook = folder / "service_log.xlsx"
    names = [f"Client {i:05d}" for i in range(count)]
    write_workbook(workbook, [client(n, Terms="Net 7") for n in names],
                   [service(date(2026, 1, 2), n, "Work", 1, 100) for n in names])

    def run(day: date) -> tuple[float, dict[str, float]]:
        began = time.perf_counter()
        summary = run_billing(RunRequest(workbook=workbook, as_of=day, config=CONFIG))
        return time.perf_counter() - began, summary.timings

    if not settle:
        decide.open_invoices = lambda ledger, data, as_of: (set(ledger.invoices()), {})  # type: ignore[assignment]
    run(date(2026, 1, 5))
    paid = [
        update
        for i in range(count)
        for update in (CellUpdate("Invoices", i + 2, "Paid Amount", Decimal(100)),
                       CellUpdate("Invoices", i + 2, "Paid Date", date(2026, 1, 8)))
    ]
    apply_updates(workbook, paid, header_rows={"Invoices": 1})
    run(date(2026, 1, 12))  # thank-you notes; the invoices settle
    return run(date(2026, 1, 19))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=3000)
    args = parser.parse_args()
    for settle in (True, False):
        folder = Path(tempfile.mkdtemp(prefix="billing-paid-"))
        try:
            seconds, timings = steady_run(folder, args.invoices, settle)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        label = "settled invoices skipped" if settle else "every invoice looked at"
        phases = "  ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(f"{args.invoices} paid invoices, {label:<26} {seconds:6.2f} s   ({phases})")


if __name__ == "__main__":
    main()
