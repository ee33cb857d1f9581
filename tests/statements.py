"""Bank statement files built in code, shaped like the files real banks export.

Each builder takes plain transactions and returns the file's bytes in the
encoding that bank uses. Layouts follow the formats' public descriptions
(1C exchange format 1.02/1.03 and the Kazakh 1.01 "выписка" dialect, ISO
20022 camt.053/054, SWIFT MT940 with ING/Rabobank `:86:` codes, OFX 1.02
SGML and 2.x XML) and what Kaspi, Halyk, Sberbank, Tochka, ING and Rabobank
files look like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

OUR_KZ_ACCOUNT = "KZ86125KZT5004100100"
OUR_RU_ACCOUNT = "40702810938000012345"


@dataclass(frozen=True)
class Tx:
    """One transaction to write into a statement (amount > 0 in, < 0 out)."""

    day: date
    amount: Decimal
    payer: str = ""
    payer_id: str = ""
    account: str = ""
    purpose: str = ""
    ref: str = ""
    number: str = "1"


def their_account(tx: Tx) -> str:
    """An account for a payer the test did not give one: its own, made from its tax number."""
    return f"KZ00722C{tx.payer_id[-12:]:0>12}"


def _ru(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def onec_kazakh(
    txs: Sequence[Tx],
    encoding: str = "cp1251",
    our: str = OUR_KZ_ACCOUNT,
    start: date | None = None,
    end: date | None = None,
) -> bytes:
    """A Kaspi/Halyk "выписка в 1С": format 1.01, `СекцияДокумент=выписка`, CRLF."""
    first = start or min(t.day for t in txs)
    last = end or max(t.day for t in txs)
    coding = {"cp1251": "Windows", "cp866": "DOS"}.get(encoding, "UTF-8")
    out = [
        "1CClientBankExchange", "ВерсияФормата=1.01", f"Кодировка={coding}",
        "Отправитель=АО \"Kaspi Bank\"", "Получатель=1С:Предприятие",
        f"ДатаСоздания={_ru(last)}", "ВремяСоздания=09:15:00",
        f"ДатаНачала={_ru(first)}", f"ДатаКонца={_ru(last)}", f"РасчСчет={our}",
        "СекцияРасчСчет", f"ДатаНачала={_ru(first)}", f"ДатаКонца={_ru(last)}",
        f"РасчСчет={our}", "НачальныйОстаток=129464.83", "КонецРасчСчет",
    ]  # fmt: skip
    for tx in txs:
        incoming = tx.amount > 0
        them = [
            f"Наименование={tx.payer}",
            f"БИН_ИИН={tx.payer_id}",
            f"ИИК={tx.account or their_account(tx)}",
            "БанкБИК=CASPKZKA",
            "КБЕ=17",
        ]
        us = [
            'Наименование=ТОО "Ledgerwise"',
            "БИН_ИИН=181140004063",
            f"ИИК={our}",
            "БанкБИК=CASPKZKA",
            "КБЕ=17",
        ]
        payer, payee = (them, us) if incoming else (us, them)
        out += [
            "СекцияДокумент=выписка", f"НомерДокумента={tx.number}",
            f"ДатаДокумента={_ru(tx.day)}", "ВидДокумента=Платежное поручение",
            *[f"Плательщик{f}" for f in payer], *[f"Получатель{f}" for f in payee],
            f"{'СуммаПриход' if incoming else 'СуммаРасход'}={abs(tx.amount):.2f}",
            f"ДатаОперации={_ru(tx.day)}", f"НазначениеПлатежа={tx.purpose}",
            "КодНазначенияПлатежа=859", "КонецДокумента",
        ]  # fmt: skip
    out.append("КонецФайла")
    text = "\r\n".join(out) + "\r\n"
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def onec_russian(
    txs: Sequence[Tx], encoding: str = "cp1251", our: str = OUR_RU_ACCOUNT, version: str = "1.03"
) -> bytes:
    """A Sberbank/Tochka 1C export: `СекцияДокумент=Платежное поручение`, CRLF."""
    first, last = min(t.day for t in txs), max(t.day for t in txs)
    coding = {"cp1251": "Windows", "cp866": "DOS"}.get(encoding, "UTF-8")
    out = [
        "1CClientBankExchange", f"ВерсияФормата={version}", f"Кодировка={coding}",
        "Отправитель=СберБизнес", "Получатель=Бухгалтерия предприятия, редакция 3.0",
        f"ДатаСоздания={_ru(last)}", "ВремяСоздания=10:00:00",
        f"ДатаНачала={_ru(first)}", f"ДатаКонца={_ru(last)}", f"РасчСчет={our}",
        "Документ=Платежное поручение", "СекцияРасчСчет", f"ДатаНачала={_ru(first)}",
        f"ДатаКонца={_ru(last)}", f"РасчСчет={our}", "НачальныйОстаток=1000.00",
        "КонецРасчСчет",
    ]  # fmt: skip
    for tx in txs:
        incoming = tx.amount > 0
        them_account = tx.account or "40702810400000012399"
        payer_acc, payee_acc = (them_account, our) if incoming else (our, them_account)
        payer_name = tx.payer if incoming else 'ООО "Леджервайз"'
        payee_name = 'ООО "Леджервайз"' if incoming else tx.payer
        payer_inn = tx.payer_id if incoming else "7707083893"
        payee_inn = "7707083893" if incoming else tx.payer_id
        out += [
            "СекцияДокумент=Платежное поручение", f"Номер={tx.number}", f"Дата={_ru(tx.day)}",
            f"Сумма={abs(tx.amount):.2f}", f"ПлательщикСчет={payer_acc}",
            f"ДатаСписано={'' if incoming else _ru(tx.day)}",
            f"Плательщик=ИНН {payer_inn} {payer_name}", f"ПлательщикИНН={payer_inn}",
            f"Плательщик1={payer_name}", f"ПлательщикРасчСчет={payer_acc}",
            "ПлательщикБанк1=ПАО СБЕРБАНК", "ПлательщикБИК=044525225",
            "ПлательщикКорсчет=30101810400000000225", f"ПолучательСчет={payee_acc}",
            f"ДатаПоступило={_ru(tx.day) if incoming else ''}",
            f"Получатель=ИНН {payee_inn} {payee_name}", f"ПолучательИНН={payee_inn}",
            f"Получатель1={payee_name}", f"ПолучательРасчСчет={payee_acc}",
            "ПолучательБанк1=АО \"ТОЧКА\"", "ПолучательБИК=044525104", "ВидОплаты=01",
            "Очередность=5", f"НазначениеПлатежа={tx.purpose}", "КонецДокумента",
        ]  # fmt: skip
    out.append("КонецФайла")
    text = "\r\n".join(out) + "\r\n"
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def camt053(
    txs: Sequence[Tx],
    version: str = "08",
    currency: str = "EUR",
    batch: Sequence[Tx] = (),
    kind: str = "053",
) -> bytes:
    """camt.053 (or .054) as ISO 20022's examples: one entry per tx, plus one batch entry."""
    v08 = int(version) >= 8

    def party(tx: Tx, role: str) -> str:
        name = f"<Nm>{escape(tx.payer)}</Nm>"
        inner = f"<Pty>{name}</Pty>" if v08 else name
        account = (
            f"<{role}Acct><Id><IBAN>{tx.account}</IBAN></Id></{role}Acct>" if tx.account else ""
        )
        return f"<{role}>{inner}</{role}>{account}"

    def details(tx: Tx, own_amount: bool) -> str:
        role = "Dbtr" if tx.amount > 0 else "Cdtr"
        amount = (
            (
                f'<Amt Ccy="{currency}">{abs(tx.amount):.2f}</Amt>'
                if v08
                else f'<AmtDtls><TxAmt><Amt Ccy="{currency}">{abs(tx.amount):.2f}</Amt></TxAmt>'
                "</AmtDtls>"
            )
            if own_amount
            else ""
        )
        refs = (
            f"<Refs><AcctSvcrRef>{tx.ref}-TX</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            if tx.ref and own_amount
            else "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
        )  # noqa: E501
        return (
            f"<TxDtls>{refs}{amount}<RltdPties>{party(tx, role)}</RltdPties>"
            f"<RmtInf><Ustrd>{escape(tx.purpose)}</Ustrd></RmtInf></TxDtls>"
        )

    status = "<Sts><Cd>BOOK</Cd></Sts>" if v08 else "<Sts>BOOK</Sts>"
    entries = []
    for tx in txs:
        mark = "CRDT" if tx.amount > 0 else "DBIT"
        entries.append(
            f'<Ntry><NtryRef>{tx.ref}</NtryRef><Amt Ccy="{currency}">{abs(tx.amount):.2f}</Amt>'
            f"<CdtDbtInd>{mark}</CdtDbtInd>{status}<BookgDt><Dt>{tx.day.isoformat()}</Dt>"
            f"</BookgDt><ValDt><Dt>{tx.day.isoformat()}</Dt></ValDt><AcctSvcrRef>{tx.ref}"
            "</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT"
            f"</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls>{details(tx, False)}</NtryDtls></Ntry>"
        )
    if batch:
        total = sum(abs(t.amount) for t in batch)
        day = batch[0].day.isoformat()
        entries.append(
            f'<Ntry><Amt Ccy="{currency}">{total:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>{status}'
            f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            "<AcctSvcrRef>BATCH-0001</AcctSvcrRef><NtryDtls><Btch><NbOfTxs>"
            f"{len(batch)}</NbOfTxs></Btch>{''.join(details(t, True) for t in batch)}"
            "</NtryDtls></Ntry>"
        )
    root, report = (
        ("BkToCstmrStmt", "Stmt") if kind == "053" else ("BkToCstmrDbtCdtNtfctn", "Ntfctn")
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.{version}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<{root}><GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-03-10T07:00:00</CreDtTm></GrpHdr>"
        f"<{report}><Id>STMT-1</Id><CreDtTm>2026-03-10T07:00:00</CreDtTm><Acct><Id><IBAN>"
        f"NL91ABNA0417164300</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        f"{''.join(entries)}</{report}></{root}></Document>"
    )
    return xml.encode("utf-8")


