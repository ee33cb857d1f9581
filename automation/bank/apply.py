"""Bank statements in the run: import, match, record, and what the workbook shows.

Called by the pipeline before follow-ups are decided, so an applied payment
gets its thank-you (or part-payment or overpayment note) in the same run:

    rows, outcome = import_payments(ledger, data, book, invoices, rows, files, config, as_of)
    ...
    payments_updates(data, ledger, config, updates)       # the Payments sheet
    move_imported(outcome.files_done, inbox)               # after the write-back

The invariant that keeps hand-typed payments safe: on an Invoices row,
Paid Amount = what the bookkeeper typed + Paid By Bank. The typed part is
read as Paid Amount - Paid By Bank, and Paid By Bank is always the ledger's
total, so a re-run, a restored older copy or a failed write-back all converge.
Paid Amount lowered below Paid By Bank (a payment the bank returned) lowers the
bank's part with it, kept in the ledger: Paid By Bank never exceeds Paid Amount.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..fmt import format_money
from ..lazy import lazy_import
from ..ledger import Ledger, LedgerInvoice
from ..model import REBILL, VOID, CellValue, InvoiceRow, Money, RowError
from ..money import ZERO, round_money
from ..plan import InvoiceState, Payments, balance_of
from ..read import WorkbookData
from ..schema import PAYMENTS, PAYMENTS_COLUMNS, sheet_headers
from ..statement import payments_from_history
from ..summary import SentItem
from ..terms import amount_due, discount_date
from ..updates import UpdateSet, invoice_rows, state_of
from ..validate import ClientBook, client_key, column_text
from .match import (
    APPLIED,
    IGNORED,
    REVIEW,
    TYPED_DOUBT_DAYS,
    Decision,
    Instruction,
    OpenInvoice,
    Payers,
    TypedPayment,
    match_lines,
    parse_instruction,
    payer_key,
)
from .record import (
    IN,
    OUT,
    BankLine,
    line_error,
    new_lines,
    repeated_from_other_files,
    reused_ref,
    reversed_credit,
    said,
    without_glued_twins,
)
from .store import (
    BankTotal,
    bank_totals,
    counter_twins,
    glued_lines,
    imported_lines,
    issued_since,
    known_refs,
    record,
    record_lowered,
    stored_lines,
    typed_recognised,
    waiting_since,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up

#: Files in the inbox that are never statements (hidden files, Office lock files).
SKIPPED_PREFIXES = (".", "~$")


@dataclass
class BankOutcome:
    """What the bank step did this run, for the summary and the file moves."""

    new_lines: int = 0
    applied: int = 0
    review: int = 0
    ignored: int = 0
    files_done: list[Path] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    #: files imported although some lines could not be read: (name, unreadable, read)
    partly_read: list[tuple[str, int, int]] = field(default_factory=list)
    #: one item per incoming line decided this run, for the output
    decided: list[SentItem] = field(default_factory=list)


def inbox_of(workbook: Path, config: Config) -> Path:
    inbox = Path(config.bank.inbox)
    return inbox if inbox.is_absolute() else workbook.resolve().parent / inbox


def inbox_files(inbox: Path) -> list[Path]:
    """Statement files waiting in the inbox (not its `imported/` folder), oldest name first."""
    if not inbox.is_dir():
        return []
    return sorted(
        p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(SKIPPED_PREFIXES)
    )


def build_payers(book: ClientBook) -> tuple[Payers, list[RowError]]:
    """Payer ID and exact client name -> client; an ID on two clients is an error (and unused)."""
    by_id: dict[str, str] = {}
    owners: dict[str, str] = {}
    errors: list[RowError] = []
    clash: dict[str, str] = {}
    for client in book.clients.values():
        for ident in client.payer_ids:
            key = payer_key(ident)
            if not key:
                continue
            if key in by_id and by_id[key] != client.key:
                clash[key] = f"{clash.get(key) or owners[key]} and {client.name}"
                errors.append(
                    RowError("Clients", client.row, "Payer ID",
                             f"{ident} is also the Payer ID of {owners[key]}; a payer must be "
                             "one client (it is not used for matching until fixed).")
                )  # fmt: skip
                continue
            by_id[key], owners[key] = client.key, client.name
    for key in clash:
        by_id.pop(key, None)
    by_name = {key: key for key in book.clients}
    return Payers(by_id, by_name, clash), errors


def heal_rows(
    rows: Mapping[str, InvoiceRow],
    invoices: Mapping[str, LedgerInvoice],
    totals: Mapping[str, BankTotal],
) -> dict[str, InvoiceRow]:
    """The Invoices rows with the ledger's bank payments in Paid Amount and Paid By Bank.

    Typed part = Paid Amount - Paid By Bank (as the sheet shows them; a row the
    workbook lost is rebuilt with the typed part alone, see `updates.remembered_row`).
    """
    result = dict(rows)
    for number, total in totals.items():
        if number not in invoices:
            continue
        row = rows.get(number) or InvoiceRow(0, number)
        if not (total.bank or row.paid_by_bank):
            continue
        if row.problem:
            continue  # the bookkeeper fixes the cells first; nothing is written meanwhile
        paid = row.paid_amount or ZERO
        # Never negative: Paid Amount lowered below Paid By Bank lowered the bank's part
        # (`lowered_bank_parts`), so Paid By Bank never exceeds Paid Amount.
        typed = max(paid - (row.paid_by_bank or ZERO), ZERO)
        days = [d for d in (row.paid_date, total.latest) if d is not None]
        shown = max(days) if days else None
        # A typed part whose date the bank's later one replaces keeps it for statements.
        moved = typed > ZERO and row.paid_date is not None and shown != row.paid_date
        result[number] = replace(
            row,
            paid_amount=typed + total.bank,
            paid_date=shown,
            paid_by_bank=total.bank,
            typed_date=row.paid_date if moved else row.typed_date,
        )
    return result


def lowered_bank_parts(
    rows: Mapping[str, InvoiceRow],
    invoices: Mapping[str, LedgerInvoice],
    totals: Mapping[str, BankTotal],
) -> dict[str, Decimal]:
    """Invoice No -> what the bookkeeper took off the bank's part: Paid Amount typed below
    Paid By Bank (a payment the bank returned, an overpayment paid back), at most what
    the bank paid. The bank's part follows it down (`store.record_lowered`)."""
    result = {}
    for number, total in totals.items():
        row = rows.get(number)
        if number not in invoices or row is None or row.problem or row.paid_by_bank is None:
            continue
        cut = min(row.paid_by_bank - (row.paid_amount or ZERO), total.bank)
        if cut > ZERO:
            result[number] = cut
    return result


