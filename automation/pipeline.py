"""The weekly run: read -> validate -> plan -> number -> render -> send -> write back.

Plan first, then act. Everything that will happen is decided before the first
email; the ledger records each step before the next one, so a crash at any
point is finished by the next run without a duplicate.

    summary = run_billing(RunRequest(workbook=Path("service_log.xlsx"), as_of=date.today()))
    raise SystemExit(summary.exit_code)
"""

from __future__ import annotations

import difflib
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import filelock

from .bank.apply import (
    import_payments,
    inbox_files,
    inbox_of,
    move_imported,
    payments_updates,
    summary_note,
)
from .bundled import TEMPLATES
from .compose import Job, attach_pdfs, make_document, prepare_jobs
from .config import Config
from .corrections import (
    Corrections,
    billed_rows,
    changed_lines,
    decide_corrections,
    moved_rows,
)
from .delivery import Parcel, RetryPolicy, deliver
from .errors import BusyError, UnusableError
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
    vet_email_templates,
)
from .model import (
    BOOKKEEPER_STATUSES,
    DRAFT,
    REBILL,
    InvoiceRow,
    RowError,
    ServiceLine,
)
from .notices import split_far_ahead, workbook_notices
from .pdf import soffice_path
from .plan import (
    Followup,
    InvoiceDraft,
    Payments,
    balance_of,
    decide_followup,
    draft_invoices,
    status_of,
)
from .private import restrict_folders
from .produce import Made, make_message_here, make_messages
from .read import WorkbookData, read_workbook
from .reconcile import (
    existing_credit_floor,
    existing_seq_floor,
    restored_lines,
    sequence_errors,
)
from .report import CreditNoteItem, ReportError, write_receivables_report
from .schema import (
    CLIENTS,
    INVOICES,
    PAYMENTS,
    SERVICES,
    SERVICES_COLUMNS,
    header_for,
    sheet_headers,
)
from .sending import SendStage, utf8_refusal, utf8_row_error
from .statement_facts import record_paid_cells
from .statement_mail import (
    STATEMENT,
    plan_monthly_statements,
    send_statements,
    statement_month_due,
    statement_rows_for,
    statements_to_send,
)
from .summary import RunSummary, SentItem, needs_attention, summary_lines
from .terms import (
    BusinessCalendar,
    CalendarError,
    due_date,
)
from .updates import (
    CLOSED,
    UpdateSet,
    flag_unknown_statuses,
    invoice_rows,
    invoices_updates,
    payment_cells,
    payment_errors,
    receivables,
    remembered_row,
    services_updates,
    signature,
    state_of,
)
from .validate import ClientBook, client_key, listed_errors, validate_clients, validate_services
from .writeback import FileStamp, WriteBackError, apply_updates, stamp_file

#: Messages recorded in the ledger per durable commit while sending goes on.
RECORD_BATCH = 8
REPO_TEMPLATES = TEMPLATES  # the bundled templates, used when the folder has none
#: Messages that stay owed until delivered; other kinds are re-decided every run.
KEPT_KINDS = frozenset({"invoice", "credit_note", "resend"})


@dataclass(frozen=True)
class RunRequest:
    workbook: Path
    as_of: date
    config: Config = field(default_factory=Config)
    dry_run: bool = False
    outbox: Path | None = None
    only: str | None = None
    #: statement files to import besides those in the [bank] inbox (`payments FILE...`)
    statements: tuple[Path, ...] = ()
    #: `payments`: import and apply bank statements only; bill and remind nobody
    payments_only: bool = False


@dataclass(frozen=True)
class Paths:
    workbook: Path
    billing: Path
    invoices: Path
    preview: Path
    outbox: Path
    reports: Path
    templates: Path

    @property
    def email_templates(self) -> Path | None:
        """The folder's own email templates (from `init`), else None for the bundled ones."""
        folder = self.templates / "email"
        return folder if self.templates != REPO_TEMPLATES and folder.is_dir() else None

    @classmethod
    def for_request(cls, request: RunRequest) -> Paths:
        folder = request.workbook.resolve().parent
        out = Path(request.config.billing.output_dir or folder)
        out = out if out.is_absolute() else folder / out
        outbox = request.outbox or Path(request.config.email.outbox_dir)
        outbox = outbox if outbox.is_absolute() else folder / outbox
        local_templates = folder / "templates"
        templates = (
            local_templates if (local_templates / "invoice.docx").exists() else REPO_TEMPLATES
        )
        return cls(
            workbook=request.workbook.resolve(),
            billing=folder / ".billing",
            invoices=out / "invoices",
            preview=out / "preview",
            outbox=outbox,
            reports=out / "reports",
            templates=templates,
        )


# -- checks before anything happens ------------------------------------------


BUSY_RUN = (
    "another billing run is in progress (it holds .billing/run.lock); "
    "run again when it has finished."
)


def ensure_not_busy(paths: Paths, locked: bool = False) -> None:
    """Raise BusyError (exit 3) when the workbook is open elsewhere or a run is going.

    `check` and `--dry-run` stop too: the file on disk may lack what is still
    unsaved in Excel, and a run in progress may be halfway through its updates.
    """
    why = open_elsewhere(paths.workbook)
    if why:
        raise BusyError(
            f"{why}. Nothing was changed and nothing was sent. Close the workbook, then "
            "run again now, or leave it to the next scheduled run."
        )
    lock_file = paths.billing / "run.lock"
    if not locked and lock_file.exists():
        try:
            with filelock.FileLock(str(lock_file), timeout=0):
                pass
        except filelock.Timeout:
            raise BusyError(BUSY_RUN) from None


