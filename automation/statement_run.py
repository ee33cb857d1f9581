"""The `statement` command: statements of account for a period, saved as documents.

Reads the workbook, gathers the facts (`statement_facts`), builds each
statement (`statement.build_statement`) and renders it (`statement_doc`).

    result = make_statements(StatementRequest(workbook, as_of=date(2026, 11, 3)))
    [path for _, path in result.files]   # account-statements/2026/<Client>-2026-10-31.docx
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import filelock

from .config import Config
from .decide import load
from .errors import BusyError, UnusableError
from .fmt import format_money
from .ledger import Ledger
from .model import InvoiceRow, RowError
from .prechecks import BUSY_RUN, near
from .read import SheetData
from .reconcile import hand_typed_open
from .request import Paths, RunRequest
from .statement import Statement, previous_month
from .statement_doc import write_statement_files
from .statement_facts import gather_statements, record_paid_cells
from .summary import NotCounted, by_currency, needs_attention, not_counted_line
from .text import one_line
from .updates import invoice_rows, payment_errors
from .validate import ClientBook, client_key


@dataclass(frozen=True)
class StatementRequest:
    """`statement [CLIENT] [--from DATE] [--to DATE]`; the period defaults to last month."""

    workbook: Path
    as_of: date
    config: Config = field(default_factory=Config)
    client: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass
class StatementResult:
    """The statements made, their files (the .docx, and the PDF when `attach` asks)."""

    start: date
    end: date
    files: list[tuple[Statement, tuple[Path, ...]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (client key, currency) -> open invoices typed by hand: on no statement, and said so
    not_counted: dict[tuple[str, str], NotCounted] = field(default_factory=dict)


def statement_period(as_of: date, start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for: --from/--to, else the calendar month before `as_of`.

    >>> statement_period(date(2026, 11, 3), None, None)
    (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    >>> statement_period(date(2026, 11, 23), None, date(2026, 11, 20))
    (datetime.date(2026, 11, 1), datetime.date(2026, 11, 20))

    A period ending after `as_of` is refused: the statement would age the open
    items as of a day still to come.
    """
    if start is None and end is None:
        return previous_month(as_of)
    if end is not None and end > as_of:
        raise UnusableError(
            f"--to {end.isoformat()} is after the run date {as_of.isoformat()}: a statement "
            "states what has happened. Leave out --to (it ends on the run date), or give "
            "--as-of a later date."
        )
    if end is None and start is not None and start > as_of:
        raise UnusableError(
            f"--from {start.isoformat()} is after the run date {as_of.isoformat()}: nothing "
            "has happened in that period yet."
        )
    end = end or as_of
    start = start or end.replace(day=1)
    if end < start:
        raise UnusableError(f"--to {end.isoformat()} is before --from {start.isoformat()}.")
    return start, end


def make_statements(request: StatementRequest) -> StatementResult:
    """Statements for one client (or all with activity or a balance), saved as documents."""
    start, end = statement_period(request.as_of, request.start, request.end)
    paths = Paths.for_request(RunRequest(request.workbook, request.as_of, request.config))
    if not paths.workbook.is_file():
        raise UnusableError(f"the workbook {paths.workbook} does not exist.")
    data, book, _, _ = load(RunRequest(request.workbook, request.as_of, request.config))
    only = None
    if request.client is not None:  # told before the first invoice as after it
        only = client_key(request.client)
        if only not in book.clients:
            hint = near(request.client, book)
            raise UnusableError(f"{request.client!r} matches no client in Clients.{hint}")
    ledger_path = paths.billing / "ledger.sqlite"
    result = StatementResult(start, end)
    currency = request.config.billing.currency
    if not ledger_path.exists():
        result.notes.append("No invoices have been issued yet, so there is nothing to state.")
        result.not_counted = _hand_typed(data.invoices, None, book, currency, only)
        return result
    lock = filelock.FileLock(str(paths.billing / "run.lock"), timeout=0)
    try:
        with lock, Ledger.open(ledger_path) as ledger:
            rows = _issued(invoice_rows(data.invoices, request.as_of), ledger)
            result.errors.extend(payment_errors(data.invoices, rows))
            with ledger.transaction():
                record_paid_cells(ledger, rows, request.as_of)
            statements = gather_statements(ledger, rows, book, start, end, only)
            result.not_counted = _hand_typed(data.invoices, ledger, book, currency, only)
    except filelock.Timeout:
        raise BusyError(BUSY_RUN) from None
    save_statements(statements, book, request.config, paths, result, request.as_of)
    return result


def _issued(rows: dict[str, InvoiceRow], ledger: Ledger) -> dict[str, InvoiceRow]:
    """The rows of the invoices the tool issued (the ledger knows them). Rows typed by hand
    are on no statement, and the weekly run leaves their payment cells alone: a Paid Amount
    typed there without its Paid Date is no problem of the statements either."""
    issued = ledger.known_numbers(rows)
    return {number: row for number, row in rows.items() if number in issued}


def _hand_typed(
    sheet: SheetData | None,
    ledger: Ledger | None,
    book: ClientBook,
    currency: str,
    only: str | None,
) -> dict[tuple[str, str], NotCounted]:
    """The open invoices typed by hand (`hand_typed_open`), of the client asked for."""
    found = hand_typed_open(sheet, ledger, book, currency)
    return {key: item for key, item in found.items() if only is None or key[0] == only}


def statement_lines(result: StatementResult, language: str = "en") -> list[str]:
    """What the command prints: the period, one line per statement (with the client's open
    invoices typed by hand, which it leaves out), then problems."""
    period = f"{result.start.isoformat()} to {result.end.isoformat()}"
    lines = [
        f"Statements of account, {period}:"
        if result.files
        else f"No client had activity or a balance from {period}."
    ]
    left = dict(result.not_counted)
    for st, files in result.files:
        closing = format_money(st.closing, st.currency, language)
        hand = left.pop((client_key(st.client), st.currency), None)
        beside = f" (not counted: {hand.text(language)})" if hand else ""
        lines.append(
            f"  {st.client} ({st.currency}), closing balance {closing}{beside}: "
            + ", ".join(str(f) for f in files)
        )
    if left:  # clients with no statement: nothing of theirs but invoices typed by hand
        told = not_counted_line(by_currency(left.values()).values(), language)
        lines.append(f"{told} (on no statement).")
    if result.errors:
        lines.append(f"{needs_attention(len(result.errors))} (their payments are left out):")
        lines.extend(f"  {e}" for e in result.errors)
    lines.extend(result.notes)
    return [one_line(line) for line in lines]  # client names as typed: no escapes, no breaks


def save_statements(
    statements: list[Statement],
    book: ClientBook,
    config: Config,
    paths: Paths,
    result: StatementResult,
    made: date | None = None,
) -> None:
    """Render each statement (and its PDF when `attach` asks) into `result.files`; with
    `made`, an existing file is kept and the new one named beside it
    (`write_statement_files`)."""
    files, notes = write_statement_files(
        statements, book, config, paths.templates, paths.invoices.parent, (), made
    )
    result.files.extend(files)
    result.notes.extend(notes)
