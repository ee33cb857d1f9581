"""A run against what the ledger remembers of the runs before it: their as-of dates, and
the folder and computer they ran in.

A run dated before the latest run's as-of date would number invoices out of date order
and email due dates already past: it stops (exit 2), as its dry run and `check` do. A
billing folder copied (`.billing/` included) and run in two places issues the same
numbers twice: the copy's first run says where the record was last used (exit 1), once.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections_weeks import add_service
from test_followup import mails_to

from automation.cli import main


def said(out: str) -> str:
    """The output on one line (the terminal may wrap a message)."""
    return " ".join(out.split())


def numbers_and_dates(workbook: Path) -> list[tuple[str, str]]:
    frame = pd.read_excel(workbook, sheet_name="Invoices", engine="calamine")
    return [(str(n), pd.Timestamp(d).date().isoformat()) for n, d in
            zip(frame["Invoice No"], frame["Invoice Date"], strict=True)]  # fmt: skip


def bill_march_and_april(folder: Folder) -> None:
    """INV-2026-0001 as of 9 March, INV-2026-0002 as of 6 April; then a March service typed
    late (row 4), not billed yet."""
    write_workbook(
        folder.workbook,
        [client("Birch", Terms="Net 7")],
        [service(date(2026, 3, 2), "Birch", "Payroll March", 1, 250)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    add_service(folder, 3, date(2026, 4, 1), "Birch", "Payroll April", 300)
    assert folder.run("--as-of", "2026-04-06") == 0
    add_service(folder, 4, date(2026, 3, 18), "Birch", "Forgotten March extra", 120)


def test_a_run_dated_before_the_last_run_stops(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Catching up a forgotten week with --as-of 2026-03-20 after the run of 6 April issued
    INV-2026-0003 dated 20 March after INV-2026-0002 dated 6 April, due before it was
    emailed, and reissued it as overdue the next week. Now the run, its dry run and
    `check` stop (exit 2), naming both dates and the way: a run as of the last date or
    later, which bills the forgotten work dated that day. The same date again is a rerun."""
    bill_march_and_april(folder)
    sent = len(folder.received)
    before = folder.workbook.read_bytes()
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook), "--as-of", "2026-03-20"]
    for argv in (book, [*book, "--dry-run"], ["check", *book]):
        assert main(argv) == 2, argv
        text = said(capsys.readouterr().out)
        assert "this run is as of 2026-03-20, before the last run's as-of date (2026-04-06" in text
        assert "run as of 2026-04-06 or later" in text and "Nothing was changed" in text
    assert len(folder.received) == sent and folder.workbook.read_bytes() == before

    assert folder.run("--as-of", "2026-04-06") == 0  # the last run's date: a rerun, not refused
    assert numbers_and_dates(folder.workbook) == [
        ("INV-2026-0001", "2026-03-09"),
        ("INV-2026-0002", "2026-04-06"),
        ("INV-2026-0003", "2026-04-06"),  # the forgotten work, dated the day it is billed
    ]
    assert [str(m["Subject"]).split()[1] for m in mails_to(folder, "Birch")][-1] == "INV-2026-0003"
    assert folder.run("--as-of", "2026-04-13") == 0  # and the weeks after go on
    assert not any("Reminder" in str(m["Subject"]) for m in mails_to(folder, "Birch")[3:])


