"""Read the workbook with python-calamine into raw sheet frames (pandas).

Only locating happens here: which sheet, which row holds the headers, which
column is which. Turning cells into Decimal and date is `cells`' job, and
checking them is `validate`'s.

    data = read_workbook(Path("service_log.xlsx"), config)
    data.services.frame.loc[17, "Client"]   # index = Excel row numbers
"""

from __future__ import annotations

import difflib
import io
import threading
import zipfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cells import ExcelError, cell_text, is_total_label
from .config import Config
from .lazy import lazy_import
from .package_check import (
    CellRange,
    CheckedSheet,
    UnsavedFormulas,
    check_package,
    signed_notice,
)
from .readcopy import Copy, make_copy, opened, split_xml
from .schema import CLIENTS, INVOICES, PAYMENTS, SERVICES, SHEETS, header_for, normalise_header
from .sheet_heads import sheet_heads
from .writeback.package import damaged_part, readable_copy
from .writeback.tables import TableInfo, main_table, read_tables

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up

NAN = float("nan")
#: How far down the header row is looked for, below any title rows.
HEADER_SEARCH_ROWS = 50
#: Rows taken from the reader and converted at a time (bounds the raw rows held at once).
BLOCK_ROWS = 1 << 15
#: calamine's parse of a sheet peaks near twice the sheet's XML: two sheets are parsed
#: side by side only while their XML together is under this (a 100,000-row log's is
#: 44 MB; a Services sheet at Excel's last row, 471 MB, is parsed on its own).
PARALLEL_XML = 128 << 20
#: A sheet whose XML (inflated) is this long or longer, up to KEEP_XML, is read from a
#: copy of the workbook in one pass (see `readcopy`); a shorter one costs less to read
#: twice than the copy's shared strings cost to read again.
COPY_XML = 4 << 20
#: The longest sheet XML kept in memory from the package check for that (a longer
#: sheet, up to Excel's last row, is read from the workbook itself).
KEEP_XML = 64 << 20
#: A sheet read from a copy whose XML is this long or longer is cut in two copies of
#: consecutive rows: the second is parsed while the first one's cells are converted.
SPLIT_XML = 16 << 20


class WorkbookError(Exception):
    """The workbook cannot be used at all (exit code 2); nothing is changed."""


@dataclass(frozen=True)
class SheetData:
    """One sheet located in the workbook.

    Attributes:
      name: the sheet's name as it is in the workbook.
      header_row: Excel row number of the header row.
      headers: default column name -> header text as found (or as it will be
        created, for a tool-owned column that is missing).
      present: default column names actually present in the sheet.
      last_row: Excel row number of the last row holding anything, in any column
        (the header row when there is nothing below it); a table's totals row
        does not count.
      append_at: the Excel row where rows the tool adds go: inside the sheet's
        table when it can grow (its spare empty rows first, then where its
        totals row is, which moves down), else below everything in the sheet.
      append_room: how many rows can join the table from `append_at` before
        the table (its totals row moved down) would reach something below it;
        None: any number (nothing below it). More go below everything in the
        sheet (`append_rows`); `append_blocked` is the row of what is below.
      append_note: why added rows cannot join the sheet's table, when none can
        (something right below it, no spare row), or why the sums of a "Total" row
        typed as the last row of the range or the table do not count them.
      date_order: how slash dates typed as text in this sheet are read ("DMY",
        "MDY" or "": only when they cannot be misread), from the config.
      unsaved: the formulas saved without their result (see `unsaved_formulas`).
      zeros: the formulas saved with the result 0 (see `zero_formulas`).
      frame: the cells below the header, columns named by their default name
        (missing columns are all-empty), index = Excel row numbers, values as
        the engine gives them (str, int, float, datetime, NaN).
    """

    name: str
    header_row: int
    headers: dict[str, str]
    present: frozenset[str]
    frame: pd.DataFrame
    last_row: int = 0
    append_at: int = 0
    append_note: str | None = None
    append_room: int | None = None
    append_blocked: int = 0  # the row below the table that holds something (with a room)
    append_table: str = ""  # the table's name (with a room)
    date_order: str = ""
    #: the sheet's formulas saved without their result (their cells read as empty), for
    #: the Clients, Services and Invoices sheets
    unsaved: UnsavedFormulas = field(default_factory=UnsavedFormulas)
    #: the Services sheet's formulas saved with the result 0 in a workbook that does not ask
    #: to be recalculated on open: a 0 that may be a result never worked out
    zeros: UnsavedFormulas = field(default_factory=UnsavedFormulas)
    #: default column name -> its column number (from 1), for the columns present
    columns: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.append_at:  # no table: below everything in the sheet
            object.__setattr__(self, "append_at", max(self.last_row, self.header_row) + 1)

    def append_rows(self, count: int) -> tuple[int, str | None]:
        """Where `count` rows the tool adds start, and why they do not join the sheet's
        table when they cannot (more than the room above what is below it)."""
        if self.append_room is None or count <= self.append_room:
            return self.append_at, None
        end = max(self.last_row, self.header_row)
        return end + 1, (
            f"{self.name}: the {count} rows the tool adds do not fit in the table "
            f"{self.append_table} above row {self.append_blocked}, which is not empty, so they "
            f"go below row {end}, outside the table {self.append_table}. Move what is below "
            "the table further down, so new rows join it (and its totals and filters count "
            "them)."
        )

    def unsaved_formulas(
        self, rows: Collection[int] | None = None, columns: Collection[str] | None = None
    ) -> dict[int, list[tuple[str, str]]]:
        """Excel row -> (default column name, formula) of the formulas below the header saved
        without their result, in `rows` and `columns` (all if None), in column order."""
        return self._formulas(self.unsaved, rows, columns)

    def zero_formulas(
        self, rows: Collection[int] | None = None, columns: Collection[str] | None = None
    ) -> dict[int, list[tuple[str, str]]]:
        """As `unsaved_formulas`, of the formulas saved with the result 0 (`zeros`)."""
        return self._formulas(self.zeros, rows, columns)

    def _formulas(
        self,
        found: UnsavedFormulas,
        rows: Collection[int] | None,
        columns: Collection[str] | None,
    ) -> dict[int, list[tuple[str, str]]]:
        if not len(found):
            return {}
        named = {number: column for column, number in self.columns.items()}
        if columns is not None:
            named = {number: column for number, column in named.items() if column in columns}
        by_row: dict[int, list[tuple[str, str]]] = {}
        for (row, col), formula in found.formulas(rows, named).items():
            if row > self.header_row:
                by_row.setdefault(row, []).append((named[col], formula))
        return by_row


