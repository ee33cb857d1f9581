"""Header cells: finding the column of each header, adding missing columns."""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from automation.schema import normalise_header
from automation.writeback.records import WriteBackError
from automation.writeback.sheet import SheetEdit, get_row, write_cell
from automation.writeback.values import current_value
from automation.writeback.xmlscan import col_index, split_range, split_ref

MAX_COL = 16_384


def _read_headers(edit: SheetEdit, header_row: int) -> tuple[dict[str, int], int]:
    """Normalised header -> column, and the last column holding a header."""
    row = get_row(edit, header_row, create=False)
    found: dict[str, int] = {}
    last = 0
    for c in [] if row is None else row:
        if etree.QName(c).localname != "c":
            continue
        kind, text = current_value(c, edit.root.ns, edit.ctx)
        if kind == "empty" or not (text or "").strip():
            continue
        col = split_ref(c.get("r"))[1]
        found.setdefault(normalise_header(text), col)
        last = max(last, col)
    return found, last


def resolve_columns(edit: SheetEdit, header_row: int, wanted: Iterable[str]) -> dict[str, int]:
    """Column numbers for every header named; missing ones are added after the last."""
    found, last = _read_headers(edit, header_row)
    columns: dict[str, int] = {}
    used = False
    for header in wanted:
        key = normalise_header(header)
        if not key:
            raise WriteBackError("A column with an empty header cannot be written.")
        if key in columns:
            continue
        if key not in found:
            if not used:
                # After the last column used anywhere, not just the last header:
                # a note typed in an unlabelled column beside the data is kept.
                last, used = max(last, _last_used_column(edit)), True
            last += 1
            if last > MAX_COL:
                raise WriteBackError("The sheet has no room for another column.")
            found[key] = last
            write_cell(edit, header_row, last, header.strip())
        columns[key] = found[key]
    return columns


_CELL_COLUMN = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br\s*=\s*[\"']([A-Z]{1,3})\d+[\"']")


def _last_used_column(edit: SheetEdit) -> int:
    """The rightmost column holding any cell: from <dimension>, else by scanning the sheet."""
    head = edit.xml[: edit.body[0]]
    p = re.escape(edit.root.prefix)
    m = re.search(b"<" + p + rb"dimension\s+ref\s*=\s*[\"']([^\"']*)[\"']", head)
    if m:
        try:
            bounds = split_range(m.group(1).decode())
        except ValueError:
            bounds = (1, 1, 1, 1)
        if bounds != (1, 1, 1, 1):  # "A1" is what an empty (or careless) sheet says
            return bounds[3]
    letters = set(_CELL_COLUMN.findall(edit.xml))
    return max((col_index(ref.decode()) for ref in letters), default=0)
