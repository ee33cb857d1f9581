"""The weekly run: read -> validate -> plan -> number -> render -> send -> write back.

Plan first, then act. Everything that will happen is decided before the first
email; the ledger records each step before the next one, so a crash at any
point is finished by the next run without a duplicate.

    summary = run_billing(RunRequest(workbook=Path("service_log.xlsx"), as_of=date.today()))
    raise SystemExit(summary.exit_code)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import filelock
import pandas as pd

from . import cells
from .config import Config
from .faults import checkpoint
from .fmt import format_date, format_money
from .ledger import FAILED, PLANNED, SENDING, Ledger, LedgerInvoice, LedgerMessage, fingerprint
from .mail import (
    BuiltMessage,
    MailError,
    MailLoginError,
    OutgoingMail,
    Sender,
    build_message,
    make_message_id,
    open_sender,
    render_email,
)
from .model import (
    BOOKKEEPER_STATUSES,
    DRAFT,
    LINE_ERROR,
    LINE_INVOICED,
    LINE_SKIPPED,
    CellUpdate,
    CellValue,
    Client,
    InvoiceDocument,
    InvoiceRow,
    RowError,
    ServiceLine,
)
from .money import ZERO
from .pdf import PdfError, convert_to_pdf, soffice_path
from .plan import (
    Followup,
    InvoiceDraft,
    InvoiceState,
    Payments,
    decide_followup,
    draft_invoices,
    is_billable,
    status_of,
)
from .read import SheetData, WorkbookData, read_workbook
from .render import InvoiceRenderer
from .report import Receivable, ReportError, write_receivables_report
from .schema import INVOICES, INVOICES_COLUMNS, sheet_headers
from .terms import (
    BusinessCalendar,
    CalendarError,
    Terms,
    TermsError,
    describe_terms,
    discount_date,
    discounted_total,
    due_date,
    parse_terms,
)
from .validate import ClientBook, client_key, validate_clients, validate_services
from .writeback import FileStamp, WriteBackError, apply_updates, stamp_file

REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXIT_OK, EXIT_ATTENTION, EXIT_UNUSABLE, EXIT_BUSY = 0, 1, 2, 3


class UnusableError(Exception):
    """Config, workbook or mail login cannot be used: exit 2, nothing changed."""


class BusyError(Exception):
    """The workbook is open elsewhere or another run holds the lock: exit 3."""


@dataclass(frozen=True)
class RunRequest:
    workbook: Path
    as_of: date
    config: Config = field(default_factory=Config)
    dry_run: bool = False
    outbox: Path | None = None
    only: str | None = None


@dataclass(frozen=True)
class SentItem:
    invoice_no: str
    client: str
    kind: str
    amount: str  # formatted, in the invoice's currency
    note: str = ""


@dataclass
class RunSummary:
    """What the run did, for the end-of-run table and the exit code."""

    as_of: date
    dry_run: bool = False
    sent: list[SentItem] = field(default_factory=list)
    failed: list[SentItem] = field(default_factory=list)
    escalated: list[SentItem] = field(default_factory=list)
    previews: list[SentItem] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outstanding: dict[str, Decimal] = field(default_factory=dict)
    workbook_written: bool = False
    updates_owed: bool = False
    report: Path | None = None
    #: seconds per phase (read, plan, render, send, write-back, report)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def has_news(self) -> bool:
        """Anything happened that the bookkeeper should hear about."""
        return bool(self.sent or self.failed or self.escalated or self.errors)

    @property
    def exit_code(self) -> int:
        if self.errors or self.failed or self.updates_owed:
            return EXIT_ATTENTION
        return EXIT_OK


@dataclass(frozen=True)
class Paths:
    workbook: Path
    billing: Path
    invoices: Path
    preview: Path
    outbox: Path
    reports: Path
    templates: Path

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


def open_elsewhere(workbook: Path) -> str | None:
    """Why the workbook looks open in another program, or None."""
    owner = workbook.with_name("~$" + workbook.name)
    lo_lock = workbook.with_name(f".~lock.{workbook.name}#")
    for marker in (owner, lo_lock):
        if marker.exists():
            return f"{workbook.name} is open in another program ({marker.name} is beside it)"
    try:
        with workbook.open("r+b"):
            pass
    except PermissionError:
        return f"{workbook.name} cannot be opened for writing (open in another program?)"
    except OSError as exc:
        return f"{workbook.name} cannot be opened for writing ({exc.strerror})"
    return None


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
    return data, book, lines, errors


# -- reconciling the workbook with the ledger -------------------------------


def restored_lines(
    lines: Sequence[ServiceLine], services: SheetData, ledger: Ledger | None
) -> dict[int, str]:
    """Rows that lost an Invoice No the ledger gave them: row -> invoice number."""
    if ledger is None or not lines:
        return {}
    prints = {line.row: fingerprint(line) for line in lines}
    known = ledger.invoiced_lines(set(prints.values()))
    if not known:
        return {}
    # Invoice numbers already shown on some row with the same fingerprint are
    # accounted for; only the rest were lost from the workbook.
    candidates = {ln.row: ln for ln in lines if prints[ln.row] in known}
    dates = {ln.service_date for ln in candidates.values()}
    frame = services.frame
    billed = frame[frame["Invoice No"].notna()]
    shown: set[tuple[str, str]] = set()
    for row, values in billed.iterrows():
        try:
            when = cells.cell_date(values["Date"])
        except cells.CellError:
            continue
        if when not in dates:
            continue
        number = cells.cell_text(values["Invoice No"])
        try:
            probe = ServiceLine(
                int(row),
                when,
                cells.cell_text(values["Client"]),
                client_key(values["Client"]),
                cells.cell_text(values["Description"]),
                cells.cell_decimal(values["Quantity"])
                if not cells.is_blank(values["Quantity"])
                else Decimal(1),
                None,
                cells.cell_decimal(values["Amount"])
                if not cells.is_blank(values["Amount"])
                else ZERO,
            )
        except cells.CellError:
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


# -- documents and messages -------------------------------------------------


def _terms(text: str) -> Terms:
    try:
        return parse_terms(text)
    except TermsError:
        return parse_terms("Due on receipt")


def make_document(
    inv: LedgerInvoice,
    client: Client,
    company_config: Config,
    due: date,
    reissue_number: int = 0,
    reissue_date: date | None = None,
    amount_paid: Decimal = ZERO,
) -> InvoiceDocument:
    terms = _terms(inv.terms)
    language = client.language
    discount_by = discount_date(terms, inv.invoice_date)
    discounted = discounted_total(terms, inv.total, inv.currency)
    discount_text = format_money(discounted, inv.currency, language) if discounted else None
    description = describe_terms(
        terms,
        inv.invoice_date,
        due,
        language,
        lambda d: format_date(d, language),
        discount_text,
    )
    return InvoiceDocument(
        invoice_no=inv.invoice_no,
        invoice_date=inv.invoice_date,
        due_date=due,
        client=client,
        currency=inv.currency,
        language=language,
        lines=inv.lines,
        subtotal=inv.subtotal,
        tax_rate=inv.tax_rate,
        tax=inv.tax,
        total=inv.total,
        terms=inv.terms,
        terms_description=description,
        amount_paid=amount_paid,
        balance_due=inv.total - amount_paid,
        reissue_number=reissue_number,
        reissue_date=reissue_date,
        discount_date=discount_by if reissue_number == 0 else None,
        discounted_total=discounted if reissue_number == 0 else None,
        company=company_config.company,
    )


def email_context(
    inv: LedgerInvoice, client: Client, config: Config, payload: dict[str, str], due: date
) -> dict[str, str]:
    lang = client.language

    def money(value: str | Decimal | None) -> str:
        return format_money(Decimal(value or 0), inv.currency, lang)

    company = config.company
    return {
        "client_name": client.name,
        "invoice_no": inv.invoice_no,
        "invoice_date": format_date(inv.invoice_date, lang),
        "due_date": format_date(due, lang),
        "total": money(inv.total),
        "amount_paid": money(payload.get("paid")),
        "balance": money(payload.get("balance")),
        "excess": money(-Decimal(payload.get("balance") or 0)),
        "company_name": company.name,
        "company_email": company.email,
        "company_phone": company.phone,
        "reissue_number": str(payload.get("reissue_number", "")),
        "original_date": format_date(inv.invoice_date, lang),
        "reissue_date": format_date(date.fromisoformat(payload["as_of"]), lang)
        if payload.get("as_of")
        else "",
        "discount_text": "",
    }


@dataclass(frozen=True)
class Job:
    """A message to build (render + compose) and send, with its document."""

    message: LedgerMessage
    invoice: LedgerInvoice
    client: Client
    due: date
    document: InvoiceDocument | None


def due_on_sending(
    inv: LedgerInvoice, config: Config, calendar: BusinessCalendar, sent: date
) -> date:
    """The due date, with receipt-based terms counted from the actual send."""
    terms = _terms(inv.terms)
    receipt = sent + pd.Timedelta(days=config.billing.receipt_lag_days).to_pytimedelta()
    return due_date(terms, inv.invoice_date, receipt, calendar)


def prepare_jobs(
    messages: Iterable[LedgerMessage],
    invoices: dict[str, LedgerInvoice],
    book: ClientBook,
    config: Config,
    calendar: BusinessCalendar,
    as_of: date,
) -> tuple[list[Job], list[tuple[LedgerMessage, str]]]:
    """Jobs for messages still to send, and those that cannot be built (with why)."""
    jobs: list[Job] = []
    unbuildable: list[tuple[LedgerMessage, str]] = []
    for msg in messages:
        inv = invoices[msg.invoice_no]
        client = book.clients.get(inv.client_key)
        if msg.raw is not None:
            jobs.append(Job(msg, inv, client or _ghost(inv), inv.due_date, None))
            continue
        if client is None:
            unbuildable.append((msg, f"{inv.client} is no longer in the Clients sheet."))
            continue
        if inv.client_key in book.problems:
            unbuildable.append((msg, book.problems[inv.client_key]))
            continue
        paid = Decimal(msg.payload.get("paid", "0"))
        if msg.kind == "invoice":
            due = due_on_sending(inv, config, calendar, as_of)
            doc = make_document(inv, client, config, due)
        elif msg.kind == "reissue":
            due = date.fromisoformat(msg.payload["new_due"])
            doc = make_document(
                inv,
                client,
                config,
                due,
                int(msg.payload["reissue_number"]),
                date.fromisoformat(msg.payload["as_of"]),
                paid,
            )
        else:
            due, doc = inv.due_date, None
        jobs.append(Job(msg, inv, client, due, doc))
    return jobs, unbuildable


def _ghost(inv: LedgerInvoice) -> Client:
    return Client(key=inv.client_key, name=inv.client, emails=())


def compose(job: Job, attachments: tuple[Path, ...], config: Config) -> OutgoingMail:
    ctx = email_context(job.invoice, job.client, config, job.message.payload, job.due)
    subject, text, html = render_email(job.message.kind, job.client.language, ctx)
    first = job.invoice.first_message_id
    return OutgoingMail(
        kind=job.message.kind,
        invoice_no=job.invoice.invoice_no,
        to=job.client.emails,
        cc=job.client.cc,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        message_id=job.message.message_id,
        in_reply_to=first if job.message.kind != "invoice" else None,
    )


# -- cell updates -------------------------------------------------------------


def _differs(current: object, new: CellValue) -> bool:
    if new is None:
        return not cells.is_blank(current)
    if cells.is_blank(current):
        return True
    if isinstance(new, datetime):
        old = cells.cell_datetime(current)
        return old is None or abs((old - new).total_seconds()) >= 1
    if isinstance(new, date):
        try:
            return cells.cell_date(current) != new
        except cells.CellError:
            return True
    if isinstance(new, Decimal | int):
        try:
            return cells.cell_decimal(current) != Decimal(new)
        except cells.CellError:
            return True
    return cells.cell_text(current) != new


class UpdateSet:
    """Cell updates, keeping only those that change something."""

    def __init__(self) -> None:
        self.updates: dict[tuple[str, int, str], CellUpdate] = {}

    def set(
        self,
        sheet: SheetData | None,
        sheet_name: str,
        row: int,
        column: str,
        value: CellValue,
        headers: dict[str, str],
    ) -> None:
        current = None
        if sheet is not None and row in sheet.frame.index and column in sheet.present:
            current = sheet.frame.at[row, column]
        if (
            sheet is not None
            and row in sheet.frame.index
            and column in sheet.present
            and not _differs(current, value)
        ):
            return
        if value is None and (
            sheet is None or column not in sheet.present or row not in sheet.frame.index
        ):
            return
        self.updates[(sheet_name, row, column)] = CellUpdate(
            sheet_name, row, headers[column], value
        )

    def __len__(self) -> int:
        return len(self.updates)

    def values(self) -> list[CellUpdate]:
        return list(self.updates.values())


def services_updates(
    data: WorkbookData,
    book: ClientBook,
    lines: Sequence[ServiceLine],
    errors: dict[int, RowError],
    invoiced: dict[int, tuple[str, date]],
    due_changes: dict[str, date],
    as_of: date,
    config: Config,
    updates: UpdateSet,
) -> None:
    sheet = data.services
    h = sheet.headers

    def put(row: int, column: str, value: CellValue) -> None:
        updates.set(sheet, sheet.name, row, column, value, h)

    for row, error in errors.items():
        put(row, "Status", LINE_ERROR)
        put(row, "Error", error.message)
    for line in lines:
        if line.row in invoiced:
            number, due = invoiced[line.row]
            put(line.row, "Invoice No", number)
            put(line.row, "Due Date", due)
            put(line.row, "Status", LINE_INVOICED)
            put(line.row, "Error", None)
        elif not book.clients[line.client_key].active and is_billable(
            line, as_of, config.billing.bill_after_days
        ):
            put(line.row, "Status", LINE_SKIPPED)
            put(line.row, "Error", None)
        else:
            put(line.row, "Status", None)
            put(line.row, "Error", None)
    if due_changes:
        numbers = sheet.frame["Invoice No"].map(cells.cell_text)
        for row in sheet.frame.index[numbers.isin(due_changes)]:
            put(int(row), "Due Date", due_changes[numbers[row]])


def invoice_rows(sheet: SheetData | None) -> dict[str, InvoiceRow]:
    """Invoices sheet rows by Invoice No (the bookkeeper's payments are read here)."""
    if sheet is None:
        return {}
    result: dict[str, InvoiceRow] = {}
    frame = sheet.frame[sheet.frame["Invoice No"].notna()]
    for row, values in zip(frame.index, frame.to_dict("records"), strict=True):
        number = cells.cell_text(values["Invoice No"])
        if not number or number in result:
            continue
        try:
            paid = cells.optional_decimal(values["Paid Amount"])
        except cells.CellError:
            paid = None
        try:
            paid_date = cells.optional_date(values["Paid Date"])
        except cells.CellError:
            paid_date = None
        result[number] = InvoiceRow(
            row=int(row),
            invoice_no=number,
            paid_amount=paid,
            paid_date=paid_date,
            status=cells.cell_text(values["Status"]) or None,
        )
    return result


def payment_errors(sheet: SheetData | None, numbers: set[str]) -> list[RowError]:
    """Unreadable Paid Amount / Paid Date cells on the tool's invoices."""
    if sheet is None:
        return []
    errors = []
    frame = sheet.frame[sheet.frame["Invoice No"].map(cells.cell_text).isin(numbers)]
    for row, values in zip(frame.index, frame.to_dict("records"), strict=True):
        for column, convert in (
            ("Paid Amount", cells.optional_decimal),
            ("Paid Date", cells.optional_date),
        ):
            try:
                convert(values[column])
            except cells.CellError as exc:
                errors.append(
                    RowError(
                        sheet.name,
                        int(row),
                        sheet.headers[column],
                        f"{exc} The payment is ignored until it is fixed.",
                    )
                )
    return errors


def state_of(inv: LedgerInvoice, failed: bool) -> InvoiceState:
    return InvoiceState(
        invoice_no=inv.invoice_no,
        currency=inv.currency,
        terms=_terms(inv.terms),
        invoice_date=inv.invoice_date,
        due_date=inv.due_date,
        total=inv.total,
        last_sent=inv.last_sent.date() if inv.last_sent else None,
        reissue_count=inv.reissue_count,
        last_reissue=inv.last_reissue,
        escalated=inv.escalated,
        failed=failed,
    )


def invoices_updates(
    data: WorkbookData,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    updates: UpdateSet,
    config: Config,
) -> dict[str, Decimal]:
    """Bring the Invoices sheet in line with the ledger; returns outstanding per currency."""
    sheet = data.invoices
    name = sheet.name if sheet else INVOICES
    headers = (
        sheet.headers
        if sheet
        else dict(
            zip(
                [c.name for c in INVOICES_COLUMNS],
                sheet_headers(INVOICES, config.columns),
                strict=True,
            )
        )
    )
    if sheet is not None and len(sheet.frame.dropna(how="all")):
        next_row = int(sheet.frame.dropna(how="all").index.max()) + 1
    else:
        next_row = (sheet.header_row if sheet else 1) + 1
    outstanding: dict[str, Decimal] = {}
    for number in sorted(invoices, key=lambda n: (invoices[n].invoice_date, n)):
        inv = invoices[number]
        existing = rows.get(number)
        pay = Payments.from_row(existing)
        state = state_of(inv, number in failed)
        status = status_of(state, pay, as_of)
        _, balance = _balance(state, pay)
        if status not in BOOKKEEPER_STATUSES and balance > 0:
            outstanding[inv.currency] = outstanding.get(inv.currency, ZERO) + balance
        if existing is None:
            row, target = next_row, None
            next_row += 1
        else:
            row, target = existing.row, sheet
        values: dict[str, CellValue] = {
            "Invoice No": number,
            "Client": inv.client,
            "Currency": inv.currency,
            "Terms": inv.terms,
            "Invoice Date": inv.invoice_date,
            "Due Date": inv.due_date,
            "Total": inv.total,
            "Balance": balance,
            "Sent At": inv.sent_at,
            "Last Sent": inv.last_sent,
            "Reissue": "Yes" if inv.last_reissue == as_of else None,
            "Reissue Count": inv.reissue_count,
            "Note": inv.note or None,
        }
        if status not in BOOKKEEPER_STATUSES:
            values["Status"] = status
        for column, value in values.items():
            updates.set(target, name, row, column, value, headers)
    return outstanding


def _balance(state: InvoiceState, pay: Payments) -> tuple[Decimal, Decimal]:
    from .plan import balance_of

    return balance_of(state, pay)


# -- the run ------------------------------------------------------------------


ProgressFactory = Callable[[str, int], Callable[[], None]]


def _no_progress(label: str, total: int) -> Callable[[], None]:
    return lambda: None


def run_billing(request: RunRequest, progress: ProgressFactory = _no_progress) -> RunSummary:
    """The weekly run. Raises UnusableError (exit 2) or BusyError (exit 3)."""
    paths = Paths.for_request(request)
    if not paths.workbook.is_file():
        raise UnusableError(f"the workbook {paths.workbook} does not exist.")
    if request.dry_run:
        return _dry_run(request, paths)
    with ExitStack() as stack:
        paths.billing.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(paths.billing / "run.lock"), timeout=0)
        try:
            stack.enter_context(lock)
        except filelock.Timeout:
            raise BusyError(
                "another billing run is in progress (it holds .billing/run.lock); "
                "run again when it has finished."
            ) from None
        why = open_elsewhere(paths.workbook)
        if why:
            raise BusyError(f"{why}. Close the workbook and run again; nothing was changed.")
        stamp = stamp_file(paths.workbook)
        started = time.perf_counter()
        data, book, lines, errors = load(request)
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
    result = []
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
    summary = RunSummary(as_of)
    summary.timings["read"] = read_seconds
    started = time.perf_counter()
    summary.errors.extend(book.errors)
    summary.errors.extend(errors[r] for r in sorted(errors))
    owed_before = ledger.owed_updates()
    if owed_before:
        summary.notes.append(
            f"{len(owed_before)} workbook updates left over from an earlier run are applied now."
        )
    ledger.start_run(as_of)

    restored = restored_lines(lines, data.services, ledger)
    fresh = [ln for ln in lines if ln.row not in restored and _only(request, ln.client_key)]
    drafts = draft_invoices(fresh, book, as_of, config)
    rows = invoice_rows(data.invoices)
    invoices = ledger.invoices()
    summary.errors.extend(payment_errors(data.invoices, set(invoices)))
    all_messages = ledger.messages()
    done_events = {m.event for m in all_messages}
    failed_first = {m.invoice_no for m in all_messages if m.kind == "invoice" and m.state != "sent"}
    followups = _followups(request, invoices, rows, book, done_events, failed_first, calendar)

    sender: Sender | None = None
    pending = [m for m in all_messages if m.state in (PLANNED, SENDING, FAILED)]
    if drafts or followups or pending:
        try:
            sender = stack.enter_context(
                open_sender(
                    config.email,
                    config.company,
                    paths.outbox if request.outbox or config.email.mode == "outbox" else None,
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
        floor = existing_seq_floor(data, config, as_of)
        for draft in drafts:
            _record_draft(ledger, draft, config, calendar, as_of, floor, invoiced)
        for inv, decision in followups:
            _record_followup(ledger, inv, decision, config, as_of, summary)
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

    invoices = ledger.invoices()
    due_changes = _send_all(
        request, paths, ledger, invoices, book, rows, calendar, sender, summary, progress
    )
    invoices = ledger.invoices()
    for row, (number, _due) in list(invoiced.items()):
        invoiced[row] = (number, invoices[number].due_date)
    failed_now = {
        m.invoice_no for m in ledger.messages() if m.kind == "invoice" and m.state != "sent"
    }

    started = time.perf_counter()
    updates = UpdateSet()
    services_updates(data, book, lines, errors, invoiced, due_changes, as_of, config, updates)
    summary.outstanding = invoices_updates(data, invoices, rows, failed_now, as_of, updates, config)
    _write_back(request, paths, ledger, data, updates, stamp, summary)
    summary.timings["write-back"] = time.perf_counter() - started
    started = time.perf_counter()
    _write_report(paths, invoices, rows, failed_now, as_of, summary)
    if sender is not None and config.email.report_to and summary.has_news:
        _email_summary(config, summary, sender)
    summary.timings["report"] = time.perf_counter() - started
    ledger.finish_run("attention" if summary.exit_code else "ok")
    return summary


def summary_lines(summary: RunSummary) -> list[str]:
    """The run summary as plain text lines (for the emailed report and the log)."""
    lines = [f"Billing run as of {summary.as_of.isoformat()}", ""]
    for title, items in (
        ("Sent", summary.sent),
        ("Failed (tried again at the next run)", summary.failed),
        ("Escalated: please call the client", summary.escalated),
    ):
        if items:
            lines.append(f"{title}:")
            lines.extend(
                f"  {i.kind:<10} {i.invoice_no:<16} {i.client:<30} {i.amount:>14}  {i.note}"
                for i in items
            )
            lines.append("")
    for currency, amount in sorted(summary.outstanding.items()):
        lines.append(f"Outstanding {currency}: {amount:,}")
    if summary.errors:
        lines.append("")
        lines.append(f"{len(summary.errors)} rows need attention:")
        lines.extend(f"  {e}" for e in summary.errors)
    lines.extend(summary.notes)
    return lines


def _email_summary(config: Config, summary: RunSummary, sender: Sender) -> None:
    """Send the bookkeeper the summary and the receivables report (`[email] report_to`)."""
    counts = f"{len(summary.sent)} sent, {len(summary.failed)} failed"
    if summary.errors:
        counts += f", {len(summary.errors)} rows need attention"
    mail = OutgoingMail(
        kind="report",
        invoice_no="",
        to=tuple(a.strip() for a in config.email.report_to.replace(";", ",").split(",")),
        cc=(),
        subject=f"Billing run {summary.as_of.isoformat()}: {counts}",
        text="\n".join(summary_lines(summary)) + "\n",
        html="",
        attachments=(summary.report,) if summary.report else (),
        message_id=make_message_id(config.email, config.company),
    )
    try:
        result = sender.send(build_message(mail, config.email, config.company))
    except MailError as exc:
        summary.notes.append(f"The summary email to {config.email.report_to} failed: {exc}")
        return
    if result.status != "sent":
        summary.notes.append(
            f"The summary email to {config.email.report_to} was not delivered: {result.reply}"
        )


def existing_seq_floor(data: WorkbookData, config: Config, invoice_date: date) -> int:
    """The highest sequence number already in the workbook for this numbering scope.

    Numbers typed by hand, or issued before the ledger existed, are never reused.
    """
    from .ledger import number_pattern

    pattern = number_pattern(config.billing.number_format)
    numbers: set[str] = set(data.services.frame["Invoice No"].dropna().map(cells.cell_text))
    if data.invoices is not None:
        numbers.update(data.invoices.frame["Invoice No"].dropna().map(cells.cell_text))
    best = 0
    for number in numbers:
        match = pattern.match(number)
        if match is None:
            continue
        found = match.groupdict()
        if found.get("year") and int(found["year"]) != invoice_date.year:
            continue
        if found.get("month") and int(found["month"]) != invoice_date.month:
            continue
        best = max(best, int(found["seq"]))
    return best


def _record_draft(
    ledger: Ledger,
    draft: InvoiceDraft,
    config: Config,
    calendar: BusinessCalendar,
    as_of: date,
    floor: int,
    invoiced: dict[int, tuple[str, date]],
) -> None:
    number = ledger.allocate_number(config.billing.number_format, draft.invoice_date, floor)
    receipt = as_of + pd.Timedelta(days=config.billing.receipt_lag_days).to_pytimedelta()
    due = due_date(draft.terms, draft.invoice_date, receipt, calendar)
    inv = LedgerInvoice(
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
        note="Issued; waiting to be emailed.",
    )
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
                format_money(decision.balance, inv.currency, "en"),
            )
        )
        return
    assert decision.event is not None and decision.action is not None
    payload = {
        "as_of": as_of.isoformat(),
        "paid": str(decision.amount_due - decision.balance),
        "balance": str(decision.balance),
        "amount_due": str(decision.amount_due),
    }
    if decision.action == "reissue":
        assert decision.new_due is not None
        payload["reissue_number"] = str(decision.reissue_number)
        payload["new_due"] = decision.new_due.isoformat()
    ledger.plan_message(
        make_message_id(config.email, config.company),
        decision.event,
        inv.invoice_no,
        decision.action,
        payload,
    )


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
) -> dict[str, date]:
    """Build and send every message still owed; returns invoices whose due date moved."""
    config, as_of = request.config, request.as_of
    queue: list[LedgerMessage] = []
    seen: set[str] = set()
    for msg in ledger.messages((PLANNED, SENDING, FAILED)):
        inv = invoices[msg.invoice_no]
        client = book.clients.get(inv.client_key)
        if msg.state == FAILED and (msg.attempt_run or 0) >= ledger.run_id:
            continue  # failed in this very run: retried at the next one
        if not _only(request, inv.client_key) or msg.invoice_no in seen:
            continue  # at most one message per invoice per run
        held = Payments.from_row(rows.get(msg.invoice_no)).bookkeeper_status
        if held or (client is not None and not client.active):
            continue  # Void, Hold and inactive clients get no automatic mail
        seen.add(msg.invoice_no)
        queue.append(msg)
    if not queue or sender is None:
        return {}
    jobs, unbuildable = prepare_jobs(queue, invoices, book, config, calendar, as_of)
    for msg, why in unbuildable:
        with ledger.transaction():
            ledger.mark_failed(msg.message_id, why, rebuild=True)
            ledger.update_invoice(msg.invoice_no, note=f"Not emailed: {why}")
        inv = invoices[msg.invoice_no]
        summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, "", why))

    documents = [j.document for j in jobs if j.document is not None]
    files: dict[str, tuple[Path, ...]] = {}
    started = time.perf_counter()
    if documents:
        renderer = InvoiceRenderer(paths.templates)
        tick = progress("Rendering invoices", len(documents))
        rendered = renderer.render_many(documents, paths.invoices)
        for doc, path in zip(documents, rendered, strict=True):
            files[doc.file_stem] = (path,)
            tick()
        if config.email.attach != "docx":
            files = attach_pdfs(files, config.email.attach)
        checkpoint("after-render")
    summary.timings["render"] = time.perf_counter() - started
    built: dict[str, BuiltMessage] = {}
    with ledger.transaction():
        for job in jobs:
            msg = job.message
            if msg.raw is not None:
                built[msg.message_id] = BuiltMessage(
                    msg.message_id, msg.envelope_from or "", msg.recipients, msg.raw
                )
                continue
            attached = files.get(job.document.file_stem, ()) if job.document else ()
            try:
                message = build_message(
                    compose(job, attached, config), config.email, config.company
                )
            except MailError as exc:
                ledger.mark_failed(msg.message_id, str(exc), rebuild=True)
                ledger.update_invoice(msg.invoice_no, note=f"Not emailed: {exc}")
                summary.failed.append(
                    SentItem(job.invoice.invoice_no, job.invoice.client, msg.kind, "", str(exc))
                )
                continue
            ledger.store_built(
                message.message_id, message.envelope_from, message.recipients, message.raw
            )
            if msg.kind == "invoice":
                ledger.update_invoice(msg.invoice_no, due_date=job.due)
            built[msg.message_id] = message

    due_changes: dict[str, date] = {}
    started = time.perf_counter()
    tick = progress("Sending email", len(built))
    for job in jobs:
        msg = job.message
        if msg.message_id not in built:
            continue
        message = built[msg.message_id]
        ledger.mark_sending(msg.message_id)
        result = sender.send(message)
        checkpoint("after-send")
        tick()
        inv = job.invoice
        now = datetime.combine(as_of, datetime.now().time()).replace(microsecond=0)
        amount = _amount_for(job)
        if result.status == "sent":
            where = ", ".join(job.client.emails) or "the same recipients"
            with ledger.transaction():
                ledger.mark_sent(msg.message_id, now)
                _record_sent(ledger, job, now, as_of, where, due_changes)
            note = "resent after an interrupted run" if msg.state == SENDING else ""
            if note:
                summary.notes.append(
                    f"{inv.invoice_no}: a message cut off by an interrupted run was sent again, "
                    "identical and with the same Message-ID, so the client's mail program "
                    "drops any copy it already has."
                )
            summary.sent.append(SentItem(inv.invoice_no, inv.client, msg.kind, amount, note))
        elif result.maybe_delivered:
            # Unknown outcome: stays `sending`, so the next run resends these very bytes
            # (same Message-ID): a copy the client already has is dropped, not doubled.
            reply = result.reply
            ledger.update_invoice(
                inv.invoice_no,
                note=f"Email ({msg.kind}) not confirmed on {as_of.isoformat()}: {reply}; "
                "the identical message is sent again at the next run.",
            )
            summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, amount, reply))
        else:
            reply = result.reply or result.status
            with ledger.transaction():
                ledger.mark_failed(msg.message_id, reply, rebuild=True)
                ledger.update_invoice(
                    inv.invoice_no,
                    note=f"Email ({msg.kind}) not delivered on {as_of.isoformat()}: {reply}; "
                    "it is tried again at the next run.",
                )
            summary.failed.append(SentItem(inv.invoice_no, inv.client, msg.kind, amount, reply))
    summary.timings["send"] = time.perf_counter() - started
    return due_changes


