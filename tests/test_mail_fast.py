"""mail's fast ways against the slow ones they stand in for: the message bytes written
directly (mail.written_bytes, automation/mime.py) against the bytes yagmail and the email
package's generator make; a plain address read without the RFC 5322 parser against the parser;
an email's language chosen and its amounts formatted with what a run already knows."""

from __future__ import annotations

import base64
import itertools
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from email.policy import Compat32
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from automation import addresses, mime
from automation import mail as mail_module
from automation.addresses import parsed_address, plain_address
from automation.compose import _money_text
from automation.config import EmailConfig
from automation.fmt import format_money
from automation.mail import (
    MAIL_KINDS,
    SMTPUTF8_SMTP,
    BuiltMessage,
    MailError,
    OutgoingMail,
    build_message,
    render_email,
)
from automation.model import CompanyInfo
from automation.render import InvoiceRenderer, sample_document

ROOT = Path(__file__).resolve().parent.parent
modest = settings(max_examples=150, deadline=None)

ADDRESSES = (
    "client@example.com",
    "Ann.Lee+bills@Clients.Example.COM",
    "o'brien@xn--e1afmkfd.xn--p1ai",
    "info@пример.рф",
    "дмитрий@пример.рф",
    "a@b.co",
    "accounts-payable-department-with-a-long-name@subsidiary.holding-company.example.org",
)
PRINTABLE = string.ascii_letters + string.digits + string.punctuation
#: Header-like text: plain ASCII words (the fast fold), runs of spaces and tabs, any letter.
ascii_words = st.lists(st.text(PRINTABLE, min_size=1, max_size=30), max_size=8).map(" ".join)
header_text = st.one_of(
    ascii_words,
    st.text(PRINTABLE + " \t", max_size=100),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"),
            max_size=100),
)  # fmt: skip
body_text = st.one_of(st.just(""), st.text(st.characters(blacklist_categories=("Cs",))))
file_stem = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))
attachment = st.tuples(
    file_stem,
    st.sampled_from([".docx", ".pdf", ".PDF", ".Docx"]),
    st.one_of(st.binary(max_size=2000), st.binary(max_size=300).map(lambda b: b + b"\n")),
)
address_list = st.lists(st.sampled_from(ADDRESSES), max_size=3, unique=True)


@contextmanager
def boundaries() -> Iterator[None]:
    """The same two boundaries for each message built inside."""
    fixed = itertools.cycle(["=" * 15 + f"{n:019d}" + "==" for n in (1234567, 7654321)])
    with mock.patch.object(mail_module, "new_boundary", lambda: next(fixed)):
        yield


def outcome(build: Callable[[], BuiltMessage]) -> Any:
    try:
        return build()
    except Exception as exc:  # the two ways must refuse alike, too
        return type(exc), str(exc)


def written_and_generated(mail: OutgoingMail, cfg: EmailConfig, company: CompanyInfo) -> Any:
    """build_message's result written directly, and as the generator writes it."""
    with boundaries(), mock.patch.object(mail_module, "_assemble", side_effect=AssertionError):
        written = outcome(lambda: build_message(mail, cfg, company))
    with boundaries(), mock.patch.object(mail_module, "writable", return_value=False):
        generated = outcome(lambda: build_message(mail, cfg, company))
    return written, generated


