"""Payment terms: parsing, due dates, business days, discounts and wording."""

from __future__ import annotations

import doctest
from datetime import date
from decimal import Decimal

import pytest

from automation import terms as terms_module
from automation.terms import (
    ACCEPTED_FORMS,
    CALENDAR_DAYS,
    BusinessCalendar,
    CalendarError,
    Terms,
    TermsError,
    amount_due,
    describe_terms,
    discount_date,
    discounted_total,
    due_date,
    format_date_plain,
    parse_terms,
)

WEEKENDS = BusinessCalendar(enabled=True)
US = BusinessCalendar(enabled=True, country="US")
KZ = BusinessCalendar(enabled=True, country="KZ")


def test_module_examples() -> None:
    assert doctest.testmod(terms_module).failed == 0


# ---------------------------------------------------------------------------
# Parsing

PARSE_CASES = [
    # Net N
    ("Net 30", Terms("net", 30, text="Net 30")),
    ("net30", Terms("net", 30, text="Net 30")),
    ("NET   30", Terms("net", 30, text="Net 30")),
    ("  Net 30  ", Terms("net", 30, text="Net 30")),
    ("Net 30 days", Terms("net", 30, text="Net 30")),
    ("Net 1 day", Terms("net", 1, text="Net 1")),
    ("Net 0", Terms("net", 0, text="Net 0")),
    ("Net 030", Terms("net", 30, text="Net 30")),
    ("net\u00a015", Terms("net", 15, text="Net 15")),
    ("30 days", Terms("net", 30, text="Net 30")),
    ("30days", Terms("net", 30, text="Net 30")),
    ("1 DAY", Terms("net", 1, text="Net 1")),
    ("Net 3650", Terms("net", 3650, text="Net 3650")),
    # receipt
    ("Due on receipt", Terms("receipt", 0, text="Due on receipt")),
    ("due on   RECEIPT", Terms("receipt", 0, text="Due on receipt")),
    ("dueonreceipt", Terms("receipt", 0, text="Due on receipt")),
    ("Due upon receipt", Terms("receipt", 0, text="Due on receipt")),
    ("On receipt", Terms("receipt", 0, text="Due on receipt")),
    ("Receipt", Terms("receipt", 0, text="Due on receipt")),
    ("Receipt 0", Terms("receipt", 0, text="Due on receipt")),
    ("Receipt 15", Terms("receipt", 15, text="Receipt 15")),
    ("receipt15", Terms("receipt", 15, text="Receipt 15")),
    ("Receipt 15 days", Terms("receipt", 15, text="Receipt 15")),
    ("15 days after receipt", Terms("receipt", 15, text="Receipt 15")),
    ("15 DAYS AFTER RECEIPT", Terms("receipt", 15, text="Receipt 15")),
    ("15daysafterreceipt", Terms("receipt", 15, text="Receipt 15")),
    ("1 day after receipt", Terms("receipt", 1, text="Receipt 1")),
    # end of month
    ("EOM", Terms("eom", 0, text="EOM")),
    ("eom", Terms("eom", 0, text="EOM")),
    ("EOM 10", Terms("eom", 10, text="EOM 10")),
    ("eom10", Terms("eom", 10, text="EOM 10")),
    ("EOM+10", Terms("eom", 10, text="EOM 10")),
    ("EOM 0", Terms("eom", 0, text="EOM")),
    ("10 EOM", Terms("eom", 10, text="EOM 10")),
    ("10eom", Terms("eom", 10, text="EOM 10")),
    ("10 days EOM", Terms("eom", 10, text="EOM 10")),
    # month following invoice
    ("15 MFI", Terms("mfi", day=15, text="15 MFI")),
    ("15mfi", Terms("mfi", day=15, text="15 MFI")),
    ("15 prox", Terms("mfi", day=15, text="15 MFI")),
    ("15 Prox.", Terms("mfi", day=15, text="15 MFI")),
    ("15th prox", Terms("mfi", day=15, text="15 MFI")),
    ("1 MFI", Terms("mfi", day=1, text="1 MFI")),
    ("31 mfi", Terms("mfi", day=31, text="31 MFI")),
    # early-payment discount
    ("2/10 Net 30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2/10 net30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2 / 10 NET 30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2/10net30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2/10, Net 30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2/10 n/30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2%/10 Net 30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("2.0/10 Net 30", Terms("net", 30, 0, Decimal("2"), 10, "2/10 Net 30")),
    ("1.5/15 net 45", Terms("net", 45, 0, Decimal("1.5"), 15, "1.5/15 Net 45")),
    ("1,5/15 net 45", Terms("net", 45, 0, Decimal("1.5"), 15, "1.5/15 Net 45")),
    ("10/10 Net 10", Terms("net", 10, 0, Decimal("10"), 10, "10/10 Net 10")),
    ("0.5/0 Net 30", Terms("net", 30, 0, Decimal("0.5"), 0, "0.5/0 Net 30")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_terms(text: str, expected: Terms) -> None:
    assert parse_terms(text) == expected


@pytest.mark.parametrize("form", ACCEPTED_FORMS)
def test_every_accepted_form_parses_and_its_canonical_text_round_trips(form: str) -> None:
    parsed = parse_terms(form)
    assert parse_terms(parsed.text) == parsed


def test_discount_percent_is_stored_without_trailing_zeros() -> None:
    assert str(parse_terms("2.50/10 Net 30").discount_percent) == "2.5"
    assert str(parse_terms("10/10 Net 30").discount_percent) == "10"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Net thirty",
        "Net",
        "30",
        "Net -5",
        "Net 30.5",
        "Net 3 0",
        "N30",
        "30 days net",
        "EOM EOM",
        "MFI",
        "prox",
        "15 MFI 10",
        "2/10",
        "2/10 Net",
        "/10 Net 30",
        "receipt receipt",
        "Cash",
    ],
)
def test_unknown_terms_are_errors(text: str) -> None:
    with pytest.raises(TermsError) as caught:
        parse_terms(text)
    assert caught.value.text == text
    assert "use one of: Net 30, 30 days, Due on receipt" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Net 3651", "the number of days must be from 0 to 3650"),
        ("Net 99999999999999999999", "the number of days must be from 0 to 3650"),
        ("Net " + "9" * 5000, "the number of days must be from 0 to 3650"),
        ("Receipt 4000", "the number of days must be from 0 to 3650"),
        ("4000 days after receipt", "the number of days must be from 0 to 3650"),
        ("EOM 5000", "the number of days must be from 0 to 3650"),
        ("0 MFI", "the day of the month must be from 1 to 31"),
        ("32 MFI", "the day of the month must be from 1 to 31"),
        ("100 prox", "the day of the month must be from 1 to 31"),
        ("0/10 Net 30", "the discount must be more than 0 and less than 100%"),
        ("100/10 Net 30", "the discount must be more than 0 and less than 100%"),
        ("150/10 Net 30", "the discount must be more than 0 and less than 100%"),
        ("2/40 Net 30", "the discount period (40 days) must not be longer"),
        ("2/10 Net 4000", "the number of days must be from 0 to 3650"),
    ],
)
def test_out_of_range_terms_are_errors(text: str, reason: str) -> None:
    with pytest.raises(TermsError) as caught:
        parse_terms(text)
    assert reason in caught.value.reason


