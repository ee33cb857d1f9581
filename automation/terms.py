"""Payment terms: parse what the bookkeeper wrote, then work out the dates.

Terms are parsed once into a small frozen `Terms` record; everything else
(due dates, early-payment discounts, the sentence printed on the invoice)
works from that record. Nothing here reads files or the clock.

>>> t = parse_terms("2/10 net 30")
>>> t.text, due_date(t, date(2026, 3, 6)), discount_date(t, date(2026, 3, 6))
('2/10 Net 30', datetime.date(2026, 4, 5), datetime.date(2026, 3, 16))
>>> describe_terms(t, date(2026, 3, 6), date(2026, 4, 5))
'2% discount if paid by 16 March 2026; net amount due by 5 April 2026'

Date arithmetic is exact calendar arithmetic. Note how `EOM N` differs from
`Net N`: `EOM 30` counts from the last day of the invoice month, `Net 30`
from the invoice date. For an invoice dated 10 January 2026 (not a leap
year), `Net 30` is due 9 February and `EOM 30` is due 2 March (31 January
plus 30 days):

>>> due_date(parse_terms("Net 30"), date(2026, 1, 10))
datetime.date(2026, 2, 9)
>>> due_date(parse_terms("EOM 30"), date(2026, 1, 10))
datetime.date(2026, 3, 2)

`D MFI` (`D prox`) is day D of the month after the invoice month, or that
month's last day when it is shorter (`31 MFI` on a January invoice is due
28 or 29 February).

With a `BusinessCalendar` that is enabled, a due date on a weekend or public
holiday moves to the next business day. A discount date never moves: "2/10"
is a contractual count of ten calendar days from the invoice date, and
stretching it would grant a discount the terms do not give.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .money import TOLERANCE, round_money

NET = "net"
RECEIPT = "receipt"
EOM = "eom"
MFI = "mfi"
KINDS = (NET, RECEIPT, EOM, MFI)

MAX_DAYS = 3650

#: Shown to the bookkeeper whenever terms cannot be read.
ACCEPTED_FORMS: tuple[str, ...] = (
    "Net 30",
    "30 days",
    "Due on receipt",
    "Receipt 15",
    "15 days after receipt",
    "EOM",
    "EOM 10",
    "10 EOM",
    "15 MFI",
    "15 prox",
    "2/10 Net 30",
)
#: How every message about unreadable terms names the accepted forms.
USE_ONE_OF = f"use one of: {', '.join(ACCEPTED_FORMS)}"


class TermsError(ValueError):
    """Payment terms that cannot be read; the message quotes them and lists the accepted forms.

    Attributes:
      text: what was written, as given.
      reason: the problem in plain words, without the list of accepted forms.
    """

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{reason}; {USE_ONE_OF}.")


class CalendarError(ValueError):
    """A holidays country or subdivision that the `holidays` package does not know."""


@dataclass(frozen=True)
class Terms:
    """Parsed payment terms.

    Attributes:
      kind: "net", "receipt", "eom" or "mfi".
      days: N for net, receipt and eom terms.
      day: D, the day of the month, for mfi terms.
      discount_percent / discount_days: P and D of `P/D Net N`, else None and 0.
      text: the canonical spelling, e.g. "2/10 Net 30", "EOM 10", "15 MFI".
    """

    kind: str
    days: int = 0
    day: int = 0
    discount_percent: Decimal | None = None
    discount_days: int = 0
    text: str = ""

    @property
    def has_discount(self) -> bool:
        return self.discount_percent is not None


# ---------------------------------------------------------------------------
# Parsing


def _show(text: str) -> str:
    return " ".join(text.split())


def _whole(text: str, digits: str, what: str, low: int, high: int) -> int:
    significant = digits.lstrip("0") or "0"
    # Length first: a 5000-digit "number" must not reach int().
    value = int(significant) if len(significant) <= len(str(high)) else high + 1
    if not low <= value <= high:
        raise TermsError(
            text, f'Payment terms "{_show(text)}": {what} must be from {low} to {high}'
        )
    return value


def _days(text: str, digits: str) -> int:
    return _whole(text, digits, "the number of days", 0, MAX_DAYS)


def _percent(text: str, digits: str) -> Decimal:
    value = Decimal(digits.replace(",", "."))
    if not Decimal(0) < value < Decimal(100):
        raise TermsError(
            text,
            f'Payment terms "{_show(text)}": the discount must be more than 0 and less than 100%',
        )
    # Store "2" rather than "2.0" so the canonical text is stable.
    return Decimal(format(value.normalize(), "f"))


def _canonical(kind: str, days: int, day: int, percent: Decimal | None, window: int) -> str:
    if percent is not None:
        return f"{format(percent, 'f')}/{window} Net {days}"
    if kind == RECEIPT:
        return f"Receipt {days}" if days else "Due on receipt"
    if kind == EOM:
        return f"EOM {days}" if days else "EOM"
    if kind == MFI:
        return f"{day} MFI"
    return f"Net {days}"


def _make(
    kind: str, days: int = 0, day: int = 0, percent: Decimal | None = None, window: int = 0
) -> Terms:
    return Terms(kind, days, day, percent, window, _canonical(kind, days, day, percent, window))


def _net(text: str, m: re.Match[str]) -> Terms:
    return _make(NET, _days(text, m["n"]))


def _optional_days(text: str, m: re.Match[str]) -> int:
    digits = m.groupdict().get("n")
    return _days(text, digits) if digits else 0


def _receipt(text: str, m: re.Match[str]) -> Terms:
    return _make(RECEIPT, _optional_days(text, m))


def _eom(text: str, m: re.Match[str]) -> Terms:
    return _make(EOM, _optional_days(text, m))


def _mfi(text: str, m: re.Match[str]) -> Terms:
    return _make(MFI, day=_whole(text, m["d"], "the day of the month", 1, 31))


def _discount(text: str, m: re.Match[str]) -> Terms:
    percent = _percent(text, m["p"])
    window = _days(text, m["d"])
    days = _days(text, m["n"])
    if window > days:
        raise TermsError(
            text,
            f'Payment terms "{_show(text)}": the discount period ({window} days) '
            f"must not be longer than the net period ({days} days)",
        )
    return _make(NET, days, percent=percent, window=window)


_DAYS = r"(?:\s*days?)?"
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], Terms]], ...] = tuple(
    (re.compile(pattern), build)
    for pattern, build in (
        (rf"net\s*(?P<n>\d+){_DAYS}", _net),
        (r"(?P<n>\d+)\s*days?", _net),
        (r"(?:(?:due\s*)?(?:up)?on\s*)?receipt", _receipt),
        (rf"receipt\s*(?P<n>\d+){_DAYS}", _receipt),
        (r"(?P<n>\d+)\s*days?\s*after\s*receipt", _receipt),
        (rf"eom(?:\s*\+?\s*(?P<n>\d+){_DAYS})?", _eom),
        (r"(?P<n>\d+)\s*(?:days?\s*)?eom", _eom),
        (r"(?P<d>\d+)(?:st|nd|rd|th)?\s*(?:mfi|prox\.?)", _mfi),
        (
            r"(?P<p>\d+(?:[.,]\d+)?)\s*%?\s*/\s*(?P<d>\d+)\s*,?\s*(?:net|n\s*/)\s*(?P<n>\d+)"
            + _DAYS,
            _discount,
        ),
    )
)


@lru_cache(maxsize=1 << 10)  # a firm's clients share a few terms: each text is read once
def parse_terms(text: str) -> Terms:
    """Read payment terms as the bookkeeper wrote them (case and spacing are free).

    >>> parse_terms("  net30 ").text, parse_terms("10 eom").text, parse_terms("15 prox").text
    ('Net 30', 'EOM 10', '15 MFI')
    """
    cleaned = text.strip().casefold()
    if not cleaned:
        raise TermsError(text, "Payment terms are empty")
    for pattern, build in _PATTERNS:
        match = pattern.fullmatch(cleaned)
        if match:
            return build(text, match)
    raise TermsError(text, f'Payment terms "{_show(text)}" are not understood')


# ---------------------------------------------------------------------------
# Business days


@lru_cache(maxsize=256)
def _holidays_for(country: str, subdivision: str, year: int) -> Any:
    import holidays  # ~0.1 s to import: only runs that count business days pay it

    # expand=False keeps the cached object from growing when asked about other years.
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year, expand=False)


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days a due date may fall on.

    Disabled (the default), every day is fine. Enabled, weekends and the
    public holidays of `country` (an ISO code the `holidays` package knows;
    "" means weekends only) are skipped. The weekend is the country's own
    (Friday and Saturday in some countries), Saturday and Sunday otherwise.

    >>> BusinessCalendar(True, "US").adjust(date(2026, 7, 3))  # Independence Day observed
    datetime.date(2026, 7, 6)
    """

    enabled: bool = False
    country: str = ""
    subdivision: str = ""

    def __post_init__(self) -> None:
        if self.country:
            import holidays

            try:
                holidays.country_holidays(self._country, subdiv=self._subdivision or None)
            except NotImplementedError:
                where = f"{self.country!r}" + (
                    f" with subdivision {self.subdivision!r}" if self.subdivision else ""
                )
                raise CalendarError(
                    f"the holidays package does not know the country {where} "
                    '(use ISO codes such as "US", "GB", "KZ").'
                ) from None

    @property
    def _country(self) -> str:
        return self.country.strip().upper()

    @property
    def _subdivision(self) -> str:
        return self.subdivision.strip().upper()

    def is_business_day(self, d: date) -> bool:
        """True unless d is a weekend day or a public holiday (ignores `enabled`)."""
        if not self._country:
            return d.weekday() < 5
        calendar_year = _holidays_for(self._country, self._subdivision, d.year)
        return d.weekday() not in calendar_year.weekend and d not in calendar_year

    def adjust(self, d: date) -> date:
        """The next business day on or after d when enabled, else d itself."""
        if not self.enabled:
            return d
        while not self.is_business_day(d):
            d += timedelta(days=1)
        return d


