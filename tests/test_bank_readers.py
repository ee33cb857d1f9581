"""Every statement format and encoding read into the same BankLine records."""

from __future__ import annotations

import doctest
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from statements import (
    CSV_CONFIG,
    Tx,
    camt053,
    csv_bank,
    mt940_ing,
    mt940_rabobank,
    mt940_sparkasse,
    ofx_sgml,
    ofx_xml,
    onec_kazakh,
    onec_russian,
)

from automation import money as money_module
from automation.bank import match as match_module
from automation.bank import mt940 as mt940_module
from automation.bank import ofx as ofx_module
from automation.bank import record as record_module
from automation.bank import settings as settings_module
from automation.bank.camt import read_camt
from automation.bank.csvfile import read_csv
from automation.bank.detect import read_statement
from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx
from automation.bank.onec import read_onec
from automation.bank.record import BankConfig, CsvLayout
from automation.config import parse_config

D = Decimal
KZ = [
    Tx(date(2026, 3, 2), D("150000.00"), 'ТОО "Алатау Сервис"', "180940012345",
       "KZ22722C000024901213", "Оплата по счету №INV-2026-0007 от 01.03.2026", number="47437099"),
    Tx(date(2026, 3, 3), D("-4000.00"), "Яна Петровна О.", "910308400020",
       "KZ22722C000024901299", "Прочие переводы денег на карту Kaspi Gold *3305",
       number="47437100"),
]  # fmt: skip


@pytest.mark.parametrize("encoding", ["cp1251", "cp866", "utf-8", "utf-8-sig"])
def test_kazakh_1c_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "kaspi.txt"
    path.write_bytes(onec_kazakh(KZ, encoding))
    lines, errors = read_statement(path, BankConfig())
    assert errors == []
    incoming, outgoing = lines
    assert incoming.date == date(2026, 3, 2)
    assert incoming.amount == D("150000.00") and incoming.currency == "KZT"
    assert incoming.direction == "in" and outgoing.direction == "out"
    assert incoming.payer == 'ТОО "Алатау Сервис"'
    assert incoming.payer_ids == ("180940012345", "KZ22722C000024901213")
    assert incoming.reference == "Оплата по счету №INV-2026-0007 от 01.03.2026"
    assert outgoing.payer == "Яна Петровна О." and outgoing.amount == D("4000.00")
    assert incoming.file == "kaspi.txt" and incoming.line > 10


def test_the_same_file_in_two_encodings_gives_the_same_bank_refs() -> None:
    refs = {
        enc: [line.bank_ref for line in read_onec(onec_kazakh(KZ, enc), "x.txt")[0]]
        for enc in ("cp1251", "cp866", "utf-8-sig")
    }
    assert refs["cp1251"] == refs["cp866"] == refs["utf-8-sig"]
    assert len(set(refs["cp1251"])) == 2


def test_two_identical_payments_on_one_day_stay_two_lines() -> None:
    same = [KZ[0], KZ[0]]
    lines, _ = read_onec(onec_kazakh(same), "x.txt")
    assert len({line.bank_ref for line in lines}) == 2
    again, _ = read_onec(onec_kazakh([*same, KZ[1]]), "y.txt")
    assert [ln.bank_ref for ln in again[:2]] == [ln.bank_ref for ln in lines]


RU = [
    Tx(date(2026, 3, 4), D("25000.00"), 'ООО "Ромашка"', "7701234567", "40702810500000012345",
       "Оплата по счету INV-2026-0012 за услуги. Без НДС"),
    Tx(date(2026, 3, 5), D("-1200.50"), 'ООО "Аренда"', "7709876543", "40702810600000054321",
       "Аренда за март"),
]  # fmt: skip


@pytest.mark.parametrize("encoding", ["cp1251", "cp866", "utf-8-sig"])
@pytest.mark.parametrize("version", ["1.02", "1.03"])
def test_russian_1c_direction_from_the_statements_own_account(encoding: str, version: str) -> None:
    lines, errors = read_onec(onec_russian(RU, encoding, version=version), "sber.txt")
    assert errors == []
    came, went = lines
    assert (came.direction, went.direction) == ("in", "out")
    assert came.currency == "RUB"  # digits 6-8 of 40702810...: 810
    assert came.payer == 'ООО "Ромашка"' and came.payer_ids == (
        "7701234567",
        "40702810500000012345",
    )
    assert came.date == date(2026, 3, 4) and came.amount == D("25000.00")
    assert went.amount == D("1200.50") and went.payer == 'ООО "Аренда"'


def test_russian_1c_paid_date_is_the_date_the_money_arrived() -> None:
    text = onec_russian(RU[:1], "utf-8").decode()
    text = text.replace("ДатаПоступило=04.03.2026", "ДатаПоступило=06.03.2026")
    (line,), _ = read_onec(text.encode(), "sber.txt")
    assert line.date == date(2026, 3, 6)


def test_kazakh_1c_paid_date_is_the_date_the_money_arrived() -> None:
    """Kaspi writes `ДатаПоступило` beside the payment order's own date: the money arrived
    then (a 2/10 discount hangs on it). The document's Bank Ref stays the one it had."""
    text = onec_kazakh(KZ, "utf-8").decode()
    before, _ = read_onec(text.encode(), "kaspi.txt")
    for day, key, then in (("02", "ДатаПоступило", "04"), ("03", "ДатаСписано", "05")):
        operation = f"ДатаОперации={day}.03.2026"
        text = text.replace(operation, f"{operation}\r\n{key}={then}.03.2026")
    (came, went), errors = read_onec(text.encode(), "kaspi.txt")
    assert errors == []
    assert (came.date, went.date) == (date(2026, 3, 4), date(2026, 3, 5))
    assert [came.bank_ref, went.bank_ref] == [ln.bank_ref for ln in before]
    only_date = (
        "1CClientBankExchange\nВерсияФормата=1.01\nКодировка=Windows\nРасчСчет=KZ86722S000001234567\n"
        "СекцияДокумент=выписка\nНомерДокумента=202\nДата=12.03.2026\nДатаПоступило=13.03.2026\n"
        "СуммаПриход=980.00\nПлательщикБИН_ИИН=123456789012\nНазначениеПлатежа=INV-2026-0005\n"
        "КонецДокумента\nКонецФайла\n"
    )
    (line,), errors = read_onec(only_date.encode("cp1251"), "kaspi.txt")
    assert errors == [] and line.date == date(2026, 3, 13)


def test_a_broken_1c_document_is_an_error_and_the_rest_is_read() -> None:
    text = onec_kazakh(KZ, "utf-8").decode().replace("СуммаПриход=150000.00", "СуммаПриход=abc")
    lines, errors = read_onec(text.encode(), "halyk.txt")
    assert len(lines) == 1 and len(errors) == 1
    assert "halyk.txt, line" in str(errors[0]) and "'abc' is not an amount" in str(errors[0])


def test_russian_1c_of_two_accounts_reads_each_payment_in_its_accounts_currency() -> None:
    """A statement of a rouble and a dollar account: dollars are not read as roubles."""

    def doc(number: str, amount: str, payee: str) -> str:
        return (
            f"СекцияДокумент=Платежное поручение\nНомер={number}\nДата=16.01.2026\n"
            f"Сумма={amount}\nПлательщикСчет=40702840000000000001\nПлательщик1=Partner Inc\n"
            f"ПолучательСчет={payee}\nПолучательИНН=7700000000\nДатаПоступило=17.01.2026\n"
            "НазначениеПлатежа=Оплата по счету INV-2026-0003\nКонецДокумента\n"
        )

    text = (
        "1CClientBankExchange\nВерсияФормата=1.03\nКодировка=Windows\n"
        "РасчСчет=40702810900000000001\nРасчСчет=40702840200000000002\n"
        + doc("77", "15000.00", "40702840200000000002")
        + doc("78", "900.00", "40702810900000000001")
        + "КонецФайла\n"
    )
    dollars, roubles = read_onec(text.encode("cp1251"), "sber.txt")[0]
    assert (dollars.amount, dollars.currency) == (D("15000.00"), "USD")
    assert (roubles.amount, roubles.currency) == (D("900.00"), "RUB")