def check_only(request: RunRequest, book: ClientBook) -> None:
    """`--only` must name a client of the Clients sheet (else nothing would happen, silently)."""
    if request.only is None or client_key(request.only) in book.clients:
        return
    names = [c.name for c in book.clients.values()]
    # "Acme" for "Acme Dental Clinic" is too short for difflib alone: names containing it count.
    part = [n for n in names if client_key(request.only) in client_key(n)]
    close = list(dict.fromkeys(part + difflib.get_close_matches(request.only, names, n=3)))[:3]
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    raise UnusableError(f"--only {request.only!r} matches no client in Clients.{hint}")


def open_elsewhere(workbook: Path) -> str | None:
    """Why the workbook looks open in another program, or None."""
    owner = workbook.with_name("~$" + workbook.name)
    lo_lock = workbook.with_name(f".~lock.{workbook.name}#")
    for marker in (owner, lo_lock):
        if marker.exists():
            return f"{workbook.name} is open in another program ({marker.name} is beside it)" + (
                stale_owner_hint(marker, workbook) if marker is owner else ""
            )
    try:
        with workbook.open("r+b"):
            pass
    except PermissionError:
        return f"{workbook.name} cannot be opened for writing (open in another program?)"
    except OSError as exc:
        return f"{workbook.name} cannot be opened for writing ({exc.strerror})"
    return None


def stale_owner_hint(owner: Path, workbook: Path) -> str:
    """Why an Excel owner file older than the workbook's last save may be a leftover.

    Excel writes ~$name when it opens a workbook and deletes it on close; one
    left by a crash blocks every run. Saving in Excel does not renew it, so
    an older owner file proves nothing alone: the hint says how to be sure.
    """
    try:
        if owner.stat().st_mtime >= workbook.stat().st_mtime:
            return ""
    except OSError:
        return ""
    return (
        f"; {owner.name} is older than the workbook's last save, so it may be stale, left "
        "by an Excel that crashed: when Excel is closed (on every computer that opens this "
        f"folder), deleting {owner.name} is safe"
    )


def calendar_for(config: Config) -> BusinessCalendar:
    try:
        return BusinessCalendar(
            config.billing.business_days,
            config.billing.holidays_country,
            config.billing.holidays_subdivision,
        )
    except CalendarError as exc:
        raise UnusableError(f"billing.toml: {exc}") from None


def load(
    request: RunRequest,
) -> tuple[WorkbookData, ClientBook, list[ServiceLine], dict[int, RowError]]:
    """Read and validate; raises read.WorkbookError when the workbook is unusable."""
    data = read_workbook(request.workbook, request.config)
    book = validate_clients(data.clients, request.config)
    lines, errors = validate_services(data.services, book)
    lines, far_ahead = split_far_ahead(lines, data.services, request.as_of)
    return data, book, lines, {**errors, **far_ahead}


# -- reconciling the workbook with the ledger -------------------------------


# -- documents and messages -------------------------------------------------


# -- cell updates -------------------------------------------------------------


# -- the run ------------------------------------------------------------------


ProgressFactory = Callable[[str, int], Callable[[], None]]


def vet_templates(paths: Paths, word: bool = True) -> None:
    """The folder's own templates, tried once in the sandbox before anything is numbered.

    A template that reaches beyond its data raises TemplateRefusedError (exit 2);
    the bundled templates are the package's own and need no trial. Word
    templates (`word`) are tried once there is something to render.
    """
    if paths.email_templates is not None:
        vet_email_templates(paths.email_templates)
    if word and paths.templates != REPO_TEMPLATES:
        from .render import InvoiceRenderer  # docx and docxtpl: only when there is work

        InvoiceRenderer(paths.templates).vet()


def _no_progress(label: str, total: int) -> Callable[[], None]:
    return lambda: None


