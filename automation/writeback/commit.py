"""Writing the new package beside the original, backing up, and swapping it in.

The file is re-checked against the stamp taken when it was read, so an edit
made meanwhile (Excel saving) is never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from automation.faults import checkpoint
from automation.private import restrict
from automation.writeback.package import Package
from automation.writeback.records import FileStamp, WorkbookChangedError, WriteBackError
from automation.zipcopy import Packed, ZipCopier, ZipCopyError, raw_member

BACKUP_STAMP = "%Y%m%d-%H%M%S-%f"
#: The longest file name a file system takes: 255 bytes (Linux, macOS; Windows counts UTF-16
#: units, never more than the UTF-8 bytes).
NAME_LIMIT = 255
FAST_COMPRESS_OVER = 4 << 20  # bytes


def stamp_file(path: Path) -> FileStamp:
    """Size, modification time and SHA-256 of a file, to notice later edits."""
    st = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return FileStamp(st.st_size, st.st_mtime_ns, digest.hexdigest())


def read_verified(path: Path, expected: FileStamp | None) -> tuple[bytes, FileStamp]:
    """The workbook's bytes, refusing a file that is not the one stamped."""
    try:
        st = os.stat(path)
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise WriteBackError(f"The workbook {path} does not exist.") from exc
    except OSError as exc:
        raise WriteBackError(f"The workbook {path} cannot be read: {exc.strerror}.") from exc
    stamp = FileStamp(len(data), st.st_mtime_ns, hashlib.sha256(data).hexdigest())
    if expected is not None and stamp != expected:
        raise WorkbookChangedError(
            f"The workbook {path.name} was changed after it was read; nothing was written. "
            "Run again."
        )
    return data, stamp


def write_package(
    fp: BinaryIO,
    data: bytes,
    pkg: Package,
    parts: Mapping[str, bytes],
    removed: set[str],
    packed: Mapping[str, Packed] | None = None,
) -> None:
    """Copy the package, replacing `parts` and `packed` in place and appending new ones."""
    out = ZipCopier(fp)
    packed = packed or {}
    try:
        for info in pkg.zf.infolist():
            if info.filename in removed:
                continue
            if info.filename in packed:
                out.add_packed(info, packed[info.filename])
            elif info.filename in parts:
                out.replace(info, parts[info.filename], level_for(len(parts[info.filename])))
            else:
                out.copy(info, raw_member(data, info))
        for name in [*parts, *packed]:
            if name not in pkg.names:
                info = zipfile.ZipInfo(name, datetime.now().timetuple()[:6])
                info.create_system = 0
                info.external_attr = 0
                if name in packed:
                    out.add_packed(info, packed[name])
                else:
                    out.replace(info, parts[name], level_for(len(parts[name])))
        out.close(pkg.zf.comment)
    except ZipCopyError as exc:
        raise WriteBackError(f"The workbook cannot be written back: {exc}.") from None


def level_for(size: int) -> int:
    """The deflate level for a part of `size` bytes."""
    # A big sheet at level 6 costs half the run. Level 2 is 4x faster and 20 % larger;
    # on a 35 MB sheet it takes 0.14 s and 5.7 MB where level 3 took 0.25 s and 5.5 MB
    # (level 1 is no faster than 2 and 12 % larger again).
    return 2 if size > FAST_COMPRESS_OVER else 6


def _keep_owner(path: Path, tmp: Path) -> None:
    """The new file gets the workbook's owner and group as far as this user may give them
    (all of it as root or the owner; else the group, if the user is in it): a workbook
    shared through its group, updated by another member, stays editable by its owner."""
    if not hasattr(os, "chown"):  # Windows: the folder's permissions apply
        return
    try:
        info = path.stat()
        now = tmp.stat()
    except OSError:
        return
    if (now.st_uid, now.st_gid) == (info.st_uid, info.st_gid):
        return
    try:
        os.chown(tmp, info.st_uid, info.st_gid)
    except OSError:
        with contextlib.suppress(OSError):
            os.chown(tmp, -1, info.st_gid)