#: Plain calendar days: due dates are never moved.
CALENDAR_DAYS = BusinessCalendar()


# ---------------------------------------------------------------------------
# Dates and amounts


def _month_end(d: date) -> date:
    return d.replace(day=_calendar.monthrange(d.year, d.month)[1])


def _day_of_next_month(d: date, day: int) -> date:
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return date(year, month, min(day, _calendar.monthrange(year, month)[1]))


def _calendar_due_date(terms: Terms, invoice_date: date, receipt_date: date | None) -> date:
    if terms.kind == NET:
        return invoice_date + timedelta(days=terms.days)
    if terms.kind == RECEIPT:
        # An invoice cannot be received before it is dated.
        received = max(receipt_date or invoice_date, invoice_date)
        return received + timedelta(days=terms.days)
    if terms.kind == EOM:
        return _month_end(invoice_date) + timedelta(days=terms.days)
    if terms.kind == MFI:
        return _day_of_next_month(invoice_date, terms.day)
    raise ValueError(f"unknown kind of payment terms {terms.kind!r}; expected one of {KINDS}")


def due_date(
    terms: Terms,
    invoice_date: date,
    receipt_date: date | None = None,
    calendar: BusinessCalendar = CALENDAR_DAYS,
) -> date:
    """When payment is due, moved to a business day by `calendar` when it is enabled.

    `receipt_date` matters only for receipt terms; None means the invoice
    date. A receipt date before the invoice date counts as the invoice date.
    `P/D Net N` terms are due as `Net N`.
    """
    return calendar.adjust(_calendar_due_date(terms, invoice_date, receipt_date))


