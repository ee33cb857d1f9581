"""Invoice documents: context, file names, the compiled renderer against docxtpl, PDF."""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import tables_within
from docx import Document
from docxtpl import DocxTemplate
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from markupsafe import Markup

from automation import pdf, render, sandbox, zipcopy
from automation.model import CompanyInfo, CreditNoteDocument, InvoiceDocument, InvoiceLine
from automation.render import (
    InvoiceRenderer,
    build_context,
    credit_note_context,
    invoice_path,
    load_template,
    safe_filename,
    sample_document,
    undeclared_variables,
)
from automation.statement import (
    DISCOUNT,
    CreditFact,
    InvoiceFact,
    PaymentFact,
    build_statement,
)
from automation.statement_doc import statement_context, statement_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
TEMPLATE_FILES = sorted(TEMPLATES.glob("invoice*.docx"))
CURRENCIES = {"en": "USD", "ru": "RUB", "kk": "KZT"}
HOSTILE = "Fish & Chips <b>bold</b> {{ total }} {% if x %} \"quoted\" 'q' 🎉\x01\x0c end"


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def texts(data: bytes) -> list[str]:
    """Paragraph and table cell texts of a .docx, in document order."""
    doc = Document(io.BytesIO(data))
    found = [p.text for p in doc.paragraphs]
    for table in tables_within(doc):
        for row in table.rows:
            found.append(" | ".join(cell.text for cell in row.cells))
    return found


def canonical(data: bytes, part: str) -> bytes:
    """A part's XML in canonical form: same content, whatever the serialiser."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return bytes(etree.tostring(etree.fromstring(archive.read(part)), method="c14n"))


def docxtpl_bytes(template: Path, context: dict[str, object]) -> bytes:
    reference = DocxTemplate(str(template))
    reference.render(context, autoescape=True)
    buffer = io.BytesIO()
    reference.save(buffer)
    return buffer.getvalue()


def hostile_document(language: str) -> InvoiceDocument:
    doc = sample_document(language, CURRENCIES[language], lines=3)
    line = replace(doc.lines[0], description=HOSTILE + "\nsecond line\ttabbed")
    return replace(
        doc,
        lines=(line, *doc.lines[1:]),
        client=replace(doc.client, name='Smith & Sons <"Ltd">', address="{{ x }}\r\n<y>"),
        company=CompanyInfo(name="A&B {%p endif %}"),  # no bank details, no contacts
        terms_description="Net 30 & <more>",
    )


def documents(language: str) -> list[InvoiceDocument]:
    currency = CURRENCIES[language]
    return [
        sample_document(language, currency, lines=3),
        sample_document(language, currency, lines=120),
        sample_document(language, currency, lines=2, reissue_number=2),
        hostile_document(language),
    ]


@pytest.fixture(scope="module")
def renderer() -> InvoiceRenderer:
    return InvoiceRenderer(TEMPLATES)


# -- context -----------------------------------------------------------------


def test_context_holds_ready_strings() -> None:
    ctx = build_context(sample_document("en", lines=2))
    assert ctx["tax_rate"] == "12%"
    assert ctx["subtotal"] == "$376.50"
    assert ctx["total"] == "$421.68"
    assert ctx["invoice_date"] == "April 5, 2026"
    assert ctx["client_address_lines"] == ["12 Harbour Road", "Suite 400", "Almaty 050000"]
    assert ctx["lines"] == [
        {
            "date": "Mar 2, 2026",
            "description": "Bookkeeping, monthly close",
            "quantity": "1",
            "unit_price": "$125.50",
            "amount": "$125.50",
        },
        {
            "date": "Mar 9, 2026",
            "description": "Payroll for 12 employees",
            "quantity": "2",
            "unit_price": "$125.50",
            "amount": "$251.00",
        },
    ]
    assert ctx["amount_in_words"] == "Four hundred and twenty-one dollars, sixty-eight cents"
    assert ctx["is_reissue"] is False and ctx["show_paid"] is False
    assert ctx["has_discount"] is True and ctx["discounted_total"] == "$413.25"
    assert ctx["company_footer"] == (
        "Ledgerwise Bookkeeping · billing@ledgerwise.example · +7 727 000 0000 · ledgerwise.example"
    )


def test_context_for_a_reissue_shows_balance_and_drops_expired_discount() -> None:
    ctx = build_context(sample_document("ru", "RUB", lines=2, reissue_number=2))
    assert ctx["is_reissue"] is True and ctx["reissue_number"] == 2
    assert plain(str(ctx["reissue_date"])) == "5 мая 2026 г."
    assert plain(str(ctx["amount_paid"])) == "100,00 ₽"
    assert plain(str(ctx["balance_due"])) == "321,68 ₽"
    assert str(ctx["amount_in_words"]).startswith("Триста двадцать один рубль")
    assert ctx["has_discount"] is False


def paid_with_discount() -> InvoiceDocument:
    """A copy of an invoice paid inside its discount window: $421.68 less $8.43 earned."""
    doc = sample_document("en", lines=2)
    return replace(
        doc, copy_number=1, amount_paid=Decimal("413.25"), balance_due=Decimal("0"),
        discount_earned=Decimal("8.43"),
    )  # fmt: skip


def test_a_discount_earned_is_a_line_of_its_own_on_a_copy(renderer: InvoiceRenderer) -> None:
    ctx = build_context(paid_with_discount())
    assert ctx["show_paid"] is True and ctx["show_discount_earned"] is True
    assert ctx["discount_earned"] == "-$8.43"
    assert not build_context(sample_document("en", lines=2))["show_discount_earned"]
    text = texts(renderer.render_bytes(paid_with_discount()))
    assert "Less early payment discount | -$8.43" in text
    assert text.index("Total | $421.68") < text.index("Less early payment discount | -$8.43")
    assert text.index("Less early payment discount | -$8.43") < text.index("Amount paid | $413.25")


def test_a_copy_shows_amount_paid_and_balance_due_though_nothing_was_paid(
    renderer: InvoiceRenderer,
) -> None:
    """A copy (Resend) is the invoice as it stands today: nothing paid is "Amount paid
    $0.00", not the original's totals again."""
    copy = replace(sample_document("en", lines=2), copy_number=1, balance_due=Decimal("421.68"))
    ctx = build_context(copy)
    assert ctx["show_paid"] is True and ctx["show_discount_earned"] is False
    text = texts(renderer.render_bytes(copy))
    assert text.index("Total | $421.68") < text.index("Amount paid | $0.00")
    assert text.index("Amount paid | $0.00") < text.index("Balance due | $421.68")
    assert "Amount paid | $0.00" not in texts(renderer.render_bytes(sample_document("en", lines=2)))


