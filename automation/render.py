"""Fill the Word invoice template for each invoice: fast, safe, same as docxtpl.

The context handed to a template holds ready strings only (money, dates, the
tax rate, the amount in words), formatted in the client's language. Rendering
is what docxtpl does, with autoescaping on, but each template is patched and
compiled once; per invoice only the XML parts are rendered and the zip is
written by copying the template's other members unchanged:

>>> renderer = InvoiceRenderer(Path("templates"))          # doctest: +SKIP
>>> renderer.render(doc, Path("invoices"))                  # doctest: +SKIP
PosixPath('invoices/2026/INV-2026-0007.docx')
>>> safe_filename('ACME: "Q1" <draft>?')
'ACME_ _Q1_ _draft__'
"""

from __future__ import annotations

import bisect
import copy
import html
import io
import itertools
import math
import os
import re
import secrets
import threading
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from difflib import get_close_matches
from functools import lru_cache
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, Protocol, TypeVar

from babel.numbers import format_percent
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.oxml import parse_xml, serialize_part_xml
from docx.oxml.ns import nsmap
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage
from jinja2 import Environment, Template, TemplateError, TemplateSyntaxError, nodes
from lxml import etree

from . import fmt, sandbox
from .bundled import TEMPLATES
from .errors import UnusableError
from .model import Client, CompanyInfo, CreditNoteDocument, InvoiceDocument, InvoiceLine
from .money import round_money
from .payqr import payment_qr
from .processes import cpu_count, fresh_context
from .text import storable_name
from .upgrade import current, own_file
from .zipcopy import Entry, ZipCopier, deflate, entry, raw_member

T = TypeVar("T")
R = TypeVar("R")

#: More documents than this are spread over processes by `render_many`; fewer
#: are not worth the start-up of a process pool.
PARALLEL_THRESHOLD = 40
#: The templates shipped with the tool: a folder's own set may predate credit notes.
BUNDLED_TEMPLATES = TEMPLATES
#: What the renderer renders: an invoice (original, reissue, copy) or a credit note.
Document_ = InvoiceDocument | CreditNoteDocument
#: Longest file name stem in UTF-8 bytes: well inside every file system's 255.
MAX_STEM_BYTES = 150
#: Core properties docxtpl renders as templates (DocxTemplate.render_properties).
RENDERED_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
#: First on every page of a dry run's preview document (`mark_draft`), whatever the template.
DRAFT_MARK = "DRAFT \u2014 preview of a dry run, not sent"


# -- context -----------------------------------------------------------------


#: Printed size of a payment QR code: 30 mm scans well from paper and screen.
QR_WIDTH_MM = 30


@dataclass(frozen=True)
class ImagePart:
    """A picture for a template variable (a payment QR code), placed where `{{ name }}` is."""

    png: bytes
    width_mm: float = QR_WIDTH_MM


def qr_context(
    company: CompanyInfo, currency: str, amount: Decimal, reference: str, purpose: str, lang: str
) -> dict[str, object]:
    """`payment_qr` (an ImagePart, or "" where no standard applies) and its caption's values."""
    code = payment_qr(company, currency, amount, reference, purpose)
    return {
        "payment_qr": ImagePart(code.png) if code else "",
        "payment_qr_amount": fmt.format_money(amount, currency, lang) if code else "",
        "payment_qr_reference": _clean(reference) if code else "",
    }


def company_context(company: CompanyInfo) -> dict[str, object]:
    """The company's name, address and contacts as every document prints them."""
    footer_parts = (company.name, company.email, company.phone, company.website)
    return {
        "company_name": _clean(company.name),
        "company_address": "\n".join(_lines(company.address)),
        "company_email": _clean(company.email),
        "company_phone": _clean(company.phone),
        "company_tax_id": _clean(company.tax_id),
        "company_website": _clean(company.website),
        "company_footer": " · ".join(_clean(p) for p in footer_parts if p.strip()),
    }


def bank_context(company: CompanyInfo) -> dict[str, object]:
    """The bank details a client pays to (invoices and statements), and whether there are any."""
    bank = {
        "bank_name": _clean(company.bank_name),
        "account_name": _clean(company.account_name),
        "account_number": _clean(company.account_number),
        "iban": _clean(company.iban),
        "swift": _clean(company.swift),
    }
    return {"has_bank_details": any(bank.values()), **bank}


def build_context(doc: InvoiceDocument) -> dict[str, object]:
    """Everything the template prints, as ready strings in the client's language."""
    lang, cur = doc.language, doc.currency
    company = doc.company
    is_reissue = doc.reissue_number > 0
    # a reissue or copy is the invoice as it stands: what was paid (0.00 too) and the balance
    show_paid = is_reissue or doc.copy_number > 0 or doc.amount_paid > 0 or doc.credited > 0
    amount_due = doc.balance_due if show_paid else doc.total
    address_lines = _lines(doc.client.address)
    context: dict[str, object] = {
        "language": lang,
        "currency": cur,
        "invoice_no": _clean(doc.invoice_no),
        "invoice_date": fmt.format_date(doc.invoice_date, lang),
        "due_date": fmt.format_date(doc.due_date, lang),
        "terms": _clean(doc.terms),
        "terms_description": _clean(doc.terms_description),
        **company_context(company),
        **bank_context(company),
        "client_name": _clean(doc.client.name),
        "client_address": "\n".join(address_lines),
        "client_address_lines": address_lines,
        "lines": [_line_context(line, cur, lang) for line in doc.lines],
        "subtotal": fmt.format_money(doc.subtotal, cur, lang),
        "tax_rate": format_rate(doc.tax_rate, lang),
        "tax": fmt.format_money(doc.tax, cur, lang),
        "total": fmt.format_money(doc.total, cur, lang),
        "show_paid": show_paid,
        "show_credit": doc.credited > 0,
        "credited": fmt.format_money(-doc.credited, cur, lang),
        "show_discount_earned": show_paid and doc.discount_earned > 0,
        "discount_earned": fmt.format_money(-doc.discount_earned, cur, lang),
        "amount_paid": fmt.format_money(doc.amount_paid, cur, lang),
        "balance_due": fmt.format_money(doc.balance_due, cur, lang),
        "amount_due": fmt.format_money(amount_due, cur, lang),
        "amount_in_words": fmt.amount_in_words(amount_due, cur, lang),
        "is_reissue": is_reissue,
        "reissue_number": doc.reissue_number,
        "original_invoice_date": fmt.format_date(doc.invoice_date, lang),
        "reissue_date": fmt.format_date(doc.reissue_date, lang) if doc.reissue_date else "",
        "has_discount": _discount_open(doc),
        "discount_date": fmt.format_date(doc.discount_date, lang) if doc.discount_date else "",
        "discount_date_until": fmt.format_date_until(doc.discount_date, lang)
        if doc.discount_date
        else "",
        "discounted_total": (
            fmt.format_money(doc.discounted_total, cur, lang)
            if doc.discounted_total is not None
            else ""
        ),
        **qr_context(
            company, cur, amount_due, doc.invoice_no, f"Оплата по счёту № {doc.invoice_no}", lang
        ),
        "draft": False,  # True in a dry run's preview (`InvoiceRenderer(draft=True)`)
    }
    return context


def credit_note_context(doc: CreditNoteDocument) -> dict[str, object]:
    """Everything the credit note template prints, as ready strings in the client's language."""
    lang, cur = doc.language, doc.currency
    company = doc.company

    def money(amount: Decimal) -> str:
        return fmt.format_money(amount, cur, lang)

    return {
        "language": lang,
        "currency": cur,
        "credit_note_no": _clean(doc.credit_note_no),
        "credit_note_date": fmt.format_date(doc.note_date, lang),
        "invoice_no": _clean(doc.invoice_no),
        "invoice_date": fmt.format_date(doc.invoice_date, lang),
        "invoice_total": money(doc.invoice_total),
        **company_context(company),
        "client_name": _clean(doc.client.name),
        "client_address": "\n".join(_lines(doc.client.address)),
        "credit_amount": money(doc.amount),
        "credit_in_words": fmt.amount_in_words(doc.amount, cur, lang),
        "has_earlier_credit": doc.credited_before > 0,
        "earlier_credit": money(doc.credited_before),
        "has_payment": doc.amount_paid > 0,
        "amount_paid": money(doc.amount_paid),
        "new_balance": money(max(doc.balance, Decimal(0))),
        "owed_back": money(-doc.balance) if doc.balance < 0 else "",
        "cancels_invoice": doc.cancels,
        "replacement": ", ".join(_clean(n) for n in doc.replacement),
        "draft": False,
    }


