"""Check the Clients and Services sheets; every problem becomes a RowError.

Validation never raises for bad data: it returns what is usable plus the
errors, each naming sheet, Excel row, column and the fix.

    book = validate_clients(data.clients, config)
    lines, errors = validate_services(data.services, book, config)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from .addresses import parse_addresses
from .cells import (
    LARGEST,
    CellError,
    ExcelError,
    cell_date,
    cell_decimal,
    cell_text,
    is_blank,
    is_total_label,
    shows_error,
    yes_or_no,
)
from .config import LANGUAGES, Config
from .lazy import lazy_import
from .model import LINE_ERROR, Client, RowError, ServiceLine
from .money import (
    CURRENCY_CODES,
    TEXT_SIGNS,
    TOLERANCE,
    MoneyError,
    RateTooHigh,
    currency_of,
    currency_problem,
    parse_rate,
    round_money,
    round_whole,
)
from .read import SheetData
from .rowformula import work_out
from .schema import CLIENTS, normalise_header
from .starter import EXAMPLE_CLIENT
from .terms import USE_ONE_OF, Terms, TermsError, parse_terms
from .writeback.xmlscan import col_letters

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up

#: Besides Yes and No, what an Active cell may say (the column's own word, and its opposite).
_ACTIVE_WORDS = {"active": True, "inactive": False}


def client_key(name: object) -> str:
    """Clients match from Services ignoring case and spacing."""
    return _text_key(cell_text(name))


@lru_cache(maxsize=1 << 14)
def _text_key(text: str) -> str:
    """`client_key` of a text: remembered, as a client's name comes back row after row."""
    return normalise_header(text)


@dataclass(frozen=True)
class ClientBook:
    """The Clients sheet, validated.

    Attributes:
      clients: key -> Client, for every row with a name (even one with problems).
      terms: key -> parsed Terms, for clients whose terms are understood.
      problems: key -> the sentence to put on that client's Services rows.
      errors: problems located on the Clients sheet itself.
      billing_only: keys of `problems` that lie only in the columns shaping new
        invoices (BILLING_COLUMNS): the invoices already issued are followed up.
    """

    clients: dict[str, Client] = field(default_factory=dict)
    terms: dict[str, Terms] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    errors: tuple[RowError, ...] = ()
    billing_only: frozenset[str] = frozenset()

    def mail_problem(self, key: str) -> str | None:
        """The problem of client `key`'s row that stops mail about its invoices already
        issued (reminders, payment notes, corrections, statements), or None.

        A bad email, a client listed twice or a language not known stop it; terms,
        a currency or a tax rate not understood only stop new invoices: what was
        issued keeps its own terms, currency and tax.
        """
        return None if key in self.billing_only else self.problems.get(key)

    def followed_up(self, key: str) -> bool:
        """Whether client `key`'s invoices get reminders and payment notes: the client is
        in Clients, active, and its row has no problem that stops its mail."""
        client = self.clients.get(key)
        return client is not None and client.active and self.mail_problem(key) is None


#: The Clients columns only new invoices are made from (issued ones keep their own).
BILLING_COLUMNS = ("Terms", "Currency", "Tax Rate")


