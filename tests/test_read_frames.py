"""The sheet frames: every cell as `_cell` makes it, wherever the sheet's cells start.

The reader takes calamine's rows a block at a time and converts whole columns
at once; these tests hold that to the plain rule (one cell at a time, from A1)
on sheets that cross block boundaries and mix every kind of cell, and check
that a sheet is parsed only once the package check has passed it.
"""

from __future__ import annotations

import math
import threading
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from conftest import client, service, write_workbook
from python_calamine import CalamineWorkbook

from automation import read
from automation.config import Config
from automation.package_check import UnsafeWorkbookError, check_package
from automation.read import read_workbook


def cells_one_by_one(path: Path, sheet: str) -> list[list[Any]]:
    """The rule: calamine's grid from A1, each cell through `_cell`."""
    book = CalamineWorkbook.from_path(str(path))
    try:
        rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    finally:
        book.close()
    return [[read._cell(v) for v in row] for row in rows]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


KINDS = 9


def write_kind(ws: Any, r: int, c: int, kind: int, i: int, formats: dict[str, Any]) -> None:
    """One cell of kind `kind` (text, blank-looking text, whole, decimal, day, stamp, ...)."""
    if kind == 0:
        ws.write_string(r, c, f"text {i % 7}")
    elif kind == 1:
        ws.write_string(r, c, " ")  # blank-looking text is text
    elif kind == 2:
        ws.write_number(r, c, i % 4)  # whole: int
    elif kind == 3:
        ws.write_number(r, c, i + 0.25)
    elif kind == 4:
        ws.write_datetime(r, c, datetime(2026, 1, 1 + i % 28), formats["day"])
    elif kind == 5:
        ws.write_datetime(r, c, datetime(2026, 2, 1, 9, i % 60), formats["stamp"])
    elif kind == 6:
        ws.write_boolean(r, c, bool(i % 2))
    elif kind == 7:
        ws.write_datetime(r, c, datetime(1899, 12, 31, 10, 30), formats["clock"])
    # kind 8: left empty


def mixed_sheet(path: Path, first_row: int, first_col: int, rows: int) -> Path:
    """A sheet starting at (first_row, first_col), each column changing kind down the rows."""
    wb = xlsxwriter.Workbook(str(path))
    formats = {
        "day": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "stamp": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "clock": wb.add_format({"num_format": "hh:mm"}),
    }
    ws = wb.add_worksheet("Services")
    for i in range(rows):
        for j in range(6):  # each column's kind shifts with the row
            write_kind(ws, first_row + i, first_col + j, (i // 3 + j) % KINDS, i, formats)
    wb.close()
    return path


@pytest.mark.parametrize(("first_row", "first_col"), [(0, 0), (4, 2)])
def test_frames_match_the_cell_rule_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_row: int, first_col: int
) -> None:
    monkeypatch.setattr(read, "BLOCK_ROWS", 5)  # many blocks, each column's kinds changing
    book = mixed_sheet(tmp_path / "mixed.xlsx", first_row, first_col, rows=47)
    frames, names = read._read_frames(book)
    frame = frames["Services"]
    expected = cells_one_by_one(book, "Services")
    assert names == ("Services",)
    assert frame.shape == (len(expected), len(expected[0])) == (first_row + 47, first_col + 6)
    assert list(frame.index) == list(range(len(expected)))
    kinds = set()
    for r, row in enumerate(expected):
        for c, want in enumerate(row):
            got = frame.iat[r, c]
            kinds.add(type(got))
            assert same(got, want), (r, c, got, want)
    assert {str, int, float, datetime, bool, time} <= kinds


def test_an_empty_sheet_is_an_empty_frame(tmp_path: Path) -> None:
    wb = xlsxwriter.Workbook(str(tmp_path / "empty.xlsx"))
    wb.add_worksheet("Clients")
    wb.close()
    frames, _ = read._read_frames(tmp_path / "empty.xlsx")
    assert frames["Clients"].shape == (0, 0)


def test_a_day_is_kept_once_per_column(tmp_path: Path) -> None:
    rows = [service(date(2026, 3, 2), "Acme", f"Work {i}") for i in range(30)]
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], rows)
    frame = read._read_frames(book)[0]["Services"]
    days = frame.iloc[1:, 0].tolist()
    assert days == [datetime(2026, 3, 2)] * 30
    assert len({id(d) for d in days}) == 1
    assert len({id(c) for c in frame.iloc[1:, 1]}) == 1  # "Acme", once