def discount_date(terms: Terms, invoice_date: date) -> date | None:
    """The last day the early-payment discount is earned, or None without one.

    Never moved to a business day: the discount window is a contractual count
    of calendar days from the invoice date.
    """
    if terms.discount_percent is None:
        return None
    return invoice_date + timedelta(days=terms.discount_days)


def discounted_total(terms: Terms, total: Decimal, currency: str) -> Decimal | None:
    """The total less the early-payment discount, rounded to the currency; None without one.

    >>> discounted_total(parse_terms("1.5/15 net 45"), Decimal("1000.00"), "USD")
    Decimal('985.00')
    """
    if terms.discount_percent is None:
        return None
    return round_money(total * (1 - terms.discount_percent / 100), currency)


def amount_due(
    terms: Terms,
    total: Decimal,
    currency: str,
    invoice_date: date,
    paid_date: date | None,
    paid: Decimal | None = None,
) -> Decimal:
    """What settles the invoice: the discounted total if paid by the discount date, else total.

    With `paid` (the cumulative amount received), the one rule every figure
    about a discount follows (Status, Balance, payment notes, statements, bank
    matching): paid by the discount date, any amount from the discounted total
    up to the total settles the invoice exactly, since the client took less of
    the discount than was offered and nothing is owed back; less than the
    discounted total is a part payment and earns nothing; more than the total
    is paid too much by what exceeds the total.

    >>> terms = parse_terms("2/10 Net 30")
    >>> [str(amount_due(terms, Decimal("112.00"), "USD", date(2026, 3, 2), date(2026, 3, 5),
    ...                 Decimal(paid))) for paid in ("50", "109.76", "111.98", "113")]
    ['112.00', '109.76', '111.98', '112.00']
    """
    last_day = discount_date(terms, invoice_date)
    discounted = discounted_total(terms, total, currency)
    if discounted is None or last_day is None or paid_date is None or paid_date > last_day:
        return total
    if paid is None:
        return discounted
    if paid < discounted - TOLERANCE:
        return total
    return min(max(round_money(paid, currency), discounted), total)


