"""Numbering and recording many invoices at once: the ledger ends as one at a time leaves it."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook

from automation.ledger import Ledger, LedgerInvoice
from automation.model import InvoiceLine

MONTHLY = "INV-{year}{month:02d}-{seq:03d}"
YEARLY = "INV-{year}-{seq:04d}"
DATES = [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 1, 5),
         date(2027, 1, 2), date(2026, 2, 28)]  # fmt: skip


def invoice(number: str, rows: tuple[int, ...]) -> LedgerInvoice:
    billed = tuple(InvoiceLine(date(2026, 3, 2), f"Work {row} & <more>", D("1.5"), D("10.10"),
                               D("15.15"), row) for row in rows)  # fmt: skip
    return LedgerInvoice(
        invoice_no=number, client_key="acme", client="Acme", currency="USD", terms="Net 30",
        invoice_date=date(2026, 3, 9), due_date=date(2026, 4, 8), subtotal=D("15.15"),
        tax_rate=D("0.1"), tax=D("1.52"), total=D("16.67"), lines=billed,
        note="Issued; waiting to be emailed.",
    )  # fmt: skip


def tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("counters", "invoices", "lines", "messages")
        }
    finally:
        conn.close()


@pytest.mark.parametrize("number_format", [MONTHLY, YEARLY, "N{seq}"])
@pytest.mark.parametrize("floor", [0, 7])
def test_numbers_at_once_are_those_one_at_a_time(
    tmp_path: Path, number_format: str, floor: int
) -> None:
    with Ledger.open(tmp_path / "one.sqlite") as one, Ledger.open(tmp_path / "all.sqlite") as all_:
        for ledger in (one, all_):
            ledger.start_run(date(2026, 3, 9))
            with ledger.transaction():  # numbers given before, in one scope
                ledger.allocate_number(number_format, date(2026, 1, 3))
        with one.transaction():
            singly = [one.allocate_number(number_format, when, floor) for when in DATES]
        with all_.transaction():
            together = all_.allocate_numbers(number_format, DATES, floor)
            assert all_.allocate_numbers(number_format, [], floor) == []
    assert together == singly
    assert len(set(together)) == len(together)
    counters = [tables(tmp_path / name)["counters"] for name in ("all.sqlite", "one.sqlite")]
    assert counters[0] == counters[1]


def test_invoices_and_messages_at_once_as_one_at_a_time(tmp_path: Path) -> None:
    issued = [(invoice(f"INV-{n}", (2 * n, 2 * n + 1)),
               [(f"fp{n}a", 2 * n), (f"fp{n}b", 2 * n + 1)]) for n in range(1, 6)]  # fmt: skip
    issued.append((invoice("INV-6", (40,)), [("fp1a", 40)]))  # a fingerprint already recorded
    planned = [(f"<m{n}@x>", f"INV-{n}/invoice", f"INV-{n}", "invoice", {"as_of": "2026-03-09"})
               for n in range(1, 7)]  # fmt: skip
    planned.append(("<again@x>", "INV-1/invoice", "INV-1", "invoice", {}))  # planned already
    with Ledger.open(tmp_path / "one.sqlite") as one, Ledger.open(tmp_path / "all.sqlite") as all_:
        for ledger in (one, all_):
            ledger.start_run(date(2026, 3, 9))
        with one.transaction():
            for inv, prints in issued:
                one.add_invoice(inv, prints)
            for message in planned:
                one.plan_message(*message)
        with all_.transaction():
            all_.add_invoices(issued)
            all_.plan_messages(planned)
        assert all_.invoices() == one.invoices()
        assert len(all_.invoices()) == 6
    assert tables(tmp_path / "all.sqlite") == tables(tmp_path / "one.sqlite")


def test_a_run_numbers_new_invoices_in_client_order(folder: Folder) -> None:
    names = [f"Client {n:02d}" for n in range(12)]
    write_workbook(folder.workbook, [client(name) for name in names],
                   [service(date(2026, 3, 2 + n % 3), name, f"Work {n}", 1, 100 + n)
                    for n, name in enumerate(names * 2)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    with Ledger.open(folder.root / ".billing" / "ledger.sqlite") as ledger:
        invoices = ledger.invoices()
        assert [(inv.invoice_no, inv.client) for inv in invoices.values()] == [
            (f"INV-2026-{n + 1:04d}", name) for n, name in enumerate(names)
        ]
        fingerprints = ledger.conn.execute("SELECT count(*) FROM lines").fetchone()
        assert fingerprints == (24,)
        assert ledger.seq_for(YEARLY, date(2026, 3, 9)) == 12
        assert {m.invoice_no for m in ledger.messages(["sent"])} == set(invoices)
    assert len(folder.received) == 12


def test_a_problem_noted_gives_way_to_the_note_before_it_once_fixed(tmp_path: Path) -> None:
    """Not done on 6 April; a reissue that day keeps it said after its own Note; still not
    done on the 13th; fixed: the reissue's Note is back, without the old problem. A Note
    written since the problem (a credit note sent) is never overwritten."""
    problem = "Not done on {}: Credit Amount: 10.555 has 3 decimals."
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.add_invoices([(invoice("INV-1", (2,)), []), (invoice("INV-2", (3,)), [])])
        with ledger.transaction():
            for number in ("INV-1", "INV-2"):
                ledger.update_invoice(number, note="Emailed to a@x on 2026-03-02.")
                ledger.note_problem(number, problem.format("2026-04-06"), "Not done on")
            reissued = "Reissued (1) and emailed to a@x on 2026-04-06."
            ledger.update_invoice("INV-1", note=f"{reissued} {problem.format('2026-04-06')}")
            ledger.note_problem("INV-1", problem.format("2026-04-13"), "Not done on")
            ledger.note_fixed("INV-1", "Not done on")
            ledger.update_invoice("INV-2", note="Credit note CN-1 emailed on 2026-04-13.")
            ledger.note_fixed("INV-2", "Not done on")
        notes = {inv.invoice_no: inv.note for inv in ledger.invoices({"INV-1", "INV-2"}).values()}
    assert notes == {"INV-1": reissued, "INV-2": "Credit note CN-1 emailed on 2026-04-13."}


def test_a_problem_told_after_todays_message_is_not_told_again(tmp_path: Path) -> None:
    """A reissue went today with a problem said after it: the same day's rerun finds the
    same problem and leaves the Note (and so the workbook) as it was; once the problem is
    fixed the reissue's own words stay."""
    problem = "Not done on 2026-04-06: a credit of $120.00 more is larger than the $20.00 open."
    reissued = "Reissued (reminder 1), emailed to a@x on 2026-04-06; new due date 2026-04-20."
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.add_invoices([(invoice("INV-1", (2,)), [])])
        with ledger.transaction():
            ledger.update_invoice("INV-1", note="Emailed to a@x on 2026-03-02.")
            ledger.note_problem("INV-1", problem, "Not done on")
            ledger.update_invoice("INV-1", note=f"{reissued} {problem}")  # record_sent
            ledger.note_problem("INV-1", problem, "Not done on")  # the same day's rerun
            rerun = ledger.invoices({"INV-1"})["INV-1"].note
            ledger.note_fixed("INV-1", "Not done on")
            fixed = ledger.invoices({"INV-1"})["INV-1"].note
    assert rerun == f"{reissued} {problem}"
    assert fixed == reissued