def outgoing(**changes: Any) -> OutgoingMail:
    mail = OutgoingMail(
        kind="invoice",
        invoice_no="INV-2026-0001",
        to=("client@example.com",),
        cc=(),
        subject="Invoice INV-2026-0001",
        text="Hello\n",
        html="<p>Hello</p>",
        attachments=(),
        message_id="<1.2.3@acme.test>",
        date=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    return replace(mail, **changes)


COMPANY = CompanyInfo(name="Acme & Sons", email="billing@acme.test")
CONFIG = EmailConfig(sender="billing@acme.test")


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(MAIL_KINDS),
    to=st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=3, unique=True),
    cc=address_list,
    subject=header_text,
    text=body_text,
    html=body_text,
    files=st.lists(attachment, max_size=3),
    in_reply_to=st.sampled_from([None, "<first.1@acme.test>"]),
    hours=st.integers(min_value=-12, max_value=14),
    from_name=header_text,
    company_name=header_text,
    reply_to=st.sampled_from(["", "accounts@acme.test", "Ann <ann@пример.рф>"]),
    bcc=st.sampled_from(["", "archive@acme.test", "a@b.co; archive@acme.test"]),
    redirect_to=st.sampled_from(["", "tester@acme.test"]),
    invoice_no=header_text,
)
def test_written_bytes_are_the_generators(
    kind: str,
    to: list[str],
    cc: list[str],
    subject: str,
    text: str,
    html: str,
    files: list[tuple[str, str, bytes]],
    in_reply_to: str | None,
    hours: int,
    from_name: str,
    company_name: str,
    reply_to: str,
    bcc: str,
    redirect_to: str,
    invoice_no: str,
) -> None:
    cfg = replace(CONFIG, from_name=from_name, reply_to=reply_to, bcc=bcc, redirect_to=redirect_to)
    company = replace(COMPANY, name=company_name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (stem, suffix, data) in enumerate(files):
            folder = Path(tmp) / str(i)  # two attachments may share a name
            folder.mkdir()
            path = folder / (stem + suffix)
            path.write_bytes(data)
            paths.append(path)
        mail = outgoing(
            kind=kind,
            invoice_no=invoice_no,
            to=tuple(to),
            cc=tuple(cc),
            subject=subject,
            text=text,
            html=html,
            attachments=tuple(paths),
            in_reply_to=in_reply_to,
            date=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=hours))),
        )
        written, generated = written_and_generated(mail, cfg, company)
    event("built" if isinstance(written, BuiltMessage) else f"refused: {written[0].__name__}")
    assert written == generated


@pytest.mark.parametrize(("language", "currency"), [("en", "USD"), ("ru", "RUB"), ("kk", "KZT")])
def test_a_rendered_invoice_is_written_as_the_generator_writes_it(
    tmp_path: Path, language: str, currency: str
) -> None:
    doc = sample_document(language, currency, lines=8)
    path = InvoiceRenderer(ROOT / "templates").render(doc, tmp_path)
    pdf = tmp_path / "Счёт été.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    for attachments in ((path,), (path, pdf), ()):
        mail = outgoing(
            subject=f"Счёт {doc.invoice_no} от Ledgerwise Bookkeeping", attachments=attachments
        )
        written, generated = written_and_generated(mail, CONFIG, COMPANY)
        assert isinstance(written, BuiltMessage)
        assert written == generated
        assert len(written.raw) > sum(p.stat().st_size for p in attachments) * 4 // 3  # base64


def test_other_attachments_are_left_to_the_generator(tmp_path: Path) -> None:
    # yagmail gives an image a preamble of its own: the generator writes it, as before.
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with mock.patch.object(mail_module, "written_bytes", side_effect=AssertionError):
        built = build_message(outgoing(attachments=(image,)), CONFIG, COMPANY)
    assert b"This message is best displayed using a MIME capable email reader." in built.raw


def test_a_short_plain_header_skips_the_header_machinery() -> None:
    with mock.patch.object(Compat32, "fold_binary", side_effect=AssertionError):
        folded = mime.fold(mime.COMPAT32_SMTP, "X-Invoice-No", "INV-2026-0001")
    assert folded == b"X-Invoice-No: INV-2026-0001\r\n"


header_names = st.sampled_from(["Subject", "To", "Content-Type", "X-Invoice-No", "From"])


