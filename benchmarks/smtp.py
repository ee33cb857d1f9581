"""Benchmark: one SMTP connection per batch (SmtpSender) vs one per message (plain yagmail),
and a batch with one greylisted recipient vs none.

Sends N messages with a 40 KB attachment to a local aiosmtpd server both ways
and prints ms/message and messages/second. Then sends the batch through the
run's delivery loop twice: once accepted at once, once with one recipient
answered `450` three times before `250`, with `retry_window` set to 80% of
the clean batch time (so every wait ends before the batch does), and prints
both batch times and their difference. Not run in CI:

    python benchmarks/smtp.py            # 500 messages each way
    python benchmarks/smtp.py -n 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yagmail

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from measure import plain_yagmail  # noqa: E402
from smtp_servers import Recorder, running_server  # noqa: E402 - the tests' loopback server

from automation.config import EmailConfig  # noqa: E402 - after the path fix above
from automation.delivery import Outcome, Parcel, RetryPolicy, deliver  # noqa: E402
from automation.mail import (  # noqa: E402
    BuiltMessage,
    OutgoingMail,
    RecipientResult,
    SmtpSender,
    build_message,
    make_message_id,
)
from automation.model import CompanyInfo  # noqa: E402
from automation.smtp_pool import SmtpPool  # noqa: E402

COMPANY = CompanyInfo(name="Bench Co", email="billing@bench.test")
ATTACHMENT_BYTES = 40 * 1024


class Sink:
    """Accepts everything and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def bench_config(port: int) -> EmailConfig:
    return EmailConfig(
        mode="smtp", host="127.0.0.1", port=port, security="none", sender="billing@bench.test"
    )


def invoice_mail(cfg: EmailConfig, n: int, attachment: Path, to: str) -> BuiltMessage:
    mail = OutgoingMail(
        kind="invoice",
        invoice_no=f"INV-{n:04d}",
        to=(to,),
        cc=(),
        subject=f"Invoice INV-{n:04d}",
        text="Please find the invoice attached.\n",
        html="<p>Please find the invoice attached.</p>",
        attachments=(attachment,),
        message_id=make_message_id(cfg, COMPANY),
    )
    return build_message(mail, cfg, COMPANY)


def with_one_connection(port: int, attachment: Path, count: int) -> None:
    cfg = bench_config(port)
    with SmtpSender(cfg) as smtp:
        for n in range(count):
            result = smtp.send(invoice_mail(cfg, n, attachment, "client@example.com"))
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


class Tally:
    """A delivery journal that only counts what was delivered."""

    def __init__(self) -> None:
        self.delivered = 0
        self.attempts = 0

    def attempting(self, parcel: Parcel) -> None:
        self.attempts += 1

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        self.delivered += all(r.state == "sent" for r in outcome.results)


IDLE: list[float] = []  # seconds the loop slept with nothing else to send, per batch
CPU: dict[int, list[float]] = {}  # deferrals -> CPU seconds (client and server threads)


def batch_seconds(attachment: Path, n: int, deferrals: int, window: float) -> float:
    """One batch through the run's delivery loop; client 0 is greylisted `deferrals` times."""
    idle = 0.0

    def sleep(seconds: float) -> None:
        nonlocal idle
        idle += seconds
        time.sleep(seconds)

    recorder = Recorder(defer={"client0000@example.com": deferrals})
    with running_server(recorder) as port:
        cfg = bench_config(port)
        addresses = [f"client{i:04d}@example.com" for i in range(n)]
        messages = [invoice_mail(cfg, i, attachment, a) for i, a in enumerate(addresses)]
        tally = Tally()
        start, cpu = time.perf_counter(), time.process_time()
        with SmtpSender(cfg) as smtp:
            parcels = (Parcel(m, m.recipients) for m in messages)
            deliver(parcels, smtp, RetryPolicy(window, 6), tally, sleep=sleep)
        elapsed = time.perf_counter() - start
    IDLE.append(idle)
    CPU.setdefault(deferrals, []).append(time.process_time() - cpu)
    assert tally.delivered == n and len(recorder.received) == n, (tally.delivered, n)
    assert tally.attempts == n + deferrals
    return elapsed


def greylisting(attachment: Path, n: int, rounds: int = 5) -> None:
    """Clean and greylisted batches alternate, so machine load hits both alike."""
    window = 0.8 * batch_seconds(attachment, n, 0, 1.0)  # also the warm-up
    clean: list[float] = []
    deferred: list[float] = []
    for _ in range(rounds):
        clean.append(batch_seconds(attachment, n, 0, window))
        deferred.append(batch_seconds(attachment, n, 3, window))
    for name, times in (("all accepted at once", clean), ("one greylisted 3 times", deferred)):
        print(
            f"batch of {n}, {name:<24} median {statistics.median(times):6.2f} s, "
            f"best {min(times):6.2f} s"
        )
    # The best of several runs is the least disturbed by other work (as timeit does);
    # CPU seconds do not depend on what else the machine is doing.
    change = min(deferred) / min(clean) - 1
    cpu_change = statistics.median(CPU[3]) / statistics.median(CPU[0]) - 1
    print(
        f"greylisted vs clean: {100 * change:+.1f}% (best of {rounds}; retry_window "
        f"{window:.2f} s); CPU time {100 * cpu_change:+.1f}%; time spent waiting with "
        f"nothing else to send: {max(IDLE):.2f} s"
    )


def over_connections(attachment: Path, n: int, count: int, latency: float) -> None:
    """The batch through the delivery loop over `count` connections; prints wall and CPU."""
    recorder = Recorder(data_delay=latency)
    with running_server(recorder) as port:
        cfg = replace(bench_config(port), connections=count)
        messages = [
            invoice_mail(cfg, i, attachment, f"client{i:04d}@example.com") for i in range(n)
        ]
        tally = Tally()
        start, cpu = time.perf_counter(), time.process_time()
        sender = SmtpPool(cfg) if count > 1 else SmtpSender(cfg)
        with sender:
            deliver((Parcel(m, m.recipients) for m in messages), sender, RetryPolicy(1, 2), tally)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert tally.delivered == n and len(recorder.received) == n
    assert len(set(recorder.message_ids)) == n
    print(
        f"connections {count}, {1000 * latency:3.0f} ms/message at the server: "
        f"{elapsed:6.2f} s ({1000 * elapsed / n:5.2f} ms/message), CPU {cpu:5.2f} s "
        f"(client and server threads), peak DATA at once "
        f"{recorder.peak_data if latency else '-'}, load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="messages per variant")
    parser.add_argument(
        "--only-connections", help="only the connections part, e.g. 1,2,4", default=""
    )
    parser.add_argument(
        "--latency", type=float, default=0.02, help="seconds per message at the slow server"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        attachment = Path(folder) / "INV-0000.docx"
        attachment.write_bytes(os.urandom(ATTACHMENT_BYTES))
        print(f"{args.n} messages, {ATTACHMENT_BYTES // 1024} KB attachment, 127.0.0.1")
        if not args.only_connections:
            measure("SmtpSender, one connection", with_one_connection, attachment, args.n)
            measure("yagmail send(), one per message", with_a_connection_each, attachment, args.n)
            greylisting(attachment, args.n)
        counts = [int(c) for c in (args.only_connections or "1,2,4").split(",")]
        for latency in (0.0, args.latency):
            for count in counts:
                over_connections(attachment, args.n, count, latency)


if __name__ == "__main__":
    main()
