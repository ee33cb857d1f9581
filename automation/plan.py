"""Plan the week's work before doing any of it.

Two pure steps: `draft_invoices` groups billable service lines into invoice
drafts (no numbers yet), and `decide_followup` looks at one sent invoice and
the payments typed against it and says what, if anything, to send. Nothing
here touches files, the ledger or the network.

    drafts = draft_invoices(lines, book, as_of=date(2026, 3, 9), config=config)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from .config import Config
from .model import (
    ESCALATED,
    FAILED,
    HOLD,
    OVERDUE,
    OVERPAID,
    PAID,
    PARTIALLY_PAID,
    REBILL,
    REISSUED,
    SENT,
    VOID,
    Client,
    InvoiceLine,
    InvoiceRow,
    ServiceLine,
)
from .money import TOLERANCE, ZERO, round_money
from .terms import BusinessCalendar, Terms, amount_due
from .validate import ClientBook


@dataclass(frozen=True)
class InvoiceDraft:
    """One invoice to issue: a client's billable lines in one currency."""

    client: Client
    terms: Terms
    currency: str
    invoice_date: date
    lines: tuple[ServiceLine, ...]
    invoice_lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def is_billable(line: ServiceLine, as_of: date, bill_after_days: int) -> bool:
    """A service is billable once its date + bill_after_days is on or before the as-of date."""
    return line.service_date + timedelta(days=bill_after_days) <= as_of


def totals(lines: Sequence[InvoiceLine], tax_rate: Decimal, currency: str) -> tuple[Decimal, ...]:
    """(subtotal, tax, total): each figure rounded once; subtotal + tax == total."""
    subtotal = sum((ln.amount for ln in lines), ZERO)
    tax = round_money(subtotal * tax_rate, currency)
    return subtotal, tax, subtotal + tax


def unit_price(line: ServiceLine, currency: str) -> Decimal:
    """The price per unit when only Amount was typed: Amount / Quantity, rounded to the currency."""
    if not line.quantity:
        return round_money(line.amount, currency)
    return round_money(line.amount / line.quantity, currency)


def draft_invoices(
    lines: Iterable[ServiceLine], book: ClientBook, as_of: date, config: Config
) -> list[InvoiceDraft]:
    """One draft per client and currency with all its billable lines, in client order."""
    groups: dict[str, list[ServiceLine]] = defaultdict(list)
    for line in lines:
        client = book.clients[line.client_key]
        if client.active and is_billable(line, as_of, config.billing.bill_after_days):
            groups[line.client_key].append(line)
    drafts = []
    for key in sorted(groups, key=lambda k: book.clients[k].row):
        client = book.clients[key]
        currency = client.currency
        chosen = sorted(groups[key], key=lambda ln: (ln.service_date, ln.row))
        invoice_lines = tuple(
            InvoiceLine(
                service_date=ln.service_date,
                description=ln.description,
                quantity=ln.quantity,
                unit_price=ln.unit_price if ln.unit_price is not None else unit_price(ln, currency),
                amount=round_money(ln.amount, currency),
                row=ln.row,
            )
            for ln in chosen
        )
        subtotal, tax, total = totals(invoice_lines, client.tax_rate, currency)
        drafts.append(
            InvoiceDraft(
                client,
                book.terms[key],
                currency,
                as_of,
                tuple(chosen),
                invoice_lines,
                subtotal,
                tax,
                total,
            )
        )
    return drafts


# -- follow-up of invoices already sent ------------------------------------


@dataclass(frozen=True)
class InvoiceState:
    """What the ledger knows of a sent invoice, as the follow-up needs it."""

    invoice_no: str
    currency: str
    terms: Terms
    invoice_date: date
    due_date: date
    total: Decimal
    last_sent: date | None
    reissue_count: int
    last_reissue: date | None
    escalated: bool
    failed: bool  # its first email has not gone out yet
    credited: Decimal = ZERO  # the credit notes issued against it, together
    voided: bool = False  # cancelled by a credit note (Void or Rebill)
    #: its first email, still owed, reached no To address (planned, or refused by every
    #: To address, though a CC or the bcc archive may have it): the client never had it,
    #: and another message may carry it
    unreached: bool = False
    #: times found owing again after its payment was noted (`LedgerInvoice.reopened`)
    reopened: int = 0


@dataclass(frozen=True)
class Payments:
    """What the bookkeeper typed on the Invoices row."""

    paid: Decimal = ZERO
    paid_date: date | None = None
    bookkeeper_status: str | None = None  # Void, Hold or Rebill, else None
    blocked: bool = False  # the payment cells need fixing: nothing is mailed meanwhile

    @classmethod
    def from_row(cls, row: InvoiceRow | None) -> Payments:
        if row is None:
            return cls()
        status = (row.status or "").strip().casefold()
        held = {s.casefold(): s for s in (VOID, HOLD, REBILL)}.get(status)
        return cls(row.paid_amount or ZERO, row.paid_date, held, row.problem is not None)


