"""Money, dates and amounts in words, in the client's language (en, ru, kk).

Everything printed on an invoice or in an email goes through here, so one
language always looks the same. English uses US conventions (`$1,234.50`,
`April 5, 2026`); Russian and Kazakh use their own (Babel's CLDR data):

>>> from datetime import date
>>> from decimal import Decimal
>>> format_money(Decimal("1234.50"), "USD", "en")
'$1,234.50'
>>> format_money(Decimal("1234.50"), "RUB", "ru")
'1\\xa0234,50\\xa0₽'
>>> format_money(Decimal("394800.56"), "KZT", "en")  # a code is a word: spaced
'KZT\\xa0394,800.56'
>>> format_date(date(2026, 4, 5), "ru")  # CLDR's narrow no-break space before "г."
'5 апреля 2026\\u202fг.'
>>> amount_in_words(Decimal("12.30"), "USD", "en")
'Twelve dollars, thirty cents'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_datetime_format
from babel.numbers import (
    NumberPattern,
    format_currency,
    format_decimal,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)

from .money import currency_digits, minor_unit, round_money

#: Babel locale per client language. English is en_US, so that money reads
#: "$1,234.50" (en_GB would print "US$") and dates "April 5, 2026".
LOCALES = {"en": "en_US", "ru": "ru_RU", "kk": "kk_KZ"}
#: num2words' own language codes (it calls Kazakh "kz").
NUM2WORDS_LANGS = {"en": "en", "ru": "ru", "kk": "kz"}
DEFAULT_LANGUAGE = "en"
#: A currency code glued to the number ("KZT394,800.56", "-CHF5.00"): CLDR
#: puts a symbol like "$" right against the digits and treats a code the same.
_GLUED_CODE = re.compile(r"^(-?)([A-Z]{3})(?=[\d.,])")
_GLUED_CODE_AFTER = re.compile(r"(?<=\d)([A-Z]{3})$")


def locale_for(language: str) -> str:
    """The Babel locale for a client language; unknown languages get English."""
    return LOCALES.get(language.strip().lower(), LOCALES[DEFAULT_LANGUAGE])


@lru_cache(maxsize=32)
def babel_locale(language: str) -> Locale:
    """The parsed Babel locale, cached: Babel would parse the name on every call."""
    return Locale.parse(locale_for(language))


@dataclass(frozen=True)
class NumberFormat:
    """A Babel number pattern with its locale's symbols looked up once.

    `NumberPattern.apply` finds the locale's symbols and the currency's
    precision again on every call, which made formatting most of the cost of
    an invoice's context. `apply` here does the same steps, in the same order,
    with those looked up when the format is made (`number_format`); patterns
    it does not cover (scientific, significant digits, a plural currency
    name, quoted text) have no NumberFormat and go to Babel.

    >>> number_format("ru", "RUB").apply(Decimal("-1234.5"))
    '-1\\xa0234,50\\xa0₽'
    """

    pattern: NumberPattern
    prefix: tuple[str, str]
    suffix: tuple[str, str]
    group: str
    decimal: str
    frac_prec: tuple[int, int]

    def apply(self, value: Decimal, decimal_quantization: bool = True) -> str:
        """`pattern.apply(value, locale, currency, decimal_quantization=...)`, as text."""
        value = value.scaleb(self.pattern.scale)
        is_negative = int(value.is_signed())
        value = abs(value).normalize()
        low, high = self.frac_prec
        if not value.is_finite():  # infinity or NaN: Babel's own words for them
            raise ValueError(f"{value} is not a finite number")
        if not decimal_quantization:
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)  # finite
            high = max(high, -exponent)
        quantum = _QUANTA[high] if high < len(_QUANTA) else Decimal(10) ** -high
        whole, _, fraction = f"{value.quantize(quantum):f}".partition(".")
        number = self._int(whole) + self._frac(fraction or "0", low, high)
        return self.prefix[is_negative] + number + self.suffix[is_negative]

    def _int(self, value: str) -> str:
        low = self.pattern.int_prec[0]
        if len(value) < low:
            value = "0" * (low - len(value)) + value
        size, grouped = self.pattern.grouping[0], ""
        while len(value) > size:
            grouped = self.group + value[-size:] + grouped
            value = value[:-size]
            size = self.pattern.grouping[1]
        return value + grouped

    def _frac(self, value: str, low: int, high: int) -> str:
        if len(value) < low:
            value += "0" * (low - len(value))
        if high == 0 or (low == 0 and int(value) == 0):
            return ""
        while len(value) > low and value[-1] == "0":
            value = value[:-1]
        return self.decimal + value


#: Decimal(10) ** -n, as Babel's get_decimal_quantum makes them, for n digits.
_QUANTA = tuple(Decimal(10) ** -n for n in range(64))


@lru_cache(maxsize=256)
def number_format(language: str, currency: str | None = None) -> NumberFormat | None:
    """The locale's currency format for `currency` (else its decimal format), or
    None when Babel must format it itself (see NumberFormat)."""
    locale = babel_locale(language)
    if currency is None:
        pattern = locale.decimal_formats[None]
        frac_prec = pattern.frac_prec
    else:
        pattern = locale.currency_formats["standard"]
        frac_prec = (currency_digits(currency),) * 2
    affixes = pattern.prefix + pattern.suffix
    if pattern.exp_prec or "@" in pattern.pattern or not pattern.number_pattern:
        return None
    if any("¤¤¤" in a for a in affixes):  # the currency's name, singular or plural by amount
        return None
    if currency is not None:
        symbol = get_currency_symbol(currency, locale)
        affixes = tuple(a.replace("¤¤", currency.upper()).replace("¤", symbol) for a in affixes)
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    if any(ch in text for text in (*affixes, group, decimal) for ch in "'¤"):
        return None  # Babel would unquote or substitute across the whole text
    prefix, suffix = (affixes[0], affixes[1]), (affixes[2], affixes[3])
    return NumberFormat(pattern, prefix, suffix, group, decimal, frac_prec)


@lru_cache(maxsize=256)
def spaced_format(language: str, currency: str) -> NumberFormat | None:
    """`number_format(language, currency)` with its currency code spaced from the
    digits as `_space_code` spaces it ("KZT 394,800.56"), or None (see NumberFormat).

    The formatted text is prefix + digits + suffix, the digits starting and
    ending with a digit: `_space_code` finds a code at the very start or end of
    the text, so it finds the same one in the prefix followed by a digit and in
    a digit followed by the suffix, once per format instead of twice a call.
    """
    known = number_format(language, currency)
    if known is None:
        return None
    prefix = tuple(_GLUED_CODE.sub("\\1\\2\u00a0", affix + "0")[:-1] for affix in known.prefix)
    suffix = tuple(_GLUED_CODE_AFTER.sub("\u00a0\\1", "0" + affix)[1:] for affix in known.suffix)
    return replace(known, prefix=(prefix[0], prefix[1]), suffix=(suffix[0], suffix[1]))


def _format_currency(amount: Decimal, currency: str, language: str, quantize: bool) -> str:
    """The amount with its currency, a code spaced from the digits (`_space_code`)."""
    known = spaced_format(language, currency) if _finite(amount) else None
    if known is not None:
        return known.apply(amount, quantize)
    return _space_code(
        format_currency(
            amount, currency, locale=babel_locale(language), decimal_quantization=quantize
        )
    )


def _finite(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


#: The most decimals a quantity is printed with (hours to the second need 4).
QUANTITY_DIGITS = 6


def format_number(value: Decimal, language: str) -> str:
    """A plain number in the locale's way, e.g. a quantity: "1,234.5", "1 234,5"; every
    digit typed is shown, up to QUANTITY_DIGITS decimals (1.2345 stays 1.2345: quantity
    x price is the line's amount; a formula's 0.833333333333333 shows as 0.833333).

    >>> format_number(Decimal("1.2345"), "en"), format_number(Decimal("1234.5"), "ru")
    ('1.2345', '1\xa0234,5')
    """
    if _finite(value) and int(value.as_tuple().exponent) < -QUANTITY_DIGITS:
        # worked out by a formula (=50/60): a float's 15 digits are no one's quantity
        value = value.quantize(Decimal(1).scaleb(-QUANTITY_DIGITS), ROUND_HALF_UP).normalize()
    known = number_format(language) if _finite(value) else None
    if known is not None:
        return known.apply(value, decimal_quantization=False)
    return format_decimal(value, locale=babel_locale(language), decimal_quantization=False)


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """An amount with its currency sign, e.g. "$1,234.50" or "1 234,50 ₸".

    Babel's formatting of the Decimal itself (`NumberFormat`); a float never
    enters the path. The amount is rounded first by the one rule (half-up,
    `money.round_money`): Babel's own rounding is half-even, which would print
    ¥2.5 as ¥2.
    """
    currency = currency.upper()
    return _format_currency(round_money(amount, currency), currency, language, True)


def _space_code(text: str) -> str:
    """`KZT394,800.56` -> `KZT 394,800.56` (no-break space), as people write it."""
    text = _GLUED_CODE.sub("\\1\\2\u00a0", text)
    return _GLUED_CODE_AFTER.sub("\u00a0\\1", text)


def format_price(amount: Decimal, currency: str, language: str) -> str:
    """A unit price: like `format_money`, but never rounds away extra digits ($0.125)."""
    return _format_currency(amount, currency.upper(), language, False)


@lru_cache(maxsize=4096)
def format_date(d: date, language: str) -> str:
    """A date in words: "April 5, 2026", "5 апреля 2026 г.", "2026 ж. 5 сәуір".

    Cached, like `format_short_date`: a run prints the same few dates (the
    invoice date, the due date, the week's service dates) on every document.
    """
    return babel_format_date(d, format="long", locale=babel_locale(language))


@lru_cache(maxsize=4096)
def format_short_date(d: date, language: str) -> str:
    """A compact date for table columns: "Apr 5, 2026", "5 апр. 2026 г."."""
    return babel_format_date(d, format="medium", locale=babel_locale(language))


def format_datetime(dt: datetime, language: str) -> str:
    """Long date and short time: "April 5, 2026, 2:30 PM", "5 апреля 2026 г., 14:30"."""
    locale = babel_locale(language)
    pattern = str(get_datetime_format("long", locale=locale))
    time_text = babel_format_time(dt, format="short", locale=locale)
    return pattern.replace("{1}", format_date(dt.date(), language)).replace("{0}", time_text)


#: Kazakh month names and their dative (барыс септік), which "дейін" (until) takes:
#: "5 желтоқсанға дейін". The ending follows vowel harmony and the last sound.
KK_MONTH_DATIVE = {
    "қаңтар": "қаңтарға",
    "ақпан": "ақпанға",
    "наурыз": "наурызға",
    "сәуір": "сәуірге",
    "мамыр": "мамырға",
    "маусым": "маусымға",
    "шілде": "шілдеге",
    "тамыз": "тамызға",
    "қыркүйек": "қыркүйекке",
    "қазан": "қазанға",
    "қараша": "қарашаға",
    "желтоқсан": "желтоқсанға",
}


def format_date_until(value: date, language: str) -> str:
    """A date as it reads before "until": "December 5, 2026", "5 декабря 2026 г.";
    in Kazakh the month takes the dative before "дейін": "2026 ж. 5 желтоқсанға".

    >>> format_date_until(date(2026, 12, 5), "kk")
    '2026\\u202fж. 5 желтоқсанға'
    """
    text = format_date(value, language)
    if language != "kk":
        return text
    for month, dative in KK_MONTH_DATIVE.items():
        if text.endswith(month):
            return text[: -len(month)] + dative
    return text


def amount_in_words(amount: Decimal, currency: str, language: str) -> str:
    """The amount spelled out with its currency, capitalised, for the invoice.

    num2words covers only some currencies per language (Kazakh: KZT and USD);
    for the rest the whole units are spelled out and the currency code and
    minor units follow as figures: "Одна тысяча EUR 50/100". Never raises.
    """
    from num2words import num2words  # ~0.1 s to import: only the renderers need it

    currency = currency.upper()
    lang = NUM2WORDS_LANGS.get(language.strip().lower(), NUM2WORDS_LANGS[DEFAULT_LANGUAGE])
    unit = minor_unit(currency)
    amount = round_money(amount, currency)  # as the figures beside it are rounded
    try:
        # A Decimal, never an int: in currency mode num2words reads an int as cents.
        words = num2words(amount, lang=lang, to="currency", currency=currency)
        if lang == "ru" and unit < 1:
            words = _minor_in_figures(words, amount, currency, unit)
    except (NotImplementedError, KeyError, ValueError, TypeError, OverflowError):
        words = _words_with_code(amount, currency, lang, unit)
    return _capitalise(words)


def _minor_in_figures(words: str, amount: Decimal, currency: str, unit: Decimal) -> str:
    """Russian documents spell the roubles and give the kopecks in figures, even 00:
    "Одна тысяча пятьсот рублей 00 копеек", "Семьдесят шесть рублей 01 копейка"."""
    from num2words import CONVERTER_CLASSES

    converter = CONVERTER_CLASSES["ru"]
    minor_forms = converter.CURRENCY_FORMS[currency][1]
    minor = int((abs(amount) - int(abs(amount))) / unit)
    major = words.rsplit(",", 1)[0]  # num2words: "... рублей, ноль копеек"
    digits = len(str(int(1 / unit))) - 1
    return f"{major} {minor:0{digits}d} {converter.pluralize(minor, minor_forms)}"


def _words_with_code(amount: Decimal, currency: str, lang: str, unit: Decimal) -> str:
    """Whole units in words, then the currency code and the minor units as figures."""
    from num2words import num2words

    whole = int(abs(amount))
    minor = int((abs(amount) - whole) / unit)
    try:
        words = num2words(whole, lang=lang, to="cardinal")
    except (NotImplementedError, KeyError, ValueError, TypeError, OverflowError):
        words = str(whole)
    sign = "-" if amount < 0 else ""
    text = f"{sign}{words} {currency}"
    if unit < 1:
        text += f" {minor:0{len(str(int(1 / unit))) - 1}d}/{int(1 / unit)}"
    return text


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
