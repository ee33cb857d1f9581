"""Rows written as bytes, and parsed rows set aside, give the bytes the element path gives.

The element path (`write_cell` on every cell, every parsed row held to the
end) is the reference: the same cells written the fast way, with parked rows
parsed again when they are touched, must come out byte for byte the same,
styles part included.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from automation.model import CellUpdate, CellValue
from automation.writeback import WriteBackError, apply_updates, rowbytes, strings
from automation.writeback import sheet as sheet_module
from automation.writeback.rowbytes import (
    ODD,
    REWRITTEN,
    Cell,
    escape_attr,
    escape_text,
    render_by_elements,
    render_row,
    write_row,
)
from automation.writeback.sheet import (
    finish_sheet,
    get_row,
    open_sheet,
    park_rows,
    read_col_styles,
    write_cell,
)
from automation.writeback.strings import SharedStrings
from automation.writeback.styles import Styles
from automation.writeback.values import _ILLEGAL_XML as ILLEGAL_XML
from automation.writeback.values import Context
from automation.writeback.xmlscan import MAIN_NS, REL_NS

STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
    '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="1" xfId="0"/></cellXfs>'
    "</styleSheet>"
).encode()

ROWS = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Date</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>Amount</t></is></c></row>'
    '<row r="2" spans="1:3"><c r="A2" s="1"><v>46000</v></c><c r="B2" s="2"><v>1.5</v></c>'
    '<c r="C2" t="inlineStr"><is><t>x</t></is></c></row>'
    '<row r="3" spans="2:2"><c r="A3" s="3"><v>46001</v></c><c r="B3"><v>2</v></c></row>'
    '<row r="6"><c r="A6" s="1"><v>46002</v></c><c r="D6" s="2"><v>3</v></c></row>'
    '<row r="8" spans="2:3" ht="20" customHeight="1"/>'
)
#: Plain rows that lxml writes otherwise (quotes, an empty element written long, a space).
REWRITTEN_ROWS = (
    ROWS.replace('r="A1"', "r='A1'")
    .replace('<row r="6">', '<row r="6" >')
    .replace('<c r="B3"><v>2</v></c>', '<c r="B3"></c>')
)
#: Plain rows the element path rewrites: cells out of order, a row number written "08".
UNORDERED_ROWS = ROWS.replace(
    '<c r="A6" s="1"><v>46002</v></c><c r="D6" s="2"><v>3</v></c>',
    '<c r="D6" s="2"><v>3</v></c><c r="A6" s="1"><v>46002</v></c>',
).replace('<row r="8" ', '<row r="08" ')
#: Rows lxml does not give back as they are, or that hold more than plain cells.
ODD_ROWS = (
    "<row r='1'><c r='A1' t='inlineStr'><is><t>Date</t></is></c></row>"
    '<row r="2" spans="1:3"><c s="1"><v>46000</v></c><!-- a comment --><c r="B2"><v>1</v></c></row>'
    '<row r="3"><c r="A3" t="inlineStr"><is><r><t>rich</t></r></is></c><c r="C3"/></row>'
    '<row r="6" ><c r="D6" s="2"><v>3</v></c><c r="A6" s="1"><v>46002</v></c></row>'
    '<row r="08"><c r="A8" s="3"><v>1</v></c></row>'
)


def sheet(prefix: str = "", twice: bool = False, rows: str = ROWS) -> bytes:
    """A worksheet part: header, rows 2, 3, 6 and 8 (the rest are gaps), a column style on E."""
    p = f"{prefix}:" if prefix else ""
    decl = f'xmlns{":" + prefix if prefix else ""}="{MAIN_NS}"'
    if twice:  # the main namespace declared under two prefixes
        decl += f' xmlns:y="{MAIN_NS}"'
    rows = rows.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
    rows = rows.replace(f"<{p}!", "<!")
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<{p}worksheet {decl} xmlns:r="{REL_NS}"><{p}dimension ref="A1:D6"/>'
        f'<{p}cols><{p}col min="5" max="5" width="10" customWidth="1" style="3"/></{p}cols>'
        f"<{p}sheetData>{rows}</{p}sheetData></{p}worksheet>"
    ).encode()


TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [" leading", "trailing ", "a&b<c>d\"e'f", "x\r\ny\tz", "\x01\x02ctl\x1f", "_x0041_",
         "]]>", "\U0001f600 é", "\x00", "A" * 33_000, "&amp;", "  "]
    ),
)  # fmt: skip
VALUES: st.SearchStrategy[CellValue] = st.one_of(
    TEXTS,
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
    ),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2200, 1, 1)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2200, 1, 1)),
)
WRITES = st.lists(st.tuples(st.integers(2, 14), st.integers(1, 6), VALUES), min_size=1, max_size=40)


def context() -> Context:
    return Context(SharedStrings(None), Styles(STYLES), False)


@contextmanager
def parking_every(rows: int) -> Iterator[None]:
    old = rowbytes.PARK_AT
    rowbytes.PARK_AT = rows
    try:
        yield
    finally:
        rowbytes.PARK_AT = old


def edited(xml: bytes, writes: dict[tuple[int, int], CellValue], fast: bool) -> tuple[bytes, ...]:
    """(sheet part, styles part, cells written) after writing `writes` one way or the other."""
    ctx = context()
    edit = open_sheet(xml, ctx, min(row for row, _ in writes) - 1)
    edit.header_row = 1
    edit.col_styles = read_col_styles(edit)
    edit.col_formats = {4: "#,##0.000"}
    if fast:
        for number, run in itertools.groupby(writes.items(), key=lambda item: item[0][0]):
            write_row(edit, number, [(col, value) for (_, col), value in run])
    else:
        for (number, col), value in writes.items():
            if write_cell(edit, number, col, value):
                edit.cells += 1
    part = b"".join(finish_sheet(edit)) if edit.dirty else b""
    styles = ctx.styles.to_bytes() if ctx.styles.changed else b""
    return part, styles, str(edit.cells).encode()


@settings(max_examples=150, deadline=None)
@example(
    writes=[(2, 1, "\x08"), (3, 1, "x"), (4, 1, "y"), (2, 2, None)], prefix="", park=1, rows=ROWS
)
@example(writes=[(8, 1, "\x08"), (9, 1, "x"), (8, 2, 1)], prefix="x", park=1, rows=ROWS)
@given(
    writes=WRITES,
    prefix=st.sampled_from(["", "x"]),
    park=st.sampled_from([1, 2, 256]),
    rows=st.sampled_from([ROWS, ODD_ROWS, REWRITTEN_ROWS, UNORDERED_ROWS]),
)
def test_fast_rows_equal_the_element_path(
    writes: list[tuple[int, int, CellValue]], prefix: str, park: int, rows: str
) -> None:
    cells = {(row, col): value for row, col, value in writes}
    xml = sheet(prefix, rows=rows)
    try:
        slow = edited(xml, cells, fast=False)
    except WriteBackError as exc:  # both ways refuse the same value
        with pytest.raises(WriteBackError, match=str(exc)), parking_every(park):
            edited(xml, cells, fast=True)
        return
    with parking_every(park):
        assert edited(xml, cells, fast=True) == slow


def test_rows_appended_and_rows_written_twice() -> None:
    """New rows below, a row in a gap, a new row touched again later, parked rows touched again."""
    cells: dict[tuple[int, int], CellValue] = {}
    for row in range(7, 40):  # appended, each taking the style of the one above
        cells.update({(row, 1): date(2026, 1, row % 28 + 1), (row, 2): Decimal(row) / 4})
        cells[(row, 5)] = f"note {row} <&>"
    cells[(4, 3)] = "in a gap"
    cells[(2, 4)] = Decimal("7.5")  # an existing row
    cells[(8, 6)] = "row 8 again, after others"  # a row written as bytes, parsed again
    cells[(3, 2)] = 9  # an existing row, set aside by then, parsed again
    cells[(9, 1)] = None  # a cell emptied in a row written as bytes
    for park in (1, 3, 256):
        with parking_every(park):
            fast = edited(sheet(), cells, fast=True)
        assert fast == edited(sheet(), cells, fast=False)
    assert fast[1]  # a money format was added to the styles
    assert b'<row r="4"><c r="C4" t="inlineStr"><is><t xml:space="preserve">in a gap<' in fast[0]


@pytest.mark.parametrize("prefix", ["", "x"])
def test_rows_are_written_as_bytes_when_the_part_allows(prefix: str) -> None:
    p = f"{prefix}:" if prefix else ""
    edit = open_sheet(sheet(prefix), context(), 2)
    edit.header_row = 1
    edit.col_styles = read_col_styles(edit)
    write_row(edit, 6, [(6, "after D6"), (5, 12)])  # given cells after its last one
    write_row(edit, 8, [(4, "first cell")])  # <row .../> with no cells
    write_row(edit, 9, [(1, "new"), (3, Decimal("2.50"))])  # a new row
    assert 9 in edit.done and 9 not in edit.rows
    assert edit.done[9].startswith(f'<{p}row r="9">'.encode())
    write_row(edit, 2, [(2, "B2 is there")])  # a cell it has: the element path
    assert set(edit.done) - edit.parked == {6, 8, 9} and 2 in edit.rows
    assert edit.done[6].endswith(
        f'<{p}c r="E6" s="3"><{p}v>12</{p}v></{p}c><{p}c r="F6" t="inlineStr"><{p}is>'
        f'<{p}t xml:space="preserve">after D6</{p}t></{p}is></{p}c></{p}row>'.encode()
    )
    assert edit.done[8].startswith(f'<{p}row r="8" spans="2:4" ht="20" customHeight="1">'.encode())


def test_a_new_cell_below_a_row_given_cells_takes_the_style_it_had() -> None:
    cells: dict[tuple[int, int], CellValue] = {
        (6, 5): "E6, after D6",
        (7, 4): 5,  # below D6 (s="2"), a cell row 6 had
        (7, 1): date(2026, 6, 1),  # below A6 (s="1", a date format)
        (7, 5): "below E6 (the column's style)",
    }
    fast = edited(sheet(), cells, fast=True)
    assert fast == edited(sheet(), cells, fast=False)
    assert b'<c r="D7" s="2"><v>5</v></c>' in fast[0]
    assert b'<c r="A7" s="1"><v>46174</v></c>' in fast[0]
    assert b'<c r="E7" s="3" t="inlineStr">' in fast[0]


def test_rows_holding_more_than_plain_cells_take_the_element_path() -> None:
    edit = open_sheet(sheet(rows=ODD_ROWS), context(), 1)
    edit.header_row = 1
    for number in (2, 3, 6, 8):
        write_row(edit, number, [(10, "far right")])
    assert not edit.done and edit.plain_blocks == {0: ODD}


def test_rows_lxml_writes_otherwise_are_given_cells_as_lxml_writes_them() -> None:
    """Plain rows lxml does not give back as they are (an empty <c></c>, single quotes,
    a space in a tag) are extended as bytes, from the form the element path writes."""
    writes = {(number, 10): "far right" for number in (2, 3, 6, 8)}
    edit = open_sheet(sheet(rows=REWRITTEN_ROWS), context(), 1)
    edit.header_row = 1
    for (number, col), value in writes.items():
        write_row(edit, number, [(col, value)])
    assert edit.plain_blocks == {0: REWRITTEN} and set(edit.done) == {2, 3, 6, 8}
    assert edited(sheet(rows=REWRITTEN_ROWS), writes, fast=True) == edited(
        sheet(rows=REWRITTEN_ROWS), writes, fast=False
    )
    assert b'<c r="B3"/>' in edit.done[3] and b'<row r="6">' in edit.done[6]


def test_rows_openpyxl_saves_are_given_cells_as_bytes() -> None:
    """openpyxl writes a formula without its result as <v></v>, and t="n" on numbers."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" s="1" t="n"><v>46034</v></c><c r="B{r}" t="inlineStr">'
        f'<is><t>Client {r}</t></is></c><c r="C{r}"><f>A{r}*2</f><v></v></c></row>'
        for r in range(2, 9)
    )
    writes: dict[tuple[int, int], CellValue] = {}
    for r in range(2, 9):
        writes.update({(r, 4): f"INV-{r}", (r, 5): date(2026, 7, 1), (r, 6): "Invoiced"})
    edit = open_sheet(sheet(rows=rows), context(), 1)
    edit.header_row = 1
    for number in range(2, 9):
        write_row(edit, number, [(col, writes[number, col]) for col in (4, 5, 6)])
    assert edit.plain_blocks == {0: REWRITTEN} and not edit.rows and len(edit.done) == 7
    fast = edited(sheet(rows=rows), writes, fast=True)
    assert fast == edited(sheet(rows=rows), writes, fast=False)
    assert b'<c r="C2"><f>A2*2</f><v/></c><c r="D2" t="inlineStr">' in fast[0]
    edit = open_sheet(sheet(rows=UNORDERED_ROWS), context(), 1)
    edit.header_row = 1
    for number in (2, 3, 6, 8):
        write_row(edit, number, [(10, "far right")])
    assert edit.plain_blocks == {0: True} and set(edit.done) == {2, 3}


