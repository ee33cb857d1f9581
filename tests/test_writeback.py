"""Write-back keeps the workbook whole: only the touched sheets change."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from automation.model import CellUpdate
from automation.writeback import (
    WorkbookChangedError,
    WriteBackError,
    WriteResult,
    apply_updates,
    stamp_file,
)

SERVICES_PART = "xl/worksheets/sheet1.xml"
HEADERS = ["Date", "Client", "Quantity", "Unit Price", "Amount", "Invoice No", "Due Date", "Status"]
HEADER_ROWS = {"Services": 3, "Clients": 1, "Invoices": 1}


def tiny_png() -> bytes:
    """A valid 1x1 red PNG, made here so the test needs no files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def build_workbook(path: Path, tmp: Path, *, vba: bool = False, date_1904: bool = False) -> None:
    """A bookkeeper's workbook with everything openpyxl would damage."""
    wb = xlsxwriter.Workbook(str(path), {"date_1904": date_1904})
    if vba:
        (tmp / "vbaProject.bin").write_bytes(b"\xd0\xcf\x11\xe0 not really a VBA project " * 20)
        wb.add_vba_project(str(tmp / "vbaProject.bin"))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Services")
    ws.merge_range("A1:D1", "Service log 2026", wb.add_format({"bold": True}))
    ws.write_row(2, 0, HEADERS, wb.add_format({"bold": True}))
    for i in range(5):
        r = 3 + i  # zero-based; Excel rows 4..8
        ws.write_datetime(r, 0, datetime(2026, 1, 1 + i), day)
        ws.write_string(r, 1, "Acme & Sons <Ltd>" if i % 2 else "Globex")
        ws.write_number(r, 2, i + 1)
        ws.write_number(r, 3, 12.5)
        ws.write_formula(r, 4, f"=C{r + 1}*D{r + 1}", money, (i + 1) * 12.5)
    ws.write_string(3, 5, "INV-2025-0001")
    ws.write_comment("B4", "Ask about the discount")
    ws.data_validation("H4:H100", {"validate": "list", "source": ["Invoiced", "Error", "Skipped"]})
    ws.conditional_format(
        "E4:E100", {"type": "cell", "criteria": ">", "value": 40, "format": money}
    )
    ws.freeze_panes(3, 0)
    ws.autofilter("A3:H8")
    png = tmp / "logo.png"
    png.write_bytes(tiny_png())
    ws.insert_image("J2", str(png))
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Services!$E$4:$E$8", "categories": "=Services!$B$4:$B$8"})
    ws.insert_chart("J10", chart)
    wb.define_name("Amounts", "=Services!$E$4:$E$8")
    clients = wb.add_worksheet("Clients")
    clients.write_row(0, 0, ["Client", "Email", "Total"])
    clients.write_row(1, 0, ["Globex", "ap@globex.test"])
    clients.write_formula(1, 2, "=SUM(Services!E4:E8)", None, 187.5)
    wb.close()


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def formulas(path: Path) -> dict[tuple[str, str], tuple[object, object]]:
    """(sheet, cell) -> (formula text, cached value) for every formula cell."""
    text = openpyxl.load_workbook(path)
    cached = openpyxl.load_workbook(path, data_only=True)
    return {
        (ws.title, c.coordinate): (c.value, cached[ws.title][c.coordinate].value)
        for ws in text
        for row in ws.iter_rows()
        for c in row
        if c.data_type == "f"
    }


def write(path: Path, updates: Sequence[CellUpdate], **kwargs: Any) -> WriteResult:
    return apply_updates(path, updates, header_rows=HEADER_ROWS, **kwargs)


@pytest.fixture()
def book(tmp_path: Path) -> Path:
    path = tmp_path / "service_log.xlsx"
    build_workbook(path, tmp_path)
    return path


