"""A long sheet is read from a copy of its workbook, in one pass: the same cells.

The copy (`automation.readcopy`) holds the sheet's XML as the package check
inflated it, stored, with an empty mergeCells element ahead of the cells so
that calamine's merged-cells pass ends at once. These tests hold its cells
to the workbook's own, with merged ranges and without, shared strings and
inline ones, a namespace prefix, without an in-memory file, and when no copy
can be made or read; a sheet cut in pieces of rows to every row once, and
joined again to the sheet read whole (rows starting in different columns,
empty rows between); and `read_workbook` to what it read before copies.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS
from python_calamine import CalamineWorkbook

from automation import read, readcopy
from automation.config import Config
from automation.package_check import CheckedSheet, check_package
from automation.read import WorkbookData, read_workbook

MERGES = [(0, 0, 0, 5), (3, 2, 4, 2), (7, 6, 7, 8)]


def service_log(path: Path, merged: bool, inline: bool = False) -> Path:
    """Clients and Services as a bookkeeper keeps them: a title over the headers (merged
    across, when `merged`), formulas, days, an error value, and merged cells below."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "billing@acme.example"])
    ws = wb.add_worksheet("Services")
    if merged:
        first, *rest = MERGES
        ws.merge_range(*first, "Service log, March 2026")
        for r1, c1, r2, c2 in rest:
            ws.merge_range(r1, c1, r2, c2, f"merged {r1}")
    else:
        ws.write(0, 0, "Service log, March 2026")
    ws.write_row(1, 0, SERVICE_HEADERS)
    for i in range(2, 60):
        ws.write_datetime(i, 0, datetime(2026, 3, 1 + i % 28), day)
        ws.write(i, 1, "Acme")
        if not (merged and 3 <= i <= 4):
            ws.write(i, 2, f"Work {i % 5} & <more>")
        ws.write_number(i, 3, i % 4 + 0.5)
        ws.write_number(i, 4, 100)
        if i == 9:
            ws.write_formula(i, 5, "=1/0", None, "#DIV/0!")
        else:
            ws.write_formula(i, 5, f"=D{i + 1}*E{i + 1}", None, (i % 4 + 0.5) * 100)
    wb.close()
    return _inline(path) if inline else path


