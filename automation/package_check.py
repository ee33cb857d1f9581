"""Look at a workbook file before any parser reads it: refuse what would crash or exhaust it.

An .xlsx is a zip of XML parts. The spreadsheet reader trusts it: a part that
inflates to gigabytes, two parts with the same name, or one stray cell at
XFD1048576 (the reader allocates the whole grid from A1 to it: 512 GiB) would
stop the run with a crash instead of a message. `check_package` reads only the
zip's directory and streams the sheets it will read, in bounded memory, and
raises `UnsafeWorkbookError` (exit 2) naming what is wrong and how to fix it:

    found = check_package(Path("service_log.xlsx"), ("Clients", "Services", "Invoices"))
    found.errors, found.unsaved

It also returns (`Findings`) the cells that hold an Excel error (`#DIV/0!`,
`#REF!`, ...): the reader underneath shows them as empty, and a broken Amount
formula must be reported, not billed as Quantity x Unit Price; and the
formulas saved without their result (a workbook last saved by a script),
which the reader sees as empty cells too; and, of the sheets asked, the
formulas saved with the result 0, which may be a script's stand-in kept by a
program that saved without recalculating (LibreOffice, as set by default).
Each sheet that passes is handed on at once (`CheckedSheet`), with its XML
as inflated for the check when it is asked for, so that the reader can start
on it without inflating it again.

Every other part of the zip (content types, theme, document properties, sheets
the tool does not read) is unpacked too, on the check's helper threads while
the sheets are looked at, and checked against its CRC: such a part is copied
into the workbook unchanged when it is written back, so a damaged one must
stop the run before anything is numbered, not leave a workbook Excel cannot
open. Nothing of it is kept. Whether the workbook is digitally signed is
noted (`Findings.signed`): the run's changes make the signature invalid.

The grid a sheet needs is measured from its cells' own references, never
from its `<dimension>` element, which any program may leave stale; but a
`<dimension>` claiming more than Excel's limits is refused like a cell there.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from .errors import UnusableError
from .lazy import lazy_import
from .schema import normalise_header
from .writeback.package import (
    DamagedPart,
    Package,
    open_package,
    relationships,
    rels_path,
    resolve_target,
    unpacking,
)
from .writeback.records import WriteBackError
from .writeback.xmlscan import col_index, col_letters

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")  # imported when a workbook is checked, not at start-up

EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384
MAX_MEMBERS = 10_000
MAX_PART_BYTES = 1 << 30  # one part, inflated: a 1,048,576-row sheet fits
MAX_TOTAL_BYTES = 3 << 29  # all parts together, inflated (1.5 GiB)
#: Sheet XML deflates 5-30 times; a part above this ratio (and above RATIO_FLOOR) is a zip bomb.
MAX_RATIO, RATIO_FLOOR = 100, 4 << 20
#: The reader allocates a grid from the first to the last cell of a sheet: a grid above
#: GRID_BUDGET cells must be mostly filled (at least 1 cell in SPARSITY) to be read. The
#: budget is a sheet as long as Excel allows and 24 columns wide: a cell typed by accident
#: in its last row is read (in about 1.1 GB), one far to the right of it too is refused.
GRID_BUDGET, SPARSITY = 1_048_576 * 24, 4
CHUNK = 4 << 20

_SPACES = tuple(ord(c) for c in " \t\r\n")
_QUOTES = (ord('"'), ord("'"))


class _ByteClasses:
    """Which of the 256 byte values are spaces, quotes, letters: looked up, not compared."""

    def __init__(self) -> None:
        self.space = self._of(_SPACES)
        self.quote = self._of(_QUOTES)
        self.letter = self._of(range(ord("A"), ord("Z") + 1)) | self._of(
            range(ord("a"), ord("z") + 1)
        )

    @staticmethod
    def _of(values: Iterable[int]) -> np.ndarray:
        table = np.zeros(256, dtype=bool)
        table[list(values)] = True
        return table


@cache
def _byte_classes() -> _ByteClasses:
    return _ByteClasses()  # numpy is imported when a workbook is checked, not at start-up


_PAD = 16  # past a chunk's end, so that reading a reference's next bytes stays inside
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafeWorkbookError(UnusableError):
    """The workbook file is damaged, a zip bomb, or beyond Excel's limits: exit 2."""


#: What reading a damaged zip or package raises.
_DAMAGED = (
    zipfile.BadZipFile, zipfile.LargeZipFile, WriteBackError, EOFError, OSError, zlib.error
)  # fmt: skip