def test_error_message_quotes_the_input_and_lists_every_accepted_form() -> None:
    with pytest.raises(TermsError) as caught:
        parse_terms("  Net   thirty ")
    message = str(caught.value)
    assert message.startswith('Payment terms "Net thirty" are not understood; use one of: ')
    assert message.endswith(", ".join(ACCEPTED_FORMS) + ".")
    assert isinstance(caught.value, ValueError)


def test_error_message_for_out_of_range_quotes_the_input() -> None:
    with pytest.raises(TermsError, match=r'^Payment terms "45 MFI": the day of the month'):
        parse_terms("45 MFI")


# ---------------------------------------------------------------------------
# Due dates

d = date

DUE_CASES = [
    # Net N: month ends, leap years, year ends
    ("Net 30", d(2026, 1, 28), None, CALENDAR_DAYS, d(2026, 2, 27)),
    ("Net 30", d(2026, 1, 29), None, CALENDAR_DAYS, d(2026, 2, 28)),
    ("Net 30", d(2026, 1, 30), None, CALENDAR_DAYS, d(2026, 3, 1)),
    ("Net 30", d(2026, 1, 31), None, CALENDAR_DAYS, d(2026, 3, 2)),
    ("Net 30", d(2028, 1, 30), None, CALENDAR_DAYS, d(2028, 2, 29)),
    ("Net 30", d(2028, 1, 31), None, CALENDAR_DAYS, d(2028, 3, 1)),
    ("Net 30", d(2026, 2, 28), None, CALENDAR_DAYS, d(2026, 3, 30)),
    ("Net 30", d(2028, 2, 28), None, CALENDAR_DAYS, d(2028, 3, 29)),
    ("Net 30", d(2028, 2, 29), None, CALENDAR_DAYS, d(2028, 3, 30)),
    ("Net 30", d(2026, 4, 30), None, CALENDAR_DAYS, d(2026, 5, 30)),
    ("Net 30", d(2026, 12, 31), None, CALENDAR_DAYS, d(2027, 1, 30)),
    ("Net 30", d(2026, 1, 10), None, CALENDAR_DAYS, d(2026, 2, 9)),
    ("Net 0", d(2026, 12, 31), None, CALENDAR_DAYS, d(2026, 12, 31)),
    ("Net 1", d(2026, 12, 31), None, CALENDAR_DAYS, d(2027, 1, 1)),
    ("Net 60", d(2026, 12, 31), None, CALENDAR_DAYS, d(2027, 3, 1)),
    ("Net 365", d(2027, 3, 1), None, CALENDAR_DAYS, d(2028, 2, 29)),
    ("Net 3650", d(2026, 1, 1), None, CALENDAR_DAYS, d(2035, 12, 30)),
    # EOM and EOM N
    ("EOM", d(2026, 1, 28), None, CALENDAR_DAYS, d(2026, 1, 31)),
    ("EOM", d(2026, 2, 10), None, CALENDAR_DAYS, d(2026, 2, 28)),
    ("EOM", d(2028, 2, 10), None, CALENDAR_DAYS, d(2028, 2, 29)),
    ("EOM", d(2026, 4, 30), None, CALENDAR_DAYS, d(2026, 4, 30)),
    ("EOM", d(2026, 12, 31), None, CALENDAR_DAYS, d(2026, 12, 31)),
    ("EOM 30", d(2026, 1, 10), None, CALENDAR_DAYS, d(2026, 3, 2)),
    ("EOM 30", d(2028, 1, 10), None, CALENDAR_DAYS, d(2028, 3, 1)),
    ("EOM 10", d(2026, 12, 15), None, CALENDAR_DAYS, d(2027, 1, 10)),
    ("EOM 15", d(2026, 2, 28), None, CALENDAR_DAYS, d(2026, 3, 15)),
    ("EOM 15", d(2028, 2, 28), None, CALENDAR_DAYS, d(2028, 3, 15)),
    ("10 EOM", d(2026, 4, 30), None, CALENDAR_DAYS, d(2026, 5, 10)),
    # D MFI: clamped to the following month's last day
    ("15 MFI", d(2026, 1, 31), None, CALENDAR_DAYS, d(2026, 2, 15)),
    ("31 MFI", d(2026, 1, 10), None, CALENDAR_DAYS, d(2026, 2, 28)),
    ("31 MFI", d(2028, 1, 10), None, CALENDAR_DAYS, d(2028, 2, 29)),
    ("30 MFI", d(2026, 1, 29), None, CALENDAR_DAYS, d(2026, 2, 28)),
    ("29 MFI", d(2027, 1, 29), None, CALENDAR_DAYS, d(2027, 2, 28)),
    ("29 prox", d(2028, 1, 29), None, CALENDAR_DAYS, d(2028, 2, 29)),
    ("31 MFI", d(2026, 3, 31), None, CALENDAR_DAYS, d(2026, 4, 30)),
    ("31 MFI", d(2026, 4, 30), None, CALENDAR_DAYS, d(2026, 5, 31)),
    ("31 MFI", d(2026, 2, 28), None, CALENDAR_DAYS, d(2026, 3, 31)),
    ("15 MFI", d(2026, 12, 31), None, CALENDAR_DAYS, d(2027, 1, 15)),
    ("1 MFI", d(2026, 12, 1), None, CALENDAR_DAYS, d(2027, 1, 1)),
    # receipt: counts from the receipt date (the invoice date when unknown)
    ("Due on receipt", d(2026, 1, 31), None, CALENDAR_DAYS, d(2026, 1, 31)),
    ("Due on receipt", d(2026, 1, 31), d(2026, 2, 3), CALENDAR_DAYS, d(2026, 2, 3)),
    ("Receipt 15", d(2026, 1, 31), d(2026, 2, 2), CALENDAR_DAYS, d(2026, 2, 17)),
    ("Receipt 30", d(2026, 12, 31), None, CALENDAR_DAYS, d(2027, 1, 30)),
    ("15 days after receipt", d(2028, 2, 20), d(2028, 2, 20), CALENDAR_DAYS, d(2028, 3, 6)),
    ("Receipt 5", d(2026, 3, 10), d(2026, 3, 1), CALENDAR_DAYS, d(2026, 3, 15)),
    ("Net 30", d(2026, 3, 6), d(2026, 3, 20), CALENDAR_DAYS, d(2026, 4, 5)),
    # P/D Net N: due as Net N
    ("2/10 Net 30", d(2026, 3, 6), None, CALENDAR_DAYS, d(2026, 4, 5)),
    ("2/10 Net 30", d(2028, 1, 31), None, CALENDAR_DAYS, d(2028, 3, 1)),
    # business days, weekends only (6 March 2026 is a Friday)
    ("Net 0", d(2026, 3, 6), None, WEEKENDS, d(2026, 3, 6)),
    ("Net 1", d(2026, 3, 6), None, WEEKENDS, d(2026, 3, 9)),
    ("Net 2", d(2026, 3, 6), None, WEEKENDS, d(2026, 3, 9)),
    ("Net 3", d(2026, 3, 6), None, WEEKENDS, d(2026, 3, 9)),
    ("EOM", d(2026, 1, 5), None, WEEKENDS, d(2026, 2, 2)),  # Saturday 31 January
    ("Net 30", d(2026, 6, 3), None, WEEKENDS, d(2026, 7, 3)),
    # US: 4 July 2026 is a Saturday, observed Friday 3 July
    ("Net 30", d(2026, 6, 3), None, US, d(2026, 7, 6)),
    ("Net 31", d(2026, 6, 3), None, US, d(2026, 7, 6)),
    ("4 MFI", d(2026, 6, 10), None, US, d(2026, 7, 6)),
    ("Receipt 1", d(2026, 7, 1), d(2026, 7, 2), US, d(2026, 7, 6)),
    ("Net 30", d(2026, 11, 25), None, US, d(2026, 12, 28)),  # Christmas, a Friday
    ("EOM 1", d(2026, 12, 10), None, US, d(2027, 1, 4)),  # New Year's Day 2027, a Friday
    ("EOM", d(2027, 12, 1), None, US, d(2028, 1, 3)),  # 31 Dec 2027 observes 1 Jan 2028
    ("2/10 Net 30", d(2026, 6, 3), None, US, d(2026, 7, 6)),
    # Kazakhstan: 8 March (Sunday) observed Monday 9 March; Nowruz 21-25 March
    ("Net 1", d(2026, 3, 6), None, KZ, d(2026, 3, 10)),
    ("Net 30", d(2026, 2, 19), None, KZ, d(2026, 3, 26)),
    ("Net 30", d(2026, 11, 16), None, KZ, d(2026, 12, 17)),  # Independence Day 16 Dec
    # disabled calendars never move a date
    ("Net 30", d(2026, 6, 4), None, BusinessCalendar(False, "US"), d(2026, 7, 4)),
]