@dataclass(frozen=True)
class WorkbookData:
    path: Path
    clients: SheetData
    services: SheetData
    invoices: SheetData | None  # None when the workbook has no Invoices sheet yet
    sheet_names: tuple[str, ...]
    tables: dict[str, list[TableInfo]] = field(default_factory=dict)
    #: the tool's Payments sheet (bank lines), None until it exists
    payments: SheetData | None = None
    #: why a sheet named Payments is not the tool's (it has no Bank Ref column)
    payments_problem: str = ""
    #: while there is no Invoices sheet: the sheets whose header row is the Invoices
    #: sheet's, each with the Invoice Nos it holds (the Invoices sheet renamed, if the
    #: ledger issued them: `decide.refuse_renamed_invoices`)
    invoices_elsewhere: dict[str, frozenset[str]] = field(default_factory=dict)
    #: the tool's sheets not in the workbook yet (Invoices, Payments) that [billing]
    #: header_rows names -> that row: a run that creates one writes its headers there
    #: (the rows above left empty), so the next run finds them where it is told to look
    new_header_rows: dict[str, int] = field(default_factory=dict)
    #: what is told about the file itself, not its sheets (none changes the exit code):
    #: that it is digitally signed, and a run's changes make the signature invalid
    package_notes: tuple[str, ...] = ()

    def header_rows(self) -> dict[str, int]:
        """Sheet name -> header row, as the write-back needs it."""
        sheets = [self.clients, self.services] + ([self.invoices] if self.invoices else [])
        sheets += [self.payments] if self.payments else []
        return {**self.new_header_rows, **{s.name: s.header_row for s in sheets}}

    def first_new_row(self, sheet: str) -> int:
        """The first row below the headers of the tool's sheet `sheet` the run creates."""
        return self.new_header_rows.get(sheet, 1) + 1


#: What a sheet's first frame is handed to, while the other sheets are still parsed:
#: (the frames so far, every sheet's name, the names of the sheets being read).
FirstFrame = Callable[[dict[str, "pd.DataFrame"], tuple[str, ...], frozenset[str]], object]
#: The sheets the tool reads (a Payments sheet only once it exists).
READ_SHEETS = (CLIENTS, SERVICES, INVOICES, PAYMENTS)


#: The start of an OLE compound file: an .xls, or an .xlsx encrypted with a password.
_COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The start of a zip (an .xlsx): one that is no zip as a whole was cut short.
_ZIP_START = b"PK\x03\x04"


def folder_given(path: Path) -> str:
    """What a folder named as the workbook is told."""
    return f"{path} is a folder, not a workbook: name the .xlsx file in it."


def _not_a_workbook(path: Path) -> str:
    """Why a file that is no zip cannot be read, and what to do about it."""
    try:
        with path.open("rb") as file:
            head = file.read(1 << 20)
    except OSError:
        head = b""
    else:
        if not head:
            return (
                f"{path.name} is empty (0 bytes): a copy not downloaded yet (a cloud "
                "folder's placeholder) or a save that was interrupted. Let the sync finish, "
                "or put back the latest backup from .billing/backups/, and run again."
            )
    if head.startswith(_ZIP_START):
        return (
            f"{path.name} is cut short (damaged): only its beginning is there, as a download, "
            "sync or save that did not finish leaves it. Let the sync finish, or put back the "
            "latest backup from .billing/backups/, and run again."
        )
    if head.startswith(_COMPOUND_FILE) and "EncryptedPackage".encode("utf-16-le") in head:
        return (
            f"{path.name} is protected with a password, so it cannot be read: in Excel, File > "
            "Info > Protect Workbook > Encrypt with Password, clear the password and save "
            "(keep the folder itself private instead)."
        )
    return (
        f"{path.name} is not an Excel .xlsx workbook (save it from Excel as "
        '"Excel Workbook (*.xlsx)").'
    )


def _load_frames(
    path: Path,
    first_ready: FirstFrame | None = None,
    unsaved: dict[str, UnsavedFormulas] | None = None,
    zeros: dict[str, UnsavedFormulas] | None = None,
    notes: list[str] | None = None,
) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """The Clients, Services and Invoices sheets as raw frames, and every sheet's name.

    Other sheets (summaries, notes, charts' data) are never parsed: a report
    sheet that grows with the history would otherwise slow every run.
    `first_ready` gets the Clients sheet's frame as soon as it is there, while
    the long Services sheet is still parsed, so that work on it overlaps.
    `unsaved` gets each sheet's formulas saved without their result, `zeros` the
    Services sheet's saved with the result 0 (`Findings.zeros`); `notes` what is told
    about the file itself (it is digitally signed).
    """
    if not path.exists():
        raise WorkbookError(f"the workbook {path} does not exist.")
    if path.is_dir():
        raise WorkbookError(folder_given(path))
    if not zipfile.is_zipfile(path):
        raise WorkbookError(_not_a_workbook(path))
    with _SheetReader(path) as reader:
        # zip bombs, stray far cells, ...; and the error cells calamine shows as empty.
        # Each sheet is parsed as soon as it has passed, while the next is checked.
        found = check_package(
            path, (CLIENTS, SERVICES, INVOICES), reader.checked, KEEP_XML, (SERVICES,)
        )
        # The error values go into the frames; formulas without their result are for
        # validation to tell.
        errors, merges = found.errors, found.merges
        if unsaved is not None:
            unsaved.update(found.unsaved)
        if zeros is not None:
            zeros.update(found.zeros)
        if notes is not None and found.signed:
            notes.append(signed_notice(path.name))
        try:
            names, wanted = reader.start_all()
            first = [n for n in wanted if _is_one_of(n, (CLIENTS,))]
            frames = _show_errors(reader.frames(first), errors, merges)
        except Exception as exc:  # calamine raises its own types for damaged files
            failure = exc
        else:
            if first_ready is not None:  # outside the try: its failures are its own
                first_ready(frames, names, frozenset(wanted))
            try:
                rest = [name for name in wanted if name not in frames]
                frames.update(_show_errors(reader.frames(rest), errors, merges))
            except Exception as exc:
                failure = exc
            else:
                return {name: frames[name] for name in wanted}, names
    # calamine refuses a whole workbook for one part it does not know (an Excel
    # 4.0 macro sheet, say): read a copy holding only the sheets the tool needs.
    try:
        copy, names = readable_copy(path, READ_SHEETS)
    except ValueError as exc:
        raise WorkbookError(f"{path.name} could not be read as a workbook: {exc}.") from None
    try:
        frames, _ = _read_frames(io.BytesIO(copy))
    except Exception as exc:
        cause = damaged_part(path, READ_SHEETS) or str(exc) or str(failure)
        raise WorkbookError(f"{path.name} could not be read as a workbook: {cause}.") from None
    return _show_errors(frames, errors, merges), names


