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
>>> D("1.250,00"), D("1,250.00"), D("12,5"), D("+12,50")
(Decimal('1250.00'), Decimal('1250.00'), Decimal('12.5'), Decimal('12.50'))
>>> D("600,-"), D("1.250,-"), D("600.-")
(Decimal('600'), Decimal('1250'), Decimal('600'))

Bank statements are read strictly: a bank says which mark is its decimal one,
and an amount that does not fit it is refused, never guessed at another size:

>>> parse_bank_amount("-1.234,56 EUR", ","), parse_bank_amount("+0,30", None)
((Decimal('-1234.56'), 'EUR'), (Decimal('0.30'), ''))
>>> parse_bank_amount("1234.56", ",")
Traceback (most recent call last):
...
automation.money.DecimalMarkError: '1234.56' does not fit the decimal mark ','
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.core import Locale, UnknownLocaleError, get_global
from babel.languages import get_official_languages
from babel.numbers import get_currency_precision, get_currency_symbol, list_currencies

ZERO = Decimal("0")
CENT = Decimal("0.01")
#: Two amounts closer than this are the same amount (a bookkeeper's cent).
TOLERANCE = Decimal("0.01")


class MoneyError(ValueError):
    """A value that cannot be read as an amount of money."""


class AmbiguousNumber(MoneyError):
    """A number typed as text that reads one way in one country and another in the next."""


class DecimalMarkError(MoneyError):
    """A bank amount whose marks contradict the decimal mark it is said to use."""


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
        return _typed_number(value)
    raise MoneyError(f"{value!r} is not a number")


#: The currency signs a number typed as text may carry (read past; see `validate`).
TEXT_SIGNS = "$€£₸₽¥₹₩₺₴₦₪฿₫"
#: A number typed as text, once spaces and currency signs are gone: sign, digits and marks.
_TYPED = re.compile(r"([-+]?)([\d.,]*\d[\d.,]*)")
#: A currency code before or after a number typed as text (spaces gone): "EUR1.250,00".
_ISO_CODE = re.compile(r"([A-Za-z]{3})([^A-Za-z]+)|([^A-Za-z]+?)([A-Za-z]{3})")
#: Every ISO 4217 code babel knows: a number typed as text may carry one, a bank names one.
CURRENCY_CODES = frozenset(list_currencies())


@lru_cache(maxsize=4)
def _tender(day: date) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """(the codes of money in use on `day`, each withdrawn code -> the money in use then
    where it was), from Babel's record of each country's and territory's legal tender."""
    today = day.timetuple()[:3]
    now: set[str] = set()
    was: dict[str, set[str]] = {}
    for entries in get_global("territory_currencies").values():
        current = {
            code for code, start, end, tender in entries
            if tender and (start is None or start <= today) and (end is None or end >= today)
        }  # fmt: skip
        now |= current
        for code, _start, _end, tender in entries:
            if tender:
                was.setdefault(code, set()).update(current - {code})
    return frozenset(now), {code: tuple(sorted(then)) for code, then in was.items()}


def currency_in_use(code: str, on: date | None = None) -> bool:
    """`code` is the ISO 4217 code of money in use on `on` (today when None: the run's
    date, for `--as-of`), what an invoice can be made out in:
    not a code withdrawn (RUR, DEM), a fund (USS, CLF) or one of the X-codes that are no
    money (XXX, XAU, XDR).

    >>> [currency_in_use(c) for c in ("USD", "EUR", "KZT", "XOF", "RUR", "DEM", "USS", "XXX")]
    [True, True, True, True, False, False, False, False]
    """
    return code.upper() in _tender(on or date.today())[0]


def currency_now(code: str, on: date | None = None) -> str:
    """The money in use now where the withdrawn `code` was legal tender, or "" when that is
    not one: the one of its country (an ISO code starts with the country's: RUR -> RUB,
    of the ten the Soviet rouble became), else the only one (DEM -> EUR).

    >>> currency_now("RUR"), currency_now("DEM"), currency_now("ZWL"), currency_now("XXX")
    ('RUB', 'EUR', 'ZWG', '')
    """
    then = _tender(on or date.today())[1].get(code.upper(), ())
    own = [c for c in then if c[:2] == code[:2].upper()]
    return own[0] if len(own) == 1 else then[0] if len(then) == 1 else ""