@st.composite
def near_the_line_end(draw: st.DrawFn) -> tuple[str, str]:
    """Plain words, with single spaces or other runs, within a few characters of 78."""
    name = draw(header_names)
    length = 78 - len(name) - 2 + draw(st.integers(min_value=-3, max_value=3))
    words = draw(st.lists(st.text(PRINTABLE, min_size=1, max_size=12), min_size=1))
    spaces = draw(st.sampled_from([" ", " ", "  ", "\t", " \t"]))
    value = spaces.join(words)
    return name, (value * (length // len(value) + 1))[:length] + draw(st.sampled_from(["", " "]))


@modest
@given(name=header_names, value=st.one_of(header_text, st.text(PRINTABLE + " \t\r\n\x0b")))
def test_fold_is_the_policys(name: str, value: str) -> None:
    for policy in (mime.COMPAT32_SMTP, SMTPUTF8_SMTP):
        assert outcome(lambda p=policy: mime.fold(p, name, value)) == outcome(  # type: ignore[misc]
            lambda p=policy: p.fold_binary(name, value)
        )


@modest
@given(st.binary(max_size=3000))
def test_base64_body_is_encodebytes_in_crlf_lines(data: bytes) -> None:
    assert mime.base64_body(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")


@modest
@given(near_the_line_end())
def test_fold_is_the_policys_at_the_end_of_the_line(header: tuple[str, str]) -> None:
    name, value = header
    assert mime.fold(mime.COMPAT32_SMTP, name, value) == mime.COMPAT32_SMTP.fold_binary(name, value)


WORD_CHARACTERS = "".join(c for c in PRINTABLE if c not in ";,")
long_ascii = st.lists(
    st.tuples(
        st.text(WORD_CHARACTERS + ";,", min_size=1, max_size=40),
        st.sampled_from([" ", " ", " ", "  ", "\t", " \t", "; ", ", "]),
    ),
    min_size=1,
    max_size=12,
).map(lambda pairs: "".join(word + space for word, space in pairs))


@modest
@given(
    name=header_names,
    value=st.one_of(long_ascii, long_ascii.map(str.strip), near_the_line_end().map(lambda h: h[1])),
    others=st.lists(st.permutations(WORD_CHARACTERS), min_size=1, max_size=3),
)
def test_ascii_of_one_shape_folds_alike(name: str, value: str, others: list[list[str]]) -> None:
    """The shape's folding, made for the first value, serves values with other words."""
    for letters in ([*WORD_CHARACTERS], *others):
        variant = value.translate(str.maketrans(WORD_CHARACTERS, "".join(letters)))
        folded = mime.fold(mime.COMPAT32_SMTP, name, variant)
        assert folded == mime.COMPAT32_SMTP.fold_binary(name, variant)


# -- addresses ----------------------------------------------------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
label = st.one_of(
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=8),
    st.text(string.ascii_lowercase, min_size=60, max_size=66),  # about the 63 limit
    st.sampled_from(["xn--p1ai", "xn--zz", "ab--cd", "-a", "a-", "123", "COM", "a_b", "рф"]),
)
local_part = st.one_of(
    st.lists(st.text(ATEXT, min_size=1, max_size=10), min_size=1, max_size=3).map(".".join),
    st.text(ATEXT + '. "\\(),:;<>@[]é', min_size=1, max_size=12),
)
odd = st.sampled_from(["", " ", ".", "@", "\n", "\t", "..", "-"])


@st.composite
def address_like(draw: st.DrawFn) -> str:
    """local@label.label...: mostly plausible, with odd pieces here and there."""
    labels = draw(st.lists(label, min_size=1, max_size=5))
    parts = [draw(odd) if draw(st.integers(0, 9)) == 0 else "", draw(local_part), "@"]
    parts += [".".join(labels), draw(odd) if draw(st.integers(0, 9)) == 0 else ""]
    return "".join(parts)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        address_like(),
        st.from_regex(addresses.PLAIN_ADDRESS, fullmatch=True),
        st.text(max_size=40),
    )
)
def test_a_plain_address_reads_as_the_parser_reads_it(piece: str) -> None:
    plain = plain_address(piece)
    event("plain" if plain is not None else "parsed")
    if plain is not None:
        assert plain == parsed_address(piece)


LONG_LABEL = "a" * 63


