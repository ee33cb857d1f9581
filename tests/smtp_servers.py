"""Real SMTP servers on 127.0.0.1 for the mail tests: aiosmtpd with scripted misbehaviour.

Each server binds an ephemeral port itself (no port guessing) and records what
it accepted, so tests check the bytes that actually arrived.

>>> recorder = Recorder()
>>> with running_server(recorder) as port:
...     pass  # point an EmailConfig at 127.0.0.1:port
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MISSING_MAILBOX = "550 5.1.1 <{}>: no such mailbox"
TRY_LATER = "421 4.3.2 service busy, try later"
GREYLISTED = "450 4.2.0 <{}>: greylisted, try again later"


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """An aiosmtpd handler that stores messages and misbehaves on request.

    Attributes:
      refuse: recipients answered with 550 at RCPT.
      defer: recipient -> how many times RCPT is answered 450 (greylisting)
        before it is accepted.
      busy_times: how many MAIL commands to answer with 421 before accepting.
      close_after: message numbers (1-based) after which the connection dies: the
        250 goes out, and the next MAIL on that connection meets a hang-up.
      vanish_on: message numbers the server stores and then hangs up without a
        reply (the client cannot know the message arrived).
      data_delay: seconds each DATA takes before its answer (a busy server), so
        messages on several connections overlap; `peak_data` counts how many did.
      linger: recipient -> seconds a DATA to it takes (one slow mailbox).
      max_sessions: sessions beyond this many are hung up on at EHLO (0: no cap).
      refuse_sender: MAIL FROM answered 550, as Microsoft 365 answers a from address the
        account may not send as.
    """

    refuse: frozenset[str] = frozenset()
    defer: dict[str, int] = field(default_factory=dict)
    busy_times: int = 0
    close_after: frozenset[int] = frozenset()
    vanish_on: frozenset[int] = frozenset()
    received: list[Received] = field(default_factory=list)
    mail_commands: int = 0
    rcpt_commands: list[str] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    doomed: list[Any] = field(default_factory=list)
    data_delay: float = 0.0
    in_data: int = 0
    peak_data: int = 0
    linger: dict[str, float] = field(default_factory=dict)
    max_sessions: int = 0
    greeted: list[Any] = field(default_factory=list)
    turned_away: int = 0
    refuse_sender: bool = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if session not in self.greeted:
            self.greeted.append(session)
            if self.max_sessions and len(self.greeted) > self.max_sessions:
                self.turned_away += 1
                server.transport.abort()
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_commands += 1
        if session not in self.sessions:
            self.sessions.append(session)
        if session in self.doomed:
            server.transport.abort()
            return TRY_LATER  # never arrives: the connection is gone
        if self.busy_times > 0:
            self.busy_times -= 1
            return TRY_LATER
        if self.refuse_sender:
            return "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.rcpt_commands.append(address)
        if address in self.refuse:
            return MISSING_MAILBOX.format(address)
        if self.defer.get(address, 0) > 0:
            self.defer[address] -= 1
            return GREYLISTED.format(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            self.in_data += 1
            self.peak_data = max(self.peak_data, self.in_data)
            await asyncio.sleep(self.data_delay)
            self.in_data -= 1
        for address in envelope.rcpt_tos:
            await asyncio.sleep(self.linger.get(address, 0.0))
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        number = len(self.received)
        if number in self.vanish_on:
            server.transport.abort()
        elif number in self.close_after:
            self.doomed.append(session)
        return "250 2.0.0 queued"

    @property
    def message_ids(self) -> list[str]:
        return [str(r.message["Message-ID"]) for r in self.received]

    def copies(self, address: str) -> int:
        """How many messages reached this mailbox."""
        return sum(address in r.rcpt_tos for r in self.received)


class _BoundController(Controller):
    """A Controller on a socket bound before start, so the port is known and free."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        # Accepted sockets inherit this; without it aiosmtpd's line-by-line EHLO
        # reply meets Nagle + delayed ACK and each connection stalls ~40 ms.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = self.sock.getsockname()[1]
        super().__init__(
            handler, hostname="127.0.0.1", port=port, server_hostname="mail.test", **kwargs
        )

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


@contextmanager
def running_server(handler: Any, **kwargs: Any) -> Iterator[int]:
    """Run an aiosmtpd server for the duration of the block; yields its port."""
    controller = _BoundController(handler, **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@dataclass(frozen=True)
class CertAuthority:
    """A throwaway certificate authority and a server context signed by it."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_test_ca(folder: Path) -> CertAuthority:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return CertAuthority(ca_file, context)


def password_checker(username: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting exactly one username and password."""

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == username.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check
