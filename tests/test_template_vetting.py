"""A customised template that cannot be used stops check and the run with exit 2, naming it
and where in it, before anything is numbered: never an unexpected problem (exit 1), never a
document or email that silently loses what it should show."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from conftest import Folder, client, service, write_workbook
from docx import Document
from test_sandbox import billing_folder, numbered, poison_word

from automation import mail
from automation.bundled import TEMPLATES
from automation.cli import main
from automation.compose import email_context
from automation.config import Config
from automation.errors import UnusableError
from automation.ledger import LedgerInvoice
from automation.mail import render_email, vet_email_templates
from automation.model import Client
from automation.render import InvoiceRenderer, sample_document


def refused_everywhere(
    capsys: pytest.CaptureFixture[str], workbook: Path, template: Path, told: str
) -> None:
    """check, --dry-run and the run each stop with exit 2 naming `template` and `told`,
    never as an unexpected problem, and no invoice number is used up."""
    for argv in runs(workbook):
        assert main(argv) == 2, argv
        out = said(capsys)
        assert f"the template {template} {told}" in out, out
        assert "unexpected problem" not in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


def said(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def runs(workbook: Path) -> list[list[str]]:
    """check, --dry-run and the run, in that order."""
    return [
        ["check", "--workbook", str(workbook)],
        ["--workbook", str(workbook), "--as-of", "2026-03-09", "--dry-run"],
        ["--workbook", str(workbook), "--as-of", "2026-03-09"],
    ]


# -- filters and tests templates do not have ---------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "told"),
    [("{{ total }}", "{{ total|uper }}",
      "uses the filter |uper (line 3), which templates do not have (did you mean |upper?)"),
     ("{% if company_phone %}", "{% if company_phone is defind %}",
      "uses the test is defind (line 11), which templates do not have (did you mean is defined?)"),
     ("{{ total }}", "{% filter uper %}{{ total }}{% endfilter %}",
      "uses the filter |uper (line 3)"),
     ("{{ total }}", "{{ [total]|select('strng')|join }}",
      "uses the test is strng (line 3), which templates do not have (did you mean is string?)")],
)  # fmt: skip
def test_an_email_template_using_a_filter_or_test_there_is_not_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, told: str
) -> None:
    """`|uper` stopped check, --dry-run and the run with exit 1 ("unexpected problem:
    TemplateAssertionError"); `is defind` passed check and the run crashed after numbering."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / "en" / "invoice.txt"
    assert old in template.read_text()
    template.write_text(template.read_text().replace(old, new, 1))
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


@pytest.mark.parametrize(
    ("name", "text", "told"),
    [("invoice.docx", "Grand total: {{ total|uper }}",
      'uses the filter |uper (near "Grand total: {{ total|uper }}"), which templates do not '
      "have (did you mean |upper?): correct it in Word"),
     ("credit_note.docx", "{% if company_phone is defind %}Call {{ company_phone }}{% endif %}",
      "uses the test is defind (near \"{% if company_phone is defind %}Call {{ company_phone "
      "}}{%…\"), which templates do not have (did you mean is defined?)")],
)  # fmt: skip
def test_a_word_template_using_a_filter_or_test_there_is_not_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, told: str
) -> None:
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / name
    poison_word(template, text)
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


def test_a_test_met_only_on_real_data_is_told_naming_the_template(tmp_path: Path) -> None:
    """Should one get past the vetting, the email or document names the template and its
    line (exit 2), never an unexpected problem (TemplateRuntimeError, exit 1)."""
    folder = tmp_path / "email" / "en"
    folder.mkdir(parents=True)
    for ext in ("subject", "html"):
        (folder / f"thanks.{ext}").write_text("Thanks")
    (folder / "thanks.txt").write_text("Hello\n{% if invoice_no is defind %}x{% endif %}")
    with pytest.raises(UnusableError, match=r"thanks.txt cannot be used: No test named 'defind'"):
        render_email("thanks", "en", {"invoice_no": "INV-1"}, tmp_path / "email")

    word = tmp_path / "word"
    word.mkdir()
    template = word / "invoice.docx"
    template.write_bytes((InvoiceRenderer(tmp_path).template_path("en")).read_bytes())
    poison_word(template, "{% if total is defind %}x{% endif %}")
    with pytest.raises(UnusableError, match="invoice.docx cannot be used: No test named 'defind'"):
        InvoiceRenderer(word).render_bytes(sample_document())


