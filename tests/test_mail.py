"""automation.mail against real aiosmtpd servers on 127.0.0.1: bytes on the wire, not mocks."""

from __future__ import annotations

import re
import socket
import sys
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from hypothesis import given
from hypothesis import strategies as st
from smtp_servers import Recorder, make_test_ca, password_checker, running_server

from automation import addresses
from automation.addresses import parse_addresses
from automation.config import LANGUAGES, EmailConfig
from automation.mail import (
    CONTEXT_KEYS,
    TEMPLATE_DIR,
    TEMPLATE_KINDS,
    AddressError,
    BuiltMessage,
    MailError,
    MailLoginError,
    OutboxSender,
    OutgoingMail,
    SmtpSender,
    build_message,
    eml_name,
    make_message_id,
    open_sender,
    render_email,
    smtp_password,
)
from automation.model import CompanyInfo

pytestmark = pytest.mark.timeout(30)

COMPANY = CompanyInfo(name="Acme & Sons", email="billing@acme.test", phone="+7 701 000 0000")
HOSTILE = "Tom & Jerry <b>bold</b> {{ 7*7 }} {% raw %} 🚀"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SECRET = "correct horse battery staple"
CONTEXT = {
    "client_name": HOSTILE,
    "invoice_no": "INV-2026-0007",
    "invoice_date": "2026-03-01",
    "due_date": "2026-03-31",
    "due_date_until": "2026-03-31",
    "total": "1,200.00 USD",
    "amount_paid": "1,000.00 USD",
    "balance": "200.00 USD",
    "excess": "15.00 USD",
    "amount_due": "100.00 USD",
    "company_name": "Acme & Sons",
    "company_email": "billing@acme.test",
    "company_phone": "+7 701 000 0000",
    "reissue_number": "2",
    "original_date": "2026-02-01",
    "reissue_date": "2026-04-07",
    "discount_text": "",
    "credit_note_no": "CN-2026-0003",
    "credit_note_date": "2026-04-09",
    "credit_amount": "300.00 USD",
    "new_balance": "0.00 USD",
    "owed_back": "",
    "replacement": "INV-2026-0011",
    "cancels_invoice": "yes",
    "balance_open": "yes",
    "past_due": "",
    "invoice_attached": "",
    "period": "2026-10-01 – 2026-10-31",
    "statement_date": "2026-10-31",
    "closing_balance": "750.00 USD",
}


def smtp_config(port: int, **changes: object) -> EmailConfig:
    base = EmailConfig(
        mode="smtp",
        host="127.0.0.1",
        port=port,
        security="none",
        sender="billing@acme.test",
        timeout=5.0,
        max_retries=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def outgoing(number: int = 1, cfg: EmailConfig | None = None, **changes: object) -> OutgoingMail:
    mail = OutgoingMail(
        kind="invoice",
        invoice_no=f"INV-2026-{number:04d}",
        to=("client@example.com",),
        cc=(),
        subject=f"Invoice INV-2026-{number:04d}",
        text=f"Plain text body {number}\n",
        html=f"<p>HTML body {number}</p>",
        attachments=(),
        message_id=make_message_id(cfg or EmailConfig(sender="billing@acme.test"), COMPANY),
        date=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    return replace(mail, **changes)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def sender(cfg: EmailConfig) -> SmtpSender:
    return SmtpSender(cfg)


# -- addresses, ids, headers --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid", "invalid"),
    [
        ("a@example.com; b@example.org", ("a@example.com", "b@example.org"), ()),
        ("a@example.com,b@example.org,", ("a@example.com", "b@example.org"), ()),
        ("  ;  ,  ", (), ()),
        ("Ann Lee <ann@example.com>", ("ann@example.com",), ()),
        ("ann@example.com; ANN@example.com", ("ann@example.com",), ()),
        ("not-an-address; x@y", (), ("not-an-address", "x@y")),
        ("a@example.com b@example.com", (), ("a@example.com b@example.com",)),
        # a line break separates (Alt+Enter in a cell); a header smuggled in is no address
        ("a@example.com\nb@example.org", ("a@example.com", "b@example.org"), ()),
        ('"Lee, Ann" <ann@example.com>\r\nb@example.org', ("ann@example.com", "b@example.org"), ()),
        ("a@example.com\r\nBcc: evil@example.net", ("a@example.com",), ("Bcc: evil@example.net",)),
    ],
)
def test_parse_addresses(text: str, valid: tuple[str, ...], invalid: tuple[str, ...]) -> None:
    assert parse_addresses(text) == (valid, invalid)


@given(st.text(alphabet="ab@.;, \t\n\\", max_size=30))
def test_plain_address_cells_split_as_the_careful_walk_splits_them(text: str) -> None:
    """A cell without quotes, brackets or comments is split at once, not character by
    character; the pieces are the same either way."""
    assert addresses.split_addresses(text) == addresses.walk_addresses(text)


def test_message_ids_are_unique_and_in_the_sender_domain() -> None:
    cfg = EmailConfig(sender="billing@acme.test")
    ids = {make_message_id(cfg, COMPANY) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"<[^@<>]+@acme\.test>", i) for i in ids)


