"""The message bytes written by hand (automation/mime.py, mail.build_message) probed where
mail goes wrong: header injection, RFC 2047 words at the line's end, values at the 78 and
998 limits, addresses the fast path must leave to the parser, folding caches shared between
values and threads, and the bytes that reach a real SMTP server (dot-stuffing)."""

from __future__ import annotations

import base64
import re
import string
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_servers import Recorder, running_server
from test_mail_fast import ATEXT, COMPANY, CONFIG, outcome, outgoing, written_and_generated

from automation import mime
from automation.addresses import parse_addresses, parsed_address, plain_address
from automation.mail import (
    SMTPUTF8_SMTP,
    BuiltMessage,
    MailError,
    SmtpSender,
    build_message,
)

#: Everything str.splitlines() breaks a line on; CR and LF were refused before this review.
OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: A non-ASCII local part: the message is written with raw UTF-8 headers (SMTPUTF8).
UTF8_RECIPIENT = "дмитрий@пример.рф"


def header_names(raw: bytes) -> list[str]:
    """The names of the top-level header lines, continuation lines skipped; an empty
    name for a line that is neither (text the folding let out of its header)."""
    block = raw.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue
        name, colon, _ = line.partition(b":")
        names.append(name.decode("ascii", "replace") if colon and b" " not in name else "")
    return names


EXPECTED = [
    "Content-Type", "MIME-Version", "From", "To", "Subject", "Date", "Message-ID",
    "X-Invoice-No", "X-Billing-Kind",
]  # fmt: skip


# -- header injection ------------------------------------------------------------------


@pytest.mark.parametrize("to", [("client@example.com",), (UTF8_RECIPIENT,)])
@pytest.mark.parametrize("brk", list(OTHER_BREAKS))
@pytest.mark.parametrize("field", ["subject", "invoice_no", "from_name"])
def test_a_line_break_of_any_kind_in_a_header_value_is_refused(
    to: tuple[str, ...], brk: str, field: str
) -> None:
    # "Invoice\u2028Bcc: boss@example.com" was written, under SMTPUTF8, as a Bcc line of
    # its own; "\v" and "\f" made a line without indent under compat32 too.
    value = f"Invoice{brk}Bcc: boss@example.com"
    cfg = replace(CONFIG, from_name=value) if field == "from_name" else CONFIG
    mail = outgoing(to=to) if field == "from_name" else outgoing(to=to, **{field: value})
    with pytest.raises(MailError, match="must be one line"):
        build_message(mail, cfg, COMPANY)


line_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(
    before=line_text,
    after=line_text,
    brk=st.sampled_from(OTHER_BREAKS),
    field=st.sampled_from(["subject", "invoice_no", "from_name", "company_name"]),
    to=st.sampled_from([("client@example.com",), (UTF8_RECIPIENT,)]),
)
def test_no_header_value_writes_a_line_of_its_own(
    before: str, after: str, brk: str, field: str, to: tuple[str, ...]
) -> None:
    value = before + brk + after
    cfg, company, changes = CONFIG, COMPANY, {"to": to}
    if field == "from_name":
        cfg = replace(CONFIG, from_name=value)
    elif field == "company_name":
        company = replace(COMPANY, name=value)
    else:
        changes[field] = value
    written, generated = written_and_generated(outgoing(**changes), cfg, company)
    assert written == generated
    if isinstance(written, BuiltMessage):
        assert header_names(written.raw) == EXPECTED
    else:
        assert written[0] is MailError


# -- addresses the fast path leaves to the parser --------------------------------------


@pytest.mark.parametrize(
    "piece",
    [
        "=?utf-8?q?abc?=@example.com",
        "=?utf-8?b?YWJj?=@example.com",
        "=?us-ascii?q?x?=@EXAMPLE.com",
        "=?utf-8?q?abc?=.x@example.com",
        "=?utf-8?q?a?==?utf-8?q?b?=@example.com",
        "x.=?utf-8?q?abc?=@example.com",
        "=?x?=@example.com",
    ],
)
def test_an_encoded_word_local_part_reads_as_the_parser_reads_it(piece: str) -> None:
    # The parser decodes "=?utf-8?q?abc?=" to "abc" and refuses the address; the plain
    # path took it as it is.
    assert plain_address(piece) in (None, parsed_address(piece))
    assert parse_addresses(piece)[0] == tuple(a for a in [parsed_address(piece)] if a)