@pytest.mark.parametrize(("text", "invoiced", "received", "calendar", "expected"), DUE_CASES)
def test_due_date(
    text: str,
    invoiced: date,
    received: date | None,
    calendar: BusinessCalendar,
    expected: date,
) -> None:
    assert due_date(parse_terms(text), invoiced, received, calendar) == expected


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        due_date(Terms("weekly"), date(2026, 1, 1))


# ---------------------------------------------------------------------------
# Business calendar


def test_calendar_country_codes_ignore_case_and_take_subdivisions() -> None:
    assert BusinessCalendar(True, "us").adjust(date(2026, 7, 3)) == date(2026, 7, 6)
    # Cesar Chavez Day, 31 March 2026 (a Tuesday), is a holiday in California only.
    assert BusinessCalendar(True, "US", "CA").adjust(date(2026, 3, 31)) == date(2026, 4, 1)
    assert US.adjust(date(2026, 3, 31)) == date(2026, 3, 31)


def test_calendar_uses_the_countrys_own_weekend() -> None:
    # Saudi Arabia rests on Friday and Saturday; 6 March 2026 is a Friday.
    saudi = BusinessCalendar(True, "SA")
    assert saudi.adjust(date(2026, 3, 6)) == date(2026, 3, 8)


@pytest.mark.parametrize(("country", "subdivision"), [("XX", ""), ("US", "ZZ")])
def test_calendar_rejects_unknown_regions(country: str, subdivision: str) -> None:
    with pytest.raises(CalendarError, match="does not know the country"):
        BusinessCalendar(True, country, subdivision)


