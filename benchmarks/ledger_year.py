"""Benchmark: the ledger after a year of weekly runs for 1,000 clients, with and without reclaiming.

Simulates what a run writes to the ledger, through the Ledger's own methods:
each week every client gets an invoice of 5 lines (numbered, its lines'
fingerprints recorded), its message is planned, its bytes stored (the size of
a real invoice email), marked sending, then sent (bytes dropped) with the
invoice's notes; invoices are paid two weeks later and settled. Each run
ends with a backup copy, as the real run does (the last 20 are kept).

Two ledgers live through the same year: one as ledgers were before (no
incremental vacuum, nothing reclaimed) and one as runs now leave it
(`Ledger.reclaim` at the end of each run). Commits are not synced to disk
here (synchronous=OFF) so the year takes minutes; sizes are the same.

    python benchmarks/ledger_year.py                 # 52 weeks, 1,000 clients
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automation.ledger import Ledger, LedgerInvoice  # noqa: E402
from automation.model import InvoiceLine  # noqa: E402
from automation.pipeline import backup_ledger  # noqa: E402

NUMBER_FORMAT = "INV-{year}-{seq:04d}"
START = date(2026, 1, 5)


def message_size() -> int:
    """Bytes of a real invoice email: the rendered sample invoice in base64 plus texts."""
    from automation.bundled import TEMPLATES
    from automation.render import InvoiceRenderer, sample_document

    docx = InvoiceRenderer(TEMPLATES).render_bytes(sample_document(lines=5))
    return len(docx) * 4 // 3 + 6_000  # base64 (76-column lines) + headers, text and HTML


def old_style(path: Path) -> None:
    """A ledger file as earlier versions created it: no incremental vacuum."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE counters (scope TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
    conn.close()


def one_run(
    ledger: Ledger, week: int, clients: int, lines: int, raw: bytes, reclaim: bool, backups: Path
) -> float:
    """One weekly run's ledger writes; returns the seconds spent reclaiming."""
    as_of = START + timedelta(weeks=week)
    ledger.start_run(as_of)
    numbers = []
    with ledger.transaction():
        for c in range(clients):
            number = ledger.allocate_number(NUMBER_FORMAT, as_of)
            items = tuple(
                InvoiceLine(
                    as_of - timedelta(days=1 + k),
                    f"Service {k} for client {c}",
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
            prints = [
                (f"{week:03d}{c:05d}{k:02d}".ljust(64, "f"), i.row) for k, i in enumerate(items)
            ]
            ledger.add_invoice(inv, prints)
            message_id = f"<{week}.{c}.{os.urandom(6).hex()}@ledgerwise.example>"
            ledger.plan_message(message_id, f"{number}/invoice", number, "invoice",
                                {"as_of": as_of.isoformat()})  # fmt: skip
            numbers.append((number, message_id))
    with ledger.transaction():
        for number, message_id in numbers:
            ledger.store_built(message_id, "billing@ledgerwise.example",
                               [f"client{number[-4:]}@clients.example"], raw)  # fmt: skip
    now = datetime.combine(as_of, datetime.min.time()).replace(hour=9)
    for number, message_id in numbers:
        ledger.mark_sending(message_id)
        with ledger.transaction():
            ledger.mark_sent(message_id, now)
            note = f"Emailed to the client on {as_of.isoformat()}."
            ledger.update_invoice(
                number, sent_at=now, last_sent=now, first_message_id=message_id, note=note
            )
    paid = {
        n: (inv.total, as_of - timedelta(days=2))
        for n, inv in ledger.invoices(ledger.unsettled_numbers()).items()
        if inv.invoice_date <= as_of - timedelta(weeks=2)
    }
    with ledger.transaction():
        ledger.record_paid_cells(paid, as_of)
        ledger.mark_settled({n: f"{t}|{d.isoformat()}|Paid" for n, (t, d) in paid.items()})
    ledger.finish_run("ok")
    began = time.perf_counter()
    if reclaim:
        ledger.reclaim()
    spent = time.perf_counter() - began
    if reclaim:
        backup_ledger(ledger, backups)  # reclaims first, as the run does
    else:
        _plain_backup(ledger, backups)
    return spent


def _plain_backup(ledger: Ledger, folder: Path, keep: int = 20) -> None:
    """The backup as it was before reclaiming (free pages and all)."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = sqlite3.connect(folder / f"ledger-{ledger.run_id:04d}.sqlite")
    ledger.conn.backup(copy)
    copy.close()
    for old in sorted(folder.glob("ledger-*.sqlite"))[:-keep]:
        old.unlink()


def size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*")) / 1e6 if folder.exists() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=5, help="service lines per invoice")
    args = parser.parse_args()
    raw = os.urandom(message_size())
    print(f"{args.weeks} weekly runs x {args.clients:,} invoices of {args.lines} lines; "
          f"messages of {len(raw) / 1000:.0f} kB; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {"before": root / "before" / "ledger.sqlite", "now": root / "now" / "ledger.sqlite"}
        for path in paths.values():
            path.parent.mkdir()
        old_style(paths["before"])
        reclaim_seconds = []
        print(f"{'week':>5} {'before: ledger':>15} {'+wal':>7} {'backups':>8}   "
              f"{'now: ledger':>12} {'+wal':>7} {'backups':>8}  reclaim")  # fmt: skip
        with Ledger.open(paths["before"]) as before, Ledger.open(paths["now"]) as now:
            for ledger in (before, now):
                ledger.conn.execute("PRAGMA synchronous=OFF")  # sizes only: no fsync per commit
            for week in range(args.weeks):
                for name, ledger in (("before", before), ("now", now)):
                    spent = one_run(ledger, week, args.clients, args.lines, raw, name == "now",
                                    paths[name].parent / "backups")  # fmt: skip
                    if name == "now":
                        reclaim_seconds.append(spent)
                if (week + 1) % 13 == 0 or week + 1 == args.weeks:
                    cols = []
                    for name in ("before", "now"):
                        db = paths[name]
                        wal = db.with_name(db.name + "-wal")
                        cols.append(f"{size_mb(db):13.1f} MB {size_mb(wal):5.1f} MB "
                                    f"{folder_mb(db.parent / 'backups'):6.0f} MB")  # fmt: skip
                    print(f"{week + 1:>5} {cols[0]}   {cols[1]}  {reclaim_seconds[-1]:.2f} s")
            counts = {
                table: now.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("invoices", "lines", "messages", "paid_cells", "runs")
            }
            stats = dict(
                now.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
            ) if _has_dbstat(now) else {}  # fmt: skip
        invoices = counts["invoices"] or 1
        print(
            "after the year, reclaimed ledger: "
            + ", ".join(f"{n:,} {t}" for t, n in counts.items())
        )
        print(f"  {size_mb(paths['now']) * 1e6 / invoices:.0f} bytes per invoice in all; "
              f"reclaiming took at most {max(reclaim_seconds):.2f} s per run")  # fmt: skip
        for name, pages in sorted(stats.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {name:<28} {pages / 1e6:7.1f} MB")


def _has_dbstat(ledger: Ledger) -> bool:
    try:
        ledger.conn.execute("SELECT 1 FROM dbstat LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


if __name__ == "__main__":
    main()