def test_an_own_template_without_the_discount_line_still_renders(tmp_path: Path) -> None:
    own = Document()
    own.add_paragraph(
        "{{ invoice_no }}: {{ total }}, paid {{ amount_paid }}, due {{ balance_due }}"
    )
    own.save(str(tmp_path / "invoice.docx"))
    text = texts(InvoiceRenderer(tmp_path).render_bytes(paid_with_discount()))
    assert any(t.endswith(": $421.68, paid $413.25, due $0.00") for t in text)


def test_context_strips_unprintable_characters() -> None:
    ctx = build_context(hostile_document("en"))
    description = ctx["lines"][0]["description"]  # type: ignore[index]
    assert "\x01" not in description and "\x0c" not in description
    assert "🎉" in description and "{{ total }}" in description
    assert ctx["client_address"] == "{{ x }}\n<y>"
    assert ctx["has_bank_details"] is False


def test_tax_rate_keeps_fractions_of_a_percent() -> None:
    doc = replace(sample_document("en"), tax_rate=Decimal("0.125"))
    assert build_context(doc)["tax_rate"] == "12.5%"


# -- file names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("INV-2026-0007", "INV-2026-0007"),
        ("INV-2026-0007-R2", "INV-2026-0007-R2"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("CON", "_CON"),
        ("nul.tar", "_nul.tar"),
        ("com1 ", "_com1"),
        ("trailing. . ", "trailing"),
        ("..", "invoice"),
        ("", "invoice"),
        ("   ", "invoice"),
        (".hidden", "_hidden"),
        ("tab\there\nnew", "tab_here_new"),
        ("Счёт №7", "Счёт №7"),
        ("Bidi \u202egnp.exe", "Bidi gnp.exe"),  # shown as "Bidi exe.png" in a file list
        ("\ufeffAcme\u200b Ltd\u2066\u00ad", "Acme Ltd"),
        ("Café 東京 👍", "Café 東京 👍"),
    ],
)
def test_safe_filename(stem: str, expected: str) -> None:
    assert safe_filename(stem) == expected


@given(st.text(max_size=400))
def test_safe_filename_is_always_safe(stem: str) -> None:
    name = safe_filename(stem)
    assert name and name == name.strip() and not name.endswith(".")
    assert not set(name) & set('<>:"/\\|?*') and all(ord(ch) >= 32 for ch in name)
    assert not any(unicodedata.category(ch) == "Cf" for ch in name)  # nothing invisible
    assert len(name.encode("utf-8")) <= 151
    assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


def test_invoice_path() -> None:
    doc = replace(sample_document(reissue_number=2), invoice_no="INV/2026:7")
    assert invoice_path(Path("out"), doc) == Path("out/2026/INV_2026_7-R2.docx")


# -- templates ---------------------------------------------------------------


def test_bundled_templates_exist() -> None:
    names = [p.name for p in TEMPLATE_FILES]
    assert names == ["invoice.docx", "invoice.kk.docx", "invoice.ru.docx"]


