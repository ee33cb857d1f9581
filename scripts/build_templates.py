"""Build the bundled invoice and credit note templates (English, Russian, Kazakh).

The templates are generated with python-docx, not hand-edited, so a layout
change is one edit here and a rebuild for all three languages; a credit note
is made of the invoice's own blocks, so the two look like one family:

    python scripts/build_templates.py            # templates/invoice*.docx, credit_note*.docx
    python scripts/build_templates.py OUT_DIR    # somewhere else

Each template is a docxtpl (Jinja) document. It holds only labels and layout;
every value it prints is a ready string from `automation.render.build_context`
(`credit_note_context` for credit notes), so no arithmetic or formatting lives in a template.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Length, Pt, RGBColor
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

#: Calibri is metric-compatible with Carlito, which LibreOffice substitutes
#: when converting to PDF, so line breaks and page breaks match Word.
FONT = "Calibri"
TEXT = RGBColor(0x22, 0x22, 0x22)
MUTED = RGBColor(0x6B, 0x6B, 0x6B)
ACCENT = RGBColor(0x1F, 0x4E, 0x79)
ACCENT_HEX = "1F4E79"
RULE_HEX = "BFBFBF"
BANNER_FILL = "FFF4E0"
BANNER_EDGE = "E0A030"
HEADER_FILL = "E9EFF6"

PAGE_WIDTH = Cm(21.0)
MARGIN = Cm(1.8)
#: Line-item columns (date, description, quantity, unit price, amount): 17.4 cm.
ITEM_WIDTHS = (Cm(2.6), Cm(7.6), Cm(1.7), Cm(2.7), Cm(2.8))
TOTALS_WIDTHS = (Cm(5.0), Cm(3.4))

STYLES_WITH_EFFECTS = "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects"

FILES = {"en": "invoice.docx", "ru": "invoice.ru.docx", "kk": "invoice.kk.docx"}
CREDIT_NOTE_FILES = {
    "en": "credit_note.docx",
    "ru": "credit_note.ru.docx",
    "kk": "credit_note.kk.docx",
}
LANG_TAGS = {"en": "en-US", "ru": "ru-RU", "kk": "kk-KZ"}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "INVOICE",
        "invoice_no": "Invoice No",
        "invoice_date": "Invoice date",
        "due_date": "Due date",
        "email": "Email",
        "phone": "Phone",
        "tax_id": "Tax ID",
        "reissued": "REISSUED — reminder",
        "original_date": "Original invoice date",
        "reissue_date": "Reissued on",
        "already_paid": "Amount already paid",
        "outstanding": "Outstanding balance",
        "bill_to": "BILL TO",
        "terms": "PAYMENT TERMS",
        "date": "Date",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "subtotal": "Subtotal",
        "tax": "Tax",
        "total": "Total",
        "amount_paid": "Amount paid",
        "credited": "Less credit notes",
        "discount_earned": "Less early payment discount",
        "balance_due": "Balance due",
        "in_words": "Amount due in words",
        "discount": "Early payment discount: pay {{ discounted_total }} "
        "if payment is received by {{ discount_date }}.",
        "bank": "PAYMENT DETAILS",
        "bank_name": "Bank",
        "account_name": "Account name",
        "account_number": "Account number",
        "iban": "IBAN",
        "swift": "SWIFT / BIC",
        "reference": "Please quote {{ invoice_no }} as the payment reference.",
        "thanks": "Thank you for your business!",
        "scan_to_pay": "Scan with your banking app to pay {{ payment_qr_amount }} "
        "quoting {{ payment_qr_reference }}.",
    },
    "ru": {
        "title": "СЧЁТ НА ОПЛАТУ",
        "invoice_no": "Счёт №",
        "invoice_date": "Дата счёта",
        "due_date": "Оплатить до",
        "email": "Эл. почта",
        "phone": "Тел.",
        "tax_id": "ИНН/БИН",
        "reissued": "ВЫСТАВЛЕН ПОВТОРНО — напоминание",
        "original_date": "Дата исходного счёта",
        "reissue_date": "Дата повторного выставления",
        "already_paid": "Уже оплачено",
        "outstanding": "Остаток к оплате",
        "bill_to": "ПЛАТЕЛЬЩИК",
        "terms": "УСЛОВИЯ ОПЛАТЫ",
        "date": "Дата",
        "description": "Описание",
        "quantity": "Кол-во",
        "unit_price": "Цена",
        "amount": "Сумма",
        "subtotal": "Итого без налога",
        "tax": "Налог",
        "total": "Итого",
        "amount_paid": "Оплачено",
        "credited": "За вычетом кредит-нот",
        "discount_earned": "За вычетом скидки за досрочную оплату",
        "balance_due": "К оплате",
        "in_words": "Сумма к оплате прописью",
        "discount": "Скидка за досрочную оплату: при оплате не позднее {{ discount_date }} "
        "сумма к оплате составит {{ discounted_total }}.",
        "bank": "ПЛАТЁЖНЫЕ РЕКВИЗИТЫ",
        "bank_name": "Банк",
        "account_name": "Получатель",
        "account_number": "Номер счёта",
        "iban": "IBAN",
        "swift": "SWIFT / БИК",
        "reference": "Пожалуйста, укажите номер счёта {{ invoice_no }} в назначении платежа.",
        "thanks": "Благодарим за сотрудничество!",
        "scan_to_pay": "Отсканируйте в приложении банка, чтобы оплатить "
        "{{ payment_qr_amount }} с назначением {{ payment_qr_reference }}.",
    },
    "kk": {
        "title": "ТӨЛЕМ ШОТЫ",
        "invoice_no": "Шот №",
        "invoice_date": "Шот күні",
        "due_date": "Төлеу мерзімі",
        "email": "Эл. пошта",
        "phone": "Тел.",
        "tax_id": "БСН/ЖСН",
        "reissued": "ҚАЙТА ЖІБЕРІЛДІ — еске салу",
        "original_date": "Бастапқы шот күні",
        "reissue_date": "Қайта жіберілген күні",
        "already_paid": "Төленген сома",
        "outstanding": "Төленбеген қалдық",
        "bill_to": "ТӨЛЕУШІ",
        "terms": "ТӨЛЕМ ШАРТТАРЫ",
        "date": "Күні",
        "description": "Сипаттамасы",
        "quantity": "Саны",
        "unit_price": "Бағасы",
        "amount": "Сомасы",
        "subtotal": "Салықсыз жиыны",
        "tax": "Салық",
        "total": "Барлығы",
        "amount_paid": "Төленді",
        "credited": "Кредит-ноталар шегерілді",
        "discount_earned": "Мерзімінен бұрын төлеу жеңілдігі шегерілді",
        "balance_due": "Төлеуге",
        "in_words": "Төлеуге жататын сома жазбаша",
        "discount": "Мерзімінен бұрын төлегені үшін жеңілдік: төлем {{ discount_date_until }} "
        "дейін түссе, {{ discounted_total }} төлеңіз.",
        "bank": "ТӨЛЕМ ДЕРЕКТЕМЕЛЕРІ",
        "bank_name": "Банк",
        "account_name": "Алушы",
        "account_number": "Шот нөмірі",
        "iban": "IBAN",
        "swift": "SWIFT / БСК",
        "reference": "Төлем мақсатында {{ invoice_no }} шот нөмірін көрсетуіңізді сұраймыз.",
        "thanks": "Ынтымақтастығыңыз үшін рахмет!",
        "scan_to_pay": "{{ payment_qr_amount }} сомасын {{ payment_qr_reference }} мақсатымен "
        "төлеу үшін банк қосымшасында сканерлеңіз.",
    },
}


CREDIT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "CREDIT NOTE",
        "credit_note_no": "Credit note No",
        "credit_note_date": "Date",
        "against": "Against invoice",
        "banner": "Credit against invoice {{ invoice_no }} of {{ invoice_date }} "
        "for {{ invoice_total }}",
        "cancels": "This credit note cancels the invoice in full.",
        "replaced": "The corrected invoice is {{ replacement }}.",
        "invoice_total": "Invoice total",
        "earlier_credit": "Credited before",
        "this_credit": "This credit note",
        "amount_paid": "Amount paid",
        "new_balance": "New balance due",
        "in_words": "Amount credited in words",
        "owed_back": "You have paid {{ owed_back }} more than you now owe: we will refund "
        "it or set it against your next invoice, as you prefer.",
        "reference": "Please keep this credit note with invoice {{ invoice_no }}.",
        "thanks": "Thank you for your business!",
        "bill_to": "CLIENT",
    },
    "ru": {
        "title": "КРЕДИТ-НОТА",
        "credit_note_no": "Кредит-нота №",
        "credit_note_date": "Дата",
        "against": "К счёту",
        "banner": "Корректировка счёта {{ invoice_no }} от {{ invoice_date }} "
        "на сумму {{ invoice_total }}",
        "cancels": "Настоящая кредит-нота полностью аннулирует счёт.",
        "replaced": "Исправленный счёт: {{ replacement }}.",
        "invoice_total": "Сумма счёта",
        "earlier_credit": "Ранее уменьшено",
        "this_credit": "Сумма кредит-ноты",
        "amount_paid": "Оплачено",
        "new_balance": "Новый остаток к оплате",
        "in_words": "Сумма кредит-ноты прописью",
        "owed_back": "Вы оплатили на {{ owed_back }} больше, чем теперь должны: мы вернём эту "
        "сумму или зачтём её в счёт следующего счёта, как Вам удобнее.",
        "reference": "Пожалуйста, сохраните эту кредит-ноту вместе со счётом {{ invoice_no }}.",
        "thanks": "Благодарим за сотрудничество!",
        "bill_to": "КЛИЕНТ",
    },
    "kk": {
        "title": "КРЕДИТ-НОТА",
        "credit_note_no": "Кредит-нота №",
        "credit_note_date": "Күні",
        "against": "Шотқа",
        "banner": "{{ invoice_date }} күнгі {{ invoice_no }} шотын ({{ invoice_total }}) "
        "түзету",
        "cancels": "Бұл кредит-нота шотты толығымен жояды.",
        "replaced": "Түзетілген шот: {{ replacement }}.",
        "invoice_total": "Шот сомасы",
        "earlier_credit": "Бұрын азайтылды",
        "this_credit": "Кредит-нота сомасы",
        "amount_paid": "Төленді",
        "new_balance": "Жаңа төлеу қалдығы",
        "in_words": "Кредит-нота сомасы жазбаша",
        "owed_back": "Сіз қазіргі қарызыңыздан {{ owed_back }} артық төледіңіз: бұл соманы "
        "қайтарамыз немесе келесі шотқа есептейміз, қалауыңызша.",
        "reference": "Бұл кредит-нотаны {{ invoice_no }} шотымен бірге сақтауыңызды сұраймыз.",
        "thanks": "Ынтымақтастығыңыз үшін рахмет!",
        "bill_to": "КЛИЕНТ",
    },
}


def build_all(out_dir: Path) -> list[Path]:
    """Write the invoice, credit note and statement templates per language into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for files, build in (
        (FILES, build_template),
        (CREDIT_NOTE_FILES, build_credit_note),
        (STATEMENT_FILES, build_statement_template),
    ):
        for language, name in files.items():
            path = out_dir / name
            doc = build(language)
            prune_styles(doc)
            doc.save(str(path))
            paths.append(path)
    return paths


