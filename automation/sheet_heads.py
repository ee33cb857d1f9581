"""The first rows of sheets the tool does not read, without inflating or parsing them whole.

The tool parses its own sheets only (`read`): a report sheet that grows with the
history would slow every run. When the workbook has no Invoices sheet, the other
sheets' header rows are looked at, to tell the Invoices sheet renamed from a
workbook that has none yet. Each sheet's XML is inflated up to the start of the
row after the first `rows` rows (rows left empty are not in the XML, so these
cover at least `rows` Excel rows), closed, and handed on as a `CheckedSheet` that
`readcopy.make_copy` puts into a copy of the workbook for the reader:

    for head in sheet_heads(Path("service_log.xlsx"), ("AR Ledger", "Notes"), 50):
        copy = make_copy(head)          # the workbook, with that sheet cut short
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .package_check import CheckedSheet, UnsafeWorkbookError, check_extent, sheet_extent
from .readcopy import ROW_START, closing_tags
from .schema import normalise_header
from .writeback.package import open_package
from .writeback.records import WriteBackError

#: Inflated at a time; and the most of a sheet's XML inflated for its first rows (50
#: rows as wide as Excel allows fit well within it).
_PIECE = 1 << 16
HEAD_BYTES = 64 << 20


def sheet_heads(path: Path, sheets: Iterable[str], rows: int) -> Iterator[CheckedSheet]:
    """The first `rows` rows of each of `sheets` (named as the workbook spells them) that
    has cells and can be read safely, each in turn; others are passed over."""
    try:
        data = path.read_bytes()
        pkg = open_package(data, path)
    except (OSError, zipfile.BadZipFile, WriteBackError):
        return
    wanted = {normalise_header(s) for s in sheets}
    with pkg.zf:
        for sheet, part in pkg.sheets.items():
            member = pkg.names.get(part)
            if member is None or normalise_header(sheet) not in wanted:
                continue
            try:
                xml = _head_xml(pkg.zf, member, rows)
                if xml is not None:  # a stray cell far away, entities: passed over
                    check_extent(path.name, sheet, sheet_extent(path.name, sheet, [xml]))
            except (UnsafeWorkbookError, zipfile.BadZipFile, OSError, EOFError):
                continue
            if xml is not None:
                yield CheckedSheet(sheet, part, len(xml), data, (xml,))


def _head_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo, rows: int) -> bytes | None:
    """The sheet's XML up to its `rows`+1st row, closed as the sheet closes; None when it has
    no cells (or is no worksheet)."""
    head = bytearray()
    starts = 0  # rows begun so far
    counted = 0  # where the row tags not yet counted can start
    cut = None
    with archive.open(member) as stream:
        while piece := stream.read(_PIECE):
            # A tag cut between two pieces is looked for again, whole, after the next.
            since = max(counted, len(head) - 64)
            head += piece
            for found in ROW_START.finditer(head, since):
                starts, counted = starts + 1, found.end()
                if starts > rows:
                    cut = found.start()
                    break
            if cut is not None or len(head) > HEAD_BYTES:
                break
        else:
            return bytes(head) if starts else None  # the whole sheet, as it is, if any rows
    if cut is None:  # no room for all of them: the rows begun in full
        cut = max((m.start() for m in ROW_START.finditer(head, 0, HEAD_BYTES)), default=None)
    end = closing_tags(head[:cut]) if cut is not None else None
    return None if end is None else bytes(head[:cut]) + end
