"""The receivables report: open invoices and their aging, written fresh each run.

One workbook per as-of date, `receivables-<as-of>.xlsx`: "Open invoices" (one
row per invoice with a balance, after its credit notes), "Aging" (balances per
client and currency in buckets of days past due, totals per currency and one
chart per currency, each on its own scale), "By client" (each client's open
invoices, each with its currency, and subtotals, a page per client when printed,
every row naming its client), "Owed back" (invoices paid over what was due, and void
invoices the client had paid towards: money to refund or credit, when there are any) and
"Credit notes" (the year's credit notes, when there are any). Currencies are
never added together. Every sheet has a title with the as-of date above its table and is
set up to print: landscape, one page wide, the header row on every page. What the report
leaves out (open invoices typed by hand, which the tool did not issue) is said under the
titles of "Open invoices" and "Aging". A client is one client whatever the case and
spacing of the name its invoices were issued under, as everywhere in the tool, and
shows under its name in Clients now (`as_named`).

>>> aging_bucket(date(2026, 3, 1), date(2026, 3, 31))
'1-30'
>>> aging_bucket(date(2026, 3, 1), date(2026, 3, 1))
'Current'
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .money import ZERO, minor_unit, round_money
from .schema import normalise_header  # validate.client_key of a trimmed name; light to import
from .space import folder_said, full_folder, written_folder
from .statement import AGING_BUCKETS, aging_bucket, days_overdue
from .text import number_order

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet


OPEN_SHEET = "Open invoices"
AGING_SHEET = "Aging"
CLIENT_SHEET = "By client"
OPEN_HEADERS = (
    "Invoice No",
    "Client",
    "Currency",
    "Invoice Date",
    "First Due Date",  # aging counts from it; a reissue moves the Invoices sheet's Due Date
    "Total",
    "Paid",
    "Balance",
    "Days Overdue",
    "Bucket",
    "Status",
    "Credited",
)
OPEN_KINDS = ("text", "text", "text", "date", "date", "money", "money", "money", "int",
              "text", "text", "money")  # fmt: skip
OWED_SHEET = "Owed back"
OWED_HEADERS = ("Invoice No", "Client", "Currency", "Invoice Date", "Total", "Paid", "Credited",
                "Owed Back", "Status")  # fmt: skip
OWED_KINDS = ("text", "text", "text", "date", "money", "money", "money", "money", "text")
CREDIT_SHEET = "Credit notes"
CREDIT_HEADERS = ("Credit Note No", "Date", "Invoice No", "Client", "Currency", "Amount", "Reason")
CREDIT_KINDS = ("text", "date", "text", "text", "text", "money", "text")
CLIENT_HEADERS = ("Client", "Invoice No", "Currency", "Invoice Date", "First Due Date", "Total",
                  "Paid", "Balance", "Days Overdue", "Bucket", "Status")  # fmt: skip
CLIENT_KINDS = ("text", "text", "text", "date", "date", "money", "money", "money", "int", "text",
                "text")  # fmt: skip
#: Every table starts below its sheet's title (row 0) and a blank row.
HEADER_ROW = 2
#: Column widths in characters: never narrower or wider than these.
MIN_WIDTH, MAX_WIDTH = 6, 50
#: XlsxWriter's limit on manual page breaks in one sheet.
MAX_PAGE_BREAKS = 1023


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


def as_named(
    items: Sequence[Receivable], names: Mapping[str, str]
) -> tuple[list[Receivable], dict[str, str]]:
    """`items` with each client under one name, and that name by client key (of every
    client in `names` too).

    Invoices are issued under the client's name as typed then; the tool matches a
    client ignoring case and spacing (`validate.client_key`), so `Acme Dental` and
    `ACME  Dental` are one client, in one row of Aging and one group of By client.
    Its name is the one in Clients now (`names`, by key), else the one its latest
    invoice was issued under.

    >>> one = Receivable("INV-1", "Acme Dental", "USD", date(2026, 3, 1), date(2026, 3, 31),
    ...                  ZERO, ZERO, ZERO, "Sent")
    >>> two = replace(one, invoice_no="INV-2", client="ACME  Dental", invoice_date=date(2026, 4, 1))
    >>> [item.client for item in as_named([one, two], {})[0]]
    ['ACME  Dental', 'ACME  Dental']
    >>> [item.client for item in as_named([one, two], {"acme dental": "Acme Dental"})[0]]
    ['Acme Dental', 'Acme Dental']
    """
    keys = {name: normalise_header(name) for name in {item.client for item in items}}
    latest = {
        keys[item.client]: item.client
        for item in sorted(items, key=lambda i: (i.invoice_date, number_order(i.invoice_no)))
    }
    said = {**names, **{key: names.get(key) or name for key, name in latest.items()}}
    named = [
        item if item.client == said[keys[item.client]]
        else replace(item, client=said[keys[item.client]])
        for item in items
    ]  # fmt: skip
    return named, said


def open_items(items: Iterable[Receivable]) -> list[Receivable]:
    """Invoices with something still due, oldest due date first (on one day, in the order
    they were issued)."""
    return sorted(
        (item for item in items if item.balance > 0),
        key=lambda r: (r.due_date, r.client.casefold(), number_order(r.invoice_no)),
    )


def owed_items(items: Iterable[Receivable]) -> list[Receivable]:
    """Invoices the client paid more on than was due (negative balance), by client."""
    return sorted(
        (item for item in items if item.balance < 0),
        key=lambda r: (r.client.casefold(), r.currency, number_order(r.invoice_no)),
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
    left_out: str = "",
    names: Mapping[str, str] | None = None,
) -> Path:
    """Write `out_dir/receivables-<as-of>.xlsx` and return its path.

    `left_out`: what the report does not count, in a sentence (`summary.not_counted_line`);
    `names`: each client's name in Clients, by client key (`as_named`).
    The file is written to a temporary name and moved into place, so a reader
    never sees half a report.
    """
    from xlsxwriter.exceptions import FileCreateError

    target, temp_name = report_names(out_dir, as_of)
    try:
        write_workbook(temp_name, items, as_of, credit_notes, left_out, names)
        os.replace(temp_name, target)
    except (OSError, FileCreateError) as exc:
        raise cannot_write(target, exc) from None
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
    return target


def report_names(out_dir: Path, as_of: date) -> tuple[Path, str]:
    """The report's path, and a new empty file beside it to write it under first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".receivables-", suffix=".xlsx", dir=out_dir)
    os.close(handle)
    return out_dir / f"receivables-{as_of.isoformat()}.xlsx", temp_name


