"""A bank's CSV export, described by `[bank.csv]` in billing.toml.

    [bank.csv]
    date = "Booking date"       # the column names in the bank's file
    amount = "Amount"
    currency = "Currency"
    payer = "Counterparty"
    payer_id = "Counterparty IBAN"
    reference = "Description"
    bank_ref = "Transaction ID"
    debit = "Paid out"          # only for a bank that puts money out in a column of its own
    direction = "Soll/Haben"    # only for a bank that says in a column which way money went
    date_format = "%d.%m.%Y"    # strftime; default "%Y-%m-%d"
    decimal = ","               # default "."
    delimiter = ";"             # default ","
    encoding = "cp1252"         # default "utf-8-sig"

`date`, `amount` and `reference` are required. A negative amount is money
going out; so is a line whose `amount` cell is empty and whose `debit` cell
(when the bank writes money in and money out in two columns: "Paid in",
"Paid out") holds the amount; and so is a line whose `direction` cell (a bank writing every
amount unsigned, with S/H, Debit/Credit or DR/CR beside it) says money out. A file with
such a column and no `direction` set is refused, rather than every amount taken for money
in. An amount that does not fit `decimal`, or is finer than its
currency's cents, is refused with its line, never read at another size. A
currency sign or code beside the amount (`$500.00`, `300.00 EUR`) names the
line's currency when there is no `currency` column, and must agree with it
when there is. Without a `bank_ref` column each line's id is a hash of its
content; so it is when its `bank_ref` is no id (a short number, which some
banks count afresh in each export, or a placeholder such as NONREF).

    lines, errors = read_csv(path.read_bytes(), "bank.csv", layout, default_currency="EUR")
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from ..model import RowError
from ..money import (
    DecimalMarkError,
    MoneyError,
    currency_of,
    parse_bank_amount,
    round_money,
    too_many_decimals,
)
from .record import (
    IN,
    OUT,
    BankLine,
    CsvLayout,
    StatementError,
    clean,
    content_refs,
    line_error,
    normal_id,
    number_repeats,
    trusted_ref,
)
from .record import three_places as _three_places

KEYS = ("date", "amount", "currency", "payer", "payer_id", "reference", "bank_ref", "debit",
        "direction")  # fmt: skip
#: What a `direction` column writes for money going out and for money coming in (any case).
OUT_MARKS = ("S", "D", "DR", "Debit", "Soll", "Out", "-")
IN_MARKS = ("H", "C", "CR", "Credit", "Haben", "In", "+")
_MARKS = {m.casefold(): m in OUT_MARKS for m in (*OUT_MARKS, *IN_MARKS)}  # mark -> money out
#: Headers that plainly name such a column: lower case, spaces left out.
DIRECTION_HEADERS = frozenset({
    "soll/haben", "haben/soll", "s/h", "h/s", "debit/credit", "credit/debit", "dr/cr", "cr/dr",
    "d/c", "c/d", "debit/creditindicator", "credit/debitindicator",
})  # fmt: skip


class CellError(ValueError):
    """A cell of a line that cannot be read; `column` names its column."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def parse_amount(
    text: str, layout: CsvLayout, currency_text: str, default_currency: str
) -> tuple[Decimal, str]:
    """A line's amount and currency, or a CellError naming the column that is wrong.

    The currency is the `currency` column's, else the sign or code written with
    the amount (`$500.00`, `300.00 EUR`), else the account's. An amount must fit
    `decimal` and the currency's cents: `1234.56` with decimal "," or `99.989`
    in EUR is refused, never read at another size.
    """
    currency = default_currency.upper()
    if currency_text:
        found = currency_of(currency_text, currency)
        if found is None:
            raise CellError(
                layout.currency,
                f"{currency_text!r} is not a currency; "
                "write its ISO code (such as EUR or USD) or sign (such as € or $).",
            )
        currency = found
    try:
        amount, written = parse_bank_amount(text, layout.decimal)
    except DecimalMarkError:
        example = "1.234,56" if layout.decimal == "," else "1,234.56"
        raise CellError(
            layout.amount,
            f'{text!r} does not fit [bank.csv] decimal = "{layout.decimal}" (it reads amounts '
            f"written like {example}); set decimal to the mark this bank uses.",
        ) from None
    except MoneyError as exc:
        raise CellError(layout.amount, f"{exc}.") from None
    if written:
        meant = currency_of(written, currency)
        if meant is None:
            raise CellError(
                layout.amount, f"{text!r} is not an amount: {written!r} is not a currency."
            )
        if currency_text and meant != currency:
            raise CellError(
                layout.amount,
                f"{text!r} is in {meant}, but the {layout.currency} column says {currency}.",
            )
        currency = meant
    if amount != round_money(amount, currency):
        raise CellError(layout.amount, f"{text!r} {too_many_decimals(amount, currency)}.")
    if _three_places(amount, currency):  # 2.500: two and a half, or two thousand five hundred
        other = "," if layout.decimal == "." else "."
        raise CellError(
            layout.amount,
            f"{text!r} {too_many_decimals(amount, currency)}: if it means "
            f'{int(abs(amount) * 1000)} (thousands grouped with "{layout.decimal}"), set '
            f'[bank.csv] decimal = "{other}".',
        )
    return amount, currency


