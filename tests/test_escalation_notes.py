"""The Note of an escalated invoice: a refused credit typed the week it escalates is told
with the escalation, and a payment after a credit note or copy went out is told at all.
Every run is done twice: the rerun writes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import digest, invoices, mails_to, type_into_invoices, week

ESCALATED = "Escalated on {day}: reissued once and still unpaid; please call the client."
REFUSED = (
    "Not done on {day}: a credit of $900.00 more is larger than the $500.00 still open on "
    "INV-2026-0001, so no credit note was issued; lower Credit Amount (or type Void in "
    "Status to cancel the whole invoice)."
)
PAID = (
    "Paid (${paid} by {day}) after it was escalated; no thank-you is emailed for an "
    "escalated invoice."
)


def run_twice(folder: Folder, n: int, code: int = 0) -> str:
    """The run of week `n`, then the same again: it writes and sends nothing more."""
    assert folder.run("--as-of", week(n).isoformat()) == code
    sent, state, note = len(folder.received), digest(folder), note_of(folder)
    assert folder.run("--as-of", week(n).isoformat()) == code
    assert len(folder.received) == sent
    assert digest(folder) == state
    assert note_of(folder) == note
    return note


def note_of(folder: Folder) -> str:
    return str(invoices(folder).loc["Gone", "Note"])


@pytest.fixture
def escalating(folder: Folder) -> Folder:
    """An invoice reissued once; the run of week 4 escalates it."""
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7\nmax_count = 1")
    write_workbook(
        folder.workbook,
        [client("Gone", Terms="Net 7")],
        [service(date(2026, 1, 2), "Gone", "Work", 1, 500)],
    )
    run_twice(folder, 0)
    run_twice(folder, 2)  # reissue 1
    return folder


def test_a_refused_credit_is_told_with_the_escalation_of_the_same_run(
    escalating: Folder,
) -> None:
    folder = escalating
    type_into_invoices(folder, "Gone", Credit_Amount=Decimal("900"))
    day = week(4).isoformat()
    note = run_twice(folder, 4, code=1)
    assert note == ESCALATED.format(day=day) + " " + REFUSED.format(day=day)
    assert invoices(folder).loc["Gone", "Status"] == "Escalated"
    # The credit lowered to nothing: the Note goes back to the escalation alone.
    type_into_invoices(folder, "Gone", Credit_Amount=None)
    assert run_twice(folder, 4) == ESCALATED.format(day=day)


@pytest.mark.parametrize("typed", [{"Credit_Amount": Decimal("100")}, {"Resend": "Yes"}])
def test_paid_after_a_correction_since_the_escalation(
    escalating: Folder, typed: dict[str, object]
) -> None:
    folder = escalating
    run_twice(folder, 4)
    assert note_of(folder).startswith("Escalated on")
    type_into_invoices(folder, "Gone", **typed)
    run_twice(folder, 5)  # the credit note or copy goes: its Note replaces the escalation's
    assert len(mails_to(folder, "Gone")) == 3
    balance = Decimal(str(invoices(folder).loc["Gone", "Balance"])).quantize(Decimal("0.01"))
    type_into_invoices(folder, "Gone", Paid_Amount=balance, Paid_Date=week(6))
    assert run_twice(folder, 6) == PAID.format(paid=balance, day=week(6).isoformat())
    assert invoices(folder).loc["Gone", "Status"] == "Paid"
    assert len(mails_to(folder, "Gone")) == 3  # no thank-you


def test_paid_the_week_a_credit_note_goes_after_the_escalation(escalating: Folder) -> None:
    folder = escalating
    run_twice(folder, 4)
    type_into_invoices(
        folder, "Gone", Credit_Amount=Decimal("100"), Paid_Amount=Decimal("400"),
        Paid_Date=week(5),
    )  # fmt: skip
    assert run_twice(folder, 5) == PAID.format(paid="400.00", day=week(5).isoformat())
    assert len(mails_to(folder, "Gone")) == 3  # the credit note, no thank-you


def test_a_problem_on_the_row_is_told_before_the_payment(escalating: Folder) -> None:
    folder = escalating
    run_twice(folder, 4)
    type_into_invoices(
        folder, "Gone", Credit_Amount=Decimal("900"), Paid_Amount=Decimal("500"),
        Paid_Date=week(5),
    )  # fmt: skip
    assert run_twice(folder, 5, code=1).startswith(f"Not done on {week(5).isoformat()}:")
    type_into_invoices(folder, "Gone", Credit_Amount=None)
    assert run_twice(folder, 5) == PAID.format(paid="500.00", day=week(5).isoformat())
