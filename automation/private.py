"""Files and folders the tool creates are readable by their owner only (POSIX).

The ledger, backups, logs, invoices, outbox, previews and reports hold every
client's data, on machines other people may log in to. The command line runs
under `owner_only()`, a umask of 077: whatever the run creates is 0600 (files)
or 0700 (folders), however it is created (SQLite, XlsxWriter, os.open). Copies
made with shutil.copy2 take the source's mode, so `restrict()` narrows them,
and folders left 0755 by an earlier version are narrowed at the next run.
The bundled files `init` and `--demo` hand over are copied with `copy_as_new()`,
never with their installed mode (often read-only, 0444, in a system-wide install):

    with owner_only():
        ...                      # the run
        copy_as_new(SAMPLE_WORKBOOK, folder / "service_log.xlsx")  # 0600, the owner may edit it
    restrict(backup)             # a copy2 of the bookkeeper's workbook

The workbook itself keeps the mode it has: it is the bookkeeper's file.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

OWNER_ONLY_UMASK = 0o077


@contextmanager
def owner_only() -> Iterator[None]:
    """Run the block with a umask that keeps group and others out (no-op off POSIX)."""
    if os.name != "posix":
        yield
        return
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def copy_as_new(source: Path, dest: Path) -> None:
    """`source`'s bytes in the new file `dest`, made as every file the tool creates is made
    (0600 under `owner_only()`): the installed file's mode, which may be read-only, is not
    copied, so the bookkeeper can edit the copy (the starter templates, the demo workbook)."""
    shutil.copyfile(source, dest)


def restrict(path: Path) -> None:
    """Take group and other permissions off a file or folder this user owns."""
    if os.name != "posix":
        return
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & ~0o077)
    except OSError:
        pass  # not ours to change, or gone: the run goes on


def restrict_folders(folders: Iterable[Path]) -> None:
    """The tool's own folders, as earlier versions may have left them (0755)."""
    for folder in folders:
        if folder.is_dir():
            restrict(folder)
