"""A statement of account as a Word document: ready strings, the template, the file.

The context holds only ready strings in the client's language (like the
invoice's, `render.build_context`); the template (`statement.<lang>.docx`,
else `statement.docx`) goes through the invoice renderer's `load_template`,
so it is rendered the same way. Files are saved as
`account-statements/<year>/<Client>-<last day>.docx`, and a period other than
one calendar month as `<Client>-<first day>-<last day>.docx` (it never
replaces the month's statement that was emailed):

>>> statement_stem("Acme: Ltd", "USD", date(2026, 10, 31), several_currencies=False)
'Acme_ Ltd-2026-10-31'
>>> statement_stem("Acme", "USD", date(2026, 10, 31), False, start=date(2026, 1, 1))
'Acme-2026-01-01-2026-10-31'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import fmt
from .config import Config
from .model import Client, CompanyInfo
from .money import ZERO
from .pdf import PdfError, convert_to_pdf
from .render import (
    MAX_STEM_BYTES,
    _clean,
    _lines,
    _write_atomic,
    bank_context,
    company_context,
    load_template,
    qr_context,
    safe_filename,
    sample_document,
    template_file,
)
from .statement import (
    ADJUSTMENT,
    CREDIT_NOTE,
    DISCOUNT,
    FEE,
    INVOICE,
    LATE,
    LET_GO,
    PAYMENT,
    REFUND,
    ROUNDING,
    OpenItem,
    Statement,
    StatementItem,
)
from .statement_facts import client_for
from .validate import ClientBook

STATEMENTS_DIR = "account-statements"

#: What each statement line is, in the client's language ({ref}: its number, {inv}: the invoice).
ITEM_WORDS: dict[str, dict[str, str]] = {
    "en": {
        INVOICE: "Invoice {ref}",
        PAYMENT: "Payment received, invoice {inv}",
        CREDIT_NOTE: "Credit note {ref}, invoice {inv}",
        DISCOUNT: "Early payment discount, invoice {inv}",
        FEE: "Bank fee written off, invoice {inv}",
        ROUNDING: "Rounding difference written off, invoice {inv}",
        REFUND: "Refund or payment correction, invoice {inv}",
        ADJUSTMENT: "Correction to earlier statements",
    },
    "ru": {
        INVOICE: "Счёт {ref}",
        PAYMENT: "Оплата по счёту {inv}",
        CREDIT_NOTE: "Кредит-нота {ref} к счёту {inv}",
        DISCOUNT: "Скидка за досрочную оплату, счёт {inv}",
        FEE: "Списана банковская комиссия, счёт {inv}",
        ROUNDING: "Списана разница округления, счёт {inv}",
        REFUND: "Возврат или исправление оплаты, счёт {inv}",
        ADJUSTMENT: "Корректировка прошлых периодов",
    },
    "kk": {
        INVOICE: "Шот {ref}",
        PAYMENT: "{inv} шоты бойынша төлем",
        CREDIT_NOTE: "{inv} шотына {ref} кредит-нотасы",
        DISCOUNT: "Мерзімінен бұрын төлеу жеңілдігі, {inv} шоты",
        FEE: "Банк комиссиясы есептен шығарылды, {inv} шоты",
        ROUNDING: "Дөңгелектеу айырмасы есептен шығарылды, {inv} шоты",
        REFUND: "{inv} шоты бойынша қайтару немесе төлемді түзету",
        ADJUSTMENT: "Өткен кезеңдерді түзету",
    },
}
#: After an item dated in a period already stated, recorded after that statement (LATE).
LATE_WORDS = {
    "en": "recorded after the previous statement",
    "ru": "внесено после предыдущего акта сверки",
    "kk": "алдыңғы салыстыру актісінен кейін енгізілді",
}
#: The payment purpose a GOST code carries for a statement's open invoices.
GOST_PURPOSE = "Оплата по счетам {numbers}"


def item_words(item: StatementItem, lang: str) -> str:
    """What a statement line is, in the client's language, with its note when it has one.

    >>> late = StatementItem(date(2026, 2, 25), PAYMENT, "", "INV-1", Decimal("-400"), ZERO, LATE)
    >>> item_words(late, "en")
    'Payment received, invoice INV-1 (recorded after the previous statement)'
    """
    words = ITEM_WORDS.get(lang, ITEM_WORDS["en"])[item.kind]
    text = words.format(ref=item.reference, inv=item.invoice_no)
    if item.note == LATE:
        text += f" ({LATE_WORDS.get(lang, LATE_WORDS['en'])})"
    return text


def statement_context(st: Statement, client: Client, company: CompanyInfo) -> dict[str, object]:
    """Everything the statement template prints, as ready strings."""
    lang, cur = client.language, st.currency

    def money(amount: Decimal) -> str:
        return fmt.format_money(amount, cur, lang)

    items = [
        {
            "date": fmt.format_short_date(item.day, lang),
            "document": _clean(item_words(item, lang)),
            "charge": money(item.amount) if item.amount > ZERO else "",
            "credit": money(-item.amount) if item.amount < ZERO else "",
            "balance": money(item.balance),
        }
        for item in st.items
    ]
    open_items = [
        {
            "invoice_no": _clean(o.invoice_no),
            "invoice_date": fmt.format_short_date(o.invoice_date, lang),
            "due_date": fmt.format_short_date(o.due_date, lang),
            "days": str(o.days_overdue) if o.days_overdue else "",
            "total": money(o.total),
            "open": money(o.open_amount),
        }
        for o in st.open_items
    ]
    numbers = ", ".join(o.invoice_no for o in st.open_items)
    # a correction to earlier statements counts as a refund does: the summary adds up
    received = sum((st.total_of(kind) for kind in (PAYMENT, *LET_GO, REFUND, ADJUSTMENT)), ZERO)
    return {
        "language": lang,
        "currency": cur,
        **company_context(company),
        **bank_context(company),
        "client_name": _clean(client.name),
        "client_address": "\n".join(_lines(client.address)),
        "statement_date": fmt.format_date(st.end, lang),
        "footer_reference": f"{_clean(client.name)} · {fmt.format_date(st.end, lang)}",
        "period_start": fmt.format_short_date(st.start, lang),
        "period_end": fmt.format_short_date(st.end, lang),
        "period": f"{fmt.format_date(st.start, lang)} – {fmt.format_date(st.end, lang)}",
        "opening_balance": money(st.opening),
        "total_invoiced": money(st.total_of(INVOICE)),
        "total_credited": money(-st.total_of(CREDIT_NOTE)),
        "total_received": money(-received),
        "closing_balance": money(st.closing),
        "amount_due": money(st.due),
        "items": items,
        "aging": [money(amount) for amount in st.aging] + [money(sum(st.aging, ZERO))],
        "open_items": open_items,
        "has_unapplied": st.unapplied < ZERO,
        "unapplied": money(-st.unapplied),
        "owes": st.due > ZERO,
        "in_credit": st.closing < ZERO,
        "credit_balance": money(-st.closing),
        **qr_context(
            company,
            cur,
            st.due,
            numbers if 0 < len(numbers) <= 140 else f"{client.name} {st.end.isoformat()}",
            GOST_PURPOSE.format(numbers=numbers),
            lang,
        ),
    }


def sample_statement_context(language: str = "en") -> dict[str, object]:
    """A statement's context with an item of each list, for checking a template's names."""
    doc = sample_document(language)
    day, total = date(2026, 4, 5), doc.total
    st = Statement(
        client=doc.client.name, currency=doc.currency, start=date(2026, 4, 1),
        end=date(2026, 4, 30), opening=ZERO,
        items=(StatementItem(day, INVOICE, doc.invoice_no, doc.invoice_no, total, total),),
        closing=total,
        open_items=(OpenItem(doc.invoice_no, day, doc.due_date, total, total, 0, "Current"),),
        aging=(total, ZERO, ZERO, ZERO, ZERO), unapplied=ZERO,
    )  # fmt: skip
    return statement_context(st, doc.client, doc.company)


def statement_stem(
    client: str, currency: str, end: date, several_currencies: bool, start: date | None = None
) -> str:
    """`<Client>-<last day>`, with the currency when the client has statements in several;
    `<Client>-<first day>-<last day>` for a period that is not one whole calendar month
    (1 to 20 November as well: its file is not the whole month's)."""
    period = end.isoformat()
    whole_month = start == end.replace(day=1) and (end + timedelta(days=1)).day == 1
    if start is not None and not whole_month:
        period = f"{start.isoformat()}-{period}"
    suffix = f"-{period}" + (f"-{currency}" if several_currencies else "")
    # A long name is shortened, never its dates: each period keeps a file of its own
    # (room is left for "-made-<date>" and a "-2").
    room = MAX_STEM_BYTES - len(suffix.encode()) - len("-made-2026-01-01-99")
    name = safe_filename(client).encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return safe_filename(name.rstrip(". ") + suffix)


def statement_path(out_root: Path, st: Statement, several_currencies: bool = False) -> Path:
    """`<out_root>/account-statements/<year>/<Client>-<last day>.docx` (see statement_stem)."""
    stem = statement_stem(st.client, st.currency, st.end, several_currencies, st.start)
    return out_root / STATEMENTS_DIR / str(st.end.year) / f"{stem}.docx"


def statement_template(template_dir: Path, language: str) -> Path:
    """`statement.<language>.docx` when present, else `statement.docx`: the folder's own,
    else the bundled one (a folder made before statements existed has none)."""
    return template_file(template_dir, "statement", language)


def render_statement(
    template_dir: Path, context: Mapping[str, object], language: str, path: Path
) -> Path:
    """Write the statement document to `path` (atomically) and return it."""
    data = _loaded(statement_template(template_dir, language)).render_bytes(context)
    _write_atomic(path, data)
    return path


#: Templates compiled for statements: (path, modified, size) -> the template. Compiling a
#: Word template takes about 0.2 s; a month's statements for 1,000 clients took minutes.
_LOADED: dict[tuple[Path, int, int], Any] = {}


def _loaded(path: Path) -> Any:
    """`load_template(path)`, once per version of the file."""
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    template = _LOADED.get(key)
    if template is None:
        if len(_LOADED) >= 8:  # a template per language, at most a few
            _LOADED.clear()
        template = _LOADED[key] = load_template(path)
    return template


def write_statement_files(
    statements: Sequence[Statement],
    book: ClientBook,
    config: Config,
    templates: Path,
    out_root: Path,
    alongside: Sequence[Statement] = (),
    made: date | None = None,
) -> tuple[list[tuple[Statement, tuple[Path, ...]]], list[str]]:
    """Each statement as a .docx (and a PDF when `[email] attach` asks): files, and notes.

    `templates` is the folder's own template folder, or the bundled one; a
    folder made before statements existed has no statement.docx, so the
    bundled one is used. `alongside`: the same clients' statements of the
    period in other currencies, made on their own (the monthly ones, a
    message each): a client with several gets the currency in each file's
    name, so that one does not replace the other. With `made` (the `statement`
    command's date) a file that exists is never replaced (the month's statement that
    was emailed, another client's whose name makes the same file name): the new one is
    `<stem>-made-<made>.docx`.
    """
    currencies: dict[str, set[str]] = defaultdict(set)
    for st in (*statements, *alongside):
        currencies[st.client].add(st.currency)
    docs: list[tuple[Statement, Path]] = []
    taken: set[str] = set()  # case folded: Windows and macOS do not tell "A" from "a"
    for st in statements:
        client = client_for(book, st)
        context = statement_context(st, client, config.company)
        path = statement_path(out_root, st, len(currencies[st.client]) > 1)
        if made is not None and path.exists() and str(path).casefold() not in taken:
            # made before this call (emailed, say): it stays as the client has it
            path = path.with_name(f"{path.stem}-made-{made.isoformat()}{path.suffix}")
        # Two names that differ only in a character no file name may hold ("A/B", "A:B")
        # would share a file: the second one is numbered; so is a statement made again the
        # same day (the one made before may have gone to the client: it stays).
        stem, number = path.stem, 2
        while str(path).casefold() in taken or (made is not None and _made_before(path, taken)):
            path, number = path.with_name(f"{stem}-{number}{path.suffix}"), number + 1
        taken.add(str(path).casefold())
        docs.append((st, render_statement(templates, context, client.language, path)))
    notes: list[str] = []
    pdfs: dict[Path, Path] = {}
    if config.email.attach != "docx" and docs:
        by_folder: dict[Path, list[Path]] = defaultdict(list)
        for _, docx in docs:
            by_folder[docx.parent].append(docx)
        try:
            for folder, in_folder in by_folder.items():
                pdfs.update(zip(in_folder, convert_to_pdf(in_folder, folder), strict=True))
        except PdfError as exc:
            notes.append(f"The statements were not converted to PDF: {exc}")
    files: list[tuple[Statement, tuple[Path, ...]]] = []
    for st, docx in docs:
        paths: tuple[Path, ...] = (docx,)
        if docx in pdfs:
            paths = (pdfs[docx],) if config.email.attach == "pdf" else (docx, pdfs[docx])
        files.append((st, paths))
    return files, notes


def _made_before(path: Path, taken: set[str]) -> bool:
    """A `-made-` statement file there before this call (made earlier the same day)."""
    return "-made-" in path.stem and path.exists() and str(path).casefold() not in taken