def test_built_message_headers_and_envelope() -> None:
    cfg = EmailConfig(
        sender="billing@acme.test", reply_to="office@acme.test", bcc="archive@acme.test"
    )
    first = outgoing(1)
    mail = replace(
        outgoing(1, kind="reissue"), cc=("boss@example.com",), in_reply_to=first.message_id
    )
    built = build_message(mail, cfg, COMPANY)
    msg = parse(built.raw)
    assert msg["From"].addresses[0].display_name == "Acme & Sons"
    assert msg["From"].addresses[0].addr_spec == "billing@acme.test"
    assert str(msg["Reply-To"]) == "office@acme.test"
    assert str(msg["To"]) == "client@example.com"
    assert str(msg["Cc"]) == "boss@example.com"
    assert msg["Bcc"] is None and b"archive@acme.test" not in built.raw
    assert msg["Message-ID"] == mail.message_id == built.message_id
    assert "yagmail" not in built.raw.decode()
    assert msg["In-Reply-To"] == msg["References"] == first.message_id
    assert msg["Date"].datetime == mail.date
    assert built.envelope_from == "billing@acme.test"
    assert built.recipients == ("client@example.com", "boss@example.com", "archive@acme.test")
    assert b"\r\n" in built.raw and b"\n" not in built.raw.replace(b"\r\n", b"")


def test_text_and_html_alternatives_keep_hostile_text_literally() -> None:
    mail = outgoing(text=HOSTILE + "\nline two\n", html="<p>Tom &amp; Jerry</p>")
    msg = parse(build_message(mail, EmailConfig(sender="billing@acme.test"), COMPANY).raw)
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None and html is not None
    assert body.get_content() == HOSTILE + "\nline two\n"
    assert html.get_content() == "<p>Tom &amp; Jerry</p>"
    assert list(msg.iter_attachments()) == []


def test_every_leaf_part_is_base64_so_no_line_can_be_a_boundary(tmp_path: Path) -> None:
    """build_message sets the multipart boundaries itself, unchecked against the text:
    safe while every leaf part is base64 (no "-" in its alphabet)."""
    docx = tmp_path / "INV-2026-0001.docx"
    docx.write_bytes(b"--" + bytes(range(256)) * 40)
    mail = outgoing(text="--\n-- hi\n" + HOSTILE, html="<p>--</p>", attachments=(docx,))
    raw = build_message(mail, EmailConfig(sender="billing@acme.test"), COMPANY).raw
    msg = parse(raw)
    leaves = [part for part in msg.walk() if not part.is_multipart()]
    assert len(leaves) == 3
    assert all(part["Content-Transfer-Encoding"] == "base64" for part in leaves)
    boundaries = [part.get_boundary() for part in msg.walk() if part.is_multipart()]
    assert len(boundaries) == 2 and len(set(boundaries)) == 2
    assert all(re.fullmatch(r"={15}\d{19}==", b or "") for b in boundaries)
    for boundary in boundaries:  # each line "--boundary" is a delimiter, nothing else
        lines = raw.split(b"\r\n")
        assert lines.count(f"--{boundary}".encode()) == len(
            next(p for p in msg.walk() if p.get_boundary() == boundary).get_payload()
        )