# -- tags without their closing mark in Word -----------------------------------------


def replace_in_runs(template: Path, old: str, new: str) -> None:
    """`old` in a run of the template's body (its tables too) or its first header made `new`,
    as Word keeps it."""
    document = Document(str(template))
    cells = [c for table in document.tables for row in table.rows for c in row.cells]
    paragraphs = [
        *document.paragraphs,
        *(paragraph for cell in cells for paragraph in cell.paragraphs),
        *document.sections[0].header.paragraphs,
    ]
    runs = [run for paragraph in paragraphs for run in paragraph.runs if old in run.text]
    assert runs, f"{old} is not in a run of {template}"
    runs[0].text = runs[0].text.replace(old, new)
    document.save(str(template))


@pytest.mark.parametrize(
    ("name", "old", "new", "told"),
    [("credit_note.docx", "{{ credit_in_words }}", "{{ credit_in_words }",
      'cannot be read: it has `{{ credit_in_words }` without its closing `}}` (near "Amount '
      'credited in words: {{ credit_in_words }"): correct it in Word'),
     ("credit_note.ru.docx", "{{ credit_in_words }}", "{ credit_in_words }}", None),
     ("invoice.docx", "{{ due_date }}", "{{ due_date",
      "cannot be read: it has `{{ due_date` without its closing `}}`"),
     ("invoice.docx", "{{ due_date }}", "{% if due_date }{{ due_date }}{% endif %}",
      "cannot be read: it has `{% if due_date }` without its closing `%}`")],
)  # fmt: skip
def test_a_word_tag_without_its_closing_mark_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, old: str, new: str,
    told: str | None,
) -> None:
    """`{{ credit_in_words }` (a brace lost in Word) passed check and the run with exit 0: the
    credit note silently lost that paragraph and the next one (docxtpl took them into the tag,
    up to the next `}}`). A lost opening brace shows as text, and is no such tag."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / name
    replace_in_runs(template, old, new)
    capsys.readouterr()
    if told is None:
        assert main(runs(workbook)[0]) == 0
        return
    refused_everywhere(capsys, workbook, template, told)


def test_tags_across_paragraphs_are_told_where_they_open(tmp_path: Path) -> None:
    """A comment may span paragraphs and hold tags; a tag left open in a header is told there;
    the bundled templates all pass."""
    InvoiceRenderer(TEMPLATES).vet()
    template = tmp_path / "invoice.docx"
    template.write_bytes((TEMPLATES / "invoice.docx").read_bytes())
    document = Document(str(template))
    for text in ("{# an old line: {{ po_number }}", "and {% if x %} #}", "Total {{ total }}"):
        document.add_paragraph(text)
    document.save(str(template))
    InvoiceRenderer(tmp_path).vet()
    document = Document(str(template))
    document.sections[0].header.add_paragraph("Page {{ company_name }")
    document.save(str(template))
    told = r'it has `\{\{ company_name }` without its closing `}}` \(in its header, near "Page'
    with pytest.raises(UnusableError, match=told):
        InvoiceRenderer(tmp_path).vet()


@pytest.mark.parametrize(
    "paragraphs",
    [["Use {{ '{{' }} and {{ '}}' }} in text"],
     ["{% raw %}Write {{ name }} like {{ this {% endraw %}"],
     ["{{ total|replace('{#', '') }}"],
     ["{{ '50%}' }}"],
     ["{% if total", "%}yes{% endif %}"],  # a tag going on into the next paragraph
     ["{{- total -}} {%- if total -%}yes{%- endif -%}"]],
)  # fmt: skip
def test_tags_holding_marks_in_quotes_or_raw_blocks_are_not_refused(
    tmp_path: Path, paragraphs: list[str]
) -> None:
    """Marks inside quotes, a raw block, whitespace control and a tag closed in the next
    paragraph are the template's own: only a tag that another overtakes is refused."""
    template = tmp_path / "invoice.docx"
    template.write_bytes((TEMPLATES / "invoice.docx").read_bytes())
    document = Document(str(template))
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(template))
    InvoiceRenderer(tmp_path).vet()


