"""The pure rules of corrections: edited billed rows, and what each correction decides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from automation.config import Config
from automation.corrections import changed_lines, decide_corrections, moved_rows
from automation.ledger import LedgerInvoice
from automation.model import Client, InvoiceLine, InvoiceRow, RowError, ServiceLine
from automation.read import SheetData
from automation.terms import parse_terms
from automation.updates import read_corrections
from automation.validate import ClientBook

D = Decimal
SERVICES = SheetData(
    "Services",
    1,
    {
        c: c
        for c in ("Date", "Client", "Description", "Quantity", "Unit Price", "Amount", "Invoice No")
    },
    frozenset(),
    pd.DataFrame(),
)
INVOICES = SheetData(
    "Invoices",
    1,
    {c: c for c in ("Status", "Credit Amount", "Resend")},
    frozenset(),
    pd.DataFrame(),
)


def ledger_invoice(
    *lines: tuple[int, str, str, str], number: str = "INV-1", **changes: object
) -> LedgerInvoice:
    billed = tuple(
        InvoiceLine(date(2026, 3, 2), text, D(q), D(p), D(q) * D(p), row)
        for row, text, q, p in lines
    )
    total = sum((ln.amount for ln in billed), D(0))
    values: dict[str, object] = dict(
        invoice_no=number,
        client_key="acme",
        client="Acme",
        currency="USD",
        terms="Net 30",
        invoice_date=date(2026, 3, 9),
        due_date=date(2026, 4, 8),
        subtotal=total,
        tax_rate=D(0),
        tax=D(0),
        total=total,
        lines=billed,
    )
    values.update(changes)
    return LedgerInvoice(**values)  # type: ignore[arg-type]


def line(
    row: int,
    text: str,
    qty: str,
    price: str | None,
    amount: str | None = None,
    client: str = "Acme",
    day: date = date(2026, 3, 2),
) -> ServiceLine:
    total = D(amount) if amount else D(qty) * D(price or 0)
    return ServiceLine(
        row, day, client, client.lower(), text, D(qty), None if price is None else D(price), total
    )


def test_rows_sorted_or_moved_are_not_changes() -> None:
    inv = ledger_invoice(
        (2, "Bookkeeping", "3", "100"), (3, "Payroll", "2", "100"), (4, "Payroll", "2", "100")
    )
    rows = [
        line(7, "Payroll", "2", "100"),
        line(8, "Bookkeeping", "3", "100"),
        line(9, "Payroll", "2", None, "200"),
    ]  # the same, typed as an Amount only
    assert changed_lines({"INV-1": rows}, {"INV-1": inv}, set(), SERVICES) == {}


def test_each_change_is_named_with_the_way_out() -> None:
    inv = ledger_invoice((2, "Bookkeeping", "3", "100"), (3, "Payroll", "2", "100"))
    rows = [
        line(2, "Bookkeeping", "3", "100"),
        line(3, "Payroll", "2", "100", client="Birch", day=date(2026, 3, 3)),
    ]
    errors = changed_lines({"INV-1": rows}, {"INV-1": inv}, set(), SERVICES)
    assert list(errors) == [3]
    assert errors[3].column == "Date"
    assert errors[3].message.startswith(
        'Date from 2026-03-02 to 2026-03-03 and Client from "Acme" to "Birch" changed after '
        "the row was billed on INV-1; type Rebill in INV-1's Status"
    )
    assert errors[3].message.endswith("or change it back.")


def test_a_price_change_alone_and_an_extra_row_are_caught() -> None:
    inv = ledger_invoice((2, "Bookkeeping", "3", "100"))
    rows = [line(2, "Bookkeeping", "3", "99", amount="300"), line(5, "Extra", "1", "50")]
    errors = changed_lines({"INV-1": rows}, {"INV-1": inv}, set(), SERVICES)
    assert errors[2].column == "Unit Price" and "from 100 to 99" in errors[2].message
    assert errors[5].column == "Invoice No" and "was not billed on it" in errors[5].message


def test_an_unreadable_billed_row_and_skipped_invoices() -> None:
    inv = ledger_invoice((2, "Bookkeeping", "3", "100"))
    broken = RowError("Services", 2, "Date", "the date is missing; type the date.")
    errors = changed_lines({"INV-1": [broken]}, {"INV-1": inv}, set(), SERVICES)
    assert "this row was billed on INV-1" in errors[2].message
    assert changed_lines({"INV-1": [broken]}, {"INV-1": inv}, {"INV-1"}, SERVICES) == {}
    void = ledger_invoice((2, "Bookkeeping", "3", "100"), voided=date(2026, 3, 10))
    assert changed_lines({"INV-1": [broken]}, {"INV-1": void}, set(), SERVICES) == {}


def test_rows_of_a_rebilled_invoice_find_their_new_number() -> None:
    old = ledger_invoice(
        (2, "Work", "1", "100"),
        (3, "Work", "1", "100"),
        replaced_by=("INV-2",),
        voided=date(2026, 3, 16),
    )
    new = ledger_invoice((2, "Work", "1", "100"), (3, "Work", "1", "100"), number="INV-2")
    rows = [line(2, "Work", "1", "100"), line(3, "Work", "1", "100")]
    moved = moved_rows({"INV-1": rows}, {"INV-1": old, "INV-2": new})
    assert {r: ln.invoice_no for r, ln in moved.items()} == {2: "INV-2", 3: "INV-2"}


BOOK = ClientBook(
    clients={"acme": Client("acme", "Acme", ("a@acme.example",))},
    terms={"acme": parse_terms("Net 30")},
)


def decide(inv: LedgerInvoice, row: InvoiceRow, billed: list[ServiceLine] | None = None):  # type: ignore[no-untyped-def]
    return decide_corrections(
        {inv.invoice_no: inv},
        {inv.invoice_no: row},
        {inv.invoice_no: billed or []},
        BOOK,
        set(),
        date(2026, 3, 16),
        Config(),
        INVOICES,
    )


@pytest.mark.parametrize(
    ("typed", "credited", "paid", "amount", "after", "error"),
    [
        ("150", "0", None, "150", "350", None),
        ("200", "150", None, "50", "300", None),
        ("200", "200", None, None, None, None),  # nothing new
        # lower than issued: the ledger's credits stand, and the bookkeeper is told
        ("100", "200", None, None, None, "Credit Amount $100.00 is less than the $200.00"),
        ("0", "200", None, None, None, "cannot be taken back"),
        ("-50", "0", None, None, None, "Credit Amount -$50.00 is below zero"),
        ("500", "0", "300", None, None, "larger than the $200.00 still open"),
        ("200", "0", "300", "200", "0", None),  # exactly what is open
    ],
)
def test_credit_amount_issues_only_the_increase(
    typed: str,
    credited: str,
    paid: str | None,
    amount: str | None,
    after: str | None,
    error: str | None,
) -> None:
    inv = ledger_invoice((2, "Work", "5", "100"), credited=D(credited))
    row = InvoiceRow(
        5,
        "INV-1",
        credit_amount=D(typed),
        paid_amount=D(paid) if paid else None,
        paid_date=date(2026, 3, 12) if paid else None,
    )
    fixes = decide(inv, row)
    assert [e.column for e in fixes.errors] == (["Credit Amount"] if error else [])
    assert error is None or error in fixes.errors[0].message
    # Left as typed for the bookkeeper to fix, except a lowered amount: the cell shows
    # the credits that stand again.
    assert (fixes.refused_credit == {"INV-1"}) == (
        error is not None and "less than" not in error and "taken back" not in error
    )
    if amount is None:
        assert fixes.credits == ()
        return
    (credit,) = fixes.credits
    assert (credit.amount, credit.balance_after, credit.reason) == (D(amount), D(after), "credit")


@pytest.mark.parametrize(
    ("typed", "resends", "error"),
    [
        ("Yes", 1, False),
        (" y ", 1, False),
        ("Да", 1, False),
        ("Иә.", 1, False),  # the Active cell's words: a full stop typed after is no matter
        ("No", 0, False),
        ("Жоқ.", 0, False),
        (".", 0, True),
        ("", 0, False),
        ("please", 0, True),
        ("x", 0, True),
        (True, 1, False),
        (False, 0, False),
        (1, 1, False),
        (0, 0, False),
        (2, 0, True),
    ],
)  # fmt: skip  (TRUE/FALSE: an Excel checkbox)
def test_a_resend_cell_is_yes_no_or_an_error(typed: object, resends: int, error: bool) -> None:
    inv = ledger_invoice((2, "Work", "5", "100"))
    row = InvoiceRow(5, "INV-1", **read_corrections({"Resend": typed}))
    fixes = decide(inv, row)
    assert len(fixes.resends) == resends
    assert [(e.column, e.message) for e in fixes.errors] == (
        [("Resend", f'"{str(typed).strip()}" is not understood: type Yes to email the client '
          "a copy of INV-1, or clear the cell.")]
        if error
        else []
    )  # fmt: skip


def test_a_credit_note_the_ledger_does_not_know_holds_the_invoice() -> None:
    first, second = "CN-2026-0001", "CN-2026-0002"
    inv = ledger_invoice((2, "Work", "5", "100"), credited=D("100"), credit_notes=(first,))
    for typed in ({"status": "Void"}, {"credit_amount": D(200)}, {"resend": True}):
        row = InvoiceRow(5, "INV-1", credit_notes=(first, second), **typed)  # type: ignore[arg-type]
        fixes = decide(inv, row)
        assert fixes.credits == fixes.rebills == () and fixes.resends == ()
        assert fixes.held == fixes.refused_credit == fixes.troubled == {"INV-1"}
        assert "INV-1" in fixes.no_followup
        ((column, message),) = [(e.column, e.message) for e in fixes.errors]
        assert column == "Credit Notes"
        assert message.startswith(f"{second} is not in this computer's record (.billing/ledger")
        assert f"which knows {first} for INV-1" in message
        assert "If no copy has it and the client never received it, take it out" in message
    # What does not read as a credit note number is no evidence: credited as usual.
    for listed in ((first,), (first, "-"), ("see email",), (first, second.lower())):
        known = decide(inv, InvoiceRow(5, "INV-1", credit_notes=listed, credit_amount=D(200)))
        assert known.held == frozenset() and [c.amount for c in known.credits] == [D(100)]
    assert read_corrections({"Credit Notes": " CN-1; CN-2 ,x\nCN-3 "})["credit_notes"] == (
        "CN-1", "CN-2 ,x", "CN-3",
    )  # fmt: skip


def test_void_rebill_and_resend_decisions() -> None:
    inv = ledger_invoice((2, "Work", "5", "100"), credited=D("100"))
    (void,) = decide(inv, InvoiceRow(5, "INV-1", status="void")).credits
    assert (void.reason, void.amount, void.credited_after) == ("void", D(400), D(500))
    fixes = decide(inv, InvoiceRow(5, "INV-1", status="Rebill"), [line(2, "Work", "6", "100")])
    assert fixes.rebilling == {"INV-1"} and fixes.credits[0].reason == "rebill"
    refused = decide(inv, InvoiceRow(5, "INV-1", status="Rebill"))
    assert refused.credits == () and "no Services row carries INV-1" in refused.errors[0].message
    assert decide(inv, InvoiceRow(5, "INV-1", resend=True)).resends == ("INV-1",)
    honoured = ledger_invoice((2, "Work", "5", "100"), resend_pending=True)
    assert decide(honoured, InvoiceRow(5, "INV-1", resend=True)).cleared == ("INV-1",)
    held = decide(inv, InvoiceRow(5, "INV-1", status="Hold", credit_amount=D(300)))
    assert held.credits == () and held.errors == ()


def test_a_waiting_rebill_names_every_row_it_waits_for_with_its_column() -> None:
    """The Invoices row names the first row and column; each row at fault gets its own
    error, in the Services sheet's headers (Quantity renamed Hours), saying the Rebill
    waits for it. A row that can be billed again is not among them."""
    inv = ledger_invoice((2, "Work", "5", "100"), (3, "More", "1", "100"), (4, "Last", "1", "1"))
    hours = SheetData("Services", 1, {**SERVICES.headers, "Quantity": "Hours"}, frozenset(),
                      pd.DataFrame())  # fmt: skip
    bad = RowError("Services", 2, "Hours", '"2,5h" is not a number; type it in digits.')
    billed = [bad, line(3, "More", "1", "100"), line(4, "Last", "1", "1", client="Nobody")]
    fixes = decide_corrections(
        {"INV-1": inv}, {"INV-1": InvoiceRow(5, "INV-1", status="Rebill")}, {"INV-1": billed},
        BOOK, set(), date(2026, 3, 16), Config(), INVOICES, services=hours,
    )  # fmt: skip
    assert fixes.rebills == () and fixes.credits == ()
    (told,) = fixes.errors
    assert (told.sheet, told.row, told.column) == ("Invoices", 5, "Status")
    assert told.message == (
        'Rebill waits: Services row 2, Hours: "2,5h" is not a number; type it in digits.'
    )
    assert [(e.sheet, e.row, e.column) for e in fixes.blocking] == [
        ("Services", 2, "Hours"), ("Services", 4, "Client")]  # fmt: skip
    assert fixes.blocking[0].message == (
        '"2,5h" is not a number; type it in digits; the Rebill of INV-1 waits for this cell.'
    )
    assert fixes.blocking[1].message.startswith('"Nobody" is not in Clients; add the client')
