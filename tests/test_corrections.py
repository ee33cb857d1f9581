"""Corrections through the real run: Void, Rebill, Credit Amount, Resend, edited rows.

Each test types into the workbook as a bookkeeper would (through the same
lossless write-back the tool uses), runs the weekly job against a real SMTP
server on loopback, and checks the cells, the emails (threaded under the
invoice) and the credit note documents read back with python-docx.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, tables_within, write_workbook
from docx import Document
from test_followup import digest, invoices, ledger_settled, mails_to, type_into_invoices

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

DAY0 = date(2026, 3, 9)


def run(folder: Folder, day: date, expect: int = 0) -> None:
    """One run, then a rerun on the same date that sends and changes nothing."""
    assert folder.run("--as-of", day.isoformat()) == expect
    sent, state = len(folder.received), digest(folder)
    assert folder.run("--as-of", day.isoformat()) == expect
    assert len(folder.received) == sent and digest(folder) == state


def services(folder: Folder) -> pd.DataFrame:
    return pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")


def type_into_services(folder: Folder, row: int, **cells: object) -> None:
    folder.type_in("Services", row, **cells)


def docx_text(path: Path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for table in tables_within(doc):
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def attachment_names(message: EmailMessage) -> list[str]:
    return [part.get_filename() or "" for part in message.iter_attachments()]


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def cell(folder: Folder, name: str, column: str) -> object:
    value = invoices(folder).loc[name, column]
    return None if pd.isna(value) else value


@pytest.fixture
def billed(folder: Folder) -> Folder:
    """Three clients invoiced on 9 March 2026 (two lines each, $300 + $200)."""
    names = ("Acme", "Birch", "Cedar")
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 14") for n in names],
        [
            service(date(2026, 3, 2), n, line, qty, price)
            for n in names
            for line, qty, price in (("Bookkeeping", 3, 100), ("Payroll", 2, 100))
        ],
    )
    run(folder, DAY0)
    assert len(folder.received) == 3
    return folder


def test_void_issues_a_credit_note_in_the_thread_and_stops_all_mail(billed: Folder) -> None:
    folder = billed
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("120"), Paid_Date=date(2026, 3, 12))
    type_into_invoices(folder, "Acme", Status="Void")
    run(folder, date(2026, 3, 16))
    first, note = mails_to(folder, "Acme")
    assert note["In-Reply-To"] == first["Message-ID"] and first["Message-ID"] in note["References"]
    assert str(note["Subject"]) == "Credit note CN-2026-0001 for invoice INV-2026-0001"
    text = body(note)
    assert "INV-2026-0001 of March 9, 2026 for $500.00" in text
    assert "It credits $500.00 and cancels the invoice in full" in text
    assert "You have paid $120.00 more than you now owe" in text
    assert attachment_names(note) == ["CN-2026-0001.docx"]
    saved = folder.root / "invoices" / "2026" / "CN-2026-0001.docx"
    printed = docx_text(saved)
    for words in (
        "CREDIT NOTE",
        "CN-2026-0001",
        "INV-2026-0001",
        "March 9, 2026",
        "$500.00",
        "cancels the invoice in full",
        "You have paid $120.00 more",
        "Acme",
    ):
        assert words in printed, words
    assert cell(folder, "Acme", "Status") == "Void"
    assert cell(folder, "Acme", "Balance") == -120
    assert cell(folder, "Acme", "Credit Amount") == 500
    assert cell(folder, "Acme", "Credit Notes") == "CN-2026-0001"
    assert "$120.00 received is owed back" in str(cell(folder, "Acme", "Note"))
    # Weeks later: overdue or not, a void invoice gets nothing more.
    run(folder, date(2026, 4, 20))
    assert len(mails_to(folder, "Acme")) == 2
    assert cell(folder, "Acme", "Status") == "Void"


def test_void_with_resend_typed_too_clears_resend_and_says_so(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    type_into_invoices(folder, "Birch", Status="Void", Resend="Yes")
    capsys.readouterr()
    run(folder, date(2026, 3, 16))  # exit 0, and the rerun is quiet too
    out = " ".join(capsys.readouterr().out.split())
    assert "Resend is cleared: the invoice is cancelled (Void)" in out
    assert cell(folder, "Birch", "Resend") is None and cell(folder, "Birch", "Status") == "Void"
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Birch")]
    assert len(subjects) == 2 and subjects[1].startswith("Credit note")
    run(folder, date(2026, 3, 23))  # nothing more, no error
    assert len(mails_to(folder, "Birch")) == 2


def test_payment_notes_after_a_credit_name_what_was_due_not_the_total(billed: Folder) -> None:
    folder = billed
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("100"))
    run(folder, date(2026, 3, 12))  # credit note: $400.00 now due
    type_into_invoices(folder, "Cedar", Paid_Amount=Decimal("150"), Paid_Date=date(2026, 3, 13))
    run(folder, date(2026, 3, 16))
    assert "We have received $150.00 of the $400.00 due, so a balance of $250.00" in " ".join(
        body(mails_to(folder, "Cedar")[-1]).split()
    )
    type_into_invoices(folder, "Cedar", Paid_Amount=Decimal("450"), Paid_Date=date(2026, 3, 20))
    run(folder, date(2026, 3, 23))
    assert "We have received $450.00, which is $50.00 more than the $400.00 due." in " ".join(
        body(mails_to(folder, "Cedar")[-1]).split()
    )


def test_void_summary_lists_the_money_owed_back(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    type_into_invoices(
        folder, "Birch", Paid_Amount=Decimal("500"), Paid_Date=date(2026, 3, 12), Status="Void"
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-16") == 0
    out = capsys.readouterr().out
    assert "credit note" in out and "CN-2026-0001" in out
    assert "Owed back to clients" in out and "$500.00" in out


def test_rebill_cancels_and_bills_the_rows_again_as_they_stand(billed: Folder) -> None:
    folder = billed
    # The bookkeeper finds the quantity was 4, not 3, and corrects the row.
    type_into_services(folder, 2, Quantity=4, Amount=400)
    assert folder.run("--as-of", "2026-03-16") == 1  # an edited billed row is an error
    row = services(folder).iloc[0]
    assert row["Status"] == "Error" and row["Invoice No"] == "INV-2026-0001"
    assert row["Error"] == (
        "Quantity from 3 to 4 and Amount from 300 to 400 changed after the row was billed on "
        "INV-2026-0001; type Rebill in INV-2026-0001's Status on the Invoices sheet to bill it "
        "as it stands now, or change it back."
    )
    assert main(["check", "--workbook", str(folder.workbook)]) == 1
    assert len(folder.received) == 3  # nothing was billed twice, nothing sent

    type_into_invoices(folder, "Acme", Status="Rebill")
    run(folder, date(2026, 3, 16))
    mails = mails_to(folder, "Acme")
    # The corrected invoice and the credit note travel as two emails.
    assert [str(m["Subject"]).split(" ")[0] for m in mails] == ["Invoice", "Invoice", "Credit"]
    new, credit = mails[1], mails[2]
    assert credit["In-Reply-To"] == mails[0]["Message-ID"]
    assert "INV-2026-0004" in body(credit) and "$500.00" in body(credit)
    assert attachment_names(new) == ["INV-2026-0004.docx"]
    printed = docx_text(folder.root / "invoices" / "2026" / "INV-2026-0004.docx")
    assert "$600.00" in printed and "Bookkeeping" in printed
    sheet = invoices(folder)
    old = sheet[sheet["Invoice No"] == "INV-2026-0001"].iloc[0]
    assert old["Status"] == "Void" and old["Balance"] == 0
    assert "replaced by INV-2026-0004" in old["Note"] and "CN-2026-0001" in old["Note"]
    assert old["Credit Notes"] == "CN-2026-0001"
    fresh = sheet[sheet["Invoice No"] == "INV-2026-0004"].iloc[0]
    assert fresh["Status"] == "Sent" and fresh["Total"] == 600
    rows = services(folder)
    acme = rows[rows["Client"] == "Acme"]
    assert list(acme["Invoice No"]) == ["INV-2026-0004"] * 2
    assert list(acme["Status"]) == ["Invoiced"] * 2 and acme["Error"].isna().all()


def test_a_row_of_a_paid_and_settled_invoice_edited_is_told_until_undone(
    billed: Folder,
) -> None:
    """INV-2026-0001 paid, thanked and set aside; then its quantity is edited: the row is
    an Error (run and check exit 1) as for an open invoice's row (it went unsaid: the
    workbook disagreed with what the client got). Undone, the error clears and the invoice
    is set aside again; Rebill stays the way to bill it anew."""
    folder = billed
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("500"), Paid_Date=date(2026, 3, 12))
    run(folder, date(2026, 3, 16))  # the thank-you; the invoice is settled
    run(folder, date(2026, 3, 17))
    assert ledger_settled(folder)["Acme"] is not None
    sent = len(mails_to(folder, "Acme"))  # the invoice and the thank-you
    type_into_services(folder, 2, Quantity=4, Amount=400)
    assert folder.run("--as-of", "2026-03-23") == 1
    row = services(folder).iloc[0]
    assert row["Status"] == "Error" and row["Error"].startswith(
        "Quantity from 3 to 4 and Amount from 300 to 400 changed after the row was billed on "
        "INV-2026-0001"
    )
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-23"]) == 1
    assert folder.run("--as-of", "2026-03-30") == 1  # said every run until it is fixed
    assert len(mails_to(folder, "Acme")) == sent  # nothing billed again, nothing sent
    type_into_services(folder, 2, Quantity=3, Amount=300)
    run(folder, date(2026, 4, 6))
    row = services(folder).iloc[0]
    assert row["Status"] == "Invoiced" and pd.isna(row["Error"])
    assert ledger_settled(folder)["Acme"] is not None
    assert len(mails_to(folder, "Acme")) == sent == 2


def test_rebill_to_another_client_and_a_refused_rebill(billed: Folder) -> None:
    folder = billed
    type_into_services(folder, 4, Client="Acme")  # Birch's first line belonged to Acme
    type_into_invoices(folder, "Birch", Status="Rebill")
    type_into_services(folder, 6, Date="not a date")  # Cedar's row is now unreadable
    type_into_invoices(folder, "Cedar", Status="Rebill")
    assert folder.run("--as-of", "2026-03-16") == 1
    rows = services(folder)
    assert list(rows["Invoice No"][2:4]) == ["INV-2026-0004", "INV-2026-0005"]
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0004", "Client"] == "Acme"
    assert sheet.loc["INV-2026-0004", "Total"] == 300
    assert sheet.loc["INV-2026-0005", "Client"] == "Birch"
    assert sheet.loc["INV-2026-0002", "Status"] == "Void"
    # Birch is told of its own new invoice only, not of Acme's; the Note names both
    assert "INV-2026-0004; INV-2026-0005" in sheet.loc["INV-2026-0002", "Note"]
    note = mails_to(folder, "Birch")[-1]
    for text in (body(note), docx_text(folder.root / "invoices" / "2026" / "CN-2026-0001.docx")):
        assert "INV-2026-0005" in text and "INV-2026-0004" not in text
    # Cedar's Rebill waits, with the reason in Note; no credit note for it.
    assert sheet.loc["INV-2026-0003", "Status"] == "Rebill"
    assert "Rebill waits: Services row 6" in sheet.loc["INV-2026-0003", "Note"]
    assert pd.isna(sheet.loc["INV-2026-0003", "Credit Notes"])
    assert len(mails_to(folder, "Cedar")) == 1


def test_a_rebill_waiting_for_a_cell_marks_that_row_and_clears_old_advice(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acme's rows edited (told to type Rebill), then Rebill typed with one cell not a
    number: the Rebill waits, its message names the row and column, the row shows Error
    saying the Rebill waits for it, and no row keeps "type Rebill" advice. Fixed, the
    Rebill goes through and the rows show only the new number."""
    folder = billed
    type_into_services(folder, 3, Description="Payroll (March)")
    assert folder.run("--as-of", "2026-03-10") == 1
    assert "type Rebill" in services(folder)["Error"][1]
    capsys.readouterr()
    type_into_services(folder, 2, Quantity="2,5h")
    type_into_invoices(folder, "Acme", Status="Rebill")
    assert folder.run("--as-of", "2026-03-16") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert 'Rebill waits: Services row 2, Quantity: "2,5h" is not a number' in out
    rows = services(folder)
    assert list(rows["Status"][:2]) == ["Error", "Invoiced"]
    assert rows["Error"][0].startswith('"2,5h" is not a number')
    assert "the Rebill of INV-2026-0001 waits for this cell" in rows["Error"][0]
    assert rows["Error"][1:].isna().all()  # Rebill is typed: no row says to type it
    assert cell(folder, "Acme", "Status") == "Rebill"
    assert len(mails_to(folder, "Acme")) == 1

    type_into_services(folder, 2, Quantity=Decimal("2.5"), Amount=250)
    assert folder.run("--as-of", "2026-03-17") == 0
    rows = services(folder)
    assert list(rows["Invoice No"][:2]) == ["INV-2026-0004"] * 2
    assert list(rows["Status"][:2]) == ["Invoiced"] * 2 and rows["Error"].isna().all()
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0001", "Status"] == "Void"
    assert sheet.loc["INV-2026-0004", "Total"] == 450  # 2.5 x 100 + 2 x 100