def _open_invoices(
    invoices: Mapping[str, LedgerInvoice], rows: Mapping[str, InvoiceRow]
) -> list[OpenInvoice]:
    result = []
    for number, inv in invoices.items():
        row = rows.get(number)
        pay = Payments.from_row(row)
        if inv.voided is not None or pay.bookkeeper_status in (VOID, REBILL):
            continue  # cancelled, or about to be: a payment for it needs a person
        state = state_of(inv, False)
        _, balance = balance_of(state, pay)
        blocked = bool(row and row.problem)
        discounted, until = _discount_left(state, pay, balance)
        result.append(
            OpenInvoice(
                number,
                inv.client_key,
                inv.currency,
                inv.invoice_date,
                balance,
                blocked,
                discounted,
                until,
            )  # fmt: skip
        )
    return result


def _discount_left(
    state: InvoiceState, pay: Payments, balance: Decimal
) -> tuple[Decimal | None, date | None]:
    """What settles the invoice if the rest arrives by its discount date; (None, None) if no
    discount is left to earn. The Invoices sheet then shows it Paid (`plan.balance_of`)."""
    last_day = discount_date(state.terms, state.invoice_date)
    if last_day is None or balance <= ZERO:
        return None, None
    net = state.total - state.credited
    due = amount_due(state.terms, net, state.currency, state.invoice_date, last_day)
    left = round_money(due - pay.paid, state.currency)
    return (left, last_day) if ZERO < left < balance else (None, None)