def run_billing(request: RunRequest, progress: ProgressFactory = _no_progress) -> RunSummary:
    """The weekly run. Raises UnusableError (exit 2) or BusyError (exit 3)."""
    paths = Paths.for_request(request)
    if not paths.workbook.is_file():
        raise UnusableError(f"the workbook {paths.workbook} does not exist.")
    vet_templates(paths, word=False)  # Word: in _real_run once there is work; dry runs render
    restrict_folders((paths.billing, paths.invoices, paths.outbox, paths.preview, paths.reports))
    if request.dry_run:
        ensure_not_busy(paths)
        return _dry_run(request, paths)
    with ExitStack() as stack:
        paths.billing.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(paths.billing / "run.lock"), timeout=0)
        try:
            stack.enter_context(lock)
        except filelock.Timeout:
            raise BusyError(BUSY_RUN) from None
        ensure_not_busy(paths, locked=True)
        stamp = stamp_file(paths.workbook)
        started = time.perf_counter()
        data, book, lines, errors = load(request)
        check_only(request, book)
        read_seconds = time.perf_counter() - started
        calendar = calendar_for(request.config)
        ledger = stack.enter_context(Ledger.open(paths.billing / "ledger.sqlite"))
        return _real_run(
            read_seconds,
            request,
            paths,
            stack,
            ledger,
            data,
            book,
            lines,
            errors,
            calendar,
            stamp,
            progress,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def outbox_folder(request: RunRequest, paths: Paths) -> Path | None:
    """Where messages are written instead of emailed (outbox mode or --outbox), else None."""
    return paths.outbox if request.outbox or request.config.email.mode == "outbox" else None


def _only(request: RunRequest, key: str) -> bool:
    return request.only is None or client_key(request.only) == key


def _followups(
    request: RunRequest,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    done_events: set[str],
    failed: set[str],
    calendar: BusinessCalendar,
) -> list[tuple[LedgerInvoice, Followup]]:
    result: list[tuple[LedgerInvoice, Followup]] = []
    if request.payments_only:
        return result
    for number, inv in invoices.items():
        if not _only(request, inv.client_key):
            continue
        client = book.clients.get(inv.client_key)
        pay = Payments.from_row(rows.get(number))
        decision = decide_followup(
            state_of(inv, number in failed),
            pay,
            request.as_of,
            request.config,
            calendar,
            bool(client and client.active and inv.client_key not in book.problems),
            done_events,
        )
        if decision.action:
            result.append((inv, decision))
    return result


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
    """
    pending = ledger.messages((PLANNED, SENDING, FAILED))
    active, lost_rows = open_invoices(ledger, data)
    active |= {m.invoice_no for m in pending}
    invoices = ledger.invoices(active)
    rows = flag_unknown_statuses({**lost_rows, **invoice_rows(data.invoices, invoices.keys())})
    summary.errors.extend(payment_errors(data.invoices, rows))
    rows = apply_bank_statements(request, ledger, data, book, invoices, rows, summary)
    # A note still owed (planned, or refused by some address) is decided again, so
    # that it stays wanted while it still fits and is retried rather than dropped.
    owed = {m.event for m in pending if m.state in (PLANNED, FAILED)}
    done_events = ledger.events(invoices.keys()) - owed
    unsent = {m.invoice_no for m in pending if m.kind == "invoice"}
    followups = _followups(request, invoices, rows, book, done_events, unsent, calendar)
    return pending, active, invoices, rows, followups


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
    files = [*inbox_files(inbox_of(request.workbook, request.config)), *request.statements]
    rows, outcome = import_payments(ledger, data, book, invoices, rows, files, request.config)
    if files:  # part of "plan"; shown on its own when there were statements to read
        summary.timings["bank"] = time.perf_counter() - started
    summary.errors.extend(outcome.errors)
    summary.awaiting_review = outcome.review
    summary.statements_done = outcome.files_done
    summary.bank_lines = outcome.decided
    note = summary_note(outcome, len(files))
    if note:
        summary.notes.append(f"Dry run, nothing recorded. {note}" if request.dry_run else note)
    return rows


def _real_run(
    read_seconds: float,
    request: RunRequest,
    paths: Paths,
    stack: ExitStack,
    ledger: Ledger,
    data: WorkbookData,
    book: ClientBook,
    lines: list[ServiceLine],
    errors: dict[int, RowError],
    calendar: BusinessCalendar,
    stamp: FileStamp,
    progress: ProgressFactory,
) -> RunSummary:
    config, as_of = request.config, request.as_of
    summary = RunSummary(
        as_of, language=config.billing.language, outbox=outbox_folder(request, paths)
    )
    summary.timings["read"] = read_seconds
    started = time.perf_counter()
    summary.errors.extend(book.errors)
    summary.errors.extend(sequence_errors(data, config))
    summary.errors.extend(listed_errors(errors, book))
    summary.notes.extend(workbook_notices(data, book, lines, as_of, config))
    owed_before = ledger.owed_updates()
    if owed_before:
        summary.notes.append(
            f"{len(owed_before)} workbook updates left over from an earlier run are applied now."
        )
    ledger.start_run(as_of)

    restored = restored_lines(lines, data.services, ledger)
    fresh = [ln for ln in lines if ln.row not in restored and _only(request, ln.client_key)]
    if request.payments_only:
        fresh = []
    drafts, refused = refuse_non_positive(draft_invoices(fresh, book, as_of, config), data)
    errors = {**errors, **refused}
    summary.errors.extend(refused[r] for r in sorted(refused))
    pending, active, invoices, rows, followups = look_at_open_invoices(
        request, ledger, data, book, calendar, summary
    )
    fixes, unchanged, changed = look_at_corrections(request, data, book, invoices, rows, pending)
    if request.payments_only:  # corrections are the weekly run's: nothing numbered or mailed now
        fixes = replace(fixes, credits=(), rebills=(), resends=(), cleared=())
    summary.errors.extend(fixes.errors)
    summary.errors.extend(changed[r] for r in sorted(changed))
    errors = {**errors, **changed}
    # A correction is the invoice's one message of the run; a rebilled one gets no reminder.
    followups = [
        (inv, d) for inv, d in followups if inv.invoice_no not in fixes.mailing | fixes.rebilling
    ]
    rebilled = [ln for rebill in fixes.rebills for ln in rebill.lines]
    rebill_drafts = draft_invoices(rebilled, book, as_of, config)

    monthly = (
        statement_month_due(ledger, config, as_of)
        if request.only is None and not request.payments_only
        else None
    )
    statement_rows = statement_rows_for(data, pending, monthly, rows)  # after the bank import

    sender: Sender | None = None
    # `payments` only imports statements: what is owed is sent by the weekly run.
    mail_wanted = (
        drafts or followups or pending or rebill_drafts or fixes.credits or fixes.resends or monthly
    )
    if mail_wanted and not request.payments_only:
        vet_templates(paths)
        try:
            sender = stack.enter_context(
                open_sender(
                    config.email, config.company, outbox_folder(request, paths), paths.billing
                )
            )
        except MailLoginError as exc:
            raise UnusableError(f"the mail server cannot be used: {exc}") from None
        except MailError as exc:
            raise UnusableError(f"billing.toml [email]: {exc}") from None
        if config.email.attach != "docx" and soffice_path() is None:
            raise UnusableError(
                f'attach = "{config.email.attach}" needs LibreOffice to make PDFs, and it is '
                "not installed: install it (Debian/Ubuntu: apt-get install "
                'libreoffice-writer-nogui) or set attach = "docx" in [email].'
            )

    # Number and record everything planned, in one transaction, before any email.
    invoiced: dict[int, tuple[str, date]] = {}
    with ledger.transaction():
        record_paid_cells(ledger, rows, as_of)  # dates each part payment on statements
        floor = existing_seq_floor(data, config, as_of)
        for draft in rebill_drafts + drafts:
            active.add(_record_draft(ledger, draft, config, calendar, as_of, floor, invoiced))
        checkpoint("before-credit-notes")  # inside the transaction: all of it, or none
        credit_floor = existing_credit_floor(data, config, as_of)
        _record_corrections(
            ledger, fixes, invoices, rows, invoiced, config, as_of, summary, credit_floor
        )
        for inv, decision in followups:
            _record_followup(ledger, inv, decision, config, as_of, summary)
        if monthly:
            plan_monthly_statements(ledger, statement_rows, book, config, as_of, monthly)
    checkpoint("after-numbering")
    summary.timings["plan"] = time.perf_counter() - started
    known = ledger.invoices(set(restored.values())) if restored else {}
    for row, number in restored.items():
        invoiced[row] = (number, known[number].due_date)
    if restored:
        summary.notes.append(
            f"{len(restored)} Services rows had lost their Invoice No (an older copy of the "
            "workbook?); it is written back and they are not billed again."
        )

    invoices = ledger.invoices(active)
    # The invoices numbered just now: their rows, should the sheet hold any.
    rows.update(invoice_rows(data.invoices, invoices.keys() - rows.keys()))
    wanted = {decision.event for _, decision in followups if decision.event}
    if not request.payments_only:
        _send_all(
            request, paths, ledger, invoices, book, rows, calendar, sender, summary, progress,
            wanted,
        )  # fmt: skip
    if request.only is None and not request.payments_only:
        send_statements(ledger, sender, paths.templates, paths.email_templates,
                        paths.invoices.parent, statement_rows, book, config, as_of, summary)
    invoices = ledger.invoices(active)
    due_dates = ledger.due_dates()
    for row, (number, _due) in list(invoiced.items()):
        invoiced[row] = (number, due_dates[number])
    failed_now = {  # not (yet) delivered: the invoice itself, or its latest reminder or note
        m.invoice_no
        for m in ledger.messages((PLANNED, SENDING, FAILED))
        if m.kind == "invoice" or m.state != PLANNED
    }

    for line in unchanged:
        invoiced[line.row] = (line.invoice_no or "", due_dates[line.invoice_no or ""])
    started = time.perf_counter()
    updates = UpdateSet()
    shown = [*lines, *rebilled, *unchanged]
    services_updates(data, book, shown, errors, invoiced, due_dates, as_of, config, updates)
    summary.outstanding = invoices_updates(
        data, invoices, rows, failed_now, as_of, updates, config, fixes.refused_credit
    )
    payments_updates(data, ledger, config, updates)
    _write_back(request, paths, ledger, data, updates, stamp, summary)
    summary.notes.extend(move_imported(summary.statements_done, inbox_of(paths.workbook, config)))
    if not summary.updates_owed:  # the sheet now shows what the ledger settles on
        # Only invoices this run followed up: `payments` and `--only` leave the others'
        # thank-you or payment note owed, and a settled invoice is not looked at again.
        followed = {} if request.payments_only else {
            n: inv for n, inv in invoices.items() if _only(request, inv.client_key)
        }
        settle(ledger, data, followed, rows, failed_now, as_of, fixes.troubled)
        with ledger.transaction():  # the Resend cells honoured are cleared in the sheet now
            for number in [n for n, inv in invoices.items() if inv.resend_pending]:
                ledger.update_invoice(number, resend_pending=False)
    owed_back(invoices, rows, failed_now, as_of, summary)
    summary.timings["write-back"] = time.perf_counter() - started
    started = time.perf_counter()
    if not request.payments_only:
        _write_report(ledger, paths, invoices, rows, failed_now, as_of, summary)
    if sender is not None and config.email.report_to and summary.has_news:
        _email_summary(config, summary, sender)
    summary.timings["report"] = time.perf_counter() - started
    ledger.finish_run("attention" if summary.exit_code else "ok")
    ledger.reclaim()
    return summary


def look_at_corrections(
    request: RunRequest,
    data: WorkbookData,
    book: ClientBook,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    pending: list[LedgerMessage],
) -> tuple[Corrections, list[ServiceLine], dict[int, RowError]]:
    """Void, Rebill, Credit Amount and Resend typed into the Invoices sheet, and edited rows.

    Returns the corrections to make, the billed Services rows found unchanged
    (with their Invoice No, so their cells stay in step), and the changed ones.
    """
    mine = {n: inv for n, inv in invoices.items() if _only(request, inv.client_key)}
    billed = billed_rows(data.services, mine.keys())
    unsent = {m.invoice_no for m in pending if m.kind == "invoice"}
    fixes = decide_corrections(
        mine, rows, billed, book, unsent, request.as_of, request.config, data.invoices
    )
    typed_rebill = {n for n in mine if Payments.from_row(rows.get(n)).bookkeeper_status == REBILL}
    skip = typed_rebill | fixes.rebilling
    changed = changed_lines(billed, mine, skip, data.services)
    checked = [
        replace(found, invoice_no=number)
        for number, found_rows in billed.items()
        if number not in skip and mine[number].voided is None
        for found in found_rows
        if isinstance(found, ServiceLine) and found.row not in changed
    ]
    checked += moved_rows(billed, invoices).values()
    return fixes, checked, changed


def _record_corrections(
    ledger: Ledger,
    fixes: Corrections,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    invoiced: dict[int, tuple[str, date]],
    config: Config,
    as_of: date,
    summary: RunSummary,
    credit_floor: int = 0,
) -> None:
    """Number and record the credit notes and copies, each with its message, before any email.

    `credit_floor`: the highest credit note number the workbook already shows.
    """
    day = as_of.isoformat()
    replaced: dict[str, tuple[str, ...]] = {}
    for rebill in fixes.rebills:
        replaced[rebill.invoice_no] = tuple(sorted({invoiced[ln.row][0] for ln in rebill.lines}))
        ledger.forget_lines(rebill.invoice_no)  # its lines are on the new invoice now
    cancelled = {c.invoice_no for c in fixes.credits if c.reason != "credit"}
    for msg in ledger.messages((PLANNED, FAILED)):
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
            },
        )
        amount = format_money(credit.amount, inv.currency, "en")
        ledger.update_invoice(
            number, note=f"Credit note {note_no} for {amount} issued on {day}; being emailed."
        )
        summary.credit_notes.append(SentItem(number, inv.client, credit.reason, amount, note_no))
    done = ledger.events(fixes.resends)
    for number in fixes.resends:
        inv = invoices[number]
        pay = Payments.from_row(rows.get(number))
        _, balance = balance_of(state_of(inv, False), pay)
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
            },
        )
        ledger.update_invoice(number, resend_pending=True)
    by_row = {row.row: number for number, row in rows.items() if row.row}
    for error in fixes.errors:
        if error.row in by_row:
            ledger.update_invoice(by_row[error.row], note=f"Not done on {day}: {error.message}")


def owed_back(
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    summary: RunSummary,
) -> None:
    """Void invoices the client had paid towards: the money is owed back (summary)."""
    for number, inv in invoices.items():
        state = state_of(inv, number in failed)
        pay = Payments.from_row(rows.get(number))
        if not state.voided:
            continue
        _, balance = balance_of(state, pay)
        if balance < 0:
            summary.owed_back.append(
                SentItem(
                    number, inv.client, "owed back", format_money(-balance, inv.currency, "en")
                )
            )


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
        sent_at=None,
        last_sent=None,
        reissue_count=0,
        last_reissue=None,
        first_message_id=None,
        escalated=False,
        note=note,
    )


def refuse_non_positive(
    drafts: list[InvoiceDraft], data: WorkbookData
) -> tuple[list[InvoiceDraft], dict[int, RowError]]:
    """Drafts whose total is zero or less are not issued: their lines become row errors.

    A credit (a refund line, a discount) can go on an invoice with other work;
    an invoice for nothing or less than nothing is not something to email.
    """
    sheet = data.services
    keep: list[InvoiceDraft] = []
    refused: dict[int, RowError] = {}
    for draft in drafts:
        if draft.total > 0:
            keep.append(draft)
            continue
        total = format_money(draft.total, draft.currency, "en")
        message = (
            f"the unbilled lines for {draft.client.name} add up to {total}; an invoice must "
            "be for more than zero (record a credit by hand, or bill it with later work)."
        )
        for line in draft.lines:
            refused[line.row] = RowError(sheet.name, line.row, sheet.headers["Amount"], message)
    return keep, refused


def open_invoices(ledger: Ledger, data: WorkbookData) -> tuple[set[str], dict[str, InvoiceRow]]:
    """The invoices this run must look at: all but the settled ones left as they were.

    Also returns, for settled invoices whose row the workbook lost (an older
    copy restored), their remembered payment cells.
    """
    settled = ledger.settled()
    now = payment_cells(data.invoices, settled.keys())
    reopened = {n for n, sig in settled.items() if n not in now or signature(now[n]) != sig}
    lost = {n: remembered_row(n, settled[n]) for n in reopened if n not in now}
    return ledger.unsettled_numbers() | reopened, lost


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

    One whose row has an error to fix (`troubled`) stays open until it is fixed.

    The signature is the payment cells as the sheet now shows them (the
    bookkeeper's Paid Amount and Paid Date, and the Status the run wrote); a
    later run looks at the invoice again only when one of them changes.
    """
    pending = {m.invoice_no for m in ledger.messages((PLANNED, SENDING, FAILED))}
    cells_now = payment_cells(data.invoices, invoices.keys())
    marks: dict[str, str | None] = {}
    for number, inv in invoices.items():
        row = rows.get(number)
        status = status_of(state_of(inv, number in failed), Payments.from_row(row), as_of)
        if status in CLOSED and number in cells_now and number not in pending | troubled:
            paid, paid_date, shown, credit, resend = cells_now[number]
            written = shown if status in BOOKKEEPER_STATUSES and not inv.voided else status
            if inv.last_reissue != as_of:  # the Reissue flag must clear first
                marks[number] = signature((paid, paid_date, written, credit, resend))
                continue
        marks[number] = None
    with ledger.transaction():
        ledger.mark_settled(marks)


def _record_draft(
    ledger: Ledger,
    draft: InvoiceDraft,
    config: Config,
    calendar: BusinessCalendar,
    as_of: date,
    floor: int,
    invoiced: dict[int, tuple[str, date]],
) -> str:
    number = ledger.allocate_number(config.billing.number_format, draft.invoice_date, floor)
    inv = issue(draft, number, config, calendar, note="Issued; waiting to be emailed.")
    due = inv.due_date
    ledger.add_invoice(inv, [(fingerprint(ln), ln.row) for ln in draft.lines])
    ledger.plan_message(
        make_message_id(config.email, config.company),
        f"{number}/invoice",
        number,
        "invoice",
        {"as_of": as_of.isoformat()},
    )
    for line in draft.lines:
        invoiced[line.row] = (number, due)
    return number


def _record_followup(
    ledger: Ledger,
    inv: LedgerInvoice,
    decision: Followup,
    config: Config,
    as_of: date,
    summary: RunSummary,
) -> None:
    if decision.action == "escalate":
        ledger.update_invoice(
            inv.invoice_no,
            escalated=True,
            note=f"Escalated on {as_of.isoformat()}: reissued {inv.reissue_count} times and "
            "still unpaid; please call the client.",
        )
        summary.escalated.append(
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


def _send_all(
    request: RunRequest,
    paths: Paths,
    ledger: Ledger,
    invoices: dict[str, LedgerInvoice],
    book: ClientBook,
    rows: dict[str, InvoiceRow],
    calendar: BusinessCalendar,
    sender: Sender | None,
    summary: RunSummary,
    progress: ProgressFactory,
    wanted: set[str],
) -> None:
    """Build and send every message still owed.

    `wanted` holds the follow-up events this run decided on; older follow-ups
    not among them are dropped unless they may already have been delivered.
    """
    config, as_of = request.config, request.as_of
    queue: list[LedgerMessage] = []
    seen: set[str] = set()
    for msg in ledger.messages((PLANNED, SENDING, FAILED)):
        if msg.kind == STATEMENT:
            continue  # a client's monthly statement: statement_mail.send_statements sends it
        inv = invoices[msg.invoice_no]
        client = book.clients.get(inv.client_key)
        if msg.state == FAILED and (msg.attempt_run or 0) >= ledger.run_id:
            continue  # failed in this very run: retried at the next one
        if not _only(request, inv.client_key) or msg.invoice_no in seen:
            continue  # at most one message per invoice per run
        if msg.kind not in KEPT_KINDS and msg.state != SENDING and msg.event not in wanted:
            # A reminder or note from an earlier run that no longer fits (the client
            # paid since, the invoice was put on hold...): it is not sent at all.
            with ledger.transaction():
                ledger.drop_message(msg.message_id)
            continue
        held = Payments.from_row(rows.get(msg.invoice_no)).bookkeeper_status
        if msg.kind != "credit_note" and (held or (client is not None and not client.active)):
            continue  # Void, Hold and inactive clients get no automatic mail (a credit note goes)
        seen.add(msg.invoice_no)
        queue.append(msg)
    if not queue or sender is None:
        return
    jobs, unbuildable = prepare_jobs(queue, invoices, book, config, calendar, as_of)
    for msg, why in unbuildable:
        with ledger.transaction():
            ledger.mark_failed(msg.message_id, why, rebuild=True)
            ledger.update_invoice(msg.invoice_no, note=f"Not emailed: {why}")
        inv = invoices[msg.invoice_no]
        summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, "", why))

    documents = sum(1 for j in jobs if j.document is not None and j.message.raw is None)
    started, began_at = time.perf_counter(), time.time()
    made = _made_messages(jobs, documents, paths, config, progress)
    outbox = outbox_folder(request, paths)
    by_id: dict[str, Job] = {}  # the messages handed to the sender so far
    stage = SendStage(
        ledger,
        by_id,
        as_of,
        summary,
        progress("Sending email", len(jobs)),
        outbox,
        paths.workbook.parent,
        config.email.retry_window,
    )

    def parcels() -> Iterator[Parcel]:
        """Each message as soon as it is built and recorded: sending overlaps rendering.

        Messages are recorded a few at a time (one durable commit for each
        batch), never sent before their bytes are in the ledger.
        """
        building, last_made = 0.0, began_at
        while batch := list(itertools.islice(made, RECORD_BATCH)):
            for _, item in batch:
                if isinstance(item, Made):
                    last_made = max(last_made, item.made_at)
            began = time.perf_counter()
            recorded = _record_built(ledger, batch, summary)
            building += time.perf_counter() - began
            for job, message in recorded:
                refusal = None if sender.smtputf8 else utf8_refusal(message, config.email.host)
                if refusal:
                    _not_sendable(ledger, job, refusal, summary)
                    email_header = header_for(CLIENTS, "Email", config.columns)
                    summary.errors.append(utf8_row_error(job, refusal, CLIENTS, email_header))
                    continue
                have = ledger.delivered_to(message.message_id)
                todo = tuple(a for a in message.recipients if a.lower() not in have)
                by_id[message.message_id] = job
                yield Parcel(message, todo)
        summary.timings["render"] = last_made - began_at  # the workers' last message, built
        summary.timings["message build"] = building  # recording them in the ledger

    policy = RetryPolicy(config.email.retry_window, config.email.max_retries)
    # Overlap only pays when the render workers make messages while this process sends;
    # rendered here, one at a time, all are made first (as retries expect their turn).
    try:
        deliver(parcels() if _overlap(jobs, config) else list(parcels()), sender, policy, stage)
    finally:
        stage.flush()
    # Render and send overlap: "send" is the whole stretch, rendering included.
    summary.timings["send"] = time.perf_counter() - started


