"""Statements of account: what a client owes, and how it came to that.

Pure: from a client's invoices, payments and credit notes (plain facts, in one
currency) to a frozen `Statement` for a period. Nothing here reads files, the
ledger or the clock. The opening balance is everything dated before the
period; each invoice, credit note, payment and early-payment discount inside
it moves a running balance; the closing balance is split into open items by
age (days past the due date as of the statement's last day).

A statement that follows one the client was sent (`Stated`) carries that one's
closing balance forward as its opening: an item dated before the period but
recorded after that statement was made (a payment typed or imported days
after the month's statement went out) is a line of its own, on its own date,
marked `LATE`; anything else that changed in a period already stated is one
`ADJUSTMENT` line, so the client's statements always follow on from each other.

>>> inv = InvoiceFact("INV-2026-0001", date(2026, 10, 5), date(2026, 11, 4), Decimal("1000.00"))
>>> paid = PaymentFact("INV-2026-0001", date(2026, 11, 10), Decimal("400.00"))
>>> s = build_statement("Acme", "USD", [inv], [paid], [], date(2026, 11, 1), date(2026, 11, 30))
>>> s.opening, [(i.kind, i.amount, i.balance) for i in s.items], s.closing
(Decimal('1000.00'), [('payment', Decimal('-400.00'), Decimal('600.00'))], Decimal('600.00'))
>>> s.aging
(Decimal('0'), Decimal('600.00'), Decimal('0'), Decimal('0'), Decimal('0'))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .money import ZERO, round_money
from .text import number_order

#: Aging buckets, days past the due date on the statement date (as in the receivables report).
AGING_BUCKETS = ("Current", "1-30", "31-60", "61-90", "Over 90")
_BUCKET_LIMITS = ((0, "Current"), (30, "1-30"), (60, "31-60"), (90, "61-90"))

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
PAYMENT = "payment"
DISCOUNT = "discount"
#: A bank fee the payment fell short by, written off (`[bank] fee_tolerance`).
FEE = "fee"
#: The cent a payment within a cent of the amount due settles, either way.
ROUNDING = "rounding"
#: Paid Amount lowered after a run had seen it higher: money paid back (or a payment
#: recorded wrongly, corrected): a charge, dated by the run that saw it lowered.
REFUND = "refund"
#: Whatever changed in periods already stated beyond the items recorded late: one line.
ADJUSTMENT = "adjustment"
#: The note of an item dated in a period already stated but recorded after that statement.
LATE = "late"
#: A payment cell as a run saw it: (Paid Amount, Paid Date, the run's date).
PaidSeen = tuple[Decimal, "date | None", date]
#: Order of items on the same day: what was billed, then what reduced it.
_KIND_ORDER = {INVOICE: 0, CREDIT_NOTE: 1, PAYMENT: 2, DISCOUNT: 3, FEE: 4, ROUNDING: 5,
               REFUND: 6, ADJUSTMENT: 7}  # fmt: skip
#: The kinds that settle an invoice beside the money received.
LET_GO = (DISCOUNT, FEE, ROUNDING)


@dataclass(frozen=True)
class InvoiceFact:
    """An invoice issued to the client.

    Attributes:
      due_date: the due date it was first sent with (reissues do not make a debt younger).
      total: the amount invoiced, tax included, rounded to the currency.
    """

    invoice_no: str
    invoice_date: date
    due_date: date
    total: Decimal


@dataclass(frozen=True)
class PaymentFact:
    """Money received against an invoice, or what settled it beside that (`LET_GO`).

    Attributes:
      recorded: the day the tool learnt of it (the run that saw it typed, or imported
        its bank line); None when not known (taken as known all along).
    """

    invoice_no: str
    paid_on: date
    amount: Decimal
    kind: str = PAYMENT
    recorded: date | None = None


@dataclass(frozen=True)
class CreditFact:
    """A credit note: `amount` taken off `invoice_no` on `issued_on`."""

    number: str
    invoice_no: str
    issued_on: date
    amount: Decimal


@dataclass(frozen=True)
class StatementItem:
    """One line of the statement.

    Attributes:
      kind: INVOICE, CREDIT_NOTE, PAYMENT, DISCOUNT, FEE, ROUNDING, REFUND or ADJUSTMENT.
      reference: the invoice or credit note number ("" for a payment).
      invoice_no: the invoice the item concerns ("" for an ADJUSTMENT).
      amount: signed: positive adds to what the client owes, negative reduces it.
      balance: the running balance after this item.
      note: LATE for an item dated before the period, recorded after the previous statement.
    """

    day: date
    kind: str
    reference: str
    invoice_no: str
    amount: Decimal
    balance: Decimal
    note: str = ""


@dataclass(frozen=True)
class Stated:
    """The previous statement the client was sent: its closing balance, the day it was made."""

    closing: Decimal
    made: date


@dataclass(frozen=True)
class OpenItem:
    """An invoice with something still due on the statement date."""

    invoice_no: str
    invoice_date: date
    due_date: date
    total: Decimal
    open_amount: Decimal
    days_overdue: int
    bucket: str


@dataclass(frozen=True)
class Statement:
    """A statement of account for one client in one currency over [start, end].

    Attributes:
      opening / closing: balances before `start` and at the end of `end`.
      items: the period's invoices, credit notes, payments and discounts, in date order.
      open_items: invoices still open on `end`, oldest due date first.
      aging: open amounts per AGING_BUCKETS.
      unapplied: money the client has paid beyond its invoices (negative or zero);
        sum(aging) + unapplied == closing.
    """

    client: str
    currency: str
    start: date
    end: date
    opening: Decimal
    items: tuple[StatementItem, ...]
    closing: Decimal
    open_items: tuple[OpenItem, ...]
    aging: tuple[Decimal, ...]
    unapplied: Decimal

    @property
    def has_activity(self) -> bool:
        """Anything happened in the period, or something is (or was) owed."""
        return bool(self.items) or self.opening != ZERO or self.closing != ZERO

    @property
    def due(self) -> Decimal:
        """What the statement asks the client to pay: what its open invoices still need.

        Money paid beyond other invoices (`unapplied`) is not taken off it: each invoice
        is settled on its own, so an invoice paid short by that money would be chased.
        It is the client's, refunded (or set against an invoice when they ask)."""
        return sum(self.aging, ZERO)

    def total_of(self, kind: str) -> Decimal:
        """The period's items of one kind, added up (signed)."""
        return sum((item.amount for item in self.items if item.kind == kind), ZERO)


