"""Copies of the ledger kept beside the workbook backups after each write-back.

backup_ledger(ledger, paths.billing / "backups")   # .billing/backups/ledger-<stamp>.sqlite
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from .ledger import Ledger


def backup_ledger(ledger: Ledger, folder: Path, keep: int = 20) -> Path:
    """A consistent copy of the ledger beside the workbook backups (keeps the last `keep`)."""
    folder.mkdir(parents=True, exist_ok=True)
    ledger.reclaim()  # else each copy carries the pages of this run's dropped message bytes
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"ledger-{stamp}.sqlite"
    copy = sqlite3.connect(target)
    try:
        ledger.conn.backup(copy)
    finally:
        copy.close()
    for old in sorted(folder.glob("ledger-*.sqlite"))[:-keep]:
        old.unlink(missing_ok=True)
    return target