def _client_row(
    row: int, cells: dict[str, object], sheet: SheetData, config: Config, as_of: date | None
) -> tuple[Client, Terms | None, list[RowError]]:
    def err(column: str, message: str) -> RowError:
        return RowError(sheet.name, row, sheet.headers[column], message)

    name = cell_text(cells["Client"])
    errors: list[RowError] = []
    emails, bad = parse_addresses(cell_text(cells["Email"]))
    if bad:
        errors.append(err("Email", f"{', '.join(bad)} is not a valid email address."))
    elif not emails:
        errors.append(err("Email", f"{name} has no email address; add one."))
    cc, bad_cc = parse_addresses(cell_text(cells["CC"]))
    if bad_cc:
        errors.append(err("CC", f"{', '.join(bad_cc)} is not a valid email address."))
    terms_text = cell_text(cells["Terms"]) or config.billing.default_terms
    terms: Terms | None = None
    try:
        terms = parse_terms(terms_text)
    except TermsError as exc:
        errors.append(err("Terms", str(exc)))
    currency = (cell_text(cells["Currency"]) or config.billing.currency).upper()
    if problem := currency_problem(currency, as_of):  # unknown, or no longer money (RUR, DEM, XXX)
        errors.append(err("Currency", f'"{currency}" {problem}'))
    language = (cell_text(cells["Language"]) or config.billing.language).lower()
    if language not in LANGUAGES:
        errors.append(err("Language", f'"{language}" is not supported; use en, ru or kk.'))
    tax_rate = Decimal(0)
    if not is_blank(cells["Tax Rate"]):
        try:
            tax_rate = _client_rate(cells["Tax Rate"])
        except RateTooHigh as exc:
            errors.append(
                err(
                    "Tax Rate",
                    f'"{cell_text(cells["Tax Rate"])}" would be a tax of {exc}; write the rate '
                    "as 12, 12% or 0.12.",
                )
            )
        except MoneyError:
            errors.append(
                err(
                    "Tax Rate",
                    f'"{cell_text(cells["Tax Rate"])}" is not a rate; write 12, 12% or 0.12.',
                )
            )
    active = _active(cells["Active"])
    if active is None:  # "Closed", "Paused": not invoiced nor reminded until told
        errors.append(
            err(
                "Active",
                f'"{cell_text(cells["Active"])}" is neither Yes nor No; type Yes, or No to '
                "never invoice or remind this client.",
            )
        )
    shown = _error_cells(cells, err)
    if shown:  # told as the error it shows, not as the text it would be read as
        columns = {error.column for error in shown}
        errors = shown + [error for error in errors if error.column not in columns]
    client = Client(
        key=client_key(name),
        name=name,
        emails=emails,
        cc=cc,
        address=cell_text(cells["Address"]),
        terms=terms.text if terms else terms_text,
        currency=currency,
        language=language,
        tax_rate=tax_rate,
        active=bool(active),
        row=row,
        payer_ids=split_payer_ids(cells.get("Payer ID")),
    )
    return client, terms, errors


def _active(cell: object) -> bool | None:
    """An Active cell: blank is yes; None when it says neither yes nor no."""
    if is_blank(cell):
        return True
    said = yes_or_no(cell)
    return said if said is not None else _ACTIVE_WORDS.get(cell_text(cell).casefold().rstrip("."))


def _error_cells(cells: dict[str, object], err: Callable[[str, str], RowError]) -> list[RowError]:
    """An error for each cell of a Clients row that shows an Excel error (`#N/A` from a
    failed VLOOKUP): every column of the sheet is read, and an Address or a CC would be
    printed on the invoice or mailed to as if typed."""
    return [
        err(column, message)
        for column, value in cells.items()
        if (message := shows_error(value, "the rate" if column == "Tax Rate" else "the text"))
    ]


def listed_errors(errors: dict[int, RowError], book: ClientBook) -> list[RowError]:
    """The Services errors to list, in row order: a client's problem is listed once,
    on its Clients row, not again for each of its Services rows (their Error cells
    still point to it)."""
    echoes = set(book.problems.values())
    return [errors[r] for r in sorted(errors) if errors[r].message not in echoes]


def split_payer_ids(value: object) -> tuple[str, ...]:
    """`180940012345; KZ22722C000024901213` -> each identifier, as typed."""
    text = cell_text(value)
    return tuple(p.strip() for p in re.split(r"[;,\n]", text) if p.strip()) if text else ()


def frame_records(frame: pd.DataFrame) -> Iterator[tuple[int, dict[str, object]]]:
    """(Excel row, column -> cell) for each row, as `frame.to_dict("records")` gives them,
    except that a column pandas holds as datetime64 gives datetime (None where empty)
    rather than Timestamp (NaT): the same days, read alike by `cells`.

    Taken a column at a time: pandas' own goes through every cell in Python to
    box it, and makes a Timestamp for each day, which was most of the time a
    long list of new lines took.
    """
    names = list(frame.columns)
    columns = [_column_cells(frame.iloc[:, i]) for i in range(len(names))]
    for row, values in zip(frame.index.tolist(), zip(*columns, strict=True), strict=True):
        yield int(row), dict(zip(names, values, strict=True))


def _column_cells(column: pd.Series) -> list[object]:
    kind = column.dtype
    if kind.kind == "M" and str(kind) in _DAY_TYPES:  # numpy makes the datetimes at once
        return column.to_numpy().astype(object).tolist()
    return column.tolist()


#: datetime64 units whose values are all datetimes (numpy gives ints for finer ones).
_DAY_TYPES = frozenset({"datetime64[s]", "datetime64[ms]", "datetime64[us]"})