def _overlap(jobs: list[Job], config: Config) -> bool:
    """Whether messages are sent while the render workers still make the rest."""
    unbuilt = sum(1 for j in jobs if j.message.raw is None)
    if not unbuilt or config.email.attach != "docx":
        return False
    from .render import PARALLEL_THRESHOLD

    return unbuilt > PARALLEL_THRESHOLD


def _made_messages(
    jobs: list[Job],
    documents: int,
    paths: Paths,
    config: Config,
    progress: ProgressFactory,
) -> Iterator[tuple[Job, Made | BuiltMessage]]:
    """Every job with its message: built before (bytes kept in the ledger), or made now.

    With .docx attachments the render workers make each message beside its
    document and hand it over as soon as it is ready; PDFs need the whole
    batch rendered and converted first (one LibreOffice call).
    """
    for job in jobs:
        msg = job.message
        if msg.raw is not None:  # built by an earlier run: the very same bytes go again
            yield job, BuiltMessage(
                msg.message_id, msg.envelope_from or "", msg.recipients, msg.raw,
                msg.to, msg.cc,
            )  # fmt: skip
    unbuilt = [j for j in jobs if j.message.raw is None]
    if not unbuilt:
        return
    from .render import InvoiceRenderer  # docx and docxtpl: only when there is work

    renderer = InvoiceRenderer(paths.templates)
    tick = progress("Rendering invoices", documents)
    if config.email.attach == "docx":
        for item in make_messages(unbuilt, renderer, paths.invoices, config, paths.email_templates):
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
        yield job, make_message_here(job, attached, config, paths.email_templates)