def test_uppercase_1c_keys_from_jusan_are_read() -> None:
    text = onec_kazakh(KZ[:1], "utf-8").decode()
    text = text.replace("СекцияДокумент=выписка", "СЕКЦИЯДОКУМЕНТ=Выписка")
    text = text.replace("КонецДокумента", "КОНЕЦДОКУМЕНТА")
    (line,), errors = read_onec(text.encode(), "jusan.txt")
    assert errors == [] and line.amount == D("150000.00")


EU = [
    Tx(date(2026, 3, 2), D("1210.00"), "Acme B.V.", account="NL91ABNA0417164300",
       purpose="Invoice INV-2026-0007", ref="2026030200001"),
    Tx(date(2026, 3, 3), D("-45.10"), "Office Rent BV", account="NL02RABO0123456789",
       purpose="Huur maart", ref="2026030300002"),
]  # fmt: skip


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_camt053_versions(version: str) -> None:
    batch = [
        Tx(date(2026, 3, 4), D("100.00"), "Beta GmbH", account="DE89370400440532013000",
           purpose="RE INV-2026-0008", ref="B1"),
        Tx(date(2026, 3, 4), D("250.50"), "Gamma SA", account="BE68539007547034",
           purpose="INV-2026-0009", ref="B2"),
    ]  # fmt: skip
    lines, errors = read_camt(camt053(EU, version, batch=batch), "ing.xml")
    assert errors == []
    assert [(ln.direction, ln.amount) for ln in lines] == [
        ("in", D("1210.00")),
        ("out", D("45.10")),
        ("in", D("100.00")),
        ("in", D("250.50")),
    ]
    first = lines[0]
    assert first.payer == "Acme B.V." and first.payer_ids == ("NL91ABNA0417164300",)
    assert first.reference == "Invoice INV-2026-0007" and first.bank_ref == "2026030200001"
    assert first.currency == "EUR" and first.date == date(2026, 3, 2)
    assert lines[1].payer == "Office Rent BV"  # the creditor of a debit
    assert [ln.bank_ref for ln in lines[2:]] == ["B1-TX", "B2-TX"]


def test_camt_structured_remittance_names_the_invoice() -> None:
    """`Strd/RfrdDocInf/Nb` and `AddtlRmtInf` instead of `Ustrd`: the invoice is read."""
    plain = camt053(EU[:1], "08")
    strd = plain.replace(
        b"<RmtInf><Ustrd>Invoice INV-2026-0007</Ustrd></RmtInf>",
        b"<RmtInf><Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd></CdOrPrtry></Tp>"
        b"<Nb>INV-2026-0007</Nb></RfrdDocInf><AddtlRmtInf>part payment</AddtlRmtInf></Strd>"
        b"</RmtInf>",
    )
    assert strd != plain
    (line,), errors = read_camt(strd, "strd.xml")
    assert errors == [] and line.reference == "INV-2026-0007 part payment"


def test_camt_in_a_swift_envelope_and_a_statement_listed_twice() -> None:
    document = camt053(EU, "08").split(b"?>", 1)[1]
    wrapped = (
        b'<?xml version="1.0" encoding="UTF-8"?><BizMsgEnvlp xmlns="urn:swift:xsd:envelope">'
        b'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><BizMsgIdr>1'
        b"</BizMsgIdr></AppHdr>" + document + b"</BizMsgEnvlp>"
    )
    lines, errors = read_camt(wrapped, "envelope.xml")
    assert errors == [] and [ln.bank_ref for ln in lines] == ["2026030200001", "2026030300002"]
    # The same statement twice in one file: its payments are not counted twice.
    text = camt053(EU[:1], "08").decode()
    stmt = text[text.index("<Stmt>") : text.index("</Stmt>") + len("</Stmt>")]
    twice = text.replace(stmt, stmt + stmt).encode()
    (line,), errors = read_camt(twice, "twice.xml")
    assert errors == [] and line.bank_ref == "2026030200001"
    # ...but the same entry twice within one statement is two payments, kept apart.
    entry = text[text.index("<Ntry>") : text.index("</Ntry>") + len("</Ntry>")]
    doubled_entry = text.replace(entry, entry + entry).encode()
    first, second = read_camt(doubled_entry, "two-in-one.xml")[0]
    assert (first.bank_ref, second.bank_ref) == ("2026030200001", "2026030200001#2")
    # Two equal payments the bank gave no id of its own stay two lines.
    unnamed = re.sub(rb"<(NtryRef|AcctSvcrRef)>[^<]*</\1>", b"", camt053(EU[:1], "08"))
    doubled = unnamed.replace(b"</Ntry>", b"</Ntry>" + unnamed.split(b"<Ntry>")[1].split(
        b"</Ntry>")[0].join([b"<Ntry>", b"</Ntry>"]), 1)  # fmt: skip
    first, second = read_camt(doubled, "two.xml")[0]
    assert first.bank_ref.startswith("CAMT-") and second.bank_ref == first.bank_ref + "#2"


def test_camt054_and_pending_entries() -> None:
    data = camt053(EU[:1], "04", kind="054")
    (line,), _ = read_camt(data, "ntf.xml")
    assert line.amount == D("1210.00")
    pending = camt053(EU[:1], "08").replace(b"<Cd>BOOK</Cd>", b"<Cd>PDNG</Cd>")
    assert read_camt(pending, "x.xml") == ([], [])


def test_mt940_ing() -> None:
    txs = [*EU, Tx(date(2026, 3, 4), D("99.99"), "A Very Long Company Name Trading As Something",
                   account="NL20INGB0001234567", purpose="Payment of invoice INV-2026-0011 thanks",
                   ref="2026030400003")]  # fmt: skip
    lines, errors = read_mt940(mt940_ing(txs), "ing.sta")
    assert errors == []
    assert [(ln.direction, ln.amount, ln.bank_ref) for ln in lines] == [
        ("in", D("1210.00"), "2026030200001"),
        ("out", D("45.10"), "2026030300002"),
        ("in", D("99.99"), "2026030400003"),
    ]
    assert lines[0].payer == "Acme B.V." and lines[0].payer_ids == ("NL91ABNA0417164300",)
    assert lines[0].reference == "Invoice INV-2026-0007"
    # wrapped at 65 characters, in the middle of a word, and joined again
    assert lines[2].reference == "Payment of invoice INV-2026-0011 thanks"
    assert lines[2].payer == "A Very Long Company Name Trading As Something"


def test_mt940_first_details_line_cut_at_65_with_its_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rabobank counts `:86:` in the first line's 65 characters: a cut there is mid-word."""
    head = "/CNTP/NL70ABNA0987654321/ABNANL2A/Delta BV///REMI/USTD//Pay "
    head = head.replace("Delta BV", "Delta BV" + " " * (60 - len(head)))
    details = head + "INV-2026-0006 thanks/"
    first, rest = details[:61], details[61:]  # 65 with the tag: the invoice number cut after I
    assert len(":86:" + first) == 65 and first.endswith(" I") and rest.startswith("NV-")
    text = (
        ":20:940S260119\r\n:25:NL31RABO0300087233 EUR\r\n:28C:1\r\n"
        ":60F:C260119EUR0,00\r\n:61:260119C20,00N541NONREF\r\n"
        f":86:{first}\r\n{rest}\r\n:62F:C260119EUR20,00\r\n"
    )
    (line,), errors = read_mt940(text.encode(), "rabo.sta")
    assert errors == [] and line.reference == "Pay INV-2026-0006 thanks"
    assert line.payer == "Delta BV"
    # Its Bank Ref is the one an earlier import, which read the line as 61 long, recorded.
    monkeypatch.setattr(mt940_module, "first_line_width", lambda text: 65)
    (before,), _ = read_mt940(text.encode(), "rabo.sta")
    assert before.reference == "Pay I NV-2026-0006 thanks" and before.bank_ref == line.bank_ref


