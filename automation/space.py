"""Room left on a disk: a full disk is told as such, naming the folder on it, never as a
damaged ledger or a problem with the billing folder when another disk is the full one."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

#: Free space below this (beyond what the file at stake takes) counts as a full disk: SQLite
#: and the copies a run makes need room to work in.
SPARE = 16 << 20  # bytes


def little_room(folder: Path, needs: int = 0) -> bool:
    """Whether the disk holding `folder` has less than `needs` and SPARE bytes free (False
    when that cannot be told)."""
    try:
        return shutil.disk_usage(folder).free < needs + SPARE
    except OSError:
        return False


def temp_folder() -> Path:
    """The temporary folder (TMPDIR, TEMP on Windows) the run's copies and SQLite use."""
    return Path(tempfile.gettempdir())


def full_folder(folders: list[Path], needs: int = 0) -> Path | None:
    """The first of `folders`, then the temporary folder, whose disk has little room left."""
    return next((f for f in [*folders, temp_folder()] if little_room(f, needs)), None)


def folder_said(folder: Path) -> str:
    """`folder` as a message names it: the temporary folder, or one of the run's own in it
    (gone by now), is said to be the temporary folder."""
    temp = temp_folder()
    if folder == temp or (temp in folder.parents and not folder.exists()):
        return f"the temporary folder {temp} (set by TMPDIR, or TEMP on Windows)"
    return str(folder)


def written_folder(exc: BaseException) -> Path | None:
    """The folder of the file a failed write was writing (a copy's target), if it says."""
    name = getattr(exc, "filename2", None) or getattr(exc, "filename", None)
    return Path(name).parent if isinstance(name, str) and name else None