SERVICE_UPDATES = [
    CellUpdate("Services", 4, "Invoice No", "INV-2026-0001"),  # overwrite a string
    CellUpdate("Services", 5, " invoice no ", "INV-2026-0002"),  # header match ignores case
    CellUpdate("Services", 5, "Due Date", date(2026, 2, 4)),
    CellUpdate("Services", 5, "Status", "=cmd|' /C calc'!A0"),  # text, never a formula
    CellUpdate("Services", 6, "Client", None),  # clears the cell
    CellUpdate("Services", 6, "Quantity", Decimal("2.50")),
    CellUpdate("Services", 7, "Error", "Bad\x00 value\x07 here"),  # new column, control chars
    CellUpdate("Services", 7, "Paid", 7),  # a second new column, after the first
    CellUpdate("Services", 8, "Invoice No", "Счёт 🧾 _x0041_"),  # not read as an escape
    CellUpdate("Services", 12, "Status", "Invoiced"),  # a row past the last one
    CellUpdate("Services", 10, "Invoice No", "INV-2026-0003"),  # out of order on purpose
]


def test_only_the_touched_sheet_changes(book: Path) -> None:
    before = members(book)
    result = write(book, SERVICE_UPDATES, backup_dir=book.parent / "bk")
    after = members(book)
    assert result.changed and result.cells == len(SERVICE_UPDATES)
    assert list(after) == list(before)  # same members, same order
    # workbook.xml: the autofilter's hidden name grows with the new columns (I, J);
    # sharedStrings.xml: its count of references drops for the strings overwritten.
    touched = [SERVICES_PART, "xl/workbook.xml", "xl/sharedStrings.xml"]
    assert [n for n in before if before[n] != after[n]] == touched
    assert b">Services!$A$3:$J$8</definedName>" in after["xl/workbook.xml"]
    assert b'fullCalcOnLoad="1"' in after["xl/workbook.xml"]
    with zipfile.ZipFile(book) as new, zipfile.ZipFile(result.backup or "") as old:
        for info in old.infolist():  # untouched members: the same compressed bytes
            if info.filename not in touched:
                assert new.getinfo(info.filename).compress_size == info.compress_size
                assert new.getinfo(info.filename).CRC == info.CRC


def test_formulas_keep_text_and_cached_values(book: Path) -> None:
    before = formulas(book)
    write(book, SERVICE_UPDATES)
    assert formulas(book) == before
    assert before[("Services", "E5")] == ("=C5*D5", 25)
    amounts = pd.read_excel(book, sheet_name="Services", header=2, engine="calamine")["Amount"]
    assert list(amounts[:5]) == [12.5, 25, 37.5, 50, 62.5]


def test_written_cells_read_back_with_their_types(book: Path) -> None:
    write(book, SERVICE_UPDATES)
    df = pd.read_excel(book, sheet_name="Services", header=2, engine="calamine")
    by_row = {excel_row: df.iloc[excel_row - 4] for excel_row in (4, 5, 6, 7, 10, 12)}
    assert by_row[4]["Invoice No"] == "INV-2026-0001"
    assert by_row[5]["Invoice No"] == "INV-2026-0002"
    assert by_row[5]["Due Date"] == pd.Timestamp(2026, 2, 4)
    assert by_row[5]["Status"] == "=cmd|' /C calc'!A0"
    assert pd.isna(by_row[6]["Client"]) and by_row[6]["Quantity"] == 2.5
    assert by_row[7]["Error"] == "Bad value here" and by_row[7]["Paid"] == 7
    assert df.iloc[8 - 4]["Invoice No"] == "Счёт 🧾 _x0041_"
    assert by_row[10]["Invoice No"] == "INV-2026-0003" and by_row[12]["Status"] == "Invoiced"
    assert list(df.columns) == [*HEADERS, "Error", "Paid"]
    ws = openpyxl.load_workbook(book)["Services"]
    assert ws["G5"].value == datetime(2026, 2, 4) and ws["G5"].is_date
    assert ws["H5"].data_type == "s" and ws["H5"].value.startswith("=cmd")
    assert ws["C6"].value == 2.5 and ws["B6"].value is None
    assert ws["I3"].value == "Error" and ws["J3"].value == "Paid"
    assert ws["A1"].value == "Service log 2026" and ws.freeze_panes == "A4"
    # The filter takes in the columns added right of it (SPEC: it grows with them).
    assert ws.auto_filter.ref == "A3:J8" and ws["B4"].comment is not None
    assert len(ws.data_validations.dataValidation) == 1
    assert ws.max_row == 12