# ---------------------------------------------------------------------------
# Terms in words


_ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date_plain(d: date) -> str:
    """`5 April 2026`: English, independent of the machine's locale."""
    return f"{d.day} {_ENGLISH_MONTHS[d.month - 1]} {d.year}"


def _english_ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _russian_days_genitive(n: int) -> str:
    # After "в течение" the numeral is genitive: 1 and 21 take "дня", the rest "дней".
    return "дня" if n % 10 == 1 and n % 100 != 11 else "дней"


@dataclass(frozen=True)
class _Language:
    phrases: dict[str, str]
    days_word: Callable[[int], str]
    ordinal: Callable[[int], str]
    decimal_separator: str


_LANGUAGES: dict[str, _Language] = {
    "en": _Language(
        {
            "net0": "Payment due on the invoice date",
            "net": "Payment due within {n} {days} of the invoice date",
            "receipt0": "Payment due on receipt",
            "receipt": "Payment due within {n} {days} of receipt",
            "eom0": "Payment due by the last day of the invoice month",
            "eom": "Payment due {n} {days} after the end of the invoice month",
            "mfi": "Payment due on the {ordinal} of the month following the invoice month",
            "mfi_last": "Payment due on the last day of the month following the invoice month",
            "discount": "{percent} discount if paid by {discount_date}; net amount due by {due}",
            "discount_amount": "{percent} discount (pay {amount}) if paid by {discount_date}; "
            "net amount due by {due}",
        },
        lambda n: "day" if n == 1 else "days",
        _english_ordinal,
        ".",
    ),
    "ru": _Language(
        {
            "net0": "Оплата в день выставления счёта",
            "net": "Оплата в течение {n} {days} с даты выставления счёта",
            "receipt0": "Оплата по получении счёта",
            "receipt": "Оплата в течение {n} {days} с даты получения счёта",
            "eom0": "Оплата не позднее последнего дня месяца выставления счёта",
            "eom": "Оплата в течение {n} {days} после окончания месяца выставления счёта",
            "mfi": "Оплата не позднее {ordinal} числа месяца, "
            "следующего за месяцем выставления счёта",
            "mfi_last": "Оплата не позднее последнего дня месяца, "
            "следующего за месяцем выставления счёта",
            "discount": "Скидка {percent} при оплате не позднее {discount_date}; "
            "полная сумма подлежит оплате не позднее {due}",
            "discount_amount": "Скидка {percent} (к оплате {amount}) при оплате не позднее "
            "{discount_date}; полная сумма подлежит оплате не позднее {due}",
        },
        _russian_days_genitive,
        lambda n: f"{n}-го",
        ",",
    ),
    # Kazakh nouns stay singular after a numeral ("30 күн"), and the dates go
    # after a colon so that the formatter's output needs no case ending.
    "kk": _Language(
        {
            "net0": "Төлем шот берілген күні жүргізіледі",
            "net": "Төлем шот берілген күннен бастап {n} {days} ішінде жүргізіледі",
            "receipt0": "Төлем шотты алған кезде жүргізіледі",
            "receipt": "Төлем шотты алған күннен бастап {n} {days} ішінде жүргізіледі",
            "eom0": "Төлем шот берілген айдың соңғы күнінен кешіктірмей жүргізіледі",
            "eom": "Төлем шот берілген ай аяқталғаннан кейін {n} {days} ішінде жүргізіледі",
            "mfi": "Төлем шот берілген айдан кейінгі айдың {ordinal}-күнінен "
            "кешіктірмей жүргізіледі",
            "mfi_last": "Төлем шот берілген айдан кейінгі айдың соңғы күнінен "
            "кешіктірмей жүргізіледі",
            "discount": "{percent} жеңілдік, жеңілдікпен төлеу мерзімі: {discount_date}; "
            "толық соманы төлеу мерзімі: {due}",
            "discount_amount": "{percent} жеңілдік (төленетін сома: {amount}), жеңілдікпен "
            "төлеу мерзімі: {discount_date}; толық соманы төлеу мерзімі: {due}",
        },
        lambda n: "күн",
        str,
        ",",
    ),
}