def currency_problem(code: str, on: date | None = None) -> str:
    """Why `code` cannot be the currency invoices are made out in on `on` ("" when it can),
    as the end of a sentence naming it: 'is not an ISO currency code; use e.g. ...'."""
    if code.upper() not in CURRENCY_CODES:
        return "is not an ISO currency code; use e.g. USD, EUR, KZT."
    if not currency_in_use(code, on):
        instead = currency_now(code, on)
        use = f"use {instead}" if instead else "use e.g. USD, EUR, KZT"
        return f"is not the code of a currency in use today; {use}."
    return ""


#: Digits grouped by thousands: 1 to 3 digits, then groups of exactly 3.
_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+")


def _typed_number(value: str, lone_decimal: bool = False) -> Decimal:
    """A number typed as text ("1,250.00", "1.250,00", "12,5", "(40)", "€ 99"), read exactly.

    Whichever of "." and "," comes last is the decimal mark when both are
    there; the other one then only groups thousands, three digits at a time.
    A lone "," with one or two digits after it is a decimal comma ("12,50");
    marks repeated are thousands ("1,234,567"). A mark and a dash at the end
    ("600,-", "1.250,-", "600.-") end a whole amount: the dash stands for no cents,
    and a mark before it only groups thousands. A lone mark with exactly three
    digits after one to three others ("1.500", "1,500") is refused: it reads
    1500 in one country and 1.5 in another, and a guess could bill a thousand
    times too much or too little; `lone_decimal` reads it as a decimal mark, where
    the thousands cannot be meant (a tax rate). Exponents, underscores and letters
    are not numbers here.
    """
    text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    for sign in TEXT_SIGNS:
        text = text.replace(sign, "")
    code = _ISO_CODE.fullmatch(text)
    if code is not None and (code.group(1) or code.group(4)).upper() in CURRENCY_CODES:
        text = code.group(2) or code.group(3)  # "RUB 55320.62", "1.250,00 EUR": as a sign
    negative = text.startswith("(") and text.endswith(")")
    inner = text[1:-1] if negative else text
    dash = inner[-2] if inner[-2:] in (",-", ".-") else ""  # "600,-": the mark ends it
    match = _TYPED.fullmatch(inner[:-2] if dash else inner)
    if match is None:
        raise MoneyError(f"{value!r} is not a number")
    sign, body = match.groups()
    if negative and sign:
        raise MoneyError(f"{value!r} is not a number")  # "(-40)": two signs
    marks = {c for c in body if c in ".,"}
    last = max(body.rfind("."), body.rfind(","))
    lone = len(marks) == 1 and body.count(body[last]) == 1
    if dash:  # a whole amount: any mark before the dash only groups thousands
        if dash in marks:
            raise MoneyError(f"{value!r} is not a number")
        whole, fraction, lone = body, "", False
    elif len(marks) == 2 or lone:  # the last mark is the decimal one
        whole, fraction = body[:last], body[last + 1 :]
    else:  # none, or one mark repeated: thousands
        whole, fraction = body, ""
    if any(c in ".," for c in fraction) or (last >= 0 and not whole and not fraction):
        raise MoneyError(f"{value!r} is not a number")
    if not whole.isdigit() and whole and not _GROUPS.fullmatch(whole):
        raise MoneyError(f"{value!r} is not a number: its digits are not grouped by thousands")
    digits = whole.replace(",", "").replace(".", "")
    if (
        lone
        and not lone_decimal
        and len(fraction) == 3
        and 1 <= len(whole) <= 3
        and not whole.startswith("0")
    ):
        plain = Decimal(f"{digits}.{fraction}").normalize()
        raise AmbiguousNumber(
            f'"{value.strip()}" could be {digits}{fraction} or {plain:f}: type the number '
            "without a thousands separator"
        )
    point = f".{fraction}" if fraction else ""
    return Decimal(f"{'-' if negative else ''}{sign}{digits or '0'}{point}")


_PLAIN = re.compile(r"[-+]?\d+(?:\.\d+)?")


def plain_decimal(text: str) -> Decimal:
    """An amount in a machine format (XML, 1C): digits and a decimal point, nothing else.

    >>> plain_decimal("100.000"), plain_decimal("-5")
    (Decimal('100.000'), Decimal('-5'))
    """
    if not _PLAIN.fullmatch(text.strip()):
        raise MoneyError(f"{text!r} is not a number")
    return Decimal(text.strip())


def to_money(value: Any) -> Decimal:
    """A cell value as a Decimal amount (not yet rounded)."""
    return D(value)