#: Elements whose w:val names a style.
_STYLE_REFERENCES = ("w:pStyle", "w:rStyle", "w:tblStyle", "w:numStyleLink", "w:styleLink")
#: Inside a style: the styles it needs beside it.
_STYLE_LINKS = ("w:basedOn", "w:next", "w:link", "w:numStyleLink", "w:styleLink")


def prune_styles(doc: DocxDocument) -> None:
    """Keep only the styles the document uses, their defaults and what they are based on.

    python-docx's stock package defines 164 styles (347 kB of XML, half of
    every invoice file once zipped; every emailed invoice carries it). An
    invoice uses a handful. Word and LibreOffice define a built-in style again
    when a bookkeeper applies it while editing the template; the latent style
    list, which tells them how, is kept.
    """
    styles = doc.styles.element
    parts = [doc.part.element, *(s.footer.part.element for s in doc.sections)]
    numbering = getattr(doc.part, "numbering_part", None)
    if numbering is not None:
        parts.append(numbering.element)
    wanted = {
        ref.get(qn("w:val"))
        for part in parts
        for tag in _STYLE_REFERENCES
        for ref in part.iter(qn(tag))
    }
    by_id = {style.get(qn("w:styleId")): style for style in styles.iter(qn("w:style"))}
    wanted |= {sid for sid, style in by_id.items() if style.get(qn("w:default")) in ("1", "true")}
    keep: set[str] = set()
    todo = [sid for sid in wanted if sid in by_id]
    while todo:
        sid = todo.pop()
        if sid in keep:
            continue
        keep.add(sid)
        for tag in _STYLE_LINKS:
            for link in by_id[sid].iter(qn(tag)):
                target = link.get(qn("w:val"))
                if target in by_id and target not in keep:
                    todo.append(target)
    for sid, style in by_id.items():
        if sid not in keep:
            styles.remove(style)


