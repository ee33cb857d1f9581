"""What `check`, --dry-run and the run find wrong in a bookkeeper's Word and email templates
before anything is numbered (exit 2, naming the file and where in it): never a document
that Word cannot read, a blank field, or an unexpected problem after numbering."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from test_sandbox import billing_folder, poison_word
from test_template_vetting import refused_everywhere, replace_in_runs, said

from automation.bundled import TEMPLATES
from automation.cli import main
from automation.errors import UnusableError
from automation.render import InvoiceRenderer, sample_document

# -- blocks: opened and closed at one level, and closed ------------------------------


def test_a_block_tag_without_its_p_in_a_paragraph_of_its_own_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`{% if has_discount %}` typed for `{%p if has_discount %}` passed check, and every
    invoice went out with the rest of its document inside one text element: Word and
    LibreOffice stopped reading before the payment reference."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "invoice.docx"
    replace_in_runs(template, "{%p if has_discount %}", "{% if has_discount %}")
    capsys.readouterr()
    refused_everywhere(
        capsys, workbook, template,
        'cannot be used: it has `{% if has_discount %}` (near "{% if has_discount %}") closed '
        'or divided by `{%p endif %}` (before "Please quote {{ invoice_no }} as the payment '
        'reference."), which stands elsewhere: a tag alone in its paragraph is written '
        "`{%p ... %}`",
    )  # fmt: skip


def _drop_row_with(template: Path, text: str) -> None:
    document = Document(str(template))
    rows = [row for t in document.tables for row in t.rows if text in row.cells[0].text]
    rows[0]._tr.getparent().remove(rows[0]._tr)
    document.save(str(template))


def test_a_block_left_open_is_named_with_where_it_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted `{%tr endfor %}` row was told "(line 1 of its text)", quoting nothing."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "invoice.docx"
    _drop_row_with(template, "{%tr endfor %}")
    capsys.readouterr()
    refused_everywhere(
        capsys, workbook, template,
        'cannot be used: it has `{%tr for line in lines %}` (before "{{ line.date }}"), which '
        "is never closed: no `{%tr endfor %}` ends it",
    )  # fmt: skip


# -- a file that is not a Word document --------------------------------------------


@pytest.mark.parametrize(
    ("content", "told"),
    [(b"", "cannot be used: it is empty (0 bytes: a save that did not finish?). Open it in "
      "Word and save it as Word Document (.docx) under that name"),
     (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
      "cannot be used: it is a Word 97-2003 document (.doc)"),
     (b"<!DOCTYPE html><html><body>Invoice</body></html>", "cannot be used: it is a web page"),
     (b"PK\x03\x04" + bytes(26) + b"mimetypeapplication/vnd.oasis.opendocument.text",
      "cannot be used: it is an OpenDocument text (.odt)")],
)  # fmt: skip
def test_a_template_that_is_not_a_word_document_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, told: str
) -> None:
    """An invoice.docx of 0 bytes, or a .doc saved under that name: check found no problem,
    and the run stopped after numbering with "unexpected problem: PackageNotFoundError"."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "invoice.docx"
    template.write_bytes(content)
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


# -- names every kind of Word template shows ----------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "told"),
    [("credit_note.docx", "{{ credit_note_no }}", "{{ credit_note_nr }}",
      "shows credit_note_nr, which a credit note does not have (did you mean credit_note_no?)"),
     ("statement.docx", "{{ closing_balance }}", "{{ closing_balanse }}",
      "shows closing_balanse, which a statement does not have (did you mean closing_balance?)"),
     ("statement.docx", "{%p if not items %}", "{%p if not itemz %}",
      "shows itemz, which a statement does not have (did you mean items?)"),
     ("invoice.docx", "{{ line.description }}", "{{ line.descripton }}",
      "shows line.descripton, which an invoice does not have (did you mean line.description?)"),
     ("invoice.docx", "{{ line.amount }}", "{{ line.tax }}", "shows line.tax, which an invoice"),
     ("statement.docx", "{{ item.document }}", "{{ item.documnet }}",
      "shows item.documnet, which a statement does not have (did you mean item.document?)")],
)  # fmt: skip
def test_a_name_or_a_lines_field_a_document_does_not_have_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, old: str, new: str, told: str
) -> None:
    """Only the invoice template's names were checked, and not the fields of its lines: a
    misspelt name in the credit note or statement, or `line.descripton`, passed check and
    every document went out with that field blank."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / name
    replace_in_runs(template, old, new)
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


def test_the_statement_command_tries_the_templates_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`{{ period|uper }}` in statement.docx: check named it, `statement` stopped with an
    unexpected problem (exit 1)."""
    workbook = billing_folder(tmp_path)
    assert main(["--workbook", str(workbook), "--as-of", "2026-03-09"]) == 0
    template = workbook.parent / "templates" / "statement.docx"
    replace_in_runs(template, "{{ period }}", "{{ period|uper }}")
    capsys.readouterr()
    argv = ["statement", "--workbook", str(workbook), "--as-of", "2026-04-02"]
    assert main(argv) == 2
    out = said(capsys)
    assert f"the template {template} uses the filter |uper" in out, out


# -- email templates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "told"),
    [("invoice.subject", "is empty: every invoice email would go out with no subject."),
     ("invoice.txt", "is empty: every invoice email would go out with an empty text.")],
)  # fmt: skip
def test_an_emptied_email_subject_or_text_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, told: str
) -> None:
    """An emptied invoice.subject sent every invoice with no Subject header; an emptied
    invoice.txt, with an empty text part."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / "en" / name
    template.write_text("\n{# nothing #}\n")
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


# -- a template failing on one document's data -------------------------------------


def test_a_template_failing_on_some_data_is_told_with_the_invoice(tmp_path: Path) -> None:
    """`{{ 100 // (lines|length - 4) }}` fails on a four-line invoice only: it stopped the run
    with "unexpected problem: ZeroDivisionError" (exit 1), naming neither template nor
    invoice."""
    template = tmp_path / "invoice.docx"
    template.write_bytes((TEMPLATES / "invoice.docx").read_bytes())
    poison_word(template, "Per line: {{ 100 // (lines|length - 4) }}")
    told = (
        r"invoice.docx cannot be used: ZeroDivisionError: integer division or modulo by zero; "
        r"correct it.* It failed on invoice INV-2026-0007\."
    )
    with pytest.raises(UnusableError, match=told):
        InvoiceRenderer(tmp_path).render_bytes(sample_document())
