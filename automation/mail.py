"""Email: render the bodies, build each message once, deliver it over SMTP or into an outbox.

A message is built once (yagmail assembles the MIME, we set every header), kept
as exact bytes in a `BuiltMessage`, and a resend after a crash sends those very
bytes again, with the same Message-ID. One authenticated connection carries the
whole batch (or `[email] connections` of them: `smtp_pool`); the server answers
for each recipient, and a later attempt (a 4xx retry, the next run) goes only
to the recipients that do not have it yet.

Addresses are read by `addresses`.
"""

from __future__ import annotations

import difflib
import email.policy
import functools
import ipaddress
import itertools
import mimetypes
import os
import re
import secrets
import smtplib
import ssl
import sys
import unicodedata
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.charset import Charset
from email.header import decode_header, make_header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.policy import Policy
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from jinja2.loaders import split_template_path

from . import mime, sandbox
from .addresses import (
    bare_address,
    needs_smtputf8,
    parse_addresses,
    plain_address,
    split_addresses,
)
from .bundled import TEMPLATES
from .config import LINE_BREAK as _LINE_BREAK
from .config import EmailConfig
from .errors import UnusableError
from .mime import COMPAT32_SMTP, SMTPUTF8_SMTP
from .model import CompanyInfo
from .oauth import SIGN_IN_AGAIN, OAuthError, SignIn, SignInRefused, xoauth2_string
from .text import hide_secrets, one_line, storable_name
from .upgrade import current, own_file

#: Where `render_email` looks by default: templates/email/<lang>/<kind>.subject|.txt|.html
TEMPLATE_DIR = TEMPLATES / "email"
#: Kinds that have body templates; "report" mail is composed by the caller.
TEMPLATE_KINDS = (
    "invoice", "reissue", "underpaid", "overpaid", "thanks", "credit_note", "resend",
    "statement",
)  # fmt: skip
MAIL_KINDS = (*TEMPLATE_KINDS, "report")
FALLBACK_LANGUAGE = "en"
#: The names every email about an invoice has: what was due (total less credits, less a
#: discount earned), what was paid and what is owed now (negative: paid too much), as the
#: message recorded them (a new invoice's: nothing paid), and the reminder's number
#: (empty but on a reissue).
_OF_THE_INVOICE = frozenset(
    {"client_name", "invoice_no", "invoice_date", "original_date", "due_date", "due_date_until",
     "total", "discount_text", "company_name", "company_email", "company_phone",
     "amount_due", "amount_paid", "balance", "balance_open", "reissue_number"}
)  # fmt: skip
#: The names a statement email's templates are given (`statement_mail.email_context`).
STATEMENT_KEYS = frozenset(
    {"client_name", "company_name", "company_email", "company_phone", "period",
     "statement_date", "closing_balance", "amount_due"}
)  # fmt: skip
#: The names an email of each kind is given, as ready strings (`compose.email_context`),
#: each a true value for that email. A name a kind has no value for is not given at all
#: (a first invoice email knows of no payment, so it has no excess): a template of that
#: kind showing it is refused before anything is numbered, unless it shows it only when
#: it is there (`is defined`, `|default`).
EMAIL_NAMES: dict[str, frozenset[str]] = {
    "invoice": _OF_THE_INVOICE,
    "reissue": _OF_THE_INVOICE | {"reissue_date"},
    "underpaid": _OF_THE_INVOICE,
    "overpaid": _OF_THE_INVOICE | {"excess", "invoice_attached"},
    "thanks": _OF_THE_INVOICE | {"invoice_attached"},
    "credit_note": _OF_THE_INVOICE | {
        "credit_note_no", "credit_note_date", "credit_amount", "new_balance", "owed_back",
        "replacement", "cancels_invoice",
    },
    "resend": _OF_THE_INVOICE | {"past_due"},
    "statement": STATEMENT_KEYS,
}  # fmt: skip
#: How a message calls an email of each kind.
EMAIL_KIND_WORDS = {
    "invoice": "an invoice email", "reissue": "a reissued invoice's email",
    "underpaid": "a part-payment email", "overpaid": "an overpayment email",
    "thanks": "a thank-you email", "credit_note": "a credit note's email",
    "resend": "a resent copy's email", "statement": "a statement email",
}  # fmt: skip
#: Every name an email may have (each kind has fewer: EMAIL_NAMES).
CONTEXT_KEYS = frozenset().union(*EMAIL_NAMES.values())
#: Types we set ourselves: Python's mimetypes table may not know .docx.
ATTACHMENT_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pdf": "application/pdf",
}
#: Custom headers that let the outbox name its files from the stored bytes alone.
INVOICE_HEADER = "X-Invoice-No"
KIND_HEADER = "X-Billing-Kind"

SENT = "sent"
REFUSED = "refused"
TEMPORARY = "temporary"
UNKNOWN = "unknown"

_MESSAGE_ID_RE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_UNSAFE_FILENAME = re.compile(r"[^\w.-]+")  # letters and digits of any script are kept
#: The controls left in a subject once line breaks are refused and spaces folded
#: (`render_email`): an ESC or BEL from a client name, shown raw by mail programs.
_SUBJECT_CONTROL = re.compile("[\x01-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
#: A subject's length at most, in characters: a mail program shows far fewer, and an
#: unbroken one (a long client name) stays under the 998-character header line of
#: RFC 5322 unfolded, which servers enforce ("500 Line too long").
SUBJECT_MAX = 250


class MailError(Exception):
    """A message cannot be built, rendered or delivered."""


class MailLoginError(MailError):
    """The mail server cannot be used: unreachable, TLS failure or login refused."""


class SignInGone(MailLoginError):
    """The sign-in was refused, expired or revoked (OAuth `invalid_grant`): waiting will not
    bring it back; the bookkeeper signs in again."""


class MissingPart(MailError):
    """An email template takes in a file (`{% include "x.txt" %}`) that is not there: so for
    every email, whatever its data."""


class AddressError(MailError):
    """An email address is missing or malformed."""


@dataclass(frozen=True)
class OutgoingMail:
    """One message the pipeline wants sent, before it is built.

    Attributes:
      kind: "invoice", "reissue", "underpaid", "overpaid", "thanks", "credit_note",
        "resend" or "report".
      message_id: "<...@sender-domain>", from `make_message_id`.
      in_reply_to: Message-ID of the first message about this invoice, so the
        client's mail program threads reminders under the invoice.
      date: the Date header; None means now.
    """

    kind: str
    invoice_no: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[Path, ...]
    message_id: str
    in_reply_to: str | None = None
    date: datetime | None = None


@dataclass(frozen=True)
class BuiltMessage:
    """Everything needed to (re)send a message identically; the ledger stores it.

    Attributes:
      recipients: the envelope: to + cc + bcc, or the redirect_to addresses.
      raw: the exact RFC 5322 bytes (CRLF line ends).
      to, cc: the envelope addresses that are the message's To and Cc; the rest
        of `recipients` are blind copies (`bcc`). The message counts as
        delivered once every `to` address accepted it.
    """

    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()

    @property
    def smtputf8(self) -> bool:
        """The envelope needs a server that offers SMTPUTF8 (a non-ASCII local part)."""
        return any(needs_smtputf8(a) for a in (self.envelope_from, *self.recipients))

    @property
    def utf8_headers(self) -> bool:
        """Written with raw UTF-8 headers, for a server that offers SMTPUTF8 alone."""
        return not self.raw[: self.raw.find(b"\r\n\r\n")].isascii()

    def role(self, address: str) -> str:
        """ "to", "cc" or "bcc" (an old ledger row without roles counts every address as To)."""
        key = address.lower()
        if not self.to or key in {a.lower() for a in self.to}:
            return "to"
        return "cc" if key in {a.lower() for a in self.cc} else "bcc"


@dataclass(frozen=True)
class RecipientResult:
    """What the server said about one recipient of one message.

    Attributes:
      state: SENT (accepted), REFUSED (permanent: fix the address or the
        message), TEMPORARY (4xx: try again later) or UNKNOWN (the connection
        died after the message went out: it may have arrived).
      reply: the server's words, one line.
    """

    address: str
    state: str
    reply: str = ""


@dataclass(frozen=True)
class SendResult:
    """What happened to one attempt at one message, recipient by recipient.

    Attributes:
      recipients: one result per envelope address tried.
      reply: what the server said about the message as a whole, when it
        refused or lost it before any recipient mattered ("" otherwise).
      too_big: refused for its size; waiting will not help.
    """

    recipients: tuple[RecipientResult, ...]
    reply: str = ""
    too_big: bool = False
    #: the connection was gone before the server had heard of this message
    lost_early: bool = False

    def addresses(self, state: str) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients if r.state == state)

    @property
    def status(self) -> str:
        """SENT when every recipient accepted, REFUSED when any refused, else TEMPORARY."""
        states = {r.state for r in self.recipients}
        if states <= {SENT}:
            return SENT
        return REFUSED if REFUSED in states else TEMPORARY

    @property
    def refused(self) -> tuple[str, ...]:
        return self.addresses(REFUSED)

    @property
    def summary(self) -> str:
        """The server's words for everyone who did not accept, e.g. "x@y: 550 no such user"."""
        if self.reply:
            return self.reply
        return "; ".join(
            f"{r.address}: {r.reply}" for r in self.recipients if r.state != SENT and r.reply
        )