def _line_amount(
    credit: str, debit: str, layout: CsvLayout, currency_text: str, default_currency: str
) -> tuple[Decimal, str]:
    """A line's signed amount (below zero: money out) and currency: from `amount`, or from
    `debit` when the bank writes money out in a column of its own (`debit` is "" without
    one)."""
    if not credit and not debit:  # an opening or closing balance line: nothing paid
        return Decimal(0), default_currency.upper()
    if not debit:
        return parse_amount(credit, layout, currency_text, default_currency)
    amount, currency = (
        parse_amount(credit, layout, currency_text, default_currency)
        if credit
        else (Decimal(0), "")
    )
    out_layout = replace(layout, amount=layout.debit)  # its errors name the debit column
    out, out_currency = parse_amount(debit, out_layout, currency_text, default_currency)
    if amount and out:
        raise CellError(
            layout.amount,
            f"both {layout.amount} ({credit!r}) and {layout.debit} ({debit!r}) hold an "
            "amount; a line is money in or money out.",
        )
    return (amount, currency) if amount else (-abs(out), currency or out_currency)


def _signed(amount: Decimal, mark: str, column: str) -> Decimal:
    """The amount signed by its `direction` mark (below zero: money out).

    >>> _signed(Decimal("300.00"), "S", "Soll/Haben"), _signed(Decimal("300.00"), "h", "S/H")
    (Decimal('-300.00'), Decimal('300.00'))
    """
    out = _MARKS.get(mark.casefold())
    if out is None:
        said = f"{mark!r} is not" if mark else "it is empty, and must be"
        raise CellError(
            column,
            f"{said} one of {', '.join(OUT_MARKS)} (money out) or {', '.join(IN_MARKS)} "
            "(money in).",
        )
    if amount < 0 and not out:
        raise CellError(column, f"{mark!r} says money in, but the amount is below zero.")
    return -abs(amount) if out else abs(amount)


def _direction_header(header: list[str]) -> str:
    """The header of a column that plainly says which way the money went, else ""."""
    return next((clean(h) for h in header if "".join(h.split()).casefold() in DIRECTION_HEADERS),
                "")  # fmt: skip


def _unnamed_after(header: list[str], amount: int) -> int | None:
    """The first column without a header after the amount's (else anywhere), or None."""
    unnamed = [i for i, h in enumerate(header) if not h.strip()]
    return next((i for i in unnamed if i > amount), unnamed[0] if unnamed else None)


def _dated(text: str, layout: CsvLayout) -> bool:
    """Whether a cell holds a date as the layout writes them (a transaction's line: its
    empty amount is a mistake, where a closing balance line's is not)."""
    try:
        datetime.strptime(text, layout.date_format)
    except ValueError:
        return False
    return True


#: How far down a CSV its header row is looked for, below the account lines some banks
#: put first (account number, period, balance).
HEADER_SEARCH = 20


def _header(reader: Iterator[list[str]], layout: CsvLayout) -> list[str]:
    """The header row: the first of the first HEADER_SEARCH rows naming the configured
    date, amount and reference columns, else the first row (whose columns are then said)."""
    first = next(reader)
    row = first
    for _ in range(HEADER_SEARCH):
        if _names_columns(row, layout):
            return row
        try:
            row = next(reader)
        except StopIteration:
            break
    return first  # no row names them: the first row's columns are said to be missing


def _names_columns(row: list[str], layout: CsvLayout) -> bool:
    cells = {clean(c).casefold() for c in row}
    return all(getattr(layout, key).strip().casefold() in cells
               for key in ("date", "amount", "reference"))  # fmt: skip


def looks_like(head: bytes, layout: CsvLayout) -> bool:
    """The file's first line names the configured columns."""
    if not layout.configured:
        return False
    try:
        first_line = head.decode(layout.encoding, errors="replace").splitlines()[0]
    except (LookupError, IndexError):
        return False
    row = next(csv.reader([first_line], delimiter=layout.delimiter))
    cells = {c.strip().casefold() for c in row}
    return all(getattr(layout, key).strip().casefold() in cells
               for key in ("date", "amount", "reference"))  # fmt: skip


