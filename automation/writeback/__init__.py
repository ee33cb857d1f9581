"""Write cell values back into the bookkeeper's workbook without losing anything.

An .xlsx file is a zip of XML parts. openpyxl rebuilds the whole package and
drops what it does not model (cached formula results, images, sparklines,
shapes); this module edits the package instead. Only the worksheet parts that
hold changed cells are rewritten, and inside them only the touched ``<row>``
elements are parsed (a 100,000-row sheet is scanned as bytes, never built into
a tree). ``styles.xml`` changes only when a date style must be added, and
``workbook.xml``, its relationships and ``[Content_Types].xml`` only when a
sheet is added. Every other member is copied through as the same compressed
bytes, in the original order.

The package's modules, each one concern: ``package`` (zip parts and
relationships), ``sheet`` (rows and cells), ``rowbytes`` (new rows written
straight as bytes), ``columns`` (headers),
``values`` (cell values), ``strings`` (shared strings), ``styles``
(cell formats), ``formulas`` (shared formulas), ``commit`` (the atomic swap).

The new file is built beside the original, checked against the stamp taken
when the workbook was read, backed up, and swapped in atomically.

>>> from automation.model import CellUpdate
>>> stamp = stamp_file(path)                                   # doctest: +SKIP
>>> apply_updates(path, [CellUpdate("Services", 17, "Status", "Invoiced")],
...               header_rows={"Services": 1}, expected=stamp,
...               backup_dir=path.parent / ".billing")         # doctest: +SKIP
WriteResult(changed=True, cells=1, backup=PosixPath('.billing/log-20260105-...xlsx'))
"""

from __future__ import annotations

import ctypes
import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import IO

from lxml import etree

from automation.model import CellUpdate, CellValue
from automation.schema import normalise_header
from automation.writeback.commit import (
    commit_file,
    level_for,
    read_verified,
    stamp_file,
    write_package,
)
from automation.writeback.edit import edit_sheet
from automation.writeback.package import (
    READ_PIECE,
    Package,
    add_sheets,
    drop_calc_chain,
    new_sheet_xml,
    open_package,
    sheet_name_ok,
    update_workbook,
)
from automation.writeback.records import (
    FileStamp,
    WorkbookChangedError,
    WriteBackError,
    WriteResult,
)
from automation.writeback.refs import (
    RowMove,
    SheetFollow,
    follow_names,
    follow_notes,
    follow_table,
    named_sheets,
)
from automation.writeback.strings import SharedStrings, recount_shared_strings
from automation.writeback.styles import Styles
from automation.writeback.tables import TableDoc, table_parts
from automation.writeback.values import Context
from automation.zipcopy import Packed, pack

__all__ = [
    "FileStamp",
    "WorkbookChangedError",
    "WriteBackError",
    "WriteResult",
    "apply_updates",
    "stamp_file",
]

MAX_ROW = 1_048_576


def _sheets_of(updates: Sequence[CellUpdate], sheets: Iterable[str]) -> tuple[list[str], list[int]]:
    """The sheets written (workbook names, matched case-insensitively), in the order first
    written, and the index of each update's sheet in that list."""
    by_lower = {name.casefold(): name for name in sheets}
    order: dict[str, int] = {}
    index = []
    named: dict[str, str] = {}  # as the updates spell it -> the sheet (a few spellings)
    for u in updates:
        sheet = named.get(u.sheet)
        if sheet is None:
            sheet = named[u.sheet] = by_lower.setdefault(u.sheet.casefold(), u.sheet)
        if not 1 <= u.row <= MAX_ROW:
            raise WriteBackError(f"{sheet} row {u.row} is outside the sheet.")
        index.append(order.setdefault(sheet, len(order)))
    return list(order), index


def _group(
    updates: Sequence[CellUpdate], index: Sequence[int], which: int
) -> SheetUpdates | dict[tuple[int, str], CellValue]:
    """One sheet's updates (those whose `index` is `which`), one per cell; the last wins.

    Grouped one sheet at a time: 140,000 updates grouped at once held 12 MB
    through the whole write-back. A run writes each cell once, and then the
    sheet's updates are kept as they are (a list of them); a dict keyed by
    cell, 9 MB for 75,000 updates, is made only when some cell is written twice.
    """
    mine = [u for u, at in zip(updates, index, strict=True) if at == which]
    header_keys: dict[str, str] = {}  # 28,000 updates name a dozen headers
    for u in mine:
        if u.column not in header_keys:
            header_keys[u.column] = normalise_header(u.column)
    if len({(u.row, header_keys[u.column]) for u in mine}) == len(mine):
        return SheetUpdates(mine)
    cells: dict[tuple[int, str], CellValue] = {}
    keys: dict[tuple[int, str], str] = {}
    for u in mine:
        key = keys.setdefault((u.row, header_keys[u.column]), u.column)
        cells.pop((u.row, key), None)  # re-insert so the order is the order last written
        cells[(u.row, key)] = u.value
    return cells