@pytest.mark.parametrize(
    "piece",
    [
        f"x@{LONG_LABEL}.{LONG_LABEL}.{LONG_LABEL}.{'b' * 61}",  # 253 characters: a domain
        f"x@{LONG_LABEL}.{LONG_LABEL}.{LONG_LABEL}.{'b' * 62}",  # 254: not one
        "l" * 300 + "@example.com",
        "x@example.com.",
        "X@EXAMPLE.COM",
        "x@a.b-",
        "x@a.co--uk",
    ],
)
def test_plain_address_edges(piece: str) -> None:
    plain = plain_address(piece)
    assert plain is None or plain == parsed_address(piece)


def test_plain_addresses_skip_the_parser() -> None:
    mixed = "Ann.Lee+bills@Clients.Example.COM"
    assert plain_address(mixed) == "Ann.Lee+bills@clients.example.com"
    assert plain_address("client0001@clients.example") == "client0001@clients.example"
    for other in ("info@пример.рф", "x@xn--p1ai.example", "Ann <ann@example.com>", "a@b.1"):
        assert plain_address(other) is None


#: Characters alike for RFC 2047: the same length in UTF-8 and in the "Q" encoding.
ALIKE = (
    string.ascii_letters + string.digits + "-!*+/ ",
    "\"#$%&'(),.:;<=>?@[\\]^_`{|}~\t\x01",
    "éёқәіңғүұөһЁЙЖ\u00a0\u00e0",
    "€₸中文日本\u202f\u2014",
    "😀🚀𝄞",
)


@st.composite
def encoded_alike(draw: st.DrawFn) -> list[str]:
    """Values beyond ASCII, up to a few lines long, of one shape (`mime._encoded_shape`)."""
    kinds = draw(st.lists(st.sampled_from(range(len(ALIKE))), min_size=1, max_size=150))
    kinds.insert(draw(st.integers(0, len(kinds))), draw(st.integers(2, 4)))
    count = draw(st.integers(2, 4))
    return ["".join(draw(st.sampled_from(ALIKE[k])) for k in kinds) for _ in range(count)]


@modest
@given(name=header_names, values=encoded_alike())
def test_encoded_values_of_one_shape_fold_alike(name: str, values: list[str]) -> None:
    for value in values:
        assert mime.fold(mime.COMPAT32_SMTP, name, value) == mime.COMPAT32_SMTP.fold_binary(
            name, value
        )


@pytest.mark.parametrize(
    "value",
    ["\x85", "Счёт\u2028INV-1", "a\x1cб", "б\x0b", "\u2029X-Evil: 1 ё", "Счёт\ud800", "ё" * 200],
)
def test_odd_values_beyond_ascii_fold_as_the_policy_folds_them(value: str) -> None:
    for policy in (mime.COMPAT32_SMTP, SMTPUTF8_SMTP):
        assert outcome(lambda p=policy: mime.fold(p, "Subject", value)) == outcome(  # type: ignore[misc]
            lambda p=policy: p.fold_binary("Subject", value)
        )


# -- composing ----------------------------------------------------------------------


@modest
@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9)
    | st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0.00"), Decimal("1E+2")]),
    currency=st.sampled_from(["USD", "KZT", "RUB", "JPY", "EUR"]),
    language=st.sampled_from(["en", "ru", "kk"]),
)
def test_money_text_is_format_money(amount: Decimal, currency: str, language: str) -> None:
    assert _money_text(str(amount), currency, language) == format_money(amount, currency, language)


def language_folder(root: Path, language: str, **texts: str) -> None:
    (root / language).mkdir(parents=True, exist_ok=True)
    for ext, text in texts.items():
        (root / language / f"thanks.{ext}").write_text(text)