def _unsigned_column(header: list[str], amount: int, layout: CsvLayout) -> int | None:
    """Without `direction` (or `debit`), a column saying which way the money went refuses the
    file: every amount would be taken for money in. Returns the column without a header
    right after the amount's (VR-Bank's S/H), whose marks refuse the file as it is read."""
    if layout.direction or layout.debit:
        return None
    named = _direction_header(header)
    if named:
        raise StatementError(
            f"its column {named!r} says which way the money went; set direction = "
            f'"{named}" in [bank.csv], so that money going out is not taken for a payment.'
        )
    after = amount + 1
    return after if after < len(header) and not header[after].strip() else None


def read_csv(
    data: bytes, file: str, layout: CsvLayout, default_currency: str = ""
) -> tuple[list[BankLine], list[RowError]]:
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError as exc:
        raise StatementError(
            f"it is not in the encoding {layout.encoding!r} set in [bank.csv] ({exc.reason} "
            f"at byte {exc.start}); set encoding to the one the bank uses."
        ) from None
    except LookupError:
        raise StatementError(f"[bank.csv] encoding {layout.encoding!r} is unknown.") from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""),
                        delimiter=layout.delimiter)  # fmt: skip
    try:
        header = _header(reader, layout)
    except StopIteration:
        raise StatementError("it is empty.") from None
    positions = {clean(h).casefold(): i for i, h in enumerate(header)}
    columns: dict[str, int] = {}
    for key in KEYS:
        name = getattr(layout, key)
        if not name:
            continue
        if not name.strip():  # direction = " ": the column without a header
            found = _unnamed_after(header, columns["amount"])
            if found is None:
                raise StatementError(
                    f'it has no column without a header ([bank.csv] {key} = " "); its columns '
                    f"are: {', '.join(h for h in header if h.strip())}."
                )
            columns[key] = found
            continue
        if name.strip().casefold() not in positions:
            raise StatementError(
                f"it has no column {name!r} ([bank.csv] {key}); its columns are: "
                f"{', '.join(h for h in header if h.strip())}."
            )
        columns[key] = positions[name.strip().casefold()]
    unsigned = _unsigned_column(header, columns["amount"], layout)
    direction = clean(layout.direction) or f"the column after {layout.amount}"
    lines: list[BankLine] = []
    errors: list[RowError] = []
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row: list[str] = row) -> str:
            index = columns.get(key)
            return clean(row[index]) if index is not None and index < len(row) else ""

        mark = clean(row[unsigned]) if unsigned is not None and unsigned < len(row) else ""
        if mark.casefold() in _MARKS:
            raise StatementError(
                f"the column after {layout.amount!r} has no header but says which way the "
                f"money went ({mark!r} on line {number}); set direction = "
                '" " in [bank.csv], so that money going out is not taken for a payment.'
            )

        try:
            amount, currency = _line_amount(cell("amount"), cell("debit"), layout,
                                            cell("currency"), default_currency)  # fmt: skip
        except CellError as exc:
            errors.append(line_error(file, number, exc.column, str(exc)))
            continue
        if not amount:  # a zero amount, or none: a balance line, a note, pays nothing
            told = not layout.debit or cell("reference")  # two columns: INTEREST, no ref
            if not cell("amount") and not cell("debit") and told and _dated(cell("date"), layout):
                errors.append(line_error(file, number, layout.amount, "the amount is empty."))
            continue
        if layout.direction:
            try:
                amount = _signed(amount, cell("direction"), direction)
            except CellError as exc:
                errors.append(line_error(file, number, exc.column, str(exc)))
                continue
        try:
            when = datetime.strptime(cell("date"), layout.date_format).date()
        except ValueError:
            errors.append(
                line_error(file, number, layout.date,
                           f"{cell('date')!r} does not match date_format {layout.date_format!r}.")
            )  # fmt: skip
            continue
        ids = tuple(normal_id(i) for i in re.split(r"[;,]", cell("payer_id")) if i.strip())
        reference = cell("reference")
        # some exports number their lines 1, 2... afresh in each file: not an id
        ref, earlier = (cell("bank_ref"), ()) if trusted_ref(cell("bank_ref")) else content_refs(
            "CSV", [when, amount, cell("payer"), *ids, reference]
        )  # fmt: skip
        lines.append(
            BankLine(when, abs(amount), currency, IN if amount > 0 else OUT, cell("payer"), ids,
                     reference, ref, file, number, earlier)
        )  # fmt: skip
    return number_repeats(lines), errors