def build_credit_note(language: str) -> DocxDocument:
    """The credit note template for one language: the invoice's blocks, a credit's words."""
    labels = CREDIT_LABELS[language]
    doc = Document()
    _setup_document(doc, language, labels["title"])
    _add_credit_heading(doc, labels)
    _add_credit_banner(doc, labels)
    _add_credit_parties(doc, labels)
    _add_credit_totals(doc, labels)
    _add_credit_closing(doc, labels)
    _add_thanks(doc, labels)
    _add_footer(doc, "credit_note_no")
    return doc


def _add_credit_heading(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 2, (Cm(9.4), Cm(8.0)))
    left, right = table.rows[0].cells
    _write(left.paragraphs[0], "{{ company_name }}", size=16, bold=True, color=ACCENT)
    _text(left, "{{ company_address }}", color=MUTED)
    _optional(left, "company_email", "{{ company_email }}")
    _optional(left, "company_phone", "{{ company_phone }}")
    _optional(left, "company_tax_id", "{{ company_tax_id }}")
    title = right.paragraphs[0]
    title.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _write(title, labels["title"], size=20, bold=True, color=ACCENT)
    title.paragraph_format.space_after = Pt(6)
    for key, value in (
        ("credit_note_no", "{{ credit_note_no }}"),
        ("credit_note_date", "{{ credit_note_date }}"),
        ("against", "{{ invoice_no }}"),
    ):
        para = right.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(para, f"{labels[key]}: ", color=MUTED)
        _write(para, value, bold=True)
    _spacer(doc, 10)


def _add_credit_banner(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 1, (Cm(17.4),))
    cell = table.rows[0].cells[0]
    _shade(cell, HEADER_FILL)
    _cell_borders(cell, left=(ACCENT_HEX, 24))
    _write(cell.paragraphs[0], labels["banner"], size=12, bold=True, color=ACCENT)
    cell.add_paragraph().add_run("{%p if cancels_invoice %}")
    _text(cell, labels["cancels"])
    cell.add_paragraph().add_run("{%p endif %}")
    cell.add_paragraph().add_run("{%p if replacement %}")
    _text(cell, labels["replaced"], bold=True)
    cell.add_paragraph().add_run("{%p endif %}")
    _spacer(doc, 10)


def _add_credit_parties(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 1, (Cm(17.4),))
    cell = table.rows[0].cells[0]
    _write(cell.paragraphs[0], labels["bill_to"], size=8, bold=True, color=MUTED)
    _text(cell, "{{ client_name }}", bold=True, size=11)
    _text(cell, "{{ client_address }}")
    _spacer(doc, 12)


def _add_credit_totals(doc: DocxDocument, labels: dict[str, str]) -> None:
    _totals_table(doc, (
        ("", labels["invoice_total"], "invoice_total", False),
        ("{%tr if has_earlier_credit %}", "", "", False),
        ("", labels["earlier_credit"], "earlier_credit", False),
        ("{%tr endif %}", "", "", False),
        ("", labels["this_credit"], "credit_amount", True),
        ("{%tr if has_payment %}", "", "", False),
        ("", labels["amount_paid"], "amount_paid", False),
        ("{%tr endif %}", "", "", False),
        ("", labels["new_balance"], "new_balance", True),
    ))  # fmt: skip


def _add_credit_closing(doc: DocxDocument, labels: dict[str, str]) -> None:
    para = doc.add_paragraph()
    _write(para, f"{labels['in_words']}: ", color=MUTED)
    _write(para, "{{ credit_in_words }}", italic=True)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p if owed_back %}")
    para = doc.add_paragraph()
    _write(para, labels["owed_back"], bold=True, color=ACCENT)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p endif %}")
    para = doc.add_paragraph()
    _write(para, labels["reference"], bold=True)
    para.paragraph_format.space_after = Pt(12)


def build_template(language: str) -> DocxDocument:
    """The invoice template for one language, as a python-docx Document."""
    labels = LABELS[language]
    doc = Document()
    _setup_document(doc, language, labels["title"])
    _add_heading_block(doc, labels)
    _add_reissue_banner(doc, labels)
    _add_parties(doc, labels)
    _add_totals(_add_items(doc, labels), labels)
    _spacer(doc, 10)
    _add_closing(doc, labels)
    _add_bank_details(doc, labels)
    _add_payment_qr(doc, labels)
    _add_thanks(doc, labels)
    _add_footer(doc)
    return doc


# -- document set-up ---------------------------------------------------------


def _setup_document(doc: DocxDocument, language: str, title: str) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, Cm(29.7)
    section.left_margin = section.right_margin = MARGIN
    section.top_margin, section.bottom_margin = Cm(1.6), Cm(1.6)
    section.footer_distance = Cm(0.8)

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10)
    normal.font.color.rgb = TEXT
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.1
    _set_default_fonts(doc, LANG_TAGS[language])

    # python-docx's stock package carries a thumbnail of an unrelated page and
    # a second copy of every style; neither belongs in an invoice.
    _drop_relationships(doc.part.package.rels, RT.THUMBNAIL)
    _drop_relationships(doc.part.rels, STYLES_WITH_EFFECTS)

    props = doc.core_properties
    props.title = title.capitalize()
    props.author = ""
    props.last_modified_by = ""
    props.comments = ""
    props.keywords = ""
    props.subject = ""