def _typed_payments(
    ledger: Ledger,
    data: WorkbookData,
    lines: Sequence[BankLine],
    totals: Mapping[str, BankTotal],
    as_of: date,
    made_before: Collection[str] = (),
) -> list[TypedPayment]:
    """Payments typed by hand near the date of some incoming line, not yet recognised.

    Near: up to TYPED_DOUBT_DAYS apart (`match` decides which are the same payment).
    Paid invoices long settled count too: the statement often arrives after the
    bookkeeper typed the payment from the bank's app. So do the payments typed on
    invoices made before the tool (`made_before`), of the client in their row.
    """
    sheet = data.invoices
    if sheet is None or not lines:
        return []
    earliest = min(ln.date for ln in lines) - timedelta(days=TYPED_DOUBT_DAYS)
    paid_dates = sheet.frame["Paid Date"]
    text = paid_dates.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    stamps = pd.to_datetime(paid_dates.where(~text), errors="coerce")
    # Date cells are compared in one pass; a date typed as text is read row by row. A Paid
    # Date after the lines counts too: an earlier part of it may be one of them.
    maybe = (stamps.dt.normalize() >= pd.Timestamp(earliest)).to_numpy(dtype=bool) | text
    near = column_text(sheet.frame.loc[maybe, "Invoice No"])
    numbers = set(near) - {""}
    if not numbers:
        return []
    rows = invoice_rows(sheet, as_of, numbers)
    owners = {n: inv.client_key for n, inv in ledger.invoices(numbers).items()}
    for number, client in zip(near, sheet.frame.loc[maybe, "Client"], strict=True):
        if number in made_before:
            owners.setdefault(number, client_key(client))
    seen = ledger.paid_cells(numbers)  # the typed part as earlier runs saw it
    matched = typed_recognised(ledger, numbers)  # the bank lines found to be typed ones
    result = []
    for number, row in rows.items():
        if row.problem or row.paid_date is None or row.paid_date < earliest:
            continue
        if number not in owners:
            continue
        typed_now = (row.paid_amount or ZERO) - (row.paid_by_bank or ZERO)
        recognised = totals.get(number, BankTotal()).typed
        typed = typed_now - recognised
        before = seen.get(number)
        grew = typed_now - before[-1][0] if before else ZERO
        if typed > 0:
            parts = _typed_parts(number, [*(before or []), (typed_now, row.paid_date)],
                                 matched.get(number, []))  # fmt: skip
            result.append(TypedPayment(number, owners[number], typed, row.paid_date,
                                       grew if ZERO < grew < typed else ZERO, parts))  # fmt: skip
    return result


def _typed_parts(
    number: str,
    history: Sequence[tuple[Decimal, date | None]],
    matched: Sequence[tuple[date, Decimal]],
) -> tuple[tuple[Decimal, date], ...]:
    """The typed part payments, each with its Paid Date (as statements date them), less
    those bank lines were already found to be, oldest first.

    A line found to be a typed payment takes the part of its amount nearest its
    date (a part paid in cash, never in the bank, stays unmatched, so no later
    bank line is taken for the part a line already was); failing that, what it
    paid comes off the oldest parts.
    """
    parts = [(fact.amount, fact.paid_on) for fact in payments_from_history(number, history)]
    left = ZERO
    for day, amount in matched:
        same = [i for i, (a, _d) in enumerate(parts) if a == amount]
        if same:
            del parts[min(same, key=lambda i: abs((parts[i][1] - day).days))]
        else:
            left += amount
    while parts and left > ZERO:
        amount, day = parts.pop(0)
        if amount > left:
            parts.insert(0, (amount - left, day))
        left -= amount
    return tuple(parts)


def _made_before(data: WorkbookData, issued: Collection[str]) -> set[str]:
    """The Invoices sheet's numbers the tool did not issue: invoices made before it (or
    typed by hand), in the firm's own numbering or by chance in the tool's."""
    sheet = data.invoices
    if sheet is None:
        return set()
    return set(column_text(sheet.frame["Invoice No"].dropna()).unique()) - {""} - set(issued)


def _instructions(data: WorkbookData, review: set[str]) -> dict[str, Instruction]:
    """What the bookkeeper typed on Review lines of the Payments sheet."""
    sheet = data.payments
    if sheet is None or not review:
        return {}
    frame = sheet.frame
    refs = column_text(frame["Bank Ref"])
    mine = refs.isin(review).to_numpy(dtype=bool)
    found: dict[str, Instruction] = {}
    for ref, number, status in zip(
        refs[mine], column_text(frame.loc[mine, "Invoice No"]),
        column_text(frame.loc[mine, "Status"]), strict=True,
    ):  # fmt: skip
        told = parse_instruction(ref, number, status)
        if told is not None:
            found.setdefault(ref, told)
    return found


