"""The ledger lost (.billing/ not copied to a new computer, or ledger.sqlite deleted).

The Invoices sheet still lists invoices the tool issued and follows up; a
ledger that does not know them sends nothing about them. Every run, dry run
and `check` says so, once, with the way to put the ledger back, and exits 1;
everything else the run does goes on. Invoices typed by hand before the tool
(another numbering, no Status, settled, never emailed by it) stay quiet.
"""

from __future__ import annotations

import gzip
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import invoices, mails_to, type_into_invoices

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

#: Words of the message, wherever it is shown.
UNKNOWN = "does not know"


def bill_two(folder: Folder) -> None:
    """INV-2026-0001 (Acme, $300) and INV-2026-0002 (Birch, $200), emailed on 9 March."""
    write_workbook(
        folder.workbook,
        [client("Acme", Terms="Net 14"), client("Birch", Terms="Net 14")],
        [service(date(2026, 3, 2), "Acme", "Bookkeeping", 3, 100),
         service(date(2026, 3, 2), "Birch", "Payroll", 2, 100)],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    assert len(folder.received) == 2


def ledger_copies(folder: Folder) -> list[Path]:
    return sorted((folder.root / ".billing" / "backups").glob("ledger-*.sqlite.gz"))


def lose_ledger(folder: Folder) -> None:
    ledger = folder.root / ".billing" / "ledger.sqlite"
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        ledger.with_name(name).unlink(missing_ok=True)


def said(out: str) -> str:
    """The output on one line (the message may be wrapped by the terminal)."""
    return " ".join(out.split())


def the_message(out: str) -> str:
    """The one sentence group about invoices the ledger does not know (asserted once)."""
    text = said(out)
    assert text.count(UNKNOWN) == 1, text
    return text


def test_lost_ledger_is_told_by_run_dry_run_and_check(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    bill_two(folder)
    (copy,) = ledger_copies(folder)  # the ledger as the run left it
    lose_ledger(folder)
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 3, 12))
    new_work = {"Date": date(2026, 3, 13), "Client": "Birch", "Description": "Audit",
                "Quantity": 1, "Unit Price": 80, "Amount": 80}  # fmt: skip
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", 4, c, v) for c, v in new_work.items()],
        header_rows={"Services": 1},
    )
    capsys.readouterr()

    for args in (("--dry-run",), ("check",), ()):
        command = ["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-23"]
        code = main(command) if args == ("check",) else folder.run("--as-of", "2026-03-23", *args)
        text = the_message(capsys.readouterr().out)
        assert code == 1, (args, text)
        assert "2 open invoices" in text and "INV-2026-0001, INV-2026-0002" in text
        assert "no reminders, payment notes or thank-yous" in text
        assert f".billing/backups/{copy.name}" in text and "gunzip" in text
        assert "no problems found" not in text
        if args == ("--dry-run",):
            assert "INV-2026-0003" in text  # the new work is still numbered after the sheet's

    # The run did everything else: the new invoice went out, numbered after the sheet's.
    assert [str(m["Subject"]).split()[1] for m in mails_to(folder, "Birch")][-1] == "INV-2026-0003"
    assert len(mails_to(folder, "Acme")) == 1  # no thank-you: the ledger does not know 0001

    # Later runs keep saying it, and name the copy that knows the invoices, not the copies of
    # the new ledger taken since.
    for day in ("2026-03-23", "2026-03-30"):
        assert folder.run("--as-of", day) == 1
        text = the_message(capsys.readouterr().out)
        assert "2 open invoices" in text and f".billing/backups/{copy.name}" in text
    assert len(ledger_copies(folder)) > 1


def test_billing_folder_left_behind_then_brought_back(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bill_two(folder)
    old_computer = tmp_path / "old-computer-billing"
    shutil.copytree(folder.root / ".billing", old_computer)
    shutil.rmtree(folder.root / ".billing")  # copied to a new computer without it
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 3, 12))
    capsys.readouterr()

    assert folder.run("--as-of", "2026-03-16") == 1
    text = the_message(capsys.readouterr().out)
    assert "INV-2026-0001" in text and "from the computer or folder" in text
    assert "gunzip" not in text  # no copy here knows them: none is named
    assert len(mails_to(folder, "Acme")) == 1
    assert invoices(folder).loc["Acme", "Status"] == "Sent"  # not followed up

    # The ledger put back: the run is quiet again and thanks Acme.
    lose_ledger(folder)
    shutil.copy2(old_computer / "ledger.sqlite", folder.root / ".billing" / "ledger.sqlite")
    assert folder.run("--as-of", "2026-03-17") == 0
    assert UNKNOWN not in said(capsys.readouterr().out)
    assert len(mails_to(folder, "Acme")) == 2 and invoices(folder).loc["Acme", "Status"] == "Paid"


