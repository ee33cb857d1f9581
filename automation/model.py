"""Plain immutable records shared by every step of the pipeline.

Steps never mutate these; they make new ones (`dataclasses.replace`).

>>> err = RowError("Services", 17, "Client", '"Acme Ltd" is not in Clients.')
>>> str(err)
'Services row 17, Client: "Acme Ltd" is not in Clients.'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from .text import one_line


@dataclass(frozen=True)
class Money:
    """An amount written into a cell with its currency: a column formatted in another
    currency's symbol does not lend it its format (a EUR total under "$")."""

    amount: Decimal
    currency: str


#: A value the tool writes into a cell. None clears the cell. A Decimal is an amount too.
CellValue = str | int | Decimal | Money | date | datetime | None

# Status names, exactly as the bookkeeper sees them (docs/workbook.md).
LINE_INVOICED = "Invoiced"
LINE_ERROR = "Error"
LINE_SKIPPED = "Skipped"

SENT = "Sent"
OVERDUE = "Overdue"
REISSUED = "Reissued"
PARTIALLY_PAID = "Partially Paid"
PAID = "Paid"
OVERPAID = "Overpaid"
ESCALATED = "Escalated"
FAILED = "Failed"
VOID = "Void"
HOLD = "Hold"
#: Typed by the bookkeeper to cancel an invoice and bill its lines again; the run makes it Void.
REBILL = "Rebill"
DRAFT = "Draft"
#: Statuses the bookkeeper types; the tool never overwrites them (but a processed Rebill).
BOOKKEEPER_STATUSES = frozenset({VOID, HOLD, REBILL})
#: Every status an Invoices row may show; anything else typed there is a mistake to point out.
INVOICE_STATUSES = frozenset(
    {SENT, OVERDUE, REISSUED, PARTIALLY_PAID, PAID, OVERPAID, ESCALATED, FAILED, VOID, HOLD, REBILL}
)


@dataclass(frozen=True)
class RowError:
    """A problem with the input, located for the bookkeeper.

    Attributes:
      sheet: sheet name as the bookkeeper sees it ("" for config/workbook-wide).
      row: Excel row number (1-based), or None for a sheet-wide problem.
      column: the header of the column at fault, or None.
      message: one plain sentence saying what is wrong and what to fix.
    """

    sheet: str
    row: int | None
    column: str | None
    message: str

    def __post_init__(self) -> None:
        # Cell text quoted in a message goes to the terminal, the log and an
        # Error cell: a line break in it must not start a line of its own there.
        for name in ("sheet", "column", "message"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, one_line(value))

    def __str__(self) -> str:
        where = [self.sheet] if self.sheet else []
        if self.row is not None:
            where = [f"{self.sheet} row {self.row}"]
        if self.column:
            where.append(self.column)
        return ", ".join(where) + ": " + self.message if where else self.message


@dataclass(frozen=True)
class Client:
    """One row of the Clients sheet, validated.

    Attributes:
      key: the matching key (case- and space-insensitive form of `name`).
      emails: one or more validated addresses; cc: optional addresses.
      terms: the terms text as written (or the config default).
      tax_rate: a fraction (Decimal('0.12') for twelve percent).
    """

    key: str
    name: str
    emails: tuple[str, ...]
    cc: tuple[str, ...] = ()
    address: str = ""
    terms: str = "Net 30"
    currency: str = "USD"
    language: str = "en"
    tax_rate: Decimal = Decimal("0")
    active: bool = True
    row: int = 0
    #: the identifiers the client pays from (BIN/IIN/INN, IBAN, account), for bank matching
    payer_ids: tuple[str, ...] = ()


class ServiceLine(NamedTuple):
    """One row of the Services sheet, read and (where possible) validated.

    A named tuple rather than a frozen dataclass: a week's new lines are made by
    the ten thousand, and a frozen dataclass sets each field with a call of its own
    (2 us a line, against 0.3).

    Attributes:
      row: Excel row number.
      client_key: the normalised client name, for matching.
      amount: Quantity x Unit Price or the Amount cell, unrounded.
      invoice_no: the Invoice No already on the row, if any.
    """

    row: int
    service_date: date
    client: str
    client_key: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    invoice_no: str | None = None
    status: str | None = None
    error: str | None = None
    due_date: date | None = None