# -- each kind of email has the names it has a true value for ----------------------


def own_email_texts(folder: Folder) -> Path:
    """The bundled email texts as the folder's own, to customise; their folder."""
    own = folder.root / "templates" / "email"
    shutil.copytree(TEMPLATES / "email", own)
    return own


def body(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def test_the_balance_on_an_invoice_email_is_what_the_invoice_asks(folder: Folder) -> None:
    """"Balance due: {{ balance }}" added to the invoice email said $0.00 (and 0,00 ₽ for a
    25 822,21 ₽ invoice) on every new unpaid invoice."""
    own = own_email_texts(folder)
    for language, words in (("en", "Balance due"), ("ru", "Остаток к оплате")):
        text = own / language / "invoice.txt"
        text.write_text(f"{words}: {{{{ balance }}}} of {{{{ total }}}}\n" + text.read_text())
    clients = [client("Acme"), client("Romashka", Language="ru", Currency="RUB")]
    services = [service(date(2026, 3, 2), "Acme", "Work", 2, "348.47"),
                service(date(2026, 3, 2), "Romashka", "Учёт", 1, "25822.21")]  # fmt: skip
    write_workbook(folder.workbook, clients, services)
    assert folder.run("--as-of", "2026-03-09") == 0
    first_lines = sorted(body(r.message).splitlines()[0] for r in folder.received)
    assert first_lines == [
        "Balance due: $696.94 of $696.94",
        "Остаток к оплате: 25\u00a0822,21\u00a0₽ of 25\u00a0822,21\u00a0₽",
    ]


@pytest.mark.parametrize(
    ("where", "text", "told"),
    [("en/invoice.txt", "Paid too much: {{ excess }}",
      "shows excess, which an invoice email does not have: take it out of the template, or "
      "show it only when it is there ({% if excess is defined %}...{% endif %})"),
     ("ru/invoice.html", "{{ owed_back }}{{ credit_amount }}",
      "shows credit_amount, owed_back, which an invoice email does not have"),
     ("en/thanks.subject", "{{ credit_amount }}",
      "shows credit_amount, which a thank-you email does not have"),
     ("en/reissue.txt", "{{ period }}", "shows period, which a reissued invoice's email does"),
     ("_layout.html", "{{ invoice_no }}",
      "shows invoice_no, which not every email has (a statement email does not)")],
)  # fmt: skip
def test_a_template_showing_what_its_kind_of_email_has_not_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, text: str, told: str
) -> None:
    """Every email got every name, those it had no value for as 0 (or as nothing): an
    invoice email's excess said $0.00. A layout every email takes in (a statement's too)
    shows only what every email has: invoice_no failed every statement email."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / where
    template.write_text(text + "\n" + template.read_text())
    capsys.readouterr()
    refused_everywhere(capsys, workbook, template, told)


def test_a_name_shown_only_when_it_is_there_is_not_there(folder: Folder) -> None:
    """Guarded by `is defined` or `|default`, a name an invoice email has no value for is
    undefined there: not "$0.00"."""
    own = own_email_texts(folder)
    text = own / "en" / "invoice.txt"
    guarded = (
        "{% if excess is defined %}Paid too much: {{ excess }}{% endif %}"
        "Credited: {{ credit_amount|default('nothing') }}\n"
    )
    text.write_text(guarded + text.read_text())
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert main(["check", "--workbook", str(folder.workbook)]) == 0
    assert folder.run("--as-of", "2026-03-09") == 0
    assert body(folder.received[0].message).splitlines()[0] == "Credited: nothing"


def ledger_invoice(**changes: Any) -> LedgerInvoice:
    values: dict[str, Any] = dict(
        invoice_no="INV-1", client_key="acme", client="Acme", currency="USD", terms="Net 30",
        invoice_date=date(2026, 3, 9), due_date=date(2026, 4, 8), subtotal=D("1000.00"),
        tax_rate=D(0), tax=D(0), total=D("1000.00"), lines=(),
    )  # fmt: skip
    values.update(changes)
    return LedgerInvoice(**values)


#: What the run records for a message of each kind when it plans it (pipeline, plan.py).
PAYLOADS = {
    "invoice": {"as_of": "2026-03-09"},
    "reissue": {"as_of": "2026-04-20", "paid": "500", "balance": "500.00",
                "amount_due": "1000.00", "reissue_number": "1", "new_due": "2026-05-04"},
    "underpaid": {"as_of": "2026-03-20", "paid": "400", "balance": "600.00",
                  "amount_due": "1000.00"},
    "overpaid": {"as_of": "2026-03-20", "paid": "1015", "balance": "-15.00",
                 "amount_due": "1000.00"},
    "thanks": {"as_of": "2026-03-20", "paid": "1000", "balance": "0", "amount_due": "1000.00"},
    "credit_note": {"as_of": "2026-03-25", "credit_note_no": "CN-1", "amount": "300.00",
                    "credited_before": "0", "paid": "800", "balance": "-100.00",
                    "reason": "credit", "replacement": "", "replacement_to_client": ""},
    "resend": {"as_of": "2026-03-25", "copy_number": "1", "paid": "0", "balance": "1000.00"},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_each_kind_of_email_is_given_its_own_names_and_true_figures(kind: str) -> None:
    context = email_context(
        ledger_invoice(credited=D("300.00") if kind == "credit_note" else D(0)),
        Client(key="acme", name="Acme", emails=("a@acme.example",)),
        Config(),
        PAYLOADS[kind],
        date(2026, 4, 8),
        kind,
    )
    assert set(context) == mail.EMAIL_NAMES[kind]
    assert "0.00" not in context.get("excess", "") and "-" not in context.get("excess", "")
    expected = {
        "invoice": {"balance": "$1,000.00", "amount_due": "$1,000.00", "balance_open": "yes"},
        "reissue": {"balance": "$500.00", "amount_paid": "$500.00", "reissue_number": "1"},
        "underpaid": {"balance": "$600.00", "amount_paid": "$400.00"},
        "overpaid": {"excess": "$15.00", "amount_paid": "$1,015.00", "amount_due": "$1,000.00"},
        "thanks": {"amount_paid": "$1,000.00", "balance": "$0.00", "balance_open": ""},
        "credit_note": {"credit_amount": "$300.00", "owed_back": "$100.00",
                        "new_balance": "$0.00", "amount_paid": "$800.00"},
        "resend": {"balance": "$1,000.00", "balance_open": "yes"},
    }[kind]  # fmt: skip
    assert {name: context[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("as_of", "balance", "past_due"),
    [("2026-04-08", "1000.00", ""), ("2026-04-09", "1000.00", "yes"), ("2026-04-09", "0", "")],
    ids=["on-the-due-date", "after-it", "after-it-nothing-owed"],
)
def test_a_copy_is_past_due_after_its_due_date_while_something_is_owed(
    as_of: str, balance: str, past_due: str
) -> None:
    payload = {"as_of": as_of, "copy_number": "1", "paid": "0", "balance": balance}
    client = Client(key="acme", name="Acme", emails=("a@acme.example",))
    context = email_context(ledger_invoice(), client, Config(), payload, date(2026, 4, 8), "resend")
    assert context["past_due"] == past_due


def test_the_bundled_email_texts_show_only_what_their_emails_have() -> None:
    vet_email_templates(TEMPLATES / "email")