def _read_files(files: Sequence[Path], config: Config) -> tuple[list[BankLine], BankOutcome]:
    outcome = BankOutcome()
    if not files:
        return [], outcome
    from .detect import read_statement  # the readers load only when there is a statement

    lines: list[BankLine] = []
    # A file that does not say its currency (a CSV without that column) is in
    # [bank] currency, else the currency clients are billed in by default. A
    # [bank] currency the bookkeeper set also wins over a 1C file's IBAN guess.
    fallback = (config.bank.currency or config.billing.currency).upper()
    bank = replace(config.bank, currency=fallback)  # what "$" means, how many decimals
    for path in files:
        read, errors = read_statement(path, bank, config.bank.currency.upper())
        # A reversed credit is listed too, but its line was read.
        reversals = {reversed_credit(ln) for ln in read if ln.direction == OUT}
        read = [ln if ln.currency else replace(ln, currency=fallback) for ln in read]
        outcome.errors.extend(errors)
        # A file with readable lines is imported (and leaves the inbox) even when some of
        # its lines cannot be read: they are listed in this run, once, not every week. A
        # file nothing could be read from stays, and is listed until it is fixed.
        unread = sum(1 for e in errors if e.message not in reversals)
        if read or not errors:
            outcome.files_done.append(path)
        if read and unread:
            outcome.partly_read.append((path.name, unread, len(read)))
        lines.extend(read)
    return lines, outcome


def import_payments(
    ledger: Ledger,
    data: WorkbookData,
    book: ClientBook,
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    files: Sequence[Path],
    config: Config,
    as_of: date,
) -> tuple[dict[str, InvoiceRow], BankOutcome]:
    """Read `files`, decide new and Review lines, record them, and return the healed rows
    (the run's date `as_of`: typed payments are read as of it)."""
    lines, outcome = _read_files(files, config)
    before = bank_totals(ledger, invoices)
    lowered = lowered_bank_parts(rows, invoices, before)
    if lowered:  # before any new line is added to the bank's part
        with ledger.transaction():
            record_lowered(ledger, lowered, as_of)
        before = bank_totals(ledger, invoices)
    known = known_refs(ledger) if lines else {}
    twins = counter_twins(ledger) if lines else set()
    # Overlapping statements, in this import or an earlier one, give a line once.
    new = [ln for ln in new_lines(lines, known) if said(ln) not in twins]
    # A line an earlier version imported with the statement's information glued to it.
    new = without_glued_twins(new, lines, glued_lines(ledger) if new else [])
    outcome.new_lines = sum(1 for ln in new if ln.direction == IN)
    waiting = [s.line for s in stored_lines(ledger, (REVIEW,))]
    if not new and not waiting:
        return heal_rows(rows, invoices, before), outcome
    if data.payments_problem:
        outcome.errors.append(line_error("Payments", None, None, data.payments_problem + (
            " The sheet named Payments is not the tool's (it has no Bank Ref column); rename "
            "it so the tool can make its own.")))  # fmt: skip
        outcome.files_done.clear()  # nothing was recorded: the files wait in the inbox
        return heal_rows(rows, invoices, before), outcome
    totals = bank_totals(ledger)
    now = heal_rows(rows, invoices, totals)
    payers, payer_errors = build_payers(book)
    outcome.errors.extend(payer_errors)
    candidates = [*new, *waiting]
    incoming = [ln for ln in candidates if ln.direction == IN]
    all_numbers = {n for (n,) in ledger.conn.execute("SELECT invoice_no FROM invoices")}
    made_before = _made_before(data, all_numbers)
    open_invoices = _open_invoices(invoices, now)
    instructions = _instructions(data, {ln.bank_ref for ln in waiting})
    held = _repeated(ledger, new, incoming, instructions)
    matched = match_lines(
        open_invoices,
        payers,
        [ln for ln in candidates if ln.bank_ref not in held],
        config.bank.fee_tolerance,
        typed=_typed_payments(ledger, data, incoming, totals, as_of, made_before),
        instructions=instructions,
        # Not open includes Void/Rebill typed this run: a reference naming one is
        # not rule 1's, and a line the other rules apply says it named that invoice.
        known_closed=all_numbers - {o.invoice_no for o in open_invoices},
        made_before=made_before,
        unseen=_issued_after_import(ledger, waiting, as_of),
    )
    decided = {d.bank_ref: d for d in [*matched, *held.values()]}
    decisions = [decided[ln.bank_ref] for ln in candidates]
    earlier = {**{ln.bank_ref: (ln.amount, ln.currency, ln.date) for ln in candidates}, **known}
    decisions = [_noting_reused_ref(d, earlier) for d in decisions]
    with ledger.transaction():
        record(ledger, new, {d.bank_ref: d for d in decisions})
    for line, decision in zip(candidates, decisions, strict=True):
        if line.direction != IN:
            continue
        outcome.applied += decision.status == APPLIED
        outcome.review += decision.status == REVIEW
        outcome.ignored += decision.status == IGNORED
        paid = [(a.invoice_no, a.amount) for a in decision.allocations]
        outcome.decided.append(
            SentItem(
                allocation_text(paid, line.currency) if paid else "",
                line.payer or line.payer_id,
                decision.status,
                format_money(line.amount, line.currency, config.billing.language)
                if line.currency
                else f"{line.amount:,.2f}",
                "; ".join(p for p in (decision.rule, decision.note) if p),
            )
        )
    return heal_rows(rows, invoices, bank_totals(ledger, invoices)), outcome