@dataclass(frozen=True)
class Extent:
    """The cells of one sheet that hold anything.

    Attributes:
      cells: how many cells the sheet lists.
      first_row, last_row, first_col, last_col: the grid they span (0 when no cells).
    """

    cells: int = 0
    first_row: int = 0
    last_row: int = 0
    first_col: int = 0
    last_col: int = 0

    @property
    def grid(self) -> int:
        """How many cells the reader allocates for this sheet."""
        if not self.cells:
            return 0
        return (self.last_row - self.first_row + 1) * (self.last_col - self.first_col + 1)

    @property
    def corners(self) -> str:
        first = f"{col_letters(self.first_col)}{self.first_row}"
        return f"{first}:{col_letters(self.last_col)}{self.last_row}"


#: Per sheet, the Excel error cells found: (row, column) from 1 -> the error's text.
ErrorCells = dict[str, dict[tuple[int, int], str]]


@dataclass(frozen=True)
class UnsavedFormulas:
    """A sheet's formulas saved without their result (a program that does not calculate,
    such as a script with openpyxl, saved the workbook): the reader sees empty cells.

    The same record holds a sheet's formulas saved with the result 0 (`Findings.zeros`).

    Kept as the scan found them, positions in arrays and texts as saved: a sheet
    saved by a script can hold one on every row (100,000 of them), and only the
    few rows a run reads as new lines or clients are ever looked at (`formulas`).

    Attributes:
      rows, cols: each formula's Excel row and column number (from 1), as arrays.
      texts: each formula's text as saved (XML-escaped UTF-8).
    """

    rows: Any = ()
    cols: Any = ()
    texts: tuple[bytes, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    def formulas(
        self, rows: Collection[int] | None = None, cols: Collection[int] | None = None
    ) -> dict[tuple[int, int], str]:
        """(row, column) -> the formula's text, of those in `rows` and `cols` (every one
        if None), in the order of rows, then columns."""
        if not self.texts:
            return {}
        at, col = np.asarray(self.rows), np.asarray(self.cols)
        keep = np.ones(len(at), dtype=bool)
        for wanted, of in ((rows, at), (cols, col)):
            if wanted is not None:
                keep &= np.isin(of, np.fromiter(wanted, dtype=np.int64, count=len(wanted)))
        picked = np.flatnonzero(keep)
        picked = picked[np.lexsort((col[picked], at[picked]))]
        return {
            (int(at[i]), int(col[i])): html.unescape(self.texts[i].decode("utf-8", "replace"))
            for i in picked.tolist()
        }

    @classmethod
    def joined(
        cls, parts: Iterable[UnsavedFormulas], errors: Collection[tuple[int, int]] = ()
    ) -> UnsavedFormulas:
        """The formulas of `parts` (chunks of one sheet) together, but for the cells that
        hold an error value (`errors`): those are told as errors."""
        parts = [part for part in parts if part.texts]
        if not parts:
            return cls()
        rows = np.concatenate([part.rows for part in parts])
        cols = np.concatenate([part.cols for part in parts])
        texts = tuple(text for part in parts for text in part.texts)
        if errors:
            keep = [(r, c) not in errors for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
            mask = np.array(keep, dtype=bool)
            rows, cols = rows[mask], cols[mask]
            texts = tuple(text for text, kept in zip(texts, keep, strict=True) if kept)
        return cls(rows, cols, texts)


#: A range of cells: (first row, first column, last row, last column), from 1.
CellRange = tuple[int, int, int, int]


@dataclass(frozen=True)
class Findings:
    """What the package check found in the sheets it read, besides what it refuses.

    Attributes:
      errors: per sheet, the cells holding an Excel error value (the reader shows
        them as empty).
      unsaved: per sheet, its formulas saved without their result (sheets with
        none are left out).
      merges: per sheet, its merged cells (the reader does not look at them).
      zeros: per sheet asked for (`check_package`'s `zeros_in`), its formulas saved
        with the result 0 in a workbook that does not ask to be recalculated on open
        (sheets with none are left out): a 0 that may be a result never worked out
        (LibreOffice, by default, saves the 0s a script wrote without recalculating).
      signed: the workbook holds a digital signature (`signed_notice`).
    """

    errors: ErrorCells = field(default_factory=dict)
    unsaved: dict[str, UnsavedFormulas] = field(default_factory=dict)
    merges: dict[str, list[CellRange]] = field(default_factory=dict)
    zeros: dict[str, UnsavedFormulas] = field(default_factory=dict)
    signed: bool = False


@dataclass(frozen=True)
class CheckedSheet:
    """A sheet that passed the check.

    Attributes:
      name: the sheet's name as the workbook spells it.
      part: its XML part in the zip.
      size: its XML's size, inflated.
      package: the workbook file's bytes, as checked.
      xml: the sheet's XML as checked, in pieces of whole tags, when it was
        kept (see `check_package`); else empty.
    """

    name: str
    part: str
    size: int
    package: bytes = field(repr=False, default=b"")
    xml: tuple[bytes, ...] = field(repr=False, default=())


def check_package(
    path: Path,
    sheets: Iterable[str],
    checked: Callable[[CheckedSheet], object] | None = None,
    keep_xml: int = 0,
    zeros_in: Collection[str] = (),
) -> Findings:
    """Raise UnsafeWorkbookError unless `path` is a zip the reader can take, sheets included.

    Returns the cells of those sheets that hold an Excel error value, and their
    formulas saved without a result; of the sheets in `zeros_in`, also their
    formulas saved with the result 0 (`Findings.zeros`); and whether the workbook
    is digitally signed. Every part of the zip is unpacked and checked against its
    CRC: those the check does not read on helper threads, meanwhile.
    `checked(sheet)` is called as soon as a sheet has passed, so that the
    reader can start on it while the next one is looked at; the XML of a
    sheet of at most `keep_xml` bytes (inflated) comes with it. The file is
    read once: what is checked is what is handed on.
    """
    name = path.name
    errors: ErrorCells = {}
    unsaved: dict[str, UnsavedFormulas] = {}
    merges: dict[str, list[CellRange]] = {}
    zeroed: dict[str, UnsavedFormulas] = {}
    noted = {normalise_header(s) for s in zeros_in}
    try:
        data = path.read_bytes()
        with (
            zipfile.ZipFile(io.BytesIO(data)) as archive,
            _scanners() as scanners,
        ):
            members = archive.infolist()
            check_members(name, members)
            _refuse_open_document(name, archive)
            pkg = open_package(data, path)
            _refuse_strict(name, archive, pkg.workbook)
            wanted = {normalise_header(s) for s in sheets}
            parts = [
                (sheet, part)
                for sheet, part in pkg.sheets.items()
                if normalise_header(sheet) in wanted and part in pkg.names
            ]
            # Every part the check does not read is unpacked on a helper thread while it
            # reads the others: one copied into the workbook as it is must not be damaged.
            read = {part for _, part in parts} | _read_with_package(pkg)
            rest = [member for member in members if member.filename not in read]
            others = scanners.submit(_check_parts, data, rest)
            signed = _signed(archive, pkg.names)
            # The parts the reader opens with any sheet are looked at first, so that no
            # sheet is handed to it before they pass; what is wrong there is still
            # reported after what is wrong in the sheets, as before.
            shared = _shared_parts_problem(name, archive, pkg)
            zeros = _recalculated_on_open(pkg)
            largest = max((pkg.names[part].file_size for _, part in parts), default=0)
            for sheet, part in parts:
                found: dict[tuple[int, int], str] = {}
                formulas: list[UnsavedFormulas] = []
                zero: list[UnsavedFormulas] | None = None
                if normalise_header(sheet) in noted:
                    zero = []
                merged: list[CellRange] = []
                size = pkg.names[part].file_size
                # The long log is scanned on two threads besides this one's inflating: the
                # reader is idle still (nothing long has passed yet); the others on this one.
                helpers = scanners if size == largest else None
                kept: list[bytes] = []
                chunks = _stream(archive, pkg.names[part])
                if checked is not None and size <= keep_xml:
                    chunks = _keeping(chunks, kept)
                extent = sheet_extent(
                    name, sheet, chunks, found, helpers, formulas, zeros, merged, zero
                )
                check_extent(name, sheet, extent)
                if found:
                    errors[sheet] = found
                if merged:
                    merges[sheet] = merged
                if formulas:
                    unsaved[sheet] = UnsavedFormulas.joined(formulas, found)
                if zero:
                    zeroed[sheet] = UnsavedFormulas.joined(zero, found)
                if checked is not None and shared is None:
                    checked(CheckedSheet(sheet, part, size, data, tuple(kept)))
            if shared is not None:
                raise shared
            others.result()
    except _DAMAGED as exc:
        raise UnsafeWorkbookError(
            f"{name} is damaged or is not an Excel workbook ({exc}). Open it in Excel and "
            'save it again as "Excel Workbook (*.xlsx)", or use the latest backup from '
            ".billing/backups/."
        ) from None
    return Findings(errors, unsaved, merges, zeroed, signed)


def _read_with_package(pkg: Package) -> set[str]:
    """The parts `open_package` and the check read whole (their CRC checked) besides the
    sheets: the relationships, the workbook, its shared strings and styles."""
    return {
        part
        for part in (rels_path(""), pkg.workbook_rels, pkg.workbook, pkg.shared_strings, pkg.styles)
        if part
    }


#: The most of a part's data unpacked at a time: nothing of it is kept.
_CHECK_OUT = 1 << 20


def _check_parts(data: bytes, members: Iterable[zipfile.ZipInfo]) -> None:
    """Raise DamagedPart for the first of `members` whose data does not unpack, or not to
    as many bytes as its header says, with its CRC: zipfile's own checks, as it streams
    each part through (on its own ZipFile: this runs on a helper thread)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in members:
            with unpacking(member.filename), archive.open(member) as part:
                while part.read(_CHECK_OUT):
                    pass


#: The relationship types of a package's signatures (File > Info > Protect Workbook > Add a
#: Digital Signature): the package names its signature origin, the origin each signature.
_SIGNATURE_ORIGIN = "/digital-signature/origin"
_SIGNATURE = "/digital-signature/signature"


def _signed(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> bool:
    """Whether the package holds a digital signature."""
    for rel in relationships(names, archive, ""):
        if not rel.get("Type", "").endswith(_SIGNATURE_ORIGIN):
            continue
        origin = resolve_target("", rel.get("Target", ""))
        try:
            signatures = relationships(names, archive, origin)
        except etree.XMLSyntaxError:
            return True  # the origin's list of signatures is there, if unreadable
        if any(sig.get("Type", "").endswith(_SIGNATURE) for sig in signatures):
            return True
    return False


def signed_notice(name: str) -> str:
    """What a run and `check` say of a digitally signed workbook (exit code unchanged)."""
    return (
        f"{name} is digitally signed: the changes a run writes into it (invoice numbers, "
        "statuses) make the signature invalid, and Excel will show it as invalid. If the "
        "workbook must stay signed, sign it again in Excel after the run."
    )


@contextmanager
def _scanners() -> Iterator[ThreadPoolExecutor]:
    """Two threads to scan a long sheet on; not waited for at the end: they are idle by
    then (or scanning what is no longer needed), and the reading must go on."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="check")
    try:
        yield pool
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _shared_parts_problem(name: str, archive: zipfile.ZipFile, pkg: Package) -> Exception | None:
    """What is wrong with the workbook, shared strings and styles parts, if anything."""
    try:
        for other in (pkg.workbook, pkg.shared_strings, pkg.styles):
            if other and other in pkg.names:
                for chunk in _stream(archive, pkg.names[other]):
                    _refuse_dtd(name, other, chunk)
    except (UnsafeWorkbookError, *_DAMAGED) as exc:
        return exc
    return None


_ERROR_CELL = re.compile(  # <c ... t="e">, its formula if any, then <v>#DIV/0!</v>
    rb"<(?:\w+:)?c\s[^>]*?\bt=[\"']e[\"'][^>]*>"
    rb"(?:<(?:\w+:)?f[^<]*</(?:\w+:)?f>|<(?:\w+:)?f[^>]*/>)?"
    rb"(?:<(?:\w+:)?v>([^<]*)<)?"
)
_REF = re.compile(rb"\br=[\"']([A-Za-z]{1,3})([0-9]{1,7})[\"']")


def _note_errors(chunk: bytes, found: dict[tuple[int, int], str]) -> None:
    """Note each error cell (`t="e"`) of a chunk in `found`: (row, column) -> its text."""
    for match in _ERROR_CELL.finditer(chunk):
        ref = _REF.search(match.group(0))
        if ref is None:
            continue
        text = (match.group(1) or b"").decode("utf-8", "replace").strip()
        found[(int(ref.group(2)), _column(ref.group(1)))] = text or "#ERROR"


_MERGE_CELL = re.compile(
    rb"<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?([0-9]{1,7})"
    rb"(?::\$?([A-Za-z]{1,3})\$?([0-9]{1,7}))?[\"']"
)


def _merged_cells(chunk: bytes) -> list[CellRange]:
    """The merged cells a chunk names (`<mergeCell ref="G3:G4"/>`)."""
    found = []
    for col1, row1, col2, row2 in _MERGE_CELL.findall(chunk):
        first, last = _column(col1), _column(col2 or col1)
        top, bottom = int(row1), int(row2 or row1)
        found.append((min(top, bottom), min(first, last), max(top, bottom), max(first, last)))
    return found


def _column(letters: bytes) -> int:
    """The column number of a reference's letters as the XML has them (any case)."""
    return col_index(letters.decode("ascii").upper())


def check_members(name: str, members: list[zipfile.ZipInfo]) -> None:
    """The zip's directory alone: how many parts, their names, sizes and compression."""
    if len(members) > MAX_MEMBERS:
        raise UnsafeWorkbookError(
            f"{name} holds {len(members):,} parts; a workbook has a few dozen "
            f"(at most {MAX_MEMBERS:,} are read). It is not a workbook this tool can open."
        )
    counts = Counter(m.filename.replace("\\", "/").casefold() for m in members)
    doubled = sorted(n for n, k in counts.items() if k > 1)
    if doubled:
        raise UnsafeWorkbookError(
            f"{name} holds two parts named {doubled[0]!r}: programs disagree on which one is "
            "the workbook, so it is not read at all. Open it in Excel and save it again, or "
            "use the latest backup from .billing/backups/."
        )
    total = 0
    for member in members:
        size = member.file_size
        total += size
        if size > MAX_PART_BYTES or total > MAX_TOTAL_BYTES:
            what, limit = (
                (f"its part {member.filename!r} inflates", MAX_PART_BYTES)
                if size > MAX_PART_BYTES
                else ("its parts together inflate", MAX_TOTAL_BYTES)
            )
            raise UnsafeWorkbookError(
                f"{name} is too large once unpacked: {what} to "
                f"{max(size, total) / (1 << 30):.1f} GiB, more than the {limit / (1 << 30):.1f} "
                "GiB a workbook within Excel's limits needs. It is not read."
            )
        if size > RATIO_FLOOR and size > MAX_RATIO * max(member.compress_size, 1):
            raise UnsafeWorkbookError(
                f"{name} is not read: its part {member.filename!r} unpacks from "
                f"{member.compress_size:,} to {size:,} bytes "
                f"({size // max(member.compress_size, 1):,} times larger), as a zip bomb does; "
                "no spreadsheet program writes that. If it came by email, ask for the original."
            )


def sheet_extent(
    name: str,
    sheet: str,
    chunks: Iterable[bytes],
    found: dict[tuple[int, int], str] | None = None,
    helpers: Executor | None = None,
    unsaved: list[UnsavedFormulas] | None = None,
    zeros: bool = False,
    merges: list[CellRange] | None = None,
    zeroed: list[UnsavedFormulas] | None = None,
) -> Extent:
    """Scan a sheet's XML (streamed) for the grid its cells with content really span.

    Cells without content (`<c r="Z9" s="1"/>`, formatting only) are left out,
    as the reader leaves them out. The scan is vectorised with numpy: a
    1,048,576-row sheet is hundreds of megabytes of XML. The error cells met
    go into `found`, and the formulas saved without their result into `unsaved`
    (a chunk's at a time); most sheets hold no error cell, so only a chunk with
    the marker is searched for them. With `helpers`, the chunks are scanned on those
    threads a few ahead (numpy lets go of the interpreter); what is wrong is
    still told for the first chunk it is in. The merged cells (after the cells) go
    into `merges`. Unless `zeros` (the workbook asks to be recalculated on open: its 0s
    are no results, told as unsaved), the formulas saved with the result 0 go into
    `zeroed`, when given.
    """
    total = Extent()
    first = True
    note = zeroed is not None and not zeros
    for chunk, (part, marked, formulas, zero) in _scans(chunks, helpers, zeros, note):
        _refuse_dtd(name, sheet, chunk)
        if first:  # the <dimension> comes before the cells
            _claimed(name, sheet, chunk)
            first = False
        if marked and found is not None:
            _note_errors(chunk, found)
        if formulas.texts and unsaved is not None:
            unsaved.append(formulas)
        if zero.texts and zeroed is not None:
            zeroed.append(zero)
        if merges is not None and b"mergeCell" in chunk:  # a rare word first
            merges.extend(_merged_cells(chunk))
        if isinstance(part, str):
            _beyond(name, sheet, part)
        elif part.cells:
            total = _merge(total, part)
    return total


#: Chunks scanned ahead of the one looked at, at most (each holds CHUNK bytes).
AHEAD = 3


#: What `_scan_chunk` finds in a chunk.
_Scan = tuple[Extent | str, bool, UnsavedFormulas, UnsavedFormulas]


def _scans(
    chunks: Iterable[bytes], helpers: Executor | None, zeros: bool = False, note: bool = False
) -> Iterator[tuple[bytes, _Scan]]:
    """Each chunk with its `_scan_chunk`, in order; by `helpers` (if any) up to AHEAD ahead."""
    if helpers is None:
        for chunk in chunks:
            yield chunk, _scan_chunk(chunk, zeros, note)
        return
    _byte_classes()  # numpy imported (lazily) on this thread, before the helpers use it
    pending: deque[tuple[bytes, Future[_Scan]]] = deque()
    for chunk in chunks:
        pending.append((chunk, helpers.submit(_scan_chunk, chunk, zeros, note)))
        if len(pending) > AHEAD:
            first, scan = pending.popleft()
            yield first, scan.result()
    while pending:
        first, scan = pending.popleft()
        yield first, scan.result()


def _merge(a: Extent, b: Extent) -> Extent:
    if not a.cells:
        return b
    return Extent(
        a.cells + b.cells,
        min(a.first_row, b.first_row),
        max(a.last_row, b.last_row),
        min(a.first_col, b.first_col),
        max(a.last_col, b.last_col),
    )


def _scan_chunk(chunk: bytes, zeros: bool = False, note: bool = False) -> _Scan:
    """The extent of the cells with content in whole tags (or the reference beyond
    Excel), whether the chunk may hold an error cell (`t="e"`), its formulas
    saved without a result, and (with `note`) those saved with the result 0.

    Both are read off the few "=" signs rather than every byte: an attribute
    named r (whitespace, r, =, quote, then a letter: a row's r has digits only)
    starts a cell's reference; t= followed by a quoted e marks an error cell.
    """
    size = len(chunk)
    data = np.frombuffer(chunk + b"\0" * _PAD, dtype=np.uint8)
    eq = np.flatnonzero(data[2 : size - 1] == ord("=")) + 2
    classes = _byte_classes()
    before = data[eq - 1]
    marked = eq[before == ord("t")]
    errors = bool(
        (
            classes.quote[data[marked + 1]]
            & (data[marked + 2] == ord("e"))
            & classes.quote[data[marked + 3]]
        ).any()
    )
    eq = eq[before == ord("r")]  # the rarest test first: the rest look at fewer
    eq = eq[
        classes.space[data[eq - 2]] & classes.quote[data[eq + 1]] & classes.letter[data[eq + 2]]
    ]
    if not len(eq):
        return Extent(), errors, UnsavedFormulas(), UnsavedFormulas()
    starts = eq + 2
    closes = np.flatnonzero(data[:size] == ord(">"))
    # A tag not closed in its chunk was cut off (chunks end where a tag begins, so only
    # a truncated part ends inside one): no cell, and the reader calls the part damaged.
    at = np.searchsorted(closes, starts)
    starts, ends = starts[at < len(closes)], closes[at[at < len(closes)]]
    starts = starts[data[ends - 1] != ord("/")]  # <c r="A1" s="2"/> holds nothing
    if not len(starts):
        return Extent(), errors, UnsavedFormulas(), UnsavedFormulas()
    # Letters, then digits, a position at a time while any reference still has one
    # (most end within a few): at most 4 letters and 8 digits are looked at.
    cols = np.zeros(len(starts), dtype=np.int64)
    length = np.zeros(len(starts), dtype=np.int64)
    going = np.ones(len(starts), dtype=bool)
    for j in range(4):
        char = (data[starts + j] & 0xDF).astype(np.int64)
        going &= (char >= ord("A")) & (char <= ord("Z"))
        if not going.any():
            break
        cols = np.where(going, cols * 26 + char - 64, cols)
        length += going
    at = starts + length
    rows = np.zeros(len(starts), dtype=np.int64)
    digits = np.zeros(len(starts), dtype=np.int64)
    going = np.ones(len(starts), dtype=bool)
    for j in range(8):
        char = data[at + j].astype(np.int64)
        going &= (char >= ord("0")) & (char <= ord("9"))
        if not going.any():
            break
        rows = np.where(going, rows * 10 + char - 48, rows)
        digits += going
    wrong = (length > 3) | (digits == 0) | (digits > 7) | (rows < 1) | (rows > EXCEL_ROWS)
    wrong |= cols > EXCEL_COLUMNS
    if wrong.any():
        at0 = int(starts[int(np.argmax(wrong))])
        ref = re.split(rb"[\"'>\s]", bytes(data[at0 : at0 + _PAD]))[0].decode("latin-1")
        return ref, errors, UnsavedFormulas(), UnsavedFormulas()
    extent = Extent(len(starts), int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max()))
    return extent, errors, *_unsaved_formulas(chunk, data, closes, starts, rows, cols, zeros, note)


def _unsaved_formulas(
    chunk: bytes,
    data: np.ndarray,
    closes: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    zeros: bool = False,
    note: bool = False,
) -> tuple[UnsavedFormulas, UnsavedFormulas]:
    """The chunk's formulas saved without a result: "</f>" followed by the cell's end,
    by "<v/>" or by "<v></v>" (openpyxl's form); and with `note`, apart, those saved
    with the result 0 ("</f><v>0</v>"). Excel and LibreOffice always save the result,
    so most chunks have none, found in one vectorised pass; a 0 is looked for only
    among the formulas that pass found. `closes` are the chunk's ">" as `_scan_chunk`
    found them."""
    size = len(chunk)
    # "f>" ending "</f>" (or "</x:f>" under a prefix), then what follows it: the cell's end
    # tag, "<v/>" or "<v></v>". Only what is left is looked at further.
    found = np.flatnonzero((data[: size - 1] == ord("f")) & (data[1:size] == ord(">")))
    found = found[found > 1]
    found = found[(data[found - 1] == ord("/")) | (data[found - 1] == ord(":"))]
    after = found + 2  # the pad keeps the bytes read past the chunk's end in reach
    tag = data[after] == ord("<")
    closing = tag & (data[after + 1] == ord("/"))
    v = tag & (data[after + 1] == ord("v"))
    empty_v = v & (
        ((data[after + 2] == ord("/")) & (data[after + 3] == ord(">")))
        | (
            (data[after + 2] == ord(">"))
            & (data[after + 3] == ord("<"))
            & (data[after + 4] == ord("/"))
        )
    )
    zero = np.zeros(len(found), dtype=bool)
    if zeros or note:  # <v>0</v>
        zero = v & (
            (data[after + 2] == ord(">"))
            & (data[after + 3] == ord("0"))
            & (data[after + 4] == ord("<"))
            & (data[after + 5] == ord("/"))
        )
    if zeros:  # the 0 a writer puts in place of a result it did not work out: no result
        empty_v |= zero
        zero[:] = False
    keep = closing | empty_v | zero
    found, zero = found[keep], zero[keep]
    # Past the cells, Excel keeps formulas of its own (a drop-down's list, a data bar's
    # limits: `<xm:f>Clients!$A$2:$A$9</xm:f>` in extLst): they are no cell's.
    end = _sheet_data_end(chunk)
    if end >= 0:
        found, zero = found[found < end], zero[found < end]
    if not len(found):
        return UnsavedFormulas(), UnsavedFormulas()
    lts = np.flatnonzero(data[:size] == ord("<"))
    close = lts[np.maximum(np.searchsorted(lts, found) - 1, 0)]  # the tag "f>" ends
    named = (data[found - 1] == ord("/")) & (close == found - 2)
    prefixed = (data[found - 1] == ord(":")) & (data[close + 1] == ord("/")) & (close < found - 2)
    tagged = named | prefixed
    found, close, zero = found[tagged], close[tagged], zero[tagged]
    cell = np.searchsorted(starts, found) - 1
    inside = cell >= 0
    found, close, cell, zero = found[inside], close[inside], cell[inside], zero[inside]
    opened = lts[np.maximum(np.searchsorted(lts, close) - 1, 0)]  # "<f ...>": no "<" in between
    begin = closes[np.minimum(np.searchsorted(closes, opened), len(closes) - 1)] + 1
    keep = (opened > starts[cell]) & (begin <= close)
    at = (chunk, begin, close, rows[cell], cols[cell])
    return _formulas_at(*at, keep & ~zero), _formulas_at(*at, keep & zero)


def _formulas_at(
    chunk: bytes,
    begin: np.ndarray,
    close: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    picked: np.ndarray,
) -> UnsavedFormulas:
    """The `picked` formulas: texts `chunk[begin:close]`, of the cells at `rows`, `cols`."""
    if not picked.any():
        return UnsavedFormulas()
    pairs = zip(begin[picked].tolist(), close[picked].tolist(), strict=True)
    return UnsavedFormulas(rows[picked], cols[picked], tuple(chunk[a:b] for a, b in pairs))


def _sheet_data_end(chunk: bytes) -> int:
    """Where the chunk's `</sheetData>` (or `</x:sheetData>`) begins, or -1."""
    at = chunk.rfind(b"sheetData>")
    while at > 0:
        lt = chunk.rfind(b"<", 0, at)
        if lt >= 0 and chunk[lt + 1 : lt + 2] == b"/":
            return lt
        at = chunk.rfind(b"sheetData>", 0, at)
    return -1


def _recalculated_on_open(pkg: Package) -> bool:
    """Whether the workbook asks to be recalculated when opened (calcPr fullCalcOnLoad):
    XlsxWriter sets it and writes 0 as the result of a formula it was given no result
    for, so such a 0 is no result; Excel, saving, takes the flag out."""
    try:
        book = pkg.read(pkg.workbook)
    except (KeyError, *_DAMAGED):
        return False
    return re.search(rb"""fullCalcOnLoad\s*=\s*["'](?:1|true)["']""", book) is not None


def _refuse_open_document(name: str, archive: zipfile.ZipFile) -> None:
    """An OpenDocument spreadsheet (.ods, LibreOffice's own format) is a zip too: say what
    it is and how to make it a workbook, rather than call it damaged."""
    try:
        with unpacking("mimetype"):
            kind = archive.read("mimetype")[:80]
    except KeyError:
        return
    if kind.startswith(b"application/vnd.oasis.opendocument"):
        raise UnsafeWorkbookError(
            f"{name} is an OpenDocument file (LibreOffice's own format), not an Excel "
            'workbook: in LibreOffice choose File > Save As, "Excel 2007-365 (.xlsx)", and '
            "run again on the .xlsx file."
        )


#: The namespace of a workbook saved as "Strict Open XML Spreadsheet" (Excel's Save As
#: list): an .xlsx too, but every part's names differ from the usual ones.
STRICT_NS = b"http://purl.oclc.org/ooxml/spreadsheetml/main"


def _refuse_strict(name: str, archive: zipfile.ZipFile, workbook: str) -> None:
    """A Strict Open XML workbook can be read but not updated: refuse it before anything
    is numbered, rather than send invoices that never reach the workbook."""
    with unpacking(workbook), archive.open(workbook) as part:
        head = part.read(4096)
    if STRICT_NS in head:
        raise UnsafeWorkbookError(
            f'{name} is saved as "Strict Open XML Spreadsheet", a kind of .xlsx this tool '
            'cannot update: in Excel choose File > Save As, "Excel Workbook (*.xlsx)", and '
            "run again."
        )


def check_extent(name: str, sheet: str, extent: Extent) -> None:
    """A grid the reader can allocate: small, or mostly filled."""
    if extent.grid <= max(GRID_BUDGET, SPARSITY * extent.cells):
        return
    raise UnsafeWorkbookError(
        f"{name}, sheet {sheet!r}: its cells reach {extent.corners}, a grid of "
        f"{extent.grid:,} cells, but only {extent.cells:,} hold anything; reading it would "
        "need more memory than this computer has. A cell far below or to the right of the "
        "data was probably typed or pasted by accident: in Excel press Ctrl+End on that "
        "sheet to go to it, delete the rows and columns between it and your data, save, "
        "and run again."
    )


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Za-z]*)(\d*)(?::([A-Za-z]*)(\d*))?"')