def test_a_body_that_names_a_file_is_not_attached(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send me")
    mail = outgoing(text=str(secret), html=str(secret), subject=str(secret))
    raw = build_message(mail, EmailConfig(sender="billing@acme.test"), COMPANY).raw
    msg = parse(raw)
    assert list(msg.iter_attachments()) == []
    assert b"do not send me" not in raw
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content() == str(secret)


def test_attachments_by_path_with_types_names_and_bytes(tmp_path: Path) -> None:
    docx = tmp_path / "Счёт INV-2026-0001.docx"
    pdf = tmp_path / "INV-2026-0001.pdf"
    docx.write_bytes(b"PK\x03\x04 pretend docx " + bytes(range(256)))
    pdf.write_bytes(b"%PDF-1.7 pretend pdf")
    mail = outgoing(attachments=(docx, pdf))
    raw = build_message(mail, EmailConfig(sender="billing@acme.test"), COMPANY).raw
    msg = parse(raw)
    parts = list(msg.iter_attachments())
    assert [p.get_content_type() for p in parts] == [DOCX_TYPE, "application/pdf"]
    assert [p.get_content_disposition() for p in parts] == ["attachment", "attachment"]
    assert [p.get_content() for p in parts] == [docx.read_bytes(), pdf.read_bytes()]
    assert parts[1].get_filename() == pdf.name
    # The real name for RFC 2231 readers, an ASCII stand-in beside it for older ones.
    assert b'filename="Schet INV-2026-0001.docx"' in raw  # transliterated
    assert b"filename*=utf-8''%D0%A1%D1%87%D1%91%D1%82%20INV-2026-0001.docx" in raw
    assert parts[0].get_filename() == "Schet INV-2026-0001.docx"  # a reader taking the first
    assert raw.isascii()


def test_attachment_must_be_an_existing_path(tmp_path: Path) -> None:
    cfg = EmailConfig(sender="billing@acme.test")
    with pytest.raises(MailError, match="does not exist"):
        build_message(outgoing(attachments=(tmp_path / "gone.pdf",)), cfg, COMPANY)
    with pytest.raises(MailError, match="must be a Path"):
        build_message(outgoing(attachments=(str(tmp_path),)), cfg, COMPANY)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"subject": "Invoice\r\nBcc: evil@example.net"}, MailError),
        ({"subject": "Invoice\nX-Evil: 1"}, MailError),
        ({"to": ("client@example.com\r\nBcc: evil@example.net",)}, AddressError),
        ({"cc": ("bad address",)}, AddressError),
        ({"to": ()}, AddressError),
        ({"message_id": "<a@b>\r\nX-Evil: 1"}, MailError),
        ({"in_reply_to": "no-brackets"}, MailError),
        ({"kind": "spam"}, MailError),
    ],
)
def test_unsafe_headers_are_refused(changes: dict[str, object], error: type[Exception]) -> None:
    mail = replace(outgoing(), **changes)  # type: ignore[arg-type]
    with pytest.raises(error):
        build_message(mail, EmailConfig(sender="billing@acme.test"), COMPANY)


def test_unsafe_config_values_are_refused() -> None:
    mail = outgoing()
    with pytest.raises(MailError):
        build_message(mail, EmailConfig(sender="billing@acme.test", from_name="A\r\nB"), COMPANY)
    with pytest.raises(AddressError):
        build_message(mail, EmailConfig(sender="billing@acme.test", bcc="x\n@y.z"), COMPANY)
    with pytest.raises(AddressError, match="no sender"):
        build_message(mail, EmailConfig(), CompanyInfo())


@pytest.mark.parametrize(
    "name",
    ["L" * 3000 + " Ltd", "Ж" * 3000, "Evil\x1b[31m Ltd\x07 " * 300],
    ids=["unbroken", "cyrillic", "controls"],
)
@pytest.mark.parametrize("redirect", ["", "qa@acme.test"])
def test_a_subject_from_a_long_name_keeps_every_line_within_998(name: str, redirect: str) -> None:
    """A customised subject showing a 3,000-character client name was one 3,002-character
    header line: servers refuse it ("500 Line too long") at every run. ESC and BEL went
    into it raw."""
    cfg = EmailConfig(sender="billing@acme.test", redirect_to=redirect)
    built = build_message(outgoing(subject=f"Invoice INV-2026-0001 for {name}"), cfg, COMPANY)
    assert max(len(line) for line in built.raw.split(b"\r\n")) <= 998
    subject = str(parse(built.raw)["Subject"]).removeprefix(
        "[TEST for client@example.com] " if redirect else ""
    )
    assert subject.startswith("Invoice INV-2026-0001 for ") and subject.endswith("…")
    assert len(subject) == 250 and not re.search("[\x00-\x1f\x7f]", subject)