def test_a_rebill_whose_lines_add_up_to_more_than_any_amount_waits(billed: Folder) -> None:
    """Each corrected line under the largest amount, together over it: the new invoice's
    total would lose its cents in Excel. Nothing is cancelled; the Note says why."""
    folder = billed
    for row in (2, 3):
        type_into_services(folder, row, Quantity=1, Unit_Price=600_000_000_000,
                           Amount=600_000_000_000)  # fmt: skip
    type_into_invoices(folder, "Acme", Status="Rebill")
    assert folder.run("--as-of", "2026-03-16") == 1
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Rebill" and pd.isna(row["Credit Notes"])
    assert (
        "Rebill waits: the corrected lines for Acme add up to $1,200,000,000,000.00, too large "
        "for one invoice" in row["Note"]
    )
    assert len(invoices(folder)) == 3 and len(mails_to(folder, "Acme")) == 1


def test_credit_amount_increases_issue_credit_notes_for_the_difference(billed: Folder) -> None:
    folder = billed
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("150"))
    run(folder, date(2026, 3, 16))
    assert cell(folder, "Cedar", "Balance") == 350
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0001"
    assert cell(folder, "Cedar", "Status") == "Sent"
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("200"))
    run(folder, date(2026, 3, 17))
    assert cell(folder, "Cedar", "Balance") == 300
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0001; CN-2026-0002"
    second = mails_to(folder, "Cedar")[-1]
    text = body(second)
    assert "It credits $50.00." in text
    assert "The new balance of invoice INV-2026-0003 is $300.00" in text
    printed = docx_text(folder.root / "invoices" / "2026" / "CN-2026-0002.docx")
    assert "Credited before" in printed and "$150.00" in printed and "$50.00" in printed
    assert "$300.00" in printed and "cancels" not in printed
    # The receivables report ages the balance after credits and lists the credit notes.
    report = folder.root / "reports" / "receivables-2026-03-17.xlsx"
    open_sheet = pd.read_excel(report, sheet_name="Open invoices", engine="calamine", header=2)
    open_sheet = open_sheet.set_index("Invoice No")
    assert open_sheet.loc["INV-2026-0003", "Balance"] == 300
    assert open_sheet.loc["INV-2026-0003", "Credited"] == 200
    listed = pd.read_excel(report, sheet_name="Credit notes", engine="calamine", header=2)
    assert list(listed["Credit Note No"]) == ["CN-2026-0001", "CN-2026-0002"]
    assert list(listed["Amount"]) == [150, 50] and set(listed["Invoice No"]) == {"INV-2026-0003"}
    # More than is open: nothing is issued, the Note and the summary say so (exit 1).
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("900"))
    run(folder, date(2026, 3, 18), expect=1)
    assert cell(folder, "Cedar", "Credit Amount") == 900  # as typed, for the bookkeeper to fix
    assert cell(folder, "Cedar", "Balance") == 300
    assert "larger than the $300.00 still open" in str(cell(folder, "Cedar", "Note"))
    assert len(mails_to(folder, "Cedar")) == 3
    # Paying the rest after the credits: Paid, balance exactly 0.00.
    type_into_invoices(
        folder,
        "Cedar",
        Credit_Amount=Decimal("200"),
        Paid_Amount=Decimal("300"),
        Paid_Date=date(2026, 3, 20),
    )
    run(folder, date(2026, 3, 23))
    assert cell(folder, "Cedar", "Status") == "Paid" and cell(folder, "Cedar", "Balance") == 0