def every_recipient(
    addresses: Sequence[str], state: str, reply: str
) -> tuple[RecipientResult, ...]:
    return tuple(RecipientResult(a, state, reply) for a in addresses)


# -- addresses and headers ---------------------------------------------------------


def no_smtputf8(address: str, host: str) -> str:
    """Why the mail server `host`, which does not offer SMTPUTF8, cannot take `address`."""
    return (
        f"the address {address} has letters other than ASCII before the @, and the mail "
        f"server {host} does not accept such addresses (it does not offer SMTPUTF8); give "
        "the client an ASCII address, or send through a server that offers SMTPUTF8"
    )


def _checked_addresses(addresses: tuple[str, ...], field: str) -> tuple[str, ...]:
    checked = []
    for address in addresses:
        bare = bare_address(address)
        if bare is None:
            raise AddressError(f"{field} address {address!r} is not a valid email address.")
        checked.append(bare)
    return tuple(checked)


def config_addresses(text: str, option: str) -> tuple[str, ...]:
    """The addresses of an `[email]` option, read like a client's Email cell (RFC 5322)."""
    valid, invalid = parse_addresses(text)
    if invalid:
        raise AddressError(f"[email] {option} has an invalid address: {invalid[0]!r}.")
    return valid


def subject_line(text: str) -> str:
    """`text` without control characters, cut to SUBJECT_MAX characters with "…".

    >>> subject_line("Invoice 7 for Evil\\x1b[31m Ltd\\x07"), len(subject_line("L" * 3000))
    ('Invoice 7 for Evil[31m Ltd', 250)
    """
    text = _SUBJECT_CONTROL.sub("", text)
    if len(text) > SUBJECT_MAX:
        text = text[: SUBJECT_MAX - 1].rstrip() + "…"
    return text


def _check_header(name: str, value: str) -> str:
    # A line break in a header value would let text inject headers of its own:
    # the email package's folding also breaks lines at \v, \f, \x1c-\x1e, \x85,
    # \u2028 and \u2029 (str.splitlines), and writes no indent after them.
    if _LINE_BREAK.search(value):
        raise MailError(f"the {name} must be one line; it contains a line break.")
    return value


def sender_address(cfg: EmailConfig, company: CompanyInfo) -> str:
    """The From / envelope address: `[email] from`, else the company email."""
    address = cfg.sender or company.email
    if not address:
        raise AddressError("no sender address: set `from` in [email] or `email` in [company].")
    bare = bare_address(address)
    if bare is None:
        raise AddressError(f"the sender address {address!r} is not a valid email address.")
    return bare


def check_addresses(cfg: EmailConfig, company: CompanyInfo, sender: bool = True) -> None:
    """The sender and the Reply-To (unless `sender` is False: a run with nothing to mail
    needs neither) and every address `[email]` names (reply_to, bcc, redirect_to,
    report_to), checked before anything is numbered: a typo there would leave every
    message unsent."""
    if sender:
        reply_to_header(cfg, company, sender_address(cfg, company))
    elif cfg.reply_to:
        reply_to_header(cfg, company, "")
    for option in ("bcc", "redirect_to", "report_to"):
        try:
            config_addresses(getattr(cfg, option), option)
        except AddressError as exc:  # said under "billing.toml [email]:" by the caller
            raise AddressError(str(exc).removeprefix("[email] ")) from None


def reply_to_header(cfg: EmailConfig, company: CompanyInfo, envelope_from: str) -> str:
    """The Reply-To value, each address built as From is (`mailbox`): `[email] reply_to`,
    else the company email when it is not the sender's; "" for none.

    >>> cfg = EmailConfig(reply_to='"Büro Müller, Buchhaltung" <acc@пример.рф>')
    >>> reply_to_header(cfg, CompanyInfo(), "billing@ledgerwise.example")
    '=?utf-8?q?B=C3=BCro_M=C3=BCller=2C_Buchhaltung?= <acc@xn--e1afmkfd.xn--p1ai>'
    """
    if cfg.reply_to:
        text, option = cfg.reply_to, "reply_to"
    elif company.email and company.email != envelope_from:
        text, option = company.email, "[company] email"
    else:
        return ""
    mailboxes = []
    for piece in split_addresses(text):
        address = bare_address(piece)
        if address is None:
            raise AddressError(f"{option} has an invalid address: {piece!r}.")
        if needs_smtputf8(address):  # compat32 would hide it in an encoded word: no replies
            raise AddressError(
                f"{option} {address} has letters other than ASCII before the @, which a "
                "Reply-To cannot carry to every mail program; give an ASCII address."
            )
        mailboxes.append(mailbox("" if plain_address(piece) else _display_name(piece), address))
    return ", ".join(mailboxes)


def _display_name(text: str) -> str:
    """The display name of one mailbox `bare_address` reads ("" for none)."""
    return email.policy.default.header_factory("Reply-To", text).addresses[0].display_name


#: RFC 2047 words of a display name at most this long: within the 75 characters RFC 2047
#: allows, and short enough to follow "Reply-To: " on a line of compat32's 76.
_NAME_WORD = 66
_UTF8 = Charset("utf-8")
#: A display name's words, each with the spaces after it.
_NAME_PIECE = re.compile(r"\S+\s*|\s+")


def mailbox(name: str, address: str) -> str:
    """`address` with a display name, for From and Reply-To: an ASCII name quoted as
    RFC 5322 needs, any other in RFC 2047 words of at most `_NAME_WORD` characters (mail
    programs show them as one name; one word as long as the name would overrun RFC 2047's
    75 characters and, for a long name, the 998 of a line); the address in clear.

    >>> mailbox("Acme, Inc.", "billing@acme.example")
    '"Acme, Inc." <billing@acme.example>'
    >>> [len(w) for w in mailbox("Ледгервайз и партнёры " * 2, "b@l.example").split()]
    [44, 64, 40, 13]
    """
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    return f"{' '.join(_name_words(name))} <{address}>"


def _name_words(name: str) -> list[str]:
    """`name` in RFC 2047 words of at most `_NAME_WORD` characters, cut after a space where
    one fits: a reader that wrongly keeps the space between two words (Python's own
    `email.policy` does) then shows two spaces there, not one inside a word.

    >>> [str(make_header(decode_header(w))) for w in _name_words("Ледгервайз и партнёры " * 2)]
    ['Ледгервайз и ', 'партнёры Ледгервайз ', 'и партнёры ']
    """
    words: list[str] = []
    held = ""
    for piece in _NAME_PIECE.findall(name):
        if len(_UTF8.header_encode(held + piece)) <= _NAME_WORD:
            held += piece
            continue
        if held:
            words.append(_UTF8.header_encode(held))
        held = piece
        if len(_UTF8.header_encode(piece)) > _NAME_WORD:  # one long word: cut where it fills
            cut = _UTF8.header_encode_lines(piece, itertools.repeat(_NAME_WORD))
            words.extend(w for w in cut if w)
            held = ""
    if held:
        words.append(_UTF8.header_encode(held))
    return words


def make_message_id(cfg: EmailConfig, company: CompanyInfo) -> str:
    """A new, unique Message-ID in the sender's domain, e.g. `<1767..@acme.kz>`."""
    return make_msgid(domain=sender_address(cfg, company).rpartition("@")[2])


# -- building ---------------------------------------------------------------------