def cannot_write(target: Path, exc: Exception) -> ReportError:
    """What the bookkeeper is told when the report cannot be written or put in place."""
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else exc  # xlsxwriter's
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
        full = written_folder(cause) or full_folder([target.parent]) or target.parent
        return ReportError(
            f"cannot write {target.name}: the disk of {folder_said(full)} is full; free some "
            "space there and run again."
        )
    return ReportError(
        f"cannot write {target.name} ({exc}); close it if it is open in Excel and run again."
    )


def write_workbook(
    path: str,
    items: Sequence[Receivable],
    as_of: date,
    credit_notes: Sequence[CreditNoteItem],
    left_out: str = "",
    names: Mapping[str, str] | None = None,
) -> None:
    """The report's workbook, written at `path` (OSError or FileCreateError when it cannot be)."""
    import xlsxwriter  # imported where used: it is not needed before reading

    items, said = as_named(items, names or {})
    credit_notes = [  # named alike: a credit note's invoice may be settled, not in `items`
        replace(note, client=said.get(normalise_header(note.client), note.client))
        for note in credit_notes
    ]
    workbook = xlsxwriter.Workbook(path)
    formats = _Formats(workbook)
    still_open = open_items(items)
    _write_open_sheet(workbook, formats, still_open, as_of, left_out)
    _write_aging_sheet(workbook, formats, aging_rows(items, as_of), as_of, left_out)
    _write_client_sheet(workbook, formats, still_open, as_of)
    owed = owed_items(items)
    if owed:
        _write_owed_sheet(workbook, formats, owed, as_of)
    if credit_notes:
        _write_credit_sheet(workbook, formats, credit_notes, as_of)
    workbook.close()