def test_redirect_to_replaces_every_recipient_and_marks_the_subject() -> None:
    cfg = EmailConfig(
        sender="billing@acme.test", bcc="archive@acme.test", redirect_to="qa@acme.test"
    )
    mail = outgoing(cc=("boss@example.com",))
    built = build_message(mail, cfg, COMPANY)
    msg = parse(built.raw)
    assert built.recipients == ("qa@acme.test",)
    assert str(msg["To"]) == "qa@acme.test" and msg["Cc"] is None
    assert msg["Subject"] == (
        "[TEST for client@example.com, boss@example.com] Invoice INV-2026-0001"
    )


# -- templates ----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_render_every_kind_and_language(kind: str, language: str) -> None:
    subject, text, html = render_email(kind, language, CONTEXT)
    # What names the message: the invoice, or for a statement of account its period.
    marker = CONTEXT["period"] if kind == "statement" else "INV-2026-0007"
    assert subject and "\n" not in subject and marker in subject
    assert marker in text and marker in html
    needed = {
        "invoice": ("total", "due_date"),
        "reissue": ("original_date", "balance", "due_date", "reissue_date"),
        "underpaid": ("amount_paid", "amount_due", "balance"),
        "overpaid": ("excess", "amount_due"),
        "thanks": ("amount_paid",),
        "credit_note": ("credit_note_no", "invoice_date", "total", "credit_amount", "new_balance"),
        "resend": ("invoice_date", "total", "balance", "due_date"),
        "statement": ("statement_date", "amount_due"),
    }[kind]
    for key in needed:
        assert CONTEXT[key] in text, key
    assert HOSTILE in text and "{{" not in text.replace(HOSTILE, "")
    assert "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; {{ 7*7 }} {% raw %} 🚀" in html
    assert "<b>bold" not in html
    if language != "en":
        assert subject != render_email(kind, "en", CONTEXT)[0]


@pytest.mark.parametrize(
    ("language", "before", "after"),
    [
        ("en", "by 2026-03-31.", "which was due on 2026-03-31."),
        ("ru", "срок оплаты 2026-03-31;", "срок оплаты (2026-03-31) уже прошёл;"),
        ("kk", "төлеу мерзімі 2026-03-31.", "төлеу мерзімі (2026-03-31) өтіп кетті."),
    ],
)
def test_a_copy_past_its_due_date_says_when_it_was_due_not_pay_by(
    language: str, before: str, after: str
) -> None:
    for past_due, said, not_said in (("", before, after), ("yes", after, before)):
        _, text, html = render_email("resend", language, dict(CONTEXT, past_due=past_due))
        assert said in text and said in html, past_due
        assert not_said not in text and not_said not in html, past_due


def test_templates_use_only_known_context_keys() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR))
    for path in TEMPLATE_DIR.rglob("*.*"):
        source = path.read_text(encoding="utf-8")
        used = jinja2.meta.find_undeclared_variables(env.parse(source))
        assert used <= CONTEXT_KEYS, (path, used - CONTEXT_KEYS)


def test_discount_text_and_phone_are_optional() -> None:
    with_discount = dict(CONTEXT, discount_text="2% off if paid by 2026-03-11.")
    assert "2% off" in render_email("invoice", "en", with_discount)[1]
    no_phone = dict(CONTEXT, company_phone="")
    subject, text, html = render_email("invoice", "kk", no_phone)
    assert "+7 701" not in text and "+7 701" not in html


