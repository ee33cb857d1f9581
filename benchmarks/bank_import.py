"""Importing a big bank statement: 20,000 lines against 5,000 open invoices.

Builds a billing folder whose ledger and Invoices sheet hold N open invoices
(1,000 clients with Payer IDs), writes a Kaspi-style 1C statement (Windows-1251)
of M lines (references, exact amounts, splits, bank fees, strangers, outgoing
transfers), and times the `payments` command's work: reading the file, and
the whole run (read the workbook, match, record in the ledger, write the
Payments and Invoices sheets back). Then imports the same file again.

    python benchmarks/bank_import.py --lines 20000 --invoices 5000
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import xlsxwriter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from measure import peak_rss_mb  # noqa: E402
from statements import Tx, onec_kazakh  # noqa: E402

from automation.bank.detect import read_statement  # noqa: E402
from automation.bank.record import BankConfig  # noqa: E402
from automation.config import Config, EmailConfig  # noqa: E402
from automation.ledger import Ledger, LedgerInvoice  # noqa: E402
from automation.model import InvoiceLine  # noqa: E402
from automation.pipeline import RunRequest, run_billing  # noqa: E402

CONFIG = Config(email=EmailConfig(mode="outbox", sender="billing@firm.example"))
ISSUED = date(2026, 1, 5)


def build_folder(folder: Path, invoices: int, clients: int) -> list[tuple[str, str, str, Decimal]]:
    """The workbook and ledger; returns (invoice no, client, payer id, total) per invoice."""
    rng = random.Random(7)
    made = []
    wb = xlsxwriter.Workbook(str(folder / "service_log.xlsx"))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws_c = wb.add_worksheet("Clients")
    ws_c.write_row(0, 0, ["Client", "Email", "Currency", "Payer ID"])
    for c in range(clients):
        ws_c.write_row(c + 1, 0, [f"Client {c:04d}", f"c{c}@clients.example", "KZT",
                                  f"{100000000000 + c}"])  # fmt: skip
    ws_s = wb.add_worksheet("Services")
    ws_s.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount",
                          "Invoice No", "Due Date", "Status", "Error"])  # fmt: skip
    ws_i = wb.add_worksheet("Invoices")
    ws_i.write_row(0, 0, ["Invoice No", "Client", "Currency", "Terms", "Invoice Date",
                          "Due Date", "Total", "Paid Amount", "Paid Date", "Balance", "Status"])
    folder_billing = folder / ".billing"
    with Ledger.open(folder_billing / "ledger.sqlite") as ledger:
        ledger.start_run(ISSUED)
        with ledger.transaction():
            for i in range(invoices):
                number = f"INV-2026-{i + 1:05d}"
                name = f"Client {i % clients:04d}"
                total = Decimal(rng.randrange(10_000, 900_000)) + Decimal("0.00")
                issued = ISSUED + timedelta(days=i // clients)
                due = issued + timedelta(days=30)
                line = InvoiceLine(issued, "Bookkeeping", Decimal(1), total, total, i + 2)
                ledger.add_invoice(
                    LedgerInvoice(number, name.casefold(), name, "KZT", "Net 30", issued, due,
                                  total, Decimal(0), Decimal(0), total, (line,),
                                  datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 9), 0, None,
                                  f"<{number}@firm.example>", False, "Emailed."),
                    [],
                )  # fmt: skip
                ws_s.write_datetime(i + 1, 0, datetime.combine(issued, datetime.min.time()), day)
                ws_s.write_row(i + 1, 1, [name, "Bookkeeping", 1, float(total), float(total),
                                          number])  # fmt: skip
                ws_s.write_datetime(i + 1, 7, datetime.combine(due, datetime.min.time()), day)
                ws_s.write(i + 1, 8, "Invoiced")
                ws_i.write_row(i + 1, 0, [number, name, "KZT", "Net 30"])
                ws_i.write_datetime(i + 1, 4, datetime.combine(issued, datetime.min.time()), day)
                ws_i.write_datetime(i + 1, 5, datetime.combine(due, datetime.min.time()), day)
                ws_i.write_row(i + 1, 6, [float(total), None, None, float(total), "Sent"])
                made.append((number, name, f"{100000000000 + i % clients}", total))
    wb.close()
    return made


def statement(made: list[tuple[str, str, str, Decimal]], lines: int) -> bytes:
    rng = random.Random(11)
    txs = []
    for n in range(lines):
        number, _name, payer, total = made[n % len(made)]
        day = date(2026, 2, 2) + timedelta(days=n % 20)
        # Each invoice is paid once (a reference, an exact amount or a fee short); the rest
        # are strangers' payments and money going out, as on a busy business account.
        kind = n % 6 if n < len(made) else 6 + n % 4
        if kind < 3:  # the invoice number in the purpose text
            txs.append(Tx(day, total, f"TOO Payer {payer}", payer,
                          purpose=f"Оплата по счету №{number} от 05.01.2026", number=str(n)))
        elif kind < 5:  # a client's exact balance, no reference
            txs.append(Tx(day, total, f"TOO Payer {payer}", payer, purpose="Оплата за услуги",
                          number=str(n)))
        elif kind == 5:  # a bank fee short (tolerance 500)
            txs.append(Tx(day, total - Decimal(150), f"TOO Payer {payer}", payer,
                          purpose="Оплата", number=str(n)))
        elif kind < 8:  # a stranger
            txs.append(Tx(day, Decimal(rng.randrange(1000, 90000)), "ИП Кто-то",
                          f"{800000000000 + n}", purpose="Перевод", number=str(n)))
        else:  # money going out
            txs.append(Tx(day, -Decimal(rng.randrange(1000, 90000)), "ТОО Поставщик",
                          "990000000001", purpose="Оплата поставщику", number=str(n)))
    return onec_kazakh(txs, "cp1251")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=5_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="billing-bank-"))
    try:
        made = build_folder(folder, args.invoices, clients=1000)
        path = folder / "kaspi-2026-02.txt"
        path.write_bytes(statement(made, args.lines))
        size = path.stat().st_size
        config = Config(email=CONFIG.email, bank=BankConfig(fee_tolerance=Decimal(500)))
        began = time.perf_counter()
        lines, errors = read_statement(path, config.bank)
        read_seconds = time.perf_counter() - began
        assert not errors and len(lines) == args.lines, errors[:3]
        request = RunRequest(workbook=folder / "service_log.xlsx", as_of=date(2026, 2, 23),
                             config=config, statements=(path,), payments_only=True)
        began = time.perf_counter()
        summary = run_billing(request)
        first = time.perf_counter() - began
        began = time.perf_counter()
        again = run_billing(request)
        second = time.perf_counter() - began
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    counts: dict[str, int] = {}
    for item in summary.bank_lines:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    print(f"statement: {args.lines} lines ({size // 1024} KB); {args.invoices} open invoices")
    print(f"reading the 1C file alone (cp1251):        {read_seconds:6.2f} s")
    print(f"import: read, match, record in the ledger: {summary.timings['bank']:6.2f} s")
    print(f"the whole payments run:                    {first:6.2f} s   "
          f"({'  '.join(f'{k} {v:.2f}' for k, v in summary.timings.items())})")
    print(f"  incoming lines: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}")
    print(f"the same file again: import {again.timings['bank']:.2f} s, whole run {second:.2f} s "
          f"({len(again.bank_lines)} Review lines looked at again)")
    print(f"peak memory: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
