"""Header cells: finding the column of each header, adding missing columns.

A missing column goes into the sheet's table when the column right of the
table is free (the table takes it in), else after the last column used
anywhere, so a note typed beside the data is kept. When the sheet has no
column left (something sits in XFD), the column is reported, not added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from lxml import etree

from automation.schema import normalise_header
from automation.writeback.records import WriteBackError
from automation.writeback.sheet import SheetEdit, get_row, row_start, unpark_rows, write_cell
from automation.writeback.tables import TableDoc
from automation.writeback.values import current_value
from automation.writeback.xmlscan import col_index, col_letters, split_ref

MAX_COL = 16_384
MAX_ROW = 1_048_576


@dataclass
class Placement:
    """Where each wanted header is, and what could not be placed.

    Attributes:
      columns: normalised header -> sheet column.
      joined: (column, header text) of columns the sheet's table takes in, left to right.
      unplaced: headers for which the sheet has no free column.
      warnings: what could not be written, for the bookkeeper.
      notes: what was done differently than asked (columns beside a table).
      added: (column, header text) of the columns created now, for their widths.
    """

    columns: dict[str, int] = field(default_factory=dict)
    joined: list[tuple[int, str]] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    added: list[tuple[int, str]] = field(default_factory=list)


def _read_headers(edit: SheetEdit, header_row: int) -> tuple[dict[str, int], dict[int, str], int]:
    """(normalised header -> column, column -> header text, last column holding a header)."""
    row = get_row(edit, header_row, create=False)
    found: dict[str, int] = {}
    texts: dict[int, str] = {}
    last = 0
    for c in [] if row is None else row:
        if etree.QName(c).localname != "c":
            continue
        kind, text = current_value(c, edit.root.ns, edit.ctx)
        if kind == "empty" or not (text or "").strip():
            continue
        col = split_ref(c.get("r"))[1]
        found.setdefault(normalise_header(text), col)
        texts[col] = text or ""
        last = max(last, col)
    return found, texts, last


def header_columns(edit: SheetEdit, header_row: int) -> list[int]:
    """The columns whose header cell holds text."""
    return sorted(_read_headers(edit, header_row)[1])


def resolve_columns(
    edit: SheetEdit,
    header_row: int,
    wanted: Iterable[str],
    sheet: str,
    main: TableDoc | None = None,
    tables: Sequence[TableDoc] = (),
) -> Placement:
    """Column numbers for every header named; missing ones are added (see the module doc)."""
    found, texts, last = _read_headers(edit, header_row)
    last = max(last, _merged_across(edit, header_row))  # a header merged over its neighbours
    keys: dict[str, str] = {}
    for header in wanted:
        key = normalise_header(header)
        if not key:
            raise WriteBackError("A column with an empty header cannot be written.")
        keys.setdefault(key, header.strip())
    placed = Placement()
    edge = main.info.ref[3] if main is not None else 0
    if main is not None:
        # Columns the tool added beside the table before it knew tables join it now.
        while texts.get(edge + 1) is not None and normalise_header(texts[edge + 1]) in keys:
            edge += 1
            placed.joined.append((edge, texts[edge]))
    joinable = main is not None
    used = False
    for key, header in keys.items():
        if key in found:
            placed.columns[key] = found[key]
            continue
        col = 0
        if joinable and main is not None:
            blocker = _blocked(edit, main, edge + 1, tables)
            if blocker is None:
                edge = col = edge + 1
                placed.joined.append((col, header))
            else:
                joinable = False
                placed.notes.append(
                    f"{sheet}: new columns are added beside the table {main.info.name}, not in "
                    f"it, because {blocker}. Make room to the right of the table (or add the "
                    "columns to it yourself) so sorting and filtering keep them together."
                )
        if not col:
            if not used:
                # After the last column used anywhere, not just the last header:
                # a note typed in an unlabelled column beside the data is kept.
                last, used = _last_used_column(edit, max(last, edge)), True
                last = max(last, _merged_across(edit, header_row, MAX_ROW))
            if last >= MAX_COL:
                placed.unplaced.append(header)
                continue
            last = col = last + 1
        found[key] = placed.columns[key] = col
        placed.added.append((col, header))
        write_cell(edit, header_row, col, header)
    if placed.unplaced:
        placed.warnings.append(
            f"{sheet}: there is no free column for {', '.join(placed.unplaced)} (the sheet "
            f"uses its last column, {col_letters(MAX_COL)}); those cells were not written. "
            f"Delete what is in column {col_letters(MAX_COL)} and the empty columns after your "
            "data, then run again."
        )
    return placed


def _blocked(edit: SheetEdit, table: TableDoc, col: int, tables: Sequence[TableDoc]) -> str | None:
    """Why column `col` cannot join the table (None when it can)."""
    r1, _, r2, _ = table.info.ref
    if col > MAX_COL:
        return "the table already reaches the last column"
    for other in tables:
        o1, oc1, o2, oc2 = other.info.ref
        if other is not table and oc1 <= col <= oc2 and o1 <= r2 and r1 <= o2:
            return f"the table {other.info.name} is next to it"
    row = column_content_row(edit, col, r1, r2)
    if row is not None:
        return f"cell {col_letters(col)}{row} next to it is not empty"
    # The table grows down as rows are added, its totals row last: the column must be free
    # below it too, or the totals row could not move (and no row could join the table).
    below = column_content_row(edit, col, r2 + 1, MAX_ROW)
    if below is not None:
        return f"cell {col_letters(col)}{below} below its edge is not empty"
    return None


def _content_cell(letters: bytes = rb"[A-Z]{1,3}") -> re.Pattern[bytes]:
    """A <c> start tag in the given column(s) whose first child is a value or formula."""
    return re.compile(
        rb"<(?:\w+:)?c\s[^>]*?\br\s*=\s*[\"'](" + letters + rb")(\d+)[\"'][^>]*(?<!/)>"
        rb"\s*<(?:\w+:)?(?:v|f|is)[\s/>]"
    )


def _content_cells(
    edit: SheetEdit, letters: bytes, begin: int, end: int
) -> Iterator[tuple[int, int]]:
    """(row, column) of the cells in xml[begin:end] in the column(s) `letters` that hold something.

    A regex starting with the literal ``r`` finds the few candidate cell
    references quickly; only those are checked to be a cell with content.
    Matching every cell tag instead took 0.4 s on a 100,000-row sheet.
    """
    xml = edit.xml
    pattern = _content_cell(letters)
    candidates = re.compile(rb"r\s*=\s*[\"'](?:" + letters + rb")\d")
    for m in candidates.finditer(xml, begin, end):
        start = xml.rfind(b"<", begin, m.start())
        cell = pattern.match(xml, start) if start >= 0 else None
        if cell is not None and cell.end(2) <= end:
            yield int(cell.group(2)), col_index(cell.group(1).decode())


def columns_after(col: int) -> bytes:
    """A regex for the column letters of the columns right of `col`.

    >>> columns_after(10), columns_after(0)
    (b'[A-Z]{2,3}|[K-Z]', b'[A-Z]{1,3}')
    """
    if col < 1:
        return rb"[A-Z]{1,3}"
    letters = col_letters(col)
    options = [f"[A-Z]{{{len(letters) + 1},3}}"] if len(letters) < 3 else []
    for i, ch in enumerate(letters):
        if ch != "Z":
            rest = len(letters) - i - 1
            tail = f"[A-Z]{{{rest}}}" if rest else ""
            after = chr(ord(ch) + 1)
            options.append(f"{letters[:i]}[{after}-Z]{tail}")
    return "|".join(options).encode() or rb"(?!)"


def column_content_row(edit: SheetEdit, col: int, first: int, last: int) -> int | None:
    """The first row in first..last whose cell in column `col` holds something."""
    unpark_rows(edit)
    for number, row in edit.rows.items():  # rows already edited in this run
        if first <= number <= last:
            for c in row[0]:
                ref = c.get("r")
                if (
                    ref
                    and split_ref(ref)[1] == col
                    and current_value(c, edit.root.ns, edit.ctx)[0] != "empty"
                ):
                    return number
    begin, end = row_start(edit, first), row_start(edit, last + 1)
    if begin >= end:
        return None
    for number, _ in _content_cells(edit, col_letters(col).encode(), begin, end):
        if number not in edit.rows:
            return number
    return None


_MERGE = re.compile(
    rb'<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref="\$?([A-Z]+)\$?(\d+):\$?([A-Z]+)\$?(\d+)"'
)


def _merged_across(edit: SheetEdit, row: int, last_row: int = 0) -> int:
    """The last column a merged cell on `row` (to `last_row`) covers (0 if none): a header
    merged across two columns ("Notes" over H:I) leaves the second column's cell hidden,
    so no header the tool adds may go there; nor a column whose cells a note merged over
    two columns on a row below would hide."""
    last = 0
    for first_col, top, last_col, bottom in _MERGE.findall(edit.xml, edit.body[1]):
        if int(top) <= max(row, last_row) and row <= int(bottom):
            last = max(last, col_index(last_col.decode()), col_index(first_col.decode()))
    return last


def _last_used_column(edit: SheetEdit, known: int = 0) -> int:
    """The rightmost column holding a value, or `known` when none is right of it.

    Found by scanning the cells: ``<dimension>`` is only a hint that programs
    write carelessly (too small, or "A1" for everything), so it is never
    trusted. Only cells right of column `known` are looked at.
    """
    found = _content_cells(edit, columns_after(known), *edit.body)
    unpark_rows(edit)
    used = max((col for _, col in found), default=known)
    for row in edit.rows.values():
        for c in row[0]:
            if c.get("r") and current_value(c, edit.root.ns, edit.ctx)[0] != "empty":
                used = max(used, split_ref(c.get("r"))[1])
    return used


#: Widths (in characters) of the columns the tool creates, by the kind of what they hold.
KIND_WIDTHS = {"date": 12, "datetime": 17, "money": 14, "number": 10, "int": 10, "text": 14}
#: Text columns that hold more than a word: room for a sentence or a name.
WIDE_COLUMNS = {"note": 48, "error": 48, "client": 28, "credit notes": 20, "invoice no": 16}


def column_width(header: str) -> float:
    """A sensible width for a column the tool creates: its header, or what it will hold.

    >>> column_width("Due Date"), column_width("Note"), column_width("Reissue Count")
    (12, 48, 15)
    """
    from automation.schema import SHEETS

    key = normalise_header(header)
    kinds = {normalise_header(c.name): c.kind for cols in SHEETS.values() for c in cols}
    fits = WIDE_COLUMNS.get(key) or KIND_WIDTHS.get(kinds.get(key, "text"), 14)
    return max(fits, len(header.strip()) + 2)