def test_render_falls_back_to_english_and_reports_problems(tmp_path: Path) -> None:
    assert render_email("thanks", "de", CONTEXT) == render_email("thanks", "en", CONTEXT)
    assert render_email("thanks", "../en", CONTEXT) == render_email("thanks", "en", CONTEXT)
    with pytest.raises(MailError, match="needs a value"):
        render_email("thanks", "ru", {"invoice_no": "INV-1"})
    with pytest.raises(MailError, match="no email templates"):
        render_email("report", "en", CONTEXT)
    # a folder without email templates of its own: the bundled ones, file by file
    assert render_email("thanks", "en", CONTEXT, tmp_path) == render_email("thanks", "en", CONTEXT)


# -- outbox and sender choice ---------------------------------------------------------


def test_outbox_writes_one_eml_per_message_id(tmp_path: Path) -> None:
    cfg = EmailConfig(sender="billing@acme.test")
    first = build_message(outgoing(1), cfg, COMPANY)
    again = build_message(replace(outgoing(1), message_id=first.message_id), cfg, COMPANY)
    other = build_message(outgoing(2, kind="thanks"), cfg, COMPANY)
    with OutboxSender(tmp_path / "out") as outbox:
        results = [outbox.send(m) for m in (first, again, other)]
    assert {r.status for r in results} == {"sent"}
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 2
    assert files[0].name.startswith("INV-2026-0001-invoice-")
    assert files[1].name.startswith("INV-2026-0002-thanks-")
    assert files[0].read_bytes() == again.raw


def test_an_outbox_file_names_the_blind_copy_your_mail_program_is_to_send(
    tmp_path: Path,
) -> None:
    cfg = EmailConfig(sender="billing@acme.test", bcc="archive@acme.test")
    built = build_message(outgoing(1), cfg, COMPANY)
    assert b"archive@acme.test" not in built.raw  # over SMTP, the envelope only
    with OutboxSender(tmp_path / "out") as outbox:
        outbox.send(built)
    (written,) = (tmp_path / "out").iterdir()
    parsed = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["Bcc"] == "archive@acme.test"
    assert parsed["To"] == built.to[0] and parsed["Message-ID"]


def test_an_outbox_file_is_named_by_the_invoice_number_in_any_script() -> None:
    """A number in Cyrillic travels as an encoded word in its header: the file is named by
    the number itself, its letters kept, what a file name cannot hold replaced."""
    cfg = EmailConfig(sender="billing@acme.test")
    built = build_message(outgoing(1, invoice_no="Счёт №7/2026"), cfg, COMPANY)
    assert eml_name(built).startswith("Счёт_7_2026-invoice-")


def test_open_sender_picks_outbox_or_smtp(tmp_path: Path) -> None:
    cfg = EmailConfig(sender="billing@acme.test")
    assert isinstance(open_sender(cfg, COMPANY), OutboxSender)
    smtp = replace(cfg, mode="smtp")
    assert isinstance(open_sender(smtp, COMPANY), SmtpSender)
    chosen = open_sender(smtp, COMPANY, outbox_dir=tmp_path)
    assert isinstance(chosen, OutboxSender) and chosen.folder == tmp_path
    with pytest.raises(AddressError):
        open_sender(EmailConfig(), CompanyInfo())


def test_smtp_password_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = EmailConfig(username="me", password_env="TEST_MAIL_PASSWORD")
    monkeypatch.setenv("TEST_MAIL_PASSWORD", SECRET)
    assert smtp_password(cfg) == SECRET
    monkeypatch.delenv("TEST_MAIL_PASSWORD")
    with pytest.raises(MailLoginError, match="TEST_MAIL_PASSWORD"):
        smtp_password(cfg)
    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(MailLoginError, match="keyring package is not installed"):
        smtp_password(replace(cfg, use_keyring=True))


# -- real SMTP ----------------------------------------------------------------------


def test_batch_over_one_connection_without_auth() -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        cfg = smtp_config(port, bcc="archive@acme.test")
        first = outgoing(1, cfg)
        mails = [
            first,
            replace(outgoing(2, cfg), cc=("boss@example.com",)),
            replace(outgoing(1, cfg, kind="reissue"), in_reply_to=first.message_id),
        ]
        built = [build_message(m, cfg, COMPANY) for m in mails]
        with sender(cfg) as smtp:
            results = [smtp.send(b) for b in built]
    assert [r.status for r in results] == ["sent"] * 3
    assert len(recorder.sessions) == 1
    assert len(set(recorder.message_ids)) == 3
    assert [r.data for r in recorder.received] == [b.raw for b in built]
    got = recorder.received
    assert got[0].mail_from == "billing@acme.test"
    assert got[1].rcpt_tos == ["client@example.com", "boss@example.com", "archive@acme.test"]
    assert str(got[1].message["Cc"]) == "boss@example.com"
    assert all(r.message["Bcc"] is None for r in got)
    assert got[2].message["In-Reply-To"] == got[2].message["References"] == first.message_id


