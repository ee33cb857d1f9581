"""Ten weeks of follow-up: payments typed between runs, reissues, notices, escalation.

Each week the bookkeeper types into the Invoices sheet (through the same
lossless write-back the tool uses, as Excel would save it), then the weekly
run goes through a real SMTP server on loopback. Every status, balance, due
date, reissue flag and count is checked, and so is every email.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import docx
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation.model import CellUpdate
from automation.writeback import apply_updates

WEEK0 = date(2026, 1, 5)
CLIENTS = {
    "Full": "Net 7",
    "Short": "Net 7",
    "Over": "Net 7",
    "Silent": "Net 7",
    "Held": "Net 7",
    "Voided": "Net 7",
    "Early": "2/10 Net 30",
}


def week(n: int) -> date:
    return WEEK0 + timedelta(days=7 * n)


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Client")


def type_into_invoices(folder: Folder, name: str, **cells: object) -> None:
    folder.type_in("Invoices", folder.row_of("Invoices", "Client", name), **cells)


def mails_to(folder: Folder, name: str) -> list:
    address = f"{name.lower()}@clients.example"
    return [r.message for r in folder.received if address in r.rcpt_tos]


def digest(folder: Folder) -> str:
    return hashlib.sha256(folder.workbook.read_bytes()).hexdigest()


def run_week(folder: Folder, n: int) -> None:
    assert folder.run("--as-of", week(n).isoformat()) == 0
    sent, state = len(folder.received), digest(folder)
    assert folder.run("--as-of", week(n).isoformat()) == 0  # rerunning a week sends nothing
    assert len(folder.received) == sent
    assert digest(folder) == state


def check(
    folder: Folder,
    name: str,
    status: str,
    balance: str,
    due: date,
    reissue: str | None = None,
    count: int = 0,
) -> None:
    row = invoices(folder).loc[name]
    assert row["Status"] == status, (name, row["Status"], status)
    assert Decimal(str(row["Balance"])).quantize(Decimal("0.01")) == Decimal(balance), name
    assert row["Due Date"].date() == due, (name, row["Due Date"], due)
    assert (None if pd.isna(row["Reissue"]) else row["Reissue"]) == reissue, name
    assert int(row["Reissue Count"]) == count, name


def test_ten_weeks_of_follow_up(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7\nmax_count = 3")
    write_workbook(
        folder.workbook,
        [client(name, Terms=terms) for name, terms in CLIENTS.items()],
        [service(date(2026, 1, 2), name, f"Work for {name}", 1, 1000) for name in CLIENTS],
    )
    run_week(folder, 0)
    assert len(folder.received) == 7
    for name in CLIENTS:
        due = date(2026, 2, 4) if name == "Early" else week(1)
        check(folder, name, "Sent", "1000.00", due)

    # Week 1: payments come in; one invoice is held, one voided.
    type_into_invoices(folder, "Full", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    type_into_invoices(folder, "Short", Paid_Amount=Decimal("400"), Paid_Date=week(1))
    type_into_invoices(folder, "Over", Paid_Amount=Decimal("1200"), Paid_Date=week(1))
    type_into_invoices(folder, "Early", Paid_Amount=Decimal("980"), Paid_Date=date(2026, 1, 9))
    type_into_invoices(folder, "Held", Status="Hold")
    type_into_invoices(folder, "Voided", Status="Void")
    capsys.readouterr()
    run_week(folder, 1)
    out = capsys.readouterr().out
    overpaid = [ln for ln in out.splitlines() if "overpayment" in ln]
    assert overpaid and "$200.00" in overpaid[0] and "-$200.00" not in overpaid[0]
    owed = out.split("Owed back to clients", 1)[1].splitlines()[1]  # listed as owed back too
    assert "INV-" in owed and "Over" in owed and "$200.00" in owed
    report = folder.root / "reports" / f"receivables-{week(1).isoformat()}.xlsx"
    listed = pd.read_excel(report, sheet_name="Owed back", header=2, engine="calamine")
    assert list(zip(listed["Client"], listed["Owed Back"], strict=True)) == [("Over", 200)]
    check(folder, "Full", "Paid", "0.00", week(1))
    thanks = mails_to(folder, "Full")[-1].get_body(("plain",)).get_content()
    assert "We have received $1,000.00 in all for invoice" in thanks  # the total paid
    check(folder, "Short", "Partially Paid", "600.00", week(1))
    check(folder, "Over", "Overpaid", "-200.00", week(1))
    check(folder, "Early", "Paid", "0.00", date(2026, 2, 4))  # the 2% discount was earned
    check(folder, "Held", "Hold", "1000.00", week(1))
    check(folder, "Voided", "Void", "0.00", week(1))  # cancelled by its credit note
    check(folder, "Silent", "Sent", "1000.00", week(1))  # due today: not overdue yet

    run_week(folder, 2)  # 19 Jan: overdue ones are reissued
    check(folder, "Silent", "Reissued", "1000.00", week(3), "Yes", 1)
    check(folder, "Short", "Reissued", "600.00", week(3), "Yes", 1)
    check(folder, "Held", "Hold", "1000.00", week(1))

    type_into_invoices(folder, "Short", Paid_Amount=Decimal("1000"), Paid_Date=week(3))
    run_week(folder, 3)
    check(folder, "Short", "Paid", "0.00", week(3), None, 1)
    check(folder, "Silent", "Reissued", "1000.00", week(3), None, 1)  # due today, not overdue

    run_week(folder, 4)
    check(folder, "Silent", "Reissued", "1000.00", week(5), "Yes", 2)
    run_week(folder, 5)
    check(folder, "Silent", "Reissued", "1000.00", week(5), None, 2)
    run_week(folder, 6)
    check(folder, "Silent", "Reissued", "1000.00", week(7), "Yes", 3)
    run_week(folder, 7)
    run_week(folder, 8)  # due for a fourth reissue: escalated instead
    check(folder, "Silent", "Escalated", "1000.00", week(7), None, 3)

    type_into_invoices(folder, "Held", Status=None)  # the bookkeeper clears Hold
    run_week(folder, 8)
    check(folder, "Held", "Reissued", "1000.00", week(9), "Yes", 1)
    run_week(folder, 9)
    check(folder, "Silent", "Escalated", "1000.00", week(7), None, 3)
    check(folder, "Held", "Reissued", "1000.00", week(9), None, 1)
    check(folder, "Voided", "Void", "0.00", week(1))
    # Eight weeks on, the overpayment is still listed as owed back, and nothing more is sent.
    report = folder.root / "reports" / f"receivables-{week(9).isoformat()}.xlsx"
    listed = pd.read_excel(report, sheet_name="Owed back", header=2, engine="calamine")
    assert list(listed["Client"]) == ["Over"]
    check(folder, "Over", "Overpaid", "-200.00", week(1))

    subjects = {name: [str(m["Subject"]) for m in mails_to(folder, name)] for name in CLIENTS}
    assert [s.split(":")[0].split(" ")[0] for s in subjects["Full"]] == ["Invoice", "Thank"]
    assert len(subjects["Short"]) == 4 and "600.00 still due" in subjects["Short"][1]
    assert subjects["Short"][2].startswith("Reminder") and subjects["Short"][3].startswith("Thank")
    assert len(subjects["Over"]) == 2 and "$200.00 more than due" in subjects["Over"][1]
    assert len(subjects["Silent"]) == 4
    assert all(s.startswith("Reminder") for s in subjects["Silent"][1:])
    assert len(subjects["Held"]) == 2 and len(subjects["Voided"]) == 2
    assert subjects["Voided"][1].startswith("Credit note CN-2026-0001 for invoice")
    assert [s.split(" ")[0] for s in subjects["Early"]] == ["Invoice", "Thank"]

    # Reminders and notes thread under the first message about the invoice.
    for name in CLIENTS:
        messages = mails_to(folder, name)
        first = messages[0]["Message-ID"]
        assert len({m["Message-ID"] for m in messages}) == len(messages)
        for later in messages[1:]:
            assert later["In-Reply-To"] == first and first in later["References"]

    # The reissue says what is outstanding after the part payment and carries the R1 file.
    reminder = mails_to(folder, "Short")[2]
    body = reminder.get_body(("plain",)).get_content()
    assert "$600.00" in body
    names = [part.get_filename() for part in reminder.iter_attachments()]
    assert names == [f"{invoices(folder).loc['Short', 'Invoice No']}-R1.docx"]
    under = mails_to(folder, "Short")[1].get_body(("plain",)).get_content()
    assert "$400.00" in under and "$600.00" in under
    over = mails_to(folder, "Over")[1].get_body(("plain",)).get_content()
    assert "$200.00" in over and ("refund" in over.lower() or "credit" in over.lower())

    # The 200 is refunded and Paid Amount lowered to what was due: Paid, and no late
    # "thank you" on top of the overpayment note that thanked them already.
    type_into_invoices(folder, "Over", Paid_Amount=Decimal("1000"))
    run_week(folder, 10)
    check(folder, "Over", "Paid", "0.00", week(1))
    assert len(mails_to(folder, "Over")) == 2


def test_a_thank_you_comes_after_an_overpayment_typo_was_corrected(folder: Folder) -> None:
    """4,000 typed for 400 (an overpayment note went out), corrected (a part-payment note),
    then paid in full: the client is thanked, as any payer in full is."""
    write_workbook(folder.workbook, [client("Typo", Terms="Net 30")],
                   [service(date(2026, 1, 2), "Typo", "Work", 1, 1000)])  # fmt: skip
    run_week(folder, 0)
    type_into_invoices(folder, "Typo", Paid_Amount=Decimal("4000"), Paid_Date=week(1))
    run_week(folder, 1)
    type_into_invoices(folder, "Typo", Paid_Amount=Decimal("400"))
    run_week(folder, 2)
    type_into_invoices(folder, "Typo", Paid_Amount=Decimal("1000"), Paid_Date=week(3))
    run_week(folder, 3)
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Typo")]
    assert len(subjects) == 4 and subjects[-1].startswith("Thank")


def test_the_dry_run_tells_an_overpayment_as_the_run_does(folder: Folder, capsys) -> None:
    """$50 paid too much: the dry run lists the note's amount as $50.00, as the run does
    (it showed -$50.00, the balance)."""
    write_workbook(folder.workbook, [client("Over", Terms="Net 30")],
                   [service(date(2026, 1, 2), "Over", "Work", 1, 1000)])  # fmt: skip
    run_week(folder, 0)
    type_into_invoices(folder, "Over", Paid_Amount=Decimal("1050"), Paid_Date=week(1))
    capsys.readouterr()
    assert folder.run("--as-of", week(1).isoformat(), "--dry-run") == 0
    told = " ".join(capsys.readouterr().out.split())
    assert "$50.00" in told and "-$50.00" not in told
    run_week(folder, 1)
    told = " ".join(capsys.readouterr().out.split())
    assert "$50.00" in told and "-$50.00" not in told


def test_a_run_after_missed_weeks_sends_one_reminder(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Late", Terms="Net 7")],
        [service(date(2026, 1, 2), "Late", "Work", 1, 500)],
    )
    run_week(folder, 0)
    run_week(folder, 9)  # nine weeks later, nothing ran in between
    assert len(mails_to(folder, "Late")) == 2
    check(folder, "Late", "Reissued", "500.00", week(9) + timedelta(days=14), "Yes", 1)


def test_a_dry_run_on_reissue_day_previews_the_reissued_invoice(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Late", Terms="Net 7")],
        [service(date(2026, 1, 2), "Late", "Work", 1, 500)],
    )
    run_week(folder, 0)
    before = digest(folder)
    assert folder.run("--as-of", week(2).isoformat(), "--dry-run") == 0
    previews = sorted(p.name for p in (folder.root / "preview").rglob("*.docx"))
    assert previews == ["INV-2026-0001-R1.docx"]
    document = docx.Document(str(next((folder.root / "preview").rglob("*-R1.docx"))))
    assert document.paragraphs[0].text == "DRAFT \u2014 preview of a dry run, not sent"
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    assert any("500.00" in c for c in cells)
    assert digest(folder) == before and len(mails_to(folder, "Late")) == 1
    run_week(folder, 2)  # the real run still reissues: the dry run used up nothing
    assert len(mails_to(folder, "Late")) == 2


def test_a_payment_typed_as_a_formula_never_worked_out_is_not_taken_for_none(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """`=SUM(Bank!B2:B3)` in Paid Amount, last saved by a program that does not calculate:
    the cell reads empty, but the client paid: no reminder, a row error saying what to do
    (a sum of numbers, `=100+12`, is worked out: test_cells)."""
    import openpyxl

    write_workbook(
        folder.workbook,
        [client("Payer", Terms="Net 7")],
        [service(date(2026, 1, 2), "Payer", "Work", 1, 112)],
    )
    run_week(folder, 0)
    book = openpyxl.load_workbook(folder.workbook)
    sheet = book["Invoices"]
    headers = {c.value: c.column for c in sheet[1]}
    sheet.cell(row=2, column=headers["Paid Amount"], value="=SUM(Bank!B2:B3)")
    sheet.cell(row=2, column=headers["Paid Date"], value=week(1))
    book.save(folder.workbook)
    capsys.readouterr()
    assert folder.run("--as-of", week(2).isoformat()) == 1
    out = capsys.readouterr().out
    assert "Paid Amount" in out and "=SUM(Bank!B2:B3)" in out and "open it in Excel" in out
    assert len(mails_to(folder, "Payer")) == 1  # no reminder to a client who paid
    row = invoices(folder).loc["Payer"]
    assert row["Reissue Count"] == 0 and "=SUM(Bank!B2:B3)" in row["Note"]


def test_a_payment_typed_in_another_currencys_sign_is_a_row_error(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Euro", Terms="Net 7", Currency="EUR")],
        [service(date(2026, 1, 2), "Euro", "Work", 1, 100)],
    )
    run_week(folder, 0)
    type_into_invoices(folder, "Euro", Paid_Amount="$100", Paid_Date=week(1))
    capsys.readouterr()
    assert folder.run("--as-of", week(1).isoformat()) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert '"$100" is in USD, but the invoice is in EUR' in out
    assert len(mails_to(folder, "Euro")) == 1  # no thank-you for dollars on a euro invoice
    assert invoices(folder).loc["Euro", "Status"] != "Paid"
    type_into_invoices(folder, "Euro", Paid_Amount="€100")
    run_week(folder, 2)
    assert invoices(folder).loc["Euro", "Status"] == "Paid"


def test_inactive_client_gets_no_reminders(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Quiet", Terms="Net 7")],
        [service(date(2026, 1, 2), "Quiet", "Work", 1, 500)],
    )
    run_week(folder, 0)
    from openpyxl import load_workbook  # read-only look; the change goes through write-back

    assert load_workbook(folder.workbook, read_only=True)["Clients"]["I1"].value == "Active"
    apply_updates(
        folder.workbook, [CellUpdate("Clients", 2, "Active", "No")], header_rows={"Clients": 1}
    )
    run_week(folder, 3)
    assert len(mails_to(folder, "Quiet")) == 1
    check(folder, "Quiet", "Overdue", "500.00", week(1))


def test_a_client_whose_active_cell_is_unclear_gets_no_reminders_nor_invoices(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Active `Closed` was read as active: reminded and invoiced again. Now, until the cell
    says Yes or No, the client is treated as inactive (no reminder) and told."""
    write_workbook(
        folder.workbook,
        [client("Quiet", Terms="Net 7")],
        [service(date(2026, 1, 2), "Quiet", "Work", 1, 500),
         service(date(2026, 1, 9), "Quiet", "More work", 1, 200)],  # billable later
    )  # fmt: skip
    run_week(folder, 0)
    apply_updates(
        folder.workbook, [CellUpdate("Clients", 2, "Active", "Closed")], header_rows={"Clients": 1}
    )
    capsys.readouterr()
    assert folder.run("--as-of", week(3).isoformat()) == 1
    assert 'Clients row 2, Active: "Closed" is neither Yes nor No' in capsys.readouterr().out
    assert len(mails_to(folder, "Quiet")) == 1  # the first invoice only
    assert len(invoices(folder)) == 1
    check(folder, "Quiet", "Overdue", "500.00", week(1))
    apply_updates(
        folder.workbook, [CellUpdate("Clients", 2, "Active", "Yes")], header_rows={"Clients": 1}
    )
    run_week(folder, 3)  # told Yes: reminded, and the waiting line billed
    assert len(mails_to(folder, "Quiet")) == 3 and len(invoices(folder)) == 2