def _mt_amount(value: Decimal) -> str:
    return f"{abs(value):.2f}".replace(".", ",")


def mt940_ing(txs: Sequence[Tx], currency: str = "EUR") -> bytes:
    """ING's MT940: SEPA codes in `:86:`, wrapped at 65 characters."""
    day = min(t.day for t in txs)
    out = [
        ":20:P" + day.strftime("%y%m%d") + "000000001",
        f":25:NL69INGB0123456789{currency}",
        ":28C:00000",
        f":60F:C{day:%y%m%d}{currency}1000,00",
    ]
    for tx in txs:
        mark = "C" if tx.amount > 0 else "D"
        out.append(
            f":61:{tx.day:%y%m%d}{tx.day:%m%d}{mark}{_mt_amount(tx.amount)}NTRFEREF//{tx.ref}"
        )
        out.append("/TRCD/00100/")
        details = (
            f"/EREF/NOTPROVIDED//CNTP/{tx.account}/INGBNL2A/{tx.payer}/AMSTERDAM///"
            f"REMI/USTD//{tx.purpose}/"
        )
        chunks = [details[i : i + 65] for i in range(0, len(details), 65)]
        out.append(":86:" + chunks[0])
        out.extend(chunks[1:6])
    out += [f":62F:C{max(t.day for t in txs):%y%m%d}{currency}1000,00"]
    return ("\r\n".join(out) + "\r\n").encode("latin-1")