@pytest.mark.parametrize("template", TEMPLATE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("reissue", [0, 1])
def test_templates_use_only_context_variables(template: Path, reissue: int) -> None:
    context = build_context(sample_document(reissue_number=reissue))
    assert undeclared_variables(template, context) == set()


def test_templates_match_the_build_script(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "build_templates.py"
    spec = importlib.util.spec_from_file_location("build_templates", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for built in module.build_all(tmp_path):
        with zipfile.ZipFile(built) as new, zipfile.ZipFile(TEMPLATES / built.name) as old:
            for name in ("word/document.xml", "word/footer1.xml", "word/styles.xml"):
                assert new.read(name) == old.read(name), f"rebuild templates: {built.name} {name}"


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_fast_rendering_gives_docxtpl_text(renderer: InvoiceRenderer, language: str) -> None:
    template = renderer.template_path(language)
    for doc in documents(language):
        context = build_context(doc)
        fast = renderer.render_bytes(doc)
        reference = docxtpl_bytes(template, context)
        assert texts(fast) == texts(reference)
        for part in ("word/document.xml", "word/footer1.xml"):
            assert canonical(fast, part) == canonical(reference, part)
        footer = Document(io.BytesIO(fast)).sections[0].footer.paragraphs
        assert footer[1].text.startswith(doc.invoice_no)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "INVOICE",
                "Northwind Traders LLC",
                "$421.68",
                "April 5, 2026",
                "Four hundred and twenty-one dollars, sixty-eight cents",
                "Please quote INV-2026-0007 as the payment reference.",
            ],
        ),
        (
            "ru",
            [
                "СЧЁТ НА ОПЛАТУ",
                "Northwind Traders LLC",
                "421,68 ₽",
                "5 апреля 2026 г.",
                "Четыреста двадцать один рубль 68 копеек",
                "Благодарим",
            ],
        ),
        (
            "kk",
            [
                "ТӨЛЕМ ШОТЫ",
                "Northwind Traders LLC",
                "421,68 ₸",
                "2026 ж. 5 сәуір",
                "Төрт жүз жиырма бір теңге, алпыс сегіз тиын",
                "рахмет",
            ],
        ),
    ],
)
def test_each_language_renders_its_text(
    renderer: InvoiceRenderer, tmp_path: Path, language: str, expected: list[str]
) -> None:
    doc = sample_document(language, CURRENCIES[language], lines=2)
    path = renderer.render(doc, tmp_path)
    assert path == tmp_path / "2026" / "INV-2026-0007.docx"
    text = plain("\n".join(texts(path.read_bytes())))
    for fragment in expected:
        assert fragment in text
    assert "{{" not in text and "{%" not in text and "REISSUED" not in text


def test_reissue_banner(renderer: InvoiceRenderer) -> None:
    text = "\n".join(texts(renderer.render_bytes(sample_document(reissue_number=3))))
    assert "REISSUED — reminder 3" in text
    assert "Original invoice date: April 5, 2026" in text and "Reissued on: May 5, 2026" in text
    assert "Amount already paid: $100.00" in text and "Outstanding balance: $883.92" in text


def test_hostile_text_renders_literally(renderer: InvoiceRenderer) -> None:
    text = "\n".join(texts(renderer.render_bytes(hostile_document("en"))))
    assert "Fish & Chips <b>bold</b> {{ total }} {% if x %} \"quoted\" 'q' 🎉 end" in text
    assert "second line\ttabbed" in text
    assert 'Smith & Sons <"Ltd">' in text and "A&B {%p endif %}" in text


def test_render_overwrites_atomically(renderer: InvoiceRenderer, tmp_path: Path) -> None:
    doc = sample_document()
    first = renderer.render(doc, tmp_path)
    second = renderer.render(replace(doc, client=replace(doc.client, name="Renamed Ltd")), tmp_path)
    assert first == second
    assert "Renamed Ltd" in "\n".join(texts(second.read_bytes()))
    assert [p.name for p in second.parent.iterdir()] == ["INV-2026-0007.docx"]
    assert zipfile.ZipFile(second).testzip() is None


def test_missing_language_falls_back_to_english(tmp_path: Path) -> None:
    shutil.copy(TEMPLATES / "invoice.docx", tmp_path / "invoice.docx")
    renderer = InvoiceRenderer(tmp_path)
    data = renderer.render_bytes(sample_document("kk", "KZT"))
    assert "INVOICE" in texts(data)[-1] or "INVOICE" in "\n".join(texts(data))


def test_templated_properties_are_rendered_by_docxtpl(tmp_path: Path) -> None:
    template = Document(str(TEMPLATES / "invoice.docx"))
    template.core_properties.title = "Invoice {{ invoice_no }}"
    template.save(str(tmp_path / "invoice.docx"))
    data = InvoiceRenderer(tmp_path).render_bytes(sample_document())
    assert Document(io.BytesIO(data)).core_properties.title == "Invoice INV-2026-0007"


