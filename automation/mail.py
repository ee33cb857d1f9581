"""Email: render the bodies, build each message once, deliver it over SMTP or into an outbox.

A message is built once (yagmail assembles the MIME, we set every header), kept
as exact bytes in a `BuiltMessage`, and a resend after a crash sends those very
bytes again, with the same Message-ID. One authenticated connection carries the
whole batch; a message is never handed to the server twice in one run.

>>> parse_addresses("ann@example.com; bad, Bob <bob@example.org>")
(('ann@example.com', 'bob@example.org'), ('bad',))
"""

from __future__ import annotations

import functools
import ipaddress
import mimetypes
import os
import re
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import jinja2

from .bundled import TEMPLATES
from .config import EmailConfig
from .model import CompanyInfo
from .oauth import SIGN_IN_AGAIN, OAuthError, SignIn, xoauth2_string

#: Where `render_email` looks by default: templates/email/<lang>/<kind>.subject|.txt|.html
TEMPLATE_DIR = TEMPLATES / "email"
#: Kinds that have body templates; "report" mail is composed by the caller.
TEMPLATE_KINDS = (
    "invoice", "reissue", "underpaid", "overpaid", "thanks", "credit_note", "resend",
    "statement",
)  # fmt: skip
MAIL_KINDS = (*TEMPLATE_KINDS, "report")
FALLBACK_LANGUAGE = "en"
#: Every name a template may use; the pipeline passes them all as ready strings.
CONTEXT_KEYS = frozenset(
    {
        "client_name", "invoice_no", "invoice_date", "due_date", "total", "amount_paid",
        "balance", "excess", "company_name", "company_email", "company_phone",
        "reissue_number", "original_date", "reissue_date", "discount_text",
        "credit_note_no", "credit_note_date", "credit_amount", "new_balance", "owed_back",
        "replacement", "cancels_invoice", "balance_open",
        "period", "statement_date", "closing_balance",
    }
)  # fmt: skip
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

_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_MESSAGE_ID_RE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class MailError(Exception):
    """A message cannot be built, rendered or delivered."""


class MailLoginError(MailError):
    """The mail server cannot be used: unreachable, TLS failure or login refused."""


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
    """

    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    Attributes:
      status: "sent", "refused" (permanent: fix the address) or "temporary"
        (try again next run).
      reply: the server's words, for the Note column.
      refused: the recipients the server refused.
      maybe_delivered: the connection died after the message was handed over,
        so it may have arrived: resend it only byte for byte identical.
    """

    status: str
    reply: str = ""
    refused: tuple[str, ...] = ()
    maybe_delivered: bool = False


# -- addresses and headers ---------------------------------------------------------


