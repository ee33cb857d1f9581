"""The facts a statement of account is built from, gathered from the ledger and the sheet.

The ledger holds every invoice the tool issued (date, first due date, total),
every bank line and what it paid (each on its bank date), and the payment
cells earlier runs saw. Paid Amount on the sheet is what the bookkeeper typed
plus Paid By Bank: the bank's part is dated by its lines; the typed part
(Paid Amount - Paid By Bank) by the Paid Date seen with it. Each run records
the typed part it sees (`record_paid_cells`), so a later statement can put
every part payment on its own date.

    with ledger.transaction():
        record_paid_cells(ledger, rows, as_of)
    statements = gather_statements(ledger, rows, book, date(2026, 10, 1), date(2026, 10, 31))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from .bank.store import bank_payments, bank_totals
from .compose import ghost_client
from .ledger import CreditNote, Ledger, LedgerInvoice
from .model import Client, InvoiceRow
from .money import ZERO
from .plan import Payments, balance_of
from .statement import (
    DISCOUNT,
    FEE,
    PAYMENT,
    REFUND,
    ROUNDING,
    CreditFact,
    InvoiceFact,
    PaidSeen,
    PaymentFact,
    Stated,
    Statement,
    build_statement,
    payments_from_history,
)
from .updates import state_of
from .validate import ClientBook, client_key

#: The typed part of the payment cells as seen: (Paid Amount - Paid By Bank, its Paid Date).
PaidCells = tuple[Decimal, date | None]


def client_for(book: ClientBook, st: Statement) -> Client:
    key = client_key(st.client)
    return book.clients.get(key) or Client(key=key, name=st.client, emails=())


def record_paid_cells(ledger: Ledger, rows: dict[str, InvoiceRow], seen: date) -> int:
    """Keep the typed part of the payment cells of the tool's invoices (usable ones only)."""
    known = ledger.known_numbers(rows)
    usable = {n: row for n, row in rows.items() if n in known and row.problem is None}
    latest = {n: t.latest for n, t in bank_totals(ledger, usable).items()}
    # Only a row showing the bank's date may need the date its typed part was seen with.
    before = ledger.paid_cells(
        n for n, day in latest.items() if day is not None and usable[n].paid_date == day
    )
    cells = {
        number: typed_cells(row, latest.get(number), _last(before.get(number)))
        for number, row in usable.items()
    }
    return ledger.record_paid_cells(cells, seen)


def _last(history: Sequence[PaidCells | PaidSeen] | None) -> PaidCells | None:
    return (history[-1][0], history[-1][1]) if history else None


def typed_cells(row: InvoiceRow, bank_latest: date | None, before: PaidCells | None) -> PaidCells:
    """What the bookkeeper typed on the row: Paid Amount - Paid By Bank, with its date.

    The sheet has one Paid Date, the later of the typed payment's and the bank's
    (`bank.apply.heal_rows`): a typed amount that has not changed keeps the date
    it was seen with when the Paid Date now shown is the bank's.

    >>> from automation.model import InvoiceRow
    >>> row = InvoiceRow(2, "INV-1", paid_amount=Decimal("300"), paid_date=date(2026, 3, 12),
    ...                  paid_by_bank=Decimal("100"))
    >>> typed_cells(row, date(2026, 3, 12), (Decimal("200"), date(2026, 3, 3)))
    (Decimal('200'), datetime.date(2026, 3, 3))
    """
    typed = (row.paid_amount or ZERO) - (row.paid_by_bank or ZERO)
    if typed == ZERO:
        return ZERO, None
    day = row.paid_date
    if before is not None and before[0] == typed and day is not None and day == bank_latest:
        day = before[1]
    elif row.typed_date is not None:  # this run's bank payment took the Paid Date cell
        day = row.typed_date
    return typed, day


