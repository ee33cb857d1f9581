"""Excel Tables: Services and Invoices formatted with Ctrl+T, run twice.

Workbooks are built with XlsxWriter's add_table, then calcPr's
fullCalcOnLoad is taken out, as in a file Excel saved. After two runs the
table XML, the autofilters, the totals rows, the number formats, the
recalculation flag and LibreOffice's recalculated values are checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, Folder
from lxml import etree

from automation.schema import INVOICES_COLUMNS
from automation.writeback.ranges import RangeGrowth, grow_ranges
from automation.writeback.xmlscan import col_letters

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
INVOICE_COLUMNS = [
    "Invoice No",
    "Client",
    "Invoice Date",
    "Due Date",
    "Total",
    "Paid Amount",
    "Paid Date",
    "Balance",
    "Status",
]
FIRST_RUN, SECOND_RUN = "2026-03-09", "2026-03-16"
#: The tool's Invoices columns the test table lacks: they join it, in the schema's order.
ADDED = [c.name for c in INVOICES_COLUMNS if c.name not in INVOICE_COLUMNS]
LAST = col_letters(len(INVOICE_COLUMNS) + 1 + len(ADDED))  # + the bookkeeper's "Open"


def plain(columns: list[dict[str, Any]], totals: bool) -> list[dict[str, Any]]:
    """Without a totals row, no totals options (XlsxWriter would write them anyway)."""
    if totals:
        return columns
    return [{k: v for k, v in c.items() if not k.startswith("total_")} for c in columns]


def like_excel(path: Path) -> None:
    """Drop fullCalcOnLoad, which XlsxWriter sets and Excel does not save."""
    data = {i.filename: zipfile.ZipFile(path).read(i) for i in zipfile.ZipFile(path).infolist()}
    data["xl/workbook.xml"] = data["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, content in data.items():
            out.writestr(name, content)


def build(
    path: Path,
    *,
    services_totals: bool = True,
    invoices_totals: bool = True,
    spare_rows: int = 0,
    tool_columns_in_services: bool = False,
    tool_columns_beside: bool = False,
    note_below_invoices: int = 0,
    short_formulas: bool = False,
    service_below: bool = False,
    validations: bool = False,
    services_spare_rows: int = 0,
    stale_errors: bool = False,
    typed_totals: bool = False,
) -> None:
    """Clients plain; Services and Invoices as tables; a Summary using structured references.

    Services: two services billable on 9 March, one only on 16 March. Invoices:
    one invoice typed by hand (paid), plus `spare_rows` empty table rows.
    `services_spare_rows` empty Services table rows show the Amount formula's 0, as
    Excel fills a calculated column; with `stale_errors` (and the tool's columns in
    the table) an earlier run had marked them Error. With `typed_totals` (and no
    `invoices_totals`) the Invoices table's last row is a "Total" row with SUBTOTALs of the
    rows above, what LibreOffice leaves of a totals row through .ods.
    """
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "dd/mm/yyyy"})
    money = wb.add_format({"num_format": "#,##0.00;[Red]-#,##0.00"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme Ltd", "acme@clients.example", "", "", "Net 30"])
    ws.write_row(2, 0, ["Beta LLC", "beta@clients.example", "", "", "Net 14"])

    ws = wb.add_worksheet("Services")
    rows = [
        [datetime(2026, 3, 2), "Acme Ltd", "Bookkeeping, February", 2, 150],
        [datetime(2026, 3, 3), "Beta LLC", "Payroll run", 1, 80],
        [datetime(2026, 3, 12), "Acme Ltd", "Tax return", 1, 400],
    ]
    amount = (
        "=[@Quantity]*[@[Unit Price]]"
        if short_formulas
        else ("=tblServices[[#This Row],[Quantity]]*tblServices[[#This Row],[Unit Price]]")
    )
    columns: list[dict[str, Any]] = [
        {"header": "Date", "format": day, "total_string": "Total"},
        {"header": "Client"},
        {"header": "Description"},
        {"header": "Quantity"},
        {"header": "Unit Price", "format": money},
        {
            "header": "Amount",
            "formula": amount,
            "format": money,
            "total_function": "sum" if short_formulas else "=SUBTOTAL(109,tblServices[Amount])",
        },
    ]
    if tool_columns_in_services:
        columns += [{"header": h} for h in ("Invoice No", "Due Date", "Status", "Error")]
    spare = [[None] * 5] * services_spare_rows
    last = len(rows) + services_spare_rows + (1 if services_totals else 0)
    ws.add_table(
        0,
        0,
        last,
        len(columns) - 1,
        {
            "name": "tblServices",
            "total_row": services_totals,
            "columns": plain(columns, services_totals),
            "data": [r + [None] * (len(columns) - 5) for r in rows + spare],
        },
    )
    for r, row in enumerate(rows + spare, start=1):  # cached results, as Excel saves them
        ws.write_formula(r, 5, amount, money, row[3] * row[4] if row[3] else 0)
        if stale_errors and not row[0]:
            ws.write_row(r, 8, ["Error", "the date is missing; type the date the service was "
                                         "provided."])  # fmt: skip
    if service_below:  # typed under the totals row, outside the table: a common slip
        ws.write_datetime(last + 1, 0, datetime(2026, 3, 4), day)
        ws.write_row(last + 1, 1, ["Beta LLC", "Typed below the table", 1, 20])
        ws.write_formula(last + 1, 5, f"=D{last + 2}*E{last + 2}", money, 20)
    if tool_columns_beside:  # what an earlier version of the tool left next to the table
        ws.write_row(0, len(columns), ["Invoice No", "Due Date", "Status", "Error"])

    ws = wb.add_worksheet("Invoices")
    balance_total = "sum" if short_formulas else "=SUBTOTAL(109,tblInvoices[Balance])"
    inv_columns: list[dict[str, Any]] = [
        {"header": "Invoice No", "total_string": "Total"},
        {"header": "Client"},
        {"header": "Invoice Date", "format": day},
        {"header": "Due Date", "format": day},
        {"header": "Total", "format": money},
        {"header": "Paid Amount", "format": money},
        {"header": "Paid Date", "format": day},
        {"header": "Balance", "format": money, "total_function": balance_total},
        {"header": "Status"},
        {"header": "Open", "formula": "=IF(tblInvoices[[#This Row],[Balance]]>0,1,0)"},
    ]
    typed = [
        [
            "INV-2026-0001",
            "Acme Ltd",
            datetime(2026, 2, 2),
            datetime(2026, 3, 4),
            50,
            50,
            datetime(2026, 2, 20),
            0,
            "Paid",
        ]
    ]
    last = len(typed) + spare_rows + (1 if invoices_totals or typed_totals else 0)
    ws.add_table(
        0,
        0,
        last,
        len(inv_columns) - 1,
        {
            "name": "tblInvoices",
            "total_row": invoices_totals,
            "columns": plain(inv_columns, invoices_totals),
            "data": [r + [None] for r in typed],
        },
    )
    ws.write_datetime(1, 2, datetime(2026, 2, 2), day)
    if typed_totals:
        ws.write(last, 0, "Total")
        for col, cached in ((4, 50), (7, 0)):
            letter = col_letters(col + 1)
            ws.write_formula(last, col, f"=SUBTOTAL(109,Invoices!${letter}$2:${letter}${last})",
                             money, cached)  # fmt: skip
    if validations:  # as a bookkeeper sets them on the table's columns, and one more below
        data = len(typed) + spare_rows + 1  # the last data row (Excel's number)
        ws.data_validation(
            f"I2:I{data}", {"validate": "list", "source": ["Unpaid", "Paid", "Void"]}
        )
        ws.data_validation("K2:K500", {"validate": "integer", "criteria": ">=", "value": 0})
        red = wb.add_format({"font_color": "#9C0006"})
        ws.conditional_format(
            f"H2:H{data}", {"type": "cell", "criteria": ">", "value": 0, "format": red}
        )
        ws.conditional_format(f"E2:E{data}", {"type": "data_bar", "data_bar_2010": True})
        if invoices_totals:
            bold = wb.add_format({"bold": True})
            ws.conditional_format(f"A{last + 1}:J{last + 1}", {"type": "no_blanks", "format": bold})
    if note_below_invoices:
        ws.write(last + note_below_invoices + 1, 0, "Invoices before 2026 are in the old book.")

    ws = wb.add_worksheet("Summary")
    ws.write_column(0, 0, ["Open balance", "Billed", "Open invoices"])
    ws.write_formula(1 - 1, 1, "=SUM(tblInvoices[Balance])", None, 0)
    ws.write_formula(1, 1, "=SUM(tblServices[Amount])", None, 780)
    ws.write_formula(2, 1, "=SUM(tblInvoices[Open])", None, 0)
    wb.close()
    like_excel(path)


def tables(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as zf:
        found = {}
        for name in zf.namelist():
            if name.startswith("xl/tables/"):
                root = etree.fromstring(zf.read(name))
                found[root.get("displayName")] = root
        return found


def table_columns(table: Any) -> list[tuple[str, str]]:
    return [(c.get("id"), c.get("name")) for c in table.iter(f"{MAIN}tableColumn")]


def sheet_xml(path: Path, part: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(part)


def setup_folder(folder: Folder, **kw: Any) -> None:
    build(folder.workbook, **kw)
    folder.write_config(extra='date_order = "DMY"')


def test_two_runs_grow_the_tables_and_keep_totals_last(folder: Folder) -> None:
    setup_folder(folder)
    assert folder.run("--as-of", FIRST_RUN) == 0
    assert folder.run("--as-of", SECOND_RUN) == 0
    assert len(folder.received) == 3  # Acme and Beta, then Acme's tax return

    found = tables(folder.workbook)
    inv, svc = found["tblInvoices"], found["tblServices"]
    # Invoices: header, the typed invoice, three new ones, the totals row last.
    assert inv.get("ref") == f"A1:{LAST}6" and inv.get("totalsRowCount") == "1"
    assert inv.find(f"{MAIN}autoFilter").get("ref") == f"A1:{LAST}5"
    names = [name for _, name in table_columns(inv)]
    assert names[:10] == [*INVOICE_COLUMNS, "Open"]
    assert names[10:] == ADDED
    assert ADDED[:7] == [
        "Currency",
        "Terms",
        "Sent At",
        "Last Sent",
        "Reissue",
        "Reissue Count",
        "Note",
    ]
    ids = [i for i, _ in table_columns(inv)]
    assert len(set(ids)) == len(ids) == int(inv.find(f"{MAIN}tableColumns").get("count"))
    # Services: the four tool columns joined the table; its totals row stays where it was.
    assert svc.get("ref") == "A1:J5"
    assert [n for _, n in table_columns(svc)][6:] == ["Invoice No", "Due Date", "Status", "Error"]
    assert svc.find(f"{MAIN}autoFilter").get("ref") == "A1:J4"

    book = openpyxl.load_workbook(folder.workbook)
    ws = book["Invoices"]
    assert [ws.cell(r, 1).value for r in range(1, 7)] == [
        "Invoice No",
        "INV-2026-0001",
        "INV-2026-0002",
        "INV-2026-0003",
        "INV-2026-0004",
        "Total",
    ]
    assert ws["H6"].value == "=SUBTOTAL(109,tblInvoices[Balance])"  # moved down twice, intact
    for r in (3, 4, 5):
        assert ws.cell(r, 3).number_format == "dd/mm/yyyy"  # the column's own date format
        assert ws.cell(r, 5).number_format == "#,##0.00;[Red]-#,##0.00"  # the column's own
        assert ws.cell(r, 8).number_format == "#,##0.00;[Red]-#,##0.00"
        assert ws.cell(r, 10).value == "=IF(tblInvoices[[#This Row],[Balance]]>0,1,0)"
        assert ws.cell(r, 13).is_date  # Sent At: a date and time format of its own
    services = book["Services"]
    assert services["A5"].value == "Total" and services["G5"].value is None  # never written
    assert services["I5"].value is None and services["J5"].value is None
    assert [services.cell(r, 7).value for r in (2, 3, 4)] == [
        "INV-2026-0002",
        "INV-2026-0003",
        "INV-2026-0004",
    ]
    assert services["H2"].is_date  # Due Date: the workbook's date format
    with zipfile.ZipFile(folder.workbook) as zf:
        assert b'fullCalcOnLoad="1"' in zf.read("xl/workbook.xml")


def test_validations_and_formats_grow_with_the_table(folder: Folder) -> None:
    """As in Excel, a drop-down list and conditional formats on the table's data reach its
    new rows (both forms of a data bar), one on the totals row moves with it, and one set
    on more rows than the table has is left as it was."""
    setup_folder(folder, validations=True)
    assert folder.run("--as-of", FIRST_RUN) == 0
    assert folder.run("--as-of", SECOND_RUN) == 0
    book = openpyxl.load_workbook(folder.workbook)
    ws = book["Invoices"]
    assert ws["A6"].value == "Total" and ws["A5"].value == "INV-2026-0004"
    lists = {str(v.sqref): v.type for v in ws.data_validations.dataValidation}
    assert lists == {"I2:I5": "list", "K2:K500": "whole"}
    formats = sorted(str(f.sqref) for f in ws.conditional_formatting)
    assert formats == ["A6:J6", "E2:E5", "H2:H5"]
    (totals,) = [f for f in ws.conditional_formatting if str(f.sqref) == "A6:J6"]
    assert totals.rules[0].formula == ["LEN(TRIM(A6))>0"]  # its formula moved with it
    xml = sheet_xml(folder.workbook, "xl/worksheets/sheet3.xml")
    assert re.findall(rb"<xm:sqref>([^<]*)</xm:sqref>", xml) == [b"E2:E5"]  # the 2010 data bar
    services = sheet_xml(folder.workbook, "xl/worksheets/sheet2.xml")
    assert b"dataValidation" not in services and b"conditionalFormatting" not in services


def test_spare_rows_are_filled_before_the_table_grows(folder: Folder) -> None:
    setup_folder(folder, invoices_totals=False, spare_rows=3)
    assert folder.run("--as-of", FIRST_RUN) == 0
    inv = tables(folder.workbook)["tblInvoices"]
    assert inv.get("ref") == f"A1:{LAST}5"  # 1 typed + 3 spare rows: two of them used, none added
    assert folder.run("--as-of", SECOND_RUN) == 0
    inv = tables(folder.workbook)["tblInvoices"]
    assert inv.get("ref") == inv.find(f"{MAIN}autoFilter").get("ref") == f"A1:{LAST}5"
    ws = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert [ws.cell(r, 1).value for r in range(2, 7)] == [
        "INV-2026-0001",
        "INV-2026-0002",
        "INV-2026-0003",
        "INV-2026-0004",
        None,
    ]


@pytest.mark.parametrize("stale_errors", [False, True])
def test_spare_services_rows_showing_the_amount_formulas_zero_are_no_lines(
    folder: Folder, stale_errors: bool
) -> None:
    # Excel fills a table's calculated Amount into its empty rows: they show 0
    setup_folder(folder, services_spare_rows=3, tool_columns_in_services=True,
                 stale_errors=stale_errors)  # fmt: skip
    assert folder.run("--as-of", FIRST_RUN) == 0  # no row errors, so no exit 1
    sheet = openpyxl.load_workbook(folder.workbook)["Services"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_row=7)]
    assert [row[6] for row in rows[:2]] == ["INV-2026-0002", "INV-2026-0003"]
    for row in rows[3:]:  # the spare rows: formula kept, Status and Error empty
        assert str(row[5]).startswith("=") and row[:5] == [None] * 5
        assert row[6:10] == [None] * 4
    assert len(folder.received) == 2


def test_a_note_right_of_the_table_and_below_its_rows_keeps_new_columns_out(
    folder: Folder,
) -> None:
    """A note in the column right of the Invoices table, a row below its totals row: that
    column cannot join the table (its totals row could never move down, and no invoice row
    would ever be written); the columns go beside it and every run writes its rows."""
    build(folder.workbook)  # Invoices: A1:J3, one invoice and the totals row
    book = openpyxl.load_workbook(folder.workbook)
    book["Invoices"]["K5"] = "Checked by Mary"
    book.save(folder.workbook)
    folder.write_config(extra='date_order = "DMY"')
    assert folder.run("--as-of", FIRST_RUN) == 0
    invoices = openpyxl.load_workbook(folder.workbook)["Invoices"]
    numbers = [invoices.cell(r, 1).value for r in range(2, 6)]
    assert "INV-2026-0002" in numbers and "INV-2026-0003" in numbers
    assert invoices["K5"].value == "Checked by Mary"
    assert tables(folder.workbook)["tblInvoices"].get("ref").startswith("A1:J")


def test_exact_table_without_totals_grows_one_row_per_invoice(folder: Folder) -> None:
    setup_folder(
        folder, services_totals=False, invoices_totals=False, tool_columns_in_services=True
    )
    assert folder.run("--as-of", FIRST_RUN) == 0
    assert tables(folder.workbook)["tblInvoices"].get("ref") == f"A1:{LAST}4"
    assert folder.run("--as-of", SECOND_RUN) == 0
    found = tables(folder.workbook)
    assert found["tblInvoices"].get("ref") == f"A1:{LAST}5"
    assert found["tblServices"].get("ref") == "A1:J4"  # its tool columns were there already
    assert len(table_columns(found["tblServices"])) == 10


def test_tool_columns_beside_the_table_join_it(folder: Folder) -> None:
    setup_folder(folder, tool_columns_beside=True)
    assert folder.run("--as-of", FIRST_RUN) == 0
    svc = tables(folder.workbook)["tblServices"]
    assert svc.get("ref") == "A1:J5"
    assert [n for _, n in table_columns(svc)][6:] == ["Invoice No", "Due Date", "Status", "Error"]


def test_something_below_the_table_is_said_and_kept(folder: Folder, capsys) -> None:
    """A note under the table's totals, one row between: the two new invoices do not fit
    above it, and go below it (said); the note and the table stay where they are."""
    setup_folder(folder, note_below_invoices=1)
    assert folder.run("--as-of", FIRST_RUN, "--dry-run") == 0  # said before it happens too
    out = " ".join(capsys.readouterr().out.split())
    assert "the 2 rows the tool adds do not fit in the table tblInvoices above row 5" in out
    assert folder.run("--as-of", FIRST_RUN) == 0
    out = capsys.readouterr().out
    assert "outside the table tblInvoices" in out and "row 5" in out
    inv = tables(folder.workbook)["tblInvoices"]
    assert inv.get("ref") == f"A1:{LAST}3"  # the new columns joined it, the new rows could not
    ws = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert ws["A5"].value == "Invoices before 2026 are in the old book."
    assert [ws.cell(r, 1).value for r in (6, 7)] == ["INV-2026-0002", "INV-2026-0003"]


def test_a_note_far_below_the_table_leaves_room_for_new_rows(folder: Folder, capsys) -> None:
    """A note 26 rows under the table: the two new invoices join the table, whose totals
    row moves down under them, far above the note (they went below the note, outside the
    table, where its totals and filters missed them)."""
    setup_folder(folder, note_below_invoices=26)
    assert folder.run("--as-of", FIRST_RUN) == 0
    out = capsys.readouterr().out
    assert "outside the table" not in out
    inv = tables(folder.workbook)["tblInvoices"]
    assert inv.get("ref") == f"A1:{LAST}5"  # two more rows, the totals row last
    ws = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert [ws.cell(r, 1).value for r in (2, 3, 4, 5)] == [
        "INV-2026-0001", "INV-2026-0002", "INV-2026-0003", "Total"
    ]  # fmt: skip
    assert ws["A30"].value == "Invoices before 2026 are in the old book."
    assert all(ws.cell(r, 1).value is None for r in range(6, 30))


def test_a_total_row_typed_last_in_the_table_is_said(folder: Folder, capsys) -> None:
    """What LibreOffice leaves of a totals row through .ods: the table has none, its last
    row is "Total" with SUBTOTALs of the rows above. New invoices go below it, which its
    sums do not count: the run says so, as on a plain range (it said nothing)."""
    setup_folder(folder, invoices_totals=False, typed_totals=True)
    assert folder.run("--as-of", FIRST_RUN, "--dry-run") == 0
    said = "Invoices: rows the tool adds go below row 3 ('Total') of the table tblInvoices, so "
    assert said in " ".join(capsys.readouterr().out.split())
    assert folder.run("--as-of", FIRST_RUN) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert said + "the totals there do not count them" in out
    assert "Table Design > Total Row" in out
    ws = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert [ws.cell(r, 1).value for r in (2, 3, 4, 5)] == [
        "INV-2026-0001", "Total", "INV-2026-0002", "INV-2026-0003"]  # fmt: skip
    assert ws["E3"].value == "=SUBTOTAL(109,Invoices!$E$2:$E$2)"  # left as it was


def test_a_service_below_the_table_is_billed_and_no_rows_are_said_added(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tool adds rows to Invoices, never to Services: a line typed below the Services
    table is billed, without a note about rows the tool would add below it."""
    setup_folder(folder, service_below=True)
    assert folder.run("--as-of", FIRST_RUN) == 0
    out = capsys.readouterr().out
    assert "tblServices" not in out and "rows the tool adds" not in out
    ws = openpyxl.load_workbook(folder.workbook)["Services"]
    assert ws["C6"].value == "Typed below the table" and ws["G6"].value == ws["G3"].value


