"""The weekly run: read -> validate -> plan -> number -> render -> send -> write back.

Plan first, then act. Everything that will happen is decided before the first
email; the ledger records each step before the next one, so a crash at any
point is finished by the next run without a duplicate.

    summary = run_billing(RunRequest(workbook=Path("service_log.xlsx"), as_of=date.today()))
    raise SystemExit(summary.exit_code)

`run_billing` reads as the list of stages; each is a method of `Run`, the one
object that holds what this run was asked, what it read and what it has done.
A rerun on inputs that a run left with nothing to do is answered from their
fingerprint instead (`rerun`), reading and writing nothing.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from .backups import PendingBackup, backup_ledger, start_backup
from .bank.apply import inbox_of, move_imported, payments_updates
from .cells import cell_text
from .compose import Job, amount_text, attach_pdfs, prepare_jobs
from .config import Config
from .corrections import Corrections, hand_notes_updates, restore_lost, rows_digests
from .decide import (
    decide_followups,
    issue,
    load,
    look_at_corrections,
    look_at_open_invoices,
    owed_now,
    reached_by_to,
    refuse_non_positive,
    unreached,
    unsent_waiting,
)
from .delivery import Parcel, RetryPolicy, deliver
from .dry_run import dry_run, run_problems
from .errors import UnusableError
from .faults import checkpoint
from .fmt import format_money
from .ledger import (
    CREDIT_NOTE_SERIES,
    FAILED,
    PLANNED,
    SENDING,
    CreditNote,
    Ledger,
    LedgerInvoice,
    LedgerMessage,
    fingerprint,
)
from .mail import (
    BuiltMessage,
    MailError,
    MailLoginError,
    OutgoingMail,
    Sender,
    build_message,
    config_addresses,
    make_message_id,
    open_sender,
    readdressed,
)
from .model import HOLD, OVERPAID, PAID, InvoiceRow, RowError, ServiceLine
from .notices import workbook_notices
from .older_record import OlderRecord, look_for_older_record
from .pdf import soffice_path
from .plan import (
    PAYMENT_NOTES,
    Followup,
    InvoiceDraft,
    Payments,
    balance_of,
    draft_invoices,
    status_of,
)
from .prechecks import (
    BUSY_RUN,
    calendar_for,
    check_email_settings,
    check_mail_settings,
    check_only,
    email_settings_error,
    ensure_not_busy,
    hold_run_lock,
    open_elsewhere,
    refuse_as_of_before_last,
    refuse_clock_behind,
    refuse_placeholder_sender,
    refuse_unwritable,
    vet_templates,
)
from .private import restrict_folders
from .produce import Made, make_message_here, make_messages
from .read import WorkbookData, folder_given
from .reconcile import (
    InvoiceNumbers,
    existing_credit_floor,
    existing_seq_floor,
    hand_typed_open,
    invoice_numbers,
    mistyped_note,
    mistyped_numbers,
    numbered_again,
    restored_lines,
    restored_note,
    scoped_seqs,
    sequence_errors,
    unknown_invoices_error,
    without_rows,
)
from .report import CreditNoteItem, ReportError
from .report_worker import PendingReport, start_report
from .request import REPO_TEMPLATES, Paths, RunRequest, outbox_folder
from .rerun import Quiet, forget, remember, replay
from .schema import (
    CLIENTS,
    INVOICES,
    PAYMENTS,
    SERVICES,
    SERVICES_COLUMNS,
    header_for,
    sheet_headers,
)
from .sending import (
    NOT_DONE,
    NOT_EMAILED,
    SendStage,
    email_words,
    not_again,
    problem_told,
    refunded_note,
    test_mode_note,
    utf8_column,
    utf8_refusal,
    utf8_row_error,
)
from .smtp_pool import SmtpPool
from .statement_facts import record_paid_cells
from .statement_mail import (
    plan_monthly_statements,
    send_statements,
    statement_month_due,
    statement_rows_for,
)
from .summary import (
    RunSummary,
    SentItem,
    by_currency,
    needs_attention,
    not_counted_line,
    summary_lines,
)
from .terms import BusinessCalendar
from .updates import (
    CLOSED,
    UpdateSet,
    invoice_rows,
    invoices_updates,
    payment_cells,
    receivables,
    services_updates,
    signature,
    state_of,
)
from .validate import ClientBook, listed_errors
from .whereabouts import here, moved_error
from .writeback import FileStamp, WriteBackError, apply_updates, stamp_file

#: Kept importable from here: the command line and `statement` reach them through this module.
__all__ = [
    "BUSY_RUN",
    "REPO_TEMPLATES",
    "Paths",
    "Run",
    "RunRequest",
    "backup_ledger",
    "check_email_settings",
    "dry_run",
    "ensure_not_busy",
    "load",
    "run_billing",
    "run_problems",
    "vet_templates",
]

#: Messages recorded in the ledger per durable commit while sending goes on.
RECORD_BATCH = 8

ProgressFactory = Callable[[str, int], Callable[[], None]]


#: What a message's payload says of the payments (`Run._record_followup`).
PAYMENT_FIGURES = ("paid", "balance", "amount_due")

#: How the Note of an escalated invoice begins (until it is paid: `_note_paid_escalations`).
ESCALATED = "Escalated on"


def _no_progress(label: str, total: int) -> Callable[[], None]:
    return lambda: None


def run_billing(request: RunRequest, progress: ProgressFactory = _no_progress) -> RunSummary:
    """The weekly run. Raises UnusableError (exit 2) or BusyError (exit 3)."""
    paths = Paths.for_request(request)
    if paths.workbook.is_dir():
        raise UnusableError(folder_given(paths.workbook))
    if not paths.workbook.is_file():
        raise UnusableError(f"the workbook {paths.workbook} does not exist.")
    refuse_unwritable(paths, request.dry_run, outbox_folder(request, paths))
    # Word templates: in open_sender once there is work (docx is not imported before);
    # a dry run, which renders previews, tries them now, so it stops where the run would.
    vet_templates(paths, word=request.dry_run)
    check_email_settings(request.config, sender=False)
    restrict_folders((paths.billing, paths.invoices, paths.outbox, paths.preview, paths.reports))
    if request.dry_run:
        warning = check_mail_settings(request, paths)
        ensure_not_busy(paths)
        loaded = load(request)
        summary = dry_run(request, paths, loaded=loaded)
        summary.notes.extend(loaded[0].package_notes)  # a digital signature the run breaks
        if warning:
            summary.notes.append(warning)
        return summary
    with ExitStack() as held:
        hold_run_lock(held, paths)
        ensure_not_busy(paths, locked=True)
        unchanged = replay(request, paths)  # nothing changed since a run with nothing owed
        if unchanged is not None:
            return unchanged
        forget(paths)
        with ExitStack() as stack:
            run = Run.begin(request, paths, stack, progress)
            run.list_problems()
            # Kept all at once, once the mail server is open: a run stopped before (exit 2)
            # leaves the ledger as it was, bank statements imported included.
            with run.ledger.transaction():
                place = here(paths)
                moved = moved_error(run.ledger.last_place(), place)  # before this run is in it
                run.ledger.start_run(request.as_of, place.folder, place.computer)
                run.ledger.unbuild_unsent()  # a stopped run's, built again from the templates now
                plan = run.decide()
                if moved is not None:  # not a standing error (`quiet`): told once
                    run.summary.errors.insert(0, moved)
                if plan.mailing:
                    run.open_sender()
                run.number(plan)
            checkpoint("after-numbering")
            run.send(plan)
            run.write_back(plan)
            run.report()
            quiet = run.quiet(plan)
            summary = run.finish()
        if quiet is not None:  # the ledger is closed now: its bytes are the ones a rerun finds
            remember(request, paths, quiet)
        return summary
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Plan:
    """What this run decided before acting; `Run.number` records all of it at once.

    Attributes:
        restored: Services rows that lost their Invoice No, with the number they had.
        drafts: the new invoices to issue.
        rebill_drafts: the invoices that replace those marked Rebill.
        rebilled: the Services lines moved onto those replacements.
        pending: messages still owed from earlier runs.
        followups: the reminders, reissues, notes and escalations due today.
        fixes: the corrections typed into the Invoices sheet.
        unchanged: billed Services rows found as they were (their cells kept in step).
        monthly: the statement period due today, else None.
        statement_rows: the Invoices rows the monthly statements show.
        mailing: whether anything may be emailed, so that the sender is opened.
    """

    restored: dict[int, str]
    drafts: list[InvoiceDraft]
    rebill_drafts: list[InvoiceDraft]
    rebilled: list[ServiceLine]
    pending: list[LedgerMessage]
    followups: list[tuple[LedgerInvoice, Followup]]
    fixes: Corrections
    unchanged: list[ServiceLine]
    monthly: tuple[date, date] | None
    statement_rows: dict[str, InvoiceRow]
    mailing: bool


@dataclass
class Run:
    """This run: what it was asked, what it read, and what it has done so far.

    Made by `begin` under the run lock; each stage method reads what the
    stages before it left here and records its own doing in the ledger.
    `errors` are the Services row errors by row (read, refused, changed);
    `invoices` and `rows` the open invoices and their Invoices rows;
    `invoiced` the Invoice No and Due Date each billed Services row shows.
    """

    request: RunRequest
    paths: Paths
    stack: ExitStack
    progress: ProgressFactory
    stamp: FileStamp
    data: WorkbookData
    book: ClientBook
    lines: list[ServiceLine]
    errors: dict[int, RowError]
    calendar: BusinessCalendar
    ledger: Ledger
    summary: RunSummary
    started: float  # when the phase being timed began
    sender: Sender | None = None
    active: set[str] = field(default_factory=set)
    invoices: dict[str, LedgerInvoice] = field(default_factory=dict)
    rows: dict[str, InvoiceRow] = field(default_factory=dict)
    invoiced: dict[int, tuple[str, date]] = field(default_factory=dict)
    failed_now: set[str] = field(default_factory=set)
    notices: list[str] = field(default_factory=list)  # about the workbook as read
    #: row errors that stand while the rows do (read, Clients, numbering, refused drafts)
    standing: list[RowError] = field(default_factory=list)
    backup: PendingBackup | None = None  # the ledger copy being compressed
    pending_report: PendingReport | None = None  # begun with the write-back
    prints: dict[int, str] = field(default_factory=dict)  # fingerprints of `lines`, by row
    #: invoices a billed Services row of which was edited: never set aside until fixed
    edited: frozenset[str] = frozenset()
    numbers: InvoiceNumbers | None = None  # the workbook's Invoice Nos, as read
    seqs: dict[str, int] | None = None  # their {seq} in this run's numbering scope
    #: what the documents and the Invoices sheet show sent that the ledger does not know
    older: OlderRecord = field(default_factory=OlderRecord)

    @property
    def config(self) -> Config:
        return self.request.config

    @property
    def as_of(self) -> date:
        return self.request.as_of

    @classmethod
    def begin(
        cls, request: RunRequest, paths: Paths, stack: ExitStack, progress: ProgressFactory
    ) -> Run:
        """Read the workbook and open the ledger (under the run lock)."""
        stamp = stamp_file(paths.workbook)
        started = time.perf_counter()
        data, book, lines, errors = load(request)
        check_only(request, book)
        read_seconds = time.perf_counter() - started
        calendar = calendar_for(request.config)
        ledger = stack.enter_context(Ledger.open(paths.billing / "ledger.sqlite"))
        refuse_clock_behind(request, ledger.last_started())
        refuse_as_of_before_last(request, ledger.last_as_of())
        summary = RunSummary(
            request.as_of,
            language=request.config.billing.language,
            outbox=outbox_folder(request, paths),
            outbox_asked=request.outbox is not None and request.config.email.mode != "outbox",
        )
        summary.timings["read"] = read_seconds
        return cls(
            request, paths, stack, progress, stamp, data, book, lines, errors, calendar,
            ledger, summary, started=time.perf_counter(),
        )  # fmt: skip

    def list_problems(self) -> None:
        """Row errors and notices about the workbook as read; updates an earlier run owes."""
        summary, config = self.summary, self.config
        summary.errors.extend(self.book.errors)
        self.numbers = invoice_numbers(self.data)
        summary.errors.extend(sequence_errors(self.data, config, self.numbers))
        summary.errors.extend(listed_errors(self.errors, self.book))
        # Open invoices of the sheet that this ledger does not know (lost, or an older copy):
        # nothing is sent about them until it is put back.
        unknown = unknown_invoices_error(
            self.data.invoices, config, self.ledger, self.paths.billing / "backups"
        )
        if unknown is not None:
            summary.errors.append(unknown)
        self.notices = workbook_notices(self.data, self.book, self.lines, self.as_of, config)
        self.notices.extend(self.data.package_notes)  # a digital signature the run breaks
        summary.notes.extend(self.notices)
        owed_before = self.ledger.owed_updates()
        if owed_before:
            summary.notes.append(
                f"{len(owed_before)} workbook updates left over from an earlier run are "
                "applied now."
            )

    def decide(self) -> Plan:
        """Everything this run will issue, correct and send, decided before any of it is done."""
        request, data, book, config, as_of = (
            self.request, self.data, self.book, self.config, self.as_of
        )  # fmt: skip
        summary = self.summary
        self.prints = {line.row: fingerprint(line) for line in self.lines}
        restored = restored_lines(self.lines, data.services, self.ledger, self.prints)
        numbers = self.numbers if self.numbers is not None else invoice_numbers(data)
        edited = restore_lost(self.lines, self.ledger, restored, data.services)
        self.errors = {**self.errors, **edited}  # billed, lost its number, then edited: told
        summary.errors.extend(edited[r] for r in sorted(edited))
        fresh = [
            ln for ln in self.lines if ln.row not in restored and request.covers(ln.client_key)
        ]
        if request.payments_only:
            fresh = []
        drafts, refused = refuse_non_positive(draft_invoices(fresh, book, as_of, config), data)
        self.errors = {**self.errors, **refused}
        summary.errors.extend(refused[r] for r in sorted(refused))
        self.standing = list(summary.errors)
        pending, self.active, self.invoices, self.rows, followups = look_at_open_invoices(
            request, self.ledger, data, book, self.calendar, summary
        )
        summary.notes.extend(unsent_waiting(request, pending, self.invoices, self.rows, book))
        reached = reached_by_to(self.ledger, pending)
        self.seqs = scoped_seqs(numbers, config, as_of)  # once: the history holds thousands
        mistyped = mistyped_numbers(numbers, config, self.ledger, as_of, self.seqs)
        # Lines given their number back this run: lost, or typed over (`missing_lines`).
        given_back = numbered_again(self.lines, restored, mistyped)
        fixes, unchanged, changed = look_at_corrections(
            request, data, book, self.invoices, self.rows, pending, reached, self.ledger, given_back
        )
        if request.payments_only:  # corrections are the weekly run's: nothing numbered or mailed
            fixes = replace(fixes, credits=(), rebills=(), resends=(), cleared=(), waiting=())
        # An older copy of the ledger put back: nothing sent twice, no number issued twice.
        self.older = look_for_older_record(
            request, self.paths, self.ledger, data, self.invoices, self.rows, numbers, fixes.held
        )
        fixes, unchanged = self.older.withhold(fixes, unchanged)
        if self.older.error is not None:
            summary.errors.append(self.older.error)
        summary.errors.extend(fixes.errors)
        summary.notes.extend(fixes.waiting)
        summary.errors.extend(changed[r] for r in sorted(changed))
        summary.errors.extend(fixes.lines_gone)
        self.errors = {**self.errors, **changed}
        if changed:
            carried = data.services.frame["Invoice No"]
            self.edited = frozenset(cell_text(carried[row]) for row in changed)
        if mistyped:  # the ledger's number goes back; the typed one sets no floor
            summary.notes.append(mistyped_note(mistyped, numbers[0][1]))
            self.numbers = without_rows(numbers, mistyped)
            unchanged = [*unchanged, *(ln._replace(invoice_no=n) for n, ln in mistyped.values())]
        followups = [
            (inv, d) for inv, d in followups if not fixes.withholds(inv.invoice_no, d.action)
        ]
        rebilled = [ln for rebill in fixes.rebills for ln in rebill.lines]
        rebill_drafts = draft_invoices(rebilled, book, as_of, config)
        monthly = (
            statement_month_due(self.ledger, config, as_of)
            if request.only is None and not request.payments_only
            else None
        )
        statement_rows = statement_rows_for(data, pending, monthly, self.rows, as_of)  # after bank
        # `payments` only imports statements: what is owed is sent by the weekly run.
        mail_wanted = (
            drafts or followups or pending or rebill_drafts or fixes.credits or fixes.resends
            or monthly
        )  # fmt: skip
        return Plan(
            restored, drafts, rebill_drafts, rebilled, pending, followups, fixes, unchanged,
            monthly, statement_rows, bool(mail_wanted) and not request.payments_only,
        )  # fmt: skip

    def open_sender(self) -> None:
        """Try the folder's Word templates and open the mail server (or outbox) for the run."""
        config = self.config
        vet_templates(self.paths)
        refuse_placeholder_sender(config, outbox_folder(self.request, self.paths))
        try:
            self.sender = self._opened_sender()
        except MailLoginError as exc:
            raise UnusableError(f"the mail server cannot be used: {exc}") from None
        except MailError as exc:
            raise email_settings_error(config, exc) from None
        if isinstance(self.sender, SmtpPool) and self.sender.shortfall:
            self.summary.notes.append(self.sender.shortfall)  # fewer connections than asked
        if config.email.attach != "docx" and soffice_path() is None:
            raise UnusableError(
                f'attach = "{config.email.attach}" needs LibreOffice to make PDFs, and it is '
                "not installed: install it (Debian/Ubuntu: apt-get install "
                'libreoffice-writer-nogui) or set attach = "docx" in [email].'
            )

    def number(self, plan: Plan) -> None:
        """Number and record everything planned, in one transaction, before any email
        (`run_billing` commits it with the statements `decide` imported)."""
        ledger, data, config, as_of = self.ledger, self.data, self.config, self.as_of
        with ledger.transaction():
            record_paid_cells(ledger, self.rows, as_of)  # dates each part payment on statements
            ledger.record_held(  # a lost row comes back on Hold (`lost_invoice_rows`)
                {n: Payments.from_row(r).bookkeeper_status == HOLD
                 for n, r in self.rows.items() if r.row}
            )  # fmt: skip
            floor = max(
                existing_seq_floor(data, config, as_of, self.numbers, self.seqs),
                self.older.invoice_floor,
            )
            # Replacements first: their lines were read from other rows (no prints kept).
            self.active.update(self._record_drafts(plan.rebill_drafts, floor, {}))
            self.active.update(self._record_drafts(plan.drafts, floor, self.prints))
            checkpoint("before-credit-notes")  # inside the transaction: all of it, or none
            credit_floor = existing_credit_floor(data, config, as_of)
            self._record_corrections(plan.fixes, max(credit_floor, self.older.credit_floor))
            ledger.record_reopened({n: inv.reopened for n, inv in self.invoices.items()})
            for inv, decision in plan.followups:
                self._record_followup(inv, decision)
            self._restate_unsent(plan.pending)
            if plan.monthly:
                plan_monthly_statements(
                    ledger,
                    plan.statement_rows,
                    self.book,
                    config,
                    as_of,
                    plan.monthly,
                )
        self.summary.timings["plan"] = time.perf_counter() - self.started
        restored = plan.restored
        known = ledger.invoices(set(restored.values())) if restored else {}
        for row, number in restored.items():
            self.invoiced[row] = (number, known[number].due_date)

    def send(self, plan: Plan) -> None:
        """Send every message owed, then the monthly statements."""
        request, paths = self.request, self.paths
        self.invoices = self.ledger.invoices(self.active)
        # The invoices numbered just now: their rows, should the sheet hold any.
        self.rows.update(
            invoice_rows(self.data.invoices, self.as_of, self.invoices.keys() - self.rows.keys())
        )
        wanted = {decision.event for _, decision in plan.followups if decision.event}
        if not request.payments_only:
            self.send_owed(wanted, plan.fixes.held)
        if request.only is None and not request.payments_only:
            send_statements(self.ledger, self.sender, paths.templates, paths.email_templates,
                            paths.invoices.parent, plan.statement_rows, self.book, self.config,
                            self.as_of, self.summary,
                            plan.fixes.held_clients(self.invoices))  # fmt: skip
        if self.config.email.redirect_to and self.summary.sent:
            self.summary.notes.append(test_mode_note(self.config.email.redirect_to))

    def write_back(self, plan: Plan) -> None:
        """Write what happened into the workbook; settle what is done with; owed-back notes."""
        ledger, data, config, as_of, summary = (
            self.ledger, self.data, self.config, self.as_of, self.summary
        )  # fmt: skip
        self.invoices = ledger.invoices(self.active)
        due_dates = ledger.due_dates()
        for row, (number, _due) in list(self.invoiced.items()):
            self.invoiced[row] = (number, due_dates[number])
        # Not (yet) delivered: the invoice itself, or its latest reminder or note.
        self.failed_now = {
            m.invoice_no
            for m in ledger.messages((PLANNED, SENDING, FAILED))
            if m.kind == "invoice" or m.state != PLANNED
        }
        for line in plan.unchanged:
            self.invoiced[line.row] = (line.invoice_no or "", due_dates[line.invoice_no or ""])
        self.started = time.perf_counter()
        hand = hand_typed_open(data.invoices, ledger, self.book, config.billing.currency)
        summary.not_counted = by_currency(hand.values())  # told beside Outstanding
        if not self.request.payments_only:  # what it shows is settled now: written meanwhile
            self.pending_report = self._start_report()
        self._note_paid_back()
        self._note_paid_escalations()
        updates = UpdateSet()
        shown = [*self.lines, *plan.rebilled, *plan.unchanged]
        services_updates(
            data, self.book, shown, self.errors, self.invoiced, self.older.due_dates(due_dates),
            as_of, config, updates,
        )  # fmt: skip
        summary.outstanding = invoices_updates(
            data, self.invoices, self.rows, self.failed_now, as_of, updates, config,
            plan.fixes.refused_credit, plan.fixes.held, self.older.ahead,
        )  # fmt: skip
        hand_notes_updates(data.invoices, plan.fixes, updates)
        payments_updates(data, ledger, config, updates)
        summary.notes.extend(note for note in updates.notes if note not in summary.notes)
        unwritten = self._apply(updates)
        if plan.restored:  # told once the write-back says whether their Invoice No was written
            number_column = (data.services.name, header_for(SERVICES, "Invoice No", config.columns))
            written = number_column not in unwritten
            summary.notes.append(restored_note(plan.restored, data.services, written=written))
        summary.notes.extend(
            move_imported(summary.statements_done, inbox_of(self.paths.workbook, config))
        )
        if not summary.updates_owed:  # the sheet now shows what the ledger settles on
            # An invoice whose one message this run was a correction keeps its thank-you or
            # note owed for the next run (a void one has none to wait for).
            waiting = {
                n for n in plan.fixes.mailing
                if n in self.invoices and self.invoices[n].voided is None
                and self.invoices[n].credited < self.invoices[n].total
            }  # fmt: skip
            self._settle(plan.fixes.troubled | waiting)
        owed_back(self.invoices, self.rows, self.failed_now, summary)
        summary.timings["write-back"] = time.perf_counter() - self.started

    def report(self) -> None:
        """The receivables report, and the summary emailed to the bookkeeper when asked."""
        self.started = time.perf_counter()
        if not self.request.payments_only:
            self._write_report()
        config, summary = self.config, self.summary
        if config.email.report_to and summary.has_news:
            sender = self.sender or self._summary_sender()  # news without client mail too
            if sender is not None:
                _email_summary(config, summary, sender)
        summary.timings["report"] = time.perf_counter() - self.started

    def _opened_sender(self) -> Sender:
        """The mail server (or outbox) of this run, closed with it."""
        config, outbox = self.config, outbox_folder(self.request, self.paths)
        return self.stack.enter_context(
            open_sender(config.email, config.company, outbox, self.paths.billing)
        )

    def _summary_sender(self) -> Sender | None:
        """The mail server (or outbox), opened for the summary alone when the run had no
        client mail to send; None, said in the summary, when it cannot be used."""
        config = self.config
        try:
            return self._opened_sender()
        except MailError as exc:
            self.summary.notes.append(
                f"The summary email to {config.email.report_to} was not sent: {exc}"
            )
            return None

    def finish(self) -> RunSummary:
        """Close the run in the ledger: "ok", or "attention" when the summary says so."""
        self.ledger.finish_run("attention" if self.summary.exit_code else "ok")
        self.ledger.reclaim()
        if self.backup is not None:
            self.backup.wait()  # before the run lets go of its lock
        return self.summary

    def quiet(self, plan: Plan) -> Quiet | None:
        """What a rerun on the same inputs would show, when it would find nothing to do.

        Only a run that ends with nothing owed, nothing to correct and nothing to
        say but the state (the amounts outstanding, the workbook's notices, the
        row errors of rows it did not bill) can vouch for that; a follow-up that
        a rerun would find due today, with what the ledger holds now, rules it
        out as well.
        """
        request, summary, ledger = self.request, self.summary, self.ledger
        news = (
            summary.failed or summary.partial or summary.updates_owed
            or summary.workbook_incomplete or summary.escalated or summary.credit_notes
            or summary.owed_back or summary.bank_lines or summary.awaiting_review
            or summary.statements_done or summary.errors != self.standing
        )  # fmt: skip
        appended = any(
            sheet is not None and sheet.append_note
            for sheet in (self.data.invoices, self.data.payments)  # none are added to Services
        )
        if (
            news
            or appended
            or summary.report is None
            or summary.notes != self.notices
            or plan.fixes != Corrections()
            or request.only is not None
            or request.payments_only
            or request.statements
            or ledger.messages((PLANNED, SENDING, FAILED))
            or ledger.owed_updates()
            or statement_month_due(ledger, self.config, self.as_of)
        ):
            return None
        done = ledger.events(self.invoices.keys())
        if decide_followups(
            request, self.invoices, self.rows, self.book, done, set(), self.calendar
        ):
            return None
        return Quiet(
            dict(summary.outstanding), tuple(self.notices), summary.report, tuple(self.standing),
            dict(summary.not_counted),
        )  # fmt: skip

    # -- what the stages above do, one record or one message at a time -------------

    def _record_drafts(
        self, drafts: list[InvoiceDraft], floor: int, prints: dict[int, str]
    ) -> list[str]:
        """Number drafted invoices, record them and their messages; their rows show the numbers.

        `prints`: the fingerprints of the lines as read, by row, when the drafts are of those
        lines (a fingerprint is a hash of the line: worked out once a line, not twice).
        """
        ledger, config = self.ledger, self.config
        numbers = ledger.allocate_numbers(
            config.billing.number_format, [d.invoice_date for d in drafts], floor
        )
        note = "Issued; waiting to be emailed."
        issued = [
            issue(draft, number, config, self.calendar, note=note)
            for draft, number in zip(drafts, numbers, strict=True)
        ]
        ledger.add_invoices([
            (inv, [(prints.get(ln.row) or fingerprint(ln), ln.row) for ln in draft.lines])
            for inv, draft in zip(issued, drafts, strict=True)
        ])  # fmt: skip
        payload = {"as_of": self.as_of.isoformat()}
        ledger.plan_messages([
            (make_message_id(config.email, config.company), f"{n}/invoice", n, "invoice", payload)
            for n in numbers
        ])  # fmt: skip
        for inv, draft in zip(issued, drafts, strict=True):
            for line in draft.lines:
                self.invoiced[line.row] = (inv.invoice_no, inv.due_date)
        return numbers

    def _record_corrections(self, fixes: Corrections, credit_floor: int = 0) -> None:
        """Number and record the credit notes and copies, each with its message, before any email.

        `credit_floor`: the highest credit note number the workbook already shows.
        """
        ledger, config, as_of = self.ledger, self.config, self.as_of
        invoices, rows, invoiced = self.invoices, self.rows, self.invoiced
        day = as_of.isoformat()
        replaced: dict[str, tuple[str, ...]] = {}
        own: dict[str, tuple[str, ...]] = {}  # those of the same client, for the client to see
        for rebill in fixes.rebills:
            replaced[rebill.invoice_no] = tuple(
                sorted({invoiced[ln.row][0] for ln in rebill.lines})
            )
            key = invoices[rebill.invoice_no].client_key
            own[rebill.invoice_no] = tuple(
                sorted({invoiced[ln.row][0] for ln in rebill.lines if ln.client_key == key})
            )
            ledger.forget_lines(rebill.invoice_no)  # its lines are on the new invoice now
        cancelled = {c.invoice_no for c in fixes.credits if c.reason != "credit"}
        for msg in ledger.messages((PLANNED, FAILED)) if cancelled else ():
            if msg.invoice_no in cancelled:
                ledger.drop_message(msg.message_id)  # never handed over: a void invoice is not sent
        for credit in fixes.credits:
            number = credit.invoice_no
            inv = invoices[number]
            pay = Payments.from_row(rows.get(number))
            replacement = replaced.get(number, ())
            if credit.amount <= 0:  # credited in full already: only the status changes
                ledger.update_invoice(
                    number, voided=as_of, replaced_by="; ".join(replacement), note=f"Void on {day}."
                )
                continue
            note_no = ledger.allocate_number(
                config.billing.credit_note_format, as_of, credit_floor, CREDIT_NOTE_SERIES
            )
            ledger.add_credit_note(
                CreditNote(
                    note_no,
                    number,
                    as_of,
                    credit.amount,
                    credit.credited_after,
                    credit.reason,
                    replacement,
                )
            )
            ledger.plan_message(
                make_message_id(config.email, config.company),
                f"{number}/credit/{note_no}",
                number,
                "credit_note",
                {
                    "as_of": day,
                    "credit_note_no": note_no,
                    "amount": str(credit.amount),
                    "credited_before": str(inv.credited),
                    "paid": str(pay.paid),
                    "balance": str(credit.balance_after),
                    "reason": credit.reason,
                    "replacement": "; ".join(replacement),
                    "replacement_to_client": "; ".join(own.get(number, ())),
                },
            )
            amount = format_money(credit.amount, inv.currency, "en")  # the Note is English
            ledger.update_invoice(
                number, note=f"Credit note {note_no} for {amount} issued on {day}; being emailed."
            )
            shown = format_money(credit.amount, inv.currency, self.summary.language)
            self.summary.credit_notes.append(
                SentItem(number, inv.client, credit.reason, shown, note_no)
            )
        done = ledger.events(fixes.resends)
        for number in fixes.resends:
            inv = invoices[number]
            pay = Payments.from_row(rows.get(number))
            due, balance = balance_of(state_of(inv, False), pay)
            copy = 1 + sum(1 for e in done if e.startswith(f"{number}/resend/"))
            ledger.plan_message(
                make_message_id(config.email, config.company),
                f"{number}/resend/{copy}",
                number,
                "resend",
                {
                    "as_of": day,
                    "copy_number": str(copy),
                    "paid": str(pay.paid),
                    "balance": str(balance),
                    "amount_due": str(due),
                },
            )
            ledger.update_invoice(number, resend_pending=True)
        for number in fixes.cleared:  # the cell is cleared at the write-back
            ledger.update_invoice(number, resend_pending=True)
        by_row = {row.row: number for number, row in rows.items() if row.row}
        told: set[str] = set()
        for error in fixes.errors:
            if error.row in by_row:
                number = by_row[error.row]
                told.add(number)
                ledger.note_problem(number, f"{NOT_DONE} {day}: {error.message}", NOT_DONE)
        for number, row in rows.items():  # a payment or status cell that cannot be used
            if row.problem and number in invoices:
                told.add(number)
                ledger.note_problem(number, f"{NOT_DONE} {day}: {row.problem}", NOT_DONE)
        for number, inv in invoices.items():  # fixed since: the Note before the problem's
            if number not in told and NOT_DONE in inv.note and number in rows:
                ledger.note_fixed(number, NOT_DONE)

    def _record_followup(self, inv: LedgerInvoice, decision: Followup) -> None:
        """Record an escalation, or plan the reminder, reissue or note decided on."""
        ledger, config, as_of = self.ledger, self.config, self.as_of
        if decision.action == "escalate":
            day = as_of.isoformat()
            ledger.update_invoice(
                inv.invoice_no,
                escalated=True,
                note=f"{ESCALATED} {day}: {_reissued(inv.reissue_count)} and still unpaid; "
                f"please call the client.{problem_told(ledger, inv.invoice_no, day)}",
            )
            self.summary.escalated.append(
                SentItem(
                    inv.invoice_no,
                    inv.client,
                    "escalated",
                    format_money(decision.balance, inv.currency, config.billing.language),
                )
            )
            return
        assert decision.event is not None and decision.action is not None
        payload = {
            "as_of": as_of.isoformat(),
            "paid": str(decision.paid),
            "balance": str(decision.balance),
            "amount_due": str(decision.amount_due),
        }
        if decision.with_invoice:  # the invoice goes with it (`owed_now`)
            payload["with_invoice"] = "yes"
        if decision.action == "reissue":
            assert decision.new_due is not None
            payload["reissue_number"] = str(decision.reissue_number)
            payload["new_due"] = decision.new_due.isoformat()
        planned = ledger.plan_message(
            make_message_id(config.email, config.company),
            decision.event,
            inv.invoice_no,
            decision.action,
            payload,
        )
        if not planned:
            ledger.replan_message(decision.event, payload)

    def _restate_unsent(self, pending: Collection[LedgerMessage]) -> None:
        """An invoice's own email that no server ever took, built again this run: its
        document shows what was paid meanwhile and the balance, as a copy does, rather
        than asking for the whole amount (one that may have reached a server goes
        identical: `Ledger.replan_message` leaves it alone).

        One refused by every To address and kept because a CC or the bcc archive took
        it, part paid since: the client never had it, and its bytes would ask for the
        whole amount. It becomes a new message showing the payment, for the addresses
        without the first alone (`Ledger.restate_kept`). Paid in full, the payment note
        carries the invoice instead (`plan.decide_followup`)."""
        client_never_had = unreached(pending)
        for msg in pending:
            inv = self.invoices.get(msg.invoice_no)
            if msg.kind != "invoice" or inv is None:
                continue
            pay = Payments.from_row(self.rows.get(msg.invoice_no))
            payload = {k: v for k, v in msg.payload.items() if k not in PAYMENT_FIGURES}
            due, balance = balance_of(state_of(inv, True), pay)
            if pay.paid > 0:
                payload |= {"paid": str(pay.paid), "balance": str(balance), "amount_due": str(due)}
            if payload == msg.payload:
                continue
            if msg.raw is None:
                self.ledger.replan_message(msg.event, payload)
            elif (
                msg.state == FAILED
                and msg.invoice_no in client_never_had
                and pay.paid > 0
                and balance > 0
                and not (pay.bookkeeper_status or pay.blocked)
            ):
                message_id = make_message_id(self.config.email, self.config.company)
                self.ledger.restate_kept(msg.event, message_id, payload)

    def _note_paid_back(self) -> None:
        """A void invoice whose Note says money is owed back, the Paid Amount lowered since
        (the client was paid back): the Note says so (it kept saying "owed back")."""
        changed = False
        for number, inv in self.invoices.items():
            if inv.voided is None or number in self.failed_now:
                continue
            _, balance = balance_of(state_of(inv, False), Payments.from_row(self.rows.get(number)))
            owed = format_money(-balance, inv.currency, "en") if balance < 0 else None
            note = refunded_note(inv.note, self.as_of.isoformat(), owed)
            if note is not None:
                with self.ledger.transaction():
                    self.ledger.update_invoice(number, note=note)
                changed = True
        if changed:
            self.invoices = self.ledger.invoices(self.active)

    def _note_paid_escalations(self) -> None:
        """An escalated invoice since paid: its Note no longer asks for a call.

        No thank-you goes (an escalated invoice gets no automatic mail), so the Note says
        so, whatever it said last: "please call the client", or the credit note or copy
        emailed since the escalation. A Note telling what could not be done on the row
        (`Ledger.note_problem`), or an email not delivered yet, is left to say so; the
        payment is told once that is fixed.
        """
        changed = False
        for number, inv in self.invoices.items():
            if not inv.escalated or number in self.failed_now or NOT_DONE in inv.note:
                continue
            pay = Payments.from_row(self.rows.get(number))
            status = status_of(state_of(inv, False), pay, self.as_of)
            if status not in (PAID, OVERPAID) or pay.paid_date is None:
                continue
            paid = format_money(pay.paid, inv.currency, "en")
            note = (
                f"{status} ({paid} by {pay.paid_date.isoformat()}) after it was "
                "escalated; no thank-you is emailed for an escalated invoice."
            )
            if note != inv.note:
                with self.ledger.transaction():
                    self.ledger.update_invoice(number, note=note)
                changed = True
        if changed:
            self.invoices = self.ledger.invoices(self.active)

    def _queue(self, wanted: set[str], held: Collection[str] = ()) -> list[LedgerMessage]:
        """The messages to send now (`decide.owed_now`); those no longer wanted are dropped."""
        ledger = self.ledger
        queue, dropped = owed_now(
            self.request, ledger.messages((PLANNED, SENDING, FAILED)), self.invoices,
            self.rows, self.book, wanted, held, ledger.run_id,
        )  # fmt: skip
        for msg in dropped:
            with ledger.transaction():
                ledger.drop_message(msg.message_id)
                self._note_not_retried(msg)
        return queue

    def _note_not_retried(self, msg: LedgerMessage) -> None:
        """A Note saying a dropped message "is tried again at the next run" says it is not:
        it no longer fits the invoice (the payment it answered was taken out, say)."""
        inv = self.invoices.get(msg.invoice_no)
        told = f"{email_words(msg.kind)} not delivered"
        if inv is not None and inv.note.startswith(told) and "tried again" in inv.note:
            self.ledger.update_invoice(
                msg.invoice_no,
                note=f"{told} earlier is not sent after all: it no longer fits the invoice as "
                f"it stands (its payment, Status or client changed since); "
                f"{self.as_of.isoformat()}.",
            )

    def send_owed(self, wanted: set[str], held: Collection[str] = ()) -> None:
        """Build and send every message still owed (see `_queue` for `wanted`, `held`)."""
        ledger, config, summary, sender = self.ledger, self.config, self.summary, self.sender
        queue = self._queue(wanted, held)
        if not queue or sender is None:
            return
        jobs, unbuildable = prepare_jobs(
            queue, self.invoices, self.book, config, self.calendar, self.as_of
        )
        for msg, why in unbuildable:
            with ledger.transaction():
                ledger.mark_failed(msg.message_id, why, rebuild=True)
                ledger.update_invoice(msg.invoice_no, note=f"{NOT_EMAILED} {why}")
            inv = self.invoices[msg.invoice_no]
            summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, "", why))

        documents = sum(1 for j in jobs if j.document is not None and j.message.raw is None)
        started, began_at = time.perf_counter(), time.time()
        made = self._made_messages(jobs, documents, sender.smtputf8)
        by_id: dict[str, Job] = {}  # the messages handed to the sender so far
        stage = SendStage(
            ledger,
            by_id,
            self.as_of,
            summary,
            self.progress("Sending email", len(jobs)),
            outbox_folder(self.request, self.paths),
            self.paths.workbook.parent,
            config.email.retry_window,
            bool(config.email.redirect_to),
        )

        def parcels() -> Iterator[Parcel]:
            """Each message as soon as it is built and recorded: sending overlaps rendering.

            Messages are recorded and marked `sending` a few at a time (one
            durable commit for each batch), never sent before their bytes and
            mark are in the ledger.
            """
            building, last_made = 0.0, began_at
            while batch := list(itertools.islice(made, RECORD_BATCH)):
                for _, item in batch:
                    if isinstance(item, Made):
                        last_made = max(last_made, item.made_at)
                began = time.perf_counter()
                recorded = _record_built(ledger, batch, summary)
                building += time.perf_counter() - began
                stage.marked.update(message.message_id for _, message in recorded)
                for job, message in recorded:
                    refusal = None if sender.smtputf8 else utf8_refusal(message, config.email.host)
                    if refusal:
                        _not_sendable(ledger, job, refusal, summary)
                        column = utf8_column(message)
                        header = header_for(CLIENTS, column, config.columns)
                        summary.errors.append(utf8_row_error(job, refusal, CLIENTS, header))
                        continue
                    message = not_again(message, job.message.payload.get("had", ()))
                    have = ledger.delivered_to(message.message_id)
                    todo = tuple(a for a in message.recipients if a.lower() not in have)
                    by_id[message.message_id] = job
                    yield Parcel(message, todo)
            summary.timings["render"] = last_made - began_at  # the workers' last message, built
            summary.timings["message build"] = building  # recording them in the ledger

        policy = RetryPolicy(config.email.retry_window, config.email.max_retries)
        # Built this run: back to the state they had should the run stop before sending them.
        before = {j.message.message_id: j.message.state for j in jobs if j.message.raw is None}
        try:
            # Overlap only pays when the render workers make messages while this process
            # sends; rendered here, one at a time, all are made first (as retries expect
            # their turn).
            deliver(parcels() if _overlap(jobs, config) else list(parcels()), sender, policy, stage)
        except BaseException:
            # A template failing on a later document (exit 2), an interrupt: those of the
            # recorded batches never handed to a server are built again by the next run,
            # from the templates the bookkeeper has corrected meanwhile.
            unsent = {m: before[m] for m in stage.marked if m in before}
            if unsent:
                with suppress(sqlite3.Error), ledger.transaction():
                    ledger.release_unsent(unsent)
            raise
        # Render and send overlap: "send" is the whole stretch, rendering included.
        summary.timings["send"] = time.perf_counter() - started

    def _made_messages(
        self, jobs: list[Job], documents: int, smtputf8: bool
    ) -> Iterator[tuple[Job, Made | BuiltMessage]]:
        """Every job with its message: built before (bytes kept in the ledger), or made now
        for the server (`smtputf8`: whether it offers SMTPUTF8, `mail.build_message`).

        With .docx attachments the render workers make each message beside its
        document and hand it over as soon as it is ready; PDFs need the whole
        batch rendered and converted first (one LibreOffice call).
        """
        paths, config = self.paths, self.config
        for job in jobs:
            msg = job.message
            if msg.raw is not None:  # built by an earlier run: the very same bytes go again
                kept = BuiltMessage(
                    msg.message_id, msg.envelope_from or "", msg.recipients, msg.raw,
                    msg.to, msg.cc,
                )  # fmt: skip
                client = self.book.clients.get(job.invoice.client_key)
                if msg.state == FAILED and client is not None:  # refused by some addresses
                    kept = readdressed(kept, client.emails, client.cc, config.email)
                yield job, kept
        unbuilt = [j for j in jobs if j.message.raw is None]
        if not unbuilt:
            return
        from .render import InvoiceRenderer  # docx and docxtpl: only when there is work

        renderer = InvoiceRenderer(paths.templates)
        tick = self.progress("Rendering invoices", documents)
        if config.email.attach == "docx":
            for item in make_messages(
                unbuilt, renderer, paths.invoices, config, paths.email_templates, smtputf8
            ):
                if item.files:
                    tick()
                yield item.job, item
            checkpoint("after-render")
            return
        mine = [j.document for j in unbuilt if j.document is not None]
        files: dict[str, tuple[Path, ...]] = {}
        for doc, path in zip(mine, renderer.render_many(mine, paths.invoices), strict=True):
            files[doc.file_stem] = (path,)
            tick()
        files = attach_pdfs(files, config.email.attach)
        checkpoint("after-render")
        for job in unbuilt:
            attached = files.get(job.document.file_stem, ()) if job.document else ()
            yield job, make_message_here(job, attached, config, paths.email_templates, smtputf8)

    def _apply(self, updates: UpdateSet) -> tuple[tuple[str, str], ...]:
        """Apply the cell updates to the workbook, or keep them owed for the next run.

        Returns the (sheet, header) of each column no cell could be written to (no free
        column left in the sheet).
        """
        ledger, paths, data, summary = self.ledger, self.paths, self.data, self.summary
        if not len(updates):
            ledger.clear_owed()
            return ()
        checkpoint("before-writeback")
        why = open_elsewhere(paths.workbook)
        try:
            if why:
                raise WriteBackError(f"{why}.")
            result = apply_updates(
                paths.workbook,
                updates.values(),
                header_rows=data.header_rows(),
                expected=self.stamp,
                backup_dir=paths.billing / "backups",
                new_sheet_headers={
                    INVOICES: sheet_headers(INVOICES, self.config.columns),
                    PAYMENTS: sheet_headers(PAYMENTS, self.config.columns),
                },
                ensure_headers=wanted_headers(data, self.config),
            )
        except WriteBackError as exc:
            with ledger.transaction():
                ledger.owe_updates(
                    (u.sheet, f"row {u.row}", u.column, u.value) for u in updates.values()
                )
            summary.updates_owed = True
            summary.notes.append(
                f"The workbook was not updated: {exc} The emails are recorded; the "
                f"{len(updates)} cell updates are kept and applied by the next run."
            )
            return ()
        checkpoint("after-replace")
        ledger.clear_owed()
        summary.workbook_written = result.changed
        summary.cells_written = len(updates)
        summary.notes.extend([*result.warnings, *result.notes])
        summary.workbook_incomplete = bool(result.warnings)
        # Compressed on a thread while the run settles and writes its report.
        self.backup = start_backup(ledger, paths.billing / "backups")
        self.stack.callback(self.backup.join)  # the run lock is held until it is done
        return result.unwritten

    def _settle(self, troubled: frozenset[str]) -> None:
        """Set aside what is done with, once the sheet shows what the ledger settles on."""
        ledger = self.ledger
        # Only invoices this run followed up: `payments` and `--only` leave the others'
        # thank-you or payment note owed, and a settled invoice is not looked at again.
        followed = {} if self.request.payments_only else {
            n: inv for n, inv in self.invoices.items() if self.request.covers(inv.client_key)
        }  # fmt: skip
        # A payment typed while the invoice itself was still to be delivered: the run that
        # delivered it owed its thank-you to the next run (one message a run), which must
        # still look at it. Settled as Paid now, it was never thanked.
        owed = decide_followups(
            self.request, followed, self.rows, self.book,
            ledger.events(followed.keys()), self.failed_now, self.calendar,
        )  # fmt: skip
        troubled |= {inv.invoice_no for inv, d in owed if d.action in PAYMENT_NOTES}
        troubled |= self.edited  # settled, the edit would go unsaid from the next run on
        troubled |= {n for n, row in self.rows.items() if row.typed_over}  # Due Date etc. too
        settle(ledger, self.data, followed, self.rows, self.failed_now, self.as_of, troubled)
        with ledger.transaction():  # the Resend cells honoured are cleared in the sheet now
            for number in [n for n, inv in self.invoices.items() if inv.resend_pending]:
                ledger.update_invoice(number, resend_pending=False)

    def _start_report(self) -> PendingReport:
        """The receivables report of the invoices as they stand after sending, begun now."""
        pending = start_report(
            receivables(self.invoices, self.rows, self.failed_now, self.as_of),
            self.as_of,
            self.paths.reports,
            year_credit_notes(self.ledger, self.as_of),
            not_counted_line(self.summary.not_counted.values(), self.config.billing.language),
            {key: client.name for key, client in self.book.clients.items()},
        )
        self.stack.callback(pending.abandon)  # a run stopping on an error leaves no worker
        return pending

    def _write_report(self) -> None:
        pending = self.pending_report or self._start_report()
        try:
            path = pending.wait()
        except (ReportError, OSError) as exc:
            self.summary.notes.append(f"The receivables report was not written: {exc}")
            return
        self.summary.report = path


