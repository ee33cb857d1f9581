"""Statements whose header names one encoding while the text is in another.

Banks write UTF-8 under an OFX header copied from the specification
(`ENCODING:USASCII`, `CHARSET:1252`): the names must come out as written, or
the payer is no longer recognised as a client.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from statements import Tx, ofx_sgml

from automation.bank.match import Payers, match_lines
from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx

D = Decimal
NAME, PURPOSE = "Müller & Söhne GmbH", "Lohnbuchhaltung Februar, vielen Dank für Ihre Geduld"
TXS = [Tx(date(2026, 3, 5), D("1234.56"), NAME, purpose=PURPOSE, ref="X2026030500011")]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_ofx_with_a_1252_header_is_read_in_the_encoding_of_its_text(encoding: str) -> None:
    data = ofx_sgml(TXS, "EUR").decode("cp1252").encode(encoding)
    assert b"CHARSET:1252" in data and b"ENCODING:USASCII" in data
    (line,), errors = read_ofx(data, "bank.ofx")
    assert errors == [] and (line.payer, line.reference) == (NAME, PURPOSE)
    payers = Payers({}, {"müller & söhne gmbh": "mueller"})
    (decision,) = match_lines([], payers, [line], D("0"))
    assert "is a client with no open invoice" in decision.note  # known by its name


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_mt940_is_read_as_utf8_or_else_windows_1252(encoding: str) -> None:
    text = (
        ":20:STARTUMSE\r\n:25:37040044/0532013000\r\n:28C:00001/001\r\n:60F:C260301EUR0,00\r\n"
        ":61:2603050305CR1234,56NTRFNONREF//2603050000000123\r\n"
        f":86:166?00GUTSCHR?20SVWZ+Lohn Februar?32{NAME}\r\n:62F:C260305EUR1234,56\r\n-\r\n"
    )
    (line,), errors = read_mt940(text.encode(encoding), "bank.sta")
    assert errors == [] and line.payer == NAME
