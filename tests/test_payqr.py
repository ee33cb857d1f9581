"""Payment QR codes on invoices: rendered into the .docx, read back and decoded."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document

from automation.config import ConfigError, parse_config
from automation.model import CompanyInfo
from automation.payqr import EPC, GOST, check_bank_details, payment_qr, valid_iban
from automation.render import InvoiceRenderer, build_context, sample_document

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

EUR_COMPANY = dataclasses.replace(
    sample_document().company,
    name="Ledgerwise Bookkeeping",
    account_name="Ledgerwise Bookkeeping GmbH",
    iban="DE89 3704 0044 0532 0130 00",
    swift="COBADEFFXXX",
)
RUB_COMPANY = dataclasses.replace(
    sample_document().company,
    account_name="ООО «Леджервайз»",
    ru_account="40702810900000000001",
    ru_bank_name="ПАО Сбербанк",
    ru_bic="044525225",
    ru_corr_account="30101810400000000225",
    ru_inn="7707083893",
)


def decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "exactly one QR code in the picture"
    return str(results[0].text)


def docx_images(data: bytes) -> list[bytes]:
    doc = Document(io.BytesIO(data))
    return [
        rel.target_part.blob
        for rel in doc.part.rels.values()
        if not rel.is_external and rel.reltype.endswith("/image")
    ]


def test_eur_invoice_carries_an_epc_code_for_its_amount_and_number() -> None:
    doc = dataclasses.replace(sample_document("en", "EUR"), company=EUR_COMPANY)
    data = InvoiceRenderer(TEMPLATES).render_bytes(doc)
    (png,) = docx_images(data)
    lines = decode(png).split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[4] == "COBADEFFXXX"
    assert lines[5] == "Ledgerwise Bookkeeping GmbH"
    assert lines[6] == "DE89370400440532013000"
    assert lines[7] == f"EUR{doc.total:.2f}" == "EUR983.92"
    assert lines[-1] == doc.invoice_no == "INV-2026-0007"
    text = "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)
    tables = "\n".join(
        c.text for t in Document(io.BytesIO(data)).tables for r in t.rows for c in r.cells
    )
    assert "Scan with your banking app to pay €983.92 quoting INV-2026-0007." in text + tables


def test_rub_invoice_carries_the_gost_string_in_kopecks() -> None:
    doc = dataclasses.replace(sample_document("ru", "RUB", reissue_number=1), company=RUB_COMPANY)
    data = InvoiceRenderer(TEMPLATES).render_bytes(doc)
    (png,) = docx_images(data)
    payload = decode(png)
    fields = dict(part.split("=", 1) for part in payload.split("|")[1:])
    assert payload.startswith("ST00012|")
    assert fields == {
        "Name": "ООО «Леджервайз»",
        "PersonalAcc": "40702810900000000001",
        "BankName": "ПАО Сбербанк",
        "BIC": "044525225",
        "CorrespAcc": "30101810400000000225",
        "Sum": str(int(doc.balance_due * 100)),  # a reissue asks for the balance
        "Purpose": "Оплата по счёту № INV-2026-0007",
        "PayeeINN": "7707083893",
    }
    assert fields["Sum"] == "88392"


@pytest.mark.parametrize(
    ("currency", "company"),
    [("USD", EUR_COMPANY), ("KZT", RUB_COMPANY), ("EUR", RUB_COMPANY), ("RUB", EUR_COMPANY)],
)
def test_no_code_without_a_standard_or_details(currency: str, company: CompanyInfo) -> None:
    doc = dataclasses.replace(sample_document("en", currency), company=company)
    assert build_context(doc)["payment_qr"] == ""
    assert docx_images(InvoiceRenderer(TEMPLATES).render_bytes(doc)) == []


def test_no_code_for_nothing_to_pay_or_a_mistyped_iban() -> None:
    assert payment_qr(EUR_COMPANY, "EUR", Decimal("0"), "INV-1") is None
    typo = dataclasses.replace(EUR_COMPANY, iban="DE88 3704 0044 0532 0130 00")
    assert payment_qr(typo, "EUR", Decimal("10"), "INV-1") is None
    code = payment_qr(EUR_COMPANY, "EUR", Decimal("10"), "INV-1")
    assert code is not None and code.standard == EPC and decode(code.png) == code.payload
    code = payment_qr(RUB_COMPANY, "RUB", Decimal("0.5"), "INV|1")
    assert code is not None and code.standard == GOST
    assert "|Sum=50|Purpose=INV/1|" in decode(code.png)


def test_bank_details_are_checked_in_the_config() -> None:
    assert valid_iban("GB82 WEST 1234 5698 7654 32") and not valid_iban("GB82 WEST")
    assert check_bank_details(RUB_COMPANY) == []
    with pytest.raises(ConfigError, match=r"\[company\] ru_bic '04452' must be 9 digits"):
        parse_config({"company": {"ru_bic": "04452"}})
    with pytest.raises(ConfigError, match="bic 'NOPE' is not a BIC"):
        parse_config({"company": {"bic": "NOPE"}})


def test_statement_carries_a_code_for_its_closing_balance(tmp_path: Path) -> None:
    from datetime import date

    from automation.statement import InvoiceFact, PaymentFact, build_statement
    from automation.statement_doc import render_statement, statement_context

    invoices = [
        InvoiceFact("INV-2026-0031", date(2026, 9, 3), date(2026, 10, 3), Decimal("1480.00")),
        InvoiceFact("INV-2026-0052", date(2026, 10, 5), date(2026, 11, 4), Decimal("965.60")),
    ]
    paid = [PaymentFact("INV-2026-0031", date(2026, 10, 20), Decimal("1000.00"))]
    st = build_statement(
        "Northwind", "EUR", invoices, paid, [], date(2026, 10, 1), date(2026, 10, 31)
    )
    client = dataclasses.replace(sample_document().client, currency="EUR")
    path = render_statement(
        TEMPLATES, statement_context(st, client, EUR_COMPANY), "en", tmp_path / "statement.docx"
    )
    (png,) = docx_images(path.read_bytes())
    lines = decode(png).split("\n")
    assert lines[7] == "EUR1445.6" and st.closing == Decimal("1445.60")  # EPC drops the 0
    assert lines[-1] == "INV-2026-0031, INV-2026-0052"
    rub = build_statement(
        "Northwind", "RUB", invoices, paid, [], date(2026, 10, 1), date(2026, 10, 31)
    )
    context = statement_context(rub, dataclasses.replace(client, currency="RUB"), RUB_COMPANY)
    path = render_statement(TEMPLATES, context, "ru", tmp_path / "statement.ru.docx")
    (png,) = docx_images(path.read_bytes())
    assert "|Sum=144560|Purpose=Оплата по счетам INV-2026-0031, INV-2026-0052" in decode(png)


@pytest.mark.parametrize(
    ("language", "asked", "credit"),
    [
        ("en", "Amount due: €396.66 (your credit is not taken off)",
         "Paid beyond your invoices (your credit): €3.34. We will refund it"),
        ("ru", "К оплате: 396,66 € (переплата не вычитается)",
         "Переплата (в вашу пользу): 3,34 €. Мы вернём её вам"),
        ("kk", "Төлеуге: 396,66 € (артық төлем шегерілмейді)",
         "Артық төлем (сіздің пайдаңызға): 3,34 €. Оны сізге қайтарамыз"),
    ],
)  # fmt: skip
def test_a_statement_asks_for_its_open_invoices_not_less_a_credit(
    tmp_path: Path, language: str, asked: str, credit: str
) -> None:
    """INV-2026-0001 overpaid by 3.34, INV-2026-0002 open: the code and the amount due are
    INV-2026-0002's 396.66 (paying 393.32 would leave it 3.34 short, and chased); the
    closing balance still nets the credit."""
    from datetime import date

    from automation.statement import InvoiceFact, PaymentFact, build_statement
    from automation.statement_doc import render_statement, statement_context

    invoices = [
        InvoiceFact("INV-2026-0001", date(2026, 1, 5), date(2026, 2, 4), Decimal("396.66")),
        InvoiceFact("INV-2026-0002", date(2026, 1, 26), date(2026, 2, 25), Decimal("396.66")),
    ]
    paid = [PaymentFact("INV-2026-0001", date(2026, 1, 20), Decimal("400.00"))]
    st = build_statement("Mir", "EUR", invoices, paid, [], date(2026, 1, 1), date(2026, 1, 31))
    client = dataclasses.replace(sample_document().client, currency="EUR", language=language)
    context = statement_context(st, client, EUR_COMPANY)
    path = render_statement(TEMPLATES, context, language, tmp_path / "statement.docx")
    (png,) = docx_images(path.read_bytes())
    lines = decode(png).split("\n")
    assert lines[7] == "EUR396.66" and lines[-1] == "INV-2026-0002"
    paragraphs = [p.text.replace("\xa0", " ") for p in Document(str(path)).paragraphs]
    assert asked in paragraphs
    assert any(p.startswith(credit) for p in paragraphs)
    assert context["closing_balance"] == ("€393.32" if language == "en" else "393,32\xa0€")
