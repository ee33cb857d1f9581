"""A folder's own template files are found as the bookkeeper left them: only the one
changed (the rest bundled, file by file), saved by Notepad with a byte-order mark or as
"Unicode", named in another case after a copy from Windows."""

from __future__ import annotations

import codecs
import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook
from docx import Document
from test_sandbox import billing_folder, numbered
from test_template_vetting import body, runs, said

from automation.bundled import TEMPLATES
from automation.cli import main
from automation.mail import render_email
from automation.render import InvoiceRenderer, template_file
from automation.request import Paths, RunRequest

AS_OF = "2026-03-09"
CONTEXT = {
    "client_name": "Acme", "invoice_no": "INV-1", "invoice_date": "2026-03-09",
    "original_date": "2026-03-09", "due_date": "2026-04-08", "due_date_until": "2026-04-08",
    "total": "$10.00", "discount_text": "", "company_name": "Ledgerwise",
    "company_email": "b@l.example", "company_phone": "", "amount_due": "$10.00",
    "amount_paid": "$0.00", "balance": "$10.00", "balance_open": "$10.00", "reissue_number": "",
    "invoice_attached": "",
}  # fmt: skip


def own_text(root: Path, name: str, text: str) -> Path:
    """The folder's own email template `name` ("en/invoice.txt") holding `text`."""
    path = root / "templates" / "email" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def bundled(name: str) -> str:
    return (TEMPLATES / "email" / name).read_text(encoding="utf-8")


# -- a folder keeps only the email templates it changed -------------------------------


def test_a_folder_keeping_one_email_template_has_the_rest_bundled(folder: Folder) -> None:
    """Only templates/email/en/invoice.txt: every invoice email failed ("the email template
    en/invoice.subject is missing", status Failed, week after week) while check said nothing."""
    changed = bundled("en/invoice.txt").replace("Kind regards", "Warm regards")
    own_text(folder.root, "en/invoice.txt", changed)
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 0
    assert folder.run("--as-of", AS_OF) == 0
    (received,) = folder.received
    assert "Warm regards" in body(received.message)
    assert received.message["Subject"] == "Invoice INV-2026-0001 from Ledgerwise Bookkeeping"
    assert "Please find attached invoice" in received.message.get_body(("html",)).get_content()


def test_each_file_a_folder_lacks_is_the_bundled_one(tmp_path: Path) -> None:
    """A kind or a language the folder's set lacks, and the layout its own .html extends."""
    own = tmp_path / "templates" / "email"
    own_text(tmp_path, "ru/invoice.subject", "Свой счёт {{ invoice_no }}")
    extends = '{% extends "_layout.html" %}{% block body %}Own {{ invoice_no }}{% endblock %}'
    own_text(tmp_path, "en/invoice.html", extends)
    assert not (own / "_layout.html").exists()
    subject, text, _ = render_email("invoice", "ru", CONTEXT, own)  # ru: only the subject
    assert subject == "Свой счёт INV-1"
    assert text == render_email("invoice", "ru", CONTEXT)[1]
    assert render_email("thanks", "kk", CONTEXT, own) == render_email("thanks", "kk", CONTEXT)
    html = render_email("invoice", "en", CONTEXT, own)[2]
    assert "Own INV-1" in html and "<html" in html.lower()  # the bundled layout around it


def test_a_folder_keeping_one_email_template_is_vetted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = billing_folder(tmp_path)
    shutil.rmtree(workbook.parent / "templates" / "email")
    template = own_text(workbook.parent, "en/invoice.txt", "{{ clinet_name }}")
    capsys.readouterr()
    for argv in runs(workbook):
        assert main(argv) == 2, argv
        assert f"the template {template} shows clinet_name" in said(capsys)
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


# -- the text of a template file ---------------------------------------------------


