"""Operating conditions of a scheduled run: a full disk, folders this user may not write in,
shares that refuse chmod. Never a traceback; refused before numbering where it can be known."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import Folder, client, service, write_workbook

from automation import cli


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_line_the_disk_has_no_room_for_is_left_out_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = cli._RunLog("/dev/full", encoding="utf-8")
    logger = logging.getLogger("test_run_log")
    logger.addHandler(handler)
    try:
        logger.warning("a line for a full disk")
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err


def test_a_log_file_the_run_may_not_make_is_no_crash(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logs folder is there but refuses a new file (another user's, a full disk's
    last inode): the run goes on without its log."""

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "_RunLog", refused)
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0
    assert len(folder.received) == 1


def test_a_backups_folder_this_user_may_not_write_stops_the_run_before_numbering(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """.billing/backups read-only: every week the invoices went out and then the write-back
    failed ("is it open in another program?"). Now exit 2 before anything is numbered.
    (The tests run as root, whom the permission bits do not stop: os.access stands in.)"""
    from automation import prechecks

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    backups = folder.root / ".billing" / "backups"
    backups.mkdir(parents=True)
    real = prechecks.os.access
    monkeypatch.setattr(
        prechecks.os, "access", lambda path, mode: Path(path) != backups and real(path, mode)
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09") == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"this user may not write in {backups}, where the run writes the backups" in out
    assert folder.received == [] and not (folder.root / ".billing" / "ledger.sqlite").exists()


def test_a_share_that_refuses_chmod_still_takes_the_workbook(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network shares and FUSE mounts refuse chmod (EPERM): the new copy of the
    workbook keeps the share's modes, and the write-back goes through."""
    import shutil

    import pandas as pd

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(shutil, "copymode", refuse)
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Invoice No"].tolist() == ["INV-2026-0001"]


def test_a_damaged_ledger_is_told_with_the_copy_to_put_back(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half the ledger lost (a disk fault, a sync tool): exit 2 with what to do, by the run,
    --dry-run and check alike ("unexpected problem: DatabaseError", exit 1, every run)."""
    from automation.cli import main

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0
    ledger = folder.root / ".billing" / "ledger.sqlite"
    for side in (".sqlite-wal", ".sqlite-shm"):
        ledger.with_suffix(side).unlink(missing_ok=True)
    data = ledger.read_bytes()
    ledger.write_bytes(data[:4096] + b"\x00" * (len(data) - 4096))
    (newest,) = sorted((folder.root / ".billing" / "backups").glob("ledger-*.sqlite.gz"))[-1:]
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook), "--as-of", "2026-03-16"]
    for argv in (book, [*book, "--dry-run"], ["check", *book]):
        assert main(argv) == 2, argv
        said = " ".join(capsys.readouterr().out.split())
        assert f"the ledger {ledger} is damaged" in said, said
        assert f"the newest copy, {newest}" in said and "unexpected" not in said
    assert len(folder.received) == 1


def test_a_ledger_on_a_full_disk_is_told_as_a_full_disk_not_as_damaged(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some kilobytes left on the disk: SQLite cannot grow the WAL ("disk I/O error"), and
    the run, payments and statement said the ledger was damaged and to put a copy in its
    place (false and dangerous: freeing space and running again is all it takes)."""
    import shutil
    import sqlite3

    from automation import space

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0
    billing = folder.root / ".billing"

    class NoRoom(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql == "PRAGMA journal_mode=WAL":
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    real_connect, real_usage = sqlite3.connect, shutil.disk_usage
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **k, factory=NoRoom))

    def usage(path: Path | str) -> Any:
        told = real_usage(path)
        return told._replace(free=8192) if Path(path) == billing else told

    monkeypatch.setattr(space.shutil, "disk_usage", usage)
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook), "--as-of", "2026-03-16"]
    for argv in (book, ["payments", *book], ["statement", *book]):
        assert cli.main(argv) == 2, argv
        said = " ".join(capsys.readouterr().out.split())
        assert f"the disk holding {billing} is full (disk I/O error)" in said, said
        assert "Free some space on that disk, then run again" in said
        assert "damaged (put no copy in its place)" in said and "decompress" not in said
    monkeypatch.setattr(space.shutil, "disk_usage", real_usage)  # room: then it is damage
    assert folder.run("--as-of", "2026-03-16") == 2
    assert f"the ledger {billing / 'ledger.sqlite'} is damaged" in capsys.readouterr().out
    assert len(folder.received) == 1


def test_a_full_temporary_folder_is_named_not_the_billing_folder(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TMPDIR full, the billing folder's disk with room: check and --dry-run (which copy the
    ledger there) told to free space "on the disk of the billing folder"."""
    import tempfile

    from automation import ledger

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0

    def full(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device", str(source), None, str(target))

    monkeypatch.setattr(ledger.shutil, "copy2", full)
    capsys.readouterr()
    temp = tempfile.gettempdir()
    book = ["--workbook", str(folder.workbook), "--as-of", "2026-03-16"]
    for argv in (["check", *book], [*book, "--dry-run"]):
        assert cli.main(argv) == 1, argv
        said = " ".join(capsys.readouterr().out.split())
        assert f"Free some space on the disk of the temporary folder {temp} " in said, said
        assert "billing folder" not in said


def test_a_ledger_this_user_may_not_write_is_told_plainly() -> None:
    import sqlite3

    from automation.ledger import unusable_ledger

    told = str(
        unusable_ledger(
            Path("/books/.billing/ledger.sqlite"),
            sqlite3.OperationalError("attempt to write a readonly database"),
        )
    )
    assert told.startswith("the ledger /books/.billing/ledger.sqlite cannot be opened for writing")
    assert "give your user write access to it and to /books/.billing" in told


def test_a_clock_gone_back_a_year_stops_the_run(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weekly run of a machine woken before it set its clock (a year behind) would
    issue invoices dated and due a year back, in last year's series: exit 2 instead, from
    the run, --dry-run and check. When it was the last run's clock that was wrong, one run
    with --as-of today is the way out: the runs after it go on as usual."""
    from datetime import datetime, timedelta

    from automation import cli, ledger, prechecks
    from automation.cli import main

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0  # the ledger notes when the run began
    behind = datetime.now() - timedelta(days=365)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Clock:  # type: ignore[override]
            return cls.fromtimestamp(behind.timestamp())

    class Today(date):
        @classmethod
        def today(cls) -> Today:  # type: ignore[override]
            return cls.fromordinal(behind.date().toordinal())

    for module in (prechecks, ledger):
        monkeypatch.setattr(module, "datetime", Clock)
    monkeypatch.setattr(cli, "date", Today)
    capsys.readouterr()
    day = behind.date().isoformat()
    book = ["--workbook", str(folder.workbook)]
    for argv in (book, [*book, "--dry-run"], ["check", *book]):
        assert main(argv) == 2, argv
        said = " ".join(capsys.readouterr().out.split())
        assert f"this computer's date is {day}, before the last run's" in said
        assert f"run once with --as-of {day}, and the runs after it go on" in said
    assert len(folder.received) == 1
    assert folder.run("--as-of", day) == 0  # the bookkeeper's date: the way out
    assert main(book) == 0  # and the scheduled run after it
