"""Where the rows the tool adds go: a sheet it creates gets its headers on the row
`[billing] header_rows` names, and a run's new Invoices rows are in the order their
numbers were issued, whatever the number format."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS, Folder, client, service, write_workbook
from statements import Tx, camt053

from automation.cli import main

AS_OF = "2026-03-09"
NAMES = ("Acme", "Beta")


def rows_of(folder: Folder, sheet: str) -> list[list[object]]:
    """Every row of `sheet` as openpyxl reads it back, empty rows included."""
    book = openpyxl.load_workbook(folder.workbook)
    try:
        return [[cell.value for cell in row] for row in book[sheet].iter_rows()]
    finally:
        book.close()


def two_clients(folder: Folder, *, empty_invoices: bool = False) -> None:
    """Acme and Beta, one line each; with `empty_invoices`, an empty Invoices sheet too
    (one the bookkeeper added and left for the tool to fill in)."""
    if not empty_invoices:
        write_workbook(
            folder.workbook,
            [client(n) for n in NAMES],
            [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in NAMES],
        )
        return
    book = xlsxwriter.Workbook(str(folder.workbook))
    sheet = book.add_worksheet("Clients")
    sheet.write_row(0, 0, CLIENT_HEADERS)
    for r, name in enumerate(NAMES, start=1):
        sheet.write_row(r, 0, [client(name)[h] for h in ("Client", "Email")])
        sheet.write(r, CLIENT_HEADERS.index("Terms"), "Net 30")
    sheet = book.add_worksheet("Services")
    sheet.write_row(0, 0, SERVICE_HEADERS[:5])
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, name in enumerate(NAMES, start=1):
        sheet.write_datetime(r, 0, datetime(2026, 3, 2), day)
        sheet.write_row(r, 1, [name, "Bookkeeping", 1, 100])
    book.add_worksheet("Invoices")
    book.close()


@pytest.mark.parametrize("empty_invoices", [False, True])
def test_an_invoices_sheet_the_run_makes_has_its_headers_on_the_row_header_rows_names(
    folder: Folder, empty_invoices: bool
) -> None:
    folder.write_config(extra="header_rows = { Invoices = 3 }")
    two_clients(folder, empty_invoices=empty_invoices)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 0
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 2
    rows = rows_of(folder, "Invoices")
    assert all(v is None for v in rows[0] + rows[1])  # rows 1 and 2 left empty
    assert rows[2][:2] == ["Invoice No", "Client"]  # the headers on row 3
    assert [r[:2] for r in rows[3:]] == [["INV-2026-0001", "Acme"], ["INV-2026-0002", "Beta"]]

    # The next runs read the sheet where they are told to: nothing stops, nothing doubles.
    assert folder.run("--as-of", "2026-03-16") == 0
    assert folder.run("--as-of", "2026-03-23") == 0
    assert len(folder.received) == 2
    rows = rows_of(folder, "Invoices")
    assert rows[2][0] == "Invoice No"
    assert [r[0] for r in rows[3:]] == ["INV-2026-0001", "INV-2026-0002"]


def test_a_payments_sheet_the_run_makes_has_its_headers_on_the_row_header_rows_names(
    folder: Folder,
) -> None:
    folder.write_config(extra="header_rows = { Payments = 2 }")
    two_clients(folder)
    assert folder.run("--as-of", AS_OF) == 0
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 10), Decimal("100.00"), "Acme", purpose="INV-2026-0001", ref="R1")]
    (inbox / "camt053-1.xml").write_bytes(camt053(paid, "01", currency="USD"))
    assert folder.run("--as-of", "2026-03-11") == 0
    rows = rows_of(folder, "Payments")
    assert all(v is None for v in rows[0])
    assert "Bank Ref" in rows[1]  # the headers on row 2
    ref = rows[1].index("Bank Ref")
    assert [r[ref] for r in rows[2:]] == ["R1"]

    more = [Tx(date(2026, 3, 17), Decimal("100.00"), "Beta", purpose="INV-2026-0002", ref="R2")]
    (inbox / "camt053-2.xml").write_bytes(camt053(more, "02", currency="USD"))
    assert folder.run("--as-of", "2026-03-18") == 0
    rows = rows_of(folder, "Payments")
    assert [r[ref] for r in rows[2:]] == ["R1", "R2"]


@pytest.mark.parametrize("number_format", ["N{seq}", "INV-{year}-{month}{seq}"])
def test_a_runs_new_invoices_rows_are_in_the_order_their_numbers_were_issued(
    folder: Folder, number_format: str
) -> None:
    folder.write_config(extra=f'number_format = "{number_format}"')
    names = [f"Client {chr(65 + i)}" for i in range(12)]
    write_workbook(
        folder.workbook,
        [client(n) for n in names],
        [service(date(2026, 3, 2), n, "Work", 1, 10 + i) for i, n in enumerate(names)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    rows = rows_of(folder, "Invoices")[1:]
    seq = [number_format.format(year=2026, month=3, seq=n) for n in range(1, 13)]
    assert [r[0] for r in rows] == seq  # N1, N2, ... N10, N11, N12: not N1, N10, N11, N2
    assert [r[1] for r in rows] == names
