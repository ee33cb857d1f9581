"""A run against what the ledger remembers of the runs before it: their as-of dates.

A run dated before the latest run's as-of date would number invoices out of date order
and email due dates already past: it stops (exit 2), as its dry run and `check` do.
"""

from __future__ import annotations

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
