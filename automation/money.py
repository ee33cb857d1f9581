"""The one place where money is made and rounded.

Never use floats for money. Cell values coming out of Excel as floats are
converted through their shortest decimal representation (`Decimal(str(x))`),
and every total is rounded once, half-up, to the currency's minor unit:

>>> to_money(0.1 + 0.2)
Decimal('0.3')
>>> round_money(Decimal("10.005"), "USD")
Decimal('10.01')
>>> round_money(Decimal("1234.5"), "JPY")
Decimal('1235')
>>> D("1.250,00"), D("1,250.00"), D("12,5")
(Decimal('1250.00'), Decimal('1250.00'), Decimal('12.5'))
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

ZERO = Decimal("0")
CENT = Decimal("0.01")
#: Two amounts closer than this are the same amount (a bookkeeper's cent).
TOLERANCE = Decimal("0.01")


class MoneyError(ValueError):
    """A value that cannot be read as an amount of money."""


def D(value: Any) -> Decimal:  # noqa: N802 - the conventional name (Beancount's D)
    """Make a Decimal from a str, int, Decimal or float without float noise."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise MoneyError(f"{value!r} is not a number")
        # Excel keeps 15 significant digits; anything past them is float noise.
        return Decimal(f"{value:.15g}")
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        for sign in ("$", "€", "£", "₸", "₽"):
            text = text.replace(sign, "")
        if "," in text and "." in text and text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")  # 1.250,00: European
        elif "," in text and "." not in text and re.fullmatch(r"-?\d+,\d{1,2}", text):
            text = text.replace(",", ".")  # a decimal comma: 12,50
        text = text.replace(",", "")
        if text.startswith("(") and text.endswith(")"):
            text = "-" + text[1:-1]
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a number") from None
        if not result.is_finite():
            raise MoneyError(f"{value!r} is not a number")
        return result
    raise MoneyError(f"{value!r} is not a number")


def to_money(value: Any) -> Decimal:
    """A cell value as a Decimal amount (not yet rounded)."""
    return D(value)


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> Decimal:
    """The smallest unit of a currency: Decimal('0.01') for USD, ('1') for JPY.

    Cached: every amount printed is rounded through here, and Babel looks the
    currency up in its tables on each call.
    """
    try:
        digits = get_currency_precision(currency.upper())
    except Exception:  # babel raises on nothing for unknown codes, but be safe
        digits = 2
    return Decimal(1).scaleb(-digits)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: the only rounding rule."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def same_amount(a: Decimal, b: Decimal) -> bool:
    """True when two amounts agree within a cent."""
    return abs(a - b) <= TOLERANCE


def parse_rate(value: Any) -> Decimal:
    """A tax rate as a fraction: `12`, `"12%"` and `0.12` all give Decimal('0.12').

    A plain number of 1 or more is a percentage, below 1 a fraction.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            return D(text[:-1]) / 100
        number = D(text)
    else:
        number = D(value)
    if number < 0:
        raise MoneyError(f"{value!r} is negative")
    return number / 100 if number >= 1 else number
