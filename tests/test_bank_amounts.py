"""Amounts read exactly as the bank wrote them, or refused with the line: every format."""

from __future__ import annotations

from decimal import Decimal

import pytest

from automation.bank.camt import read_camt
from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx
from automation.bank.onec import read_onec

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


OURS = "40702810900000012345"


def onec(amount: str) -> bytes:
    return "\r\n".join([
        "1CClientBankExchange", "ВерсияФормата=1.03", "Кодировка=Windows", f"РасчСчет={OURS}",
        "СекцияДокумент=Платежное поручение", "Номер=5", "Дата=03.03.2026", f"Сумма={amount}",
        "ПлательщикСчет=40702810100000000001", "ПлательщикИНН=7707083893",
        "Плательщик1=ООО Ромашка", f"ПолучательСчет={OURS}", "ДатаПоступило=03.03.2026",
        "НазначениеПлатежа=Оплата INV-2026-0007", "КонецДокумента", "КонецФайла",
    ]).encode("cp1251")  # fmt: skip


def test_onec_amount_finer_than_kopecks_is_a_line_error() -> None:
    lines, errors = read_onec(onec("25000.505"), "k.txt")
    assert lines == []
    assert [e.sheet for e in errors] == ["k.txt, line 5"]
    assert "Сумма '25000.505' has 3 decimals" in errors[0].message


def test_onec_plain_amount_still_read() -> None:
    lines, errors = read_onec(onec("25000.50"), "k.txt")
    assert errors == []
    assert [line.amount for line in lines] == [Decimal("25000.50")]


def camt(amount: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-05T10:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-03-05T10:00:00</CreDtTm>
<Acct><Id><IBAN>DE02100100100006820101</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-03-03</Dt></BookgDt><ValDt><Dt>2026-03-03</Dt></ValDt>
<AcctSvcrRef>2026030399887766</AcctSvcrRef><BkTxCd/><NtryDtls><TxDtls><RltdPties>
<Dbtr><Nm>Acme GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
</RltdPties><RmtInf><Ustrd>INV-2026-0001</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>""".encode()


@pytest.mark.parametrize("amount", ["1234.505", "1234.500"])
def test_camt_amount_finer_than_cents_is_a_line_error(amount: str) -> None:
    lines, errors = read_camt(camt(amount), "c.xml")
    assert lines == []
    assert [e.sheet for e in errors] == ["c.xml, line 6"]
    assert f"{amount!r} has 3 decimals" in errors[0].message


def test_camt_plain_amount_still_read() -> None:
    lines, errors = read_camt(camt("1234.5"), "c.xml")
    assert errors == []
    assert [line.amount for line in lines] == [Decimal("1234.5")]


STATEMENT = """:20:STMT0303
:25:DE12500105170648489890
:28C:{number}
:60F:C260302EUR0,00
:61:2603030303C500,00NTRFNONREF
:86:166?00SEPA-GUTSCHRIFT?20SVWZ+Teilzahlung INV-2026-0006?32Acme GmbH
{extra}:62F:C260303EUR500,00
-"""
SAME_AGAIN = ":61:2603030303C500,00NTRFNONREF\n:86:166?00SEPA-GUTSCHRIFT?20SVWZ+Teilzahlung INV-2026-0006?32Acme GmbH\n"  # noqa: E501


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("cp1252")


def test_mt940_statement_listed_twice_in_one_file_counts_once() -> None:
    one = STATEMENT.format(number="00062/001", extra="")
    lines, errors = read_mt940(crlf(one + "\n" + one), "s.sta")
    alone, _ = read_mt940(crlf(one), "s2.sta")
    assert errors == []
    assert [(ln.amount, ln.bank_ref, ln.line) for ln in lines] == [
        (Decimal("500.00"), alone[0].bank_ref, 5)
    ]


def test_mt940_two_equal_payments_in_one_statement_both_count() -> None:
    two = STATEMENT.format(number="00062/001", extra=SAME_AGAIN)
    lines, _ = read_mt940(crlf(two + "\n" + two), "s.sta")
    assert len(lines) == 2 and lines[1].bank_ref == lines[0].bank_ref + "#2"


def test_mt940_another_statement_number_is_another_statement() -> None:
    first = STATEMENT.format(number="00062/001", extra="")
    lines, _ = read_mt940(crlf(first + "\n" + first.replace("00062/001", "00063/001")), "s.sta")
    assert len(lines) == 2


CAMT_STMT = """<Stmt><Id>{id}</Id><ElctrncSeqNb>62</ElctrncSeqNb>
<CreDtTm>2026-03-03T18:00:00</CreDtTm>
<Acct><Id><IBAN>DE12500105170648489890</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">500.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-03-03</Dt></BookgDt><ValDt><Dt>2026-03-03</Dt></ValDt><BkTxCd/>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RltdPties>
<Dbtr><Nm>Acme GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
</RltdPties><RmtInf><Ustrd>Teilzahlung INV-2026-0006</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt>"""


def camt_file(*statements: str) -> bytes:
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-05T10:00:00</CreDtTm></GrpHdr>
""" + "\n".join(statements) + "\n</BkToCstmrStmt></Document>").encode()


def test_camt_statement_listed_twice_in_one_file_counts_once() -> None:
    one = CAMT_STMT.format(id="S-2026-03-03")
    lines, errors = read_camt(camt_file(one, one), "c.xml")
    alone, _ = read_camt(camt_file(one), "c2.xml")
    assert errors == []
    assert [(ln.amount, ln.bank_ref) for ln in lines] == [(Decimal("500.00"), alone[0].bank_ref)]


def test_camt_statements_with_other_ids_both_count() -> None:
    lines, _ = read_camt(camt_file(CAMT_STMT.format(id="S1"), CAMT_STMT.format(id="S2")), "c.xml")
    assert len(lines) == 2