def _record_built(
    ledger: Ledger, batch: list[tuple[Job, Made | BuiltMessage]], summary: RunSummary
) -> list[tuple[Job, BuiltMessage]]:
    """Keep the messages' bytes in the ledger before they are sent; those that could be built."""
    recorded: list[tuple[Job, BuiltMessage]] = []
    failed: list[tuple[Job, str]] = []
    with ledger.transaction():
        for job, item in batch:
            msg = job.message
            if isinstance(item, BuiltMessage):  # kept from an earlier run: already recorded
                recorded.append((job, item))
                continue
            message = item.message
            if message is None:
                ledger.mark_failed(msg.message_id, item.error, rebuild=True)
                ledger.update_invoice(msg.invoice_no, note=f"Not emailed: {item.error}")
                failed.append((job, item.error))
                continue
            ledger.store_built(
                message.message_id, message.envelope_from, message.recipients, message.raw,
                message.to, message.cc,
            )  # fmt: skip
            if msg.kind == "invoice":
                ledger.update_invoice(msg.invoice_no, due_date=job.due)
            recorded.append((job, message))
    for job, why in failed:
        inv = job.invoice
        summary.failed.append(SentItem(inv.invoice_no, inv.client, job.message.kind, "", why))
    return recorded


def _not_sendable(ledger: Ledger, job: Job, why: str, summary: RunSummary) -> None:
    msg, inv = job.message, job.invoice
    with ledger.transaction():
        ledger.mark_failed(msg.message_id, why, rebuild=True)
        ledger.update_invoice(msg.invoice_no, note=f"Not emailed: {why}.")
    summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, "", why))