def test_a_credit_typed_on_a_held_invoice_waits_for_the_hold_to_end(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hold postpones corrections: Credit Amount stays as typed (raised again meanwhile),
    no credit note goes out and the run says what waits; once Hold is cleared, one credit
    note for the whole increase is issued."""
    folder = billed
    type_into_invoices(folder, "Cedar", Status="Hold", Credit_Amount=Decimal("100"))
    run(folder, date(2026, 3, 16))
    assert (
        cell(folder, "Cedar", "Credit Amount") == 100 and cell(folder, "Cedar", "Status") == "Hold"
    )
    assert cell(folder, "Cedar", "Credit Notes") is None and cell(folder, "Cedar", "Balance") == 500
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("250"), Resend="Yes")
    capsys.readouterr()
    run(folder, date(2026, 3, 23))
    assert (
        "INV-2026-0003 is on Hold: Credit Amount $250.00 (no credit note yet) and Resend wait "
        "until Hold is cleared." in capsys.readouterr().out
    )
    assert (
        cell(folder, "Cedar", "Credit Amount") == 250 and cell(folder, "Cedar", "Resend") == "Yes"
    )
    assert len(mails_to(folder, "Cedar")) == 1
    type_into_invoices(folder, "Cedar", Status=None, Resend=None)
    run(folder, date(2026, 3, 24))
    assert subjects_of(mails_to(folder, "Cedar")[1:]) == [
        "Credit note CN-2026-0001 for invoice INV-2026-0003"
    ]
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0001"
    assert cell(folder, "Cedar", "Balance") == 250 and cell(folder, "Cedar", "Status") == "Overdue"
    type_into_invoices(folder, "Cedar", Status="Hold", Credit_Amount=Decimal("100"))
    assert folder.run("--as-of", "2026-03-25") == 1  # lowered: told as without Hold
    assert "is less than the $250.00 already credited" in str(cell(folder, "Cedar", "Note"))
    assert cell(folder, "Cedar", "Credit Amount") == 250


def subjects_of(messages: list[EmailMessage]) -> list[str]:
    return [str(m["Subject"]) for m in messages]


def test_a_credit_up_to_the_whole_total_makes_the_invoice_void(billed: Folder) -> None:
    """Credit Amount raised to the Total cancels the invoice as Void does: Status Void, the
    credit note says so, and no reminder follows."""
    folder = billed
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("200"))
    run(folder, date(2026, 3, 16))
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("500"))
    assert folder.run("--as-of", "2026-03-17") == 0  # once: what it sets aside is checked
    assert cell(folder, "Birch", "Status") == "Void" and cell(folder, "Birch", "Balance") == 0
    settled = ledger_settled(folder)["Birch"]
    assert settled  # set aside as the sheet now shows it: not looked at again
    run(folder, date(2026, 3, 18))
    assert ledger_settled(folder)["Birch"] == settled
    note = mails_to(folder, "Birch")[-1]
    assert "It credits $300.00 and cancels the invoice in full." in body(note)
    printed = docx_text(folder.root / "invoices" / "2026" / "CN-2026-0002.docx")
    assert "cancels" in printed
    run(folder, date(2026, 4, 13))  # long past due: nothing more is sent about it
    assert len(mails_to(folder, "Birch")) == 3
    assert cell(folder, "Birch", "Status") == "Void"


def test_money_paid_on_an_invoice_credited_in_full_is_listed_as_owed_back(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("500"))
    run(folder, date(2026, 3, 16))  # cancelled by its credit note: Void
    type_into_invoices(folder, "Birch", Paid_Amount=Decimal("120"), Paid_Date=date(2026, 3, 18))
    capsys.readouterr()
    run(folder, date(2026, 3, 23))
    owed = capsys.readouterr().out.split("Owed back to clients", 1)[1].splitlines()[1]
    assert "Birch" in owed and "$120.00" in owed
    assert cell(folder, "Birch", "Status") == "Void" and cell(folder, "Birch", "Balance") == -120


def test_a_lowered_credit_amount_is_told_and_shown_as_credited_again(billed: Folder) -> None:
    """A credit note cannot be taken back: the bookkeeper is told why the cell goes back."""
    folder = billed
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("150"))
    run(folder, date(2026, 3, 16))
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("100"))
    assert folder.run("--as-of", "2026-03-17") == 1
    assert cell(folder, "Cedar", "Credit Amount") == 150
    assert cell(folder, "Cedar", "Balance") == 350
    note = str(cell(folder, "Cedar", "Note"))
    assert "Credit Amount $100.00 is less than the $150.00 already credited" in note
    assert "(CN-2026-0001): a credit note cannot be taken back" in note
    assert len(mails_to(folder, "Cedar")) == 2  # the invoice and the one credit note
    run(folder, date(2026, 3, 18))  # shown as credited: no error any more
    # The problem told is gone: the Note is the credit note's again, not stale advice.
    assert str(cell(folder, "Cedar", "Note")).startswith("Credit note CN-2026-0001 for $150.00")


def test_a_lowered_credit_amount_is_still_told_in_note_when_a_reminder_goes_too(
    billed: Folder,
) -> None:
    folder = billed
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("150"))
    run(folder, date(2026, 3, 16))
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("100"))
    assert folder.run("--as-of", "2026-04-13") == 1  # overdue: reissued in the same run
    assert cell(folder, "Cedar", "Status") == "Reissued"
    note = str(cell(folder, "Cedar", "Note"))
    assert note.startswith("Reissued (reminder 1)")
    assert "Not done on 2026-04-13: Credit Amount $100.00 is less than the $150.00" in note


def test_an_older_ledger_put_back_never_credits_the_client_twice(billed: Folder) -> None:
    """The workbook lists a credit note the ledger put back does not know: the invoice is
    held (no credit note, no reminder) and the cells that tell are left as they are."""
    import gzip

    folder = billed
    backups = folder.root / ".billing" / "backups"
    (older,) = sorted(backups.glob("ledger-*.sqlite.gz"))  # after the invoices went out
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("150"))
    run(folder, date(2026, 3, 16))
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0001"
    ledger = folder.root / ".billing" / "ledger.sqlite"
    for side in (ledger.with_name("ledger.sqlite-wal"), ledger.with_name("ledger.sqlite-shm")):
        side.unlink(missing_ok=True)
    ledger.write_bytes(gzip.decompress(older.read_bytes()))  # as README says to put one back
    type_into_invoices(folder, "Cedar", Credit_Amount=Decimal("200"))  # 50 more
    sent = len(mails_to(folder, "Cedar"))
    assert folder.run("--as-of", "2026-03-30") == 1  # overdue by then: reminders are due
    assert len(mails_to(folder, "Cedar")) == sent  # no second credit note, no reminder
    assert len(mails_to(folder, "Acme")) == 2  # the others are followed up as usual
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0001"
    assert cell(folder, "Cedar", "Credit Amount") == 200  # as typed
    note = str(cell(folder, "Cedar", "Note"))
    assert "CN-2026-0001 is not in this computer's record" in note
    assert "Nothing is credited or emailed about INV-2026-0003" in note
    assert not (folder.root / "invoices" / "2026" / "CN-2026-0002.docx").exists()
    assert cell(folder, "Cedar", "Balance") == 350  # the row is left as it was
    assert cell(folder, "Cedar", "Status") == "Sent"
    # No statement of account either: its balance would leave out the credit.
    folder.write_config(extra="[statements]\nday = 1")
    assert folder.run("--as-of", "2026-04-01") == 1
    assert len(mails_to(folder, "Cedar")) == sent
    statements = [m for m in mails_to(folder, "Acme") if "tatement" in str(m["Subject"])]
    assert len(statements) == 1  # the others get theirs


def test_a_resend_cell_that_is_not_yes_is_told_and_left_as_typed(billed: Folder) -> None:
    folder = billed
    type_into_invoices(folder, "Birch", Resend="please")
    run(folder, date(2026, 3, 11), expect=1)
    assert cell(folder, "Birch", "Resend") == "please"
    assert '"please" is not understood: type Yes' in str(cell(folder, "Birch", "Note"))
    assert len(mails_to(folder, "Birch")) == 1
    type_into_invoices(folder, "Birch", Resend="No")
    run(folder, date(2026, 3, 12))
    assert len(mails_to(folder, "Birch")) == 1 and cell(folder, "Birch", "Resend") == "No"


def test_resend_sends_one_copy_in_the_thread_and_clears_the_cell(billed: Folder) -> None:
    folder = billed
    type_into_invoices(folder, "Birch", Paid_Amount=Decimal("100"), Paid_Date=date(2026, 3, 10))
    run(folder, date(2026, 3, 10))  # the part-payment note goes out
    type_into_invoices(folder, "Birch", Resend="Yes")
    run(folder, date(2026, 3, 11))
    mails = mails_to(folder, "Birch")
    assert len(mails) == 3
    copy = mails[-1]
    assert str(copy["Subject"]) == "Copy of invoice INV-2026-0002"
    assert copy["In-Reply-To"] == mails[0]["Message-ID"]
    assert attachment_names(copy) == ["INV-2026-0002-C1.docx"]
    assert "The balance still due is $400.00, by March 23, 2026." in body(copy)
    assert cell(folder, "Birch", "Resend") is None
    assert "copy of the invoice was emailed to birch@" in str(cell(folder, "Birch", "Note"))
    printed = docx_text(folder.root / "invoices" / "2026" / "INV-2026-0002-C1.docx")
    assert "INV-2026-0002" in printed and "$400.00" in printed


def test_a_copy_of_an_overdue_invoice_says_when_it_was_due_and_what_was_paid(
    billed: Folder,
) -> None:
    """Due 23 March, copied on the 30th: not "by March 23" (a day gone); the copy shows
    Amount paid $0.00 and the Balance due, as the invoice stands that day."""
    folder = billed
    type_into_invoices(folder, "Birch", Resend="Yes")
    run(folder, date(2026, 3, 30))
    copy = mails_to(folder, "Birch")[-1]
    assert str(copy["Subject"]) == "Copy of invoice INV-2026-0002"
    text = body(copy)
    assert "The balance still due is $500.00, which was due on March 23, 2026." in text
    assert "by March 23" not in text
    printed = docx_text(folder.root / "invoices" / "2026" / "INV-2026-0002-C1.docx")
    assert "Amount paid\n$0.00\nBalance due\n$500.00" in printed


def test_a_copy_asked_with_a_credit_waits_for_a_later_date_not_a_rerun(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    capsys.readouterr()
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("50"), Resend="Yes")
    run(folder, date(2026, 3, 11))  # the rerun the same day sends nothing, changes nothing
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Birch")]
    assert subjects[1:] == ["Credit note CN-2026-0001 for invoice INV-2026-0002"]
    assert cell(folder, "Birch", "Resend") == "Yes"
    assert "Resend waits for the next run" in capsys.readouterr().out
    run(folder, date(2026, 3, 18))
    assert str(mails_to(folder, "Birch")[-1]["Subject"]) == "Copy of invoice INV-2026-0002"
    assert cell(folder, "Birch", "Resend") is None


def test_a_part_payment_note_held_behind_a_copy_waits_for_a_later_date(billed: Folder) -> None:
    folder = billed
    type_into_invoices(
        folder, "Birch", Paid_Amount=Decimal("100"), Paid_Date=date(2026, 3, 10), Resend="Yes"
    )
    run(folder, date(2026, 3, 11))  # the copy is the day's message; a rerun sends no note
    assert [str(m["Subject"]) for m in mails_to(folder, "Birch")][1:] == [
        "Copy of invoice INV-2026-0002"
    ]
    run(folder, date(2026, 3, 12))
    assert len(mails_to(folder, "Birch")) == 3
    assert "part payment" in str(cell(folder, "Birch", "Note"))


def test_a_changed_row_undone_clears_its_error(billed: Folder) -> None:
    folder = billed
    type_into_services(folder, 3, Description="Payroll (March)")
    assert folder.run("--as-of", "2026-03-10") == 1
    assert (
        services(folder)
        .iloc[1]["Error"]
        .startswith(
            'Description from "Payroll" to "Payroll (March)" changed after the row was billed'
        )
    )
    type_into_services(folder, 3, Description="Payroll")
    assert folder.run("--as-of", "2026-03-11") == 0
    row = services(folder).iloc[1]
    assert row["Status"] == "Invoiced" and pd.isna(row["Error"])
    assert len(folder.received) == 3


@pytest.mark.parametrize(
    ("paid", "when", "status", "balance", "notes"),
    [
        ("1000.00", date(2026, 3, 12), "Paid", 0, 1),  # the full amount inside the window
        ("980.00", date(2026, 3, 12), "Paid", 0, 1),  # the discounted amount, on time
        ("979.99", date(2026, 3, 12), "Paid", 0, 1),  # a cent short: Paid, Balance 0.00
        ("980.00", date(2026, 3, 25), "Partially Paid", 20, 1),  # too late for the discount
        ("1100.00", date(2026, 3, 12), "Overpaid", -100, 1),
    ],
)
def test_discount_window_balances_are_exact(
    folder: Folder, paid: str, when: date, status: str, balance: int, notes: int
) -> None:
    write_workbook(
        folder.workbook,
        [client("Early", Terms="2/10 Net 30")],
        [service(date(2026, 3, 2), "Early", "Work", 1, 1000)],
    )
    run(folder, DAY0)
    type_into_invoices(folder, "Early", Paid_Amount=Decimal(paid), Paid_Date=when)
    run(folder, when)
    assert cell(folder, "Early", "Status") == status
    assert Decimal(str(cell(folder, "Early", "Balance"))) == Decimal(balance)
    assert len(mails_to(folder, "Early")) == 1 + notes
    if status == "Paid":
        assert str(mails_to(folder, "Early")[-1]["Subject"]).startswith("Thank you")


def test_a_copy_of_an_invoice_paid_with_its_discount_shows_the_discount(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Early", Terms="2/10 Net 30")],
        [service(date(2026, 3, 2), "Early", "Work", 1, 1375)],
    )
    run(folder, DAY0)
    type_into_invoices(
        folder, "Early", Paid_Amount=Decimal("1347.50"), Paid_Date=date(2026, 3, 12)
    )
    run(folder, date(2026, 3, 16))
    assert cell(folder, "Early", "Status") == "Paid" and cell(folder, "Early", "Balance") == 0
    type_into_invoices(folder, "Early", Resend="Yes")
    run(folder, date(2026, 3, 23))
    copy = Document(str(folder.root / "invoices" / "2026" / "INV-2026-0001-C1.docx"))
    rows = [
        [c.text for c in row.cells]
        for table in tables_within(copy)
        for row in table.rows
        if row.cells[0].text in ("Total", "Less early payment discount", "Amount paid",
                                 "Balance due")
    ]  # fmt: skip
    assert rows == [
        ["Total", "$1,375.00"],
        ["Less early payment discount", "-$27.50"],
        ["Amount paid", "$1,347.50"],
        ["Balance due", "$0.00"],
    ]


def test_dry_run_previews_corrections_and_changes_nothing(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = billed
    type_into_invoices(folder, "Acme", Status="Void")
    type_into_invoices(folder, "Birch", Resend="Yes")
    before = digest(folder)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-16", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "credit note" in out and "INV-2026-0001" in out and "copy resent" in out
    copy_line = next(line for line in out.splitlines() if "copy resent" in line)
    assert "$500.00" in copy_line  # the balance the copy states, as the run shows it
    assert digest(folder) == before and len(folder.received) == 3
    assert not (folder.root / "invoices" / "2026" / "CN-2026-0001.docx").exists()


def test_void_before_the_invoice_could_be_emailed(folder: Folder) -> None:
    write_workbook(
        folder.workbook, [client("Gone")], [service(date(2026, 3, 2), "Gone", "Work", 1, 100)]
    )
    folder.recorder.refuse = frozenset({"gone@clients.example"})
    assert folder.run("--as-of", "2026-03-09") == 1
    assert cell(folder, "Gone", "Status") == "Failed"
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Gone", Status="Void")
    run(folder, date(2026, 3, 16))
    # The refused invoice is not sent after all; the credit note records the cancellation.
    assert [str(m["Subject"]).split(" ")[0] for m in mails_to(folder, "Gone")] == ["Credit"]
    assert cell(folder, "Gone", "Status") == "Void" and cell(folder, "Gone", "Balance") == 0
    run(folder, date(2026, 3, 23))
    assert len(mails_to(folder, "Gone")) == 1


def test_a_lost_ledger_never_reuses_a_credit_note_number(billed: Folder) -> None:
    import shutil

    folder = billed
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("100"))
    run(folder, date(2026, 3, 10))
    assert cell(folder, "Acme", "Credit Notes") == "CN-2026-0001"
    shutil.rmtree(folder.root / ".billing")  # the ledger is lost; the workbook remains
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Services", 8, c, v)
            for c, v in {
                "Date": date(2026, 3, 11),
                "Client": "Birch",
                "Description": "Audit",
                "Quantity": 1,
                "Unit Price": 80,
                "Amount": 80,
            }.items()
        ],
        header_rows={"Services": 1},
    )
    # exit 1: the open invoices the lost ledger knew are told (no reminders for them)
    assert folder.run("--as-of", "2026-03-12") == 1
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0004", "Total"] == 80  # numbers go on from the workbook's
    row = list(sheet.index).index("INV-2026-0004") + 2
    apply_updates(
        folder.workbook,
        [CellUpdate("Invoices", row, "Credit Amount", 30)],
        header_rows={"Invoices": 1},
    )
    assert folder.run("--as-of", "2026-03-13") == 1
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0004", "Credit Notes"] == "CN-2026-0002"  # not a second 0001


def test_a_settled_invoices_rows_digest_holds_whatever_their_order(tmp_path: Path) -> None:
    """The digest kept for a settled invoice is of what its rows say, not where they are:
    sorting the sheet reopens nothing; an edit to one row changes it."""
    from automation.config import Config
    from automation.corrections import rows_digests
    from automation.read import read_workbook

    lines = [service(date(2026, 3, d), "Acme", f"Work {d}", d, 10, **{"Invoice No": f"INV-{d % 2}"})
             for d in range(1, 7)]  # fmt: skip
    books = [
        write_workbook(tmp_path / f"{name}.xlsx", [client("Acme")], rows)
        for name, rows in (("a", lines), ("b", lines[::-1]),
                           ("c", [*lines[:-1], {**lines[-1], "Quantity": 7}]))
    ]  # fmt: skip
    a, b, c = (rows_digests(read_workbook(book, Config()).services) for book in books)
    assert a == b and set(a) == {"INV-0", "INV-1"}
    assert c["INV-1"] == a["INV-1"] and c["INV-0"] != a["INV-0"]


def test_a_credit_amount_with_more_decimals_than_its_currency_is_refused(
    billed: Folder,
) -> None:
    """10.555 on a USD invoice: no credit note for $10.56 that nobody typed, and the cell is
    left as typed with the reason (it was rounded, credited and overwritten in silence)."""
    folder = billed
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("10.555"))
    assert folder.run("--as-of", "2026-03-10") == 1
    assert not [m for m in mails_to(folder, "Acme") if "Credit" in str(m["Subject"])]
    assert cell(folder, "Acme", "Credit Amount") == 10.555
    note = str(cell(folder, "Acme", "Note"))
    assert "10.555 has 3 decimals; USD amounts have at most 2" in note
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("10.55"))
    assert folder.run("--as-of", "2026-03-11") == 0
    assert [str(m["Subject"]).split(" ")[0] for m in mails_to(folder, "Acme")][-1] == "Credit"


def test_notes_follow_what_the_bookkeeper_did_after_a_void(billed: Folder) -> None:
    """Acme paid $120, then Void: owed back; paid back (Paid Amount lowered to 0), the Note
    says so (it kept saying "owed back"). Birch: Void, then Resend typed (refused: void),
    then cleared: the Note is the Void's again (it kept asking to clear Resend)."""
    folder = billed
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("120"), Paid_Date=date(2026, 3, 10),
                       Status="Void")  # fmt: skip
    type_into_invoices(folder, "Birch", Status="Void")
    assert folder.run("--as-of", "2026-03-11") == 0
    assert str(cell(folder, "Acme", "Note")).endswith("; $120.00 received is owed back.")
    void_note = str(cell(folder, "Birch", "Note"))
    assert void_note.startswith("Void: credit note CN-2026-0002")
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("20"))  # $100 paid back
    assert folder.run("--as-of", "2026-03-13") == 0
    assert str(cell(folder, "Acme", "Note")).endswith(
        "; $120.00 received; $20.00 is owed back (the rest paid back, seen on 2026-03-13)."
    )
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("0"))
    type_into_invoices(folder, "Birch", Resend="Yes")
    assert folder.run("--as-of", "2026-03-16") == 1
    assert str(cell(folder, "Acme", "Note")).endswith(
        "; $120.00 received was paid back (seen on 2026-03-16)."
    )
    assert str(cell(folder, "Birch", "Note")).startswith("Not done on 2026-03-16")
    type_into_invoices(folder, "Birch", Resend=None)
    assert folder.run("--as-of", "2026-03-17") == 0
    assert str(cell(folder, "Birch", "Note")) == void_note
    assert str(cell(folder, "Acme", "Note")).endswith("was paid back (seen on 2026-03-16).")