def test_mt940_of_asn_sns_and_regiobank() -> None:
    """de Volksbank puts the payer's IBAN (18 characters) where a customer reference
    (16 at most) goes, and the payer's name on the next line."""
    text = (
        "{1:F01ASNBNL21XXXX0000000000}{2:O940ASNBNL21XXXXN}{3:}{4:\r\n:20:0000000000\r\n"
        ":25:NL81ASNB9999999999\r\n:28C:1/1\r\n:60F:C260301EUR444,29\r\n"
        ":61:2603020302C1210,00NOVBNL47INGB9999999999\r\nAcme B.V.\r\n"
        ":86:NL47INGB9999999999 Acme B.V.\r\n" + " " * 65 + "\r\nFactuur INV-2026-0007"
        + " " * 44 + "\r\n:62F:C260302EUR1654,29\r\n-}{5:}\r\n"
    )
    (line,), errors = read_mt940(text.encode(), "asn.940")
    assert errors == []
    assert (line.direction, line.amount, line.date) == ("in", D("1210.00"), date(2026, 3, 2))
    assert line.payer == "Acme B.V." and line.payer_ids == ("NL47INGB9999999999",)
    assert "INV-2026-0007" in line.reference


def test_mt940_a_reversed_credit_is_told_for_review() -> None:
    """RC: a payment that came in was taken back; it is no payment, and it is said."""
    text = (
        ":20:STMT\r\n:25:NL69INGB0123456789EUR\r\n:28C:1\r\n:60F:C260119EUR0,00\r\n"
        ":61:2601190119C1250,50NTRFEREF//2026011900000001\r\n:86:/REMI/USTD//INV-2026-0001/\r\n"
        ":61:2601210121RC1250,50NTRFEREF//2026012100000002\r\n:86:/REMI/USTD//INV-2026-0001/\r\n"
        ":62F:C260121EUR0,00\r\n"
    )
    (came, reversed_), errors = read_mt940(text.encode(), "ing.sta")
    assert (came.direction, reversed_.direction) == ("in", "out")
    (error,) = errors
    assert error.sheet == "ing.sta, line 7"
    assert "reversed a credit of 1250.50 EUR on 2026-01-21 (INV-2026-0001)" in error.message
    assert "lower that invoice's Paid Amount" in error.message


def test_mt940_a_statement_listed_twice_counts_once_and_equal_lines_in_one_stay_two() -> None:
    statement = (
        ":20:STARTUMS\r\n:25:NL12RABO0123456789\r\n:28C:00001/001\r\n:60F:C260119EUR0,00\r\n"
        ":61:2601190119C25,00N541NONREF//2601190000000777\r\n:86:/REMI/USTD//INV-2026-0006/\r\n"
        ":62F:C260119EUR25,00\r\n-\r\n"
    )
    (line,), errors = read_mt940((statement + statement).encode(), "twice.sta")
    assert errors == [] and line.bank_ref == "2601190000000777"
    pair = statement.replace(":62F:", ":61:2601190119C25,00N541NONREF//2601190000000777\r\n"
                             ":86:/REMI/USTD//INV-2026-0006/\r\n:62F:")  # fmt: skip
    first, second = read_mt940(pair.encode(), "pair.sta")[0]
    assert (first.bank_ref, second.bank_ref) == ("2601190000000777", "2601190000000777#2")


def test_mt940_rabobank() -> None:
    lines, errors = read_mt940(mt940_rabobank(EU), "rabo.swi")
    assert errors == []
    came = lines[0]
    assert came.payer == "Acme B.V." and came.reference == "Invoice INV-2026-0007"
    assert came.payer_ids == ("NL91ABNA0417164300",) and came.date == date(2026, 3, 2)
    assert lines[1].direction == "out"


def test_mt940_short_sequence_references_are_not_trusted_as_ids() -> None:
    txs = [Tx(date(2026, 3, 2), D("10.00"), "A", account="NL91ABNA0417164300", purpose="x",
              ref="1"), Tx(date(2026, 3, 9), D("20.00"), "B", account="NL91ABNA0417164300",
                           purpose="y", ref="1")]  # fmt: skip
    lines, _ = read_mt940(mt940_ing(txs), "ing.sta")
    assert lines[0].bank_ref != lines[1].bank_ref and lines[0].bank_ref.startswith("MT940-")


def suncorp_ofx(day: str, fitid: str, name: str, memo: str, amount: str) -> bytes:
    """Suncorp's OFX 2: NAME and MEMO in CDATA, each statement's FITIDs counted from 1."""
    return (
        '<?xml version="1.0" encoding="us-ascii"?>\n<?OFX OFXHEADER="200" VERSION="200"?>\n'
        "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD</CURDEF><BANKTRANLIST>\n"
        f"<STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>{day}</DTPOSTED>"
        f"<TRNAMT>{amount}</TRNAMT><FITID>{fitid}</FITID>\n<NAME><![CDATA[{name}  ]]></NAME>\n"
        f"<MEMO><![CDATA[{memo}]]></MEMO></STMTTRN>\n"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ).encode("ascii")


def test_ofx_cdata_texts_and_per_statement_fitids() -> None:
    (jan,), _ = read_ofx(suncorp_ofx("20260115", "1", "BETA & CO", "PART INV-2026-0002",
                                     "400.00"), "jan.ofx")  # fmt: skip
    (feb,), _ = read_ofx(suncorp_ofx("20260215", "1", "GAMMA LLC", "INV-2026-0003",
                                     "1000.00"), "feb.ofx")  # fmt: skip
    assert (jan.payer, jan.reference) == ("BETA & CO", "PART INV-2026-0002")
    assert (feb.payer, feb.reference, feb.line) == ("GAMMA LLC", "INV-2026-0003", 4)
    # FITID 1 in both: not the transaction's id, or February's would pass for January's.
    assert jan.bank_ref != feb.bank_ref and jan.bank_ref.startswith("OFX-")
    (again,), _ = read_ofx(suncorp_ofx("20260115", "1", "BETA & CO", "PART INV-2026-0002",
                                       "400.00"), "jan-again.ofx")  # fmt: skip
    assert again.bank_ref == jan.bank_ref


@pytest.mark.parametrize("build", [ofx_sgml, ofx_xml])
def test_ofx(build) -> None:  # type: ignore[no-untyped-def]
    txs = [*EU[:1], Tx(date(2026, 3, 3), D("-45.10"), "Rent & Co", purpose="Rent",
                       ref="FIT2")]  # fmt: skip
    lines, errors = read_ofx(build(txs, "USD"), "bank.qfx")
    assert errors == []
    came, went = lines
    # 21:00 in New York on March 2 is March 2 at the bank, not March 3 in UTC
    assert came.date == date(2026, 3, 2)
    assert (came.amount, came.currency, came.direction) == (D("1210.00"), "USD", "in")
    assert came.bank_ref == "2026030200001" and came.reference == "Invoice INV-2026-0007"
    assert went.payer == "Rent & Co" and went.direction == "out"


def test_csv_described_by_the_config(tmp_path: Path) -> None:
    import tomllib

    config = parse_config(tomllib.loads(CSV_CONFIG)).bank
    path = tmp_path / "umsaetze.csv"
    path.write_bytes(csv_bank([*EU, Tx(date(2026, 3, 5), D("1234567.89"), "Müller & Söhne",
                                       purpose="Rechnung INV-2026-0010")]))  # fmt: skip
    lines, errors = read_statement(path, config)
    assert errors == []
    assert [(ln.direction, ln.amount) for ln in lines] == [
        ("in", D("1210.00")),
        ("out", D("45.10")),
        ("in", D("1234567.89")),
    ]
    assert lines[2].payer == "Müller & Söhne" and lines[2].bank_ref.startswith("CSV-")
    assert lines[0].bank_ref == "2026030200001" and lines[0].payer_ids == ("NL91ABNA0417164300",)


def test_csv_bad_cells_are_located(tmp_path: Path) -> None:
    import tomllib

    config = parse_config(tomllib.loads(CSV_CONFIG)).bank
    path = tmp_path / "b.csv"
    data = csv_bank(EU).decode("cp1252").replace("02.03.2026", "2026-03-02")
    path.write_bytes(data.encode("cp1252"))
    lines, errors = read_statement(path, config)
    assert len(lines) == 1
    assert str(errors[0]).startswith("b.csv, line 2: Buchungstag: '2026-03-02' does not match")