#: ISO 4217's minor unit where Babel's (CLDR's) decimals for the currency differ: CLDR
#: gives these no decimals, as people round them to whole units in everyday prices,
#: but ISO 4217, whose codes the Currency column holds, gives them a minor unit, and an
#: invoice is worked out to it (tests check this against the `iso4217` package).
ISO_MINOR_DIGITS = {
    "AFN": 2, "ALL": 2, "COP": 2, "HUF": 2, "IDR": 2, "IQD": 3, "IRR": 2, "KPW": 2,
    "LAK": 2, "LBP": 2, "MGA": 2, "MMK": 2, "SOS": 2, "SYP": 2, "YER": 2,
}  # fmt: skip


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> Decimal:
    """The smallest unit of a currency, its ISO 4217 minor unit: Decimal('0.01') for USD,
    ('1') for JPY, ('0.001') for KWD.

    Cached: every amount printed is rounded through here, and Babel looks the
    currency up in its tables on each call.
    """
    code = currency.upper()
    try:
        digits = ISO_MINOR_DIGITS.get(code)
        digits = get_currency_precision(code) if digits is None else digits
    except Exception:  # babel raises on nothing for unknown codes, but be safe
        digits = 2
    return Decimal(1).scaleb(-digits)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: the only rounding rule."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def round_whole(amount: Decimal) -> Decimal:
    """Round half up to a whole unit, as `round_money` rounds a currency without a
    smaller unit (JPY)."""
    return amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def currency_digits(currency: str) -> int:
    """How many decimals a currency's amounts have: 2 for USD, 0 for JPY, 3 for BHD."""
    return max(0, -int(minor_unit(currency).as_tuple().exponent))


def too_many_decimals(amount: Decimal, currency: str) -> str:
    """Why an amount cannot be in a currency: "has 3 decimals; EUR amounts have at most 2".

    >>> too_many_decimals(Decimal("1000.5"), "JPY")
    'has 1 decimal; JPY amounts have none'
    """
    written = max(0, -int(amount.as_tuple().exponent))
    allowed = currency_digits(currency)
    have = f"at most {allowed}" if allowed else "none"
    amounts = f"{currency} amounts" if currency else "amounts"
    return f"has {written} decimal{'s' if written != 1 else ''}; {amounts} have {have}"


def same_amount(a: Decimal, b: Decimal) -> bool:
    """True when two amounts agree within a cent."""
    return abs(a - b) <= TOLERANCE


def parse_rate(value: Any) -> Decimal:
    """A tax rate as a fraction: `12`, `"12%"` and `0.12` all give Decimal('0.12').

    A plain number of 1 or more is a percentage, below 1 a fraction. A lone mark
    with three digits after it is a decimal mark: "8.875%", "8,875" and 8.875 are
    all 8.875% (read as thousands, 8875% would be no rate).

    >>> parse_rate("8.875%"), parse_rate("6,625 %"), parse_rate("8.875"), parse_rate(8.875)
    (Decimal('0.08875'), Decimal('0.06625'), Decimal('0.08875'), Decimal('0.08875'))
    """
    percent = isinstance(value, str) and value.strip().endswith("%")
    text = value.strip()[:-1] if percent else value
    number = _typed_number(text, lone_decimal=True) if isinstance(text, str) else D(text)
    if number < 0:
        raise MoneyError(f"{value!r} is negative")
    rate = number / 100 if number >= 1 or percent else number
    if rate >= 1:
        raise RateTooHigh(f"{(rate * 100).normalize():f}%")
    return rate


class RateTooHigh(MoneyError):
    """A tax rate of 100% or more: a typo (12 typed as 1200, or 0,125 misread), not a rate."""


#: Signs that stand for one currency wherever a bank prints them. "$" is left
#: out: it is the account's own dollar when that is one (see `currency_of`).
CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "₸": "KZT", "₽": "RUB", "US$": "USD"}
#: Between groups of thousands: spaces, and the Swiss apostrophe.
_GROUP_MARKS = " \u00a0\u202f'’"
_BANK_AMOUNT = re.compile(
    r"(?P<before>.*?)(?P<number>\d(?:[\d.,'’ \u00a0\u202f]*\d)?)(?P<after>.*)", re.S
)


