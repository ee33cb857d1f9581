"""Reconcile the workbook with the ledger before planning.

The ledger is the record of what happened; the workbook may be an older
copy, or hold numbers typed by hand. These functions find what the workbook
lost and which numbers are already taken, so nothing is billed or numbered
twice.

    restored = restored_lines(lines, data.services, ledger)   # row -> Invoice No
    rows = lost_invoice_rows(ledger, settled_lost, missing)  # Invoice No -> rebuilt row
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import string
import tempfile
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from . import cells
from .backups import NAME as LEDGER_COPY
from .bank.store import bank_totals
from .config import Config
from .lazy import lazy_import
from .ledger import Ledger, LedgerInvoice, fingerprint, number_pattern, put_back
from .model import (
    ESCALATED,
    FAILED,
    HOLD,
    OVERDUE,
    OVERPAID,
    PAID,
    PARTIALLY_PAID,
    REISSUED,
    SENT,
    VOID,
    InvoiceLine,
    InvoiceRow,
    RowError,
    ServiceLine,
)
from .money import ZERO, round_money
from .read import SheetData, WorkbookData
from .sending import NOT_DONE, NOT_EMAILED, email_words
from .summary import KIND_WORDS, NotCounted
from .updates import placeholder_lines, remembered_row, seen_row
from .validate import (
    ClientBook,
    bare_rows,
    client_key,
    column_text,
    read_billed_rows,
    read_service_line,
    skipped_client,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up


def restored_lines(
    lines: Sequence[ServiceLine],
    services: SheetData,
    ledger: Ledger | None,
    prints: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """Rows that lost an Invoice No the ledger gave them: row -> invoice number.

    A line billed on an invoice since rebilled has the number of the invoice billing it
    now (`rebilled_lines`).
    `prints`: the lines' fingerprints by row, when the caller has them already.
    """
    if ledger is None or not lines:
        return {}
    if prints is None:
        prints = {line.row: fingerprint(line) for line in lines}
    result = _known_lines(lines, services, ledger, prints)
    result.update(rebilled_lines([ln for ln in lines if ln.row not in result], services,
                                 ledger, result))  # fmt: skip
    return result


def _known_lines(
    lines: Sequence[ServiceLine], services: SheetData, ledger: Ledger, prints: Mapping[int, str]
) -> dict[int, str]:
    """`restored_lines` of the lines the ledger knows by their fingerprint."""
    known = ledger.invoiced_lines(set(prints.values()))
    if not known:
        return {}
    # Invoice numbers already shown on some row with the same fingerprint are
    # accounted for; only the rest were lost from the workbook.
    candidates = {ln.row: ln for ln in lines if prints[ln.row] in known}
    dates = {ln.service_date for ln in candidates.values()}
    frame = services.frame
    billed = frame[frame["Invoice No"].notna() & _maybe_on(frame["Date"], dates)]
    shown: set[tuple[str, str]] = set()
    for row, values in zip(billed.index, billed.to_dict("records"), strict=True):
        try:
            when = cells.cell_date(values["Date"], services.date_order)
        except cells.CellError:
            continue
        if when not in dates:
            continue
        number = cells.cell_text(values["Invoice No"])
        probe = read_service_line(int(row), values, services)
        if isinstance(probe, RowError):
            continue
        shown.add((fingerprint(probe), number))
    result: dict[int, str] = {}
    used: set[tuple[str, str]] = set(shown)
    for row in sorted(candidates):
        fp = prints[row]
        for number, _hint in known[fp]:
            if (fp, number) not in used:
                used.add((fp, number))
                result[row] = number
                break
    return result


def rebilled_lines(
    lines: Sequence[ServiceLine],
    services: SheetData,
    ledger: Ledger | None,
    restored: Mapping[int, str],
) -> dict[int, str]:
    """Rows without an Invoice No that hold a line as an invoice since rebilled billed it
    (an older copy of the workbook put back): row -> the invoice billing that line now.

    A Rebill moves its invoice's lines to the new invoices (`Ledger.forget_lines`): a line
    as the older copy has it is known by the rebilled invoice's record instead, and follows
    it to its replacement (on through a replacement rebilled in turn; a void one keeps it).
    Only while the replacement has fewer rows carrying its number, or given it back
    (`restored`), than it billed lines: a line typed anew that reads as the old one did,
    beside the rebilled rows, is new work. A line the Rebill left out is not followed.
    """
    if ledger is None or not lines:
        return {}
    old = ledger.rebilled()
    if not old:
        return {}
    billed: dict[tuple[object, ...], list[tuple[str, int]]] = {}
    for inv in old.values():
        for i, ln in enumerate(inv.lines):
            key = _said(ln.service_date, inv.client_key, ln.description, ln.quantity)
            billed.setdefault(key, []).append((inv.invoice_no, i))
    found: dict[int, list[tuple[str, int]]] = {}
    for line in lines:
        said = _said(line.service_date, line.client_key, line.description, line.quantity)
        places = [
            (number, i) for number, i in billed.get(said, ())
            if round_money(line.amount, old[number].currency) == old[number].lines[i].amount
        ]  # fmt: skip
        if places:
            found[line.row] = places
    if not found:
        return {}
    replacements = {n for inv in old.values() for n in inv.replaced_by if n not in old}
    every = {**ledger.invoices(replacements), **old}
    moved = _moved_lines(old, every)
    texts = column_text(services.frame["Invoice No"].dropna())
    free = dict.fromkeys(every, 0)
    for number in texts[texts.isin(free.keys())]:
        free[number] -= 1
    for number in restored.values():
        if number in free:
            free[number] -= 1
    for number, inv in every.items():
        free[number] += len(inv.lines)
    result: dict[int, str] = {}
    used: set[tuple[str, int]] = set()
    for row in sorted(found):
        for place in found[row]:
            now = _followed(place, moved, old)
            if place in used or now is None or free[now[0]] <= 0:
                continue
            used.add(place)
            free[now[0]] -= 1
            result[row] = now[0]
            break
    return result


def _said(when: date, client_key: str, description: str, quantity: Decimal) -> tuple[object, ...]:
    """What a line says, but its amount (compared rounded to the invoice's currency)."""
    return (when, client_key, " ".join(description.split()), quantity.normalize())


def _moved_lines(
    old: Mapping[str, LedgerInvoice], every: Mapping[str, LedgerInvoice]
) -> dict[tuple[str, int], tuple[str, int]]:
    """(rebilled invoice, line) -> (its replacement, line) for each line its Rebill billed
    again: the replacement's line billed on the same row first, then one of the same date
    and description, then one of the same date (the rows it was billed from, as they stood)."""
    tests: tuple[Callable[[InvoiceLine, InvoiceLine], bool], ...] = (
        lambda a, b: a.row == b.row,
        lambda a, b: (
            a.service_date == b.service_date
            and " ".join(a.description.split()) == " ".join(b.description.split())
        ),
        lambda a, b: a.service_date == b.service_date,
    )
    taken: set[tuple[str, int]] = set()
    moved: dict[tuple[str, int], tuple[str, int]] = {}
    for number, inv in old.items():
        free = [(n, j) for n in inv.replaced_by if n in every
                for j in range(len(every[n].lines))]  # fmt: skip
        for same in tests:
            for i, line in enumerate(inv.lines):
                if (number, i) in moved:
                    continue
                pick = next((p for p in free
                             if p not in taken and same(line, every[p[0]].lines[p[1]])),
                            None)  # fmt: skip
                if pick is not None:
                    taken.add(pick)
                    moved[number, i] = pick
    return moved


def _followed(
    place: tuple[str, int],
    moved: Mapping[tuple[str, int], tuple[str, int]],
    old: Mapping[str, LedgerInvoice],
) -> tuple[str, int] | None:
    """Where a rebilled invoice's line is billed now (None: a Rebill left it out)."""
    seen = set()
    while place[0] in old and place not in seen:
        seen.add(place)
        if place not in moved:
            return None
        place = moved[place]
    return None if place in seen else place


def lost_and_changed(
    lines: Sequence[ServiceLine],
    ledger: Ledger | None,
    restored: Mapping[int, str],
) -> dict[int, LedgerInvoice]:
    """Rows that lost their Invoice No and were changed since: row -> the invoice they
    were billed on.

    `restored_lines` knows a line by what it says; a line edited while its
    Invoice No was missing (the run was killed before writing it back, or an
    older copy of the workbook was put back, then a quantity corrected) says
    something else, and would be billed a second time. Among the invoices
    whose other lines were just found that way, an unbilled line is the one
    billed on the very row the ledger billed it, when it has that line's
    client and service date and still its description, or its quantity and
    unit price. (Only after such a loss: a row deleted or sorted since leaves
    the ledger's row numbers behind, and a new line must never be taken.) A
    void invoice keeps such a line too: it was billed, and is not billed again.

    A row given back the number of the invoice that rebilled its line
    (`rebilled_lines`) says what the line said before the Rebill corrected it:
    it is told, with the invoice's other rows given back, so each is paired
    with its own line.
    """
    if ledger is None or not restored:
        return {}
    invoices = ledger.invoices(set(restored.values()))
    found = _unlike_their_lines(lines, restored, invoices)
    by_row = {line.row: line for line in lines if line.row not in restored}
    for inv in invoices.values():
        for billed in inv.lines:
            line = by_row.get(billed.row)
            if (
                line is not None
                and line.client_key == inv.client_key
                and line.service_date == billed.service_date
                and (
                    " ".join(line.description.split()) == " ".join(billed.description.split())
                    or (
                        line.quantity == billed.quantity
                        and line.unit_price is not None
                        and line.unit_price == billed.unit_price
                    )
                )
            ):
                found[line.row] = inv
    return found


def _unlike_their_lines(
    lines: Sequence[ServiceLine],
    restored: Mapping[int, str],
    invoices: Mapping[str, LedgerInvoice],
) -> dict[int, LedgerInvoice]:
    """The rows given back an invoice's number that say none of its lines, and the other rows
    given back that invoice's number: row -> the invoice."""
    given = [(line, invoices[restored[line.row]]) for line in lines
             if restored.get(line.row) in invoices]  # fmt: skip
    unlike = {
        inv.invoice_no
        for line, inv in given
        if not any(
            _said(line.service_date, line.client_key, line.description, line.quantity)
            == _said(ln.service_date, inv.client_key, ln.description, ln.quantity)
            and round_money(line.amount, inv.currency) == ln.amount
            for ln in inv.lines
        )
    }
    return {line.row: inv for line, inv in given if inv.invoice_no in unlike}


def billed_elsewhere(
    billed: Mapping[str, Sequence[ServiceLine | RowError]],
    invoices: Mapping[str, LedgerInvoice],
    ledger: Ledger | None,
) -> dict[int, tuple[str, str]]:
    """Billed Services rows holding a line the ledger billed on another invoice than the one
    they carry: row -> (the number the row carries, the invoice the line was billed on).

    Sorting only a line's columns (Excel's "Continue with the current selection") leaves
    each line beside another line's Invoice No, Due Date and Status: the line is not
    changed, it is on the wrong row. Only rows carrying an invoice that is not void
    (`invoices`: the ledger's, by number), and lines billed on another whose rows are in
    `billed`, not void (a void invoice's lines may be billed again), and shown on none of
    its rows.
    """
    if ledger is None:
        return {}
    carried = {
        found.row: number
        for number, rows in billed.items()
        if number in invoices and invoices[number].voided is None
        for found in rows
        if isinstance(found, ServiceLine)
    }
    lines = {found.row: found for rows in billed.values() for found in rows
             if isinstance(found, ServiceLine) and found.row in carried}  # fmt: skip
    prints = {row: fingerprint(line) for row, line in lines.items()}
    known = ledger.invoiced_lines(set(prints.values())) if prints else {}
    shown = {(fp, carried[row]) for row, fp in prints.items()}
    result: dict[int, tuple[str, str]] = {}
    for row, fp in sorted(prints.items()):
        on = {number for number, _hint in known.get(fp, [])}
        if carried[row] in on:
            continue
        # Shown on a row of its own invoice, it is another line saying the same (a row
        # edited to read as one billed elsewhere): changed, not out of place. An invoice
        # whose rows are not looked at (settled, their digest unchanged) shows its lines.
        live = sorted(
            n for n in on
            if n in billed and n in invoices and invoices[n].voided is None
            and (fp, n) not in shown
        )  # fmt: skip
        if live:
            result[row] = (carried[row], live[0])
    return result


def restored_note(restored: Mapping[int, str], services: SheetData, *, written: bool = True) -> str:
    """What the summary says of the rows whose Invoice No was written back (`restored_lines`).

    A line cut and pasted to another row without the tool's cells leaves its Invoice No,
    Due Date and Status on a row with nothing else: its number is written back beside the
    line, and the bookkeeper is told the line moved (not that a run stopped early or an
    older copy was put back), and which row to clear.

    `written` False: the sheet had no column left for the Invoice No (the write-back's own
    warning says so, and what to do): the rows are only told not billed again.
    """
    if not restored:
        return ""
    numbers = set(restored.values())
    texts = column_text(services.frame["Invoice No"].dropna())
    carrying = texts[texts.isin(numbers)]
    bare = bare_rows(services, [int(row) for row in carrying.index])
    left_on = {int(row): n for row, n in carrying.items() if int(row) in bare}
    moved = {row: n for row, n in restored.items() if n in left_on.values()}
    rest = len(restored) - len(moved)
    said = []
    if moved:
        one = len(moved) == 1
        rows = ", ".join(f"{row} ({moved[row]})" for row in sorted(moved))
        left = sorted(row for row, n in left_on.items() if n in moved.values())
        old = f"{'row' if len(left) == 1 else 'rows'} {', '.join(map(str, left))}"
        said.append(
            f"Services {'row' if one else 'rows'} {rows} had no Invoice No: "
            f"{'its line was' if one else 'their lines were'} moved there from {old}, which "
            "kept only the Invoice No, Due Date and Status. The number is written beside "
            f"the moved {'line' if one else 'lines'}, not billed again; clear the Invoice "
            f"No, Due Date and Status of {old} (or delete {'it' if len(left) == 1 else 'them'})."
        )
    if rest and not written:
        said.append(
            f"{_rows_were(rest)} billed but {'has' if rest == 1 else 'have'} no Invoice No "
            f"in the workbook: {'it is' if rest == 1 else 'they are'} not billed again, and "
            f"{'its' if rest == 1 else 'their'} Invoice No is written back once the sheet "
            "has a free column."
        )
    elif rest:
        said.append(
            f"{_rows_were(rest)} billed but had no Invoice No in the workbook (the last run "
            "stopped before writing it or found no free column for it, or an older copy of "
            "the workbook was put back); it is written back and "
            f"{'the row is' if rest == 1 else 'they are'} not billed again."
        )
    return " ".join(said)


def _rows_were(count: int) -> str:
    """`1 Services row was`, `3 Services rows were`."""
    return "1 Services row was" if count == 1 else f"{count} Services rows were"


def _maybe_on(column: pd.Series, dates: set[date]) -> pd.Series:
    """False where a cell is surely not one of `dates`: the history is not looked at row by row.

    Date cells (datetimes) are compared in one vectorised pass; anything else
    (text typed as a date, an unreadable value) stays True for `cell_date` to judge.
    """
    kinds = column.map(type)
    stamps = kinds.isin([datetime, pd.Timestamp])
    when = pd.to_datetime(column.where(stamps), errors="coerce").dt.normalize()
    wanted = pd.to_datetime(pd.Series(sorted(dates), dtype=object))
    return ~stamps | when.isna() | when.isin(wanted)


#: The largest sequence number an invoice number may carry (nine digits). A larger one,
#: typed by mistake, would make every new invoice follow it (and overflow the ledger).
MAX_SEQ = 999_999_999


#: Every Invoice No of a workbook: per sheet, its texts by Excel row (`invoice_numbers`).
InvoiceNumbers = list[tuple[SheetData, "pd.Series"]]


def invoice_numbers(data: WorkbookData) -> InvoiceNumbers:
    """Every Invoice No in Services and Invoices: per sheet, its texts by Excel row.

    A long history holds each number on several rows: callers look at the
    distinct texts (`.unique()`) and go back to rows only for the rare bad one.
    A run works them out once for `sequence_errors` and `existing_seq_floor`.
    """
    found: list[tuple[SheetData, pd.Series]] = []
    for sheet in (data.services, data.invoices):
        if sheet is None:
            continue
        texts = column_text(sheet.frame["Invoice No"].dropna())
        found.append((sheet, texts[texts != ""]))
    return found


def existing_seq_floor(
    data: WorkbookData,
    config: Config,
    invoice_date: date,
    numbers: InvoiceNumbers | None = None,
    seqs: Mapping[str, int] | None = None,
) -> int:
    """The highest sequence number already in the workbook for this numbering scope.

    Numbers typed by hand, or issued before the ledger existed, are never reused.
    A sequence number above MAX_SEQ is not followed (`sequence_errors` reports it).
    `seqs`: `scoped_seqs` of these numbers (or of more), when the caller has them.
    """
    found = invoice_numbers(data) if numbers is None else numbers
    texts = {text for _sheet, column in found for text in column.unique()}
    if seqs is not None:
        return max((seqs[t] for t in texts if t in seqs), default=0)
    return highest_seq(texts, config.billing.number_format, invoice_date)


def scoped_seqs(numbers: InvoiceNumbers, config: Config, when: date) -> dict[str, int]:
    """Each Invoice No of the workbook made by the number format in `when`'s scope -> its
    {seq}: worked out once a run (a long history holds thousands of numbers)."""
    texts = {text for _sheet, column in numbers for text in column.unique()}
    return _seqs(texts, config.billing.number_format, when)


def existing_credit_floor(data: WorkbookData, config: Config, note_date: date) -> int:
    """The highest credit note sequence the Invoices sheet shows for this scope.

    A lost ledger, started afresh, must not number a credit note the client
    already has.
    """
    if data.invoices is None:
        return 0
    listed = column_text(data.invoices.frame["Credit Notes"].dropna())
    numbers = {number for cell in listed for number in cells.listed_numbers(cell)}
    return highest_seq(numbers, config.billing.credit_note_format, note_date)


def highest_seq(numbers: set[str], number_format: str, when: date) -> int:
    """The highest {seq} among `numbers` made by `number_format` in `when`'s scope (0 if none).

    A sequence number above MAX_SEQ is not followed.
    """
    return max(_seqs(numbers, number_format, when).values(), default=0)


def _seqs(numbers: set[str], number_format: str, when: date) -> dict[str, int]:
    """number -> its {seq}, for those of `numbers` made by `number_format` in `when`'s scope
    (a sequence number above MAX_SEQ left out); typed by hand in another case or with
    other separators too (`inv 2027 1`), or without the format's leading letters (the
    firm's own `2027-1`, which a reference writing "Inv 2027-1" names, read as
    INV-2027-0001 by the bank matcher): the tool never issues a number the workbook
    already has in any spelling, which a bank reference would take for it.

    >>> sorted(_seqs({"2026-3", "2026/103", "inv 2026 7", "A/18", "1005", "INV20260200",
    ...               "2025-9"}, "INV-{year}-{seq:04d}", date(2026, 7, 1)).items())
    [('2026-3', 3), ('2026/103', 103), ('inv 2026 7', 7)]
    """
    pattern = number_pattern(number_format, loose=True)
    lead = _leading_letters(number_format)
    found: dict[str, int] = {}
    for number in numbers:
        match = pattern.match(number)
        if match is None and lead and not number[:1].isalpha():
            match = pattern.match(lead + number)  # `2026-3` named as "Inv 2026-3"
        if match is None:
            continue
        parts = match.groupdict()
        if parts.get("year") and int(parts["year"]) != when.year:
            continue
        if parts.get("month") and int(parts["month"]) != when.month:
            continue
        seq = parts["seq"].lstrip("0")
        if len(seq) <= len(str(MAX_SEQ)):
            found[number] = int(seq or 0)
    return found


def _leading_letters(number_format: str) -> str:
    """The literal text a number format starts with, when it holds letters (`INV-` of
    INV-{year}-{seq:04d}); else ""."""
    lead = next(iter(string.Formatter().parse(number_format)), ("",))[0]
    return lead if any(ch.isalpha() for ch in lead) else ""


def numbered_again(
    lines: Sequence[ServiceLine],
    restored: Mapping[int, str],
    mistyped: Mapping[int, tuple[str, ServiceLine]],
) -> list[ServiceLine]:
    """The lines this run gives their invoice's number back, with it: those that lost it
    (`restored_lines`) and those whose number was typed over (`mistyped_numbers`)."""
    again = [ln._replace(invoice_no=n) for ln in lines if (n := restored.get(ln.row))]
    return again + [ln._replace(invoice_no=n) for n, ln in mistyped.values()]


def mistyped_numbers(
    numbers: InvoiceNumbers,
    config: Config,
    ledger: Ledger,
    when: date,
    seqs: Mapping[str, int] | None = None,
) -> dict[int, tuple[str, ServiceLine]]:
    """Billed Services rows whose Invoice No was typed over: row -> (the number the ledger
    billed the line on, the line as read).

    Such a number is one the tool never issued, above the last it issued in its
    scope (so it would make new invoices jump past it: INV-2026-0001 typed as
    INV-2026-0050), on a line the ledger billed on one invoice that no row shows
    the line on. Numbers typed by hand for invoices of their own are left alone.
    """
    sheet, texts = numbers[0]  # the Services sheet's (`invoice_numbers`)
    last = ledger.seq_for(config.billing.number_format, when)
    if not last:
        return {}
    if seqs is None:
        seqs = _seqs(set(texts.unique()), config.billing.number_format, when)
    above = {n for n in texts.unique() if seqs.get(n, 0) > last}
    invoiced = set(numbers[1][1].unique()) if len(numbers) > 1 else set()
    unknown = above - ledger.known_numbers(above) - invoiced  # on the Invoices sheet: its own
    if not unknown:
        return {}
    rows = sheet.frame.loc[texts.index[texts.isin(unknown)]]
    lines = {row: ln for row, ln in read_billed_rows(sheet, rows) if not isinstance(ln, RowError)}
    prints = {row: fingerprint(line) for row, line in lines.items()}
    billed = ledger.invoiced_lines(set(prints.values()))
    live = {
        number
        for number, inv in ledger.invoices({n for v in billed.values() for n, _ in v}).items()
        if inv.voided is None  # a void invoice's line may be billed again by hand
    }
    result: dict[int, tuple[str, ServiceLine]] = {}
    for row, line in lines.items():
        on = {number for number, _hint in billed.get(prints[row], [])}
        if len(on) == 1 and on <= live and prints[row] not in _shown_prints(sheet, texts, *on):
            result[row] = (next(iter(on)), line)  # no row shows it on that one: typed over
    return result


def without_rows(numbers: InvoiceNumbers, rows: Mapping[int, object]) -> InvoiceNumbers:
    """`numbers` less the Services rows given (their numbers set no floor)."""
    if not rows:
        return numbers
    (sheet, texts), *rest = numbers
    return [(sheet, texts.drop(index=list(rows))), *rest]


def mistyped_note(mistyped: Mapping[int, tuple[str, ServiceLine]], shown: pd.Series) -> str:
    """What the summary says of the Invoice No cells put back."""
    rows = ", ".join(
        f"row {row} ({shown[row]} -> {number})" for row, (number, _line) in sorted(mistyped.items())
    )
    return (
        f"Services {rows}: the Invoice No was not one the tool issued, and the line was "
        "billed on the other number; that number is written back, and new invoices are "
        "numbered as if the typed one were not there."
    )


def _shown_prints(sheet: SheetData, texts: pd.Series, number: str) -> set[str]:
    """The fingerprints of the lines the rows showing `number` hold."""
    rows = sheet.frame.loc[texts.index[(texts == number).to_numpy()]]
    return {fingerprint(ln) for _row, ln in read_billed_rows(sheet, rows)
            if not isinstance(ln, RowError)}  # fmt: skip


def sequence_errors(
    data: WorkbookData, config: Config, numbers: InvoiceNumbers | None = None
) -> list[RowError]:
    """Invoice No cells that cannot be real: a sequence number too large (one row error
    each). Services lines marked with no invoice number at all are row errors of their own
    (`placeholder_errors`, found with the workbook's other Services errors)."""
    from .ledger import number_pattern

    found = invoice_numbers(data) if numbers is None else numbers
    pattern = number_pattern(config.billing.number_format)

    def digits(number: str) -> int:
        match = pattern.match(number)
        return len((match.groupdict().get("seq") or "").lstrip("0")) if match else 0

    errors: list[RowError] = []
    for sheet, texts in found:
        too_long = {n for n in texts.unique() if digits(n) > len(str(MAX_SEQ))}
        for row, number in texts[texts.isin(too_long)].items() if too_long else ():
            errors.append(
                RowError(
                    sheet.name,
                    int(row),
                    sheet.headers.get("Invoice No", "Invoice No"),
                    f'"{_shortened(number)}" has a sequence number of {digits(number)} digits; '
                    "invoice numbers here have at most 9. Correct the number: new invoices "
                    "are numbered after the highest one in the workbook.",
                )
            )
    return errors


def placeholder_errors(data: WorkbookData, config: Config, book: ClientBook) -> dict[int, RowError]:
    """Services lines whose Invoice No holds no invoice number (`TBD`, `?`, `pending`, `-`,
    `n/a`, `0`; `updates.placeholder_lines`): such a line counts as billed, so it would
    never be billed, in silence. One row error each (row -> error), saying how to bill it
    or to record the invoice it went on: its Status and Error cells say so too, until the
    cell is fixed. Anything with a digit is taken as a number typed by hand (`A/18`,
    `2025-117`, `1005`). Not a row of an inactive client: it is Skipped, whatever else is
    wrong with it (`updates.services_updates`).
    """
    services = data.services
    if services is None:
        return {}
    lines, texts = placeholder_lines(data, config)
    column = services.headers.get("Invoice No", "Invoice No")
    return {
        int(row): RowError(
            services.name,
            int(row),
            column,
            f'"{_shortened(texts[row])}" is no invoice number, so this line counts as billed '
            "and is never invoiced: empty the cell to bill it (the next run bills it), or, if "
            "it was billed by hand, type that invoice's number.",
        )
        for row, client in lines["Client"].items()
        if not skipped_client(client, book)
    }


def _shortened(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[: keep - 1] + "…"


#: The statuses the tool writes on an invoice it still follows up (reminders, payment
#: notes, a retried send): not Paid, Overpaid, Void, Hold or Rebill, nor a blank.
FOLLOWED = frozenset(
    s.casefold() for s in (SENT, OVERDUE, REISSUED, PARTIALLY_PAID, ESCALATED, FAILED)
)
#: The invoice numbers the message about invoices the ledger does not know names.
NAMED = 3
#: How the Notes begin that the tool writes on an invoice whose email did not go out
#: (`sending`: "Email (invoice) not delivered to ...", "Email (credit note) not sent on
#: ..."; `pipeline`: "Not emailed: ..."; a problem on its row: "Not done on ..."). A
#: Failed row with another Note, or none, and no Sent At is not the tool's work.
FAILED_NOTES = (*(email_words(kind) for kind in KIND_WORDS), NOT_EMAILED, NOT_DONE)


def unknown_open_invoices(
    sheet: SheetData | None, config: Config, ledger: Ledger | None
) -> list[str]:
    """Invoices rows the tool issued and still follows up that the ledger does not know (the
    ledger was lost, or an older copy put back): their Invoice Nos, in the sheet's order.

    Such a row has an Invoice No made by `number_format`, a Status the tool writes on an
    open invoice, and the time the tool emailed it (Sent At or Last Sent; a Failed one,
    never emailed, the Note the tool writes on it: `FAILED_NOTES`). Invoices typed in by
    hand before the tool (another numbering, no Status, settled, no time sent; `Failed`
    typed with a Note of the firm's own) are not the ledger's to know.
    """
    if sheet is None:
        return []
    frame = sheet.frame[sheet.frame["Invoice No"].notna() & sheet.frame["Status"].notna()]
    if frame.empty:
        return []
    status = column_text(frame["Status"]).str.casefold()
    sent = frame["Sent At"].notna() | frame["Last Sent"].notna()
    noted = column_text(frame["Note"]).str.startswith(FAILED_NOTES)  # by the tool
    failed = (status == FAILED.casefold()) & noted
    frame = frame[(status.isin(FOLLOWED) & (sent | failed)).to_numpy(dtype=bool)]
    if frame.empty:
        return []
    pattern = number_pattern(config.billing.number_format)
    numbers = list(dict.fromkeys(n for n in column_text(frame["Invoice No"]) if pattern.match(n)))
    known = ledger.known_numbers(numbers) if ledger is not None and numbers else set()
    return [n for n in numbers if n not in known]


#: Statuses of an invoice typed by hand that owes nothing more, as bookkeepers type them.
SETTLED_BY_HAND = frozenset(s.casefold() for s in (PAID, OVERPAID, VOID))


def hand_typed_open(
    sheet: SheetData | None, ledger: Ledger | None, book: ClientBook, currency: str
) -> dict[tuple[str, str], NotCounted]:
    """(client key, currency) -> the open invoices of the Invoices sheet that the ledger does
    not know (typed by hand, from before the tool): left out of Outstanding, the receivables
    report and statements, and told as left out.

    Open: a Total less Paid Amount and Credit Amount above zero, and a Status other than
    Paid, Overpaid or Void. The currency is the row's Currency, else its client's, else
    `currency` ([billing] currency). A row whose amounts cannot be read is not counted.
    """
    if sheet is None or sheet.frame.empty:
        return {}
    frame = sheet.frame[sheet.frame["Invoice No"].notna() & sheet.frame["Total"].notna()]
    status = column_text(frame["Status"]).str.casefold()
    frame = frame[(~status.isin(SETTLED_BY_HAND)).to_numpy(dtype=bool)]  # years of Paid: out
    if frame.empty:
        return {}
    numbers = column_text(frame["Invoice No"])
    known = ledger.known_numbers(numbers.unique()) if ledger is not None else set()
    frame = frame[(~numbers.isin(known)).to_numpy(dtype=bool)]
    found: dict[tuple[str, str], NotCounted] = {}
    seen: set[str] = set()
    for values in frame.to_dict("records"):
        number = cells.cell_text(values["Invoice No"])
        if number in seen:
            continue  # a row copied: one invoice
        seen.add(number)
        try:
            total = cells.cell_decimal(values["Total"])
            paid = cells.optional_decimal(values["Paid Amount"]) or ZERO
            credited = cells.optional_decimal(values.get("Credit Amount")) or ZERO
        except cells.CellError:
            continue
        key = client_key(values["Client"])
        client = book.clients.get(key)
        code = cells.cell_text(values.get("Currency")).upper()
        code = code or (client.currency if client is not None else currency)
        balance = round_money(total - paid - credited, code)
        if balance <= ZERO:
            continue
        was = found.get((key, code), NotCounted(code, 0, ZERO))
        found[key, code] = NotCounted(code, was.count + 1, was.balance + balance)
    return found


def unknown_invoices_error(
    sheet: SheetData | None, config: Config, ledger: Ledger | None, backups: Path
) -> RowError | None:
    """One problem (exit 1) for the open invoices the ledger does not know. None when there
    are none.

    A copy in `backups` (.billing/backups/) that knows them proves the tool issued them:
    the message names it, to put back. Otherwise such a row may be the tool's, issued in
    another folder or computer (`.billing/` left behind), or typed by hand in the tool's
    number format before the tool: the message gives the way out for each, leaning to
    "typed by hand" when the tool has never run here (`first_run_here`).
    """
    numbers = unknown_open_invoices(sheet, config, ledger)
    if sheet is None or not numbers:
        return None
    one = len(numbers) == 1
    shown = named_numbers(numbers)
    they, them = ("it", "it") if one else ("they", "them")
    invoices = f"{len(numbers)} open {'invoice' if one else 'invoices'} on this sheet ({shown})"
    gets = f"{they} {'gets' if one else 'get'}"
    copy = newest_copy_knowing(backups, numbers)
    elsewhere = "the computer or folder the tool ran in before"
    if copy is not None:
        restore = put_back(
            f".billing/backups/{copy.name}", ".billing/ledger.sqlite", copy.name.endswith(".gz")
        )
        return RowError(sheet.name, None, None, (
            f"{invoices} {'was' if one else 'were'} issued by this tool, but its record "
            f"(.billing/ledger.sqlite) does not know {them}: the record is missing, new or an "
            f"older copy. Until it is back, {gets} no reminders, payment notes or thank-yous "
            f"and {'is' if one else 'are'} left out of Outstanding and the receivables report. "
            f"Put the record back before the next run: {restore}, or copy .billing/ from "
            f"{elsewhere}."
        ))  # fmt: skip
    by_hand = (
        f"empty {'its' if one else 'their'} Sent At (and Last Sent; on a Failed row, the "
        f"Note saying its email was not sent): the tool takes those for its own, and leaves "
        f"a row without them alone"
    )
    lost = (
        f"copy .billing/ (ledger.sqlite and backups/) from {elsewhere}; until then {gets} no "
        f"reminders, payment notes or thank-yous and {'is' if one else 'are'} left out of "
        "Outstanding"
    )
    looks = (
        f"{invoices} {'looks' if one else 'look'} issued by this tool (its number format, an "
        f"open Status, a Sent At or its Note on an email that failed)"
    )
    if first_run_here(ledger, backups):
        message = (
            f"{looks}, but the tool has not run in this folder before and its record "
            f"(.billing/ledger.sqlite) does not know {them}. Typed by hand before "
            f"the tool? Then {by_hand}. Issued by the tool in another folder or on another "
            f"computer? Then {lost}."
        )
    else:
        message = (
            f"{looks}, but its record (.billing/ledger.sqlite) does not "
            f"know {them}: typed by hand, or issued by the tool while another record was in "
            f"use (missing, new or an older copy here). Typed by hand? Then {by_hand}. "
            f"Issued by the tool? No copy in .billing/backups/ knows {them}: {lost}."
        )
    return RowError(sheet.name, None, None, message)


def first_run_here(ledger: Ledger | None, backups: Path) -> bool:
    """Whether the tool never ran with this billing folder: its ledger has no run before
    this one and `backups` holds no copy of a ledger."""
    if ledger is not None and ledger.last_started() is not None:
        return False
    try:
        return not any(LEDGER_COPY.match(p.name) for p in backups.iterdir())
    except OSError:
        return True


def newest_copy_knowing(folder: Path, numbers: Collection[str]) -> Path | None:
    """The newest ledger copy in `folder` that knows any of `numbers` (None: none does).

    Newest first, and only until one does: a ledger started afresh since has copies of
    its own, which know none of them.
    """
    wanted = sorted(numbers)[:500]  # within SQLite's limit of parameters
    return newest_copy_where(folder, lambda conn: _knows_any(conn, wanted))


def newest_copy_where(folder: Path, test: Callable[[sqlite3.Connection], bool]) -> Path | None:
    """The newest ledger copy in `folder` for which `test` (given the copy, read-only) is
    true; None when none is. Each gzip copy is read from a temporary file; a damaged or
    unreadable copy is passed over (not a copy to put back)."""
    try:
        names = sorted((p.name for p in folder.iterdir() if LEDGER_COPY.match(p.name)),
                       key=lambda name: name.removesuffix(".gz"), reverse=True)  # fmt: skip
    except OSError:
        return None
    with tempfile.TemporaryDirectory(prefix="billing-ledger-copy-") as scratch:
        plain = Path(scratch) / "ledger.sqlite"
        for name in names:
            try:
                if name.endswith(".gz"):
                    with gzip.open(folder / name) as packed, plain.open("wb") as out:
                        shutil.copyfileobj(packed, out, 1 << 20)
                else:
                    shutil.copyfile(folder / name, plain)
                conn = sqlite3.connect(f"{plain.as_uri()}?mode=ro&immutable=1", uri=True)
                try:
                    if test(conn):
                        return folder / name
                finally:
                    conn.close()
            except (OSError, EOFError, zlib.error, sqlite3.Error):
                continue
    return None


def _knows_any(conn: sqlite3.Connection, numbers: Sequence[str]) -> bool:
    marks = ",".join("?" * len(numbers))
    query = f"SELECT 1 FROM invoices WHERE invoice_no IN ({marks}) LIMIT 1"
    return conn.execute(query, list(numbers)).fetchone() is not None


def lost_invoice_rows(
    ledger: Ledger, settled_lost: Mapping[str, str], missing: Collection[str]
) -> dict[str, InvoiceRow]:
    """The Invoices rows of the tool's invoices that the workbook lost (deleted by mistake,
    or an older copy put back), rebuilt (row 0) with the payment last seen on them.

    `missing`: the invoices the run follows that have no row; `settled_lost`: those of
    them that were settled, with their payment cells' signature when settled. An open
    invoice gets the part of Paid Amount typed by hand as the last run saw it (its
    Paid By Bank is the ledger's and is added back with the bank statements), and
    Hold when its row last said so. One the tool never saw paid nor held is written
    back from the ledger alone (`lost_rows_note` names it with the others).
    """
    seen = ledger.paid_cells(n for n in missing if n not in settled_lost)
    held = ledger.held(n for n in missing if n not in settled_lost)
    bank = bank_totals(ledger, [n for n in missing if n in settled_lost])
    rows: dict[str, InvoiceRow] = {}
    for number in sorted(missing):
        if number in settled_lost:
            part = bank[number].bank if number in bank else ZERO
            rows[number] = remembered_row(number, settled_lost[number], part)
            continue
        paid, paid_date = seen[number][-1] if number in seen else (ZERO, None)
        if paid != ZERO or number in held:
            rows[number] = seen_row(number, paid, paid_date, HOLD if number in held else None)
    return rows


def named_numbers(numbers: Sequence[str]) -> str:
    """The first NAMED of `numbers`, and how many more: "INV-1, INV-2 and 3 more"."""
    shown = ", ".join(numbers[:NAMED])
    return shown + (f" and {len(numbers) - NAMED} more" if len(numbers) > NAMED else "")


def lost_rows_note(missing: Collection[str]) -> str:
    """What to tell of the Invoices rows written back: every invoice the run follows that
    had no row (`missing`), whether or not a payment came back with it (`lost_invoice_rows`).
    """
    numbers = sorted(missing)
    if not numbers:
        return ""
    one = len(numbers) == 1
    return (
        f"{len(numbers)} {'invoice' if one else 'invoices'} ({named_numbers(numbers)}) had no "
        "row in the Invoices sheet (deleted, an older copy of the workbook put back, or the "
        "last run stopped before writing it): "
        f"{'its row is' if one else 'their rows are'} written back from the ledger, with the "
        f"payment (and Hold) last seen on {'it' if one else 'them'}, if any, so balances, "
        "statuses and reminders go on from there."
    )