def parse_addresses(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a cell of addresses on `;` and `,` into (valid addresses, invalid pieces).

    Display names are dropped; duplicates (case-insensitive) are kept once.
    """
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for piece in re.split(r"[;,]", text):
        piece = piece.strip()
        if not piece:
            continue
        address = _bare_address(piece)
        if address is None:
            invalid.append(piece)
        elif address.lower() not in seen:
            seen.add(address.lower())
            valid.append(address)
    return tuple(valid), tuple(invalid)


def _bare_address(piece: str) -> str | None:
    if any(c in piece for c in "\r\n\0"):
        return None
    _name, address = parseaddr(piece)
    return address if _ADDRESS_RE.fullmatch(address) else None


def _checked_addresses(addresses: tuple[str, ...], field: str) -> tuple[str, ...]:
    for address in addresses:
        if not _ADDRESS_RE.fullmatch(address):
            raise AddressError(f"{field} address {address!r} is not a valid email address.")
    return addresses


def _config_addresses(text: str, option: str) -> tuple[str, ...]:
    valid, invalid = parse_addresses(text)
    if invalid:
        raise AddressError(f"[email] {option} has an invalid address: {invalid[0]!r}.")
    return valid


def _check_header(name: str, value: str) -> str:
    # A line break in a header value would let text inject headers of its own.
    if any(c in value for c in "\r\n\0"):
        raise MailError(f"the {name} must be one line; it contains a line break.")
    return value


def sender_address(cfg: EmailConfig, company: CompanyInfo) -> str:
    """The From / envelope address: `[email] from`, else the company email."""
    address = cfg.sender or company.email
    if not address:
        raise AddressError("no sender address: set `from` in [email] or `email` in [company].")
    if not _ADDRESS_RE.fullmatch(address):
        raise AddressError(f"the sender address {address!r} is not a valid email address.")
    return address


def make_message_id(cfg: EmailConfig, company: CompanyInfo) -> str:
    """A new, unique Message-ID in the sender's domain, e.g. `<1767..@acme.kz>`."""
    return make_msgid(domain=sender_address(cfg, company).rpartition("@")[2])


# -- building ---------------------------------------------------------------------


def build_message(mail: OutgoingMail, cfg: EmailConfig, company: CompanyInfo) -> BuiltMessage:
    """Build the exact bytes of one message, with every header checked.

    With `redirect_to` set, the message goes only there, its subject prefixed
    with "[TEST for <original recipients>] ".
    """
    envelope_from = sender_address(cfg, company)
    to = _checked_addresses(mail.to, "To")
    cc = _checked_addresses(mail.cc, "Cc")
    if not to:
        raise AddressError(f"{mail.invoice_no}: the message has no recipient.")
    bcc = _config_addresses(cfg.bcc, "bcc")
    subject = mail.subject
    if cfg.redirect_to:
        subject = f"[TEST for {', '.join(to + cc)}] {subject}"
        to, cc, bcc = _config_addresses(cfg.redirect_to, "redirect_to"), (), ()
    headers = _headers(mail, cfg, company, envelope_from, to, cc, subject)
    msg = _assemble(mail, envelope_from, to)
    for name, value in headers.items():
        del msg[name]
        if value:
            msg[name] = value
    recipients = tuple(dict.fromkeys(to + cc + bcc))
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return BuiltMessage(mail.message_id, envelope_from, recipients, raw)


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
    reply_to = cfg.reply_to or (company.email if company.email != envelope_from else "")
    if reply_to:
        _checked_addresses((reply_to,), "Reply-To")
    date = mail.date or datetime.now().astimezone()
    values = {
        "From": formataddr((cfg.from_name or company.name, envelope_from), "utf-8"),
        "Reply-To": reply_to,
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


def _assemble(mail: OutgoingMail, envelope_from: str, to: tuple[str, ...]) -> MIMEMultipart:
    for path in mail.attachments:
        if not isinstance(path, Path):
            # yagmail attaches any string that happens to name a file.
            raise MailError(f"attachment {path!r} must be a Path.")
        if not path.is_file():
            raise MailError(f"the attachment {path} does not exist.")
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
    content_type = ATTACHMENT_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    for header in ("Content-Type", "Content-Disposition"):
        del part[header]
    part.add_header("Content-Type", content_type, name=path.name)
    part.add_header("Content-Disposition", "attachment", filename=path.name)


# -- rendering --------------------------------------------------------------------


def render_email(
    kind: str,
    language: str,
    context: Mapping[str, str],
    template_dir: Path | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) from `<template_dir>/<lang>/<kind>.subject|.txt|.html`.

    `template_dir` holds one folder per language (default TEMPLATE_DIR). A
    language without this kind's templates falls back to English. Values are
    shown literally: HTML-escaped in the .html part, never evaluated.
    """
    if kind not in TEMPLATE_KINDS:
        raise MailError(f"no email templates for {kind!r}; kinds: {', '.join(TEMPLATE_KINDS)}.")
    root = (template_dir or TEMPLATE_DIR).resolve()
    lang = language if _has_templates(root, language, kind) else FALLBACK_LANGUAGE
    env = _environment(root)
    subject, text, html = (
        _render(env, f"{lang}/{kind}.{ext}", context) for ext in ("subject", "txt", "html")
    )
    return " ".join(subject.split()), text, html


def _has_templates(root: Path, language: str, kind: str) -> bool:
    if not re.fullmatch(r"[a-z]{2,3}", language):
        return False
    return all((root / language / f"{kind}.{ext}").is_file() for ext in ("subject", "txt", "html"))


@functools.lru_cache(maxsize=8)
def _environment(root: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(env: jinja2.Environment, name: str, context: Mapping[str, str]) -> str:
    try:
        return env.get_template(name).render(dict(context))
    except jinja2.TemplateNotFound:
        raise MailError(f"the email template {name} is missing.") from None
    except jinja2.UndefinedError as exc:
        raise MailError(f"the email template {name} needs a value: {exc.message}.") from None
    except jinja2.TemplateSyntaxError as exc:
        raise MailError(f"the email template {name}, line {exc.lineno}: {exc.message}.") from None


# -- senders ----------------------------------------------------------------------


class Sender(Protocol):
    """Delivers built messages; used as a context manager around a batch."""

    def __enter__(self) -> Sender: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, msg: BuiltMessage) -> SendResult: ...


class OutboxSender:
    """Writes each message as `<invoice>-<kind>-<message id>.eml` into a folder.

    The same Message-ID always lands in the same file, so a resend overwrites.
    """

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

    def send(self, msg: BuiltMessage) -> SendResult:
        path = self.folder / eml_name(msg)
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(msg.raw)
        os.replace(partial, path)
        return SendResult(SENT, f"written to {path}")


def eml_name(msg: BuiltMessage) -> str:
    """A safe, stable file name for a message, from its own headers."""
    headers = BytesHeaderParser().parsebytes(msg.raw)
    pieces = (
        str(headers.get(INVOICE_HEADER, "")),
        str(headers.get(KIND_HEADER, "")),
        msg.message_id.strip("<>").split("@")[0],
    )
    safe = (_UNSAFE_FILENAME.sub("_", p).strip("._")[:60] for p in pieces)
    return "-".join(p for p in safe if p) + ".eml"


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
    before anything is sent. A temporary failure (4xx, or a connection lost
    before the server had the message) is retried `max_retries` times with
    backoff `retry_delay * 2**n` seconds, reconnecting as needed; a connection
    lost after the message went out is not retried (it may have arrived).

    With a `sign_in` (auth = "oauth2") `__enter__` first refreshes the access
    token; sessions sign in with XOAUTH2, and a new session is opened when the
    token nears its end or the server stops accepting it.
    """

    def __init__(
        self, cfg: EmailConfig, retry_delay: float = 0.2, sign_in: SignIn | None = None
    ) -> None:
        self.cfg = cfg
        self.retry_delay = retry_delay
        self._sign_in = sign_in
        self._password = ""
        self._conn: _TrackedSMTP | None = None
        # A zero timeout would make smtplib's sockets non-blocking, not patient.
        self._timeout = cfg.timeout if cfg.timeout > 0 else EmailConfig.timeout

    def __enter__(self) -> SmtpSender:
        self._check_security()
        if self._sign_in is not None:
            try:
                self._sign_in.current()  # a refused sign-in stops the run here, before numbering
            except OAuthError as exc:
                raise MailLoginError(str(exc)) from None
        elif self.cfg.username:
            self._password = smtp_password(self.cfg)
        self._conn = self._connect()
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

    def send(self, msg: BuiltMessage) -> SendResult:
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
            outcome = self._attempt(msg)
            if isinstance(outcome, SendResult):
                return outcome
        return SendResult(TEMPORARY, f"{outcome} (tried {self.cfg.max_retries + 1} times)")

    def _attempt(self, msg: BuiltMessage) -> SendResult | str:
        """The result, or the reason for a temporary failure worth retrying."""
        try:
            conn = self._connection()
        except MailLoginError as exc:
            return str(exc)
        conn.body_sent = False
        try:
            refused = conn.sendmail(msg.envelope_from, list(msg.recipients), msg.raw)
        except smtplib.SMTPRecipientsRefused as exc:
            return self._all_refused(exc.recipients)
        except smtplib.SMTPResponseException as exc:
            return self._rejected(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPServerDisconnected as exc:
            return self._lost(conn, exc)
        except smtplib.SMTPException as exc:
            return SendResult(REFUSED, _describe(exc))
        except OSError as exc:
            return self._lost(conn, exc)
        if refused:
            return SendResult(REFUSED, _describe_refusals(refused), tuple(refused))
        return SendResult(SENT)

    def _lost(self, conn: _TrackedSMTP, exc: BaseException) -> SendResult | str:
        # No QUIT: on a stalled connection it would wait out another timeout.
        conn.close()
        self._conn = None
        if conn.body_sent:
            return SendResult(
                TEMPORARY,
                f"connection lost after the message was handed over ({_describe(exc)}); "
                "not resent now in case it arrived",
                maybe_delivered=True,
            )
        return f"connection lost ({_describe(exc)})"

    def _all_refused(self, refusals: dict[str, tuple[int, bytes]]) -> SendResult | str:
        reply = _describe_refusals(refusals)
        if all(400 <= code < 500 for code, _ in refusals.values()):
            self._drop_if_closed()
            return reply
        return SendResult(REFUSED, reply, tuple(refusals))

    def _rejected(self, code: int, error: bytes | str) -> SendResult | str:
        reply = f"{code} {_text(error)}"
        if code in (530, 535) and self._sign_in is not None and self._conn is not None:
            # The session's token is no longer accepted: nothing was handed over, so
            # a new session (signed in afresh) may retry the message.
            self._conn.close()
            self._conn = None
            return reply
        if 400 <= code < 500:
            self._drop_if_closed()
            return reply
        return SendResult(REFUSED, reply)

    def _drop_if_closed(self) -> None:
        # smtplib closes the socket itself after a 421; forget it so we reconnect.
        if self._conn is not None and self._conn.sock is None:
            self._conn = None

    def _connection(self) -> _TrackedSMTP:
        if self._conn is not None and self._sign_in is not None and self._sign_in.expiring():
            self.close()  # a session cannot sign in twice: the next one uses a new token
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _check_security(self) -> None:
        cfg = self.cfg
        if cfg.security == "none" and not (cfg.allow_insecure or _is_loopback(cfg.host)):
            raise MailLoginError(
                f'security = "none" would send mail to {cfg.host} unencrypted; use '
                '"ssl" or "starttls", or set allow_insecure = true in [email].'
            )

    def _connect(self) -> _TrackedSMTP:
        cfg = self.cfg
        where = f"{cfg.host}:{cfg.effective_port}"
        try:
            conn = self._open()
        except ssl.SSLCertVerificationError as exc:
            raise MailLoginError(
                f"the certificate of {where} could not be verified ({exc.verify_message}); "
                "set ca_file in [email] if the server uses a private CA."
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailLoginError(f"cannot connect to {where}: {_describe(exc)}.") from None
        if not cfg.username:
            return conn
        try:
            if self._sign_in is not None:
                self._login_xoauth2(conn)
            else:
                conn.login(cfg.username, self._password)
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
            conn.auth("XOAUTH2", _XOAuth2(self.cfg.username, sign_in.renew()))

    def _open(self) -> _TrackedSMTP:
        cfg = self.cfg
        context = ssl.create_default_context(cafile=cfg.ca_file or None)
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

    def _scrub(self, text: str) -> str:
        hidden = (self._password, *(self._sign_in.hidden() if self._sign_in else ()))
        for secret in hidden:
            if secret:
                text = text.replace(secret, "***")
        return text


class _XOAuth2:
    """smtplib's auth object for XOAUTH2 (its repr shows no token)."""

    def __init__(self, username: str, token: str) -> None:
        self._response = xoauth2_string(username, token)

    def __call__(self, challenge: bytes | None = None, /) -> str:
        # A challenge after the first response is the server's error report;
        # RFC 7628 wants an empty answer, after which the server says 535.
        return "" if challenge is not None else self._response


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the server does not support it ({exc})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _describe_refusals(refusals: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {code} {_text(reply)}" for addr, (code, reply) in refusals.items())


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


def open_sender(
    cfg: EmailConfig,
    company: CompanyInfo,
    outbox_dir: Path | None = None,
    billing_dir: Path | None = None,
) -> Sender:
    """The sender for this run: an outbox folder, or SMTP. Checks the sender address.

    `billing_dir` (the folder's `.billing`) is where an OAuth sign-in may be kept.
    """
    sender_address(cfg, company)
    if outbox_dir is not None:
        return OutboxSender(outbox_dir)
    if cfg.mode == "outbox":
        return OutboxSender(Path(cfg.outbox_dir))
    if cfg.auth == "oauth2":
        try:
            sign_in = SignIn(cfg, billing_dir or Path.cwd() / ".billing")
        except OAuthError as exc:
            raise MailLoginError(str(exc)) from None
        return SmtpSender(cfg, sign_in=sign_in)
    return SmtpSender(cfg)