@lru_cache(maxsize=64)
def _local_signs(currency: str) -> frozenset[str]:
    """The signs a currency is printed with where it is used: "$" for CAD, "kr" for SEK."""
    signs = {currency, get_currency_symbol(currency, "en")}
    for territory, entries in get_global("territory_currencies").items():
        if any(code == currency and end is None for code, _start, end, _tender in entries):
            for language in get_official_languages(territory):
                try:
                    signs.add(get_currency_symbol(currency, Locale(language, territory)))
                except (UnknownLocaleError, ValueError):
                    continue
    return frozenset(sign.casefold() for sign in signs)


def currency_of(sign: str, expected: str = "") -> str | None:
    """The ISO code a bank means by a currency sign or code, or None when it names none.

    `expected` is the currency the line is in otherwise (the account's): a sign
    it is printed with means it, so "$" is CAD on a Canadian account and USD
    where no dollar is expected.

    >>> currency_of("€"), currency_of("eur"), currency_of("$", "CAD"), currency_of("$", "EUR")
    ('EUR', 'EUR', 'CAD', 'USD')
    >>> currency_of("kr", "SEK"), currency_of("kr"), currency_of("Euro")
    ('SEK', None, None)
    """
    text = sign.strip()
    expected = expected.upper()
    if text.upper() == expected or text in CURRENCY_SIGNS:
        return expected if text.upper() == expected else CURRENCY_SIGNS[text]
    if expected in CURRENCY_CODES and text.casefold() in _local_signs(expected):
        return expected
    if text == "$":
        return "USD"
    return text.upper() if text.upper() in CURRENCY_CODES else None


def parse_bank_amount(text: str, decimal: str | None) -> tuple[Decimal, str]:
    """An amount as a bank writes it, and the currency sign or code written with it ("" if none).

    `decimal` is the bank's decimal mark ("." or ","): the other mark, spaces
    and apostrophes may only group thousands. With None (OFX, whose amounts
    take either mark) a lone "." or "," is the decimal mark. A sign (leading,
    or a trailing minus) or parentheses make it negative.
    Raises DecimalMarkError when the marks do not fit `decimal`, MoneyError
    for anything else that is not one plain amount.
    """
    body = text.strip()
    negative = body.startswith("(") and body.endswith(")")
    body = body[1:-1].strip() if negative else body
    match = _BANK_AMOUNT.fullmatch(body)
    if not match:
        raise MoneyError(f"{text!r} is not an amount")
    before, after = match["before"].strip(), match["after"].strip()
    sign = ""
    if before and before[-1] in "+-":
        sign, before = before[-1], before[:-1].strip()
    elif before and before[0] in "+-":
        sign, before = before[0], before[1:].strip()
    elif after.endswith("-"):
        sign, after = "-", after[:-1].strip()
    if (before and after) or (negative and sign) or re.search(r"[\d+\-()]", before + after):
        raise MoneyError(
            f"{text!r} is not an amount: beside the number only a currency code or sign "
            "(EUR, €, $) and a sign or parentheses are read"
        )
    number = _bank_number(text, match["number"], decimal)
    return (-number if negative or sign == "-" else number), before or after


def _bank_number(text: str, number: str, decimal: str | None) -> Decimal:
    """The digits of a bank amount, its marks checked against the decimal mark."""
    marks = [c for c in number if c in ".,"]
    mark = decimal if decimal else (marks[-1] if marks else ".")
    grouping = _GROUP_MARKS + ("," if mark == "." else ".")
    if decimal is None and len(set(marks)) == 1 and len(marks) > 1:
        raise MoneyError(f"{text!r} is not an amount")
    whole, point, fraction = number.rpartition(mark) if mark in number else (number, "", "")
    groups = re.split(f"[{re.escape(grouping)}]", whole)
    if (
        (point and not fraction.isdigit())
        or not all(g.isdigit() for g in groups)
        or (len(groups) > 1 and not _grouped(groups))
    ):
        if decimal is None:
            raise MoneyError(f"{text!r} is not an amount")
        raise DecimalMarkError(f"{text!r} does not fit the decimal mark {decimal!r}")
    return Decimal("".join(groups) + (f".{fraction}" if point else ""))


def _grouped(groups: list[str]) -> bool:
    """Thousands grouped as 1,234,567 or, in India, as 12,34,567."""
    head, *middle, last = groups
    if len(head) <= 3 and all(len(g) == 3 for g in (*middle, last)):
        return True
    return len(head) <= 2 and all(len(g) == 2 for g in middle) and len(last) == 3
