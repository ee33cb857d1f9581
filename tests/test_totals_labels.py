"""A totals row typed by hand under the Invoices or the Services rows is known by one rule
(`cells.is_total_label`): "Total", "TOTAL:", "Subtotal", "Grand total"."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS

from automation.config import Config
from automation.read import read_workbook
from automation.validate import validate_clients, validate_services


@pytest.mark.parametrize("label", ["Total", "TOTAL:", "Subtotal", "Grand total", "Sub-total"])
def test_a_totals_row_under_the_invoices_is_told_whatever_its_label(
    tmp_path: Path, label: str
) -> None:
    """A totals row typed last under the Invoices, with its SUM: the rows the tool adds go
    below it, and the run says so, under any label the Services sheet knows one by."""
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"])
    ws.write_datetime(1, 0, datetime(2026, 3, 2), day)
    ws.write_row(1, 1, ["Acme", "Work", 1, 100])
    ws.write_formula(1, 5, "=D2*E2", None, 100)
    ws.write(3, 2, label)  # the same label under the lines: no service, no mistake
    ws.write_formula(3, 5, "=SUM(F2:F2)", None, 100)
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Client", "Currency", "Terms", "Invoice Date", "Total"])
    ws.write_row(1, 0, ["HAND-1", "Acme", "USD", "Net 30"])
    ws.write_datetime(1, 4, datetime(2026, 1, 5), day)
    ws.write(1, 5, 50)
    ws.write(2, 0, label)
    ws.write_formula(2, 5, "=SUM(F2:F2)", None, 50)
    wb.close()
    data = read_workbook(path, Config())
    assert data.invoices is not None
    assert data.invoices.append_note == (
        f"Invoices: rows the tool adds go below row 3 ({label!r}), so the totals there do not "
        "count them. Make the sheet an Excel Table with a totals row (Ctrl+T, then Table "
        "Design > Total Row): the tool keeps that row last; or sum whole columns above the "
        "header."
    )
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [line.row for line in lines] == [2] and not errors
