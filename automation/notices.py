"""What a run and `check` say about the workbook besides row errors.

Services dated ahead wait without an error (the output says how many and
when the first becomes billable); one dated more than a year ahead, or more
than PAST_YEARS back, is a typing mistake in the year and a row error. A
fresh `init` folder still holding its placeholder company is pointed out (its
example client is a row error in `validate`: it is never billed).

    lines, unlikely = split_unlikely_dates(lines, data.services, as_of)
    for note in workbook_notices(data, book, lines, as_of, config):
        print(note)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from .config import Config
from .model import RowError, ServiceLine
from .plan import is_billable
from .read import SheetData, WorkbookData
from .validate import ClientBook


@dataclass(frozen=True)
class Waiting:
    """Valid services not billable yet: how many, and the first date one becomes billable."""

    count: int
    earliest: date


def years_from(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def one_year_after(day: date) -> date:
    return years_from(day, 1)


#: A service dated more than this many years before the run is a typo in the year (1926
#: for 2026), not work to bill now: a log's old unbilled rows would otherwise all be billed.
PAST_YEARS = 5


def split_unlikely_dates(
    lines: Sequence[ServiceLine], sheet: SheetData, as_of: date, book: ClientBook | None = None
) -> tuple[list[ServiceLine], dict[int, RowError]]:
    """(lines dated at most a year after `as_of` and at most PAST_YEARS before it, a row
    error for each of the others)."""
    limit, floor = one_year_after(as_of), years_from(as_of, -PAST_YEARS)
    kept, errors = [], {}
    for line in lines:
        # An inactive client's line is never billed: Skipped (or blank before its date).
        if floor <= line.service_date <= limit or (
            book is not None and not book.clients[line.client_key].active
        ):
            kept.append(line)
            continue
        day = line.service_date.isoformat()  # only for a line told
        if line.service_date > limit:
            message = (
                f"the date {day} is more than a year after {as_of.isoformat()}; check the year."
            )
        else:
            message = (
                f"the date {day} is more than {PAST_YEARS} years before {as_of.isoformat()}; "
                "check the year (to bill work that old, date it today and say when it was done "
                "in the Description)."
            )
        errors[line.row] = RowError(sheet.name, line.row, sheet.headers["Date"], message)
    return kept, errors


def waiting(
    lines: Sequence[ServiceLine], book: ClientBook, as_of: date, bill_after_days: int
) -> Waiting | None:
    """The services of active clients that are valid but not billable yet."""
    dates = [
        line.service_date
        for line in lines
        if not is_billable(line, as_of, bill_after_days)
        and (client := book.clients.get(line.client_key)) is not None
        and client.active
    ]
    if not dates:
        return None
    return Waiting(len(dates), min(dates) + timedelta(days=bill_after_days))


#: An unbilled service older than this, billed now, is pointed out (an existing log's
#: history without its invoice numbers would otherwise be billed without a word).
OLD_UNBILLED_DAYS = 90


def _long_unbilled(lines: Sequence[ServiceLine], book: ClientBook, as_of: date) -> list[date]:
    """The service dates of active clients' unbilled lines older than OLD_UNBILLED_DAYS."""
    limit = as_of - timedelta(days=OLD_UNBILLED_DAYS)
    return [
        line.service_date
        for line in lines
        if line.service_date < limit
        and (client := book.clients.get(line.client_key)) is not None
        and client.active
    ]


def workbook_notices(
    data: WorkbookData,
    book: ClientBook,
    lines: Sequence[ServiceLine],
    as_of: date,
    config: Config,
) -> list[str]:
    """Sentences for the run's output and `check` (none of them changes the exit code)."""
    from .starter import PLACEHOLDER_COMPANY  # not needed before reading

    notes = []
    ahead = waiting(lines, book, as_of, config.billing.bill_after_days)
    if ahead is not None:
        services = "service waits" if ahead.count == 1 else "services wait"
        notes.append(
            f"{ahead.count} {services} until billable; the first becomes billable on "
            f"{ahead.earliest.isoformat()}."
        )
    old = _long_unbilled(lines, book, as_of)
    if old:
        count, oldest = len(old), min(old)
        services = "service is" if count == 1 else "services are"
        notes.append(
            f"{count} unbilled {services} dated more than {OLD_UNBILLED_DAYS} days before "
            f"{as_of.isoformat()} (the oldest {oldest.isoformat()}): they are billed as new "
            "work. If they were billed before this tool, type their invoice numbers in "
            "Invoice No first."
        )
    if config.company.name.strip() == PLACEHOLDER_COMPANY:
        notes.append(
            f'billing.toml still has the example company name "{PLACEHOLDER_COMPANY}" '
            "under [company]: put your own name (and address, bank details) there before "
            "invoices go out."
        )
    for sheet in (data.invoices, data.payments):  # the tool adds no rows to Services
        if sheet is not None and sheet.append_note:
            notes.append(sheet.append_note)
    return notes