def test_an_unknown_file_says_what_is_read(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    lines, (error,) = read_statement(path, BankConfig())
    assert lines == [] and "1C (1CClientBankExchange), camt.053/camt.054, MT940" in str(error)
    assert "[bank.csv]" in str(error)


def test_doctests() -> None:
    for module in (match_module, mt940_module, ofx_module, record_module, settings_module,
                   money_module):  # fmt: skip
        assert doctest.testmod(module).failed == 0


# --- amounts as banks write them -------------------------------------------------------------


@pytest.mark.parametrize("build", [ofx_sgml, ofx_xml])
def test_ofx_amounts_with_a_plus_sign_and_a_decimal_comma(build) -> None:  # type: ignore[no-untyped-def]
    # French banks write TRNAMT as +1234,56 (OFX allows either mark, and a sign)
    txs = [Tx(date(2026, 3, 5), D("1234.56"), "VIR EMILE DUPONT", purpose="INV-4", ref="G1"),
           Tx(date(2026, 3, 6), D("0.30"), "VIR CAFE", purpose="INV-3", ref="G2"),
           Tx(date(2026, 3, 6), D("1006.60"), "VIR BETA", purpose="INV-2", ref="G3"),
           Tx(date(2026, 3, 6), D("-12.50"), "FRAIS", purpose="Frais", ref="G4")]  # fmt: skip
    data = build(txs, "EUR")
    for plain, french in [("1234.56", "+1234,56"), ("0.30", "+0,30"), ("1006.60", "+1 006,60"),
                          ("-12.50", "-12,50")]:  # fmt: skip
        data = data.replace(f"<TRNAMT>{plain}".encode(), f"<TRNAMT>{french}".encode())
    lines, errors = read_ofx(data, "releve.ofx")
    assert errors == []
    assert [(ln.direction, ln.amount) for ln in lines] == [
        ("in", D("1234.56")), ("in", D("0.30")), ("in", D("1006.60")), ("out", D("12.50"))
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1,234", "TRNAMT '1,234' has 3 decimals; USD amounts have at most 2"),
        ("1e2", "TRNAMT '1e2' is not an amount"),
        ("$100.00", "TRNAMT '$100.00' is not an amount"),
        ("12.345", "TRNAMT '12.345' has 3 decimals; USD amounts have at most 2"),
    ],
)
def test_ofx_amounts_that_cannot_be_read_exactly_are_refused(written: str, expected: str) -> None:
    txs = [*EU[:1], Tx(date(2026, 3, 3), D("45.10"), "Beta", purpose="INV-2", ref="FIT2")]
    data = ofx_sgml(txs, "USD").replace(b"<TRNAMT>45.10", f"<TRNAMT>{written}".encode())
    lines, (error,) = read_ofx(data, "bank.qfx")
    assert [ln.amount for ln in lines] == [D("1210.00")]
    assert str(error).startswith("bank.qfx, line ") and expected in str(error)


def test_ofx_origcurrency_leaves_the_amount_in_the_accounts_currency() -> None:
    # ORIGCURRENCY: TRNAMT is already converted to CURDEF; CURRENCY: TRNAMT is in CURSYM
    txs = [
        Tx(date(2026, 3, 5), D("1302.00"), "ACME GMBH", purpose="WIRE INV-1", ref="H1"),
        Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH", purpose="WIRE INV-1", ref="H2"),
    ]
    data = ofx_sgml(txs, "USD")
    data = data.replace(
        b"<FITID>H1", b"<ORIGCURRENCY><CURRATE>1.085<CURSYM>EUR</ORIGCURRENCY><FITID>H1"
    )
    data = data.replace(b"<FITID>H2", b"<CURRENCY><CURRATE>1.085<CURSYM>EUR</CURRENCY><FITID>H2")
    lines, errors = read_ofx(data, "wires.ofx")
    assert errors == []
    assert [(ln.amount, ln.currency) for ln in lines] == [(D("1302.00"), "USD"),
                                                         (D("1200.00"), "EUR")]  # fmt: skip


def csv_file(rows: list[str], header: str = "Date;Payer;Reference;Amount") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


COMMA = CsvLayout(date="Date", amount="Amount", reference="Reference", payer="Payer",
                  decimal=",", delimiter=";")  # fmt: skip
POINT = replace(COMMA, decimal=".")


@pytest.mark.parametrize(
    ("layout", "good", "bad"),
    [
        (COMMA, [("1.234,56", "1234.56"), ("-45,10", "45.10"), ("300", "300"),
                 ("1.234", "1234"), ("1 006,60", "1006.60")],
         ["1234.56", "300.00", "1,234.56"]),
        (POINT, [("1,234.56", "1234.56"), ("0.30", "0.30"), ("1,234", "1234"),
                 ("1'234.50", "1234.50")],
         ["1.234,56", "0,30", "12,5"]),
    ],
)  # fmt: skip
def test_csv_amounts_that_contradict_the_decimal_setting_are_refused(
    layout: CsvLayout, good: list[tuple[str, str]], bad: list[str]
) -> None:
    rows = [f"2026-03-05;Acme;INV-{i};{text}" for i, (text, _) in enumerate(good)]
    rows += [f"2026-03-06;Beta;INV-{i};{text}" for i, text in enumerate(bad)]
    lines, errors = read_csv(csv_file(rows), "bank.csv", layout, "EUR")
    assert [ln.amount for ln in lines] == [D(value) for _, value in good]
    assert len(errors) == len(bad)
    for number, (error, text) in enumerate(zip(errors, bad, strict=True), start=len(good) + 2):
        assert str(error).startswith(f"bank.csv, line {number}: Amount: {text!r} does not fit")
        assert f'[bank.csv] decimal = "{layout.decimal}"' in str(error)


@pytest.mark.parametrize(
    ("written", "currency", "expected"),
    [
        ("99.989", "EUR", "'99.989' has 3 decimals; EUR amounts have at most 2."),
        ("1000.5", "JPY", "'1000.5' has 1 decimal; JPY amounts have none."),
        # equal to 2.50 but maybe 2,500 written with the other mark: refused, not guessed
        ("2.500", "USD", "'2.500' has 3 decimals; USD amounts have at most 2: if it means 2500 "
                         '(thousands grouped with "."), set [bank.csv] decimal = ",".'),
        ("-1.000", "EUR", "'-1.000' has 3 decimals; EUR amounts have at most 2: if it means 1000"),
        ("1e2", "EUR", "'1e2' is not an amount: beside the number only a currency code or sign"),
        ("100 CR", "EUR", "'100 CR' is not an amount"),
        ("NaN", "EUR", "'NaN' is not an amount"),
        ("Infinity", "EUR", "'Infinity' is not an amount"),
        ("-", "EUR", "'-' is not an amount"),
        ("(-5.00)", "EUR", "'(-5.00)' is not an amount"),
        ("€1,200.00", "USD", "'€1,200.00' is in EUR, but the Currency column says USD."),
    ],
)
def test_csv_amounts_that_cannot_be_read_exactly_are_refused(
    written: str, currency: str, expected: str
) -> None:
    layout = replace(POINT, delimiter=",", currency="Currency")
    data = csv_file([f'2026-03-05,Acme,INV-6,"{written}",{currency}',
                     "2026-03-05,Acme,INV-7,12.00,EUR"],
                    "Date,Payer,Reference,Amount,Currency")  # fmt: skip
    lines, (error,) = read_csv(data, "c.csv", layout)
    assert [ln.amount for ln in lines] == [D("12.00")]
    assert str(error).startswith("c.csv, line 2: Amount: ") and expected in str(error)