def test_is_business_day() -> None:
    assert US.is_business_day(date(2026, 7, 2))
    assert not US.is_business_day(date(2026, 7, 3))
    assert not CALENDAR_DAYS.is_business_day(date(2026, 3, 7))


# ---------------------------------------------------------------------------
# Discounts

TWO_TEN = parse_terms("2/10 Net 30")
INVOICED = date(2026, 3, 6)


def test_discount_date_is_not_moved_to_a_business_day() -> None:
    # 6 March + 10 days = Monday 16 March; 7 March + 10 = Tuesday; 4 March + 10 = Saturday 14.
    assert discount_date(TWO_TEN, INVOICED) == date(2026, 3, 16)
    assert discount_date(TWO_TEN, date(2026, 3, 4)) == date(2026, 3, 14)


def test_no_discount_without_discount_terms() -> None:
    net = parse_terms("Net 30")
    assert discount_date(net, INVOICED) is None
    assert discounted_total(net, Decimal("1000"), "USD") is None
    assert amount_due(net, Decimal("1000"), "USD", INVOICED, date(2026, 3, 7)) == Decimal("1000")
    assert not net.has_discount
    assert TWO_TEN.has_discount


@pytest.mark.parametrize(
    ("text", "total", "currency", "expected"),
    [
        ("2/10 Net 30", "1000.00", "USD", "980.00"),
        ("1.5/15 net 45", "1000.00", "USD", "985.00"),
        ("2/10 Net 30", "10.25", "USD", "10.05"),  # 10.045 rounds half up
        ("1.5/15 net 45", "99.99", "USD", "98.49"),  # 98.490150
        ("2/10 Net 30", "1234", "JPY", "1209"),  # 1209.32, no minor unit
        ("2/10 Net 30", "12.345", "KWD", "12.098"),  # three decimals: 12.0981
        ("3/10 Net 30", "0.50", "USD", "0.49"),  # 0.485 rounds half up
    ],
)
def test_discounted_total_rounds_to_the_currency(
    text: str, total: str, currency: str, expected: str
) -> None:
    result = discounted_total(parse_terms(text), Decimal(total), currency)
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        (None, "1000.00"),
        (date(2026, 3, 6), "980.00"),  # the invoice date itself
        (date(2026, 3, 15), "980.00"),
        (date(2026, 3, 16), "980.00"),  # on the discount date
        (date(2026, 3, 17), "1000.00"),  # one day late
        (date(2026, 4, 5), "1000.00"),
        (date(2026, 6, 1), "1000.00"),
    ],
)
def test_amount_due_depends_on_the_payment_date(paid: date | None, expected: str) -> None:
    assert amount_due(TWO_TEN, Decimal("1000.00"), "USD", INVOICED, paid) == Decimal(expected)


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        ("500.00", "1000.00"),  # a part payment on time earns nothing
        ("979.98", "1000.00"),
        ("979.99", "980.00"),  # a cent short of the discounted amount: settled
        ("980.00", "980.00"),
        ("990.00", "990.00"),  # less of the discount taken: settled, nothing owed back
        ("999.99", "999.99"),
        ("1000.00", "1000.00"),
        ("1000.01", "1000.00"),
        ("1200.00", "1000.00"),  # paid too much by what exceeds the total
    ],
)
def test_amount_due_inside_the_window_is_continuous(paid: str, expected: str) -> None:
    due = amount_due(TWO_TEN, Decimal("1000.00"), "USD", INVOICED, date(2026, 3, 9), Decimal(paid))
    assert due == Decimal(expected)