def test_a_credit_that_clears_a_part_paid_invoice_brings_no_thank_you(billed: Folder) -> None:
    """$200 of $500 paid (part-payment note), the rest waived by a credit: the credit
    note tells the new balance; a later run thanked the client "for paying ... now paid
    in full" although no money had come since the part payment."""
    folder = billed
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("200"), Paid_Date=date(2026, 3, 12))
    run(folder, date(2026, 3, 16))
    assert "$300.00 still due" in str(mails_to(folder, "Acme")[-1]["Subject"])
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("300"))
    run(folder, date(2026, 3, 23))
    assert str(mails_to(folder, "Acme")[-1]["Subject"]).startswith("Credit note")
    run(folder, date(2026, 3, 30))
    run(folder, date(2026, 4, 27))
    assert len(mails_to(folder, "Acme")) == 3  # invoice, part-payment note, credit note
    assert cell(folder, "Acme", "Status") == "Paid" and cell(folder, "Acme", "Balance") == 0
    # Money that does arrive after such a credit is still answered: an overpayment note.
    type_into_invoices(folder, "Acme", Paid_Amount=Decimal("230"), Paid_Date=date(2026, 4, 28))
    run(folder, date(2026, 5, 4))
    assert "We have received $230.00, which is $30.00 more than the $200.00 due." in " ".join(
        body(mails_to(folder, "Acme")[-1]).split()
    )


