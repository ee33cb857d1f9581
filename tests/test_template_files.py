"""A folder's own template files are found as the bookkeeper left them: named in another
case after a copy from Windows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook
from docx import Document
from test_sandbox import billing_folder
from test_template_vetting import said

from automation.bundled import TEMPLATES
from automation.cli import main
from automation.render import InvoiceRenderer, template_file

AS_OF = "2026-03-09"


# -- names in another case ---------------------------------------------------------


def custom_word(path: Path, text: str = "OUR OWN TEMPLATE") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = Document(str(TEMPLATES / "invoice.docx"))
    document.add_paragraph(text)
    document.save(str(path))
    return path


def all_text(path: Path) -> str:
    document = Document(str(path))
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


@pytest.mark.parametrize("where", ["templates/Invoice.DOCX", "Templates/invoice.docx"])
def test_word_templates_are_found_whatever_the_case_of_their_names(
    folder: Folder, where: str
) -> None:
    """Copied from Windows to the Linux machine that runs the weekly job, they were
    ignored: the bundled template was used, exit 0."""
    custom_word(folder.root / where)
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0
    (invoice,) = (folder.root / "invoices").rglob("INV-*.docx")
    assert "OUR OWN TEMPLATE" in all_text(invoice)


def test_a_word_template_in_another_case_is_vetted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = billing_folder(tmp_path)
    (workbook.parent / "templates" / "invoice.docx").unlink()
    template = custom_word(workbook.parent / "templates" / "Invoice.DOCX", "{{ clinet_name }}")
    capsys.readouterr()
    assert main(["check", "--workbook", str(workbook)]) == 2
    assert f"{template}" in said(capsys)


def test_the_name_in_lower_case_is_chosen_over_another_case(tmp_path: Path) -> None:
    own = custom_word(tmp_path / "invoice.docx")
    custom_word(tmp_path / "Invoice.docx", "{{ total|uper }}")  # never used, never vetted
    assert template_file(tmp_path, "invoice", "en") == own
    InvoiceRenderer(tmp_path).vet()