# ---------------------------------------------------------------------------
# Terms in words


def describe(text: str, language: str = "en", amount: str | None = None) -> str:
    terms = parse_terms(text)
    return describe_terms(
        terms, INVOICED, due_date(terms, INVOICED), language, discounted_amount_text=amount
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Net 30", "Payment due within 30 days of the invoice date"),
        ("Net 1", "Payment due within 1 day of the invoice date"),
        ("Net 0", "Payment due on the invoice date"),
        ("Due on receipt", "Payment due on receipt"),
        ("Receipt 15", "Payment due within 15 days of receipt"),
        ("EOM", "Payment due by the last day of the invoice month"),
        ("EOM 10", "Payment due 10 days after the end of the invoice month"),
        ("15 MFI", "Payment due on the 15th of the month following the invoice month"),
        ("1 MFI", "Payment due on the 1st of the month following the invoice month"),
        ("2 MFI", "Payment due on the 2nd of the month following the invoice month"),
        ("3 MFI", "Payment due on the 3rd of the month following the invoice month"),
        ("11 MFI", "Payment due on the 11th of the month following the invoice month"),
        ("12 MFI", "Payment due on the 12th of the month following the invoice month"),
        ("13 MFI", "Payment due on the 13th of the month following the invoice month"),
        ("21 MFI", "Payment due on the 21st of the month following the invoice month"),
        ("22 MFI", "Payment due on the 22nd of the month following the invoice month"),
        ("30 MFI", "Payment due on the 30th of the month following the invoice month"),
        # April has no 31st: due on its last day, and the words say so
        ("31 MFI", "Payment due on the last day of the month following the invoice month"),
        ("2/10 Net 30", "2% discount if paid by 16 March 2026; net amount due by 5 April 2026"),
        (
            "1.5/15 net 45",
            "1.5% discount if paid by 21 March 2026; net amount due by 20 April 2026",
        ),
    ],
)
def test_describe_terms_in_english(text: str, expected: str) -> None:
    assert describe(text) == expected


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "on the last day of the month following"),
     ("ru", "не позднее последнего дня месяца, следующего"),
     ("kk", "айдан кейінгі айдың соңғы күнінен")],
)  # fmt: skip
def test_a_day_the_next_month_lacks_is_described_as_its_last_day(
    language: str, words: str
) -> None:
    january, terms = date(2026, 1, 20), parse_terms("31 prox")
    due = due_date(terms, january)
    assert due == date(2026, 2, 28)
    assert words in describe_terms(terms, january, due, language)
    march = describe_terms(terms, date(2026, 2, 10), due_date(terms, date(2026, 2, 10)), language)
    assert words not in march and "31" in march  # March has a 31st


