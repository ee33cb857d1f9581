"""The receivables report: open invoices and their aging, written fresh each run.

One workbook per as-of date, `receivables-<as-of>.xlsx`, with two sheets:
"Open invoices" (one row per invoice with a balance, after its credit notes)
and "Aging" (balances per client and currency in buckets of days past due,
totals per currency and a chart), and a third, "Credit notes", listing the
year's credit notes when there are any. Currencies are never added together.

>>> aging_bucket(date(2026, 3, 1), date(2026, 3, 31))
'1-30'
>>> aging_bucket(date(2026, 3, 1), date(2026, 3, 1))
'Current'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .money import ZERO, minor_unit, round_money

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

AGING_BUCKETS = ("Current", "1-30", "31-60", "61-90", "Over 90")
#: Upper bound (days overdue, inclusive) of each bucket but the last.
_BUCKET_LIMITS = ((0, "Current"), (30, "1-30"), (60, "31-60"), (90, "61-90"))

OPEN_SHEET = "Open invoices"
AGING_SHEET = "Aging"
OPEN_HEADERS = (
    "Invoice No",
    "Client",
    "Currency",
    "Invoice Date",
    "Due Date",
    "Total",
    "Paid",
    "Balance",
    "Days Overdue",
    "Bucket",
    "Status",
    "Credited",
)
OPEN_WIDTHS = (16, 28, 9, 12, 12, 14, 14, 14, 12, 10, 15, 14)
CREDIT_SHEET = "Credit notes"
CREDIT_HEADERS = ("Credit Note No", "Date", "Invoice No", "Client", "Currency", "Amount", "Reason")
CREDIT_WIDTHS = (16, 12, 16, 28, 9, 14, 10)
#: Aging table starts below a title line.
_AGING_HEADER_ROW = 2


class ReportError(Exception):
    """The report could not be written (e.g. last week's copy is open in Excel)."""


@dataclass(frozen=True)
class Receivable:
    """One invoice as the receivables report shows it.

    Attributes:
      total / paid / balance: amounts in `currency`; balance is what is still due.
      status: the invoice status as in the Invoices sheet.
    """

    invoice_no: str
    client: str
    currency: str
    invoice_date: date
    due_date: date
    total: Decimal
    paid: Decimal
    balance: Decimal
    status: str
    credited: Decimal = ZERO  # the credit notes against it, together


@dataclass(frozen=True)
class CreditNoteItem:
    """One credit note as the report lists it (reason: void, rebill or credit)."""

    credit_note_no: str
    note_date: date
    invoice_no: str
    client: str
    currency: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class AgingRow:
    """Balances of one client in one currency, per bucket (Decimal, rounded)."""

    client: str
    currency: str
    buckets: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return sum(self.buckets, ZERO)


def days_overdue(due: date, as_of: date) -> int:
    """Whole days past the due date; 0 when not yet due."""
    return max(0, (as_of - due).days)


def aging_bucket(due: date, as_of: date) -> str:
    """The aging bucket of an invoice due on `due`, seen on `as_of`."""
    days = (as_of - due).days
    for limit, name in _BUCKET_LIMITS:
        if days <= limit:
            return name
    return AGING_BUCKETS[-1]


def open_items(items: Iterable[Receivable]) -> list[Receivable]:
    """Invoices with something still due, oldest due date first."""
    return sorted(
        (item for item in items if item.balance > 0),
        key=lambda r: (r.due_date, r.client.casefold(), r.invoice_no),
    )


def aging_rows(items: Iterable[Receivable], as_of: date) -> list[AgingRow]:
    """One row per (client, currency), sorted by currency then client."""
    sums: dict[tuple[str, str], list[Decimal]] = {}
    for item in open_items(items):
        key = (item.client, item.currency)
        buckets = sums.setdefault(key, [ZERO] * len(AGING_BUCKETS))
        buckets[AGING_BUCKETS.index(aging_bucket(item.due_date, as_of))] += item.balance
    return [
        AgingRow(client, currency, tuple(round_money(b, currency) for b in buckets))
        for (client, currency), buckets in sorted(
            sums.items(), key=lambda kv: (kv[0][1], kv[0][0].casefold())
        )
    ]


def currency_totals(rows: Iterable[AgingRow]) -> dict[str, tuple[Decimal, ...]]:
    """Bucket totals per currency; amounts in different currencies are never added."""
    totals: dict[str, tuple[Decimal, ...]] = {}
    for row in rows:
        previous = totals.get(row.currency, (ZERO,) * len(AGING_BUCKETS))
        totals[row.currency] = tuple(a + b for a, b in zip(previous, row.buckets, strict=True))
    return totals


def write_receivables_report(
    items: Sequence[Receivable],
    as_of: date,
    out_dir: Path,
    credit_notes: Sequence[CreditNoteItem] = (),
) -> Path:
    """Write `out_dir/receivables-<as-of>.xlsx` and return its path.

    The file is written to a temporary name and moved into place, so a reader
    never sees half a report.
    """
    import xlsxwriter  # imported where used: it is not needed before reading
    from xlsxwriter.exceptions import FileCreateError

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"receivables-{as_of.isoformat()}.xlsx"
    handle, temp_name = tempfile.mkstemp(prefix=".receivables-", suffix=".xlsx", dir=out_dir)
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(temp_name)
        formats = _Formats(workbook)
        _write_open_sheet(workbook.add_worksheet(OPEN_SHEET), formats, open_items(items), as_of)
        rows = aging_rows(items, as_of)
        _write_aging_sheet(workbook, formats, rows, as_of)
        if credit_notes:
            _write_credit_sheet(workbook.add_worksheet(CREDIT_SHEET), formats, credit_notes)
        workbook.close()
        os.replace(temp_name, target)
    except (OSError, FileCreateError) as exc:
        raise ReportError(
            f"cannot write {target.name} ({exc}); close it if it is open in Excel and run again."
        ) from None
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
    return target


class _Formats:
    """The cell formats of one workbook; money formats follow the currency's decimals."""

    def __init__(self, workbook: Workbook) -> None:
        self._workbook = workbook
        self.header = workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7"})
        self.title = workbook.add_format({"bold": True, "font_size": 13})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.bold = workbook.add_format({"bold": True, "top": 1})
        self._money: dict[tuple[int, bool], Any] = {}

    def money(self, currency: str, bold: bool = False) -> Any:
        digits = max(0, -minor_unit(currency).adjusted())
        key = (digits, bold)
        if key not in self._money:
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            props: dict[str, Any] = {"num_format": pattern}
            if bold:
                props.update(bold=True, top=1)
            self._money[key] = self._workbook.add_format(props)
        return self._money[key]


def _number(amount: Decimal) -> float:
    """XlsxWriter takes no Decimal: convert only here, after all arithmetic."""
    return float(amount)


def _write_open_sheet(
    sheet: Worksheet, formats: _Formats, items: list[Receivable], as_of: date
) -> None:
    sheet.write_row(0, 0, OPEN_HEADERS, formats.header)
    for col, width in enumerate(OPEN_WIDTHS):
        sheet.set_column(col, col, width)
    for row, item in enumerate(items, start=1):
        money = formats.money(item.currency)
        sheet.write_string(row, 0, item.invoice_no)
        sheet.write_string(row, 1, item.client)
        sheet.write_string(row, 2, item.currency)
        sheet.write_datetime(row, 3, item.invoice_date, formats.date)
        sheet.write_datetime(row, 4, item.due_date, formats.date)
        sheet.write_number(row, 5, _number(round_money(item.total, item.currency)), money)
        sheet.write_number(row, 6, _number(round_money(item.paid, item.currency)), money)
        sheet.write_number(row, 7, _number(round_money(item.balance, item.currency)), money)
        sheet.write_number(row, 8, days_overdue(item.due_date, as_of))
        sheet.write_string(row, 9, aging_bucket(item.due_date, as_of))
        sheet.write_string(row, 10, item.status)
        sheet.write_number(row, 11, _number(round_money(item.credited, item.currency)), money)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(items), 1), len(OPEN_HEADERS) - 1)


