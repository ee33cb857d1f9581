"""The Note of an escalated invoice: a refused credit typed the week it escalates is told
with the escalation. Every run is done twice: the rerun writes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import digest, invoices, type_into_invoices, week

ESCALATED = "Escalated on {day}: reissued once and still unpaid; please call the client."
REFUSED = (
    "Not done on {day}: a credit of $900.00 more is larger than the $500.00 still open on "
    "INV-2026-0001, so no credit note was issued; lower Credit Amount (or type Void in "
    "Status to cancel the whole invoice)."
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
