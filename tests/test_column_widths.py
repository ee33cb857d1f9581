"""Columns the tool creates get a width that fits what they hold; others keep theirs."""

from __future__ import annotations

from datetime import date

import openpyxl
from conftest import Folder, client, service, write_workbook

from automation.model import CellUpdate
from automation.writeback import apply_updates


def test_created_invoices_sheet_has_readable_columns(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Northwind Traders International LLC")],
        [service(date(2026, 3, 2), "Northwind Traders International LLC", "Work")],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    sheet = openpyxl.load_workbook(folder.workbook)["Invoices"]
    width = {c.value: sheet.column_dimensions[c.column_letter].width for c in sheet[1]}
    assert width["Client"] >= 28 and width["Note"] >= 40  # a name, a sentence
    assert width["Invoice No"] >= len("INV-2026-0001") + 2
    assert width["Invoice Date"] >= 12 and width["Total"] >= 12 and width["Sent At"] >= 16
    assert all(w >= len(h) + 2 for h, w in width.items())


def test_a_bookkeepers_column_widths_are_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Invoices"
    ws.append(["Invoice No", "Client"])
    ws.column_dimensions["B"].width = 60
    wb.save(path)
    apply_updates(
        path, [CellUpdate("Invoices", 2, "Note", "Emailed.")], header_rows={"Invoices": 1}
    )
    sheet = openpyxl.load_workbook(path)["Invoices"]
    assert sheet["C1"].value == "Note"
    assert sheet.column_dimensions["B"].width == 60  # as the bookkeeper set it
    assert sheet.column_dimensions["C"].width == 48
    assert sheet.column_dimensions["A"].width in (None, 13)  # untouched: Excel's default