def attach_pdfs(files: dict[str, tuple[Path, ...]], attach: str) -> dict[str, tuple[Path, ...]]:
    """Convert the rendered .docx files to PDF (one LibreOffice call per folder)."""
    by_folder: dict[Path, list[Path]] = {}
    for (docx,) in files.values():
        by_folder.setdefault(docx.parent, []).append(docx)
    pdf_of: dict[Path, Path] = {}
    for folder, docs in by_folder.items():
        try:
            pdfs = convert_to_pdf(docs, folder)
        except PdfError as exc:
            raise UnusableError(str(exc)) from None
        pdf_of.update(zip(docs, pdfs, strict=True))
    return {
        stem: ((docx, pdf_of[docx]) if attach == "both" else (pdf_of[docx],))
        for stem, (docx,) in files.items()
    }


def _amount_for(job: Job) -> str:
    payload = job.message.payload
    lang = "en"
    if job.message.kind == "invoice":
        return format_money(job.invoice.total, job.invoice.currency, lang)
    if job.message.kind == "thanks":
        return format_money(Decimal(payload.get("paid", "0")), job.invoice.currency, lang)
    return format_money(Decimal(payload.get("balance", "0")), job.invoice.currency, lang)


def _record_sent(
    ledger: Ledger, job: Job, now: datetime, as_of: date, where: str, due_changes: dict[str, date]
) -> None:
    msg, inv = job.message, job.invoice
    day = as_of.isoformat()
    if msg.kind == "invoice":
        ledger.update_invoice(
            inv.invoice_no,
            sent_at=inv.sent_at or now,
            last_sent=now,
            due_date=job.due,
            first_message_id=inv.first_message_id or msg.message_id,
            note=f"Emailed to {where} on {day}.",
        )
        if job.due != inv.due_date:
            due_changes[inv.invoice_no] = job.due
    elif msg.kind == "reissue":
        number = int(msg.payload["reissue_number"])
        ledger.update_invoice(
            inv.invoice_no,
            last_sent=now,
            reissue_count=max(inv.reissue_count, number),
            last_reissue=date.fromisoformat(msg.payload["as_of"]),
            due_date=job.due,
            note=f"Reissued (reminder {number}) to {where} on {day}; new due date "
            f"{job.due.isoformat()}.",
        )
        due_changes[inv.invoice_no] = job.due
    else:
        words = {
            "thanks": "Thank-you note for the payment",
            "underpaid": "Note about the part payment",
            "overpaid": "Note about the overpayment",
        }[msg.kind]
        ledger.update_invoice(inv.invoice_no, last_sent=now, note=f"{words} sent on {day}.")


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
            new_sheet_headers={INVOICES: sheet_headers(INVOICES, request.config.columns)},
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
    backup_ledger(ledger, paths.billing / "backups")