def test_a_run_dated_ahead_by_mistake_is_left_by_running_as_of_today(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run given a date ahead (a mistyped --as-of, a clock that was ahead) must not hold
    every run back until that date comes: as of today goes ahead; a date before today
    stops, and the message says both ways."""
    today = date.today()
    write_workbook(
        folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    assert folder.run("--as-of", (today + timedelta(days=30)).isoformat()) == 0
    capsys.readouterr()
    assert folder.run("--as-of", (today - timedelta(days=1)).isoformat()) == 2
    text = said(capsys.readouterr().out)
    assert f"if that date was wrong (a clock that was ahead, an --as-of mistyped), run as of " \
        f"today, --as-of {today.isoformat()}" in text
    assert main(["--workbook", str(folder.workbook)]) == 0  # today, without --as-of


def copied(folder: Folder, elsewhere: pytest.TempPathFactory) -> Folder:
    """The billing folder copied whole (cp -a: .billing/ too) to another folder."""
    other = elsewhere.mktemp("copy") / "billing"
    shutil.copytree(folder.root, other, symlinks=True)
    return Folder(other, folder.recorder, folder.port)


def test_a_copied_billing_folder_is_told_once_by_its_first_run(
    folder: Folder, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Copied with its .billing/ and both copies run in the same week: both issued
    INV-2026-0008, to different clients, without a word. The copy's first run (and its
    dry run and `check` before it) now says where the record was last used, that it is
    still there, and what to do (exit 1, in the log too); then never again. The original,
    last used where it is, stays quiet."""
    bill_march_and_april(folder)
    copy = copied(folder, tmp_path_factory)
    capsys.readouterr()
    book = ["--workbook", str(copy.workbook), "--as-of", "2026-04-13"]
    for argv in ([*book, "--dry-run"], ["check", *book], book):
        assert main(argv) == 1, argv
        text = said(capsys.readouterr().out)
        assert (
            f"this billing folder's record (.billing/ledger.sqlite) was last used in "
            f"{folder.root} (on this computer) on " in text
        ), text
        assert "a billing record is still there" in text and f"this run is in {copy.root}" in text
        assert "the two copies will issue the same invoice numbers" in text
        assert "Moved on purpose (a new computer or folder)? Then nothing is wrong" in text
    (log,) = [p for p in (copy.root / ".billing" / "logs").glob("run-*.log")
              if "was last used in" in p.read_text(encoding="utf-8")]  # fmt: skip
    assert "the two copies" in said(log.read_text(encoding="utf-8"))
    assert numbers_and_dates(copy.workbook)[-1] == ("INV-2026-0003", "2026-04-13")  # it ran

    assert copy.run("--as-of", "2026-04-13") == 0  # told once
    assert copy.run("--as-of", "2026-04-20") == 0
    assert "was last used" not in capsys.readouterr().out
    assert folder.run("--as-of", "2026-04-13") == 0  # the original was last used where it is
    assert "was last used" not in capsys.readouterr().out


def test_a_new_computer_is_told_once(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same folder (a disk moved, a network drive), run from another computer: told
    once, naming the computer it was last used on."""
    bill_march_and_april(folder)
    old = socket.gethostname()
    monkeypatch.setattr(socket, "gethostname", lambda: "NEW-LAPTOP")
    capsys.readouterr()
    assert folder.run("--as-of", "2026-04-13") == 1
    text = said(capsys.readouterr().out)
    assert f"was last used in {folder.root} on the computer {old} on " in text
    assert f"this run is in {folder.root} on NEW-LAPTOP" in text
    assert folder.run("--as-of", "2026-04-13") == 0
    assert "was last used" not in capsys.readouterr().out


def test_a_ledger_from_before_places_were_recorded_is_quiet_and_upgraded(
    folder: Folder, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger whose runs table has no folder or computer (made by an earlier version)
    says nothing about where it was used, gets the columns, and records them from then on."""
    bill_march_and_april(folder)
    ledger = folder.root / ".billing" / "ledger.sqlite"
    with sqlite3.connect(ledger) as db:
        db.execute("ALTER TABLE runs DROP COLUMN folder")
        db.execute("ALTER TABLE runs DROP COLUMN computer")
    db.close()
    copy = copied(folder, tmp_path_factory)
    capsys.readouterr()
    assert copy.run("--as-of", "2026-04-13") == 0
    assert "was last used" not in capsys.readouterr().out
    with sqlite3.connect(copy.root / ".billing" / "ledger.sqlite") as db:
        last = db.execute("SELECT folder, computer FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    db.close()
    assert last == (str(copy.root), socket.gethostname())