def test_a_lost_ledger_reads_credit_notes_listed_one_a_line(billed: Folder) -> None:
    """A Credit Notes cell rewrapped one number a line (Alt+Enter) still sets the floor of
    credit note numbers when the ledger and the documents are lost."""
    import shutil

    folder = billed
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("100"))
    run(folder, date(2026, 3, 10))
    type_into_invoices(folder, "Acme", Credit_Amount=Decimal("150"))
    run(folder, date(2026, 3, 11))
    assert cell(folder, "Acme", "Credit Notes") == "CN-2026-0001; CN-2026-0002"
    type_into_invoices(folder, "Acme", Credit_Notes="CN-2026-0001\nCN-2026-0002")
    shutil.rmtree(folder.root / ".billing")  # a new computer: only the workbook came along
    shutil.rmtree(folder.root / "invoices")
    type_into_services(
        folder, 8, Date=date(2026, 3, 12), Client="Birch", Description="Audit",
        Quantity=1, Unit_Price=80, Amount=80,
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-12") == 1  # the open invoices the ledger knew are told
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    row = list(sheet.index).index("INV-2026-0004") + 2
    apply_updates(
        folder.workbook, [CellUpdate("Invoices", row, "Credit Amount", 30)],
        header_rows={"Invoices": 1},
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-13") == 1
    sheet = invoices(folder).reset_index().set_index("Invoice No")
    assert sheet.loc["INV-2026-0004", "Credit Notes"] == "CN-2026-0003"  # not a second 0002