def _write_credit_sheet(
    sheet: Worksheet, formats: _Formats, notes: Sequence[CreditNoteItem]
) -> None:
    sheet.write_row(0, 0, CREDIT_HEADERS, formats.header)
    for col, width in enumerate(CREDIT_WIDTHS):
        sheet.set_column(col, col, width)
    for row, note in enumerate(notes, start=1):
        sheet.write_string(row, 0, note.credit_note_no)
        sheet.write_datetime(row, 1, note.note_date, formats.date)
        sheet.write_string(row, 2, note.invoice_no)
        sheet.write_string(row, 3, note.client)
        sheet.write_string(row, 4, note.currency)
        money = formats.money(note.currency)
        sheet.write_number(row, 5, _number(round_money(note.amount, note.currency)), money)
        sheet.write_string(row, 6, note.reason)
    sheet.freeze_panes(1, 0)


def _write_aging_sheet(
    workbook: Workbook, formats: _Formats, rows: list[AgingRow], as_of: date
) -> None:
    sheet = workbook.add_worksheet(AGING_SHEET)
    sheet.write_string(0, 0, f"Balances by days past due, as of {as_of.isoformat()}", formats.title)
    headers = ("Client", "Currency", *AGING_BUCKETS, "Total")
    sheet.write_row(_AGING_HEADER_ROW, 0, headers, formats.header)
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 9)
    sheet.set_column(2, len(headers) - 1, 14)
    sheet.freeze_panes(_AGING_HEADER_ROW + 1, 0)
    if not rows:
        sheet.write_string(_AGING_HEADER_ROW + 1, 0, "No open invoices.")
        return
    row = _AGING_HEADER_ROW + 1
    total_rows: dict[str, int] = {}
    for currency, buckets in currency_totals(rows).items():
        money = formats.money(currency)
        for item in (r for r in rows if r.currency == currency):
            _write_aging_line(sheet, row, (item.client, None), currency, item.buckets, money)
            row += 1
        label = (f"Total {currency}", formats.bold)
        _write_aging_line(sheet, row, label, currency, buckets, formats.money(currency, True))
        total_rows[currency] = row
        row += 2  # a blank row between currencies
    _insert_chart(workbook, sheet, total_rows, anchor_row=row + 1)