def _discount_open(doc: InvoiceDocument) -> bool:
    """An early-payment discount is offered only while it can still be earned."""
    if doc.discount_date is None or doc.discounted_total is None:
        return False
    issued = doc.reissue_date if doc.reissue_number and doc.reissue_date else doc.invoice_date
    return issued <= doc.discount_date


def format_rate(rate: Decimal, language: str) -> str:
    """A tax rate fraction as a percentage: Decimal('0.12') -> "12%" ("12 %" in ru)."""
    return _format_rate(str(rate), language)  # str keeps every digit: "0.12" is not "0.120"


@lru_cache(maxsize=64)
def _format_rate(rate: str, language: str) -> str:
    """Cached: a run prints the same few rates on every invoice, and Babel takes 13 µs."""
    return format_percent(
        Decimal(rate),
        format="#,##0.###%",
        locale=fmt.babel_locale(language),
        decimal_quantization=False,
    )


def _line_context(line: InvoiceLine, currency: str, language: str) -> dict[str, str]:
    return {
        "date": fmt.format_short_date(line.service_date, language),
        "description": _clean(line.description),
        "quantity": fmt.format_number(line.quantity.normalize(), language),
        "unit_price": fmt.format_price(line.unit_price, currency, language),
        "amount": fmt.format_money(line.amount, currency, language),
    }


#: Characters XML 1.0 cannot carry, plus \a and \f, which docxtpl would turn
#: into a paragraph or page break.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    """Text safe to print: line breaks kept as \\n, unprintable characters dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNPRINTABLE.sub("", text).strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in _clean(text).split("\n") if line.strip()]


def sample_document(
    language: str = "en", currency: str = "USD", lines: int = 4, reissue_number: int = 0
) -> InvoiceDocument:
    """A realistic invoice, for previews, the screenshot script and benchmarks."""
    descriptions = (
        "Bookkeeping, monthly close",
        "Payroll for 12 employees",
        "VAT return preparation & filing",
        "Consultation: cash-flow forecast",
    )
    items = tuple(
        InvoiceLine(
            service_date=date(2026, 3, 2) + timedelta(days=7 * (i % 4)),
            description=descriptions[i % len(descriptions)],
            quantity=Decimal(i % 3 + 1),
            unit_price=Decimal("125.50"),
            amount=Decimal("125.50") * (i % 3 + 1),
        )
        for i in range(lines)
    )
    subtotal = sum((item.amount for item in items), Decimal("0"))
    tax = round_money(subtotal * Decimal("0.12"), currency)
    total = subtotal + tax
    paid = Decimal("100.00") if reissue_number else Decimal("0")
    return InvoiceDocument(
        invoice_no="INV-2026-0007",
        invoice_date=date(2026, 4, 5),
        due_date=date(2026, 5, 19) if reissue_number else date(2026, 5, 5),
        client=Client(
            key="northwind traders",
            name="Northwind Traders LLC",
            emails=("ap@northwind.example",),
            address="12 Harbour Road\nSuite 400\nAlmaty 050000",
            currency=currency,
            language=language,
            tax_rate=Decimal("0.12"),
        ),
        currency=currency,
        language=language,
        lines=items,
        subtotal=subtotal,
        tax_rate=Decimal("0.12"),
        tax=tax,
        total=total,
        terms="2/10 Net 30",
        terms_description="2% discount if paid within 10 days, otherwise due in 30 days",
        amount_paid=paid,
        balance_due=total - paid,
        reissue_number=reissue_number,
        reissue_date=date(2026, 5, 5) if reissue_number else None,
        discount_date=date(2026, 4, 15),
        discounted_total=round_money(total * Decimal("0.98"), currency),
        company=CompanyInfo(
            name="Ledgerwise Bookkeeping",
            address="5 Abay Avenue, Office 12\nAlmaty 050010, Kazakhstan",
            email="billing@ledgerwise.example",
            phone="+7 727 000 0000",
            tax_id="990140000385",
            website="ledgerwise.example",
            bank_name="Example Bank JSC",
            account_name="Ledgerwise Bookkeeping LLP",
            iban="KZ00 0000 0000 0000 0000",
            swift="EXAMPLEKZ",
        ),
    )


# -- file names --------------------------------------------------------------


_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{name}{n}" for name in ("COM", "LPT") for n in "123456789¹²³"}
)


#: What becomes of a character of these Unicode categories in a file name.
_FILE_CHARACTER = {"Cc": "_", "Cs": "_", "Cf": ""}


def safe_filename(stem: str) -> str:
    """A file name stem valid on Windows, macOS and Linux; never empty."""
    text = unicodedata.normalize("NFC", stem)
    # Invisible format characters (Cf) go: a right-to-left override would show
    # "Bidi \u202egnp.exe-2026-03-31.docx" as "Bidi xcod.13-30-6202-exe.png", a zero-width space
    # would make two names that look one.
    text = "".join(_FILE_CHARACTER.get(unicodedata.category(ch), ch) for ch in text)
    text = _FORBIDDEN.sub("_", text).strip()
    text = text.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", errors="ignore")
    # Windows drops trailing dots and spaces; a leading dot hides the file elsewhere.
    text = text.rstrip(". ").lstrip()
    if text.startswith("."):
        text = "_" + text[1:]
    if not text:
        return "invoice"
    if text.split(".")[0].rstrip().upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return storable_name(text)


def invoice_path(out_root: Path, doc: Document_) -> Path:
    """Where a document goes: `<out_root>/<year>/<Invoice No>[-R<n>].docx`, `<CN No>.docx`."""
    return out_root / f"{doc.file_year}" / f"{safe_filename(doc.file_stem)}.docx"


# -- templates ---------------------------------------------------------------


def undeclared_variables(template_path: Path, context: Mapping[str, object]) -> set[str]:
    """Variables the template shows that the context does not provide (nor the sandbox),
    but for those it only shows when they are there (`is defined`, `|default`); and the
    fields of a list's items it shows that those items do not have (`line.descripton`)."""
    return set(_undeclared(template_path, context))


def _undeclared(template_path: Path, context: Mapping[str, object]) -> dict[str, list[str]]:
    """`undeclared_variables`, each with the names that were there to be meant."""
    env = _Parsed()
    template = DocxTemplate(str(template_path))
    found = set(template.get_undeclared_template_variables(env, context=dict(context)))
    names = list(context)
    unknown = {name: names for name in found - sandbox.guarded_names(env.trees)}
    return unknown | _unknown_fields(env.trees, context)


def _unknown_fields(trees: Sequence[Any], context: Mapping[str, object]) -> dict[str, list[str]]:
    """`line.descripton` (with the fields a line has) for each field that a loop over a
    list of the context (`{%tr for line in lines %}`) shows of its item, and no item has."""
    unknown: dict[str, list[str]] = {}
    for tree in trees:
        for loop in tree.find_all(nodes.For):
            items = context.get(loop.iter.name) if isinstance(loop.iter, nodes.Name) else None
            if not (isinstance(loop.target, nodes.Name) and isinstance(items, list) and items):
                continue
            if not isinstance(items[0], dict):
                continue
            fields, item = list(items[0]), loop.target.name
            for node in loop.find_all((nodes.Getattr, nodes.Getitem)):
                if not (isinstance(node.node, nodes.Name) and node.node.name == item):
                    continue
                field = node.attr if isinstance(node, nodes.Getattr) else node.arg
                if isinstance(field, nodes.Const):
                    field = field.value
                if isinstance(field, str) and field not in fields and not hasattr({}, field):
                    unknown[f"{item}.{field}"] = [f"{item}.{f}" for f in fields]
    return unknown


