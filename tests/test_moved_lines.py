"""Billed lines moved in Services without the tool's cells, through the real run.

A sort of the line's columns only (Excel's "Continue with the current selection")
leaves each line beside another line's Invoice No, Due Date and Status; a line cut
and pasted lower leaves them on a row of their own. Neither is a changed line: a
Rebill typed as for one would bill a line again, or lose one. A billed line deleted
from an invoice still owed is on no row at all: the invoice stands as issued, and
the run says so until the line is typed back or the invoice corrected.
"""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import run, services, type_into_services
from test_followup import invoices, mails_to, type_into_invoices

from automation.cli import main

DAY0 = date(2026, 3, 9)
LINES = [
    (date(2026, 3, 2), "Acme", "A1 audit", 2, 100),
    (date(2026, 3, 3), "Birch", "B1 setup", 1, 250),
    (date(2026, 3, 4), "Cedar", "C1 review", 3, 50),
    (date(2026, 3, 5), "Delta", "D1 payroll", 1, 400),
    (date(2026, 3, 6), "Acme", "A2 tax", 1, 120),
]
COLUMNS = ("Date", "Client", "Description", "Quantity", "Unit_Price", "Amount")
#: What a billed line deleted from an invoice still owed is told (a line moved is not).
GONE = "that no Services row holds any more"