def test_refused_reminder_is_planned_again_as_of_the_retry(folder: Folder) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7")
    write_workbook(
        folder.workbook,
        [client("Slow", Terms="Net 7")],
        [service(date(2026, 1, 2), "Slow", "Work", 1, 500)],
    )
    run_week(folder, 0)
    folder.recorder.refuse = frozenset({"slow@clients.example"})
    assert folder.run("--as-of", week(2).isoformat()) == 1
    row = invoices(folder).loc["Slow"]
    assert row["Status"] == "Failed" and "550" in row["Note"]
    assert int(row["Reissue Count"]) == 0
    folder.recorder.refuse = frozenset()
    run_week(folder, 3)
    check(folder, "Slow", "Reissued", "500.00", week(4), "Yes", 1)
    reminder = mails_to(folder, "Slow")[-1]
    body = reminder.get_body(("plain",)).get_content()
    assert "January 26, 2026" in body and "February 2, 2026" in body  # as of the retry
    assert len(mails_to(folder, "Slow")) == 2


def test_a_refused_reminder_is_dropped_once_the_client_pays(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Payer", Terms="Net 7")],
        [service(date(2026, 1, 2), "Payer", "Work", 1, 500)],
    )
    run_week(folder, 0)
    folder.recorder.refuse = frozenset({"payer@clients.example"})
    assert folder.run("--as-of", week(2).isoformat()) == 1
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Payer", Paid_Amount=Decimal("500"), Paid_Date=week(2))
    run_week(folder, 3)
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Payer")]
    assert len(subjects) == 2 and subjects[1].startswith("Thank you")
    check(folder, "Payer", "Paid", "0.00", week(1))


