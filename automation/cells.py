"""Cell values at the boundary: what the engine gives -> str, Decimal, date.

Each converter raises CellError with a plain sentence a bookkeeper can act on.

>>> cell_date("2026-03-05"), cell_date("03/05/2026", order="MDY")
(datetime.date(2026, 3, 5), datetime.date(2026, 3, 5))
>>> cell_decimal(12.5)
Decimal('12.5')
>>> is_blank(float("nan")), is_blank("  "), is_blank(0)
(True, True, False)
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .datetext import DateTextError, read_date_text
from .lazy import lazy_import
from .money import AmbiguousNumber, D, MoneyError

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up

#: No amount, price or quantity on an invoice comes near this (a trillion).
LARGEST = Decimal("1e12")


#: Yes and no as typed in a Yes/No cell (Active, Resend), in the languages of the
#: documents; a checkbox (TRUE, FALSE) and 1 and 0 say yes and no too.
YES_WORDS = frozenset({"yes", "y", "да", "иә", "true", "1"})
NO_WORDS = frozenset({"no", "n", "нет", "жоқ", "false", "0"})


class CellError(ValueError):
    """A cell value of the wrong kind; the message says what to write instead."""


class ExcelError(str):
    """The Excel error value (`#N/A`, `#REF!`, `#DIV/0!`) a cell shows in place of its
    formula's result, as its text.

    The reader puts it in its cell as this kind of text, apart from text typed, so that
    any column the tool reads tells it on the row (`shows_error`) rather than billing
    it, or printing "#N/A" on an invoice as if it were typed.
    """


def shows_error(value: Any, instead: str) -> str | None:
    """What a cell showing an Excel error is told (`instead`: what to type instead,
    "the text"), or None for any other cell.

    >>> shows_error(ExcelError("#N/A"), "the text")
    'shows the Excel error #N/A (its formula failed): fix the formula or type the text.'
    >>> shows_error("#N/A", "the text") is None  # text typed (a Text cell): read as typed
    True
    """
    if value.__class__ is not ExcelError:
        return None
    return f"shows the Excel error {value} (its formula failed): fix the formula or type {instead}."


def is_blank(value: Any) -> bool:
    kind = value.__class__  # the usual cells first: this is asked of every cell validated
    if kind is str:
        return not value.strip()
    if kind is float:
        return value != value  # NaN
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return value is pd.NaT


#: The label of a totals row typed by hand: "Total", "TOTAL:", "Subtotal", "Grand total".
TOTAL_LABEL = re.compile(r"(?:grand\s+|sub-?\s*)?totals?\s*:?", re.IGNORECASE)


def is_total_label(value: Any) -> bool:
    """Whether a cell labels a totals row typed by hand (under the Services lines, or as
    the Invoices sheet's last row); a label only, so that "Total refit" is a service.

    >>> [is_total_label(t) for t in ("Total", " TOTAL: ", "Subtotal", "Grand total", "Totals")]
    [True, True, True, True, True]
    >>> is_total_label("Total refit"), is_total_label(12)
    (False, False)
    """
    return isinstance(value, str) and TOTAL_LABEL.fullmatch(value.strip()) is not None


def cell_text(value: Any) -> str:
    """A cell as trimmed text ('' for blank); whole numbers lose their '.0'."""
    if value.__class__ is str:  # most cells: the same as below, without the calls
        return value.strip()
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    return str(value).strip()


#: What separates the numbers a cell lists: the tool writes "CN-1; CN-2"; typed by
#: hand, one a line (Alt+Enter) reads the same. Not a comma: a number may hold one.
LIST_SEPARATOR = re.compile(r"[;\n]")


def listed_numbers(value: Any) -> tuple[str, ...]:
    """The numbers a cell lists (a Credit Notes cell), each trimmed, blanks left out."""
    return tuple(p.strip() for p in LIST_SEPARATOR.split(cell_text(value)) if p.strip())


def yes_or_no(value: Any) -> bool | None:
    """A Yes/No cell: True for a yes, False for a no, None for anything else, a blank
    cell too (told apart by `is_blank`). Case and a trailing full stop are ignored.

    >>> yes_or_no("Нет"), yes_or_no("No."), yes_or_no(True), yes_or_no("Closed")
    (False, False, True, None)
    """
    word = cell_text(value).casefold()
    word = word[:-1].rstrip() if word.endswith(".") else word
    return True if word in YES_WORDS else False if word in NO_WORDS else None


def cell_date(value: Any, order: str = "") -> date:
    """A date cell (or date text, see `datetext`; slash dates follow `order`) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if (error := shows_error(value, "the date")) is not None:
            raise CellError(error)
        try:
            return read_date_text(value, order)
        except DateTextError as exc:
            raise CellError(str(exc)) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise CellError(
            f"{cell_text(value)} is a plain number, not a date; format the cell as a date."
        )
    if isinstance(value, timedelta | time):  # a cell formatted as a duration or a time of day
        raise CellError(
            "the cell is formatted as a time or a duration (such as [h]:mm), not as a date; "
            "format it as a date (Format Cells > Date), e.g. 2026-03-05."
        )
    raise CellError(f"{cell_text(value)} is not a date; type it as a date, e.g. 2026-03-05.")


def cell_datetime(value: Any) -> datetime | None:
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def cell_decimal(value: Any) -> Decimal:
    """A number cell (or numeric text such as "1,250.00") as a Decimal."""
    if (error := shows_error(value, "the number")) is not None:
        raise CellError(error)
    if isinstance(value, datetime | date):
        raise CellError(f"{cell_text(value)} is a date, not a number.")
    if isinstance(value, timedelta | time):  # a cell formatted as hours:minutes
        seconds = (
            value.total_seconds()
            if isinstance(value, timedelta)
            else value.hour * 3600 + value.minute * 60 + value.second
        )
        hours, minutes = divmod(round(seconds / 60), 60)
        raise CellError(
            f"{hours}:{minutes:02d} is a time, not a number; type hours as a number "
            f"({Decimal(round(seconds / 60)) / 60:.2f} for {hours}:{minutes:02d}) and format "
            "the cell as a number."
        )
    try:
        number = D(value.strip() if isinstance(value, str) else value)
    except AmbiguousNumber as exc:
        raise CellError(f"{exc}.") from None
    except MoneyError:
        raise CellError(
            f'"{cell_text(value)}" is not a number; type it in digits, such as 2 or 1250.50.'
        ) from None
    if abs(number) >= LARGEST:
        raise CellError(f'"{cell_text(value)}" is too large to be an amount or a quantity.')
    return number


def optional_date(value: Any, order: str = "") -> date | None:
    return None if is_blank(value) else cell_date(value, order)


def optional_decimal(value: Any) -> Decimal | None:
    return None if is_blank(value) else cell_decimal(value)
