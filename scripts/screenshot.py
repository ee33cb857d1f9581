"""Pictures for the README: an invoice, a statement of account and the printed report.

Each document is rendered from sample data, converted to PDF by LibreOffice
and its page rasterised by poppler's `pdftoppm`, so the picture is what a
client or a printer gets. Used for the README and to check a layout by eye:

    python scripts/build_templates.py && python scripts/screenshot.py [en|ru|kk] [--reissue]
    python scripts/screenshot.py statement   # docs/statement.png
    python scripts/screenshot.py report      # docs/report.png and docs/report-aging.png

Needs LibreOffice (`soffice`) and poppler's `pdftoppm`.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# After the path set-up:
from automation.pdf import convert_to_pdf  # noqa: E402
from automation.render import InvoiceRenderer, sample_document  # noqa: E402
from automation.report import Receivable, write_receivables_report  # noqa: E402
from automation.statement import (  # noqa: E402
    CreditFact,
    InvoiceFact,
    PaymentFact,
    build_statement,
)
from automation.statement_doc import render_statement, statement_context  # noqa: E402

CURRENCIES = {"en": "USD", "ru": "RUB", "kk": "KZT"}
DOCS = ROOT / "docs"


def rasterise(pdf: Path, target: Path, page: int = 1, dpi: int = 80) -> Path:
    """One page of a PDF as a PNG at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", "-f", str(page), "-l", str(page),
         str(pdf), str(target.with_suffix(""))],
        check=True,
    )  # fmt: skip
    return target


def take_screenshot(language: str, reissue: bool, target: Path) -> Path:
    """Render, convert to PDF, then rasterise page one at 80 dpi into `target`."""
    doc = sample_document(language, CURRENCIES[language], lines=6, reissue_number=int(reissue))
    with tempfile.TemporaryDirectory() as work:
        docx = InvoiceRenderer(ROOT / "templates").render(doc, Path(work))
        pdf = convert_to_pdf([docx], Path(work))[0]
        return rasterise(pdf, target)


def statement_screenshot(target: Path) -> Path:
    """October's statement for a EUR client: a part payment, a credit note, an overdue invoice."""
    sample = sample_document("en", "EUR")
    company = dataclasses.replace(
        sample.company, iban="DE89 3704 0044 0532 0130 00", swift="COBADEFFXXX"
    )
    client = dataclasses.replace(sample.client, currency="EUR")
    d = Decimal
    invoices = [
        InvoiceFact("INV-2026-0031", date(2026, 8, 3), date(2026, 9, 2), d("1480.00")),
        InvoiceFact("INV-2026-0044", date(2026, 9, 7), date(2026, 10, 7), d("2240.00")),
        InvoiceFact("INV-2026-0052", date(2026, 10, 5), date(2026, 11, 4), d("1965.60")),
        InvoiceFact("INV-2026-0058", date(2026, 10, 26), date(2026, 11, 25), d("640.00")),
    ]
    payments = [
        PaymentFact("INV-2026-0031", date(2026, 9, 14), d("1000.00")),
        PaymentFact("INV-2026-0044", date(2026, 10, 9), d("2240.00")),
        PaymentFact("INV-2026-0031", date(2026, 10, 20), d("300.00")),
    ]
    credits = [CreditFact("CN-2026-0004", "INV-2026-0052", date(2026, 10, 12), d("150.00"))]
    st = build_statement(
        client.name, "EUR", invoices, payments, credits, date(2026, 10, 1), date(2026, 10, 31)
    )
    with tempfile.TemporaryDirectory() as work:
        docx = Path(work) / "statement.docx"
        render_statement(ROOT / "templates", statement_context(st, client, company), "en", docx)
        pdf = convert_to_pdf([docx], Path(work))[0]
        return rasterise(pdf, target)


def report_screenshots(open_target: Path, aging_target: Path) -> tuple[Path, Path]:
    """The receivables report as printed: the open invoices and the aging page."""
    as_of = date(2026, 11, 30)
    names = (
        ("Northwind Traders LLC", "USD"), ("Acme Dental Clinic", "USD"),
        ("Blue Harbor Cafe", "EUR"), ("Almaty Logistics Group LLP", "KZT"),
        ("Steppe Bakery", "KZT"), ("Baikal Consulting OOO", "RUB"),
    )  # fmt: skip
    items = []
    for n in range(18):
        client, currency = names[n % len(names)]
        due = as_of - timedelta(days=(n * 11) % 130 - 10)
        total = Decimal(310 + n * 95) * (Decimal(450) if currency == "KZT" else Decimal(1))
        paid = total / 4 if n % 5 == 0 else Decimal(0)
        items.append(
            Receivable(f"INV-2026-{40 + n:04d}", client, currency, due - timedelta(days=30),
                       due, total, paid, total - paid,
                       "Overdue" if due < as_of else "Sent")
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        report = write_receivables_report(items, as_of, Path(work))
        # A spreadsheet takes Calc's PDF export (convert_to_pdf is Writer's, for documents).
        subprocess.run(
            ["soffice", f"-env:UserInstallation={Path(work, 'profile').as_uri()}", "--headless",
             "--convert-to", "pdf", "--outdir", work, str(report)],
            check=True, capture_output=True,
        )  # fmt: skip
        pdf = report.with_suffix(".pdf")
        return rasterise(pdf, open_target, 1), rasterise(pdf, aging_target, 2)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "statement" in args:
        print(statement_screenshot(DOCS / "statement.png"))
        return 0
    if "report" in args:
        for path in report_screenshots(DOCS / "report.png", DOCS / "report-aging.png"):
            print(path)
        return 0
    language = next((a for a in args if a in CURRENCIES), "en")
    print(take_screenshot(language, "--reissue" in args, DOCS / "invoice.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