# -- helpers of the stages, on plain values ---------------------------------------


def _overlap(jobs: list[Job], config: Config) -> bool:
    """Whether messages are sent while the render workers still make the rest."""
    unbuilt = sum(1 for j in jobs if j.message.raw is None)
    if not unbuilt or config.email.attach != "docx":
        return False
    from .render import PARALLEL_THRESHOLD

    return unbuilt > PARALLEL_THRESHOLD


def _record_built(
    ledger: Ledger, batch: list[tuple[Job, Made | BuiltMessage]], summary: RunSummary
) -> list[tuple[Job, BuiltMessage]]:
    """Keep the messages' bytes in the ledger and mark them `sending`: those that could be built.

    One flush to disk for the batch, before any of its messages goes out: the
    `sending` marks of a batch come together rather than one flush a message
    (a slow disk would otherwise set the pace of the sending). A crash leaves
    those not yet sent marked: the next run sends them, identical, once.
    """
    recorded: list[tuple[Job, BuiltMessage]] = []
    failed: list[tuple[Job, str]] = []
    with ledger.transaction():
        for job, item in batch:
            msg = job.message
            if isinstance(item, BuiltMessage):  # kept from an earlier run: already recorded
                if (item.recipients, item.to, item.cc) != (msg.recipients, msg.to, msg.cc):
                    ledger.store_envelope(item.message_id, item.recipients, item.to, item.cc)
                ledger.mark_sending(msg.message_id)
                recorded.append((job, item))
                continue
            message = item.message
            if message is None:
                ledger.mark_failed(msg.message_id, item.error, rebuild=True)
                ledger.update_invoice(msg.invoice_no, note=f"{NOT_EMAILED} {item.error}")
                failed.append((job, item.error))
                continue
            ledger.store_built(
                message.message_id, message.envelope_from, message.recipients, message.raw,
                message.to, message.cc,
            )  # fmt: skip
            if msg.kind == "invoice":
                ledger.update_invoice(msg.invoice_no, due_date=job.due)
            ledger.mark_sending(msg.message_id)
            recorded.append((job, message))
    for job, why in failed:
        inv = job.invoice
        summary.failed.append(SentItem(inv.invoice_no, inv.client, job.message.kind, "", why))
    return recorded


