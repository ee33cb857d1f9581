"""Payment notes still owed when the bookkeeper runs again the same day, and payments
paid again before any run saw the invoice owing (`test_paid_followups` has the rest)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import attachment_names, body, cell, run
from test_followup import digest, mails_to, type_into_invoices
from test_paid_followups import (
    PAID_ON,
    REFUSED_ON,
    RETRY_ON,
    ZETA,
    attached_text,
    payment_taken_out_sends_the_invoice,
    thank_you_refused_too,
)


def test_a_refused_thank_you_goes_with_the_invoice_on_a_rerun_the_same_day(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    thank_you_refused_too(folder)
    folder.recorder.refuse = frozenset()  # the mailbox fixed, run again the same day
    capsys.readouterr()
    assert folder.run("--as-of", RETRY_ON.isoformat(), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "thank-you" in out and out.count("INV-2026-0001") == 1  # not the invoice
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")
    assert str(mail["Subject"]).startswith("Thank you")
    assert "Please find attached invoice" not in body(mail)
    assert attachment_names(mail) == ["INV-2026-0001.docx"]
    assert "with the invoice attached" in str(cell(folder, "Zeta", "Note"))
    run(folder, date(2026, 3, 23))
    assert len(mails_to(folder, "Zeta")) == 1


def test_a_thank_you_refused_again_the_same_day_writes_nothing_new(folder: Folder) -> None:
    thank_you_refused_too(folder)
    state = digest(folder)
    assert folder.run("--as-of", RETRY_ON.isoformat()) == 1  # refused once more
    assert digest(folder) == state
    assert not any("Please find attached invoice" in body(r.message) for r in folder.received)
    payment_taken_out_sends_the_invoice(folder)


def test_a_refused_thank_you_for_a_payment_taken_out_no_longer_promises_a_retry(
    folder: Folder,
) -> None:
    """Delivered, paid, the thank-you refused; then the payment is taken out (the bank
    returned it): nothing more goes, and the Note stops saying "it is tried again at the
    next run"."""
    write_workbook(folder.workbook, [client("Acme", Terms="Net 60")],
                   [service(date(2026, 3, 2), "Acme", "Work", 10, 100)])  # fmt: skip
    run(folder, date(2026, 3, 10))
    type_into_invoices(folder, "Acme", Paid_Amount=1000, Paid_Date=date(2026, 3, 12))
    folder.recorder.refuse = frozenset({"acme@clients.example"})
    assert folder.run("--as-of", "2026-03-17") == 1
    assert "tried again at the next run" in str(cell(folder, "Acme", "Note"))
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Acme", Paid_Amount=0)
    sent = len(folder.received)
    run(folder, date(2026, 3, 24))
    assert len(folder.received) == sent
    note = str(cell(folder, "Acme", "Note"))
    assert "tried again" not in note and "is not sent after all" in note, note
    run(folder, date(2026, 3, 31))
    assert len(folder.received) == sent


BOSS = "boss@clients.example"
ARCHIVE = "archive@ledgerwise.example"


def refused_but_copied_then_paid(folder: Folder, copy: str, paid: str) -> str:
    """Zeta's $100.00 invoice refused for its To address on 9 March while another recipient
    took it (`copy`: the bcc archive, or the client's CC); `paid` typed on the 11th. Returns
    the address that has the first email."""
    if copy == "bcc":
        folder.write_config(email=f'bcc = "{ARCHIVE}"')
    write_workbook(
        folder.workbook,
        [client("Zeta", CC=BOSS) if copy == "cc" else client("Zeta")],
        [service(date(2026, 3, 2), "Zeta", "Work", 1, 100)],
    )
    folder.recorder.refuse = frozenset({ZETA})
    assert folder.run("--as-of", REFUSED_ON.isoformat()) == 1
    assert cell(folder, "Zeta", "Status") == "Failed"
    had = ARCHIVE if copy == "bcc" else BOSS
    assert [r.rcpt_tos for r in folder.received] == [[had]]
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Zeta", Paid_Amount=Decimal(paid), Paid_Date=PAID_ON)
    return had


