"""Templates cannot run code: the payloads that did create no file and stop the run with exit 2."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook
from docx import Document

from automation.cli import main
from automation.mail import render_email
from automation.render import InvoiceRenderer, sample_document
from automation.sandbox import TemplateRefusedError


def payload(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"


def billing_folder(tmp_path: Path) -> Path:
    """An init'd folder with one billable service; returns its workbook."""
    target = tmp_path / "books"
    assert main(["init", str(target)]) == 0
    write_workbook(
        target / "service_log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    return target / "service_log.xlsx"


def poison_word(template: Path, text: str) -> None:
    document = Document(str(template))
    document.add_paragraph(text)
    document.save(str(template))


def poison(workbook: Path, where: str, text: str) -> Path:
    """Add `text` to the folder's template `where` (a Word file or an email text); its path."""
    template = workbook.parent / "templates" / where
    if where.endswith(".docx"):
        poison_word(template, text)
    else:
        template.write_text(template.read_text() + text)
    return template


def numbered(ledger: Path) -> int:
    """How many invoice numbers the ledger has used up (none when there is no ledger)."""
    if not ledger.exists():
        return 0
    with closing(sqlite3.connect(ledger)) as db:
        return int(db.execute("SELECT count(*) FROM invoices").fetchone()[0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("where", ["email/en/invoice.txt", "invoice.docx"])
def test_a_template_reaching_beyond_its_data_stops_the_run(
    tmp_path: Path, capsys, where: str, dry_run: bool
) -> None:
    workbook = billing_folder(tmp_path)
    marker = tmp_path / "pwned"
    template = poison(workbook, where, payload(marker))
    before = digest(workbook)
    capsys.readouterr()
    argv = ["--workbook", str(workbook), "--as-of", "2026-03-09"]
    assert main(argv + (["--dry-run"] if dry_run else [])) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"the template {template} tries to reach beyond the data it is given" in out
    assert not marker.exists()
    assert digest(workbook) == before
    assert not (workbook.parent / "invoices").exists() and not (workbook.parent / "outbox").exists()
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0
    assert main(["check", "--workbook", str(workbook)]) == 2
    assert not marker.exists()


def test_a_payload_hidden_behind_real_data_is_caught_when_it_renders(
    folder: Folder, capsys
) -> None:
    """A payload under `{% if client_name %}`: the vetting gives every name a sample text,
    so it is caught before anything is numbered (and the sandbox holds at send time)."""
    marker = folder.root / "pwned"
    assert main(["init", str(folder.root / "books")]) == 0
    templates = folder.root / "books" / "templates"
    (folder.root / "templates").mkdir()
    for path in templates.rglob("*"):
        if path.is_file():
            target = folder.root / "templates" / path.relative_to(templates)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    subject = folder.root / "templates" / "email" / "en" / "invoice.subject"
    subject.write_text("{% if client_name %}" + payload(marker) + "{% endif %}Invoice")
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09") == 2
    assert f"the template {subject} tries to reach beyond" in " ".join(
        capsys.readouterr().out.split()
    )
    assert not marker.exists() and not folder.received
    assert numbered(folder.root / ".billing" / "ledger.sqlite") == 0


def test_email_rendering_is_sandboxed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "en").mkdir()
    for ext in ("subject", "txt", "html"):
        (tmp_path / "en" / f"invoice.{ext}").write_text("Hi {{ client_name }}")
    (tmp_path / "en" / "invoice.txt").write_text(payload(marker))
    with pytest.raises(TemplateRefusedError, match="invoice.txt tries to reach beyond"):
        render_email("invoice", "en", {"client_name": "Acme"}, tmp_path)
    assert not marker.exists()


def test_word_rendering_is_sandboxed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    template = tmp_path / "invoice.docx"
    template.write_bytes((Path(__file__).parent.parent / "templates" / "invoice.docx").read_bytes())
    poison_word(template, payload(marker))
    with pytest.raises(TemplateRefusedError, match="invoice.docx tries to reach beyond"):
        InvoiceRenderer(tmp_path).render_bytes(sample_document())
    assert not marker.exists()


def test_templates_cannot_change_their_data(tmp_path: Path) -> None:
    """The immutable sandbox: a template cannot append to a list it is given."""
    (tmp_path / "en").mkdir()
    for ext in ("subject", "txt", "html"):
        (tmp_path / "en" / f"invoice.{ext}").write_text("x")
    (tmp_path / "en" / "invoice.txt").write_text("{{ lines.append(1) }}")
    with pytest.raises(TemplateRefusedError):
        render_email("invoice", "en", {"lines": []}, tmp_path)  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "text",
    ["{{ ''.__class__ }}", "{{ due_date|attr('__class__') }}", "{{ invoice_no.upper.__self__ }}"],
)
@pytest.mark.parametrize("where", ["email/en/invoice.txt", "invoice.docx"])
def test_one_step_beyond_the_data_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, text: str
) -> None:
    """Jinja's sandbox shows a single unsafe attribute as an empty text: here it stops the
    run (exit 2, the template named) before anything is numbered, as a longer chain does."""
    workbook = billing_folder(tmp_path)
    template = poison(workbook, where, text)
    capsys.readouterr()
    assert main(["--workbook", str(workbook), "--as-of", "2026-03-09"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"the template {template} tries to reach beyond the data it is given" in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


@pytest.mark.parametrize(
    ("text", "told"),
    [("{{ due_dat }}", "shows due_dat, which an invoice does not have (did you mean due_date?)"),
     ("{{ lipsum() }}", "shows lipsum, which an invoice does not have"),
     ("{% if po_number is defined %}{{ po_number }}{% endif %}{{ po|default('') }}"
      "{{ due_dte }}", "shows due_dte, which an invoice does not have (did you mean due_date?)")],
)  # fmt: skip
def test_an_invoice_template_showing_what_an_invoice_has_not_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, told: str
) -> None:
    """A typo in a placeholder would print nothing on every invoice: the run stops (exit 2)
    before numbering, naming the template and the name; check says the same."""
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "invoice.docx"
    poison_word(template, text)
    capsys.readouterr()
    assert main(["--workbook", str(workbook), "--as-of", "2026-03-09"]) == 2
    assert f"the template {template} {told}" in " ".join(capsys.readouterr().out.split())
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0
    for argv in (["check", "--workbook", str(workbook)],
                 ["--workbook", str(workbook), "--as-of", "2026-03-09", "--dry-run"]):  # fmt: skip
        assert main(argv) == 2
        assert f"the template {template} {told}" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("where", "text", "told"),
    [("email/en/invoice.txt", "{{ clinet_name }}",
      "shows clinet_name, which an email does not have (did you mean client_name?)"),
     ("email/ru/reissue.subject", "{{ invoice_no }", "cannot be read: "),
     ("email/en/statement.txt", "{{ invoice_no }}",
      "shows invoice_no, which a statement email does not have"),
     ("email/en/invoice.txt", "{% for k in range(200000) %}.{% endfor %}",
      "tries to reach beyond the data it is given (a range of 200,000 numbers"),
     ("email/en/invoice.txt", "{{ 'a' * 300000000 }}",
      "tries to reach beyond the data it is given (repeating a text or list"),
     ("email/en/invoice.txt", "{{ '%0999999999d' % 1 }}",
      "tries to reach beyond the data it is given (a format that wide"),
     ("email/en/invoice.txt", "{{ 'a'|center(10**9) }}",
      "tries to reach beyond the data it is given (|center(1,000,000,000)"),
     ("invoice.docx", "{% for k in range(200000) %}.{% endfor %}",
      "tries to reach beyond the data it is given (a range of 200,000 numbers")],
)  # fmt: skip
def test_an_unusable_template_stops_the_run_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, text: str, told: str
) -> None:
    """A typo or a broken tag in an email template failed every email after numbering; a
    template making more than any document needs ran out of time or memory."""
    workbook = billing_folder(tmp_path)
    template = poison(workbook, where, text)
    capsys.readouterr()
    for argv in (["--workbook", str(workbook), "--as-of", "2026-03-09"],
                 ["check", "--workbook", str(workbook)],
                 ["--workbook", str(workbook), "--as-of", "2026-03-09", "--dry-run"]):  # fmt: skip
        assert main(argv) == 2
        assert f"the template {template} {told}" in " ".join(capsys.readouterr().out.split())
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