def _issued_after_import(
    ledger: Ledger, waiting: Sequence[BankLine], as_of: date
) -> dict[str, set[str]]:
    """Bank Ref -> the invoices issued on the run's date (`as_of`) since that waiting line was
    imported: it is decided as if they did not exist yet, and sees them from the next
    day's run on. A line waiting in Review is decided again at the start of every run,
    before the run issues its invoices: decided against them at a second run that day, it
    would be decided otherwise (applied, a new Note), and running twice would not be
    running once."""
    today = issued_since(ledger, as_of) if waiting else {}
    if not today:
        return {}
    since = waiting_since(ledger)
    result = {}
    for line in waiting:
        run = since.get(line.bank_ref)
        later = {n for n, by in today.items() if run is None or by is None or by >= run}
        if later:
            result[line.bank_ref] = later
    return result


def _repeated(
    ledger: Ledger,
    new: Sequence[BankLine],
    incoming: Sequence[BankLine],
    instructions: Mapping[str, Instruction],
) -> dict[str, Decision]:
    """Review, for each incoming line (not yet told what it pays) that repeats a line of
    another file imported before it under another Bank Ref (`repeated_from_other_files`):
    the same payment in two formats of one statement is not applied twice."""
    found = repeated_from_other_files([*imported_lines(ledger), *new])
    held = {}
    for line in incoming:
        first = found.get(line.bank_ref)
        if first is None or line.bank_ref in instructions:
            continue
        held[line.bank_ref] = Decision(
            line.bank_ref,
            REVIEW,
            note=f"the same date, amount, payer and reference as the line of "
            f"{first.date.isoformat()} imported from {first.file or 'another file'} (Bank Ref "
            f"{first.bank_ref}): the same payment in another statement file, so nothing is "
            "applied. If it is a second payment, type the Invoice No; if not, type Ignore.",
        )
    return held


def _noting_reused_ref(
    decision: Decision, earlier: Mapping[str, tuple[Decimal, str, date]]
) -> Decision:
    """A line imported under a Bank Ref of its own (`own_ref`) says why in its Note."""
    bank = reused_ref(decision.bank_ref)
    if not bank:
        return decision
    seen = earlier.get(bank)
    what = (
        f" of {format_money(seen[0], seen[1], 'en')} on {seen[2].isoformat()}"
        if seen is not None
        else ""
    )
    said = (
        f"the bank's reference {bank} was already imported for another line{what}; this "
        "one is for another amount or currency, or more than a week apart, so it is "
        "imported as a payment of its own."
    )
    return replace(decision, note=f"{said} {decision.note}".strip())