def column_template(path: Path) -> Path:
    """A template whose loop repeats cells (docxtpl's `{%tc %}`): rendered, a row may hold
    more or fewer cells than its grid has columns, which fix_tables repairs."""
    doc = Document()
    looped = doc.add_table(rows=1, cols=3)  # "narrow": no row fills the grid for few cols
    for cell, text in zip(looped.rows[0].cells, ("{%tc for c in cols %}", "{{ c }}",
                                                 "{%tc endfor %}"), strict=True):  # fmt: skip
        cell.text = text
    if path.stem == "wide":  # a row of three: more columns are added, none dropped
        for cell, text in zip(looped.add_row().cells, ("a", "{{ name }}", "c"), strict=True):
            cell.text = text
    static = doc.add_table(rows=2, cols=2)
    static.cell(0, 0).text, static.cell(1, 1).text = "{{ name }}", "Line 1\nLine 2"
    merged = static.cell(1, 0).merge(static.cell(1, 1))  # a gridSpan of 2
    merged.add_paragraph("{{ name }}\ttabbed")
    doc.save(str(path))
    return path


@pytest.mark.parametrize("columns", [0, 1, 3, 6])
@pytest.mark.parametrize("stem", ["wide", "narrow"])
def test_table_grids_are_repaired_as_docxtpl_does(tmp_path: Path, columns: int, stem: str) -> None:
    template = column_template(tmp_path / f"{stem}.docx")
    context = {"cols": [f"col {i} & <{i}>" for i in range(columns)], "name": "Ann\nB\tC"}
    fast = load_template(template).render_bytes(context)
    reference = docxtpl_bytes(template, context)
    assert canonical(fast, "word/document.xml") == canonical(reference, "word/document.xml")
    assert texts(fast) == texts(reference)


RAW_PARAGRAPH = "<w:p><w:r><w:t>raw</w:t></w:r></w:p>"


@pytest.mark.parametrize(
    "value", ["plain", "ends with a break\n", f"x\n{RAW_PARAGRAPH}\n\n{RAW_PARAGRAPH}y"]
)
def test_a_value_before_a_paragraph_renders_as_docxtpl_does(tmp_path: Path, value: str) -> None:
    """docxtpl takes one line break before each paragraph out of what Jinja renders,
    those a value brings included: a template printing XML as it is (`|safe`) sees it."""
    doc = Document()
    doc.add_paragraph("Before {{ name }}")
    doc.add_paragraph("{{p x|safe }}")
    doc.add_paragraph("After")
    template = tmp_path / "value.docx"
    doc.save(str(template))
    context = {"x": value, "name": "Ann\nLee"}
    fast = load_template(template).render_bytes(context)
    reference = docxtpl_bytes(template, context)
    assert canonical(fast, "word/document.xml") == canonical(reference, "word/document.xml")


def test_render_many_in_processes_keeps_order(tmp_path: Path) -> None:
    docs = [
        replace(sample_document(lang, CURRENCIES[lang], lines=2), invoice_no=f"INV-2026-{i:04d}")
        for i, lang in enumerate(["en", "ru", "kk"] * 15)
    ]
    paths = InvoiceRenderer(TEMPLATES).render_many(docs, tmp_path, workers=2)
    assert [p.name for p in paths] == [f"INV-2026-{i:04d}.docx" for i in range(45)]
    assert "Төлеуші".upper() in "\n".join(texts(paths[2].read_bytes()))


def test_workers_importing_the_main_script_again_get_no_command_line() -> None:
    """Each render worker runs the main script again as "__mp_main__" (multiprocessing):
    run_billing.py then imports nothing, the CLI and its pipeline stay out of the workers."""
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "print(sorted(m for m in sys.modules if m.startswith('automation')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "run_billing.py")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert found.stdout.strip() == "[]"


def test_render_many_in_process_for_few(tmp_path: Path) -> None:
    docs = [sample_document(), sample_document(reissue_number=1)]
    paths = InvoiceRenderer(TEMPLATES).render_many(docs, tmp_path)
    assert [p.name for p in paths] == ["INV-2026-0007.docx", "INV-2026-0007-R1.docx"]


def test_members_packed_once_give_the_same_package_as_copied_ones() -> None:
    """The renderer packs each template member's headers once (zipcopy.entry) and puts
    them into every invoice: the bytes are those ZipCopier.copy writes, package after package."""
    data = (TEMPLATES / "invoice.docx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    members = [zipcopy.entry(i, (zipcopy.raw_member(data, i),), i.CRC, i.file_size,
                             i.compress_type) for i in infos]  # fmt: skip
    copied = io.BytesIO()
    writer = zipcopy.ZipCopier(copied)
    for info in infos:
        writer.copy(info, zipcopy.raw_member(data, info))
    writer.close()
    for _ in range(2):
        out = io.BytesIO()
        writer = zipcopy.ZipCopier(out)
        for member in members:
            writer.add(member)
        writer.close()
        assert out.getvalue() == copied.getvalue()
    with zipfile.ZipFile(copied) as archive:
        assert archive.testzip() is None
        assert [i.filename for i in archive.infolist()] == [i.filename for i in infos]