@dataclass(frozen=True)
class Followup:
    """The decision for one invoice this run.

    Attributes:
      action: None, "thanks", "underpaid", "overpaid", "reissue" or "escalate".
      event: the ledger key that makes the action happen once.
      amount_due: the total, or what settled it inside the discount window
        (`terms.amount_due`: the amount paid, from the discounted total up to the total).
      with_invoice: the payment note carries the invoice, which never reached the client
        (its own email, refused, is not sent: it would ask for what is paid).
    """

    invoice_no: str
    amount_due: Decimal
    balance: Decimal
    action: str | None = None
    paid: Decimal = ZERO
    event: str | None = None
    reissue_number: int = 0
    new_due: date | None = None
    with_invoice: bool = False

    @property
    def amount_told(self) -> Decimal:
        """The amount the message is about, as the run's summary lists it: what was paid
        for a thank-you, what was paid too much for an overpayment note, else what is due."""
        if self.action == "thanks":
            return self.paid
        return -self.balance if self.action == "overpaid" else self.balance


def balance_of(state: InvoiceState, pay: Payments) -> tuple[Decimal, Decimal]:
    """(amount due, balance) after credit notes, payments and any early-payment discount earned.

    The amount due is the total less what credit notes took off it (the
    discount, when earned, applies to that). A payment within a cent of the
    amount due settles it: the balance is then exactly zero, never a stray cent.

    >>> from .terms import parse_terms
    >>> state = InvoiceState("INV-1", "USD", parse_terms("2/10 Net 30"), date(2026, 3, 2),
    ...                      date(2026, 4, 1), Decimal("100.00"), None, 0, None, False, False)
    >>> balance_of(state, Payments(Decimal("97.99"), date(2026, 3, 5)))
    (Decimal('98.00'), Decimal('0'))
    >>> balance_of(state, Payments(Decimal("99.50"), date(2026, 3, 5)))  # less discount taken
    (Decimal('99.50'), Decimal('0'))
    >>> balance_of(state, Payments(Decimal("100.00"), date(2026, 3, 5)))  # paid in full: fine
    (Decimal('100.00'), Decimal('0'))
    >>> balance_of(state, Payments(Decimal("101.00"), date(2026, 3, 5)))  # over the total
    (Decimal('100.00'), Decimal('-1.00'))
    """
    net = state.total - state.credited
    due = amount_due(state.terms, net, state.currency, state.invoice_date, pay.paid_date, pay.paid)
    balance = round_money(due - pay.paid, state.currency)
    if pay.paid > ZERO and abs(balance) <= TOLERANCE:
        return due, ZERO
    return due, balance


def status_of(state: InvoiceState, pay: Payments, as_of: date) -> str:
    """The Invoices Status, by the SPEC's order of precedence.

    An invoice cancelled by a credit note is `Void` whatever its row says (a
    processed `Rebill` becomes `Void`); one fully credited is `Void` too.
    """
    if state.voided or (state.credited and state.credited >= state.total):
        return VOID
    if pay.bookkeeper_status:
        return pay.bookkeeper_status
    _, balance = balance_of(state, pay)
    if pay.paid > ZERO and abs(balance) <= TOLERANCE:
        return PAID
    if balance < -TOLERANCE:
        return OVERPAID
    if state.escalated:
        return ESCALATED
    if state.failed:
        return FAILED
    if state.last_reissue == as_of:
        return REISSUED
    if pay.paid > ZERO:
        return PARTIALLY_PAID
    if as_of > state.due_date and balance > TOLERANCE:
        return OVERDUE
    if state.reissue_count:
        return REISSUED
    return SENT