def test_new_invoices_sheet_with_dates_datetimes_and_money(book: Path) -> None:
    before = members(book)
    updates = [
        CellUpdate("Invoices", 2, "Invoice No", "INV-2026-0001"),
        CellUpdate("Invoices", 2, "Total", Decimal("1234.50")),
        CellUpdate("Invoices", 2, "Invoice Date", date(2026, 1, 5)),
        CellUpdate("Invoices", 2, "Sent At", datetime(2026, 1, 5, 9, 30)),
        CellUpdate("Invoices", 3, "Invoice No", "INV-2026-0002"),
        CellUpdate("Invoices", 3, "Note", 'Mail server said: 550 <nope> & "no"'),
    ]
    headers = {"Invoices": ["Invoice No", "Client", "Invoice Date", "Total", "Sent At"]}
    result = write(book, updates, new_sheet_headers=headers)
    after = members(book)
    assert result.cells == len(updates)
    assert list(after)[: len(before)] == list(before)
    allowed = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}
    allowed.add("xl/styles.xml")  # a date-time style had to be added
    assert {n for n in before if before[n] != after[n]} == allowed
    df = pd.read_excel(book, sheet_name="Invoices", engine="calamine")
    assert list(df.columns) == [*headers["Invoices"], "Note"]
    assert df.loc[0, "Total"] == 1234.5 and df.loc[0, "Invoice Date"] == pd.Timestamp(2026, 1, 5)
    assert df.loc[0, "Sent At"] == pd.Timestamp(2026, 1, 5, 9, 30)
    assert df.loc[1, "Note"] == 'Mail server said: 550 <nope> & "no"'
    ws = openpyxl.load_workbook(book)["Invoices"]
    assert ws["E2"].value == datetime(2026, 1, 5, 9, 30) and ws["E2"].is_date
    assert ws["C2"].is_date and ws["D2"].value == 1234.5
    # Writing it again is a no-op: the styles and sheet are found as written.
    assert not write(book, updates, new_sheet_headers=headers).changed


def test_noop_leaves_bytes_and_mtime(book: Path) -> None:
    updates = [
        CellUpdate("Services", 4, "Invoice No", "INV-2025-0001"),  # shared string, same text
        CellUpdate("Services", 4, "Date", date(2026, 1, 1)),  # same serial
        CellUpdate("Services", 4, "Unit Price", Decimal("12.50")),  # same number
        CellUpdate("Services", 5, "Invoice No", None),  # already empty
        CellUpdate("Services", 5, "Amount", 25),  # equal to the formula's cached value
        CellUpdate("Services", 40, "Status", None),  # no such row: nothing to clear
    ]
    os.utime(book, ns=(1_000_000_000, 1_000_000_000))
    data, stamp = book.read_bytes(), stamp_file(book)
    result = write(book, updates, backup_dir=book.parent / "bk", expected=stamp)
    assert result == WriteResult(changed=False, cells=0, backup=None)
    assert book.read_bytes() == data and stamp_file(book) == stamp
    assert not (book.parent / "bk").exists()


def test_backup_atomic_replace_and_no_temp_left(book: Path) -> None:
    backups = book.parent / ".billing" / "backups"
    original = book.read_bytes()
    inode = book.stat().st_ino
    for n in range(4):
        result = write(
            book,
            [CellUpdate("Services", 4, "Status", f"run {n}")],
            expected=stamp_file(book),
            backup_dir=backups,
            keep_backups=2,
        )
        assert result.backup is not None and result.backup.parent == backups
        if n == 0:  # a new file took the old one's place (the old inode may be reused later)
            assert result.backup.read_bytes() == original
            assert book.stat().st_ino != inode
    kept = sorted(p.name for p in backups.iterdir())
    assert len(kept) == 2 and all(k.startswith("service_log-") for k in kept)
    assert sorted(p.name for p in book.parent.iterdir() if p.is_file()) == [
        "logo.png",
        "service_log.xlsx",
    ]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_the_workbook_keeps_its_owner_and_group(book: Path) -> None:
    """A workbook shared through its group and updated by another member (here root) became
    that member's file: its owner could only open it read-only."""
    os.chown(book, 4242, 4343)
    book.chmod(0o664)
    write(book, [CellUpdate("Services", 4, "Status", "Invoiced")], expected=stamp_file(book))
    info = book.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (4242, 4343, 0o664)


