"""Bank lines across imports: a cumulative Paid Amount typed for two transfers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from automation.bank.match import (
    APPLIED,
    REVIEW,
    Allocation,
    OpenInvoice,
    Payers,
    TypedPayment,
    match_lines,
)
from automation.bank.record import BankLine

D = Decimal
BETA = "beta llc"
PAYERS = Payers({"KZ222": BETA}, {BETA: BETA})
#: INV-2026-0007 (1200) paid: the bookkeeper typed 1200 with Paid Date 23 Jan;
#: INV-2026-0002 (800) of the same client still open.
INVOICES = [
    OpenInvoice("INV-2026-0002", BETA, "USD", date(2026, 1, 5), D("800.00")),
    OpenInvoice("INV-2026-0007", BETA, "USD", date(2026, 1, 12), D("0.00")),
]
TYPED = [TypedPayment("INV-2026-0007", BETA, D("1200.00"), date(2026, 1, 23),
                      parts=((D("1200.00"), date(2026, 1, 23)),))]  # fmt: skip


def transfer(amount: str, day: int, reference: str, ref: str) -> BankLine:
    return BankLine(date(2026, 1, day), D(amount), "USD", "in", "Beta LLC", ("KZ222",),
                    reference, ref, "jan.csv", day)  # fmt: skip


def test_two_transfers_typed_as_one_cumulative_paid_amount_are_recognised() -> None:
    """400 and 800, each naming INV-2026-0007, typed as 1200: both are the typed payment;
    the 800 never pays INV-2026-0002 by its amount."""
    first = transfer("400.00", 20, "INV-2026-0007 part 1", "T7001")
    rest = transfer("800.00", 23, "INV-2026-0007 rest", "T7002")
    decisions = match_lines(INVOICES, PAYERS, [first, rest], D("0"), typed=TYPED,
                            known_closed={"INV-2026-0007"})  # fmt: skip
    assert [(d.status, d.rule) for d in decisions] == [(APPLIED, "Typed by hand")] * 2
    assert [d.allocations for d in decisions] == [
        (Allocation("INV-2026-0007", D("400.00"), typed=True),),
        (Allocation("INV-2026-0007", D("800.00"), typed=True),),
    ]
    assert "one of 2 lines making up the $1,200.00 typed by hand on INV-2026-0007" in (
        decisions[1].note
    )


def test_a_line_that_may_be_part_of_a_typed_payment_waits_instead_of_paying_another() -> None:
    """Only the 800 is in this statement (the 400 comes in the next one): it may be part of
    the 1200 typed, so it waits; it is not applied to INV-2026-0002 by its amount."""
    rest = transfer("800.00", 23, "INV-2026-0007 rest", "T7002")
    (d,) = match_lines(INVOICES, PAYERS, [rest], D("0"), typed=TYPED,
                       known_closed={"INV-2026-0007"})  # fmt: skip
    assert (d.status, d.allocations) == (REVIEW, ())
    assert d.note == (
        "INV-2026-0007 already shows a payment of $1,200.00 typed by hand (Paid Date "
        "2026-01-23) that no bank line was found to be: type Ignore if this line is part of "
        "it, or the Invoice No it pays."
    )
    # Nothing typed is left on it (the bank paid it): last month's purpose re-used, as before.
    (reused,) = match_lines(INVOICES, PAYERS, [rest], D("0"), known_closed={"INV-2026-0007"})
    assert (reused.rule, reused.allocations) == (
        "Amount", (Allocation("INV-2026-0002", D("800.00")),))  # fmt: skip
