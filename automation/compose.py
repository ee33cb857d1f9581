"""Compose what goes out: invoice documents and the emails that carry them.

Everything here is built from the ledger's record of an invoice plus the
client's current details, so a message can be rebuilt at any later run.

    doc = make_document(invoice, client, config, due=date(2026, 4, 8))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from .config import Config
from .errors import UnusableError
from .fmt import format_date, format_date_until, format_money
from .ledger import LedgerInvoice, LedgerMessage
from .mail import (
    EMAIL_NAMES,
    OutgoingMail,
    render_email,
)
from .model import (
    Client,
    CreditNoteDocument,
    InvoiceDocument,
)
from .money import ZERO
from .pdf import PdfError, convert_to_pdf
from .terms import (
    BusinessCalendar,
    Terms,
    describe_terms,
    discount_date,
    discounted_total,
    due_date,
    parse_terms,
)
from .validate import ClientBook


@lru_cache(maxsize=256)
def terms_of(text: str) -> Terms:
    """The terms frozen on an invoice (the ledger keeps their canonical text, always valid)."""
    return parse_terms(text)


def make_document(
    inv: LedgerInvoice,
    client: Client,
    company_config: Config,
    due: date,
    reissue_number: int = 0,
    reissue_date: date | None = None,
    amount_paid: Decimal = ZERO,
    balance: Decimal | None = None,
    copy_number: int = 0,
    amount_due: Decimal | None = None,
) -> InvoiceDocument:
    """The document for an invoice, its n-th reissue, or its n-th copy (Resend).

    A reissue never offers the early-payment discount: its window has passed;
    neither does a copy sent after the window closed (`reissue_date`: the copy's date).
    A reissue, a copy, or an invoice paid towards before it went out (`amount_paid`)
    shows it as it stands: credits, what was paid and the balance.
    `amount_due`: what settles it, by `terms.amount_due` (`plan.balance_of`); below the
    total less credits, the rest is the discount the payment earned, printed as such.
    """
    terms = terms_of(inv.terms)
    closed = discount_date(terms, inv.invoice_date)
    if reissue_number or (
        copy_number and reissue_date and (closed is None or reissue_date > closed)
    ):
        terms = replace(terms, discount_percent=None, discount_days=0)
    description = terms_in_words(inv, terms, client.language, due)
    discount_by = discount_date(terms, inv.invoice_date)
    discounted = discounted_total(terms, inv.total, inv.currency)
    language = client.language
    as_it_stands = bool(reissue_number or copy_number or amount_paid)
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
        balance_due=inv.total - amount_paid if balance is None else balance,
        reissue_number=reissue_number,
        reissue_date=reissue_date if reissue_number else None,
        discount_date=discount_by,
        discounted_total=discounted,
        company=company_config.company,
        copy_number=copy_number,
        credited=inv.credited if as_it_stands else ZERO,
        discount_earned=discount_earned(inv, amount_due) if as_it_stands else ZERO,
    )


def discount_earned(inv: LedgerInvoice, amount_due: Decimal | None) -> Decimal:
    """The early-payment discount a payment earned: the total less credits, less what settles
    the invoice (`amount_due`, None when not known: a message an older version planned)."""
    if amount_due is None:
        return ZERO
    return max(inv.total - inv.credited - amount_due, ZERO)


def cancels_invoice(inv: LedgerInvoice, payload: dict[str, str]) -> bool:
    """Whether a credit note cancels its invoice: Void, Rebill, or a credit that brings
    the invoice's credits to its whole Total (the invoice is Void then as well)."""
    if payload.get("reason") in ("void", "rebill"):
        return True
    if payload.get("reason") != "credit" or "amount" not in payload:
        return False
    credited = Decimal(payload.get("credited_before") or 0) + Decimal(payload["amount"])
    return credited >= inv.total


def make_credit_note(
    inv: LedgerInvoice, client: Client, config: Config, payload: dict[str, str]
) -> CreditNoteDocument:
    """The credit note a `credit_note` message carries, from what the ledger recorded."""
    return CreditNoteDocument(
        credit_note_no=payload["credit_note_no"],
        note_date=date.fromisoformat(payload["as_of"]),
        invoice_no=inv.invoice_no,
        invoice_date=inv.invoice_date,
        invoice_total=inv.total,
        client=client,
        currency=inv.currency,
        language=client.language,
        amount=Decimal(payload["amount"]),
        credited_before=Decimal(payload["credited_before"]),
        amount_paid=Decimal(payload["paid"]),
        balance=Decimal(payload["balance"]),
        cancels=cancels_invoice(inv, payload),
        replacement=tuple(replacement_to_client(payload)),
        company=config.company,
    )


def replacement_to_client(payload: dict[str, str]) -> list[str]:
    """The new invoices a Rebill's credit note names to its client: the client's own (a line
    moved to another client goes on that client's invoice, which is no business of this
    one). The bookkeeper's Note names them all (`replacement`)."""
    named = payload.get("replacement_to_client", payload.get("replacement", ""))
    return [n for n in named.split("; ") if n]


def terms_in_words(inv: LedgerInvoice, terms: Terms, language: str, due: date) -> str:
    """The terms as printed on the invoice, naming the discounted amount when there is one."""
    discounted = discounted_total(terms, inv.total, inv.currency)
    return describe_terms(
        terms,
        inv.invoice_date,
        due,
        language,
        lambda d: format_date(d, language),
        format_money(discounted, inv.currency, language) if discounted else None,
    )


def email_context(
    inv: LedgerInvoice,
    client: Client,
    config: Config,
    payload: dict[str, str],
    due: date,
    kind: str = "invoice",
) -> dict[str, str]:
    """The names an email of `kind` shows (`mail.EMAIL_NAMES`), as ready strings in the
    client's language, each true of that email: what the message recorded when it was
    planned (`payload`), the invoice, the company. A name the kind has no value for is
    left out, not given a 0 (a template shows it only under `is defined`)."""
    lang = client.language

    def money(value: str | Decimal | None) -> str:
        return _money_text(str(Decimal(value or 0)), inv.currency, lang)

    company = config.company
    # What is owed now: as the message recorded it; a new invoice's email, planned before
    # anything was paid, owes its total less its credit notes.
    balance = Decimal(payload["balance"]) if "balance" in payload else inv.total - inv.credited
    values = {
        "credit_note_no": payload.get("credit_note_no", ""),
        "credit_note_date": format_date(date.fromisoformat(payload["as_of"]), lang)
        if payload.get("as_of")
        else "",
        "credit_amount": money(payload.get("amount")),
        "new_balance": money(max(balance, ZERO)),
        "owed_back": money(-balance) if balance < 0 else "",
        "replacement": ", ".join(replacement_to_client(payload)),
        "cancels_invoice": "yes" if cancels_invoice(inv, payload) else "",
        "balance_open": "yes" if balance > 0 else "",
        "client_name": client.name,
        "invoice_no": inv.invoice_no,
        "invoice_date": format_date(inv.invoice_date, lang),
        "due_date": format_date(due, lang),
        "due_date_until": format_date_until(due, lang),  # kk: the dative "дейін" takes
        "total": money(inv.total),
        # what was due: the total less credit notes, and less a discount the payment earned
        "amount_due": money(payload.get("amount_due") or inv.total - inv.credited),
        "amount_paid": money(payload.get("paid")),
        "balance": money(balance),
        "excess": money(-balance),
        "company_name": company.name,
        "company_email": company.email,
        "company_phone": company.phone,
        "reissue_number": str(payload.get("reissue_number", "")),
        "original_date": format_date(inv.invoice_date, lang),
        "reissue_date": format_date(date.fromisoformat(payload["as_of"]), lang)
        if payload.get("as_of")
        else "",
        "discount_text": discount_offer(inv, lang, due) if kind == "invoice" else "",
        # paid before the invoice's own email reached the client: this note carries it
        "invoice_attached": "yes" if payload.get("with_invoice") else "",
        # a copy (Resend) of an invoice already overdue on its day: "was due on", not "by"
        "past_due": "yes" if balance > 0 and _day_of(payload) > due else "",
    }
    names = EMAIL_NAMES[kind]
    return {name: value for name, value in values.items() if name in names}


def _balance_shown(payload: Mapping[str, str]) -> Decimal | None:
    """The Balance due a document prints, as the message recorded it: never below nothing.
    Paid more than was due, the document shows nothing due (its email tells the excess);
    "-$200.00" and "Minus two hundred dollars" asked the client for a negative payment."""
    return max(Decimal(payload["balance"]), ZERO) if "balance" in payload else None


def _day_of(payload: dict[str, str]) -> date:
    """The day a message was planned (`as_of`); one that records none counts as not late."""
    return date.fromisoformat(payload["as_of"]) if payload.get("as_of") else date.min


@lru_cache(maxsize=1024)
def _money_text(amount: str, currency: str, language: str) -> str:
    """`format_money` of a Decimal's text: most of a message's amounts are the same few
    (nothing paid, nothing credited). Keyed by the text, which tells 0 from -0."""
    return format_money(Decimal(amount), currency, language)


def discount_offer(inv: LedgerInvoice, language: str, due: date) -> str:
    """For the first email of a `P/D Net N` invoice: the discount in words, else ""."""
    terms = terms_of(inv.terms)
    if terms.discount_percent is None:
        return ""
    sentence = terms_in_words(inv, terms, language, due)
    return sentence if sentence.endswith(".") else sentence + "."  # a sentence of the email


@dataclass(frozen=True)
class Job:
    """A message to build (render + compose) and send, with its document."""

    message: LedgerMessage
    invoice: LedgerInvoice
    client: Client
    due: date
    document: InvoiceDocument | CreditNoteDocument | None


def due_on_sending(
    inv: LedgerInvoice, config: Config, calendar: BusinessCalendar, sent: date
) -> date:
    """The due date, with receipt-based terms counted from the actual send."""
    terms = terms_of(inv.terms)
    receipt = sent + timedelta(days=config.billing.receipt_lag_days)
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
        if msg.raw is not None:  # built by an earlier run: the due date its document says
            new_due = msg.payload.get("new_due") if msg.kind == "reissue" else None
            due = date.fromisoformat(new_due) if new_due else inv.due_date
            jobs.append(Job(msg, inv, client or ghost_client(inv), due, None))
            continue
        if client is None:
            unbuildable.append((msg, f"{inv.client} is no longer in the Clients sheet."))
            continue
        if (problem := book.mail_problem(inv.client_key)) is not None:
            unbuildable.append((msg, problem))
            continue
        paid = Decimal(msg.payload.get("paid", "0"))
        doc: InvoiceDocument | CreditNoteDocument | None
        if msg.kind == "invoice" or msg.payload.get("with_invoice"):
            # The invoice as it stands: a payment made before it could be delivered shows,
            # with the balance; a payment note carrying it (paid in full) says so. Made
            # again for the To addresses after a CC took the first (`Ledger.restate_kept`):
            # the due date that first one says (receipt-based terms count from then).
            due = due_on_sending(inv, config, calendar, as_of)
            if msg.payload.get("had") and inv.first_due is not None:
                due = inv.first_due
            doc = make_document(
                inv,
                client,
                config,
                due,
                amount_paid=paid,
                balance=_balance_shown(msg.payload),
                amount_due=_amount_due(msg.payload),
            )
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
                Decimal(msg.payload["balance"]),
                amount_due=_amount_due(msg.payload),
            )
        elif msg.kind == "credit_note":
            due, doc = inv.due_date, make_credit_note(inv, client, config, msg.payload)
        elif msg.kind == "resend":
            due = inv.due_date
            doc = make_document(
                inv,
                client,
                config,
                due,
                reissue_date=date.fromisoformat(msg.payload["as_of"]),
                amount_paid=paid,
                balance=_balance_shown(msg.payload),
                copy_number=int(msg.payload["copy_number"]),
                amount_due=_amount_due(msg.payload),
            )
        else:
            due, doc = inv.due_date, None
        jobs.append(Job(msg, inv, client, due, doc))
    return jobs, unbuildable