def _set_default_fonts(doc: DocxDocument, lang_tag: str) -> None:
    """Name the font for every script (Cyrillic included) and the proofing language.

    The stock defaults point at theme fonts, which override explicit names,
    so the theme attributes are removed.
    """
    styles = doc.styles.element
    for rfonts in styles.iter(qn("w:rFonts")):
        for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            rfonts.attrib.pop(qn(attr), None)
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            rfonts.set(qn(attr), FONT)
    for lang in styles.iter(qn("w:lang")):
        lang.set(qn("w:val"), lang_tag)
        lang.set(qn("w:eastAsia"), lang_tag)


def _drop_relationships(rels: object, reltype: str) -> None:
    for rid, rel in list(rels.items()):  # type: ignore[attr-defined]
        if rel.reltype == reltype:
            del rels[rid]  # type: ignore[attr-defined]


# -- blocks ------------------------------------------------------------------


def _add_heading_block(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 2, (Cm(9.4), Cm(8.0)))
    left, right = table.rows[0].cells

    _write(left.paragraphs[0], "{{ company_name }}", size=16, bold=True, color=ACCENT)
    _text(left, "{{ company_address }}", color=MUTED)
    _optional(left, "company_email", f"{labels['email']}: {{{{ company_email }}}}")
    _optional(left, "company_phone", f"{labels['phone']}: {{{{ company_phone }}}}")
    _optional(left, "company_website", "{{ company_website }}")
    _optional(left, "company_tax_id", f"{labels['tax_id']}: {{{{ company_tax_id }}}}")

    title = right.paragraphs[0]
    title.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _write(title, labels["title"], size=20, bold=True, color=ACCENT)
    title.paragraph_format.space_after = Pt(6)
    for key, value in (
        ("invoice_no", "{{ invoice_no }}"),
        ("invoice_date", "{{ invoice_date }}"),
        ("due_date", "{{ due_date }}"),
    ):
        para = right.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(para, f"{labels[key]}: ", color=MUTED)
        _write(para, value, bold=True)
    _spacer(doc, 10)


def _add_reissue_banner(doc: DocxDocument, labels: dict[str, str]) -> None:
    _control(doc, "{%p if is_reissue %}")
    table = _plain_table(doc, 1, 1, (Cm(17.4),))
    cell = table.rows[0].cells[0]
    _shade(cell, BANNER_FILL)
    _cell_borders(cell, left=(BANNER_EDGE, 24))
    _write(cell.paragraphs[0], f"{labels['reissued']} {{{{ reissue_number }}}}",
           size=12, bold=True, color=RGBColor(0x9C, 0x57, 0x00))
    para = cell.add_paragraph()
    _write(para, f"{labels['original_date']}: ", color=MUTED)
    _write(para, "{{ original_invoice_date }}")
    _write(para, f"     {labels['reissue_date']}: ", color=MUTED)
    _write(para, "{{ reissue_date }}")
    para = cell.add_paragraph()
    _write(para, f"{labels['already_paid']}: ", color=MUTED)
    _write(para, "{{ amount_paid }}")
    _write(para, f"     {labels['outstanding']}: ", color=MUTED)
    _write(para, "{{ balance_due }}", bold=True)
    _spacer(doc, 10)
    _control(doc, "{%p endif %}")


def _add_parties(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 2, (Cm(9.4), Cm(8.0)))
    left, right = table.rows[0].cells
    _write(left.paragraphs[0], labels["bill_to"], size=8, bold=True, color=MUTED)
    _text(left, "{{ client_name }}", bold=True, size=11)
    _text(left, "{{ client_address }}")
    _write(right.paragraphs[0], labels["terms"], size=8, bold=True, color=MUTED)
    _text(right, "{{ terms_description }}")
    _spacer(doc, 12)


def _add_items(doc: DocxDocument, labels: dict[str, str]) -> _Cell:
    """The table of lines, and below them the cell that holds the totals (returned).

    The totals sit in the table's last row, which never splits, and the last line
    keeps with them (a row of its own: keeping every line with the next would move
    the whole table), so that the totals never split and never start a page
    without a line above them. Word and LibreOffice both keep table rows together
    so, on every page (LibreOffice ignores a table kept with what follows it
    once the table has run onto a second page).
    """
    controls = ("", "{%tr for line in lines %}", "{%tr if not loop.last %}", "",
                "{%tr else %}", "", "{%tr endif %}", "{%tr endfor %}", "")  # fmt: skip
    last_line, totals = 5, len(controls) - 1
    table = _plain_table(doc, len(controls), 5, ITEM_WIDTHS)
    _mark_header_row(table.rows[0])
    heads = ("date", "description", "quantity", "unit_price", "amount")
    fields = ("date", "description", "quantity", "unit_price", "amount")
    for index, (cell, head) in enumerate(zip(table.rows[0].cells, heads, strict=True)):
        _shade(cell, HEADER_FILL)
        _cell_borders(cell, bottom=(ACCENT_HEX, 8))
        para = cell.paragraphs[0]
        para.alignment = _column_alignment(index)
        _write(para, labels[head], bold=True, color=ACCENT, size=9)
    for number, (row, control) in enumerate(zip(table.rows, controls, strict=True)):
        if control:
            row.cells[0].paragraphs[0].add_run(control)
        elif 0 < number < totals:
            _cant_split(row)
            _line_row(row, fields, "line", number == last_line)
    row = table.rows[totals]
    _cant_split(row)
    cell = row.cells[0].merge(row.cells[-1])
    _cell_margins(cell, 0)  # the totals' right edge lines up with the Amount column's
    _exact_height(cell.paragraphs[0], 6)
    return cell


def _add_totals(cell: _Cell, labels: dict[str, str]) -> None:
    _totals_table(cell, (
        ("", labels["subtotal"], "subtotal", False),
        ("", f"{labels['tax']} ({{{{ tax_rate }}}})", "tax", False),
        ("", labels["total"], "total", True),
        ("{%tr if show_paid %}", "", "", False),
        ("{%tr if show_credit %}", "", "", False),
        ("", labels["credited"], "credited", False),
        ("{%tr endif %}", "", "", False),
        ("{%tr if show_discount_earned %}", "", "", False),
        ("", labels["discount_earned"], "discount_earned", False),
        ("{%tr endif %}", "", "", False),
        ("", labels["amount_paid"], "amount_paid", False),
        ("", labels["balance_due"], "balance_due", True),
        ("{%tr endif %}", "", "", False),
    ))  # fmt: skip


