"""A rerun with nothing to do: answered from the inputs' fingerprint, writing nothing.

The first run bills and leaves nothing owed; a second one on the same inputs
must show what a run in full would show, and leave every byte as it was.
Anything a run reads that changes in between makes the second run a full one.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook

from automation.cli import main
from automation.model import CellUpdate
from automation.rerun import NOTHING_CHANGED, RECORD
from automation.writeback import apply_updates

AS_OF = "2026-03-09"


def basic(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd", Terms="Net 30"), client("Beta LLC", Terms="Due on receipt")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping, February", 2, 150),
         service(date(2026, 3, 4), "Beta LLC", "Tax return", 1, 400),
         service(date(2026, 3, 12), "Beta LLC", "Payroll run", 1, 90)],  # billable later
    )  # fmt: skip


def runs(folder: Folder) -> int:
    """How many runs the ledger has recorded (read without touching the file)."""
    uri = f"file:{folder.root / '.billing' / 'ledger.sqlite'}?immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    finally:
        conn.close()


def snapshot(folder: Folder) -> dict[str, tuple[bytes, int]]:
    """Every file of the folder but the run logs (and a twin): bytes and modification time."""
    return {
        str(p.relative_to(folder.root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.root.rglob("*"))
        if p.is_file() and not {"logs", "twin"} & set(p.parts) and p.name != "run.lock"
    }


def twin_of(folder: Folder, tmp_path: Path) -> Folder:
    """A copy of the folder that cannot skip (it runs in full), its ledger's runs moved
    there with it: a copy is otherwise told once (`whereabouts`), which the folder is not."""
    twin = Folder(tmp_path / "twin", folder.recorder, folder.port)
    shutil.copytree(folder.root, twin.root, ignore=shutil.ignore_patterns("twin"))
    (twin.root / ".billing" / RECORD).unlink()
    conn = sqlite3.connect(twin.root / ".billing" / "ledger.sqlite")
    with conn:
        conn.execute("UPDATE runs SET folder = ?", (str(twin.root),))
    conn.close()
    return twin


def first_run(folder: Folder, capsys: pytest.CaptureFixture[str], *args: str) -> None:
    assert folder.run("--as-of", AS_OF, *args) == 0
    assert (folder.root / ".billing" / RECORD).is_file()
    capsys.readouterr()


def test_a_rerun_with_nothing_to_do_writes_nothing(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    assert len(folder.received) == 2 and runs(folder) == 1
    before = snapshot(folder)

    assert folder.run("--as-of", AS_OF) == 0
    out = capsys.readouterr().out
    assert NOTHING_CHANGED in " ".join(out.split())
    assert snapshot(folder) == before  # workbook, ledger, report, backups: byte for byte
    assert runs(folder) == 1 and len(folder.received) == 2
    log = sorted((folder.root / ".billing" / "logs").glob("run-*.log"))[-1].read_text()
    assert "phases: " in log and "rerun check" in log  # the run log is still written


def test_the_rerun_shows_what_a_run_in_full_shows(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    twin = twin_of(folder, tmp_path)

    assert folder.run("--as-of", AS_OF) == 0
    skipped = capsys.readouterr().out
    assert twin.run("--as-of", AS_OF) == 0
    full = capsys.readouterr().out.replace(str(twin.root), str(folder.root))
    assert runs(twin) == 2 and runs(folder) == 1
    assert "Outstanding:" in full and "1 service waits until billable" in full
    assert " ".join(skipped.split()) == " ".join(full.split()).replace(
        "Receivables report:", NOTHING_CHANGED + " Receivables report:"
    )
    # The full rerun left nothing owed either: the one after it is answered.
    assert twin.run("--as-of", AS_OF) == 0
    assert NOTHING_CHANGED in " ".join(capsys.readouterr().out.split()) and runs(twin) == 2


def change_config(folder: Folder) -> None:
    folder.write_config("bill_after_days = 2")


def local_templates(folder: Folder) -> None:
    from automation.bundled import TEMPLATES

    shutil.copytree(TEMPLATES, folder.root / "templates")


def statement_in_inbox(folder: Folder) -> None:
    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "bank.csv").write_text("Date,Amount,Payer\n")


def delete_report(folder: Folder) -> None:
    for report in (folder.root / "reports").glob("*.xlsx"):
        report.unlink()


def restore_older_workbook(folder: Folder) -> None:
    backup = next((folder.root / ".billing" / "backups").glob("service_log-*.xlsx"))
    shutil.copy(backup, folder.workbook)


def restore_older_ledger(folder: Folder) -> None:
    backup = next((folder.root / ".billing" / "backups").glob("ledger-*.sqlite.gz"))
    with gzip.open(backup) as copy:
        (folder.root / ".billing" / "ledger.sqlite").write_bytes(copy.read())


CHANGES = {
    "older workbook restored": restore_older_workbook,
    "ledger changed": restore_older_ledger,
    "config changed": change_config,
    "statement file in the inbox": statement_in_inbox,
    "report deleted": delete_report,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_anything_changed_runs_in_full(
    folder: Folder, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    CHANGES[change](folder)
    folder.run("--as-of", AS_OF)
    assert NOTHING_CHANGED not in " ".join(capsys.readouterr().out.split())
    assert runs(folder) == 2


def test_edited_templates_run_in_full(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    basic(folder)
    local_templates(folder)
    first_run(folder, capsys)
    with (folder.root / "templates" / "email" / "en" / "invoice.txt").open("a") as text:
        text.write("\nThank you.\n")
    assert folder.run("--as-of", AS_OF) == 0
    assert runs(folder) == 2


@pytest.mark.parametrize(
    "args",
    [("--as-of", "2026-03-10"), ("--as-of", AS_OF, "--only", "Acme Ltd"),
     ("--as-of", AS_OF, "--outbox", "out")],
)  # fmt: skip
def test_another_request_runs_in_full(
    folder: Folder, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    assert folder.run(*args) == 0
    assert NOTHING_CHANGED not in " ".join(capsys.readouterr().out.split())
    assert runs(folder) == 2


def test_dry_run_check_and_payments_never_skip(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    before = snapshot(folder)
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert NOTHING_CHANGED not in out and "Dry run" in out
    assert snapshot(folder) == before and runs(folder) == 1  # and the record still holds
    assert folder.run("--as-of", AS_OF) == 0
    assert NOTHING_CHANGED in " ".join(capsys.readouterr().out.split())

    statement = folder.root / "empty.csv"
    statement.write_text("Date,Amount,Payer\n")
    main(["payments", str(statement), "--workbook", str(folder.workbook), "--as-of", AS_OF])
    assert runs(folder) == 2  # payments ran, and changed the ledger: the record is void
    assert folder.run("--as-of", AS_OF) == 0
    assert NOTHING_CHANGED not in " ".join(capsys.readouterr().out.split())
    assert runs(folder) == 3


def test_row_errors_are_shown_again_as_a_run_in_full_shows_them(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd"), client("Vague Co", Terms="whenever"),
         client("Refund Co"), client("Gone Ltd", Active="No")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping", 2, 150),
         service(date(2026, 3, 3), "Nobody Inc", "Payroll", 1, 80),
         service("soon", "Acme Ltd", "Advice", 1, 50),
         service(date(2026, 3, 4), "Vague Co", "Audit", 1, 500),
         service(date(2026, 3, 4), "Refund Co", "Refund", 1, -40),
         service(date(2026, 3, 5), "Gone Ltd", "Filing", 1, 70),
         service(date(2028, 3, 5), "Acme Ltd", "Far ahead", 1, 70)],
    )  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 1
    assert len(folder.received) == 1 and (folder.root / ".billing" / RECORD).is_file()
    capsys.readouterr()
    twin = twin_of(folder, tmp_path)
    before = snapshot(folder)

    assert folder.run("--as-of", AS_OF) == 1
    skipped = " ".join(capsys.readouterr().out.split())
    assert twin.run("--as-of", AS_OF) == 1
    full = " ".join(capsys.readouterr().out.replace(str(twin.root), str(folder.root)).split())
    assert runs(folder) == 1 and runs(twin) == 2 and snapshot(folder) == before
    assert "rows need attention" in full and "Nobody Inc" in full and "whenever" in full
    assert "Refund Co" in full and "2028-03-05" in full
    assert skipped == full.replace("Receivables report:", NOTHING_CHANGED + " Receivables report:")


def test_a_message_still_owed_is_not_skipped(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    folder.recorder.refuse = frozenset({"acmeltd@clients.example"})
    assert folder.run("--as-of", AS_OF) == 1
    assert not (folder.root / ".billing" / RECORD).exists()
    folder.recorder.refuse = frozenset()
    capsys.readouterr()
    folder.run("--as-of", AS_OF)
    assert runs(folder) == 2


def test_a_follow_up_due_later_the_same_day_is_not_skipped(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Reminders may go every day: after the note about a part payment, the same
    # day's next run owes the overdue invoice its reissue.
    folder.write_config(extra="[reissue]\nevery_days = 0\ndue_in_days = 7")
    write_workbook(
        folder.workbook,
        [client("Acme Ltd", Terms="Due on receipt")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping", 1, 1000)],
    )
    assert folder.run("--as-of", "2026-03-02") == 0
    paid = [
        CellUpdate("Invoices", 2, "Paid Amount", Decimal("400")),
        CellUpdate("Invoices", 2, "Paid Date", date(2026, 3, 5)),
    ]
    apply_updates(folder.workbook, paid, header_rows={"Invoices": 1})
    assert folder.run("--as-of", AS_OF) == 0  # the note about the part payment
    sent = len(folder.received)
    assert sent == 2 and not (folder.root / ".billing" / RECORD).exists()
    capsys.readouterr()
    assert folder.run("--as-of", AS_OF) == 0  # in full: the reissue goes now
    assert NOTHING_CHANGED not in " ".join(capsys.readouterr().out.split())
    assert len(folder.received) == sent + 1 and runs(folder) == 3
    assert str(folder.received[-1].message["Subject"]).startswith("Reminder")
    # Reissued with a new due date a week on: nothing more today, and that is proved.
    assert (folder.root / ".billing" / RECORD).exists()
    assert folder.run("--as-of", AS_OF) == 0
    assert NOTHING_CHANGED in " ".join(capsys.readouterr().out.split())
    assert runs(folder) == 3 and len(folder.received) == sent + 1


def rezip(
    source: Path, target: Path, size: int | None = None, old: bytes = b"", new: bytes = b""
) -> None:
    """`source` zipped again, `old` replaced by `new` in its parts; padded to `size` bytes."""
    with zipfile.ZipFile(source) as zf:
        parts = [(info, zf.read(info)) for info in zf.infolist()]
    for pad in range(400):
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for info, data in parts:
                zf.writestr(info, data.replace(old, new))
            zf.comment = b" " * (200 if size is None else pad)
        if size is None or target.stat().st_size == size:
            return
    raise AssertionError("no padding gives the same size")


def test_a_workbook_edited_to_the_same_size_and_time_runs_in_full(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    basic(folder)
    first_run(folder, capsys)
    # The same cells, zipped again: a run in full, which has nothing to do either.
    rezip(folder.workbook, tmp_path / "same.xlsx")
    shutil.copy(tmp_path / "same.xlsx", folder.workbook)
    assert folder.run("--as-of", AS_OF) == 0 and runs(folder) == 2
    kept = folder.workbook.read_bytes()
    assert (folder.root / ".billing" / RECORD).is_file()
    stat = folder.workbook.stat()
    # One word changed; the file keeps its size and its modification time.
    rezip(folder.workbook, tmp_path / "edited.xlsx", len(kept), b"Tax return", b"Tax RETURN")
    shutil.copy(tmp_path / "edited.xlsx", folder.workbook)
    os.utime(folder.workbook, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert folder.workbook.read_bytes() != kept and folder.workbook.stat().st_size == len(kept)
    capsys.readouterr()
    assert folder.run("--as-of", AS_OF) == 1  # the run in full sees the billed line changed
    out = " ".join(capsys.readouterr().out.split())
    assert NOTHING_CHANGED not in out and 'from "Tax return" to "Tax RETURN"' in out
    assert runs(folder) == 3


def test_the_busy_checks_still_apply(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    basic(folder)
    first_run(folder, capsys)
    owner = folder.workbook.with_name("~$" + folder.workbook.name)
    owner.write_bytes(b"\0" * 165)  # Excel has the workbook open
    assert folder.run("--as-of", AS_OF) == 3
    assert "is open in another program" in capsys.readouterr().out
    owner.unlink()
    assert folder.run("--as-of", AS_OF) == 0
    assert NOTHING_CHANGED in " ".join(capsys.readouterr().out.split()) and runs(folder) == 1