def _write_aging_line(
    sheet: Worksheet,
    row: int,
    label: tuple[str, Any],
    currency: str,
    buckets: Sequence[Decimal],
    money: Any,
) -> None:
    sheet.write_string(row, 0, *label)
    sheet.write_string(row, 1, currency)
    for offset, amount in enumerate(buckets):
        sheet.write_number(row, 2 + offset, _number(amount), money)
    sheet.write_number(row, 2 + len(buckets), _number(sum(buckets, ZERO)), money)


def _insert_chart(
    workbook: Workbook, sheet: Worksheet, total_rows: dict[str, int], anchor_row: int
) -> None:
    # Clustered, one series per currency: stacking would add USD to EUR.
    chart = workbook.add_chart({"type": "column"})
    last = 1 + len(AGING_BUCKETS)
    categories = [AGING_SHEET, _AGING_HEADER_ROW, 2, _AGING_HEADER_ROW, last]
    for currency, row in total_rows.items():
        chart.add_series(
            {"name": currency, "categories": categories, "values": [AGING_SHEET, row, 2, row, last]}
        )
    chart.set_title({"name": "Open balances by days past due"})
    chart.set_x_axis({"name": "Days past due"})
    chart.set_y_axis({"name": "Balance (each currency separately)"})
    sheet.insert_chart(anchor_row, 0, chart, {"x_scale": 1.4, "y_scale": 1.2})
