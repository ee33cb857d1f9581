"""An older copy of the record put back: what was sent that the ledger has no trace of.

The ledger (.billing/ledger.sqlite) is the record of what was numbered and emailed. Put
back from an older copy (.billing/backups/, OneDrive's version history), it would number
again what was issued since, overwriting the document the client was sent, and send
again the reminders and notes that went since. Two things outlive it: the document
each email attached, under invoices/<year>/, and the cells the tool wrote on the
Invoices sheet (Reissue Count, Last Sent, Sent At). This module reads them; the run
numbers after every document there, and sends nothing about an invoice that shows
more sent than the ledger knows, until the newer record is back.

    found = look_for_older_record(request, paths, ledger, data, invoices, rows)
    fixes, unchanged = found.withhold(fixes, unchanged)  # no email; rows left as they are
    floor = max(floor, found.invoice_floor)               # no number issued twice
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from . import cells
from .config import Config
from .corrections import Corrections
from .ledger import Ledger, LedgerInvoice, number_pattern, put_back
from .model import InvoiceRow, RowError, ServiceLine
from .read import SheetData, WorkbookData
from .reconcile import (
    InvoiceNumbers,
    highest_seq,
    invoice_numbers,
    named_numbers,
    newest_copy_where,
)
from .request import Paths, RunRequest
from .schema import INVOICES
from .validate import column_text

#: A document's name past its number: a reissue (`-R2`) or a copy sent on Resend (`-C1`).
SUFFIX = re.compile(r"(?P<number>.+)-(?P<kind>[RC])(?P<n>\d+)$")
#: A year's folder of documents (`invoice_path`).
YEAR = re.compile(r"\d{4}")
#: Within this, a time the workbook shows is the one the ledger holds (Excel keeps
#: a time to the millisecond, the ledger to the second).
SAME_TIME = timedelta(seconds=1)


@dataclass(frozen=True)
class Documents:
    """The documents under invoices/<year>/ (this year's and last year's), by number.

    Attributes:
      invoices: the invoice numbers with a document (`<Invoice No>.docx`, or a
        reissue's or copy's).
      reissues: invoice number -> (n, file) of each `<Invoice No>-R<n>.docx`.
      copies: invoice number -> the highest n of its `<Invoice No>-C<n>.docx`.
      credit_notes: the credit note numbers with a document.
    """

    invoices: frozenset[str] = frozenset()
    reissues: Mapping[str, tuple[tuple[int, Path], ...]] = field(default_factory=dict)
    copies: Mapping[str, int] = field(default_factory=dict)
    credit_notes: frozenset[str] = frozenset()


def read_documents(root: Path, config: Config, year: int) -> Documents:
    """The documents in `root` (invoices/) for `year` and the year before, and any later.

    A file is known by its name as render gives it (`invoice_path`), read back into the
    number the format makes; other files there (a copy "INV-2026-0007 - Copy.docx", the
    bookkeeper's own) are passed over.
    """
    try:
        folders = [p for p in root.iterdir() if YEAR.fullmatch(p.name) and int(p.name) >= year - 1]
    except OSError:
        return Documents()
    billing = config.billing
    invoice = _reader(billing.number_format)
    credit = _reader(billing.credit_note_format)
    numbers: set[str] = set()
    notes: set[str] = set()
    reissues: dict[str, list[tuple[int, Path]]] = {}
    copies: dict[str, int] = {}
    for folder in folders:
        try:
            stems = [n[:-5] for n in os.listdir(folder) if n[-5:].casefold() == ".docx"]
        except OSError:
            continue
        for stem in stems:
            if (number := credit(stem)) is not None:
                notes.add(number)
                continue
            if (number := invoice(stem)) is not None:
                numbers.add(number)
                continue
            suffix = SUFFIX.match(stem)
            if suffix is None or (number := invoice(suffix["number"])) is None:
                continue
            numbers.add(number)
            n = int(suffix["n"])
            if suffix["kind"] == "R":
                reissues.setdefault(number, []).append((n, folder / f"{stem}.docx"))
            else:
                copies[number] = max(copies.get(number, 0), n)
    return Documents(
        frozenset(numbers),
        {number: tuple(found) for number, found in reissues.items()},
        copies,
        frozenset(notes),
    )


def _reader(number_format: str) -> Callable[[str], str | None]:
    """A file name stem -> the number `number_format` makes of it, else None."""
    exact = number_pattern(number_format)
    loose = number_pattern(number_format, loose=True)

    def read(stem: str) -> str | None:
        if exact.match(stem):
            return stem  # the usual name: the number itself (thousands a year)
        found = loose.match(stem)
        if found is None:
            return None
        parts = found.groupdict()
        try:  # the number as issued: a file name may have lost a character Windows refuses
            return number_format.format(
                year=int(parts.get("year") or 0),
                month=int(parts.get("month") or 1),
                seq=int(parts.get("seq") or 0),
            )
        except (KeyError, IndexError, ValueError):
            return stem

    return read


@dataclass(frozen=True)
class OlderRecord:
    """What the folder shows was sent that the ledger has no trace of.

    Attributes:
      unknown: invoice and credit note numbers with a document under invoices/ that
        neither the ledger nor the workbook knows: issued by a run of a newer record.
      ahead: the ledger's invoices whose Invoices row, or reissue documents, show email
        the ledger has no trace of: nothing is sent about them, their rows are kept.
      invoice_floor, credit_floor: the highest sequence number in this run's numbering
        scope of the documents whose number the workbook does not show (its own numbers
        set a floor already): new numbers come after them.
      error: the one problem telling it all (exit 1), None when there is nothing to tell.
    """

    unknown: tuple[str, ...] = ()
    ahead: frozenset[str] = frozenset()
    invoice_floor: int = 0
    credit_floor: int = 0
    error: RowError | None = None

    def withhold(
        self, fixes: Corrections, unchanged: Sequence[ServiceLine]
    ) -> tuple[Corrections, list[ServiceLine]]:
        """The corrections with the `ahead` invoices held (no follow-up, no credit note,
        copy or statement; never set aside as settled) and the billed lines to keep in step
        without theirs (their Due Date may be a reissue's the ledger does not know)."""
        ahead = self.ahead
        if not ahead:
            return fixes, list(unchanged)
        fixes = replace(
            fixes,
            credits=tuple(c for c in fixes.credits if c.invoice_no not in ahead),
            rebills=tuple(r for r in fixes.rebills if r.invoice_no not in ahead),
            resends=tuple(n for n in fixes.resends if n not in ahead),
            held=fixes.held | ahead,
            troubled=fixes.troubled | ahead,
        )
        return fixes, [ln for ln in unchanged if ln.invoice_no not in ahead]

    def due_dates(self, due_dates: Mapping[str, date]) -> dict[str, date]:
        """`due_dates` without the `ahead` invoices': their Services rows are left as they are."""
        return {n: d for n, d in due_dates.items() if n not in self.ahead}


def look_for_older_record(
    request: RunRequest,
    paths: Paths,
    ledger: Ledger,
    data: WorkbookData,
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    numbers: InvoiceNumbers | None = None,
    held: Collection[str] = (),
) -> OlderRecord:
    """What the documents under invoices/ and the Invoices sheet show the ledger missed.

    `invoices`: the open invoices the run follows, `rows` their Invoices rows; `numbers`:
    the workbook's Invoice Nos (`invoice_numbers`), when the caller has them; `held`: the
    invoices held already, told with their own problem (`Corrections.held`: a credit note
    the ledger does not know), not again here.
    """
    config, as_of = request.config, request.as_of
    docs = read_documents(paths.invoices, config, as_of.year)
    shown = {text for _sheet, column in (numbers or invoice_numbers(data))
             for text in column.unique()}  # fmt: skip
    # The workbook's numbers set a floor of their own (`existing_seq_floor`...).
    unseen = set(docs.invoices - shown)
    unseen_notes = set(docs.credit_notes - _credit_notes_shown(data.invoices))
    billing = config.billing
    floors = (
        highest_seq(unseen, billing.number_format, as_of),
        highest_seq(unseen_notes, billing.credit_note_format, as_of),
    )
    if unseen:
        unseen -= ledger.known_numbers(unseen)
    if unseen_notes:
        unseen_notes -= {note.credit_note_no for note in ledger.credit_notes()}
    unknown = tuple(sorted(unseen | unseen_notes))
    ahead = _ahead_in_sheet(data.invoices, invoices, rows)
    ahead |= _ahead_in_documents(docs, invoices, ledger)
    ahead -= set(held)
    if not unknown and not ahead:
        return OlderRecord(invoice_floor=floors[0], credit_floor=floors[1])
    copy = _newest_copy_knowing_more(paths.billing / "backups", unknown, ahead, invoices)
    sheet = data.invoices.name if data.invoices is not None else INVOICES
    error = RowError(sheet, None, None, older_record_message(unknown, sorted(ahead), copy))
    return OlderRecord(unknown, frozenset(ahead), floors[0], floors[1], error)


def _credit_notes_shown(sheet: SheetData | None) -> set[str]:
    if sheet is None or "Credit Notes" not in sheet.present:
        return set()
    listed = column_text(sheet.frame["Credit Notes"].dropna())
    return {number for cell in listed for number in cells.listed_numbers(cell)}


def _ahead_in_sheet(
    sheet: SheetData | None,
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
) -> set[str]:
    """The invoices whose row shows more sent than the ledger knows: a Reissue Count above
    its own, or a Last Sent (Sent At) later than its own. Only the tool writes those cells,
    from its record: a record that is behind them is an older copy of it.
    """
    if sheet is None:
        return set()
    columns = [c for c in ("Reissue Count", "Last Sent", "Sent At") if c in sheet.present]
    looked = {n: r.row for n, r in rows.items() if r.row and not r.duplicates and n in invoices}
    if not columns or not looked:
        return set()
    frame = sheet.frame.loc[list(looked.values()), columns]
    found = set()
    for number, values in zip(looked, frame.to_dict("records"), strict=True):
        inv = invoices[number]
        if (
            _more(values.get("Reissue Count"), inv.reissue_count)
            or _later(values.get("Last Sent"), inv.last_sent)
            or _later(values.get("Sent At"), inv.sent_at)
        ):
            found.add(number)
    return found


def _more(value: object, count: int) -> bool:
    try:
        shown = cells.optional_decimal(value)
    except cells.CellError:
        return False  # not a count the tool wrote
    return shown is not None and shown > count


def _later(value: object, when: datetime | None) -> bool:
    shown = cells.cell_datetime(value)
    if shown is None:
        return False
    if when is None:
        return True  # emailed, says the row; never, says the ledger
    try:
        return shown.replace(tzinfo=None) - when.replace(tzinfo=None) >= SAME_TIME
    except (TypeError, OverflowError):
        return False


def _ahead_in_documents(
    docs: Documents, invoices: Mapping[str, LedgerInvoice], ledger: Ledger
) -> set[str]:
    """The invoices with a reissue (`-R<n>`) or a copy (`-C<n>`) the ledger has no trace of.

    A reissue's document is made before it is emailed: one that never went (refused, then
    not wanted any more as the client paid) stays behind, made by a run the ledger knows
    of. Only a document made after the ledger's last run counts.
    """
    wanted = (docs.reissues.keys() | docs.copies.keys()) & invoices.keys()
    if not wanted:
        return set()
    events = ledger.events(wanted)
    since = _last_run_before(ledger)
    found = set()
    for number in wanted:
        prefix = f"{number}/reissue/"
        made = [int(e[len(prefix) :]) for e in events
                if e.startswith(prefix) and e[len(prefix) :].isdigit()]  # fmt: skip
        known = max([invoices[number].reissue_count, *made])
        reissues = docs.reissues.get(number, ())
        if any(n > known and _made_after(path, since) for n, path in reissues):
            found.add(number)
        copies = sum(1 for e in events if e.startswith(f"{number}/resend/"))
        if docs.copies.get(number, 0) > copies:
            found.add(number)
    return found


def _last_run_before(ledger: Ledger) -> datetime | None:
    """When the ledger's latest run before this one began (None: there was none)."""
    # This run has begun already (`start_run`); a dry run's copy has none of its own.
    found = ledger.conn.execute(
        "SELECT started FROM runs WHERE id != ? ORDER BY id DESC LIMIT 1", (ledger.run_id,)
    ).fetchone()
    return datetime.fromisoformat(found[0]) if found else None


def _made_after(path: Path, since: datetime | None) -> bool:
    if since is None:
        return True
    try:
        return datetime.fromtimestamp(path.stat().st_mtime) > since
    except (OSError, OverflowError, ValueError):
        return False


def _newest_copy_knowing_more(
    backups: Path,
    unknown: Collection[str],
    ahead: Collection[str],
    invoices: Mapping[str, LedgerInvoice],
) -> Path | None:
    """The newest ledger copy in .billing/backups/ that knows one of the `unknown` numbers,
    or more sent of one of the `ahead` invoices than this ledger."""
    numbers = sorted(unknown)[:400]  # within SQLite's limit of parameters
    mine = {n: invoices[n] for n in sorted(ahead)[:400]}

    def knows_more(conn: sqlite3.Connection) -> bool:
        if numbers:
            marks = ",".join("?" * len(numbers))
            for query in (
                f"SELECT 1 FROM invoices WHERE invoice_no IN ({marks}) LIMIT 1",  # noqa: S608
                f"SELECT 1 FROM credit_notes WHERE credit_note_no IN ({marks}) LIMIT 1",  # noqa: S608
            ):
                if conn.execute(query, numbers).fetchone() is not None:
                    return True
        if not mine:
            return False
        marks = ",".join("?" * len(mine))
        query = (
            "SELECT invoice_no, last_sent, reissue_count FROM invoices"
            f" WHERE invoice_no IN ({marks})"  # noqa: S608
        )
        for number, last_sent, count in conn.execute(query, list(mine)):
            inv = mine[number]
            if (count or 0) > inv.reissue_count or (
                last_sent and _later(datetime.fromisoformat(last_sent), inv.last_sent)
            ):
                return True
        return False

    return newest_copy_where(backups, knows_more)


def older_record_message(unknown: Sequence[str], ahead: Sequence[str], copy: Path | None) -> str:
    """What to tell of a record older than what was sent, and how to put the newer one back.

    >>> print(older_record_message(["INV-2026-0007"], [], None))  # doctest: +ELLIPSIS
    The record .billing/ledger.sqlite looks older than what was sent (an older copy put \
back?). invoices/ holds documents of INV-2026-0007, which neither the record nor the \
workbook has any trace of: no number is issued twice, new ones follow it. No copy in ...
    """
    said = ["The record .billing/ledger.sqlite looks older than what was sent (an older "
            "copy put back?)."]  # fmt: skip
    if unknown:
        said.append(
            f"invoices/ holds documents of {named_numbers(unknown)}, which neither the record nor "
            "the workbook has any trace of: no number is issued twice, new ones follow "
            f"{'it' if len(unknown) == 1 else 'them'}."
        )
    if ahead:
        one = len(ahead) == 1
        they, are = ("it", "is") if one else ("they", "are")
        said.append(
            f"The workbook (Last Sent, Reissue Count) or the reminders in invoices/ show email "
            f"about {named_numbers(ahead)} that the record has no trace of: so that nothing goes "
            f"twice, {they} {'gets' if one else 'get'} no reminder, payment note, thank-you "
            f"or credit note, and {'its row is' if one else 'their rows are'} left as "
            f"{they} {are}."
        )
    if copy is not None:
        restore = put_back(
            f".billing/backups/{copy.name}", ".billing/ledger.sqlite", copy.name.endswith(".gz")
        )
        said.append(f"Put the newer record back before the next run: {restore}.")
        return " ".join(said)
    said.append(
        "No copy in .billing/backups/ knows more: before the next run, put back the newest "
        "ledger.sqlite you have (a later version in OneDrive or File History, or .billing/ "
        "from the computer the tool ran on). If there is none, follow these up by hand:"
    )
    if unknown:
        said.append(
            "type a row in the Invoices sheet for each number only invoices/ has (Invoice No, "
            "Client, Total, no Sent At);"
        )
    if ahead:
        said.append(
            "clear Last Sent and Reissue Count of the rows named, and move their -R "
            "documents out of invoices/;"
        )
    said.append("the tool then goes on from its record.")
    return " ".join(said)
