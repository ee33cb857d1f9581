"""Amounts read exactly as the bank wrote them, or refused with the line: every format."""

from __future__ import annotations

from decimal import Decimal

import pytest

from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx

OFX = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STMTRS><CURDEF>USD<BANKACCTFROM><BANKID>1<ACCTID>2
<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><DTSTART>20260301<DTEND>20260305
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260303<TRNAMT>{amount}<FITID>20260303000123456
<NAME>YANKEE LLC<MEMO>INV-2026-0005
</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"""


@pytest.mark.parametrize("amount", ["2,500", "2.500", "-2,500"])
def test_ofx_three_decimals_refused_not_read_as_cents(amount: str) -> None:
    lines, errors = read_ofx(OFX.format(amount=amount).encode("cp1252"), "s.qfx")
    assert lines == []
    assert len(errors) == 1
    assert amount in errors[0].message and "3 decimals" in errors[0].message
    assert errors[0].sheet == "s.qfx, line 14"


@pytest.mark.parametrize(("amount", "read"), [("2500.00", "2500.00"), ("2,50", "2.50"),
                                              ("2.5", "2.5")])  # fmt: skip
def test_ofx_plain_amounts_still_read(amount: str, read: str) -> None:
    lines, errors = read_ofx(OFX.format(amount=amount).encode("cp1252"), "s.qfx")
    assert errors == []
    assert [line.amount for line in lines] == [Decimal(read)]


def mt940(amount: str, currency: str = "EUR", newline: str = "\r\n") -> bytes:
    text = f"""{{1:F01BANKDEFFXXXX0000000000}}{{2:O940}}{{4:
:20:STMT0302
:25:CH9300762011623852957
:28C:00062/001
:60F:C260301{currency}0,00
:61:2603030303C{amount}NTRFNONREF//BR26030312345678
:86:Zahlung Zurich AG Rechnung INV-2026-0004
:62F:C260304{currency}1234,50
-}}"""
    return text.replace("\n", newline).encode("cp1252")


@pytest.mark.parametrize("amount", ["1 234,50", "1.234,50", "1'234,50", "1,234.50", "1234.5"])
def test_mt940_amount_not_in_swift_form_is_a_line_error(amount: str) -> None:
    lines, errors = read_mt940(mt940(amount), "s.sta")
    assert lines == []
    assert [e.sheet for e in errors] == ["s.sta, line 6"]
    assert repr(amount) in errors[0].message and "SWIFT" in errors[0].message


@pytest.mark.parametrize(("amount", "read"), [("1234,50", "1234.50"), ("1234.50", "1234.50"),
                                              ("500,", "500"), ("0,5", "0.5")])  # fmt: skip
def test_mt940_swift_amounts_and_a_plain_dot_are_read(amount: str, read: str) -> None:
    lines, errors = read_mt940(mt940(amount), "s.sta")
    assert errors == []
    assert [line.amount for line in lines] == [Decimal(read)]


def test_mt940_dot_amount_in_a_currency_without_cents_is_refused() -> None:
    lines, errors = read_mt940(mt940("1234.50", "JPY"), "s.sta")
    assert lines == [] and len(errors) == 1


def test_mt940_amount_finer_than_cents_is_a_line_error() -> None:
    lines, errors = read_mt940(mt940("1234,505"), "s.sta")
    assert lines == []
    assert [e.sheet for e in errors] == ["s.sta, line 6"]
    assert "'1234,505' has 3 decimals" in errors[0].message


@pytest.mark.parametrize("newline", ["\r", "\n\r", "\r\n", "\n"])
def test_mt940_any_line_end_is_read(newline: str) -> None:
    lines, errors = read_mt940(mt940("1234,50", newline=newline), "s.sta")
    assert errors == []
    assert [(line.amount, line.line) for line in lines] == [(Decimal("1234.50"), 6)]
