"""New rows written straight as bytes, exactly as the parsed-row path would write them.

A run appends thousands of rows (the Invoices sheet's new invoices); building
each as lxml elements and serialising them was half the write-back's time.
A row that is not in the part yet is written here as the very bytes the
element path (`sheet.write_cell`) gives: the same cells in column order, the
same styles (the column's look from the rows above, a date or amount format),
the same inline strings and escaping. Whether the two agree is checked once
per sheet on a sample (a part declaring its namespace under two prefixes, say,
falls back to the element path), and a row written here that anything touches
later is parsed again from its bytes (`sheet.get_row`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from functools import lru_cache

from lxml import etree

from automation.model import CellValue
from automation.writeback.sheet import (
    SheetEdit,
    formatted_style,
    locate_row,
    note_row_styles,
    park_rows,
    rows_above,
    style_from_above,
    widen,
    write_cell,
)
from automation.writeback.styles import is_formatted
from automation.writeback.values import encode_value
from automation.writeback.xmlscan import (
    XML_SPACE,
    col_index,
    col_letters,
    parse_fragment,
    row_pattern,
    serialize_fragment,
    span_end,
)

#: How many parsed rows an edit holds before the ones behind it are set aside.
PARK_AT = 256
_TEXT_SPECIAL = re.compile("[&<>\r]")
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_SPECIAL = re.compile('[&<>"\n\r\t]')
_ATTR_ESCAPES = {**_TEXT_ESCAPES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}
#: Cell = (column, style or None, kind as `encode_value` gives it, stored text).
Cell = tuple[int, str | None, str, str]


def escape_text(text: str) -> str:
    """Element text as libxml2 writes it (UTF-8 output: only these four are escaped)."""
    if _TEXT_SPECIAL.search(text) is None:
        return text
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group(0)], text)


def escape_attr(value: str) -> str:
    """An attribute value as libxml2 writes it between double quotes."""
    if _ATTR_SPECIAL.search(value) is None:
        return value
    return _ATTR_SPECIAL.sub(lambda m: _ATTR_ESCAPES[m.group(0)], value)


@lru_cache(maxsize=1024)
def column_of(name: bytes) -> int:
    """The column of a reference's letters (b"AB" -> 28)."""
    return col_index(name.decode())


def render_cells(prefix: str, number: int, cells: Sequence[Cell]) -> bytes:
    """`cells` (in column order) as the element path serialises them."""
    n = str(number)
    out: list[str] = []
    for col, style, kind, text in cells:
        start, middle, end = _cell_template(prefix, col, style, kind)
        out += (start, n, middle, escape_text(text), end)
    return "".join(out).encode()


@lru_cache(maxsize=4096)
def _cell_template(prefix: str, col: int, style: str | None, kind: str) -> tuple[str, str, str]:
    """A cell's bytes around its row number and its text: 25,000 rows have a few kinds of cell.

    The start tag's attributes come as the element path sets them (r, then s, then t).
    """
    p = prefix
    start = f'<{p}c r="{col_letters(col)}'
    styled = "" if style is None else f' s="{escape_attr(style)}"'
    if kind == "s":
        opened = f'"{styled} t="inlineStr"><{p}is><{p}t xml:space="preserve">'
        return start, opened, f"</{p}t></{p}is></{p}c>"
    typed = ' t="b"' if kind == "b" else ""
    return start, f'"{styled}{typed}><{p}v>', f"</{p}v></{p}c>"


def render_row(prefix: str, number: int, cells: Sequence[Cell]) -> bytes:
    """A new <row> holding `cells` (in column order), as the element path serialises it."""
    cells_bytes = render_cells(prefix, number, cells)
    return f'<{prefix}row r="{number}">'.encode() + cells_bytes + f"</{prefix}row>".encode()


def render_by_elements(edit: SheetEdit, number: int, cells: Sequence[Cell]) -> bytes:
    """The row built and serialised as the element path builds cells (r, then s, then t)."""
    if edit.blank is None:
        edit.blank = parse_fragment(b"", edit.root)
    wrapper = copy.copy(edit.blank)
    row = etree.SubElement(wrapper, edit.tag("row"), r=str(number))
    for col, style, kind, text in cells:
        c = etree.SubElement(row, edit.tag("c"), r=f"{col_letters(col)}{number}")
        if style is not None:
            c.set("s", style)
        if kind == "s":
            c.set("t", "inlineStr")
            t = etree.SubElement(etree.SubElement(c, edit.tag("is")), edit.tag("t"))
            t.text = text
            t.set(XML_SPACE, "preserve")
            continue
        if kind == "b":
            c.set("t", "b")
        etree.SubElement(c, edit.tag("v")).text = text
    return serialize_fragment(wrapper)


