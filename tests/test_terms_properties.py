"""Properties of payment terms that must hold for every date and every term."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from automation.terms import (
    MAX_DAYS,
    BusinessCalendar,
    Terms,
    TermsError,
    amount_due,
    discount_date,
    discounted_total,
    due_date,
    parse_terms,
)

# Local settings, not a profile: loading a profile would change every other test file too.
# No deadline, since the first look-up of a year's holidays is slow.
modest = settings(max_examples=200, deadline=None)

dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
days = st.integers(min_value=0, max_value=MAX_DAYS)
days_of_month = st.integers(min_value=1, max_value=31)
percents = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("99.99"), places=2, allow_nan=False
)


@st.composite
def discount_texts(draw: st.DrawFn) -> str:
    n = draw(days)
    window = draw(st.integers(min_value=0, max_value=n))
    return f"{draw(percents)}/{window} Net {n}"


term_texts = st.one_of(
    days.map(lambda n: f"Net {n}"),
    days.map(lambda n: f"{n} days"),
    days.map(lambda n: f"Receipt {n}"),
    days.map(lambda n: f"{n} days after receipt"),
    st.just("Due on receipt"),
    days.map(lambda n: f"EOM {n}"),
    days.map(lambda n: f"{n} EOM"),
    days_of_month.map(lambda d: f"{d} MFI"),
    days_of_month.map(lambda d: f"{d} prox"),
    discount_texts(),
)
any_terms = term_texts.map(parse_terms)
calendars = st.sampled_from(
    [
        BusinessCalendar(),
        BusinessCalendar(enabled=True),
        BusinessCalendar(enabled=True, country="US"),
        BusinessCalendar(enabled=True, country="KZ"),
        BusinessCalendar(enabled=True, country="GB", subdivision="ENG"),
    ]
)


@modest
@given(any_terms, dates, st.integers(min_value=0, max_value=60), calendars)
def test_due_date_is_never_before_the_invoice_date(
    terms: Terms, invoiced: date, lag: int, calendar: BusinessCalendar
) -> None:
    received = invoiced + timedelta(days=lag)
    assert due_date(terms, invoiced, received, calendar) >= invoiced
    assert due_date(terms, invoiced, None, calendar) >= invoiced


@modest
@given(days, dates)
def test_net_n_is_exactly_n_days(n: int, invoiced: date) -> None:
    assert (due_date(parse_terms(f"Net {n}"), invoiced) - invoiced).days == n


@modest
@given(days, dates, st.integers(min_value=0, max_value=60))
def test_receipt_n_is_exactly_n_days_after_receipt(n: int, invoiced: date, lag: int) -> None:
    received = invoiced + timedelta(days=lag)
    assert (due_date(parse_terms(f"Receipt {n}"), invoiced, received) - received).days == n


@modest
@given(dates)
def test_eom_is_the_last_day_of_the_invoice_month(invoiced: date) -> None:
    due = due_date(parse_terms("EOM"), invoiced)
    assert (due.year, due.month) == (invoiced.year, invoiced.month)
    assert (due + timedelta(days=1)).day == 1


@modest
@given(days, dates)
def test_eom_n_is_n_days_after_eom(n: int, invoiced: date) -> None:
    month_end = due_date(parse_terms("EOM"), invoiced)
    assert (due_date(parse_terms(f"EOM {n}"), invoiced) - month_end).days == n


@modest
@given(days_of_month, dates)
def test_mfi_falls_in_the_following_month(day: int, invoiced: date) -> None:
    due = due_date(parse_terms(f"{day} MFI"), invoiced)
    assert due.year * 12 + due.month == invoiced.year * 12 + invoiced.month + 1
    # The day asked for, or the last day when the month is shorter.
    assert due.day == day or (due.day < day and (due + timedelta(days=1)).day == 1)


@modest
@given(any_terms, dates, calendars)
def test_business_day_adjusted_dates_are_never_weekends(
    terms: Terms, invoiced: date, calendar: BusinessCalendar
) -> None:
    plain = due_date(terms, invoiced)
    adjusted = due_date(terms, invoiced, calendar=calendar)
    assert plain <= adjusted <= plain + timedelta(days=14)
    if calendar.enabled:
        assert adjusted.weekday() < 5
        assert calendar.is_business_day(adjusted)
    else:
        assert adjusted == plain


@modest
@given(any_terms)
def test_canonical_text_parses_back_to_the_same_terms(terms: Terms) -> None:
    assert parse_terms(terms.text) == terms


@modest
@given(term_texts, st.data())
def test_case_and_spacing_do_not_matter(text: str, data: st.DataObject) -> None:
    flipped = "".join(ch.upper() if data.draw(st.booleans()) else ch.lower() for ch in text)
    spaced = data.draw(st.sampled_from(["", " ", "  ", "\t"])).join(flipped.split(" "))
    padded = f" {spaced}  "
    assert parse_terms(padded) == parse_terms(text)


@modest
@given(st.text(max_size=40))
def test_parse_terms_fails_only_with_terms_error(text: str) -> None:
    try:
        terms = parse_terms(text)
    except TermsError as error:
        assert error.text == text
    else:
        assert terms.text


@modest
@given(
    discount_texts(),
    dates,
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2, allow_nan=False),
    st.integers(-5, 60),
)
def test_discount_never_raises_the_amount_due(
    text: str, invoiced: date, total: Decimal, paid_after: int
) -> None:
    terms = parse_terms(text)
    discounted = discounted_total(terms, total, "USD")
    last_day = discount_date(terms, invoiced)
    assert discounted is not None and last_day is not None
    assert Decimal(0) <= discounted <= total
    assert last_day <= due_date(terms, invoiced)
    paid = invoiced + timedelta(days=paid_after)
    expected = discounted if paid <= last_day else total
    assert amount_due(terms, total, "USD", invoiced, paid) == expected
