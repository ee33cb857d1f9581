"""First-week traps: a column in XFD, a lying <dimension>, a macro sheet, a
stale Excel owner file, and a fresh `init` folder's placeholders."""

from __future__ import annotations

import os
import re
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, Folder, client, service, write_workbook

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

AS_OF = "2026-03-09"


def rewrite(
    path: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> None:
    """Replace (or drop, with None) members of a workbook, keeping the rest."""
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in members:
            if info.filename in change:
                if change[info.filename] is None:
                    continue
                data = change[info.filename]  # type: ignore[assignment]
            out.writestr(info.filename, data)
        for name, data in (add or {}).items():
            out.writestr(name, data)


def services_without_tool_columns(path: Path, *, in_xfd: bool) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme Ltd", "acme@clients.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price"])
    ws.write_datetime(
        1, 0, pd.Timestamp(2026, 3, 2).to_pydatetime(), wb.add_format({"num_format": "yyyy-mm-dd"})
    )
    ws.write_row(1, 1, ["Acme Ltd", "Bookkeeping", 1, 100])
    if in_xfd:
        ws.write(5, 16383, "stray")  # XFD6: the sheet's last column
    wb.close()
    return path


def test_no_free_column_is_one_clear_message_and_the_rest_is_written(
    folder: Folder, capsys
) -> None:
    services_without_tool_columns(folder.workbook, in_xfd=True)
    assert folder.run("--as-of", AS_OF) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("there is no free column") == 1
    assert (
        "Services: there is no free column for Invoice No, Due Date, Status, Error "
        "(the sheet uses its last column, XFD)"
    ) in out
    assert "Delete what is in column XFD" in out
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices["Invoice No"].tolist() == ["INV-2026-0001"]  # the rest was written
    assert len(folder.received) == 1
    assert folder.run("--as-of", AS_OF) == 1  # still said, still nothing sent twice
    assert len(folder.received) == 1


def test_a_row_billed_without_room_for_its_number_is_not_said_written_back(
    folder: Folder, capsys
) -> None:
    """Run 1 bills the line but has no column for its Invoice No; the runs after it say the
    reason once and that the row is not billed again, never that its number "is written
    back" while the same output says those cells were not written. With the column freed,
    the number is written back."""
    services_without_tool_columns(folder.workbook, in_xfd=True)
    assert folder.run("--as-of", AS_OF) == 1
    capsys.readouterr()
    for day in ("2026-03-10", "2026-03-16"):
        assert folder.run("--as-of", day) == 1
        out = " ".join(capsys.readouterr().out.split())
        assert out.count("there is no free column") == 1
        assert "is written back and" not in out
        assert (
            "1 Services row was billed but has no Invoice No in the workbook: it is not billed "
            "again, and its Invoice No is written back once the sheet has a free column."
        ) in out
        assert len(folder.received) == 1
    wb = openpyxl.load_workbook(folder.workbook)
    wb["Services"]["XFD6"] = None  # the bookkeeper clears the stray cell
    wb.save(folder.workbook)
    assert folder.run("--as-of", "2026-03-17") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 Services row was billed but had no Invoice No in the workbook" in out
    assert "it is written back and the row is not billed again." in out
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Invoice No"].tolist() == ["INV-2026-0001"]
    assert len(folder.received) == 1


def test_dimension_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client"])
    ws.write(3, 6, "note typed in G4")
    wb.close()
    part = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(part)
    rewrite(path, {part: re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:B1"/>', xml)})
    apply_updates(
        path, [CellUpdate("Services", 2, "Status", "Invoiced")], header_rows={"Services": 1}
    )
    ws = openpyxl.load_workbook(path)["Services"]
    assert ws["G4"].value == "note typed in G4" and ws["H1"].value == "Status"
    assert ws["H2"].value == "Invoiced"


MACRO_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<xm:macrosheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData><row r="1">'
    b'<c r="A1" t="str"><f>HALT()</f><v>TRUE</v></c></row></sheetData></xm:macrosheet>'
)


def add_macro_sheet(path: Path) -> None:
    """An Excel 4.0 macro sheet, as Excel saves one in an .xlsm."""
    with zipfile.ZipFile(path) as zf:
        book, rels, types = (
            zf.read(n)
            for n in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml")
        )
    book = book.replace(b"</sheets>", b'<sheet name="Macro1" sheetId="99" r:id="rId99"/></sheets>')
    rels = rels.replace(
        b"</Relationships>",
        (
            b'<Relationship Id="rId99" Type="http://schemas.microsoft.com/office/2006/relationships/'
            b'xlMacrosheet" Target="macrosheets/sheet1.xml"/></Relationships>'
        ),
    )
    types = types.replace(
        b"</Types>",
        (
            b'<Override PartName="/xl/macrosheets/sheet1.xml" '
            b'ContentType="application/vnd.ms-excel.macrosheet+xml"/></Types>'
        ),
    )
    rewrite(
        path,
        {"xl/workbook.xml": book, "xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types},
        {"xl/macrosheets/sheet1.xml": MACRO_SHEET},
    )


def test_a_macro_sheet_does_not_stop_the_run(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping")],
    )
    add_macro_sheet(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 1
    with zipfile.ZipFile(folder.workbook) as zf:
        assert zf.read("xl/macrosheets/sheet1.xml") == MACRO_SHEET  # kept as it was


@pytest.mark.broken_workbooks
def test_a_damaged_sheet_is_named(tmp_path: Path, capsys) -> None:
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    add_macro_sheet(book)
    with zipfile.ZipFile(book) as zf:
        services = zf.read("xl/worksheets/sheet2.xml")
    rewrite(book, {"xl/worksheets/sheet2.xml": services.replace(b"</sheetData>", b"")})
    assert main(["check", "--workbook", str(book)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "the sheet Services (xl/worksheets/sheet2.xml) is damaged" in out


def test_a_stale_owner_file_says_it_may_be_left_over(folder: Folder, capsys) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping")],
    )
    owner = folder.root / f"~${folder.workbook.name}"
    owner.write_text("bookkeeper")
    saved = folder.workbook.stat().st_mtime
    os.utime(owner, (saved - 3600, saved - 3600))  # Excel crashed an hour before the last save
    assert folder.run("--as-of", AS_OF) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "~$service_log.xlsx is older than the workbook's last save, so it may be stale" in out
    assert "deleting ~$service_log.xlsx is safe" in out and "when Excel is closed" in out
    os.utime(owner, (saved + 60, saved + 60))  # opened after the last save: really open
    assert folder.run("--as-of", AS_OF) == 3
    assert "may be stale" not in capsys.readouterr().out
    assert folder.received == []


def test_init_placeholders_are_pointed_out(tmp_path: Path, capsys) -> None:
    starter = tmp_path / "billing"
    assert main(["init", str(starter)]) == 0
    capsys.readouterr()
    workbook = starter / "service_log.xlsx"
    main(["check", "--workbook", str(workbook)])
    out = " ".join(capsys.readouterr().out.split())
    assert 'the example company name "Your Company"' in out
    assert (
        'Clients row 2, Client: "Example Client (delete me)" is the example client `init` made; '
        "delete this row and its rows in Services (it is not billed)." in out
    )
    config = (starter / "billing.toml").read_text()
    (starter / "billing.toml").write_text(config.replace('"Your Company"', '"Ledgerwise"'))
    main(["check", "--workbook", str(workbook)])
    out = capsys.readouterr().out
    assert "example company" not in out and "the example client `init` made" in out
    # Run as it is, the example client is not billed, and nothing is emailed to it.
    assert main(["--workbook", str(workbook), "--as-of", "2027-01-04"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "is the example client `init` made" in out
    assert not (starter / "invoices").exists()
