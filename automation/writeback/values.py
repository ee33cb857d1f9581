"""Cell values as stored in a worksheet part, and whether a write would change them.

>>> _number_text(Decimal("12.50"))
'12.5'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from automation.model import CellValue, Money
from automation.writeback.records import WriteBackError
from automation.writeback.strings import SharedStrings
from automation.writeback.styles import MONEY, Styles, money_kind
from automation.writeback.xmlscan import text_of

MAX_TEXT = 32_767  # Excel refuses longer cell text
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_EXCEL_ESCAPE = re.compile("(_x[0-9A-Fa-f]{4}_)")


@dataclass
class Context:
    """What every sheet edit shares: strings, styles and the date system."""

    strings: SharedStrings
    styles: Styles
    date1904: bool
    formulas_removed: bool = False
    shared_strings_dropped: int = 0  # cells that referred to sharedStrings.xml and no longer do


def _clean_text(text: str) -> str:
    """Text that is legal in XML and fits in a cell, as stored in the part.

    Control characters are dropped. Excel reads "_x0041_" in cell text as an
    escaped character, so a literal one is protected as "_x005F_x0041_".
    """
    if not text.isprintable():  # printable text has no control characters or surrogates
        text = _ILLEGAL_XML.sub("", text)
    text = text[:MAX_TEXT]
    return _EXCEL_ESCAPE.sub(r"_x005F\1", text) if "_x" in text else text


def _serial(value: date, date1904: bool) -> Decimal:
    """Excel's serial number for a date or datetime (local wall time)."""
    day = value.date() if isinstance(value, datetime) else value
    if date1904:
        days = (day - date(1904, 1, 1)).days
    else:
        days = (day - date(1899, 12, 30)).days
        if day < date(1900, 3, 1):
            days -= 1  # Excel counts a 29 February 1900 that never was
    if days < (0 if date1904 else 1):
        raise WriteBackError(f"The date {value} is too early for Excel.")
    serial = Decimal(days)
    if isinstance(value, datetime):
        micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000
        serial += (Decimal(micros + value.microsecond) / Decimal(86_400_000_000)).quantize(
            Decimal("1E-12")
        )
    return serial


def _number_text(value: Decimal) -> str:
    if not value.is_finite():
        raise WriteBackError(f"The number {value} cannot be written to a cell.")
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


@lru_cache(maxsize=1024)
def _date_text(value: date, date1904: bool) -> str:
    """A date's serial number as stored: 25,000 rows written share a few due dates."""
    return _number_text(_serial(value, date1904))


def encode_value(value: CellValue, ctx: Context) -> tuple[str, str | None]:
    """(kind, text) of a value as it is stored: kinds s/n/money/b/date/datetime/empty."""
    if value is None or value == "":
        return "empty", None
    if isinstance(value, str):
        return "s", _clean_text(value)
    if isinstance(value, bool):
        return "b", "1" if value else "0"
    if isinstance(value, datetime):
        return "datetime", _number_text(_serial(value, ctx.date1904))
    if isinstance(value, date):
        return "date", _date_text(value, ctx.date1904)
    if isinstance(value, Decimal):
        return MONEY, _number_text(value)  # every Decimal the tool writes is an amount
    if isinstance(value, Money):
        return money_kind(value.currency), _number_text(value.amount)
    if isinstance(value, int):
        return "n", _number_text(Decimal(value))
    raise WriteBackError(f"A value of type {type(value).__name__} cannot be written to a cell.")


def current_value(c: Any, ns: str, ctx: Context) -> tuple[str, str | None]:
    """(kind, text) of what a cell holds now, in the terms of `encode_value`."""
    if c is None or not len(c):  # no <v>, <f> or <is>: nothing in it
        return "empty", None
    kind = c.get("t", "n")
    v = c.find(f"{{{ns}}}v")
    v_text = v.text if v is not None else None
    if kind == "inlineStr":
        is_el = c.find(f"{{{ns}}}is")
        text = text_of(is_el, ns) if is_el is not None else ""
        return ("s", text) if text else ("empty", None)
    if v_text is None or v_text == "":
        return "empty", None
    if kind == "s":
        try:
            return "s", ctx.strings.get(int(v_text))
        except ValueError:
            return "s", ""
    if kind == "str":
        return "s", v_text
    if kind == "e":
        return "e", v_text
    if kind == "d":
        return "iso", v_text
    return ("b" if kind == "b" else "n"), v_text


def same_value(new: tuple[str, str | None], old: tuple[str, str | None], ctx: Context) -> bool:
    new_kind, new_text = new
    old_kind, old_text = old
    if new_kind in {"empty", "s", "b"}:
        return new_kind == old_kind and new_text == old_text
    if old_kind == "iso" and new_kind in {"date", "datetime"} and old_text:
        try:
            old_text = _number_text(_serial(datetime.fromisoformat(old_text), ctx.date1904))
        except ValueError:
            return False
    elif old_kind != "n":
        return False
    try:
        a, b = Decimal(new_text or "0"), Decimal(old_text or "")
    except InvalidOperation:
        return False
    if new_kind == "datetime":
        return abs(a - b) < Decimal("0.000001")  # about a tenth of a second
    return a == b or float(a) == float(b)  # Excel's own float noise is not a change