def _totals_table(
    where: DocxDocument | _Cell, rows: Sequence[tuple[str, str, str, bool]]
) -> None:
    """A totals block, right-aligned, that never splits across pages: each row is
    (control, label, field, strong), a row holding only a `{%tr ... %}` control or a
    label and its value (bold above a rule when strong). No row splits, and each but
    the last keeps with the next."""
    table = _plain_table(where, len(rows), 2, TOTALS_WIDTHS)
    last = max(i for i, row in enumerate(rows) if not row[0])
    table.alignment = WD_TABLE_ALIGNMENT.RIGHT
    for number, (row, (control, label, field, strong)) in enumerate(
        zip(table.rows, rows, strict=True)
    ):
        name_cell, value_cell = row.cells
        if control:
            name_cell.paragraphs[0].add_run(control)
            continue
        _cant_split(row)
        if strong:
            for cell in row.cells:
                _cell_borders(cell, top=(ACCENT_HEX, 8))
        size = 11 if strong else 10
        _write(name_cell.paragraphs[0], label, bold=strong, size=size,
               color=TEXT if strong else MUTED)
        value = value_cell.paragraphs[0]
        value.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(value, f"{{{{ {field} }}}}", bold=strong, size=size)
        if number != last:
            for cell in row.cells:
                _keep_with_next(cell.paragraphs[0])
    if isinstance(where, _Cell):  # the paragraph a cell must end with, after its table
        _exact_height(where.paragraphs[-1], 1)
    else:
        _spacer(where, 10)


def _add_closing(doc: DocxDocument, labels: dict[str, str]) -> None:
    para = doc.add_paragraph()
    _write(para, f"{labels['in_words']}: ", color=MUTED)
    _write(para, "{{ amount_in_words }}", italic=True)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p if has_discount %}")
    para = doc.add_paragraph()
    _write(para, labels["discount"], bold=True, color=ACCENT)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p endif %}")
    para = doc.add_paragraph()
    _write(para, labels["reference"], bold=True)
    para.paragraph_format.space_after = Pt(12)


def _add_bank_details(doc: DocxDocument, labels: dict[str, str]) -> None:
    _control(doc, "{%p if has_bank_details %}")
    para = doc.add_paragraph()
    _write(para, labels["bank"], size=8, bold=True, color=MUTED)
    para.paragraph_format.space_after = Pt(2)
    fields = ("bank_name", "account_name", "account_number", "iban", "swift")
    table = _plain_table(doc, 3 * len(fields), 2, (Cm(3.6), Cm(13.8)))
    for index, field in enumerate(fields):
        opening, content, closing = table.rows[3 * index : 3 * index + 3]
        opening.cells[0].paragraphs[0].add_run(f"{{%tr if {field} %}}")
        _write(content.cells[0].paragraphs[0], labels[field], color=MUTED)
        _write(content.cells[1].paragraphs[0], f"{{{{ {field} }}}}")
        closing.cells[0].paragraphs[0].add_run("{%tr endif %}")
    _spacer(doc, 12)
    _control(doc, "{%p endif %}")


def _add_payment_qr(doc: DocxDocument, labels: dict[str, str]) -> None:
    """The payment QR code (EPC or GOST) with a line saying what it pays; absent without one."""
    _control(doc, "{%p if payment_qr %}")
    table = _plain_table(doc, 1, 2, (Cm(3.4), Cm(14.0)))
    picture, caption = table.rows[0].cells
    _write(picture.paragraphs[0], "{{ payment_qr }}")
    _write(caption.paragraphs[0], labels["scan_to_pay"], color=MUTED)
    _spacer(doc, 10)
    _control(doc, "{%p endif %}")


def _add_thanks(doc: DocxDocument, labels: dict[str, str]) -> None:
    para = doc.add_paragraph()
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _write(para, labels["thanks"], italic=True, size=11, color=ACCENT)


def _add_footer(doc: DocxDocument, number: str = "invoice_no") -> None:
    footer = doc.sections[0].footer
    para = footer.paragraphs[0]
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _cell_like_top_border(para)
    _write(para, "{{ company_footer }}", size=8, color=MUTED)
    para = footer.add_paragraph()
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _write(para, f"{{{{ {number} }}}} · ", size=8, color=MUTED)
    _field(para, "PAGE")
    _write(para, " / ", size=8, color=MUTED)
    _field(para, "NUMPAGES")


# -- statements of account ----------------------------------------------------

STATEMENT_FILES = {"en": "statement.docx", "ru": "statement.ru.docx", "kk": "statement.kk.docx"}
#: Statement lines (date, document, charges, credits, balance): 17.4 cm.
STATEMENT_WIDTHS = (Cm(2.6), Cm(6.6), Cm(2.7), Cm(2.7), Cm(2.8))
#: Open items (invoice, invoice date, due date, days overdue, total, open): 17.4 cm.
OPEN_WIDTHS = (Cm(3.4), Cm(2.9), Cm(2.9), Cm(2.2), Cm(3.0), Cm(3.0))

