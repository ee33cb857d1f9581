"""The write-back's records and errors: what callers see.

>>> WriteResult(changed=False, cells=0, backup=None).changed
False
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileStamp:
    """What a file looked like when it was read: compared before replacing it."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write-back.

    Attributes:
      changed: False when every update already matched: the file was not touched.
      cells: how many cells actually changed (headers written for new columns
        are not counted).
      backup: the copy of the previous workbook, when one was taken.
      warnings: what could not be written in full, one sentence per sheet and
        reason (e.g. no free column left), for the run's summary.
      notes: what was written differently than asked (new columns beside a
        table rather than in it).
      unwritten: (sheet, header) of each column no cell was written to, for lack of a
        free column (said in `warnings`).
    """

    changed: bool
    cells: int
    backup: Path | None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unwritten: tuple[tuple[str, str], ...] = ()


class WriteBackError(Exception):
    """The workbook could not be written (message is for the bookkeeper)."""


class WorkbookChangedError(WriteBackError):
    """The file on disk is not the one that was read."""