_SAMPLE: tuple[Cell, ...] = (
    (1, "1", "s", " a&b<c>d\"e'f\r\n\tg ]]> \U0001f600 "),
    (2, None, "s", ""),
    (3, None, "b", "1"),
    (28, '2"&<\n', "money", "1.5"),
)


def bytes_ok(edit: SheetEdit) -> bool:
    """Whether rows written as bytes come out as the element path writes them, in this part."""
    if edit.fast_rows is None:
        prefix = edit.root.prefix.decode()
        edit.fast_rows = render_row(prefix, 7, _SAMPLE) == render_by_elements(edit, 7, _SAMPLE)
    return edit.fast_rows


def write_new_row(edit: SheetEdit, number: int, cells: Sequence[tuple[int, CellValue]]) -> bool:
    """Write a row the part does not have yet as bytes; False when it must take the element path.

    `cells` are (column, value) in the order they are written, as
    `write_cell` would be called with them one by one.
    """
    if number in edit.rows or number in edit.done or not bytes_ok(edit):
        return False
    if locate_row(edit, number) is not None:
        return False
    encoded = _encoded(edit, cells)
    if encoded is None:
        return False
    written = _new_cells(edit, number, encoded)
    if written:
        note_row_styles(edit, number, {col: style for col, style, _, _ in written})
        edit.done[number] = render_row(edit.root.prefix.decode(), number, written)
    return True


def _encoded(
    edit: SheetEdit, cells: Sequence[tuple[int, CellValue]]
) -> list[tuple[int, str, str | None]] | None:
    """(column, kind, text) of each value, or None when one must take the element path."""
    ctx = edit.ctx
    encoded = []
    for col, value in cells:
        kind, text = encode_value(value, ctx)
        if kind == "s" and not text:
            return None  # <t></t> parsed again would be <t/>: the element path keeps it right
        encoded.append((col, kind, text))
    return encoded


def _new_cells(
    edit: SheetEdit, number: int, encoded: Sequence[tuple[int, str, str | None]]
) -> list[Cell]:
    """New cells for a row, styled as `write_cell` styles them, in column order.

    The styles are worked out in the order the values were written (a
    format added to styles.xml gets the same index); empty values make no
    cell. The row is counted as changed when it gets any.
    """
    written: list[Cell] = []
    above = rows_above(edit, number)  # read once for the row's cells
    formatted = edit.formatted
    for col, kind, text in encoded:
        if kind == "empty" or text is None:
            continue
        style = style_from_above(edit, col, above)
        if is_formatted(kind):
            key = (style, col, kind)
            if key not in formatted:
                formatted[key] = formatted_style(edit, style, col, kind) or style
            style = formatted[key]
        written.append((col, style, kind, text))
    if written:
        written.sort(key=_column)
        widen(edit, number, written[0][0])  # the dimension takes in the first and last
        widen(edit, number, written[-1][0])
        edit.cells += len(written)
        edit.dirty.add(number)
    return written


def _column(cell: Cell) -> int:
    return cell[0]


#: Rows checked at a time for being what lxml writes (see `_plain_block`).
BLOCK = 256
_ROW_TAGS = (b"row", b"c", b"v", b"f", b"is", b"t")
_TAG_NAME = re.compile(rb"<([^\s/>!?]+)")
_SPANS = re.compile(rb'\sspans="([^"]*)"')
#: What a block of rows is (`_plain_block`): more than rows of plain cells (the element
#: path writes them), rows lxml gives back as they are, or rows lxml writes otherwise
#: (`<v></v>` as `<v/>`, attributes in single quotes, as openpyxl and others save them).
ODD, AS_IS, REWRITTEN = 0, 1, 2