def test_a_folders_own_email_texts_are_used_without_word_templates_of_its_own(
    folder: Folder,
) -> None:
    """templates/email/ holds the bookkeeper's wording; there is no templates/invoice.docx
    (the bundled Word template is used): the emails still use the folder's wording."""
    import shutil

    from automation.bundled import TEMPLATES

    own = folder.root / "templates" / "email"
    shutil.copytree(TEMPLATES / "email", own)
    text = own / "en" / "invoice.txt"
    text.write_text("Our own words for {{ client_name }}.\n" + text.read_text())
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert not (folder.root / "templates" / "invoice.docx").exists()
    assert folder.run("--as-of", "2026-03-09") == 0
    body = folder.received[0].message.get_body(("plain",)).get_content()
    assert body.startswith("Our own words for Acme.")


def test_a_template_taking_too_long_on_a_sample_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automation import sandbox
    from automation.mail import vet_email_templates

    folder = tmp_path / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "invoice.txt").write_text(
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
    )
    monkeypatch.setattr(sandbox, "TRIAL_SECONDS", 0.5)
    with pytest.raises(TemplateRefusedError, match="takes more than 0.5 seconds"):
        vet_email_templates(tmp_path / "email")


def test_a_word_template_that_cannot_be_read_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "invoice.docx"
    poison_word(template, "Due {{ due_date }")
    for argv in (["check", "--workbook", str(workbook)],
                 ["--workbook", str(workbook), "--as-of", "2026-03-09"]):  # fmt: skip
        assert main(argv) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert f"the template {template} cannot be read: " in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