def test_describe_terms_mentions_the_discounted_amount() -> None:
    assert describe("2/10 Net 30", amount="USD 980.00") == (
        "2% discount (pay USD 980.00) if paid by 16 March 2026; net amount due by 5 April 2026"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Net 30", "Оплата в течение 30 дней с даты выставления счёта"),
        ("Net 1", "Оплата в течение 1 дня с даты выставления счёта"),
        ("Net 21", "Оплата в течение 21 дня с даты выставления счёта"),
        ("Net 11", "Оплата в течение 11 дней с даты выставления счёта"),
        ("Net 3", "Оплата в течение 3 дней с даты выставления счёта"),
        ("Net 0", "Оплата в день выставления счёта"),
        ("Due on receipt", "Оплата по получении счёта"),
        ("Receipt 15", "Оплата в течение 15 дней с даты получения счёта"),
        ("EOM", "Оплата не позднее последнего дня месяца выставления счёта"),
        ("EOM 10", "Оплата в течение 10 дней после окончания месяца выставления счёта"),
        (
            "15 MFI",
            "Оплата не позднее 15-го числа месяца, следующего за месяцем выставления счёта",
        ),
        (
            "1.5/15 net 45",
            "Скидка 1,5% при оплате не позднее 21 March 2026; "
            "полная сумма подлежит оплате не позднее 20 April 2026",
        ),
    ],
)
def test_describe_terms_in_russian(text: str, expected: str) -> None:
    assert describe(text, "ru") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Net 30", "Төлем шот берілген күннен бастап 30 күн ішінде жүргізіледі"),
        ("Net 1", "Төлем шот берілген күннен бастап 1 күн ішінде жүргізіледі"),
        ("Net 0", "Төлем шот берілген күні жүргізіледі"),
        ("Due on receipt", "Төлем шотты алған кезде жүргізіледі"),
        ("Receipt 15", "Төлем шотты алған күннен бастап 15 күн ішінде жүргізіледі"),
        ("EOM", "Төлем шот берілген айдың соңғы күнінен кешіктірмей жүргізіледі"),
        ("EOM 10", "Төлем шот берілген ай аяқталғаннан кейін 10 күн ішінде жүргізіледі"),
        (
            "15 MFI",
            "Төлем шот берілген айдан кейінгі айдың 15-күнінен кешіктірмей жүргізіледі",
        ),
    ],
)
def test_describe_terms_in_kazakh(text: str, expected: str) -> None:
    assert describe(text, "kk") == expected