def _not_sendable(ledger: Ledger, job: Job, why: str, summary: RunSummary) -> None:
    msg, inv = job.message, job.invoice
    with ledger.transaction():
        ledger.mark_failed(msg.message_id, why, rebuild=True)
        ledger.update_invoice(msg.invoice_no, note=f"{NOT_EMAILED} {why}.")
    amount = amount_text(job, summary.language)
    summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, amount, why))


def settle(
    ledger: Ledger,
    data: WorkbookData,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    troubled: frozenset[str] = frozenset(),
) -> None:
    """Set aside Paid, Overpaid and Void invoices with nothing left to send.

    One whose row has an error to fix (`troubled`) stays open until it is fixed,
    and so does one the client paid more on than was due: every run lists that
    money as owed back (summary, receivables report) until the Paid Amount
    shows it refunded.

    The signature is the payment cells as the sheet now shows them (the
    bookkeeper's Paid Amount and Paid Date, and the Status the run wrote); a
    later run looks at the invoice again only when one of them changes.
    """
    pending = {m.invoice_no for m in ledger.messages((PLANNED, SENDING, FAILED))}
    cells_now = payment_cells(data.invoices, invoices.keys())
    marks: dict[str, str | None] = {}
    digests: dict[str, str | None] = {}
    for number, inv in invoices.items():
        state, pay = state_of(inv, number in failed), Payments.from_row(rows.get(number))
        status = status_of(state, pay, as_of)
        done = status in CLOSED and balance_of(state, pay)[1] >= 0  # and nothing owed back
        if done and number in cells_now and number not in pending | troubled:
            paid, paid_date, _, credit, resend = cells_now[number]
            written = status  # what the write-back put in the cell (Void: credited in full too)
            if inv.last_reissue != as_of:  # the Reissue flag must clear first
                marks[number] = signature((paid, paid_date, written, credit, resend))
                # Its rows as they stand (this run found them as billed): an edit later
                # reopens it. A void invoice's rows are history, never compared.
                digests[number] = (
                    None if inv.voided else rows_digests(data.services).get(number, "")
                )
                continue
        marks[number] = None
    kept = ledger.rows_digests()
    if any(d is None for d in kept.values()):  # settled before digests were kept: as they are
        now = rows_digests(data.services)
        digests.update({n: now.get(n, "") for n, d in kept.items() if d is None and n not in marks})
    with ledger.transaction():
        ledger.mark_settled(marks)
        ledger.keep_rows_digests(digests)