def _plain_block(edit: SheetEdit, index: int) -> int:
    """What the block of indexed rows holding row `index` is (ODD, AS_IS or REWRITTEN).

    Rows AS_IS hold only rows of cells that carry their references, and cells
    of values, formulas and plain inline strings, and lxml gives their bytes
    back unchanged (parsed, then serialised): then a new cell put after a
    row's last one is what the element path would write. REWRITTEN rows are
    such rows that lxml writes otherwise; as the element path would write any
    row it touches, each is kept as lxml writes it (`edit.rewritten`), and a
    row given cells starts from those bytes. Checked once per block of 256
    rows: rows in the form lxml writes by one pattern (`canonical_rows`), any
    others in one parse.
    """
    block = index // BLOCK
    form = edit.plain_blocks.get(block)
    if form is None:
        spans, p = edit.row_spans, edit.root.prefix
        first, last = block * BLOCK, min(len(spans), (block + 1) * BLOCK) - 1
        data = bytes(edit.xml[spans[first][0] : span_end(edit.xml, spans[last], p, b"row")])
        form = AS_IS if canonical_rows(data, p) else _parsed_form(edit, data, first, last)
        edit.plain_blocks[block] = form
    return form


def _parsed_form(edit: SheetEdit, data: bytes, first: int, last: int) -> int:
    """What the rows `data` (indexed `first` to `last`) are, from a parse; the rows of a
    REWRITTEN block go into `edit.rewritten`, by index, as lxml writes them."""
    p = edit.root.prefix
    names = set(_TAG_NAME.findall(data))
    if not names <= {p + name for name in _ROW_TAGS} or b"<!" in data:
        return ODD
    try:
        wrapper = parse_fragment(data, edit.root)
    except etree.XMLSyntaxError:
        return ODD
    m = {"m": edit.root.ns}
    if wrapper.xpath("count(*[not(self::m:row)] | m:row[not(@r)])", namespaces=m) or (
        wrapper.xpath("count(m:row/*[not(self::m:c) or not(@r)])", namespaces=m)
    ):
        return ODD
    written = serialize_fragment(wrapper)
    if written == data:
        return AS_IS
    spans = [found.span() for found in row_pattern(p).finditer(written)]
    if len(spans) != last - first + 1:
        return ODD
    for index, span in enumerate(spans, start=first):
        edit.rewritten[index] = written[span[0] : span_end(written, span, p, b"row")]
    return REWRITTEN


def canonical_rows(data: bytes, prefix: bytes) -> bool:
    """Whether `data` is rows of plain cells written exactly as lxml writes them.

    A sufficient test, without a parse, for `_parsed_form` finding AS_IS: ASCII
    only (no byte sequence to validate), every attribute known, in schema
    order, once, double-quoted, nothing escaped in values or text (no &, <,
    > or control characters but tab and newline), no empty element written
    long (lxml writes <v/>), no whitespace between elements. XlsxWriter's and
    Excel's rows of values and formulas are in this form; rows that are not
    are checked by a parse.
    """
    return data.isascii() and _canonical_pattern(prefix).fullmatch(data) is not None


@lru_cache(maxsize=8)
def _canonical_pattern(prefix: bytes) -> re.Pattern[bytes]:
    p = re.escape(prefix)
    text = rb"[^&<>\x00-\x08\x0b-\x1f]+"

    def start(tag: bytes, *names: bytes) -> bytes:
        value = rb'="[^"&<>\x00-\x1f]*"'
        return b"<" + p + tag + b"".join(b"(?: " + name + value + b")?" for name in names)

    def leaf(tag: bytes, *names: bytes) -> bytes:  # <x/> or <x>text</x>
        return start(tag, *names) + b"(?:/>|>" + text + b"</" + p + tag + b">)"

    inline = b"<" + p + b"is>" + leaf(b"t", b"xml:space") + b"</" + p + b"is>"
    formula = leaf(b"f", b"t", b"ref", b"si", b"ca")
    value = leaf(b"v")
    content = b"(?:" + inline + b"|" + formula + b"(?:" + value + b")?|" + value + b")"
    cell_start = start(b'c r="[A-Z]{1,3}[0-9]+"', b"s", b"t", b"cm", b"vm", b"ph")
    cell = cell_start + b"(?:/>|>" + content + b"</" + p + b"c>)"
    row_names = (b"spans", b"s", b"customFormat", b"ht", b"hidden", b"customHeight",
                 b"outlineLevel", b"collapsed", b"thickTop", b"thickBot", b"ph")  # fmt: skip
    row = start(b'row r="[0-9]+"', *row_names) + b"(?:/>|>(?:" + cell + b")+</" + p + b"row>)"
    return re.compile(b"(?:" + row + b")+")


