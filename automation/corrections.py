"""Corrections the accountant's way: credit notes, Void, Rebill, Credit Amount, Resend.

An issued invoice is never edited: it is reduced or cancelled by a credit
note, and a corrected invoice is issued. Everything here is pure: from the
invoices the ledger knows, their Invoices rows and the Services rows that
carry their numbers, `decide_corrections` says which credit notes to issue,
which invoices to bill again, which copies to resend and which rows are
wrong; `changed_lines` finds Services rows edited after they were billed.
Nothing here touches files, the ledger or the network.

    billed = billed_rows(data.services, invoices.keys())
    fixes = decide_corrections(invoices, rows, billed, book, unsent, as_of, config, data.invoices)
    errors = changed_lines(billed, invoices, fixes.rebilling, data.services)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .cells import LARGEST, cell_text
from .config import Config
from .fmt import format_money
from .lazy import lazy_import
from .ledger import Ledger, LedgerInvoice, number_pattern
from .model import (
    HOLD,
    OVERPAID,
    PAID,
    REBILL,
    VOID,
    InvoiceLine,
    InvoiceRow,
    RowError,
    ServiceLine,
)
from .money import ZERO, round_money, too_many_decimals
from .plan import (
    PAYMENT_NOTES,
    InvoiceState,
    Payments,
    balance_of,
    is_billable,
    status_of,
    totals,
)
from .read import SheetData
from .reconcile import lost_and_changed
from .schema import CLIENTS, INVOICES, SERVICES
from .updates import UpdateSet, read_corrections, state_of
from .validate import ClientBook, bare_rows, column_text, read_billed_rows, rounded_elsewhere

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np, pd = lazy_import("numpy"), lazy_import("pandas")  # imported when a workbook is read

#: A Services row as it reads now: a line, or why it cannot be read.
BilledRow = ServiceLine | RowError

VOID_REASON, REBILL_REASON, CREDIT_REASON = "void", "rebill", "credit"


@dataclass(frozen=True)
class CreditDecision:
    """A credit note to issue against one invoice (amount 0: only the status changes).

    Attributes:
      reason: "void", "rebill" or "credit" (an increase of Credit Amount).
      credited_after: the invoice's credits with this note.
      balance_after: what the client owes after it (negative: owed back).
    """

    invoice_no: str
    reason: str
    amount: Decimal
    credited_after: Decimal
    balance_after: Decimal


@dataclass(frozen=True)
class RebillDecision:
    """An invoice to cancel and bill again: its Services rows as they stand now."""

    invoice_no: str
    lines: tuple[ServiceLine, ...]


@dataclass(frozen=True)
class Strays:
    """Billed Services rows whose line is not where their Invoice No says (`find_strays`).

    Attributes:
      elsewhere: row -> (the number it carries, the invoice the ledger billed its line
        on): the line's columns were sorted without the tool's, say.
      bare: row -> the row its line is on now (None: on no row), for rows holding
        nothing but the tool's Invoice No, Due Date and Status (the line cut and
        pasted elsewhere, or cleared).
      restored: row -> the number written back this run beside a line that had lost it
        (or had it typed over).
    """

    elsewhere: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    bare: Mapping[int, int | None] = field(default_factory=dict)
    restored: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Corrections:
    """What the bookkeeper's corrections make the run do.

    Attributes:
      resends: invoices to email a copy of (Resend = Yes).
      cleared: invoices whose Resend cell is only cleared: honoured already, or typed
        while the invoice itself is still owed (refused, or interrupted, before):
        the invoice, sent again this run, is the copy.
      refused_credit: invoices whose typed Credit Amount is left as typed (an error).
      troubled: invoices whose row has an error here, or whose corrections wait for their
        client's row in Clients: never set aside as settled.
      held: invoices whose Credit Notes cell lists a credit note the ledger does not
        know (an older ledger put back): nothing is credited or mailed about them.
      on_hold: invoices the bookkeeper set to Hold.
      waiting: what the bookkeeper typed that waits (on an invoice on Hold) or is done
        otherwise than typed (a Resend of an invoice not delivered yet), in sentences
        for the run's output.
      lines_gone: one problem per invoice still owed whose billed lines are on no Services
        row (`missing_lines_errors`): a correction, or the lines typed back, is wanted.
      spoken: invoices an earlier run on this as-of date made a message for: that was
        their one message of the day, so a copy or payment note waits for a later date.
      hand_notes: (row, Note) for Invoices rows the tool did not issue that a correction
        was typed on (`hand_row_corrections`): the Note says what was not done.
      blocking: the Services rows a Rebill waits for (a cell not a number, an unknown
        client, a line out of place), each told on its row: what to fix there, and that
        the Rebill waits for it (`rebill_lines`).
    """

    credits: tuple[CreditDecision, ...] = ()
    rebills: tuple[RebillDecision, ...] = ()
    resends: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    errors: tuple[RowError, ...] = ()
    refused_credit: frozenset[str] = frozenset()
    troubled: frozenset[str] = frozenset()
    held: frozenset[str] = frozenset()
    waiting: tuple[str, ...] = ()
    on_hold: frozenset[str] = frozenset()
    lines_gone: tuple[RowError, ...] = ()
    spoken: frozenset[str] = field(default=frozenset(), compare=False)  # from the ledger
    hand_notes: tuple[tuple[int, str], ...] = ()
    blocking: tuple[RowError, ...] = ()

    def with_hand_rows(self, hand: HandRows) -> Corrections:
        """These corrections, with what was typed on rows the tool did not issue told."""
        return replace(
            self,
            errors=self.errors + hand.errors,
            waiting=self.waiting + hand.told,
            hand_notes=hand.notes,
        )

    @property
    def rebilling(self) -> frozenset[str]:
        """Invoices typed `Rebill` (their Services rows may differ from what was billed)."""
        return frozenset(r.invoice_no for r in self.rebills)

    def held_clients(self, invoices: Mapping[str, LedgerInvoice]) -> frozenset[str]:
        """The clients of the `held` invoices and of those on Hold (records in `invoices`):
        no statement of account goes to them (it would ask for what is held)."""
        held = self.held | self.on_hold
        return frozenset(invoices[number].client_key for number in held if number in invoices)

    @property
    def no_followup(self) -> frozenset[str]:
        """Invoices that get no reminder, reissue or thank-you this run: a correction is
        their one message, they are rebilled, or they are held."""
        return self.mailing | self.rebilling | self.held

    def withholds(self, number: str, action: str | None) -> bool:
        """Whether the follow-up `action` decided on for invoice `number` waits: for
        `no_followup` invoices, and a payment note for one that had its message on this
        as-of date already (a later date's run sends it: a rerun sends nothing new). A
        reissue keeps its own wait, `reissue.every_days` since the invoice was last
        emailed."""
        if number in self.no_followup:
            return True
        return number in self.spoken and action in PAYMENT_NOTES

    @property
    def mailing(self) -> frozenset[str]:
        """Invoices that get their one message of the run from a correction."""
        notes = {c.invoice_no for c in self.credits if c.amount > ZERO}
        return frozenset(notes | set(self.resends))


@dataclass(frozen=True)
class HandRows:
    """Corrections typed on Invoices rows the tool has no record of issuing (typed by hand,
    from before the tool): it can make none of them (`hand_row_corrections`).

    Attributes:
      errors: a Rebill, Credit Amount or Resend, each told with what to do instead (exit 1).
      told: the invoices typed Void, in one sentence: no credit note went (said once).
      notes: (row, Note) saying so on those rows.
    """

    errors: tuple[RowError, ...] = ()
    told: tuple[str, ...] = ()
    notes: tuple[tuple[int, str], ...] = ()


def hand_row_corrections(
    sheet: SheetData | None, ledger: Ledger | None, tell_void: bool = True
) -> HandRows:
    """Rebill, Void, Credit Amount and Resend typed on Invoices rows whose invoice the
    ledger does not know: the tool did not issue it (or its record of it was lost), so it
    cannot cancel, credit or resend it, and says so rather than doing nothing in silence.

    A Rebill, a Credit Amount (other than 0) or a Resend is a problem, every run until it
    is cleared, naming what to do instead. Void is the bookkeeper's own word for an invoice
    cancelled by hand, as often as not typed long before the tool: told once, as a notice
    (no credit note was sent) with the Note; a row whose Note says so already is not told
    again, nor is one when `tell_void` is False (`payments`, which writes no such Note).
    """
    if sheet is None or ledger is None or sheet.frame.empty:
        return HandRows()
    frame = sheet.frame[sheet.frame["Invoice No"].notna()]
    status = column_text(frame["Status"]).str.casefold()
    typed = status.isin({REBILL.casefold(), VOID.casefold()}) | frame["Resend"].notna()
    typed |= frame["Credit Amount"].notna()
    frame = frame[typed.to_numpy(dtype=bool)]
    if frame.empty:
        return HandRows()
    numbers = column_text(frame["Invoice No"])
    known = ledger.known_numbers(numbers.unique())
    frame = frame[(~numbers.isin(known)).to_numpy(dtype=bool)]
    errors: list[RowError] = []
    voided: list[str] = []
    notes: list[tuple[int, str]] = []
    for row, values in zip(frame.index, frame.to_dict("records"), strict=True):
        number = cell_text(values["Invoice No"])
        told = _hand_row_told(number, values)
        if told:
            errors.extend(
                RowError(sheet.name, int(row), sheet.headers.get(col, col), text)
                for col, text in told
            )
            notes.append((int(row), " ".join(text for _, text in told)))
        elif cell_text(values["Status"]).casefold() == VOID.casefold() and tell_void:
            note = _hand_void_note(number)
            if cell_text(values.get("Note")) != note:
                voided.append(number)
                notes.append((int(row), note))
    return HandRows(tuple(errors), _hand_voided(voided), tuple(notes))


#: How a row the tool has no record of issuing is named in what it is told.
_NOT_ISSUED = "{number} was not issued by this tool (typed by hand?)"


def _hand_row_told(number: str, values: Mapping[str, object]) -> list[tuple[str, str]]:
    """(column, problem) for each correction typed on the row of `number`, an invoice the
    tool did not issue, that it would act on if it had."""
    told = []
    not_issued = _NOT_ISSUED.format(number=number)
    if cell_text(values["Status"]).casefold() == REBILL.casefold():
        told.append(("Status", (
            f"{not_issued}, so it cannot be rebilled: no credit note or new invoice was "
            "made. Type the corrected work as new Services rows, without an Invoice No (the "
            "next run bills them), cancel this invoice your own way, and clear Rebill."
        )))  # fmt: skip
    corrections = read_corrections(values)
    credit = corrections.get("credit_amount")
    if "credit_problem" in corrections or (credit is not None and credit != ZERO):
        told.append(("Credit Amount", (
            f"{not_issued}, so no credit note was issued for the Credit Amount typed. Issue "
            "it by hand (or type the credit as a Services row with a negative Amount: it goes "
            "on the client's next invoice), then clear Credit Amount."
        )))  # fmt: skip
    if corrections["resend"] or "resend_problem" in corrections:
        told.append(("Resend", (
            f"{not_issued}, so it has no copy to resend: email the client your own copy, "
            "then clear Resend."
        )))  # fmt: skip
    return told


def _hand_void_note(number: str) -> str:
    """The Note of a row typed Void that the tool did not issue."""
    return (
        f"{_NOT_ISSUED.format(number=number)}: Void stays as your own record; no credit "
        "note was sent."
    )


def _hand_voided(numbers: Sequence[str]) -> tuple[str, ...]:
    """The one sentence telling the invoices typed Void that the tool did not issue."""
    if not numbers:
        return ()
    one, shown = len(numbers) == 1, ", ".join(numbers[:3])
    if len(numbers) > 3:
        shown += f" and {len(numbers) - 3} more"
    return (
        f"{len(numbers)} {'invoice' if one else 'invoices'} typed Void ({shown}) "
        f"{'was' if one else 'were'} not issued by this tool (typed by hand?): Void stays as "
        f"your own record, and no credit note was sent (issue one by hand if the client is "
        f"owed one). {'Its' if one else 'Their'} Note says so.",
    )


def hand_notes_updates(sheet: SheetData | None, fixes: Corrections, updates: UpdateSet) -> None:
    """The Notes of the rows the tool did not issue that a correction was typed on."""
    if sheet is None:
        return
    for row, note in fixes.hand_notes:
        updates.set(sheet, sheet.name, row, "Note", note, sheet.headers)


def billed_rows(services: SheetData, numbers: Collection[str]) -> dict[str, list[BilledRow]]:
    """Invoice No -> the Services rows carrying it, read as they stand now (vectorised filter)."""
    frame = services.frame
    if not numbers or frame.empty:
        return {}
    carried = column_text(frame["Invoice No"])
    mine = carried.isin(set(numbers)).to_numpy(dtype=bool)
    result: dict[str, list[BilledRow]] = {}
    rows = frame[mine]
    lines = read_billed_rows(services, rows)
    for (_row, line), number in zip(lines, carried[mine], strict=True):
        result.setdefault(number, []).append(line)
    return result


def find_strays(
    billed: Mapping[str, Sequence[BilledRow]],
    invoices: Mapping[str, LedgerInvoice],
    services: SheetData,
    elsewhere: Mapping[int, tuple[str, str]],
    restored: Sequence[ServiceLine] = (),
) -> Strays:
    """The billed rows out of step with their lines (`Strays`).

    `elsewhere`: `reconcile.billed_elsewhere`; `restored`: the lines whose lost Invoice No
    this run writes back, with it. A row left with only the tool's cells holds a line of
    its invoice that is now on another row (carrying the number, or given it back now)
    when every line the invoice billed is found on such a row.
    """
    errors = [r.row for rows in billed.values() for r in rows if isinstance(r, RowError) and r.row]
    empty = bare_rows(services, errors) if errors else set()
    bare: dict[int, int | None] = {}
    for number, rows in billed.items():
        left = sorted(r.row for r in rows if isinstance(r, RowError) and r.row in empty)
        inv = invoices.get(number)
        if not left or inv is None:
            continue
        holders = [r for r in rows if isinstance(r, ServiceLine) and r.row not in elsewhere]
        holders += [ln for ln in restored if ln.invoice_no == number]
        matched, _rest = _match(inv, holders)
        if len(matched) < len(inv.lines):
            bare.update((row, None) for row in left)
            continue
        for row in left:  # the line billed on that row, else one that moved
            hinted = [r for i, r in matched.items() if inv.lines[i].row == row]
            away = [r for i, r in matched.items() if inv.lines[i].row != r]
            bare[row] = (hinted or away or sorted(matched.values()))[0]
    return Strays(
        dict(elsewhere), bare, {ln.row: ln.invoice_no for ln in restored if ln.invoice_no}
    )


def missing_lines(
    every: Mapping[str, Sequence[BilledRow]],
    invoices: Mapping[str, LedgerInvoice],
    strays: Strays,
    found: Sequence[ServiceLine] = (),
) -> dict[str, tuple[InvoiceLine, ...]]:
    """Invoice No -> the lines of `invoices` that no Services row holds any more (deleted).

    `every`: the rows carrying each open invoice's number (`billed_rows`); `found`: lines
    given their invoice's number by this run (an Invoice No written back beside them, a
    rebilled row's new number). A line is still there on a row carrying its invoice's
    number, on one carrying another (sorted: `strays.elsewhere`), or given its number back.
    A row told otherwise (changed since billed, unreadable, holding only the tool's cells
    while its line is on no row) stands for the line billed on it, else the first left:
    its own error says what to do. A row holding only the tool's cells of a line that moved
    stands for none (the line counts where it is now).
    """
    lines_on = {r.row: r for rows in every.values() for r in rows if isinstance(r, ServiceLine)}
    sorted_in: dict[str, list[BilledRow]] = {}
    for row, (_carried, billed_on) in strays.elsewhere.items():
        if row in lines_on:
            sorted_in.setdefault(billed_on, []).append(lines_on[row])
    result: dict[str, tuple[InvoiceLine, ...]] = {}
    for number, inv in invoices.items():
        holders = [
            r for r in every.get(number, ())
            if r.row not in strays.elsewhere and strays.bare.get(r.row or 0) is None
        ]  # fmt: skip
        holders += sorted_in.get(number, [])
        holders += [ln for ln in found if ln.invoice_no == number]
        if inv.voided is not None or len(holders) >= len(inv.lines):
            continue  # each row stands for one line: none can be missing
        matched, unmatched = _match(inv, [r for r in holders if isinstance(r, ServiceLine)])
        free = [i for i in range(len(inv.lines)) if i not in matched]
        told = [r.row for r in unmatched] + [r.row or 0 for r in holders if isinstance(r, RowError)]
        for row in told:
            free.remove(next((i for i in free if inv.lines[i].row == row), free[0]))
        result[number] = tuple(inv.lines[i] for i in free)
    return result


#: The missing lines a problem lists; more are counted.
LISTED_LINES = 5


def missing_lines_errors(
    missing: Mapping[str, Sequence[InvoiceLine]],
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    credits: Sequence[CreditDecision],
    as_of: date,
    services: SheetData,
) -> tuple[RowError, ...]:
    """One problem (exit 1, as for a line moved out of place) per invoice still owed whose
    billed lines are on no Services row (`missing_lines`): which lines, that the invoice
    stands as issued, and the ways out.

    A Paid, Overpaid or Void invoice, or one being rebilled, is history: deleting the
    rows of settled work is how old years are archived, and is not told. Nor is one whose
    credit notes (this run's too) took off at least what the missing lines came to.
    """
    credited = {c.invoice_no: c.credited_after for c in credits}
    errors = []
    for number in sorted(missing):
        inv, gone = invoices[number], missing[number]
        status = status_of(state_of(inv, False), Payments.from_row(rows.get(number)), as_of)
        if status in (PAID, OVERPAID, VOID, REBILL):
            continue
        if max(inv.credited, credited.get(number, ZERO)) >= sum(ln.amount for ln in gone):
            continue
        errors.append(RowError(services.name, None, None, _missing_message(inv, gone)))
    return tuple(errors)


def _missing_message(inv: LedgerInvoice, gone: Sequence[InvoiceLine]) -> str:
    """What an open invoice whose billed lines were deleted from Services is told."""
    number, one = inv.invoice_no, len(gone) == 1
    listed = "; ".join(
        f'{ln.service_date.isoformat()} "{ln.description}" {_money(ln.amount, inv)}'
        for ln in gone[:LISTED_LINES]
    )
    if len(gone) > LISTED_LINES:
        listed += f" and {len(gone) - LISTED_LINES} more"
    if len(gone) == len(inv.lines):
        cancel = f"or type Void in {number}'s Status on the Invoices sheet to cancel it."
    else:
        cancel = (
            f"or, on the Invoices sheet, type Rebill in {number}'s Status to bill the lines "
            f"still there on a new invoice, Void to cancel it, or raise its Credit Amount by "
            f"what the missing {'line' if one else 'lines'} came to."
        )
    return (
        f"{number} ({inv.client}) billed {'a line' if one else f'{len(gone)} lines'} that no "
        f"Services row holds any more (deleted?): {listed}. The invoice stands as issued and "
        f"{inv.client} still owes it. Type {'the line' if one else 'them'} back as billed "
        f"(the Invoice No is written back beside {'it' if one else 'them'}, nothing is billed "
        f"twice), {cancel}"
    )


#: The Services cells a billed row's digest covers: what `changed_lines` compares.
DIGEST_COLUMNS = ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"]


def rows_digests(services: SheetData) -> dict[str, str]:
    """Invoice No -> a digest of the Services rows carrying it, as they stand now.

    A settled invoice's rows are not read line by line every run (years of
    history); their digest, kept when it was settled, tells when one was edited
    since (or moved, added, removed), and the invoice is then looked at again.
    Rows are hashed as read (vectorised), and summed per invoice, so sorting the
    sheet changes nothing.
    """
    frame = services.frame
    seen, digests = _DIGESTS
    if seen is frame:  # a run asks twice: to reopen, then to settle
        return digests
    digests = _DIGESTS[1] = _digests(frame)
    _DIGESTS[0] = frame
    return digests


#: The last frame digested, and its digests.
_DIGESTS: list[Any] = [None, {}]


def _digests(frame: pd.DataFrame) -> dict[str, str]:
    if frame.empty:
        return {}
    from pandas.core.util.hashing import hash_array

    # The numbers as text: each distinct cell read once (a long history repeats each
    # number on several rows), not each row.
    codes, cells = pd.factorize(frame["Invoice No"].to_numpy())
    texts = [cell_text(cell) for cell in cells]
    invoices = sorted(set(texts) - {""})
    if not invoices:
        return {}
    where = {number: i for i, number in enumerate(invoices)}
    text_code = np.array([where.get(text, -1) for text in texts] + [-1], dtype=np.int64)
    codes = text_code[codes]  # a cell with nothing (-1) takes the last: none
    billed = codes >= 0
    codes = codes[billed]
    # Each column hashed alone (pandas' stable hash, not Python's salted one), mixed into
    # one hash per row; summed per invoice (modulo 2**64), so the rows' order is no matter.
    hashed = np.zeros(int(billed.sum()), dtype=np.uint64)
    for column in DIGEST_COLUMNS:
        cells = hash_array(frame[column].to_numpy()[billed])
        with np.errstate(over="ignore"):
            hashed = hashed * np.uint64(0x100000001B3) ^ cells
    sums = np.zeros(len(invoices), dtype=np.uint64)
    np.add.at(sums, codes, hashed)
    counts = np.bincount(codes, minlength=len(invoices))
    return {
        str(number): f"{n}-{total:x}"
        for number, n, total in zip(invoices, counts.tolist(), sums.tolist(), strict=True)
    }


def decide_corrections(
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    billed: Mapping[str, Sequence[BilledRow]],
    book: ClientBook,
    unsent: Collection[str],
    as_of: date,
    config: Config,
    sheet: SheetData | None,
    reached: Collection[str] = (),
    strays: Strays | None = None,
    spoken: Collection[str] = (),
    services: SheetData | None = None,
) -> Corrections:
    """The corrections typed into the Invoices sheet, checked against the ledger.

    `unsent`: invoices whose own message is still owed; `reached`: those of them that
    some address already has (one To address refused, say); `spoken`: those an earlier
    run on `as_of` made a message for, to the client (`decide.messaged_today`);
    `services`: the Services sheet `billed` was read from (its rows a Rebill waits for
    are told on it).

    One message per invoice a run, and none new on a rerun the same day: a copy asked
    for with a credit note, or after the day's message, waits for a run on a later date.

    The ledger's credits are the truth: a credit note already issued is never
    issued again, whatever the workbook says (an interrupted run, an older copy).
    A row listing a credit note the ledger does not know (an older copy of the
    ledger put back) is held: crediting it again would credit the client twice.
    """
    name = sheet.name if sheet else INVOICES

    def err(row: InvoiceRow, column: str, message: str) -> RowError:
        header = sheet.headers.get(column, column) if sheet else column
        return RowError(name, row.row, header, message)

    credits: list[CreditDecision] = []
    rebills: list[RebillDecision] = []
    resends: list[str] = []
    cleared: list[str] = []
    errors: list[RowError] = []
    refused: set[str] = set()
    held: set[str] = set()
    waiting: list[str] = []
    on_hold: set[str] = set()
    stuck: set[str] = set()
    blocking: list[RowError] = []
    credit_note = number_pattern(config.billing.credit_note_format)
    for number in sorted(invoices):
        row = rows.get(number)
        if row is None or not row.row:
            continue  # no row in the workbook: nothing was typed
        if row.duplicates:  # on several rows (told by updates.payment_errors): which one's
            held.add(number)  # Void, Credit Amount or Resend is meant is not known; none acts
            refused.add(number)
            continue
        inv = invoices[number]
        # Only what reads as a credit note number: other text there is not evidence.
        unknown = [
            n for n in row.credit_notes if credit_note.match(n) and n not in inv.credit_notes
        ]
        if unknown:
            held.add(number)
            refused.add(number)
            errors.append(err(row, "Credit Notes", _unknown_credit_notes(number, unknown, inv)))
            continue
        state = state_of(inv, number in unsent)
        pay = Payments.from_row(row)
        typed = pay.bookkeeper_status
        if row.resend and inv.resend_pending:
            cleared.append(number)  # honoured already; the cell was not cleared yet
        if inv.voided is not None or (inv.credited and inv.credited >= inv.total):
            if row.resend and not inv.resend_pending:
                errors.append(
                    err(row, "Resend", f"{number} is void, so no copy is sent; clear Resend.")
                )
            continue
        row = _exact_credit(row, inv.currency)
        # Corrections wait while the bookkeeper holds the invoice, or while its client's
        # row in Clients has a problem (its credit note or copy could not be built).
        until = "Hold is cleared" if typed == HOLD else _client_row_wait(inv, book)
        if until:
            if typed == HOLD:
                on_hold.add(number)
            else:  # a Void or Rebill waiting: never set aside as settled meanwhile
                stuck.add(number)
            waits = []
            if typed in (VOID, REBILL):
                waits.append(f"{typed} (no credit note yet)")
            if row.credit_problem:
                refused.add(number)
                errors.append(
                    err(row, "Credit Amount", f"{row.credit_problem} Nothing was credited.")
                )
            elif row.credit_amount is not None and typed not in (VOID, REBILL):
                wanted = round_money(row.credit_amount, inv.currency)
                if wanted < ZERO:  # told as without Hold: nothing to wait for
                    refused.add(number)
                    errors.append(err(row, "Credit Amount", _below_zero(number, inv, wanted)))
                elif wanted < inv.credited:
                    errors.append(err(row, "Credit Amount", _taken_back(number, inv, wanted)))
                elif wanted > inv.credited:
                    refused.add(number)  # the cell keeps what was typed, for when it ends
                    waits.append(f"Credit Amount {_money(wanted, inv)} (no credit note yet)")
            if row.resend and not inv.resend_pending:
                waits.append("Resend")
            if waits:
                verb = "waits" if len(waits) == 1 else "wait"
                who = f"{number} is on Hold" if typed == HOLD else f"{number} ({inv.client})"
                waiting.append(f"{who}: {' and '.join(waits)} {verb} until {until}.")
            continue
        if typed in (VOID, REBILL):
            if row.resend and not inv.resend_pending:  # a copy of what is cancelled: no
                cleared.append(number)
                waiting.append(
                    f"{number}: Resend is cleared: the invoice is cancelled ({typed}); its "
                    "credit note goes to the client instead."
                )
            if typed == REBILL:
                found = billed.get(number, ())
                lines, why, rows_at_fault = rebill_lines(
                    number, inv, found, book, as_of, config, strays, services
                )
                if why:
                    errors.append(err(row, "Status", why))
                    blocking.extend(rows_at_fault)
                    continue
                rebills.append(RebillDecision(number, lines))
            reason = REBILL_REASON if typed == REBILL else VOID_REASON
            after = _after_credit(state, pay, inv.total)
            credits.append(
                CreditDecision(number, reason, inv.total - inv.credited, inv.total, after)
            )
            continue
        if row.credit_problem:
            errors.append(err(row, "Credit Amount", f"{row.credit_problem} Nothing was credited."))
            refused.add(number)
        elif row.credit_amount is not None:
            wanted = round_money(row.credit_amount, inv.currency)
            increase = wanted - inv.credited
            if increase > ZERO:
                _, open_amount = balance_of(state, pay)
                if increase > open_amount:
                    refused.add(number)
                    errors.append(
                        err(
                            row,
                            "Credit Amount",
                            f"a credit of {_money(increase, inv)} more is larger than the "
                            f"{_money(max(open_amount, ZERO), inv)} still open on {number}, so "
                            "no credit note was issued; lower Credit Amount (or type Void "
                            "in Status to cancel the whole invoice).",
                        )
                    )
                else:
                    after = _after_credit(state, pay, wanted)
                    credits.append(CreditDecision(number, CREDIT_REASON, increase, wanted, after))
            elif wanted < ZERO:
                refused.add(number)
                errors.append(err(row, "Credit Amount", _below_zero(number, inv, wanted)))
            elif increase < ZERO:
                errors.append(err(row, "Credit Amount", _taken_back(number, inv, wanted)))
        if row.resend_problem:
            errors.append(
                err(
                    row,
                    "Resend",
                    f'"{row.resend_problem}" is not understood: type Yes to email the client '
                    f"a copy of {number}, or clear the cell.",
                )
            )
        client = book.clients.get(inv.client_key)
        if row.resend and not inv.resend_pending and client is not None and not client.active:
            waiting.append(  # as on Hold: the cell stays, and the copy goes once active
                f"{number} ({inv.client}): Resend waits until {client.name} is active again "
                f"(Active is No in {CLIENTS} row {client.row})."
            )
        elif row.resend and not inv.resend_pending and number in unsent:
            if number in reached:  # the copy is for who has it: after the invoice is through
                waiting.append(
                    f"{number}: Resend waits: the invoice has not reached every address yet; "
                    "the copy goes once it has."
                )
            else:
                cleared.append(number)
                waiting.append(
                    f"{number}: Resend is cleared: the invoice itself has not reached the "
                    "client yet, and goes again this run."
                )
        elif row.resend and not inv.resend_pending:
            if number in spoken or any(
                c.invoice_no == number and c.amount > ZERO for c in credits
            ):  # the day's one message is the credit note or another: the copy waits
                waiting.append(
                    f"{number}: Resend waits for the next run (on a later date): {number} "
                    f"has its one message for {as_of.isoformat()} already."
                )
                continue
            resends.append(number)
    stuck |= _credit_rewritten(invoices, rows, credits, refused | held)
    by_row = {r.row: n for n, r in rows.items() if r.row}
    return Corrections(
        tuple(credits),
        tuple(rebills),
        tuple(resends),
        tuple(cleared),
        tuple(errors),
        frozenset(refused),
        frozenset(by_row[e.row] for e in errors if e.row in by_row) | stuck,
        frozenset(held),
        tuple(waiting),
        frozenset(on_hold),
        spoken=frozenset(spoken),
        blocking=tuple(blocking),
    )


def _credit_rewritten(
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    credits: Sequence[CreditDecision],
    left: Collection[str],
) -> set[str]:
    """The invoices whose Credit Amount cell the write-back changes: Void or Rebill raises
    it to the Total, an emptied or lowered cell (an older copy put back) shows the ledger's
    credits again. Not set aside as settled this run: a settled invoice is looked at again
    only when its payment cells differ from those it was settled on, and these would be the
    cells as typed, so the same older copy put back again would never be written.
    `left`: invoices whose row is left as typed."""
    after = {c.invoice_no: c.credited_after for c in credits}
    found: set[str] = set()
    for number, inv in invoices.items():
        row = rows.get(number)
        if row is None or not row.row or number in left or row.credit_problem:
            continue
        shown = round_money(row.credit_amount or ZERO, inv.currency)
        if shown != round_money(after.get(number, inv.credited), inv.currency):
            found.add(number)
    return found


def _client_row_wait(inv: LedgerInvoice, book: ClientBook) -> str:
    """What corrections on `inv` wait for while its client's row in Clients has a problem
    (`ClientBook.mail_problem`), or "" when it has none."""
    if book.mail_problem(inv.client_key) is None:
        return ""
    client = book.clients.get(inv.client_key)
    if client is None or not client.row:
        return f"{inv.client}'s row in {CLIENTS} is fixed"
    return f"{CLIENTS} row {client.row} is fixed"


def _below_zero(number: str, inv: LedgerInvoice, wanted: Decimal) -> str:
    return (
        f"Credit Amount {_money(wanted, inv)} is below zero: type the whole credit granted on "
        f"{number} so far, or clear the cell."
    )


def _taken_back(number: str, inv: LedgerInvoice, wanted: Decimal) -> str:
    """Why a Credit Amount below what is credited shows the credits again."""
    credited = _money(inv.credited, inv)
    notes = f" ({'; '.join(inv.credit_notes)})" if inv.credit_notes else ""
    return (
        f"Credit Amount {_money(wanted, inv)} is less than the {credited} already credited on "
        f"{number}{notes}: a credit note cannot be taken back, so the cell shows {credited} "
        "again. To charge the difference, add it as a new line in Services."
    )


def _unknown_credit_notes(number: str, unknown: list[str], inv: LedgerInvoice) -> str:
    names = ", ".join(unknown)
    known = "; ".join(inv.credit_notes) or "none"
    one = len(unknown) == 1
    return (
        f"{names} {'is' if one else 'are'} not in this computer's record "
        f"(.billing/ledger.sqlite), which knows {known} for {number}: the ledger was "
        "probably put back from an older copy. Nothing is credited or emailed about "
        f"{number}, and its row is left as it is, so the client is not credited twice. "
        "Put back the newest ledger copy from .billing/backups/ (one from after "
        f"{names} {'was' if one else 'were'} issued). If no copy has "
        f"{'it' if one else 'them'} and the client never received "
        f"{'it' if one else 'them'}, take {'it' if one else 'them'} out of Credit Notes."
    )


def _after_credit(state: InvoiceState, pay: Payments, credited: Decimal) -> Decimal:
    """The balance once the invoice's credits reach `credited`."""
    _, balance = balance_of(replace(state, credited=credited), pay)
    return balance


def _exact_credit(row: InvoiceRow, currency: str) -> InvoiceRow:
    """The row, its Credit Amount refused when it has more decimals than the currency (10.555
    on a USD invoice, 100.5 on a JPY one): a credit note is for an amount the client can
    be paid, and rounding what was typed would credit what nobody typed."""
    amount = row.credit_amount
    if row.credit_problem or amount is None or round_money(amount, currency) == amount:
        return row
    return replace(
        row,
        credit_problem=f"{amount} {too_many_decimals(amount, currency)}: type the credit "
        "exactly.",
    )


def _money(amount: Decimal, inv: LedgerInvoice) -> str:
    return format_money(amount, inv.currency, "en")


def rebill_lines(
    number: str,
    inv: LedgerInvoice,
    rows: Sequence[BilledRow],
    book: ClientBook,
    as_of: date,
    config: Config,
    strays: Strays | None = None,
    services: SheetData | None = None,
) -> tuple[tuple[ServiceLine, ...], str, tuple[RowError, ...]]:
    """The Services rows a Rebill bills again, or why it must wait (nothing happens then),
    with the Services rows it waits for: each one's error says what to fix there and that
    the Rebill waits for it (`services`: the sheet, for its name and headers).

    It waits while a line is not where its Invoice No says (`Strays`): billing the rows
    carrying the number would bill again a line of another open invoice, or leave out
    one of its own. A row left with only the tool's cells is told what to do (cleared,
    the Rebill goes on): left, it would carry the void invoice's number for good.
    """

    def at(row: int, column: str | None, text: str, what: str = "cell") -> RowError:
        name = services.name if services is not None else SERVICES
        header = services.headers.get(column, column) if services and column else column
        told = f"{text.rstrip('.')}; the Rebill of {number} waits for this {what}."
        return RowError(name, row, header, told)

    strays = strays or Strays()
    out_of_place = _stray_rows(number, rows, strays)
    if out_of_place:
        row, text = out_of_place[0]
        blocking = tuple(at(r, "Invoice No", t, "row") for r, t in out_of_place)
        return (), f"Rebill waits: Services row {row}: {text}", blocking
    why = _restored_wait(number, strays)
    if why:
        return (), f"Rebill waits: {why}", ()
    if not rows:
        why = (
            f"no Services row carries {number}, so there is nothing to bill again; type Void "
            "to cancel it without a new invoice, or put its number back on its rows."
        )
        return (), why, ()
    ordered = sorted(rows, key=lambda r: r.row or 0)
    waits = [w for found in ordered if (w := _row_wait(found, book, as_of, config)) is not None]
    if waits:
        blocking = tuple(at(*w) for w in waits)
        first = blocking[0]
        where = f"Services row {first.row}" + (f", {first.column}" if first.column else "")
        return (), f"Rebill waits: {where}: {waits[0][2]}", blocking
    lines = [found for found in ordered if isinstance(found, ServiceLine)]
    for key in {ln.client_key for ln in lines}:
        client = book.clients[key]
        mine = [ln for ln in lines if ln.client_key == key]
        invoice_lines = [
            InvoiceLine(
                ln.service_date,
                ln.description,
                ln.quantity,
                ZERO,
                round_money(ln.amount, client.currency),
            )
            for ln in mine
        ]
        *_, total = totals(invoice_lines, client.tax_rate, client.currency)
        if total <= ZERO:
            why = (
                f"Rebill waits: the corrected lines for {client.name} add up to "
                f"{format_money(total, client.currency, 'en')}; an invoice must be for more "
                "than zero (type Void to cancel the invoice instead)."
            )
            return (), why, ()
        if total >= LARGEST:  # as for new lines (decide.refuse_non_positive)
            why = (
                f"Rebill waits: the corrected lines for {client.name} add up to "
                f"{format_money(total, client.currency, 'en')}, too large for one invoice; "
                "check the Quantity, Unit Price and Amount of each line."
            )
            return (), why, ()
    return tuple(lines), "", ()


def _row_wait(
    found: BilledRow, book: ClientBook, as_of: date, config: Config
) -> tuple[int, str | None, str] | None:
    """(row, column, what to fix) when the Services row `found` cannot be billed again by a
    Rebill (a cell not read, an unknown or inactive client, a date not billable yet), else
    None. The column is the sheet's header for a cell not read, else the schema's name."""
    if isinstance(found, RowError):
        return found.row or 0, found.column, found.message
    client = book.clients.get(found.client_key)
    if client is None:
        text = f'"{found.client}" is not in Clients; add the client there or fix the name.'
        return found.row, "Client", text
    if found.client_key in book.problems or found.client_key not in book.terms:
        problem = book.problems.get(found.client_key, "the client's terms are not valid.")
        return found.row, "Client", problem
    if not client.active:
        text = (
            f"{client.name} is inactive (Active = No); type Void instead, or make the client "
            "active."
        )
        return found.row, "Client", text
    rounded = rounded_elsewhere(found, client.currency)
    if rounded is not None:
        return found.row, "Amount", rounded
    if not is_billable(found, as_of, config.billing.bill_after_days):
        when = found.service_date.isoformat()
        return found.row, "Date", f"{when} is not billable yet on {as_of.isoformat()}."
    return None


def _stray_rows(number: str, rows: Sequence[BilledRow], strays: Strays) -> list[tuple[int, str]]:
    """(row, what to do) for each row a Rebill of `number` waits for as a line out of place
    (`Strays`): its own rows, then the rows holding a line it billed under another number."""
    found: list[tuple[int, str]] = []
    for row in sorted(r.row or 0 for r in rows):
        if row in strays.elsewhere:
            found.append((row, _sorted_message(*strays.elsewhere[row])))
        elif row in strays.bare:
            found.append((row, _bare_message(number, strays.bare[row])))
    own = {row for row, _text in found}
    for row, (carried, billed_on) in sorted(strays.elsewhere.items()):
        if billed_on == number and row not in own:
            found.append((row, _sorted_message(carried, billed_on)))
    return found


def _restored_wait(number: str, strays: Strays) -> str:
    """Why a Rebill of `number` waits for a run after this one (a line of it had lost its
    Invoice No, written back now), or ""."""
    for row, restored in sorted(strays.restored.items()):
        if restored == number:
            return (
                f"Services row {row} holds a line billed on {number} that had lost its "
                "Invoice No; it is written back now, and the Rebill goes on the next run."
            )
    return ""


def _sorted_message(carried: str, billed_on: str) -> str:
    """What a row whose line was billed on another invoice than the one it carries is told."""
    return (
        f"this row's line was billed on {billed_on}, but the row says {carried}: were the "
        "columns sorted without Invoice No, Due Date and Status? Undo the sort (or sort the "
        "whole rows), then run again."
    )


def _bare_message(number: str, moved_to: int | None) -> str:
    """What a row holding only `number`'s Invoice No, Due Date and Status is told."""
    if moved_to is not None:
        return (
            f"this row holds nothing but {number}'s Invoice No, Due Date and Status: its line "
            f"moved to row {moved_to}; clear this row's Invoice No, Due Date and Status (or "
            "delete the row)."
        )
    return (
        f"this row holds nothing but {number}'s Invoice No, Due Date and Status, and its "
        "line is on no row: put the line back, or clear these cells and type Rebill in "
        f"{number}'s Status to bill {number} without it."
    )


def moved_rows(
    billed: Mapping[str, Sequence[BilledRow]], invoices: Mapping[str, LedgerInvoice]
) -> dict[int, ServiceLine]:
    """Rows still carrying a rebilled invoice's number: row -> the line, with its new number.

    Normally the Rebill's own run writes the new number; this finishes the job
    after a run that was cut off before its write-back (or a restored copy).
    """
    result: dict[int, ServiceLine] = {}
    for number, rows in billed.items():
        old = invoices.get(number)
        if old is None or not old.replaced_by:
            continue
        free = [
            (new, i)
            for new in old.replaced_by
            if new in invoices
            for i in range(len(invoices[new].lines))
        ]
        lines = sorted((r for r in rows if isinstance(r, ServiceLine)), key=lambda r: r.row)
        for same_row in (True, False):
            for line in lines:
                if line.row in result:
                    continue
                for new, i in free:
                    billed_line, inv = invoices[new].lines[i], invoices[new]
                    if _row_key(line, inv.currency) == _billed_key(inv, billed_line) and (
                        not same_row or billed_line.row == line.row
                    ):
                        free.remove((new, i))
                        result[line.row] = line._replace(invoice_no=new)
                        break
    return result


# -- rows changed after billing ---------------------------------------------


def _text(value: str) -> str:
    return " ".join(value.split())


def _line_key(
    when: date, client_key: str, description: str, quantity: Decimal, amount: Decimal
) -> tuple[object, ...]:
    return (when, client_key, _text(description), quantity.normalize(), amount.normalize())


def _row_key(line: ServiceLine, currency: str) -> tuple[object, ...]:
    """A Services row as it reads now, comparable with `_billed_key` (amount as billed: rounded)."""
    amount = round_money(line.amount, currency)
    return _line_key(line.service_date, line.client_key, line.description, line.quantity, amount)


def _billed_key(inv: LedgerInvoice, ln: InvoiceLine) -> tuple[object, ...]:
    """A line of `inv` as the ledger recorded it when billed."""
    return _line_key(ln.service_date, inv.client_key, ln.description, ln.quantity, ln.amount)


def changed_lines(
    billed: Mapping[str, Sequence[BilledRow]],
    invoices: Mapping[str, LedgerInvoice],
    skip: Collection[str],
    services: SheetData,
    strays: Strays | None = None,
) -> dict[int, RowError]:
    """Services rows whose billed Date, Client, Description, Quantity, Unit Price or Amount changed.

    Each row is paired with the line the ledger billed (same content first,
    then the same row, then what is left in order), and the error names what
    changed and the way out. Void invoices and those in `skip` (being rebilled)
    are not looked at: their rows are history, or about to be billed again.
    A row whose line is out of place (`strays`) is told so, not as changed: a
    Rebill would bill its line again, or leave one out.
    """
    errors: dict[int, RowError] = {}
    for number, rows in billed.items():
        inv = invoices.get(number)
        if inv is None or number in skip or inv.voided is not None:
            continue
        for row, message, column in _compare(inv, rows, strays or Strays()):
            errors[row] = RowError(services.name, row, services.headers[column], message)
    return errors


def restore_lost(
    lines: Sequence[ServiceLine],
    ledger: Ledger | None,
    restored: dict[int, str],
    services: SheetData,
) -> dict[int, RowError]:
    """Rows that lost their Invoice No and were edited since (`reconcile.lost_and_changed`)
    join `restored` (never billed twice, their number written back); their errors, as an
    edited billed row's (`changed_lines`)."""
    lost = lost_and_changed(lines, ledger, restored)
    if not lost:
        return {}
    restored.update((row, inv.invoice_no) for row, inv in lost.items())
    return lost_line_errors(lines, lost, services)


def lost_line_errors(
    lines: Sequence[ServiceLine], lost: Mapping[int, LedgerInvoice], services: SheetData
) -> dict[int, RowError]:
    """`changed_lines` for rows that lost their Invoice No and were edited since
    (`reconcile.lost_and_changed`: row -> the invoice they were billed on)."""
    by_row = {line.row: line for line in lines}
    billed: dict[str, list[BilledRow]] = {}
    for row, inv in lost.items():
        billed.setdefault(inv.invoice_no, []).append(by_row[row])
    invoices = {inv.invoice_no: inv for inv in lost.values()}
    return changed_lines(billed, invoices, (), services)


def _match(
    inv: LedgerInvoice, lines: Sequence[ServiceLine]
) -> tuple[dict[int, int], list[ServiceLine]]:
    """Rows paired with the lines `inv` billed by what they say (on the same row first, then
    anywhere): (index of the billed line -> row, the rows paired with none)."""
    keys = [_billed_key(inv, ln) for ln in inv.lines]
    free = list(range(len(inv.lines)))
    matched: dict[int, int] = {}
    pending = list(lines)
    for same_row in (True, False):
        left = []
        for line in pending:
            key = _row_key(line, inv.currency)
            match = next(
                (
                    i
                    for i in free
                    if keys[i] == key
                    and (not same_row or inv.lines[i].row == line.row)
                    and _same_price(line, inv.lines[i])
                ),
                None,
            )
            if match is None:
                left.append(line)
            else:
                free.remove(match)
                matched[match] = line.row
        pending = left
    return matched, pending


def _compare(
    inv: LedgerInvoice, rows: Sequence[BilledRow], strays: Strays
) -> list[tuple[int, str, str]]:
    """(row, message, column) for each row of `inv` that no longer matches its billed line."""
    number = inv.invoice_no
    way_out = (
        f"type Rebill in {number}'s Status on the Invoices sheet to bill it as it stands "
        "now, or change it back."
    )
    problems: list[tuple[int, str, str]] = []
    for found in rows:
        if isinstance(found, RowError) and found.row and found.row in strays.bare:
            message = _bare_message(number, strays.bare[found.row])
            problems.append((found.row, message, "Invoice No"))
        elif isinstance(found, RowError):
            problems.append(
                (
                    found.row or 0,
                    f"{found.message.rstrip('.')}; this row was billed on {number}: {way_out}",
                    _column_of(found),
                )
            )
    matched, unmatched = _match(inv, [r for r in rows if isinstance(r, ServiceLine)])
    free = [i for i in range(len(inv.lines)) if i not in matched]
    pending = []
    for line in unmatched:
        if line.row in strays.elsewhere:
            problems.append((line.row, _sorted_message(*strays.elsewhere[line.row]), "Invoice No"))
        else:
            pending.append(line)
    for line in pending:
        index = next((i for i in free if inv.lines[i].row == line.row), None)
        if index is None and free:
            index = free[0]
        if index is None:
            problems.append(
                (
                    line.row,
                    f"this row carries {number} but was not billed on it; clear its Invoice "
                    f"No to bill it as new work, or {way_out}",
                    "Invoice No",
                )
            )
            continue
        free.remove(index)
        changes = _changes(line, inv.lines[index], inv)
        column = changes[0][0] if changes else "Amount"
        said = " and ".join(f"{col} from {old} to {new}" for col, old, new in changes)
        problems.append(
            (line.row, f"{said} changed after the row was billed on {number}; {way_out}", column)
        )
    return problems


def _same_price(line: ServiceLine, billed: InvoiceLine) -> bool:
    return line.unit_price is None or line.unit_price.normalize() == billed.unit_price.normalize()


def _column_of(error: RowError) -> str:
    for column in ("Date", "Client", "Description", "Quantity", "Unit Price", "Amount"):
        if error.column and error.column.casefold() == column.casefold():
            return column
    return "Amount"


def _changes(
    line: ServiceLine, billed: InvoiceLine, inv: LedgerInvoice
) -> list[tuple[str, str, str]]:
    """(column, was, now) for each field that differs, in the sheet's column order."""
    found: list[tuple[str, str, str]] = []
    if line.service_date != billed.service_date:
        found.append(("Date", billed.service_date.isoformat(), line.service_date.isoformat()))
    if line.client_key != inv.client_key:
        found.append(("Client", f'"{inv.client}"', f'"{line.client}"'))
    if _text(line.description) != _text(billed.description):
        found.append(("Description", f'"{billed.description}"', f'"{line.description}"'))
    if line.quantity.normalize() != billed.quantity.normalize():
        found.append(("Quantity", _plain(billed.quantity), _plain(line.quantity)))
    if not _same_price(line, billed):
        assert line.unit_price is not None
        found.append(("Unit Price", _plain(billed.unit_price), _plain(line.unit_price)))
    amount = round_money(line.amount, inv.currency)
    if amount != billed.amount:
        found.append(("Amount", _plain(billed.amount), _plain(amount)))
    return found


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"