def backup_ledger(ledger: Ledger, folder: Path, keep: int = 20) -> Path:
    """A consistent copy of the ledger beside the workbook backups (keeps the last `keep`)."""
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
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


def receivables(
    invoices: dict[str, LedgerInvoice], rows: dict[str, InvoiceRow], failed: set[str], as_of: date
) -> list[Receivable]:
    items = []
    for number, inv in invoices.items():
        pay = Payments.from_row(rows.get(number))
        state = state_of(inv, number in failed)
        status = status_of(state, pay, as_of)
        if status == "Void":
            continue
        _, balance = _balance(state, pay)
        items.append(
            Receivable(
                number,
                inv.client,
                inv.currency,
                inv.invoice_date,
                inv.due_date,
                inv.total,
                pay.paid,
                balance,
                status,
            )
        )
    return items


def _write_report(
    paths: Paths,
    invoices: dict[str, LedgerInvoice],
    rows: dict[str, InvoiceRow],
    failed: set[str],
    as_of: date,
    summary: RunSummary,
) -> None:
    try:
        path = write_receivables_report(
            receivables(invoices, rows, failed, as_of), as_of, paths.reports
        )
    except (ReportError, OSError) as exc:
        summary.notes.append(f"The receivables report was not written: {exc}")
        return
    summary.report = path