encoded_word = st.builds(
    lambda cs, kind, text: f"=?{cs}?{kind}?{text}?=",
    st.sampled_from(["utf-8", "us-ascii", "UTF-8", "x", ""]),
    st.sampled_from(["q", "b", "Q", "B", "z"]),
    st.text(string.ascii_letters + string.digits + "=_+/", max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    word=encoded_word,
    rest=st.lists(st.text(ATEXT, min_size=1, max_size=6), max_size=2),
    glue=st.sampled_from(["", "."]),
    domain=st.sampled_from(["example.com", "EXAMPLE.COM", "a.b-c.org"]),
)
def test_encoded_words_in_local_parts(word: str, rest: list[str], glue: str, domain: str) -> None:
    for local in (word + glue + ".".join(rest), ".".join([*rest, word]) if rest else word):
        piece = f"{local}@{domain}"
        plain = plain_address(piece)
        assert plain is None or plain == parsed_address(piece)


# -- folding: limits, encoded words, shapes shared ------------------------------------

NAMES = ["Subject", "From", "To", "X-Invoice-No", "Content-Disposition", "In-Reply-To", "X"]
pieces = st.one_of(
    st.text(string.ascii_letters, min_size=1, max_size=80),
    st.sampled_from([" ", "  ", "\t", "; ", ", ", ";", ",", "=?", "?=", "=?utf-8?q?x?=", ":"]),
    st.text("éёқ€中😀\u00a0\u202f", min_size=1, max_size=40),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=2),
    st.sampled_from(["\x7f", "\x85", "\u2028", "\udcff", "_", "=", "?", '"', "\\"]),
)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(NAMES), parts=st.lists(pieces, max_size=12))
def test_fold_is_the_policys_for_mixed_values(name: str, parts: list[str]) -> None:
    value = "".join(parts)
    for p in (mime.COMPAT32_SMTP, SMTPUTF8_SMTP):
        assert outcome(lambda p=p: mime.fold(p, name, value)) == outcome(  # type: ignore[misc]
            lambda p=p: p.fold_binary(name, value)
        )


@pytest.mark.parametrize("name", ["Subject", "X-Invoice-No", "X"])
@pytest.mark.parametrize("limit", [78, 998])
@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("fill", ["a", "ё", "€", "a b", "a;b", "\t"])
def test_fold_at_the_line_limits(name: str, limit: int, delta: int, fill: str) -> None:
    length = limit - len(name) - 2 + delta
    value = (fill * length)[:length]
    assert mime.fold(mime.COMPAT32_SMTP, name, value) == mime.COMPAT32_SMTP.fold_binary(name, value)


def encoded_words(folded: bytes) -> list[bytes]:
    return [w for line in folded.split(b"\r\n") for w in line.split() if w.startswith(b"=?")]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    value=st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=300
    ).filter(lambda v: not v.isascii()),
)
def test_words_beyond_ascii_are_well_formed_rfc_2047(name: str, value: str) -> None:
    folded = mime.fold(mime.COMPAT32_SMTP, name, value)
    lines = folded.split(b"\r\n")[:-1]
    assert all(len(line) <= 78 for line in lines)
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:])
    for word in encoded_words(folded):
        # RFC 2047 says 75; compat32 fills the continuation line (77 after its space),
        # as the generator always did (a word of 76 or 77 is read by mail programs).
        assert len(word) <= 77
        charset, kind, text = word[2:-2].split(b"?")
        assert charset == b"utf-8"
        data = base64.b64decode(text) if kind == b"b" else _q_decode(text.replace(b"_", b" "))
        data.decode("utf-8")  # raises for a character cut in two
    header = folded.decode("ascii")[len(name) + 2 :].replace("\r\n", "")
    assert str(make_header(decode_header(header))) == value