def test_a_copy_put_back_that_lacks_some_invoices_names_those(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    bill_two(folder)
    (copy,) = ledger_copies(folder)
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", 4, c, v)
         for c, v in {"Date": date(2026, 3, 10), "Client": "Acme", "Description": "Tax return",
                      "Quantity": 1, "Unit Price": 50, "Amount": 50}.items()],
        header_rows={"Services": 1},
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-16") == 0  # INV-2026-0003
    lose_ledger(folder)  # the older copy put back in its place
    with gzip.open(copy) as packed, (folder.root / ".billing" / "ledger.sqlite").open("wb") as out:
        shutil.copyfileobj(packed, out)
    capsys.readouterr()
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-17"]) == 1
    text = the_message(capsys.readouterr().out)
    assert "1 open invoice " in text and "(INV-2026-0003)" in text and "INV-2026-0001" not in text
    newest = ledger_copies(folder)[-1]
    assert newest != copy and f".billing/backups/{newest.name}" in text  # the copy that knows it


def test_invoices_typed_by_hand_before_the_tool_stay_quiet(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh"
    assert main(["init", str(fresh)]) == 0
    main(["check", "--workbook", str(fresh / "service_log.xlsx")])
    assert UNKNOWN not in said(capsys.readouterr().out)  # a new folder is quiet

    sent = datetime(2025, 11, 3, 9, 30)
    history = [
        {"Invoice No": "2025/117", "Client": "Acme", "Total": 100, "Status": "Sent",
         "Sent At": sent},  # another numbering
        {"Invoice No": "INV-2025-0003", "Client": "Acme", "Total": 100, "Status": None,
         "Sent At": sent},  # no status
        {"Invoice No": "INV-2025-0004", "Client": "Acme", "Total": 100, "Status": "Paid",
         "Sent At": sent, "Last Sent": sent},  # settled
        {"Invoice No": "INV-2025-0005", "Client": "Acme", "Total": 100, "Status": "Sent",
         "Sent At": None},  # never emailed by the tool
        {"Invoice No": "INV-2025-0006", "Client": "Acme", "Total": 100, "Status": "Void",
         "Sent At": sent},
    ]  # fmt: skip
    write_workbook(
        folder.workbook,
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Bookkeeping", 1, 100)],
        invoices=history,
    )
    for args in (("--dry-run",), ()):
        assert folder.run("--as-of", "2026-03-09", *args) == 0
        assert UNKNOWN not in said(capsys.readouterr().out)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 0
    assert UNKNOWN not in said(capsys.readouterr().out)

    # One row the tool would have written (an open status, emailed at a time): that one is told.
    row = len(history) + 3  # below the history and the invoice just issued
    apply_updates(
        folder.workbook,
        [CellUpdate("Invoices", row, c, v)
         for c, v in {"Invoice No": "INV-2025-0007", "Client": "Acme", "Total": 100,
                      "Status": "Reissued", "Sent At": sent, "Last Sent": sent}.items()],
        header_rows={"Invoices": 1},
    )  # fmt: skip
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-10"]) == 1
    text = the_message(capsys.readouterr().out)
    assert "1 open invoice " in text and "(INV-2025-0007)" in text
    assert not any(n in text for n in ("2025/117", "0003", "0004", "0005", "0006"))


def test_an_invoice_whose_email_failed_is_told_by_its_note_and_the_note_is_the_way_out(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acme's one address refuses the invoice: Failed, no Sent At, the tool's Note saying
    so. The ledger lost, the row is still told (the work on it would never reach the
    client), and the message names what to empty if it was typed by hand: that works."""
    folder.recorder.refuse = frozenset({"acme@clients.example"})
    write_workbook(
        folder.workbook,
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Bookkeeping", 3, 100)],
    )
    assert folder.run("--as-of", "2026-03-09") == 1
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Failed" and row["Sent At"] != row["Sent At"]  # NaN: never sent
    assert row["Note"].startswith("Email (invoice) not delivered to acme@clients.example")
    shutil.rmtree(folder.root / ".billing")
    capsys.readouterr()

    assert folder.run("--as-of", "2026-03-16") == 1
    text = the_message(capsys.readouterr().out)
    assert "1 open invoice on this sheet (INV-2026-0001)" in text
    assert "a Sent At or its Note on an email that failed" in text
    assert "on a Failed row, the Note saying its email was not sent" in text

    folder.type_in("Invoices", folder.row_of("Invoices", "Client", "Acme"), Note=None)
    assert folder.run("--as-of", "2026-03-23") == 0
    assert UNKNOWN not in said(capsys.readouterr().out)
