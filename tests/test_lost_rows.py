"""Invoices rows deleted by mistake (or missing from an older copy put back).

The run writes every invoice it follows back into the Invoices sheet. A row
that comes back must carry the payment last seen on it: a client who paid part
and was told what is still due is not asked for the whole total again, and a
part paid through the bank is neither lost nor counted twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import Tx, ofx_sgml
from test_corrections import body
from test_followup import check, invoices, mails_to, run_week, type_into_invoices, week

from automation.cli import main

WRITTEN_BACK = "had no row in the Invoices sheet"


def delete_invoice_rows(folder: Folder, *names: str) -> None:
    """The bookkeeper deletes these clients' Invoices rows and saves."""
    book = openpyxl.load_workbook(folder.workbook)
    sheet = book["Invoices"]
    clients = [sheet.cell(r, 2).value for r in range(1, sheet.max_row + 1)]
    for row in sorted((clients.index(name) + 1 for name in names), reverse=True):
        sheet.delete_rows(row)
    book.save(folder.workbook)


def amount(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_a_part_paid_invoice_whose_row_was_deleted_keeps_its_payment(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 7") for n in ("Full", "Short", "Open")],
        [service(date(2026, 1, 2), n, "Work", 1, 1000) for n in ("Full", "Short", "Open")],
    )
    run_week(folder, 0)
    type_into_invoices(folder, "Full", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    type_into_invoices(folder, "Short", Paid_Amount=Decimal("400"), Paid_Date=week(1))
    run_week(folder, 1)
    told = body(mails_to(folder, "Short")[-1])
    assert "$600.00" in told  # the part-payment note: what is still due

    delete_invoice_rows(folder, "Full", "Short")
    capsys.readouterr()
    run_week(folder, 2)
    out = " ".join(capsys.readouterr().out.split())
    rows = invoices(folder)
    short = rows.loc["Short"]
    assert short["Invoice No"] == "INV-2026-0002"
    assert amount(short["Paid Amount"]) == Decimal("400.00")
    assert short["Paid Date"].date() == week(1)
    # Overdue since week 1: reissued for what is still due, as the note said.
    check(folder, "Short", "Reissued", "600.00", week(4), "Yes", 1)
    reissue = mails_to(folder, "Short")[-1]
    assert "(reissued)" in str(reissue["Subject"])
    assert "still has $600.00 outstanding" in body(reissue)
    check(folder, "Full", "Paid", "0.00", week(1))  # as before: the settled one
    assert len(mails_to(folder, "Full")) == 2
    assert WRITTEN_BACK in out and "(INV-2026-0001, INV-2026-0002)" in out

    # The row written back is the bookkeeper's again: the rest arrives, a thank-you goes.
    type_into_invoices(folder, "Short", Paid_Amount=Decimal("1000"), Paid_Date=week(3))
    capsys.readouterr()
    run_week(folder, 3)
    assert WRITTEN_BACK not in capsys.readouterr().out
    check(folder, "Short", "Paid", "0.00", week(4), None, 1)
    assert "Thank you" in str(mails_to(folder, "Short")[-1]["Subject"])


def test_a_lowered_payment_on_a_row_still_there_is_a_correction(folder: Folder) -> None:
    """Only a row the sheet lost gets its payment back; one whose Paid Amount the
    bookkeeper cleared keeps what was typed."""
    write_workbook(
        folder.workbook,
        [client("Short", Terms="Net 30")],
        [service(date(2026, 1, 2), "Short", "Work", 1, 1000)],
    )
    run_week(folder, 0)
    type_into_invoices(folder, "Short", Paid_Amount=Decimal("400"), Paid_Date=week(1))
    run_week(folder, 1)
    type_into_invoices(folder, "Short", Paid_Amount=None, Paid_Date=None)
    run_week(folder, 2)
    row = invoices(folder).loc["Short"]
    assert pd.isna(row["Paid Amount"]) and amount(row["Balance"]) == Decimal("1000.00")
    delete_invoice_rows(folder, "Short")  # cleared, then lost: nothing to bring back
    run_week(folder, 3)
    row = invoices(folder).loc["Short"]
    assert pd.isna(row["Paid Amount"]) and amount(row["Balance"]) == Decimal("1000.00")


def test_a_lost_row_keeps_the_typed_part_and_the_banks_part(folder: Folder) -> None:
    """Paid Amount = typed + Paid By Bank: a row written back gets the typed part last
    seen, and the ledger's bank part, including a line imported in that very run."""
    names = ("Mixed", "Settled")
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 30") for n in names],
        [service(date(2026, 1, 2), n, "Work", 1, 1000) for n in names],
    )
    run_week(folder, 0)
    numbers = invoices(folder)["Invoice No"].to_dict()
    inbox = folder.root / "statements"
    inbox.mkdir()

    def bank(name: str, day: date, paid: str, ref: str) -> None:
        tx = Tx(day, Decimal(paid), name, purpose=f"Payment {numbers[name]}", ref=ref)
        (inbox / f"{ref}.ofx").write_bytes(ofx_sgml([tx]))

    type_into_invoices(folder, "Mixed", Paid_Amount=Decimal("300"), Paid_Date=week(1))
    type_into_invoices(folder, "Settled", Paid_Amount=Decimal("800"), Paid_Date=week(1))
    bank("Mixed", week(1), "200.00", "B1")
    bank("Settled", week(1), "200.00", "B2")
    run_week(folder, 1)
    rows = invoices(folder)
    assert amount(rows.loc["Mixed", "Paid Amount"]) == Decimal("500.00")
    assert amount(rows.loc["Mixed", "Paid By Bank"]) == Decimal("200.00")
    check(folder, "Settled", "Paid", "0.00", week(0) + pd.Timedelta(days=30).to_pytimedelta())

    delete_invoice_rows(folder, *names)
    bank("Mixed", week(2), "100.00", "B3")  # arrives the week the rows are lost
    run_week(folder, 2)
    rows = invoices(folder)
    assert amount(rows.loc["Mixed", "Paid Amount"]) == Decimal("600.00")
    assert amount(rows.loc["Mixed", "Paid By Bank"]) == Decimal("300.00")
    assert amount(rows.loc["Mixed", "Balance"]) == Decimal("400.00")
    assert rows.loc["Mixed", "Status"] == "Partially Paid"
    assert amount(rows.loc["Settled", "Paid Amount"]) == Decimal("1000.00")
    assert amount(rows.loc["Settled", "Paid By Bank"]) == Decimal("200.00")
    assert rows.loc["Settled", "Status"] == "Paid"


@pytest.mark.parametrize("paid", [Decimal("400"), None], ids=["part-paid", "unpaid"])
def test_a_lost_row_on_hold_comes_back_on_hold(folder: Folder, paid: Decimal | None) -> None:
    """The bookkeeper holds an invoice (part paid or not), then deletes its row by mistake:
    the row comes back on Hold, and the client held back is mailed nothing (it got a
    reminder, or a part-payment note, as though never held)."""
    names = ("Held", "Other")
    write_workbook(folder.workbook, [client(n, Terms="Net 7") for n in names],
                   [service(date(2026, 1, 2), n, "Work", 1, 1000) for n in names])  # fmt: skip
    run_week(folder, 0)
    cells: dict[str, object] = {"Status": "Hold"}
    if paid is not None:
        cells.update(Paid_Amount=paid, Paid_Date=week(1))
    type_into_invoices(folder, "Held", **cells)
    run_week(folder, 1)
    sent = len(mails_to(folder, "Held"))
    delete_invoice_rows(folder, "Held")
    run_week(folder, 2)
    run_week(folder, 3)
    row = invoices(folder).loc["Held"]
    assert row["Status"] == "Hold"
    assert len(mails_to(folder, "Held")) == sent
    if paid is not None:
        assert amount(row["Paid Amount"]) == paid


def test_an_unpaid_invoices_lost_row_is_named_by_the_dry_run_and_the_run(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """An open invoice never paid nor held, its row deleted: it is written back from the
    ledger, and the dry run, `check` and the run name it, as for one with a payment."""
    names = ("Gone", "Kept")
    write_workbook(folder.workbook, [client(n, Terms="Net 30") for n in names],
                   [service(date(2026, 1, 2), n, "Work", 1, 1000) for n in names])  # fmt: skip
    run_week(folder, 0)
    delete_invoice_rows(folder, "Gone")
    capsys.readouterr()
    assert folder.run("--as-of", week(1).isoformat(), "--dry-run") == 0
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", week(1).isoformat()]) == 0
    told = " ".join(capsys.readouterr().out.split())
    assert told.count(f"1 invoice (INV-2026-0001) {WRITTEN_BACK}") == 2
    run_week(folder, 1)
    assert f"1 invoice (INV-2026-0001) {WRITTEN_BACK}" in " ".join(capsys.readouterr().out.split())
    row = invoices(folder).loc["Gone"]
    assert row["Invoice No"] == "INV-2026-0001" and row["Status"] == "Sent"
    assert amount(row["Balance"]) == Decimal("1000.00")
    run_week(folder, 2)
    assert WRITTEN_BACK not in capsys.readouterr().out
