"""Payments that come at awkward times: before the invoice could be delivered, and again
after a payment was returned. Each run is followed by a rerun on the same date that sends
and changes nothing (`test_corrections.run`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import attachment_names, body, cell, docx_text, run
from test_followup import mails_to, type_into_invoices

REFUSED_ON = date(2026, 3, 9)
PAID_ON = date(2026, 3, 11)
RETRY_ON = date(2026, 3, 16)


ZETA = "zeta@clients.example"


def refused_then_paid(folder: Folder, paid: str) -> None:
    """Zeta's $100.00 invoice refused by the server on 9 March; `paid` typed on the 11th."""
    write_workbook(
        folder.workbook, [client("Zeta")], [service(date(2026, 3, 2), "Zeta", "Work", 1, 100)]
    )
    folder.recorder.refuse = frozenset({ZETA})
    assert folder.run("--as-of", REFUSED_ON.isoformat()) == 1
    assert cell(folder, "Zeta", "Status") == "Failed"
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Zeta", Paid_Amount=Decimal(paid), Paid_Date=PAID_ON)


def thank_you_refused_too(folder: Folder) -> None:
    """The invoice refused, paid in full, the thank-you carrying it refused on RETRY_ON."""
    refused_then_paid(folder, "100")
    folder.recorder.refuse = frozenset({ZETA})
    assert folder.run("--as-of", RETRY_ON.isoformat()) == 1
    assert cell(folder, "Zeta", "Status") == "Paid"


def payment_taken_out_sends_the_invoice(folder: Folder) -> None:
    """The mailbox fixed and the payment taken out: the invoice is owed after all, and goes
    a week later asking for the whole amount; the tool's own Paid is written over."""
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Zeta", Paid_Amount=None, Paid_Date=None)
    run(folder, date(2026, 3, 23))
    (mail,) = mails_to(folder, "Zeta")
    assert "Please find attached invoice INV-2026-0001" in body(mail)
    assert cell(folder, "Zeta", "Status") == "Sent"


def attached_text(message: object, folder: Folder) -> str:
    """The text of the one document the message carries, as `docx_text` reads it."""
    (part,) = list(message.iter_attachments())  # type: ignore[attr-defined]
    path = folder.root / "attached.docx"
    path.write_bytes(part.get_content())
    return docx_text(path)


@pytest.mark.parametrize(
    ("paid", "status", "subject", "balance"),
    [
        ("100", "Paid", "Thank you", "$0.00"),
        ("120", "Overpaid", "", "$0.00"),  # never a negative amount to pay
    ],
)
def test_an_invoice_paid_before_it_could_be_delivered_is_not_sent_asking_for_payment(
    folder: Folder, paid: str, status: str, subject: str, balance: str
) -> None:
    refused_then_paid(folder, paid)
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")  # one message: the payment note, not the invoice
    assert "Please find attached invoice" not in body(mail)
    assert f"${paid}.00" in body(mail)
    assert "The invoice is attached for your records." in body(mail)
    if subject:
        assert str(mail["Subject"]).startswith(subject)
    # It carries the invoice the client never had, as it stands: paid, with the balance.
    assert attachment_names(mail) == ["INV-2026-0001.docx"]
    printed = attached_text(mail, folder)
    assert f"Amount paid\n${paid}.00" in printed and "Balance due" in printed
    assert balance in printed and "-$" not in printed and "Minus" not in printed
    assert cell(folder, "Zeta", "Status") == status
    assert "with the invoice attached" in str(cell(folder, "Zeta", "Note"))
    assert cell(folder, "Zeta", "Sent At") is not None
    run(folder, date(2026, 3, 23))  # the refused invoice email is not sent after all
    assert len(mails_to(folder, "Zeta")) == 1


def test_a_thank_you_refused_too_carries_the_invoice_when_it_goes(folder: Folder) -> None:
    refused_then_paid(folder, "100")
    folder.recorder.refuse = frozenset({"zeta@clients.example"})
    assert folder.run("--as-of", RETRY_ON.isoformat()) == 1
    assert cell(folder, "Zeta", "Status") == "Paid"
    folder.recorder.refuse = frozenset()
    run(folder, date(2026, 3, 23))
    (mail,) = mails_to(folder, "Zeta")
    assert str(mail["Subject"]).startswith("Thank you")
    assert attachment_names(mail) == ["INV-2026-0001.docx"]
    run(folder, date(2026, 3, 30))
    assert len(mails_to(folder, "Zeta")) == 1


def test_a_thank_you_not_yet_delivered_gives_way_to_the_invoice_when_the_payment_goes(
    folder: Folder,
) -> None:
    """Paid, the thank-you refused too, then the payment taken out again: the invoice
    itself is owed after all, asking for the whole amount."""
    thank_you_refused_too(folder)
    payment_taken_out_sends_the_invoice(folder)