def mt940_rabobank(txs: Sequence[Tx], currency: str = "EUR") -> bytes:
    """Rabobank's MT940: counter account after `:61:`, `/ORDP//NAME/` in `:86:`."""
    day = min(t.day for t in txs)
    out = [
        ":940:",
        ":20:940S" + day.strftime("%y%m%d"),
        f":25:NL31RABO0300087233 {currency}",
        ":28C:25311",
        f":60F:C{day:%y%m%d}{currency}000000001000,00",
    ]
    for tx in txs:
        mark = "C" if tx.amount > 0 else "D"
        out.append(f":61:{tx.day:%y%m%d}{mark}{_mt_amount(tx.amount):>015}N541EREF//{tx.ref}")
        out.append(tx.account)
        party = "ORDP" if tx.amount > 0 else "BENM"
        out.append(
            f":86:/EREF/{tx.ref}E2E/{party}//NAME/{tx.payer}/REMI/{tx.purpose}"
            f"/ISDT/{tx.day.isoformat()}"
        )
    out += [f":62F:C{max(t.day for t in txs):%y%m%d}{currency}000000001000,00"]
    return ("\r\n".join(out) + "\r\n").encode("latin-1")


def mt940_sparkasse(txs: Sequence[Tx], currency: str = "EUR") -> bytes:
    """A German savings bank's MT940 (cp1252): `:86:` in `?NN` subfields.

    `?20`-`?29` carry `EREF+`/`SVWZ+` cut into 27-character pieces (mid-word
    where the cut falls), `?30` the payer's BIC, `?31` the IBAN, `?32`/`?33`
    the name in 27-character pieces; a line breaks before a subfield that
    would pass 65 characters.
    """
    day = min(t.day for t in txs)
    out = [":20:STARTUMSE", ":25:12030000/1020304050", ":28C:00001/001",
           f":60F:C{day:%y%m%d}{currency}5000,00"]  # fmt: skip
    for tx in txs:
        mark = "C" if tx.amount > 0 else "D"
        ref = f"NONREF//{tx.ref}" if tx.ref else "NONREF"
        out.append(f":61:{tx.day:%y%m%d}{tx.day:%m%d}{mark}R{_mt_amount(tx.amount)}NTRF{ref}")
        purpose = [tx.purpose[i : i + 27] for i in range(0, len(tx.purpose), 27)]
        name = [tx.payer[i : i + 27] for i in range(0, len(tx.payer), 27)]
        fields = [("00", "GUTSCHR. UEBERW." if mark == "C" else "UEBERWEISUNG"), ("10", "9310"),
                  ("20", "EREF+NOTPROVIDED"),
                  *((f"2{n}", piece) for n, piece in enumerate(purpose, start=1)),
                  ("30", "COBADEFFXXX"), ("31", tx.account),
                  *((f"3{n}", piece) for n, piece in enumerate(name, start=2))]  # fmt: skip
        lines = [":86:166"]
        for key, value in fields:
            part = f"?{key}{value}"
            if len(lines[-1]) + len(part) > 65:
                lines.append("")
            lines[-1] += part
        out += lines
    out.append(f":62F:C{max(t.day for t in txs):%y%m%d}{currency}5000,00")
    out.append("-")
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


