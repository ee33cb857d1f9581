"""The matching rules, one by one, on plain records (no files, no workbook)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from automation.bank import match as match_module
from automation.bank.match import (
    APPLIED,
    IGNORED,
    REVIEW,
    Allocation,
    Instruction,
    NumberIndex,
    OpenInvoice,
    Payers,
    TypedPayment,
    match_lines,
    parse_instruction,
    read_part,
)
from automation.bank.record import BankLine

D = Decimal
ACME, BETA = "acme ltd", "beta llp"
PAYERS = Payers({"180940012345": ACME, "KZ22722C000024901213": ACME}, {ACME: ACME, BETA: BETA})


def inv(number: str, client: str, balance: str, day: int, currency: str = "KZT") -> OpenInvoice:
    return OpenInvoice(number, client, currency, date(2026, 2, day), D(balance))


INVOICES = [
    inv("INV-2026-0007", ACME, "100000.00", 1),
    inv("INV-2026-0008", ACME, "50000.00", 5),
    inv("INV-2026-0009", ACME, "25000.00", 9),
    inv("INV-2026-0010", BETA, "7000.00", 10),
]


def line(amount: str, reference: str = "", payer: str = "", ids: tuple[str, ...] = (),
         currency: str = "KZT", direction: str = "in", ref: str = "R1",
         day: date = date(2026, 3, 2)) -> BankLine:  # fmt: skip
    return BankLine(day, D(amount), currency, direction, payer, ids, reference, ref)  # type: ignore[arg-type]


def decide(*lines: BankLine, tolerance: str = "0", **kw):  # type: ignore[no-untyped-def]
    return match_lines(INVOICES, PAYERS, lines, D(tolerance), **kw)


@pytest.mark.parametrize(
    "reference",
    ["Оплата по счету №INV-2026-0008 от 05.02.2026", "inv 2026 8", "№INV-2026-0008",
     "INV20260008", "payment for invoice inv-2026-08.", "Счет INV 2026 0008"],
)  # fmt: skip
def test_rule_1_invoice_number_in_the_reference(reference: str) -> None:
    (d,) = decide(line("50000.00", reference, payer="Someone Else"))
    assert (d.status, d.rule) == (APPLIED, "Reference")
    assert d.allocations == (Allocation("INV-2026-0008", D("50000.00")),)


def test_rule_1_reads_an_invoice_number_in_the_payers_name_when_the_reference_has_none() -> None:
    # an OFX ACH credit: NAME "ACH CREDIT INV-2026-0008", MEMO the originator's ids
    (d,) = decide(line("50000.00", "ACME LTD CCD ID 99", payer="ACH CREDIT INV-2026-0008"))
    assert (d.status, d.rule) == (APPLIED, "Reference")
    assert d.allocations == (Allocation("INV-2026-0008", D("50000.00")),)
    # the reference, when it names one, comes first
    (d,) = decide(line("7000.00", "INV-2026-0010", payer="ACH CREDIT INV-2026-0008"))
    assert d.allocations == (Allocation("INV-2026-0010", D("7000.00")),)


def test_rule_1_from_another_clients_account_is_applied_and_said() -> None:
    (d,) = decide(line("7000.00", "INV-2026-0010", payer="ACME LTD", ids=("180940012345",)))
    assert (d.status, d.rule) == (APPLIED, "Reference")
    assert "paid from the account of another client (ACME LTD) for INV-2026-0010" in d.note
    (own,) = decide(line("7000.00", "INV-2026-0010", payer="Beta LLP"))
    assert own.note == ""


def test_a_payer_id_on_two_clients_is_named_in_the_review_note() -> None:
    payers = Payers({}, {ACME: ACME, BETA: BETA}, {"777000111": "Acme Ltd and Beta LLP"})
    (d,) = match_lines(INVOICES, payers, [line("7000.00", "", "TOO X", ("777000111",))], D(0))
    assert d.status == REVIEW
    assert "is the Payer ID of more than one client (Acme Ltd and Beta LLP)" in d.note


def test_rule_1_does_not_read_numbers_into_other_digits() -> None:
    (d,) = decide(line("50000.00", "INV-2026-00081 and 2026 8 apples"))
    assert d.status == REVIEW


def test_underpayment_with_a_reference_is_a_part_payment() -> None:
    (d,) = decide(line("30000.00", "INV-2026-0007 part 1", payer="Acme Ltd"))
    assert (d.status, d.rule) == (APPLIED, "Reference")
    assert d.allocations == (Allocation("INV-2026-0007", D("30000.00")),)


def test_rule_2_payer_id_and_exact_balance_oldest_first() -> None:
    (d,) = decide(line("25000.00", "services", payer="TOO ACME", ids=("180940012345",)))
    assert (d.status, d.rule) == (APPLIED, "Amount")
    assert d.allocations == (Allocation("INV-2026-0009", D("25000.00")),)


def test_rule_2_on_one_day_pays_the_invoice_issued_first() -> None:
    # "N{seq}" numbers: N10 sorts before N2 as text; N2 was issued first.
    same_day = [inv(n, ACME, "500.00", 3) for n in ("N10", "N2")]
    line_ = line("500.00", "services", payer="TOO ACME", ids=("180940012345",))
    (d,) = match_lines(same_day, PAYERS, [line_], D(0))
    assert (d.rule, d.allocations) == ("Amount", (Allocation("N2", D("500.00")),))


def test_rule_2_by_exact_client_name() -> None:
    (d,) = decide(line("7000.00", "for February", payer="Beta  LLP"))
    assert (d.rule, d.allocations[0].invoice_no) == ("Amount", "INV-2026-0010")


def test_rule_3_one_transfer_pays_three_invoices() -> None:
    (d,) = decide(line("175000.00", "all open bills", ids=("KZ22722C000024901213",)))
    assert (d.status, d.rule) == (APPLIED, "Split")
    assert d.allocations == (
        Allocation("INV-2026-0007", D("100000.00")),
        Allocation("INV-2026-0008", D("50000.00")),
        Allocation("INV-2026-0009", D("25000.00")),
    )


def test_rule_3_any_several_of_its_invoices_not_only_the_oldest() -> None:
    """The client pays its two newest invoices (disputing the oldest): one set adds up."""
    (d,) = decide(line("75000.00", "", ids=("180940012345",)))
    assert (d.status, d.rule) == (APPLIED, "Split")
    assert d.allocations == (
        Allocation("INV-2026-0008", D("50000.00")), Allocation("INV-2026-0009", D("25000.00"))
    )  # fmt: skip


def test_rule_3_two_sets_adding_up_is_for_a_person_to_say() -> None:
    same = [*INVOICES, inv("INV-2026-0011", ACME, "75000.00", 12)]
    (d,) = match_lines(same, PAYERS, [line("125000.00", "", ids=("180940012345",))], D(0))
    assert d.status == REVIEW and "more than one set of its open invoices adds up" in d.note
    assert "INV-2026-0008 + INV-2026-0011" in d.note


def test_rule_3_a_search_cut_short_does_not_pass_one_set_for_the_only_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(match_module, "SPLIT_TRIES", 1)
    more = [*INVOICES, inv("INV-2026-0011", ACME, "10000.00", 12)]
    (d,) = match_lines(more, PAYERS, [line("75000.00", "", ids=("180940012345",))], D(0))
    assert d.status == REVIEW and "too many open invoices to be sure" in d.note


def test_a_later_statement_listing_one_more_copy_keeps_that_copy() -> None:
    from automation.bank.record import once_across_statements

    one = line("10.00", "x", ref="B-77")
    kept = once_across_statements([one, one, one], [0, 1, 1])  # 1 copy, then 2
    assert len(kept) == 2


def test_rule_4_a_fee_within_tolerance_pays_in_full() -> None:
    (d,) = decide(line("49850.00", "", ids=("180940012345",)), tolerance="200")
    assert (d.status, d.rule) == (APPLIED, "Bank fee")
    assert d.allocations == (Allocation("INV-2026-0008", D("50000.00"), fee=D("150.00")),)
    assert "KZT\u00a0150.00 short" in d.note


def test_a_shortfall_beyond_the_tolerance_waits_for_review() -> None:
    (d,) = decide(line("49000.00", "", ids=("180940012345",)), tolerance="200")
    assert d.status == REVIEW and d.allocations == ()
    assert "INV-2026-0007 KZT\u00a0100,000.00" in d.note


def test_a_strangers_payment_waits_for_review() -> None:
    (d,) = decide(line("50000.00", "gift", payer="Unknown Person", ids=("999999999999",)))
    assert d.status == REVIEW and d.allocations == ()
    assert "Unknown Person (999999999999) is not a client" in d.note


def test_a_payment_in_the_wrong_currency_waits_for_review() -> None:
    (by_ref,) = decide(line("50000.00", "INV-2026-0008", currency="USD"))
    (by_payer,) = decide(line("50000.00", "", ids=("180940012345",), currency="RUB"))
    for d in (by_ref, by_payer):
        assert d.status == REVIEW and d.allocations == ()
        assert "in another currency" in d.note


def test_an_outgoing_debit_is_ignored() -> None:
    (d,) = decide(line("50000.00", "INV-2026-0008", direction="out"))
    assert d.status == IGNORED and d.allocations == ()


def test_two_lines_never_pay_the_same_balance_twice() -> None:
    first, second = decide(
        line("50000.00", "INV-2026-0008", ref="A"), line("50000.00", "INV-2026-0008", ref="B")
    )
    assert first.status == APPLIED
    assert second.status == REVIEW and "not open" in second.note


def test_a_reference_naming_only_a_paid_invoice_falls_through_to_rules_2_to_4() -> None:
    """A client re-using last month's payment purpose: rule 1 (an *open* invoice named)
    does not fit, so the amount rules are tried; the Note says what the reference named."""
    acme, closed = ("180940012345",), {"INV-2026-0003"}
    purpose = "Оплата по счету INV-2026-0003"
    (amount,) = decide(line("100000.00", purpose, ids=acme), known_closed=closed)
    assert (amount.status, amount.rule) == (APPLIED, "Amount")
    assert amount.allocations == (Allocation("INV-2026-0007", D("100000.00")),)
    assert amount.note == (
        "the reference names INV-2026-0003, which is not open (paid, void or paid by another "
        "line); matched by payer and amount instead: check it was meant for INV-2026-0007."
    )
    (split,) = decide(line("75000.00", purpose, ids=acme), known_closed=closed)
    assert (split.rule, [a.invoice_no for a in split.allocations]) == (
        "Split", ["INV-2026-0008", "INV-2026-0009"])  # fmt: skip
    (fee,) = decide(line("49990.00", purpose, ids=acme), tolerance="10", known_closed=closed)
    assert (fee.rule, fee.allocations) == (
        "Bank fee", (Allocation("INV-2026-0008", D("50000.00"), fee=D("10.00")),))  # fmt: skip
    assert "names INV-2026-0003" in fee.note and "counted as a bank fee" in fee.note
    # none of rules 2-4 fits: Review, saying the invoice named is not open
    for nothing in (line("33.00", purpose, ids=acme), line("100000.00", purpose, "Stranger")):
        (d,) = decide(nothing, known_closed=closed)
        assert (d.status, d.allocations) == (REVIEW, ())
        assert d.note == (
            "the reference names INV-2026-0003, which is not open (paid, void or paid by "
            "another line): type the Invoice No it should go to, or Ignore."
        )


def test_a_reference_naming_an_invoice_paid_by_an_earlier_line_falls_through() -> None:
    """Two payments in one statement with the same purpose: the first pays the invoice
    named, the second is matched by amount; a line naming an open invoice is decided
    before one naming a paid invoice, so the amount rule takes nothing it names."""
    acme = ("180940012345",)
    full, again = decide(line("100000.00", "INV-2026-0007", ids=acme, ref="A"),
                         line("50000.00", "INV-2026-0007", ids=acme, ref="B"))  # fmt: skip
    assert (full.rule, full.allocations) == (
        "Reference", (Allocation("INV-2026-0007", D("100000.00")),))  # fmt: skip
    assert (again.status, again.rule) == (APPLIED, "Amount")
    assert again.allocations == (Allocation("INV-2026-0008", D("50000.00")),)
    assert again.note.startswith("the reference names INV-2026-0007, which is not open")
    old, named = decide(
        line("50000.00", "INV-2026-0003", ids=acme, ref="A", day=date(2026, 3, 1)),
        line("50000.00", "INV-2026-0008", "Someone Else", ref="B", day=date(2026, 3, 2)),
        known_closed={"INV-2026-0003"},
    )
    assert named.allocations == (Allocation("INV-2026-0008", D("50000.00")),)
    assert old.status == REVIEW and "names INV-2026-0003" in old.note


def test_several_invoices_in_the_reference_are_paid_oldest_first() -> None:
    (d,) = decide(line("160000.00", "INV-2026-0009, INV-2026-0007"))
    assert d.allocations == (
        Allocation("INV-2026-0007", D("100000.00")),
        Allocation("INV-2026-0009", D("60000.00")),  # the rest: an overpayment
    )


def test_a_payment_typed_by_hand_is_recognised_not_added() -> None:
    typed = [TypedPayment("INV-2026-0005", ACME, D("42000.00"), date(2026, 3, 2))]
    (d,) = decide(line("42000.00", "", ids=("180940012345",)), typed=typed)
    assert (d.status, d.rule) == (APPLIED, "Typed by hand")
    assert d.allocations == (Allocation("INV-2026-0005", D("42000.00"), typed=True),)
    (weeks_later,) = decide(line("42000.00", "", ids=("180940012345",),
                                 day=date(2026, 3, 30)), typed=typed)  # fmt: skip
    assert weeks_later.rule != "Typed by hand"


@pytest.mark.parametrize(
    ("typed_on", "booked_on"),
    [
        (date(2026, 3, 6), date(2026, 3, 5)),  # typed the day after the bank booked it
        (date(2026, 3, 4), date(2026, 3, 5)),  # typed from the client's remittance advice
        (date(2026, 3, 10), date(2026, 3, 6)),  # Friday's transfer, seen on Tuesday
    ],
)
def test_a_typed_payment_is_recognised_a_few_days_from_the_bank_date(
    typed_on: date, booked_on: date
) -> None:
    """Typed 600 on INV-2026-0007 (1000 open); the bank books the same 600 days apart."""
    invoices = [inv("INV-2026-0007", ACME, "400.00", 1)]  # 1000 less the 600 typed
    typed = [TypedPayment("INV-2026-0007", ACME, D("600.00"), typed_on)]
    by_reference = line("600.00", "INV-2026-0007", day=booked_on)
    by_payer = line("600.00", "", ids=("180940012345",), day=booked_on)
    for bank in (by_reference, by_payer):
        (d,) = match_lines(invoices, PAYERS, [bank], D("0"), typed=typed)
        assert (d.status, d.rule) == (APPLIED, "Typed by hand")
        assert d.allocations == (Allocation("INV-2026-0007", D("600.00"), typed=True),)
        assert typed_on.isoformat() in d.note


def test_a_second_payment_near_a_typed_one_is_added_once() -> None:
    """Typed 600 dated 6 Mar; the bank has 600 on 5 Mar and 600 on 9 Mar: one is the typed."""
    invoices = [inv("INV-2026-0007", ACME, "600.00", 1)]
    typed = [TypedPayment("INV-2026-0007", ACME, D("600.00"), date(2026, 3, 6))]
    first = line("600.00", "INV-2026-0007", ref="A", day=date(2026, 3, 5))
    second = line("600.00", "INV-2026-0007", ref="B", day=date(2026, 3, 9))
    a, b = match_lines(invoices, PAYERS, [second, first], D("0"), typed=typed)
    assert (b.rule, a.rule) == ("Typed by hand", "Reference")  # the nearer one is the typed
    assert a.allocations == (Allocation("INV-2026-0007", D("600.00")),)


def test_a_typed_payment_a_week_or_two_away_is_a_doubt_for_review() -> None:
    """Too far apart to be sure it is the same payment, too near to count it twice blindly."""
    invoices = [inv("INV-2026-0007", ACME, "400.00", 1)]
    typed = [TypedPayment("INV-2026-0007", ACME, D("600.00"), date(2026, 3, 16))]
    (d,) = match_lines(invoices, PAYERS, [line("600.00", "INV-2026-0007", day=date(2026, 3, 5))],
                       D("0"), typed=typed)  # fmt: skip
    assert (d.status, d.allocations) == (REVIEW, ())
    assert "typed by hand" in d.note and "2026-03-16" in d.note


def test_a_typed_payment_is_recognised_only_on_its_invoice_and_exact_amount() -> None:
    """Typed 1000 on INV-1 that day; the statement pays 200 on INV-2 and 1000 on INV-1."""
    invoices = [inv("INV-2026-0001", ACME, "0.00", 1, "USD"),  # the typed 1000 settled it
                inv("INV-2026-0002", ACME, "200.00", 2, "USD")]  # fmt: skip
    typed = [TypedPayment("INV-2026-0001", ACME, D("1000.00"), date(2026, 3, 9))]
    day = date(2026, 3, 9)
    small = line("200.00", "Payment INV-2026-0002", payer="Acme Ltd", currency="USD",
                 ref="A", day=day)  # fmt: skip
    full = line("1000.00", "Payment INV-2026-0001", payer="Acme Ltd", currency="USD",
                ref="B", day=day)  # fmt: skip
    first, second = match_lines(invoices, PAYERS, [small, full], D("0"), typed=typed)
    assert (first.status, first.rule) == (APPLIED, "Reference")
    assert first.allocations == (Allocation("INV-2026-0002", D("200.00")),)
    assert (second.status, second.rule) == (APPLIED, "Typed by hand")
    assert second.allocations == (Allocation("INV-2026-0001", D("1000.00"), typed=True),)
    # No reference, same client, not the typed amount: not taken for the typed payment.
    (part,) = match_lines(invoices, PAYERS, [line("200.00", "", payer="Acme Ltd",
                          currency="USD", day=day)], D("0"), typed=typed)  # fmt: skip
    assert (part.rule, part.allocations) == ("Amount", (Allocation("INV-2026-0002", D("200.00")),))


def test_lines_with_a_reference_are_decided_before_lines_matched_by_client() -> None:
    """The older line without a reference must not take the invoice the newer one names."""
    plain = line("50000.00", "", ids=("180940012345",), ref="P", day=date(2026, 3, 2))
    named = line("50000.00", "INV-2026-0008", ref="N", day=date(2026, 3, 3))
    invoices = [
        inv("INV-2026-0008", ACME, "50000.00", 5),
        inv("INV-2026-0011", ACME, "50000.00", 11),
    ]
    first, second = match_lines(invoices, PAYERS, [plain, named], D("0"))
    assert second.allocations == (Allocation("INV-2026-0008", D("50000.00")),)
    assert first.allocations == (Allocation("INV-2026-0011", D("50000.00")),)


def test_the_bookkeepers_instruction_on_a_review_line() -> None:
    stranger = line("80000.00", "gift", payer="Unknown")
    told = {"R1": Instruction("R1", ("inv 2026 8 30000.00", "INV-2026-0007"))}
    (d,) = decide(stranger, instructions=told)
    assert (d.status, d.rule) == (APPLIED, "Bookkeeper")
    assert d.allocations == (
        Allocation("INV-2026-0008", D("30000.00")),
        Allocation("INV-2026-0007", D("50000.00")),
    )
    (ignored,) = decide(stranger, instructions={"R1": Instruction("R1", ignore=True)})
    assert ignored.status == IGNORED
    (wrong,) = decide(stranger, instructions={"R1": Instruction("R1", ("INV-9",))})
    assert wrong.status == REVIEW and "INV-9" in wrong.note


def test_parse_instruction_forms() -> None:
    assert parse_instruction("R", " ", "Review") is None
    assert parse_instruction("R", "INV-2026-0007", "") == Instruction("R", ("INV-2026-0007",))
    assert parse_instruction("R", "inv 2026 7\nINV-1 1 250,50; ", "").parts == (
        "inv 2026 7", "INV-1 1 250,50")  # fmt: skip
    index = NumberIndex(["INV-1", "INV-2", "INV-2026-0007"])
    assert read_part("inv 2026 7", index) == ("INV-2026-0007", None)
    assert read_part("INV-1 1 250,50", index) == ("INV-1", D("1250.50"))
    assert read_part("INV-2: 10.00", index) == ("INV-2", D("10.00"))
    assert read_part("inv 2026 7 100.00", index) == ("INV-2026-0007", D("100.00"))
    assert read_part("№INV-2026-0007 1.000,00", index) == ("INV-2026-0007", D("1000.00"))


def test_a_payment_older_than_the_invoice_is_never_applied_to_it() -> None:
    later = [inv("INV-2026-0020", ACME, "5000.00", 20)]
    early = line("5000.00", "", ids=("180940012345",), day=date(2026, 2, 10))
    (d,) = match_lines(later, PAYERS, [early], D("0"))
    assert d.status == REVIEW  # said as it is: not "in another currency"
    assert d.note == (
        "the money arrived on 2026-02-10, before INV-2026-0020 was issued (2026-02-20): if it "
        "pays it, type Paid Amount on the invoice with Paid Date 2026-02-20 or later, and "
        "Ignore this line."
    )
    # the client's open invoice is older than the money but cannot be matched (another
    # currency): not "before it was issued"
    (other,) = match_lines([inv("INV-2026-0021", ACME, "5000.00", 1, "USD")], PAYERS,
                           [line("5000.00", "", ids=("180940012345",))], D("0"))  # fmt: skip
    assert "in another currency" in other.note and "before" not in other.note
    (named,) = match_lines(later, PAYERS, [line("5000.00", "INV-2026-0020",
                                               day=date(2026, 2, 10))], D("0"))  # fmt: skip
    assert named.status == REVIEW and "before INV-2026-0020 was issued" in named.note


def test_rule_2_accepts_the_discounted_amount_within_the_discount_window() -> None:
    early = OpenInvoice("INV-2026-0030", BETA, "KZT", date(2026, 3, 2), D("100.00"),
                        discounted=D("98.00"), discount_until=date(2026, 3, 12))  # fmt: skip
    paid = line("98.00", "", payer="Beta LLP", day=date(2026, 3, 9))
    rest = line("2.00", "", payer="Beta LLP", ref="R2", day=date(2026, 3, 10))
    d, after = match_lines([early], PAYERS, [paid, rest], D("0"))
    assert (d.status, d.rule) == (APPLIED, "Amount")
    assert d.allocations == (Allocation("INV-2026-0030", D("98.00"), discount=D("2.00")),)
    assert after.status == REVIEW  # the discount settled it: nothing is left to pay
    (late,) = match_lines([early], PAYERS, [line("98.00", "", payer="Beta LLP",
                                                day=date(2026, 3, 13))], D("0"))  # fmt: skip
    assert late.status == REVIEW


def test_notes_write_money_as_the_invoices_do() -> None:
    """JPY has no decimals; amounts in notes are formatted, never raw Decimals."""
    yen = [OpenInvoice("INV-2026-0040", BETA, "JPY", date(2026, 3, 2), D("10000"))]
    (fee,) = match_lines(yen, PAYERS, [line("9990", "", payer="Beta LLP", currency="JPY")],
                         D("20"))  # fmt: skip
    assert fee.note.startswith("¥10 short") and ".00" not in fee.note
    (none,) = match_lines(yen, PAYERS, [line("5000", "", payer="Beta LLP", currency="JPY")],
                          D("0"))  # fmt: skip
    assert "INV-2026-0040 ¥10,000" in none.note
    told = {"R1": Instruction("R1", ("INV-2026-0007 1000.50",))}
    (d,) = decide(line("2000.00", "gift", payer="Unknown"), instructions=told)
    assert "add up to KZT\u00a01,000.50, not the KZT\u00a02,000.00 received" in d.note


def test_a_split_typed_with_whole_amounts_is_applied_as_typed() -> None:
    """`INV-2026-0008 100; INV-2026-0007 650` on a 750 line: 100 and 650, not balances."""
    stranger = line("750.00", "?", payer="Unknown")
    told = parse_instruction("R1", "INV-2026-0008 100; INV-2026-0007 650", "Review")
    assert told is not None
    (d,) = decide(stranger, instructions={"R1": told})
    assert (d.status, d.rule) == (APPLIED, "Bookkeeper")
    assert d.allocations == (
        Allocation("INV-2026-0008", D("100")),
        Allocation("INV-2026-0007", D("650")),
    )


@pytest.mark.parametrize(
    ("typed", "amounts"),
    [
        ("INV-2026-0008 100.00; INV-2026-0007 650", ("100.00", "650")),
        ("inv 2026 8: 100; INV-2026-0007 = 650,00", ("100", "650.00")),
        ("INV-2026-0008 KZT100; INV-2026-0007 kzt 650", ("100", "650")),
        ("INV-2026-0008 100 KZT; INV-2026-0007 ₸650", ("100", "650")),
        ("INV 2026 8 100,00; INV 2026 7 650.00", ("100.00", "650.00")),
    ],
)
def test_split_amounts_in_the_forms_bookkeepers_type(typed: str, amounts: tuple[str, str]) -> None:
    told = parse_instruction("R1", typed, "")
    assert told is not None
    (d,) = decide(line("750.00", "?", payer="Unknown"), instructions={"R1": told})
    assert d.status == APPLIED, d.note
    assert [(a.invoice_no, a.amount) for a in d.allocations] == [
        ("INV-2026-0008", D(amounts[0])), ("INV-2026-0007", D(amounts[1]))]  # fmt: skip


def test_a_typed_split_that_does_not_add_up_waits_and_says_so() -> None:
    told = parse_instruction("R1", "INV-2026-0008 100; INV-2026-0007 600", "")
    assert told is not None
    (d,) = decide(line("750.00", "?", payer="Unknown"), instructions={"R1": told})
    assert (d.status, d.allocations) == (REVIEW, ())
    assert "add up to KZT\u00a0700.00, not the KZT\u00a0750.00 received" in d.note
    # A thousand written with a separator may be one: it waits, as in a Paid Amount cell.
    told = parse_instruction("R1", "INV-2026-0008 1,000; INV-2026-0007", "")
    assert told is not None
    (d,) = decide(line("1500.00", "?", payer="Unknown"), instructions={"R1": told})
    assert (d.status, d.allocations) == (REVIEW, ())
    assert '"1,000" could be 1000 or 1' in d.note


#: Two invoices of 1,500 and 2,000 and a payment of 2,500 that no rule could place.
TWO_OPEN = [("INV-2026-0001", "1500", 2), ("INV-2026-0002", "2000", 10)]


def split_typed(typed: str, currency: str, amount: str = "2500"):  # type: ignore[no-untyped-def]
    invoices = [OpenInvoice(n, ACME, currency, date(2026, 3, day), D(b)) for n, b, day in TWO_OPEN]
    told = parse_instruction("R1", typed, "Review")
    assert told is not None
    (d,) = match_lines(invoices, PAYERS, [line(amount, "?", payer="Unknown", currency=currency,
                                               day=date(2026, 3, 20))], D("0"),
                       instructions={"R1": told})  # fmt: skip
    return d


@pytest.mark.parametrize(
    ("typed", "currency", "first", "second"),
    [
        ("INV-2026-0001 600,-; INV-2026-0002", "EUR", "600", "1900"),  # German: a whole 600
        ("INV-2026-0001 600.-; INV-2026-0002 1.900,-", "EUR", "600", "1900"),
        ("INV-2026-0001 0.650; INV-2026-0002", "EUR", "0.65", "2499.35"),  # not 650
        ("INV-2026-0001 1000.500; INV-2026-0002", "KWD", "1000.500", "1499.500"),  # 3 decimals
        ("INV-2026-0001 600.00; INV-2026-0002 1900.00", "EUR", "600", "1900"),
        ("INV-2026-0001 1.5; INV-2026-0002 2498.500", "KWD", "1.5", "2498.5"),
    ],
)  # fmt: skip
def test_a_typed_split_reads_amounts_as_the_paid_amount_cell_does(
    typed: str, currency: str, first: str, second: str
) -> None:
    """The amount after an invoice number is read by the Paid Amount cell's rule, in the
    payment's currency: `600,-` was read as no amount (1,500 and 1,000 applied), `0.650` as
    650 and `1000.500` as no amount."""
    d = split_typed(typed, currency)
    assert (d.status, d.rule) == (APPLIED, "Bookkeeper"), d.note
    assert [(a.invoice_no, a.amount) for a in d.allocations] == [
        ("INV-2026-0001", D(first)), ("INV-2026-0002", D(second))]  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "currency", "told"),
    [
        # 1500 or 1.5: never a guess (it was read as 1500, and 2498.500 as no amount)
        ("INV-2026-0001 1.500; INV-2026-0002 2498.500", "KWD",
         "in 'INV-2026-0001 1.500' the amount cannot be read: \"1.500\" could be 1500 or 1.5: "
         "type the number without a thousands separator. Write it like INV-2026-0001 650.000."),
        ("INV-2026-0001 600 (rest later); INV-2026-0002", "EUR",
         "in 'INV-2026-0001 600 (rest later)' the amount cannot be read: \"600 (rest later)\" "
         "is not a number"),
        ("600 INV-2026-0001; INV-2026-0002", "EUR",
         "in '600 INV-2026-0001' the amount cannot be read: type the Invoice No, then the "
         "amount with its decimals, e.g. INV-2026-0001 650.00."),
        ("INV-2026-0001 600,50,-; INV-2026-0002", "EUR", "'INV-2026-0001 600,50,-' the amount"),
        ("INV-2026-0001 10.005; INV-2026-0002 2489.995", "EUR", "could be 10005 or 10.005"),
        ("INV-2026-0001 600.5; INV-2026-0002 1899.5", "JPY",
         '"600.5" has 1 decimal; JPY amounts have none.'),
        ("INV-2026-0001 €600; INV-2026-0002", "USD",
         '"€600" is in EUR, but the payment is in USD; type it in USD.'),
        ("INV-2026-0001 -600; INV-2026-0002", "EUR", '"-600" is negative'),
    ],
)  # fmt: skip
def test_a_typed_amount_that_cannot_be_read_waits_and_says_which(
    typed: str, currency: str, told: str
) -> None:
    """An amount present but unread is never taken as no amount (the payment spread over
    the invoices oldest first): the line waits, naming the part and how to write it."""
    d = split_typed(typed, currency)
    assert (d.status, d.allocations) == (REVIEW, ())
    assert told in d.note


def test_a_whole_number_that_may_be_part_of_the_invoice_number_waits() -> None:
    """Numbers are `{seq}`: `42 100` is invoice 42 with 100, or 42 then invoice 100."""
    invoices = [OpenInvoice("42", ACME, "KZT", date(2026, 2, 1), D("500.00")),
                OpenInvoice("100", ACME, "KZT", date(2026, 2, 2), D("500.00"))]  # fmt: skip
    told = parse_instruction("R1", "42 100; 100", "")
    assert told is not None
    (d,) = match_lines(invoices, PAYERS, [line("600.00", "?", payer="Unknown")], D("0"),
                       instructions={"R1": told})  # fmt: skip
    assert d.status == APPLIED, d.note  # `42 100` is exactly invoice 42 and 100
    assert [(a.invoice_no, a.amount) for a in d.allocations] == [
        ("42", D("100")), ("100", D("500.00"))]  # fmt: skip
    told = parse_instruction("R1", "Rechnung 42 100", "")
    assert told is not None
    (d,) = match_lines(invoices, PAYERS, [line("100.00", "?", payer="Unknown")], D("0"),
                       instructions={"R1": told})  # fmt: skip
    assert d.status == REVIEW and "decimals" in d.note, d.note


MUELLER, ORSTED, OTHER = "mueller", "orsted", "other"
#: `number_format = "{year}-{seq:04d}"`: invoice numbers of digits only
PLAIN_NUMBERS = [
    OpenInvoice("2026-0002", OTHER, "EUR", date(2026, 2, 2), D("500.00")),
    OpenInvoice("2026-0003", OTHER, "EUR", date(2026, 2, 3), D("980.00")),
    OpenInvoice("2026-0004", MUELLER, "EUR", date(2026, 2, 4), D("1234.56")),
    OpenInvoice("2026-0005", ORSTED, "EUR", date(2026, 2, 5), D("980.00")),
]
PLAIN_PAYERS = Payers({"DE89370400440532013000": MUELLER, "ORSTED123": ORSTED},
                      {MUELLER: MUELLER, ORSTED: ORSTED, OTHER: OTHER})  # fmt: skip


@pytest.mark.parametrize(
    ("reference", "payer_id", "amount", "paid"),
    [("Lohnbuchhaltung 2026-02", "DE89370400440532013000", "1234.56", "2026-0004"),
     ("Jahresabschluss 2025, Zahlung 2026-03-05", "ORSTED123", "980.00", "2026-0005"),
     ("Zahlung 05.03.2026 Honorar 2026/03", "ORSTED123", "980.00", "2026-0005")],
)  # fmt: skip
def test_a_month_or_date_is_not_a_plain_invoice_number(
    reference: str, payer_id: str, amount: str, paid: str
) -> None:
    """A client paying its own invoice with a month or a date in the purpose: the month is
    not read as another client's invoice; the payer and the amount decide."""
    bank_line = line(amount, reference, ids=(payer_id,), currency="EUR")
    (d,) = match_lines(PLAIN_NUMBERS, PLAIN_PAYERS, [bank_line], D("0"))
    assert (d.status, d.rule, d.allocations) == (APPLIED, "Amount", (Allocation(paid, D(amount)),))


@pytest.mark.parametrize(
    ("reference", "named"),
    [("Rechnung 2026-0002", ["2026-0002"]),
     ("Re. 2026-0002, 2026-0003", ["2026-0002", "2026-0003"]),
     ("2026-0002/2026-0003", ["2026-0002", "2026-0003"]), ("Rechnung 2026-002", ["2026-0002"]),
     ("Rechnung 2026-0002-05", []), ("20260003", ["2026-0003"])],
)  # fmt: skip
def test_plain_invoice_numbers_written_as_issued_are_found(
    reference: str, named: list[str]
) -> None:
    assert NumberIndex([i.invoice_no for i in PLAIN_NUMBERS]).find(reference) == named


@pytest.mark.parametrize("reference", ["inv 2026 7", "№INV-2026-0007", "INV-2026-07 Feb"])
def test_invoice_numbers_with_letters_may_drop_their_zeros(reference: str) -> None:
    assert NumberIndex(["INV-2026-0007", "INV-2026-0002"]).find(reference) == ["INV-2026-0007"]