def commit_file(
    path: Path,
    writer: Callable[[BinaryIO], None],
    stamp: FileStamp,
    backup_dir: Path | None,
    keep_backups: int,
) -> Path | None:
    """Write beside the original, re-check it, back it up and swap atomically."""
    stem = own_stem(path)
    _remove_leftovers(path.parent, f".{glob.escape(stem)}.*.tmp")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=".tmp")
    except OSError as exc:
        raise WriteBackError(f"Cannot write in the folder of {path.name}: {exc.strerror}.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _keep_owner(path, tmp)
        with contextlib.suppress(OSError):  # a share that refuses chmod keeps its own modes
            shutil.copymode(path, tmp)
        if stamp_file(path) != stamp:
            raise WorkbookChangedError(
                f"The workbook {path.name} was changed while it was being updated; "
                "nothing was written. Run again."
            )
        backup = _backup(path, backup_dir, keep_backups) if backup_dir is not None else None
        now = path.stat()
        if (now.st_size, now.st_mtime_ns) != (stamp.size, stamp.mtime_ns):
            # Saved while the backup was made (a slow disk or share): that save must not be
            # overwritten, and the backup may hold half of it.
            if backup is not None:
                backup.unlink(missing_ok=True)
            raise WorkbookChangedError(
                f"The workbook {path.name} was saved while it was being updated; nothing was "
                "written. Run again."
            )
        checkpoint("mid-writeback")
        os.replace(tmp, path)
    except WriteBackError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise WriteBackError(
                f"Cannot write the workbook {path.name}: the disk is full; free some space "
                "and run again."
            ) from exc
        raise WriteBackError(
            f"Cannot write the workbook {path.name} (is it open in another program, or may "
            f"this user not write in {exc.filename or path.parent}?): {exc.strerror or exc}."
        ) from exc
    _sync_dir(path.parent)
    return backup


def own_stem(path: Path) -> str:
    """The part of the tool's own temporary and backup names taken from the workbook's name:
    its stem, or, for a name too long to keep whole within NAME_LIMIT, as much of its start
    as fits and "~" with a short digest of the whole (unique, still recognisable).

    The longest such name is the backup's temporary `.<stem>-<stamp><suffix>.partial`."""
    stamp = datetime(2000, 1, 1).strftime(BACKUP_STAMP)
    room = NAME_LIMIT - len(f".-{stamp}{path.suffix}.partial".encode())
    whole = path.stem.encode("utf-8", "surrogateescape")
    if len(whole) <= room:
        return path.stem
    digest = hashlib.sha256(whole).hexdigest()[:8]
    start = whole[: room - len(digest) - 1].decode("utf-8", "ignore")  # no half a letter
    return f"{start}~{digest}"


#: A temporary file this old is a leftover of a run that was killed, not one being written.
LEFTOVER_SECONDS = 3600


def _remove_leftovers(folder: Path, pattern: str) -> None:
    """Remove what a killed run left half-written (`pattern`, hidden files of the tool's own
    naming) once it is old enough not to be another run's work in progress: a full copy
    of the workbook should not lie about in the folder."""
    limit = time.time() - LEFTOVER_SECONDS
    for leftover in folder.glob(pattern):
        try:
            if leftover.stat().st_mtime < limit:
                leftover.unlink()
        except OSError:
            continue


def _backup(path: Path, backup_dir: Path, keep: int) -> Path:
    """Copy the workbook to backup_dir with a timestamp; keep only the newest `keep`."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stem = own_stem(path)
    _remove_leftovers(backup_dir, f".{glob.escape(stem)}-*.partial")
    now = datetime.now()
    while True:
        target = backup_dir / f"{stem}-{now.strftime(BACKUP_STAMP)}{path.suffix}"
        if not target.exists():
            break
        now = now.replace(microsecond=(now.microsecond + 1) % 1_000_000)
    # Copied under a temporary name, then renamed: a run killed mid-copy leaves no empty or
    # half file that looks like a backup.
    partial = target.with_name(f".{target.name}.partial")
    shutil.copy2(path, partial)
    restrict(partial)  # copy2 copies the workbook's mode; a backup is the owner's alone
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, target)
    pattern = re.compile(re.escape(stem) + r"-\d{8}-\d{6}-\d{6}" + re.escape(path.suffix) + "$")
    ours = sorted(p for p in backup_dir.iterdir() if pattern.match(p.name))
    for old in ours[: -max(keep, 1)]:
        old.unlink(missing_ok=True)
    return target


def _sync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
