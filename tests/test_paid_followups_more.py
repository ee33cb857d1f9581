"""Payment notes still owed when the bookkeeper runs again the same day, and payments
paid again before any run saw the invoice owing (`test_paid_followups` has the rest)."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import Folder
from test_corrections import attachment_names, body, cell, run
from test_followup import digest, mails_to, type_into_invoices
from test_paid_followups import (
    RETRY_ON,
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
    from conftest import client, service, write_workbook

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
