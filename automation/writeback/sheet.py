"""One worksheet part being edited: rows, cells, and splicing changed rows back in.

Only the touched ``<row>`` elements are parsed; the rest of the part is
copied through as bytes, so a 100,000-row sheet is never built into a tree.
"""

from __future__ import annotations

import bisect
import copy
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from lxml import etree

from automation.model import CellValue
from automation.writeback.ranges import RangeGrowth, grow_ranges
from automation.writeback.records import WriteBackError
from automation.writeback.styles import (
    is_formatted,
    is_money,
    kind_currency,
    shows_own_currency,
    with_right_decimals,
)
from automation.writeback.values import Context, current_value, encode_value, same_value
from automation.writeback.xmlscan import (
    XML_SPACE,
    Root,
    Span,
    col_letters,
    parse_fragment,
    read_root,
    row_pattern,
    serialize_fragment,
    span_end,
    split_range,
    split_ref,
)


@dataclass
class SheetEdit:
    """One worksheet part being edited: its bytes, row index and parsed rows.

    Only the rows from `tail_row` on (the window the updates fall in, less
    one row for the style above) are indexed by one scan; a row above the
    window is found by a binary search over the bytes (rows are in ascending
    order in a valid part). A part whose rows do not all carry their number
    is indexed whole, as before.
    """

    xml: bytes
    root: Root
    ctx: Context
    body: tuple[int, int]  # inside <sheetData>..</sheetData>, or the empty tag
    data_empty: bool
    row_numbers: list[int] = field(default_factory=list)  # the window's rows, in order
    row_spans: list[Span] = field(default_factory=list)
    row_at: dict[int, int] = field(default_factory=dict)
    tail_row: int = 0  # rows numbered from this on are all in row_numbers
    tail_from: int = 0  # where the window starts in the bytes
    above: dict[int, Span | None] = field(default_factory=dict)  # rows found above the window
    rows: dict[int, Any] = field(default_factory=dict)  # row number -> wrapper
    cols: dict[int, dict[int, Any]] = field(default_factory=dict)  # row -> column -> <c>
    dirty: set[int] = field(default_factory=set)
    orphans: list[tuple[str, str, str, str]] = field(default_factory=list)
    cells: int = 0
    bounds: list[int] = field(default_factory=list)  # min row, min col, max row, max col
    header_row: int = 0
    col_styles: list[tuple[int, int, str]] = field(default_factory=list)  # <cols>: min, max, style
    col_formats: dict[int, str] = field(default_factory=dict)  # a table column's own format
    filter_ref: str | None = None  # the sheet's autofilter range, when it changes
    growth: RangeGrowth | None = None  # the table's rows appended, for its formats' ranges
    new_widths: dict[int, float] = field(default_factory=dict)  # columns created: width
    blank: Any = None  # an empty wrapper with the part's namespaces, copied for each new row
    # Rows edited and set aside as their final bytes, parsed again if touched: rows written
    # as bytes (`rowbytes`), and parsed rows set aside (`park_rows`), which are in `parked`.
    done: dict[int, bytes] = field(default_factory=dict)
    parked: set[int] = field(default_factory=set)
    # The styles of the cells of rows not parsed (read once from their bytes, or those of the
    # cells just written as bytes), for the new cells below them: see `rows_above`.
    row_styles: dict[int, RowStyles] = field(default_factory=dict)
    # (column, the styles above it) -> the style a new cell there takes (`style_from_above`)
    inherited: dict[tuple[int | str | None, ...], str | None] = field(default_factory=dict)
    fast_rows: bool | None = None  # whether new rows may be written as bytes (checked once)
    plain_blocks: dict[int, int] = field(default_factory=dict)  # see `rowbytes.extend_row`
    # Rows of blocks lxml writes otherwise than they are, as lxml writes them (`extend_row`).
    rewritten: dict[int, bytes] = field(default_factory=dict)
    # (style, column, kind) -> the style a date or amount written there takes (`formatted_style`)
    formatted: dict[tuple[str | None, int, str], str | None] = field(default_factory=dict)

    def tag(self, local: str) -> str:
        return _clark(self.root.ns, local)