def test_a_workbook_with_a_long_name_is_written_and_backed_up(book: Path) -> None:
    """A legal name of 225 bytes (110 Cyrillic letters): the backup's temporary
    `.<name>-<stamp>.xlsx.partial` was longer than a file name may be, so the workbook was
    never written ("File name too long"), run after run. The tool's own names now take as
    much of the workbook's name as fits, and a digest of the whole keeps them apart."""
    backups = book.parent / ".billing" / "backups"
    books = [book.rename(book.with_name("Ж" * 110 + ".xlsx"))]
    books.append(book.with_name("Ж" * 109 + "Я.xlsx"))
    shutil.copyfile(books[0], books[1])
    for n in range(3):
        for path in books:
            update = [CellUpdate("Services", 4, "Status", f"run {n}")]
            stamp = stamp_file(path)
            result = write(path, update, expected=stamp, backup_dir=backups, keep_backups=2)
            assert result.changed and result.backup is not None
    for path in books:
        services = pd.read_excel(path, "Services", header=2, engine="calamine")
        assert services["Status"][0] == "run 2"
    kept = sorted(p.name for p in backups.iterdir())
    assert len(kept) == 4 and len({name[:-27] for name in kept}) == 2  # two of each workbook
    assert all(name.startswith("Ж" * 100) and len(name.encode()) <= 255 - 9 for name in kept)
    assert [p.name for p in book.parent.iterdir() if p.name.endswith((".tmp", ".partial"))] == []


def test_changed_workbook_is_refused_and_left_alone(book: Path) -> None:
    stamp = stamp_file(book)
    os.utime(book, ns=(stamp.mtime_ns + 5_000_000_000, stamp.mtime_ns + 5_000_000_000))
    data = book.read_bytes()
    with pytest.raises(WorkbookChangedError):
        write(book, SERVICE_UPDATES, expected=stamp, backup_dir=book.parent / "bk")
    assert book.read_bytes() == data
    assert not (book.parent / "bk").exists()
    assert [p.name for p in book.parent.iterdir() if p.suffix == ".tmp"] == []