def test_a_sheet_is_parsed_only_after_it_passed_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stray far cell in Services: Clients is checked (and may be parsed), Services never."""
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    far = tmp_path / "far.xlsx"
    wb = xlsxwriter.Workbook(str(far))
    wb.add_worksheet("Clients").write_row(0, 0, ["Client", "Email"])
    services = wb.add_worksheet("Services")
    services.write_row(0, 0, ["Date", "Client"])
    services.write(1_048_575, 16_383, "stray")
    wb.close()
    passed: list[str] = []
    with pytest.raises(UnsafeWorkbookError, match="XFD1048576"):
        check_package(far, ["Clients", "Services"], lambda sheet: passed.append(sheet.name))
    assert passed == ["Clients"]

    parsed: list[str] = []
    real_parse = read._SheetReader._parse

    def parse(self: read._SheetReader, sheet: str, size: int) -> Any:
        parsed.append(sheet)
        return real_parse(self, sheet, size)

    monkeypatch.setattr(read._SheetReader, "_parse", parse)
    with pytest.raises(UnsafeWorkbookError, match="XFD1048576"):
        read_workbook(far, Config())
    assert "Services" not in parsed
    parsed.clear()
    data = read_workbook(book, Config())
    assert sorted(parsed) == ["Clients", "Services"]
    assert data.services.frame.loc[2, "Client"] == "Acme"


def test_big_sheets_are_parsed_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PARALLEL_XML together, no two sheets are in calamine at once (memory)."""
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Work")],
        invoices=[{"Invoice No": "INV-1", "Client": "Acme"}],
    )
    active, most = [0], [0]
    real = read._raw_cells

    def raw_cells(sheet: Any) -> Any:
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            threading.Event().wait(0.05)  # long enough for another thread to come in
            return real(sheet)
        finally:
            active[0] -= 1

    monkeypatch.setattr(read, "_raw_cells", raw_cells)
    monkeypatch.setattr(read, "PARALLEL_XML", 1)
    data = read_workbook(book, Config())
    assert most[0] == 1
    assert data.invoices is not None and data.invoices.frame.loc[2, "Invoice No"] == "INV-1"


def with_part_replaced(book: Path, part: str, edit: Any) -> Path:
    """`book` rewritten with `part`'s bytes passed through `edit`."""
    with zipfile.ZipFile(book) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    parts[part] = edit(parts[part])
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return book


def test_no_sheet_is_handed_on_before_the_shared_parts_pass(tmp_path: Path) -> None:
    """Entities in the shared strings: no sheet is passed on; a sheet's own fault is told first."""
    bomb = b'<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>'
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    strings = "xl/sharedStrings.xml"
    with_part_replaced(book, strings, lambda xml: xml.replace(b"?>", b"?>" + bomb, 1))
    passed: list[str] = []
    with pytest.raises(UnsafeWorkbookError, match="declares XML entities"):
        check_package(book, ["Clients", "Services"], lambda sheet, size: passed.append(sheet))
    assert passed == []
    with_part_replaced(
        book,
        "xl/worksheets/sheet2.xml",
        lambda xml: xml.replace(
            b"</sheetData>", b'<row r="9"><c r="XFE9"><v>1</v></c></row></sheetData>'
        ),
    )
    with pytest.raises(UnsafeWorkbookError, match="the cell reference 'XFE9' is beyond"):
        check_package(book, ["Clients", "Services"], lambda sheet, size: passed.append(sheet))
    assert passed == []


