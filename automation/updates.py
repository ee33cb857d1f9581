"""The cells the run writes back, derived from the ledger and the validation.

The workbook's tool-owned cells converge to what the ledger says: each run
computes them afresh and keeps only the updates that change something, so a
restored copy or a lost write-back heals by itself. A value the bookkeeper
typed over an invoice's cells as issued (Client ... Total) is told and left
as typed instead (`flag_edited_cells`).

    updates = UpdateSet()
    services_updates(data, book, lines, errors, invoiced, {}, as_of, config, updates)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from . import cells
from .compose import terms_of
from .config import Config
from .lazy import lazy_import
from .ledger import Ledger, LedgerInvoice, number_pattern
from .model import (
    BOOKKEEPER_STATUSES,
    HOLD,
    INVOICE_STATUSES,
    LINE_ERROR,
    LINE_INVOICED,
    LINE_SKIPPED,
    OVERPAID,
    PAID,
    PARTIALLY_PAID,
    REBILL,
    VOID,
    CellUpdate,
    CellValue,
    InvoiceRow,
    Money,
    RowError,
    ServiceLine,
)
from .money import CURRENCY_CODES, ZERO, round_money, too_many_decimals
from .plan import InvoiceState, Payments, balance_of, is_billable, status_of
from .read import SheetData, WorkbookData
from .report import Receivable
from .rowformula import work_out
from .schema import INVOICES, INVOICES_COLUMNS, sheet_headers
from .terms import RECEIPT, BusinessCalendar, TermsError, due_date, parse_terms
from .validate import (
    ClientBook,
    client_key,
    column_text,
    emptied_error_rows,
    inactive_rows,
    line_rows,
    other_currency,
    skipped_client,
    unsaved_message,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up


def _differs(current: object, new: CellValue) -> bool:
    if isinstance(new, Money):
        new = new.amount
    if new is None:
        return not cells.is_blank(current)
    if cells.is_blank(current):
        return True
    if isinstance(new, datetime):
        old = cells.cell_datetime(current)
        return old is None or abs((old - new).total_seconds()) >= 1
    if isinstance(new, date):
        try:
            return cells.cell_date(current) != new
        except cells.CellError:
            return True
    if isinstance(new, Decimal | int):
        try:
            return cells.cell_decimal(current) != Decimal(new)
        except cells.CellError:
            return True
    return cells.cell_text(current) != new


def _cells(column: pd.Series) -> Sequence[object]:
    """A column's cells as `.at` gives them, each one by position (the frames hold the
    cells as read, see `read._sheet`)."""
    return cast("Sequence[object]", column.to_numpy(dtype=object))


_UNSEEN: Any = object()


class UpdateSet:
    """Cell updates, keeping only those that change something."""

    def __init__(self) -> None:
        self.updates: dict[tuple[str, int, str], CellUpdate] = {}
        # (id of a sheet's frame, column) -> (Excel row of its first cell, its
        # cells): a frame lookup per cell (`row in index`, `.at`) costs more
        # than the comparison itself.
        self._columns: dict[tuple[int, str], tuple[int, Sequence[object]] | None] = {}
        #: what to tell about where added rows went (outside a table they did not fit in)
        self.notes: list[str] = []

    def _current(self, sheet: SheetData, row: int, column: str) -> tuple[bool, object]:
        """(whether the sheet has this cell, its value)."""
        if column not in sheet.present:
            return False, None
        key = (id(sheet.frame), column)
        found = self._columns.get(key, _UNSEEN)
        if found is _UNSEEN:
            index = sheet.frame.index
            fast = isinstance(index, pd.RangeIndex) and index.step == 1
            found = (int(index.start), _cells(sheet.frame[column])) if fast else None
            self._columns[key] = found
        if found is None:  # not how read.py builds frames, but still answered right
            if row not in sheet.frame.index:
                return False, None
            return True, sheet.frame.at[row, column]
        start, values = found
        if start <= row < start + len(values):
            return True, values[row - start]
        return False, None

    def set(
        self,
        sheet: SheetData | None,
        sheet_name: str,
        row: int,
        column: str,
        value: CellValue,
        headers: dict[str, str],
    ) -> None:
        present, current = self._current(sheet, row, column) if sheet is not None else (False, None)
        if present and not _differs(current, value):
            return
        if value is None and not present:
            return
        self.updates[(sheet_name, row, column)] = CellUpdate(
            sheet_name, row, headers[column], value
        )

    def __len__(self) -> int:
        return len(self.updates)

    def values(self) -> list[CellUpdate]:
        return list(self.updates.values())


def services_updates(
    data: WorkbookData,
    book: ClientBook,
    lines: Sequence[ServiceLine],
    errors: dict[int, RowError],
    invoiced: dict[int, tuple[str, date]],
    due_dates: Mapping[str, date],
    as_of: date,
    config: Config,
    updates: UpdateSet,
) -> None:
    sheet = data.services
    h = sheet.headers

    def put(row: int, column: str, value: CellValue) -> None:
        updates.set(sheet, sheet.name, row, column, value, h)

    for row, error in errors.items():
        put(row, "Status", LINE_ERROR)
        put(row, "Error", error.message)
        if row in invoiced:  # billed, lost its number, then edited: the number goes back
            put(row, "Invoice No", invoiced[row][0])
    for line in lines:
        if line.row in errors:
            continue  # a valid line refused as a whole (an invoice for zero or less)
        if line.row in invoiced:
            number, due = invoiced[line.row]
            put(line.row, "Invoice No", number)
            put(line.row, "Due Date", due)
            put(line.row, "Status", LINE_INVOICED)
            put(line.row, "Error", None)
        elif not book.clients[line.client_key].active and is_billable(
            line, as_of, config.billing.bill_after_days
        ):
            put(line.row, "Status", LINE_SKIPPED)
            put(line.row, "Error", None)
        else:
            put(line.row, "Status", None)
            put(line.row, "Error", None)
    handled = errors.keys() | {line.row for line in lines}
    for row in emptied_error_rows(sheet, handled):
        put(row, "Status", None)  # its line was cleared (or was a spare table row all along)
        put(row, "Error", None)
    skipped = [*inactive_rows(sheet, book, handled), *_inactive_marked(data, book, config)]
    for row in skipped:  # not billed, whatever else is wrong
        put(row, "Status", LINE_SKIPPED)
        put(row, "Error", None)
    for row in _numbered_by_hand(sheet, handled | set(skipped), due_dates, config):
        put(row, "Status", None)  # told before it held that number (`TBD`, say): it is billed
        put(row, "Error", None)
    # Every line of a tracked invoice shows that invoice's current due date (it
    # moves on a reissue); compared in one vectorised pass, written where it differs.
    numbers = column_text(sheet.frame["Invoice No"])
    tracked = numbers.isin(due_dates)
    if tracked.any():
        wanted = pd.to_datetime(numbers[tracked].map(due_dates))
        shown = pd.to_datetime(sheet.frame.loc[tracked, "Due Date"], errors="coerce")
        for row in wanted.index[(shown.dt.normalize() != wanted).to_numpy()]:
            put(int(row), "Due Date", due_dates[numbers[row]])


#: A digit other than 0: an Invoice No without one (`TBD`, `?`, `pending`, `-`, `0`) names
#: no invoice.
_NUMBERING_DIGIT = re.compile(r"[^\D0]")


def no_invoice_numbers(texts: Iterable[str], invoiced: Collection[str], config: Config) -> set[str]:
    """Of Services Invoice No `texts`, those that name no invoice (`TBD`, `?`, `pending`,
    `-`, `n/a`, `0`): no digit but 0, not made by `number_format` (as typed by hand too),
    and not among `invoiced` (the Invoices sheet's Invoice Nos, casefolded)."""
    pattern = number_pattern(config.billing.number_format, loose=True)
    return {
        text
        for text in texts
        if not _NUMBERING_DIGIT.search(text)
        and text.casefold() not in invoiced
        and not pattern.match(text)
    }


def placeholder_lines(data: WorkbookData, config: Config) -> tuple[pd.DataFrame, pd.Series]:
    """The Services lines whose Invoice No names no invoice: `no_invoice_numbers`, and on
    no row of the Invoices sheet (an invoice of the firm's own, typed there before the
    tool, is one whatever its name). A row holding nothing else of a line (a totals row,
    the tool's cells left behind) is none. Returns those rows (as `line_rows`) and the
    Invoice No of each Services row that has one, as text.

    The distinct cells are looked at first: a long history holds no such mark."""
    column = data.services.frame["Invoice No"].dropna()
    distinct = set(column_text(pd.Series(column.unique(), dtype=object))) - {""}
    if not no_invoice_numbers(distinct, (), config):
        return data.services.frame.iloc[:0], column.iloc[:0]
    texts = column_text(column)
    texts = texts[texts != ""]  # a cell of spaces holds no number: the line is unbilled
    invoices = data.invoices
    invoiced = (
        set(column_text(invoices.frame["Invoice No"].dropna()).str.casefold())
        if invoices is not None
        else set()
    )
    marks = no_invoice_numbers(texts.unique(), invoiced, config)
    return line_rows(data.services.frame.loc[texts.index[texts.isin(marks).to_numpy()]]), texts


def _inactive_marked(data: WorkbookData, book: ClientBook, config: Config) -> list[int]:
    """Services rows of inactive clients whose Invoice No names no invoice
    (`placeholder_lines`): Skipped, not told (`reconcile.placeholder_errors`)."""
    if all(client.active for client in book.clients.values()):
        return []
    lines, _texts = placeholder_lines(data, config)
    return [int(row) for row, client in lines["Client"].items() if skipped_client(client, book)]


def _numbered_by_hand(
    sheet: SheetData, handled: Collection[int], due_dates: Mapping[str, date], config: Config
) -> list[int]:
    """Services rows the tool marked Error or Skipped that now hold an Invoice No typed by
    hand (none the ledger issued, none made by `number_format`), told nothing this run:
    their line was billed by hand, so their Status and Error are to be cleared.

    A number made by `number_format` that the ledger does not know (an older ledger put
    back) is left as it is, with its row."""
    frame = sheet.frame
    marked = column_text(frame["Status"]).str.casefold().isin(_MARKS) | (
        frame["Status"].isna() & frame["Error"].notna()
    )
    frame = frame[marked.to_numpy() & frame["Invoice No"].notna().to_numpy()]
    frame = frame[~frame.index.isin(list(handled))]
    if frame.empty:
        return []
    pattern = number_pattern(config.billing.number_format)
    return [
        int(row)
        for row, text in column_text(frame["Invoice No"]).items()
        if text and text not in due_dates and not pattern.match(text)
    ]


#: The Statuses the tool writes on a Services row that was not billed (casefolded).
_MARKS = frozenset(s.casefold() for s in (LINE_ERROR, LINE_SKIPPED))


def invoice_rows(
    sheet: SheetData | None, as_of: date, numbers: Collection[str] | None = None
) -> dict[str, InvoiceRow]:
    """Invoices sheet rows by Invoice No (the bookkeeper's payments are read here, as of
    the run's date `as_of`).

    With `numbers`, only the rows of those invoices: the years of history the
    ledger does not track are not turned into records every run. A row whose
    payment cells cannot be used carries the reason in `problem`, and its
    payment is ignored (and nothing is mailed about it) until it is fixed.
    """
    if sheet is None:
        return {}
    result: dict[str, InvoiceRow] = {}
    frame = sheet.frame[sheet.frame["Invoice No"].notna()]
    if numbers is not None:
        frame = frame[column_text(frame["Invoice No"]).isin(set(numbers)).to_numpy(dtype=bool)]
    # A payment typed as a formula whose result was never saved reads as empty: not as
    # nothing paid (a reminder to a client who paid) but as a cell to fix.
    unsaved = sheet.unsaved_formulas({int(r) for r in frame.index}, TYPED_CELLS)
    records = list(zip(frame.index, frame.to_dict("records"), strict=True))
    rows_of: dict[str, list[int]] = {}
    for row, values in records:
        rows_of.setdefault(cells.cell_text(values["Invoice No"]), []).append(int(row))
    for row, values in records:
        number = cells.cell_text(values["Invoice No"])
        if not number or number in result:
            continue  # a second row of the number: told on the first one's record
        left: list[tuple[str, str]] = []
        if int(row) in unsaved:  # =500+612 saved by a script: worked out
            values, left = _worked_sums(values, unsaved[int(row)], int(row))
        status = cells.cell_text(values["Status"]) or None
        corrections = read_corrections(values)
        try:
            if len(rows_of[number]) > 1:
                others = tuple(rows_of[number][1:])
                result[number] = InvoiceRow(
                    int(row),
                    number,
                    status=status,
                    problem=duplicate_message(number, others),
                    problem_column="Invoice No",
                    duplicates=others,
                    **corrections,
                )
                continue
            if left:
                column, formula = left[0]
                raise PaymentProblem(
                    column,
                    f"{unsaved_message(formula)} Nothing is sent about this invoice until then.",
                )
            paid, paid_date = read_payment(values, as_of, sheet.date_order)
        except PaymentProblem as exc:
            result[number] = InvoiceRow(
                int(row),
                number,
                status=status,
                problem=str(exc),
                problem_column=exc.column,
                **corrections,
            )
            continue
        result[number] = InvoiceRow(
            int(row),
            number,
            paid_amount=paid,
            paid_date=paid_date,
            status=status,
            paid_by_bank=_bank_part(values.get("Paid By Bank")),
            **corrections,
        )
    return result


def duplicate_message(number: str, others: Sequence[int]) -> str:
    """What to tell on a row of `number` that the rows `others` carry too."""
    many = len(others) > 1
    listed = ", ".join(str(r) for r in others[:-1]) + " and " if many else ""
    return (
        f"{number} is also on row{'s' if many else ''} {listed}{others[-1]}: keep one row per "
        "invoice, with the whole payment (Paid Amount is the total received) on it, and delete "
        f"the other{'s' if many else ''}. Nothing is sent about this invoice until then."
    )


#: The Invoices cells the bookkeeper types, read by every run.
TYPED_CELLS = frozenset({"Paid Amount", "Paid Date", "Status", "Credit Amount", "Resend"})
#: The typed cells holding sums of money, which a formula may add up (=500+612).
_SUMS = frozenset({"Paid Amount", "Credit Amount"})


def _worked_sums(
    values: dict[str, Any], formulas: list[tuple[str, str]], row: int
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """An Invoices row's `values` with its sums of money typed as formulas saved without
    their result (=500+612, by a script) worked out (`rowformula.work_out`: numbers only),
    and the formulas (column, formula) still without a value."""
    values = dict(values)
    left = []
    for column, formula in formulas:
        value = work_out(formula, row, {}) if column in _SUMS else None
        if value is None:
            left.append((column, formula))
        else:
            values[column] = value
    return values, left


def _resend_text(value: object) -> str:
    """The Resend cell as text; a checkbox (TRUE, FALSE) or 1 and 0 say yes and no."""
    if value is True or (value.__class__ is int and value == 1):
        return "yes"
    if value is False or (value.__class__ is int and value == 0):
        return "no"
    return cells.cell_text(value)


def read_corrections(values: Mapping[str, object]) -> dict[str, Any]:
    """The Credit Amount, Credit Notes and Resend cells of an Invoices row, as InvoiceRow
    fields."""
    typed = _resend_text(values.get("Resend"))
    found: dict[str, Any] = {
        "resend": cells.yes_or_no(typed) is True,  # Yes/No as the Active cell's; blank is no
        "credit_notes": cells.listed_numbers(values.get("Credit Notes")),
    }
    if typed and cells.yes_or_no(typed) is None:
        found["resend_problem"] = typed
    try:
        found["credit_amount"] = cells.optional_decimal(values.get("Credit Amount"))
    except cells.CellError as exc:
        found["credit_problem"] = str(exc)
    # "€50" on a USD invoice: a credit note for $50.00 nobody typed could not be taken back
    currency = cells.cell_text(values.get("Currency")).upper()
    if told := _in_other_currency(values, "Credit Amount", currency, "the credit"):
        found.pop("credit_amount", None)
        found["credit_problem"] = told
    return found


def _in_other_currency(
    values: Mapping[str, object], column: str, currency: str, what: str
) -> str:
    """Why an amount typed with another currency's sign or code than the invoice's
    (`currency`, its Currency cell) cannot be taken ("€50" in a USD invoice's `column`),
    else ""."""
    meant = other_currency(values.get(column), currency) if currency else None
    if meant is None:
        return ""
    return (
        f'"{cells.cell_text(values.get(column))}" is in {meant}, but the invoice is in '
        f"{currency}; type {what} in {currency}."
    )


def _bank_part(value: object) -> Decimal | None:
    """Paid By Bank as written by the tool; a cell it cannot read counts as not written."""
    try:
        return cells.optional_decimal(value)
    except cells.CellError:
        return None


def flag_unknown_statuses(rows: Mapping[str, InvoiceRow]) -> dict[str, InvoiceRow]:
    """The rows of the invoices the run follows, a Status it does not know made a problem.

    "Viod" meant Void: pointed out, never overwritten, and nothing is sent
    about the invoice until it is fixed. Rows of invoices billed before the
    tool (not in the ledger) are not read, so their own statuses stay fine.
    """
    known = {s.casefold() for s in INVOICE_STATUSES}
    return {
        number: row
        if row.problem or not row.status or row.status.casefold() in known
        else replace(
            row,
            problem=f'"{row.status}" is not a status; type Void, Hold or Rebill, or clear '
            "the cell. Nothing is sent about this invoice until it is fixed.",
            problem_column="Status",
        )
        for number, row in rows.items()
    }


def flag_typed_payment_statuses(
    rows: Mapping[str, InvoiceRow], paid_before: Collection[str] = ()
) -> dict[str, InvoiceRow]:
    """The rows, a payment status typed where no payment is made a problem (after the bank
    statements are applied: a payment just imported is there).

    `Paid` in Status with Paid Amount empty: the bookkeeper means the client
    paid, and the tool would write the status back and remind the client. It
    is pointed out, kept, and nothing is sent about the invoice until the
    payment is typed. A payment status the tool wrote itself (the invoice had
    a payment note: `paid_before`), whose payment was since taken out, is
    simply written over.
    """
    flagged = dict(rows)
    for number, row in rows.items():
        status = (row.status or "").casefold()
        if row.problem or status not in _PAYMENT_STATUSES or row.paid_amount:
            continue
        if number in paid_before:
            continue
        flagged[number] = replace(
            row,
            problem=f'"{row.status}" follows from Paid Amount: type the amount received in Paid '
            "Amount and its date in Paid Date (the Status then follows), or clear the cell. "
            "Nothing is sent about this invoice until then.",
            problem_column="Status",
        )
    return flagged


#: Statuses that say a payment came in (casefolded).
_PAYMENT_STATUSES = frozenset(s.casefold() for s in (PAID, OVERPAID, PARTIALLY_PAID))


#: Less than this off a whole amount of cents is a formula's binary rounding, not money.
_FLOAT_NOISE = Decimal("1e-9")


class PaymentProblem(ValueError):
    """Payment cells a careful bookkeeper would not mean; `column` is the one at fault."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def last_payment_day(as_of: date) -> date:
    """The latest Paid Date a run dated `as_of` takes: that date, or today when later."""
    return max(as_of, date.today())


def read_payment(
    values: Mapping[str, object], as_of: date, date_order: str = ""
) -> tuple[Decimal | None, date | None]:
    """(Paid Amount, Paid Date) of an Invoices row, or PaymentProblem saying what to fix.

    A Paid Date after both the run's date `as_of` and today is refused: the money cannot
    have arrived yet (2062 typed for 2026), and taking it would thank the client for a
    payment the statements of account, which date it, still ask for. Today counts too: a
    run catching up a missed week (`--as-of` last Monday) meets payments that arrived
    since, and a bank's date written by an earlier run.
    """
    ignored = " The payment is ignored until it is fixed."
    try:
        paid = cells.optional_decimal(values["Paid Amount"])
    except cells.CellError as exc:
        raise PaymentProblem("Paid Amount", f"{exc}{ignored}") from None
    currency = cells.cell_text(values.get("Currency")).upper()
    if told := _in_other_currency(values, "Paid Amount", currency, "the amount received"):
        raise PaymentProblem("Paid Amount", f"{told}{ignored}")
    try:
        paid_date = cells.optional_date(values["Paid Date"], date_order)
    except cells.CellError as exc:
        raise PaymentProblem("Paid Date", f"{exc}{ignored}") from None
    if paid is not None and paid < 0:
        raise PaymentProblem("Paid Amount", f"a payment cannot be negative ({paid}).{ignored}")
    if paid is not None and currency and currency in CURRENCY_CODES:
        exact = round_money(paid, currency)
        if paid == exact:
            pass  # as typed (100 stays 100: the notes already sent name it so)
        elif abs(paid - exact) < _FLOAT_NOISE:  # a formula's 100.30000000000001
            paid = exact
        else:  # 0.004: a payment of nothing, or a slip; never a guess at another amount
            raise PaymentProblem(
                "Paid Amount",
                f"{paid} {too_many_decimals(paid, currency)}: type the amount received "
                f"exactly.{ignored}",
            )
    if paid and paid_date is None:
        raise PaymentProblem("Paid Date", f"type the date the payment of {paid} arrived.{ignored}")
    issued = _read_date(values.get("Invoice Date"), date_order)
    if paid_date is not None and issued is not None and paid_date < issued:
        raise PaymentProblem(
            "Paid Date",
            f"the payment date {paid_date.isoformat()} is before the invoice date "
            f"{issued.isoformat()}; check it.{ignored}",
        )
    latest = last_payment_day(as_of)
    if paid_date is not None and paid_date > latest:
        part = "year" if paid_date.year != latest.year else "date"
        raise PaymentProblem(
            "Paid Date",
            f"the payment date {paid_date.isoformat()} is after "
            f"{'the run' if latest == as_of else 'today'}'s date {latest.isoformat()}; a "
            f"payment cannot have arrived yet: check the {part}.{ignored}",
        )
    return paid, paid_date


def payment_errors(sheet: SheetData | None, rows: Mapping[str, InvoiceRow]) -> list[RowError]:
    """The Invoices rows whose payment cells cannot be used, located for the bookkeeper."""
    if sheet is None:
        return []
    errors = []
    for r in sorted(rows.values(), key=lambda r: r.row):
        if not r.problem or not r.row:
            continue
        column = sheet.headers[r.problem_column or "Paid Amount"]
        errors.append(RowError(sheet.name, r.row, column, r.problem))
        for copy in r.duplicates:  # each row of a number on several is told which others
            others = tuple(sorted({r.row, *r.duplicates} - {copy}))
            message = duplicate_message(r.invoice_no, others)
            errors.append(RowError(sheet.name, copy, column, message))
    return sorted(errors, key=lambda e: e.row or 0)


def state_of(inv: LedgerInvoice, failed: bool) -> InvoiceState:
    return InvoiceState(
        invoice_no=inv.invoice_no,
        currency=inv.currency,
        terms=terms_of(inv.terms),
        invoice_date=inv.invoice_date,
        due_date=inv.due_date,
        total=inv.total,
        last_sent=inv.last_sent.date() if inv.last_sent else None,
        reissue_count=inv.reissue_count,
        last_reissue=inv.last_reissue,
        escalated=inv.escalated,
        failed=failed,
        credited=inv.credited,
        voided=inv.voided is not None,
        reopened=inv.reopened,
    )


#: The columns the tool writes as the invoice was issued (Due Date: as a reissue last moved
#: it); one the bookkeeper typed over is told and left as typed (`flag_edited_cells`).
ISSUED_CELLS = ("Client", "Currency", "Terms", "Invoice Date", "Due Date", "Total")


def flag_edited_cells(
    sheet: SheetData | None,
    rows: Mapping[str, InvoiceRow],
    invoices: Mapping[str, LedgerInvoice],
    ledger: Ledger,
    calendar: BusinessCalendar,
    receipt_lag: int,
) -> tuple[dict[str, InvoiceRow], list[RowError]]:
    """The rows, each cell of `ISSUED_CELLS` that holds a value the tool never wrote there
    left as typed (`InvoiceRow.typed_over`), and a row error for each.

    A Due Date moved (more time agreed with the client), a Total lowered, another
    Client: written back without a word, the client would be reminded of a date they
    were told is not the one. Each is told with what the tool wrote and the way out
    (Hold, Credit Amount, Rebill, or the value put back); nothing is sent about the
    invoice (`problem`) and every run says it again until then. Cells are compared as
    read (a date as a date, money to the currency's minor unit, a client as clients
    are matched): a workbook saved again by another program is not an edit. An empty
    cell, or a value the tool wrote there before (the due date before a reissue, in an
    older copy put back), is written as the ledger has it. On Hold, a Due Date typed is
    the extension the Hold stands for: kept, not told. With Void or Rebill typed and
    not done yet, the way out is taken: the row is written as the invoice was issued.

    `calendar` and `receipt_lag` give the due date an invoice was issued with.
    """
    result = dict(rows)
    if sheet is None:
        return result, []
    columns = [c for c in ISSUED_CELLS if c in sheet.present]
    looked = {
        number: row
        for number, row in rows.items()
        if row.row and not row.duplicates and number in invoices
        and not _cancelling(row, invoices[number])
    }  # fmt: skip
    if not columns or not looked:
        return result, []
    read = [*columns, *(["Reissue Count"] if "Reissue Count" in sheet.present else [])]
    frame = sheet.frame.loc[[row.row for row in looked.values()], read]
    found: dict[str, dict[str, object]] = {}
    for number, values in zip(looked, frame.to_dict("records"), strict=True):
        inv = invoices[number]
        typed = {
            column: values[column]
            for column in columns
            if not cells.is_blank(values[column])
            and not _as_issued(column, values[column], inv, sheet.date_order)
        }
        order = sheet.date_order
        if "Due Date" in typed and _due_written(inv, values, order, calendar, receipt_lag):
            del typed["Due Date"]
        if typed:
            found[number] = typed
    # The due dates reissues gave: asked only of the few invoices that may need them.
    reissued = ledger.reissued_due_dates(
        n for n, typed in found.items() if "Due Date" in typed and invoices[n].reissue_count
    )
    errors: list[RowError] = []
    for number, typed in found.items():
        due = _read_date(typed.get("Due Date"), sheet.date_order)
        if due is not None and due in reissued.get(number, ()):
            del typed["Due Date"]
        if not typed:
            continue
        row, inv = rows[number], invoices[number]
        held = Payments.from_row(row).bookkeeper_status == HOLD
        told = [
            (column, _typed_over_message(column, value, inv))
            for column, value in typed.items()
            if not (held and column == "Due Date")
        ]
        errors += [RowError(sheet.name, row.row, sheet.headers[c], m) for c, m in told]
        first = told[0] if told and row.problem is None else (row.problem_column, row.problem)
        result[number] = replace(
            row, typed_over=tuple(typed), problem_column=first[0], problem=first[1]
        )
    return result, errors


def _cancelling(row: InvoiceRow, inv: LedgerInvoice) -> bool:
    """Void or Rebill typed on the row, and not done yet: the way out of an edit."""
    typed = Payments.from_row(row).bookkeeper_status
    return typed == REBILL or (typed == VOID and inv.voided is None)


def _read_date(value: object, order: str) -> date | None:
    """A date cell as a date; None when blank or not a date (the caller tells what it must)."""
    try:
        return cells.optional_date(value, order)
    except cells.CellError:
        return None


def _as_issued(column: str, value: object, inv: LedgerInvoice, order: str) -> bool:
    """Whether a cell of `ISSUED_CELLS` reads as the ledger's value (Due Date: its latest)."""
    if column in ("Invoice Date", "Due Date"):
        wanted = inv.invoice_date if column == "Invoice Date" else inv.due_date
        return _read_date(value, order) == wanted
    if column == "Total":
        if value.__class__ in (int, float) and value == inv.total:
            return True  # the usual cell, as written: without the exact reading (many rows)
        try:
            typed = round_money(cells.cell_decimal(value), inv.currency)
        except cells.CellError:
            return False
        return typed == round_money(inv.total, inv.currency)
    text = cells.cell_text(value)
    if column == "Client":
        return client_key(text) in (inv.client_key, client_key(inv.client))
    if column == "Terms":
        try:
            return parse_terms(text).text == terms_of(inv.terms).text
        except TermsError:
            return False
    return text.upper() == inv.currency.upper()


def _due_written(
    inv: LedgerInvoice,
    values: Mapping[str, object],
    order: str,
    calendar: BusinessCalendar,
    receipt_lag: int,
) -> bool:
    """Whether the row's Due Date, not the ledger's latest, is one the tool wrote before (or
    may have: the row was written by a run this ledger does not know of)."""
    try:
        count = cells.optional_decimal(values.get("Reissue Count"))
    except cells.CellError:
        count = None
    if count is not None and count > inv.reissue_count:
        return True  # an older copy of the ledger put back: the row knows more
    typed = _read_date(values["Due Date"], order)
    if typed is None:
        return False
    terms = terms_of(inv.terms)
    lag = timedelta(days=receipt_lag)
    issued = due_date(terms, inv.invoice_date, inv.invoice_date + lag, calendar)
    if typed in (issued, inv.original_due):
        return True
    # Receipt terms count from the day it went: each attempt to send it moved the date.
    latest = inv.due_date if inv.sent_at is None else inv.original_due
    return terms.kind == RECEIPT and issued <= typed <= latest


def _typed_over_message(column: str, value: object, inv: LedgerInvoice) -> str:
    """What to tell of a cell of `ISSUED_CELLS` typed over, and the way out."""
    wrote: str
    if column == "Due Date":
        wrote = inv.due_date.isoformat()
    elif column == "Invoice Date":
        wrote = inv.invoice_date.isoformat()
    elif column == "Total":
        wrote = str(round_money(inv.total, inv.currency))
    else:
        wrote = {"Client": inv.client, "Currency": inv.currency, "Terms": inv.terms}[column]
    shown = cells.cell_text(value)
    if column in ("Client", "Currency", "Terms"):
        shown, wrote = f'"{shown}"', f'"{wrote}"'
    said = f"{shown} was typed over the {column.lower()} the tool wrote, {wrote}"
    back = f"put {wrote} back"
    if inv.voided is not None:
        way = f"the invoice is void (cancelled by a credit note): {back}"
    elif column == "Due Date":
        way = (
            "reminders follow the tool's due date, not the cell. To give the client more "
            "time, type Hold in Status (nothing more is sent until you clear it); otherwise "
            f"{back}"
        )
    elif column == "Total":
        way = (
            "an issued invoice is not changed. To lower what the client owes, type the "
            "reduction in Credit Amount (a credit note is issued), or type Rebill in Status "
            f"to bill its Services rows again; otherwise {back}"
        )
    else:
        how = {
            "Client": "bill another client, correct its Services rows and",
            "Currency": "bill in another currency, correct the client's Currency in Clients and",
            "Terms": "change the terms, correct the client's Terms in Clients and",
            "Invoice Date": "date it anew,",
        }[column]
        way = (
            f"an issued invoice is not changed. To {how} type Rebill in Status (a credit note "
            f"cancels it and a new invoice is issued); otherwise {back}"
        )
    return f"{said}: {way}. Nothing is sent about this invoice until then."


def invoices_updates(
    data: WorkbookData,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    updates: UpdateSet,
    config: Config,
    typed_credit: Collection[str] = (),
    held: Collection[str] = (),
    kept: Collection[str] = (),
) -> dict[str, Decimal]:
    """Bring the Invoices sheet in line with the ledger; returns outstanding per currency.

    `invoices`: in the ledger's order, the order they were issued in (`Ledger.invoices`).
    `typed_credit`: invoices whose Credit Amount, as typed, was refused: it is
    left for the bookkeeper to correct (elsewhere the ledger's credits are shown).
    `held`: invoices whose row knows more than the ledger (`Corrections.held`): only
    their Note is written, the rest of the row is left as it is. `kept`: invoices whose
    row shows more sent than the ledger knows (`OlderRecord.ahead`): not written at all,
    its Note, Last Sent and Reissue Count being newer than the ledger's.
    """
    sheet = data.invoices
    name = sheet.name if sheet else INVOICES
    headers = (
        sheet.headers
        if sheet
        else dict(
            zip(
                [c.name for c in INVOICES_COLUMNS],
                sheet_headers(INVOICES, config.columns),
                strict=True,
            )
        )
    )
    # New rows go into the sheet's table, else below everything in the sheet (below the
    # headers of the sheet the run creates).
    next_row = data.first_new_row(INVOICES)
    if sheet:
        added = sum(1 for n in invoices if n not in rows or not rows[n].row)
        next_row, note = sheet.append_rows(added)
        if note:
            updates.notes.append(note)
    outstanding: dict[str, Decimal] = {}
    # Rows added in the order the invoices were issued: `invoices` is in the ledger's order,
    # kept within a day (their text would put N10 before N2 under a format with no width).
    for number in sorted(invoices, key=lambda n: invoices[n].invoice_date):
        inv = invoices[number]
        existing = rows.get(number)
        pay = Payments.from_row(existing)
        state = state_of(inv, number in failed)
        status = status_of(state, pay, as_of)
        _, balance = balance_of(state, pay)
        if status not in CLOSED and balance > 0:
            outstanding[inv.currency] = outstanding.get(inv.currency, ZERO) + balance
        if existing is None or not existing.row:
            row, target = next_row, None
            next_row += 1
        else:
            row, target = existing.row, sheet
        # A row copied (`InvoiceRow.duplicates`): which of its rows holds the payment is
        # the bookkeeper's to say; both are left as typed, the first told why (its Note).
        copied = existing is not None and bool(existing.duplicates)
        if number in kept and target is not None:
            continue
        if (number in held or copied) and target is not None:
            updates.set(target, name, row, "Note", inv.note or None, headers)
            continue
        values: dict[str, CellValue] = {
            "Invoice No": number,
            "Client": inv.client,
            "Currency": inv.currency,
            "Terms": inv.terms,
            "Invoice Date": inv.invoice_date,
            "Due Date": inv.due_date,
            "Total": Money(inv.total, inv.currency),
            "Balance": Money(balance, inv.currency),
            "Sent At": inv.sent_at,
            "Last Sent": inv.last_sent,
            "Reissue": "Yes" if inv.last_reissue == as_of else None,
            "Reissue Count": inv.reissue_count,
            "Note": inv.note or None,
        }
        if number not in typed_credit:  # else left as it is, for the bookkeeper to see
            values["Credit Amount"] = Money(inv.credited, inv.currency) if inv.credited else None
            values["Credit Notes"] = "; ".join(inv.credit_notes) or None
        if inv.resend_pending:
            values["Resend"] = None  # honoured: the copy is sent (or owed until it is)
        mistyped = existing is not None and existing.problem_column == "Status"
        if (status not in BOOKKEEPER_STATUSES and not mistyped) or status == VOID:
            values["Status"] = status  # Void: also an invoice credited in full
        if existing is not None and not existing.row:  # a row lost, rebuilt from the ledger
            values["Paid Amount"] = existing.paid_amount
            values["Paid Date"] = existing.paid_date
            if status in BOOKKEEPER_STATUSES:
                values["Status"] = status
        if existing is not None and existing.paid_by_bank is not None:
            # Payments from bank statements (bank.apply): the tool writes the payment cells.
            values["Paid Amount"] = existing.paid_amount
            values["Paid Date"] = existing.paid_date
            values["Paid By Bank"] = Money(existing.paid_by_bank, inv.currency)
        for column, value in values.items():
            if existing is None or column not in existing.typed_over:  # left for the bookkeeper
                updates.set(target, name, row, column, value, headers)
    return outstanding


#: Statuses after which nothing is owed and nothing more is sent unprompted.
CLOSED = frozenset({PAID, OVERPAID, VOID})
#: What a settled invoice remembers of its row: the cells only the bookkeeper types.
PAYMENT_CELLS = ("Paid Amount", "Paid Date", "Status", "Credit Amount", "Resend")


def payment_cells(sheet: SheetData | None, numbers: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Invoice No -> the text of its payment cells (vectorised over the sheet); of a number
    on several rows, the first row's (the one `invoice_rows` reads)."""
    if sheet is None or not numbers:
        return {}
    frame = sheet.frame[sheet.frame["Invoice No"].notna()]
    keys = column_text(frame["Invoice No"])
    mine = (keys.isin(set(numbers)) & ~keys.duplicated()).to_numpy(dtype=bool)
    if not mine.any():
        return {}
    parts = [column_text(frame.loc[mine, column]).tolist() for column in PAYMENT_CELLS]
    return dict(zip(keys[mine], zip(*parts, strict=True), strict=True))


def paid_after(sheet: SheetData | None, numbers: Collection[str], as_of: date) -> set[str]:
    """Those of `numbers` whose Paid Date is after `last_payment_day(as_of)` (vectorised
    over the sheet; a date typed as text is read row by row). Such a payment is refused
    (`read_payment`), but an older version took it and settled the invoice: it is looked at
    again, and told."""
    if sheet is None or not numbers:
        return set()
    as_of = last_payment_day(as_of)
    frame = sheet.frame[sheet.frame["Invoice No"].notna()]
    keys = column_text(frame["Invoice No"])
    mine = keys.isin(set(numbers)).to_numpy(dtype=bool)
    if not mine.any():
        return set()
    keys, paid_dates = keys[mine], frame.loc[mine, "Paid Date"]
    text = paid_dates.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    stamps = pd.to_datetime(paid_dates.where(~text), errors="coerce")
    found = set(keys[(stamps.dt.normalize() > pd.Timestamp(as_of)).to_numpy(dtype=bool)])
    for number, typed in zip(keys[text], paid_dates[text], strict=True):
        try:
            day = cells.optional_date(typed, sheet.date_order)
        except cells.CellError:
            continue  # read as it was when settled: not this check's to tell
        if day is not None and day > as_of:
            found.add(number)
    return found


def copied_numbers(sheet: SheetData | None, numbers: Collection[str]) -> set[str]:
    """Those of `numbers` on more than one Invoices row (vectorised over the sheet)."""
    if sheet is None or not numbers:
        return set()
    keys = column_text(sheet.frame["Invoice No"])
    keys = keys[keys.isin(set(numbers)).to_numpy(dtype=bool)]
    return set(keys[keys.duplicated()])


def signature(cells: tuple[str, ...]) -> str:
    """Payment cells as one text, as the ledger keeps it for a settled invoice."""
    return "\x1f".join(cells)


def remembered_row(number: str, sig: str, bank: Decimal = ZERO) -> InvoiceRow:
    """A settled invoice's payment cells, for a workbook that lost its row (row 0).

    An older copy restored by the bookkeeper must not turn a paid invoice
    into an unpaid one: what was typed when it was settled is written back.
    Its Paid Amount then held the bank's part too: `bank`, the ledger's bank
    total, comes off, leaving the typed part as a row in the sheet reads it
    (`bank.apply.heal_rows` adds the bank's part back).
    """
    paid, paid_date, status, *_ = sig.split("\x1f")  # older ledgers kept three cells
    try:
        amount = cells.optional_decimal(paid)
        when = cells.optional_date(paid_date)
    except cells.CellError:
        amount, when = None, None
    typed = max((amount or ZERO) - bank, ZERO)
    return InvoiceRow(0, number, paid_amount=typed or None, paid_date=when, status=status or None)


def seen_row(
    number: str, paid: Decimal, paid_date: date | None, status: str | None = None
) -> InvoiceRow:
    """An open invoice's payment as the last run saw it typed (`Ledger.paid_cells`), and
    the bookkeeper's Hold if its row said so, for a workbook that lost its row (row 0): a
    part payment is not forgotten, the client told what is still due is not asked for the
    whole total again, and a client held back is not mailed."""
    return InvoiceRow(0, number, paid_amount=paid or None, paid_date=paid_date, status=status)


def receivables(
    invoices: dict[str, LedgerInvoice], rows: dict[str, InvoiceRow], failed: set[str], as_of: date
) -> list[Receivable]:
    items = []
    for number, inv in invoices.items():
        pay = Payments.from_row(rows.get(number))
        state = state_of(inv, number in failed)
        status = status_of(state, pay, as_of)
        _, balance = balance_of(state, pay)
        if status in CLOSED and balance >= 0:
            continue  # nothing more is owed; what the client paid over is listed, owed back
        items.append(
            Receivable(
                number,
                inv.client,
                inv.currency,
                inv.invoice_date,
                inv.original_due,  # aging counts from the first due date, not a reissue's
                inv.total,
                pay.paid,
                balance,
                status,
                inv.credited,
            )
        )
    return items