def _phrase_key(terms: Terms, invoice_date: date) -> str:
    if terms.discount_percent is not None:
        return "discount"
    if terms.kind == MFI:
        following = (invoice_date.replace(day=1) + timedelta(days=32)).replace(day=1)
        shorter = _calendar.monthrange(following.year, following.month)[1] < (terms.day or 0)
        return "mfi_last" if shorter else MFI  # "the 31st" of a February: its last day
    return terms.kind if terms.days else terms.kind + "0"


def describe_terms(
    terms: Terms,
    invoice_date: date,
    due: date,
    language: str = "en",
    format_date: Callable[[date], str] | None = None,
    discounted_amount_text: str | None = None,
) -> str:
    """The terms in words for the invoice, in English, Russian or Kazakh.

    `due` is the (already adjusted) due date. `format_date` defaults to
    `format_date_plain`; pass a Babel formatter for Russian and Kazakh.
    `discounted_amount_text` (e.g. "USD 980.00") is mentioned with a discount.
    An unknown language falls back to English.

    >>> describe_terms(parse_terms("Net 30"), date(2026, 3, 6), date(2026, 4, 5), "ru")
    'Оплата в течение 30 дней с даты выставления счёта'
    """
    lang = _LANGUAGES.get(language.strip().lower()[:2], _LANGUAGES["en"])
    show = format_date or format_date_plain
    key = _phrase_key(terms, invoice_date)
    if key == "discount" and discounted_amount_text:
        key = "discount_amount"
    percent = terms.discount_percent
    last_day = discount_date(terms, invoice_date)
    return lang.phrases[key].format(
        n=terms.days,
        days=lang.days_word(terms.days),
        ordinal=lang.ordinal(terms.day),
        percent=(
            format(percent, "f").replace(".", lang.decimal_separator) + "%"
            if percent is not None
            else ""
        ),
        discount_date=show(last_day) if last_day is not None else "",
        due=show(due),
        amount=discounted_amount_text or "",
    )