def ofx_sgml(txs: Sequence[Tx], currency: str = "USD") -> bytes:
    """OFX 1.02 (SGML: elements left unclosed), as US banks' "Quicken/Money" download."""
    head = (
        "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\n"
        "ENCODING:USASCII\r\nCHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\n"
        "NEWFILEUID:NONE\r\n\r\n"
    )
    body = [
        "<OFX>",
        "<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>",
        "<DTSERVER>20260310120000[-5:EST]<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>",
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>",
        f"<STMTRS><CURDEF>{currency}<BANKACCTFROM><BANKID>121000248<ACCTID>1234567890",
        "<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST><DTSTART>20260301<DTEND>20260310",
    ]
    for tx in txs:
        kind = "CREDIT" if tx.amount > 0 else "DEBIT"
        body.append(
            f"<STMTTRN><TRNTYPE>{kind}<DTPOSTED>{tx.day:%Y%m%d}210000.000[-5:EST]"
            f"<TRNAMT>{tx.amount:.2f}<FITID>{tx.ref}<NAME>{escape(tx.payer)}"
            f"<MEMO>{escape(tx.purpose)}</STMTTRN>"
        )
    body += [
        "</BANKTRANLIST><LEDGERBAL><BALAMT>5000.00<DTASOF>20260310</LEDGERBAL>",
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>",
    ]
    return (head + "\r\n".join(body) + "\r\n").encode("cp1252")


def ofx_xml(txs: Sequence[Tx], currency: str = "USD") -> bytes:
    """OFX 2.2 (XML), as a QFX download."""
    items = "".join(
        f"<STMTTRN><TRNTYPE>{'CREDIT' if tx.amount > 0 else 'DEBIT'}</TRNTYPE>"
        f"<DTPOSTED>{tx.day:%Y%m%d}</DTPOSTED><TRNAMT>{tx.amount:.2f}</TRNAMT>"
        f"<FITID>{tx.ref}</FITID><PAYEE><NAME>{escape(tx.payer)}</NAME></PAYEE>"
        f"<MEMO>{escape(tx.purpose)}</MEMO></STMTTRN>"
        for tx in txs
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" '
        'NEWFILEUID="NONE"?>\n<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>0</TRNUID>'
        f"<STMTRS><CURDEF>{currency}</CURDEF><BANKACCTFROM><BANKID>121000248</BANKID>"
        "<ACCTID>1234567890</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>"
        f"<BANKTRANLIST><DTSTART>20260301</DTSTART><DTEND>20260310</DTEND>{items}"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    )
    return xml.encode("utf-8")


def csv_bank(txs: Sequence[Tx], currency: str = "EUR") -> bytes:
    """A European bank's CSV: `;`-separated, decimal comma, day-first dates, cp1252."""
    out = ["Buchungstag;Betrag;Währung;Auftraggeber;IBAN;Verwendungszweck;Referenz"]
    for tx in txs:
        amount = f"{tx.amount:.2f}".replace(".", ",")
        out.append(
            f"{tx.day:%d.%m.%Y};{amount};{currency};{tx.payer};{tx.account};{tx.purpose};{tx.ref}"
        )
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


CSV_CONFIG = """
[bank.csv]
date = "Buchungstag"
amount = "Betrag"
currency = "Währung"
payer = "Auftraggeber"
payer_id = "IBAN"
reference = "Verwendungszweck"
bank_ref = "Referenz"
date_format = "%d.%m.%Y"
decimal = ","
delimiter = ";"
encoding = "cp1252"
"""
