"""A full billing run leaves everything it does not own in the workbook untouched.

The workbook is built as Excel leaves it (XlsxWriter: formulas with cached
values, a chart, an image, a comment, validation, conditional formatting,
defined names, freeze panes, an autofilter, a header below title rows), then
billed for real; only the cells the tool owns may change.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from conftest import SERVICE_HEADERS, Folder
from test_writeback import formulas, libreoffice_csv, members, tiny_png

AS_OF = "2026-03-09"
#: Parts a run may rewrite: the billed sheet, the new Invoices sheet and the
#: entries that register it, and styles.xml when a date-time style is added.
MAY_CHANGE = {
    "xl/worksheets/sheet2.xml",
    "xl/worksheets/sheet4.xml",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "[Content_Types].xml",
    "xl/styles.xml",
}


def build(path: Path, tmp: Path, vba: bool = False) -> None:
    wb = xlsxwriter.Workbook(str(path))
    if vba:
        (tmp / "vbaProject.bin").write_bytes(b"\xd0\xcf\x11\xe0 macro bytes " * 40)
        wb.add_vba_project(str(tmp / "vbaProject.bin"))
    day = wb.add_format({"num_format": "dd/mm/yyyy"})
    money = wb.add_format({"num_format": "#,##0.00", "bg_color": "#FFF2CC"})
    clients = wb.add_worksheet("Clients")
    clients.write_row(0, 0, ["Client", "Email", "Terms", "Tax Rate"])
    clients.write_row(1, 0, ["Acme & Sons", "ap@acme.example", "Net 14", "10%"])
    clients.write_row(2, 0, ["Globex", "pay@globex.example", "EOM", 0])
    ws = wb.add_worksheet("Services")
    ws.merge_range("A1:E1", "Service log 2026", wb.add_format({"bold": True, "font_size": 14}))
    ws.write(1, 0, "Type new lines at the bottom.")
    ws.write_row(2, 0, SERVICE_HEADERS, wb.add_format({"bold": True}))
    lines = [
        ("Acme & Sons", "Audit", 3, 120.0),
        ("Globex", "Payroll", 2, 75.5),
        ("Acme & Sons", "VAT return", 1, 300.0),
    ]
    for i, (name, text, qty, price) in enumerate(lines):
        r = 3 + i
        ws.write_datetime(r, 0, datetime(2026, 3, 2 + i), day)
        ws.write_row(r, 1, [name, text, qty])
        ws.write_number(r, 4, price, money)
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", money, qty * price)
    ws.write_comment("C4", "Agreed by phone")
    ws.data_validation(
        "B4:B500", {"validate": "list", "source": "=Clients!$A$2:$A$50", "error_type": "warning"}
    )
    ws.conditional_format(
        "F4:F500", {"type": "cell", "criteria": ">", "value": 200, "format": money}
    )
    ws.freeze_panes(3, 0)
    ws.autofilter("A3:J6")
    png = tmp / "logo.png"
    png.write_bytes(tiny_png())
    ws.insert_image("L2", str(png))
    summary = wb.add_worksheet("Summary")
    summary.write(0, 0, "Total logged")
    summary.write_formula(0, 1, "=SUM(Services!F4:F6)", money, 811.0)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Services!$F$4:$F$6", "categories": "=Services!$C$4:$C$6"})
    summary.insert_chart("D2", chart)
    wb.define_name("Amounts", "=Services!$F$4:$F$6")
    wb.close()


def small_book(path: Path, date_as_text: bool = False) -> xlsxwriter.Workbook:
    """One client, one service, Amount typed; the caller adds to it and closes it."""
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Clients").write_row(0, 0, ["Client", "Email"])
    wb.get_worksheet_by_name("Clients").write_row(1, 0, ["Acme", "a@acme.example"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Amount"])
    if date_as_text:
        ws.write_string(1, 0, "2026-03-02")
    else:
        ws.write_datetime(1, 0, datetime(2026, 3, 2), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_row(1, 1, ["Acme", "Work", 50])
    return wb


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm"])
def test_billing_touches_only_what_it_owns(folder: Folder, tmp_path: Path, suffix: str) -> None:
    folder.workbook = tmp_path / f"service_log{suffix}"
    build(folder.workbook, tmp_path, vba=suffix == ".xlsm")
    before = members(folder.workbook)
    formulas_before = formulas(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 2
    after = members(folder.workbook)

    assert [n for n in after if n in before] == list(before)  # same order
    for name, data in before.items():
        if name not in MAY_CHANGE:
            assert after[name] == data, f"{name} changed"
    assert "xl/worksheets/sheet4.xml" in after and "xl/worksheets/sheet4.xml" not in before
    if suffix == ".xlsm":
        assert after["xl/vbaProject.bin"] == (tmp_path / "vbaProject.bin").read_bytes()
    assert formulas(folder.workbook) == formulas_before

    services = pd.read_excel(folder.workbook, sheet_name="Services", header=2, engine="calamine")
    assert services["Invoice No"].tolist() == ["INV-2026-0001", "INV-2026-0002", "INV-2026-0001"]
    assert services["Due Date"].tolist() == [
        pd.Timestamp(2026, 3, 23),
        pd.Timestamp(2026, 3, 31),
        pd.Timestamp(2026, 3, 23),
    ]
    assert services["Amount"].tolist() == [360, 151, 300]
    wb = openpyxl.load_workbook(folder.workbook)
    assert wb["Services"]["H4"].value == datetime(2026, 3, 23)
    assert wb["Services"]["G4"].value == "INV-2026-0001"
    invoices = wb["Invoices"]
    assert [c.value for c in invoices[1]][:7] == [
        "Invoice No",
        "Client",
        "Currency",
        "Terms",
        "Invoice Date",
        "Due Date",
        "Total",
    ]
    assert invoices["E2"].value == datetime(2026, 3, 9)
    assert invoices["G2"].value == pytest.approx(726.0)  # (360 + 300) x 1.10
    assert isinstance(invoices["L2"].value, datetime)  # Sent At
    assert wb["Services"].freeze_panes == "A4"
    assert wb["Services"].auto_filter.ref == "A3:J6"
    assert "Amounts" in wb.defined_names

    unchanged = folder.workbook.read_bytes()
    assert folder.run("--as-of", AS_OF) == 0  # a run with nothing to do writes nothing
    assert folder.workbook.read_bytes() == unchanged


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"),
    reason="LibreOffice is not installed (it is required in CI)",
)
def test_libreoffice_opens_the_billed_workbook(folder: Folder, tmp_path: Path) -> None:
    build(folder.workbook, tmp_path)
    assert folder.run("--as-of", AS_OF) == 0
    sheets = libreoffice_csv(folder.workbook, tmp_path)
    services = sheets["Services"].splitlines()
    # LibreOffice writes raw values, dates in its default (US) form.
    assert services[3] == (
        "03/02/2026,Acme & Sons,Audit,3,120,360,INV-2026-0001,03/23/2026,Invoiced,"
    )
    assert sheets["Invoices"].splitlines()[1].startswith("INV-2026-0001,Acme & Sons,USD,Net 14,")
    assert sheets["Summary"].splitlines()[0] == "Total logged,811"


def test_dates_written_where_the_sheet_had_none(folder: Folder, tmp_path: Path) -> None:
    small_book(folder.workbook, date_as_text=True).close()  # a date typed as text
    assert folder.run("--as-of", AS_OF) == 0
    due = openpyxl.load_workbook(folder.workbook)["Services"]["F2"]
    assert due.value == datetime(2026, 4, 8) and due.is_date
    assert (
        date(2026, 4, 8)
        == pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")["Due Date"][
            0
        ].date()
    )


def test_new_columns_go_after_everything_in_use(folder: Folder) -> None:
    wb = small_book(folder.workbook)
    wb.get_worksheet_by_name("Services").write(4, 6, "stray note in G")  # unlabelled column
    wb.close()
    assert folder.run("--as-of", AS_OF) == 0
    sheet = openpyxl.load_workbook(folder.workbook)["Services"]
    assert sheet["G5"].value == "stray note in G"
    assert [c.value for c in sheet[1]][7:] == ["Invoice No", "Due Date", "Status", "Error"]
    assert sheet["H2"].value == "INV-2026-0001"


def test_an_invoices_sheet_the_bookkeeper_started(folder: Folder) -> None:
    wb = small_book(folder.workbook)
    inv = wb.add_worksheet("Invoices")
    inv.write_row(0, 0, ["Invoice No", "Client", "Total", "Comment"])
    inv.write(1, 3, "keep me")  # a note in the bookkeeper's own column
    wb.close()
    assert folder.run("--as-of", AS_OF) == 0
    sheet = openpyxl.load_workbook(folder.workbook)["Invoices"]
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["Invoice No", "Client", "Total", "Comment"]
    assert {"Paid Amount", "Paid Date", "Status", "Reissue", "Note"} <= set(headers)
    assert sheet["D2"].value == "keep me" and sheet["A2"].value is None
    assert sheet["A3"].value == "INV-2026-0001" and sheet["C3"].value == 50
