"""One worksheet part being edited: rows, cells, and splicing changed rows back in.

Only the touched ``<row>`` elements are parsed; the rest of the part is
copied through as bytes, so a 100,000-row sheet is never built into a tree.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree

from automation.model import CellValue
from automation.writeback.records import WriteBackError
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
    """One worksheet part being edited: its bytes, row index and parsed rows."""

    xml: bytes
    root: Root
    ctx: Context
    body: tuple[int, int]  # inside <sheetData>..</sheetData>, or the empty tag
    data_empty: bool
    row_numbers: list[int] = field(default_factory=list)
    row_spans: list[Span] = field(default_factory=list)
    row_at: dict[int, int] = field(default_factory=dict)
    rows: dict[int, Any] = field(default_factory=dict)  # row number -> wrapper
    dirty: set[int] = field(default_factory=set)
    orphans: list[tuple[str, str, str, str]] = field(default_factory=list)
    cells: int = 0
    bounds: list[int] = field(default_factory=list)  # min row, min col, max row, max col
    header_row: int = 0
    col_styles: list[tuple[int, int, str]] = field(default_factory=list)  # <cols>: min, max, style
    col_formats: dict[int, str] = field(default_factory=dict)  # a table column's own format
    filter_ref: str | None = None  # the sheet's autofilter range, when it changes
    new_widths: dict[int, float] = field(default_factory=dict)  # columns created: width

    def tag(self, local: str) -> str:
        return f"{{{self.root.ns}}}{local}"


def open_sheet(xml: bytes, ctx: Context) -> SheetEdit:
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
    edit = SheetEdit(xml, root, ctx, body, empty)
    if not empty:
        found = [(m.start(), m.end(), m.group(1)) for m in row_pattern(p).finditer(xml, *body)]
        edit.row_spans = [(start, tag_end) for start, tag_end, _ in found]
        if all(r is not None for _, _, r in found):
            edit.row_numbers = [int(r) for _, _, r in found]
        else:
            previous = 0
            for _, _, r in found:
                previous = int(r) if r is not None else previous + 1
                edit.row_numbers.append(previous)
        edit.row_at = {n: i for i, n in reversed(list(enumerate(edit.row_numbers)))}
    return edit


def get_row(edit: SheetEdit, number: int, create: bool) -> Any | None:
    """The parsed <row> element for a row number (made when `create`)."""
    if number in edit.rows:
        return edit.rows[number][0]
    if number in edit.row_at:
        span = edit.row_spans[edit.row_at[number]]
        end = span_end(edit.xml, span, edit.root.prefix, b"row")
        wrapper = parse_fragment(edit.xml[span[0] : end], edit.root)
        _number_cells(wrapper[0], number)
    elif create:
        wrapper = parse_fragment(b"", edit.root)
        etree.SubElement(wrapper, edit.tag("row"), r=str(number))
    else:
        return None
    edit.rows[number] = wrapper
    return wrapper[0]


def _number_cells(row: Any, number: int) -> None:
    """Give every cell an explicit r, so cells can be found and ordered by column."""
    row.set("r", str(number))
    col = 0
    for c in row:
        if etree.QName(c).localname != "c":
            continue
        ref = c.get("r")
        col = split_ref(ref)[1] if ref else col + 1
        if not ref:
            c.set("r", f"{col_letters(col)}{number}")


def _cell(edit: SheetEdit, row: Any, number: int, col: int, create: bool) -> Any | None:
    """The <c> element of a column in a parsed row, inserted in column order."""
    found, _ = _position(row, col)
    if found is not None or not create:
        return found
    cell = etree.Element(edit.tag("c"), r=f"{col_letters(col)}{number}")
    place_cell(row, cell, col)
    return cell


def find_cell(edit: SheetEdit, number: int, col: int) -> Any | None:
    """The cell at (row, column) as it stands in this edit, or None."""
    row = get_row(edit, number, create=False)
    return None if row is None else _cell(edit, row, number, col, create=False)


def ref_column(ref: str) -> int:
    """The column of a cell reference, as split_ref gives it, without parsing the row.

    Finding a cell's place scans its row's references: with 28,000 cells
    written, parsing each reference again was most of the write-back.
    """
    if not ref or not ref[-1].isdigit():
        return split_ref(ref)[1]  # not a reference: split_ref says so
    return _letters_column(ref.rstrip("0123456789"))


@lru_cache(maxsize=1024)
def _letters_column(letters: str) -> int:
    return split_ref(letters + "1")[1]


def _position(row: Any, col: int) -> tuple[Any | None, Any | None]:
    """(the row's cell in column `col`, or None; the element a new one goes before)."""
    cell_tag = row.tag[: -len("row")] + "c"  # the row's own namespace
    for c in row:
        if c.tag != cell_tag:
            return None, c  # extLst: cells go before it
        at = ref_column(c.get("r"))
        if at == col:
            return c, None
        if at > col:
            return None, c
    return None, None


def place_cell(row: Any, cell: Any, col: int) -> None:
    """Put a <c> element into a parsed row, in column order."""
    _, before = _position(row, col)
    if before is None:
        row.append(cell)
    else:
        before.addprevious(cell)


def write_cell(edit: SheetEdit, row_number: int, col: int, value: CellValue) -> bool:
    """Put one value into a cell; False when the cell already held it."""
    new = encode_value(value, edit.ctx)
    row = get_row(edit, row_number, create=new[0] != "empty")
    cell = None if row is None else _cell(edit, row, row_number, col, create=new[0] != "empty")
    ns = edit.root.ns
    if cell is None:
        return False
    formula = cell.find(f"{{{ns}}}f")
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
    for child in list(cell):
        if etree.QName(child).localname in {"f", "v", "is"}:
            cell.remove(child)
    for attr in ("t", "cm", "vm"):  # metadata described the old value
        cell.attrib.pop(attr, None)
    if kind == "empty":
        return
    if kind == "s":
        cell.set("t", "inlineStr")
        t = etree.SubElement(etree.Element(edit.tag("is")), edit.tag("t"))
        t.text = text
        t.set(XML_SPACE, "preserve")
        cell.insert(0, t.getparent())
        return
    if kind == "b":
        cell.set("t", "b")
    if kind in {"date", "datetime", "money"}:
        _give_format(edit, cell, kind)
    v = etree.Element(edit.tag("v"))
    v.text = text
    cell.insert(0, v)


def inherit_style(edit: SheetEdit, cell: Any, row_number: int, col: int) -> None:
    """Give a new cell its column's look: the data cell above it, else the column's style."""
    style = None
    if row_number - 1 > edit.header_row:
        model = find_cell(edit, row_number - 1, col)
        style = None if model is None else model.get("s")
    if style is None:
        style = next((st for lo, hi, st in edit.col_styles if lo <= col <= hi), None)
    if style is not None and style != "0":
        cell.set("s", style)


def _give_format(edit: SheetEdit, cell: Any, kind: str) -> None:
    """Dates and amounts get a number format when their cell has none (or a wrong one)."""
    styles = edit.ctx.styles
    style = int(cell.get("s", "0"))
    if styles.fits(style, kind):
        return
    col = split_ref(cell.get("r"))[1]
    code = edit.col_formats.get(col)
    if code is not None and styles.code_fits(code, kind):
        cell.set("s", str(styles.format_style(style, code)))
    elif kind == "money":
        cell.set("s", str(styles.money_style(style)))
    else:
        cell.set("s", str(styles.date_style(style, kind)))


def widen(edit: SheetEdit, row: int, col: int) -> None:
    """Make the sheet's <dimension> cover a cell written or moved."""
    if not edit.bounds:
        edit.bounds = [row, col, row, col]
    b = edit.bounds
    edit.bounds = [min(b[0], row), min(b[1], col), max(b[2], row), max(b[3], col)]


def finish_sheet(edit: SheetEdit) -> bytes:
    """The part's bytes with the dirty rows spliced in, in row order."""
    xml = edit.xml
    p = edit.root.prefix
    inserts: list[tuple[int, int, bytes]] = []  # (start, end, replacement)
    for number in sorted(edit.dirty):
        wrapper = edit.rows[number]
        row = wrapper[0]
        if not len(row) and number not in edit.row_at:
            continue
        _fix_spans(row)
        data = serialize_fragment(wrapper)
        if number in edit.row_at:
            span = edit.row_spans[edit.row_at[number]]
            inserts.append((span[0], span_end(xml, span, p, b"row"), data))
        else:
            at = _insert_point(edit, number)
            inserts.append((at, at, data))
    view = memoryview(xml)  # slices of a view are not copies: the sheet may be 50 MB
    head = _add_col_widths(_fix_dimension(xml[: edit.body[0]], edit), edit)
    out: list[bytes | memoryview] = [head]
    if edit.data_empty:
        rows = b"".join(data for _, _, data in inserts)
        out.append(b"<" + p + b"sheetData>" + rows + b"</" + p + b"sheetData>")
        pos = edit.body[1]
    else:
        pos = edit.body[0]
        for start, end, data in inserts:  # sorted by row number, so by position
            out += [view[pos:start], data]
            pos = end
    found = _sheet_filter(edit) if edit.filter_ref is not None else None
    if found is not None and edit.filter_ref is not None:
        out += [view[pos : found[0]], edit.filter_ref.encode()]
        pos = found[1]
    out.append(view[pos:])
    return b"".join(out)


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
    i = bisect.bisect_right(edit.row_numbers, number)  # rows are sorted in a valid sheet
    return edit.row_spans[i][0] if i < len(edit.row_spans) else edit.body[1]


def _fix_spans(row: Any) -> None:
    """Widen the row's spans hint to the columns it now holds."""
    cols = [ref_column(c.get("r")) for c in row if etree.QName(c).localname == "c"]
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
    new = {
        c: w for c, w in edit.new_widths.items() if not any(a <= c <= b for a, b in taken)
    }
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