def days_overdue(due: date, on: date) -> int:
    """Whole days past the due date; 0 when not yet due."""
    return max(0, (on - due).days)


def aging_bucket(due: date, on: date) -> str:
    """The aging bucket of an amount due on `due`, seen on `on`.

    >>> aging_bucket(date(2026, 3, 1), date(2026, 3, 31))
    '1-30'
    >>> aging_bucket(date(2026, 3, 1), date(2026, 3, 1))
    'Current'
    """
    days = (on - due).days
    for limit, name in _BUCKET_LIMITS:
        if days <= limit:
            return name
    return AGING_BUCKETS[-1]


def previous_month(on: date) -> tuple[date, date]:
    """The calendar month before the one `on` falls in: (first day, last day).

    >>> previous_month(date(2026, 1, 15))
    (datetime.date(2025, 12, 1), datetime.date(2025, 12, 31))
    """
    last = on.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def payments_from_history(
    invoice_no: str, history: Sequence[tuple[Decimal, date | None] | PaidSeen]
) -> list[PaymentFact]:
    """Payments from the cumulative Paid Amount cells seen over time, oldest first.

    Each rise is a payment on the Paid Date shown with it; a new Paid Date with
    the same amount corrects the date of the latest payment. A fall is a typing
    mistake corrected, taken back from the latest payments, when it was seen by
    the same run day as the figure it lowers (or when the dates are not known);
    a fall seen later, after a run had taken the higher figure for true, is money
    paid back (a refund), a charge dated by the run that saw it: a statement of a
    past period is not rewritten. So is a fall below what was typed (Paid Amount
    lowered under what the bank paid: an overpayment refunded, or moved to another
    invoice at the client's request), which no typed payment can take back.

    >>> seen = [(Decimal("400"), date(2026, 10, 10)), (Decimal("1000"), date(2026, 11, 5))]
    >>> [(p.paid_on.isoformat(), p.amount) for p in payments_from_history("INV-1", seen)]
    [('2026-10-10', Decimal('400')), ('2026-11-05', Decimal('600'))]
    """
    facts: list[PaymentFact] = []
    previous, previous_seen = ZERO, None
    for entry in history:
        paid, paid_date = entry[0], entry[1]
        seen = entry[2] if len(entry) > 2 else None
        rise = paid - previous
        if rise > ZERO and paid_date is not None:
            facts.append(PaymentFact(invoice_no, paid_date, rise, recorded=seen))
        elif rise < ZERO and seen is not None and previous_seen not in (None, seen):
            facts.append(PaymentFact(invoice_no, seen, rise, REFUND, seen))
        elif rise < ZERO:
            facts, left = _take_back(facts, -rise)
            day = seen or paid_date
            if left > ZERO and day is not None:
                facts.append(PaymentFact(invoice_no, day, -left, REFUND, seen))
        elif (
            facts
            and paid_date is not None
            and facts[-1].kind == PAYMENT
            and (facts[-1].paid_on != paid_date)
        ):
            last = facts.pop()
            facts.append(PaymentFact(invoice_no, paid_date, last.amount, recorded=seen))
        previous, previous_seen = paid, seen
    return facts


def _take_back(facts: list[PaymentFact], amount: Decimal) -> tuple[list[PaymentFact], Decimal]:
    """The payments less `amount`, taken from the latest (a refund stays as it was), and
    what they did not hold."""
    kept = list(facts)
    for index in range(len(kept) - 1, -1, -1):
        if amount <= ZERO:
            break
        last = kept[index]
        if last.kind != PAYMENT:
            continue
        del kept[index]
        if last.amount > amount:
            kept.insert(index, dataclasses.replace(last, amount=last.amount - amount))
        amount -= last.amount
    return kept, max(amount, ZERO)


