"""OFX statements: OFX 1.x (SGML, unclosed tags), OFX 2.x (XML) and Quicken's QFX.

A small reader of our own. `ofxtools` is GPLv3 (not usable here) and
`ofxparse` (MIT) converts posting times to UTC, which moves a payment booked
at 21:00 in New York to the next day: the Paid Date must be the bank's date.
Only what a payment needs is read: each `STMTTRN` of each (credit card)
statement, with the statement's `CURDEF`. A transaction's `<CURRENCY>` says its
TRNAMT is in another currency; `<ORIGCURRENCY>` only tells what it was before
the bank converted it into CURDEF, so the line stays in CURDEF.

    lines, errors = read_ofx(path.read_bytes(), "checking.qfx")
"""

from __future__ import annotations

import html
import re
from datetime import date

from ..model import RowError
from ..money import MoneyError, parse_bank_amount
from .record import (
    IN,
    OUT,
    BankLine,
    StatementError,
    amount_problem,
    clean,
    content_refs,
    cut_short,
    line_error,
    number_repeats,
    trusted_ref,
)

_STATEMENT = re.compile(r"<(CC)?STMTRS>(.*?)</(?:CC)?STMTRS>", re.S | re.I)
#: Some banks (Suncorp) wrap NAME and MEMO in CDATA sections.
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_TRANSACTION = re.compile(r"<STMTTRN>(.*?)</STMTTRN>", re.S | re.I)
#: `<TAG>value` up to the next tag (SGML leaves elements unclosed; XML closes them).
_FIELD = re.compile(r"<([A-Z0-9.]+)>([^<]*)", re.I)
#: The transaction's own currency (an aggregate: closed even in SGML). Not ORIGCURRENCY.
_CURRENCY = re.compile(r"<CURRENCY>(.*?)</CURRENCY>", re.S | re.I)


def is_ofx(head: bytes) -> bool:
    upper = head.upper()
    return b"OFXHEADER" in upper or b"<OFX>" in upper


def decode(data: bytes) -> str:
    """OFX 1 names its charset in the header (`CHARSET:1252`), OFX 2 in the XML declaration.

    Many banks write UTF-8 under a header copied from the specification
    (`ENCODING:USASCII`, `CHARSET:1252`). Text with accented letters in
    Windows-1252 is almost never valid UTF-8, so bytes beyond ASCII that are
    valid UTF-8 are read as UTF-8, whatever the header says.

    >>> text = "CHARSET:1252\\n<NAME>Müller"
    >>> decode(text.encode("utf-8")) == decode(text.encode("cp1252")) == text
    True
    """
    head = data[:1000].decode("latin-1")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # the charset the file names
    declared = re.search(r'encoding="([A-Za-z0-9_-]+)"', head)
    charset = re.search(r"CHARSET:\s*([A-Za-z0-9_-]+)", head)
    encoding = re.search(r"^ENCODING:\s*([A-Za-z0-9_-]+)", head, re.M)
    candidates = []
    if declared:
        candidates.append(declared.group(1))
    if encoding and encoding.group(1).upper().replace("-", "") == "UTF8":
        candidates.append("utf-8")
    if charset and charset.group(1).isdigit():
        candidates.append(f"cp{charset.group(1)}")
    candidates += ["utf-8", "cp1252"]
    for name in candidates:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def _fields(block: str) -> dict[str, str]:
    """Tag -> value; a nested `PAYEE/NAME` is kept as `NAME` unless NAME is already there."""
    found: dict[str, str] = {}
    for tag, value in _FIELD.findall(block):
        text = clean(html.unescape(value))
        if text:
            found.setdefault(tag.upper(), text)
    return found


def _date(text: str) -> date:
    """`20260302`, `20260302120000.000[-5:EST]`: the bank's own calendar date."""
    match = re.match(r"(\d{4})(\d{2})(\d{2})", text)
    if not match:
        raise ValueError(f"DTPOSTED {text!r} is not a date.")
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValueError(f"DTPOSTED {text!r} is not a real date.") from None


def read_ofx(data: bytes, file: str) -> tuple[list[BankLine], list[RowError]]:
    text = _CDATA.sub(lambda m: html.escape(m.group(1)), decode(data))
    statements = list(_STATEMENT.finditer(text))
    # OFX closes every aggregate, SGML too: a file without its </OFX> ends early, maybe
    # inside a transaction (TRNAMT 25 of 250.00), maybe between statements.
    upper = text.upper()
    if upper.rfind("</OFX>") < upper.rfind("<OFX>") or "<OFX>" not in upper:
        raise cut_short("it ends without </OFX>")
    if not statements:
        raise StatementError("it is OFX but holds no bank or credit card statement.")
    lines: list[BankLine] = []
    errors: list[RowError] = []
    counted, where = 0, 1  # line numbers counted on as the file is read, not from its start
    for statement in statements:
        body = statement.group(2)
        head = body.split("<BANKTRANLIST>", 1)[0] if "<BANKTRANLIST>" in body else body
        currency = _fields(head).get("CURDEF", "").upper()
        for match in _TRANSACTION.finditer(text, statement.start(2), statement.end(2)):
            where += text.count("\n", counted, match.start())
            counted = match.start()
            try:
                lines.append(_transaction(match.group(1), currency, file, where))
            except ValueError as exc:
                errors.append(line_error(file, where, None, str(exc)))
    return number_repeats(lines), errors


def _transaction(block: str, currency: str, file: str, where: int) -> BankLine:
    fields = _fields(block)
    own = _CURRENCY.search(block)
    own_currency = (own and _fields(own.group(1)).get("CURSYM", "").upper()) or currency
    amount_text = fields.get("TRNAMT", "")
    try:
        amount, written = parse_bank_amount(amount_text, None)
        if written:
            raise MoneyError("OFX writes no currency sign in TRNAMT")
    except MoneyError:
        raise ValueError(f"TRNAMT {amount_text!r} is not an amount.") from None
    problem = amount_problem(amount, own_currency)
    if problem:  # 2.500 or 2,500: two and a half, or two thousand five hundred
        raise ValueError(
            f"TRNAMT {amount_text!r} {problem} (OFX amounts take no thousands separators); "
            "it is not read at another size: record the payment by hand."
        )
    when = _date(fields.get("DTPOSTED") or fields.get("DTUSER", ""))
    name = fields.get("NAME", "")
    reference = fields.get("MEMO", "") or name
    direction = IN if amount > 0 else OUT
    # FITID is to be unique and stable; some banks number each statement's lines 1, 2...
    fitid = fields.get("FITID", "")
    ref, earlier = (fitid, ()) if trusted_ref(fitid) else content_refs(
        "OFX", [when, amount, name, reference, fields.get("CHECKNUM", "")]
    )  # fmt: skip
    return BankLine(when, abs(amount), own_currency, direction, name, (), reference, ref, file,
                    where, earlier)  # fmt: skip