def test_auth_with_the_right_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MAIL_PASSWORD", SECRET)
    recorder = Recorder()
    checker = password_checker("me", SECRET)
    with running_server(recorder, authenticator=checker, auth_require_tls=False) as port:
        cfg = smtp_config(port, username="me", password_env="TEST_MAIL_PASSWORD")
        with sender(cfg) as smtp:
            result = smtp.send(build_message(outgoing(1, cfg), cfg, COMPANY))
    assert result.status == "sent" and len(recorder.received) == 1


def test_a_wrong_password_fails_at_enter_without_leaking_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_MAIL_PASSWORD", "wrong " + SECRET[::-1])
    recorder = Recorder()
    checker = password_checker("me", SECRET)
    with running_server(recorder, authenticator=checker, auth_require_tls=False) as port:
        cfg = smtp_config(port, username="me", password_env="TEST_MAIL_PASSWORD")
        with pytest.raises(MailLoginError) as caught, sender(cfg):
            pytest.fail("entered despite a wrong password")
    assert "refused the login for me" in str(caught.value)
    assert SECRET[::-1] not in str(caught.value) and caught.value.__cause__ is None
    assert recorder.received == [] and recorder.mail_commands == 0


def test_starttls_with_auth_and_a_private_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MAIL_PASSWORD", SECRET)
    ca = make_test_ca(tmp_path)
    recorder = Recorder()
    with running_server(
        recorder,
        tls_context=ca.server_context,
        require_starttls=True,
        authenticator=password_checker("me", SECRET),
    ) as port:
        cfg = smtp_config(
            port, security="starttls", ca_file=str(ca.ca_file), username="me",
            password_env="TEST_MAIL_PASSWORD",
        )  # fmt: skip
        with sender(cfg) as smtp:
            result = smtp.send(build_message(outgoing(1, cfg), cfg, COMPANY))
        with pytest.raises(MailLoginError, match="certificate"), sender(replace(cfg, ca_file="")):
            pass
    assert result.status == "sent" and len(recorder.received) == 1


def test_implicit_tls_with_a_private_ca(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path)
    recorder = Recorder()
    with running_server(recorder, ssl_context=ca.server_context) as port:
        cfg = smtp_config(port, security="ssl", ca_file=str(ca.ca_file))
        with sender(cfg) as smtp:
            results = [smtp.send(build_message(outgoing(n, cfg), cfg, COMPANY)) for n in (1, 2)]
    assert [r.status for r in results] == ["sent", "sent"]
    assert len(recorder.sessions) == 1 and len(recorder.received) == 2


def test_ssl_against_a_plain_server_says_port_and_security_disagree(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path)
    with running_server(Recorder()) as port:  # plain SMTP, as on port 587 before STARTTLS
        cfg = smtp_config(port, security="ssl", ca_file=str(ca.ca_file))
        with pytest.raises(MailLoginError) as caught, sender(cfg):
            pass
    said = str(caught.value)
    assert said.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert 'port 465 takes "ssl", port 587 (or 25) takes "starttls"' in said


def test_partial_refusal_is_reported_with_the_server_reply() -> None:
    recorder = Recorder(refuse=frozenset({"nobody@example.com"}))
    with running_server(recorder) as port:
        cfg = smtp_config(port)
        both = outgoing(1, cfg, to=("client@example.com", "nobody@example.com"))
        only_bad = outgoing(2, cfg, to=("nobody@example.com",))
        with sender(cfg) as smtp:
            partial = smtp.send(build_message(both, cfg, COMPANY))
            refused = smtp.send(build_message(only_bad, cfg, COMPANY))
    assert partial.status == "refused" and partial.refused == ("nobody@example.com",)
    assert "550 5.1.1" in partial.summary and "no such mailbox" in partial.summary
    assert partial.addresses("sent") == ("client@example.com",)
    assert refused.status == "refused" and refused.refused == ("nobody@example.com",)
    assert [r.rcpt_tos for r in recorder.received] == [["client@example.com"]]
    assert recorder.mail_commands == 2  # a permanent refusal is not retried