def test_a_template_notepad_saved_as_unicode_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """UTF-16 passed check; the run numbered the invoices, then stopped with "unexpected
    problem: UnicodeDecodeError(...)" and the file's bytes."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / "en" / "invoice.txt"
    text = template.read_text(encoding="utf-8").replace("\n", "\r\n")
    template.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    capsys.readouterr()
    for argv in runs(workbook):
        assert main(argv) == 2, argv
        out = said(capsys)
        assert f"the email template {template} is not saved as UTF-8 text" in out, out
        assert "set Encoding to UTF-8" in out
        assert "unexpected problem" not in out and "\\x" not in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


def test_an_email_template_this_user_may_not_read_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mode 000 (copied from another account, an NTFS ACL): check and --dry-run passed; the
    run numbered the invoices and failed each as "the email template en/invoice.txt is
    missing". (The tests run as root, whom the permission bits do not stop: a read that
    raises stands in.)"""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / "en" / "invoice.txt"
    real = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.resolve() == template.resolve():
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    capsys.readouterr()
    for argv in runs(workbook):
        assert main(argv) == 2, argv
        out = said(capsys)
        assert f"the email template {template} cannot be opened (Permission denied)" in out, out
        assert "give your user access to it" in out and "missing" not in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


def test_rendering_a_template_that_is_not_utf8_names_it_without_its_bytes(tmp_path: Path) -> None:
    from automation.mail import MailError

    template = tmp_path / "en" / "thanks.txt"
    template.parent.mkdir()
    template.write_bytes(codecs.BOM_UTF16_LE + "Merci {{ invoice_no }}".encode("utf-16-le"))
    with pytest.raises(MailError) as told:
        render_email("thanks", "en", CONTEXT, tmp_path)
    assert str(told.value).startswith(f"the email template {template} is not saved as UTF-8")
    assert "\\x" not in str(told.value)


def test_a_byte_order_mark_is_not_part_of_a_template(folder: Folder) -> None:
    """Saved as "UTF-8 with BOM", U+FEFF went out in the subject, the text and the HTML."""
    for name in ("en/invoice.subject", "en/invoice.txt", "en/invoice.html", "_layout.html"):
        path = own_text(folder.root, name, "")
        path.write_bytes(codecs.BOM_UTF8 + bundled(name).replace("\n", "\r\n").encode())
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0
    (received,) = folder.received
    message = received.message
    parts = [str(message["Subject"]), body(message),
             message.get_body(("html",)).get_content()]  # fmt: skip
    assert not any("\ufeff" in part for part in parts), parts
    assert parts[0] == "Invoice INV-2026-0001 from Ledgerwise Bookkeeping"
    assert parts[1].startswith("Dear Acme") and parts[2].startswith("<!DOCTYPE html>")


def test_a_byte_order_mark_is_read_past_by_the_renderer(tmp_path: Path) -> None:
    for ext, text in (("subject", "Thanks {{ invoice_no }}"), ("txt", "T"), ("html", "H")):
        own_text(tmp_path, f"en/thanks.{ext}", "").write_bytes(codecs.BOM_UTF8 + text.encode())
    own = tmp_path / "templates" / "email"
    assert render_email("thanks", "en", CONTEXT, own) == ("Thanks INV-1", "T", "H")


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


def test_the_email_template_in_lower_case_is_chosen_over_another_case(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "thanks.txt").write_text("lower")
    (tmp_path / "en" / "Thanks.txt").write_text("Upper")
    assert render_email("thanks", "en", CONTEXT, tmp_path)[1] == "lower"


def test_email_templates_are_found_whatever_the_case_of_their_names(tmp_path: Path) -> None:
    books = tmp_path / "books"
    text = books / "Templates" / "Email" / "EN" / "Invoice.TXT"
    text.parent.mkdir(parents=True)
    text.write_text("Our own words for {{ invoice_no }}\n")
    paths = Paths.for_request(RunRequest(workbook=books / "service_log.xlsx", as_of=date.today()))
    assert paths.email_templates == books / "Templates" / "Email"
    assert paths.templates == TEMPLATES  # no Word template of its own
    assert render_email("invoice", "en", CONTEXT, paths.email_templates)[1] == (
        "Our own words for INV-1\n"
    )