# -- dry run --------------------------------------------------------------------


def _dry_run(request: RunRequest, paths: Paths) -> RunSummary:
    config, as_of = request.config, request.as_of
    data, book, lines, errors = load(request)
    calendar = calendar_for(config)
    summary = RunSummary(as_of, dry_run=True)
    summary.errors.extend(book.errors)
    summary.errors.extend(errors[r] for r in sorted(errors))
    ledger_path = paths.billing / "ledger.sqlite"
    with ExitStack() as stack:
        ledger = (
            stack.enter_context(Ledger.open_readonly(ledger_path)) if ledger_path.exists() else None
        )
        restored = restored_lines(lines, data.services, ledger)
        fresh = [ln for ln in lines if ln.row not in restored and _only(request, ln.client_key)]
        drafts = draft_invoices(fresh, book, as_of, config)
        floor = max(
            existing_seq_floor(data, config, as_of),
            ledger.seq_for(config.billing.number_format, as_of) if ledger else 0,
        )
        documents = []
        for index, draft in enumerate(drafts, start=1):
            number = config.billing.number_format.format(
                year=as_of.year, month=as_of.month, seq=floor + index
            )
            receipt = as_of + pd.Timedelta(days=config.billing.receipt_lag_days).to_pytimedelta()
            due = due_date(draft.terms, as_of, receipt, calendar)
            inv = LedgerInvoice(
                number,
                draft.client.key,
                draft.client.name,
                draft.currency,
                draft.terms.text,
                as_of,
                due,
                draft.subtotal,
                draft.client.tax_rate,
                draft.tax,
                draft.total,
                draft.invoice_lines,
                None,
                None,
                0,
                None,
                None,
                False,
                "",
            )
            documents.append(make_document(inv, draft.client, config, due))
            summary.previews.append(
                SentItem(
                    number,
                    draft.client.name,
                    DRAFT,
                    format_money(draft.total, draft.currency, "en"),
                )
            )
        if ledger is not None:
            invoices = ledger.invoices()
            all_messages = ledger.messages()
            failed = {
                m.invoice_no for m in all_messages if m.kind == "invoice" and m.state != "sent"
            }
            rows = invoice_rows(data.invoices)
            for inv, decision in _followups(
                request, invoices, rows, book, {m.event for m in all_messages}, failed, calendar
            ):
                summary.previews.append(
                    SentItem(
                        inv.invoice_no,
                        inv.client,
                        decision.action or "",
                        format_money(decision.balance, inv.currency, "en"),
                    )
                )
    if documents:
        InvoiceRenderer(paths.templates).render_many(documents, paths.preview)
        summary.notes.append(f"Preview documents are in {paths.preview}.")
    return summary
