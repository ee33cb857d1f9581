"""Copies of the ledger kept beside the workbook backups after each write-back.

Each copy is the whole ledger as the run leaves it, gzip-compressed (about a
fifth of its size; `gunzip` or 7-Zip gives back the `.sqlite` file). Kept: the
newest RECENT copies, and the newest copy of each of the MONTHS calendar months
before, so a copy from before a mistake noticed weeks later is still there.

    backup_ledger(ledger, paths.billing / "backups")  # .billing/backups/ledger-<stamp>.sqlite.gz

Compressing grows with the ledger (about 0.7 s a year of 1,000 invoices a
week), so a run starts it with `start_backup` and goes on with its report
while a thread compresses; it waits for it (`PendingBackup.wait`) before it
lets go of the run lock.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from .ledger import Ledger

#: The newest copies kept whatever their age (a few weeks of weekly runs).
RECENT = 8
#: Calendar months before the newest copy's month that keep their newest copy (a year).
MONTHS = 12
#: zlib level 1: within a tenth of the best ratio on a ledger, at about twice the speed.
LEVEL = 1
#: A ledger copy's name, from this version (.gz) or an earlier one (plain .sqlite).
NAME = re.compile(r"ledger-(\d{4})(\d{2})\d{2}-\d{6}-\d{6}\.sqlite(?:\.gz)?$")


def backup_ledger(ledger: Ledger, folder: Path, keep: int = RECENT, months: int = MONTHS) -> Path:
    """A consistent, compressed copy of the ledger in `folder`; older copies thinned out."""
    return start_backup(ledger, folder, keep, months).wait()


class PendingBackup:
    """A ledger copy being compressed and the older ones thinned, on a thread of its own."""

    def __init__(self, target: Path, work: threading.Thread) -> None:
        self.target = target
        self._work = work
        self.failure: BaseException | None = None

    def join(self) -> None:
        """Wait for the thread, whatever became of it (a run stopping on another error)."""
        self._work.join()

    def wait(self) -> Path:
        """The finished copy; what stopped the thread (a full disk...) is raised here."""
        self._work.join()
        if self.failure is not None:
            raise self.failure
        return self.target


def start_backup(
    ledger: Ledger, folder: Path, keep: int = RECENT, months: int = MONTHS
) -> PendingBackup:
    """Copy the ledger now (SQLite's backup, on this thread: the connection is this
    thread's); compress the copy and thin out the older ones on another thread."""
    folder.mkdir(parents=True, exist_ok=True)
    ledger.reclaim()  # else each copy carries the pages of this run's dropped message bytes
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    plain = folder / f"ledger-{stamp}.sqlite"
    target = folder / f"{plain.name}.gz"
    staging = folder / f"{plain.name}.partial"
    for left in folder.glob("ledger-*.partial"):  # a run stopped while copying
        left.unlink(missing_ok=True)
    try:
        copy = sqlite3.connect(staging)
        try:
            ledger.conn.backup(copy)  # SQLite's own copy: consistent, whatever the WAL holds
        finally:
            copy.close()
    except BaseException:
        staging.unlink(missing_ok=True)
        raise

    def finish() -> None:
        try:
            try:
                _compress(staging, target, plain.name)
            finally:
                staging.unlink(missing_ok=True)
            names = [p.name for p in folder.iterdir() if NAME.match(p.name)]
            for name in set(names) - kept_copies(names, keep, months):
                (folder / name).unlink(missing_ok=True)
        except BaseException as exc:  # handed to wait(), on the run's thread
            pending.failure = exc

    # Not a daemon: should the run stop on an error first, the copy is still finished.
    pending = PendingBackup(target, threading.Thread(target=finish, name="ledger-backup"))
    pending._work.start()
    return pending


def _compress(source: Path, target: Path, inner_name: str) -> None:
    """gzip `source` into `target` (on disk before it takes the name), streaming."""
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as raw:
            with (
                open(source, "rb") as plain,
                gzip.GzipFile(inner_name, "wb", LEVEL, raw, mtime=0) as packed,
            ):
                shutil.copyfileobj(plain, packed, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def kept_copies(names: Iterable[str], recent: int = RECENT, months: int = MONTHS) -> set[str]:
    """The ledger copies to keep: the newest `recent`, and each month's newest for `months`.

    Months are counted back from the newest copy's month, not from today: a
    firm that stops running the tool for a while keeps its last year of copies.

    >>> names = [f"ledger-2026{day}-100000-000000.sqlite.gz" for day in ("0105", "0131", "0209")]
    >>> sorted(kept_copies(names, recent=1, months=1))  # January's newest, and the newest
    ['ledger-20260131-100000-000000.sqlite.gz', 'ledger-20260209-100000-000000.sqlite.gz']
    """
    dated = sorted(
        (match.group(0), int(match.group(1)) * 12 + int(match.group(2)) - 1)
        for match in (NAME.match(name) for name in names)
        if match
    )
    if not dated:
        return set()
    keep = {name for name, _month in dated[-max(recent, 1) :]}
    last_month = dated[-1][1]
    newest_of: dict[int, str] = {}
    for name, month in dated:  # oldest first: each month ends with its newest copy
        newest_of[month] = name
    keep.update(name for month, name in newest_of.items() if last_month - month <= months)
    return keep