STATEMENT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "STATEMENT OF ACCOUNT",
        "statement_date": "Statement date",
        "period": "Period",
        "currency": "Currency",
        "to": "STATEMENT FOR",
        "summary": "ACCOUNT SUMMARY",
        "opening": "Opening balance",
        "invoiced": "Invoiced",
        "credited": "Credit notes",
        "received": "Payments and discounts",
        "closing": "Closing balance",
        "date": "Date",
        "document": "Document",
        "charges": "Charges",
        "credits": "Credits",
        "balance": "Balance",
        "brought_forward": "Balance brought forward",
        "no_activity": "No invoices, payments or credit notes in this period.",
        "carried_forward": "Closing balance",
        "aging": "OPEN ITEMS BY AGE (DAYS PAST DUE)",
        "current": "Current",
        "over_90": "Over 90",
        "total": "Total",
        "open_items": "OPEN ITEMS",
        "invoice_no": "Invoice No",
        "invoice_date": "Invoice date",
        "due_date": "Due date",
        "days": "Days overdue",
        "invoice_total": "Total",
        "open": "Open",
        "unapplied": "Paid beyond your invoices (your credit)",
        "unapplied_note": "We will refund it to you, or set it against the invoice you name "
        "when you ask us to.",
        "amount_due": "Amount due",
        "not_taken_off": " (your credit is not taken off)",
        "settled": "Your account is settled. Thank you!",
        "query": "If anything here does not match your records, please reply to this "
        "statement and we will look into it.",
    },
    "ru": {
        "title": "АКТ СВЕРКИ ВЗАИМОРАСЧЁТОВ",
        "statement_date": "Дата",
        "period": "Период",
        "currency": "Валюта",
        "to": "КОНТРАГЕНТ",
        "summary": "СВОДКА ПО СЧЁТУ",
        "opening": "Сальдо на начало периода",
        "invoiced": "Выставлено счетов",
        "credited": "Кредит-ноты",
        "received": "Оплаты и скидки",
        "closing": "Сальдо на конец периода",
        "date": "Дата",
        "document": "Документ",
        "charges": "Начислено",
        "credits": "Оплачено",
        "balance": "Сальдо",
        "brought_forward": "Сальдо на начало периода",
        "no_activity": "За период нет счетов, оплат и кредит-нот.",
        "carried_forward": "Сальдо на конец периода",
        "aging": "НЕОПЛАЧЕННЫЕ СЧЕТА ПО СРОКУ ПРОСРОЧКИ (ДНЕЙ)",
        "current": "В срок",
        "over_90": "Более 90",
        "total": "Итого",
        "open_items": "НЕОПЛАЧЕННЫЕ СЧЕТА",
        "invoice_no": "Счёт №",
        "invoice_date": "Дата счёта",
        "due_date": "Срок оплаты",
        "days": "Дней просрочки",
        "invoice_total": "Сумма",
        "open": "Остаток",
        "unapplied": "Переплата (в вашу пользу)",
        "unapplied_note": "Мы вернём её вам или, по вашей просьбе, зачтём в оплату "
        "указанного вами счёта.",
        "amount_due": "К оплате",
        "not_taken_off": " (переплата не вычитается)",
        "settled": "Задолженности нет. Спасибо!",
        "query": "Если данные расходятся с вашими, пожалуйста, ответьте на это письмо — "
        "мы всё проверим.",
    },
    "kk": {
        "title": "ӨЗАРА ЕСЕП АЙЫРЫСУДЫ САЛЫСТЫРУ АКТІСІ",
        "statement_date": "Күні",
        "period": "Кезең",
        "currency": "Валюта",
        "to": "КОНТРАГЕНТ",
        "summary": "ШОТ БОЙЫНША ҚЫСҚАША",
        "opening": "Кезең басындағы сальдо",
        "invoiced": "Шоттар",
        "credited": "Кредит-ноталар",
        "received": "Төлемдер мен жеңілдіктер",
        "closing": "Кезең соңындағы сальдо",
        "date": "Күні",
        "document": "Құжат",
        "charges": "Есептелді",
        "credits": "Төленді",
        "balance": "Сальдо",
        "brought_forward": "Кезең басындағы сальдо",
        "no_activity": "Осы кезеңде шоттар, төлемдер мен кредит-ноталар жоқ.",
        "carried_forward": "Кезең соңындағы сальдо",
        "aging": "ТӨЛЕНБЕГЕН ШОТТАР, МЕРЗІМІ ӨТКЕН КҮНДЕР БОЙЫНША",
        "current": "Мерзімінде",
        "over_90": "90-нан артық",
        "total": "Барлығы",
        "open_items": "ТӨЛЕНБЕГЕН ШОТТАР",
        "invoice_no": "Шот №",
        "invoice_date": "Шот күні",
        "due_date": "Төлеу мерзімі",
        "days": "Кешіктірілген күн",
        "invoice_total": "Сомасы",
        "open": "Қалдық",
        "unapplied": "Артық төлем (сіздің пайдаңызға)",
        "unapplied_note": "Оны сізге қайтарамыз немесе өтінішіңіз бойынша өзіңіз көрсеткен "
        "шотқа есептейміз.",
        "amount_due": "Төлеуге",
        "not_taken_off": " (артық төлем шегерілмейді)",
        "settled": "Берешек жоқ. Рахмет!",
        "query": "Деректер сіздің есебіңізбен сәйкес келмесе, осы хатқа жауап беріңіз — "
        "бәрін тексереміз.",
    },
}


def build_statement_template(language: str) -> DocxDocument:
    """The statement-of-account template for one language (same look as the invoice)."""
    labels = STATEMENT_LABELS[language]
    invoice_labels = LABELS[language]
    doc = Document()
    _setup_document(doc, language, labels["title"])
    _add_statement_heading(doc, labels, invoice_labels)
    _add_statement_parties(doc, labels)
    _add_statement_lines(doc, labels)
    _add_statement_aging(doc, labels)
    _add_statement_open_items(doc, labels)
    _add_statement_closing(doc, labels)
    _add_bank_details(doc, invoice_labels)
    _add_payment_qr(doc, invoice_labels)
    _add_footer(doc, "footer_reference")
    return doc


def _add_statement_heading(
    doc: DocxDocument, labels: dict[str, str], invoice_labels: dict[str, str]
) -> None:
    table = _plain_table(doc, 1, 2, (Cm(8.4), Cm(9.0)))
    left, right = table.rows[0].cells
    _write(left.paragraphs[0], "{{ company_name }}", size=16, bold=True, color=ACCENT)
    _text(left, "{{ company_address }}", color=MUTED)
    _optional(left, "company_email", f"{invoice_labels['email']}: {{{{ company_email }}}}")
    _optional(left, "company_phone", f"{invoice_labels['phone']}: {{{{ company_phone }}}}")
    _optional(left, "company_tax_id", f"{invoice_labels['tax_id']}: {{{{ company_tax_id }}}}")
    title = right.paragraphs[0]
    title.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _write(title, labels["title"], size=16, bold=True, color=ACCENT)
    title.paragraph_format.space_after = Pt(6)
    for key, value in (
        ("statement_date", "{{ statement_date }}"),
        ("period", "{{ period }}"),
        ("currency", "{{ currency }}"),
    ):
        para = right.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(para, f"{labels[key]}: ", color=MUTED)
        _write(para, value, bold=True)
    _spacer(doc, 10)