def _amount_key(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


#: The follow-ups that answer a payment (the others remind of what is owed).
PAYMENT_NOTES = frozenset({"thanks", "underpaid", "overpaid"})


def note_event(invoice_no: str, kind: str, paid: Decimal, reopened: int = 0) -> str:
    """The ledger event of a payment note: one thank-you each time the invoice is paid,
    one part-payment note per distinct amount in that time; `-<n>` follows the kind from
    the second time on (`reopened`: found owing again so many times since it was paid).

    >>> note_event("INV-1", "thanks", Decimal("300"))
    'INV-1/thanks'
    >>> note_event("INV-1", "underpaid", Decimal("100"), reopened=1)
    'INV-1/underpaid-2/100.00'
    """
    name = f"{kind}-{reopened + 1}" if reopened else kind
    if kind == "thanks":
        return f"{invoice_no}/{name}"
    return f"{invoice_no}/{name}/{_amount_key(paid)}"


def payment_note_of(event: str) -> tuple[str, str, int] | None:
    """(invoice number, kind, reopened) of a payment note's event (`note_event`), else None.

    >>> payment_note_of("INV/7/thanks-2")
    ('INV/7', 'thanks', 1)
    >>> payment_note_of("INV-1/overpaid/20.00")
    ('INV-1', 'overpaid', 0)
    >>> payment_note_of("INV-1/reissue/2") is None
    True
    """
    head, _, last = event.rpartition("/")
    kind, times = _kind_and_times(last)
    if kind == "thanks" and head:
        return head, kind, times
    number, _, middle = head.rpartition("/")
    kind, times = _kind_and_times(middle)
    if kind in ("underpaid", "overpaid") and number:
        return number, kind, times
    return None


def _kind_and_times(name: str) -> tuple[str, int]:
    """("thanks", 1) of "thanks-2"; ("", 0) when the count after "-" is no number."""
    kind, dash, count = name.partition("-")
    if not dash:
        return kind, 0
    return (kind, int(count) - 1) if count.isdigit() and int(count) > 1 else ("", 0)


def notes_this_time(state: InvoiceState, done_events: Collection[str]) -> set[str]:
    """The payment notes that went since the invoice was last found owing again (all of
    them when it never was): "thanks", "underpaid", "overpaid"."""
    found = (payment_note_of(e) for e in done_events)
    return {
        note[1]
        for note in found
        if note is not None and note[0] == state.invoice_no and note[2] == state.reopened
    }


def owing_again(state: InvoiceState, pay: Payments, done_events: Collection[str]) -> bool:
    """Paid, its payment thanked (or the overpayment noted), and now owing again: the
    Paid Amount was lowered (a payment returned). Its next payment in full is thanked
    anew; a bookkeeper typing the same Paid Amount again is no new payment."""
    if state.voided or pay.blocked:
        return False
    _, balance = balance_of(state, pay)
    return balance > TOLERANCE and bool(
        notes_this_time(state, done_events) & {"thanks", "overpaid"}
    )


def decide_followup(
    state: InvoiceState,
    pay: Payments,
    as_of: date,
    config: Config,
    calendar: BusinessCalendar,
    client_active: bool,
    done_events: set[str],
) -> Followup:
    """What to send about one invoice: at most one message, never a repeat.

    An invoice whose own email is still owed gets nothing else (the invoice goes first,
    showing what was paid), unless no To address has that email and the client has
    paid it in full or more meanwhile: the thank-you (or overpayment note) goes instead,
    carrying the invoice, rather than an invoice asking for what is paid.
    """
    due, balance = balance_of(state, pay)
    base = Followup(state.invoice_no, due, balance, paid=pay.paid)
    settled_before_sent = state.unreached and pay.paid > ZERO and balance <= TOLERANCE
    if (
        state.voided
        or pay.bookkeeper_status
        or pay.blocked
        or not client_active
        or ((state.failed or state.last_sent is None) and not settled_before_sent)
        or state.escalated  # a person follows up now: no more automatic mail at all
    ):
        return base
    # Paid after an overpayment note and never short since: Paid Amount lowered to what was
    # due is the refund, and the overpayment note thanked them already.
    notes = notes_this_time(state, done_events)
    refunded = "overpaid" in notes and "underpaid" not in notes
    # Settled with no money since the part-payment note: a credit cleared the rest, and its
    # credit note told the new balance; "thank you for paying ... in full" would be untrue.
    credited = note_event(state.invoice_no, "underpaid", pay.paid, state.reopened) in done_events
    if pay.paid > ZERO:
        if abs(balance) <= TOLERANCE and (refunded or credited):
            return base
        if abs(balance) <= TOLERANCE:
            kind = "thanks"
        elif balance < ZERO:
            kind = "overpaid"
        else:
            kind = "underpaid"
        event = note_event(state.invoice_no, kind, pay.paid, state.reopened)
        if event not in done_events:
            return replace(base, action=kind, event=event, with_invoice=settled_before_sent)
    if settled_before_sent or state.last_sent is None:
        return base  # thanked already: the invoice went with it
    overdue = as_of > state.due_date and balance > TOLERANCE
    waited = (as_of - state.last_sent).days >= config.reissue.every_days
    if not overdue or not waited:
        return base
    if state.reissue_count >= config.reissue.max_count:
        return Followup(state.invoice_no, due, balance, "escalate", pay.paid)
    number = state.reissue_count + 1
    new_due = calendar.adjust(as_of + timedelta(days=config.reissue.due_in_days))
    return Followup(
        state.invoice_no,
        due,
        balance,
        "reissue",
        pay.paid,
        f"{state.invoice_no}/reissue/{number}",
        number,
        new_due,
    )
