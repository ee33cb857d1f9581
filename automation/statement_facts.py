"""The facts a statement of account is built from, gathered from the ledger and the sheet.

The ledger holds every invoice the tool issued (date, first due date, total)
and the payment cells earlier runs saw, which date each part payment; the
Invoices sheet holds Paid Amount and Paid Date as they stand now. Each run
records the cells it sees (`record_paid_cells`), so a later statement can put
every part payment on its own date.

    with ledger.transaction():
        record_paid_cells(ledger, rows, as_of)
    statements = gather_statements(ledger, rows, book, date(2026, 10, 1), date(2026, 10, 31))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from .compose import ghost_client
from .ledger import CreditNote, Ledger, LedgerInvoice
from .model import Client, InvoiceRow
from .money import ZERO
from .plan import Payments, balance_of
from .statement import (
    DISCOUNT,
    CreditFact,
    InvoiceFact,
    PaymentFact,
    Statement,
    build_statement,
    payments_from_history,
)
from .updates import state_of
from .validate import ClientBook, client_key

#: Payment cells as seen: (cumulative Paid Amount, Paid Date).
PaidCells = tuple[Decimal, date | None]


def client_for(book: ClientBook, st: Statement) -> Client:
    key = client_key(st.client)
    return book.clients.get(key) or Client(key=key, name=st.client, emails=())


def record_paid_cells(ledger: Ledger, rows: dict[str, InvoiceRow], seen: date) -> int:
    """Keep the payment cells of the tool's invoices as they stand (usable ones only)."""
    known = ledger.known_numbers(rows)
    cells = {
        number: (row.paid_amount or ZERO, row.paid_date)
        for number, row in rows.items()
        if number in known and row.problem is None
    }
    return ledger.record_paid_cells(cells, seen)


def gather_statements(
    ledger: Ledger,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    start: date,
    end: date,
    only: str | None = None,
) -> list[Statement]:
    """One statement per client and currency with activity in the period or a balance."""
    invoices = ledger.invoices()
    history = ledger.paid_cells()
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
            p for inv in group for p in payment_facts(inv, history, rows.get(inv.invoice_no))
        ]
        credits = credit_facts(notes, group)
        st = build_statement(client.name, currency, facts, payments, credits, start, end)
        if st.has_activity or only is not None:
            statements.append(st)
    return sorted(statements, key=lambda s: (s.client.casefold(), s.currency))


def payment_facts(
    inv: LedgerInvoice,
    history: dict[str, list[PaidCells]],
    row: InvoiceRow | None,
) -> list[PaymentFact]:
    """The invoice's payments (dated by the runs that saw them), then any discount.

    "Discount" is what the Invoices sheet's Balance lets go beyond credit notes
    and payments: an early-payment discount earned, or the cent a payment
    within a cent of the amount due settles (`plan.balance_of`). It is dated
    with the latest payment, so the statement agrees with the sheet to the cent.
    """
    seen = list(history.get(inv.invoice_no, []))
    if row is not None and row.problem is None:
        now = (row.paid_amount or ZERO, row.paid_date)
        if not seen or seen[-1] != now:
            seen.append(now)
    facts = payments_from_history(inv.invoice_no, seen)
    paid, paid_date = seen[-1] if seen else (ZERO, None)
    if paid and paid_date is not None:
        _, balance = balance_of(state_of(inv, False), Payments(paid, paid_date))
        let_go = inv.total - inv.credited - paid - balance
        if let_go != ZERO:  # a cent paid too much and let go is negative: it closes at 0 too
            facts.append(PaymentFact(inv.invoice_no, paid_date, let_go, DISCOUNT))
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