def summary_note(outcome: BankOutcome, files: int) -> str | None:
    """One sentence for the run's output, or None when no statement was looked at."""
    if not files and not (outcome.applied or outcome.review or outcome.ignored):
        return None
    parts = [f"{outcome.applied} applied"]
    if outcome.review:
        parts.append(f"{outcome.review} wait for review in the Payments sheet")
    if outcome.ignored:
        parts.append(f"{outcome.ignored} ignored")
    partly = [
        f" {name}: {bad} line(s) could not be read (listed above); its other {good} line(s) "
        "were imported. If a line listed is a payment, type it by hand, or correct the file "
        "and import it with `payments FILE` (lines already imported are not imported twice)."
        for name, bad, good in outcome.partly_read
    ]
    return (
        f"Bank statements: {files} file(s), {outcome.new_lines} new incoming line(s); "
        + ", ".join(parts)
        + "."
        + "".join(partly)
    )


def allocation_text(decision_allocations: Sequence[tuple[str, Decimal]], currency: str) -> str:
    """`INV-2026-0007`, or with amounts when split: `INV-2026-0007 100.00; INV-2026-0008 50.00`."""
    if len(decision_allocations) == 1:
        return decision_allocations[0][0]
    return "; ".join(f"{n} {round_money(a, currency)}" for n, a in decision_allocations)


def payments_updates(data: WorkbookData, ledger: Ledger, config: Config, updates: UpdateSet) -> int:
    """The Payments sheet shows every incoming line the ledger holds; returns rows written."""
    stored = [s for s in stored_lines(ledger) if s.line.direction == IN]
    if not stored or data.payments_problem:
        return 0
    sheet = data.payments
    names = [c.name for c in PAYMENTS_COLUMNS]
    headers = sheet.headers if sheet else dict(
        zip(names, sheet_headers(PAYMENTS, config.columns), strict=True)
    )  # fmt: skip
    name = sheet.name if sheet else PAYMENTS
    where: dict[str, int] = {}
    typed_numbers: dict[str, str] = {}
    next_row = data.first_new_row(PAYMENTS)
    if sheet is not None:
        refs = column_text(sheet.frame["Bank Ref"])
        typed = column_text(sheet.frame["Invoice No"])
        for row, ref, number in zip(sheet.frame.index, refs, typed, strict=True):
            if ref and ref not in where:
                where[ref] = int(row)
                typed_numbers[ref] = number
        next_row, note = sheet.append_rows(sum(1 for i in stored if i.line.bank_ref not in where))
        if note:
            updates.notes.append(note)
    for item in stored:
        line = item.line
        row = where.get(line.bank_ref)
        if row is None:
            row, next_row = next_row, next_row + 1
        if item.status == REVIEW:
            invoice_no: CellValue = typed_numbers.get(line.bank_ref) or None
        else:
            invoice_no = (
                allocation_text([(a.invoice_no, a.amount) for a in item.allocations], line.currency)
                or None
            )
        values: dict[str, CellValue] = {
            "Date": line.date,
            "Amount": Money(line.amount, line.currency) if line.currency else line.amount,
            "Currency": line.currency or None,
            "Payer": line.payer or None,
            "Payer ID": line.payer_id or None,
            "Reference": line.reference or None,
            "Bank Ref": line.bank_ref,
            "File": line.file or None,
            "Invoice No": invoice_no,
            "Rule": item.rule or None,
            "Status": item.status,
            "Note": item.note or None,
        }
        target = sheet if line.bank_ref in where else None
        for column, value in values.items():
            updates.set(target, name, row, column, value, headers)
    return len(stored)


def move_imported(files: Sequence[Path], inbox: Path) -> list[str]:
    """Move applied inbox files to `imported/` (a name taken there gets a number)."""
    problems = []
    done = inbox / "imported"
    for path in files:
        if path.parent.resolve() != inbox.resolve():
            continue  # a file named on the command line stays where it is
        try:
            done.mkdir(mode=0o700, parents=True, exist_ok=True)  # bank data: owner only
            target = done / path.name
            count = 1
            while target.exists():
                count += 1
                target = done / f"{path.stem}-{count}{path.suffix}"
            shutil.move(str(path), target)
        except OSError as exc:
            problems.append(f"{path.name} could not be moved to {done}: {exc.strerror}.")
    return problems