def test_a_dropped_connection_is_reopened_and_nothing_is_sent_twice() -> None:
    recorder = Recorder(close_after=frozenset({2}))
    with running_server(recorder) as port:
        cfg = smtp_config(port)
        built = [build_message(outgoing(n, cfg), cfg, COMPANY) for n in range(1, 6)]
        with sender(cfg) as smtp:
            results = [smtp.send(b) for b in built]
    assert [r.status for r in results] == ["sent"] * 5
    assert recorder.message_ids == [b.message_id for b in built]
    assert len(recorder.sessions) == 2


def test_a_connection_lost_after_the_data_is_not_resent() -> None:
    recorder = Recorder(vanish_on=frozenset({1}))
    with running_server(recorder) as port:
        cfg = smtp_config(port)
        built = [build_message(outgoing(n, cfg), cfg, COMPANY) for n in (1, 2)]
        with sender(cfg) as smtp:
            results = [smtp.send(b) for b in built]
    assert [r.status for r in results] == ["temporary", "sent"]
    assert "not resent" in results[0].reply
    assert recorder.message_ids == [b.message_id for b in built]


def test_421_is_reported_temporary_without_waiting() -> None:
    recorder = Recorder(busy_times=100)
    with running_server(recorder) as port:
        cfg = smtp_config(port)
        with sender(cfg) as smtp:
            result = smtp.send(build_message(outgoing(1, cfg), cfg, COMPANY))
    assert result.status == "temporary" and result.reply.startswith("421 4.3.2")
    assert recorder.mail_commands == 1 and recorder.received == []


def test_421_once_then_accepted_is_sent_once() -> None:
    recorder = Recorder(busy_times=1)
    with running_server(recorder) as port:
        cfg = smtp_config(port)
        built = build_message(outgoing(1, cfg), cfg, COMPANY)
        with sender(cfg) as smtp:
            first = smtp.send(built)
            result = smtp.send(built)
            resend = smtp.send(built)  # the ledger's resend: identical bytes, same Message-ID
    assert first.status == "temporary"
    assert result.status == resend.status == "sent"
    assert [r.data for r in recorder.received] == [built.raw, built.raw]


def test_each_recipient_gets_its_own_answer() -> None:
    recorder = Recorder(refuse=frozenset({"typo@example.com"}), defer={"grey@example.com": 1})
    with running_server(recorder) as port:
        cfg = smtp_config(port, bcc="typo@example.com")
        mail = outgoing(1, cfg, to=("client@example.com", "grey@example.com"))
        built = build_message(mail, cfg, COMPANY)
        with sender(cfg) as smtp:
            first = smtp.send(built)
            again = smtp.send(built, ["grey@example.com"])
    states = {r.address: r.state for r in first.recipients}
    assert states == {
        "client@example.com": "sent", "grey@example.com": "temporary",
        "typo@example.com": "refused",
    }  # fmt: skip
    assert "450 4.2.0" in first.summary and "550 5.1.1" in first.summary
    assert again.status == "sent" and again.addresses("sent") == ("grey@example.com",)
    assert [r.rcpt_tos for r in recorder.received] == [["client@example.com"], ["grey@example.com"]]
    assert recorder.received[0].data == recorder.received[1].data == built.raw


def test_a_message_over_the_servers_size_limit_names_both_sizes() -> None:
    recorder = Recorder()
    with running_server(recorder, data_size_limit=2_000_000) as port:
        cfg = smtp_config(port)
        big = build_message(outgoing(1, cfg, text="x" * 3_000_000), cfg, COMPANY)
        with sender(cfg) as smtp:
            result = smtp.send(big)
    assert result.status == "refused" and result.too_big
    assert f"the message is {len(big.raw) / 1e6:.1f} MB" in result.reply
    assert "at most 2.0 MB (its SIZE limit)" in result.reply
    assert 'attach = "pdf"' in result.reply and "smaller" in result.reply
    assert recorder.mail_commands == 0 and recorder.received == []