def test_the_trial_timer_leaves_an_outer_timer_running() -> None:
    """pytest-timeout (and anyone else) keeps its alarm: what is left of it is put back."""
    import signal

    from automation import sandbox

    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with sandbox.time_limit("x", 5):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < left <= 30 and fired == []
        assert signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "text",
    [
        "{{ '{:>{w}}'.format('a', w=300000000) }}",  # a width given as a field of its own
        "{% set a = 'x' * 100000 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}"
        "{% set e = d ~ d %}{% set f = e ~ e %}{{ f|length }}",  # doubled with ~
        "{{ ('a' * 100000)|replace('a', 'a' * 100000) }}",  # ten thousand million made
    ],
)
def test_texts_too_big_for_any_document_are_refused_however_made(text: str) -> None:
    """Each made gigabytes (a 410 MB email, 4 GB of memory) before it was refused."""
    from automation.sandbox import SecurityError, environment

    with pytest.raises(SecurityError, match="template may make|width comes from its data"):
        environment().from_string(text).render()
    assert environment().from_string("{{ 'Invoice ' ~ n ~ ' due' }}").render(n=5) == (
        "Invoice 5 due"
    )


@pytest.mark.parametrize(
    ("where", "text", "said"),
    [
        ("invoice.docx", "{% include 'x.txt' %}", "cannot be read: a template cannot take in"),
        ("email/en/invoice.txt", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
         "a macro that calls itself without end"),
        ("email/en/invoice.txt", "{{ (10 ** 100) ** 100 }}", "a number too long to show"),
        ("email/en/invoice.txt", "{% include 'x.txt' %}", "takes in x.txt, which is not in"),
    ],
)  # fmt: skip
def test_a_template_that_fails_on_any_data_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, text: str, said: str
) -> None:
    """A recursive macro, a number too long to show, a file taken in that is not there (or
    any in a Word template): check and the run stop with exit 2 naming the template (the
    run crashed, exit 1, after numbering; check said no problems)."""
    workbook = billing_folder(tmp_path)
    template = poison(workbook, where, text)
    for argv in (["check", "--workbook", str(workbook)],
                 ["--workbook", str(workbook), "--as-of", "2026-03-09"]):  # fmt: skip
        assert main(argv) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert said in out and str(template) in out
    assert numbered(workbook.parent / ".billing" / "ledger.sqlite") == 0


@pytest.mark.timeout(60)
def test_a_loop_only_real_data_sets_off_is_stopped_naming_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial on sample data passes; the real client's invoice loops for ever: stopped
    after REAL_SECONDS (exit 2, the template named), not a run that never ends."""
    from automation import sandbox

    workbook = billing_folder(tmp_path)
    template = workbook.parent / "templates" / "email" / "en" / "invoice.txt"
    template.write_text(
        "{% if client_name == 'Acme' %}{% for a in range(99999) %}{% for b in range(99999) %}"
        "{% endfor %}{% endfor %}{% endif %}" + template.read_text()
    )
    monkeypatch.setattr(sandbox, "REAL_SECONDS", 1)
    assert main(["--workbook", str(workbook), "--as-of", "2026-03-09"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"the template {template} takes more than 1 seconds to fill in one document" in out