def test_csv_currency_signs_and_codes_name_the_currency() -> None:
    layout = replace(POINT, delimiter=",", date_format="%m/%d/%Y")
    rows = ['03/05/2026,Zeta Inc,INV-5,"$500.00"', '03/06/2026,Acme,INV-1,"€1,200.00"',
            '03/06/2026,Office Depot,supplies,"($45.10)"', "03/07/2026,Beta,INV-2,EUR 300.00",
            "03/07/2026,Beta,INV-2,-300.00 USD", "03/07/2026,Beta,INV-2,12.00",
            "03/07/2026,Beta,INV-2,£ 7.50"]  # fmt: skip
    lines, errors = read_csv(csv_file(rows, "Date,Payer,Reference,Amount"), "d.csv", layout)
    assert errors == []
    assert [(ln.direction, ln.amount, ln.currency) for ln in lines] == [
        ("in", D("500.00"), "USD"), ("in", D("1200.00"), "EUR"), ("out", D("45.10"), "USD"),
        ("in", D("300.00"), "EUR"), ("out", D("300.00"), "USD"), ("in", D("12.00"), ""),
        ("in", D("7.50"), "GBP"),
    ]  # fmt: skip
    # "$" is the account's own dollar where it is one, and "kr" the account's krona
    header = "Date,Payer,Reference,Amount"
    lines, errors = read_csv(csv_file(rows[:1], header), "d.csv", layout, "CAD")
    assert errors == [] and lines[0].currency == "CAD"
    krona = csv_file(['03/05/2026,Zeta Inc,INV-5,"1,200.00 kr"'], header)
    lines, errors = read_csv(krona, "d.csv", layout, "SEK")
    assert errors == [] and lines[0].currency == "SEK"


def test_csv_currency_column_with_a_sign_or_no_currency() -> None:
    layout = replace(POINT, delimiter=",", currency="Currency")
    rows = ["2026-03-05,Acme,INV-6,99.99,€", "2026-03-05,Acme,INV-6,99.99,eur",
            "2026-03-05,Acme,INV-6,99.99,$", "2026-03-05,Acme,INV-6,99.99,Euro",
            "2026-03-05,Acme,INV-6,99.99,"]  # fmt: skip
    lines, (error,) = read_csv(
        csv_file(rows, "Date,Payer,Reference,Amount,Currency"), "c.csv", layout, "EUR"
    )
    assert [ln.currency for ln in lines] == ["EUR", "EUR", "USD", "EUR"]
    assert str(error) == (
        "c.csv, line 5: Currency: 'Euro' is not a currency; "
        "write its ISO code (such as EUR or USD) or sign (such as € or $)."
    )


def test_camt_a_reversed_credit_is_told_for_review() -> None:
    """DBIT with RvslInd: the payment that came in was taken back; told, as MT940's RC is."""
    came = Tx(date(2026, 3, 5), D("1500.00"), "Gamma AG", purpose="INV-2026-0003", ref="E1")
    back = Tx(date(2026, 3, 9), D("-1500.00"), "Gamma AG", purpose="INV-2026-0003", ref="E2")
    paid_out = Tx(date(2026, 3, 9), D("-20.00"), "Telekom", purpose="Rechnung", ref="E3")
    data = camt053([came, back, paid_out])
    data = data.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>DBIT</CdtDbtInd>"
                        b"<RvslInd>true</RvslInd>", 1)  # fmt: skip
    lines, (error,) = read_camt(data, "gamma.xml")
    assert [ln.direction for ln in lines] == ["in", "out", "out"]
    assert error.message.endswith(
        "reversed a credit of 1500.00 EUR on 2026-03-09 (INV-2026-0003): a payment that came "
        "in was taken back. If it was applied to an invoice, lower that invoice's Paid Amount "
        "by it."
    )
    assert str(error).startswith(f"gamma.xml, line {lines[1].line}: ")


def _month(day: date, amount: str, payer: str, account: str, purpose: str, ref: str) -> Tx:
    return Tx(day, D(amount), payer, account=account, purpose=purpose, ref=ref)


MARCH = _month(date(2026, 3, 5), "300.00", "Beta BV", "NL91ABNA0417164300", "INV-2026-0002", "1")
APRIL = _month(date(2026, 4, 2), "450.00", "Beta BV", "NL91ABNA0417164300", "INV-2026-0007", "1")


def _only_ntry_ref(data: bytes) -> bytes:
    """ING NL and Danish banks: `NtryRef` counts the statement's entries; no `AcctSvcrRef`."""
    return re.sub(rb"<AcctSvcrRef>[^<]*</AcctSvcrRef>", b"", data)


@pytest.mark.parametrize("shape", ["counter", "counter-only-ntryref", "notprovided"])
def test_camt_per_statement_counters_and_placeholders_are_not_bank_refs(shape: str) -> None:
    def statement(*txs: Tx) -> bytes:
        if shape == "notprovided":
            txs = tuple(replace(tx, ref="NOTPROVIDED") for tx in txs)
        data = camt053(txs, "08")
        return _only_ntry_ref(data) if shape == "counter-only-ntryref" else data

    (march,), _ = read_camt(statement(MARCH), "march.xml")
    (april,), _ = read_camt(statement(APRIL), "april.xml")
    assert march.bank_ref != april.bank_ref
    assert march.bank_ref.startswith("CAMT-") and april.bank_ref.startswith("CAMT-")
    # the same file again, and a quarter statement that overlaps both, give the same refs
    (again,), _ = read_camt(statement(MARCH), "march-copy.xml")
    assert again.bank_ref == march.bank_ref
    both, _ = read_camt(statement(replace(MARCH, ref="7"), replace(APRIL, ref="8")), "q.xml")
    assert [ln.bank_ref for ln in both] == [march.bank_ref, april.bank_ref]


def test_camt_a_reference_two_entries_share_is_not_an_id() -> None:
    same = [replace(EU[0], ref="SAMEREF-123"), replace(EU[0], day=date(2026, 3, 9),
                                                       ref="SAMEREF-123")]  # fmt: skip
    lines, errors = read_camt(camt053(same, "08"), "x.xml")
    assert errors == [] and len({ln.bank_ref for ln in lines}) == 2
    assert all(ln.bank_ref.startswith("CAMT-") for ln in lines)


def test_camt_bank_ids_that_look_like_ids_are_kept() -> None:
    lines, _ = read_camt(camt053(EU, "02"), "ing.xml")
    assert [ln.bank_ref for ln in lines] == ["2026030200001", "2026030300002"]
    placeholder = camt053(EU[:1], "02").replace(
        b"<AcctSvcrRef>2026030200001</AcctSvcrRef>", b"<AcctSvcrRef>NOTPROVIDED</AcctSvcrRef>"
    )
    (line,), _ = read_camt(placeholder, "ing.xml")
    assert line.bank_ref == "2026030200001"  # the entry's NtryRef, as the AcctSvcrRef is empty


DE = [
    Tx(date(2026, 3, 5), D("1234.56"), "Müller & Söhne Handelsgesellschaft mbH",
       account="DE89370400440532013000",
       purpose="SVWZ+Rechnung INV-2026-0010 vom 02.03.2026 Kundennr 4711"),
    Tx(date(2026, 3, 6), D("-25.00"), "Stadtwerke", account="DE02120300000000202051",
       purpose="SVWZ+Strom Maerz"),
]  # fmt: skip

#: The tester's Sparkasse file: a purpose cut mid-number, and one cut between words.
SPARKASSE = (
    ":20:STARTUMSE\r\n:25:12030000/1020304050\r\n:28C:00001/001\r\n:60F:C260301EUR5000,00\r\n"
    ":61:2603050305CR1234,56NTRFNONREF//2606412345\r\n"
    ":86:166?00GUTSCHR. UEBERW.?109310?20EREF+NOTPROVIDED?21SVWZ+Facture INV-2026-00?2204 "
    "merci?30CCBPFRPP\r\n?31FR7630006000011234567890189?32Émile Dupont SARL\r\n"
    ":61:2603060306CR300,00NTRFNONREF\r\n"
    ":86:166?00GUTSCHR. UEBERW.?20SVWZ+Rechnung?21INV-2026-0002?30ABNANL2A"
    "?31NL91ABNA0417164300?32Beta BV\r\n"
    ":61:2603060306DR25,00NMSCNONREF\r\n:86:805?00ENTGELTABSCHLUSS?20Kontofuehrung\r\n"
    ":62F:C260306EUR6509,56\r\n-\r\n"
).encode("cp1252")