def owed_back(
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    summary: RunSummary,
) -> None:
    """Void invoices the client had paid towards, and invoices paid more than due: the money
    is owed back, or a credit (summary)."""
    for number, inv in invoices.items():
        state = state_of(inv, number in failed)
        pay = Payments.from_row(rows.get(number))
        _, balance = balance_of(state, pay)
        if balance < 0:  # whatever its status (on Hold too), as the report's Owed back sheet
            owed = format_money(-balance, inv.currency, summary.language)
            summary.owed_back.append(SentItem(number, inv.client, "owed back", owed))


def _email_summary(config: Config, summary: RunSummary, sender: Sender) -> None:
    """Send the bookkeeper the summary and the receivables report (`[email] report_to`)."""
    counts = f"{len(summary.sent)} sent, {len(summary.failed)} failed"
    if summary.errors:
        counts += f", {needs_attention(len(summary.errors))}"
    try:
        mail = OutgoingMail(
            kind="report",
            invoice_no="",
            to=config_addresses(config.email.report_to, "report_to"),
            cc=(),
            subject=f"Billing run {summary.as_of.isoformat()}: {counts}",
            text="\n".join(summary_lines(summary)) + "\n",
            html="",
            attachments=(summary.report,) if summary.report else (),
            message_id=make_message_id(config.email, config.company),
        )
        result = sender.send(build_message(mail, config.email, config.company))
    except MailError as exc:
        summary.notes.append(f"The summary email to {config.email.report_to} failed: {exc}")
        return
    if result.status != "sent":
        summary.notes.append(
            f"The summary email to {config.email.report_to} was not delivered: {result.summary}"
        )


