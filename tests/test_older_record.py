"""An older copy of the ledger put back (from .billing/backups/, or with the workbook from
OneDrive's version history).

What was sent since outlives the ledger: the documents under invoices/<year>/ and the
cells the tool wrote on the Invoices sheet. No number whose document exists is issued
again (nor its document overwritten), and an invoice shown sent more than the ledger
knows gets no email and keeps its row; the run says so once, naming the newest copy
that knows more, and exits 1. An older WORKBOOK put back with the current ledger stays
the quiet case it was.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import invoices, mails_to, type_into_invoices

from automation.cli import main
from automation.config import Config
from automation.model import CellUpdate
from automation.older_record import read_documents
from automation.writeback import apply_updates

#: Words of the message, wherever it is shown.
OLDER = "looks older than what was sent"
#: The Invoices cells only the tool writes, which must be left as they are.
KEPT = ["Due Date", "Status", "Last Sent", "Reissue Count", "Note"]


def said(out: str) -> str:
    return " ".join(out.split())


def ledger_copies(folder: Folder) -> list[Path]:
    return sorted((folder.root / ".billing" / "backups").glob("ledger-*.sqlite.gz"))


def put_back(folder: Folder, copy: Path) -> None:
    """As README says: decompress the copy in place of ledger.sqlite, -wal and -shm deleted."""
    ledger = folder.root / ".billing" / "ledger.sqlite"
    for name in ("ledger.sqlite-wal", "ledger.sqlite-shm"):
        ledger.with_name(name).unlink(missing_ok=True)
    with gzip.open(copy) as packed, ledger.open("wb") as out:
        shutil.copyfileobj(packed, out)


def add_service(folder: Folder, row: int, day: date, name: str, price: int) -> None:
    work = {"Date": day, "Client": name, "Description": "More work", "Quantity": 1,
            "Unit Price": price, "Amount": price}  # fmt: skip
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", row, c, v) for c, v in work.items()],
        header_rows={"Services": 1},
    )


def sent_twice(folder: Folder) -> list[tuple[str, str, tuple[str, ...]]]:
    """Messages that went to the same address with the same subject and files twice."""
    seen = Counter(
        (",".join(r.rcpt_tos), str(r.message["Subject"]),
         tuple(p.get_filename() or "" for p in r.message.iter_attachments()))
        for r in folder.received
    )  # fmt: skip
    return [key for key, count in seen.items() if count > 1]


def test_an_older_ledger_copy_sends_nothing_the_workbook_shows_went(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 7") for n in ("Acme", "Birch", "Cedar")],
        [service(date(2026, 3, 2), n, "Work", 1, 300) for n in ("Acme", "Birch", "Cedar")],
    )
    assert folder.run("--as-of", "2026-03-09") == 0  # INV-2026-0001..0003
    (old,) = ledger_copies(folder)
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 3, 12))
    type_into_invoices(folder, "Cedar", Paid_Amount=Decimal("100"), Paid_Date=date(2026, 3, 12))
    assert folder.run("--as-of", "2026-03-16") == 0  # a thank-you, a part-payment note
    assert folder.run("--as-of", "2026-03-23") == 0  # reminder 1 of Birch's and Cedar's
    assert len(folder.received) == 3 + 2 + 2
    newest = ledger_copies(folder)[-1]
    before = invoices(folder)[KEPT]
    put_back(folder, old)  # the copy from after the first run
    capsys.readouterr()

    for args in (("--dry-run",), ("check",), ()):
        command = ["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-30"]
        code = main(command) if args == ("check",) else folder.run("--as-of", "2026-03-30", *args)
        text = said(capsys.readouterr().out)
        assert code == 1, (args, text)
        assert text.count(OLDER) == 1, text
        assert "INV-2026-0001, INV-2026-0002, INV-2026-0003" in text
        assert f".billing/backups/{newest.name}" in text and "gunzip" in text
    assert len(folder.received) == 7  # no second thank-you, part-payment note or reminder 1
    # The reissues' due dates, the Notes, Last Sent: as they were.
    pd.testing.assert_frame_equal(invoices(folder)[KEPT], before)

    # The copy named put back: the run goes on from there, nothing sent twice.
    put_back(folder, newest)
    assert folder.run("--as-of", "2026-03-31") == 0
    assert OLDER not in said(capsys.readouterr().out)
    assert not sent_twice(folder)


def test_the_workbook_and_ledger_both_put_back_never_reuse_a_number(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme", Terms="Net 7"), client("Birch"), client("Cedar")],
        [service(date(2026, 3, 2), "Acme", "Work", 1, 300)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0  # INV-2026-0001
    snapshot = tmp_path / "last-week"
    snapshot.mkdir()
    shutil.copy2(folder.workbook, snapshot / "service_log.xlsx")
    shutil.copytree(folder.root / ".billing", snapshot / ".billing")
    add_service(folder, 3, date(2026, 3, 17), "Birch", 200)
    assert folder.run("--as-of", "2026-03-23") == 0  # INV-2026-0002 to Birch, Acme reissued
    year = folder.root / "invoices" / "2026"
    sent = {name: (year / name).read_bytes()
            for name in ("INV-2026-0002.docx", "INV-2026-0001-R1.docx")}  # fmt: skip
    assert len(mails_to(folder, "Acme")) == 2

    # Both put back from last week's copies (the workbook still shows it can be billed).
    shutil.copy2(snapshot / "service_log.xlsx", folder.workbook)
    shutil.rmtree(folder.root / ".billing")
    shutil.copytree(snapshot / ".billing", folder.root / ".billing")
    add_service(folder, 3, date(2026, 3, 24), "Cedar", 500)
    capsys.readouterr()

    assert folder.run("--as-of", "2026-03-30", "--dry-run") == 1
    text = said(capsys.readouterr().out)
    assert text.count(OLDER) == 1 and "INV-2026-0003" in text
    assert folder.run("--as-of", "2026-03-30") == 1
    text = said(capsys.readouterr().out)
    assert text.count(OLDER) == 1, text
    assert "documents of INV-2026-0002" in text  # the number the record lost
    assert "about INV-2026-0001" in text  # its reminder 1 went
    assert "No copy in .billing/backups/ knows more" in text

    (cedar,) = mails_to(folder, "Cedar")
    assert "INV-2026-0003" in str(cedar["Subject"])  # after the documents' numbers
    assert len(mails_to(folder, "Acme")) == 2  # reminder 1 not sent again
    for name, content in sent.items():
        assert (year / name).read_bytes() == content, name  # what the clients were sent


def test_an_older_workbook_with_the_current_ledger_stays_quiet(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme", Terms="Net 7")],
        [service(date(2026, 3, 2), "Acme", "Work", 1, 300)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    older = tmp_path / "older.xlsx"
    shutil.copy2(folder.workbook, older)
    assert folder.run("--as-of", "2026-03-23") == 0  # reminder 1
    shutil.copy2(older, folder.workbook)  # README: the workbook put back, the ledger kept
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-24") == 0
    assert OLDER not in said(capsys.readouterr().out)
    assert invoices(folder).loc["Acme", "Reissue Count"] == 1  # written back from the ledger
    assert len(mails_to(folder, "Acme")) == 2


def test_a_reminder_never_sent_leaves_its_document_without_a_word(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reissue's document is made before it is emailed: one refused, then no longer wanted
    (the client paid), stays behind from a run the ledger knows. A newer one counts."""
    write_workbook(
        folder.workbook,
        [client("Acme", Terms="Net 7")],
        [service(date(2026, 3, 2), "Acme", "Work", 1, 300)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    year = folder.root / "invoices" / "2026"
    left = year / "INV-2026-0001-R1.docx"
    shutil.copy2(year / "INV-2026-0001.docx", left)
    os.utime(left, (1_700_000_000, 1_700_000_000))  # made before the ledger's last run
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-12") == 0
    assert OLDER not in said(capsys.readouterr().out)

    os.utime(left)  # made now: after the ledger's last run, by a run it knows nothing of
    assert folder.run("--as-of", "2026-03-23") == 1
    text = said(capsys.readouterr().out)
    assert text.count(OLDER) == 1 and "about INV-2026-0001" in text
    assert len(mails_to(folder, "Acme")) == 1  # no reminder 1 over the document there


def test_documents_are_read_back_into_their_numbers(tmp_path: Path) -> None:
    root = tmp_path / "invoices"
    for year, names in {
        "2026": ["INV-2026-0007", "INV-2026-0004-R2", "INV-2026-0004-R1", "INV-2026-0005-C1",
                 "CN-2026-0003", "INV-2026-0009 - Copy", "notes"],
        "2025": ["INV-2025-0120"],
        "2024": ["INV-2024-0999"],  # two years back: not looked at
    }.items():  # fmt: skip
        (root / year).mkdir(parents=True)
        for name in names:
            (root / year / f"{name}.docx").write_bytes(b"")
    docs = read_documents(root, Config(), 2026)
    assert docs.invoices == {"INV-2026-0007", "INV-2026-0004", "INV-2026-0005", "INV-2025-0120"}
    assert sorted(n for n, _ in docs.reissues["INV-2026-0004"]) == [1, 2]
    assert docs.copies == {"INV-2026-0005": 1}
    assert docs.credit_notes == {"CN-2026-0003"}
    assert read_documents(tmp_path / "none", Config(), 2026).invoices == frozenset()
