"""Money, dates and amounts in words in en, ru and kk."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation import fmt

NBSP = "\u00a0"


def plain(text: str) -> str:
    """CLDR puts no-break and narrow no-break spaces in dates and times."""
    return text.replace("\u202f", " ").replace(NBSP, " ")


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        ("1234.50", "USD", "en", "$1,234.50"),
        ("1234.50", "EUR", "en", "€1,234.50"),
        ("1234.50", "RUB", "ru", f"1{NBSP}234,50{NBSP}₽"),
        ("1234.50", "KZT", "kk", f"1{NBSP}234,50{NBSP}₸"),
        ("1234.50", "usd", "ru", f"1{NBSP}234,50{NBSP}$"),
        ("1235", "JPY", "en", "¥1,235"),
        ("-5.00", "USD", "en", "-$5.00"),
        ("0", "USD", "en", "$0.00"),
    ],
)
def test_format_money(amount: str, currency: str, language: str, expected: str) -> None:
    assert fmt.format_money(Decimal(amount), currency, language) == expected


def test_format_money_has_no_float_noise() -> None:
    huge = Decimal("12345678901234567.89")
    assert fmt.format_money(huge, "USD", "en") == "$12,345,678,901,234,567.89"
    assert fmt.format_money(Decimal("0.1") + Decimal("0.2"), "USD", "en") == "$0.30"


def test_format_price_keeps_extra_digits() -> None:
    assert fmt.format_price(Decimal("0.125"), "USD", "en") == "$0.125"
    assert fmt.format_price(Decimal("2"), "USD", "en") == "$2.00"


@pytest.mark.parametrize(
    ("language", "long", "short"),
    [
        ("en", "April 5, 2026", "Apr 5, 2026"),
        ("ru", "5 апреля 2026 г.", "5 апр. 2026 г."),
        ("kk", "2026 ж. 5 сәуір", "2026 ж. 05 сәу."),
        ("xx", "April 5, 2026", "Apr 5, 2026"),
    ],
)
def test_format_dates(language: str, long: str, short: str) -> None:
    assert plain(fmt.format_date(date(2026, 4, 5), language)) == long
    assert plain(fmt.format_short_date(date(2026, 4, 5), language)) == short


def test_format_datetime() -> None:
    moment = datetime(2026, 4, 5, 14, 30)
    assert plain(fmt.format_datetime(moment, "en")) == "April 5, 2026, 2:30 PM"
    assert plain(fmt.format_datetime(moment, "ru")) == "5 апреля 2026 г., 14:30"
    assert plain(fmt.format_datetime(moment, "kk")) == "2026 ж. 5 сәуір, 14:30"


def test_locale_for() -> None:
    assert [fmt.locale_for(x) for x in ("en", "ru", "kk", " RU ", "de")] == [
        "en_US",
        "ru_RU",
        "kk_KZ",
        "ru_RU",
        "en_US",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        ("1234.50", "USD", "en", "One thousand, two hundred and thirty-four dollars, fifty cents"),
        ("1234.50", "RUB", "ru", "Одна тысяча двести тридцать четыре рубля 50 копеек"),
        ("1500.00", "RUB", "ru", "Одна тысяча пятьсот рублей 00 копеек"),
        ("76.01", "RUB", "ru", "Семьдесят шесть рублей 01 копейка"),
        ("1234.50", "KZT", "ru", "Одна тысяча двести тридцать четыре тенге 50 тиынов"),
        ("1234.50", "KZT", "kk", "Бір мың екі жүз отыз төрт теңге, елу тиын"),
        # A whole Decimal is units, not cents (num2words reads an int as cents).
        ("1234", "USD", "en", "One thousand, two hundred and thirty-four dollars, zero cents"),
        # Currencies num2words does not know in that language fall back to the code.
        ("1234.50", "EUR", "kk", "Бір мың екі жүз отыз төрт EUR 50/100"),
        ("1234.05", "CHF", "en", "One thousand, two hundred and thirty-four CHF 05/100"),
        ("1235", "JPY", "en", "One thousand, two hundred and thirty-five JPY"),
        ("7.5", "GBP", "ru", "Семь GBP 50/100"),
        # Rounded as the figures are (half up), not half to even.
        ("2.665", "USD", "en", "Two dollars, sixty-seven cents"),
        ("12.5", "JPY", "en", "Thirteen JPY"),
    ],
)
def test_amount_in_words(amount: str, currency: str, language: str, expected: str) -> None:
    assert fmt.amount_in_words(Decimal(amount), currency, language) == expected


@given(
    amount=st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False),
    currency=st.sampled_from(["USD", "EUR", "RUB", "KZT", "JPY", "GBP", "CHF", "XYZ"]),
    language=st.sampled_from(["en", "ru", "kk"]),
)
def test_amount_in_words_never_raises(amount: Decimal, currency: str, language: str) -> None:
    words = fmt.amount_in_words(amount, currency, language)
    assert words and words[0] == words[0].upper()


@pytest.mark.parametrize(
    ("currency", "language", "expected"),
    [
        ("KZT", "en", f"KZT{NBSP}394,800.56"),
        ("KZT", "kk", f"394{NBSP}800,56{NBSP}₸"),
        ("CHF", "en", f"-CHF{NBSP}394,800.56"),
        ("RUB", "ru", f"394{NBSP}800,56{NBSP}₽"),
    ],
)
def test_currency_codes_never_touch_the_digits(currency: str, language: str, expected: str) -> None:
    amount = Decimal("-394800.56") if expected.startswith("-") else Decimal("394800.56")
    assert fmt.format_money(amount, currency, language) == expected
    assert fmt.format_price(amount, currency, language) == expected


def test_summary_outstanding_follows_the_configured_language() -> None:
    from automation.summary import RunSummary, outstanding_lines, summary_lines

    summary = RunSummary(date(2026, 11, 30), language="en")
    summary.outstanding = {"KZT": Decimal("394800.56"), "USD": Decimal("1250")}
    assert outstanding_lines(summary) == [
        f"Outstanding: KZT{NBSP}394,800.56",
        "Outstanding: $1,250.00",
    ]
    assert f"Outstanding: KZT{NBSP}394,800.56" in summary_lines(summary)
    summary = RunSummary(date(2026, 11, 30), language="kk")
    summary.outstanding = {"KZT": Decimal("394800.56")}
    assert plain(outstanding_lines(summary)[0]) == "Outstanding: 394 800,56 ₸"


@pytest.mark.parametrize(
    ("month", "dative"),
    [(1, "қаңтарға"), (4, "сәуірге"), (7, "шілдеге"), (9, "қыркүйекке"), (12, "желтоқсанға")],
)
def test_kazakh_date_before_deyin_takes_the_dative(month: int, dative: str) -> None:
    assert fmt.format_date_until(date(2026, month, 5), "kk").endswith(f"5 {dative}")
    assert fmt.format_date_until(date(2026, month, 5), "en") == fmt.format_date(
        date(2026, month, 5), "en"
    )


#: Currencies with 0, 2 and 3 minor digits, a symbol, a code, one Babel does not know.
SAME_AS_BABEL_CURRENCIES = ("USD", "EUR", "RUB", "KZT", "JPY", "BHD", "GBP", "CHF", "XYZ")
amounts = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d) < Decimal("1e20")
) | st.sampled_from(
    [Decimal("0"), Decimal("-0"), Decimal("-0.00"), Decimal("1E+3"), Decimal("0.125"),
     Decimal("999.995"), Decimal("-1234567.891"), Decimal("0.0000001"), Decimal("1.10")]
)  # fmt: skip


@given(
    amount=amounts,
    currency=st.sampled_from(SAME_AS_BABEL_CURRENCIES),
    language=st.sampled_from(["en", "ru", "kk", "xx"]),
    quantize=st.booleans(),
)
def test_number_format_is_babels(
    amount: Decimal, currency: str, language: str, quantize: bool
) -> None:
    """The formats looked up once print exactly what Babel prints, rounding included."""
    from babel.numbers import format_currency, format_decimal

    locale = fmt.babel_locale(language)
    money = fmt.number_format(language, currency)
    number = fmt.number_format(language)
    assert money is not None and number is not None  # en, ru and kk take the fast path
    assert money.apply(amount, quantize) == format_currency(
        amount, currency, locale=locale, decimal_quantization=quantize
    )
    assert number.apply(amount) == format_decimal(amount, locale=locale)
    # A quantity shows every digit typed (Babel's default pattern stops at three), up to six.
    shown = amount
    if int(amount.as_tuple().exponent) < -fmt.QUANTITY_DIGITS:
        shown = amount.quantize(Decimal("0.000001"), ROUND_HALF_UP).normalize()
    assert fmt.format_number(amount, language) == format_decimal(
        shown, locale=locale, decimal_quantization=False
    )


@pytest.mark.parametrize(
    ("quantity", "language", "shown"),
    [("1.2345", "en", "1.2345"), ("0.0001", "en", "0.0001"), ("2.0004", "ru", "2,0004"),
     ("1234.5", "en", "1,234.5"), ("3", "kk", "3"),
     ("0.833333333333333", "en", "0.833333")],  # =50/60: a float's digits, rounded to six
)  # fmt: skip
def test_a_quantity_keeps_every_digit(quantity: str, language: str, shown: str) -> None:
    assert fmt.format_number(Decimal(quantity), language) == shown


@given(
    amount=amounts,
    currency=st.sampled_from(SAME_AS_BABEL_CURRENCIES),
    language=st.sampled_from(["en", "ru", "kk", "xx"]),
)
def test_money_with_a_code_is_spaced_as_babels_text_would_be(
    amount: Decimal, currency: str, language: str
) -> None:
    """spaced_format spaces a currency code once per format: the same text as
    spacing each amount Babel prints (`_space_code`), rounding included."""
    from babel.numbers import format_currency

    from automation.money import round_money

    locale = fmt.babel_locale(language)
    rounded = round_money(amount, currency)
    assert fmt.format_money(amount, currency, language) == fmt._space_code(
        format_currency(rounded, currency, locale=locale, decimal_quantization=True)
    )
    assert fmt.format_price(amount, currency, language) == fmt._space_code(
        format_currency(amount, currency, locale=locale, decimal_quantization=False)
    )


@given(rate=amounts.filter(lambda d: abs(d) < 1000), language=st.sampled_from(["en", "ru", "kk"]))
def test_tax_rates_print_as_babel_prints_them(rate: Decimal, language: str) -> None:
    from babel.numbers import format_percent

    from automation.render import format_rate

    expected = format_percent(
        rate, format="#,##0.###%", locale=fmt.babel_locale(language), decimal_quantization=False
    )
    assert format_rate(rate, language) == expected
    assert format_rate(rate, language) == expected  # cached: the same text again


def test_summary_lines_name_each_message_as_the_terminal_does() -> None:
    """The log and the summary email say "part-payment note", not the internal "underpaid"."""
    from automation.summary import RunSummary, SentItem, summary_lines

    summary = RunSummary(date(2026, 11, 30), language="en")
    summary.sent = [SentItem("INV-1", "Acme", "underpaid", "$600.00"),
                    SentItem("INV-2", "Beta", "credit_note", "$50.00")]  # fmt: skip
    lines = summary_lines(summary)
    assert any(line.startswith("  part-payment note ") and "INV-1" in line for line in lines)
    assert any(line.startswith("  credit note ") and "INV-2" in line for line in lines)
    assert not any("underpaid" in line or "credit_note" in line for line in lines)


def test_every_currency_is_worked_out_to_its_iso_4217_minor_unit() -> None:
    """money.minor_unit is ISO 4217's minor unit for every currency Babel knows that ISO
    4217 lists (ISO_MINOR_DIGITS holds where CLDR's display decimals differ)."""
    from babel.numbers import list_currencies
    from iso4217 import Currency

    from automation.money import currency_digits

    listed = {c.code: c.exponent for c in Currency if c.exponent is not None}
    known = sorted(set(list_currencies()) & listed.keys())
    assert len(known) > 150
    assert {c: currency_digits(c) for c in known} == {c: listed[c] for c in known}