class _Formats:
    """The cell formats of one workbook; money formats follow the currency's decimals."""

    def __init__(self, workbook: Workbook) -> None:
        self._workbook = workbook
        header = {"bold": True, "bottom": 1, "bg_color": "#DDEBF7", "valign": "bottom"}
        self.header = workbook.add_format(header)
        # Numbers and dates sit right in their cells; so do their headers.
        self.header_right = workbook.add_format({**header, "align": "right"})
        # Text right of a column of right-aligned numbers starts a space in, not against them.
        self.header_indented = workbook.add_format({**header, "indent": 1})
        self.indented = workbook.add_format({"indent": 1})
        self.title = workbook.add_format({"bold": True, "font_size": 13})
        self.italic = workbook.add_format({"italic": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.bold = workbook.add_format({"bold": True, "top": 1})
        self._money: dict[tuple[int, bool], Any] = {}
        self._money_of: dict[tuple[str, bool], Any] = {}
        self._serials: dict[date, float] = {}

    def money(self, currency: str, bold: bool = False) -> Any:
        """The number format of amounts in `currency`: one per number of decimals."""
        fmt = self._money_of.get((currency, bold))
        if fmt is None:
            digits = max(0, -minor_unit(currency).adjusted())
            key = (digits, bold)
            if key not in self._money:
                pattern = "#,##0" + ("." + "0" * digits if digits else "")
                props: dict[str, Any] = {"num_format": pattern}
                if bold:
                    props.update(bold=True, top=1)
                self._money[key] = self._workbook.add_format(props)
            fmt = self._money_of[(currency, bold)] = self._money[key]
        return fmt

    def serial(self, day: date) -> float:
        """`day` as Excel counts days, as XlsxWriter's write_datetime would store it.

        Worked out once per date: a report repeats few dates over many rows.
        """
        serial = self._serials.get(day)
        if serial is None:
            days = (day - EXCEL_EPOCH).days
            # Excel takes 1900 for a leap year: its serials skip a 29 February that never was.
            serial = self._serials[day] = float(days + 1 if days > 59 else days)
        return serial


def _number(amount: Decimal) -> float:
    """XlsxWriter takes no Decimal: convert only here, after all arithmetic."""
    return float(amount)


#: Day 0 of Excel's (1900) date system: 1900-01-01 is day 1.
EXCEL_EPOCH = date(1899, 12, 31)
#: Kinds of column whose values sit right in their cells (their headers too).
RIGHT_KINDS = ("money", "int", "date")


class _Sheet:
    """One report sheet: its title, print set-up, and column widths fitted to what is written."""

    def __init__(
        self,
        workbook: Workbook,
        name: str,
        title: str,
        as_of: date,
        formats: _Formats,
        left_out: str = "",
    ) -> None:
        self.sheet: Worksheet = workbook.add_worksheet(name)
        self.formats = formats
        self.widths: dict[int, int] = {}
        self.indent: set[int] = set()  # text columns right of a number column
        self.sheet.write_string(0, 0, f"{title}, as of {as_of.isoformat()}", formats.title)
        if left_out:  # in the blank row under the title, as wide as it likes: not a column's
            self.sheet.write_string(HEADER_ROW - 1, 0, left_out, formats.italic)
        self.sheet.set_landscape()
        self.sheet.fit_to_pages(1, 0)  # one page wide, as many long as it takes
        self.sheet.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
        self.sheet.set_header(f"&L&8{name}&R&8as of {as_of.isoformat()}")
        self.sheet.set_footer("&C&8Page &P of &N")

    def headers(self, row: int, headers: Sequence[str], kinds: Sequence[str]) -> None:
        """A header row, aligned like its column's data; repeated on every printed page."""
        for col, (text, fmt, width) in enumerate(self._header_cells(headers, kinds)):
            self.sheet.write_string(row, col, text, fmt)
            self._seen(col, width)
        self.sheet.repeat_rows(row)

    def _header_cells(
        self, headers: Sequence[str], kinds: Sequence[str]
    ) -> list[tuple[str, Any, int]]:
        cells = []
        for col, (text, kind) in enumerate(zip(headers, kinds, strict=True)):
            right = kind in RIGHT_KINDS
            fmt = self.formats.header_right if right else self.formats.header
            if not right and col and kinds[col - 1] in RIGHT_KINDS:
                fmt = self.formats.header_indented
                self.indent.add(col)
            # Bold type is wider than the digits below it: a fifth more, and a space.
            cells.append((text, fmt, round(len(text) * 1.2) + 1))
        return cells

    def text(self, row: int, col: int, value: str, fmt: Any = None) -> None:
        length = len(value)
        if col in self.indent:
            length += 1
            if fmt is None:
                fmt = self.formats.indented
        self.sheet.write_string(row, col, value, fmt)
        if length > self.widths.get(col, -1):
            self.widths[col] = length

    def date(self, row: int, col: int, value: date) -> None:
        # As write_datetime stores it (a number in a date format), without its conversion a cell.
        self.sheet.write_number(row, col, self.formats.serial(value), self.formats.date)
        self._seen(col, 10)

    def money(self, row: int, col: int, amount: Decimal, currency: str, bold: bool = False) -> None:
        rounded = round_money(amount, currency)
        self.sheet.write_number(row, col, _number(rounded), self.formats.money(currency, bold))
        length = len(f"{rounded:,}")
        if length > self.widths.get(col, -1):
            self.widths[col] = length

    def integer(self, row: int, col: int, value: int) -> None:
        self.sheet.write_number(row, col, value)
        self._seen(col, len(str(value)))

    def cells(
        self, row: int, kinds: Sequence[str], values: Sequence[Any], currency: str
    ) -> None:
        """A row of values, each written as its kind says ("money" in `currency`)."""
        for col, (kind, value) in enumerate(zip(kinds, values, strict=True)):
            if kind == "money":
                self.money(row, col, value, currency)
            elif kind == "date":
                self.date(row, col, value)
            elif kind == "int":
                self.integer(row, col, value)
            else:
                self.text(row, col, value)

    def _seen(self, col: int, length: int) -> None:
        if length > self.widths.get(col, -1):
            self.widths[col] = length

    def fit_columns(self) -> None:
        """Each column as wide as its widest entry (within MIN_WIDTH..MAX_WIDTH), plus a margin."""
        for col, length in self.widths.items():
            width = min(MAX_WIDTH, max(MIN_WIDTH, length + 2))
            self.sheet.set_column(col, col, width)


def _write_open_sheet(
    workbook: Workbook, formats: _Formats, items: list[Receivable], as_of: date, left_out: str
) -> None:
    out = _Sheet(workbook, OPEN_SHEET, "Open invoices", as_of, formats, left_out)
    out.headers(HEADER_ROW, OPEN_HEADERS, OPEN_KINDS)
    for row, item in enumerate(items, start=HEADER_ROW + 1):
        out.cells(row, OPEN_KINDS, (
            item.invoice_no, item.client, item.currency, item.invoice_date, item.due_date,
            item.total, item.paid, item.balance, days_overdue(item.due_date, as_of),
            aging_bucket(item.due_date, as_of), item.status, item.credited,
        ), item.currency)  # fmt: skip
    out.sheet.freeze_panes(HEADER_ROW + 1, 0)
    out.sheet.autofilter(HEADER_ROW, 0, HEADER_ROW + max(len(items), 1), len(OPEN_HEADERS) - 1)
    out.fit_columns()


def _write_owed_sheet(
    workbook: Workbook, formats: _Formats, items: list[Receivable], as_of: date
) -> None:
    out = _Sheet(workbook, OWED_SHEET, "Owed back to clients: refund or credit", as_of, formats)
    out.headers(HEADER_ROW, OWED_HEADERS, OWED_KINDS)
    for row, item in enumerate(items, start=HEADER_ROW + 1):
        out.cells(row, OWED_KINDS, (
            item.invoice_no, item.client, item.currency, item.invoice_date, item.total,
            item.paid, item.credited, -item.balance, item.status,
        ), item.currency)  # fmt: skip
    out.sheet.freeze_panes(HEADER_ROW + 1, 0)
    out.fit_columns()


def _write_credit_sheet(
    workbook: Workbook, formats: _Formats, notes: Sequence[CreditNoteItem], as_of: date
) -> None:
    out = _Sheet(workbook, CREDIT_SHEET, "Credit notes this year", as_of, formats)
    out.headers(HEADER_ROW, CREDIT_HEADERS, CREDIT_KINDS)
    for row, note in enumerate(notes, start=HEADER_ROW + 1):
        out.cells(row, CREDIT_KINDS, (
            note.credit_note_no, note.note_date, note.invoice_no, note.client, note.currency,
            note.amount, note.reason,
        ), note.currency)  # fmt: skip
    out.sheet.freeze_panes(HEADER_ROW + 1, 0)
    out.fit_columns()


def _write_client_sheet(
    workbook: Workbook, formats: _Formats, items: list[Receivable], as_of: date
) -> None:
    """Each client's open invoices, oldest due first, a subtotal per currency; a page each.

    One header row, printed at the top of every page (Excel repeats one range of
    rows per sheet), and the client's name on every row: a client whose invoices
    run over several pages is named on each, under the column headings.
    """
    out = _Sheet(workbook, CLIENT_SHEET, "Open invoices by client", as_of, formats)
    by_client: dict[str, list[Receivable]] = {}
    for item in items:
        by_client.setdefault(item.client, []).append(item)
    if not by_client:
        out.text(HEADER_ROW, 0, "No open invoices.")
        out.fit_columns()
        return
    out.headers(HEADER_ROW, CLIENT_HEADERS, CLIENT_KINDS)
    out.sheet.freeze_panes(HEADER_ROW + 1, 0)
    row = HEADER_ROW + 1
    breaks: list[int] = []
    for client in sorted(by_client, key=str.casefold):
        if row > HEADER_ROW + 1:
            breaks.append(row)
        totals: dict[str, Decimal] = {}
        for item in by_client[client]:
            cur = item.currency
            out.cells(row, CLIENT_KINDS, (
                client, item.invoice_no, cur, item.invoice_date, item.due_date, item.total,
                item.paid, item.balance, days_overdue(item.due_date, as_of),
                aging_bucket(item.due_date, as_of), item.status,
            ), cur)  # fmt: skip
            totals[cur] = totals.get(cur, ZERO) + item.balance
            row += 1
        for cur, total in sorted(totals.items()):
            out.text(row, 0, client, formats.bold)
            out.text(row, 1, f"Total {cur}", formats.bold)
            out.text(row, CLIENT_HEADERS.index("Currency"), cur, formats.bold)
            out.money(row, CLIENT_HEADERS.index("Balance"), total, cur, bold=True)
            row += 1
        row += 1
    if len(breaks) <= MAX_PAGE_BREAKS:
        out.sheet.set_h_pagebreaks(breaks)
    out.fit_columns()


def _write_aging_sheet(
    workbook: Workbook, formats: _Formats, rows: list[AgingRow], as_of: date, left_out: str
) -> None:
    out = _Sheet(workbook, AGING_SHEET, "Balances by days past due", as_of, formats, left_out)
    headers = ("Client", "Currency", *AGING_BUCKETS, "Total")
    kinds = ("text", "text", *("money",) * (len(AGING_BUCKETS) + 1))
    out.headers(HEADER_ROW, headers, kinds)
    out.sheet.freeze_panes(HEADER_ROW + 1, 0)
    if not rows:
        out.text(HEADER_ROW + 1, 0, "No open invoices.")
        out.fit_columns()
        return
    row = HEADER_ROW + 1
    total_rows: dict[str, int] = {}
    for currency, buckets in currency_totals(rows).items():
        for item in (r for r in rows if r.currency == currency):
            _write_aging_line(out, row, item.client, currency, item.buckets)
            row += 1
        _write_aging_line(out, row, f"Total {currency}", currency, buckets, bold=True)
        total_rows[currency] = row
        row += 2  # a blank row between currencies
    out.fit_columns()
    _insert_charts(workbook, out.sheet, total_rows, anchor_row=row + 1)


def _write_aging_line(
    out: _Sheet,
    row: int,
    label: str,
    currency: str,
    buckets: Sequence[Decimal],
    bold: bool = False,
) -> None:
    out.text(row, 0, label, out.formats.bold if bold else None)
    out.text(row, 1, currency)
    for offset, amount in enumerate(buckets):
        out.money(row, 2 + offset, amount, currency, bold)
    out.money(row, 2 + len(buckets), sum(buckets, ZERO), currency, bold)


#: Rows one chart takes on the sheet (15 px rows; the chart is 288 px high).
_CHART_ROWS = 21


def _insert_charts(
    workbook: Workbook, sheet: Worksheet, total_rows: dict[str, int], anchor_row: int
) -> None:
    """One chart per currency, each on its own scale: 394,800 KZT must not flatten 120 USD."""
    last = 1 + len(AGING_BUCKETS)
    categories = [AGING_SHEET, HEADER_ROW, 2, HEADER_ROW, last]
    for index, (currency, row) in enumerate(total_rows.items()):
        chart = workbook.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": currency,
                "categories": categories,
                "values": [AGING_SHEET, row, 2, row, last],
                "data_labels": {"value": True},
            }
        )
        chart.set_title({"name": f"Open balances in {currency} by days past due"})
        chart.set_x_axis({"name": "Days past due"})
        chart.set_y_axis({"name": currency, "num_format": "#,##0"})
        chart.set_legend({"none": True})
        chart.set_size({"width": 600, "height": 288})
        sheet.insert_chart(anchor_row + index * _CHART_ROWS, 0, chart)