def test_escalated_invoices_get_no_more_automatic_mail(folder: Folder) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7\nmax_count = 1")
    write_workbook(
        folder.workbook,
        [client("Gone", Terms="Net 7")],
        [service(date(2026, 1, 2), "Gone", "Work", 1, 500)],
    )
    run_week(folder, 0)
    run_week(folder, 2)  # reissue 1
    run_week(folder, 4)  # would be reissue 2: escalated
    check(folder, "Gone", "Escalated", "500.00", week(3), None, 1)
    type_into_invoices(folder, "Gone", Paid_Amount=Decimal("100"), Paid_Date=week(4))
    run_week(folder, 5)
    check(folder, "Gone", "Escalated", "400.00", week(3), None, 1)
    assert len(mails_to(folder, "Gone")) == 2
    assert invoices(folder).loc["Gone", "Note"].startswith("Escalated on")
    # Paid in full after the call: Paid, no thank-you, and the Note no longer asks for a call.
    type_into_invoices(folder, "Gone", Paid_Amount=Decimal("500"), Paid_Date=week(6))
    run_week(folder, 6)
    check(folder, "Gone", "Paid", "0.00", week(3), None, 1)
    assert len(mails_to(folder, "Gone")) == 2
    assert invoices(folder).loc["Gone", "Note"] == (
        f"Paid ($500.00 by {week(6).isoformat()}) after it was escalated; no thank-you is "
        "emailed for an escalated invoice."
    )


