"""Benchmark: write-back into a large service log, ours against openpyxl.

Builds a service log with XlsxWriter (10 columns, an Amount formula with
cached values), then applies the same cell updates (by default 1,000: 300 new
lines and 10 invoices) two ways, each in its own subprocess so the peak memory
figures are separate:

* ``automation.writeback.apply_updates`` (edits the zip package directly);
* openpyxl ``load_workbook`` + assign + ``save`` (what most scripts do).

    python benchmarks/writeback.py --rows 100000
    python benchmarks/writeback.py --new-lines 5000 --invoices 1000 --skip-openpyxl  # 25,000 cells

Not run in CI: it prints numbers, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from measure import peak_rss_mb  # benchmarks/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
HEADERS = [
    "Date",
    "Client",
    "Description",
    "Quantity",
    "Unit Price",
    "Amount",
    "Invoice No",
    "Due Date",
    "Status",
    "Error",
]
INVOICE_HEADERS = [
    "Invoice No",
    "Client",
    "Currency",
    "Terms",
    "Invoice Date",
    "Due Date",
    "Total",
    "Balance",
    "Status",
    "Sent At",
]
NEW_LINES = [300]  # x 3 columns = 900 updates, plus 10 invoices x 10 columns = 1,000
INVOICES = [10]


def build_workbook(path: Path, rows: int) -> None:
    """A realistic service log: shared strings, dates, an Amount formula with its value."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, HEADERS, wb.add_format({"bold": True}))
    start = date(2025, 1, 1)
    for r in range(1, rows + 1):
        ws.write_datetime(
            r, 0, datetime.combine(start + timedelta(days=r % 400), datetime.min.time()), date_fmt
        )
        ws.write_string(r, 1, f"Client {r % 50}")
        ws.write_string(r, 2, f"Service visit number {r}")
        ws.write_number(r, 3, 1 + r % 4)
        ws.write_number(r, 4, 25.5)
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", None, (1 + r % 4) * 25.5)
        if r < rows - NEW_LINES[0]:
            ws.write_string(r, 6, f"INV-2025-{r:06d}")
            ws.write_datetime(r, 7, datetime(2025, 6, 1), date_fmt)
            ws.write_string(r, 8, "Invoiced")
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, rows, len(HEADERS) - 1)
    clients = wb.add_worksheet("Clients")
    clients.write_row(0, 0, ["Client", "Email", "Terms"])
    for i in range(50):
        clients.write_row(i + 1, 0, [f"Client {i}", f"c{i}@example.com", "Net 30"])
    wb.close()


def updates(rows: int) -> list[tuple[str, int, str, object]]:
    """The same updates for both approaches: (sheet, row, header, value)."""
    out: list[tuple[str, int, str, object]] = []
    for row in range(rows + 2 - NEW_LINES[0], rows + 2):
        out.append(("Services", row, "Invoice No", f"INV-2026-{row:06d}"))
        out.append(("Services", row, "Due Date", date(2026, 2, 4)))
        out.append(("Services", row, "Status", "Invoiced"))
    for i in range(INVOICES[0]):
        values = [
            f"INV-2026-{i:04d}",
            f"Client {i}",
            "USD",
            "Net 30",
            date(2026, 1, 5),
            date(2026, 2, 4),
            Decimal("1234.50"),
            Decimal("1234.50"),
            "Sent",
            datetime(2026, 1, 5, 9, 30),
        ]
        out += [("Invoices", i + 2, h, v) for h, v in zip(INVOICE_HEADERS, values, strict=True)]
    return out


def run_ours(path: Path, rows: int) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    cells = [CellUpdate(*u) for u in updates(rows)]  # type: ignore[arg-type]
    began, cpu = time.perf_counter(), time.process_time()
    apply_updates(
        path,
        cells,
        header_rows={"Services": 1, "Invoices": 1},
        new_sheet_headers={"Invoices": INVOICE_HEADERS},
    )
    return time.perf_counter() - began, time.process_time() - cpu


def run_openpyxl(path: Path, rows: int) -> tuple[float, float]:
    import openpyxl

    began, cpu = time.perf_counter(), time.process_time()
    wb = openpyxl.load_workbook(path)
    columns = {ws.title: {c.value: c.column for c in ws[1]} for ws in wb}
    if "Invoices" not in wb.sheetnames:
        inv = wb.create_sheet("Invoices")
        inv.append(INVOICE_HEADERS)
        columns["Invoices"] = {h: i + 1 for i, h in enumerate(INVOICE_HEADERS)}
    for sheet, row, header, value in updates(rows):
        ws = wb[sheet]
        if header not in columns[sheet]:
            columns[sheet][header] = ws.max_column + 1
            ws.cell(1, columns[sheet][header], header)
        ws.cell(row, columns[sheet][header], value)
    wb.save(path)
    return time.perf_counter() - began, time.process_time() - cpu


def child(approach: str, path: Path, rows: int) -> None:
    """Run one approach and print its time and peak RSS as JSON."""
    baseline = peak_rss_mb()
    seconds, cpu = (run_ours if approach == "ours" else run_openpyxl)(path, rows)
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, "start_mb": baseline}))


def measure(approach: str, source: Path, rows: int, work: Path) -> dict[str, float]:
    target = work / f"{approach}.xlsx"
    shutil.copy(source, target)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        approach,
        "--file",
        str(target),
        "--rows",
        str(rows),
        "--new-lines",
        str(NEW_LINES[0]),
        "--invoices",
        str(INVOICES[0]),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["size_mb"] = target.stat().st_size / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--new-lines", type=int, default=NEW_LINES[0], help="Services rows billed")
    parser.add_argument("--invoices", type=int, default=INVOICES[0], help="Invoices rows added")
    parser.add_argument("--child", choices=["ours", "openpyxl"])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--skip-openpyxl", action="store_true")
    args = parser.parse_args()
    NEW_LINES[0], INVOICES[0] = min(args.new_lines, args.rows), args.invoices
    if args.child:
        child(args.child, args.file, args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "service_log.xlsx"
        began = time.perf_counter()
        build_workbook(source, args.rows)
        print(
            f"built {args.rows:,} rows x {len(HEADERS)} columns with XlsxWriter in "
            f"{time.perf_counter() - began:.1f} s ({source.stat().st_size / 1e6:.1f} MB)"
        )
        print(f"{len(updates(args.rows)):,} cell updates")
        print(f"{'approach':<22}{'seconds':>9}{'CPU s':>8}{'peak RSS MB':>13}{'start RSS MB':>14}")
        approaches = ["ours"] if args.skip_openpyxl else ["ours", "openpyxl"]
        for approach in approaches:
            r = measure(approach, source, args.rows, work)
            label = "writeback (zip edit)" if approach == "ours" else "openpyxl load+save"
            print(
                f"{label:<22}{r['seconds']:>9.2f}{r['cpu']:>8.2f}{r['peak_mb']:>13.0f}"
                f"{r['start_mb']:>14.0f}"
            )


if __name__ == "__main__":
    main()