def validate_clients(sheet: SheetData, config: Config, as_of: date | None = None) -> ClientBook:
    """The Clients sheet read: its clients, their terms, and what is wrong (a currency as of
    `as_of`, the run's date: today when None)."""
    clients: dict[str, Client] = {}
    terms: dict[str, Terms] = {}
    problems: dict[str, str] = {}
    billing_only: set[str] = set()
    errors: list[RowError] = []
    frame = sheet.frame
    billing = {sheet.headers[column] for column in BILLING_COLUMNS}
    unsaved = sheet.unsaved_formulas()
    for row, values in frame_records(frame):
        formulas = unsaved.get(int(row), [])
        if all(is_blank(v) for v in values.values()) and not formulas:
            continue
        if (error := shows_error(values["Client"], "the client's name")) is not None:
            errors.append(RowError(sheet.name, int(row), sheet.headers["Client"], error))
            continue
        name = cell_text(values["Client"])
        if not name and formulas:
            errors.extend(_unsaved_error(sheet, int(row), *found) for found in formulas)
            continue
        if not name:
            errors.append(
                RowError(sheet.name, int(row), sheet.headers["Client"], "the client name is empty.")
            )
            continue
        client, parsed, row_errors = _client_row(int(row), values, sheet, config, as_of)
        row_errors = [_unsaved_error(sheet, int(row), *found) for found in formulas] + row_errors
        if client.key in clients:
            first = clients[client.key].row
            message = f'"{name}" appears twice in {CLIENTS} (rows {first} and {row}); keep one row.'
            errors.append(RowError(sheet.name, int(row), sheet.headers["Client"], message))
            problems[client.key] = f"not billed until {CLIENTS} rows {first} and {row} are one."
            billing_only.discard(client.key)  # which row's email is meant is not known
            continue
        clients[client.key] = client
        if parsed is not None:
            terms[client.key] = parsed
        # An inactive client is never billed: no nagging. One whose Active cell says
        # neither Yes nor No is not billed nor reminded either, but is told.
        unclear = any(error.column == sheet.headers["Active"] for error in row_errors)
        if row_errors and (client.active or unclear):
            errors.extend(row_errors)
            # Said in full once, on the Clients row; the client's Services rows point
            # there with the gist, and unreadable terms with the forms accepted.
            terms_errors = [e for e in row_errors if e.column == sheet.headers["Terms"]]
            gist = _first_clause((terms_errors or row_errors)[0].message)
            if terms_errors:
                gist = f"{gist}; {USE_ONE_OF}"
            problems[client.key] = f"not billed until {CLIENTS} row {row} is fixed: {gist}."
            if all(error.column in billing for error in row_errors) and client.active:
                billing_only.add(client.key)
        elif client.key == _EXAMPLE_KEY and client.active:  # `init`'s: never billed, emailed
            errors.append(
                RowError(sheet.name, int(row), sheet.headers["Client"],
                         f'"{name}" is the example client `init` made; delete this row and its '
                         "rows in Services (it is not billed).")
            )  # fmt: skip
            problems[client.key] = (
                f"not billed: {CLIENTS} row {row} is the example client `init` made; delete it "
                "and its rows here."
            )
    return ClientBook(clients, terms, problems, tuple(errors), frozenset(billing_only))


#: A message's first clause: up to its first ";" outside quotes (a client's terms,
#: emails or Payer IDs quoted in it may hold one).
_GIST = re.compile(r'(?:[^";]|"[^"]*"?)*')


def _first_clause(message: str) -> str:
    found = _GIST.match(message)
    return (found[0] if found else message).rstrip(".")

#: The example client `init` puts in a new workbook, as a key.
_EXAMPLE_KEY = client_key(EXAMPLE_CLIENT)


def column_text(column: pd.Series) -> pd.Series:
    """`column.map(cell_text)`, without a Python call per row for the common cases.

    A long history is mostly text cells: those are stripped by pandas in one
    pass and blanks become ""; only the rare other cells (numbers, dates) go
    through `cell_text` one by one.
    """
    kinds = column.map(type)
    text = kinds.isin([str]).to_numpy(dtype=bool)
    # pd.NA is left to cell_text, which spells it out.
    blank = (column.isna() & ~kinds.isin([type(pd.NA)])).to_numpy(dtype=bool)
    result = pd.Series("", index=column.index, dtype=object)
    if text.any():
        result[text] = column[text].str.strip()
    other = ~text & ~blank
    if other.any():
        result[other] = column[other].map(cell_text)
    return result


#: The Services columns a line is read from (and that make a row more than empty).
LINE_COLUMNS = ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"]
_AMOUNT = LINE_COLUMNS.index("Amount")
#: The columns a line's amount is worked out from, and where their cells are in a line's.
_FIGURES = ("Quantity", "Unit Price", "Amount")
_FIGURE_AT = {column: LINE_COLUMNS.index(column) for column in _FIGURES}


