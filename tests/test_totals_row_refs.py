"""What points at an Excel Table's totals row follows it when new rows push it down.

The Invoices table (A1:T3) holds one typed invoice and its totals row (row 3).
A run appends two invoices: the table becomes A1:T5 and its totals row moves to
row 5. Excel makes room for new table rows by inserting cells, so every A1
reference to a moved cell moves with it: formulas on other sheets and on
Invoices itself, defined names, a range down to the totals row (stretched),
notes on its cells; the row left behind is an invoice row and looks like one.
Workbooks are built with XlsxWriter, run through the tool, read back with
openpyxl and recalculated by LibreOffice.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS, Folder
from test_tables import libreoffice_values

from automation.schema import INVOICES_COLUMNS

RUN = "2026-03-20"
HEADERS = [c.name for c in INVOICES_COLUMNS]
assert (HEADERS[6], HEADERS[9]) == ("Total", "Balance")  # G and J
INVOICES = "xl/worksheets/sheet3.xml"
SUMMARY = "xl/worksheets/sheet4.xml"
NOTES = "xl/worksheets/sheet5.xml"

#: Summary's formulas (column B), each with what it reads after the run.
SUMMARY_FORMULAS = [
    ("=Invoices!G3", "=Invoices!G5"),
    ("=Invoices!J3", "=Invoices!J5"),
    ("='Invoices'!$G$3", "='Invoices'!$G$5"),  # quoted, absolute
    ("=Invoices!G$3*2", "=Invoices!G$5*2"),
    ("=invoices!j3", "=invoices!j5"),  # Excel reads sheet names in any case
    ("=SUM(Invoices!G2:G3)", "=SUM(Invoices!G2:G5)"),  # down to the totals: stretched
    ("=SUM(Invoices!$G$3:$J$3)", "=SUM(Invoices!$G$5:$J$5)"),  # the totals alone: moved
    (
        '=IF(Invoices!G3>0,"Invoices!G3",Invoices!J3)',  # text in quotes is text
        '=IF(Invoices!G5>0,"Invoices!G3",Invoices!J5)',
    ),
    ("=tblInvoices[[#Totals],[Balance]]", None),  # structured: Excel's own way, unchanged
    ("=GrandBalance", None),  # the name changes instead
    ("=SUM(Invoices!G:G)", None),  # whole columns take in any row
    ("=Invoices!V3", None),  # beside the table: it did not move
    ("=G3", None),  # Summary's own G3
    ("=Services!E3", None),  # another sheet's G3 would be the same
    ('="G3"&"Invoices!J3"', None),
]


def build(path: Path, *, note: bool = False, tall_totals: bool = False) -> None:
    """Clients, Services (two services to bill), Invoices (a table with a typed paid
    invoice and a totals row, and formulas beside it), Summary, and Notes (formulas that
    point elsewhere)."""
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme Ltd", "acme@clients.example", "", "", "Net 30"])
    ws.write_row(2, 0, ["Beta LLC", "beta@clients.example", "", "", "Net 30"])

    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    for r, (client, price) in enumerate([("Acme Ltd", 100), ("Beta LLC", 200)], start=1):
        ws.write_datetime(r, 0, datetime(2026, 3, 2), day)
        ws.write_row(r, 1, [client, "Bookkeeping", 1, price])
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", money, price)
        # The bookkeeper's own column: each service's share of all invoiced.
        ws.write_formula(r, 11, f"=F{r + 1}/Invoices!$G$3", None, 0)
    ws.write(0, 11, "Share")

    ws = wb.add_worksheet("Invoices")
    columns: list[dict[str, Any]] = [{"header": h} for h in HEADERS]
    columns[0]["total_string"] = "Total"
    columns[6]["total_function"] = "=SUBTOTAL(109,tblInvoices[Total])"
    columns[9]["total_function"] = "=SUBTOTAL(109,tblInvoices[Balance])"
    typed = ["INV-2026-0001", "Acme Ltd", "USD", "Net 30", datetime(2026, 2, 2)]
    typed += [datetime(2026, 3, 4), 50, 50, datetime(2026, 2, 20), 0, "Paid"]
    ws.add_table(0, 0, 2, 19, {"name": "tblInvoices", "columns": columns, "total_row": True})
    ws.write_row(1, 0, typed)
    for c in (4, 5, 8):
        ws.write_datetime(1, c, typed[c], day)
    ws.write(0, 21, "Checks")  # column V, beside the table
    ws.write_formula("V2", "=G3", money, 50)
    ws.write_formula("V3", "=Invoices!$J$3", money, 0)
    ws.write_formula("V4", "=SUM(G2:G3)", money, 100)
    if tall_totals:
        ws.set_row(2, 30, wb.add_format({"bold": True}))
    if note:
        ws.write_comment("J3", "Balance total: check against the bank", {"author": "Ann"})

    ws = wb.add_worksheet("Summary")
    for r, (formula, _) in enumerate(SUMMARY_FORMULAS):
        ws.write(r, 0, formula)
        ws.write_formula(r, 1, formula, money, 0)
    ws.write(2, 6, 7)  # G3
    ws.write_array_formula("C1:C1", "{=SUM(Invoices!G3:G3*1)}", money, 0)
    ws.write_formula("D1", "=Invoices!G3", money, 0)  # filled right
    ws.write_formula("E1", "=Invoices!H3", money, 0)
    wb.define_name("GrandBalance", "=Invoices!$J$3")
    wb.define_name("Summary!LocalTotal", "=Invoices!$G$3")
    wb.define_name("PaidColumn", "=Invoices!$H:$H")

    ws = wb.add_worksheet("Notes")
    ws.write_formula("A1", "=Services!F2*2", money, 200)
    ws.write_formula("A2", "=SUM(Services!G3:J3)", money, 0)
    wb.close()


def setup_folder(folder: Folder, **kw: Any) -> dict[str, bytes]:
    build(folder.workbook, **kw)
    folder.write_config(extra='currency = "USD"')
    return members(folder.workbook)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def formula_text(ws: Any, ref: str) -> str:
    value = ws[ref].value
    return value.text if hasattr(value, "text") else value  # an array formula


@pytest.mark.parametrize("piece", [None, 7], ids=["whole", "a sheet read 7 bytes at a time"])
def test_formulas_pointing_at_the_totals_row_follow_it(
    folder: Folder, monkeypatch: pytest.MonkeyPatch, piece: int | None
) -> None:
    """(Read 7 bytes at a time, every sheet name before "!" straddles two pieces of a sheet
    the run does not write: it is still found, and the sheet followed.)"""
    if piece is not None:
        from automation import writeback

        monkeypatch.setattr(writeback, "READ_PIECE", piece)
    before = setup_folder(folder)
    assert folder.run("--as-of", RUN) == 0
    book = openpyxl.load_workbook(folder.workbook)
    inv = book["Invoices"]
    assert [inv.cell(r, 1).value for r in range(1, 6)] == [
        "Invoice No", "INV-2026-0001", "INV-2026-0002", "INV-2026-0003", "Total",
    ]  # fmt: skip
    assert inv["G5"].value == "=SUBTOTAL(109,tblInvoices[Total])"
    # On Invoices itself, beside the table, with and without the sheet's name.
    assert [inv[f"V{r}"].value for r in (2, 3, 4)] == ["=G5", "=Invoices!$J$5", "=SUM(G2:G5)"]
    # Services: written by the run (before the table grew) and followed after.
    services = book["Services"]
    assert [services[f"{c}2"].value for c in "GL"] == ["INV-2026-0002", "=F2/Invoices!$G$5"]
    summary = book["Summary"]
    for r, (formula, after) in enumerate(SUMMARY_FORMULAS, start=1):
        assert (formula, summary[f"B{r}"].value) == (formula, after or formula)
    assert formula_text(summary, "C1") == "=SUM(Invoices!G5:G5*1)"  # an array formula
    assert [summary["D1"].value, summary["E1"].value] == ["=Invoices!G5", "=Invoices!H5"]
    assert book.defined_names["GrandBalance"].attr_text == "Invoices!$J$5"
    assert book.defined_names["PaidColumn"].attr_text == "Invoices!$H:$H"
    assert summary.defined_names["LocalTotal"].attr_text == "Invoices!$G$5"
    after = members(folder.workbook)
    assert after[NOTES] == before[NOTES]  # nothing there points at Invoices: untouched
    assert after["xl/worksheets/sheet1.xml"] == before["xl/worksheets/sheet1.xml"]
    assert b'fullCalcOnLoad="1"' in after["xl/workbook.xml"]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_totals_where_they_are_now(folder: Folder, tmp_path: Path) -> None:
    """Before, "Grand total" read INV-2026-0002's Total (100), not the table's (350)."""
    setup_folder(folder)
    assert folder.run("--as-of", RUN) == 0
    values = libreoffice_values(folder.workbook, tmp_path / "lo-out")
    invoices = values["Invoices"]
    assert invoices[4][:1] + [invoices[4][6], invoices[4][9]] == ["Total", "350", "300"]
    summary = [row[1] for row in values["Summary"]]
    # G5, J5, $G$5, G$5*2, j5, SUM(G2:G5) (the typed 50 and the total counted twice),
    # SUM($G$5:$J$5) (Total, Paid Amount, Paid Date, Balance of the totals row), and the IF
    # takes its text (G5 > 0)
    assert summary[:8] == ["350", "300", "350", "700", "300", "700", "650", "Invoices!G3"]
    assert summary[8:10] == ["300", "300"]  # the structured reference and the name agree
    assert [row[21] for row in invoices[1:4]] == ["350", "300", "700"]  # V2:V4
    assert [row[11][:6] for row in values["Services"][1:3]] == ["0.2857", "0.5714"]  # of 350


def rewrite_cells(path: Path, part: str, cells: dict[str, str]) -> None:
    """Give cells of a sheet other <f> elements (XlsxWriter writes no shared formulas)."""
    data = members(path)
    xml = data[part].decode()
    for ref, formula in cells.items():
        xml, n = re.subn(rf'(<c r="{ref}"[^>]*>)<f>[^<]*</f>', rf"\g<1>{formula}", xml)
        assert n == 1, ref
    data[part] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, content in data.items():
            out.writestr(name, content)


def test_shared_formulas_follow_the_totals_row(folder: Folder) -> None:
    """A formula filled right (its cells change alike: the master's text follows) and one
    filled down (only its middle cell pointed at the totals row: each cell gets its own)."""
    setup_folder(folder)
    rewrite_cells(
        folder.workbook,
        SUMMARY,
        {
            "D1": '<f t="shared" ref="D1:E1" si="0">Invoices!G3</f>',
            "E1": '<f t="shared" si="0"/>',
            "B11": '<f t="shared" ref="B11:B13" si="1">Invoices!J2*1</f>',
            "B12": '<f t="shared" si="1"/>',
            "B13": '<f t="shared" si="1"/>',
        },
    )
    assert folder.run("--as-of", RUN) == 0
    summary = openpyxl.load_workbook(folder.workbook)["Summary"]
    assert [summary[r].value for r in ("D1", "E1")] == ["=Invoices!G5", "=Invoices!H5"]
    assert [summary[f"B{r}"].value for r in (11, 12, 13)] == [
        "=Invoices!J2*1", "=Invoices!J5*1", "=Invoices!J4*1",
    ]  # fmt: skip
    xml = members(folder.workbook)[SUMMARY]
    assert b'<f t="shared" ref="D1:E1" si="0">Invoices!G5</f>' in xml
    assert b'si="1"' not in xml


def anchor_rows(vml: bytes) -> tuple[int, int]:
    """The top and bottom rows of a note box's anchor."""
    anchor = re.search(rb"<x:Anchor>([^<]*)</x:Anchor>", vml)
    assert anchor is not None
    numbers = [int(n) for n in anchor[1].split(b",")]
    return numbers[2], numbers[6]


def test_a_note_on_the_totals_row_moves_with_it(folder: Folder) -> None:
    before = setup_folder(folder, note=True)
    assert folder.run("--as-of", RUN) == 0
    inv = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert inv["J3"].comment is None
    assert inv["J5"].comment is not None and inv["J5"].comment.text.startswith("Balance total")
    after = members(folder.workbook)
    (comments,) = [name for name in after if name.startswith("xl/comments")]
    assert re.findall(rb'<comment ref="(\w+)"', after[comments]) == [b"J5"]
    (vml,) = [name for name in after if name.endswith(".vml")]
    assert re.findall(rb"<x:Row>(\d+)</x:Row><x:Column>(\d+)</x:Column>", after[vml]) == [
        (b"4", b"9")
    ]  # counted from 0: J5
    top, bottom = anchor_rows(before[vml])
    assert anchor_rows(after[vml]) == (top + 2, bottom + 2)  # the box two rows lower too


def test_the_old_totals_row_looks_like_an_invoice_row(folder: Folder) -> None:
    """A taller, bold totals row: its height and style go with it to row 5; row 3, an
    invoice now, looks like the invoice row above it."""
    setup_folder(folder, tall_totals=True)
    assert folder.run("--as-of", RUN) == 0
    xml = members(folder.workbook)[INVOICES]
    rows = {
        m[1]: dict(re.findall(rb'(\w+)="([^"]*)"', m[0]))
        for m in re.finditer(rb'<row r="(\d+)"[^>]*>', xml)
    }
    assert rows[b"5"][b"ht"] == b"30" and rows[b"5"][b"customHeight"] == b"1"
    assert rows[b"5"].get(b"s") is not None and rows[b"5"][b"customFormat"] == b"1"
    for attr in (b"ht", b"customHeight", b"s", b"customFormat"):
        assert rows[b"3"].get(attr) == rows[b"2"].get(attr), attr
    inv = openpyxl.load_workbook(folder.workbook)["Invoices"]
    assert inv.row_dimensions[5].height == 30 and inv.row_dimensions[3].height is None


# (sheet moved, formula, sheet it is on, its cell) -> the formula after the move (None: as it
# was). The totals row of a table in columns A:T moved from row 3 to row 5.
FORMULAS = [
    ("Invoices", "Invoices!G3", "Summary", None, "Invoices!G5"),
    ("Invoices", "Invoices!G3:Invoices!G3", "Summary", None, "Invoices!G5:Invoices!G5"),
    ("Invoices", "SUM(Invoices!F3:G3)", "Summary", None, "SUM(Invoices!F5:G5)"),
    ("Invoices", "Invoices!G3 +   1", "Summary", None, "Invoices!G5 +   1"),  # spaces kept
    ("Invoices", "Invoices!G2:G4", "Summary", None, None),  # past the totals row
    ("Invoices", "Invoices!G3:G4", "Summary", None, None),
    ("Invoices", "Invoices!T3:U3", "Summary", None, None),  # partly beside the table
    ("Invoices", "SUM(Invoices!3:3)", "Summary", None, None),  # a whole row
    ("Invoices", "Jan:Mar!G3+[1]Invoices!G3", "Summary", None, None),  # 3-D, another book
    ("Invoices", "G3*2", "Invoices", None, "G5*2"),
    ("Invoices", "Summary!G3", "Invoices", None, None),
    ("Invoices", "G3", None, None, None),  # a defined name's reference names its sheet
    # In the moved row or the new rows, relative references were written for the cell.
    ("Invoices", "$G$3-G3+G$3", "Invoices", (5, 10), "$G$5-G3+G$5"),
    ("Invoices", "G3-G2", "Invoices", (3, 22), "G5-G2"),  # beside the table: follows
    ("My Sheet", "'My Sheet'!$J$3+'my sheet'!J3", "Summary", None, "'My Sheet'!$J$5+'my sheet'!J5"),
    ("Bob's", "'Bob''s'!J3&\"Bob's!J3\"", "Summary", None, "'Bob''s'!J5&\"Bob's!J3\""),
    # Read by a pattern (no quotes, brackets or arrays): functions and names are no cells.
    ("Invoices", "LOG10(G3)+ABS(Invoices!G3)", "Invoices", None, "LOG10(G5)+ABS(Invoices!G5)"),
    ("Invoices", "F2/Invoices!$G$3", "Summary", None, "F2/Invoices!$G$5"),
    ("Invoices", "Jan:Invoices!G3", "Summary", None, None),  # 3-D
    ("Invoices", "Rate.G3*Invoices!G3", "Summary", None, "Rate.G3*Invoices!G5"),
]


@pytest.mark.parametrize(("sheet", "formula", "here", "cell", "after"), FORMULAS)
def test_references_follow_the_cells_that_moved(
    sheet: str, formula: str, here: str | None, cell: tuple[int, int] | None, after: str | None
) -> None:
    from automation.writeback.refs import RowMove, follow_formula

    move = RowMove(sheet, origin=3, to=5, first_col=1, last_col=20)
    assert follow_formula(formula, here, [move], cell) == after


def test_doctests() -> None:
    import doctest

    from automation.writeback import refs

    assert doctest.testmod(refs).failed == 0


def test_defined_names_follow_when_the_same_write_back_adds_a_sheet(tmp_path: Path) -> None:
    """The first bank file makes the Payments sheet in the run that appends invoices: the
    new sheet is registered in workbook.xml without undoing the names that followed."""
    import re
    import zipfile
    from datetime import date

    import xlsxwriter

    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    heads = ["Invoice No", "Client", "Currency", "Terms", "Invoice Date", "Due Date", "Total"]
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    cols: list[dict[str, str]] = [{"header": h} for h in heads]
    cols[0]["total_string"], cols[6]["total_function"] = "Total", "sum"
    ws.add_table(0, 0, 2, len(heads) - 1, {"name": "tbl", "columns": cols, "total_row": True})
    ws.write_row(1, 0, ["INV-1", "A", "USD", "Net 30"])
    ws.write_number(1, 6, 50)
    wb.add_worksheet("Summary").write_formula("A1", "=Invoices!$G$3", None, 50)
    wb.define_name("GrandTotal", "=Invoices!$G$3")
    wb.close()
    updates = [
        CellUpdate("Invoices", 3 + i, h, v)
        for i in range(2)
        for h, v in zip(heads[:2], [f"INV-{i + 2}", "B"], strict=True)
    ]
    updates.append(CellUpdate("Payments", 2, "Date", date(2026, 3, 1)))
    apply_updates(
        path, updates, header_rows={"Invoices": 1, "Payments": 1},
        new_sheet_headers={"Payments": ["Date", "Amount"]},
    )  # fmt: skip
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml")
    assert re.findall(rb'<definedName name="GrandTotal">([^<]*)<', book) == [b"Invoices!$G$5"]
    assert b'name="Payments"' in book