def test_an_invoice_part_paid_before_it_could_be_delivered_shows_the_payment(
    folder: Folder,
) -> None:
    refused_then_paid(folder, "40")
    run(folder, RETRY_ON)
    (mail,) = mails_to(folder, "Zeta")  # the invoice, and no part-payment note the same run
    assert str(mail["Subject"]).startswith("Invoice INV-2026-0001")
    printed = docx_text(folder.root / "invoices" / "2026" / "INV-2026-0001.docx")
    assert "Amount paid\n$40.00\nBalance due\n$60.00" in printed
    assert "Amount paid\n$40.00\nBalance due\n$60.00" in attached_text(mail, folder)
    assert cell(folder, "Zeta", "Status") == "Partially Paid"
    run(folder, date(2026, 3, 23))  # the payment in words: once per amount, as ever
    assert "payment received, $60.00 still due" in str(mails_to(folder, "Zeta")[-1]["Subject"])


def test_an_invoice_that_reached_one_address_goes_on_identical(folder: Folder) -> None:
    """A server took the invoice for one To address: only its very bytes may follow, to the
    address that refused it; the thank-you waits for the next run."""
    write_workbook(
        folder.workbook,
        [client("Zeta", Email="zeta@clients.example, ap@clients.example")],
        [service(date(2026, 3, 2), "Zeta", "Work", 1, 100)],
    )
    folder.recorder.refuse = frozenset({"ap@clients.example"})
    assert folder.run("--as-of", REFUSED_ON.isoformat()) == 1
    first = [r.message for r in folder.received]
    folder.recorder.refuse = frozenset()
    type_into_invoices(folder, "Zeta", Paid_Amount=Decimal("100"), Paid_Date=PAID_ON)
    assert folder.run("--as-of", RETRY_ON.isoformat()) == 0
    again = [r for r in folder.received if "ap@clients.example" in r.rcpt_tos][-1].message
    assert again["Message-ID"] == first[0]["Message-ID"]
    assert "Please find attached invoice" in body(again)
    assert folder.run("--as-of", date(2026, 3, 23).isoformat()) == 0
    assert str(folder.received[-1].message["Subject"]).startswith("Thank you")


def test_a_returned_payment_paid_again_is_thanked_again(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Delta", Terms="Net 7")],
        [service(date(2026, 1, 2), "Delta", "Work", 3, 100)],
    )
    run(folder, date(2026, 1, 5))
    type_into_invoices(folder, "Delta", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 1, 8))
    run(folder, date(2026, 1, 12))
    assert str(mails_to(folder, "Delta")[-1]["Subject"]).startswith("Thank you")
    assert "attached" not in body(mails_to(folder, "Delta")[-1])  # an ordinary thank-you
    # The bank returned it: Paid Amount lowered to 0, a reminder follows in time.
    type_into_invoices(folder, "Delta", Paid_Amount=0, Paid_Date=date(2026, 1, 14))
    run(folder, date(2026, 1, 19))
    assert str(mails_to(folder, "Delta")[-1]["Subject"]).startswith("Reminder: invoice")
    assert cell(folder, "Delta", "Status") == "Reissued"
    type_into_invoices(folder, "Delta", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 1, 21))
    run(folder, date(2026, 1, 26))
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Delta")]
    assert len(subjects) == 4 and subjects[-1].startswith("Thank you")
    assert cell(folder, "Delta", "Status") == "Paid"
    assert str(cell(folder, "Delta", "Note")).startswith("Thank-you note for the payment")
    run(folder, date(2026, 2, 2))
    assert len(mails_to(folder, "Delta")) == 4


def test_a_payment_returned_and_paid_again_between_reminders_is_thanked_again(
    folder: Folder,
) -> None:
    """No reminder in between: a run saw the balance due again, and that is enough."""
    write_workbook(
        folder.workbook, [client("Delta")], [service(date(2026, 1, 2), "Delta", "Work", 3, 100)]
    )
    run(folder, date(2026, 1, 5))
    type_into_invoices(folder, "Delta", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 1, 8))
    run(folder, date(2026, 1, 12))
    type_into_invoices(folder, "Delta", Paid_Amount=None, Paid_Date=None)
    run(folder, date(2026, 1, 19))
    assert cell(folder, "Delta", "Status") == "Sent"
    assert len(mails_to(folder, "Delta")) == 2
    type_into_invoices(folder, "Delta", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 1, 21))
    run(folder, date(2026, 1, 26))
    subjects = [str(m["Subject"]) for m in mails_to(folder, "Delta")]
    assert len(subjects) == 3 and subjects[-1].startswith("Thank you")


def test_the_same_payment_typed_again_is_not_thanked_twice(folder: Folder) -> None:
    write_workbook(
        folder.workbook, [client("Delta")], [service(date(2026, 1, 2), "Delta", "Work", 3, 100)]
    )
    run(folder, date(2026, 1, 5))
    type_into_invoices(folder, "Delta", Paid_Amount=Decimal("300"), Paid_Date=date(2026, 1, 8))
    run(folder, date(2026, 1, 12))
    # Retyped (a corrected Paid Date): looked at again, still paid all along.
    type_into_invoices(folder, "Delta", Paid_Amount=300, Paid_Date=date(2026, 1, 9))
    run(folder, date(2026, 1, 19))
    assert len(mails_to(folder, "Delta")) == 2
    assert cell(folder, "Delta", "Status") == "Paid"


def test_the_dry_run_tells_the_thank_you_alone(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    refused_then_paid(folder, "100")
    capsys.readouterr()
    assert folder.run("--as-of", RETRY_ON.isoformat(), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "thank-you" in out and out.count("INV-2026-0001") == 1  # not the invoice too
