"""The look a new cell takes: the column's, never one row's highlight.

A new cell takes a style at least three of the five data rows above it have
in its column (Excel's rule for extending a list's formats), else the
column's own, with the number format (a date's, an amount's) of the nearest
row above that has one. A row coloured red by the bookkeeper (a disputed
line), or a hand-typed invoice number styled as a link, is not copied onto
the rows the tool adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from conftest import Folder, client

from automation.model import CellUpdate, Money
from automation.writeback import apply_updates, rowbytes

INVOICE_HEADERS = ["Invoice No", "Client", "Invoice Date", "Total", "Status"]
RED = "FFFF0000"


@pytest.fixture(params=["as bytes", "as elements"])
def both_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs with new rows written as bytes (the usual) and as parsed elements."""
    if request.param == "as elements":
        monkeypatch.setattr(rowbytes, "bytes_ok", lambda edit: False)
    yield request.param


def fill(cell: Any) -> str | None:
    return cell.fill.fgColor.rgb if cell.fill.fill_type else None


def invoices_book(path: Path, rows: list[list[tuple[Any, dict[str, Any] | None]]]) -> Path:
    """An Invoices sheet whose data rows are (value, XlsxWriter format) per column."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, INVOICE_HEADERS)
    formats: dict[str, Any] = {}
    for r, row in enumerate(rows, start=1):
        for c, (value, spec) in enumerate(row):
            key = repr(sorted((spec or {}).items()))
            fmt = formats.setdefault(key, wb.add_format(spec) if spec else None)
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value, fmt)
            elif value is None:
                ws.write_blank(r, c, None, fmt)
            else:
                ws.write(r, c, value, fmt)
    wb.close()
    return path


def new_invoice(row: int, number: str, total: object = Decimal("120.00")) -> list[CellUpdate]:
    values = [number, "Acme", date(2026, 3, 10), total, "Sent"]
    return [CellUpdate("Invoices", row, h, v) for h, v in zip(INVOICE_HEADERS, values, strict=True)]


def hand_row(number: str, spec: dict[str, Any] | None, money: str = "#,##0.00") -> list[Any]:
    """A hand-typed invoice row, every cell given `spec` (dates and totals their format too)."""
    base = spec or {}
    return [
        (number, spec),
        ("Acme", spec),
        (datetime(2026, 1, 5), {**base, "num_format": "yyyy-mm-dd"}),
        (50, {**base, "num_format": money}),
        ("Sent", spec),
    ]


def test_one_red_row_is_not_copied_onto_the_rows_below(tmp_path: Path, both_paths: str) -> None:
    path = invoices_book(
        tmp_path / "book.xlsx",
        [hand_row("OLD-1", None), hand_row("OLD-2", {"bg_color": "#FF0000"})],
    )
    updates = new_invoice(4, "INV-2026-0001") + new_invoice(5, "INV-2026-0002")
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert [fill(c) for c in ws[3]] == [RED] * 5  # the bookkeeper's red row stays red
    for row in (4, 5):
        assert [fill(c) for c in ws[row]] == [None] * 5, row
        assert ws.cell(row, 3).number_format == "yyyy-mm-dd"  # the column's date format
        assert ws.cell(row, 4).number_format == "#,##0.00"


def test_a_link_styled_cell_above_lends_no_link_look(tmp_path: Path, both_paths: str) -> None:
    link = {"font_color": "#0563C1", "underline": 1}
    path = invoices_book(tmp_path / "book.xlsx", [hand_row("OLD-0001", link)])
    apply_updates(path, new_invoice(3, "INV-2026-0001"), header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert ws["A2"].font.underline == "single"
    assert ws["A3"].value == "INV-2026-0001"
    assert ws["A2"].font.color.rgb == "FF0563C1"
    for cell in ws[3]:
        assert not cell.font.underline, cell.coordinate
        assert cell.font.color is None or cell.font.color.rgb != "FF0563C1", cell.coordinate


def test_one_rows_money_format_is_carried_without_its_look(tmp_path: Path, both_paths: str) -> None:
    """A single hand-typed row's `#,##0.00 "€"` (and its date format) still show on the new
    rows, on the column's own look: not the row's yellow fill and bold font."""
    marked = {"bg_color": "#FFFF00", "bold": True}
    path = invoices_book(tmp_path / "book.xlsx", [hand_row("OLD-1", marked, money='#,##0.00 "€"')])
    updates = new_invoice(3, "INV-2026-0001", Money(Decimal("120.00"), "EUR"))
    updates += new_invoice(4, "INV-2026-0002", Money(Decimal("80.50"), "EUR"))
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    for row in (3, 4):
        assert ws.cell(row, 4).number_format == '#,##0.00 "€"'
        assert ws.cell(row, 3).number_format == "yyyy-mm-dd"
        for cell in ws[row]:
            assert fill(cell) is None and not cell.font.bold, cell.coordinate


def test_a_look_five_rows_share_is_carried_and_kept(tmp_path: Path, both_paths: str) -> None:
    """Five rows with a border all round: the new rows have it too, row after row."""
    boxed = {"border": 1}
    path = invoices_book(tmp_path / "book.xlsx", [hand_row(f"OLD-{i}", boxed) for i in range(5)])
    updates = [u for n in range(7, 15) for u in new_invoice(n, f"INV-2026-{n:04d}")]
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    for row in range(7, 15):
        for cell in ws[row]:
            assert cell.border.left.style == "thin", cell.coordinate
            assert cell.border.bottom.style == "thin", cell.coordinate
        assert ws.cell(row, 3).number_format == "yyyy-mm-dd"
        assert ws.cell(row, 4).number_format == "#,##0.00"


def test_a_look_two_of_five_rows_have_is_not_carried(tmp_path: Path, both_paths: str) -> None:
    grey = {"bg_color": "#D9D9D9"}
    rows = [hand_row("OLD-1", None), hand_row("OLD-2", grey), hand_row("OLD-3", None)]
    rows += [hand_row("OLD-4", None), hand_row("OLD-5", grey)]  # the row right above: grey
    path = invoices_book(tmp_path / "book.xlsx", rows)
    apply_updates(path, new_invoice(7, "INV-2026-0001"), header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert [fill(c) for c in ws[7]] == [None] * 5
    assert ws["C7"].number_format == "yyyy-mm-dd"


def test_the_run_does_not_flag_a_new_invoice_as_disputed(folder: Folder) -> None:
    """The bookkeeper coloured a hand-billed line red on Services and its invoice red on
    Invoices; the run bills the next line: nothing it writes is red."""
    wb = xlsxwriter.Workbook(str(folder.workbook))
    red = wb.add_format({"bg_color": "#FF0000"})
    red_day = wb.add_format({"bg_color": "#FF0000", "num_format": "yyyy-mm-dd"})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["Client", "Email", "Terms"])
    ws.write_row(1, 0, [client("Acme")[k] for k in ("Client", "Email", "Terms")])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount",
                        "Invoice No", "Due Date", "Status", "Error"])  # fmt: skip
    ws.write_datetime(1, 0, datetime(2026, 1, 5), red_day)
    ws.write_row(1, 1, ["Acme", "Old job", 1, 50], red)
    ws.write_formula(1, 5, "=D2*E2", red, 50)
    ws.write(1, 6, "HAND-1", red)
    ws.write(1, 8, "Invoiced", red)
    ws.write_datetime(2, 0, datetime(2026, 3, 2), day)
    ws.write_row(2, 1, ["Acme", "New job", 2, 100])
    ws.write_formula(2, 5, "=D3*E3", None, 200)
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Client", "Currency", "Terms", "Invoice Date", "Due Date",
                        "Total", "Paid Amount", "Paid Date", "Balance", "Status"])  # fmt: skip
    ws.write_row(1, 0, ["HAND-1", "Acme", "USD", "Net 30"], red)
    ws.write_datetime(1, 4, datetime(2026, 1, 5), red_day)
    ws.write_datetime(1, 5, datetime(2026, 2, 4), red_day)
    ws.write_row(1, 6, [50, None, None, 50, "Disputed"], red)
    wb.close()
    folder.run("--as-of", "2026-03-10")
    book = openpyxl.load_workbook(folder.workbook)
    services, invoices = book["Services"], book["Invoices"]
    assert services["G3"].value == invoices["A3"].value == "INV-2026-0001"
    assert [c.coordinate for c in services[3] if fill(c)] == []
    assert [c.coordinate for c in invoices[3] if fill(c)] == []
    assert services["H3"].number_format == "yyyy-mm-dd"
    assert invoices["E3"].number_format == invoices["F3"].number_format == "yyyy-mm-dd"
    assert [c.coordinate for c in invoices[2] if fill(c) != RED and c.value is not None] == []