@lru_cache(maxsize=64)
def _clark(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


#: An element given empty text ("" written as a string): the one thing that a parse of the
#: serialised row does not give back as it was.
EMPTY_TEXT = re.compile(rb"<[^/>!?][^>]*(?<!/)></")


class _Unnumbered(Exception):
    """A row without its r attribute: the part must be indexed whole."""


def open_sheet(xml: bytes, ctx: Context, first_row: int = 0) -> SheetEdit:
    """The part ready to edit; rows before `first_row` are not indexed up front."""
    root = read_root(xml)
    p = root.prefix
    m = re.search(b"<" + re.escape(p) + rb"sheetData(?=[\s/>])[^>]*>", xml)
    if not m:
        raise WriteBackError("A worksheet of the workbook is damaged (no sheet data).")
    empty = m.group(0).endswith(b"/>")
    if empty:
        body = (m.start(), m.end())
    else:
        close = xml.find(b"</" + p + b"sheetData>", m.end())
        if close < 0:
            raise WriteBackError("A worksheet of the workbook is damaged (sheet data not closed).")
        body = (m.end(), close)
    edit = SheetEdit(xml, root, ctx, body, empty, tail_from=body[0])
    if not empty:
        try:
            _index_window(edit, first_row)
        except _Unnumbered:
            _index_whole(edit)
    return edit


def _index_window(edit: SheetEdit, first_row: int) -> None:
    """Index the rows numbered `first_row` and after (one scan from where they start).

    A binary search by number needs every row to carry its number: one
    without (numbered by its place) makes the whole part be indexed.
    """
    start = None
    if first_row > 1:
        p = re.escape(edit.root.prefix)
        unnumbered = b"<" + p + rb"""row(?=[\s/>])(?![^>]*?\sr\s*=\s*["']\d+["'])"""
        if re.compile(unnumbered).search(edit.xml, *edit.body):  # 20 ms for 100,000 rows
            raise _Unnumbered
        start = _lower_bound(edit, first_row, edit.body[0], edit.body[1])
    begin = edit.body[0] if start is None else start
    numbers, spans = [], []
    previous = 0
    for m in row_pattern(edit.root.prefix).finditer(edit.xml, begin, edit.body[1]):
        if m.group(1) is None:
            raise _Unnumbered
        number = int(m.group(1))
        if number <= previous:
            raise _Unnumbered  # out of order: only a whole index can be trusted
        previous = number
        numbers.append(number)
        spans.append(m.span())
    edit.row_numbers, edit.row_spans = numbers, spans
    edit.row_at = {n: i for i, n in enumerate(numbers)}
    edit.tail_row = first_row if start is not None else 0
    edit.tail_from = begin


def _index_whole(edit: SheetEdit) -> None:
    """Index every row, numbering those without r from the row before (as Excel does)."""
    p = edit.root.prefix
    rows = row_pattern(p).finditer(edit.xml, *edit.body)
    found = [(m.start(), m.end(), m.group(1)) for m in rows]
    edit.row_spans = [(start, tag_end) for start, tag_end, _ in found]
    edit.row_numbers = []
    previous = 0
    for _, _, r in found:
        previous = int(r) if r is not None else previous + 1
        edit.row_numbers.append(previous)
    edit.row_at = {n: i for i, n in reversed(list(enumerate(edit.row_numbers)))}
    edit.tail_row, edit.tail_from = 0, edit.body[0]
    edit.above.clear()


def _lower_bound(edit: SheetEdit, number: int, lo: int, hi: int) -> int:
    """Where the first row numbered `number` or more starts in xml[lo:hi] (else `hi`).

    A binary search over byte positions: from a middle position the next row
    tag tells which half holds the answer, so a row deep in a 100 MB part is
    found after reading a few dozen tags.
    """
    pattern = row_pattern(edit.root.prefix)
    best = hi
    while lo < hi:
        mid = (lo + hi) // 2
        m = pattern.search(edit.xml, mid, edit.body[1])
        if m is None or m.start() >= hi:
            hi = mid  # no row starts in [mid, hi)
            continue
        if m.group(1) is None:
            raise _Unnumbered
        if int(m.group(1)) < number:
            lo = m.end()
        else:
            best, hi = m.start(), mid
    return best


def row_start(edit: SheetEdit, number: int) -> int:
    """Where the first row numbered `number` or more starts (the end of the data if none)."""
    if number >= edit.tail_row:
        i = bisect.bisect_left(edit.row_numbers, number)
        return edit.row_spans[i][0] if i < len(edit.row_spans) else edit.body[1]
    try:
        return _lower_bound(edit, number, edit.body[0], edit.tail_from)
    except _Unnumbered:
        _index_whole(edit)
        return row_start(edit, number)


def row_numbers_between(edit: SheetEdit, first: int, last: int) -> list[int]:
    """The numbers of the rows the part holds from `first` to `last`."""
    if first >= edit.tail_row:
        lo = bisect.bisect_left(edit.row_numbers, first)
        return edit.row_numbers[lo : bisect.bisect_right(edit.row_numbers, last)]
    begin, end = row_start(edit, first), row_start(edit, last + 1)
    if first < edit.tail_row:  # still a window (not indexed whole meanwhile)
        found = row_pattern(edit.root.prefix).finditer(edit.xml, begin, end)
        return [int(m.group(1)) for m in found]
    return row_numbers_between(edit, first, last)


def locate_row(edit: SheetEdit, number: int) -> Span | None:
    """Where a row's start tag is, or None when the part has no such row."""
    if number in edit.row_at:
        return edit.row_spans[edit.row_at[number]]
    if number >= edit.tail_row:
        return None
    if number not in edit.above:
        at = row_start(edit, number)
        if number >= edit.tail_row:  # indexed whole meanwhile
            return locate_row(edit, number)
        m = row_pattern(edit.root.prefix).match(edit.xml, at) if at < edit.tail_from else None
        here = m is not None and m.group(1) is not None and int(m.group(1)) == number
        edit.above[number] = m.span() if m is not None and here else None
    return edit.above[number]


def get_row(edit: SheetEdit, number: int, create: bool) -> Any | None:
    """The parsed <row> element for a row number (made when `create`)."""
    if number in edit.rows:
        return edit.rows[number][0]
    edit.row_styles.pop(number, None)  # parsed, its cells are looked at instead
    if number in edit.done:  # edited already and set aside: its bytes are its current state
        wrapper = parse_fragment(edit.done.pop(number), edit.root)
        edit.parked.discard(number)
        edit.cols[number] = _number_cells(wrapper[0], number)
        edit.rows[number] = wrapper
        return wrapper[0]
    span = locate_row(edit, number)
    if span is not None:
        end = span_end(edit.xml, span, edit.root.prefix, b"row")
        wrapper = parse_fragment(edit.xml[span[0] : end], edit.root)
        edit.cols[number] = _number_cells(wrapper[0], number)
    elif create:
        if edit.blank is None:
            edit.blank = parse_fragment(b"", edit.root)
        wrapper = copy.copy(edit.blank)  # 1 µs; parsing an empty wrapper again took 8
        etree.SubElement(wrapper, edit.tag("row"), r=str(number))
        edit.cols[number] = {}
    else:
        return None
    edit.rows[number] = wrapper
    return wrapper[0]


def _number_cells(row: Any, number: int) -> dict[int, Any]:
    """Give every cell an explicit r; the row's cells by column.

    Cells after something that is not a cell (an extLst) are left out, as
    new cells go before it.
    """
    row.set("r", str(number))
    cell_tag = row.tag[: -len("row")] + "c"  # the row's own namespace
    col = 0
    cells: dict[int, Any] = {}
    for c in row:
        if c.tag != cell_tag:
            if isinstance(c.tag, str):
                break
            continue  # a comment or processing instruction
        ref = c.get("r")
        col = ref_column(ref) if ref else col + 1
        if not ref:
            c.set("r", f"{col_letters(col)}{number}")
        cells.setdefault(col, c)
    return cells


def _cell(edit: SheetEdit, number: int, col: int, create: bool) -> Any | None:
    """The <c> element of a column in a parsed row, inserted in column order."""
    cells = edit.cols[number]
    found = cells.get(col)
    if found is not None or not create:
        return found
    ref = f"{_letters(col)}{number}"
    row = edit.rows[number][0]
    right = max(cells) if cells else 0
    last = cells[right] if cells else None
    if (last is None and not len(row)) or (last is not None and col > right and row[-1] is last):
        cells[col] = cell = etree.SubElement(row, edit.tag("c"), r=ref)  # the usual: at the end
        return cell
    cell = etree.Element(edit.tag("c"), r=ref)
    place_cell(edit, number, cell, col)
    return cell


def find_cell(edit: SheetEdit, number: int, col: int) -> Any | None:
    """The cell at (row, column) as it stands in this edit, or None."""
    row = get_row(edit, number, create=False)
    return None if row is None else edit.cols[number].get(col)


def ref_column(ref: str) -> int:
    """The column of a cell reference, as split_ref gives it, without parsing the row.

    Finding a cell's place scans its row's references: with 28,000 cells
    written, parsing each reference again was most of the write-back.
    """
    if not ref or not ref[-1].isdigit():
        return split_ref(ref)[1]  # not a reference: split_ref says so
    return _letters_column(ref.rstrip("0123456789"))


@lru_cache(maxsize=1024)
def _letters(col: int) -> str:
    return col_letters(col)


@lru_cache(maxsize=1024)
def _letters_column(letters: str) -> int:
    return split_ref(letters + "1")[1]


def place_cell(edit: SheetEdit, number: int, cell: Any, col: int) -> None:
    """Put a <c> element into a parsed row, in column order (replacing one there)."""
    row = edit.rows[number][0]
    cells = edit.cols[number]
    after = [c for c in cells if c > col]
    if col in cells:
        cells[col].addprevious(cell)
        row.remove(cells[col])
    elif after:
        cells[min(after)].addprevious(cell)
    elif cells:
        cells[max(cells)].addnext(cell)  # before an extLst, if the row has one
    else:
        row.insert(0, cell)
    cells[col] = cell


def remove_cell(edit: SheetEdit, number: int, cell: Any, col: int) -> None:
    """Take a cell (in column `col`) out of a parsed row."""
    if edit.cols[number].get(col) is cell:
        del edit.cols[number][col]
    cell.getparent().remove(cell)


def write_cell(edit: SheetEdit, row_number: int, col: int, value: CellValue) -> bool:
    """Put one value into a cell; False when the cell already held it."""
    new = encode_value(value, edit.ctx)
    row = get_row(edit, row_number, create=new[0] != "empty")
    cell = None if row is None else _cell(edit, row_number, col, create=new[0] != "empty")
    ns = edit.root.ns
    if cell is None:
        return False
    formula = cell.find(f"{{{ns}}}f") if len(cell) else None
    if same_value(new, current_value(cell, ns, edit.ctx), edit.ctx) and (
        formula is None or new[0] != "empty"
    ):
        return False
    if formula is not None:
        edit.ctx.formulas_removed = True
        if formula.get("t") == "shared" and formula.get("ref"):
            edit.orphans.append(
                (formula.get("si", ""), formula.get("ref"), formula.text or "", cell.get("r"))
            )
    if cell.get("t") == "s":
        edit.ctx.shared_strings_dropped += 1
    if cell.get("s") is None and new[0] != "empty":
        inherit_style(edit, cell, row_number, col)
    _store(edit, cell, new)
    edit.dirty.add(row_number)
    if new[0] != "empty":
        widen(edit, row_number, col)
    return True


def _store(edit: SheetEdit, cell: Any, new: tuple[str, str | None]) -> None:
    """Replace a cell's content, keeping its style (and giving dates a date style)."""
    kind, text = new
    if len(cell):
        for child in list(cell):
            if etree.QName(child).localname in {"f", "v", "is"}:
                cell.remove(child)
    attrib = cell.attrib
    for attr in ("t", "cm", "vm"):  # metadata described the old value
        if attr in attrib:
            del attrib[attr]
    if kind == "empty":
        return
    # Made inside the cell (a free element would be a document of its own), then
    # moved first, before an extLst the cell may have.
    if kind == "s":
        cell.set("t", "inlineStr")
        inline = etree.SubElement(cell, edit.tag("is"))
        t = etree.SubElement(inline, edit.tag("t"))
        t.text = text
        t.set(XML_SPACE, "preserve")
        if len(cell) > 1:
            cell.insert(0, inline)
        return
    if kind == "b":
        cell.set("t", "b")
    if is_formatted(kind):
        _give_format(edit, cell, kind)
    v = etree.SubElement(cell, edit.tag("v"))
    v.text = text
    if len(cell) > 1:
        cell.insert(0, v)


def inherit_style(edit: SheetEdit, cell: Any, row_number: int, col: int) -> None:
    """Give a new cell its column's look (see `inherited_style`)."""
    style = inherited_style(edit, row_number, col)
    if style is not None:
        cell.set("s", style)


#: A new cell takes a style that at least INHERIT_MIN of the INHERIT_ROWS data rows above it
#: have in its column: Excel's rule for extending a list's formats to a row typed below it.
INHERIT_ROWS = 5
INHERIT_MIN = 3


def inherited_style(edit: SheetEdit, row_number: int, col: int) -> str | None:
    """The style a new cell takes (None for none): see `style_from_above`."""
    return style_from_above(edit, col, rows_above(edit, row_number))


class StyleLookup(Protocol):
    """A row's cell styles by column: row[col] (None for no cell, or one without a style)."""

    def __getitem__(self, col: int, /) -> str | None: ...


def style_from_above(edit: SheetEdit, col: int, above: Sequence[StyleLookup]) -> str | None:
    """The style a new cell in column `col` takes, below the rows `above` (`rows_above`).

    The style at least INHERIT_MIN of them have in the column, else the
    column's own (<cols>) with the number format (a date's, an amount's) of
    the nearest of them that has one: a colour, font, border or link look
    put on one or two rows is theirs, not the column's, and is not carried
    to the rows the tool adds.
    """
    a, b, c, d, e = above  # 25,000 cells written: one flat key each, no loop
    key = (col, a[col], b[col], c[col], d[col], e[col])
    found = edit.inherited.get(key, _UNKNOWN)
    if found is _UNKNOWN:
        found = edit.inherited[key] = _inherit(edit, col, key[1:])
    return found


_UNKNOWN = "?"  # no style index


def _inherit(edit: SheetEdit, col: int, seen: tuple[str | None, ...]) -> str | None:
    found = [s for s in seen if s and s != "0" and s.isdigit()]
    common = max(found, key=found.count, default=None)
    if common is not None and found.count(common) >= INHERIT_MIN:
        return common
    base = column_style(edit, col)
    styles = edit.ctx.styles
    code = next((c for s in found if (c := styles.code_of(int(s)))), "")
    if not code or code == styles.code_of(int(base or 0)):
        return base
    style = str(styles.format_style(int(base or 0), code))
    return None if style == "0" else style


def column_style(edit: SheetEdit, col: int) -> str | None:
    """The style <cols> gives a column (None for none, or the default "0")."""
    if not edit.col_styles:
        return None
    style = next((st for lo, hi, st in edit.col_styles if lo <= col <= hi), None)
    return None if style == "0" else style


def rows_above(edit: SheetEdit, number: int) -> list[StyleLookup]:
    """The cell styles of the INHERIT_ROWS rows above row `number`, nearest first (a header
    row, or one above it, as a row of no cells).

    A parsed row's are read off its cells; another's from its bytes, once
    (`row_styles`), so that the rows below it do not search them again.
    """
    numbers = range(number - 1, number - 1 - INHERIT_ROWS, -1)
    known = edit.row_styles  # never a parsed row's (`get_row` drops it)
    kept = [known.get(n) for n in numbers]
    if None not in kept and numbers[-1] > edit.header_row:  # the rows just written, say
        return kept  # type: ignore[return-value]
    found: list[StyleLookup] = []
    parsed = edit.rows
    for n in numbers:
        if n <= edit.header_row:
            found.append(_NO_CELLS)
        elif n in parsed:
            found.append(_ParsedStyles(edit.cols[n]))
        else:
            styles = known.get(n)
            if styles is None:
                styles = note_row_styles(edit, n, read_row_styles(edit, n))
            found.append(styles)
    return found


class RowStyles(dict[int, str | None]):
    """The styles of a row's cells by column, as they stand: row[col] is None for a column
    without a cell (or a cell without a style)."""

    __slots__ = ()

    def __missing__(self, col: int) -> str | None:
        return None


_NO_CELLS = RowStyles()


class _GivenCells(RowStyles):
    """A row just given cells as bytes, known by them: its other cells' styles are read
    from its bytes when one of them is asked for."""

    __slots__ = ("edit", "number")
    edit: SheetEdit | None  # None once read
    number: int

    def __missing__(self, col: int) -> str | None:
        if self.edit is None:
            return None
        self.update(read_row_styles(self.edit, self.number))
        self.edit = None
        return self.get(col)


#: Rows whose styles are kept (`row_styles`): the ones above the rows being written.
KEEP_ROW_STYLES = 64


def note_row_styles(
    edit: SheetEdit, number: int, styles: dict[int, str | None], given: bool = False
) -> RowStyles:
    """Keep the styles of a row's cells: all of them, or (`given`) those of the cells just
    given it as bytes, its others being read from its bytes when needed."""
    known = edit.row_styles
    before = known.pop(number, None)
    entry: RowStyles
    if not given:
        entry = RowStyles(styles)
    elif before is not None and not isinstance(before, _GivenCells):  # the others read already
        entry = RowStyles({**before, **styles})
    else:
        entry = _GivenCells(styles)
        entry.edit, entry.number = edit, number
    known[number] = entry
    if len(known) > KEEP_ROW_STYLES:
        del known[next(iter(known))]  # the one kept longest
    return entry


class _ParsedStyles:
    """The cell styles of a parsed row, as they stand."""

    __slots__ = ("cells",)

    def __init__(self, cells: dict[int, Any]) -> None:
        self.cells = cells

    def __getitem__(self, col: int, /) -> str | None:
        cell = self.cells.get(col)
        return None if cell is None else cell.get("s")


def read_row_styles(edit: SheetEdit, number: int) -> dict[int, str | None]:
    """The styles of the cells of a row not parsed, from its bytes (edited, else the part's)."""
    data = edit.done.get(number)
    if data is None:
        span = locate_row(edit, number)
        if span is None:
            return {}
        data = edit.xml[span[0] : span_end(edit.xml, span, edit.root.prefix, b"row")]
    p = edit.root.prefix
    found = _cell_starts(p).findall(data)
    if len(found) != len(_any_cell(p).findall(data)):  # a cell without r, or quoted otherwise
        wrapper = parse_fragment(data, edit.root)
        return {col: c.get("s") for col, c in _number_cells(wrapper[0], number).items()}
    styles: dict[int, str | None] = {}
    for letters, rest in found:
        col = _letters_column(letters.decode())
        if col not in styles:  # the first cell of a column is its cell, as `_number_cells` has it
            styles[col] = _style_attr(rest)
    return styles


def _style_attr(rest: bytes) -> str | None:
    """The s attribute in the rest of a cell's start tag, after its reference."""
    if not rest:
        return None
    if rest.startswith(b' s="'):
        value = rest[4 : rest.index(b'"', 4)]
    else:
        m = _S_ATTR.search(rest)
        if m is None:
            return None
        value = m.group(2)
    text = value.decode()
    return html.unescape(text) if "&" in text else text


_S_ATTR = re.compile(rb"""\ss\s*=\s*(["'])(.*?)\1""", re.S)


@lru_cache(maxsize=8)
def _cell_starts(prefix: bytes) -> re.Pattern[bytes]:
    """A cell's start tag whose first attribute is its reference: its letters, the rest."""
    return re.compile(b"<" + re.escape(prefix) + rb'c\s+r="([A-Z]{1,3})\d+"([^>]*)>')


@lru_cache(maxsize=8)
def _any_cell(prefix: bytes) -> re.Pattern[bytes]:
    return re.compile(b"<" + re.escape(prefix) + rb"c[\s/>]")


def _give_format(edit: SheetEdit, cell: Any, kind: str) -> None:
    """Dates and amounts get a number format when their cell has none (or a wrong one)."""
    style = formatted_style(edit, cell.get("s"), split_ref(cell.get("r"))[1], kind)
    if style is not None:
        cell.set("s", style)


def formatted_style(edit: SheetEdit, style: str | None, col: int, kind: str) -> str | None:
    """The style a date or an amount needs in a cell styled `style`, or None to keep it."""
    styles = edit.ctx.styles
    number = int("0" if style is None else style)
    code = edit.col_formats.get(col)
    if kind_currency(kind):
        own = code
        if own is None and (column := column_style(edit, col)) is not None:
            own = styles.code_of(int(column))
        fixed = with_right_decimals(own, kind) if own else ""
        if fixed and shows_own_currency(fixed, kind) and styles.code_fits(fixed, kind):
            # The column's own format names this amount's currency: it has it, whatever
            # the row above (another currency's) had.
            return str(styles.format_style(number, fixed))
    if styles.fits(number, kind):
        return None
    if is_money(kind):
        # The column's format, else the cell's (the row above's: another currency's, say),
        # with the decimals of this amount's currency and their look otherwise.
        for candidate in (code, styles.code_of(number)):
            if candidate and styles.code_fits(fixed := with_right_decimals(candidate, kind), kind):
                return str(styles.format_style(number, fixed))
        return str(styles.money_style(number, kind))
    if code is not None and styles.code_fits(code, kind):
        return str(styles.format_style(number, code))
    return str(styles.date_style(number, kind))


def widen(edit: SheetEdit, row: int, col: int) -> None:
    """Make the sheet's <dimension> cover a cell written or moved."""
    b = edit.bounds
    if not b:
        edit.bounds = [row, col, row, col]
        return
    if row < b[0]:
        b[0] = row
    elif row > b[2]:
        b[2] = row
    if col < b[1]:
        b[1] = col
    elif col > b[3]:
        b[3] = col


def park_rows(edit: SheetEdit, below: int) -> None:
    """Set aside the parsed rows numbered below `below`, so that few are held at a time.

    An edited row is kept as its final bytes (parsed again should anything
    touch it later); an untouched one is dropped (it is still in the part).
    25,000 parsed rows held to the end took 300 MB.
    """
    for number in [n for n in edit.rows if n < below]:
        wrapper = edit.rows[number]
        if number in edit.dirty:
            row = wrapper[0]
            if not len(row) and locate_row(edit, number) is None:
                continue  # an empty new row is left out at the end: it stays as it is
            _fix_spans(row, edit.cols[number])
            data = serialize_fragment(wrapper)
            if EMPTY_TEXT.search(data):
                continue  # parsed again, <t></t> would come back as <t/>: kept as it is
            edit.done[number] = data
            edit.parked.add(number)
        del edit.rows[number], edit.cols[number]


def unpark_rows(edit: SheetEdit) -> None:
    """Parse again every row set aside, for a look at all the rows edited so far."""
    for number in list(edit.done):
        get_row(edit, number, create=False)


def finish_sheet(edit: SheetEdit) -> list[bytes | memoryview]:
    """The part's bytes with the dirty rows spliced in, in row order, as pieces.

    The untouched stretches are views of the original bytes: a 500 MB sheet
    is not copied again to be joined, its pieces are compressed as they are.
    Rows edited one after the other are joined into pieces of about 1 MB: a
    piece (and a view) per row was 18 MB for 25,000 rows.
    """
    xml = edit.xml
    p = edit.root.prefix
    view = memoryview(xml)  # slices of a view are not copies: the sheet may be 50 MB
    head = _add_col_widths(_fix_dimension(xml[: edit.body[0]], edit), edit)
    out: list[bytes | memoryview] = [head]
    run: list[bytes] = []  # edited rows with nothing between them, not joined yet
    size = 0
    if edit.data_empty:
        out.append(b"<" + p + b"sheetData>")
        pos = edit.body[1]
    else:
        pos = edit.body[0]
    for start, end, data in _row_edits(edit):  # sorted by row number, so by position
        if start != pos and not edit.data_empty:
            if run:
                out.append(b"".join(run))
                run, size = [], 0
            out.append(view[pos:start])
        run.append(data)
        size += len(data)
        if size >= JOIN_ROWS:
            out.append(b"".join(run))
            run, size = [], 0
        if not edit.data_empty:
            pos = end
    if run:
        out.append(b"".join(run))
    if edit.data_empty:
        out.append(b"</" + p + b"sheetData>")
    found = _sheet_filter(edit) if edit.filter_ref is not None else None
    if found is not None and edit.filter_ref is not None:
        out += [view[pos : found[0]], edit.filter_ref.encode()]
        pos = found[1]
    if edit.growth is not None:  # what follows the sheet data is short: formats, validations
        after = max(pos, edit.body[1])
        out += [view[pos:after], grow_ranges(bytes(view[after:]), edit.growth)]
    else:
        out.append(view[pos:])
    return out


#: Edited rows next to each other are joined into pieces of about this size.
JOIN_ROWS = 1 << 20


def _row_edits(edit: SheetEdit) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, new bytes) of each edited row in the part, in row order."""
    xml, p = edit.xml, edit.root.prefix
    for number in sorted(edit.dirty):
        span = locate_row(edit, number)
        data = edit.done.pop(number, None)
        if data is None:
            wrapper = edit.rows[number]
            row = wrapper[0]
            if not len(row) and span is None:
                continue
            _fix_spans(row, edit.cols[number])
            data = serialize_fragment(wrapper)
        if span is not None:
            yield span[0], span_end(xml, span, p, b"row"), data
        else:
            at = _insert_point(edit, number)
            yield at, at, data


def _sheet_filter(edit: SheetEdit) -> tuple[int, int] | None:
    """Where the sheet's own <autoFilter ref> value is (after the sheet data)."""
    p = re.escape(edit.root.prefix)
    pattern = re.compile(b"<" + p + rb"autoFilter\s[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
    m = pattern.search(edit.xml, edit.body[1])
    return m.span(1) if m else None


def sheet_filter(edit: SheetEdit) -> tuple[int, int, int, int] | None:
    """The sheet's autofilter range (not a table's), or None."""
    found = _sheet_filter(edit)
    if found is None:
        return None
    try:
        return split_range(edit.xml[found[0] : found[1]].decode())
    except ValueError:
        return None


def read_col_styles(edit: SheetEdit) -> list[tuple[int, int, str]]:
    """(first column, last column, style) of the <cols> entries that give a style."""
    head = edit.xml[: edit.body[0]]
    p = re.escape(edit.root.prefix)
    m = re.search(b"<" + p + rb"cols[\s>].*?</" + p + rb"cols>", head, re.S)
    if not m:
        return []
    styles = []
    for col in parse_fragment(m.group(0), edit.root)[0]:
        style, first, last = col.get("style"), col.get("min", ""), col.get("max", "")
        if style and style != "0" and first.isdigit() and last.isdigit():
            styles.append((int(first), int(last), style))
    return styles


def _insert_point(edit: SheetEdit, number: int) -> int:
    """Where a new row goes: before the first existing row after it."""
    return row_start(edit, number + 1)  # rows are sorted in a valid sheet


def _fix_spans(row: Any, cells: dict[int, Any]) -> None:
    """Widen the row's spans hint to the columns it now holds."""
    cols = list(cells)
    old = row.get("spans")
    if old is None or not cols:
        return
    try:
        numbers = [int(n) for part in old.split() for n in part.split(":")]
    except ValueError:
        row.attrib.pop("spans")
        return
    row.set("spans", f"{min(numbers + cols)}:{max(numbers + cols)}")


def _add_col_widths(head: bytes, edit: SheetEdit) -> bytes:
    """Give the columns the tool created a width (a <col> each), leaving every other alone.

    A column some <col> range already covers keeps what the bookkeeper set.
    The <cols> element goes right before <sheetData>, where the schema wants it.
    """
    if not edit.new_widths:
        return head
    p = edit.root.prefix
    m = re.search(b"<" + re.escape(p) + rb"cols[\s>].*?</" + re.escape(p) + rb"cols>", head, re.S)
    # Parsed inside a wrapper with the part's namespaces, so new elements inherit them.
    wrapper = parse_fragment(m.group(0) if m else b"", edit.root)
    cols = wrapper[0] if m else etree.SubElement(wrapper, edit.tag("cols"))
    taken: list[tuple[int, int]] = []
    for col in cols:
        first, last = col.get("min", ""), col.get("max", "")
        if first.isdigit() and last.isdigit():
            taken.append((int(first), int(last)))
    new = {c: w for c, w in edit.new_widths.items() if not any(a <= c <= b for a, b in taken)}
    if not new:
        return head
    for c, width in new.items():
        element = etree.SubElement(cols, edit.tag("col"))
        for name, value in (("min", c), ("max", c), ("width", width), ("customWidth", 1)):
            element.set(name, str(value))
    cols[:] = sorted(cols, key=lambda e: int(e.get("min", "0") or 0))
    data = serialize_fragment(wrapper)
    if m:
        return head[: m.start()] + data + head[m.end() :]
    at = re.search(b"<" + re.escape(p) + rb"sheetData(?=[\s/>])", head)
    where = at.start() if at else len(head)
    return head[:where] + data + head[where:]


def _fix_dimension(xml: bytes, edit: SheetEdit) -> bytes:
    """Make <dimension ref> cover the cells written."""
    if not edit.bounds:
        return xml
    p = re.escape(edit.root.prefix)
    m = re.search(b"<" + p + rb"dimension\s+ref\s*=\s*[\"']([^\"']*)[\"']", xml)
    if not m:
        return xml
    r1, c1, r2, c2 = edit.bounds
    try:
        o1, oc1, o2, oc2 = split_range(m.group(1).decode())
        if (o1, oc1, o2, oc2) != (1, 1, 1, 1):  # "A1" is what an empty sheet says
            r1, c1, r2, c2 = min(r1, o1), min(c1, oc1), max(r2, o2), max(c2, oc2)
    except ValueError:
        pass
    ref = f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}".encode()
    return xml[: m.start(1)] + ref + xml[m.end(1) :]