@dataclass(frozen=True)
class InvoiceRow:
    """One row of the Invoices sheet as the workbook shows it now."""

    row: int
    invoice_no: str
    client: str = ""
    currency: str = ""
    terms: str = ""
    invoice_date: date | None = None
    due_date: date | None = None
    total: Decimal | None = None
    paid_amount: Decimal | None = None
    paid_date: date | None = None
    balance: Decimal | None = None
    status: str | None = None
    sent_at: datetime | None = None
    last_sent: datetime | None = None
    reissue: str | None = None
    reissue_count: int = 0
    note: str | None = None
    #: the part of paid_amount that came from bank statements (tool-written)
    paid_by_bank: Decimal | None = None
    #: the Paid Date the sheet showed before this run put a later bank date there: the
    #: date of the part the bookkeeper typed (`bank.apply.heal_rows`)
    typed_date: date | None = None
    #: why the payment cells cannot be used (the payment is then ignored), and where
    problem: str | None = None
    problem_column: str | None = None
    #: the cumulative credit the bookkeeper typed (None: blank, or not a number: see problem)
    credit_amount: Decimal | None = None
    #: the Resend cell says Yes
    resend: bool = False
    #: the Credit Amount cell cannot be read as money (the reason)
    credit_problem: str | None = None
    #: the Resend cell holds neither yes nor no (the text typed)
    resend_problem: str | None = None
    #: the credit notes the Credit Notes cell lists (the tool writes them there)
    credit_notes: tuple[str, ...] = ()
    #: the other Invoices rows carrying this Invoice No (a copied row: see problem); the
    #: tool writes only to `row`, and only its Note, until one row is left
    duplicates: tuple[int, ...] = ()
    #: the columns the tool wrote as issued (Client ... Total) that hold a value it never
    #: wrote: left as typed, each a row error (`updates.flag_edited_cells`)
    typed_over: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)  # slots: a run holds 140,000 of them through the write-back
class CellUpdate:
    """One cell the tool writes: sheet, Excel row, column header, new value."""

    sheet: str
    row: int
    column: str
    value: CellValue


@dataclass(frozen=True)
class InvoiceLine:
    """A line on an invoice document."""

    service_date: date
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    row: int = 0


@dataclass(frozen=True)
class CompanyInfo:
    """The bookkeeper's firm, as printed on invoices and emails."""

    name: str = "Your Company"
    address: str = ""
    email: str = ""
    phone: str = ""
    tax_id: str = ""
    website: str = ""
    bank_name: str = ""
    account_name: str = ""
    account_number: str = ""
    iban: str = ""
    swift: str = ""
    #: the BIC for EPC payment QR codes on EUR invoices (else `swift` is used)
    bic: str = ""
    #: Russian bank details: a GOST R 56042-2014 payment QR code on RUB invoices
    ru_account: str = ""
    ru_bank_name: str = ""
    ru_bic: str = ""
    ru_corr_account: str = ""
    ru_inn: str = ""
    ru_kpp: str = ""


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything printed on one invoice (original or reissue), ready to render.

    Money is already rounded to the currency's minor unit. `reissue_number` is
    0 for the original, n for the n-th reissue (file `<No>-R<n>.docx`).

    Attributes:
      terms_description: the terms in words, in the client's language.
      discount_date / discounted_total: set for `P/D Net N` terms only.
      amount_paid / balance_due: what was received so far and what is still due.
      discount_earned: the early-payment discount the payment earned (`terms.amount_due`),
        shown on reissues and copies so that Total, credits, discount and paid add up.
    """

    invoice_no: str
    invoice_date: date
    due_date: date
    client: Client
    currency: str
    language: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    terms: str
    terms_description: str
    amount_paid: Decimal = Decimal("0")
    balance_due: Decimal = Decimal("0")
    reissue_number: int = 0
    reissue_date: date | None = None
    discount_date: date | None = None
    discounted_total: Decimal | None = None
    company: CompanyInfo = field(default_factory=CompanyInfo)
    #: n for the n-th copy sent on request (Resend), file `<No>-C<n>.docx`
    copy_number: int = 0
    #: what credit notes took off the total so far (shown on reissues and copies)
    credited: Decimal = Decimal("0")
    discount_earned: Decimal = Decimal("0")

    @property
    def file_stem(self) -> str:
        """`INV-2026-0007`, `INV-2026-0007-R2` or `INV-2026-0007-C1` (made file-safe by render)."""
        if self.reissue_number:
            return f"{self.invoice_no}-R{self.reissue_number}"
        if self.copy_number:
            return f"{self.invoice_no}-C{self.copy_number}"
        return self.invoice_no

    @property
    def file_year(self) -> int:
        return self.invoice_date.year


@dataclass(frozen=True)
class CreditNoteDocument:
    """Everything printed on one credit note, ready to render (money already rounded).

    Attributes:
      amount: what this note credits; credited_before: earlier credit notes, together.
      balance: what the client owes once this note is applied (negative: owed back).
      cancels: the note cancels the invoice (Void, Rebill); replacement: a Rebill's new invoices.
    """

    credit_note_no: str
    note_date: date
    invoice_no: str
    invoice_date: date
    invoice_total: Decimal
    client: Client
    currency: str
    language: str
    amount: Decimal
    credited_before: Decimal
    amount_paid: Decimal
    balance: Decimal
    cancels: bool = False
    replacement: tuple[str, ...] = ()
    company: CompanyInfo = field(default_factory=CompanyInfo)

    @property
    def file_stem(self) -> str:
        """`CN-2026-0003` (made file-safe by render)."""
        return self.credit_note_no

    @property
    def file_year(self) -> int:
        """The credit note's own year: saved as `invoices/<year>/<Credit Note No>.docx`."""
        return self.note_date.year