def test_short_excel_formulas_survive_the_move(folder: Folder) -> None:
    setup_folder(folder, short_formulas=True)
    assert folder.run("--as-of", FIRST_RUN) == 0
    assert folder.run("--as-of", SECOND_RUN) == 0
    ws = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert ws["A6"].value == "Total" and ws["H6"].value == "=SUBTOTAL(109,[Balance])"
    assert ws["H5"].value is not None and not str(ws["H5"].value).startswith("=")


def libreoffice_values(path: Path, tmp: Path) -> dict[str, list[list[str]]]:
    """Every sheet as CSV rows after LibreOffice opened the file and recalculated it.

    LibreOffice 7.x decides by its own setting whether to recalculate an
    .xlsx on load; the profile used here says "always", as Excel does for a
    file asking fullCalcOnLoad (checked separately in the XML).
    """
    profile = tmp / "lo"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><oor:items '
        'xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<item oor:path="/org.openoffice.Office.Calc/Formula/Load">'
        '<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>'
        "</oor:items>"
    )
    out = tmp / "csv"
    cmd = [
        str(shutil.which("soffice")),
        f"-env:UserInstallation=file://{profile}",
        "--headless",
        "--convert-to",
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
        "--outdir",
        str(out),
        str(path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {
        p.stem.split("-", 1)[1]: [line.split(",") for line in p.read_text().splitlines()]
        for p in out.glob("*.csv")
    }


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_recalculates_structured_references(folder: Folder, tmp_path: Path) -> None:
    setup_folder(folder)
    assert folder.run("--as-of", FIRST_RUN) == 0
    assert folder.run("--as-of", SECOND_RUN) == 0
    values = libreoffice_values(folder.workbook, tmp_path / "lo-out")
    summary = {row[0]: row[1] for row in values["Summary"]}
    # 300 (Acme) + 80 (Beta) + 400 (Acme's tax return); the typed invoice is paid.
    assert summary == {"Open balance": "780", "Billed": "780", "Open invoices": "3"}
    invoices = values["Invoices"]
    assert invoices[-1][0] == "Total" and invoices[-1][7] == "780"
    assert [row[9] for row in invoices[1:5]] == ["0", "1", "1", "1"]  # the calculated column


def test_written_workbook_dates_are_not_text(folder: Folder) -> None:
    setup_folder(folder)
    assert folder.run("--as-of", FIRST_RUN) == 0
    xml = sheet_xml(folder.workbook, "xl/worksheets/sheet3.xml")
    assert re.search(rb'<c r="C3" s="\d+"><v>46090</v>', xml)  # 9 March 2026, a styled serial
    assert date(2026, 3, 9).toordinal() - date(1899, 12, 30).toordinal() == 46090


def payments_book(path: Path, *, neighbour: bool) -> Path:
    """A Payments table (any sheet the tool appends to) with a totals row."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Payments")
    money = wb.add_format({"num_format": "0.00"})
    ws.add_table(
        "A1:C3",
        {
            "name": "tblPayments",
            "total_row": True,
            "data": [[datetime(2026, 3, 1), 100, "BANK-1"]],
            "columns": [
                {"header": "Date", "total_string": "Total"},
                {
                    "header": "Amount",
                    "format": money,
                    "total_function": "=SUBTOTAL(109,tblPayments[Amount])",
                },
                {"header": "Bank Ref"},
            ],
        },
    )
    if neighbour:  # another table right beside it: new columns cannot join
        ws.add_table(
            "D1:E3", {"name": "tblRates", "columns": [{"header": "Code"}, {"header": "Rate"}]}
        )
    wb.close()
    return path


def test_any_sheet_table_takes_appended_rows_and_new_columns(tmp_path: Path) -> None:
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    path = payments_book(tmp_path / "log.xlsx", neighbour=False)
    result = apply_updates(
        path,
        [
            CellUpdate("Payments", 3, "Date", date(2026, 3, 9)),
            CellUpdate("Payments", 3, "Amount", Decimal("250.5")),
            CellUpdate("Payments", 3, "Status", "Applied"),  # a column the table lacks
            CellUpdate("Payments", 4, "Date", date(2026, 3, 10)),
            CellUpdate("Payments", 4, "Amount", Decimal("10")),
        ],
        header_rows={"Payments": 1},
    )
    assert result.warnings == () and result.notes == ()
    table = tables(path)["tblPayments"]
    assert table.get("ref") == "A1:D5" and table.find(f"{MAIN}autoFilter").get("ref") == "A1:D4"
    assert [n for _, n in table_columns(table)] == ["Date", "Amount", "Bank Ref", "Status"]
    ws = openpyxl.load_workbook(path)["Payments"]
    assert ws["A5"].value == "Total" and ws["B5"].value == "=SUBTOTAL(109,tblPayments[Amount])"
    assert ws["B3"].number_format == ws["B4"].number_format == "0.00"  # the column's own
    assert ws["A3"].is_date and ws["D1"].value == "Status"


def test_a_table_next_door_keeps_new_columns_out_and_says_so(tmp_path: Path) -> None:
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    path = payments_book(tmp_path / "log.xlsx", neighbour=True)
    result = apply_updates(
        path, [CellUpdate("Payments", 2, "Status", "Applied")], header_rows={"Payments": 1}
    )
    assert len(result.notes) == 1 and "the table tblRates is next to it" in result.notes[0]
    found = tables(path)
    assert found["tblPayments"].get("ref") == "A1:C3" and found["tblRates"].get("ref") == "D1:E3"
    ws = openpyxl.load_workbook(path)["Payments"]
    assert ws["F1"].value == "Status" and ws["F2"].value == "Applied"


def test_a_lookup_table_sharing_the_header_row_is_not_the_data(tmp_path: Path) -> None:
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Payments")
    ws.write_row(0, 0, ["Date", "Amount"])  # plain data, not a table
    ws.add_table(
        "E1:F2",
        {
            "name": "tblRates",
            "data": [["EUR", 1.1]],
            "columns": [{"header": "Code"}, {"header": "Rate"}],
        },
    )
    wb.close()
    apply_updates(
        path,
        [
            CellUpdate("Payments", 2, "Amount", Decimal(5)),
            CellUpdate("Payments", 3, "Amount", Decimal(6)),
            CellUpdate("Payments", 3, "Status", "Applied"),
        ],
        header_rows={"Payments": 1},
    )
    rates = tables(path)["tblRates"]
    assert rates.get("ref") == "E1:F2" and len(table_columns(rates)) == 2
    ws = openpyxl.load_workbook(path)["Payments"]
    assert ws["G1"].value == "Status" and ws["B3"].value == 6


def test_formats_come_from_the_column_else_sensible_defaults(tmp_path: Path) -> None:
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Total", "Balance", "Invoice Date", "Sent At"])
    ws.set_column(1, 1, 12, wb.add_format({"num_format": "[$€-x-euro2] #,##0.00"}))  # <col style>
    ws.write(1, 0, "INV-1")
    ws.write_datetime(1, 3, datetime(2026, 3, 2), wb.add_format({"num_format": "d mmm yyyy"}))
    wb.close()
    apply_updates(
        path,
        [
            CellUpdate("Invoices", 3, "Invoice No", "INV-2"),
            CellUpdate("Invoices", 3, "Total", Decimal("10.5")),  # the column's style
            CellUpdate("Invoices", 3, "Balance", Decimal("10.5")),  # no format anywhere: default
            CellUpdate("Invoices", 2, "Invoice Date", date(2026, 3, 9)),  # keeps its own
            CellUpdate("Invoices", 3, "Invoice Date", date(2026, 3, 9)),  # like the cell above
            CellUpdate("Invoices", 3, "Sent At", datetime(2026, 3, 9, 10, 30)),
        ],
        header_rows={"Invoices": 1},
    )
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert ws["B3"].number_format == "[$€-x-euro2] #,##0.00"
    assert ws["C3"].number_format == "#,##0.00"
    assert ws["D2"].number_format == "d mmm yyyy"
    assert ws["D3"].number_format == "d mmm yyyy"
    assert ws["E3"].number_format == "yyyy-mm-dd hh:mm"  # a new date-and-time format


def test_an_amount_in_another_currency_does_not_take_the_columns_symbol(tmp_path: Path) -> None:
    """A US template's Total column says "$": a EUR or KZT total gets a plain amount format,
    a USD one the column's own."""
    from automation.model import CellUpdate, Money
    from automation.writeback import apply_updates

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Currency", "Total", "Balance"])
    dollars = wb.add_format({"num_format": '"$"#,##0.00'})
    ws.set_column(2, 2, 12, dollars)
    ws.set_column(3, 3, 12, wb.add_format({"num_format": "[$€-x-euro2] #,##0.00"}))
    ws.write_row(1, 0, ["INV-1", "USD"])
    ws.write_number(1, 2, 100, dollars)
    wb.close()
    updates = []
    for row, currency in ((3, "USD"), (4, "EUR"), (5, "KZT"), (6, "CAD")):
        updates += [
            CellUpdate("Invoices", row, "Invoice No", f"INV-{row}"),
            CellUpdate("Invoices", row, "Currency", currency),
            CellUpdate("Invoices", row, "Total", Money(Decimal("1000"), currency)),
            CellUpdate("Invoices", row, "Balance", Money(Decimal("1000"), currency)),
        ]
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert [ws.cell(r, 3).number_format for r in (3, 4, 5, 6)] == [
        '"$"#,##0.00', "#,##0.00", "#,##0.00", '"$"#,##0.00'  # "$" is CAD's too
    ]
    assert [ws.cell(r, 4).number_format for r in (3, 4, 5, 6)] == [
        "#,##0.00", "[$€-x-euro2] #,##0.00", "#,##0.00", "#,##0.00"
    ]
    assert [ws.cell(r, 3).value for r in (3, 4, 5)] == [1000, 1000, 1000]


def test_an_amount_shows_the_decimals_of_its_currency(tmp_path: Path) -> None:
    """1.235 dinars never show as 1.24 (a bookkeeper typing what the sheet shows would be
    short); dollars and yen keep the column's two decimals."""
    from automation.model import CellUpdate, Money
    from automation.writeback import apply_updates

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Total"])
    money = wb.add_format({"num_format": "#,##0.00"})
    ws.write_row(1, 0, ["INV-1"])
    ws.write_number(1, 1, 100, money)
    wb.close()
    updates = []
    for row, (currency, amount) in enumerate(
        (("USD", "12.50"), ("JPY", "2201"), ("BHD", "1.235"), ("KWD", "10.006")), start=3
    ):
        total = Money(Decimal(amount), currency)
        updates += [CellUpdate("Invoices", row, "Invoice No", f"INV-{row}"),
                    CellUpdate("Invoices", row, "Total", total)]  # fmt: skip
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert [ws.cell(r, 2).number_format for r in (3, 4, 5, 6)] == [
        "#,##0.00", "#,##0.00", "#,##0.000", "#,##0.000"]  # fmt: skip
    assert ws.cell(5, 2).value == 1.235
    # whole euros are the bookkeeper's choice for a column of their own: kept
    wb = openpyxl.load_workbook(path)
    wb["Invoices"]["C1"] = "Balance"
    wb["Invoices"]["C5"].number_format = "#,##0"
    wb.save(path)
    apply_updates(path, [CellUpdate("Invoices", 5, "Balance", Money(Decimal("12.50"), "EUR"))],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert openpyxl.load_workbook(path)["Invoices"]["C5"].number_format == "#,##0"


@pytest.mark.parametrize(
    ("code", "decimals"),
    [
        ("#,##0.00", 2), ("0.00", 2), ("0", 0), ("#,##0", 0), ("General", 0),
        ('#,##0.00 "€"', 2), ('#,##0.00\\ "€"', 2), ('#,##0.00 "EUR"', 2),
        ("#,##0.00 [$€-407]", 2), ("#,##0.00 [$EUR]", 2), ("[$€-x-euro2] #,##0.00", 2),
        ('"€"#,##0.00', 2), ('#,##0.000 "KWD"', 3), ("#,##0.000 [$KWD]", 3),
        ("#,##0.00_);(#,##0.00)", 2), ("#,##0.00_);[Red](#,##0.00)", 2), ("#,##0.00_-", 2),
        ("_-* #,##0.00 [$€-407]_-;-* #,##0.00 [$€-407]_-;_-* \"-\"?? [$€-407]_-;_-@_-", 2),
        ('_("$"* #,##0.00_);_("$"* (#,##0.00);_("$"* "-"??_);_(@_)', 2),
        ("#,##0.00;[Red]-#,##0.00", 2), ("#,##0;-#,##0.000", 0), ('"x;y" 0.0', 1),
        ("0.00%", 2), ("0.0#%", 2), ("0.00E+00", 2), ("##0.0E+0", 1), ("#,##0.00,", 2),
        ('"Total." #,##0.00', 2), ("[$USD.] 0.0", 1), ("# ?/?", 0),
    ],
)  # fmt: skip
def test_the_decimals_a_number_format_shows(code: str, decimals: int) -> None:
    """The digit places after a format's decimal point, whatever follows them: a space before
    the currency text, quoted text, a `[$€-407]` block, `_)`, `%`, `E+00`; a point inside quoted
    text or a bracket is none, and only the first section counts."""
    from automation.writeback.styles import _decimals_in, wrong_decimals

    assert _decimals_in(code) == decimals
    assert wrong_decimals(code, "money:EUR") is (decimals > 2)  # fewer: whole euros, kept
    assert wrong_decimals(code, "money:KWD") is (decimals != 3)


def test_a_columns_own_currency_format_is_kept_after_a_space(tmp_path: Path) -> None:
    """A euro column formatted `#,##0.00 "€"`, `#,##0.00 [$€-407]` or `#,##0.00 "EUR"` (a plain
    space before the currency, as a German Excel writes it) keeps its format for a EUR total;
    a dinar column `#,##0.000 "KWD"` keeps its own for a KWD total."""
    from automation.model import CellUpdate, Money
    from automation.writeback import apply_updates

    codes = ('#,##0.00 "€"', "#,##0.00 [$€-407]", '#,##0.00 "EUR"', '#,##0.000 "KWD"')
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "A", "B", "C", "D"])
    for col, code in enumerate(codes, start=1):
        ws.set_column(col, col, 14, wb.add_format({"num_format": code}))
    wb.close()
    updates = [CellUpdate("Invoices", 2, "Invoice No", "INV-1")]
    for name, code in zip("ABCD", codes, strict=True):
        currency = "KWD" if "KWD" in code else "EUR"
        updates.append(CellUpdate("Invoices", 2, name, Money(Decimal("1000.5"), currency)))
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert [ws.cell(2, c).number_format for c in (2, 3, 4, 5)] == list(codes)


GROWTH = RangeGrowth(top=3, first_col=1, last_col=6, data_last=10, new_data_last=13, end=11,
                     new_end=14)  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'<conditionalFormatting sqref="B4:C10 E10">',
         b'<conditionalFormatting sqref="B4:C13 E10:E13">'),
        (b'<conditionalFormatting sqref="A11:F11"><cfRule><formula>$B$4&lt;A11</formula></cfRule>'
         b"</conditionalFormatting>",
         b'<conditionalFormatting sqref="A14:F14"><cfRule><formula>$B$4&lt;A14</formula></cfRule>'
         b"</conditionalFormatting>"),
        (b'<x:conditionalFormatting sqref="A11:F11 A4"><x:cfRule><x:formula>A11</x:formula>'
         b"</x:cfRule></x:conditionalFormatting>",
         b'<x:conditionalFormatting sqref="A14:F14 A4"><x:cfRule><x:formula>A14</x:formula>'
         b"</x:cfRule></x:conditionalFormatting>"),  # the formula follows the first range
        (b'<conditionalFormatting sqref="A4:F10 A11:F11"><cfRule><formula>$A4&gt;0</formula>'
         b"</cfRule></conditionalFormatting>",
         b'<conditionalFormatting sqref="A4:F13 A14:F14"><cfRule><formula>$A4&gt;0</formula>'
         b"</cfRule></conditionalFormatting>"),  # data and totals: both follow
        (b'<conditionalFormatting sqref="A3:F11">', b'<conditionalFormatting sqref="A3:F14">'),
        (b"<x:dataValidation type='none' sqref='D4:D10'/>",
         b"<x:dataValidation type='none' sqref='D4:D13'/>"),
        (b'<dataValidations count="1"><dataValidation sqref="G2:G10 A2:A10 D:D B4:B12"/>',
         b'<dataValidations count="1"><dataValidation sqref="G2:G10 A2:A10 D:D B4:B12"/>'),
        (b'<x14:dataValidation type="list"><x14:formula1><xm:f>Lists!A1:A3</xm:f></x14:formula1>'
         b"<xm:sqref>F5:F10</xm:sqref></x14:dataValidation>",
         b'<x14:dataValidation type="list"><x14:formula1><xm:f>Lists!A1:A3</xm:f></x14:formula1>'
         b"<xm:sqref>F5:F13</xm:sqref></x14:dataValidation>"),
        (b"<x14:sparkline><xm:f>S!A10:D10</xm:f><xm:sqref>E10</xm:sqref></x14:sparkline>",
         b"<x14:sparkline><xm:f>S!A10:D10</xm:f><xm:sqref>E10</xm:sqref></x14:sparkline>"),
        (b'<hyperlink ref="A10"/><protectedRange sqref="A4:A10"/>',
         b'<hyperlink ref="A10"/><protectedRange sqref="A4:A10"/>'),
    ],
)  # fmt: skip
def test_ranges_follow_the_table_they_cover(before: bytes, after: bytes) -> None:
    """Ranges of the table's data end at its new last row, the totals row's move with it;
    ranges starting above the table, beyond its columns or rows, whole columns, sparklines
    and other elements' ranges are left as they are."""
    assert grow_ranges(before, GROWTH) == after