def readdressed(
    message: BuiltMessage, to: Sequence[str], cc: Sequence[str], cfg: EmailConfig
) -> BuiltMessage:
    """A kept message (the same bytes and Message-ID) on its way to the To and Cc addresses
    the client has now: a retry after some of its addresses refused it goes to the
    addresses the bookkeeper corrected since, not to the old ones (blind copies stay).

    Unchanged with `redirect_to` set (a test run: the envelope is not the client's),
    for a message recorded without its roles, or when the new addresses are not usable
    (the message then fails as before, and the Note says why).
    """
    if cfg.redirect_to or not message.to:
        return message
    try:
        new_to = _checked_addresses(tuple(to), "To")
        new_cc = not_among(_checked_addresses(tuple(cc), "Cc"), new_to)
    except MailError:
        return message
    if not new_to:
        return message
    old = {a.lower() for a in (*message.to, *message.cc)}
    blind = tuple(a for a in message.recipients if a.lower() not in old)
    recipients = (*new_to, *new_cc, *not_among(blind, new_to + new_cc))
    if (recipients, new_to, new_cc) == (message.recipients, message.to, message.cc):
        return message
    return replace(message, recipients=recipients, to=new_to, cc=new_cc)


def build_message(
    mail: OutgoingMail, cfg: EmailConfig, company: CompanyInfo, smtputf8: bool = True
) -> BuiltMessage:
    """Build the exact bytes of one message, with every header checked.

    With `redirect_to` set, the message goes only there, its subject prefixed
    with "[TEST for <original recipients>] ".

    `smtputf8` False: the server takes no address with letters other than ASCII
    before the @. A CC address with such letters is then left out of the Cc
    header, so the message is written for the To addresses in ASCII; it stays
    among the recipients, the sender refuses it alone (`SmtpSender`), and the run
    reports it as a refused copy.
    """
    envelope_from = sender_address(cfg, company)
    to = _checked_addresses(mail.to, "To")
    cc = not_among(_checked_addresses(mail.cc, "Cc"), to)
    if not to:
        raise AddressError(f"{mail.invoice_no}: the message has no recipient.")
    bcc = config_addresses(cfg.bcc, "bcc")
    subject = subject_line(mail.subject)
    if cfg.redirect_to:
        subject = f"[TEST for {', '.join(to + cc)}] {subject}"
        to, cc, bcc = config_addresses(cfg.redirect_to, "redirect_to"), (), ()
    shown = cc if smtputf8 else tuple(a for a in cc if not needs_smtputf8(a))
    headers = _headers(mail, cfg, company, envelope_from, to, shown, subject)
    _check_attachments(mail.attachments)
    recipients = (*to, *cc, *not_among(bcc, to + cc))
    # An address with a non-ASCII local part cannot be RFC 2047-encoded: such a
    # message carries raw UTF-8 headers and needs a server that offers SMTPUTF8.
    utf8 = any(needs_smtputf8(a) for a in to + shown)
    policy = SMTPUTF8_SMTP if utf8 else COMPAT32_SMTP
    boundaries = (new_boundary(), new_boundary())
    if writable(mail.attachments):
        raw = written_bytes(mail, headers, policy, boundaries)
    else:
        raw = generated_bytes(mail, envelope_from, to, headers, policy, boundaries)
    return BuiltMessage(mail.message_id, envelope_from, recipients, raw, to, cc)


def not_among(addresses: Sequence[str], others: Sequence[str]) -> tuple[str, ...]:
    """`addresses` less those among `others` in any case: one mailbox in Email and CC
    (`ap@x.example`, `AP@x.example`) is one recipient, given one copy, shown once.

    >>> not_among(("AP@x.example", "b@x.example"), ("ap@x.example",))
    ('b@x.example',)
    """
    given = {a.lower() for a in others}
    return tuple(a for a in addresses if a.lower() not in given)


def new_boundary() -> str:
    """A multipart boundary in the email generator's own form, drawn at random.

    Left to the generator, a boundary is searched for in the whole flattened
    text, a third of the time `as_bytes` takes. The search cannot succeed
    here: every leaf part is base64 (no "-" in its alphabet) and a header line
    never starts with "--", so no line reads "--" + boundary.
    """
    return "=" * 15 + f"{secrets.randbelow(sys.maxsize):019d}" + "=="


def writable(attachments: Sequence[Path]) -> bool:
    """`written_bytes` knows the parts yagmail makes for these attachments: .docx and .pdf."""
    return all(path.suffix.lower() in ATTACHMENT_TYPES for path in attachments)


def written_bytes(
    mail: OutgoingMail, headers: Mapping[str, str], policy: Policy, boundaries: tuple[str, str]
) -> bytes:
    """The bytes `generated_bytes` makes, written directly (`mime.flatten`).

    For `writable` attachments; they carry the tree yagmail and the email
    package assemble, header for header, without the cost of assembling it
    (MIMEText's charset machinery, yagmail's guessing, a second base64 pass)
    and of the generator's many small writes. tests/test_mail_fast.py holds
    the two to the same bytes.
    """
    outer, inner = boundaries
    bodies = [_text_part("plain", mail.text)]
    if mail.html:
        bodies.append(_text_part("html", mail.html))
    alternative = mime.Multipart(
        (("Content-Type", f'multipart/alternative; boundary="{inner}"'), _MIME_VERSION),
        inner,
        tuple(bodies),
    )
    attached = tuple(
        mime.Leaf(
            (_MIME_VERSION, ("Content-Transfer-Encoding", "base64"), *_attachment_labels(path)),
            path.read_bytes(),
        )
        for path in mail.attachments
    )
    top = (("Content-Type", f'multipart/mixed; boundary="{outer}"'), _MIME_VERSION)
    mixed = mime.Multipart(
        (*top, *((name, value) for name, value in headers.items() if value)),
        outer,
        (alternative, *attached),
    )
    return mime.flatten(mixed, policy)


_MIME_VERSION = ("MIME-Version", "1.0")


def _text_part(subtype: str, text: str) -> mime.Leaf:
    """A body as `MIMEText(text, subtype, "utf-8")` holds it."""
    headers = (
        ("Content-Type", f'text/{subtype}; charset="utf-8"'),
        _MIME_VERSION,
        ("Content-Transfer-Encoding", "base64"),
    )
    return mime.Leaf(headers, text.encode("utf-8"))


def generated_bytes(
    mail: OutgoingMail,
    envelope_from: str,
    to: tuple[str, ...],
    headers: Mapping[str, str],
    policy: Policy,
    boundaries: tuple[str, str],
) -> bytes:
    """The message as yagmail assembles it and the email package's generator writes it.

    The way for attachments other than .docx and .pdf (yagmail treats some
    kinds its own way, images with a preamble), and the measure
    `written_bytes` is tested against.
    """
    msg = _assemble(mail, envelope_from, to)
    _set_boundaries(msg, boundaries)
    for name, value in headers.items():
        del msg[name]
        if value:
            msg[name] = value
    return msg.as_bytes(policy=policy)


def _set_boundaries(msg: Message, boundaries: Sequence[str]) -> None:
    """The given boundaries for the multiparts, in order, set before flattening (`new_boundary`)."""
    multiparts = [part for part in msg.walk() if part.is_multipart()]
    for part, boundary in zip(multiparts, boundaries, strict=True):
        part.set_boundary(boundary)


def _headers(
    mail: OutgoingMail,
    cfg: EmailConfig,
    company: CompanyInfo,
    envelope_from: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    subject: str,
) -> dict[str, str]:
    if mail.kind not in MAIL_KINDS:
        raise MailError(f"unknown kind of mail {mail.kind!r}; kinds: {', '.join(MAIL_KINDS)}.")
    for name, value in (("Message-ID", mail.message_id), ("In-Reply-To", mail.in_reply_to)):
        if value is not None and not _MESSAGE_ID_RE.fullmatch(value):
            raise MailError(f"the {name} {value!r} is not of the form <id@domain>.")
    date = mail.date or datetime.now().astimezone()
    values = {
        "From": mailbox(cfg.from_name or company.name, envelope_from),
        "Reply-To": reply_to_header(cfg, company, envelope_from),
        "To": ", ".join(to),
        "Cc": ", ".join(cc),
        "Subject": subject,
        "Date": format_datetime(date if date.tzinfo else date.astimezone()),
        "Message-ID": mail.message_id,
        "In-Reply-To": mail.in_reply_to or "",
        "References": mail.in_reply_to or "",
        INVOICE_HEADER: mail.invoice_no,
        KIND_HEADER: mail.kind,
    }
    _check_header("sender name", cfg.from_name or company.name)
    return {name: _check_header(name, value) for name, value in values.items()}