def gather_statements(
    ledger: Ledger,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    start: date,
    end: date,
    only: str | None = None,
    stated: Mapping[tuple[str, str], Stated] | None = None,
) -> list[Statement]:
    """One statement per client and currency with activity in the period or a balance.

    `stated`: (client key, currency) -> the statement that client was sent for the
    period before, carried forward (`build_statement`); the others show the period as
    the workbook has it now.
    """
    invoices = ledger.invoices()
    history = ledger.paid_history()
    bank = bank_payments(ledger)
    latest = {n: t.latest for n, t in bank_totals(ledger).items()}
    notes = ledger.credit_notes()
    groups: dict[tuple[str, str], list[LedgerInvoice]] = defaultdict(list)
    for inv in invoices.values():
        if only is None or inv.client_key == only:
            groups[(inv.client_key, inv.currency)].append(inv)
    statements = []
    for (key, currency), group in groups.items():
        client = book.clients.get(key) or ghost_client(group[0])
        facts = [InvoiceFact(i.invoice_no, i.invoice_date, i.original_due, i.total) for i in group]
        payments = [
            p
            for inv in group
            for p in payment_facts(
                inv,
                history.get(inv.invoice_no, []),
                rows.get(inv.invoice_no),
                bank.get(inv.invoice_no, []),
                latest.get(inv.invoice_no),
            )
        ]
        credits = credit_facts(notes, group)
        carried = (stated or {}).get((key, currency))
        st = build_statement(client.name, currency, facts, payments, credits, start, end, carried)
        if st.has_activity or only is not None:
            statements.append(st)
    if only is not None and not groups and only in book.clients:
        # A client named but never invoiced: a nil statement, as for a quiet period.
        client = book.clients[only]
        statements.append(build_statement(client.name, client.currency, [], [], [], start, end))
    return sorted(statements, key=lambda s: (s.client.casefold(), s.currency))


def payment_facts(
    inv: LedgerInvoice,
    history: Sequence[PaidSeen],
    row: InvoiceRow | None,
    bank: Sequence[tuple[date, Decimal, Decimal, date | None]] = (),
    bank_latest: date | None = None,
) -> list[PaymentFact]:
    """The invoice's payments: typed ones on their Paid Date, bank ones on their bank dates,
    each recorded on the day the run that saw it ran; then any discount, recorded with
    the latest payment.

    What the Invoices sheet's Balance lets go beyond credit notes and payments
    is a line of its own, dated with the latest payment, so the statement
    agrees with the sheet to the cent: an early-payment discount earned
    (DISCOUNT), the cent a payment within a cent of the amount due settles
    (ROUNDING, `plan.balance_of`); a bank fee written off (FEE) is dated with its
    bank line.
    """
    seen: list[PaidCells | PaidSeen] = list(history)
    if row is not None and row.problem is None:
        now = typed_cells(row, bank_latest, _last(seen))
        if not seen or seen[-1][:2] != now:
            seen.append(now)  # not recorded yet: when it was seen is not known
    facts = payments_from_history(inv.invoice_no, seen)
    for day, amount, fee, applied in bank:  # a bank fee written off is a line of its own
        # less than nothing: Paid Amount lowered below what the bank paid (a payment returned)
        kind = REFUND if amount < ZERO else PAYMENT
        facts.append(PaymentFact(inv.invoice_no, day, amount - fee, kind, applied))
        if fee:
            facts.append(PaymentFact(inv.invoice_no, day, fee, FEE, applied))
    typed, typed_date = seen[-1][:2] if seen else (ZERO, None)
    paid = typed + sum((line[1] for line in bank), ZERO)
    days = [d for d in (typed_date, *(line[0] for line in bank)) if d is not None]
    if paid and days:
        paid_date = max(days)
        due, balance = balance_of(state_of(inv, False), Payments(paid, paid_date))
        discount = inv.total - inv.credited - due  # earned by paying early
        cent = due - paid - balance  # a cent paid too much and let go is negative
        known = [f.recorded for f in facts if f.recorded is not None]
        recorded = max(known) if known else None
        if discount != ZERO:
            facts.append(PaymentFact(inv.invoice_no, paid_date, discount, DISCOUNT, recorded))
        if cent != ZERO:
            facts.append(PaymentFact(inv.invoice_no, paid_date, cent, ROUNDING, recorded))
    return facts


def credit_facts(
    notes: Iterable[CreditNote], invoices: Iterable[LedgerInvoice]
) -> list[CreditFact]:
    """The credit notes (as the ledger recorded them) issued against these invoices."""
    numbers = {inv.invoice_no for inv in invoices}
    return [
        CreditFact(note.credit_note_no, note.invoice_no, note.note_date, note.amount)
        for note in notes
        if note.invoice_no in numbers
    ]
