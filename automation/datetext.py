"""Dates typed as text: read only when they cannot be misread.

A date cell is best; text is accepted in the forms below. A slash date such
as 05/03/2026 is 5 March in most of the world and May 3 in the US, so it
follows ``[billing] date_order`` ("DMY" or "MDY"); without it, one that can
be read two ways is refused with both readings, never guessed.

>>> read_date_text("2026-03-05"), read_date_text("05.03.2026")
(datetime.date(2026, 3, 5), datetime.date(2026, 3, 5))
>>> read_date_text("5 Mar 2026"), read_date_text("March 5, 2026")
(datetime.date(2026, 3, 5), datetime.date(2026, 3, 5))
>>> read_date_text("05/03/2026", "MDY"), read_date_text("25/03/2026")
(datetime.date(2026, 5, 3), datetime.date(2026, 3, 25))
>>> try:
...     read_date_text("05/03/2026")
... except DateTextError as exc:
...     print(str(exc)[:49])
"05/03/2026" could be 5 March 2026 or 3 May 2026;
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

DATE_ORDERS = ("DMY", "MDY")

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

EXAMPLE = "type it as a date, e.g. 2026-03-05"


class DateTextError(ValueError):
    """Text that is not a date, or not one date; the message says what to type."""


def _month_name(name: str) -> int:
    number = MONTHS.get(name.lower().rstrip("."))
    if number is None:
        raise ValueError(name)
    return number


#: (pattern, (year, month, day) from the groups): the forms that are never ambiguous.
FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[int, int, int]]], ...] = (
    (  # ISO, also with a time after it (a datetime stored as text)
        re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"),
        lambda m: (int(m[1]), int(m[2]), int(m[3])),
    ),
    (  # day.month.year: dots are day first wherever they are used
        re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})"),
        lambda m: (int(m[3]), int(m[2]), int(m[1])),
    ),
    (  # 5 Mar 2026, 5 March 2026, 05-Mar-2026
        re.compile(r"(\d{1,2})[\s-]+([A-Za-z]{3,9}\.?)[\s,-]+(\d{4})"),
        lambda m: (int(m[3]), _month_name(m[2]), int(m[1])),
    ),
    (  # March 5, 2026, Mar 5 2026
        re.compile(r"([A-Za-z]{3,9}\.?)\s+(\d{1,2}),?\s+(\d{4})"),
        lambda m: (int(m[3]), _month_name(m[1]), int(m[2])),
    ),
)
SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _words(day: date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


def _real(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def read_date_text(text: str, order: str = "") -> date:
    """The date a cell's text means (`order`: "", "DMY" or "MDY"), or DateTextError."""
    text = " ".join(text.split())
    for pattern, parts in FORMS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        try:
            found = _real(*parts(m))
        except ValueError:  # a word that is not a month
            break
        if found is None:
            raise DateTextError(f'"{text}" is not a real date.')
        return found
    m = SLASH.fullmatch(text)
    if m is None:
        raise DateTextError(f'"{text}" is not a date; {EXAMPLE}.')
    first, second, year = int(m[1]), int(m[2]), int(m[3])
    day_first = _real(year, second, first)
    month_first = _real(year, first, second)
    if order.upper() == "DMY" or (not order and month_first is None):
        found = day_first
    elif order.upper() == "MDY" or (not order and day_first is None):
        found = month_first
    elif day_first == month_first:
        found = day_first
    else:
        assert day_first is not None and month_first is not None
        raise DateTextError(
            f'"{text}" could be {_words(day_first)} or {_words(month_first)}; type it as '
            f"{day_first.isoformat()} or {month_first.isoformat()}, or set "
            'date_order = "DMY" or "MDY" under [billing] in billing.toml.'
        )
    if found is None:
        other = month_first if order.upper() == "DMY" else day_first
        if other is not None:  # real only the other way round: a slip of the order
            leading = "day" if order.upper() == "DMY" else "month"
            raise DateTextError(
                f'"{text}" is not a real date with the {leading} first (date_order = '
                f'"{order.upper()}" in billing.toml); type it as {other.isoformat()} if you '
                f"meant {_words(other)}."
            )
        raise DateTextError(f'"{text}" is not a real date.')
    return found