@lru_cache(maxsize=8)
def _cell_refs(prefix: bytes) -> re.Pattern[bytes]:
    return re.compile(b"<" + re.escape(prefix) + rb'c\s(?:[^>]*?\s)?r="([A-Z]{1,3})\d+"')


def extend_row(edit: SheetEdit, number: int, cells: Sequence[tuple[int, CellValue]]) -> bool:
    """Give a row of the part new cells after its last one, as bytes; False if it cannot be.

    The 5,000 (or 25,000) Services rows billed this week get their Invoice
    No, Due Date and Status this way: the row's bytes stay as they are
    (they are what lxml writes, else they are taken as lxml writes them, see
    `_plain_block`), its spans hint widens, and the new cells go before
    ``</row>``.
    """
    index = edit.row_at.get(number)
    if index is None or number in edit.rows or number in edit.done or not bytes_ok(edit):
        return False
    form = _plain_block(edit, index)
    if form == ODD:
        return False
    p = edit.root.prefix
    if form == REWRITTEN:
        row = edit.rewritten[index]
    else:
        span = edit.row_spans[index]
        row = bytes(edit.xml[span[0] : span_end(edit.xml, span, p, b"row")])
    cut = row.index(b">") + 1  # the row's start tag
    head = row[:cut]
    if f' r="{number}"'.encode() not in head:
        return False  # a number written otherwise ("0017") is rewritten by the element path
    refs = _cell_refs(p).findall(row)
    if len(refs) != row.count(b"<" + p + b"c "):
        return False
    have = list(map(column_of, refs))
    if len(set(have)) != len(have) or have != sorted(have):
        return False  # cells out of order: the element path places new ones
    right = have[-1] if have else 0
    encoded = _encoded(edit, cells)
    if encoded is None or min((col for col, _, _ in encoded), default=right + 1) <= right:
        return False
    spans = _SPANS.search(head)
    bounds = None if spans is None else _span_bounds(spans.group(1))
    if spans is not None and bounds is None:
        return False
    written = _new_cells(edit, number, encoded)
    if not written:
        return True  # only empty values for cells the row does not have: nothing changes
    if spans is not None and bounds is not None:
        low = min((*bounds, *have[:1], written[0][0]))  # both in column order
        high = max((*bounds, written[-1][0]))  # the new cells are right of the others
        hint = f"{low}:{high}".encode()
        head = head[: spans.start(1)] + hint + head[spans.end(1) :]
    new = render_cells(p.decode(), number, written)
    if len(row) == cut:  # <row .../>: no cells yet
        data = head[:-2] + b">" + new + b"</" + p + b"row>"
    else:
        close = len(row) - len(b"</" + p + b"row>")
        data = head + row[cut:close] + new + row[close:]
    edit.done[number] = data
    edit.rewritten.pop(index, None)  # its bytes are in `done` now
    note_row_styles(edit, number, {col: style for col, style, _, _ in written}, given=True)
    return True


@lru_cache(maxsize=256)
def _span_bounds(hint: bytes) -> tuple[int, ...] | None:
    """The lowest and highest column a row's spans hint names ("1:9", "1:3 5:9"), or None.

    An empty hint names none: ().
    """
    try:
        numbers = [int(n) for part in hint.split() for n in part.split(b":")]
    except ValueError:
        return None
    return (min(numbers), max(numbers)) if numbers else ()


def write_row(edit: SheetEdit, number: int, cells: Sequence[tuple[int, CellValue]]) -> None:
    """Write one row's run of cells: as bytes when the row is new, else cell by cell.

    The parsed rows left behind are set aside now and then, so a long run
    holds a few hundred of them, not all.
    """
    if not write_new_row(edit, number, cells) and not extend_row(edit, number, cells):
        for col, value in cells:
            if write_cell(edit, number, col, value):
                edit.cells += 1
    if len(edit.rows) > PARK_AT:
        park_rows(edit, number - 1)