def test_lines_table_holds_every_line(renderer: InvoiceRenderer) -> None:
    doc = sample_document(lines=120)
    tables = Document(io.BytesIO(renderer.render_bytes(doc))).tables
    items = next(t for t in tables if t.rows[0].cells[1].text == "Description")
    assert len(items.rows) == 122  # the header, the lines, the totals at the foot
    line: InvoiceLine = doc.lines[-1]
    assert items.rows[-2].cells[1].text == line.description
    assert [r.cells[1].text for r in items.rows[1:-1]] == [x.description for x in doc.lines]


# -- PDF ---------------------------------------------------------------------


needs_soffice = pytest.mark.skipif(
    pdf.soffice_path() is None and not os.environ.get("CI"),
    reason="LibreOffice is not installed (required when CI is set)",
)


@needs_soffice
def test_convert_to_pdf(renderer: InvoiceRenderer, tmp_path: Path) -> None:
    docx = [
        renderer.render(sample_document("ru", "RUB"), tmp_path / "docs"),
        renderer.render(sample_document(reissue_number=1), tmp_path / "docs"),
    ]
    pdfs = pdf.convert_to_pdf(docx, tmp_path / "pdf", timeout=120)
    assert [p.name for p in pdfs] == ["INV-2026-0007.pdf", "INV-2026-0007-R1.pdf"]
    for path in pdfs:
        assert path.read_bytes().startswith(b"%PDF")


def numbered_lines(doc: InvoiceDocument) -> InvoiceDocument:
    """`doc` with each line's description naming its place: "Service item 7"."""
    lines = tuple(replace(line, description=f"Service item {n}")
                  for n, line in enumerate(doc.lines, 1))  # fmt: skip
    return replace(doc, lines=lines)


def pdf_pages(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    return [plain(page) for page in text.split("\f")[:-1]]


@needs_soffice
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_totals_print_whole_on_the_page_of_the_last_line(
    renderer: InvoiceRenderer, tmp_path: Path
) -> None:
    """Subtotal, tax and total (and a reissue's payments and balance) never split across
    pages, and never start a page without a line above them: not as the lines run
    onto a second page, nor onto a third. 30 to 34 lines of the sample invoice fill
    its first page; before, 32 lines left "Total" alone at the top of page 2."""
    docs = [
        numbered_lines(sample_document(lang, CURRENCIES[lang], lines=n, reissue_number=r))
        for lang, sizes, r in (("en", range(30, 35), 0), ("ru", range(30, 35), 0),
                               ("kk", range(30, 35), 0), ("en", range(23, 28), 1),
                               ("en", range(71, 76), 0))
        for n in sizes
    ]  # fmt: skip
    files = []
    for index, doc in enumerate(docs):
        files.append(tmp_path / f"{index:02d}.docx")
        files[-1].write_bytes(renderer.render_bytes(doc))
    for doc, path in zip(docs, pdf.convert_to_pdf(files, tmp_path / "pdf", timeout=300),
                         strict=True):  # fmt: skip
        context = build_context(doc)
        pages = pdf_pages(path)
        last = f"Service item {len(doc.lines)}"
        (page,) = (n for n, text in enumerate(pages) if re.search(rf"{last}\b", text))
        for key in ("subtotal", "tax", "total"):
            where = [n for n, text in enumerate(pages) if plain(str(context[key])) in text]
            assert where == [page], (doc.language, len(doc.lines), key, where, page)
        for key in ("amount_paid", "balance_due") if doc.reissue_number else ():
            assert plain(str(context[key])) in pages[page]  # the banner has them on page 1
    assert any(len(pdf_pages(p)) > 2 for p in (tmp_path / "pdf").glob("*.pdf"))


def test_missing_soffice_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pdf, "soffice_path", lambda: None)
    with pytest.raises(pdf.PdfError, match='libreoffice-writer-nogui.*attach = "docx"'):
        pdf.convert_to_pdf([tmp_path / "x.docx"], tmp_path)
    assert pdf.convert_to_pdf([], tmp_path) == []


