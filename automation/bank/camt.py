"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification), read with lxml.

Elements are found by local name, so every version's namespace reads the
same (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.02` to `.001.08` and
later). An entry (`Ntry`) with several transactions (`NtryDtls/TxDtls`, a
batch booking) gives one line per transaction. The bank ref is the
transaction's `AcctSvcrRef`, else the entry's `AcctSvcrRef` or `NtryRef`
(numbered per transaction), else a hash of the content (date, amount,
direction, payer, remittance, end-to-end id). A reference counts only when
it can name one payment: not a placeholder (`NOTPROVIDED`), not a short
number (ING NL and Danish banks number each statement's entries 1, 2, ...),
and not shared by two different entries of the file. Only booked entries
are read (`Sts` BOOK, not PDNG or INFO).

    lines, errors = read_camt(path.read_bytes(), "ing-2026-03.xml")
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from ..model import RowError
from ..money import MoneyError, plain_decimal
from .record import (
    IN,
    OUT,
    BankLine,
    Direction,
    StatementError,
    amount_problem,
    clean,
    content_refs,
    line_error,
    normal_id,
    number_repeats,
    once_across_statements,
    once_per_statement,
    reversed_credit,
    trusted_ref,
)


def is_camt(head: bytes) -> bool:
    """camt.053 or camt.054, or a camt.052 report (read only to say it is not a statement)."""
    return any(mark in head for mark in (b"camt.05", b"BkToCstmrStmt", b"BkToCstmrAcctRpt"))


def _text(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path)
    return clean(found.text or "") if found is not None and found.text else ""


def _texts(node: etree._Element, path: str) -> list[str]:
    return [clean(e.text or "") for e in node.iterfind(path) if e.text and e.text.strip()]


def read_camt(data: bytes, file: str) -> tuple[list[BankLine], list[RowError]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        what = re.sub(r", line \d+, column \d+$", "", str(exc.msg))
        return [], [line_error(file, exc.lineno, None, f"the XML is cut short or damaged here "
                               f"({what}); download the statement again.")]  # fmt: skip
    if etree.QName(root).localname != "Document":  # a SWIFT envelope (AppHdr + Document)
        root = next(root.iterfind(".//{*}Document"), root)
    reports = root.findall("./{*}BkToCstmrStmt/{*}Stmt") + root.findall(
        "./{*}BkToCstmrDbtCdtNtfctn/{*}Ntfctn"
    )
    if not reports and root.find("./{*}BkToCstmrAcctRpt") is not None:
        raise StatementError(
            "it is a camt.052 account report; the tool reads camt.053 statements "
            "(and camt.054 notifications): export the statement as camt.053."
        )
    if not reports:
        raise StatementError(
            "it is XML but holds no camt.053 statement (Stmt) or camt.054 notification."
        )
    lines: list[BankLine] = []
    statements: list[int] = []
    errors: list[RowError] = []
    known = _ids([e for report in reports for e in report.iterfind("./{*}Ntry")])
    for index, report in enumerate(reports):
        account_currency = _text(report, "./{*}Acct/{*}Ccy")
        for entry in report.iterfind("./{*}Ntry"):
            where = entry.sourceline or 0
            try:
                read = _entry(entry, account_currency, file, known)
            except ValueError as exc:
                errors.append(line_error(file, where, None, str(exc)))
                continue
            lines.extend(read)
            statements.extend([index] * len(read))
            if _text(entry, "./{*}RvslInd").lower() in ("true", "1"):  # a booking undone
                errors.extend(line_error(file, ln.line, None, reversed_credit(ln))
                              for ln in read if ln.direction == OUT)  # fmt: skip
    # A statement listed twice in the file (same account, Id and sequence number) counts once.
    heads = {index: _head(report) for index, report in enumerate(reports)}
    lines, statements = once_per_statement(lines, statements,
                                           {i: h for i, h in heads.items() if h[0]})  # fmt: skip
    return number_repeats(once_across_statements(lines, statements)), errors


def _head(report: etree._Element) -> tuple[str, ...]:
    """Which statement (or notification) a report is: its Id, account and sequence numbers."""
    account = report.find("./{*}Acct/{*}Id")
    return (_text(report, "./{*}Id"),
            " ".join(account.itertext()).strip() if account is not None else "",
            _text(report, "./{*}ElctrncSeqNb"), _text(report, "./{*}LglSeqNb"))  # fmt: skip


def _ids(entries: Iterable[etree._Element]) -> set[tuple[str, str]]:
    """The file's references that each name one payment: ("entry" or "tx", reference).

    A reference on two different entries (or two transactions of a batch) is
    a counter or a batch id; the same entry repeated in the file is no proof
    against it.
    """
    named: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for entry in entries:
        if _status(entry) in SKIPPED:
            continue
        what = (_text(entry, "./{*}BookgDt/*"), _text(entry, "./{*}Amt"),
                _text(entry, "./{*}CdtDbtInd"))  # fmt: skip
        for ref in {_text(entry, "./{*}AcctSvcrRef"), _text(entry, "./{*}NtryRef")}:
            named.setdefault(("entry", ref), set()).add(what)
        for tx in entry.iterfind("./{*}NtryDtls/{*}TxDtls"):
            tx_what = (*what, _text(tx, "./{*}Amt") or _text(tx, "./{*}AmtDtls/{*}TxAmt/{*}Amt"),
                       _text(tx, "./{*}Refs/{*}EndToEndId"))  # fmt: skip
            named.setdefault(("tx", _text(tx, "./{*}Refs/{*}AcctSvcrRef")), set()).add(tx_what)
    return {key for key, whats in named.items() if len(whats) == 1 and trusted_ref(key[1])}


def _amount(node: etree._Element | None, path: str) -> tuple[Decimal, str] | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or not (found.text or "").strip():
        return None
    try:
        value = plain_decimal(found.text)
    except MoneyError:
        raise ValueError(f"the amount {found.text!r} is not a number.") from None
    return abs(value), (found.get("Ccy") or "").upper()


def _exact(amount: Decimal, currency: str) -> None:
    """A ValueError for an amount finer than its currency: never read at another size."""
    problem = amount_problem(amount, currency)
    if problem:
        raise ValueError(f"the amount {str(amount)!r} {problem}; it is not read at another size.")


def _date(entry: etree._Element) -> date:
    for path in ("./{*}BookgDt/{*}Dt", "./{*}BookgDt/{*}DtTm", "./{*}ValDt/{*}Dt",
                 "./{*}ValDt/{*}DtTm"):  # fmt: skip
        text = _text(entry, path)
        if text:
            try:
                # A DtTm keeps the bank's own local date: its offset is not applied.
                return datetime.fromisoformat(text[:10]).date()
            except ValueError:
                raise ValueError(f"the booking date {text!r} is not a date.") from None
    raise ValueError("the entry has no booking date (BookgDt).")


#: Entries not (yet) booked: nothing has moved on the account.
SKIPPED = ("PDNG", "INFO", "FUTR")


def _status(entry: etree._Element) -> str:
    return (_text(entry, "./{*}Sts/{*}Cd") or _text(entry, "./{*}Sts")).upper()


def _entry(
    entry: etree._Element, account_currency: str, file: str, known: set[tuple[str, str]]
) -> list[BankLine]:
    if _status(entry) in SKIPPED:
        return []
    found = _amount(entry, "./{*}Amt")
    if found is None:
        raise ValueError("the entry has no amount (Amt).")
    amount, currency = found
    _exact(amount, currency or account_currency)
    mark = _text(entry, "./{*}CdtDbtInd").upper()
    if mark not in ("CRDT", "DBIT"):
        raise ValueError(f"CdtDbtInd {mark!r} is neither CRDT nor DBIT.")
    direction: Direction = IN if mark == "CRDT" else OUT
    when = _date(entry)
    entry_ref = next((r for r in (_text(entry, "./{*}AcctSvcrRef"), _text(entry, "./{*}NtryRef"))
                      if ("entry", r) in known), "")  # fmt: skip
    details = entry.findall("./{*}NtryDtls/{*}TxDtls")
    info = _text(entry, "./{*}AddtlNtryInf")
    line = entry.sourceline or 0
    if not details:
        ref, earlier = (entry_ref, ()) if entry_ref else content_refs(
            "CAMT", [when, amount, mark, info]
        )
        return [BankLine(when, amount, currency or account_currency, direction, "", (), info,
                         ref, file, line, earlier)]  # fmt: skip
    result = []
    for index, tx in enumerate(details, start=1):
        tx_amount = _amount(tx, "./{*}Amt") or _amount(tx, "./{*}AmtDtls/{*}TxAmt/{*}Amt")
        if tx_amount is None:
            if len(details) > 1:
                raise ValueError("a batch entry's transaction has no amount of its own.")
            tx_amount = (amount, currency)
        value, tx_currency = tx_amount
        _exact(value, tx_currency or currency or account_currency)
        tx_mark = _text(tx, "./{*}CdtDbtInd").upper() or mark
        tx_direction: Direction = IN if tx_mark == "CRDT" else OUT
        party = "Dbtr" if tx_direction == IN else "Cdtr"
        name = (_text(tx, f"./{{*}}RltdPties/{{*}}{party}/{{*}}Nm")
                or _text(tx, f"./{{*}}RltdPties/{{*}}{party}/{{*}}Pty/{{*}}Nm"))  # fmt: skip
        ids = [
            _text(tx, f"./{{*}}RltdPties/{{*}}{party}Acct/{{*}}Id/{{*}}IBAN"),
            _text(tx, f"./{{*}}RltdPties/{{*}}{party}Acct/{{*}}Id/{{*}}Othr/{{*}}Id"),
            *_texts(tx, f"./{{*}}RltdPties/{{*}}{party}//{{*}}OrgId/{{*}}Othr/{{*}}Id"),
        ]
        payer_ids = tuple(dict.fromkeys(normal_id(i) for i in ids if i))
        remittance = _texts(tx, "./{*}RmtInf/{*}Ustrd") + _texts(
            tx, "./{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref"
        )
        hashed = " ".join(remittance) or _text(tx, "./{*}AddtlTxInf") or info
        # The invoice numbers of structured remittance, and its free text, are read too
        # (not hashed: a line's Bank Ref stays the one earlier imports recorded).
        documents = _texts(tx, "./{*}RmtInf/{*}Strd/{*}RfrdDocInf/{*}Nb") + _texts(
            tx, "./{*}RmtInf/{*}Strd/{*}AddtlRmtInf"
        )
        reference = " ".join(dict.fromkeys(remittance + documents)) or hashed
        own = _text(tx, "./{*}Refs/{*}AcctSvcrRef")
        earlier = ()
        if ("tx", own) in known:
            ref = own
        elif entry_ref:
            ref = entry_ref if len(details) == 1 else f"{entry_ref}/{index}"
        else:
            end_to_end = _text(tx, "./{*}Refs/{*}EndToEndId")
            ref, earlier = content_refs("CAMT", [when, value, tx_mark, *payer_ids, hashed,
                                                 end_to_end])  # fmt: skip
        result.append(
            BankLine(when, value, tx_currency or currency or account_currency, tx_direction,
                     name, payer_ids, reference, ref, file, tx.sourceline or line, earlier)
        )  # fmt: skip
    rest = _unlisted(result, BankLine(when, amount, currency or account_currency, direction, "",
                                      (), info, entry_ref, file, line))  # fmt: skip
    return [*result, rest] if rest else result


def _unlisted(listed: list[BankLine], entry: BankLine) -> BankLine | None:
    """What a batch entry moved that its transactions do not list (a bank that details
    only some of them), as a line of its own: money on the account is never dropped.
    None when they add up to the entry (or are in another currency, not comparable);
    a ValueError when they add up to more than it.

    `entry` is the entry as a line: its amount, mark, AddtlNtryInf and usable reference.
    """
    if any(ln.currency != entry.currency for ln in listed):
        return None
    total = sum((ln.amount if ln.direction == entry.direction else -ln.amount for ln in listed),
                Decimal(0))  # fmt: skip
    if total == entry.amount:
        return None
    what = f"{entry.amount} {entry.currency}"
    if total > entry.amount:
        raise ValueError(f"the batch entry of {what} lists transactions of {total} "
                         f"{entry.currency} in all, more than it moved: record its payments by "
                         "hand.")  # fmt: skip
    rest = entry.amount - total
    mark = "CRDT" if entry.direction == IN else "DBIT"
    ref, earlier = (f"{entry.bank_ref}/rest", ()) if entry.bank_ref else content_refs(
        "CAMT", [entry.date, rest, mark, entry.reference, "rest"]
    )  # fmt: skip
    told = (f"the part of a batch entry of {what} that its transactions ({total}) "
            "do not list")  # fmt: skip
    return replace(entry, amount=rest, reference=clean(f"{entry.reference} ({told})"),
                   bank_ref=ref, earlier_refs=earlier)  # fmt: skip
