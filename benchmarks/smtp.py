"""Benchmark: one SMTP connection per batch (SmtpSender) vs one per message (plain yagmail).

Sends N messages with a 40 KB attachment to a local aiosmtpd server both ways
and prints ms/message and messages/second. Not run in CI:

    python benchmarks/smtp.py            # 500 messages each way
    python benchmarks/smtp.py -n 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yagmail

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from measure import plain_yagmail  # noqa: E402
from smtp_servers import running_server  # noqa: E402 - the tests' loopback server

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
    yag = plain_yagmail("billing@bench.test", port)
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
    with running_server(sink) as port:
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