@dataclass(frozen=True)
class SheetUpdates:
    """One sheet's updates, no two on one cell, iterated as a dict of (row, header) -> value."""

    updates: Sequence[CellUpdate]

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return map(_CELL, self.updates)

    def items(self) -> Iterator[tuple[tuple[int, str], CellValue]]:
        return zip(map(_CELL, self.updates), map(_VALUE, self.updates), strict=True)


_CELL = attrgetter("row", "column")
_VALUE = attrgetter("value")


def apply_updates(
    path: Path,
    updates: Sequence[CellUpdate],
    *,
    header_rows: Mapping[str, int],
    expected: FileStamp | None = None,
    backup_dir: Path | None = None,
    keep_backups: int = 20,
    new_sheet_headers: Mapping[str, Sequence[str]] | None = None,
    ensure_headers: Mapping[str, Sequence[str]] | None = None,
) -> WriteResult:
    """Write cell updates into the workbook at `path`, keeping everything else as it was.

    `CellUpdate.row` is the Excel row; `column` is a header in the sheet's
    header row (`header_rows[sheet]`, default 1), matched ignoring case and
    spaces. Unknown headers become new columns; unknown sheets new sheets
    (headers from `new_sheet_headers`). A sheet that is written to also gets
    any of its `ensure_headers` it lacks. With `expected`, the file must still
    be the one stamped, else WorkbookChangedError and nothing is written.
    """
    give_back_memory()
    try:
        return _apply(
            Path(path),
            updates,
            header_rows=header_rows,
            expected=expected,
            backup_dir=backup_dir,
            keep_backups=keep_backups,
            new_sheet_headers=new_sheet_headers,
            ensure_headers=ensure_headers,
        )
    finally:
        give_back_memory()