def _show_errors(
    frames: dict[str, pd.DataFrame],
    errors: dict[str, dict[tuple[int, int], str]],
    merges: dict[str, list[CellRange]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Put each Excel error value (`#DIV/0!`, `#REF!`) back into its cell as text (an
    `ExcelError`, told apart from text typed), and
    show a cell merged down a column in each row it covers.

    calamine reads an error cell as empty, so a broken Amount formula would be
    billed as Quantity x Unit Price without a word; as text, the row fails
    validation with the error named ("Amount: shows the Excel error #DIV/0!"); in a
    text column (a Description looked up by VLOOKUP) it would be printed as typed.
    A cell merged over rows (`OLD-0099` in G3:G4) holds its value in its first
    row only, the others read empty: two lines billed by hand under one merged
    Invoice No would see the second billed again. Each row reads what shows.
    """
    for sheet, ranges in (merges or {}).items():
        frame = frames.get(sheet)
        if frame is not None:
            _fill_merged(frame, ranges)
    for sheet, cells in errors.items():
        frame = frames.get(sheet)
        if frame is None:
            continue
        rows, cols = frame.shape
        for (row, col), text in cells.items():
            if row <= rows and col <= cols:
                frame.iat[row - 1, col - 1] = ExcelError(text)
    return frames


def _fill_merged(frame: pd.DataFrame, ranges: list[CellRange]) -> None:
    """Each cell merged down one column (not across columns: a title over a row is one
    cell) shown in every row it covers; a column at a time, however many merges (a log
    can hold one per invoice)."""
    import numpy as np

    rows, cols = frame.shape
    by_column: dict[int, list[tuple[int, int]]] = {}
    for top, first, bottom, last in ranges:
        if first == last and top < bottom and top <= rows and first <= cols:
            by_column.setdefault(first - 1, []).append((top, min(bottom, rows)))
    for col, spans in by_column.items():
        tops = np.array([top for top, _ in spans], dtype=np.int64)
        counts = np.array([bottom - top for top, bottom in spans], dtype=np.int64)
        # The rows each merge covers below its first (frame rows from 0), and that first row.
        starts = np.repeat(tops, counts)
        covered = starts + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cells = frame.iloc[:, col].to_numpy(dtype=object, copy=True)
        shown = cells[starts - 1]
        filled = pd.notna(shown)
        cells[covered[filled]] = shown[filled]
        frame.isetitem(col, cells)


class _SheetReader:
    """The wanted sheets parsed by calamine on two threads, each once it has been checked.

    calamine lets go of the interpreter while it parses a sheet, so the
    Services sheet is parsed while the Invoices sheet is still being checked,
    and then both side by side on two cores, unless that would hold too much
    at once (PARALLEL_XML). Each thread has its own calamine workbook (one
    cannot be used by two threads at once).

        with _SheetReader(path) as reader:
            check_package(path, sheets, reader.checked, KEEP_XML)
            names, wanted = reader.start_all()
            frames = reader.frames(wanted)

    A long sheet is read from a copy of the workbook made of what the check
    looked at (`readcopy`), a short one from the workbook itself; a longer
    one (SPLIT_XML) in two pieces of rows on two threads, so that the cells
    of the first are converted (which holds the interpreter) while calamine
    parses the second (which does not). Three threads: the Invoices sheet is
    parsed beside the two pieces.
    """

    def __init__(self, path: Path) -> None:
        import numpy

        numpy.empty  # noqa: B018 - loaded on this thread, before the reading threads use it
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="read")
        self.started: dict[str, Future[RawCells] | _Pieces] = {}
        self.copies: dict[str, CheckedSheet] = {}  # sheets to read from a copy, XML in hand
        self.pieces: dict[tuple[str, int], CheckedSheet] = {}  # the same, of a sheet cut up
        self.names: tuple[str, ...] = ()  # every sheet's name, once a book has been opened
        self.local = threading.local()
        self.books: list[Any] = []
        self.parsing = 0  # XML bytes of the sheets being parsed
        self.turn = threading.Condition()

    def __enter__(self) -> _SheetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for book in self.books:
            book.close()

    def checked(self, sheet: CheckedSheet) -> None:
        """Parse a sheet that passed the package check, on a thread (a long one from a copy,
        a longer one from two, see SPLIT_XML)."""
        if sheet.size >= COPY_XML and sheet.xml and sheet.name not in self.started:
            parts = split_xml(sheet.xml, 2) if sheet.size >= SPLIT_XML else [sheet.xml]
            if len(parts) > 1:
                self.started[sheet.name] = self._start_pieces(sheet, parts)
                return
            self.copies[sheet.name] = sheet  # taken by the thread; gone once copied
        self.start(sheet.name, sheet.size)

    def _start_pieces(self, sheet: CheckedSheet, parts: list[tuple[bytes, ...]]) -> _Pieces:
        futures = []
        seen: dict[int, dict[Any, Any]] = {}  # column -> its texts and days, in every piece
        for k, xml in enumerate(parts):
            size = sum(len(chunk) for chunk in xml)
            self.pieces[sheet.name, k] = replace(sheet, size=size, xml=xml)
            futures.append(self.pool.submit(self._parse_piece, sheet.name, k, size, seen))
        return _Pieces(self, sheet.name, futures)

    def start(self, sheet: str, size: int = 0) -> None:
        """Parse `sheet` (a name as the workbook spells it; its XML `size` bytes) on a thread."""
        if sheet not in self.started:
            self.started[sheet] = self.pool.submit(self._parse, sheet, size)

    def start_all(self) -> tuple[tuple[str, ...], list[str]]:
        """Every sheet's name, and the sheets read (each started, if it was not yet)."""
        # As a reading thread found them, if one opened the workbook: opening it here as
        # well would read its shared strings once more, beside the parsing.
        names = self.names or self._names(self._book())
        wanted = [n for n in names if _is_one_of(n, READ_SHEETS)]
        for name in wanted:
            self.start(name)
        return names, wanted

    def frames(self, sheets: list[str]) -> dict[str, pd.DataFrame]:
        """The frames (as `_read_frames`) of `sheets`, once they are parsed.

        pandas is imported here, on this thread, while the sheets are parsed:
        a module imported lazily must be first touched by one thread only (the
        reading threads use numpy alone, loaded before they start).
        """
        pd.DataFrame  # noqa: B018 - imports pandas now, beside the parsing
        return {name: _frame(self.started[name].result()) for name in sheets}

    def _parse(self, sheet: str, size: int) -> RawCells:
        with self.turn:
            self.turn.wait_for(lambda: not self.parsing or self.parsing + size <= PARALLEL_XML)
            self.parsing += size
        try:
            with self.turn:
                kept = self.copies.pop(sheet, None)
            copy = None if kept is None else make_copy(kept)
            del kept  # the sheet's XML, now in the copy
            cells = None if copy is None else _copy_cells(sheet, copy)
            return cells if cells is not None else _raw_cells(self._book().get_sheet_by_name(sheet))
        finally:
            with self.turn:
                self.parsing -= size
                self.turn.notify_all()

    def _parse_piece(
        self, sheet: str, k: int, size: int, seen: dict[int, dict[Any, Any]]
    ) -> Piece | None:
        """The `k`th piece of a sheet cut up, from its copy; None when that cannot be read."""
        with self.turn:
            self.turn.wait_for(lambda: not self.parsing or self.parsing + size <= PARALLEL_XML)
            self.parsing += size
            kept = self.pieces.pop((sheet, k))
        try:
            copy = make_copy(kept)
            del kept  # its XML, now in the copy
            if copy is None:
                return None
            try:
                with opened(copy) as book:
                    return _piece_cells(book.get_sheet_by_name(sheet), seen)
            except Exception:
                return None
        finally:
            with self.turn:
                self.parsing -= size
                self.turn.notify_all()

    def _book(self) -> Any:
        book = getattr(self.local, "book", None)
        if book is None:
            from python_calamine import CalamineWorkbook

            book = self.local.book = CalamineWorkbook.from_path(str(self.path))
            self.books.append(book)
            self._names(book)
        return book

    def _names(self, book: Any) -> tuple[str, ...]:
        """Every sheet's name, as `book` (of the workbook itself, not yet in use) lists them."""
        names = tuple(str(name) for name in book.sheet_names)
        self.names = self.names or names
        return names


class _Pieces:
    """A sheet being read in pieces (`_SheetReader._start_pieces`), as a future of its cells."""

    def __init__(self, reader: _SheetReader, sheet: str, futures: list[Future[Piece | None]]):
        self.reader, self.sheet, self.futures = reader, sheet, futures

    def result(self) -> RawCells:
        """The pieces joined; the sheet read whole from the workbook if one could not be read."""
        pieces = [future.result() for future in self.futures]
        if any(piece is None for piece in pieces):
            return _raw_cells(self.reader._book().get_sheet_by_name(self.sheet))
        return _joined([piece for piece in pieces if piece is not None])


#: Some rows of a sheet: the Excel row (from 0) of the first, how many, and column
#: number (from 0) -> their cells.
Piece = tuple[int, int, dict[int, list[Any]]]


def _piece_cells(sheet: Any, seen: dict[int, dict[Any, Any]]) -> Piece:
    """A piece's cells, from its first row with anything, converted as `_cells` converts them.

    `seen` (column -> texts and days met) is shared by the pieces of a sheet.
    """
    start = sheet.start
    if start is None:
        return 0, 0, {}
    first, lead = start
    rows = sheet.to_python()  # from the first row and column with anything
    columns = {
        lead + i: _cells(list(map(itemgetter(i), rows)), seen.setdefault(lead + i, {}))
        for i in range(sheet.width)
    }
    return first, len(rows), columns


def _joined(pieces: list[Piece]) -> RawCells:
    """The pieces of a sheet as its cells from A1 (as `_raw_cells` gives a sheet read whole)."""
    filled = [piece for piece in pieces if piece[1]]
    if not filled:
        return {}, 0
    import numpy as np

    height = max(first + rows for first, rows, _ in filled)
    width = max(max(columns) + 1 for _, _, columns in filled)
    joined = {i: np.full(height, NAN, dtype=object) for i in range(width)}
    for first, rows, columns in filled:
        for i, cells in columns.items():
            joined[i][first : first + rows] = _array(cells)
    return joined, height


def _copy_cells(sheet: str, copy: Copy) -> RawCells | None:
    """A sheet's cells read from its copy (`readcopy`); None when the copy cannot be read:
    the workbook itself is then read, and tells what is wrong with it."""
    try:
        with opened(copy) as book:
            return _raw_cells(book.get_sheet_by_name(sheet))
    except Exception:
        return None


def _read_frames(source: Path | io.BytesIO) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """The wanted sheets as frames of raw cells (columns 0, 1, ...; rows from A1)."""
    from python_calamine import CalamineWorkbook

    if isinstance(source, Path):
        book = CalamineWorkbook.from_path(str(source))
    else:
        book = CalamineWorkbook.from_filelike(source)
    try:
        names = tuple(str(name) for name in book.sheet_names)
        wanted = [n for n in names if _is_one_of(n, READ_SHEETS)]
        frames = {n: _frame(_raw_cells(book.get_sheet_by_name(n))) for n in wanted}
    finally:
        book.close()
    return frames, names


#: A sheet's cells from A1: column number (from 0) -> its cells, and how many rows.
RawCells = tuple[dict[int, Any], int]


def _raw_cells(sheet: Any) -> RawCells:
    """A calamine sheet's cells from A1 as object arrays, converted a column at a time.

    The rows are taken from calamine a block at a time and converted at once,
    so that a sheet at Excel's last row is never held as a million Python row
    lists besides the converted columns (that was most of the memory a long
    log took to read). Runs on the reading threads: numpy only, no pandas.
    """
    import numpy as np

    start = sheet.start
    if start is None:  # nothing in the sheet
        return {}, 0
    lead, width = start[1], sheet.width  # calamine leaves out the empty columns before `lead`
    cells: list[list[Any]] = [[] for _ in range(width)]
    seen: list[dict[Any, Any]] = [{} for _ in range(width)]
    rows = sheet.iter_rows()  # from row 1: the empty rows above the cells come as ""
    while block := list(islice(rows, BLOCK_ROWS)):
        for i, column in enumerate(cells):
            column.extend(_cells(list(map(itemgetter(i), block)), seen[i]))
    del rows, block, seen
    height = len(cells[0]) if cells else 0
    columns = {i: np.full(height, NAN, dtype=object) for i in range(lead)}
    for i, column in enumerate(cells):
        columns[lead + i] = _array(column)
        column.clear()
    return columns, height


def _array(cells: list[Any]) -> Any:
    """A list of cells as an object array, each cell as it is (a list is not taken apart).

    Given to numpy as a list, each cell would be looked at to see whether it is a
    sequence to unpack: twice as long, for a long column.
    """
    import numpy as np

    return np.fromiter(cells, dtype=object, count=len(cells))


def _frame(raw: RawCells) -> pd.DataFrame:
    """The object frame of a sheet's cells (index: rows from 0, that is Excel row - 1)."""
    columns, height = raw
    return pd.DataFrame(columns, index=pd.RangeIndex(height), dtype=object)


def _cell(value: Any) -> Any:
    """One raw cell as the sheet frames hold it (what `_cells` does for a whole column)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return NAN if value == "" else value
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _cells(values: Sequence[Any], seen: dict[Any, Any]) -> list[Any]:
    """A column of raw cells, each converted as `_cell` converts one.

    This is what pandas' own Excel reader gives (with dtype=object and only
    "" as missing: a client called "None" or "NA" is a name): empty cells
    NaN, whole floats int, dates datetime. The usual kinds of cell (text,
    numbers, dates) are converted inline and only the rare others get a call
    each: a call per cell was most of the time it took to read a long log.
    `seen` (one per column) maps each text, day and time met so far to the
    one object the column holds for it: a client's name or a day is kept
    once, not once per row.
    """
    get, keep = seen.get, seen.setdefault
    return [
        ((get(v) or keep(v, v)) if v else NAN)
        if v.__class__ is str
        else (int(v) if v.is_integer() else v)
        if v.__class__ is float
        else get(v) or _seen_cell(v, seen)
        for v in values
    ]


def _seen_cell(value: Any, seen: dict[Any, Any]) -> Any:
    """A cell that is neither text nor a number: a day or a time is remembered in `seen`."""
    if value.__class__ is date or value.__class__ is datetime:
        return seen.setdefault(value, _cell(value))
    return _cell(value)


def _is_one_of(name: str, sheets: tuple[str, ...]) -> bool:
    return normalise_header(name) in {normalise_header(s) for s in sheets}


def _find_sheet(frames: dict[str, pd.DataFrame], wanted: str) -> str | None:
    for name in frames:
        if normalise_header(name) == normalise_header(wanted):
            return name
    return None


def _locate_header(
    frame: pd.DataFrame,
    sheet: str,
    expected: dict[str, str],
    required: list[str],
    fixed: int | None,
) -> tuple[int, dict[str, int]]:
    """(frame row index of the header, default column -> frame column index)."""
    wanted = {normalise_header(h): col for col, h in expected.items()}
    rows = [fixed - 1] if fixed else range(min(HEADER_SEARCH_ROWS, len(frame)))
    best: tuple[int, int, list[str]] = (-1, -1, [])
    best_found: dict[str, int] = {}
    for index in rows:
        if index < 0 or index >= len(frame):
            continue
        cells = frame.iloc[index].tolist()
        found: dict[str, int] = {}
        for position, cell in enumerate(cells):
            if isinstance(cell, str) and normalise_header(cell) in wanted:
                found.setdefault(wanted[normalise_header(cell)], position)
        if all(col in found for col in required):
            return index, found
        texts = [str(c).strip() for c in cells if isinstance(c, str) and c.strip()]
        if len(found) > best[1]:
            best, best_found = (index, len(found), texts), found
    # Only the required headers the closest row lacks are named: listing all three when
    # Description alone was missing sent the bookkeeper looking for the other two.
    absent = [expected[c] for c in required if c not in best_found]
    missing = f"column{'s' if len(absent) > 1 else ''} {', '.join(absent)}"
    if fixed:
        has = f" it has: {', '.join(best[2])}." if best[0] >= 0 and best[2] else " it is empty."
        raise WorkbookError(
            f"sheet {sheet!r}: row {fixed}, the header row [billing] header_rows names, does "
            f"not hold the required {missing};{has} Set header_rows to the row your "
            "headers are on (or take the sheet out of it: the row is then found), or rename "
            "the headers in [columns] of billing.toml."
        )
    if best[0] >= 0 and best[2]:
        raise WorkbookError(
            f"sheet {sheet!r} has no header row with the required {missing}; "
            f"the closest, row {best[0] + 1}, has: {', '.join(best[2])}. Add the missing "
            "headers, or rename them in [columns] of billing.toml."
        )
    raise WorkbookError(
        f"sheet {sheet!r} has no header row with the required {missing} "
        f"in its first {HEADER_SEARCH_ROWS} rows."
    )


def _sheet(
    frames: dict[str, pd.DataFrame],
    name: str,
    config: Config,
    names: tuple[str, ...],
    tables: dict[str, list[TableInfo]],
    unsaved: dict[str, UnsavedFormulas] | None = None,
    zeros: dict[str, UnsavedFormulas] | None = None,
) -> SheetData:
    actual = _find_sheet(frames, name)
    renames = config.columns
    expected = {c.name: header_for(name, c.name, renames) for c in SHEETS[name]}
    required = [c.name for c in SHEETS[name] if c.required] or ["Invoice No"]
    if actual is None:
        raise WorkbookError(
            f"{_no_sheet(name, names)} Rename the sheet that holds them to {name} "
            f"({SHEET_NAMES_FIXED}), or add a sheet named {name}."
        )
    raw = _without_totals(frames[actual], tables.get(actual, []))
    fixed = config.billing.header_rows.get(name)
    header_index, positions = _locate_header(raw, actual, expected, required, fixed)
    header = raw.iloc[header_index].tolist()
    _refuse_look_alikes(actual, name, header, positions, expected)
    _refuse_missing_renames(actual, name, header, positions, renames)
    body = raw.iloc[header_index + 1 :]
    import numpy as np

    # Every column as the cells were read (object), built at once: no column is turned
    # into pandas' own dates or strings, which took a pass over each long column.
    empty = np.full(len(body), None, dtype=object)
    frame = pd.DataFrame(
        {c: body.iloc[:, positions[c]].to_numpy() if c in positions else empty for c in expected},
        index=pd.RangeIndex(header_index + 2, header_index + 2 + len(body)),
        dtype=object,
    )
    last = _last_filled(raw, 0, len(raw))
    last_row = last + 1 if last >= 0 else header_index + 1
    last_row = max(last_row, header_index + 1)
    first = min(positions.values(), default=-1) + 1
    table = main_table(tables.get(actual, []), header_index + 1, expected.values(), first)
    append_at, room, blocked, note = _append_place(
        actual, header_index + 1, last_row, raw, table
    )
    return SheetData(
        name=actual,
        header_row=header_index + 1,
        headers=expected,
        present=frozenset(positions),
        frame=frame,
        last_row=last_row,
        append_at=append_at,
        append_note=note,
        append_room=room,
        append_blocked=blocked,
        append_table=table.name if table is not None else "",
        date_order=config.billing.date_order.upper(),
        unsaved=(unsaved or {}).get(actual, UnsavedFormulas()),
        zeros=(zeros or {}).get(actual, UnsavedFormulas()),
        columns={column: position + 1 for column, position in positions.items()},
    )


#: Why a sheet must be renamed rather than its name given in the config.
SHEET_NAMES_FIXED = "sheet names are fixed; only column headers can be renamed in billing.toml"


def _no_sheet(name: str, names: Sequence[str]) -> str:
    """The start of what a workbook without the sheet `name` is told: the sheets it has."""
    return f"the workbook has no {name!r} sheet (it has: {', '.join(names)})."


def renamed_invoices(names: Sequence[str], holders: dict[str, list[str]]) -> str:
    """What a workbook without an Invoices sheet is told when its sheets `holders` hold
    invoices the tool issued (sheet -> their numbers): the Invoices sheet renamed.

    >>> print(renamed_invoices(("Clients", "Services", "AR Ledger"),
    ...                        {"AR Ledger": ["INV-1", "INV-2", "INV-3", "INV-4"]}))
    ... # doctest: +NORMALIZE_WHITESPACE
    the workbook has no 'Invoices' sheet (it has: Clients, Services, AR Ledger), but its
    sheet 'AR Ledger' holds invoices the tool issued (INV-1, INV-2, INV-3 and 1 more). Rename
    'AR Ledger' back to Invoices (sheet names are fixed; only column headers can be renamed
    in billing.toml): the run would otherwise start a new Invoices sheet beside it, and
    the payments typed there would not count (paid invoices would be reminded and reissued).
    """
    sheets = list(holders)
    held = [
        f"{sheet!r} holds invoices the tool issued ({', '.join(numbers[:3])}"
        + (f" and {len(numbers) - 3} more" if len(numbers) > 3 else "") + ")"
        for sheet, numbers in holders.items()
    ]
    which = repr(sheets[0]) if len(sheets) == 1 else "the one the payments are typed in"
    return (
        f"{_no_sheet(INVOICES, names)[:-1]}, but its sheet {'; '.join(held)}. Rename {which} "
        f"back to {INVOICES} ({SHEET_NAMES_FIXED}): the run would otherwise start a new "
        f"{INVOICES} sheet beside it, and the payments typed there would not count (paid "
        "invoices would be reminded and reissued)."
    )


#: Headers that name a column the tool reads, written otherwise (sheet -> column ->
#: headers): with the column itself missing, its cells would not be read, and the tool
#: would add its own empty column beside them.
LOOK_ALIKES = {
    SERVICES: {
        "Quantity": ("qty", "qty.", "qnty", "quant.", "hours", "hrs", "hrs.", "units"),
        "Unit Price": ("price", "unit cost", "unitprice", "price per unit"),
        "Amount": ("amt", "amt.", "line total"),
        "Invoice No": ("invoice", "invoice number", "invoice no.", "invoice #", "invoice num",
                       "inv", "inv no", "inv. no.", "inv #", "inv.", "invoice id", "bill no"),
    },
    INVOICES: {
        "Paid Amount": ("amount paid", "paid", "payment", "payment amount", "amount received",
                        "received", "paid amt"),
        "Paid Date": ("date paid", "payment date", "paid on", "date received", "received on"),
    },
}  # fmt: skip
#: Why a look-alike column may not be left unread.
_LOOK_ALIKE_HARM = {
    "Invoice No": "the lines numbered there would be billed again",
    "Paid Amount": "payments typed there would not count, and paid invoices would be reminded",
    "Paid Date": "payments typed there would not count, and paid invoices would be reminded",
}


def _refuse_missing_renames(
    sheet: str,
    name: str,
    cells: list[object],
    positions: dict[str, int],
    renames: dict[str, dict[str, str]],
) -> None:
    """A WorkbookError when billing.toml renames a column the bookkeeper types to a header
    the sheet does not have: the column would be read as empty (every line billed as
    quantity 1, no tax), while the sheet's own column is left unread."""
    if name not in (CLIENTS, SERVICES):  # the Invoices sheet's columns the tool adds itself
        return
    owners = {c.name: c.owner for c in SHEETS[name]}
    shown = [str(c).strip() for c in cells if isinstance(c, str) and c.strip()]
    for column, header in renames.get(name, {}).items():
        if column in positions or owners.get(column) == "tool":
            continue  # found, or a column the tool makes itself under that header
        near = difflib.get_close_matches(header, shown, n=1)
        hint = f" (the nearest is {near[0]!r})" if near else ""
        raise WorkbookError(
            f"sheet {sheet!r}: billing.toml names {header!r} as the {column} column "
            f"([columns.{name}]), but the header row has no such header{hint}. Correct the "
            "header in the sheet or in billing.toml: without it, that column would be read as "
            "empty on every row."
        )


def _refuse_look_alikes(
    sheet: str,
    name: str,
    cells: list[object],
    positions: dict[str, int],
    expected: dict[str, str],
) -> None:
    """A WorkbookError when a column the tool reads is missing and a header beside means it."""
    for column, aliases in LOOK_ALIKES.get(name, {}).items():
        if column in positions:
            continue
        for cell in cells:
            if isinstance(cell, str) and normalise_header(cell) in aliases:
                harm = _LOOK_ALIKE_HARM.get(column, "every line would be billed without it")
                raise WorkbookError(
                    f"sheet {sheet!r} has no {expected[column]} column, but has "
                    f"{cell.strip()!r}, which the tool does not read as {expected[column]} "
                    f"({harm}). Rename that header to {expected[column]}, or add "
                    f'[columns.{name}] "{column}" = "{cell.strip()}" to billing.toml.'
                )


def _without_totals(raw: pd.DataFrame, tables: list[TableInfo]) -> pd.DataFrame:
    """The sheet with its tables' totals rows blanked: a total is not a service or an invoice."""
    rows = [t.totals_row for t in tables if t.totals_row is not None]
    rows = [r for r in rows if r - 1 < len(raw)]
    if not rows:
        return raw
    raw = raw.copy()
    for t in tables:
        if t.totals_row is not None and t.totals_row - 1 < len(raw):
            _, c1, _, c2 = t.ref
            raw.iloc[t.totals_row - 1, c1 - 1 : min(c2, raw.shape[1])] = None
    return raw


def _append_place(
    sheet: str, header_row: int, last_row: int, raw: pd.DataFrame, table: TableInfo | None
) -> tuple[int, int | None, int, str | None]:
    """(row where added rows go, how many can go there (None: any), the row of what is
    below the table that limits them, why they cannot join the sheet's table when none
    can, or why they miss the totals typed as the last row of a plain range or a table)."""
    if table is None:
        return last_row + 1, None, 0, _below_totals(sheet, header_row, last_row, raw)
    _, c1, _, c2 = table.ref
    typed = [c - 1 for c in range(c1, c2 + 1) if c not in table.calculated and c - 1 < raw.shape[1]]
    inside = _last_filled(raw, table.data_first - 1, table.data_last, typed)
    # A spare row holds only the calculated columns' formulas: it is free.
    start = (inside + 1 if inside >= 0 else table.data_first - 1) + 1
    # A totals row typed as the table's last row (what LibreOffice leaves of one through
    # .ods): the rows go below it, in the table, and its sums do not count them.
    typed_totals = _below_totals(sheet, header_row, start - 1, raw, table.name)
    columns = [c - 1 for c in range(c1, c2 + 1) if c - 1 < raw.shape[1]]
    below = _first_filled(raw, table.ref[2], len(raw), columns)  # where the totals row moves
    if below < 0:
        return start, None, 0, typed_totals
    # Rows start.. join the table while it (its totals row moved down under them) ends
    # above the row holding something: a note far below leaves room for many.
    room = below + 1 - table.totals_rows - start
    if room > 0:
        return start, room, below + 1, typed_totals
    return last_row + 1, None, 0, (
        f"{sheet}: rows the tool adds go below row {last_row}, outside the table "
        f"{table.name}, because row {below + 1} below the table is not empty. Move what is "
        "below the table, so new rows join it (and its totals and filters count them)."
    )


def _below_totals(
    sheet: str, header_row: int, last_row: int, raw: pd.DataFrame, table: str = ""
) -> str | None:
    """What to say when a plain range's last row, or the last row of the table named
    `table`, is a totals row ("Total", "Subtotal" or "Grand total" in its first text cell,
    where an invoice's number is: `is_total_label`, the rule for the Services sheet's too):
    rows the tool adds go below it, where its sums do not count them."""
    if last_row <= header_row or last_row > len(raw):
        return None
    cells = [c for c in raw.iloc[last_row - 1].tolist() if isinstance(c, str) and c.strip()]
    if not cells or not is_total_label(cells[0]):
        return None
    label = f"{sheet}: rows the tool adds go below row {last_row} ({cells[0].strip()!r})"
    if table:
        return (
            f"{label} of the table {table}, so the totals there do not count them: it is an "
            "ordinary row of the table, not its totals row (saving the workbook as .ods, "
            "say, turns one into the other). Delete that row and turn the table's totals "
            "row on (Table Design > Total Row): the tool keeps that row last."
        )
    return (
        f"{label}, so the totals there do not count them. Make the sheet an Excel Table with "
        "a totals row (Ctrl+T, then Table Design > Total Row): the tool keeps that row last; "
        "or sum whole columns above the header."
    )


#: Rows looked at a time when looking for the last (or first) row that holds anything.
SCAN_ROWS = 512


def _last_filled(raw: pd.DataFrame, start: int, stop: int, columns: list[int] | None = None) -> int:
    """The last frame row in start..stop-1 with anything in `columns` (all if None), or -1.

    Looked for from the bottom up, a few rows at a time: a long log's last
    rows are filled, so the whole sheet is not gone through.
    """
    cells = raw if columns is None else raw.iloc[:, columns]
    start, stop = max(start, 0), min(stop, len(raw))
    while stop > start:
        lo = max(start, stop - SCAN_ROWS)
        filled = cells.iloc[lo:stop].notna().to_numpy().any(axis=1).nonzero()[0]
        if len(filled):
            return lo + int(filled[-1])
        stop = lo
    return -1


def _first_filled(raw: pd.DataFrame, start: int, stop: int, columns: list[int]) -> int:
    """The first frame row in start..stop-1 with anything in `columns`, or -1."""
    cells = raw.iloc[:, columns]
    start, stop = max(start, 0), min(stop, len(raw))
    while start < stop:
        hi = min(stop, start + SCAN_ROWS)
        filled = cells.iloc[start:hi].notna().to_numpy().any(axis=1).nonzero()[0]
        if len(filled):
            return start + int(filled[0])
        start = hi
    return -1


def read_workbook(
    path: Path, config: Config, clients_read: Callable[[SheetData], object] | None = None
) -> WorkbookData:
    """Locate the Clients, Services and Invoices sheets; raise WorkbookError if unusable.

    `clients_read(clients)` is called (on this thread) as soon as the Clients
    sheet is located, while the Services sheet is still parsed: what it does
    with the clients (validate them) then costs the run no time of its own.
    It is not called when the workbook turns out unusable before that.
    """
    early: list[tuple[pd.DataFrame, SheetData, dict[str, list[TableInfo]]]] = []

    def located(
        frames: dict[str, pd.DataFrame], names: tuple[str, ...], read: frozenset[str]
    ) -> None:
        tables = read_tables(path, read)
        try:
            sheet = _sheet(frames, CLIENTS, config, names, tables, unsaved)
        except WorkbookError:
            return  # raised in its turn below, after what is wrong with the workbook as a whole
        early.append((frames[sheet.name], sheet, tables))
        if clients_read is not None:
            clients_read(sheet)

    unsaved: dict[str, UnsavedFormulas] = {}
    zeros: dict[str, UnsavedFormulas] = {}
    notes: list[str] = []
    frames, names = _load_frames(path, located, unsaved, zeros, notes)
    if early and frames.get(early[0][1].name) is early[0][0]:  # located in the frames read
        _, clients, tables = early[0]
    else:
        tables = read_tables(path, frozenset(frames))
        clients = _sheet(frames, CLIENTS, config, names, tables, unsaved)
        if clients_read is not None:
            clients_read(clients)
    services = _sheet(frames, SERVICES, config, names, tables, unsaved, zeros)
    invoices: SheetData | None = None
    actual = _find_sheet(frames, INVOICES)
    if actual is not None:
        if frames[actual].dropna(how="all").empty:
            # An empty sheet the bookkeeper added: the tool writes its headers.
            expected = {
                c.name: header_for(INVOICES, c.name, config.columns) for c in SHEETS[INVOICES]
            }
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in expected})
            row = config.billing.header_rows.get(INVOICES, 1)  # where it writes them
            invoices = SheetData(
                actual, row, expected, frozenset(), empty, last_row=row, append_at=row + 1
            )
        else:
            invoices = _sheet(frames, INVOICES, config, names, tables, unsaved)
    payments, problem = _payments_sheet(frames, config, names, tables)
    elsewhere = _invoices_elsewhere(path, config, names) if actual is None else {}
    absent = {INVOICES: invoices is None, PAYMENTS: payments is None}
    new_rows = {s: row for s, row in config.billing.header_rows.items() if absent.get(s)}
    return WorkbookData(
        path, clients, services, invoices, names, tables, payments=payments,
        payments_problem=problem, invoices_elsewhere=elsewhere, new_header_rows=new_rows,
        package_notes=tuple(notes),
    )  # fmt: skip