def test_a_namespace_under_two_prefixes_takes_the_element_path() -> None:
    xml = sheet(twice=True)
    cells: dict[tuple[int, int], CellValue] = {(8, 1): "a", (8, 2): Decimal("1.25")}
    edit = open_sheet(xml, context(), 6)
    edit.header_row = 1
    write_row(edit, 8, [(c, v) for (_, c), v in cells.items()])
    assert edit.fast_rows is not None
    assert (8 in edit.done) == edit.fast_rows
    assert edited(xml, cells, fast=True) == edited(xml, cells, fast=False)


def test_parked_rows_are_bytes_and_come_back_as_they_were() -> None:
    edit = open_sheet(sheet(), context(), 1)
    edit.header_row = 1
    write_cell(edit, 2, 4, "first")
    write_cell(edit, 3, 3, "second")
    park_rows(edit, 3)
    assert 2 in edit.done and 2 not in edit.rows and 3 in edit.rows
    row = get_row(edit, 2, create=False)
    assert row is not None and 2 not in edit.done
    assert [c.get("r") for c in row] == ["A2", "B2", "C2", "D2"]


CELLS = st.lists(
    st.tuples(
        st.integers(1, 16_384),
        st.one_of(st.none(), st.text(max_size=6)),
        st.sampled_from(["s", "b", "n", "money", "date"]),
        TEXTS,
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda cell: cell[0],
).map(lambda cells: sorted(cells, key=lambda cell: cell[0]))


@settings(max_examples=200, deadline=None)
@given(cells=CELLS, number=st.integers(1, 1_048_576))
def test_render_row_is_what_lxml_serialises(cells: list[Cell], number: int) -> None:
    """Escaping of text and attributes (quotes, &, <, >, CR, LF, tab) as libxml2 writes it."""
    legal = [
        (col, style, kind, text)
        for col, style, kind, text in cells
        if not ILLEGAL_XML.search(text) and not ILLEGAL_XML.search(style or "")
    ]
    assume(legal)
    edit = open_sheet(sheet(), context(), 1)
    assert render_row("", number, legal) == render_by_elements(edit, number, legal)


def test_escapes() -> None:
    assert escape_text('a&b<c>"\r\n\t') == 'a&amp;b&lt;c&gt;"&#13;\n\t'
    assert escape_attr('a&b<c>"\r\n\t') == "a&amp;b&lt;c&gt;&quot;&#13;&#10;&#9;"
    assert escape_text("plain text") == "plain text"


# -- whole workbooks: apply_updates the fast way and the element way ---------


def workbook(path: Path, *, inline: bool, table: bool) -> None:
    """Services with history rows (dates, amounts, a formula), Invoices perhaps a Table."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    day = wb.add_format({"num_format": "dd/mm/yyyy"})
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Amount", "Invoice No", "Status"])
    for r in range(1, 40):
        ws.write_datetime(r, 0, datetime(2026, 1, r % 28 + 1), day)
        ws.write_string(r, 1, f"Client {r % 3}")
        ws.write_formula(r, 2, f"=10*{r}", money, 10 * r)
        if r < 30:
            ws.write_row(r, 3, [f"INV-{r:04d}", "Invoiced"])
    ws = wb.add_worksheet("Invoices")
    headers = ["Invoice No", "Client", "Invoice Date", "Total", "Status", "Open"]
    history = [[f"INV-{i:04d}", f"Client {i % 3}", datetime(2026, 1, i + 1), 10.0 * i, "Paid"]
               for i in range(1, 6)]  # fmt: skip
    if table:
        ws.add_table(0, 0, len(history) + 1, len(headers) - 1, {
            "name": "tblInvoices", "total_row": True,
            "columns": [{"header": "Invoice No", "total_string": "Total"}, {"header": "Client"},
                        {"header": "Invoice Date", "format": day},
                        {"header": "Total", "format": money, "total_function": "sum"},
                        {"header": "Status"}, {"header": "Open", "formula": "=[@Total]>0"}],
            "data": [row + [None] for row in history],
        })  # fmt: skip
    else:
        ws.write_row(0, 0, headers)
        for i, row in enumerate(history, start=1):
            ws.write_row(i, 0, row)
            ws.write_datetime(i, 2, row[2], day)
    wb.close()


def updates(table: bool) -> list[CellUpdate]:
    out = []
    for r in range(31, 41):  # this week's lines: existing rows
        out += [
            CellUpdate("Services", r, "Invoice No", f"INV-2026-{r:04d}"),
            CellUpdate("Services", r, "Due Date", date(2026, 7, 1)),
            CellUpdate("Services", r, "Status", "Invoiced & sent <ok>"),
        ]
    for i in range(12):
        row = 7 + i  # right below the history (a table's totals row moves down)
        out += [
            CellUpdate("Invoices", row, "Invoice No", f"INV-2026-{i:04d}"),
            CellUpdate("Invoices", row, "Client", f"  Client {i}\t'quoted' \"x\" "),
            CellUpdate("Invoices", row, "Invoice Date", date(2026, 6, 1)),
            CellUpdate("Invoices", row, "Total", Decimal("1234.50") + i),
            CellUpdate("Invoices", row, "Status", "Sent"),
            CellUpdate("Invoices", row, "Sent At", datetime(2026, 6, 1, 9, 30)),
            CellUpdate("Invoices", row, "Reissue Count", 0),
            CellUpdate("Invoices", row, "Note", None if i % 2 else f"\x07bell {i}"),
        ]
    out.append(CellUpdate("Payments", 2, "Amount", Decimal("5")))  # a new sheet
    return out


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@pytest.mark.parametrize(("inline", "table"), [(False, False), (True, False), (False, True)])
def test_whole_workbooks_equal_the_element_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: bool, table: bool
) -> None:
    source = tmp_path / "source.xlsx"
    workbook(source, inline=inline, table=table)
    results: list[dict[str, bytes]] = []
    for fast in (True, False):
        path = tmp_path / f"log-{fast}.xlsx"
        path.write_bytes(source.read_bytes())
        with monkeypatch.context() as patch:
            if fast:
                patch.setattr(rowbytes, "PARK_AT", 4)  # set aside often
                patch.setattr(sheet_module, "JOIN_ROWS", 64)  # rows joined in small pieces
            else:
                patch.setattr(rowbytes, "write_new_row", lambda *args: False)
                patch.setattr(rowbytes, "PARK_AT", 10**9)
            kwargs: dict[str, Any] = {"header_rows": {"Services": 1, "Invoices": 1}}
            result = apply_updates(path, updates(table), **kwargs)
        assert result.changed and result.cells == 121
        results.append(members(path))
    fast_parts, slow_parts = results
    assert list(fast_parts) == list(slow_parts)
    assert {n: p for n, p in fast_parts.items() if slow_parts[n] != p} == {}
    if table:
        assert re.search(rb'<table [^>]*ref="A1:[A-Z]+19"', fast_parts["xl/tables/table1.xml"])


# -- shared strings, read only as far as needed ------------------------------


def shared_strings_part(prefix: str, count: int) -> bytes:
    p = f"{prefix}:" if prefix else ""
    items = []
    for i in range(count):
        if i % 7 == 3:
            items.append(f"<{p}si/>")  # an empty string
        elif i % 5 == 1:  # rich text, split in runs
            runs = f"<{p}r><{p}t>run {i} </{p}t></{p}r><{p}r><{p}t>&amp;more</{p}t></{p}r>"
            items.append(f"<{p}si>{runs}</{p}si>")
        else:
            items.append(f'<{p}si><{p}t xml:space="preserve"> text {i} &lt;x&gt; </{p}t></{p}si>')
    decl = f'xmlns{":" + prefix if prefix else ""}="{MAIN_NS}"'
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<{p}sst {decl} count="{count}" uniqueCount="{count}">{"".join(items)}</{p}sst>'
    ).encode()


def expected_string(i: int) -> str:
    if i % 7 == 3:
        return ""
    return f"run {i} &more" if i % 5 == 1 else f" text {i} <x> "


@pytest.mark.parametrize("prefix", ["", "x"])
@pytest.mark.parametrize("piece", [7, 100, 1 << 16])
def test_shared_strings_are_read_only_as_far_as_asked(
    monkeypatch: pytest.MonkeyPatch, prefix: str, piece: int
) -> None:
    monkeypatch.setattr(strings, "READ_PIECE", piece)
    xml = shared_strings_part(prefix, 400)
    read: list[int] = []

    class Stream(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            read.append(len(data))
            return data

    shared = SharedStrings(None, lambda: Stream(xml))
    assert [shared.get(i) for i in (0, 1, 3, 5, 2)] == [expected_string(i) for i in (0, 1, 3, 5, 2)]
    if piece < 1 << 16:
        assert sum(read) < len(xml) / 2  # the first strings need the start of the part only
    assert [shared.get(i) for i in range(400)] == [expected_string(i) for i in range(400)]
    assert shared.get(400) == "" and shared.get(-1) == ""
    assert sum(read) == len(xml)
    assert SharedStrings(xml).get(399) == expected_string(399)
    assert SharedStrings(None).get(0) == ""


def test_libreoffices_general_format_of_its_own_is_general() -> None:
    """LibreOffice saves General (and Text) as a custom number format: an amount written in
    a cell styled so gets the money format, as in a cell with Excel's own General."""
    from automation.writeback.styles import Styles

    styles = Styles(
        b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<numFmts count="3"><numFmt numFmtId="164" formatCode="General"/>'
        b'<numFmt numFmtId="165" formatCode="#,##0.00"/><numFmt numFmtId="166" formatCode="@"/>'
        b'</numFmts><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="164"/>'
        b'<xf numFmtId="165"/><xf numFmtId="166"/></cellXfs></styleSheet>'
    )
    assert [styles.fits(style, "money") for style in range(4)] == [False, False, True, False]