def _amount_due(payload: dict[str, str]) -> Decimal | None:
    return Decimal(payload["amount_due"]) if payload.get("amount_due") else None


def ghost_client(inv: LedgerInvoice) -> Client:
    return Client(key=inv.client_key, name=inv.client, emails=())


def compose(
    job: Job, attachments: tuple[Path, ...], config: Config, templates: Path | None = None
) -> OutgoingMail:
    """The email for a job; `templates` is a folder's own per-language email templates (each
    one it lacks is the bundled one: a set that predates this kind, say)."""
    ctx = email_context(
        job.invoice, job.client, config, job.message.payload, job.due, job.message.kind
    )
    subject, text, html = render_email(job.message.kind, job.client.language, ctx, templates)
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


def amount_text(job: Job, lang: str = "en") -> str:
    """The amount a message is about, for the bookkeeper's summary (`[billing] language`)."""
    return message_amount(job.message, job.invoice, lang)


def message_amount(msg: LedgerMessage, inv: LedgerInvoice, lang: str = "en") -> str:
    """`amount_text` of a message and its invoice (the dry run has no job to build)."""
    payload = msg.payload
    if msg.kind == "invoice":
        return format_money(inv.total, inv.currency, lang)
    if msg.kind == "thanks":
        return format_money(Decimal(payload.get("paid", "0")), inv.currency, lang)
    if msg.kind == "credit_note":
        return format_money(Decimal(payload.get("amount", "0")), inv.currency, lang)
    balance = Decimal(payload.get("balance", "0"))
    if msg.kind == "overpaid":  # the balance is below zero: what was paid too much
        balance = -balance
    return format_money(balance, inv.currency, lang)