class _Parsed(sandbox.Sandbox):
    """The sandbox's environment, keeping the trees it parses (docxtpl parses the
    document, headers and footers itself, and gives the names only)."""

    def __init__(self) -> None:
        super().__init__()
        self.trees: list[Any] = []

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        tree = super().parse(*args, **kwargs)
        self.trees.append(tree)
        return tree


class _Template(Protocol):
    def render_bytes(self, context: Mapping[str, object]) -> bytes: ...


def _word_files(folder: Path) -> list[Path]:
    """The .docx files in `folder` (`.DOCX` too), in order of name."""
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.casefold() == ".docx")
    except OSError:
        return []


def template_file(template_dir: Path, kind: str, language: str) -> Path:
    """`<kind>.<language>.docx` when present, else `<kind>.docx` ("invoice",
    "credit_note", "statement"): the folder's own, else the bundled one (a folder may keep
    only the templates it changed; its names in any case: `Invoice.DOCX`); an unedited copy
    of an earlier version's gives way to today's (`upgrade.current`)."""
    for folder in (template_dir, BUNDLED_TEMPLATES):
        for name in (f"{kind}.{language}.docx", f"{kind}.docx"):
            path = own_file(folder, name)
            if path is not None and path.is_file():
                return current(path, name)
    return template_dir / f"{kind}.docx"


class InvoiceRenderer:
    """Renders invoices from the templates in one folder.

    `invoice.<language>.docx` is used when present, else `invoice.docx`. Each
    template is loaded and compiled once, on first use. `draft`: a dry run's
    previews, each marked as one (`mark_draft`), its templates given `draft` true.
    """

    def __init__(self, template_dir: Path, draft: bool = False) -> None:
        self.template_dir = Path(template_dir)
        self.draft = draft
        self._templates: dict[Path, _Template] = {}
        self._chosen: dict[tuple[str, str], Path] = {}  # (language, kind): template_path

    def template_path(self, language: str, kind: str = "invoice") -> Path:
        """The template file used for a client language (`kind`: "invoice" or "credit_note").

        A folder whose own templates predate credit notes uses the bundled ones for them.
        """
        return template_file(self.template_dir, kind, language)

    def render(self, doc: Document_, out_root: Path) -> Path:
        """Write the document under `out_root` (atomically) and return its path."""
        data = self.render_bytes(doc)
        path = invoice_path(Path(out_root), doc)
        _write_atomic(path, data)
        return path

    def render_bytes(self, doc: Document_) -> bytes:
        """The .docx file for one invoice or credit note, in memory."""
        if isinstance(doc, CreditNoteDocument):
            kind, context = "credit_note", credit_note_context(doc)
        else:
            kind, context = "invoice", build_context(doc)
        path = self._chosen.get((doc.language, kind))
        if path is None:  # looked up once per language: up to four file checks
            path = self._chosen[doc.language, kind] = self.template_path(doc.language, kind)
        try:
            if not self.draft:
                return self._template(path).render_bytes(context)
            return mark_draft(self._template(path).render_bytes({**context, "draft": True}))
        except UnusableError as exc:  # which document it failed on, to try it again
            what = "credit note" if kind == "credit_note" else "invoice"
            # Its own kind kept (a template refused by the sandbox stays TemplateRefusedError).
            raise type(exc)(f"{exc} It failed on {what} {doc.file_stem}.") from None

    def vet(self) -> None:
        """Render every Word template in the folder once on a sample of its kind.

        A template reaching beyond its data raises TemplateRefusedError before
        anything is numbered; one that is no Word document, has a tag or block left
        open, uses a filter or test templates do not have (`|uper`, `is defind`), or
        shows a name or a line's field its kind of document does not have
        (`due_dat`, `line.descripton`) an UnusableError naming it. Any other .docx there
        is tried with an invoice's names.
        """
        for path in _word_files(self.template_dir):
            name = path.name.casefold()  # Invoice.DOCX is the folder's invoice.docx
            if name.startswith("~$") or current(path, name) != path:
                continue  # Word's owner file beside an open template; an earlier version's
            if own_file(self.template_dir, name) != path:
                continue  # invoice.docx is used, not Invoice.docx beside it
            language = name.split(".")[1] if name.count(".") > 1 else "en"
            kind = name.split(".")[0]
            context = sample_context(kind, language if language in fmt.LOCALES else "en")
            try:
                parts = _part_texts(path)
            except Exception:
                raise _not_word(path) from None
            _refuse_unclosed_tags(path, parts)
            _refuse_unknown_calls(path, parts)
            _refuse_broken_blocks(path, parts)
            try:
                template = self._template(path)
            except TemplateSyntaxError as exc:
                raise _unreadable(path, exc) from None
            except Exception:  # it shows on the real document
                continue
            try:
                with sandbox.time_limit(path):
                    template.render_bytes(context)
            except sandbox.TemplateRefusedError:
                raise
            except Exception as exc:  # other faults show on the real document
                if (ran_away := sandbox.runaway(path, exc)) is not None:
                    raise ran_away from None
            if kind in _SHOWN_BY:
                _unknown_names(path, context, _SHOWN_BY[kind])

    def render_many(
        self, docs: Sequence[Document_], out_root: Path, workers: int | None = None
    ) -> list[Path]:
        """Render many invoices, over all cores when there are enough; paths in order."""
        return list(self.map(_render_one, [(doc, out_root) for doc in docs], workers))

    def map(
        self,
        work: Callable[[InvoiceRenderer, T], R],
        items: Sequence[T],
        workers: int | None = None,
        chunk: int | None = None,
        preload: Sequence[str] = (),
    ) -> Iterator[R]:
        """`work(renderer, item)` for each item, over all cores when there are enough.

        Results come in the order of `items`, each as soon as it and those
        before it are done, so a caller can act on the first while the rest
        are still being rendered. `work` must be a module-level function;
        `preload` names modules it imports on first use.
        """
        workers = workers or cpu_count()
        if len(items) <= PARALLEL_THRESHOLD or workers <= 1:
            yield from (work(self, item) for item in items)
            return
        # Workers come from a fresh interpreter, never a plain fork (processes.py).
        # Each gets a pickled renderer and compiles the templates once for itself.
        context = fresh_context()
        if isinstance(context, ForkServerContext):
            # The fork server imports the work's modules once; every worker forked
            # from it has them (each imported them for itself: 0.15 s of CPU apiece).
            # Not "__main__": up to Python 3.13 the fork server is never told the
            # main script's path, so each worker runs the script again itself, as
            # "__mp_main__". run_billing.py imports nothing then (0.08 s apiece
            # when it imported the command line); `python -m automation` is
            # skipped by multiprocessing altogether.
            context.set_forkserver_preload([__name__, work.__module__, *preload])
        chunk = chunk or max(1, math.ceil(len(items) / (workers * 4)))
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self, os.getpid()),
        ) as pool:
            yield from pool.map(_work_in_worker, [work] * len(items), items, chunksize=chunk)

    def __getstate__(self) -> dict[str, object]:
        return {"template_dir": self.template_dir, "draft": self.draft}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["template_dir"], state["draft"])  # type: ignore[misc]

    def _template(self, path: Path) -> _Template:
        template = self._templates.get(path)
        if template is None:
            template = load_template(path)
            self._templates[path] = template
        return template


def mark_draft(data: bytes) -> bytes:
    """A rendered .docx with DRAFT_MARK as its first paragraph and first in the header of
    every page, in bold red: a dry run's preview carries a number not used yet and was never
    sent, and must not pass for the invoice, whichever template (the bookkeeper's own too)
    made it."""
    document = Document(io.BytesIO(data))
    document.element.body.insert(0, _draft_paragraph())
    even_pages = document.settings.odd_and_even_pages_header_footer
    for index, section in enumerate(document.sections):
        headers = [section.header]
        if section.different_first_page_header_footer:
            headers.append(section.first_page_header)
        if even_pages:
            headers.append(section.even_page_header)
        for header in headers:
            if header.is_linked_to_previous:
                if index:
                    continue  # shows the previous section's, marked already
                header.is_linked_to_previous = False  # a header of its own, empty
            header._element.insert(0, _draft_paragraph())
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _draft_paragraph() -> Any:
    w = nsmap["w"]
    return parse_xml(
        f'<w:p xmlns:w="{w}"><w:r><w:rPr><w:b/><w:color w:val="C00000"/></w:rPr>'
        f"<w:t>{DRAFT_MARK}</w:t></w:r></w:p>"
    )