def test_mt940_german_subfields() -> None:
    came, went = read_mt940(mt940_sparkasse(DE), "sparkasse.sta")[0]
    # ?32 and ?33 are one name, ?31 the payer's IBAN (not glued to the name), ?30 a bank's BIC
    assert came.payer == "Müller & Söhne Handelsgesellschaft mbH"
    assert came.payer_ids == ("DE89370400440532013000",)
    # the 27-character pieces of ?21-?23 join again, mid-word where the cut fell
    assert came.reference == "Rechnung INV-2026-0010 vom 02.03.2026 Kundennr 4711"
    assert (went.direction, went.payer, went.reference) == ("out", "Stadtwerke", "Strom Maerz")
    lines, errors = read_mt940(SPARKASSE, "a.sta")
    assert errors == []
    emile, beta, fee = lines
    assert emile.payer == "Émile Dupont SARL"
    assert emile.payer_ids == ("FR7630006000011234567890189",)
    assert emile.reference == "Facture INV-2026-0004 merci"
    assert beta.payer == "Beta BV" and beta.payer_ids == ("NL91ABNA0417164300",)
    assert beta.reference == "Rechnung INV-2026-0002"
    assert fee.reference == "Kontofuehrung" and fee.payer == "" and fee.payer_ids == ()


def test_mt940_german_bank_refs_stay_those_of_earlier_imports() -> None:
    """The refs the reader gave before it read `?31` apart: re-importing changes nothing."""
    assert [ln.bank_ref for ln in read_mt940(mt940_sparkasse(DE), "s.sta")[0]] == [
        "MT940-17d04fe9a12690e6",
        "MT940-530afe39e2b907d1",
    ]
    assert [ln.bank_ref for ln in read_mt940(SPARKASSE, "a.sta")[0]] == [
        "2606412345",
        "MT940-023b93f480bf261c",
        "MT940-27923f970c156b7a",
    ]


def _mt940_free_text(day: str, amount: str, details: str, bank_ref: str = "") -> bytes:
    ref = f"NONREF//{bank_ref}" if bank_ref else "NONREF"
    return (
        f":20:STMT\r\n:25:12030000/1020304050\r\n:28C:1/1\r\n:60F:C{day}EUR0,00\r\n"
        f":61:{day}C{amount}NTRF{ref}\r\n:86:{details}\r\n:62F:C{day}EUR{amount}\r\n-\r\n"
    ).encode("cp1252")


def test_mt940_free_text_details_are_the_reference() -> None:
    (line,), errors = read_mt940(
        _mt940_free_text("261231", "99,99", "Payment INV-2026-0006 ACME"), "c.sta"
    )
    assert errors == []
    assert (line.reference, line.payer, line.payer_ids) == ("Payment INV-2026-0006 ACME", "", ())
    march = read_mt940(_mt940_free_text("260305", "300,00", "INV-2026-0002 Beta BV", "1"), "1")
    april = read_mt940(_mt940_free_text("260405", "450,00", "INV-2026-0007 Beta BV", "1"), "2")
    assert march[0][0].bank_ref != april[0][0].bank_ref


def test_mt940_an_unexpected_failure_is_not_shown_as_its_python_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise ValueError("zip() argument 2 is longer than argument 1")

    monkeypatch.setattr(mt940_module, "_details", broken)
    lines, (error,) = read_mt940(_mt940_free_text("260305", "300,00", "x"), "c.sta")
    assert lines == [] and "zip()" not in str(error)
    assert str(error).startswith("c.sta, line 5: ")


def test_a_malformed_mt940_says_what_is_wrong_in_words(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "garbage.sta"
    path.write_text(":20:X\n:25:Y\n:61:garbage\n:86:zzz\n-")
    lines, (error,) = read_statement(path, BankConfig())
    assert lines == []
    assert str(error) == (
        "garbage.sta, line 3: the :61: statement line 'garbage' is not in MT940's form "
        "(value date YYMMDD, optional entry date MMDD, C or D, amount, transaction type)."
    )
    assert capfd.readouterr().err == ""  # the package's regex dump is not printed


def test_a_damaged_camt_is_named_once_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "07-broken-camt.xml"
    path.write_bytes(camt053(EU, "02")[:-60])
    lines, (error,) = read_statement(path, BankConfig())
    assert lines == []
    assert str(error).startswith("07-broken-camt.xml, line 2: the XML is cut short or damaged")
    assert str(error).count("07-broken-camt.xml") == 1 and "<string>" not in str(error)


def test_a_camt052_report_is_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "intraday.xml"
    path.write_bytes(
        camt053(EU, "02")
        .replace(b"camt.053.001.02", b"camt.052.001.02")
        .replace(b"BkToCstmrStmt", b"BkToCstmrAcctRpt")
        .replace(b"<Stmt>", b"<Rpt>")
        .replace(b"</Stmt>", b"</Rpt>")
    )
    lines, (error,) = read_statement(path, BankConfig())
    assert lines == [] and str(error) == (
        "intraday.xml: it is a camt.052 account report; the tool reads camt.053 statements "
        "(and camt.054 notifications): export the statement as camt.053."
    )


PLAIN = CsvLayout(date="Date", amount="Amount", payer="Payer", reference="Reference")
ROWS = [("Date", "Payer", "Reference", "Amount"),
        ("2026-03-05", "Émile Dupont SARL", "Facture INV-2026-0004", "1234.56")]  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "delimiter", "write"),
    [
        ("utf-8", ",", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),  # Excel "CSV UTF-8"
        ("utf-8-sig", "\t", lambda text: text.encode("utf-16")),  # Excel "Unicode text"
        ("utf-16-le", "\t", lambda text: text.encode("utf-16")),
        ("cp1252", ",", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),
    ],
    ids=["utf8-bom-set-utf8", "utf16-set-default", "utf16-set-utf16le", "utf8-bom-set-cp1252"],
)
def test_a_csv_byte_order_mark_says_its_encoding(
    tmp_path: Path, encoding: str, delimiter: str, write: Any
) -> None:
    path = tmp_path / "bank.csv"
    path.write_bytes(write("\r\n".join(delimiter.join(row) for row in ROWS) + "\r\n"))
    layout = replace(PLAIN, encoding=encoding, delimiter=delimiter)
    (line,), errors = read_statement(path, BankConfig(csv=layout))
    assert errors == []
    assert (line.payer, line.reference, line.amount) == (
        "Émile Dupont SARL", "Facture INV-2026-0004", D("1234.56"))  # fmt: skip


DKB = (
    '"Kontonummer:";"DE12 1203 0000 1020 3040 50 / Girokonto";\r\n'
    '"Von:";"01.03.2026";\r\n"Bis:";"31.03.2026";\r\n'
    '"Kontostand vom 31.03.2026:";"5.432,10 EUR";\r\n'
    '\r\n"Buchungstag";"Auftraggeber";"Verwendungszweck";"Betrag";"Referenz";\r\n'
    '"05.03.2026";"Émile Dupont SARL";"INV-2026-0004";"1.234,56";"R1";\r\n'
)
GERMAN = CsvLayout(date="Buchungstag", amount="Betrag", payer="Auftraggeber",
                   reference="Verwendungszweck", bank_ref="Referenz", date_format="%d.%m.%Y",
                   decimal=",", delimiter=";", encoding="cp1252")  # fmt: skip


@pytest.mark.parametrize(
    ("layout", "text", "told"),
    [
        # account lines above the table, and the date column misspelt in [bank.csv]
        (replace(GERMAN, date="Buchungsdatum"), DKB,
         "has no column 'Buchungsdatum' ([bank.csv] date); its columns are: "
         "Kontonummer:, DE12 1203 0000 1020 3040 50 / Girokonto."),
        # a column name misspelt in [bank.csv]
        (replace(GERMAN, date="Buchungsdatum"), DKB.split("\r\n\r\n")[1],
         "has no column 'Buchungsdatum' ([bank.csv] date); its columns are: Buchungstag, "
         "Auftraggeber, Verwendungszweck, Betrag, Referenz."),
    ],
    ids=["account-lines-above-the-header-misspelt", "misspelt-column"],
)  # fmt: skip
def test_a_csv_the_layout_does_not_fit_gets_the_csv_readers_message(
    tmp_path: Path, layout: CsvLayout, text: str, told: str
) -> None:
    path = tmp_path / "umsaetze.csv"
    path.write_bytes(text.encode("cp1252"))
    lines, (error,) = read_statement(path, BankConfig(csv=layout))
    assert lines == [] and told in str(error)