def test_change_during_write_is_caught(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import automation.writeback as wb

    real = wb.write_package

    def meddle(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        book.write_bytes(book.read_bytes() + b"\0")  # someone saves meanwhile

    monkeypatch.setattr(wb, "write_package", meddle)
    with pytest.raises(WorkbookChangedError):
        write(book, SERVICE_UPDATES)
    assert [p.name for p in book.parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_save_made_while_the_backup_is_copied_is_kept(
    book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup on a slow disk or share takes a while; the bookkeeper saves meanwhile:
    that save stays (the run refuses), and the backup that may hold half of it is gone."""
    import automation.writeback.commit as commit

    real = commit._backup
    saved = b""

    def slow_backup(path: Path, folder: Path, keep: int) -> Path:
        nonlocal saved
        made = real(path, folder, keep)
        saved = path.read_bytes() + b"\0"
        path.write_bytes(saved)  # Excel saves while the copy is being made
        os.utime(path, ns=(made.stat().st_mtime_ns + 7_000_000_000,) * 2)
        return made

    monkeypatch.setattr(commit, "_backup", slow_backup)
    backups = book.parent / "bk"
    with pytest.raises(WorkbookChangedError, match="saved while it was being updated"):
        write(book, SERVICE_UPDATES, backup_dir=backups)
    assert book.read_bytes() == saved
    assert list(backups.iterdir()) == []
    assert [p.name for p in book.parent.iterdir() if p.suffix == ".tmp"] == []


def test_what_a_killed_write_left_behind_is_cleared_once_old(book: Path) -> None:
    """A run killed before its swap leaves `.service_log.<x>.tmp` (a full copy of the
    workbook) and maybe a backup half copied: the next write takes them away."""
    import time

    old_tmp = book.parent / ".service_log.abc123.tmp"
    fresh_tmp = book.parent / ".service_log.def456.tmp"
    backups = book.parent / "bk"
    backups.mkdir()
    old_partial = backups / ".service_log-20260301-070000-000000.xlsx.partial"
    for leftover in (old_tmp, fresh_tmp, old_partial):
        leftover.write_bytes(b"PK")
    hours_ago = time.time() - 7200
    for leftover in (old_tmp, old_partial):
        os.utime(leftover, (hours_ago, hours_ago))
    write(book, SERVICE_UPDATES, backup_dir=backups)
    assert not old_tmp.exists() and not old_partial.exists()
    assert fresh_tmp.exists()  # another run's, maybe: left alone
    assert [p.suffix for p in backups.iterdir()] == [".xlsx"]


def test_unwritable_folder_is_a_plain_error(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("automation.writeback.commit.tempfile.mkstemp", refuse)
    with pytest.raises(WriteBackError, match="Permission denied"):
        write(book, SERVICE_UPDATES)


def test_bad_input_is_refused(tmp_path: Path, book: Path) -> None:
    not_zip = tmp_path / "notes.xlsx"
    not_zip.write_text("hello")
    with pytest.raises(WriteBackError, match="not an Excel workbook"):
        write(not_zip, SERVICE_UPDATES)
    with pytest.raises(WriteBackError, match="below the header row"):
        write(book, [CellUpdate("Services", 3, "Status", "x")])
    with pytest.raises(WriteBackError, match="does not exist"):
        write(tmp_path / "missing.xlsx", SERVICE_UPDATES)


def test_xlsm_keeps_its_macros(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsm"
    build_workbook(path, tmp_path, vba=True)
    before = members(path)
    assert "xl/vbaProject.bin" in before
    write(path, SERVICE_UPDATES[:3])
    after = members(path)
    assert after["xl/vbaProject.bin"] == (tmp_path / "vbaProject.bin").read_bytes()
    # sharedStrings.xml: one string cell overwritten, so one reference fewer in its count.
    assert [n for n in before if before[n] != after[n]] == [SERVICES_PART, "xl/sharedStrings.xml"]
    assert b"macroEnabled" in after["[Content_Types].xml"]


def test_1904_dates(tmp_path: Path) -> None:
    path = tmp_path / "mac.xlsx"
    build_workbook(path, tmp_path, date_1904=True)
    write(path, [CellUpdate("Services", 5, "Due Date", date(2026, 2, 4))])
    assert openpyxl.load_workbook(path)["Services"]["G5"].value == datetime(2026, 2, 4)


def test_inline_and_formula_headers(tmp_path: Path) -> None:
    path = tmp_path / "inline.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})  # writes inline strings
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Client", "Status"])
    ws.write_formula(0, 2, '="No" & "te"', None, "Note")  # a t="str" header
    ws.write_row(1, 0, ["Globex", "Invoiced", "old"])
    wb.close()
    apply_updates(
        path,
        [CellUpdate("Services", 2, "NOTE", "new"), CellUpdate("Services", 2, "status", "Error")],
        header_rows={"Services": 1},
    )
    df = pd.read_excel(path, engine="calamine")
    assert list(df.columns) == ["Client", "Status", "Note"]
    assert list(df.iloc[0]) == ["Globex", "Error", "new"]


def test_a_new_column_never_goes_under_a_header_merged_across_two(tmp_path: Path) -> None:
    """"Notes" merged over H1:I1 with nothing under I: I1 is hidden by the merge, so the new
    column goes to J (in I its header would not show and its cells would sit under Notes)."""
    path = tmp_path / "merged.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount",
                        "Project"])  # fmt: skip
    ws.merge_range("H1:I1", "Notes", wb.add_format({"bold": True}))
    ws.write_row(1, 0, ["2026-03-02", "Acme", "Work", 1, 10, 10, "P1", "a note"])
    wb.close()
    apply_updates(path, [CellUpdate("Services", 2, "Invoice No", "INV-2026-0001")],
                  header_rows={"Services": 1})  # fmt: skip
    sheet = openpyxl.load_workbook(path)["Services"]
    assert (sheet["I1"].value, sheet["J1"].value) == (None, "Invoice No")
    assert (sheet["I2"].value, sheet["J2"].value) == (None, "INV-2026-0001")
    assert [str(r) for r in sheet.merged_cells.ranges] == ["H1:I1"]


def test_a_new_column_never_goes_under_a_note_merged_across_two_on_a_line(
    tmp_path: Path,
) -> None:
    """A note merged over H3:I3 on a line below the header: column I is hidden on that row,
    so the new column goes to J (in I, row 3's Due Date sat hidden under the note)."""
    path = tmp_path / "merged.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount",
                        "Project", "Notes"])  # fmt: skip
    ws.write_row(1, 0, ["2026-03-02", "Acme", "Work", 1, 10, 10, "P1"])
    ws.write_row(2, 0, ["2026-03-02", "Acme", "More", 1, 10, 10, "P1"])
    ws.merge_range("H3:I3", "call them first", wb.add_format({"bold": True}))
    wb.close()
    apply_updates(path, [CellUpdate("Services", 3, "Invoice No", "INV-2026-0001")],
                  header_rows={"Services": 1})  # fmt: skip
    sheet = openpyxl.load_workbook(path)["Services"]
    assert (sheet["I1"].value, sheet["J1"].value) == (None, "Invoice No")
    assert (sheet["I3"].value, sheet["J3"].value) == (None, "INV-2026-0001")
    assert [str(r) for r in sheet.merged_cells.ranges] == ["H3:I3"]


def shared_formula_book(path: Path) -> None:
    """A sheet whose Amount column is one shared formula, as Excel writes a fill-down."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, ["Total", "Paid Amount", "Balance"])
    for r in range(1, 5):
        ws.write_row(r, 0, [100 * r, 10 * r])
        ws.write_formula(r, 2, f"=A{r + 1}-B{r + 1}", None, 90 * r)
    wb.close()
    parts = members(path)
    xml = parts[SERVICES_PART].decode()
    xml = xml.replace("<f>A2-B2</f>", '<f t="shared" ref="C2:C5" si="0">A2-B2</f>')
    for r in range(3, 6):
        xml = xml.replace(f"<f>A{r}-B{r}</f>", '<f t="shared" si="0"/>')
    parts[SERVICES_PART] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def test_overwriting_a_shared_formula_master_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "shared.xlsx"
    shared_formula_book(path)
    assert formulas(path)[("Invoices", "C4")] == ("=A4-B4", 270)
    apply_updates(
        path, [CellUpdate("Invoices", 2, "Balance", Decimal("0"))], header_rows={"Invoices": 1}
    )
    found = formulas(path)
    assert ("Invoices", "C2") not in found
    assert [found[("Invoices", f"C{r}")] for r in (3, 4, 5)] == [
        ("=A3-B3", 180),
        ("=A4-B4", 270),
        ("=A5-B5", 360),
    ]


def libreoffice_csv(path: Path, tmp: Path) -> dict[str, str]:
    """Every sheet of the workbook as CSV text, converted by LibreOffice headless."""
    out = tmp / "csv"
    # Filter token 12 = -1: one CSV per sheet, named <stem>-<Sheet>.csv (LibreOffice >= 7.2).
    cmd = [
        str(shutil.which("soffice")),
        f"-env:UserInstallation=file://{tmp / 'lo'}",
        "--headless",
        "--convert-to",
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
        "--outdir",
        str(out),
        str(path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {p.stem.split("-", 1)[1]: p.read_text() for p in out.glob("*.csv")}


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"),
    reason="LibreOffice is not installed (it is required in CI)",
)
def test_libreoffice_opens_the_result(book: Path, tmp_path: Path) -> None:
    write(
        book,
        [
            *SERVICE_UPDATES,
            CellUpdate("Invoices", 2, "Invoice No", "INV-2026-0001"),
            CellUpdate("Invoices", 2, "Total", Decimal("1234.50")),
            CellUpdate("Invoices", 2, "Sent At", datetime(2026, 1, 5, 9, 30)),
        ],
        new_sheet_headers={"Invoices": ["Invoice No", "Client", "Total", "Sent At"]},
    )
    sheets = libreoffice_csv(book, tmp_path)
    services = sheets["Services"].splitlines()
    assert services[2].startswith("Date,Client,Quantity,Unit Price,Amount,Invoice No,Due Date,")
    assert services[2].endswith("Status,Error,Paid")
    assert "INV-2026-0002,2026-02-04,=cmd|' /C calc'!A0" in services[4]
    assert services[3].split(",")[4] == "12.5"  # the formula's cached value
    assert "Bad value here,7" in services[6]
    assert services[11].endswith("Invoiced,,")
    invoices = sheets["Invoices"].splitlines()
    assert invoices[0] == "Invoice No,Client,Total,Sent At"
    assert invoices[1].startswith("INV-2026-0001,,1234.5,2026-01-05 09:30")