#: The Invoices headers a sheet's header row must hold to look like the Invoices sheet.
INVOICES_LOOK = ["Invoice No", "Client", "Total"]


def _invoices_elsewhere(
    path: Path, config: Config, names: tuple[str, ...]
) -> dict[str, frozenset[str]]:
    """The sheets other than the tool's whose header row holds the Invoices headers (as
    [columns.Invoices] renames them), each with the Invoice Nos it holds.

    Asked only of a workbook with no Invoices sheet, and of each other sheet only its
    first rows (`sheet_heads`); a sheet that has that header row is then read whole.
    """
    others = [name for name in names if not _is_one_of(name, READ_SHEETS)]
    if not others:
        return {}
    expected = {c.name: header_for(INVOICES, c.name, config.columns) for c in SHEETS[INVOICES]}
    fixed = config.billing.header_rows.get(INVOICES)
    found: dict[str, frozenset[str]] = {}
    for head in sheet_heads(path, others, fixed or HEADER_SEARCH_ROWS):
        try:
            copy = make_copy(head)
            if copy is None:
                continue
            with opened(copy) as book:
                frame = _frame(_raw_cells(book.get_sheet_by_name(head.name)))
            _locate_header(frame, head.name, expected, INVOICES_LOOK, fixed)
            frame = _whole_sheet(path, head.name)
        except Exception:  # no such header row, unsafe to read whole, calamine's own types
            continue
        index, positions = _locate_header(frame, head.name, expected, INVOICES_LOOK, fixed)
        numbers = (cell_text(v) for v in frame.iloc[index + 1 :, positions["Invoice No"]])
        found[head.name] = frozenset(n for n in numbers if n)
    return found


def _whole_sheet(path: Path, sheet: str) -> pd.DataFrame:
    """A sheet the tool does not read as a frame of raw cells, once checked as the tool's
    own sheets are (`check_package`)."""
    from python_calamine import CalamineWorkbook

    check_package(path, (sheet,))
    book = CalamineWorkbook.from_path(str(path))
    try:
        return _frame(_raw_cells(book.get_sheet_by_name(sheet)))
    finally:
        book.close()


def _payments_sheet(
    frames: dict[str, pd.DataFrame],
    config: Config,
    names: tuple[str, ...],
    tables: dict[str, list[TableInfo]],
) -> tuple[SheetData | None, str]:
    """The tool's Payments sheet, or (None, why) for a sheet of that name that is not the tool's.

    A bookkeeper's own sheet called Payments must not stop a run that imports
    no statement; the bank import says so when it has lines to write.
    """
    actual = _find_sheet(frames, PAYMENTS)
    if actual is None or frames[actual].dropna(how="all").empty:
        return None, ""
    try:
        return _sheet(frames, PAYMENTS, config, names, tables), ""
    except WorkbookError as exc:
        return None, str(exc)