def test_a_csv_header_below_account_lines_is_found(tmp_path: Path) -> None:
    """DKB, Deutsche Bank: account number, period and balance lines above the table; the
    line numbers said stay the file's own."""
    path = tmp_path / "umsaetze.csv"
    path.write_bytes((DKB + '"06.03.2026";"Beta";"x";"zwei";"R2";\r\n').encode("cp1252"))
    (line,), (error,) = read_statement(path, BankConfig(csv=GERMAN))
    assert (line.date, line.payer, line.amount) == (date(2026, 3, 5), "Émile Dupont SARL",
                                                    D("1234.56"))  # fmt: skip
    assert str(error).startswith("umsaetze.csv, line 8: Betrag:")


def test_a_csv_balance_line_is_skipped_a_dated_line_without_amount_told(tmp_path: Path) -> None:
    layout = CsvLayout(date="Date", amount="Amount", reference="Reference")
    path = tmp_path / "bank.csv"
    path.write_text(
        "Date,Reference,Amount\n2026-03-02,INV-2026-0007,100.00\n2026-03-03,INV-2026-0008,\n"
        "Closing balance,,\n"
    )
    lines, errors = read_statement(path, BankConfig(csv=layout, currency="EUR"))
    assert [ln.reference for ln in lines] == ["INV-2026-0007"]
    assert [str(e) for e in errors] == ["bank.csv, line 3: Amount: the amount is empty."]


def test_a_csv_with_money_in_and_out_in_two_columns(tmp_path: Path) -> None:
    """UK banks (Barclays, Lloyds, Monzo): "Paid in" and "Paid out" columns, one of them
    filled per line; with `debit` set, a "Paid out" line is money going out, a line with
    neither (interest noted, the closing balance) pays nothing and is no error, and a
    line filled in both is refused with its line."""
    layout = CsvLayout(date="Date", amount="Paid in", debit="Paid out", payer="Description",
                       reference="Reference", date_format="%d/%m/%Y")  # fmt: skip
    path = tmp_path / "statement.csv"
    path.write_text(
        "Date,Description,Reference,Paid in,Paid out,Balance\r\n"
        "02/03/2026,ACME LTD,INV-2026-0007,\"1,210.00\",,\"5,210.00\"\r\n"
        "03/03/2026,OFFICE RENT,MARCH,,950.00,\"4,260.00\"\r\n"
        "04/03/2026,INTEREST,,,,\"4,260.00\"\r\n"
        "05/03/2026,BETA LLC,INV-2026-0008,300.00,10.00,\"4,550.00\"\r\n"
        "Closing balance,,,,,\"4,550.00\"\r\n",
        encoding="utf-8",
    )
    lines, errors = read_statement(path, BankConfig(csv=layout, currency="GBP"))
    assert [(ln.direction, ln.amount, ln.currency, ln.payer) for ln in lines] == [
        ("in", D("1210.00"), "GBP", "ACME LTD"),
        ("out", D("950.00"), "GBP", "OFFICE RENT"),
    ]
    assert [str(e) for e in errors] == [
        "statement.csv, line 5: Paid in: both Paid in ('300.00') and Paid out ('10.00') hold "
        "an amount; a line is money in or money out."
    ]