_WORKER_RENDERER: InvoiceRenderer | None = None


def _init_worker(renderer: InvoiceRenderer, run_pid: int) -> None:
    global _WORKER_RENDERER
    _WORKER_RENDERER = renderer
    if os.name == "posix":  # on Windows os.kill(pid, 0) would terminate the run itself
        threading.Thread(target=_exit_with, args=(run_pid,), daemon=True).start()


def _exit_with(run_pid: int) -> None:
    """A worker outlives a killed run by at most a moment: no orphans left behind."""
    while True:
        time.sleep(0.2)
        try:
            os.kill(run_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except (PermissionError, OSError):
            return  # cannot tell (another user's pid, or no signals here): stop watching


def _work_in_worker(work: Callable[[InvoiceRenderer, T], R], item: T) -> R:
    assert _WORKER_RENDERER is not None, "worker started without _init_worker"
    return work(_WORKER_RENDERER, item)


#: The templates whose names are checked, and what each kind of document is called.
_SHOWN_BY = {"invoice": "an invoice", "credit_note": "a credit note", "statement": "a statement"}


def sample_context(kind: str, language: str = "en") -> dict[str, object]:
    """What a template of `kind` ("invoice", "credit_note", "statement") is given, on a
    sample document; an invoice's for any other kind."""
    if kind == "credit_note":
        return credit_note_context(sample_credit_note(language))
    if kind == "statement":
        from .statement_doc import sample_statement_context  # it builds on this module

        return sample_statement_context(language)
    return build_context(sample_document(language))


def sample_credit_note(language: str = "en") -> CreditNoteDocument:
    """A credit note against the sample invoice (`sample_document`)."""
    doc = sample_document(language)
    return CreditNoteDocument(
        credit_note_no="CN-2026-0002", note_date=date(2026, 4, 20), invoice_no=doc.invoice_no,
        invoice_date=doc.invoice_date, invoice_total=doc.total, client=doc.client,
        currency=doc.currency, language=language, amount=Decimal("100.00"),
        credited_before=Decimal("0"), amount_paid=Decimal("0"),
        balance=doc.total - Decimal("100.00"), company=doc.company,
    )  # fmt: skip


def _unknown_names(path: Path, context: Mapping[str, object], kind: str) -> None:
    """Stop the run when a template reads a name its kind of document (`kind`: "an
    invoice") does not have, or a field its lines do not (a typo: `{{ due_dat }}` or
    `{{ line.descripton }}` would be blank on every document)."""
    try:
        meant = _undeclared(path, context)
    except TemplateSyntaxError as exc:
        raise _unreadable(path, exc) from None
    if meant:
        unknown = sorted(meant)
        near = get_close_matches(unknown[0], meant[unknown[0]], n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise UnusableError(
            f"the template {path} shows {', '.join(unknown)}, which {kind} does not "
            f"have{hint}: correct the name in the template, or take a fresh copy from "
            "`run-billing init` in a new folder."
        )


#: What each opening mark of a Jinja tag is closed by.
_CLOSED_BY = {"{{": "}}", "{%": "%}", "{#": "#}"}
_TAG_MARK = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


def _refuse_unclosed_tags(path: Path, parts: Sequence[tuple[str, str]]) -> None:
    """Stop the run when a Word template has a tag without its closing mark
    (`{{ credit_in_words }`, a brace lost in Word).

    docxtpl joins the runs of a tag from its `{{` to the next `}}` wherever that
    is, so such a tag silently took in the paragraphs after it, up to the next
    tag's end: the document lost them, and Jinja had nothing to say. A tag must
    close before another one opens (outside the text in quotes it holds: `{{
    '{{' }}` is one tag) and before the part ends; it may go on into the next
    paragraph. A comment (`{# ... #}`) and a `{% raw %}` block hold what they like.
    """
    for where, xml in parts:
        texts = [_paragraph_text(chunk) for chunk in _PARAGRAPH_SPLIT.split(xml)]
        starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
        joined = "\n".join(texts)
        problem = _first_unclosed(joined)
        if problem is not None:
            at, mark = problem
            k = bisect.bisect_right(starts, at) - 1
            raise _unclosed(path, where, mark, texts[k], at - starts[k])


_TAG_OPENING = re.compile(r"\{\{|\{%|\{#")
_RAW_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}")
_END_RAW_BLOCK = re.compile(r"\{%-?\s*endraw\s*-?%\}")


def _first_unclosed(text: str) -> tuple[int, str] | None:
    """(where, mark) of the first tag in `text` that another tag or the end overtakes
    before its closing mark, else None."""
    pos = 0
    while (opening := _TAG_OPENING.search(text, pos)) is not None:
        mark, at = opening.group(), opening.start()
        if mark == "{#":
            close = text.find("#}", at + 2)
            if close < 0:
                return at, mark
            pos = close + 2
            continue
        raw = _RAW_BLOCK.match(text, at)
        if raw is not None:
            end = _END_RAW_BLOCK.search(text, raw.end())
            if end is None:
                return at, mark
            pos = end.end()
            continue
        after = _closing(text, at + 2, _CLOSED_BY[mark])
        if after is None:
            return at, mark
        pos = after
    return None


def _closing(text: str, pos: int, closer: str) -> int | None:
    """Where a tag that starts before `pos` ends (after its `closer`), minding the text in
    quotes it holds; None when another tag opens first or the text ends."""
    quote = ""
    i = pos
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif text.startswith(closer, i):
            return i + len(closer)
        elif _TAG_OPENING.match(text, i):
            return None
        i += 1
    return None


#: Where each paragraph starts in a part's XML (a line of docxtpl's text each).
_PARAGRAPH_SPLIT = re.compile(r"(?=<w:p[ >])")


def _unclosed(path: Path, where: str, mark: str, text: str, at: int) -> UnusableError:
    """The refusal of a tag opened by `mark` at `at` of the paragraph `text`, never closed."""
    rest = _TAG_MARK.search(text, at + len(mark))
    tag = text[at : rest.start() if rest and rest.group() in _CLOSED_BY else len(text)]
    return UnusableError(
        f"the template {path} cannot be read: it has `{_shortened(tag.rstrip(), 40)}` "
        f'without its closing `{_CLOSED_BY[mark]}` ({where}near "{_shortened(text)}"): '
        "correct it in Word, or take a fresh copy from `run-billing init` in a new folder."
    )


def _refuse_unknown_calls(path: Path, parts: Sequence[tuple[str, str]]) -> None:
    """Stop the run when a Word template uses a filter or test templates do not have
    (`{{ total|uper }}`, `is defind`): Jinja would say so only when it compiles the
    template, or, for a test, on the first document, after the invoices are numbered."""
    env = sandbox.environment(autoescape=True)
    patch = DocxTemplate(str(path)).patch_xml
    for where, xml in parts:
        # A line per paragraph, as docxtpl renders it: a node's line is its paragraph.
        lines = _PARAGRAPH_START.sub(r"\n<w:p\1", patch(xml))
        try:
            call = sandbox.unknown_call(env, [env.parse(lines)])
        except TemplateSyntaxError:
            return  # told, with its line, when the template is loaded (`_unreadable`)
        if call is not None:
            text = _paragraph_text(lines.split("\n")[call.lineno - 1])
            raise call.refusal(
                path,
                f'{where}near "{_shortened(text)}"',
                "correct it in Word, or take a fresh copy from `run-billing init` in a new "
                "folder.",
            )


#: A Jinja tag, a comment or a raw block, or an XML element's start or end, in a part's XML
#: as docxtpl patched it (`{%p if x %}` made `{% if x %}` in place of its paragraph).
_TOKEN = re.compile(
    r"\{#.*?#\}|\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}"
    r"|(\{%-?\s*(\w*)(.*?)-?%\})|<(/?)([A-Za-z][\w:.-]*)(?:\s[^>]*?)?(/?)>",
    re.DOTALL,
)
#: Jinja's tags that open a block (`set` only as `{% set x %}...{% endset %}`), and those
#: that divide one.
_BLOCK_OPENERS = frozenset({"if", "for", "with", "filter", "macro", "call", "block", "autoescape"})
_BLOCK_MIDDLES = frozenset({"elif", "else"})
#: docxtpl's letter for a tag standing where each element holds it (`{%tr`: a table's row).
_TAG_LETTER = {"w:t": "", "w:p": "r", "w:tr": "tc", "w:tbl": "tr"}


@dataclass(frozen=True)
class _BlockTag:
    """One tag of a block as the bookkeeper wrote it, with the paragraph it is in or before."""

    text: str  # `{%p if x %}`
    near: str  # 'near "Total: {% if x %}"', 'before "PAYMENT DETAILS"'
    inside: tuple[str, ...]  # the XML elements it stands in


def _refuse_broken_blocks(path: Path, parts: Sequence[tuple[str, str]]) -> None:
    """Stop the run when a block (`{% if %}`...`{% endif %}`, `{% for %}`) is left open or
    opens and closes at different levels of the document.

    `{% if x %}` typed for `{%p if x %}` in a paragraph of its own, closed by a `{%p endif
    %}` further on, took the end of its paragraph out of the document: everything after it
    was left inside that paragraph's text, which Word and LibreOffice stop reading there
    (the payment reference lost). Every tag of a block must stand where its first one
    does: all in one paragraph's text, or all in paragraphs (rows) of their own.
    """
    patch = DocxTemplate(str(path)).patch_xml
    for where, xml in parts:
        tags = _block_tags(patch(xml), where)
        if tags is None:
            continue  # not XML docxtpl kept whole: told when it is loaded, if at all
        blocks: list[list[_BlockTag]] = []
        for name, tag in tags:
            if name in _BLOCK_OPENERS or (name == "set" and "=" not in tag.text):
                blocks.append([tag])
            elif name in _BLOCK_MIDDLES or name.startswith("end"):
                if not blocks:
                    raise _block_refusal(path, f"has `{tag.text}` ({tag.near}), which closes "
                                         "no block opened before it")
                blocks[-1].append(tag)
                if name.startswith("end"):
                    _refuse_uneven(path, blocks.pop())
        if blocks:
            first = blocks[-1][0]
            raise _block_refusal(
                path, f"has `{first.text}` ({first.near}), which is never closed: no "
                f"`{_closer(first.text)}` ends it (one deleted with its paragraph or row?)"
            )


def _block_tags(xml: str, where: str) -> list[tuple[str, _BlockTag]] | None:
    """(name, tag) of each Jinja tag of a patched part, in order; None when its elements do
    not nest (docxtpl's `{%-` joins paragraphs its own way)."""
    stack: list[tuple[str, int]] = []
    tags: list[tuple[str, _BlockTag]] = []
    for token in _TOKEN.finditer(xml):
        jinja, name, rest, closing, element, empty = token.groups()
        if jinja:
            inside = tuple(e for e, _ in stack)
            letter = _TAG_LETTER.get(inside[-1] if inside else "", "p")
            text = "{%" + letter + " " + f"{name} {rest.strip()}".strip() + " %}"
            paragraph = next((at for e, at in reversed(stack) if e == "w:p"), None)
            if letter in ("", "r") and paragraph is not None:
                end = xml.find("</w:p>", token.end())
                said = f'{where}near "{_shortened(_paragraph_text(xml[paragraph:end]))}"'
            else:
                start = _PARAGRAPH_START.search(xml, token.end())
                after = (
                    _paragraph_text(xml[start.start() : xml.find("</w:p>", start.start())])
                    if start is not None
                    else ""
                )
                said = f'{where}before "{_shortened(after)}"' if after else f"{where}at the end"
            tags.append((name, _BlockTag(text, said, inside)))
        elif element and not empty:
            if not closing:
                stack.append((element, token.start()))
            elif not stack or stack.pop()[0] != element:
                return None
    return tags


def _refuse_uneven(path: Path, block: Sequence[_BlockTag]) -> None:
    first = block[0]
    for tag in block[1:]:
        if tag.inside != first.inside:
            raise _block_refusal(
                path, f"has `{first.text}` ({first.near}) closed or divided by `{tag.text}` "
                f"({tag.near}), which stands elsewhere: a tag alone in its paragraph is "
                "written `{%p ... %}` (`{%tr ... %}` alone in a table row), and a block "
                "begun within a paragraph's text ends within it, or Word cannot read the "
                "rest of the document"
            )


def _closer(text: str) -> str:
    """`{%p endif %}` for `{%p if x %}`."""
    letter, name = re.match(r"\{%(\w*) (\w+)", text).groups()  # type: ignore[union-attr]
    return "{%" + letter + f" end{name} %}}"


def _block_refusal(path: Path, what: str) -> UnusableError:
    return UnusableError(
        f"the template {path} cannot be used: it {what}. Correct it in Word, or take a fresh "
        "copy from `run-billing init` in a new folder."
    )


#: What a file that is no Word document begins with, and what it is then.
_NOT_WORD = (
    (b"\xd0\xcf\x11\xe0", "a Word 97-2003 document (.doc)"),
    (b"{\\rtf", "a Rich Text document (.rtf)"),
    (b"%PDF", "a PDF"),
)


def _not_word(path: Path) -> UnusableError:
    """The refusal of a template Word documents cannot be made from: what it is instead."""
    try:
        with path.open("rb") as file:
            head = file.read(512)
    except OSError as exc:
        return UnusableError(
            f"the template {path} cannot be opened ({exc.strerror}): close it in the program "
            "that holds it, or give your user access to it."
        )
    what = next((said for start, said in _NOT_WORD if head.startswith(start)), None)
    if not head:
        what = "empty (0 bytes: a save that did not finish?)"
    elif what is None and head.startswith(b"PK"):
        text = b"opendocument.text" in head
        what = "an OpenDocument text (.odt)" if text else "a damaged Word document"
    elif what is None and b"<" in head[:64] and b"html" in head.lower():
        what = "a web page (HTML)"
    what = what or "not a Word document"
    return UnusableError(
        f"the template {path} cannot be used: it is {what}. Open it in Word and save it as "
        "Word Document (.docx) under that name, or take a fresh copy from `run-billing init` "
        "in a new folder. Nothing was numbered or sent."
    )


def _part_texts(path: Path) -> list[tuple[str, str]]:
    """The XML of each part of a Word template docxtpl fills in, with where it is said to
    be: the body (""), then each header and footer ("in its header, ")."""
    docx = Document(str(path))
    parts = [("", etree.tostring(docx.element.body, encoding="unicode"))]
    for rel in docx.part.rels.values():
        if rel.is_external or rel.reltype not in (RT.HEADER, RT.FOOTER):
            continue
        if rel.target_part.blob:
            where = "in its header, " if rel.reltype == RT.HEADER else "in its footer, "
            xml = etree.tostring(parse_xml(rel.target_part.blob), encoding="unicode")
            parts.append((where, xml))
    return parts


#: The text of a run (`<w:t>` or `<w:t xml:space="preserve">`), as Word shows it.
_RUN_TEXT = re.compile(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>")


def _paragraph_text(xml: str) -> str:
    """The text of (the start of) a paragraph's XML, as Word shows it."""
    return html.unescape("".join(_RUN_TEXT.findall(xml))).strip()


def _shortened(text: str, most: int = 60) -> str:
    """A paragraph's text as quoted in a message: one line, at most `most` characters."""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _unreadable(path: Path, exc: TemplateSyntaxError) -> UnusableError:
    return UnusableError(
        f"the template {path} cannot be read: {exc.message} (line {exc.lineno} of its text); "
        "correct it in Word, or take a fresh copy from `run-billing init` in a new folder."
    )


def _render_one(renderer: InvoiceRenderer, item: tuple[Document_, Path]) -> Path:
    doc, out_root = item
    return renderer.render(doc, out_root)


def load_template(path: Path) -> _Template:
    """A compiled template, or docxtpl itself for parts this module does not handle.

    Footnotes and Jinja tags in the document properties are rare in invoice
    templates; docxtpl renders those templates the slow way.
    """
    docx = Document(str(path))
    if _has_footnotes(docx) or _has_templated_properties(docx):
        return _Refusing(path, _DocxtplTemplate(path))
    return _Refusing(path, _CompiledTemplate(path, docx))


@dataclass(frozen=True)
class _Refusing:
    """A template that reaches beyond its data stops the run, naming its file (sandbox.py)."""

    path: Path
    template: _Template

    def render_bytes(self, context: Mapping[str, object]) -> bytes:
        try:
            with sandbox.time_limit(self.path, real=True):
                return self.template.render_bytes(context)
        except sandbox.SecurityError as exc:
            raise sandbox.refused(self.path, exc) from None
        except (RecursionError, MemoryError, ValueError) as exc:
            raise sandbox.runaway(self.path, exc) or exc from None
        except TemplateError as exc:  # a filter or test it lacks, met only on this data
            raise sandbox.broken(self.path, exc) from None
        except (ArithmeticError, LookupError, TypeError, AttributeError) as exc:
            # its own sums or indexes failing on this data (`100 // (lines|length - 1)`)
            told = TemplateError(f"{type(exc).__name__}: {exc}")
            raise sandbox.broken(self.path, told) from None


def _has_footnotes(docx: Any) -> bool:
    return any(part.content_type == FOOTNOTES_TYPE for part in docx.part.package.parts)


def _has_templated_properties(docx: Any) -> bool:
    props = docx.core_properties
    return any(re.search(r"{[{%#]", getattr(props, name) or "") for name in RENDERED_PROPERTIES)


@dataclass(frozen=True)
class _DocxtplTemplate:
    """docxtpl's own rendering: load, render, save, for every invoice."""

    path: Path

    def render_bytes(self, context: Mapping[str, object]) -> bytes:
        template = DocxTemplate(str(self.path))
        context = {
            key: (
                InlineImage(template, io.BytesIO(value.png), width=Mm(value.width_mm))
                if isinstance(value, ImagePart)
                else value
            )
            for key, value in context.items()
        }
        template.render(context, sandbox.environment(autoescape=True), autoescape=True)
        buffer = io.BytesIO()
        template.save(buffer)
        return buffer.getvalue()


class _CompiledTemplate:
    """A template patched and compiled once, rendered exactly as docxtpl 0.20 does.

    DocxTemplate.render, for the main document part: serialise the body, patch
    it (patch_xml), put each paragraph on its own line, render with Jinja,
    undo the line breaks and the `{_{` escapes, expand \\n and \\t
    (resolve_listing), repair table grids (fix_tables) and renumber drawing ids
    (fix_docpr_ids). Headers and footers go through the same patch and render,
    then python-docx's parse and serialise. Other parts are copied unchanged.

    Shortcuts that give the same bytes: resolve_listing only rewrites the
    paragraphs that hold one of the characters it expands (`_resolve_listing`);
    a header or footer that renders to the same XML as for the previous
    invoice (the company's footer: every time) is parsed and serialised once;
    and a body whose rendered XML lxml would write back unchanged is not
    parsed and serialised at all (`_Canonical`).
    """

    def __init__(self, path: Path, docx: Any) -> None:
        self._path = path
        self._docxtpl = DocxTemplate(str(path))  # only for its stateless helpers
        env = sandbox.environment(autoescape=True)
        body = docx.element.body
        self._body = self._compile(env, etree.tostring(body, encoding="unicode"))
        self._canonical = _Canonical.of(env, self._body.xml)
        self._document_name = docx.part.partname.lstrip("/")
        self._document_head, self._document_tail = _split_around(docx.element, body)
        self._parts: dict[str, _Part] = {}
        for rel in docx.part.rels.values():
            if rel.is_external or rel.reltype not in (RT.HEADER, RT.FOOTER):
                continue
            part = rel.target_part
            if part.blob:
                xml = etree.tostring(parse_xml(part.blob), encoding="unicode")
                self._parts[part.partname.lstrip("/")] = self._compile(env, xml)
        self._last_parts: dict[str, tuple[str, bytes]] = {}  # name: (rendered XML, its bytes)
        self._last_entries: dict[str, tuple[bytes, Entry]] = {}  # name: (content, its member)
        # Every member with its headers packed once: the unchanged ones go into
        # each invoice as they are, stored bytes and all.
        self._members = [
            (info, entry(info, (raw,), info.CRC, info.file_size, info.compress_type))
            for info, raw in _read_members(path)
        ]

    def _compile(self, env: Environment, xml: str) -> _Part:
        return _Part(env, self._docxtpl.patch_xml(xml))

    def render_bytes(self, context: Mapping[str, object]) -> bytes:
        if any(isinstance(value, ImagePart) for value in context.values()):
            # A picture adds a part and a relationship to the package: docxtpl's job.
            return _DocxtplTemplate(self._path).render_bytes(context)
        rendered = {self._document_name: self._render_document(context)}
        for name, template in self._parts.items():
            rendered[name] = self._render_other(name, template, context)
        out = io.BytesIO()
        zipped = ZipCopier(out)
        for info, member in self._members:
            content = rendered.get(info.filename)
            zipped.add(member if content is None else self._entry(info, content))
        zipped.close()
        return out.getvalue()

    def _entry(self, info: zipfile.ZipInfo, content: bytes) -> Entry:
        """A rendered member, deflated; packed once while it stays the same (a footer)."""
        last = self._last_entries.get(info.filename)
        if last is not None and last[0] == content:
            return last[1]
        deflated = (deflate(content, RENDERED_LEVEL),)
        member = entry(info, deflated, zlib.crc32(content), len(content), zipfile.ZIP_DEFLATED)
        self._last_entries[info.filename] = (content, member)
        return member

    def _render_other(self, name: str, template: _Part, context: Mapping[str, object]) -> bytes:
        """A header or footer, parsed and serialised by python-docx as docxtpl saves it."""
        xml = self._render_part(template, context)
        last = self._last_parts.get(name)
        if last is not None and last[0] == xml:
            return last[1]
        data = bytes(serialize_part_xml(parse_xml(xml)))
        self._last_parts[name] = (xml, data)
        return data

    def _render_part(self, template: _Part, context: Mapping[str, object]) -> str:
        return _resolve_listing(self._docxtpl, _unescape_tags(template.render(context)))

    def _render_document(self, context: Mapping[str, object], shortcut: bool = True) -> bytes:
        xml = _unescape_tags(self._body.render(context))
        canonical = self._canonical if shortcut else None
        if canonical is not None and not canonical.may_hold(context, xml):
            canonical = None
        xml = _resolve_listing(self._docxtpl, xml)
        body = canonical.as_serialised(xml) if canonical is not None else None
        if body is not None:
            return self._document_head + body + self._document_tail
        tree = _fix_tables(self._docxtpl, xml)
        for index, element in enumerate(_DRAWINGS(tree), 1001):
            element.attrib["id"] = str(index)
        body = etree.tostring(tree, encoding="UTF-8")
        return bytes(self._document_head + body + self._document_tail)


def _unescape_tags(xml: str) -> str:
    """docxtpl's `{_{` -> `{{` (and `}_}`, `{_%`, `%_}`): a Jinja tag printed as text."""
    if "_" not in xml:  # one scan for a character rarely there, not four for pairs
        return xml
    xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%")
    return xml.replace("%_}", "%}")


class _Canonical:
    """A body part whose renderings lxml parses and writes back unchanged.

    docxtpl parses the rendered body (fix_tables) and python-docx serialises
    it again. Parsing and serialising take half the time of rendering an
    invoice, and for most templates change nothing: the template's XML was
    written by lxml in the first place, and what Jinja adds is escaped text.
    `of` makes sure of that for a template once, `may_hold` and
    `as_serialised` for each rendering; whatever they cannot vouch for is
    parsed and serialised as before.

    Once per template (`of`), from the patched XML with each block branch
    (`if`, `elif`, `else`, `for`) made an element and each printed value an
    empty element, which must parse strictly:
    - every branch is balanced XML, so that any rendering is well-formed;
    - values are printed as text, never inside a tag, and without a filter
      or a call, in the value or the loop it comes from (`|safe` and
      friends print markup);
    - the fixed text holds no character reference, comment, CDATA or
      processing instruction, no tab or line break (resolve_listing
      rewrites those), and no drawing (fix_docpr_ids renumbers them);
    - fix_tables would change no table: no block between a row's cells, no
      row wider than its grid, and a row outside any block that fills it.

    For each rendering: the context holds only plain values (text, numbers,
    dates, lists and dicts of them: no markup); the rendered text holds no tab,
    paragraph or page break (resolve_listing rewrites those with run and
    paragraph properties; a line break only splits a <w:t>); after
    resolve_listing no element is empty (lxml writes `<w:t/>`), and no
    character is one XML cannot carry or the parser changes (controls but
    tab and line feed, a carriage return, U+FFFE, U+FFFF, a lone surrogate).
    Then the text is what lxml writes, but for the quotes Jinja escapes as
    `&#39;` and `&#34;`, which lxml writes as they are in text.
    """

    @classmethod
    def of(cls, env: Environment, xml: str) -> _Canonical | None:
        """The shortcut for the patched part `xml`, or None where it cannot be taken."""
        skeleton = _skeleton(env, xml)
        if skeleton is None:
            return None
        try:
            tree = etree.fromstring(skeleton)
        except (etree.XMLSyntaxError, ValueError):
            return None
        kept = [_table_kept(table) for table in tree.iter(f"{{{_W['w']}}}tbl")]
        if not all(kept):
            return None
        return cls(_ROWS_IN_BLOCKS in kept)

    def __init__(self, rows_in_blocks: bool) -> None:
        self._rows_in_blocks = rows_in_blocks

    def may_hold(self, context: Mapping[str, object], xml: str) -> bool:
        """Whether the rendering `xml` (before resolve_listing) of `context` qualifies."""
        return not ("\t" in xml or "\a" in xml or "\f" in xml) and _plain(context)

    def as_serialised(self, xml: str) -> bytes | None:
        """The body (after resolve_listing) as lxml writes it, or None where it cannot tell."""
        if _has_empty_element(xml) or (self._rows_in_blocks and _NO_ROWS in xml):
            return None
        if "#" in xml:  # one character, found far faster than the pair
            xml = xml.replace("&#39;", "'").replace("&#34;", '"')
        try:
            data = xml.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
        if data.translate(None, _WRITTEN_AS_IS):
            return None
        if b"\xef" in data and any(c in data for c in _NONCHARACTERS):
            return None
        return data


#: Block statements whose branches `_skeleton` turns into elements.
_OPENING, _BRANCHING, _CLOSING = {"if", "for"}, {"elif", "else"}, {"endif", "endfor"}
_BRANCH, _VALUE = "docxtpl-branch", "docxtpl-value"
#: What lxml would not write as it stands in the fixed text of a template.
_NOT_WRITTEN_AS_IS = re.compile(r"&#|<!|<\?|docPr|[\t\n\r\a\f]")
#: The bytes of UTF-8 text lxml reads and writes back as they are: all but the
#: controls (a tab is rewritten by resolve_listing, a line feed kept), and...
_WRITTEN_AS_IS = bytes([0x0A, *range(0x20, 0x100)])
#: ...but the non-characters U+FFFE and U+FFFF, which the parser drops.
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")


def _skeleton(env: Environment, xml: str) -> str | None:
    """`xml` with each block branch as an element and each printed value an empty one,
    or None when it holds another statement, a filter, a call, or text lxml would
    write otherwise (`_NOT_WRITTEN_AS_IS`)."""
    out: list[str] = []
    tokens = iter(env.lex(xml))
    for _, kind, value in tokens:
        if kind == "data":
            if _NOT_WRITTEN_AS_IS.search(value):
                return None
            out.append(value)
        elif kind == "comment_begin":
            for _, inner, _ in tokens:
                if inner == "comment_end":
                    break
        elif kind == "variable_begin":
            for _, inner, text in tokens:
                if inner == "variable_end":
                    break
                if inner == "operator" and text in ("|", "("):
                    return None
            out.append(f"<{_VALUE}/>")
        elif kind == "block_begin":
            statement = list(_until(tokens, "block_end"))
            words = [text for _, inner, text in statement if inner == "name"]
            keyword = words[0] if words else ""
            if keyword == "for" and any(
                inner == "operator" and text in ("|", "(") for _, inner, text in statement
            ):
                return None  # a loop over filtered or computed values may print markup
            if keyword in _OPENING:
                out.append(f"<{_BRANCH}>")
            elif keyword in _BRANCHING:
                out.append(f"</{_BRANCH}><{_BRANCH}>")
            elif keyword in _CLOSING:
                out.append(f"</{_BRANCH}>")
            else:
                return None
        else:
            return None
    return "".join(out)


def _has_empty_element(xml: str) -> bool:
    """Whether an opening tag is right before a closing one (lxml writes `<x/>`).

    A split at each `></` and a look at the tag each piece ends with: ten times
    as fast as a regular expression over the whole body.
    """
    pieces = xml.split("></")
    for piece in itertools.islice(pieces, len(pieces) - 1):
        start = piece.rfind("<")
        if start < 0:
            continue  # the piece ends a closing tag's name: `</w:t></w:r>`
        tag = piece[start + 1 :]
        if tag[:1] not in ("", "/") and ">" not in tag and not tag.endswith("/"):
            return True
    return False


def _until(tokens: Iterator[tuple[int, str, str]], end: str) -> Iterator[tuple[int, str, str]]:
    for token in tokens:
        if token[1] == end:
            return
        yield token


#: Tables whose rows are all in blocks: `_table_kept` vouches for them only while
#: one row is rendered, which the rendered text shows (no grid followed by the end).
_ROWS_IN_BLOCKS = "rows in blocks"
_NO_ROWS = "</w:tblGrid></w:tbl>"


def _table_kept(table: Any) -> bool | str:
    """Whether fix_tables leaves this table of a skeleton as it is, however its blocks
    render (True), or as long as a row of it is rendered (`_ROWS_IN_BLOCKS`).

    fix_tables adds grid columns for a row with more cells than the grid has,
    and drops columns when no row fills the grid. Blocks may repeat or drop
    whole rows, or sit inside a cell's content; a block between a row's cells,
    in the grid or in a cell's properties could change what it counts.
    """
    w = f"{{{_W['w']}}}"
    grid = table.find(f"{w}tblGrid")
    if grid is None:
        return False
    for branch in table.iter(_BRANCH):
        parent = branch.getparent()
        if parent.tag in (f"{w}tr", f"{w}tblGrid", f"{w}tcPr", f"{w}gridCol"):
            return False
        if parent.tag == f"{w}tc" and branch.find(f"{w}tcPr") is not None:
            return False
        if any(a.tag in (f"{w}tblGrid", f"{w}tcPr") for a in branch.iterancestors()):
            return False
    columns = len(grid.findall(f"{w}gridCol"))
    widths: dict[Any, int] = {}
    for row in table.iter(f"{w}tr"):  # fix_tables counts the rows of inner tables too
        cells = row.findall(f"{w}tc")
        if len(cells) > columns:
            return False
        width = 0
        for cell in cells:
            properties = cell.find(f"{w}tcPr")
            span = None if properties is None else properties.find(f"{w}gridSpan")
            if span is None:
                width += 1
                continue
            value = span.get(f"{w}val")
            if value is None or not re.fullmatch("[0-9]{1,6}", value):
                return False
            width += int(value)
        widths[row] = width
    if columns == 0 or any(widths[r] >= columns for r in table.findall(f"{w}tr")):
        return True
    # Every row in blocks: kept while one is rendered, if each fills the grid and the
    # blocks hold rows and nothing else, so that a table without rows shows as _NO_ROWS.
    if grid.tail or grid.getnext() is None:
        return False
    for child in grid.itersiblings():
        if child.tag != _BRANCH or not _only_rows(child, widths, columns):
            return False
    return _ROWS_IN_BLOCKS


def _only_rows(branch: Any, widths: dict[Any, int], columns: int) -> bool:
    """A block of nothing but rows that fill the grid (and blocks of them), text and all."""
    if branch.text or branch.tail:
        return False
    for child in branch:
        if child.tag == _BRANCH:
            if not _only_rows(child, widths, columns):
                return False
        elif child.tag != f"{{{_W['w']}}}tr" or child.tail or widths[child] < columns:
            return False
    return True


_PLAIN_TYPES = frozenset({str, int, float, bool, Decimal, date, type(None)})


def _plain(value: object) -> bool:
    """Text, numbers, dates, and lists, tuples and dicts of them: nothing Jinja prints as markup."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(_plain(k) and _plain(v) for k, v in value.items())  # type: ignore[attr-defined]
    return False


class _Part:
    """A patched XML part compiled by Jinja as docxtpl renders it (render_xml_part).

    docxtpl puts a line break before every paragraph for Jinja's error
    messages and takes one line break before every paragraph out of the
    result. Where the patched XML holds no line break before a paragraph and
    the result rendered without them holds none either, both steps together
    change nothing (Jinja's whitespace control only ever drops such a break),
    so the part is compiled as it is; otherwise it is rendered docxtpl's way.
    """

    def __init__(self, env: Environment, xml: str) -> None:
        self._env, self.xml = env, xml
        # A paragraph tag inside a Jinja expression (a string literal) would get the
        # line break too, and a comparison could tell: such parts go docxtpl's way.
        in_code = any(kind != "data" and "<w:p" in text for _, kind, text in env.lex(xml))
        plain = not (in_code or _BEFORE_PARAGRAPH.search(xml))
        self._plain = env.from_string(xml) if plain else None
        self._broken: Template | None = None

    def render(self, context: Mapping[str, object]) -> str:
        if self._plain is not None:
            xml = self._plain.render(context)
            if not _BEFORE_PARAGRAPH.search(xml):
                return xml
        if self._broken is None:
            self._broken = self._env.from_string(_PARAGRAPH_START.sub(r"\n<w:p\1", self.xml))
        return _BEFORE_PARAGRAPH.sub(r"<w:p\1", self._broken.render(context))


_PARAGRAPH_START = re.compile(r"<w:p([ >])")
_BEFORE_PARAGRAPH = re.compile(r"\n<w:p([ >])")
#: Deflate level for the rendered parts: the smallest document.xml takes 2.7
#: times as long at level 6 for 7% fewer bytes (a 13 kB .docx either way).
RENDERED_LEVEL = 1
#: The drawings docxtpl renumbers (fix_docpr_ids), found by a compiled XPath.
_DRAWINGS = etree.XPath("//wp:docPr", namespaces=nsmap)
#: A paragraph as resolve_listing finds them, and what it rewrites in one.


#: docxtpl's fix_tables parses with a recovering parser: the same settings here.
_RECOVERING = etree.XMLParser(recover=True)
_W = {"w": nsmap["w"]}
#: The span of a cell as fix_tables reads it: its first tcPr's first gridSpan.
_SPAN = "w:tc/w:tcPr[1]/w:gridSpan[1]"
#: A span fix_tables would read otherwise than XPath's number() (missing, "02", "2.0").
_ODD_SPANS = etree.XPath(
    f".//{_SPAN}[not(@w:val) or string(number(@w:val)) != @w:val]", namespaces=_W
)
_GRIDS = etree.XPath("w:tblGrid[1]", namespaces=_W)
#: A row with more cells than the grid has columns: fix_tables would add columns.
_WIDE_ROWS = etree.XPath(".//w:tr[count(w:tc) > $n]", namespaces=_W, smart_strings=False)
#: A row as wide as the grid, spans counted: without one fix_tables would drop columns.
_FULL_ROWS = etree.XPath(
    f".//w:tr[count(w:tc[not(w:tcPr[1]/w:gridSpan[1])]) + sum({_SPAN}/@w:val) >= $n]",
    namespaces=_W,
)


def _fix_tables(docxtpl: DocxTemplate, xml: str) -> Any:
    """docxtpl's fix_tables(xml): the parsed body, its tables' grids repaired.

    fix_tables changes a table only when a row has more cells than its grid has
    columns, or when no row fills the grid; rendered from a template whose
    loops repeat whole rows, neither happens. The same tests are made here in
    XPath (fix_tables walks every cell in Python); a table that fails one, or
    has a span fix_tables might read differently, is left to fix_tables itself.
    """
    tree = etree.fromstring(xml, parser=_RECOVERING)
    if _ODD_SPANS(tree):
        return docxtpl.fix_tables(xml)
    for table in tree.iter(f"{{{_W['w']}}}tbl"):
        grids = _GRIDS(table)
        if not grids:
            return docxtpl.fix_tables(xml)  # fix_tables fails on it: the same error
        columns = len(grids[0].findall("w:gridCol", _W))
        if _WIDE_ROWS(table, n=columns) or (columns and not _FULL_ROWS(table, n=columns)):
            return docxtpl.fix_tables(xml)
    return tree


def _resolve_listing(docxtpl: DocxTemplate, xml: str) -> str:
    """docxtpl's resolve_listing(xml), calling it only on the paragraphs it changes.

    It rewrites each paragraph on its own (`_paragraphs`) and leaves one
    without a tab, line, paragraph or page break as it is; most of an
    invoice's sixty paragraphs have none, and those that have (the company's
    address) are mostly the same as last time.
    """
    marks = sorted(at for char in _LISTED for at in _positions(xml, char))
    if not marks:
        return xml
    out: list[str] = []
    done = next_mark = 0
    for start, end in _paragraphs(xml):
        while next_mark < len(marks) and marks[next_mark] < start:
            next_mark += 1
        if next_mark == len(marks):
            break
        if marks[next_mark] < end:
            out += (xml[done:start], _resolve_paragraph(docxtpl, xml[start:end]))
            done = end
    out.append(xml[done:])
    return "".join(out)


_LISTED = "\t\a\n\f"
#: Paragraphs as resolve_listing rewrote them, for the next invoice with the same one.
_RESOLVED: dict[str, str] = {}


def _resolve_paragraph(docxtpl: DocxTemplate, paragraph: str) -> str:
    resolved = _RESOLVED.get(paragraph)
    if resolved is None:
        resolved = str(docxtpl.resolve_listing(paragraph))
        if len(_RESOLVED) >= 256:
            _RESOLVED.clear()
        _RESOLVED[paragraph] = resolved
    return resolved


def _positions(text: str, char: str) -> Iterator[int]:
    at = text.find(char)
    while at >= 0:
        yield at
        at = text.find(char, at + 1)


def _paragraphs(xml: str) -> Iterator[tuple[int, int]]:
    """The paragraphs resolve_listing rewrites one by one, as (start, end).

    Its `re.sub(r"<w:p(?: [^>]*)?>.*?</w:p>", ..., flags=re.DOTALL)` matches
    these, left to right; its lazy `.*?` steps through a body character by
    character, where `str.find` jumps.
    """
    at = 0
    while (start := xml.find("<w:p", at)) >= 0:
        after = xml[start + 4 : start + 5]
        if after == ">":
            head = start + 5
        elif after == " ":
            head = xml.find(">", start + 5) + 1
            if not head:
                return
        else:
            at = start + 4
            continue
        end = xml.find("</w:p>", head)
        if end < 0:
            return
        yield start, end + 6
        at = end + 6


def _split_around(root: Any, child: Any) -> tuple[bytes, bytes]:
    """The serialised `root` before and after `child`, as python-docx writes it."""
    marker = b"<docxtpl-body-marker/>"
    shell = copy.deepcopy(root)
    shell.replace(shell.find(child.tag), etree.Element("docxtpl-body-marker"))
    head, tail = serialize_part_xml(shell).split(marker)
    return head, tail


def _read_members(path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    """Every member of the template with its stored bytes: copied, not recompressed.

    A template saved by Word carries a styles.xml of up to some 350 kB of XML;
    copying its compressed bytes makes writing an invoice a memory copy.
    """
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, bytes(raw_member(data, info))) for info in archive.infolist()]


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old file or the whole new one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open honours the umask, unlike mkstemp's private 0600 files.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666)
    except FileNotFoundError:  # the year's folder: made once, not checked for every file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