def _check_attachments(attachments: Sequence[Path]) -> None:
    for path in attachments:
        if not isinstance(path, Path):
            # yagmail attaches any string that happens to name a file.
            raise MailError(f"attachment {path!r} must be a Path.")
        if not path.is_file():
            raise MailError(f"the attachment {path} does not exist.")


def _assemble(mail: OutgoingMail, envelope_from: str, to: tuple[str, ...]) -> MIMEMultipart:
    from yagmail.message import prepare_message  # ~0.15 s to import: not for idle runs

    # yagmail gets no body strings: it would attach a body that names a file, and
    # it puts every content into both the text and the HTML part.
    msg = prepare_message(
        envelope_from,
        envelope_from,
        {"recipients": list(to), "To": ", ".join(to)},
        None,
        None,
        list(mail.attachments) or None,
        None,
        "utf-8",
        prettify_html=False,
        message_id=mail.message_id,
    )
    parts = msg.get_payload()
    alternative, attached = parts[0], parts[1:]
    bodies = [MIMEText(mail.text, "plain", "utf-8")]
    if mail.html:
        bodies.append(MIMEText(mail.html, "html", "utf-8"))
    alternative.set_payload(bodies)
    for part, path in zip(attached, mail.attachments, strict=True):
        _label_attachment(part, path)
    return msg


def _label_attachment(part: Message, path: Path) -> None:
    content_type, fallback, disposition = _attachment_names(path)
    for header in ("Content-Type", "Content-Disposition"):
        del part[header]
    part.add_header("Content-Type", content_type, name=fallback)
    part["Content-Disposition"] = disposition