def wanted_headers(data: WorkbookData, config: Config) -> dict[str, list[str]]:
    """Columns a written sheet must have: the tool's own, and Paid Amount/Date to type in."""
    renames = config.columns
    services = [
        header_for(SERVICES, c.name, renames) for c in SERVICES_COLUMNS if c.owner == "tool"
    ]
    wanted = {data.services.name: services}
    if data.invoices is not None:
        wanted[data.invoices.name] = sheet_headers(INVOICES, renames)
    payments = data.payments.name if data.payments else None
    payments = payments or next((n for n in data.sheet_names if n.casefold() == "payments"), None)
    if payments and not data.payments_problem:
        wanted[payments] = sheet_headers(PAYMENTS, renames)
    return wanted


def year_credit_notes(ledger: Ledger, as_of: date) -> list[CreditNoteItem]:
    """The credit notes of the as-of year, for the receivables report."""
    notes = [n for n in ledger.credit_notes() if n.note_date.year == as_of.year]
    invoices = ledger.invoices({n.invoice_no for n in notes}) if notes else {}
    return [
        CreditNoteItem(
            n.credit_note_no,
            n.note_date,
            n.invoice_no,
            invoices[n.invoice_no].client,
            invoices[n.invoice_no].currency,
            n.amount,
            n.reason,
        )
        for n in notes
        if n.invoice_no in invoices
    ]


def _reissued(count: int) -> str:
    """ "reissued 3 times", "reissued once", "never reissued" (max_count = 0)."""
    if count == 0:
        return "never reissued"
    return "reissued once" if count == 1 else f"reissued {count} times"