@pytest.mark.parametrize("copy", ["bcc", "cc"])
@pytest.mark.parametrize(("paid", "status"), [("100", "Paid"), ("120", "Overpaid")])
def test_an_invoice_a_copy_got_and_paid_in_full_is_never_sent_asking_for_payment(
    folder: Folder, copy: str, paid: str, status: str
) -> None:
    """The client's CC (or the bcc archive) took the first email, the To address refused
    it, and the client paid in full meanwhile: the payment note carries the invoice, to the
    client as usual, and the kept invoice email is never sent, that week or later."""
    had = refused_but_copied_then_paid(folder, copy, paid)
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")
    assert "Please find attached invoice" not in body(mail)
    assert "The invoice is attached for your records." in body(mail)
    assert attachment_names(mail) == ["INV-2026-0001.docx"]
    assert had in folder.received[-1].rcpt_tos  # a new message: CC'd, archived as usual
    note = str(cell(folder, "Zeta", "Note"))
    assert "with the invoice attached" in note and "zeta@clients.example" in note, note
    assert cell(folder, "Zeta", "Status") == status
    sent = len(folder.received)
    for day in (date(2026, 3, 23), date(2026, 3, 30), date(2026, 4, 6)):
        run(folder, day)
    assert len(folder.received) == sent, [r.message["Subject"] for r in folder.received[sent:]]
    assert "with the invoice attached" in str(cell(folder, "Zeta", "Note"))
    assert cell(folder, "Zeta", "Status") == status


@pytest.mark.parametrize("copy", ["bcc", "cc"])
def test_an_invoice_a_copy_got_and_part_paid_goes_to_the_client_showing_the_payment(
    folder: Folder, copy: str
) -> None:
    """The To address never had the first email: it gets the invoice as it stands, Amount
    paid and Balance due shown, and whoever had the first gets no second copy."""
    had = refused_but_copied_then_paid(folder, copy, "40")
    first = folder.received[0].message["Message-ID"]
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")
    assert str(mail["Subject"]).startswith("Invoice INV-2026-0001")
    printed = attached_text(mail, folder)
    assert "Amount paid\n$40.00\nBalance due\n$60.00" in printed, printed
    assert "Sixty dollars" in printed
    assert [r.rcpt_tos for r in folder.received[1:]] == [["zeta@clients.example"]]
    if copy == "cc":  # not the message the CC has: a new one
        assert mail["Message-ID"] != first
    assert cell(folder, "Zeta", "Status") == "Partially Paid"
    note = str(cell(folder, "Zeta", "Note"))
    assert note.startswith("Emailed to zeta@clients.example"), note
    if copy == "cc":
        assert f"({BOSS} had the invoice's first email already)" in note, note
    run(folder, date(2026, 3, 23))  # the payment in words: once per amount, as ever
    last = folder.received[-1]
    assert "payment received, $60.00 still due" in str(last.message["Subject"])
    assert ("zeta@clients.example" in last.rcpt_tos) and (had in last.rcpt_tos)


def test_an_invoice_a_cc_got_and_part_paid_keeps_the_due_date_the_cc_has(folder: Folder) -> None:
    """Terms "15 days after receipt": the CC took it on 9 March, so the client had it then (Sent
    At) and it is due on the 24th; the invoice made again for the To address says so."""
    write_workbook(
        folder.workbook,
        [client("Zeta", CC=BOSS, Terms="15 days after receipt")],
        [service(date(2026, 3, 2), "Zeta", "Work", 1, 100)],
    )
    folder.recorder.refuse = frozenset({ZETA})
    assert folder.run("--as-of", REFUSED_ON.isoformat()) == 1
    assert "due on March 24, 2026" in body(folder.received[0].message)
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Zeta", Paid_Amount=Decimal("40"), Paid_Date=PAID_ON)
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")
    assert "Due date: March 24, 2026" in attached_text(mail, folder)