def test_libreoffice_without_writer_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """LibreOffice Calc alone answers a .docx with "source file could not be loaded"."""
    fake = tmp_path / "soffice"
    fake.write_text("#!/bin/sh\necho 'Error: source file could not be loaded'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(pdf, "soffice_path", lambda: str(fake))
    (tmp_path / "x.docx").write_bytes(b"PK")
    with pytest.raises(pdf.PdfError, match="is Writer installed.*libreoffice-writer-nogui"):
        pdf.convert_to_pdf([tmp_path / "x.docx"], tmp_path / "out", timeout=30)


def test_renderer_pickles_without_its_compiled_templates(renderer: InvoiceRenderer) -> None:
    # Spawned pool workers (Windows, macOS) receive the renderer pickled.
    renderer.render_bytes(sample_document())
    clone = pickle.loads(pickle.dumps(renderer))
    assert clone.template_dir == renderer.template_dir
    assert texts(clone.render_bytes(sample_document())) == texts(
        renderer.render_bytes(sample_document())
    )


def test_sample_document_rounds_money_by_the_currency() -> None:
    """The one rounding rule (money.round_money): no cents on a yen invoice's tax."""
    yen = sample_document("en", "JPY")
    assert yen.tax.as_tuple().exponent == 0 and yen.discounted_total is not None
    assert yen.discounted_total.as_tuple().exponent == 0
    assert sample_document("en", "USD").tax.as_tuple().exponent == -2


# -- the body written without lxml's parse and serialise ------------------------

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#: The paragraphs docxtpl's resolve_listing rewrites one by one.
PARAGRAPH = re.compile(r"<w:p(?: [^>]*)?>.*?</w:p>", flags=re.DOTALL)
TRICKY = ["\n", "\t", "\r", "\a", "\f", "\x0b", "\x00", "\x85", "\x7f", "\ufffe", "\uffff",
          "'", '"', "&", "<", ">", "#", "&#39;", "{_{", "%_}", "{{ x }}", " ", "",
          "🎉", "ж"]  # fmt: skip
#: Values as a context may hold them (build_context cleans its own; a template's
#: context need not be built there): text around tricky characters, so that
#: a good share of the examples can take the shortcut.
WORDS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=5)
VALUES = st.tuples(WORDS, st.lists(st.sampled_from(TRICKY) | st.text(max_size=3), max_size=3),
                   WORDS).map(lambda t: t[0] + "".join(t[1]) + t[2])  # fmt: skip


def compiled(language: str, kind: str = "invoice") -> render._CompiledTemplate:
    refusing = load_template(InvoiceRenderer(TEMPLATES).template_path(language, kind))
    assert isinstance(refusing.template, render._CompiledTemplate)
    return refusing.template


def both_ways(
    template: render._CompiledTemplate, context: dict[str, object]
) -> tuple[bytes, bytes]:
    return template._render_document(context), template._render_document(context, shortcut=False)


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_body_written_as_rendered_is_what_lxml_writes(language: str) -> None:
    template, notes = compiled(language), compiled(language, "credit_note")
    assert template._canonical is not None  # the bundled templates take the shortcut
    assert notes._canonical is not None
    taken = 0
    cases = [(template, build_context(doc)) for doc in documents(language)]
    cases.append((template, build_context(sample_document(language, lines=0))))
    cases += [(notes, credit_note_context(note)) for note in credit_notes(language)]
    for template, context in cases:
        assert template._canonical is not None
        fast, parsed = both_ways(template, context)
        assert fast == parsed
        rendered = render._unescape_tags(template._body.render(context))
        listed = render._resolve_listing(template._docxtpl, rendered)
        taken += template._canonical.may_hold(context, rendered) and bool(
            template._canonical.as_serialised(listed)
        )
    assert taken >= len(cases) - 1  # all but the hostile document (a tab)


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_statements_take_the_shortcut_to_the_same_bytes(language: str) -> None:
    """Statements of account go through the same compiled templates (statement_doc)."""
    facts = [
        InvoiceFact("INV-1", date(2026, 6, 15), date(2026, 7, 15), Decimal("1000.00")),
        InvoiceFact("INV-2", date(2026, 9, 10), date(2026, 10, 10), Decimal("250.00")),
    ]
    paid = [
        PaymentFact("INV-1", date(2026, 8, 3), Decimal("300.00")),
        PaymentFact("INV-2", date(2026, 9, 12), Decimal("5.00"), DISCOUNT),
    ]
    credits = [CreditFact("CN-1", "INV-1", date(2026, 9, 15), Decimal("50.00"))]
    statement = build_statement("Acme", "USD", facts, paid, credits, date(2026, 9, 1),
                                date(2026, 9, 30))  # fmt: skip
    doc = sample_document(language, CURRENCIES[language])
    context = statement_context(statement, doc.client, doc.company)
    refusing = load_template(statement_template(TEMPLATES, language))
    assert isinstance(refusing.template, render._CompiledTemplate)
    template = refusing.template
    assert template._canonical is not None
    assert template._canonical.may_hold(context, template._body.render(context))
    fast, parsed = both_ways(template, context)
    assert fast == parsed


def credit_notes(language: str) -> list[CreditNoteDocument]:
    invoice = sample_document(language, CURRENCIES[language])
    note = CreditNoteDocument(
        credit_note_no="CN-2026-0001", note_date=date(2026, 5, 5), invoice_no=invoice.invoice_no,
        invoice_date=invoice.invoice_date, invoice_total=invoice.total, client=invoice.client,
        currency=invoice.currency, language=language, amount=Decimal("50.00"),
        credited_before=Decimal("0"), amount_paid=Decimal("0"), balance=invoice.total - 50,
        company=invoice.company,
    )  # fmt: skip
    return [note, replace(note, cancels=True, replacement=("INV-2026-0008", "INV-2026-0009"),
                          amount_paid=Decimal("25.50"), balance=Decimal("-25.50"))]  # fmt: skip


