"""The dry run (`--dry-run`) and `check`: what a run on the same date would do.

Decides as the weekly run does, on a private copy of the ledger, and sends,
numbers and writes nothing; a dry run renders the invoices it would issue
into preview/ so they can be looked at.

    summary = dry_run(request, Paths.for_request(request))
    [item.invoice_no for item in summary.previews]   # what would go out
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from datetime import date
from pathlib import Path

from .compose import make_document, message_amount
from .config import Config
from .corrections import restore_lost
from .decide import (
    Loaded,
    issue,
    load,
    look_at_corrections,
    look_at_open_invoices,
    owed_now,
    reached_by_to,
    refuse_non_positive,
    unsent_waiting,
)
from .fmt import format_money
from .ledger import FAILED, PLANNED, SENDING, Ledger, LedgerInvoice, LedgerMessage
from .model import DRAFT, InvoiceDocument, RowError
from .notices import workbook_notices
from .older_record import look_for_older_record
from .plan import Followup, InvoiceDraft, Payments, balance_of, draft_invoices
from .prechecks import calendar_for, check_only, refuse_as_of_before_last, refuse_clock_behind
from .reconcile import (
    existing_seq_floor,
    invoice_numbers,
    mistyped_note,
    mistyped_numbers,
    numbered_again,
    restored_lines,
    sequence_errors,
    unknown_invoices_error,
    without_rows,
)
from .request import Paths, RunRequest
from .sending import SENT_AGAIN
from .statement_mail import (
    STATEMENT,
    owed_statements,
    statement_month_due,
    statement_rows_for,
    statements_to_send,
    waiting_clients,
)
from .summary import RunSummary, SentItem
from .updates import state_of
from .validate import ClientBook, listed_errors
from .whereabouts import here, moved_error


def run_problems(request: RunRequest, loaded: Loaded) -> tuple[list[RowError], list[str]]:
    """For `check`: every problem a run on the same date would list, and its notes (the
    workbook's notices, an Invoice No typed over, what the bank inbox holds).

    A dry run's look at the workbook, the ledger (a private copy: nothing in
    .billing/ changes) and the bank inbox, without making documents.
    """
    summary = dry_run(request, Paths.for_request(request), loaded=loaded, render=False)
    return summary.errors, summary.notes


def dry_run(
    request: RunRequest,
    paths: Paths,
    loaded: Loaded | None = None,
    render: bool = True,
) -> RunSummary:
    """What a run would number and send; previews rendered unless `render` is False."""
    config, as_of = request.config, request.as_of
    data, book, lines, errors = loaded or load(request)
    check_only(request, book)
    calendar = calendar_for(config)
    summary = RunSummary(as_of, dry_run=True, language=config.billing.language)
    summary.errors.extend(book.errors)
    summary.errors.extend(sequence_errors(data, config))
    summary.errors.extend(listed_errors(errors, book))
    summary.notes.extend(workbook_notices(data, book, lines, as_of, config))
    # Before the first run, an empty one: the dry run then looks at what the first run
    # would (the bank statements named to `payments --dry-run`, hand-typed invoices).
    with Ledger.open_copy(paths.billing / "ledger.sqlite") as ledger:
        refuse_clock_behind(request, ledger.last_started())  # as the run stops, before all
        refuse_as_of_before_last(request, ledger.last_as_of())
        moved = moved_error(ledger.last_place(), here(paths))  # as the run tells it
        if moved is not None:
            summary.errors.insert(0, moved)
        unknown = unknown_invoices_error(data.invoices, config, ledger, paths.billing / "backups")
        if unknown is not None:  # as the run tells it
            summary.errors.append(unknown)
        restored = restored_lines(lines, data.services, ledger)
        numbers = invoice_numbers(data)
        edited = restore_lost(lines, ledger, restored, data.services)  # as the run tells it
        summary.errors.extend(edited[r] for r in sorted(edited))
        fresh = [ln for ln in lines if ln.row not in restored and request.covers(ln.client_key)]
        if request.payments_only:
            fresh = []
        drafts, refused = refuse_non_positive(draft_invoices(fresh, book, as_of, config), data)
        summary.errors.extend(refused[r] for r in sorted(refused))
        mistyped = mistyped_numbers(numbers, config, ledger, as_of)
        if mistyped:
            summary.notes.append(mistyped_note(mistyped, numbers[0][1]))
        floor = max(
            existing_seq_floor(data, config, as_of, without_rows(numbers, mistyped)),
            ledger.seq_for(config.billing.number_format, as_of),
        )
        rebill_drafts: list[InvoiceDraft] = []
        reissues: list[InvoiceDocument] = []
        pending, _, invoices, rows, followups = look_at_open_invoices(
            request, ledger, data, book, calendar, summary
        )
        summary.notes.extend(unsent_waiting(request, pending, invoices, rows, book))
        given_back = numbered_again(lines, restored, mistyped)
        fixes, _, changed = look_at_corrections(
            request, data, book, invoices, rows, pending, reached_by_to(ledger, pending), ledger,
            given_back,
        )  # fmt: skip
        if request.payments_only:  # as the run: corrections are the weekly run's
            fixes = replace(fixes, credits=(), rebills=(), resends=(), cleared=(), waiting=())
        summary.errors.extend(fixes.errors)
        summary.errors.extend(changed[r] for r in sorted(changed))
        summary.errors.extend(fixes.lines_gone)
        older = look_for_older_record(
            request, paths, ledger, data, invoices, rows, numbers, fixes.held
        )
        fixes, _ = older.withhold(fixes, ())
        summary.notes.extend(fixes.waiting)  # as the run tells them
        if older.error is not None:  # as the run tells it
            summary.errors.append(older.error)
        floor = max(floor, older.invoice_floor)
        rebilled = [ln for rebill in fixes.rebills for ln in rebill.lines]
        rebill_drafts = draft_invoices(rebilled, book, as_of, config)
        for credit in fixes.credits:
            inv = invoices[credit.invoice_no]
            summary.previews.append(
                SentItem(
                    inv.invoice_no,
                    inv.client,
                    "credit_note",
                    format_money(credit.amount, inv.currency, config.billing.language),
                    credit.reason,
                )
            )
        for number in fixes.resends:
            inv = invoices[number]
            _, balance = balance_of(state_of(inv, False), Payments.from_row(rows.get(number)))
            shown = format_money(balance, inv.currency, config.billing.language)
            summary.previews.append(SentItem(number, inv.client, "resend", shown))  # as the run
        followups = [
            (inv, d) for inv, d in followups if not fixes.withholds(inv.invoice_no, d.action)
        ]
        for inv, decision in followups:
            reissues.extend(_reissue_document(inv, decision, book, config, as_of))
            summary.previews.append(
                SentItem(
                    inv.invoice_no,
                    inv.client,
                    decision.action or "",
                    format_money(decision.amount_told, inv.currency, config.billing.language),
                )
            )
        if not request.payments_only:
            wanted = {decision.event for _, decision in followups if decision.event}
            owed, _ = owed_now(request, pending, invoices, rows, book, wanted, fixes.held)
            _list_owed(summary, owed, invoices, config)
        monthly = (
            statement_month_due(ledger, config, as_of)
            if request.only is None and not request.payments_only
            else None
        )
        if monthly:
            summary.previews.extend(
                SentItem("", st.client, STATEMENT,
                         format_money(st.closing, st.currency, config.billing.language))
                for st in statements_to_send(
                    ledger, statement_rows_for(data, pending, monthly, rows, as_of), book, as_of,
                    monthly, waiting_clients(book, fixes.held_clients(invoices)),
                )
            )  # fmt: skip
        # Statements planned at an earlier run and still owed (a Hold kept them back, the
        # server refused them): sent, or said to wait, as the run does.
        if not request.payments_only and request.only is None:
            going, waiting = owed_statements(ledger, book, fixes.held_clients(invoices))
            stated = {item.client for item in summary.previews if item.kind == STATEMENT}
            summary.previews.extend(  # one a month's statement takes in is not told twice
                SentItem("", name, STATEMENT, "") for name in going if name not in stated
            )
            summary.notes.extend(waiting)
        # Numbered as the run numbers them: the replacements for Rebill first.
        documents = []
        drafted = []
        for index, draft in enumerate(rebill_drafts + drafts, start=1):
            number = config.billing.number_format.format(
                year=as_of.year, month=as_of.month, seq=floor + index
            )
            issued = issue(draft, number, config, calendar)
            documents.append(make_document(issued, draft.client, config, issued.due_date))
            drafted.append(
                SentItem(
                    number,
                    draft.client.name,
                    DRAFT,
                    format_money(draft.total, draft.currency, config.billing.language),
                )
            )
        summary.previews[:0] = drafted
        documents.extend(reissues)
        if data.invoices is not None and drafted:  # as the run says it, when it would
            _, outside = data.invoices.append_rows(len(drafted))
            if outside:
                summary.notes.append(outside)
    if render:
        _clear_previews(paths.preview)
    if documents and render:
        from .render import InvoiceRenderer

        InvoiceRenderer(paths.templates, draft=True).render_many(documents, paths.preview)
        summary.notes.append(f"Preview documents are in {paths.preview}.")
    return summary


#: Why a message owed from an earlier run goes now, by its state in the ledger.
_OWED_WHY = {
    PLANNED: "owed from an earlier run",
    SENDING: SENT_AGAIN,  # as the run says it when it sends one again
    FAILED: "retried: it failed at an earlier run",
}


def _list_owed(
    summary: RunSummary,
    owed: list[LedgerMessage],
    invoices: dict[str, LedgerInvoice],
    config: Config,
) -> None:
    """Put the messages owed from earlier runs first among the previews, as the run sends
    them: it sends one message per invoice, the oldest owed first, so what this run
    decided for the same invoice waits for the next."""
    if not owed:
        return
    numbers = {msg.invoice_no for msg in owed}
    summary.previews[:] = [item for item in summary.previews if item.invoice_no not in numbers]
    language = config.billing.language
    summary.previews[:0] = [
        SentItem(
            msg.invoice_no,
            invoices[msg.invoice_no].client,
            msg.kind,
            message_amount(msg, invoices[msg.invoice_no], language),
            _OWED_WHY.get(msg.state, ""),
        )  # fmt: skip
        for msg in owed
    ]


def _clear_previews(folder: Path) -> None:
    """Take away an earlier dry run's documents, so that preview/ holds this one's only: a
    draft left from last week could carry the number a real invoice has had since.
    A document open in Word (locked) stays."""
    if not folder.is_dir():
        return
    for path in [*folder.glob("*/*.docx"), *folder.glob("*/*.pdf")]:
        with suppress(OSError):
            path.unlink()


def _reissue_document(
    inv: LedgerInvoice, decision: Followup, book: ClientBook, config: Config, as_of: date
) -> list[InvoiceDocument]:
    """The reissued invoice a follow-up would send, as `compose.prepare_jobs` makes it."""
    client = book.clients.get(inv.client_key)
    if decision.action != "reissue" or decision.new_due is None or client is None:
        return []
    if book.mail_problem(inv.client_key) is not None:
        return []  # the run cannot build it either: the client's row has an error
    return [
        make_document(
            inv, client, config, decision.new_due, decision.reissue_number, as_of,
            decision.paid, decision.balance, amount_due=decision.amount_due,
        )  # fmt: skip
    ]
