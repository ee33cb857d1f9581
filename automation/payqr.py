"""Payment QR codes, where a standard exists: EPC ("GiroCode") for EUR, GOST for RUB.

A client scans the code in a banking app and the transfer is filled in: payee,
account, amount and the reference. EUR needs `[company] iban` and `bic` (or
`swift`); RUB needs the Russian bank details (`ru_account`, `ru_bank_name`,
`ru_bic`, `ru_corr_account`; `ru_inn` and `ru_kpp` are added when set). Any
other currency, or missing details, gives no code.

>>> company = CompanyInfo(name="ООО Учёт", ru_account="40702810900000000001",
...     ru_bank_name="АО Банк", ru_bic="044525225", ru_corr_account="30101810400000000225")
>>> gost_payload(company, Decimal("1234.50"), "Оплата по счёту INV-2026-0007").split("|")
['ST00012', 'Name=ООО Учёт', 'PersonalAcc=40702810900000000001', 'BankName=АО Банк', \
'BIC=044525225', 'CorrespAcc=30101810400000000225', 'Sum=123450', \
'Purpose=Оплата по счёту INV-2026-0007']
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from .model import CompanyInfo

if TYPE_CHECKING:
    import segno

EPC = "EPC"
GOST = "GOST"
#: The EPC QR code carries 0.01 to 999,999,999.99 EUR; remittance text up to 140 characters.
EPC_MAX = Decimal("999999999.99")
EPC_TEXT_MAX = 140
#: GOST R 56042-2014 header: format ST, version 0001, encoding 2 (UTF-8).
GOST_HEADER = "ST00012"
GOST_PURPOSE_MAX = 210


@dataclass(frozen=True)
class PaymentQr:
    """A payment QR code: which standard, the text it encodes, and the PNG picture."""

    standard: str
    payload: str
    png: bytes


def epc_ready(company: CompanyInfo) -> bool:
    """A valid IBAN and BIC: a code with a mistyped account would send money nowhere.

    `iban` and `swift` are also printed as text on every invoice, in whatever
    form the bookkeeper keeps them, so a non-IBAN there is no error: it only
    means no EPC code.
    """
    return valid_iban(company.iban) and valid_bic(company.bic or company.swift)


def gost_ready(company: CompanyInfo) -> bool:
    fields = (company.ru_account, company.ru_bank_name, company.ru_bic, company.ru_corr_account)
    return all(f.strip() for f in fields)


def payment_qr(
    company: CompanyInfo, currency: str, amount: Decimal, reference: str, purpose: str = ""
) -> PaymentQr | None:
    """The QR code paying `amount` with `reference`, or None where no standard applies.

    `purpose` is the GOST payment purpose in words (defaults to the reference).
    """
    if amount <= 0:
        return None
    # segno (and the urllib it imports) only where a code is made: config.py
    # checks bank details with this module at every start-up.
    import segno
    import segno.helpers

    currency = currency.upper()
    if currency == "EUR" and epc_ready(company) and amount <= EPC_MAX:
        text = _single_line(reference)[:EPC_TEXT_MAX]
        code = segno.helpers.make_epc_qr(
            name=_single_line(company.account_name or company.name)[:70],
            iban=_compact(company.iban),
            amount=amount,
            text=text,
            bic=_compact(company.bic or company.swift),
            encoding="UTF-8",
        )
        return PaymentQr(EPC, _epc_text(company, amount, text), _png(code))
    if currency == "RUB" and gost_ready(company):
        payload = gost_payload(company, amount, purpose or reference)
        return PaymentQr(GOST, payload, _png(segno.make(payload, error="m", micro=False)))
    return None


def gost_payload(company: CompanyInfo, amount: Decimal, purpose: str) -> str:
    """The GOST R 56042-2014 string: required fields, then the optional INN/KPP, in kopecks."""
    kopecks = int((amount * 100).to_integral_value())
    fields = [
        ("Name", company.account_name or company.name),
        ("PersonalAcc", _compact(company.ru_account)),
        ("BankName", company.ru_bank_name),
        ("BIC", _compact(company.ru_bic)),
        ("CorrespAcc", _compact(company.ru_corr_account)),
        ("Sum", str(kopecks)),
        ("Purpose", _single_line(purpose)[:GOST_PURPOSE_MAX]),
    ]
    if company.ru_inn.strip():
        fields.append(("PayeeINN", _compact(company.ru_inn)))
    if company.ru_kpp.strip():
        fields.append(("KPP", _compact(company.ru_kpp)))
    return "|".join([GOST_HEADER] + [f"{key}={_gost_value(value)}" for key, value in fields])


def check_bank_details(company: CompanyInfo) -> list[str]:
    """What is wrong with the payment-QR details (`bic`, `ru_*`), one sentence each."""
    problems = []
    if company.bic.strip() and not valid_bic(company.bic):
        problems.append(f"bic {company.bic!r} is not a BIC (8 or 11 letters and digits).")
    russian = {
        "ru_account": (company.ru_account, 20),
        "ru_bic": (company.ru_bic, 9),
        "ru_corr_account": (company.ru_corr_account, 20),
    }
    for key, (value, digits) in russian.items():
        if value.strip() and not re.fullmatch(rf"\d{{{digits}}}", _compact(value)):
            problems.append(f"{key} {value!r} must be {digits} digits.")
    return problems


def valid_bic(bic: str) -> bool:
    """ISO 9362: bank (4 letters), country (2), location (2), optional branch (3)."""
    return bool(re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", _compact(bic)))


def valid_iban(iban: str) -> bool:
    """ISO 13616 check: country, check digits, then mod 97 of the rearranged number is 1.

    >>> valid_iban("DE89 3704 0044 0532 0130 00"), valid_iban("DE00 3704 0044 0532 0130 00")
    (True, False)
    """
    text = _compact(iban)
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", text):
        return False
    digits = "".join(str(int(ch, 36)) for ch in text[4:] + text[:4])
    return int(digits) % 97 == 1


def _epc_text(company: CompanyInfo, amount: Decimal, text: str) -> str:
    """The EPC payload as banking apps read it (for the record; segno encodes the same)."""
    lines = [
        "BCD",
        "002",
        "1",
        "SCT",
        _compact(company.bic or company.swift),
        _single_line(company.account_name or company.name)[:70],
        _compact(company.iban),
        f"EUR{amount:.2f}".rstrip("0").rstrip("."),  # the EPC form: EUR10, EUR10.5
        "",
        "",
        text,
    ]
    return "\n".join(lines)


def _png(code: segno.QRCode) -> bytes:
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _gost_value(text: str) -> str:
    """A field value cannot hold the separator `|`."""
    return _single_line(text).replace("|", "/")
