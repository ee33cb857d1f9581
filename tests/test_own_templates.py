"""A folder's own Word templates are used one by one: a folder that customised only its
credit note or its statement has them used (and checked), the rest bundled."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from conftest import Folder, client, service, write_workbook
from docx import Document

from automation.bundled import TEMPLATES
from automation.cli import main

AS_OF = "2026-03-09"


def own_copy(folder: Folder, name: str, text: str) -> Path:
    """The bundled `name` in the folder's templates/, with a paragraph `text` added."""
    own = folder.root / "templates"
    own.mkdir(exist_ok=True)
    shutil.copy(TEMPLATES / name, own / name)
    document = Document(str(own / name))
    document.add_paragraph(text)
    document.save(str(own / name))
    return own / name


def all_text(path: Path) -> str:
    document = Document(str(path))
    return "\n".join(p.text for p in document.paragraphs)


def test_an_own_statement_template_alone_is_used(folder: Folder) -> None:
    own_copy(folder, "statement.docx", "Our own statement layout")
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0  # the invoice: the bundled invoice.docx
    assert not (folder.root / "templates" / "invoice.docx").exists()
    (invoice,) = (folder.root / "invoices").rglob("INV-*.docx")
    assert "Our own statement layout" not in all_text(invoice)
    code = main(["statement", "Acme", "--workbook", str(folder.workbook), "--as-of", AS_OF])
    assert code == 0
    (statement,) = (folder.root / "account-statements").rglob("*.docx")
    assert "Our own statement layout" in all_text(statement)


def test_an_own_credit_note_template_alone_is_checked(folder: Folder, capsys) -> None:
    template = own_copy(folder, "credit_note.docx", "{{ ''.__class__.__mro__ }}")
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 2
    assert f"the template {template}" in " ".join(capsys.readouterr().out.split())
    assert folder.run("--as-of", AS_OF) == 2
    assert folder.received == []


def test_a_preview_from_an_own_template_is_marked_draft(folder: Folder) -> None:
    """The bookkeeper's own invoice template, with a letterhead of its own and another on the
    first page: a dry run's preview opens with the draft mark and has it in both headers; the
    template may show more itself (`{% if draft %}`). The real invoice has neither."""
    from automation.render import DRAFT_MARK

    own = folder.root / "templates"
    own.mkdir()
    document = Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Ledgerwise letterhead"
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = "Ledgerwise, first page"
    document.add_paragraph("Invoice {{ invoice_no }}{% if draft %} (not for sending){% endif %}")
    document.add_paragraph("Total {{ total }}")
    document.save(str(own / "invoice.docx"))
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    (preview,) = (folder.root / "preview").rglob("INV-*.docx")
    shown = Document(str(preview))
    assert [p.text for p in shown.paragraphs][:2] == [
        DRAFT_MARK, "Invoice INV-2026-0001 (not for sending)"
    ]
    headers = (shown.sections[0].header, shown.sections[0].first_page_header)
    assert [[p.text for p in h.paragraphs] for h in headers] == [
        [DRAFT_MARK, "Ledgerwise letterhead"], [DRAFT_MARK, "Ledgerwise, first page"]
    ]
    assert folder.run("--as-of", AS_OF) == 0
    (invoice,) = (folder.root / "invoices").rglob("INV-*.docx")
    real = Document(str(invoice))
    assert [p.text for p in real.paragraphs] == ["Invoice INV-2026-0001", "Total $100.00"]
    headers = (real.sections[0].header, real.sections[0].first_page_header)
    assert [[p.text for p in h.paragraphs] for h in headers] == [
        ["Ledgerwise letterhead"], ["Ledgerwise, first page"]
    ]