def _claimed(name: str, sheet: str, chunk: bytes) -> None:
    """Refuse a sheet whose `<dimension>` claims cells beyond Excel's limits."""
    found = _DIMENSION.search(chunk, 0, 4096)
    if found is None:
        return
    letters, digits = found.group(3) or found.group(1), found.group(4) or found.group(2)
    column = col_index(letters.decode().upper())
    if column > EXCEL_COLUMNS or len(digits) > 7 or (digits and int(digits) > EXCEL_ROWS):
        claimed = found.group(0).decode().split('"')[1]
        raise UnsafeWorkbookError(
            f"{name}, sheet {sheet!r}: it claims the range {claimed}, beyond Excel's limits "
            f"({EXCEL_ROWS:,} rows, {EXCEL_COLUMNS:,} columns); the file is damaged or was not "
            "made by a spreadsheet program. Open it in Excel and save it again."
        )


def _beyond(name: str, sheet: str, ref: str) -> None:
    raise UnsafeWorkbookError(
        f"{name}, sheet {sheet!r}: the cell reference {ref!r} is beyond Excel's limits "
        f"({EXCEL_ROWS:,} rows, {EXCEL_COLUMNS:,} columns); the file is damaged or was not "
        "made by a spreadsheet program. Open it in Excel and save it again."
    )


def _refuse_dtd(name: str, part: str, chunk: bytes) -> None:
    if b"!" in chunk and _DTD.search(chunk):  # a rare byte first: most chunks have none
        raise UnsafeWorkbookError(
            f"{name}: {part} declares XML entities, which no spreadsheet program writes "
            "(they can expand without limit). Open it in Excel and save it again."
        )


def _keeping(chunks: Iterable[bytes], kept: list[bytes]) -> Iterator[bytes]:
    """`chunks`, each also put in `kept`."""
    for chunk in chunks:
        kept.append(chunk)
        yield chunk


def _stream(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """A part's XML in chunks of whole tags (each ends where the next tag begins).

    zipfile stops at the size the zip's directory declares and checks the CRC,
    so a part cannot inflate beyond what was checked; damaged data is told as
    `DamagedPart`, naming the part. A stretch with no tag at all for several
    chunks is no XML a spreadsheet program writes.
    """
    carry = b""
    with unpacking(member.filename), archive.open(member) as stream:
        while block := stream.read(CHUNK):
            data = carry + block
            cut = data.rfind(b"<")
            if cut <= 0:
                if len(data) > 4 * CHUNK:
                    raise DamagedPart(member.filename, "it is not XML")
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
    if carry:
        yield carry