def ledger_settled(folder: Folder) -> dict[str, str | None]:
    import sqlite3

    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        return dict(conn.execute("SELECT client, settled FROM invoices"))
    finally:
        conn.close()


def test_settled_invoices_are_left_alone_until_their_payment_changes(folder: Folder) -> None:
    names = ("Paid", "Gone", "Open")
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 7") for n in names],
        [service(date(2026, 1, 2), n, "Work", 1, 1000) for n in names],
    )
    run_week(folder, 0)
    type_into_invoices(folder, "Paid", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    type_into_invoices(folder, "Gone", Status="Void")
    run_week(folder, 1)
    settled = ledger_settled(folder)
    assert settled["Paid"] and settled["Gone"] and settled["Open"] is None

    # Typing a different amount reopens the invoice: the overpayment is noticed.
    type_into_invoices(folder, "Paid", Paid_Amount=Decimal("1200"))
    run_week(folder, 2)
    check(folder, "Paid", "Overpaid", "-200.00", week(1))
    assert str(mails_to(folder, "Paid")[-1]["Subject"]).endswith("$200.00 more than due")
    # Clearing Void reopens it too, but its credit note stands: it stays Void, no mail.
    type_into_invoices(folder, "Gone", Status=None)
    sent = len(mails_to(folder, "Gone"))
    run_week(folder, 3)
    check(folder, "Gone", "Void", "0.00", week(1))
    assert len(mails_to(folder, "Gone")) == sent
    assert ledger_settled(folder)["Gone"]


def test_a_settled_invoice_missing_from_a_restored_copy_is_written_back(folder: Folder) -> None:
    import shutil

    write_workbook(
        folder.workbook,
        [client("Paid", Terms="Net 7")],
        [service(date(2026, 1, 2), "Paid", "Work", 1, 1000)],
    )
    old_copy = folder.root / "before.xlsx"
    shutil.copy2(folder.workbook, old_copy)
    run_week(folder, 0)
    type_into_invoices(folder, "Paid", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    run_week(folder, 1)
    assert ledger_settled(folder)["Paid"]
    shutil.copy2(old_copy, folder.workbook)  # no Invoices sheet, no Invoice No
    run_week(folder, 2)
    row = invoices(folder).loc["Paid"]
    assert row["Invoice No"] == "INV-2026-0001" and row["Total"] == 1000
    # The payment typed before is written back with the row: still Paid, no reminder.
    assert row["Paid Amount"] == 1000 and row["Paid Date"].date() == week(1)
    check(folder, "Paid", "Paid", "0.00", week(1))
    assert len(mails_to(folder, "Paid")) == 2  # nothing sent again


def test_aging_counts_from_the_first_due_date(folder: Folder) -> None:
    import openpyxl

    write_workbook(
        folder.workbook,
        [client("Slow", Terms="Net 30")],
        [service(date(2026, 3, 6), "Slow", "Work", 1, 500)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0  # due 8 April
    assert folder.run("--as-of", "2026-04-20") == 0  # reissued: due 4 May
    check(folder, "Slow", "Reissued", "500.00", date(2026, 5, 4), "Yes", 1)
    report = folder.root / "reports" / "receivables-2026-04-20.xlsx"
    sheet = openpyxl.load_workbook(report)["Open invoices"]
    header = [c.value for c in sheet[3]]  # below the title and a blank row
    row = [c.value for c in sheet[4]]
    record = dict(zip(header, row, strict=False))
    assert record["Days Overdue"] == 12 and record["Bucket"] == "1-30"


def test_each_invoices_events_are_found_once_for_all() -> None:
    """Grouped in one pass (each invoice looked through every event: the square of the open
    invoices, seconds at 4,000 and minutes at 20,000); numbers holding "/" keep their own."""
    from automation.decide import events_by_invoice

    numbers = ["INV/1", "INV/1/2", "INV-2026-0003"]
    events = {"INV/1/thanks", "INV/1/2/underpaid/100.00", "INV-2026-0003/reissue/1", "X/1"}
    assert events_by_invoice(events, numbers) == {
        "INV/1": {"INV/1/thanks"}, "INV/1/2": {"INV/1/2/underpaid/100.00"},
        "INV-2026-0003": {"INV-2026-0003/reissue/1"},
    }  # fmt: skip