def test_describe_terms_with_a_babel_formatter() -> None:
    from babel.dates import format_date

    terms = TWO_TEN
    due = due_date(terms, INVOICED)

    # Babel puts a narrow no-break space before "г." / after "ж."; plain spaces read easier here.
    def russian(day: date) -> str:
        return format_date(day, "long", locale="ru").replace("\u202f", " ")

    def kazakh(day: date) -> str:
        return format_date(day, "long", locale="kk").replace("\u202f", " ")

    assert describe_terms(terms, INVOICED, due, "ru", russian, "980,00 $") == (
        "Скидка 2% (к оплате 980,00 $) при оплате не позднее 16 марта 2026 г.; "
        "полная сумма подлежит оплате не позднее 5 апреля 2026 г."
    )
    assert describe_terms(terms, INVOICED, due, "kk", kazakh) == (
        "2% жеңілдік, жеңілдікпен төлеу мерзімі: 2026 ж. 16 наурыз; "
        "толық соманы төлеу мерзімі: 2026 ж. 5 сәуір"
    )
    assert describe_terms(terms, INVOICED, due, "kk", kazakh, "980,00 $") == (
        "2% жеңілдік (төленетін сома: 980,00 $), жеңілдікпен төлеу мерзімі: 2026 ж. 16 наурыз; "
        "толық соманы төлеу мерзімі: 2026 ж. 5 сәуір"
    )


def test_describe_terms_uses_the_adjusted_due_date_it_is_given() -> None:
    due = due_date(TWO_TEN, date(2026, 6, 3), calendar=US)
    text = describe_terms(TWO_TEN, date(2026, 6, 3), due)
    assert text == "2% discount if paid by 13 June 2026; net amount due by 6 July 2026"


def test_describe_terms_falls_back_to_english() -> None:
    assert describe("Net 30", "de") == "Payment due within 30 days of the invoice date"
    assert describe("Net 30", "RU") == "Оплата в течение 30 дней с даты выставления счёта"


def test_format_date_plain_ignores_the_locale() -> None:
    assert format_date_plain(date(2026, 4, 5)) == "5 April 2026"
    assert format_date_plain(date(2028, 12, 31)) == "31 December 2028"
