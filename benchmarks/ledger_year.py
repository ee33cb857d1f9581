"""Benchmark: the ledger and its backups after years of weekly runs for 1,000 clients.

Simulates what a run writes to the ledger, through the Ledger's own methods:
each week every client gets an invoice of 5 lines (numbered, its lines'
fingerprints recorded), its message is planned, its bytes stored (the size of
a real invoice email), marked sending, then sent (bytes dropped, the server's
answer recorded per address) with the invoice's notes; invoices are paid two
weeks later and settled. Each run ends as the real one does: `Ledger.reclaim`,
then `backups.backup_ledger`, with the clock a week on each time. Commits are
not synced to disk here (synchronous=OFF) so the years take minutes; sizes are
the same.

    python benchmarks/ledger_year.py                 # 3 years, 1,000 clients
    python benchmarks/ledger_year.py --weeks 8 --clients 200

Not run in CI: it prints numbers, it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import make_msgid
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automation.backups import backup_ledger  # noqa: E402
from automation.ledger import Ledger, LedgerInvoice  # noqa: E402
from automation.model import InvoiceLine  # noqa: E402

NUMBER_FORMAT = "INV-{year}-{seq:04d}"
START = date(2026, 1, 5)
WORK = ("payroll", "VAT return", "ledger review")


def message_size() -> int:
    """Bytes of a real invoice email: the rendered sample invoice in base64 plus texts."""
    from automation.bundled import TEMPLATES
    from automation.render import InvoiceRenderer, sample_document

    docx = InvoiceRenderer(TEMPLATES).render_bytes(sample_document(lines=5))
    return len(docx) * 4 // 3 + 6_000  # base64 (76-column lines) + headers, text and HTML


def one_run(ledger: Ledger, week: int, clients: int, lines: int, raw: bytes) -> int:
    """One weekly run's ledger writes; how many invoices it issued."""
    as_of = START + timedelta(weeks=week)
    ledger.start_run(as_of)
    issued = []
    with ledger.transaction():
        for c in range(clients):
            number = ledger.allocate_number(NUMBER_FORMAT, as_of)
            items = tuple(
                InvoiceLine(
                    as_of - timedelta(days=1 + k),
                    f"Bookkeeping, {WORK[k % 3]} ({c})",
                    Decimal(1 + k % 3),
                    Decimal("120.50"),
                    Decimal("120.50") * (1 + k % 3),
                    10_000 * week + c * lines + k,
                )  # fmt: skip
                for k in range(lines)
            )
            subtotal = sum((i.amount for i in items), Decimal(0))
            tax = (subtotal * Decimal("0.12")).quantize(Decimal("0.01"))
            inv = LedgerInvoice(number, f"client {c:04d} llp", f"Client {c:04d} LLP", "USD",
                                "Net 30", as_of, as_of + timedelta(days=30), subtotal,
                                Decimal("0.12"), tax, subtotal + tax, items, None, None, 0, None,
                                None, False, "Issued; waiting to be emailed.")  # fmt: skip
            prints = [(os.urandom(16).hex(), i.row) for i in items]  # 32 hex digits, as real
            ledger.add_invoice(inv, prints)
            message_id = make_msgid(domain="ledgerwise.example")
            ledger.plan_message(message_id, f"{number}/invoice", number, "invoice",
                                {"as_of": as_of.isoformat()})  # fmt: skip
            issued.append((number, message_id, f"client{c:04d}@clients.example"))
    with ledger.transaction():
        for _number, message_id, address in issued:
            ledger.store_built(message_id, "billing@ledgerwise.example", [address], raw,
                               to=[address])  # fmt: skip
    now = datetime.combine(as_of, datetime.min.time()).replace(hour=9)
    for number, message_id, address in issued:
        with ledger.transaction():
            ledger.mark_sending(message_id)
        with ledger.transaction():
            reply = f"250 2.0.0 Ok: queued as {os.urandom(5).hex().upper()}"
            ledger.record_deliveries(message_id, [(address, "sent", reply)], now)
            ledger.mark_sent(message_id, now)
            note = f"Emailed to {address} on {as_of.isoformat()}."
            ledger.update_invoice(
                number, sent_at=now, last_sent=now, first_message_id=message_id, note=note
            )
    paid_on = as_of - timedelta(days=2)
    paid = {
        n: (inv.total, paid_on)
        for n, inv in ledger.invoices(ledger.unsettled_numbers()).items()
        if inv.invoice_date <= as_of - timedelta(weeks=2)
    }
    with ledger.transaction():
        ledger.record_paid_cells(paid, as_of)
        ledger.mark_settled({n: f"{t}|{d.isoformat()}|Paid" for n, (t, d) in paid.items()})
        for n in paid:
            ledger.update_invoice(n, note=f"Paid in full on {paid_on.isoformat()}.")
    ledger.finish_run("ok")
    return len(issued)


def size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def table_sizes(ledger: Ledger) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat), or nothing when it is not compiled in."""
    try:
        return dict(
            ledger.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        )
    except sqlite3.DatabaseError:
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=5, help="service lines per invoice")
    args = parser.parse_args()
    raw = os.urandom(message_size())
    print(f"{args.weeks} weekly runs x {args.clients:,} invoices of {args.lines} lines; "
          f"messages of {len(raw) / 1000:.0f} kB; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=os.environ.get("LEDGER_YEAR_DIR")) as tmp:
        path = Path(tmp) / ".billing" / "ledger.sqlite"
        folder = path.parent / "backups"
        print(f"{'week':>5} {'invoices':>9} {'ledger':>9} {'+wal':>7} {'per invoice':>12} "
              f"{'backups':>8} {'kept':>5} {'run CPU':>8} {'reclaim+backup':>15}")  # fmt: skip
        with Ledger.open(path) as ledger:
            ledger.conn.execute("PRAGMA synchronous=OFF")  # sizes only: no fsync per commit
            issued = 0
            for week in range(args.weeks):
                began = time.process_time()
                issued += one_run(ledger, week, args.clients, args.lines, raw)
                ran = time.process_time() - began
                stamp = datetime.combine(START + timedelta(weeks=week), datetime.min.time())
                began = time.process_time()
                with mock.patch("automation.backups.datetime", wraps=datetime) as clock:
                    clock.now.return_value = stamp.replace(hour=10)
                    backup_ledger(ledger, folder)
                saved = time.process_time() - began
                if (week + 1) % 13 == 0 or week + 1 == args.weeks:
                    wal = path.with_name(path.name + "-wal")
                    kept = list(folder.glob("ledger-*"))
                    print(f"{week + 1:>5} {issued:>9,} {size_mb(path):6.1f} MB "
                          f"{size_mb(wal):4.1f} MB {path.stat().st_size / issued:9.0f} B "
                          f"{size_mb(*kept):5.0f} MB {len(kept):>5} {ran:6.2f} s "
                          f"{saved:13.2f} s")  # fmt: skip
                if (week + 1) % 52 == 0 or week + 1 == args.weeks:
                    sizes = table_sizes(ledger)
                    print("       bytes per invoice: " + ", ".join(
                        f"{name} {size / issued:.0f}"
                        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])
                        if size >= 0.01 * sum(sizes.values())
                    ))  # fmt: skip
            counts = {
                table: ledger.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for table in ("invoices", "lines", "messages", "message_bytes", "deliveries",
                              "paid_cells", "runs")
            }  # fmt: skip
        print("in the ledger: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))


if __name__ == "__main__":
    main()