def test_the_reading_threads_leave_pandas_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas is imported lazily, and a lazy module touched first by two threads at once is
    half-loaded for one of them: only the thread that called read_workbook may touch it."""
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Work")],
        invoices=[{"Invoice No": "INV-1", "Client": "Acme"}],
    )
    touched: set[str] = set()

    class Watched:
        def __getattr__(self, name: str) -> Any:
            touched.add(threading.current_thread().name)
            return getattr(pd, name)

    monkeypatch.setattr(read, "pd", Watched())
    data = read_workbook(book, Config())
    assert touched == {threading.current_thread().name}
    assert data.services.frame.loc[2, "Client"] == "Acme"


def test_the_clients_are_handed_on_while_services_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`clients_read` gets the Clients sheet before the Services sheet is converted, once,
    and it is the very sheet the workbook data holds (so its validation is the run's)."""
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme"), client("Beta")],
        [service(date(2026, 3, 2), "Acme", "Work")],
    )
    handed: list[read.SheetData] = []
    seen = threading.Event()
    services_waited: list[bool] = []
    real = read._raw_cells

    def raw_cells(sheet: Any) -> Any:
        if sheet.name == "Services":
            services_waited.append(seen.wait(10))
        return real(sheet)

    def clients_read(clients: read.SheetData) -> None:
        handed.append(clients)
        seen.set()

    monkeypatch.setattr(read, "_raw_cells", raw_cells)
    data = read_workbook(book, Config(), clients_read)
    assert services_waited == [True]
    assert len(handed) == 1 and handed[0] is data.clients
    assert data.clients.frame["Client"].tolist() == ["Acme", "Beta"]


@pytest.mark.broken_workbooks
def test_a_workbook_unusable_after_its_clients_says_so_first(tmp_path: Path) -> None:
    """Clients without its header and a Services sheet calamine cannot parse: the damage is
    what is told (as when the sheets were located one after the other), and the clients
    are not handed on."""
    wb = xlsxwriter.Workbook(str(tmp_path / "log.xlsx"))
    wb.add_worksheet("Clients").write_row(0, 0, ["Name", "Mail"])
    wb.add_worksheet("Services").write_row(0, 0, ["Date", "Client", "Description"])
    wb.close()
    book = with_part_replaced(
        tmp_path / "log.xlsx",
        "xl/worksheets/sheet2.xml",
        lambda xml: xml.replace(
            b"</sheetData>", b'<row r="2"><c r="A2"><v>1</c></row></sheetData>'
        ),
    )
    handed: list[read.SheetData] = []
    with pytest.raises(read.WorkbookError, match="could not be read as a workbook"):
        read_workbook(book, Config(), handed.append)
    assert handed == []
    plain = tmp_path / "plain.xlsx"
    wb = xlsxwriter.Workbook(str(plain))
    wb.add_worksheet("Clients").write_row(0, 0, ["Name", "Mail"])
    wb.close()
    with pytest.raises(read.WorkbookError, match="sheet 'Clients' has no header row"):
        read_workbook(plain, Config(), handed.append)
    assert handed == []


def test_cells_merged_down_a_column_fill_every_row_they_cover_at_once() -> None:
    """Many merges in a column (one per invoice in a long log) are filled in one pass: an
    empty merged cell fills nothing, a merge across columns is one cell, a merge running
    past the sheet's last row stops there."""
    import numpy as np
    import pandas as pd

    from automation.read import _fill_merged

    frame = pd.DataFrame({0: np.full(8, np.nan, dtype=object), 1: np.full(8, np.nan, dtype=object)})
    frame.iat[0, 1], frame.iat[3, 1], frame.iat[6, 1], frame.iat[1, 0] = "A", "B", "C", 5
    # Excel rows: B1:B3 "A", B4:B5 "B", B6:B6 (one cell), B7:B20 "C" (past the end),
    # A2:A4 (5), A6:A7 empty, and A1:B1 across columns.
    _fill_merged(frame, [(1, 2, 3, 2), (4, 2, 5, 2), (6, 2, 6, 2), (7, 2, 20, 2),
                         (2, 1, 4, 1), (6, 1, 7, 1), (1, 1, 1, 2)])  # fmt: skip
    assert frame[1].fillna("-").tolist() == ["A", "A", "A", "B", "B", "-", "C", "C"]
    assert frame[0].fillna("-").tolist() == ["-", 5, 5, 5, "-", "-", "-", "-"]