def _q_decode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x3D:
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    values=st.lists(
        st.text(string.ascii_letters + string.digits + ":=?@<>\"'()", min_size=1, max_size=12),
        min_size=2, max_size=6,
    ),
)  # fmt: skip
def test_values_of_one_shape_keep_their_own_words(name: str, values: list[str]) -> None:
    """Folded one after the other through one cached shape, no value gets another's words."""
    width = max(map(len, values))
    same_shape = [(v * 40)[: width * 9] for v in values]  # ~ 9 words of one length each
    for value in same_shape:
        spaced = " ".join(value[i : i + width] for i in range(0, len(value), width))
        assert mime.fold(mime.COMPAT32_SMTP, name, spaced) == (
            mime.COMPAT32_SMTP.fold_binary(name, spaced)
        )


def test_the_folding_caches_serve_threads_alike() -> None:
    """The run's own thread builds reports while others build too: the lru caches of
    shapes and templates are shared; every value still gets its own folding."""
    values = [
        f"{word} " * 12 + f"Счёт {word} от Ledgerwise Bookkeeping {'ё' * (i % 7)}"
        for i, word in enumerate(["alpha", "bravo", "charl", "delta", "echo!", "fox;t"] * 20)
    ]
    expected = {v: mime.COMPAT32_SMTP.fold_binary("Subject", v) for v in values}
    mime._folded_shape.cache_clear()
    mime._encoded_template.cache_clear()
    start = threading.Barrier(8)

    def fold_all(offset: int) -> list[bool]:
        start.wait()
        order = values[offset:] + values[:offset]
        return [mime.fold(mime.COMPAT32_SMTP, "Subject", v) == expected[v] for v in order]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fold_all, range(0, 80, 10)))
    assert all(all(r) for r in results)


# -- what reaches the server ------------------------------------------------------------


def test_the_bytes_reach_the_server_intact(tmp_path: Path) -> None:
    """Bodies and attachments with dots at line starts, lone CR and LF, the SMTP end
    marker: all base64, so smtplib's dot-stuffing has nothing to change, and the
    server stores exactly the built bytes (a resend sends the same again)."""
    pdf = tmp_path / "Счёт été.pdf"
    pdf.write_bytes(b".\r\n.\r\n\r\n.\r\nx\rY\n.hidden\r\n.")
    docx = tmp_path / "INV-1.docx"
    docx.write_bytes(b"PK" + bytes(range(256)) * 3)
    body = ".\r\n.\r\nline\r.dot\n..two\r\n.\r\n"
    recorder = Recorder()
    with running_server(recorder) as port:
        cfg = replace(CONFIG, mode="smtp", host="127.0.0.1", port=port, security="none",
                      timeout=5.0)  # fmt: skip
        mails = [
            outgoing(text=body, html=body, attachments=(pdf, docx)),
            outgoing(text="", html="", attachments=()),
            outgoing(subject="." + "ё" * 60 + "\t.", to=(UTF8_RECIPIENT, "Bob@EXAMPLE.COM")),
        ]
        built = [build_message(m, cfg, COMPANY) for m in mails]
        with SmtpSender(cfg) as smtp:
            results = [smtp.send(b) for b in built] + [smtp.send(built[0])]
    assert [r.status for r in results] == ["sent"] * 4
    assert [r.data for r in recorder.received] == [b.raw for b in [*built, built[0]]]
    first = message_from_bytes(recorder.received[0].data, policy=policy.default)
    parts = [p for p in first.walk() if not p.is_multipart()]
    assert [p.get_content() for p in parts[:2]] == [body, body]
    # The email package reads the ASCII stand-in; mail programs that know RFC 2231 the name.
    assert parts[2].get_filename() == "Schet ete.pdf"
    starred = re.search(rb"filename\*=utf-8''([^\s;]+)", recorder.received[0].data)
    assert starred is not None and unquote(starred[1].decode("ascii")) == pdf.name
    assert parts[2].get_content() == pdf.read_bytes()
    assert recorder.received[2].rcpt_tos == ["дмитрий@xn--e1afmkfd.xn--p1ai", "Bob@example.com"]
    assert recorder.received[2].message["Subject"] == "." + "ё" * 60 + "\t."