def _write_back(
    request: RunRequest,
    paths: Paths,
    ledger: Ledger,
    data: WorkbookData,
    updates: UpdateSet,
    stamp: FileStamp,
    summary: RunSummary,
) -> None:
    if not len(updates):
        ledger.clear_owed()
        return
    checkpoint("before-writeback")
    why = open_elsewhere(paths.workbook)
    try:
        if why:
            raise WriteBackError(f"{why}.")
        result = apply_updates(
            paths.workbook,
            updates.values(),
            header_rows=data.header_rows(),
            expected=stamp,
            backup_dir=paths.billing / "backups",
            new_sheet_headers={
                INVOICES: sheet_headers(INVOICES, request.config.columns),
                PAYMENTS: sheet_headers(PAYMENTS, request.config.columns),
            },
            ensure_headers=wanted_headers(data, request.config),
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
        return
    checkpoint("after-replace")
    ledger.clear_owed()
    summary.workbook_written = result.changed
    summary.notes.extend([*result.warnings, *result.notes])
    summary.workbook_incomplete = bool(result.warnings)
    backup_ledger(ledger, paths.billing / "backups")


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


def backup_ledger(ledger: Ledger, folder: Path, keep: int = 20) -> Path:
    """A consistent copy of the ledger beside the workbook backups (keeps the last `keep`)."""
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    ledger.reclaim()  # else each copy carries the pages of this run's dropped message bytes
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"ledger-{stamp}.sqlite"
    copy = sqlite3.connect(target)
    try:
        ledger.conn.backup(copy)
    finally:
        copy.close()
    for old in sorted(folder.glob("ledger-*.sqlite"))[:-keep]:
        old.unlink(missing_ok=True)
    return target


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


def _write_report(
    ledger: Ledger,
    paths: Paths,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    summary: RunSummary,
) -> None:
    try:
        path = write_receivables_report(
            receivables(invoices, rows, failed, as_of),
            as_of,
            paths.reports,
            year_credit_notes(ledger, as_of),
        )
    except (ReportError, OSError) as exc:
        summary.notes.append(f"The receivables report was not written: {exc}")
        return
    summary.report = path


def run_problems(
    request: RunRequest,
    loaded: tuple[WorkbookData, ClientBook, list[ServiceLine], dict[int, RowError]],
) -> list[RowError]:
    """For `check`: every problem a run on the same date would list.

    A dry run's look at the workbook, the ledger (a private copy: nothing in
    .billing/ changes) and the bank inbox, without making documents.
    """
    summary = _dry_run(request, Paths.for_request(request), loaded=loaded, render=False)
    return summary.errors


# -- dry run --------------------------------------------------------------------


def _dry_run(
    request: RunRequest,
    paths: Paths,
    loaded: tuple[WorkbookData, ClientBook, list[ServiceLine], dict[int, RowError]] | None = None,
    render: bool = True,
) -> RunSummary:
    config, as_of = request.config, request.as_of
    data, book, lines, errors = loaded or load(request)
    check_only(request, book)
    calendar = calendar_for(config)
    summary = RunSummary(as_of, dry_run=True, language=config.billing.language)
    summary.errors.extend(book.errors)
    summary.errors.extend(sequence_errors(data, config))
    summary.errors.extend(listed_errors(errors, book))
    summary.notes.extend(workbook_notices(data, book, lines, as_of, config))
    ledger_path = paths.billing / "ledger.sqlite"
    with ExitStack() as stack:
        ledger = (
            stack.enter_context(Ledger.open_copy(ledger_path)) if ledger_path.exists() else None
        )
        restored = restored_lines(lines, data.services, ledger)
        fresh = [ln for ln in lines if ln.row not in restored and _only(request, ln.client_key)]
        if request.payments_only:
            fresh = []
        drafts, refused = refuse_non_positive(draft_invoices(fresh, book, as_of, config), data)
        summary.errors.extend(refused[r] for r in sorted(refused))
        floor = max(
            existing_seq_floor(data, config, as_of),
            ledger.seq_for(config.billing.number_format, as_of) if ledger else 0,
        )
        rebill_drafts: list[InvoiceDraft] = []
        if ledger is not None:
            pending, _, invoices, rows, followups = look_at_open_invoices(
                request, ledger, data, book, calendar, summary
            )
            fixes, _, changed = look_at_corrections(request, data, book, invoices, rows, pending)
            summary.errors.extend(fixes.errors)
            summary.errors.extend(changed[r] for r in sorted(changed))
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
                summary.previews.append(SentItem(number, inv.client, "resend", ""))
            busy = fixes.mailing | fixes.rebilling
            followups = [(inv, d) for inv, d in followups if inv.invoice_no not in busy]
            for inv, decision in followups:
                summary.previews.append(
                    SentItem(
                        inv.invoice_no,
                        inv.client,
                        decision.action or "",
                        format_money(
                            decision.paid if decision.action == "thanks" else decision.balance,
                            inv.currency,
                            config.billing.language,
                        ),
                    )
                )
            monthly = statement_month_due(ledger, config, as_of) if request.only is None else None
            if monthly:
                summary.previews.extend(
                    SentItem("", st.client, STATEMENT,
                             format_money(st.closing, st.currency, config.billing.language))
                    for st in statements_to_send(
                        ledger, statement_rows_for(data, pending, monthly, rows), book, as_of,
                        monthly,
                    )
                )  # fmt: skip
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
    if documents and render:
        from .render import InvoiceRenderer

        InvoiceRenderer(paths.templates).render_many(documents, paths.preview)
        summary.notes.append(f"Preview documents are in {paths.preview}.")
    return summary
