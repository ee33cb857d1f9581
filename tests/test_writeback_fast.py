"""The write-back's shortcuts give what the long way gives.

Rows in the form lxml writes are recognised by a pattern instead of a
parse; a sheet's updates are kept as a list unless a cell is written twice;
a date's serial number and a cell's bytes around its text are worked out
once. Each shortcut is checked against the way it replaces.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from test_writeback_rowbytes import ROWS as PART_ROWS
from test_writeback_rowbytes import edited, sheet

from automation.model import CellUpdate, CellValue
from automation.writeback import SheetUpdates, _group, _sheets_of, apply_updates, rowbytes
from automation.writeback.rowbytes import canonical_rows
from automation.writeback.sheet import open_sheet
from automation.writeback.strings import SharedStrings
from automation.writeback.styles import Styles
from automation.writeback.values import Context, _number_text, _serial, encode_value
from automation.writeback.xmlscan import MAIN_NS, REL_NS, row_pattern, span_end

# -- rows recognised by a pattern are rows a parse accepts ------------------


def part(rows: bytes, p: bytes = b"") -> bytes:
    """A worksheet holding `rows`, its namespace under the prefix `p` ("x:"), or none."""
    decl = b"xmlns" + (b":" + p[:-1] if p else b"") + b'="' + MAIN_NS.encode() + b'"'
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<' + p + b"worksheet "
        + decl + b' xmlns:r="' + REL_NS.encode() + b'"><' + p + b"sheetData>" + rows
        + b"</" + p + b"sheetData></" + p + b"worksheet>"
    )  # fmt: skip


def round_trips(rows: bytes, prefix: bytes = b"") -> bool:
    """The parse `_plain_block` falls back on, on these rows alone: lxml gives them back."""
    edit = open_sheet(part(rows, prefix), Context(SharedStrings(None), Styles(None), False))
    count = len(row_pattern(prefix).findall(rows))
    return rowbytes._parsed_form(edit, rows, 0, count - 1) == rowbytes.AS_IS


PLAIN_ROWS = (
    '<row r="2" spans="1:4"><c r="A2" s="1"><v>46000</v></c><c r="B2" t="s"><v>3</v></c>'
    '<c r="C2" s="2"><f>A2*2</f><v>92000</v></c><c r="D2" t="inlineStr"><is>'
    '<t xml:space="preserve">x y</t></is></c><c r="E2"/></row><row r="3" ht="20" customHeight="1"/>'
    '<row r="4"><c r="A4" s="1" t="s"><v>1</v></c><c r="B4"><f t="shared" ref="B4:B9" si="0">'
    "A4+1</f><v>2</v></c></row>"
)


def mostly(plain: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """Plain pieces seven times in eight: the rows made are often in lxml's form."""
    return st.sampled_from(plain * 7 + odd)