def _inline(path: Path) -> Path:
    """The workbook with each shared string of Services written in its cell instead."""
    with zipfile.ZipFile(path) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    strings = re.findall(rb"<si><t[^>]*>(.*?)</t></si>", parts["xl/sharedStrings.xml"])

    def inline(match: re.Match[bytes]) -> bytes:
        text = strings[int(match.group(2))]
        return match.group(1) + b' t="inlineStr"><is><t>' + text + b"</t></is></c>"

    sheet = "xl/worksheets/sheet2.xml"
    parts[sheet] = re.sub(rb'(<c r="[A-Z]+\d+"(?: s="\d+")?) t="s"><v>(\d+)</v></c>', inline,
                          parts[sheet])  # fmt: skip
    assert b"inlineStr" in parts[sheet] and b't="s"' not in parts[sheet]
    left = sum(data.count(b't="s"') for name, data in parts.items() if "worksheets/" in name)
    parts["xl/sharedStrings.xml"] = re.sub(
        rb'count="\d+"', b'count="%d"' % left, parts["xl/sharedStrings.xml"], count=1
    )
    out = path.with_name("inline-" + path.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out


def prefixed(path: Path) -> Path:
    """The workbook with the Services sheet's elements in an `x:` prefixed namespace."""
    with zipfile.ZipFile(path) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    sheet = "xl/worksheets/sheet2.xml"
    xml = parts[sheet].replace(b'<worksheet xmlns="', b'<worksheet xmlns:x="')
    parts[sheet] = re.sub(rb"<(/?)(?=[A-Za-z])(?!\?)", rb"<\1x:", xml)
    assert b"<x:sheetData>" in parts[sheet]
    out = path.with_name("prefixed-" + path.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out


def checked_sheets(path: Path) -> dict[str, CheckedSheet]:
    passed: dict[str, CheckedSheet] = {}
    check_package(path, ["Clients", "Services"], lambda s: passed.setdefault(s.name, s), 1 << 30)
    return passed


def grid(sheet: Any) -> list[list[Any]]:
    return [[_same_nan(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]


def _same_nan(value: Any) -> Any:
    return "NaN" if isinstance(value, float) and math.isnan(value) else (type(value), value)


def original(path: Path, sheet: str) -> Any:
    book = CalamineWorkbook.from_path(str(path))
    try:
        found = book.get_sheet_by_name(sheet)
        return grid(found), found.merged_cell_ranges
    finally:
        book.close()


@pytest.mark.parametrize("memory_file", [True, False], ids=["in-memory file", "buffer"])
@pytest.mark.parametrize(
    ("merged", "shape"),
    [(True, "shared"), (False, "shared"), (True, "inline"), (True, "prefixed")],
)
def test_the_copy_reads_as_the_workbook_without_the_merged_cells_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merged: bool, shape: str, memory_file: bool
) -> None:
    path = service_log(tmp_path / "log.xlsx", merged, inline=shape == "inline")
    if shape == "prefixed":
        path = prefixed(path)
    if not memory_file:
        monkeypatch.setattr(readcopy, "_memory_file", lambda: -1)
    cells, merges = original(path, "Services")
    expected_merges = [((r1, c1), (r2, c2)) for r1, c1, r2, c2 in MERGES] if merged else []
    assert sorted(merges or []) == sorted(expected_merges)
    copy = readcopy.make_copy(checked_sheets(path)["Services"])
    assert copy is not None and (copy.fd >= 0) is memory_file
    with readcopy.opened(copy) as book:
        sheet = book.get_sheet_by_name("Services")
        assert grid(sheet) == cells
        assert not sheet.merged_cell_ranges  # its pass stopped at the empty element


def test_the_copy_stores_the_checked_xml_with_the_marker_before_the_cells(
    tmp_path: Path,
) -> None:
    path = prefixed(service_log(tmp_path / "log.xlsx", merged=True))
    checked = checked_sheets(path)["Services"]
    pieces = readcopy.sheet_pieces(checked.xml)
    assert pieces is not None
    xml = b"".join(pieces)
    assert xml.replace(b"<x:mergeCells/>", b"", 1) == b"".join(checked.xml)
    assert xml.index(b"<x:mergeCells/>") + len(b"<x:mergeCells/>") == xml.index(b"<x:sheetData")
    out = io.BytesIO()  # not Excel's: the empty mergeCells element is where Excel puts none
    readcopy.write_copy(checked, pieces, out)
    with zipfile.ZipFile(out) as copy, zipfile.ZipFile(path) as workbook:
        assert copy.namelist() == workbook.namelist()
        assert copy.getinfo(checked.part).compress_type == zipfile.ZIP_STORED
        assert copy.read(checked.part) == xml  # its CRC checked by zipfile
        for name in workbook.namelist():
            if name != checked.part:
                assert copy.read(name) == workbook.read(name)
                assert copy.getinfo(name).CRC == workbook.getinfo(name).CRC


def test_a_part_without_cells_gets_no_copy(tmp_path: Path) -> None:
    chart = (b'<?xml version="1.0"?><chartsheet><sheetPr/>', b"</chartsheet>")
    assert readcopy.sheet_pieces(chart) is None
    checked = CheckedSheet("Services", "xl/worksheets/sheet2.xml", 10, b"", (b"<chartsheet/>",))
    assert readcopy.make_copy(checked) is None


def test_a_package_that_cannot_be_copied_gets_no_copy(tmp_path: Path) -> None:
    path = service_log(tmp_path / "log.xlsx", merged=True)
    checked = checked_sheets(path)["Services"]
    data = bytearray(checked.package)
    at = data.index(b"PK\x03\x04", 10)  # a later member's local header, broken
    data[at : at + 4] = b"XXXX"
    broken = CheckedSheet(checked.name, checked.part, checked.size, bytes(data), checked.xml)
    assert readcopy.make_copy(broken) is None


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[WorkbookData, WorkbookData]:
    """The workbook read with no sheet from a copy, then with every sheet from one; never
    through the reader's last resort (a copy without the sheets it does not read), which
    would hide a failure of the reading threads."""

    def last_resort(*args: Any) -> Any:
        raise AssertionError("the sheets were read again from a stripped copy")

    monkeypatch.setattr(read, "readable_copy", last_resort)
    monkeypatch.setattr(read, "COPY_XML", 1 << 60)
    before = read_workbook(path, Config())
    monkeypatch.setattr(read, "COPY_XML", 0)
    return before, read_workbook(path, Config())


def assert_same_data(a: WorkbookData, b: WorkbookData) -> None:
    assert a.sheet_names == b.sheet_names and a.tables == b.tables
    for name in ("clients", "services", "invoices", "payments"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
            continue
        pd.testing.assert_frame_equal(x.frame, y.frame)
        for column in x.frame.columns:
            assert list(map(type, x.frame[column])) == list(map(type, y.frame[column]))
        assert (x.header_row, x.headers, x.present, x.last_row, x.append_at) == (
            y.header_row, y.headers, y.present, y.last_row, y.append_at
        )  # fmt: skip


@contextlib.contextmanager
def copies_seen(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> Iterator[list[str]]:
    """The sheets copied to be read; with `fail`, reading any copy raises."""
    seen: list[str] = []
    make, opened = readcopy.make_copy, readcopy.opened

    def spy(checked: CheckedSheet) -> readcopy.Copy | None:
        seen.append(checked.name)
        return make(checked)

    @contextlib.contextmanager
    def unreadable(copy: readcopy.Copy) -> Iterator[Any]:
        with opened(copy) as book:
            raise RuntimeError("the copy cannot be read")
        yield book

    monkeypatch.setattr(read, "make_copy", spy)
    if fail:
        monkeypatch.setattr(read, "opened", unreadable)
    yield seen


def test_read_workbook_gives_the_same_data_from_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = service_log(tmp_path / "log.xlsx", merged=True)
    with copies_seen(monkeypatch) as seen:
        before, after = read_both(path, monkeypatch)
    assert sorted(seen) == ["Clients", "Services"]
    assert_same_data(before, after)
    services = after.services
    assert services.header_row == 2
    assert services.frame.loc[10, "Amount"] == "#DIV/0!"  # the error cell, from the check
    assert services.frame.loc[3, "Date"] == datetime(2026, 3, 3)
    assert services.frame.loc[4, "Description"] == "merged 3"


def test_a_copy_that_cannot_be_read_leaves_the_workbook_to_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = service_log(tmp_path / "log.xlsx", merged=False)
    with copies_seen(monkeypatch, fail=True) as seen:
        before, after = read_both(path, monkeypatch)
    assert sorted(seen) == ["Clients", "Services"]
    assert_same_data(before, after)
    assert after.services.frame.loc[5, "Date"] == datetime(2026, 3, 5)


def test_the_sheet_names_come_from_a_reading_thread_s_book_when_it_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a reading thread has opened the workbook, its list of sheets is the one used:
    the workbook (its shared strings) is not opened once more just for the names."""
    path = service_log(tmp_path / "log.xlsx", merged=False)
    opened: list[str] = []
    real = CalamineWorkbook.from_path

    def counting(source: str) -> Any:
        opened.append(source)
        return real(source)

    monkeypatch.setattr(CalamineWorkbook, "from_path", staticmethod(counting))
    with read._SheetReader(path) as reader:
        reader.start("Clients")
        reader.started["Clients"].result()
        assert opened == [str(path)]
        names, wanted = reader.start_all()
        assert opened == [str(path)]
        assert names == ("Clients", "Services") and wanted == ["Clients", "Services"]
        assert reader.frames(wanted)["Services"].iat[0, 0] == "Service log, March 2026"
    with read._SheetReader(path) as reader:  # nothing opened yet: opened here
        assert reader.start_all()[0] == names


def ragged_log(path: Path) -> Path:
    """Rows that start and end in different columns, with empty rows between them."""
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    wb.add_worksheet("Clients").write_row(0, 0, CLIENT_HEADERS)
    ws = wb.add_worksheet("Services")
    ws.write_row(1, 1, SERVICE_HEADERS)
    for r in range(3, 90):
        if r % 7 == 0:
            continue  # an empty row
        first = 1 + r % 3 if r < 40 else 2  # no cell in column A at all
        for c in range(first, 4 + r // 20):
            if (r + c) % 5 == 0:
                ws.write_datetime(r, c, datetime(2026, 3, 1 + (r + c) % 28), day)
            elif (r + c) % 5 == 1:
                ws.write_number(r, c, r * 0.5)
            else:
                ws.write_string(r, c, f"t{(r * c) % 11}" if (r + c) % 5 != 2 else "")
    wb.close()
    return path


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_a_sheet_cut_in_pieces_covers_every_row_once(tmp_path: Path, parts: int) -> None:
    path = prefixed(service_log(tmp_path / "log.xlsx", merged=True))
    xml = tuple(
        bytes(piece)
        for chunk in checked_sheets(path)["Services"].xml
        for piece in (chunk[: len(chunk) // 3], chunk[len(chunk) // 3 :])
        if piece
    )  # more chunk ends than the check's, cut anywhere but inside a tag
    pieces = readcopy.split_xml(xml, parts)
    assert 1 < len(pieces) <= parts
    rows = [re.findall(rb'<x:row r="(\d+)"', b"".join(piece)) for piece in pieces]
    assert [r for piece in rows for r in piece] == re.findall(rb'<x:row r="(\d+)"', b"".join(xml))
    whole = b"".join(xml)
    head = whole[: whole.index(b"<x:row ")]
    for k, piece in enumerate(pieces):
        text = b"".join(piece)
        assert text.startswith(head)
        if k < len(pieces) - 1:
            assert text.endswith(b"</x:sheetData></x:worksheet>")
        else:
            assert text.endswith(whole[whole.index(b"</x:sheetData>") :])
    assert readcopy.split_xml((b"<worksheet><sheetData/></worksheet>",), 2) == [
        (b"<worksheet><sheetData/></worksheet>",)
    ]


def _log_with_cells_everywhere(path: Path) -> Path:
    return service_log(path, merged=True)


@pytest.mark.parametrize(
    "build",
    [
        ragged_log,
        _log_with_cells_everywhere,
        lambda p: prefixed(service_log(p, merged=False, inline=True)),
    ],
    ids=["ragged", "merged", "prefixed inline"],
)
def test_read_workbook_gives_the_same_data_from_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Any
) -> None:
    path = build(tmp_path / "log.xlsx")
    monkeypatch.setattr(read, "SPLIT_XML", 0)
    with copies_seen(monkeypatch) as seen:
        before, after = read_both(path, monkeypatch)
    assert seen.count("Services") > 1  # read in pieces
    assert_same_data(before, after)
    frames, _ = read._load_frames(path)  # from pieces still: the raw frames alike
    monkeypatch.setattr(read, "COPY_XML", 1 << 60)
    for name, frame in read._load_frames(path)[0].items():
        pd.testing.assert_frame_equal(frames[name], frame)


def test_a_piece_that_cannot_be_read_leaves_the_sheet_to_be_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ragged_log(tmp_path / "log.xlsx")
    monkeypatch.setattr(read, "SPLIT_XML", 0)
    with copies_seen(monkeypatch, fail=True) as seen:
        before, after = read_both(path, monkeypatch)
    assert seen.count("Services") > 1
    assert_same_data(before, after)