def test_a_message_just_over_the_limit_never_reads_as_the_limits_size() -> None:
    built = build_message(outgoing(1, smtp_config(0), text="x" * 60_000), smtp_config(0), COMPANY)
    size, limit = len(built.raw), len(built.raw) - 150
    assert round(size / 1000) == round(limit / 1000)  # the same in whole KB
    recorder = Recorder()
    with running_server(recorder, data_size_limit=limit) as port, sender(smtp_config(port)) as s:
        result = s.send(built)
    assert result.status == "refused" and result.too_big
    assert f"the message is {size:,} bytes and 127.0.0.1 accepts at most {limit:,} bytes" in (
        result.reply
    )


@pytest.mark.parametrize(
    ("reply", "too_big", "told"),
    [
        ("552 5.3.4 Message size exceeds fixed limit", True, "refused it for its size (552 5.3.4"),
        ("552 5.3.4 Message size exceeds the mailbox quota", True, "refused it for its size"),
        ("552 Message too big", True, "refused it for its size (552 Message too big)"),
        ("552 5.2.2 Mailbox full", False, "the recipient's mailbox is full (552 5.2.2"),
        ("552 Mailbox is full", False, "the recipient's mailbox is full (552 Mailbox is full)"),
        ("550 5.4.5 Daily user sending quota exceeded", False, "550 5.4.5 Daily user sending"),
    ],
)  # fmt: skip
def test_a_refusal_at_data_is_told_for_what_it_is(reply: str, too_big: bool, told: str) -> None:
    """A size refusal advises PDF and quotes no limit larger than the message; a full
    mailbox (x.2.2) is the client's to empty, to try again; a sending quota (Gmail's 5.4.5)
    is neither: its reply is told as it is, not as the client's full mailbox."""

    class Refusing(Recorder):
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            return reply

    with running_server(Refusing(), data_size_limit=33_554_432) as port:
        cfg = smtp_config(port)
        with sender(cfg) as smtp:
            result = smtp.send(build_message(outgoing(1, cfg), cfg, COMPANY))
    assert result.status == "refused" and result.too_big is too_big
    assert told in result.reply and "at most" not in result.reply
    assert ('attach = "pdf"' in result.reply) is too_big
    assert ("mailbox is full" in result.reply) is ("Mailbox" in reply and "full" in reply)


def test_starttls_required_but_not_offered_is_a_login_error() -> None:
    with running_server(Recorder()) as port:
        cfg = smtp_config(port, security="starttls")
        with pytest.raises(MailLoginError, match="STARTTLS"), sender(cfg):
            pass


def test_a_text_only_message_has_no_html_part() -> None:
    msg = parse(build_message(outgoing(html=""), EmailConfig(sender="b@acme.test"), COMPANY).raw)
    assert [p.get_content_type() for p in msg.walk()][-1] == "text/plain"
    assert msg.get_body(("html",)) is None


def test_unencrypted_smtp_is_refused_for_a_remote_host() -> None:
    cfg = smtp_config(2525, host="mail.example.com")
    with pytest.raises(MailLoginError, match="unencrypted"), sender(cfg):
        pass


def test_an_unreachable_server_is_a_login_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MailLoginError, match="cannot connect"), sender(smtp_config(port)):
        pass


def test_built_message_is_plain_data() -> None:
    built = build_message(outgoing(), EmailConfig(sender="billing@acme.test"), COMPANY)
    copy = BuiltMessage(
        built.message_id, built.envelope_from, built.recipients, built.raw, built.to, built.cc
    )
    assert copy == built and built.to == ("client@example.com",)


def test_a_server_reply_in_a_connection_error_is_told_as_the_server_said_it() -> None:
    """A 421 at the greeting (a cap on connections) reads "421 4.3.2 ...", not Python's
    "(421, b'4.3.2 ...')"."""
    import smtplib

    from automation.mail import _describe

    exc = smtplib.SMTPConnectError(421, b"4.3.2 The maximum number of connections is reached")
    assert _describe(exc) == "421 4.3.2 The maximum number of connections is reached"