@pytest.mark.parametrize("language", ["en", "ru"])
@given(name=VALUES, address=VALUES, description=VALUES, iban=VALUES)
def test_any_text_gives_the_bytes_of_a_parsed_body(
    language: str, name: str, address: str, description: str, iban: str
) -> None:
    template = compiled(language)
    context = build_context(sample_document(language, CURRENCIES[language], lines=2))
    lines = context["lines"]
    assert isinstance(lines, list)
    context.update(client_name=name, client_address=address, iban=iban, bank_name="",
                   lines=[{**lines[0], "description": description}, lines[1]])  # fmt: skip
    try:
        parsed = template._render_document(context, shortcut=False)
    except (ValueError, etree.LxmlError) as exc:  # lxml refuses the text: so must the shortcut
        with pytest.raises(type(exc)):
            template._render_document(context)
        return
    assert template._render_document(context) == parsed


def body(xml: str) -> str:
    return f'<w:body xmlns:w="{W_NS}">{xml}</w:body>'


def canonical_shortcut(xml: str) -> render._Canonical | None:
    return render._Canonical.of(sandbox.environment(autoescape=True), body(xml))


RUN = "<w:p><w:r><w:t>{}</w:t></w:r></w:p>"
GRID = "<w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid>"
CELL = "<w:tc><w:p/></w:tc>"


@pytest.mark.parametrize(
    ("xml", "taken"),
    [
        (RUN.format("{{ a }} and {{ b.c }}"), True),
        (RUN.format("{% if a %}x{% elif b %}{{ b }}{% else %}y{% endif %}{# note #}"), True),
        ("{% for p in ps %}" + RUN.format("{{ p }}") + "{% else %}<w:p/>{% endfor %}", True),
        (RUN.format("{{ a|safe }}"), False),  # markup printed as it is
        (RUN.format("{{ a|e }}"), False),  # no filter at all
        (RUN.format("{{ lipsum() }}"), False),  # a call may return markup
        ("{% for p in ps|map('safe') %}" + RUN.format("{{ p }}") + "{% endfor %}", False),
        ("{% for p in ps if p|length %}" + RUN.format("{{ p }}") + "{% endfor %}", False),
        (RUN.format("{% if a|length > 1 and b() %}{{ a }}{% endif %}"), True),  # not printed
        (RUN.format("{% set x = 1 %}{{ x }}"), False),
        ('<w:p><w:r><w:t xml:space="{{ a }}">x</w:t></w:r></w:p>', False),  # inside a tag
        ("{% if a %}<w:p>{% endif %}</w:p>", False),  # a block cuts an element
        ("<w:p>{% if a %}</w:p><w:p>{% endif %}</w:p>", False),
        (RUN.format("a&#10;b {{ a }}"), False),  # a character reference
        (RUN.format("<!-- note -->{{ a }}"), False),
        (RUN.format("line\nbreak {{ a }}"), False),  # resolve_listing's text in the template
        ('<w:p><w:r><w:drawing><wp:docPr xmlns:wp="urn:x" id="1"/></w:drawing></w:r></w:p>', False),
        (
            f"<w:tbl>{GRID}<w:tr>{CELL}{CELL}</w:tr>{{% for r in rs %}}<w:tr>{CELL}"
            f"<w:tc>{RUN.format('{{ r }}')}</w:tc></w:tr>{{% endfor %}}</w:tbl>",
            True,
        ),
        (f"<w:tbl>{GRID}<w:tr>{{% for c in cs %}}{CELL}{{% endfor %}}</w:tr></w:tbl>", False),
        (f"<w:tbl>{GRID}<w:tr>{CELL}{CELL}{CELL}</w:tr></w:tbl>", False),  # wider than its grid
        (f"<w:tbl>{GRID}<w:tr>{CELL}</w:tr></w:tbl>", False),  # no row fills the grid
        (f"<w:tbl><w:tr>{CELL}</w:tr></w:tbl>", False),  # no grid
        (
            f"<w:tbl>{GRID}<w:tr><w:tc><w:tcPr><w:gridSpan w:val='2.0'/></w:tcPr><w:p/></w:tc>"
            "</w:tr></w:tbl>",
            False,
        ),  # a span fix_tables reads otherwise
        (
            f"<w:tbl>{GRID}<w:tr><w:tc>{{% if a %}}<w:tcPr><w:gridSpan w:val='2'/></w:tcPr>"
            f"{{% endif %}}<w:p/></w:tc>{CELL}</w:tr></w:tbl>",
            False,
        ),
    ],
)
def test_which_templates_take_the_shortcut(xml: str, taken: bool) -> None:
    assert (canonical_shortcut(xml) is not None) is taken