def said(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def put_line(folder: Folder, row: int, line: tuple[object, ...] | None) -> None:
    """The line's own cells (Date to Amount) of a Services row, as typed; None clears them."""
    if line is None:
        type_into_services(folder, row, **dict.fromkeys(COLUMNS))
        return
    day, name, text, qty, price = line
    type_into_services(
        folder, row, Date=day, Client=name, Description=text, Quantity=qty, Unit_Price=price,
        Amount=int(qty) * int(price),  # type: ignore[call-overload]
    )  # fmt: skip


@pytest.fixture
def billed(folder: Folder) -> Folder:
    """Four clients invoiced on 9 March 2026: INV-2026-0001 (Acme, rows 2 and 6) to 0004."""
    names = ("Acme", "Birch", "Cedar", "Delta")
    write_workbook(folder.workbook, [client(n, Terms="Net 30") for n in names],
                   [service(*line) for line in LINES])  # fmt: skip
    run(folder, DAY0)
    assert len(folder.received) == 4
    return folder


def test_lines_sorted_without_their_numbers_are_told_so_and_a_rebill_waits(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    # Sorted by Client, Z to A, columns A:F only: Invoice No, Due Date, Status stay put.
    for row, line in enumerate(sorted(LINES, key=lambda ln: (ln[1], ln[0]), reverse=True), 2):
        put_line(folder, row, line)
    capsys.readouterr()
    run(folder, date(2026, 3, 16), expect=1)
    assert GONE not in said(capsys)
    errors = dict(zip(services(folder)["Description"], services(folder)["Error"], strict=True))
    assert errors["D1 payroll"] == (
        "this row's line was billed on INV-2026-0004, but the row says INV-2026-0001: were the "
        "columns sorted without Invoice No, Due Date and Status? Undo the sort (or sort the "
        "whole rows), then run again."
    )
    assert "Rebill" not in " ".join(e for e in errors.values() if isinstance(e, str))
    assert len(folder.received) == 4

    # Rebill typed anyway: it would bill Delta's line again and lose Acme's A2 tax.
    type_into_invoices(folder, "Acme", Status="Rebill")
    capsys.readouterr()
    run(folder, date(2026, 3, 17), expect=1)
    assert (
        "Rebill waits: Services row 2: this row's line was billed on INV-2026-0004, but the "
        "row says INV-2026-0001" in said(capsys)
    )
    assert len(folder.received) == 4 and len(invoices(folder)) == 4

    # The sort undone: the Rebill goes on, with Acme's own two lines only.
    for row, line in enumerate(LINES, 2):
        put_line(folder, row, line)
    run(folder, date(2026, 3, 18))
    assert len(mails_to(folder, "Delta")) == 1
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0001", "Status"] == "Void"
    assert sheet.loc["INV-2026-0005", "Client"] == "Acme"
    assert sheet.loc["INV-2026-0005", "Total"] == 320
    assert len(sheet) == 5
    rows = services(folder)
    assert list(rows["Invoice No"]) == [
        "INV-2026-0005", "INV-2026-0002", "INV-2026-0003", "INV-2026-0004", "INV-2026-0005"
    ]  # fmt: skip
    assert rows["Error"].isna().all()


def test_a_line_cut_and_pasted_lower_is_told_moved_and_its_old_row_is_to_clear(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    put_line(folder, 9, LINES[1])  # Birch's line (row 3, INV-2026-0002) cut, pasted at row 9
    put_line(folder, 3, None)
    capsys.readouterr()
    run(folder, date(2026, 3, 16), expect=1)
    out = said(capsys)
    assert (
        "Services row 9 (INV-2026-0002) had no Invoice No: its line was moved there from row "
        "3, which kept only the Invoice No, Due Date and Status." in out
    )
    assert GONE not in out
    assert "the last run stopped before writing it" not in out
    rows = services(folder).set_index(services(folder).index + 2)
    assert rows.loc[9, "Invoice No"] == "INV-2026-0002" and rows.loc[9, "Status"] == "Invoiced"
    assert rows.loc[3, "Error"] == (
        "this row holds nothing but INV-2026-0002's Invoice No, Due Date and Status: its line "
        "moved to row 9; clear this row's Invoice No, Due Date and Status (or delete the row)."
    )

    # A Rebill waits on the old row, saying what to do (not "the date is missing").
    type_into_invoices(folder, "Birch", Status="Rebill")
    capsys.readouterr()
    run(folder, date(2026, 3, 17), expect=1)
    out = said(capsys)
    assert "Rebill waits: Services row 3: this row holds nothing but INV-2026-0002's" in out
    assert "the date is missing" not in out
    assert len(folder.received) == 4

    # Done as told: the Rebill goes on, the moved line on the new invoice, billed once.
    type_into_services(folder, 3, Invoice_No=None, Due_Date=None, Status=None)
    run(folder, date(2026, 3, 18))
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0002", "Status"] == "Void"
    assert sheet.loc["INV-2026-0005", "Client"] == "Birch"
    assert sheet.loc["INV-2026-0005", "Total"] == 250
    rows = services(folder).set_index(services(folder).index + 2)
    assert rows.loc[9, "Invoice No"] == "INV-2026-0005" and rows["Error"].isna().all()
    assert rows.loc[3].isna().all()


def test_a_sort_is_seen_by_a_run_for_one_client_too(billed: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    """`--only Acme` after the A:F sort: a line of Delta's sits on Acme's row. The run looks
    for it on every open invoice's rows, not Acme's alone, so Acme's Rebill waits (it billed
    Delta's line again and left out one of Acme's)."""
    for row, line in enumerate(sorted(LINES, key=lambda ln: (ln[1], ln[0]), reverse=True), 2):
        put_line(billed, row, line)
    type_into_invoices(billed, "Acme", Status="Rebill")
    capsys.readouterr()
    billed.run("--as-of", "2026-03-17", "--only", "Acme")
    assert "Rebill waits" in said(capsys)
    assert len(invoices(billed)) == 4 and len(billed.received) == 4


def delete_service_row(folder: Folder, row: int) -> None:
    """The bookkeeper deletes a Services row; Excel works out the Amounts moved up again."""
    book = openpyxl.load_workbook(folder.workbook)
    sheet = book["Services"]
    sheet.delete_rows(row)
    for below in range(row, sheet.max_row + 1):
        qty, price = sheet.cell(below, 4).value, sheet.cell(below, 5).value
        if isinstance(qty, int) and isinstance(price, int):
            sheet.cell(below, 6).value = qty * price
    book.save(folder.workbook)


def check_said(folder: Folder, day: date, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["check", "--workbook", str(folder.workbook), "--as-of", day.isoformat()])
    return code, said(capsys)


def test_a_deleted_line_of_an_open_invoice_is_told_until_typed_back(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Birch's only line (INV-2026-0002, unpaid) deleted: `check` and the run say which
    line, that the client still owes it and the ways out (exit 1, as for a line out of
    place). Delta's paid invoice loses its line too (old work archived): not a word."""
    folder = billed
    type_into_invoices(folder, "Delta", Paid_Amount=400, Paid_Date=date(2026, 3, 12))
    run(folder, date(2026, 3, 16))
    sent = len(folder.received)  # the invoices, and Delta's thank-you
    delete_service_row(folder, 5)  # Delta's D1 payroll, paid
    delete_service_row(folder, 3)  # Birch's B1 setup
    told = (
        "INV-2026-0002 (Birch) billed a line that no Services row holds any more (deleted?): "
        '2026-03-03 "B1 setup" $250.00. The invoice stands as issued and Birch still owes it. '
        "Type the line back as billed (the Invoice No is written back beside it, nothing is "
        "billed twice), or type Void in INV-2026-0002's Status on the Invoices sheet to "
        "cancel it."
    )
    code, out = check_said(folder, date(2026, 3, 17), capsys)
    assert code == 1 and told in out
    assert out.count(GONE) == 1 and "INV-2026-0004" not in out
    run(folder, date(2026, 3, 17), expect=1)
    out = said(capsys)
    assert f"Services: {told}" in out and out.count(GONE) == 2  # the run, then its rerun
    assert len(folder.received) == sent

    put_line(folder, 6, LINES[1])  # typed back, at the bottom
    capsys.readouterr()
    run(folder, date(2026, 3, 18))
    assert GONE not in said(capsys)
    rows = services(folder).set_index(services(folder).index + 2)
    assert rows.loc[6, "Invoice No"] == "INV-2026-0002" and rows["Error"].isna().all()
    assert len(folder.received) == sent  # billed once
    assert check_said(folder, date(2026, 3, 18), capsys)[0] == 0


def test_a_line_deleted_from_an_invoice_with_more_is_told_until_credited(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acme's A2 tax deleted, A1 audit still there: the note names the line gone, with
    Rebill and Credit Amount as ways out; a credit note for it ends the note."""
    folder = billed
    delete_service_row(folder, 6)
    capsys.readouterr()
    run(folder, date(2026, 3, 16), expect=1)
    out = said(capsys)
    assert (
        "INV-2026-0001 (Acme) billed a line that no Services row holds any more (deleted?): "
        '2026-03-06 "A2 tax" $120.00.' in out
    )
    assert "type Rebill in INV-2026-0001's Status to bill the lines still there" in out
    assert "A1 audit" not in out.split("INV-2026-0001 (Acme) billed")[1].split("Outstanding")[0]

    type_into_invoices(folder, "Acme", Credit_Amount=120)
    capsys.readouterr()
    run(folder, date(2026, 3, 17))
    assert GONE not in said(capsys)
    assert invoices(folder).loc["Acme", "Credit Notes"] == "CN-2026-0001"