def give_back_memory() -> None:
    """Hand the memory the write-back freed back to the system.

    glibc keeps freed heap memory for the process's next allocations: after a
    big sheet was edited the run held 45 MB more than before, through the
    report. malloc_trim returns the free pages (Linux with glibc; elsewhere
    there is nothing to call).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return  # not glibc (musl has no malloc_trim)
    trim(0)


def _apply(
    path: Path,
    updates: Sequence[CellUpdate],
    *,
    header_rows: Mapping[str, int],
    expected: FileStamp | None,
    backup_dir: Path | None,
    keep_backups: int,
    new_sheet_headers: Mapping[str, Sequence[str]] | None,
    ensure_headers: Mapping[str, Sequence[str]] | None,
) -> WriteResult:
    data, stamp = read_verified(path, expected)
    if not os.access(path, os.W_OK):
        raise WriteBackError(f"The workbook {path.name} is read-only; nothing was written.")
    pkg = open_package(data, path)
    ctx = Context(
        SharedStrings(None, _opener(pkg, pkg.shared_strings)),
        Styles(pkg.read(pkg.styles) if pkg.styles else None),
        pkg.date1904,
    )
    parts: dict[str, bytes] = {}
    packed: dict[str, Packed] = {}  # sheets, compressed as soon as edited
    cells = 0
    new_sheets = []
    warnings: list[str] = []
    notes: list[str] = []
    unwritten: list[tuple[str, str]] = []
    filters: dict[str, str] = {}
    moves: list[RowMove] = []  # totals rows moved down: what refers to them follows
    followed: dict[str, int] = {}  # sheet part -> how many of the moves its formulas follow
    named: dict[str, set[str]] = {}  # sheet part written -> the sheets its formulas may name
    written, index = _sheets_of(updates, pkg.sheets)
    for which, sheet in enumerate(written):
        sheet_updates = _group(updates, index, which)
        header_row = header_rows.get(sheet, 1)
        if min(map(itemgetter(0), sheet_updates), default=header_row + 1) <= header_row:
            raise WriteBackError(f"{sheet}: only rows below the header row can be written.")
        part = pkg.sheets.get(sheet)
        if part == "" or (part is not None and part not in pkg.names):
            raise WriteBackError(f"{sheet} is not a worksheet that can be written to.")
        if part is None:
            if not sheet_name_ok(sheet):
                raise WriteBackError(f'"{sheet}" cannot be used as a sheet name.')
            new_sheets.append(sheet)
        try:
            xml = pkg.read_big(part) if part else new_sheet_xml()
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise WriteBackError(f"The sheet {sheet} could not be read: {exc}.") from exc
        wanted = (new_sheet_headers if part is None else ensure_headers) or {}
        headers = wanted.get(sheet, ())
        try:
            tables = load_tables(pkg, part) if part else []
            result = edit_sheet(xml, sheet_updates, header_row, headers, ctx, sheet, tables)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise WriteBackError(f"The sheet {sheet} could not be read: {exc}.") from exc
        cells += result.cells
        warnings.extend(result.warnings)
        notes.extend(result.notes)
        unwritten.extend((sheet, header) for header in result.unplaced)
        if result.filter_ref:
            filters[sheet] = result.filter_ref
        if result.moved is not None:
            moves.append(result.moved)
        if result.pieces is not None:
            pieces = result.pieces
            if moves:
                pieces = _follow(sheet, pieces, moves, ctx) or pieces
                for t in tables:
                    t.changed |= follow_table(t.root, t.ns, sheet, moves)
            followed[part or sheet] = len(moves)
            named[part or sheet] = named_sheets(pieces, pkg.sheets)  # for a move later on
            size = sum(len(piece) for piece in pieces)
            give_back_memory()  # what the edit freed, before the deflated sheet is made
            packed[part or sheet] = pack(pieces, level_for(size))
            parts.update((t.part, t.to_bytes()) for t in tables if t.changed)
            del pieces
        del xml, result, sheet_updates  # one big sheet is held at a time, and only once
    if not parts and not packed:
        return WriteResult(False, 0, None, tuple(warnings), tuple(notes), tuple(unwritten))
    if moves:
        _follow_elsewhere(pkg, moves, followed, named, parts, packed, ctx)
    if new_sheets:
        for sheet, part in add_sheets(pkg, new_sheets, parts).items():
            packed[part] = packed.pop(sheet)
    if ctx.styles.changed and pkg.styles:
        parts[pkg.styles] = ctx.styles.to_bytes()
    if ctx.shared_strings_dropped and pkg.shared_strings in pkg.names:
        assert pkg.shared_strings is not None
        parts[pkg.shared_strings] = recount_shared_strings(
            pkg.read(pkg.shared_strings), ctx.shared_strings_dropped
        )
    update_workbook(pkg, parts, filters)
    removed: set[str] = set()
    if ctx.formulas_removed:
        drop_calc_chain(pkg, parts, removed)
    backup = commit_file(
        path,
        lambda fh: write_package(fh, data, pkg, parts, removed, packed),
        stamp,
        backup_dir,
        keep_backups,
    )
    return WriteResult(True, cells, backup, tuple(warnings), tuple(notes), tuple(unwritten))


def _follow(
    sheet: str, pieces: Sequence[bytes | memoryview], moves: Sequence[RowMove], ctx: Context
) -> list[bytes | memoryview] | None:
    """A worksheet's pieces with its formulas following the moved totals rows (None: none
    changed)."""
    follow = SheetFollow(sheet, moves)
    new = follow.pieces(pieces)
    if new is not None:
        ctx.formulas_removed = True  # calcChain may list the cells of a shared formula split up
    return new


def _follow_elsewhere(
    pkg: Package,
    moves: Sequence[RowMove],
    followed: Mapping[str, int],
    named: Mapping[str, set[str]],
    parts: dict[str, bytes],
    packed: dict[str, Packed],
    ctx: Context,
) -> None:
    """Make the rest of the workbook follow the moved totals rows: the sheets not written
    (rewritten only when a reference changed), the sheets written before a move, the
    defined names, and the notes on the moved cells."""
    for sheet, part in pkg.sheets.items():
        if not part or part not in pkg.names:
            continue
        pending = moves[followed.get(part, 0) :]
        if part in named:  # written before those moves: looked at then
            pending = [m for m in pending if m.sheet in named[part]]
        if not pending:
            continue
        if part not in packed and not named_sheets(
            _streamed(pkg, part), {m.sheet for m in pending} - {sheet}
        ):
            continue  # a sheet not written that names no moved sheet: never held whole
        content = unpack(packed[part]) if part in packed else pkg.read_big(part)
        new = _follow(sheet, [content], pending, ctx)
        if new is not None:
            packed[part] = pack(new, level_for(sum(len(piece) for piece in new)))
        del content, new
    book = follow_names(parts.get(pkg.workbook) or pkg.read(pkg.workbook), moves)
    if book is not None:
        parts[pkg.workbook] = book
    follow_notes(pkg, moves, parts)


def _streamed(pkg: Package, part: str) -> Iterator[bytes]:
    """A part inflated piece by piece, each piece with the end of the one before it (a
    sheet's name before "!" may straddle two pieces), for `named_sheets` to look through
    without holding the part whole."""
    tail = b""
    with pkg.zf.open(pkg.names[part]) as fh:
        while piece := fh.read(READ_PIECE):
            joined = tail + piece
            yield joined
            tail = joined[-STRADDLE:]


#: More than a sheet's name (31 characters), quoted, and its "!".
STRADDLE = 256


def unpack(packed: Packed) -> bytes:
    """A member's content from its deflated bytes."""
    inflater = zlib.decompressobj(-15)
    return b"".join(inflater.decompress(raw) for raw in packed.raw) + inflater.flush()


def _opener(pkg: Package, part: str | None) -> Callable[[], IO[bytes]] | None:
    """What inflates a part piece by piece (None when the package has no such part)."""
    if part is None or part not in pkg.names:
        return None
    info = pkg.names[part]
    return lambda: pkg.zf.open(info)


def load_tables(pkg: Package, part: str) -> list[TableDoc]:
    """The tables on a worksheet part, ready to be edited."""
    docs = []
    for table_part in table_parts(pkg.zf, set(pkg.names), part):
        try:
            docs.append(TableDoc(table_part, pkg.read(table_part)))
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise WriteBackError(f"The table part {table_part} is damaged ({exc}).") from exc
    return docs