def _add_statement_parties(doc: DocxDocument, labels: dict[str, str]) -> None:
    table = _plain_table(doc, 1, 2, (Cm(8.4), Cm(9.0)))
    left, right = table.rows[0].cells
    _write(left.paragraphs[0], labels["to"], size=8, bold=True, color=MUTED)
    _text(left, "{{ client_name }}", bold=True, size=11)
    _text(left, "{{ client_address }}")
    _write(right.paragraphs[0], labels["summary"], size=8, bold=True, color=MUTED)
    rows = (
        ("opening", "opening_balance", False),
        ("invoiced", "total_invoiced", False),
        ("credited", "total_credited", False),
        ("received", "total_received", False),
        ("closing", "closing_balance", True),
    )
    summary = right.add_table(rows=len(rows), cols=2)
    for row, (label, field, strong) in zip(summary.rows, rows, strict=True):
        name_cell, value_cell = row.cells
        name_cell.width, value_cell.width = Cm(5.4), Cm(3.4)
        if strong:
            for cell in row.cells:
                _cell_borders(cell, top=(ACCENT_HEX, 8))
        _write(name_cell.paragraphs[0], labels[label], bold=strong,
               color=TEXT if strong else MUTED)
        value = value_cell.paragraphs[0]
        value.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(value, f"{{{{ {field} }}}}", bold=strong)
    _spacer(doc, 12)


def _header_cells(row: object, heads: Sequence[str], right_from: int) -> None:
    for index, (cell, head) in enumerate(zip(row.cells, heads, strict=True)):  # type: ignore[attr-defined]
        _shade(cell, HEADER_FILL)
        _cell_borders(cell, bottom=(ACCENT_HEX, 8))
        para = cell.paragraphs[0]
        right = index >= right_from
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT if right else WD_ALIGN_PARAGRAPH.LEFT
        _write(para, head, bold=True, color=ACCENT, size=9)


def _add_statement_lines(doc: DocxDocument, labels: dict[str, str]) -> None:
    # As on an invoice, the last line has a row of its own, kept with the closing balance.
    controls = ("", "", "{%tr for item in items %}", "{%tr if not loop.last %}", "",
                "{%tr else %}", "", "{%tr endif %}", "{%tr endfor %}", "")  # fmt: skip
    last_line = 6
    table = _plain_table(doc, len(controls), 5, STATEMENT_WIDTHS)
    _mark_header_row(table.rows[0])
    heads = [labels[k] for k in ("date", "document", "charges", "credits", "balance")]
    _header_cells(table.rows[0], heads, right_from=2)
    opening = table.rows[1].cells
    _write(opening[0].paragraphs[0], "{{ period_start }}")
    _write(opening[1].paragraphs[0], labels["brought_forward"], italic=True)
    balance = opening[4].paragraphs[0]
    balance.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _write(balance, "{{ opening_balance }}", italic=True)
    for cell in opening:
        _cell_borders(cell, bottom=(RULE_HEX, 4))
    fields = ("date", "document", "charge", "credit", "balance")
    for number, (row, control) in enumerate(zip(table.rows, controls, strict=True)):
        if control:
            row.cells[0].paragraphs[0].add_run(control)
            continue
        _cant_split(row)
        if number < 2 or number == len(controls) - 1:
            continue  # the header, the balance brought forward, the closing balance
        _line_row(row, fields, "item", number == last_line)
    closing = table.rows[-1].cells
    for cell in closing:
        _cell_borders(cell, top=(ACCENT_HEX, 8))
    _write(closing[0].paragraphs[0], "{{ period_end }}", bold=True)
    _write(closing[1].paragraphs[0], labels["carried_forward"], bold=True)
    balance = closing[4].paragraphs[0]
    balance.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _write(balance, "{{ closing_balance }}", bold=True)
    _control(doc, "{%p if not items %}")
    para = doc.add_paragraph()
    _write(para, labels["no_activity"], italic=True, color=MUTED)
    _control(doc, "{%p endif %}")
    _spacer(doc, 12)


def _add_statement_aging(doc: DocxDocument, labels: dict[str, str]) -> None:
    para = doc.add_paragraph()
    _write(para, labels["aging"], size=8, bold=True, color=MUTED)
    para.paragraph_format.space_after = Pt(2)
    _keep_with_next(para)  # the heading, its table's two rows: on one page
    heads = (labels["current"], "1-30", "31-60", "61-90", labels["over_90"], labels["total"])
    table = _plain_table(doc, 2, 6, (Cm(2.9),) * 6)
    _header_cells(table.rows[0], heads, right_from=0)
    for row in table.rows:
        _cant_split(row)
    for cell in table.rows[0].cells:
        _keep_with_next(cell.paragraphs[0])
    for index, cell in enumerate(table.rows[1].cells):
        _cell_borders(cell, bottom=(RULE_HEX, 4))
        para = cell.paragraphs[0]
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _write(para, f"{{{{ aging[{index}] }}}}", bold=index == 5)
    _spacer(doc, 12)


def _add_statement_open_items(doc: DocxDocument, labels: dict[str, str]) -> None:
    _control(doc, "{%p if open_items %}")
    para = doc.add_paragraph()
    _write(para, labels["open_items"], size=8, bold=True, color=MUTED)
    para.paragraph_format.space_after = Pt(2)
    _keep_with_next(para)
    table = _plain_table(doc, 4, 6, OPEN_WIDTHS)
    _mark_header_row(table.rows[0])
    heads = [labels[k] for k in
             ("invoice_no", "invoice_date", "due_date", "days", "invoice_total", "open")]
    _header_cells(table.rows[0], heads, right_from=3)
    table.rows[1].cells[0].paragraphs[0].add_run("{%tr for item in open_items %}")
    fields = ("invoice_no", "invoice_date", "due_date", "days", "total", "open")
    for index, (cell, name) in enumerate(zip(table.rows[2].cells, fields, strict=True)):
        _cell_borders(cell, bottom=(RULE_HEX, 4))
        para = cell.paragraphs[0]
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT if index >= 3 else WD_ALIGN_PARAGRAPH.LEFT
        _write(para, f"{{{{ item.{name} }}}}")
    table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}")
    _spacer(doc, 12)
    _control(doc, "{%p endif %}")