def test_a_table_whose_rows_are_all_in_blocks_needs_a_rendered_row() -> None:
    rows = f"{{% if a %}}<w:tr>{CELL}{CELL}</w:tr>{{% endif %}}"
    shortcut = canonical_shortcut(f"<w:tbl>{GRID}{rows}</w:tbl>")
    assert shortcut is not None
    with_row = body(f"<w:tbl>{GRID}<w:tr>{CELL}{CELL}</w:tr></w:tbl>")
    assert shortcut.as_serialised(with_row) == with_row.encode()
    # No row: fix_tables drops the grid's columns.
    assert shortcut.as_serialised(body(f"<w:tbl>{GRID}</w:tbl>")) is None


@pytest.mark.parametrize(
    ("xml", "written"),
    [
        (
            RUN.format("Tom&#39;s &#34;A&amp;B&#34; &lt;x&gt;"),
            RUN.format('Tom\'s "A&amp;B" &lt;x&gt;'),
        ),  # fmt: skip
        (RUN.format(""), None),  # lxml writes <w:t/>
        ("<w:p><w:r><w:t/></w:r></w:p>", "<w:p><w:r><w:t/></w:r></w:p>"),
        (RUN.format("a\x0bb"), None),
        (RUN.format("a\ufffeb"), None),
        (RUN.format("a\ud800b"), None),
        (RUN.format("a\x85\x7f\nb"), RUN.format("a\x85\x7f\nb")),
    ],
)
def test_what_the_shortcut_writes_or_leaves_to_lxml(xml: str, written: str | None) -> None:
    shortcut = canonical_shortcut(RUN.format("{{ a }}"))
    assert shortcut is not None
    result = shortcut.as_serialised(body(xml))
    assert result == (None if written is None else body(written).encode())
    if written is not None:
        tree = etree.fromstring(body(xml).replace("&#39;", "'"), etree.XMLParser(recover=True))
        assert etree.tostring(tree, encoding="UTF-8") == result


def test_values_that_print_markup_or_tabs_are_left_to_lxml() -> None:
    shortcut = canonical_shortcut(RUN.format("{{ a }}"))
    assert shortcut is not None
    assert shortcut.may_hold({"a": "x", "n": [1, {"d": date(2026, 1, 1)}], "z": None}, "<w:p/>")
    assert not shortcut.may_hold({"a": Markup("<w:br/>")}, "<w:p/>")
    assert not shortcut.may_hold({"a": [object()]}, "<w:p/>")
    assert not shortcut.may_hold({"a": "x"}, RUN.format("a\tb"))


PIECES = st.lists(
    st.sampled_from(
        [
            "<w:p>",
            '<w:p w:x="1">',
            "<w:pPr>",
            "</w:p>",
            "<w:p",
            "<w:r>",
            "</w:r>",
            "<w:t>",
            '<w:t xml:space="preserve">',
            "</w:t>",
            "<w:rPr><w:b/></w:rPr>",
            "<w:t/>",
            "text",
            "\n",
            "\t",
            "\a",
            "\f",
            ">",
            "<",
            "/",
        ]
    ),  # fmt: skip
    max_size=30,
).map("".join)


@given(PIECES)
def test_paragraphs_are_the_ones_resolve_listing_rewrites(xml: str) -> None:
    spans = [m.span() for m in PARAGRAPH.finditer(xml)]
    assert list(render._paragraphs(xml)) == spans
    docxtpl = DocxTemplate(str(TEMPLATES / "invoice.docx"))
    assert render._resolve_listing(docxtpl, xml) == docxtpl.resolve_listing(xml)


@given(PIECES)
def test_an_empty_element_is_found_wherever_it_is(xml: str) -> None:
    expected = re.search(r"<[^/<>][^<>]*(?<!/)></", xml) is not None
    assert render._has_empty_element(xml) is expected


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.docx")), ids=lambda p: p.name)
def test_templates_define_the_styles_they_use_and_no_others(template: Path) -> None:
    """The build keeps the styles the documents name (and what those are based on),
    not python-docx's 164 stock ones: every emailed invoice carries them."""
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    with zipfile.ZipFile(template) as archive:
        styles = etree.fromstring(archive.read("word/styles.xml"))
        named = set()
        for part in archive.namelist():
            if part.startswith("word/") and part.endswith(".xml") and part != "word/styles.xml":
                root = etree.fromstring(archive.read(part))
                for tag in ("pStyle", "rStyle", "tblStyle", "numStyleLink", "styleLink"):
                    named |= {e.get(f"{w}val") for e in root.iter(f"{w}{tag}")}
    defined = {s.get(f"{w}styleId"): s for s in styles.iter(f"{w}style")}
    assert named <= set(defined)  # nothing the document names went missing
    for style in defined.values():
        for tag in ("basedOn", "next", "link"):
            assert all(e.get(f"{w}val") in defined for e in style.iter(f"{w}{tag}"))
    assert len(defined) <= 20
    assert styles.find(f"{w}latentStyles") is not None  # Word can still add built-in ones
