"""New rows written straight as bytes, exactly as the parsed-row path would write them.

A run appends thousands of rows (the Invoices sheet's new invoices); building
each as lxml elements and serialising them was half the write-back's time.
A row that is not in the part yet is written here as the very bytes the
element path (`sheet.write_cell`) gives: the same cells in column order, the
same styles (the cell above's, a date or amount format), the same inline
strings and escaping. Whether the two agree is checked once per sheet on a
sample (a part declaring its namespace under two prefixes, say, falls back to
the element path), and a row written here that anything touches later is
parsed again from its bytes (`sheet.get_row`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from lxml import etree

from automation.model import CellValue
from automation.writeback.sheet import (
    SheetEdit,
    formatted_style,
    inherited_style,
    locate_row,
    park_rows,
    parse_fragment,
    widen,
    write_cell,
)
from automation.writeback.values import encode_value
from automation.writeback.xmlscan import XML_SPACE, col_letters, serialize_fragment

#: How many parsed rows an edit holds before the ones behind it are set aside.
PARK_AT = 256
_FORMATTED = frozenset({"date", "datetime", "money"})
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


def render_row(prefix: str, number: int, cells: Sequence[Cell]) -> bytes:
    """A <row> holding `cells` (in column order), as the element path serialises it."""
    p = prefix
    out = [f'<{p}row r="{number}">']
    for col, style, kind, text in cells:
        head = f'<{p}c r="{col_letters(col)}{number}"'
        if style is not None:
            head += f' s="{escape_attr(style)}"'
        if kind == "s":
            out.append(
                f'{head} t="inlineStr"><{p}is><{p}t xml:space="preserve">{escape_text(text)}'
                f"</{p}t></{p}is></{p}c>"
            )
        else:
            typed = ' t="b"' if kind == "b" else ""
            out.append(f"{head}{typed}><{p}v>{escape_text(text)}</{p}v></{p}c>")
    out.append(f"</{p}row>")
    return "".join(out).encode()


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
    encoded = [(col, *encode_value(value, edit.ctx)) for col, value in cells]
    if any(kind == "s" and not text for _, kind, text in encoded):
        return False  # <t></t> parsed again would be <t/>: the element path keeps it right
    written: list[Cell] = []
    styles: dict[int, str | None] = {}
    for col, kind, text in encoded:
        if kind == "empty" or text is None:
            continue  # an empty value makes no cell in a row that has none
        style = inherited_style(edit, number, col)
        if kind in _FORMATTED:
            style = formatted_style(edit, style, col, kind) or style
        written.append((col, style, kind, text))
        styles[col] = style
        widen(edit, number, col)
    if not written:
        return True
    written.sort(key=lambda cell: cell[0])
    edit.cells += len(written)
    edit.dirty.add(number)
    edit.row_styles[number] = styles
    edit.done[number] = render_row(edit.root.prefix.decode(), number, written)
    return True


def write_row(edit: SheetEdit, number: int, cells: Sequence[tuple[int, CellValue]]) -> None:
    """Write one row's run of cells: as bytes when the row is new, else cell by cell.

    The parsed rows left behind are set aside now and then, so a long run
    holds a few hundred of them, not all.
    """
    if not write_new_row(edit, number, cells):
        for col, value in cells:
            if write_cell(edit, number, col, value):
                edit.cells += 1
    if len(edit.rows) > PARK_AT:
        park_rows(edit, number - 1)
