"""Benchmark: one SMTP connection per batch (SmtpSender) vs one per message (plain yagmail).

Sends N messages with a 40 KB attachment to a local aiosmtpd server both ways
and prints ms/message and messages/second. Not run in CI:

    python benchmarks/smtp.py            # 500 messages each way
    python benchmarks/smtp.py -n 100
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yagmail
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automation.config import EmailConfig  # noqa: E402 - after the path fix above
from automation.mail import OutgoingMail, SmtpSender, build_message, make_message_id  # noqa: E402
from automation.model import CompanyInfo  # noqa: E402

COMPANY = CompanyInfo(name="Bench Co", email="billing@bench.test")
ATTACHMENT_BYTES = 40 * 1024


class Sink:
    """Accepts everything and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


class _BoundController(Controller):
    def __init__(self, handler: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        # Accepted sockets inherit this; without it aiosmtpd's line-by-line EHLO
        # reply meets Nagle + delayed ACK and every new connection stalls ~40 ms.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(
            handler, hostname="127.0.0.1", port=self.sock.getsockname()[1], server_hostname="bench"
        )

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self.sock)


@contextmanager
def server(sink: Sink) -> Iterator[int]:
    controller = _BoundController(sink)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def with_one_connection(port: int, attachment: Path, count: int) -> None:
    cfg = EmailConfig(
        mode="smtp", host="127.0.0.1", port=port, security="none", sender="billing@bench.test"
    )
    with SmtpSender(cfg) as smtp:
        for n in range(count):
            mail = OutgoingMail(
                kind="invoice",
                invoice_no=f"INV-{n:04d}",
                to=("client@example.com",),
                cc=(),
                subject=f"Invoice INV-{n:04d}",
                text="Please find the invoice attached.\n",
                html="<p>Please find the invoice attached.</p>",
                attachments=(attachment,),
                message_id=make_message_id(cfg, COMPANY),
            )
            result = smtp.send(build_message(mail, cfg, COMPANY))
            assert result.status == "sent", result


def with_a_connection_each(port: int, attachment: Path, count: int) -> None:
    yag = yagmail.SMTP(
        "billing@bench.test",
        host="127.0.0.1",
        port=port,
        smtp_ssl=False,
        smtp_starttls=False,
        smtp_skip_login=True,
        soft_email_validation=False,
    )
    for n in range(count):
        # Each send() opens and logs in a fresh connection (and leaves the old one open).
        yag.send(
            "client@example.com",
            f"Invoice INV-{n:04d}",
            contents=yagmail.raw("Please find the invoice attached.\n"),
            attachments=str(attachment),
            prettify_html=False,
        )
    yag.close()


def measure(name: str, run: Callable[[int, Path, int], None], attachment: Path, n: int) -> None:
    sink = Sink()
    with server(sink) as port:
        start = time.perf_counter()
        run(port, attachment, n)
        elapsed = time.perf_counter() - start
    assert sink.count == n, (name, sink.count)
    print(f"{name:<34} {1000 * elapsed / n:7.2f} ms/message {n / elapsed:8.1f} messages/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="messages per variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        attachment = Path(folder) / "INV-0000.docx"
        attachment.write_bytes(os.urandom(ATTACHMENT_BYTES))
        print(f"{args.n} messages, {ATTACHMENT_BYTES // 1024} KB attachment, 127.0.0.1")
        measure("SmtpSender, one connection", with_one_connection, attachment, args.n)
        measure("yagmail send(), one per message", with_a_connection_each, attachment, args.n)


if __name__ == "__main__":
    main()