def attributes(plain: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """Attributes in schema order, once each, now and then one out of the ordinary."""
    ordered = st.lists(st.sampled_from(range(len(plain))), unique=True, max_size=3).map(
        lambda picked: "".join(plain[i] for i in sorted(picked))
    )
    return st.tuples(ordered, mostly([""], odd)).map("".join)


ROW_ATTRS = attributes(
    [' spans="1:4"', ' s="2"', ' customFormat="1"', ' ht="20"', ' hidden="1"', ' customHeight="1"'],
    [' spans="a&amp;b"', " ht='9'", ' x14ac:dyDescent="0.25"', ' spans="1:2"', ' r="3"'],
)
CELL_ATTRS = attributes(
    [' s="1"', ' t="s"', ' cm="1"'], [' s="x\ty"', ' s=">"', ' s=""', ' t="b"', ' s="2"']
)
PLAIN_CONTENT = [
    "", "<v>1</v>", "<v>46000.5</v>", "<v> </v>", "<v>x\ty\nz</v>", "<f>A2*B2</f><v>2</v>",
    '<f t="shared" ref="F2:F9" si="0">A2</f>', '<f t="shared" si="0"/><v>3</v>', "<v>\"'</v>",
    "<is><t>text</t></is>", '<is><t xml:space="preserve"> a </t></is>', "<is><t/></is>", "<v/>",
]  # fmt: skip
CONTENT = mostly(
    PLAIN_CONTENT,
    ["<v></v>", "<v>a&amp;b</v>", "<v>a>b</v>", "<v>x\ry</v>", "<v>\x01</v>", "<f></f>",
     "<is><t></t></is>", "<is><r><t>rich</t></r></is>", "<extLst/>", "<!-- x -->", "\n",
     "<v>caf\u00e9</v>", "<![CDATA[x]]>", "<v>]]></v>", "<v>1</v><f>A1</f>", "<v>1</v><v>2</v>"],
)  # fmt: skip
CELLS = st.tuples(
    mostly(['<c r="A2"', '<c r="BC10"'], ["<c r='A2'", "<c", '<c r="a1"', '<c  r="A2"']),
    CELL_ATTRS,
    CONTENT,
    mostly([""], [" "]),
)
ROWS = st.lists(
    st.tuples(
        mostly(['<row r="2"', '<row r="17"'], ["<row", "<row r='3'", '<row r="08"']),
        ROW_ATTRS,
        st.lists(CELLS, max_size=3),
        mostly([""], ["\n", "<!-- x -->"]),
    ),
    min_size=1,
    max_size=4,
)


def row_text(row: tuple[str, str, list[tuple[str, str, str, str]], str]) -> str:
    start, attrs, cells, after = row
    head = start + attrs
    if not cells:
        return head + "/>" + after
    inner = "".join(
        tag + a + space + ("/>" if not content else f">{content}</c>")
        for tag, a, content, space in cells
    )
    return f"{head}>{inner}</row>{after}"


@settings(max_examples=600, deadline=None)
@example(rows=None, pieces=PLAIN_ROWS, prefix=b"")
@example(rows=None, pieces=PLAIN_ROWS.replace("<", "<x:").replace("<x:/", "</x:"), prefix=b"x:")
@given(rows=ROWS, pieces=st.just(""), prefix=st.sampled_from([b"", b"x:"]))
def test_rows_the_pattern_accepts_are_rows_a_parse_gives_back(
    rows: list[tuple[str, str, list[tuple[str, str, str, str]], str]] | None,
    pieces: str,
    prefix: bytes,
) -> None:
    data = (pieces or "".join(row_text(row) for row in rows or [])).encode()
    if prefix and not pieces:
        data = data.replace(b"<", b"<x:").replace(b"<x:/", b"</x:").replace(b"<x:!", b"<!")
    accepted = canonical_rows(data, prefix)
    event(f"accepted: {accepted}")
    if accepted:
        assert round_trips(data, prefix)


@pytest.mark.parametrize("prefix", [b"", b"x:"])
def test_rows_of_every_plain_cell_are_accepted(prefix: bytes) -> None:
    """Each plain content in each plain cell form: the pattern is not too strict."""
    cells = [
        f'<c r="B7"{attrs}>{content}</c>' if content else f'<c r="B7"{attrs}/>'
        for content in PLAIN_CONTENT
        for attrs in ("", ' s="1"', ' s="1" t="s"', ' t="inlineStr"', ' s="3" t="b" cm="1"')
    ]
    rows = "".join(f'<row r="{7 + i}" spans="2:2">{cell}</row>' for i, cell in enumerate(cells))
    data = rows.encode()
    if prefix:
        data = data.replace(b"<", b"<x:").replace(b"<x:/", b"</x:")
    assert canonical_rows(data, prefix) and round_trips(data, prefix)


def test_plain_rows_are_recognised_and_odd_ones_are_not() -> None:
    assert canonical_rows(PLAIN_ROWS.encode(), b"") and round_trips(PLAIN_ROWS.encode())
    for odd in ('<row r="2"><c r="A2"><v></v></c></row>', '<row r="2" ht="1" spans="1:1"/>',
                '<row r="2"><c r="A2"><v>a&gt;b</v></c></row>', '<row r="2"></row>',
                '<row r="2"><c r="A2" t="s" s="1"><v>1</v></c></row>',
                '<row r="2"><c r="A2"><v>caf\u00e9</v></c></row>'):  # fmt: skip
        assert not canonical_rows(odd.encode(), b"")


def test_xlsxwriter_rows_take_the_pattern(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    day, money = wb.add_format({"num_format": "yyyy-mm-dd"}), wb.add_format({"num_format": "0.00"})
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Quantity", "Amount", "Note"])
    for r in range(1, 300):
        ws.write_datetime(r, 0, datetime(2026, 1, r % 28 + 1), day)
        ws.write_string(r, 1, f"Client {r % 7} & Sons <x>")
        ws.write_number(r, 2, r % 4 + 0.5)
        ws.write_formula(r, 3, f"=C{r + 1}*10", money, (r % 4 + 0.5) * 10)
        if r % 3:
            ws.write_string(r, 4, "note")
    wb.close()
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml")
    spans = [m.span() for m in row_pattern(b"").finditer(xml)]
    rows = xml[spans[0][0] : span_end(xml, spans[-1], b"", b"row")]
    assert canonical_rows(rows, b"") and round_trips(rows)


# -- a sheet's updates: a list of them, or a dict when a cell is written twice


def grouped(updates: list[CellUpdate]) -> list[tuple[tuple[int, str], CellValue]]:
    sheets, index = _sheets_of(updates, ["Services", "Invoices"])
    return [item for which in range(len(sheets)) for item in _group(updates, index, which).items()]


def test_cells_written_once_are_kept_as_a_list_in_their_order() -> None:
    updates = [
        CellUpdate("Services", 5, "Status", "Invoiced"),
        CellUpdate("Invoices", 2, "Total", Decimal("10")),
        CellUpdate("Services", 3, "Invoice No", "INV-1"),
        CellUpdate("Services", 3, "Status", "Invoiced"),
    ]
    sheets, index = _sheets_of(updates, ["Services", "Invoices"])
    services = _group(updates, index, 0)
    assert isinstance(services, SheetUpdates) and sheets == ["Services", "Invoices"]
    assert list(services) == [(5, "Status"), (3, "Invoice No"), (3, "Status")]
    assert grouped(updates) == [
        ((5, "Status"), "Invoiced"), ((3, "Invoice No"), "INV-1"), ((3, "Status"), "Invoiced"),
        ((2, "Total"), Decimal("10")),
    ]  # fmt: skip


def test_a_cell_written_twice_keeps_its_first_spelling_and_last_value_in_last_place() -> None:
    updates = [
        CellUpdate("Services", 3, "Invoice No", "INV-1"),
        CellUpdate("Services", 4, "Status", "Invoiced"),
        CellUpdate("Services", 3, " invoice  no", "INV-2"),  # the same cell, spelt otherwise
    ]
    sheets, index = _sheets_of(updates, ["Services"])
    assert isinstance(_group(updates, index, 0), dict)
    assert grouped(updates) == [((4, "Status"), "Invoiced"), ((3, "Invoice No"), "INV-2")]


def test_a_cell_written_twice_in_a_workbook_holds_the_last_value(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Services").write_row(0, 0, ["Client", "Invoice No", "Status"])
    wb.close()
    updates = [
        CellUpdate("Services", 2, "Invoice No", "INV-1"),
        CellUpdate("Services", 2, "Status", "Invoiced"),
        CellUpdate("Services", 2, "INVOICE NO", "INV-2"),
    ]
    assert apply_updates(path, updates, header_rows={"Services": 1}).cells == 2
    ws = openpyxl.load_workbook(path)["Services"]
    assert [c.value for c in ws[2]] == [None, "INV-2", "Invoiced"]


# -- values worked out once ---------------------------------------------------


@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)), d1904=st.booleans())
def test_a_date_is_stored_as_its_serial_number(day: date, d1904: bool) -> None:
    ctx = Context(SharedStrings(None), Styles(None), d1904)
    try:
        expected = ("date", _number_text(_serial(day, d1904)))
    except Exception as exc:  # too early for Excel: refused the same way, every time
        for _ in range(2):
            with pytest.raises(type(exc)):
                encode_value(day, ctx)
        return
    assert encode_value(day, ctx) == expected
    assert encode_value(day, ctx) == expected  # and again, from what was kept
    assert encode_value(datetime(day.year, day.month, day.day), ctx)[0] == "datetime"


# -- a row's spans hint, read once per distinct hint ---------------------------


@pytest.mark.parametrize("hint", ["1:2 4:5", "", "3:3", "x:1"])
def test_a_rows_spans_hint_grows_as_the_element_path_grows_it(hint: str) -> None:
    rows = PART_ROWS.replace('<row r="3" spans="2:2">', f'<row r="3" spans="{hint}">')
    cells: dict[tuple[int, int], CellValue] = {(3, 7): "G3", (3, 9): Decimal("1.5"), (4, 2): 1}
    fast = edited(sheet(rows=rows), cells, fast=True)
    assert fast == edited(sheet(rows=rows), cells, fast=False)
    if hint == "1:2 4:5":
        assert b'<row r="3" spans="1:9">' in fast[0]