def test_an_amount_shows_its_own_currencys_decimals_below_another_currencys(
    tmp_path: Path,
) -> None:
    """A new row takes the look of the row above: after a dinar row (`#,##0.000`) a dollar
    total still shows 112.55, not 112.550, and after a CLF row (four decimals) no row shows
    four; the red negatives of the invoice typed above stay."""
    from automation.model import CellUpdate, Money
    from automation.writeback import apply_updates

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Invoice No", "Total", "Balance"])
    ws.write(1, 0, "INV-1")
    ws.write_number(1, 1, 100, wb.add_format({"num_format": "#,##0.00"}))
    ws.write_number(1, 2, 100, wb.add_format({"num_format": "#,##0.00_);[Red](#,##0.00)"}))
    wb.close()
    rows = (("KWD", "4.797"), ("USD", "112.55"), ("CLF", "1.2345"), ("JPY", "2201"),
            ("BHD", "1.235"), ("USD", "7.10"))  # fmt: skip
    updates = []
    for row, (currency, amount) in enumerate(rows, start=3):
        total = Money(Decimal(amount), currency)
        updates += [CellUpdate("Invoices", row, "Invoice No", f"INV-{row}"),
                    CellUpdate("Invoices", row, "Total", total),
                    CellUpdate("Invoices", row, "Balance", total)]  # fmt: skip
    apply_updates(path, updates, header_rows={"Invoices": 1})
    ws = openpyxl.load_workbook(path)["Invoices"]
    places = (".000", ".00", ".0000", ".00", ".000", ".00")
    assert [ws.cell(r, 2).number_format for r in range(3, 9)] == [
        f"#,##0{p}" for p in places
    ]
    assert [ws.cell(r, 3).number_format for r in range(3, 9)] == [
        f"#,##0{p}_);[Red](#,##0{p})" for p in places
    ]