def _attachment_labels(path: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    """The Content-Type and Content-Disposition `_label_attachment` gives the file."""
    content_type, fallback, disposition = _attachment_names(path)
    # Message.add_header's form of name=: quoted, nothing to escape (the stand-in
    # holds no quote or backslash), never empty (it keeps the .docx or .pdf).
    content = f'{content_type}; name="{fallback}"'
    return ("Content-Type", content), ("Content-Disposition", disposition)


def _attachment_names(path: Path) -> tuple[str, str, str]:
    """(content type, ASCII stand-in for the name, Content-Disposition) of an attachment."""
    content_type = ATTACHMENT_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    fallback = ascii_filename(path.name)
    disposition = f'attachment; filename="{fallback}"'
    if fallback != path.name:
        # RFC 2231/6266: mail programs that read `filename*` show the real name,
        # older ones the ASCII `filename` beside it.
        disposition += f"; filename*=utf-8''{quote(path.name, safe='')}"
    return content_type, fallback, disposition


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for a file name, for mail programs that do not read `filename*`:
    transliterated (anyascii, ISC licence), so a Cyrillic client name stays readable.

    >>> ascii_filename("Счёт INV-7.docx"), ascii_filename("ТОО Қазақ-2026-03-31.docx")
    ('Schet INV-7.docx', 'TOO Qazaq-2026-03-31.docx')
    >>> ascii_filename("Facture été.pdf")
    'Facture ete.pdf'
    """
    from anyascii import anyascii

    plain = anyascii(unicodedata.normalize("NFC", name))
    return re.sub(r'["\\\x00-\x1f\x7f/:*?<>|]', "_", plain) or "attachment"


# -- rendering --------------------------------------------------------------------


def render_email(
    kind: str,
    language: str,
    context: Mapping[str, str],
    template_dir: Path | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) from `<template_dir>/<lang>/<kind>.subject|.txt|.html`.

    `template_dir` is a folder's own email templates, one folder per language;
    each file it lacks is the bundled one (TEMPLATE_DIR). A language without this
    kind's three templates falls back to English. Values are shown literally:
    HTML-escaped in the .html part, never evaluated.
    """
    if kind not in TEMPLATE_KINDS:
        raise MailError(f"no email templates for {kind!r}; kinds: {', '.join(TEMPLATE_KINDS)}.")
    env = _environment(_resolved(template_dir or TEMPLATE_DIR))
    lang = language if _has_templates(env, language, kind) else FALLBACK_LANGUAGE
    subject, text, html = (
        _render(env, f"{lang}/{kind}.{ext}", context) for ext in ("subject", "txt", "html")
    )
    return " ".join(subject.split()), text, html


@functools.lru_cache(maxsize=8)
def _resolved(folder: Path) -> Path:
    """The template folder's real path (one per folder: resolving costs a system call a level)."""
    return folder.resolve()


def _has_templates(env: jinja2.Environment, language: str, kind: str) -> bool:
    """All three templates of the kind are there in the language's folder (the
    folder's own or the bundled one, file by file).

    Asked of the environment's loader, which keeps what it found while the file
    is unchanged (the look-up the render makes anyway). A template that is there
    but does not load counts as there: rendering it says what is wrong.
    """
    if not re.fullmatch(r"[a-z]{2,3}", language):
        return False
    for ext in ("subject", "txt", "html"):
        try:
            env.get_template(f"{language}/{kind}.{ext}")
        except jinja2.TemplateNotFound:
            return False
        except Exception:  # not this check's to report
            continue
    return True


class NotText(MailError):
    """An email template that is not UTF-8 text (Notepad's "Unicode", UTF-16)."""


class Unopenable(MailError):
    """An email template that is there but cannot be read (no permission to read it, held
    by another program): never the bundled text in its place, and never "missing"."""


class _EmailLoader(jinja2.BaseLoader):
    """A folder's own email templates (`own`), file by file, whatever the case of their
    names (`upgrade.own_file`); each one it lacks is the bundled template, so that a folder
    may keep only the one it changed. One that is an earlier version's own text, never
    edited, is read as the bundled template of today (`upgrade.current`). A template is
    UTF-8 text; a byte-order mark at its start (Notepad's "UTF-8 with BOM") is not part of it.
    """

    def __init__(self, own: Path) -> None:
        self.folders = (own,) if own == TEMPLATE_DIR else (own, TEMPLATE_DIR)

    def file(self, template: str) -> Path | None:
        """The file read for `template` ("en/invoice.txt", "_layout.html"), else None."""
        pieces = split_template_path(template)
        for folder in self.folders:
            path = own_file(folder, "/".join(pieces))
            if path is not None and path.is_file():
                return current(path, f"email/{template}") if folder != TEMPLATE_DIR else path
        return None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.file(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        # The file unchanged, and no other put in its place: the folder's own folders on its
        # way unchanged too (a file added or renamed there changes their time).
        watched = (str(path), *map(str, self._own_folders(template)))
        times = _times(watched)
        try:
            source = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:  # gone since it was found
            raise jinja2.TemplateNotFound(template) from None
        except OSError as exc:
            raise Unopenable(
                f"the email template {path} cannot be opened ({exc.strerror}): close it in the "
                "program that holds it, or give your user access to it."
            ) from None
        except UnicodeDecodeError:
            raise NotText(
                f"the email template {path} is not saved as UTF-8 text: open it in Notepad, "
                "choose File > Save As, set Encoding to UTF-8 and save it in its place."
            ) from None
        return source, str(path), lambda: _times(watched) == times

    def _own_folders(self, template: str) -> list[Path]:
        """The folder's own folders a look-up of `template` goes through ("en/invoice.txt":
        the email folder and its en/), those there."""
        folders = [self.folders[0]]
        for piece in split_template_path(template)[:-1]:
            inner = own_file(folders[-1], piece)
            if inner is None:
                break
            folders.append(inner)
        return folders

    def list_templates(self) -> list[str]:
        """The names of the folder's own templates (lower case, as the run asks for them)."""
        own = self.folders[0]
        return sorted(
            {p.relative_to(own).as_posix().casefold() for p in own.rglob("*") if p.is_file()}
        )


def _times(paths: Sequence[str]) -> list[int | None]:
    """When each file or folder was last changed; None for one not there."""
    times: list[int | None] = []
    for path in paths:
        try:
            times.append(os.stat(path).st_mtime_ns)
        except OSError:
            times.append(None)
    return times


@functools.lru_cache(maxsize=8)
def _environment(own: Path, undefined: type[jinja2.Undefined] = jinja2.StrictUndefined) -> Any:
    """The sandbox (sandbox.py) over a folder's own templates and the bundled ones
    (`_EmailLoader`); `undefined` relaxed for checks."""
    return sandbox.environment(
        loader=_EmailLoader(own),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=undefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _file(env: jinja2.Environment, name: str) -> Path:
    """The file the template `name` is read from, to name it in a message."""
    loader = env.loader
    assert isinstance(loader, _EmailLoader)
    return loader.file(name) or loader.folders[0] / name


def vet_email_templates(template_dir: Path) -> None:
    """Try every one of a folder's own email templates once, before anything is numbered:
    a template that cannot be used stops the run (exit 2) naming it, rather than failing
    every email.

    Refused: a file that is not UTF-8 text; a syntax error; a name the emails do not
    give (`{{ clinet_name }}`), unless the template shows it only when it is there
    (`is defined`, `|default`); and, rendered on sample data (each name it shows
    given a sample text, so that what sits under `{% if %}` is tried too), reaching
    beyond its data, making too much, or taking too long. Other faults on sample
    data are left to the real data.
    """
    from jinja2 import meta

    env = _environment(template_dir.resolve(), jinja2.ChainableUndefined)
    for name in env.list_templates(filter_func=lambda n: n.endswith((".subject", ".txt", ".html"))):
        path = _file(env, name)
        try:
            tree = env.parse(env.loader.get_source(env, name)[0])
        except (NotText, Unopenable) as exc:
            raise UnusableError(str(exc)) from None
        except jinja2.TemplateSyntaxError as exc:
            raise _unreadable(path, exc) from None
        except Exception:
            continue  # gone since it was listed, say: told by the message that uses it
        call = sandbox.unknown_call(env, [tree])
        if call is not None:
            raise call.refusal(
                path,
                f"line {call.lineno}",
                "correct it in the template, or take a fresh copy from `run-billing init` in a "
                "new folder.",
            )
        try:
            shown = meta.find_undeclared_variables(tree)
        except jinja2.TemplateSyntaxError as exc:  # Jinja's own checks as it compiles
            raise _unreadable(path, exc) from None
        kind = Path(name).name.split(".")[0]  # "_layout": a file every email takes in
        known = EMAIL_NAMES.get(kind, _EVERY_EMAIL)
        unknown = sorted(shown - known - env.globals.keys() - sandbox.guarded_names([tree]))
        if unknown:
            raise _not_there(path, kind, unknown)
        try:
            with sandbox.time_limit(path):
                rendered = _render(env, name, dict.fromkeys(shown, "1"))
            if not rendered.strip() and not kind.startswith("_"):
                raise _empty(path, kind)
        except sandbox.TemplateRefusedError:
            raise
        except MissingPart as exc:
            told = str(exc).replace(f"template {name} ", f"template {path} ", 1)
            raise UnusableError(f"{told} Add it, or take that part out.") from None
        except (NotText, Unopenable) as exc:  # a part it takes in
            raise UnusableError(str(exc)) from None
        except UnusableError:
            raise
        except Exception as exc:  # on sample data anything may fail; real data is the real test
            if (ran_away := sandbox.runaway(path, exc)) is not None:
                raise ran_away from None


def _empty(template: Path, kind: str) -> UnusableError:
    """The refusal of an email template with nothing in it (an emptied subject or text)."""
    part = {".subject": "no subject", ".txt": "an empty text", ".html": "an empty HTML part"}
    return UnusableError(
        f"the template {template} is empty: every {kind} email would go out with "
        f"{part.get(template.suffix, 'an empty part')}. Write its text, or take a fresh copy "
        "from `run-billing init` in a new folder."
    )


#: The names every email has, whatever its kind: all a file every email takes in may show.
_EVERY_EMAIL = frozenset.intersection(*EMAIL_NAMES.values())


def _not_there(template: Path, kind: str, names: Sequence[str]) -> UnusableError:
    """The refusal of a template that shows `names` its emails do not have: a typo (no
    email has it), or a name an email of its `kind` has no value for."""
    typos = [name for name in names if name not in CONTEXT_KEYS]
    if typos:
        known = sorted(EMAIL_NAMES.get(kind, CONTEXT_KEYS))
        near = difflib.get_close_matches(typos[0], known, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        return UnusableError(
            f"the template {template} shows {', '.join(typos)}, which an email does not "
            f"have{hint}: correct the name in the template, or take a fresh copy from "
            "`run-billing init` in a new folder."
        )
    if kind in EMAIL_KIND_WORDS:
        which = f"{EMAIL_KIND_WORDS[kind]} does not have"
    else:
        lacking = next(k for k, has in EMAIL_NAMES.items() if names[0] not in has)
        which = f"not every email has ({EMAIL_KIND_WORDS[lacking]} does not)"
    return UnusableError(
        f"the template {template} shows {', '.join(names)}, which {which}: take it out of "
        f"the template, or show it only when it is there ({{% if {names[0]} is defined %}}"
        "...{% endif %})."
    )


def _unreadable(template: Path, exc: jinja2.TemplateSyntaxError) -> UnusableError:
    return UnusableError(
        f"the template {template} cannot be read: {exc.message} (line {exc.lineno}); correct "
        "it, or take a fresh copy from `run-billing init` in a new folder."
    )


def _render(env: jinja2.Environment, name: str, context: Mapping[str, str]) -> str:
    try:
        template = env.get_template(name)
        with sandbox.time_limit(template.filename or name, real=True):
            return template.render(dict(context))
    except sandbox.SecurityError as exc:
        raise sandbox.refused(_file(env, name), exc) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise sandbox.runaway(_file(env, name), exc) or exc from None
    except jinja2.TemplateNotFound as exc:
        if exc.name not in (None, name):  # one it takes in: {% include "x.txt" %}
            raise MissingPart(
                f"the email template {name} takes in {exc.name}, which is not in the email "
                "templates' folder."
            ) from None
        raise MailError(f"the email template {name} is missing.") from None
    except jinja2.UndefinedError as exc:
        raise MailError(f"the email template {name} needs a value: {exc.message}.") from None
    except jinja2.TemplateSyntaxError as exc:
        raise MailError(f"the email template {name}, line {exc.lineno}: {exc.message}.") from None
    except jinja2.TemplateError as exc:  # a filter or test it lacks, met only on this data
        raise sandbox.broken(_file(env, name), exc) from None


# -- senders ----------------------------------------------------------------------


class Sender(Protocol):
    """Delivers built messages; used as a context manager around a batch.

    `send` makes one attempt at one message for the given envelope recipients
    (all of them by default) and says what happened to each; waiting and
    retrying are the caller's (`automation.delivery`).
    """

    def __enter__(self) -> Sender: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, msg: BuiltMessage, recipients: Sequence[str] | None = None) -> SendResult: ...

    @property
    def smtputf8(self) -> bool:
        """Addresses with a non-ASCII local part can be delivered."""
        ...


class OutboxSender:
    """Writes each message as `<invoice>-<kind>-<message id>.eml` into a folder.

    The same Message-ID always lands in the same file, so a resend overwrites.
    """

    smtputf8 = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> OutboxSender:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def send(self, msg: BuiltMessage, recipients: Sequence[str] | None = None) -> SendResult:
        path = self.folder / eml_name(msg)
        partial = path.with_suffix(".eml.part")
        # The blind copies ([email] bcc) are in the envelope only; the file is what your mail
        # program sends, so it names them in a Bcc header, as a draft does.
        blind = [a for a in msg.recipients if msg.role(a) == "bcc"]
        bcc = f"Bcc: {', '.join(blind)}\r\n".encode() if blind else b""
        partial.write_bytes(bcc + msg.raw)
        os.replace(partial, path)
        wanted = msg.recipients if recipients is None else tuple(recipients)
        return SendResult(every_recipient(wanted, SENT, f"written to {path}"))


def eml_name(msg: BuiltMessage) -> str:
    """A safe, stable file name for a message, from its own headers."""
    headers = BytesHeaderParser().parsebytes(msg.raw)

    def text(name: str) -> str:  # an invoice number in Cyrillic is an encoded word there
        return str(make_header(decode_header(str(headers.get(name, "")))))

    pieces = (
        text(INVOICE_HEADER),
        text(KIND_HEADER),
        msg.message_id.strip("<>").split("@")[0],
    )
    safe = (_UNSAFE_FILENAME.sub("_", p).strip("._")[:60] for p in pieces)
    return storable_name("-".join(p for p in safe if p)) + ".eml"


class _TrackedSMTP(smtplib.SMTP):
    """smtplib.SMTP that notes when the message body has gone out.

    smtplib sends commands as str and only the DATA payload as bytes, so a
    bytes send marks the point after which a lost connection leaves delivery
    unknown and a resend could duplicate the message.
    """

    body_sent = False

    def send(self, s: Any) -> None:
        super().send(s)
        if isinstance(s, bytes):
            self.body_sent = True


class _TrackedSMTPSSL(_TrackedSMTP, smtplib.SMTP_SSL):
    """Implicit TLS (port 465) with the same tracking."""


class SmtpSender:
    """One authenticated SMTP connection for a whole batch, reopened if it drops.

    `__enter__` connects and logs in, so a bad password raises MailLoginError
    before anything is sent. `send` is one SMTP transaction (MAIL, one RCPT
    per recipient, DATA) and reports each recipient's fate; it never waits or
    retries itself. A connection lost after the message went out leaves those
    recipients UNKNOWN: it may have arrived, so only an identical resend is safe.

    With a `sign_in` (auth = "oauth2") `__enter__` first refreshes the access
    token; sessions sign in with XOAUTH2, and a new session is opened when the
    token nears its end or the server stops accepting it.
    """

    def __init__(self, cfg: EmailConfig, sign_in: SignIn | None = None) -> None:
        self.cfg = cfg
        self._sign_in = sign_in
        #: the connection has carried no message yet (a refusal on it is not stale)
        self._fresh = False
        self._gone = ""  # why the sign-in was refused mid-batch: the rest fail at once
        self._password = ""
        self._conn: _TrackedSMTP | None = None
        self._smtputf8 = False  # what the last connection's server offered
        # A zero timeout would make smtplib's sockets non-blocking, not patient.
        self._timeout = cfg.timeout if cfg.timeout > 0 else EmailConfig.timeout

    def __enter__(self) -> SmtpSender:
        check_security(self.cfg)
        if self._sign_in is not None:
            try:
                self._sign_in.current()  # a refused sign-in stops the run here, before numbering
            except OAuthError as exc:
                raise MailLoginError(str(exc)) from None
        elif self.cfg.username:
            self._password = smtp_password(self.cfg)
        self._conn = self._connect()
        self._fresh = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()

    @property
    def smtputf8(self) -> bool:
        return self._smtputf8

    def send(self, msg: BuiltMessage, recipients: Sequence[str] | None = None) -> SendResult:
        wanted = tuple(msg.recipients if recipients is None else recipients)
        reused = self._conn is not None and not self._fresh
        result = self._send_once(msg, wanted)
        if reused and self._conn is None and result.lost_early:
            # The session the server had ended (idle timeout, 421 closing, an
            # access token no longer accepted) took nothing: a new session tries
            # at once; this is no retry of a refusal.
            result = self._send_once(msg, wanted)
        self._fresh = False
        return result

    def _send_once(self, msg: BuiltMessage, wanted: tuple[str, ...]) -> SendResult:
        if self._gone:  # asking the provider again for every message would not help
            return SendResult(every_recipient(wanted, REFUSED, self._gone), self._gone)
        try:
            conn = self._connection()
        except SignInGone as exc:  # revoked during the batch: final, not "try later"
            self._gone = str(exc)
            return SendResult(every_recipient(wanted, REFUSED, self._gone), self._gone)
        except MailLoginError as exc:
            return SendResult(every_recipient(wanted, TEMPORARY, str(exc)), str(exc))
        conn.body_sent = False
        results: dict[str, RecipientResult] = {}
        try:
            conn.ehlo_or_helo_if_needed()
            limit = _size_limit(conn)
            if limit and len(msg.raw) > limit:
                reply = self._too_big(len(msg.raw), limit, "")
                return SendResult(every_recipient(wanted, REFUSED, reply), reply, too_big=True)
            return self._transaction(conn, msg, wanted, results)
        except smtplib.SMTPServerDisconnected as exc:
            return self._lost(conn, exc, wanted, results)
        except smtplib.SMTPNotSupportedError as exc:
            reply = _describe(exc)
            self._reset(conn)
            return SendResult(every_recipient(wanted, REFUSED, reply), reply)
        except OSError as exc:
            return self._lost(conn, exc, wanted, results)

    def _transaction(
        self,
        conn: _TrackedSMTP,
        msg: BuiltMessage,
        wanted: tuple[str, ...],
        results: dict[str, RecipientResult],
    ) -> SendResult:
        options = []
        if conn.has_extn("size"):
            options.append(f"SIZE={len(msg.raw)}")
        if msg.smtputf8 and conn.has_extn("smtputf8"):
            options.append("SMTPUTF8")
            if conn.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
        text: bytes | str
        if not conn.has_extn("smtputf8"):  # such an address alone is refused: the rest go
            results.update(
                (a, RecipientResult(a, REFUSED, no_smtputf8(a, self.cfg.host)))
                for a in wanted
                if needs_smtputf8(a)
            )
            if len(results) == len(wanted):
                return SendResult(tuple(results[a] for a in wanted))
        code, text = conn.mail(msg.envelope_from, options)
        if code != 250:
            result = self._whole_message(conn, code, text, len(msg.raw), wanted, at_data=False)
            if code in (530, 535) and self._sign_in is not None:
                # The session's token is no longer accepted: a new session signs in afresh.
                self._drop(conn)
                reply = self._answer(code, text)
                return SendResult(every_recipient(wanted, TEMPORARY, reply), reply, lost_early=True)
            if code >= 500 and not result.too_big:  # refused before any client was named
                reply = _mail_from_refused(msg.envelope_from, result.reply)
                return SendResult(every_recipient(wanted, REFUSED, reply), reply)
            return replace(result, lost_early=code == 421)
        accepted: list[str] = []
        for address in (a for a in wanted if a not in results):
            code, text = conn.rcpt(address)
            if code in (250, 251):
                accepted.append(address)
                continue
            results[address] = RecipientResult(address, _state(code), self._answer(code, text))
            if code == 421:  # the server is closing: the rest must wait
                self._drop(conn)
                closing = self._answer(code, text)
                for rest in wanted:
                    results.setdefault(rest, RecipientResult(rest, TEMPORARY, closing))
                return SendResult(tuple(results[a] for a in wanted))
        if not accepted:
            self._reset(conn)
            return SendResult(tuple(results[a] for a in wanted))
        try:
            code, text = conn.data(msg.raw)
        except smtplib.SMTPDataError as exc:
            code, text = exc.smtp_code, exc.smtp_error
        if code != 250:
            whole = self._whole_message(conn, code, text, len(msg.raw), tuple(accepted))
            results.update((r.address, r) for r in whole.recipients)
            return SendResult(tuple(results[a] for a in wanted), whole.reply, whole.too_big)
        for address in accepted:
            results[address] = RecipientResult(address, SENT, self._answer(code, text))
        return SendResult(tuple(results[a] for a in wanted))

    def _whole_message(
        self,
        conn: _TrackedSMTP,
        code: int,
        text: bytes | str,
        size: int,
        who: tuple[str, ...],
        at_data: bool = True,
    ) -> SendResult:
        """MAIL or DATA refused: the same answer for every recipient of the message."""
        reply = self._answer(code, text)
        too_big = _for_its_size(code, reply)
        if too_big and code >= 500:
            reply = self._too_big(size, _size_limit(conn), reply)
        elif at_data and _mailbox_full(reply):  # at MAIL FROM: the account's, not a mailbox
            reply = (
                f"the recipient's mailbox is full ({reply}); the next run tries again (ask "
                "the client to make room, or give another address)"
            )
        if code == 421:
            self._drop(conn)
        else:
            self._reset(conn)
        return SendResult(every_recipient(who, _state(code), reply), reply, too_big and code >= 500)

    def _too_big(self, size: int, limit: int, reply: str) -> str:
        said = f" ({reply})" if reply else ""
        if limit and size > limit:
            shown, allowed = _two_sizes(size, limit)
            most = f"accepts at most {allowed} (its SIZE limit)"
        else:
            shown, most = _megabytes(size), "refused it for its size"
        smaller = (
            "make the attachment smaller (fewer or smaller pictures in the template), or ask "
            "the mail provider for a larger limit"
        )
        # A PDF of a .docx can be twice its size or more (fonts, pictures): never advised
        # as the cure. Dropping the .docx of "both" always makes the message smaller.
        advice = {
            "docx": f'{smaller}; a PDF instead (attach = "pdf" in [email]) may be smaller '
            "or larger than the .docx",
            "both": f'send the PDF alone (attach = "pdf" in [email]), or {smaller}',
        }.get(self.cfg.attach, smaller)
        return f"the message is {shown} and {self.cfg.host} {most}{said}; {advice}"

    def _lost(
        self,
        conn: _TrackedSMTP,
        exc: BaseException,
        wanted: tuple[str, ...],
        results: dict[str, RecipientResult],
    ) -> SendResult:
        # No QUIT: on a stalled connection it would wait out another timeout.
        conn.close()
        self._conn = None
        if conn.body_sent:
            reply = (
                f"connection lost after the message was handed over ({_describe(exc)}); "
                "not resent now in case it arrived"
            )
            state = UNKNOWN
        else:
            reply, state = f"connection lost ({_describe(exc)})", TEMPORARY
        early = not conn.body_sent and not results
        for address in wanted:
            results.setdefault(address, RecipientResult(address, state, reply))
        return SendResult(tuple(results[a] for a in wanted), reply, lost_early=early)

    def _reset(self, conn: _TrackedSMTP) -> None:
        """Leave the connection ready for the next message, or forget it."""
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop(conn)

    def _drop(self, conn: _TrackedSMTP) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None

    def _connection(self) -> _TrackedSMTP:
        if self._conn is not None and self._sign_in is not None and self._sign_in.expiring():
            self.close()  # a session cannot sign in twice: the next one uses a new token
        if self._conn is None:
            self._conn = self._connect()
            self._fresh = True
        return self._conn

    def _connect(self) -> _TrackedSMTP:
        cfg = self.cfg
        where = f"{cfg.host}:{cfg.effective_port}"
        try:
            conn = self._open()
            conn.ehlo_or_helo_if_needed()  # what the server offers (SIZE, SMTPUTF8) is known now
        except ssl.SSLCertVerificationError as exc:
            raise MailLoginError(
                f"the certificate of {where} could not be verified ({exc.verify_message}); "
                "set ca_file in [email] if the server uses a private CA."
            ) from None
        except ssl.SSLError as exc:
            if not _no_tls_there(exc):
                raise MailLoginError(f"cannot connect to {where}: {_describe(exc)}.") from None
            raise MailLoginError(  # no TLS spoken there: the port and security disagree
                f"cannot connect to {where}: {_describe(exc)}. The server does not answer in "
                f'TLS the way security = "{cfg.security}" expects: port 465 takes "ssl", port '
                '587 (or 25) takes "starttls"; set the pair your provider gives.'
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailLoginError(f"cannot connect to {where}: {_describe(exc)}.") from None
        self._smtputf8 = conn.has_extn("smtputf8")
        if not cfg.username:
            return conn
        try:
            if self._sign_in is not None:
                self._login_xoauth2(conn)
            else:
                conn.login(cfg.username, self._password)
        except SignInRefused as exc:
            conn.close()
            raise SignInGone(str(exc)) from None
        except OAuthError as exc:
            conn.close()
            raise MailLoginError(str(exc)) from None
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            hint = (
                " The sign-in service accepted the mailbox but the mail server did not: check "
                "that SMTP AUTH is enabled for it and that you signed in as "
                f"{cfg.username}; then {SIGN_IN_AGAIN}."
                if self._sign_in is not None
                else ""
            )
            raise MailLoginError(
                f"{where} refused the login for {cfg.username}: "
                f"{exc.smtp_code} {self._scrub(_text(exc.smtp_error))}.{hint}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise MailLoginError(
                f"cannot log in to {where}: {self._scrub(_describe(exc))}."
            ) from None
        return conn

    def _login_xoauth2(self, conn: _TrackedSMTP) -> None:
        """SASL XOAUTH2; a token the server refuses is refreshed once and tried again."""
        sign_in = self._sign_in
        assert sign_in is not None
        conn.ehlo_or_helo_if_needed()
        offered = conn.esmtp_features.get("auth", "").upper().split()
        if "XOAUTH2" not in offered:
            raise smtplib.SMTPNotSupportedError(
                f"it offers no AUTH XOAUTH2, only {' '.join(offered) or 'no AUTH at all'}"
            )
        token, fresh = sign_in.current()
        try:
            conn.auth("XOAUTH2", _XOAuth2(self.cfg.username, token))
        except smtplib.SMTPAuthenticationError:
            if fresh:
                raise
            conn.auth("XOAUTH2", _XOAuth2(self.cfg.username, sign_in.renew(token)))

    def _open(self) -> _TrackedSMTP:
        cfg = self.cfg
        context = tls_context(cfg)
        if cfg.security == "ssl":
            return _TrackedSMTPSSL(
                cfg.host, cfg.effective_port, timeout=self._timeout, context=context
            )
        conn = _TrackedSMTP(cfg.host, cfg.effective_port, timeout=self._timeout)
        if cfg.security == "starttls":
            try:
                conn.ehlo()
                conn.starttls(context=context)
                conn.ehlo()
            except BaseException:
                conn.close()
                raise
        return conn

    def _answer(self, code: int, text: bytes | str) -> str:
        """A server's reply as kept in Note, the ledger and the log: never a secret in it
        (a server may quote the command it refuses)."""
        return self._scrub(_reply(code, text))

    def _scrub(self, text: str) -> str:
        hidden = (self._password, *(self._sign_in.hidden() if self._sign_in else ()))
        if self._password:  # as AUTH PLAIN and AUTH LOGIN send it, should a server quote them
            plain = f"\0{self.cfg.username}\0{self._password}"
            hidden += tuple(b64encode(s.encode()).decode() for s in (plain, self._password))
        return hide_secrets(text, *hidden)


class _XOAuth2:
    """smtplib's auth object for XOAUTH2 (its repr shows no token)."""

    def __init__(self, username: str, token: str) -> None:
        self._response = xoauth2_string(username, token)

    def __call__(self, challenge: bytes | None = None, /) -> str:
        # A challenge after the first response is the server's error report;
        # RFC 7628 wants an empty answer, after which the server says 535.
        return "" if challenge is not None else self._response


def tls_context(cfg: EmailConfig) -> ssl.SSLContext:
    """The system's trusted certificates, plus `ca_file` when set (added, not instead)."""
    context = ssl.create_default_context()
    if cfg.ca_file:
        try:
            context.load_verify_locations(cafile=cfg.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailLoginError(f"ca_file {cfg.ca_file} cannot be used: {exc}.") from None
    return context


#: What a refusal at MAIL FROM says when it is the sending address the account may not use.
_SENDER_WORDS = ("sender", "send as", "send mail as", "from address", "5.1.7", "5.1.8", "5.7.60")


def _mail_from_refused(sender: str, reply: str) -> str:
    """A refusal at MAIL FROM: no client's address was named yet, so it is this account's."""
    if any(word in reply.lower() for word in _SENDER_WORDS):
        return (
            f"the server refused the sender address {sender} ({reply}); check from in "
            "[email] of billing.toml: the account must be allowed to send as that address"
        )
    return (
        f"the server refused mail from {sender} before any recipient was named ({reply}): "
        "its reply says why (the account, the sending address or this computer may not be "
        "allowed to send)"
    )


def _size_limit(conn: smtplib.SMTP) -> int:
    """The server's SIZE limit in bytes (0: none announced)."""
    value = conn.esmtp_features.get("size", "").strip()
    return int(value) if value.isdigit() else 0


def _megabytes(size: int, unit_of: int | None = None) -> str:
    """A size in whole KB under a million bytes, else in MB to one decimal (the unit
    `unit_of`'s size would be said in, when given)."""
    if (size if unit_of is None else unit_of) < 1_000_000:
        return f"{max(1, round(size / 1000))} KB"
    return f"{size / 1_000_000:.1f} MB"


def _two_sizes(size: int, limit: int) -> tuple[str, str]:
    """A message's size and a smaller limit, said so that the two read differently: in KB
    or MB, or in exact bytes when the larger one's unit rounds them alike (62,150 bytes and
    62,000 bytes, never "62 KB and at most 62 KB").

    >>> _two_sizes(62_150, 62_000)
    ('62,150 bytes', '62,000 bytes')
    >>> _two_sizes(1_040_000, 960_000)
    ('1,040,000 bytes', '960,000 bytes')
    >>> _two_sizes(12_400_000, 10_000_000)
    ('12.4 MB', '10.0 MB')
    >>> _two_sizes(1_100_000, 960_000)
    ('1.1 MB', '960 KB')
    """
    if _megabytes(size) == _megabytes(limit, unit_of=size):
        return f"{size:,} bytes", f"{limit:,} bytes"
    return _megabytes(size), _megabytes(limit)


#: An enhanced status code (RFC 3463) in a reply: class, subject, detail.
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
#: A full mailbox said in words, when no enhanced code says it.
_FULL_WORDS = re.compile(r"mailbox (?:is )?full|over quota|mailbox quota exceeded", re.I)
#: A size said in words.
_SIZE_WORDS = re.compile(r"\bsize\b|too (?:big|large)|exceeds", re.IGNORECASE)


def _mailbox_full(reply: str) -> bool:
    """Whether a refusal is for the recipient's full mailbox: x.2.2 (RFC 3463), or said in
    words when no enhanced code says otherwise. A sending quota (Gmail's 5.4.5 "Daily user
    sending quota exceeded") is the account's, not a mailbox."""
    code = _ENHANCED.search(reply)
    if code is not None:
        return code.group(2, 3) == ("2", "2")
    return _FULL_WORDS.search(reply) is not None


def _for_its_size(code: int, reply: str) -> bool:
    """Whether MAIL or DATA was refused for the message's size: 5.3.4 (too big for the
    system) or 5.2.3 (longer than the mailbox takes), or what the reply says of its size;
    a bare 552 too, but not one for a full mailbox (x.2.2: it takes nothing now).

    >>> _for_its_size(552, "552 5.3.4 Message size exceeds the mailbox quota")
    True
    >>> _for_its_size(552, "552 5.2.2 Mailbox full"), _for_its_size(550, "550 5.4.5 quota")
    (False, False)
    """
    if _mailbox_full(reply):
        return False
    enhanced = _ENHANCED.search(reply)
    if enhanced is not None and enhanced.group(2, 3) in (("3", "4"), ("2", "3")):
        return True
    return _SIZE_WORDS.search(reply) is not None or (enhanced is None and code == 552)


def _state(code: int) -> str:
    return TEMPORARY if 400 <= code < 500 else REFUSED


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {_text(text)}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: bytes | str) -> str:
    """A server's words on one line (multi-line replies are joined with " / ")."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return one_line(" / ".join(part.strip() for part in text.splitlines() if part.strip()))


def _no_tls_there(exc: ssl.SSLError) -> bool:
    """Whether a TLS handshake failed because the other side spoke no TLS at all (a plain
    SMTP port given security = "ssl"), not for a reason of TLS itself."""
    said = f"{exc.reason or ''} {exc}".upper()
    return any(word in said for word in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL",
                                         "RECORD_LAYER_FAILURE", "HTTP_REQUEST"))  # fmt: skip


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the server does not support it ({exc})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, smtplib.SMTPResponseException):  # str() shows (421, b'...')
        return _reply(exc.smtp_code, exc.smtp_error)
    return one_line(str(exc)) or type(exc).__name__


def smtp_password(cfg: EmailConfig) -> str:
    """The SMTP password from `$<password_env>`, else the OS keyring when enabled.

    The keyring entry is service = the SMTP host, user = the username. Never
    prompts: a run from cron has nobody to answer.
    """
    password = os.environ.get(cfg.password_env, "") if cfg.password_env else ""
    if password:
        return password
    if cfg.use_keyring:
        return _keyring_password(cfg)
    variable = cfg.password_env or "named by password_env"
    raise MailLoginError(
        f"no SMTP password: set the environment variable {variable} "
        "or turn on use_keyring in [email]."
    )


def _keyring_password(cfg: EmailConfig) -> str:
    try:
        import keyring
    except ImportError:
        raise MailLoginError(
            "use_keyring is on but the keyring package is not installed."
        ) from None
    try:
        password = keyring.get_password(cfg.host, cfg.username)
    except Exception as exc:  # headless servers raise NoKeyringError and kin
        raise MailLoginError(f"the OS keyring cannot be read: {type(exc).__name__}.") from None
    if not password:
        raise MailLoginError(f"the OS keyring has no password for {cfg.username} at {cfg.host}.")
    return str(password)


def check_security(cfg: EmailConfig) -> None:
    """A host to connect to, and encryption unless the server is this machine (or it is
    allowed): MailLoginError otherwise. Checked before any connection."""
    if not cfg.host.strip():
        raise MailLoginError(
            'host is empty: name your mail server, e.g. host = "smtp.office365.com".'
        )
    if cfg.security == "none" and not (cfg.allow_insecure or _is_loopback(cfg.host)):
        raise MailLoginError(
            f'security = "none" would send mail to {cfg.host} unencrypted; use '
            '"ssl" or "starttls", or set allow_insecure = true in [email].'
        )


def check_smtp_settings(cfg: EmailConfig) -> None:
    """What a run checks of [email] before it connects, checked without connecting (for
    `check` and `--dry-run`): the host, encryption and ca_file. MailLoginError says what
    is wrong."""
    if cfg.mode != "smtp":
        return
    check_security(cfg)
    tls_context(cfg)  # a ca_file that cannot be read


def missing_password(cfg: EmailConfig) -> str:
    """Why a run started here would have no SMTP password to log in with, else "" (no
    login, OAuth, or the password is found): `check` and `--dry-run` only tell it, as a
    scheduled run's environment may set the variable this one lacks."""
    if cfg.mode != "smtp" or cfg.auth == "oauth2" or not cfg.username:
        return ""
    try:
        smtp_password(cfg)
    except MailLoginError as exc:
        return str(exc)
    return ""


def try_login(cfg: EmailConfig, billing_dir: Path | None = None, login: bool = True) -> str:
    """Open the connection a run opens (STARTTLS or SSL as set; AUTH, or XOAUTH2 with a
    freshly refreshed sign-in), then QUIT: nothing is sent. One connection, whatever
    `connections` says: a run goes on with those the server lets it open. Without
    `login` the server is only reached (TLS included), not logged in to.

    A sentence saying what the server accepted; MailLoginError, as the run's
    `open_sender` raises it, when it refused or could not be reached.
    """
    sign_in = _sign_in(cfg, billing_dir) if login else None
    with SmtpSender(cfg if login else replace(cfg, username=""), sign_in):
        pass
    where = f"{cfg.host}:{cfg.effective_port}"
    if not login or not cfg.username:
        return f"Mail: {where} answered (nothing was sent)."
    login_for = f"the login for {cfg.username}"
    if sign_in is not None:
        login_for += f" with the sign-in at {sign_in.endpoints.title} (kept in {sign_in.place})"
    return f"Mail: {where} accepted {login_for}; nothing was sent."


def _sign_in(cfg: EmailConfig, billing_dir: Path | None) -> SignIn | None:
    """The OAuth sign-in a sender uses (auth = "oauth2"), else None; `billing_dir` (the
    folder's `.billing`) is where it may be kept."""
    if cfg.auth != "oauth2":
        return None
    try:
        return SignIn(cfg, billing_dir or Path.cwd() / ".billing")
    except OAuthError as exc:
        raise MailLoginError(str(exc)) from None


def open_sender(
    cfg: EmailConfig,
    company: CompanyInfo,
    outbox_dir: Path | None = None,
    billing_dir: Path | None = None,
) -> Sender:
    """The sender for this run: an outbox folder, or SMTP. Checks the sender address.

    SMTP over `[email] connections` connections at once: more than one is a
    `smtp_pool.SmtpPool`; outbox mode writes files and ignores `connections`.

    `billing_dir` (the folder's `.billing`) is where an OAuth sign-in may be kept.
    """
    check_addresses(cfg, company)
    if outbox_dir is not None:
        return OutboxSender(outbox_dir)
    if cfg.mode == "outbox":
        return OutboxSender(Path(cfg.outbox_dir))
    sign_in = _sign_in(cfg, billing_dir)
    if cfg.connections > 1:
        from .smtp_pool import SmtpPool  # it builds on SmtpSender, here

        return SmtpPool(cfg, sign_in=sign_in)
    return SmtpSender(cfg, sign_in=sign_in)
