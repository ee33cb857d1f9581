"""CPU per message of compose + build_message, as a render worker spends it.

    python benchmarks/message_build.py [N]       # default 400 messages

Renders a few real invoices (.docx, ~40 kB) once, then composes and builds N
invoice emails around them, each to its own client address (a worker meets
each client once, so the address caches do not help). Prints CPU milliseconds
per message (time.process_time) for compose and for build_message, and a
cProfile of build_message with --profile. Not run in CI.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automation.compose import Job, compose, make_document  # noqa: E402 - after the path set-up
from automation.config import Config, EmailConfig  # noqa: E402
from automation.ledger import LedgerInvoice, LedgerMessage  # noqa: E402
from automation.mail import build_message, make_message_id  # noqa: E402
from automation.model import Client, CompanyInfo  # noqa: E402
from automation.render import InvoiceRenderer, sample_document  # noqa: E402

SENDER = "billing@ledgerwise.example"
LANGUAGES = (("en", "USD"), ("ru", "RUB"), ("kk", "KZT"))


def make_config() -> Config:
    company = CompanyInfo(
        name="Ledgerwise Bookkeeping",
        address="5 Abay Avenue\nAlmaty",
        email=SENDER,
        phone="+7 727 000 0000",
        iban="KZ00 0000 0000 0000 0000",
    )
    return replace(Config(), company=company, email=EmailConfig(sender=SENDER))


def make_jobs(count: int, out_root: Path, config: Config) -> list[tuple[Job, Path]]:
    """One job per message, the documents rendered once per language and reused."""
    renderer = InvoiceRenderer(ROOT / "templates")
    files = {}
    for language, currency in LANGUAGES:
        doc = replace(sample_document(language, currency, lines=5), company=config.company)
        files[language] = renderer.render(doc, out_root / language)
    jobs = []
    for i in range(count):
        language, currency = LANGUAGES[i % len(LANGUAGES)]
        client = Client(
            key=f"client {i:04d} llp",
            name=f"Client {i:04d} LLP",
            emails=(f"client{i:04d}@clients.example",),
            language=language,
            currency=currency,
        )
        doc = sample_document(language, currency, lines=5)
        invoice = LedgerInvoice(
            invoice_no=f"INV-2026-{i:05d}",
            client_key=client.key,
            client=client.name,
            invoice_date=date(2026, 4, 6),
            due_date=date(2026, 5, 6),
            currency=currency,
            subtotal=doc.subtotal,
            tax_rate=Decimal("0.12"),
            tax=doc.tax,
            total=doc.total,
            terms="Net 30",
            lines=doc.lines,
        )
        message = LedgerMessage(
            message_id=make_message_id(config.email, config.company),
            event="invoice",
            invoice_no=invoice.invoice_no,
            kind="invoice",
            state="pending",
            payload={"as_of": "2026-04-06"},
            envelope_from=None,
            recipients=(),
            raw=None,
            reply="",
            created_run=None,
            attempt_run=None,
        )
        job = Job(message, invoice, client, invoice.due_date, None)
        make_document(invoice, client, config, invoice.due_date)  # what prepare_jobs does
        jobs.append((job, files[language]))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="cProfile build_message")
    args = parser.parse_args()
    config = make_config()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = make_jobs(args.count, Path(tmp), config)
        build_message(compose(jobs[0][0], (jobs[0][1],), config), config.email, config.company)
        started = time.process_time()
        mails = [compose(job, (path,), config) for job, path in jobs]
        composed = time.process_time() - started
        profile = cProfile.Profile() if args.profile else None
        started = time.process_time()
        if profile is not None:
            profile.enable()
        size = sum(len(build_message(m, config.email, config.company).raw) for m in mails)
        if profile is not None:
            profile.disable()
        built = time.process_time() - started
    count = len(jobs)
    print(f"{count} messages, {size / count / 1000:.1f} kB each")
    print(f"compose        {composed / count * 1000:6.3f} ms CPU per message")
    print(f"build_message  {built / count * 1000:6.3f} ms CPU per message")
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
