"""What a run decides before it acts, shared by the weekly run and the dry run.

Reads and validates the workbook, then looks at the open invoices (bank
statements first, so a payment just imported counts), at the corrections typed
into the Invoices sheet, and drafts what is to be issued. Nothing here sends
or writes the workbook; the weekly run records what it decides in the ledger, the
statements imported with its numbering once the mail server is open (`run_billing`).

    data, book, lines, errors = load(request)
    pending, active, invoices, rows, followups = look_at_open_invoices(
        request, ledger, data, book, calendar, summary)
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta

from .bank.apply import import_payments, inbox_files, inbox_of, summary_note
from .cells import LARGEST
from .config import Config
from .corrections import (
    Corrections,
    billed_rows,
    changed_lines,
    decide_corrections,
    find_strays,
    hand_row_corrections,
    missing_lines,
    missing_lines_errors,
    moved_rows,
    rows_digests,
)
from .fmt import format_money
from .ledger import FAILED, PLANNED, SENDING, Ledger, LedgerInvoice, LedgerMessage
from .model import HOLD, REBILL, InvoiceRow, RowError, ServiceLine
from .notices import split_unlikely_dates
from .plan import (
    Followup,
    InvoiceDraft,
    Payments,
    balance_of,
    decide_followup,
    owing_again,
    payment_note_of,
    status_of,
)
from .read import SheetData, WorkbookData, WorkbookError, read_workbook, renamed_invoices
from .reconcile import (
    billed_elsewhere,
    lost_invoice_rows,
    lost_rows_note,
    placeholder_errors,
)
from .request import RunRequest
from .schema import CLIENTS, INVOICES
from .statement_mail import STATEMENT
from .summary import RunSummary
from .terms import BusinessCalendar, due_date
from .updates import (
    CLOSED,
    copied_numbers,
    flag_edited_cells,
    flag_typed_payment_statuses,
    flag_unknown_statuses,
    invoice_rows,
    paid_after,
    payment_cells,
    payment_errors,
    signature,
    state_of,
)
from .validate import ClientBook, validate_clients, validate_services

#: What `load` returns: the workbook, its clients, the valid Services lines, row errors.
Loaded = tuple[WorkbookData, ClientBook, list[ServiceLine], dict[int, RowError]]


def load(request: RunRequest) -> Loaded:
    """Read and validate; raises read.WorkbookError when the workbook is unusable."""
    books: list[ClientBook] = []  # the clients are validated while Services is still parsed
    data = read_workbook(
        request.workbook,
        request.config,
        lambda clients: books.append(validate_clients(clients, request.config, request.as_of)),
    )
    book = books[-1]  # of data.clients: read_workbook hands on the sheet it returns last
    lines, errors = validate_services(data.services, book)
    lines, unlikely = split_unlikely_dates(lines, data.services, request.as_of, book)
    # Lines marked "TBD" in Invoice No: never billed, so told on their rows until fixed.
    marked = placeholder_errors(data, request.config, book)
    return data, book, lines, {**errors, **unlikely, **marked}


def refuse_renamed_invoices(data: WorkbookData, ledger: Ledger) -> None:
    """Raise WorkbookError (exit 2, nothing changed) when the workbook has no Invoices sheet
    but another of its sheets holds invoices this ledger issued: the Invoices sheet renamed.

    Run on, the tool would start a new Invoices sheet, write those invoices into it as
    unpaid and remind (or reissue) them, while the payments typed in the renamed sheet
    go unread. A look-alike sheet of the bookkeeper's own, holding none of them (before
    the first run, say), is left alone.
    """
    holders = {
        sheet: sorted(issued)
        for sheet, numbers in data.invoices_elsewhere.items()
        if (issued := ledger.known_numbers(numbers))
    }
    if holders:
        raise WorkbookError(renamed_invoices(data.sheet_names, holders))


def look_at_open_invoices(
    request: RunRequest,
    ledger: Ledger,
    data: WorkbookData,
    book: ClientBook,
    calendar: BusinessCalendar,
    summary: RunSummary,
) -> tuple[
    list[LedgerMessage],
    set[str],
    dict[str, LedgerInvoice],
    dict[str, InvoiceRow],
    list[tuple[LedgerInvoice, Followup]],
]:
    """The invoices this run follows up, their payments, and what to send about them.

    Returns (messages still owed, open invoice numbers, their records, their
    Invoices rows, follow-up decisions); payment problems go into the summary.
    Raises WorkbookError when their rows are in the Invoices sheet renamed (the run's
    transaction, and the dry run's copy of the ledger, then leave the ledger as it was).
    """
    refuse_renamed_invoices(data, ledger)
    pending = ledger.messages((PLANNED, SENDING, FAILED))
    active, settled_lost = open_invoices(ledger, data, request.as_of)
    active |= {m.invoice_no for m in pending}
    invoices = ledger.invoices(active)
    present = invoice_rows(data.invoices, request.as_of, invoices.keys())
    missing = invoices.keys() - present.keys()
    lost = lost_invoice_rows(ledger, settled_lost, missing)
    if missing:  # written back by the run, with or without a payment: each one named
        summary.notes.append(lost_rows_note(missing))
    rows = flag_unknown_statuses({**lost, **present})
    rows = apply_bank_statements(request, ledger, data, book, invoices, rows, summary)
    events = ledger.events(invoices.keys())
    # The tool saw these paid: a payment note went, or the invoice was set aside as settled
    # (an inactive client's gets no note).
    rows = flag_typed_payment_statuses(rows, paid_noted(events) | set(ledger.settled()))
    summary.errors.extend(payment_errors(data.invoices, rows))
    # Client ... Total typed over: told, left as typed, and nothing sent about the invoice.
    rows, typed_over = flag_edited_cells(
        data.invoices, rows, invoices, ledger, calendar, request.config.billing.receipt_lag_days
    )
    summary.errors.extend(typed_over)
    # A note still owed (planned, or refused by some address) is decided again, so
    # that it stays wanted while it still fits and is retried rather than dropped.
    owed = {m.event for m in pending if m.state in (PLANNED, FAILED)}
    done_events = events - owed
    unsent = {m.invoice_no for m in pending if m.kind == "invoice"}
    invoices = reopen_paid_again(invoices, rows, done_events)
    summary.errors.extend(clients_gone(request, data.invoices, invoices, rows, book))
    not_reached = unreached(pending)
    followups = decide_followups(
        request, invoices, rows, book, done_events, unsent, calendar, not_reached
    )
    summary.notes.extend(
        withheld_for_clients_row(
            request, invoices, rows, book, done_events, unsent, calendar, not_reached
        )
    )
    return pending, active, invoices, rows, followups


#: The invoices a sentence of `withheld_for_clients_row` lists; more are counted.
LISTED_INVOICES = 5


def withheld_for_clients_row(
    request: RunRequest,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    done_events: set[str],
    failed: set[str],
    calendar: BusinessCalendar,
    not_reached: Collection[str] = (),
) -> list[str]:
    """One sentence per active client whose row in Clients has a problem (`ClientBook.
    problems`), naming its invoices already issued that get no reminder, payment note or
    statement while it is there: each still owed, and each a follow-up is due for today
    (a thank-you, say). The Clients row's own error says what is wrong; this says what
    it stops, so chasing the client never ends without a word. An invoice whose own email
    is still owed is told as not emailed instead."""
    stuck = {
        number: inv
        for number, inv in invoices.items()
        if book.mail_problem(inv.client_key) is not None
        and number not in failed
        and request.covers(inv.client_key)
        and (client := book.clients.get(inv.client_key)) is not None
        and client.active
    }
    if not stuck:
        return []
    unstuck = replace(book, problems={})  # what would go were the row right
    due = decide_followups(
        request, stuck, rows, unstuck, done_events, failed, calendar, not_reached
    )
    told = {inv.invoice_no for inv, _ in due}
    told |= {n for n, inv in stuck.items() if still_owed(inv, rows.get(n), request.as_of)}
    by_client: dict[str, list[str]] = {}
    for number in sorted(told):
        by_client.setdefault(stuck[number].client_key, []).append(number)
    said = []
    for key, numbers in sorted(by_client.items(), key=lambda kv: book.clients[kv[0]].row):
        client = book.clients[key]
        which = "its invoice" if len(numbers) == 1 else f"its {len(numbers)} invoices"
        shown = ", ".join(numbers[:LISTED_INVOICES])
        if len(numbers) > LISTED_INVOICES:
            shown += f" and {len(numbers) - LISTED_INVOICES} more"
        said.append(
            f"{CLIENTS} row {client.row} ({client.name}) has a problem, so no "
            f"reminder, payment note or statement goes for {which} already issued ({shown}) "
            "until it is fixed."
        )
    return said


def still_owed(inv: LedgerInvoice, row: InvoiceRow | None, as_of: date) -> bool:
    """Something is left to pay on `inv` and the tool would chase it: no Void, Hold or
    Rebill typed, not closed."""
    pay = Payments.from_row(row)
    state = state_of(inv, False)
    _, balance = balance_of(state, pay)
    return not pay.bookkeeper_status and status_of(state, pay, as_of) not in CLOSED and balance > 0


def clients_gone(
    request: RunRequest,
    sheet: SheetData | None,
    invoices: Mapping[str, LedgerInvoice],
    rows: Mapping[str, InvoiceRow],
    book: ClientBook,
) -> list[RowError]:
    """The open invoices whose client is no longer in Clients (renamed there, or its row
    deleted), each told on its Invoices row: nothing goes for them (no reminder, payment
    note or statement: those go to the client's row in Clients), while they still count
    as owed. The tool does not guess which new name is the old client's.

    An inactive client is in Clients: its invoices are left alone without a word, as
    documented. Void, Hold or Rebill typed, or nothing left to pay: nothing to chase.
    """
    name = sheet.name if sheet is not None else INVOICES
    column = sheet.headers.get("Client") if sheet is not None else None
    errors = []
    for number, inv in invoices.items():
        if inv.client_key in book.clients or not request.covers(inv.client_key):
            continue
        row = rows.get(number)
        if not still_owed(inv, row, request.as_of):
            continue
        errors.append(
            RowError(
                name,
                row.row if row is not None and row.row else None,  # row 0: written back
                column,
                f"{number} is still owed, but no reminder, payment note or statement goes "
                f'for it: its client "{inv.client}" is not in Clients (renamed there, or its '
                f'row deleted?). To chase it, add a row named "{inv.client}" to Clients again '
                "(it may have the same email as the client's new row); if it is not to be "
                "chased, type Hold in its Status.",
            )
        )
    return sorted(errors, key=lambda e: e.row or 0)


def unreached(pending: Collection[LedgerMessage]) -> set[str]:
    """The invoices whose own email, still owed, no To address has: planned, or refused by
    every To address, though a CC or the bcc archive may have taken it. The client never
    had it: it may be made again as the invoice stands (`mark_failed` let go of its bytes,
    or `Ledger.restate_kept` makes it a new message), or given up for a message that
    carries the invoice."""
    return {
        m.invoice_no
        for m in pending
        if m.kind == "invoice"
        and m.state in (PLANNED, FAILED)
        and not {a.lower() for a in m.to or m.recipients} & m.reached
    }


def reopen_paid_again(
    invoices: dict[str, LedgerInvoice], rows: Mapping[str, InvoiceRow], done_events: set[str]
) -> dict[str, LedgerInvoice]:
    """The invoices, those found owing again since their payment was thanked (`plan.
    owing_again`: a payment returned, Paid Amount lowered) counted as reopened once more,
    so that being paid again earns a thank-you again. `Run.number` records the count."""
    by_invoice = events_by_invoice(done_events, invoices.keys())
    result = dict(invoices)
    for number, inv in invoices.items():
        state = state_of(inv, False)
        pay = Payments.from_row(rows.get(number))
        if owing_again(state, pay, by_invoice.get(number, set())):
            result[number] = replace(inv, reopened=inv.reopened + 1)
    return result


#: Messages that stay owed until delivered; other kinds are re-decided every run.
KEPT_KINDS = frozenset({"invoice", "credit_note", "resend"})


def owed_now(
    request: RunRequest,
    pending: Sequence[LedgerMessage],
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    wanted: Collection[str],
    held: Collection[str] = (),
    run_id: int | None = None,
) -> tuple[list[LedgerMessage], list[LedgerMessage]]:
    """The messages owed from earlier runs to send now, and those no longer wanted.

    At most one per invoice, for clients mail may go to; a monthly statement is
    sent on its own. `wanted` holds the follow-up events this run decided on:
    an older follow-up not among them is dropped, unless it may already have
    been delivered (SENDING). Messages about `held` invoices wait
    (`Corrections.held`); one that failed in run `run_id` (this very run) is
    retried at the next. The dry run asks the same, with no run of its own.

    A payment note an earlier run on this very as-of date made, and still as the
    invoice stands, is that day's message, still owed: retried, not dropped, though a
    rerun the same day decides no payment note anew (`Corrections.withholds`).
    """
    send: list[LedgerMessage] = []
    drop: list[LedgerMessage] = []
    seen: set[str] = set()
    unsent = {m.invoice_no for m in pending if m.kind == "invoice"}
    not_reached = unreached(pending)
    corrected = {m.invoice_no for m in pending if m.kind in ("credit_note", "resend")}

    def days_note(msg: LedgerMessage) -> bool:
        """`msg` is a payment note of an earlier run on `as_of` that still fits."""
        inv = invoices[msg.invoice_no]
        if msg.payload.get("as_of") != request.as_of.isoformat() or inv.invoice_no in corrected:
            return False
        state = replace(
            state_of(inv, inv.invoice_no in unsent), unreached=inv.invoice_no in not_reached
        )
        decision = decide_followup(
            state, Payments.from_row(rows.get(inv.invoice_no)), request.as_of,
            request.config, BusinessCalendar(), book.followed_up(inv.client_key), set(),
        )  # fmt: skip
        return decision.event == msg.event

    kept = {
        m.event
        for m in pending
        if m.state in (PLANNED, FAILED) and m.event not in wanted
        and payment_note_of(m.event) is not None and days_note(m)
    }  # fmt: skip
    wanted = {*wanted, *kept}
    # A payment note decided for an invoice whose own email is still owed carries the
    # invoice (`plan.decide_followup`); so does one that may have reached its server.
    carried = paid_noted(wanted) | {
        m.invoice_no for m in pending if m.state == SENDING and m.payload.get("with_invoice")
    }
    for msg in pending:
        if msg.kind == STATEMENT:
            continue  # a client's monthly statement: statement_mail.send_statements sends it
        inv = invoices[msg.invoice_no]
        client = book.clients.get(inv.client_key)
        if msg.state == FAILED and run_id is not None and (msg.attempt_run or 0) >= run_id:
            continue  # failed in this very run: retried at the next one
        if not request.covers(inv.client_key):
            continue
        if msg.invoice_no in held:
            continue  # owed still: sent once the ledger knows what the row lists
        if msg.kind not in KEPT_KINDS and msg.state != SENDING and msg.event not in wanted:
            # A reminder or note from an earlier run that no longer fits (the client
            # paid since, the invoice was put on hold...): it is not sent at all, whatever
            # else goes about the invoice.
            drop.append(msg)
            continue
        if msg.invoice_no in seen:
            continue  # at most one message per invoice per run
        if msg.kind == "invoice" and msg.invoice_no in carried:
            continue  # paid before the client had it: its payment note carries it
        typed = Payments.from_row(rows.get(msg.invoice_no)).bookkeeper_status
        # Void, Hold and inactive clients get no automatic mail (a credit note goes).
        if msg.kind != "credit_note" and (typed or (client is not None and not client.active)):
            continue
        seen.add(msg.invoice_no)
        send.append(msg)
    return send, drop


def unsent_waiting(
    request: RunRequest,
    pending: Sequence[LedgerMessage],
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    book: ClientBook,
) -> list[str]:
    """What to say of invoices numbered but never emailed that no run sends while their
    client is not Active or the invoice is on Hold (`owed_now` passes them over): each
    would stay Failed, "tried again at the next run", without a word."""
    said = []
    for msg in pending:
        inv = invoices.get(msg.invoice_no)
        if msg.kind != "invoice" or inv is None or not request.covers(inv.client_key):
            continue
        client = book.clients.get(inv.client_key)
        typed = Payments.from_row(rows.get(msg.invoice_no)).bookkeeper_status
        if typed == HOLD:
            why = "it is on Hold: clear Hold in its Status to send it"
        elif client is not None and not client.active and typed is None:
            why = (
                f"{client.name} is not Active: make the client Active to send it, or type Void "
                "in its Status"
            )
        else:
            continue
        said.append(f"{inv.invoice_no} ({inv.client}) is numbered but was never emailed; {why}.")
    return said


def paid_noted(events: Collection[str]) -> set[str]:
    """The invoices with a payment note among `events` (thank-you, under- or overpaid)."""
    return {note[0] for note in map(payment_note_of, events) if note is not None}


def apply_bank_statements(
    request: RunRequest,
    ledger: Ledger,
    data: WorkbookData,
    book: ClientBook,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    summary: RunSummary,
) -> dict[str, InvoiceRow]:
    """Import new statements (inbox and `payments FILE...`), match, record; the rows they pay."""
    started = time.perf_counter()
    # A file named on the command line that waits in the inbox too is read once.
    named = {path.resolve(): path for path in request.statements}
    inbox = [p for p in inbox_files(inbox_of(request.workbook, request.config))
             if p.resolve() not in named]  # fmt: skip
    files = [*inbox, *named.values()]
    rows, outcome = import_payments(
        ledger, data, book, invoices, rows, files, request.config, request.as_of
    )
    if files:  # part of "plan"; shown on its own when there were statements to read
        summary.timings["bank"] = time.perf_counter() - started
    summary.errors.extend(outcome.errors)
    summary.bank_errors = len(outcome.errors)
    summary.awaiting_review = outcome.review
    summary.statements_done = outcome.files_done
    summary.bank_lines = outcome.decided
    note = summary_note(outcome, len(files))
    if note:
        summary.notes.append(f"Dry run, nothing recorded. {note}" if request.dry_run else note)
    return rows


def decide_followups(
    request: RunRequest,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    done_events: set[str],
    failed: set[str],
    calendar: BusinessCalendar,
    not_reached: Collection[str] = (),
) -> list[tuple[LedgerInvoice, Followup]]:
    """The reminder, reissue, thank-you or escalation each open invoice is due today.

    `failed`: the invoices whose own email is still owed; `not_reached`: those of them
    no server ever took (`unreached`)."""
    result: list[tuple[LedgerInvoice, Followup]] = []
    if request.payments_only:
        return result
    by_invoice = events_by_invoice(done_events, invoices.keys())
    for number, inv in invoices.items():
        if not request.covers(inv.client_key):
            continue
        pay = Payments.from_row(rows.get(number))
        state = replace(state_of(inv, number in failed), unreached=number in not_reached)
        decision = decide_followup(
            state,
            pay,
            request.as_of,
            request.config,
            calendar,
            book.followed_up(inv.client_key),
            by_invoice.get(number, set()),
        )
        if decision.action:
            result.append((inv, decision))
    return result


def events_by_invoice(events: Collection[str], numbers: Collection[str]) -> dict[str, set[str]]:
    """Each invoice's events (`<Invoice No>/<kind>/...`; a number may hold "/" itself),
    found once for all: looking through every event for each invoice grew with the square
    of the open invoices (4,000 of them took seconds, 20,000 minutes, three times a run)."""
    wanted = set(numbers)
    result: dict[str, set[str]] = {}
    for event in events:
        at = event.rfind("/")
        while at > 0:  # the longest number it starts with: INV/1/2's events are not INV/1's
            if event[:at] in wanted:
                result.setdefault(event[:at], set()).add(event)
                break
            at = event.rfind("/", 0, at)
    return result


def look_at_corrections(
    request: RunRequest,
    data: WorkbookData,
    book: ClientBook,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    pending: list[LedgerMessage],
    reached: Collection[str] = (),
    ledger: Ledger | None = None,
    restored: Sequence[ServiceLine] = (),
) -> tuple[Corrections, list[ServiceLine], dict[int, RowError]]:
    """Void, Rebill, Credit Amount and Resend typed into the Invoices sheet, and edited rows.

    `reached`: the invoices whose own message, still owed, some address already has;
    `restored`: the lines whose lost (or typed over) Invoice No this run writes back, with
    it (lines out of place are told as such, and a Rebill waits for them: `find_strays`;
    they are not missing either: `missing_lines`).

    Returns the corrections to make (with the open invoices whose billed lines are on
    no Services row any more), the billed Services rows found unchanged (with their
    Invoice No, so their cells stay in step), and the changed ones.
    """
    mine = {n: inv for n, inv in invoices.items() if request.covers(inv.client_key)}
    # Every open invoice's rows, with --only too: a line sorted onto this client's row may
    # be another client's (billed_elsewhere looks for it on that invoice's rows).
    every = billed_rows(data.services, invoices.keys())
    billed = {number: found for number, found in every.items() if number in mine}
    elsewhere = billed_elsewhere(every, invoices, ledger)
    strays = find_strays(billed, mine, data.services, elsewhere, restored)
    unsent = {m.invoice_no for m in pending if m.kind == "invoice"}
    fixes = decide_corrections(
        mine, rows, billed, book, unsent, request.as_of, request.config, data.invoices, reached,
        strays, messaged_today(ledger, request.as_of, mine, book) if ledger else (),
        data.services,
    )  # fmt: skip
    # Typed on rows the tool did not issue: told, not silently passed over.
    hand = hand_row_corrections(data.invoices, ledger, tell_void=not request.payments_only)
    fixes = fixes.with_hand_rows(hand)
    typed_rebill = {n for n in mine if Payments.from_row(rows.get(n)).bookkeeper_status == REBILL}
    skip = typed_rebill | fixes.rebilling
    changed = changed_lines(billed, mine, skip, data.services, strays)
    # A Rebill that waits: the rows it waits for say so; its other rows, edited or not, are
    # billed on it still, and no longer told to type Rebill.
    changed = {**{e.row: e for e in fixes.blocking if e.row}, **changed}
    checked = [
        found._replace(invoice_no=number)
        for number, found_rows in billed.items()
        if number not in fixes.rebilling and mine[number].voided is None
        for found in found_rows
        if isinstance(found, ServiceLine) and found.row not in changed
    ]
    moved = moved_rows(billed, invoices)
    checked += moved.values()
    gone = missing_lines(every, mine, strays, [*restored, *moved.values()])
    if gone:
        told = missing_lines_errors(gone, mine, rows, fixes.credits, request.as_of, data.services)
        fixes = replace(fixes, lines_gone=told)
    return fixes, checked, changed


def messaged_today(
    ledger: Ledger, as_of: date, invoices: Mapping[str, LedgerInvoice], book: ClientBook
) -> set[str]:
    """The `invoices` whose client an earlier run on this as-of date sent (or is still to
    send) a message: their one message of the day. One that went only to other addresses
    (`[email] redirect_to` while testing, an address corrected since) is not the client's."""
    found = ledger.messaged_on(as_of)
    result = set()
    for number in found.keys() & invoices.keys():
        client = book.clients.get(invoices[number].client_key)
        mine = {a.lower() for a in client.emails} if client else set()
        if not found[number] or found[number] & mine:
            result.add(number)
    return result


def reached_by_to(ledger: Ledger, pending: Sequence[LedgerMessage]) -> set[str]:
    """The invoices whose own message, still owed, some To address already has (another
    refused it); the bcc archive or a CC having it does not count."""
    return {
        m.invoice_no
        for m in pending
        if m.kind == "invoice"
        and {a.lower() for a in m.to or m.recipients} & ledger.delivered_to(m.message_id)
    }


def open_invoices(
    ledger: Ledger, data: WorkbookData, as_of: date
) -> tuple[set[str], dict[str, str]]:
    """The invoices this run must look at: all but the settled ones left as they were,
    their payment cells and their Services rows (an edited row is told, as for an open
    invoice's: SPEC makes no exception for a paid one), and those settled on a Paid Date
    after `as_of` (taken by an older version: the date is told now).

    Also returns, for settled invoices whose row the workbook lost (an older
    copy restored), the signature of their payment cells when settled.
    """
    settled = ledger.settled()
    now = payment_cells(data.invoices, settled.keys())
    reopened = {n for n, sig in settled.items() if n not in now or signature(now[n]) != sig}
    reopened |= copied_numbers(data.invoices, settled.keys())  # a row copied: told every run
    reopened |= paid_after(data.invoices, settled.keys(), as_of)
    kept = {n: d for n, d in ledger.rows_digests().items() if d is not None}
    if kept:
        digests = rows_digests(data.services)
        reopened |= {n for n, digest in kept.items() if digests.get(n, "") != digest}
    lost = {n: settled[n] for n in reopened if n not in now}
    return ledger.unsettled_numbers() | reopened, lost


def refuse_non_positive(
    drafts: list[InvoiceDraft], data: WorkbookData
) -> tuple[list[InvoiceDraft], dict[int, RowError]]:
    """Drafts whose total is zero or less are not issued: their lines become row errors.

    A credit (a refund line, a discount) can go on an invoice with other work;
    an invoice for nothing or less than nothing is not something to email.
    Nor is one whose total reaches LARGEST, though each line is under it: no
    amount comes near it, and Excel would keep it to 15 digits (the cents lost).
    """
    sheet = data.services
    keep: list[InvoiceDraft] = []
    refused: dict[int, RowError] = {}
    for draft in drafts:
        if 0 < draft.total < LARGEST:
            keep.append(draft)
            continue
        total = format_money(draft.total, draft.currency, "en")
        lines = f"the unbilled lines for {draft.client.name} add up to {total}"
        message = (
            f"{lines}; an invoice must be for more than zero (record a credit by hand, or bill "
            "it with later work)."
            if draft.total <= 0
            else f"{lines}{' with tax' if draft.tax else ''}, too large for one invoice; check "
            "the Quantity, Unit Price and Amount of each line."
        )
        for line in draft.lines:
            refused[line.row] = RowError(sheet.name, line.row, sheet.headers["Amount"], message)
    return keep, refused


def issue(
    draft: InvoiceDraft, number: str, config: Config, calendar: BusinessCalendar, note: str = ""
) -> LedgerInvoice:
    """The ledger's record of a drafted invoice under its number.

    The due date assumes the invoice is emailed today (receipt-based terms are
    counted again from the actual send if it goes out later).
    """
    lag = timedelta(days=config.billing.receipt_lag_days)
    due = due_date(draft.terms, draft.invoice_date, draft.invoice_date + lag, calendar)
    return LedgerInvoice(
        invoice_no=number,
        client_key=draft.client.key,
        client=draft.client.name,
        currency=draft.currency,
        terms=draft.terms.text,
        invoice_date=draft.invoice_date,
        due_date=due,
        subtotal=draft.subtotal,
        tax_rate=draft.client.tax_rate,
        tax=draft.tax,
        total=draft.total,
        lines=draft.invoice_lines,
        note=note,
    )
