"""A checked sheet in a copy of its workbook that calamine reads in one pass, not two.

python-calamine's `get_sheet_by_name` reads a sheet's XML twice: once for its
cells, and once more for its merged cells, which it looks for up to the end
of the part (`<mergeCells>` follows the cells). The tool never uses merged
cells, yet that second pass was a fifth of the time a 100,000-row log took to
read. The package check has just inflated the sheet's XML to look at it
(`CheckedSheet.xml`); put into a copy of the workbook as it is, stored rather
than deflated, with an empty `<mergeCells/>` ahead of `<sheetData>`, nobody
inflates it again and the merged-cells pass ends where it starts. The copy's
other parts are the checked file's own bytes, so the cells come out the same.

    copy = make_copy(checked)        # None: no copy, read the workbook itself
    with opened(copy) as book:
        sheet = book.get_sheet_by_name(checked.name)

A longer sheet can be cut into pieces of consecutive rows (`split_xml`), each
a worksheet of its own in its own copy, so that one piece is parsed while the
cells of another are converted.

The copy lives in memory: in an anonymous in-memory file where the system has
them (Linux), which calamine opens by its /proc path as a file, else in a
buffer it copies in.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .package_check import CheckedSheet
from .zipcopy import ZipCopier, ZipCopyError, entry, raw_member

#: Where the cells start (any namespace prefix), and the prefix to give the marker.
_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData[\s/>]")


def sheet_pieces(xml: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
    """The sheet's XML with an empty mergeCells element just before its cells, in pieces;
    None when it has no `<sheetData>` (not a worksheet: it is read as it is)."""
    for i, chunk in enumerate(xml):
        found = _SHEET_DATA.search(chunk)
        if found is None:
            continue
        prefix = found.group(1) + b":" if found.group(1) else b""
        at = found.start()
        marker = b"<" + prefix + b"mergeCells/>"
        return (*xml[:i], chunk[:at], marker, chunk[at:], *xml[i + 1 :])
    return None


#: A row's start tag (any prefix): where a sheet's cells can be cut.
ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
#: The root element's name (any prefix), which a piece's end closes.
_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?worksheet)[\s>/]")


def closing_tags(head: bytes | bytearray) -> bytes | None:
    """The end tags that close a sheet cut short after `head` (its XML up to one of its
    rows), as the sheet closes: its sheetData and root element, with their prefixes.
    None when `head` has no root element or no sheetData (not a worksheet)."""
    root, cells = _ROOT.search(head), _SHEET_DATA.search(head)
    if root is None or cells is None:
        return None
    prefix = cells.group(1) + b":" if cells.group(1) else b""
    return b"</" + prefix + b"sheetData></" + root.group(1) + b">"


def split_xml(xml: tuple[bytes, ...], parts: int) -> list[tuple[bytes, ...]]:
    """The sheet's XML as up to `parts` worksheets of consecutive rows, about as long each.

    Each begins as the sheet does, up to its first row (so each has the
    sheet's `<sheetData>`), goes on with its rows, and ends with the closing
    tags; the last keeps the sheet's own end. Fewer (the XML whole) when it
    has fewer rows to cut at, or no root and sheetData to close.
    """
    first = _find(xml, ROW_START, 0, 0)
    if first is None:
        return [xml]
    head = _slice(xml, (0, 0), first)
    end = closing_tags(b"".join(head))
    if end is None:
        return [xml]
    total = sum(len(chunk) for chunk in xml)
    cuts = [first]
    for k in range(1, parts):
        at = _position(xml, total * k // parts)
        cut = _find(xml, ROW_START, *at) if at > cuts[-1] else None
        if cut is not None and cut > cuts[-1]:
            cuts.append(cut)
    if len(cuts) == 1:
        return [xml]
    pieces = [(*_slice(xml, (0, 0), cuts[1]), end)]
    for start, stop in zip(cuts[1:], [*cuts[2:], (len(xml), 0)], strict=True):
        tail = (end,) if stop != (len(xml), 0) else ()
        pieces.append((*head, *_slice(xml, start, stop), *tail))
    return pieces


def _position(xml: tuple[bytes, ...], offset: int) -> tuple[int, int]:
    """(chunk, offset in it) of the byte `offset` bytes into the XML."""
    for i, chunk in enumerate(xml):
        if offset < len(chunk):
            return i, offset
        offset -= len(chunk)
    return len(xml), 0


def _find(
    xml: tuple[bytes, ...], pattern: re.Pattern[bytes], chunk: int, at: int
) -> tuple[int, int] | None:
    """Where `pattern` first starts from (chunk, at) on (a tag never spans two chunks)."""
    for i in range(chunk, len(xml)):
        found = pattern.search(xml[i], at if i == chunk else 0)
        if found is not None:
            return i, found.start()
    return None


def _slice(xml: tuple[bytes, ...], start: tuple[int, int], stop: tuple[int, int]) -> list[bytes]:
    """The XML from `start` up to `stop`, both (chunk, offset in it)."""
    (i, a), (j, b) = start, stop
    if i == j:
        return [xml[i][a:b]]
    out = [xml[i][a:] if a else xml[i], *xml[i + 1 : j]]
    if j < len(xml) and b:
        out.append(xml[j][:b])
    return out


def write_copy(checked: CheckedSheet, pieces: tuple[bytes, ...], out: BinaryIO) -> None:
    """The workbook with the sheet's part replaced by `pieces`, stored; the rest as it was.

    Raises ZipCopyError (or BadZipFile) when the package cannot be copied so.
    """
    crc = 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
    size = sum(len(piece) for piece in pieces)
    copier = ZipCopier(out)
    with zipfile.ZipFile(io.BytesIO(checked.package)) as archive:
        for info in archive.infolist():
            if info.filename == checked.part:
                copier.add(entry(info, pieces, crc, size, zipfile.ZIP_STORED))
            else:
                copier.copy(info, raw_member(checked.package, info))
        copier.close(archive.comment)


#: Where this process's open files can be opened again by a path (Linux).
_FD_PATHS = Path("/proc/self/fd")


@dataclass(frozen=True)
class Copy:
    """A copy written (see the module): in an in-memory file (`fd`), else in `buffer`."""

    fd: int = -1
    buffer: io.BytesIO | None = None


def make_copy(checked: CheckedSheet) -> Copy | None:
    """The copy of `checked`'s workbook, or None when none can be made (see `sheet_pieces`).

    It holds none of `checked`: the sheet's XML can go once the copy is made.
    """
    pieces = sheet_pieces(checked.xml) if checked.xml else None
    if pieces is None:
        return None
    fd = _memory_file()
    if fd < 0:
        buffer = io.BytesIO()
        try:
            write_copy(checked, pieces, buffer)
        except _CANNOT_COPY:
            return None
        buffer.seek(0)
        return Copy(buffer=buffer)
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            write_copy(checked, pieces, out)
    except _CANNOT_COPY:
        os.close(fd)
        return None
    return Copy(fd=fd)


#: What making a copy can meet: a damaged package, one too large for a plain zip, no room.
_CANNOT_COPY = (ZipCopyError, zipfile.BadZipFile, OSError)


@contextmanager
def opened(copy: Copy) -> Iterator[Any]:
    """The copy as a calamine workbook; the workbook and the copy are closed after."""
    from python_calamine import CalamineWorkbook

    try:
        if copy.buffer is not None:
            book = CalamineWorkbook.from_filelike(copy.buffer)
            copy.buffer.close()
        else:
            book = CalamineWorkbook.from_path(str(_FD_PATHS / str(copy.fd)))
        try:
            yield book
        finally:
            book.close()
    finally:
        if copy.fd >= 0:
            os.close(copy.fd)


def _memory_file() -> int:
    """An anonymous in-memory file that calamine can open by path, or -1 where there is none."""
    if not hasattr(os, "memfd_create") or not _FD_PATHS.is_dir():
        return -1
    try:
        return os.memfd_create("billing-read", os.MFD_CLOEXEC)
    except OSError:
        return -1