@pytest.mark.parametrize(
    ("content", "told"),
    [
        (b"", "it is empty."),
        (b"\xef\xbb\xbf", "it is empty."),  # Notepad's empty UTF-8 file: its mark alone
        ("\r\n \r\n".encode("utf-16"), "it is empty."),
        (b"PK\x03\x04" + b"\x00" * 100, "it is not a statement format the tool reads"),
    ],
    ids=["empty", "utf-8-mark", "utf-16-blank", "zip"],
)
def test_empty_and_binary_files_are_not_taken_for_csv(
    tmp_path: Path, content: bytes, told: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    lines, (error,) = read_statement(path, BankConfig(csv=PLAIN))
    assert lines == [] and str(error).startswith(f"x.csv: {told}")


def test_utf16_1c_and_mt940_read_as_in_their_own_encodings(tmp_path: Path) -> None:
    for name, data, text in [
        ("kaspi.txt", onec_kazakh(KZ, "cp1251"), onec_kazakh(KZ, "cp1251").decode("cp1251")),
        ("ing.sta", mt940_ing(EU), mt940_ing(EU).decode("latin-1")),
    ]:
        (tmp_path / name).write_bytes(data)
        (tmp_path / f"16-{name}").write_bytes(text.encode("utf-16"))
        expected, _ = read_statement(tmp_path / name, BankConfig(csv=PLAIN))
        wide, errors = read_statement(tmp_path / f"16-{name}", BankConfig(csv=PLAIN))
        assert errors == [] and len(wide) == 2
        assert [replace(ln, file="") for ln in wide] == [replace(ln, file="") for ln in expected]


def test_csv_amounts_with_trailing_zeros_that_cannot_be_thousands_are_read() -> None:
    layout = replace(POINT, delimiter=",", currency="Currency")
    rows = ["2026-03-05,Acme,INV-6,2500.00,JPY", "2026-03-05,Acme,INV-7,12.5000,EUR",
            "2026-03-05,Acme,INV-8,1.250,KWD"]  # fmt: skip
    data = csv_file(rows, "Date,Payer,Reference,Amount,Currency")
    lines, errors = read_csv(data, "c.csv", layout)
    assert errors == []
    assert [ln.amount for ln in lines] == [D("2500"), D("12.5"), D("1.25")]


def _cut(data: bytes, after: bytes) -> bytes:
    """The file as an interrupted download leaves it: it ends right after `after`."""
    return data[: data.rindex(after) + len(after)]


def _refused_as_cut(tmp_path: Path, name: str, data: bytes, missing: str) -> None:
    """Nothing of the file is read; one message names it, says it is cut short, what is
    missing, and to download it again."""
    path = tmp_path / name
    path.write_bytes(data)
    lines, errors = read_statement(path, BankConfig())
    assert lines == [] and len(errors) == 1, (lines, errors)
    text = str(errors[0])
    assert text.startswith(f"{name}") and "cut short" in text, text
    assert missing in text and "download the statement again" in text, text


def read_statement_bytes(tmp_path: Path, name: str, data: bytes) -> tuple[list[Any], list[Any]]:
    path = tmp_path / name
    path.write_bytes(data)
    return read_statement(path, BankConfig())


def test_a_1c_file_cut_short_is_refused_whole(tmp_path: Path) -> None:
    """Kaspi's export cut inside its last document (`СуммаПриход=150` of 150000.00): not
    one line of it is taken, not the cut amount, not the whole documents before it."""
    data = onec_kazakh([KZ[1], KZ[0]], "cp1251")
    _refused_as_cut(tmp_path, "kaspi.txt", _cut(data, "СуммаПриход=150".encode("cp1251")),
                    "КонецДокумента")  # fmt: skip
    _refused_as_cut(tmp_path, "kaspi.txt", _cut(data, "КонецДокумента\r\n".encode("cp1251")),
                    "КонецФайла")  # fmt: skip
    russian = onec_russian(RU, "utf-8")
    _refused_as_cut(tmp_path, "sber.txt", _cut(russian, "Сумма=25".encode()), "КонецДокумента")
    # A document left open where the next begins: damaged, refused the same way.
    damaged = data.replace("КонецДокумента\r\n".encode("cp1251"), b"", 1)
    _refused_as_cut(tmp_path, "kaspi.txt", damaged, "КонецДокумента")


def test_an_mt940_file_cut_short_is_refused_whole(tmp_path: Path) -> None:
    """Cut after `:61:...C1210,` (no type, no :86:, no :62F:) or inside the last :86:;
    a file that ends its statements with `-` must end with one too."""
    data = mt940_ing([EU[1], EU[0]])
    _refused_as_cut(tmp_path, "ing.sta", _cut(data, b"C1210,"), ":62F:")
    _refused_as_cut(tmp_path, "ing.sta", _cut(data, b"REMI/USTD//Invoice"), ":62F:")
    sparkasse = mt940_sparkasse(EU)
    assert sparkasse.endswith(b"\r\n-\r\n")
    # Two statements, the second cut: the first is not imported alone either.
    two = sparkasse + sparkasse.replace(b":28C:00001", b":28C:00002")
    _refused_as_cut(tmp_path, "spk.sta", _cut(two, b"?20EREF+NOTPROVIDED"), ":62F:")
    # In a SWIFT envelope the message ends with `-}`; that end also closes a statement
    # the bank wrote without its :62F: (de Volksbank's SNS files).
    envelope = b"{1:F01SPKADE2AXXXX0000000000}{2:O940SPKADE2AXXXXN}{4:\r\n" + sparkasse
    enveloped = envelope.replace(b"\r\n-\r\n", b"\r\n-}{5:}\r\n")
    _refused_as_cut(tmp_path, "spk.sta", enveloped[: -len(b"-}{5:}\r\n")], "-}")
    unbalanced = re.sub(rb":62F:[^\r]*\r\n", b"", enveloped)
    assert read_statement_bytes(tmp_path, "sns.940", unbalanced) == (
        read_statement_bytes(tmp_path, "sns.940", enveloped)
    )
    # Complete files, MT942 interim reports (closed by :90C:/:90D:) included, still read.
    for name, whole in [("ing.sta", data), ("spk.sta", sparkasse), ("two.sta", two),
                        ("env.sta", enveloped)]:  # fmt: skip
        (tmp_path / name).write_bytes(whole)
        lines, errors = read_statement(tmp_path / name, BankConfig())
        assert errors == [] and lines
    interim = (":20:ST170119CYC/0001\r\n:25:PL29114010810000267002001002\r\n:28C:1/1\r\n"
               ":34F:PLN0\r\n:13D:1701191815+0100\r\n"
               ":61:1701190119CN5,00NTRFNONREF//MB170119012058\r\n:86:INV-2026-0001\r\n"
               ":90D:0PLN0,00\r\n:90C:1PLN5,00\r\n-\r\n")  # fmt: skip
    (tmp_path / "mt942.sta").write_text(interim)
    (line,), errors = read_statement(tmp_path / "mt942.sta", BankConfig())
    assert errors == [] and line.amount == D("5.00")


def test_an_sgml_ofx_cut_short_is_told_as_cut(tmp_path: Path) -> None:
    data = ofx_sgml([*EU[:1], Tx(date(2026, 3, 3), D("-45.10"), "Rent", purpose="Rent",
                                 ref="FIT2")])  # fmt: skip
    _refused_as_cut(tmp_path, "bank.ofx", _cut(data, b"<TRNAMT>-45"), "</OFX>")
    _refused_as_cut(tmp_path, "bank.ofx", _cut(data, b"</STMTRS>"), "</OFX>")
    xml = ofx_xml(EU[:1])
    _refused_as_cut(tmp_path, "bank.qfx", _cut(xml, b"<TRNAMT>12"), "</OFX>")


def test_camt_batch_entry_keeps_what_its_details_do_not_list() -> None:
    """A batch entry credited 500.00 but its transactions list 100.00 + 250.50: the other
    149.50 came in too and is a line of its own, not dropped."""
    batch = [
        Tx(date(2026, 3, 4), D("100.00"), "Beta GmbH", account="DE89370400440532013000",
           purpose="RE INV-2026-0008", ref="B1"),
        Tx(date(2026, 3, 4), D("250.50"), "Gamma SA", account="BE68539007547034",
           purpose="INV-2026-0009", ref="B2"),
    ]  # fmt: skip
    whole = camt053([], "08", batch=batch)
    assert whole.count(b'<Amt Ccy="EUR">350.50</Amt>') == 1
    more = whole.replace(b'<Amt Ccy="EUR">350.50</Amt>', b'<Amt Ccy="EUR">500.00</Amt>')
    lines, errors = read_camt(more, "batch.xml")
    assert errors == []
    assert [(ln.direction, ln.amount) for ln in lines] == [
        ("in", D("100.00")), ("in", D("250.50")), ("in", D("149.50"))
    ]  # fmt: skip
    rest = lines[2]
    assert rest.currency == "EUR" and rest.date == date(2026, 3, 4)
    assert "500.00" in rest.reference and "batch" in rest.reference
    assert len({ln.bank_ref for ln in lines}) == 3
    assert read_camt(more, "again.xml")[0][2].bank_ref == rest.bank_ref  # stable
    # Details adding up to more than the entry moved: the entry is refused, with its line.
    less = whole.replace(b'<Amt Ccy="EUR">350.50</Amt>', b'<Amt Ccy="EUR">300.00</Amt>')
    lines, (error,) = read_camt(less, "batch.xml")
    assert lines == [] and "350.50" in str(error) and "300.00" in str(error)
    # Details that add up to the entry: no extra line (the usual case).
    assert len(read_camt(whole, "batch.xml")[0]) == 2


def test_mt940_statement_information_is_not_the_last_payments_reference() -> None:
    """ING writes its totals in an :86: after :62F: (and :64:, :65:), then a `-XXX`
    trailer: they belong to the statement, not to the last transaction."""
    plain = mt940_ing(EU)
    tail = (b":64:C260303EUR1000,00\r\n:65:C260304EUR1000,00\r\n"
            b":86:D000004C000002D25,24C28,71\r\n-XXX\r\n")  # fmt: skip
    lines, errors = read_mt940(plain + tail, "ing.sta")
    assert errors == []
    expected, _ = read_mt940(plain, "ing.sta")
    assert [ln.reference for ln in lines] == [ln.reference for ln in expected]
    assert lines == expected


def test_zero_amount_lines_move_no_money_and_are_left_out(tmp_path: Path) -> None:
    """SNS Bank's `:61:...C0,00NDIV` is a notice, not a payment; so is a zero line of any
    format (as the CSV reader already leaves out): nothing waits for review."""
    notice = (":20:0000000000\r\n:25:NL05SNSB0908244436\r\n:28C:362/1\r\n:60F:C171228EUR10,00\r\n"
              ":61:1712281228C25,00NTRFNONREF//2017122800001234\r\n:86:INV-2017-0001\r\n"
              ":61:1712281228C0,00NDIV\r\n:86:Mobiel betalen is vanaf nu niet meer mogelijk\r\n"
              ":62F:C171228EUR35,00\r\n-\r\n")  # fmt: skip
    zero_kz = Tx(date(2026, 3, 4), D("0.001"), "Kaspi", "180940012345", purpose="notice")
    onec = onec_kazakh([KZ[0], zero_kz]).replace("СуммаПриход=0.00".encode("cp1251"),
                                                  "СуммаПриход=0".encode("cp1251"))  # fmt: skip
    camt = camt053([*EU[:1], Tx(date(2026, 3, 3), D("0.001"), "Bank", purpose="notice",
                                ref="2026030300009")])  # fmt: skip
    ofx = ofx_sgml([*EU[:1], Tx(date(2026, 3, 3), D("0.001"), "Bank", purpose="notice",
                                ref="2026030300009")])  # fmt: skip
    for name, data in [("sns.940", notice.encode()), ("kaspi.txt", onec), ("c.xml", camt),
                       ("b.ofx", ofx)]:  # fmt: skip
        path = tmp_path / name
        path.write_bytes(data)
        lines, errors = read_statement(path, BankConfig())
        assert errors == [], name
        assert len(lines) == 1 and lines[0].amount > 0, (name, lines)


def test_mt940_lines_imported_with_the_statement_information_are_known_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Earlier versions added the statement's :86: and `-XXX` to the last line's details,
    and hashed them into its Bank Ref: that ref is among its earlier ones, so a file
    imported then is not imported again."""
    text = (":20:P100723000000001\r\n:25:NL69INGB0123456789EUR\r\n:28C:00000\r\n"
            ":60F:C100722EUR2,47\r\n:61:100723C1,00NTRFNONREF\r\n:86:0111111111 Hr S Marechal\r\n"
            ":62F:C100723EUR3,47\r\n:86:D000004C000002D25,24C28,71\r\n-XXX\r\n")  # fmt: skip
    (line,), errors = read_mt940(text.encode(), "ing.sta")
    assert errors == [] and line.reference == "0111111111 Hr S Marechal"
    monkeypatch.setattr(mt940_module, "_without_statement_info", lambda text: text)
    (before,), _ = read_mt940(text.encode(), "ing.sta")  # as earlier versions read it
    assert before.reference.endswith("D000004C000002D25,24C28,71 -XXX")
    assert before.bank_ref != line.bank_ref and before.bank_ref in line.earlier_refs