def unbilled_rows(sheet: SheetData) -> pd.DataFrame:
    """Services rows with no Invoice No and something typed in them (vectorised)."""
    frame = sheet.frame
    invoice = frame["Invoice No"]
    # Blank text is the only blank a typed cell can be (a number or a day never is):
    # looked at in one pass, not through pandas' string methods.
    blank = [isinstance(v, str) and not v.strip() for v in invoice.tolist()]
    no_invoice = invoice.isna() | pd.Series(blank, index=invoice.index, dtype=bool)
    return line_rows(frame[no_invoice])  # a long history is mostly billed: the rest looked at


def line_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Of Services `rows`, those that hold a line: something typed in a line's columns,
    and no totals row typed by hand under the lines (`_totals_row`)."""
    typed = rows[_typed(rows)]
    labelled = typed[typed["Client"].isna()]  # a line names its client: few rows to look at
    totals = [row for row, *cells in labelled[LINE_COLUMNS].itertuples() if _totals_row(cells)]
    return typed.drop(index=totals) if totals else typed


def emptied_error_rows(sheet: SheetData, lines: Collection[int]) -> list[int]:
    """Services rows marked Error that are no line now (not in `lines`, no Invoice No,
    nothing typed): their line was cleared, or they were a spare table row all along.
    Also those whose Status was cleared with the Invoice No, the Error left (a row kept
    with only the tool's cells, cleared as told). Their Status and Error are to be cleared."""
    frame = sheet.frame
    told = (frame["Status"] == LINE_ERROR) | (frame["Status"].isna() & frame["Error"].notna())
    marked = frame[told.to_numpy() & ~frame.index.isin(list(lines))]
    if marked.empty:
        return []
    empty = (column_text(marked["Invoice No"]) == "") & ~_typed(marked)
    return [int(row) for row in marked.index[empty.to_numpy()]]


def bare_rows(sheet: SheetData, rows: Collection[int]) -> set[int]:
    """Of `rows`, those with nothing typed in a line's columns: only other cells, such as
    the tool's Invoice No, Due Date and Status, left behind when a line was cut and pasted
    elsewhere, or cleared."""
    frame = sheet.frame.loc[sheet.frame.index.intersection(sorted(set(rows)))]
    if frame.empty:
        return set()
    return {int(row) for row in frame.index[~_typed(frame).to_numpy(dtype=bool)]}


def _typed(rows: pd.DataFrame) -> pd.Series:
    """Rows with something typed in a line's columns (an Amount of 0 alone is not)."""
    return rows[LINE_COLUMNS[:_AMOUNT]].notna().any(axis=1) | _amount_only(rows)


def _amount_only(rows: pd.DataFrame) -> pd.Series:
    """Rows whose Amount holds something other than 0.

    Excel fills a table's calculated Amount (`=[@Quantity]*[@[Unit Price]]`) into
    its empty rows too, where it shows 0, as does a formula copied down a plain
    range ahead of the lines: such a row, with nothing else typed, is a spare row,
    not a line with its date missing.
    """
    amount = rows["Amount"]
    zero = [v.__class__ is int and v == 0 or v.__class__ is float and v == 0 for v in amount]
    return amount.notna() & ~pd.Series(zero, index=rows.index, dtype=bool)


def _totals_row(cells: list[object]) -> bool:
    """Whether a row (cells of LINE_COLUMNS) is a totals row typed by hand under the lines:
    labelled Total in its Date or Description, with no Client, and either no Quantity or
    Unit Price or no date (the label in Date, or Date empty): a Total row that sums the
    Quantity column as well as the Amount is as common as one that does not. It is no
    service and no mistake: it is left alone, like a table's totals row."""
    day, client, description, quantity, price, _amount = cells
    if not is_blank(client) or not (is_total_label(description) or is_total_label(day)):
        return False
    return (is_blank(quantity) and is_blank(price)) or is_blank(day) or is_total_label(day)


def read_service_line(
    row: int, cells: dict[str, object], sheet: SheetData
) -> ServiceLine | RowError:
    """One Services row as a line (amount worked out as for billing), or why it cannot be."""
    return _service_line(row, sheet, *(cells[column] for column in LINE_COLUMNS))


def _service_line(
    row: int,
    sheet: SheetData,
    day: object,
    client_cell: object,
    description_cell: object,
    *numbers: object,
) -> ServiceLine | RowError:
    """`read_service_line` of the cells of LINE_COLUMNS, in that order.

    Runs for every new line of a long log: no closure is made per line; what
    is wrong is told through `_line_error`.
    """
    if day.__class__ is datetime:  # the usual cell: what cell_date does, without the calls
        when = day.date()
    elif is_blank(day):
        return _line_error(
            sheet, row, "Date", "the date is missing; type the date the service was provided."
        )
    else:
        try:
            when = cell_date(day, sheet.date_order)
        except CellError as exc:
            return _line_error(sheet, row, "Date", str(exc))
    if client_cell.__class__ is ExcelError or description_cell.__class__ is ExcelError:
        return _shown_error(sheet, row, client_cell, description_cell)
    client = cell_text(client_cell)
    if not client:
        return _line_error(
            sheet, row, "Client", "the client is missing; type a name from the Clients sheet."
        )
    description = cell_text(description_cell)
    if not description:
        return _line_error(
            sheet, row, "Description", "the description is missing; say what the service was."
        )
    amounts = _line_amounts(*numbers)
    if isinstance(amounts, str):
        return _line_error(sheet, row, *amounts.split("|", 1))
    quantity, price, amount = amounts
    return ServiceLine(
        row=row,
        service_date=when,
        client=client,
        client_key=_text_key(client),
        description=description,
        quantity=quantity,
        unit_price=price,  # None: not typed; the invoice shows Amount / Quantity, rounded
        amount=amount,
    )


def _shown_error(
    sheet: SheetData, row: int, client_cell: object, description_cell: object
) -> RowError:
    """A Services row whose Client or Description shows an Excel error (`#N/A` from a
    failed VLOOKUP): a Description would be printed on the invoice as "#N/A"."""
    client = shows_error(client_cell, "the client's name")
    if client is not None:
        return _line_error(sheet, row, "Client", client)
    return _line_error(sheet, row, "Description", shows_error(description_cell, "the text") or "")


def _line_error(sheet: SheetData, row: int, column: str, message: str) -> RowError:
    """What is wrong with a Services row's cell in `column`."""
    return RowError(sheet.name, row, sheet.headers[column], message)


#: (quantity, unit price or None, amount) of a line, or "column|what is wrong".
Amounts = tuple[Decimal, Decimal | None, Decimal] | str


def _line_amounts(quantity: object, price: object, amount: object) -> Amounts:
    """`_amounts` of three cells; remembered for the usual cells (numbers and text), as a
    log's quantities and prices come back row after row."""
    if _rememberable(quantity) and _rememberable(price) and _rememberable(amount):
        return _remembered_amounts(quantity, price, amount)
    return _amounts(quantity, price, amount)


def _client_rate(value: object) -> Decimal:
    """`parse_rate` of a Tax Rate cell; remembered for the usual cells, as clients share
    a few rates."""
    return _remembered_rate(value) if _rememberable(value) else parse_rate(value)


@lru_cache(maxsize=1 << 10, typed=True)
def _remembered_rate(value: object) -> Decimal:
    return parse_rate(value)


def _rememberable(value: object) -> bool:
    kind = value.__class__
    # Not a float zero: 0.0 and -0.0 are one key, but Decimal("0") and Decimal("-0").
    return kind is int or kind is str or (kind is float and bool(value))


@lru_cache(maxsize=1 << 14, typed=True)  # typed: the cell 1 and the cell 1.0 apart
def _remembered_amounts(quantity: object, price: object, amount: object) -> Amounts:
    return _amounts(quantity, price, amount)


def _amounts(quantity_cell: object, price_cell: object, amount_cell: object) -> Amounts:
    """A line's Quantity, Unit Price and Amount cells as numbers (Amount worked out when
    it is not typed), or the column and what is wrong."""
    try:
        quantity = Decimal(1) if is_blank(quantity_cell) else cell_decimal(quantity_cell)
    except CellError as exc:
        return f"Quantity|{exc}"
    try:
        price = None if is_blank(price_cell) else cell_decimal(price_cell)
    except CellError as exc:
        return f"Unit Price|{exc}"
    try:
        amount = None if is_blank(amount_cell) else cell_decimal(amount_cell)
    except CellError as exc:
        return f"Amount|{exc}"
    if amount is None and price is None:
        return "Amount|there is no Amount and no Unit Price; fill in one of them."
    if price is not None:
        expected = quantity * price
        if amount is not None and abs(amount - expected) > TOLERANCE and amount != _whole(expected):
            return f"Amount|{_not_the_product(quantity, price, amount)}"
        if amount is None and abs(expected) >= LARGEST:  # as if Amount were =D2*E2
            return (
                f"Unit Price|Quantity x Unit Price ({quantity} x {price} = {expected}) is too "
                "large to be an amount; check the Quantity and the Unit Price."
            )
        amount = expected if amount is None else amount
    assert amount is not None
    if quantity == 0 and amount != 0:
        return (
            f"Quantity|Quantity is 0 but the Amount is {amount}; correct the Quantity or the "
            "Amount."
        )
    return quantity, price, amount


def _whole(amount: Decimal) -> Decimal:
    """`amount` rounded half up to a whole unit: the Amount of a line in a currency
    without a smaller unit (¥18,892 for 0.5 x ¥37,783), which `validate_services` lets
    stand only in such a currency."""
    return round_whole(amount)


def _not_the_product(quantity: Decimal, price: Decimal, amount: Decimal) -> str:
    return (
        f"Amount {amount} does not equal Quantity x Unit Price "
        f"({quantity} x {price} = {quantity * price}); correct one of them."
    )


def rounded_elsewhere(line: ServiceLine, currency: str) -> str | None:
    """What is wrong with an Amount typed as the product rounded to a whole unit
    (`_whole`) in a currency that has a smaller unit; None when nothing is."""
    if line.unit_price is None:
        return None
    product = line.quantity * line.unit_price
    if abs(line.amount - product) <= TOLERANCE or line.amount == round_money(product, currency):
        return None
    return _not_the_product(line.quantity, line.unit_price, line.amount)


def validate_services(
    sheet: SheetData, book: ClientBook
) -> tuple[list[ServiceLine], dict[int, RowError]]:
    """Valid unbilled lines, and an error per bad unbilled row (row -> error)."""
    lines: list[ServiceLine] = []
    errors: dict[int, RowError] = {}
    rows = unbilled_rows(sheet)
    columns = [_column_cells(rows[column]) for column in LINE_COLUMNS]
    known, problems, keep = book.clients, book.problems, lines.append  # looked up once
    unsaved = sheet.unsaved_formulas(rows.index.tolist(), LINE_COLUMNS)
    product = _Product.of(sheet) if unsaved else None
    zeros = sheet.zero_formulas(rows.index.tolist(), _FIGURES)
    for row, *cells in zip(rows.index.tolist(), *columns, strict=True):
        if product is not None and row in unsaved:
            worked = _worked_out(product, row, unsaved[row], cells)
            refused = [(c, f) for c, f in unsaved[row] if c not in worked]
            if refused:
                if not skipped_client(cells[1], book):
                    errors[int(row)] = _unsaved_error(sheet, int(row), *refused[0])
                continue
            for column, value in worked.items():  # a stand-in 0 is no result
                cells[_FIGURE_AT[column]] = value
        result = _service_line(row, sheet, *cells)
        if zeros and row in zeros:
            result = _zero_checked(sheet, int(row), result, cells, zeros[row])
        if isinstance(result, RowError):
            if not skipped_client(cells[1], book):  # an inactive client's row is Skipped, as it is
                errors[int(row)] = result
            continue
        client = known.get(result.client_key)
        if client is None:
            errors[int(row)] = RowError(
                sheet.name,
                int(row),
                sheet.headers["Client"],
                f'"{result.client}" is not in {CLIENTS}; add the client there or fix the name.',
            )
            continue
        problem = problems.get(result.client_key)
        if not client.active and not problem:  # never billed, whatever else is wrong: Skipped
            keep(result)
            continue
        if problem:
            errors[int(row)] = RowError(sheet.name, int(row), sheet.headers["Client"], problem)
            continue
        rounded = rounded_elsewhere(result, client.currency)
        if rounded is not None:
            errors[int(row)] = _line_error(sheet, int(row), "Amount", rounded)
            continue
        if str in (cells[3].__class__, cells[4].__class__, cells[5].__class__):  # text typed
            other = _other_currency(cells[3:], client)
            if other is not None:
                errors[int(row)] = _line_error(sheet, int(row), *other)
                continue
        keep(result)
    return lines, errors


def skipped_client(client_cell: object, book: ClientBook) -> bool:
    """Whether a Services row's Client cell names an inactive client: its row is never
    billed, so nothing else wrong with it is told (its Status says Skipped). Not a client
    whose Clients row is to be fixed first (an Active cell that says neither Yes nor No,
    the client on two rows): its rows wait, told why."""
    client = book.clients.get(client_key(client_cell))
    return client is not None and not client.active and client.key not in book.problems


def inactive_rows(sheet: SheetData, book: ClientBook, lines: Collection[int]) -> list[int]:
    """Unbilled Services rows of inactive clients that are no valid line (not in `lines`):
    Skipped, whatever else is wrong with them."""
    if all(client.active for client in book.clients.values()):
        return []
    frame = sheet.frame
    names = [v for v in frame["Client"].unique() if skipped_client(v, book)]
    if not names:
        return []
    rows = frame[frame["Client"].isin(names).to_numpy() & ~frame.index.isin(list(lines))]
    rows = rows[(column_text(rows["Invoice No"]) == "").to_numpy()]
    return [int(row) for row in rows.index[_typed(rows).to_numpy()]]


def read_billed_rows(
    sheet: SheetData, rows: pd.DataFrame
) -> list[tuple[int, ServiceLine | RowError]]:
    """Billed Services rows read as lines (`read_service_line`), to compare with what was
    billed. A formula saved without its result (a workbook last saved by a script) shows a
    stand-in 0 or nothing: read as an empty cell, so an Amount is Quantity x Unit Price
    (the billed line decides whether the row changed; no error of its own)."""
    unsaved = sheet.unsaved_formulas(rows.index.tolist(), LINE_COLUMNS)
    product = _Product.of(sheet) if unsaved else None
    found: list[tuple[int, ServiceLine | RowError]] = []
    for row, values in zip(rows.index.tolist(), rows.to_dict("records"), strict=True):
        if product is not None and row in unsaved:
            figures = [values.get(column) for column in LINE_COLUMNS]
            worked = _worked_out(product, row, unsaved[row], figures)
            values = {**values, **{column: worked.get(column) for column, _ in unsaved[row]}}
        found.append((int(row), read_service_line(int(row), values, sheet)))
    return found


def unsaved_message(formula: str) -> str:
    """What a cell holding a formula saved without its result is told."""
    return (
        f"holds the formula ={formula}, whose result was never saved (the workbook was last "
        "saved by a program that does not calculate formulas): open it in Excel and save it, "
        "or in LibreOffice recalculate first (Data > Calculate > Recalculate Hard, "
        "Ctrl+Shift+F9) and save it, then run again."
    )


def _unsaved_error(sheet: SheetData, row: int, column: str, formula: str) -> RowError:
    return _line_error(sheet, row, column, unsaved_message(formula))


def _zero_checked(
    sheet: SheetData,
    row: int,
    result: ServiceLine | RowError,
    cells: list[object],
    formulas: list[tuple[str, str]],
) -> ServiceLine | RowError:
    """A new line (`result`, read from `cells`) whose `formulas` (column, formula) were
    saved with the result 0, as it stands when a 0 typed on it says that zero is meant;
    else a row error (`_zero_error`), which also tells why its figures disagree. What is
    wrong with its Date, Client or Description is told as it is."""
    if _zero_meant(cells, formulas):
        return result
    if isinstance(result, RowError) and result.column not in {
        sheet.headers[column] for column in _FIGURES
    }:
        return result
    return _zero_error(sheet, row, *formulas[0])


def _zero_meant(cells: list[object], formulas: list[tuple[str, str]]) -> bool:
    """Whether a line whose `formulas` (column, formula) were saved with the result 0 says
    that zero is meant: a 0 typed (not a formula) in its Quantity, Unit Price or Amount."""
    worked_out = {column for column, _formula in formulas}
    return any(
        _number(cells[at]) == 0 for column, at in _FIGURE_AT.items() if column not in worked_out
    )


def _zero_error(sheet: SheetData, row: int, column: str, formula: str) -> RowError:
    """A new line's formula saved with the result 0, with nothing typed on the line saying
    zero is meant: LibreOffice, by default, saves the 0s a script put in place of results
    it did not work out, without recalculating them. Never billed at 0 unless typed."""
    return _line_error(
        sheet,
        row,
        column,
        f"the formula ={formula} in {sheet.headers[column]} was saved with the result 0: if 0 "
        "is right, type 0 in its place; if not, the workbook was saved without working its "
        "formulas out, so recalculate them (in LibreOffice: Data > Calculate > Recalculate "
        "Hard, Ctrl+Shift+F9), save, and run again.",
    )


def _worked_out(
    product: _Product, row: int, formulas: list[tuple[str, str]], cells: list[object]
) -> dict[str, object]:
    """Of a line's `formulas` (column, formula) saved without their result, those whose
    value is known: column -> the value (None for an Amount that is Quantity x Unit Price
    of the row: worked out as for an empty Amount), each other plain arithmetic on the
    row's Quantity and Unit Price (`rowformula.work_out`: =ROUND(D7*E7,2), a Unit Price
    of =ROUND(400*1.05,2)). `cells` are the line's, in LINE_COLUMNS order."""
    pending = dict(formulas)
    worked: dict[str, object] = {}
    refs: dict[str, Decimal | None] = {}
    for column, letter, name in zip(
        ("Quantity", "Unit Price"), product.letters, product.names, strict=True
    ):
        if column in pending:
            value = work_out(pending[column], row, {})  # numbers only: =2.5, =ROUND(400*1.05,2)
            if value is not None:
                worked[column] = value
        else:
            value = _number(cells[_FIGURE_AT[column]])
        refs[letter] = refs[name] = value
    if "Amount" in pending:
        # An empty Quantity is 0 to Excel (the line's Quantity 1 is this tool's reading of
        # an empty cell, not Excel's): such a formula is not worked out here.
        figures = all(refs[letter] is not None for letter in product.letters)
        if figures and _is_product(product, row, pending["Amount"]):
            worked["Amount"] = None
        elif (value := work_out(pending["Amount"], row, refs)) is not None:
            worked["Amount"] = value
    return worked


def _number(cell: object) -> Decimal | None:
    """A Quantity or Unit Price cell as the number a formula on its row sees; None when it
    is empty or no number (a formula using it is then not worked out)."""
    if is_blank(cell) or isinstance(cell, bool):
        return None
    try:
        return cell_decimal(cell)
    except CellError:
        return None


@dataclass(frozen=True)
class _Product:
    """How a sheet writes Quantity x Unit Price of a row: column letters and header names."""

    letters: tuple[str, str]
    names: tuple[str, str]

    @classmethod
    def of(cls, sheet: SheetData) -> _Product:
        def letter(column: str) -> str:
            return col_letters(sheet.columns[column]) if column in sheet.columns else "?"

        def name(column: str) -> str:
            return normalise_header(sheet.headers[column]).replace(" ", "")

        return cls(
            (letter("Quantity"), letter("Unit Price")), (name("Quantity"), name("Unit Price"))
        )


_STRUCTURED = re.compile(r"(?:\w*\[)?(?:@|\[#thisrow\],)\[?([^\]]+)\]?\]?")


def _is_product(product: _Product, row: int, formula: str) -> bool:
    """Whether an Amount formula saved without its result is only Quantity x Unit Price of
    its own row (=D7*E7, =[@Quantity]*[@[Unit Price]]): the amount is then worked out
    from them, as for an empty Amount. Any other formula is refused, never guessed."""
    text = formula.replace("$", "").replace(" ", "").lstrip("=")
    (q, p), (quantity, price) = product.letters, product.names
    if text in (f"{q}{row}*{p}{row}", f"{p}{row}*{q}{row}"):  # the usual: =D7*E7
        return True
    operands = text.split("*")
    if len(operands) != 2:
        return False
    named = []
    for operand in operands:
        ref = operand.upper()
        found = _STRUCTURED.fullmatch(operand.lower())
        named.append(
            quantity if ref == f"{q}{row}" else price if ref == f"{p}{row}"
            else found.group(1) if found else None
        )  # fmt: skip
    return sorted(map(str, named)) == sorted((quantity, price))


#: A currency code beside a number typed as text ("RUB 55320.62").
_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
#: Currency signs a number typed as text may carry (money.D reads past them).
_SIGNS = re.compile(f"[{re.escape(TEXT_SIGNS)}]")


def other_currency(cell: object, currency: str) -> str | None:
    """The currency a number typed as text names by its sign or code, when it is not
    `currency` ("$1,200.00" or "USD 1,200.00" where EUR is meant: "USD"); else None."""
    if not isinstance(cell, str):
        return None
    code = _CODE.search(cell)
    if code is not None and code.group(1).upper() in CURRENCY_CODES:
        return code.group(1).upper() if code.group(1).upper() != currency else None
    if (found := _SIGNS.search(cell)) is None:
        return None
    sign = found.group(0)
    meant = currency_of(sign, currency) or sign  # a sign no currency of its own: told as is
    return meant if meant != currency else None


def _other_currency(numbers: list[object], client: Client) -> tuple[str, str] | None:
    """(column, why) when Quantity, Unit Price or Amount typed as text carries the sign of
    another currency than the client's ("$1,200.00" for a client billed in EUR); or when
    Quantity, a count, carries any currency's ("$1,250.50" billed as 1,250.5 units)."""
    quantity = numbers[0]
    if isinstance(quantity, str) and other_currency(quantity, "") is not None:
        return "Quantity", (
            f'"{quantity.strip()}" is an amount of money, but Quantity is a count (hours, '
            "items): type the number of units here, and the price in Unit Price."
        )
    for column, cell in zip(("Quantity", "Unit Price", "Amount"), numbers, strict=True):
        meant = other_currency(cell, client.currency)
        if meant is not None:
            assert isinstance(cell, str)
            return column, (
                f'"{cell.strip()}" is in {meant}, but {client.name} is billed in '
                f"{client.currency}; type the amount in {client.currency}, or change the "
                "client's Currency."
            )
    return None
