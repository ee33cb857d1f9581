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
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_datetime_format
from babel.numbers import format_currency

from .money import minor_unit, round_money

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


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """An amount with its currency sign, e.g. "$1,234.50" or "1 234,50 ₸".

    Babel formats the Decimal itself; a float never enters the path. The
    amount is rounded first by the one rule (half-up, `money.round_money`):
    Babel's own rounding is half-even, which would print ¥2.5 as ¥2.
    """
    text = format_currency(
        round_money(amount, currency), currency.upper(), locale=babel_locale(language)
    )
    return _space_code(text)


def _space_code(text: str) -> str:
    """`KZT394,800.56` -> `KZT 394,800.56` (no-break space), as people write it."""
    text = _GLUED_CODE.sub("\\1\\2\u00a0", text)
    return _GLUED_CODE_AFTER.sub("\u00a0\\1", text)


def format_price(amount: Decimal, currency: str, language: str) -> str:
    """A unit price: like `format_money`, but never rounds away extra digits ($0.125)."""
    return _space_code(
        format_currency(
            amount, currency.upper(), locale=babel_locale(language), decimal_quantization=False
        )
    )


def format_date(d: date, language: str) -> str:
    """A date in words: "April 5, 2026", "5 апреля 2026 г.", "2026 ж. 5 сәуір"."""
    return babel_format_date(d, format="long", locale=babel_locale(language))


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
    "қаңтар": "қаңтарға", "ақпан": "ақпанға", "наурыз": "наурызға", "сәуір": "сәуірге",
    "мамыр": "мамырға", "маусым": "маусымға", "шілде": "шілдеге", "тамыз": "тамызға",
    "қыркүйек": "қыркүйекке", "қазан": "қазанға", "қараша": "қарашаға",
    "желтоқсан": "желтоқсанға",
}


def format_date_until(value: date, language: str) -> str:
    """A date as it reads before "until": "December 5, 2026", "5 декабря 2026 г.";
    in Kazakh the month takes the dative before "дейін": "2026 ж. 5 желтоқсанға".

    >>> format_date_until(date(2026, 12, 5), "kk")
    '2026 ж. 5 желтоқсанға'
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
    amount = amount.quantize(unit)
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