def test_a_language_is_used_only_with_all_three_templates(tmp_path: Path) -> None:
    """A language the bundled texts do not have ("de") is used once the folder has all three
    of a kind's templates in it, else the kind's English ones."""
    context = {"invoice_no": "INV-1"}
    language_folder(tmp_path, "en", subject="Thanks {{ invoice_no }}", txt="T", html="H")
    language_folder(tmp_path, "de", subject="Danke {{ invoice_no", txt="D")  # no .html
    assert render_email("thanks", "de", context, tmp_path) == ("Thanks INV-1", "T", "H")
    (tmp_path / "de" / "thanks.html").write_text("D")  # now all three: the broken one shows
    with pytest.raises(MailError, match="de/thanks.subject, line 1"):
        render_email("thanks", "de", context, tmp_path)
    (tmp_path / "de" / "thanks.subject").write_text("Danke {{ invoice_no }}")
    assert render_email("thanks", "de", context, tmp_path) == ("Danke INV-1", "D", "D")
    (tmp_path / "de" / "thanks.txt").unlink()  # gone since it was last used: English again
    assert render_email("thanks", "de", context, tmp_path) == ("Thanks INV-1", "T", "H")


WITHOUT_YAGMAIL = """
import sys, tempfile
from pathlib import Path
from automation.config import EmailConfig
from automation.mail import OutgoingMail, build_message, make_message_id
from automation.model import CompanyInfo
from automation.render import InvoiceRenderer, sample_document
from automation.produce import WORKER_IMPORTS

folder = Path(tempfile.mkdtemp())
docx = InvoiceRenderer(Path("templates")).render(sample_document(), folder)
pdf = folder / "invoice.pdf"
pdf.write_bytes(b"%PDF-1.4 test")
cfg, company = EmailConfig(sender="b@acme.test"), CompanyInfo(name="Acme", email="b@acme.test")
for files in ((docx,), (pdf,), (docx, pdf)):
    mail = OutgoingMail("invoice", "INV-1", ("c@example.com",), (), "Invoice", "text", "<p>x</p>",
                        files, make_message_id(cfg, company))
    build_message(mail, cfg, company)
print("yagmail" in sys.modules, any(m.startswith("yagmail") for m in WORKER_IMPORTS))
"""


def test_invoice_messages_are_built_without_yagmail_so_workers_do_not_preload_it() -> None:
    """The render workers' fork server imports WORKER_IMPORTS once per run; yagmail (0.09 s)
    is not among them because .docx and .pdf messages never need it."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_YAGMAIL], capture_output=True, text=True, cwd=root,
        check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


def test_encoded_words_of_a_long_cyrillic_subject_stay_within_rfc_2047() -> None:
    """RFC 2047: an encoded word is at most 75 characters. compat32 cut them to fill a
    78-character line, and a Russian statement subject had a word of 76."""
    import re

    subject = "Акт сверки за период 1 марта 2026 г. – 31 марта 2026 г.: к оплате 974,09 CHF"
    folded = mime.fold(mime.COMPAT32_SMTP, "Subject", subject)
    words = re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", folded)
    assert len(words) > 1 and max(len(w) for w in words) <= 75
    assert folded == mime.COMPAT32_SMTP.fold_binary("Subject", subject)


@pytest.mark.parametrize(
    ("password", "reply", "shown"),
    [("x", "SMTP AUTH extension not supported by server", "SMTP AUTH extension not supported"),
     ("o", "535 Password o does not match", "535 Password *** does not match"),
     ("correct-horse-9", "535 bad AUTH for pw=correct-horse-9;x", "535 bad AUTH for pw=***;x"),
     ("correct-horse-9", "535 AUTH PLAIN AG1lAGNvcnJlY3QtaG9yc2UtOQ== refused",
      "535 AUTH PLAIN *** refused"),
     ("s3cret!", "535 AUTH LOGIN czNjcmV0IQ== refused", "535 AUTH LOGIN *** refused")],
)  # fmt: skip
def test_a_password_is_hidden_where_echoed_without_garbling_other_words(
    password: str, reply: str, shown: str
) -> None:
    """A short password is hidden where it stands alone, not inside our own words (a
    password "x" made "e***tension"); a long one everywhere; AUTH PLAIN and LOGIN's
    base64 of it too."""
    sender = mail_module.SmtpSender(EmailConfig(host="smtp.example", username="me"))
    sender._password = password
    said = sender._scrub(reply)
    assert shown in said and password not in said.replace(shown, "")
