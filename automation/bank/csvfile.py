"""A bank's CSV export, described by `[bank.csv]` in billing.toml.

    [bank.csv]
    date = "Booking date"       # the column names in the bank's file
    amount = "Amount"
    currency = "Currency"
    payer = "Counterparty"
    payer_id = "Counterparty IBAN"
    reference = "Description"
    bank_ref = "Transaction ID"
    date_format = "%d.%m.%Y"    # strftime; default "%Y-%m-%d"
    decimal = ","               # default "."
    delimiter = ";"             # default ","
    encoding = "cp1252"         # default "utf-8-sig"

`date`, `amount` and `reference` are required. A negative amount is money
going out. Without a `bank_ref` column each line's id is a hash of its
content.

    lines, errors = read_csv(path.read_bytes(), "bank.csv", layout, default_currency="EUR")
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from ..model import RowError
from .record import (
    IN,
    OUT,
    BankLine,
    CsvLayout,
    StatementError,
    clean,
    content_ref,
    line_error,
    normal_id,
    number_repeats,
)

KEYS = ("date", "amount", "currency", "payer", "payer_id", "reference", "bank_ref")


def parse_amount(text: str, decimal: str) -> Decimal:
    """An amount as the bank writes it: `-1.250,50` with decimal ",", `(45.10)`, `1 250.00`."""
    value = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    negative = value.startswith("(") and value.endswith(")")
    value = value.strip("()")
    thousands = "." if decimal == "," else ","
    value = value.replace(thousands, "").replace(decimal, ".")
    value = re.sub(r"[^\d.+-]", "", value) if re.search(r"\d", value) else value
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    return -number if negative else number


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


def read_csv(
    data: bytes, file: str, layout: CsvLayout, default_currency: str = ""
) -> tuple[list[BankLine], list[RowError]]:
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError as exc:
        raise StatementError(
            f"{file} is not in the encoding {layout.encoding!r} set in [bank.csv] ({exc.reason} "
            f"at byte {exc.start}); set encoding to the one the bank uses."
        ) from None
    except LookupError:
        raise StatementError(f"[bank.csv] encoding {layout.encoding!r} is unknown.") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise StatementError(f"{file} is empty.") from None
    positions = {clean(h).casefold(): i for i, h in enumerate(header)}
    columns: dict[str, int] = {}
    for key in KEYS:
        name = getattr(layout, key)
        if not name:
            continue
        if name.strip().casefold() not in positions:
            raise StatementError(
                f"{file} has no column {name!r} ([bank.csv] {key}); its columns are: "
                f"{', '.join(h for h in header if h.strip())}."
            )
        columns[key] = positions[name.strip().casefold()]
    lines: list[BankLine] = []
    errors: list[RowError] = []
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row: list[str] = row) -> str:
            index = columns.get(key)
            return clean(row[index]) if index is not None and index < len(row) else ""

        try:
            amount = parse_amount(cell("amount"), layout.decimal)
        except ValueError as exc:
            errors.append(line_error(file, number, layout.amount, f"{exc}."))
            continue
        try:
            when = datetime.strptime(cell("date"), layout.date_format).date()
        except ValueError:
            errors.append(
                line_error(file, number, layout.date,
                           f"{cell('date')!r} does not match date_format {layout.date_format!r}.")
            )  # fmt: skip
            continue
        if not amount:
            continue  # a zero line (a balance note) pays nothing
        ids = tuple(normal_id(i) for i in re.split(r"[;,]", cell("payer_id")) if i.strip())
        reference = cell("reference")
        ref = cell("bank_ref") or content_ref(
            "CSV", [when.isoformat(), str(amount), cell("payer"), *ids, reference]
        )
        lines.append(
            BankLine(when, abs(amount), (cell("currency") or default_currency).upper(),
                     IN if amount > 0 else OUT, cell("payer"), ids, reference, ref, file, number)
        )  # fmt: skip
    return number_repeats(lines), errors