def build_statement(
    client: str,
    currency: str,
    invoices: Iterable[InvoiceFact],
    payments: Iterable[PaymentFact],
    credits: Iterable[CreditFact],
    start: date,
    end: date,
    stated: Stated | None = None,
) -> Statement:
    """The statement of one client in one currency for the days `start` to `end`.

    With `stated` (the statement the client was sent for the period before) the
    opening balance is that one's closing; items dated before `start` but recorded
    after it was made come first, marked LATE, then one ADJUSTMENT line (dated
    `start`) for whatever else changed before `start` since (a payment's date
    corrected, say), so that the closing balance is still the workbook's.

    >>> inv = InvoiceFact("INV-1", date(2026, 2, 2), date(2026, 3, 4), Decimal("1000.00"))
    >>> late = PaymentFact("INV-1", date(2026, 2, 25), Decimal("400.00"), recorded=date(2026, 3, 9))
    >>> was = Stated(Decimal("1000.00"), made=date(2026, 3, 2))
    >>> march = date(2026, 3, 1), date(2026, 3, 31)
    >>> s = build_statement("Acme", "USD", [inv], [late], [], *march, was)
    >>> s.opening, [(i.day.day, i.amount, i.note) for i in s.items], s.closing
    (Decimal('1000.00'), [(25, Decimal('-400.00'), 'late')], Decimal('600.00'))
    """
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    invoices = [i for i in invoices if i.invoice_date <= end]
    movements = _movements(invoices, payments, credits, currency, end)
    before = [m for m in movements if m.day < start]
    opening = sum((m.amount for m in before), ZERO)
    carried: list[tuple[_Move, str]] = []
    if stated is not None:
        late = [m for m in before if m.recorded is not None and m.recorded > stated.made]
        carried = [(m, LATE) for m in late]
        rest = opening - stated.closing - sum((m.amount for m in late), ZERO)
        if rest != ZERO:
            carried.append((_Move(start, ADJUSTMENT, "", "", rest), ""))
        opening = stated.closing
    balance = opening
    items = []
    period = [(m, "") for m in movements if m.day >= start]
    for move, note in (*carried, *period):
        balance += move.amount
        item = StatementItem(
            move.day, move.kind, move.reference, move.invoice_no, move.amount, balance, note
        )
        items.append(item)
    open_items, unapplied = _open_items(invoices, movements, end)
    aging = tuple(
        sum((o.open_amount for o in open_items if o.bucket == name), ZERO) for name in AGING_BUCKETS
    )
    return Statement(
        client=client,
        currency=currency,
        start=start,
        end=end,
        opening=opening,
        items=tuple(items),
        closing=balance,
        open_items=tuple(open_items),
        aging=aging,
        unapplied=unapplied,
    )


@dataclass(frozen=True)
class _Move:
    day: date
    kind: str
    reference: str
    invoice_no: str
    amount: Decimal
    recorded: date | None = None


def _movements(
    invoices: Sequence[InvoiceFact],
    payments: Iterable[PaymentFact],
    credits: Iterable[CreditFact],
    currency: str,
    end: date,
) -> list[_Move]:
    """Everything up to `end` as signed amounts, in statement order."""
    moves = [
        _Move(i.invoice_date, INVOICE, i.invoice_no, i.invoice_no, round_money(i.total, currency))
        for i in invoices
    ]
    moves += [
        _Move(c.issued_on, CREDIT_NOTE, c.number, c.invoice_no, -round_money(c.amount, currency))
        for c in credits
        if c.issued_on <= end and c.amount
    ]
    moves += [
        _Move(p.paid_on, p.kind, "", p.invoice_no, -round_money(p.amount, currency), p.recorded)
        for p in payments
        if p.paid_on <= end and p.amount
    ]
    return sorted(
        moves,
        key=lambda m: (
            m.day,
            _KIND_ORDER[m.kind],
            number_order(m.invoice_no),
            number_order(m.reference),
        ),
    )


def _by_age(inv: InvoiceFact) -> tuple[date, date, tuple[str | int, ...]]:
    """Oldest due first; on one day, in the order the invoices were issued."""
    return inv.due_date, inv.invoice_date, number_order(inv.invoice_no)


def _open_items(
    invoices: Sequence[InvoiceFact], movements: Sequence[_Move], end: date
) -> tuple[list[OpenItem], Decimal]:
    """Invoices still open on `end`, and what was paid beyond them (<= 0)."""
    open_amount = {i.invoice_no: ZERO for i in invoices}
    unapplied = ZERO
    for move in movements:
        if move.invoice_no in open_amount:
            open_amount[move.invoice_no] += move.amount
        else:  # money against an invoice not on this statement: the client's credit
            unapplied += move.amount
    items = []
    for inv in sorted(invoices, key=_by_age):
        left = open_amount[inv.invoice_no]
        if left > ZERO:
            items.append(
                OpenItem(
                    inv.invoice_no,
                    inv.invoice_date,
                    inv.due_date,
                    inv.total,
                    left,
                    days_overdue(inv.due_date, end),
                    aging_bucket(inv.due_date, end),
                )
            )
        else:
            unapplied += left
    return items, unapplied
