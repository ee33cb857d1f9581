"""Amounts read exactly as the bank wrote them, or refused with the line: every format."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
