"""Billed lines moved in Services without the tool's cells, through the real run.

A sort of the line's columns only (Excel's "Continue with the current selection")
leaves each line beside another line's Invoice No, Due Date and Status; a line cut
and pasted lower leaves them on a row of their own. Neither is a changed line: a
Rebill typed as for one would bill a line again, or lose one.
"""

from __future__ import annotations

from datetime import date

import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import run, services, type_into_services
from test_followup import invoices, mails_to, type_into_invoices

DAY0 = date(2026, 3, 9)
LINES = [
    (date(2026, 3, 2), "Acme", "A1 audit", 2, 100),
    (date(2026, 3, 3), "Birch", "B1 setup", 1, 250),
    (date(2026, 3, 4), "Cedar", "C1 review", 3, 50),
    (date(2026, 3, 5), "Delta", "D1 payroll", 1, 400),
    (date(2026, 3, 6), "Acme", "A2 tax", 1, 120),
]
COLUMNS = ("Date", "Client", "Description", "Quantity", "Unit_Price", "Amount")


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