def _add_statement_closing(doc: DocxDocument, labels: dict[str, str]) -> None:
    _control(doc, "{%p if has_unapplied %}")
    para = doc.add_paragraph()
    _write(para, f"{labels['unapplied']}: ", color=MUTED)
    _write(para, "{{ unapplied }}. ")
    _write(para, labels["unapplied_note"], color=MUTED)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p endif %}")
    # What the open invoices need: a credit is the client's money, not taken off (each
    # invoice is settled on its own, so an invoice paid short by it would be chased).
    _control(doc, "{%p if owes %}")
    para = doc.add_paragraph()
    _write(para, f"{labels['amount_due']}: ", bold=True, size=12, color=ACCENT)
    _write(para, "{{ amount_due }}", bold=True, size=12, color=ACCENT)
    _write(para, f"{{% if has_unapplied %}}{labels['not_taken_off']}{{% endif %}}", color=MUTED)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p elif not has_unapplied %}")
    para = doc.add_paragraph()
    _write(para, labels["settled"], bold=True, color=ACCENT)
    para.paragraph_format.space_after = Pt(6)
    _control(doc, "{%p endif %}")
    para = doc.add_paragraph()
    _write(para, labels["query"], color=MUTED)
    para.paragraph_format.space_after = Pt(12)


# -- python-docx helpers -----------------------------------------------------


def _plain_table(
    where: DocxDocument | _Cell, rows: int, cols: int, widths: Sequence[Length]
) -> Table:
    """A borderless fixed-layout table with the given column widths (in a cell: nested)."""
    table = where.add_table(rows, cols)
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    tbl_pr.append(layout)
    margins = OxmlElement("w:tblCellMar")
    for side, width in (("left", 60), ("right", 60), ("top", 30), ("bottom", 30)):
        node = OxmlElement(f"w:{side}")
        node.set(qn("w:w"), str(width))
        node.set(qn("w:type"), "dxa")
        margins.append(node)
    tbl_pr.append(margins)
    for index, width in enumerate(widths):
        table.columns[index].width = width
        for cell in table.columns[index].cells:
            cell.width = width
    return table


def _mark_header_row(row: object) -> None:
    """Repeat the row at the top of every page the table spans."""
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    header = OxmlElement("w:tblHeader")
    tr_pr.append(header)


def _cant_split(row: object) -> None:
    """Never break the row across two pages."""
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    tr_pr.append(OxmlElement("w:cantSplit"))


def _keep_with_next(para: Paragraph) -> Paragraph:
    para.paragraph_format.keep_with_next = True
    return para


def _line_row(row: _Row, fields: Sequence[str], loop: str, keep_with_next: bool) -> None:
    """One row of a document's lines (an invoice's `line`, a statement's `item`): each field
    of `loop` in its column, ruled below; the last line kept with what follows it."""
    for index, (cell, name) in enumerate(zip(row.cells, fields, strict=True)):
        _cell_borders(cell, bottom=(RULE_HEX, 4))
        para = cell.paragraphs[0]
        para.alignment = _column_alignment(index)
        _write(para, f"{{{{ {loop}.{name} }}}}")
        if keep_with_next:
            _keep_with_next(para)


def _column_alignment(index: int) -> int:
    return WD_ALIGN_PARAGRAPH.RIGHT if index >= 2 else WD_ALIGN_PARAGRAPH.LEFT


def _shade(cell: _Cell, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _cell_borders(cell: _Cell, **sides: tuple[str, int]) -> None:
    """Borders on some sides of a cell: side=(hex colour, width in eighths of a point)."""
    tc_pr = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    for side in ("top", "left", "bottom", "right"):
        if side in sides:
            colour, size = sides[side]
            node = OxmlElement(f"w:{side}")
            node.set(qn("w:val"), "single")
            node.set(qn("w:sz"), str(size))
            node.set(qn("w:space"), "0")
            node.set(qn("w:color"), colour)
            borders.append(node)
    tc_pr.append(borders)


def _cell_margins(cell: _Cell, width: int) -> None:
    """The same margin (in twentieths of a point) on every side of a cell's content."""
    margins = OxmlElement("w:tcMar")
    for side in ("top", "left", "bottom", "right"):
        node = OxmlElement(f"w:{side}")
        node.set(qn("w:w"), str(width))
        node.set(qn("w:type"), "dxa")
        margins.append(node)
    cell._tc.get_or_add_tcPr().append(margins)


def _cell_like_top_border(para: Paragraph) -> None:
    p_pr = para._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for key, value in (("w:val", "single"), ("w:sz", "4"), ("w:space", "4"),
                       ("w:color", RULE_HEX)):
        top.set(qn(key), value)
    borders.append(top)
    p_pr.append(borders)


def _field(para: Paragraph, code: str) -> None:
    """A simple Word field (PAGE, NUMPAGES) in the footer's small grey type."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), code)
    run = para.add_run("1")
    run.font.size = Pt(8)
    run.font.color.rgb = MUTED
    field.append(run._r)
    para._p.append(field)


def _write(para: Paragraph, text: str, *, size: float | None = None, bold: bool = False,
           italic: bool = False, color: RGBColor | None = None) -> None:
    run = para.add_run(text)
    run.bold = bold or None
    run.italic = italic or None
    if size is not None:
        run.font.size = Pt(size)
    if color is not None:
        run.font.color.rgb = color


def _text(cell: _Cell, text: str, **style: object) -> None:
    _write(cell.add_paragraph(), text, **style)  # type: ignore[arg-type]


def _optional(cell: _Cell, variable: str, text: str) -> None:
    """A line in a cell that disappears when `variable` is empty."""
    cell.add_paragraph().add_run(f"{{%p if {variable} %}}")
    _text(cell, text, color=MUTED)
    cell.add_paragraph().add_run("{%p endif %}")


def _control(doc: DocxDocument, tag: str) -> None:
    """A paragraph holding only a `{%p ... %}` tag: docxtpl removes it entirely."""
    doc.add_paragraph().add_run(tag)


def _spacer(doc: DocxDocument, points: float) -> Paragraph:
    """An empty paragraph of a fixed height (it also keeps Word from merging tables)."""
    return _exact_height(doc.add_paragraph(), points)


def _exact_height(para: Paragraph, points: float) -> Paragraph:
    para.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    para.paragraph_format.line_spacing = Pt(points)
    return para


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "templates"
    for path in build_all(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
