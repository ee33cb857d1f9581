"""SWIFT MT940 statements, parsed with the `mt-940` package (BSD).

The package reads the tags; this module turns each `:61:` line and its
`:86:` details into a BankLine. Details come in three shapes:

- SEPA codes (ING, Rabobank, ABN AMRO): `/EREF/..//CNTP/IBAN/BIC/NAME/CITY///REMI/USTD//text/`;
- German `?NN` subfields (Sparkassen, Volksbanken, Deutsche Bank): `?20`-`?29`
  and `?60`-`?63` the purpose (with `EREF+`, `SVWZ+` keywords), `?30` the
  payer's bank, `?31` the payer's IBAN or account, `?32`/`?33` the name;
- free text: the whole `:86:` is the reference.

The date is the booking (entry) date, else the value date. The bank ref is
the `:61:` bank reference when it looks like an id (not `NONREF`, not a short
sequence number that repeats in every statement), else a hash of the line.
Problems are told in words with the file's line; the package's own log of a
failed match (its whole regex) is not printed.

    lines, errors = read_mt940(path.read_bytes(), "ing.sta")
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import mt940 as mt940_package
from mt940.processors import transaction_details_post_processor

from ..model import RowError
from ..money import currency_digits
from .record import (
    IN,
    OUT,
    PLACEHOLDERS,
    BankLine,
    Direction,
    amount_problem,
    clean,
    content_refs,
    cut_short,
    is_content_ref,
    line_error,
    normal_id,
    number_repeats,
    once_across_statements,
    once_per_statement,
    reversed_credit,
    trusted_ref,
)

#: The SEPA codes of structured `:86:` details; a value runs to the next code.
CODES = ("EREF", "CNTP", "REMI", "ORDP", "BENM", "NAME", "IBAN", "MARF", "CSID", "PREF",
         "RTRN", "ISDT", "BUSP", "PURP", "ULTC", "ULTD", "ULTB", "ADDR", "BIC", "TRCD", "ID",
         "CDTRREFTP", "CDTRREF", "CDTRREFISSUER")  # fmt: skip
_CODE = re.compile(r"/(" + "|".join(CODES) + r")/")
#: SWIFT wraps `:86:` at 65 characters, even inside a word. Some banks count the
#: `:86:` tag in the first line's 65 (Rabobank, ING's older files), most do not.
WRAP = 65
TAG = len(":86:")
#: A German subfield mark, `?20`; the details start with it or a 3-digit code, `166?00`.
_SUBFIELD = re.compile(r"\?(\d{2})")
_GERMAN = re.compile(r"\s*(\d{3})?\s*\?\d{2}")
#: German banks cut the purpose and the name into pieces of this many characters.
PIECE = 27
#: The SEPA keywords of German purpose lines: `EREF+id SVWZ+text`.
_KEYWORD = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|PURP|COAM|OAMT|SQTP|"
                      r"ORCR|ORMR|DDAT|MDAT) ?\+")  # fmt: skip
#: The tags a bookkeeper may need to look at, and the form each must have.
TAG_FORMS = {
    "61": ("statement line", "value date YYMMDD, optional entry date MMDD, C or D, amount, "
           "transaction type"),
    "60F": ("opening balance", "C or D, date YYMMDD, currency, amount"),
    "60M": ("opening balance", "C or D, date YYMMDD, currency, amount"),
    "62F": ("closing balance", "C or D, date YYMMDD, currency, amount"),
    "62M": ("closing balance", "C or D, date YYMMDD, currency, amount"),
    "64": ("available balance", "C or D, date YYMMDD, currency, amount"),
    "65": ("forward balance", "C or D, date YYMMDD, currency, amount"),
    "28": ("statement number", "number/sequence"),
    "28C": ("statement number", "number/sequence"),
}  # fmt: skip

#: A `:61:` line up to its amount field: value date, entry date, mark, funds code; the
#: amount field runs to the transaction type (its first letter).
_AMOUNT_FIELD = re.compile(r":61:\d{6}(?:\d{4}|\s{4})?R?[CD][A-Z]? ?(?P<amount>[^A-Z\n]*)", re.I)

#: A tag at the start of a line: `:61:`, `:62F:`.
_TAG = re.compile(r":(\d{2}[A-Z]?):")
#: The tags that close a statement, after its last transaction: its closing balance
#: (:62M: where it goes on in another message), or an MT942 report's sums.
CLOSING = frozenset({"62F", "62M", "90D", "90C"})
#: The tags that may follow the closing balance and belong to the statement: balances
#: available and forward, and its own information (ING's counts and totals in an :86:).
AFTER_CLOSING = frozenset({"64", "65", "86"})

# On a value its regex does not match the package logs the whole regex at ERROR,
# which Python prints to stderr; read_mt940 says what is wrong itself.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


class TransactionError(ValueError):
    """A transaction the reader cannot take, with the reason in words."""


def is_mt940(head: bytes) -> bool:
    text = head.decode("latin-1")
    return ":20:" in text and bool(re.search(r":6[01][FM]?:", text))


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def unwrap(details: str, first_width: int = WRAP) -> str:
    """Join the `:86:` lines: a full line continues mid-word (65 characters; the first
    line `first_width`, 61 where the bank counts the tag in it).

    >>> unwrap("/REMI/USTD//" + "x" * 44 + " Pay I\\nNV-2026-0006", first_width=61)[-19:]
    'x Pay INV-2026-0006'
    """
    out, previous, width = "", "", first_width
    for part in details.splitlines():
        if out:
            out += "" if len(previous) >= width else " "
            width = WRAP
        out += part
        previous = part
    return out


def first_line_width(text: str) -> int:
    """How long a full first `:86:` line is in this file: 65 characters after the tag,
    unless no line is longer than 65 with it (the bank counts the tag in the 65)."""
    longest = max((len(row.rstrip()) for row in text.splitlines() if row.startswith(":86:")),
                  default=0)  # fmt: skip
    return WRAP if longest > WRAP else WRAP - TAG


def _segments(pattern: re.Pattern[str], text: str) -> tuple[str, dict[str, str]]:
    """The text before the first code, and each code's value (up to the next code; the first
    value of a repeated code)."""
    matches = list(pattern.finditer(text))
    if not matches:
        return text, {}
    found: dict[str, str] = {}
    ends = [m.start() for m in matches[1:]] + [len(text)]
    for match, end in zip(matches, ends, strict=True):
        found.setdefault(match.group(1), text[match.end() : end])
    return text[: matches[0].start()], found


def sepa_fields(text: str) -> dict[str, str]:
    """`/EREF/x//REMI/USTD//y/` -> {"EREF": "x", "REMI": "USTD//y"} (first value of each code).

    >>> sepa_fields("Payment INV-2026-0006 ACME")
    {}
    """
    return {code: value.strip("/").strip() for code, value in _segments(_CODE, text)[1].items()}


def subfields(details: str) -> list[tuple[str, str]] | None:
    """German `:86:` details as (subfield, value) pairs in order; None for other details.

    >>> subfields("166?00GUTSCHR?20SVWZ+Re?21nung INV-1\\n?31DE0212?32Beta")
    [('00', 'GUTSCHR'), ('20', 'SVWZ+Re'), ('21', 'nung INV-1'), ('31', 'DE0212'), ('32', 'Beta')]
    >>> subfields("Payment INV-2026-0006 ACME") is None
    True
    """
    joined = "".join(details.splitlines())  # a line break may fall inside a subfield
    if not _GERMAN.match(joined):
        return None
    parts = _SUBFIELD.split(joined)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def join_pieces(pieces: list[str]) -> str:
    """Pieces of a text the bank cut at 27 characters, joined again.

    A full piece was cut where the length ran out, maybe mid-word, so the next
    runs on; so does a number cut between two pieces. Other pieces end a word.

    >>> join_pieces(["SVWZ+Rechnung", "INV-2026-0002"])
    'SVWZ+Rechnung INV-2026-0002'
    >>> join_pieces(["Rechnung INV-2026-0010 vom", " 02.03.2026 Kundennr 4711 K", "unde"])
    'Rechnung INV-2026-0010 vom 02.03.2026 Kundennr 4711 Kunde'
    >>> join_pieces(["SVWZ+Facture INV-2026-00", "04 merci"])
    'SVWZ+Facture INV-2026-0004 merci'
    """
    out, previous = "", ""
    for piece in pieces:
        runs_on = len(previous) >= PIECE or (out[-1:].isdigit() and piece[:1].isdigit())
        if out and not runs_on:
            out += " "
        out += piece
        previous = piece
    return clean(out)


def _german(fields: list[tuple[str, str]]) -> tuple[str, tuple[str, ...], str]:
    """(payer name, payer ids, reference) from German subfields."""
    purpose = join_pieces([v for k, v in fields if "20" <= k <= "29" or "60" <= k <= "63"])
    name = join_pieces([v for k, v in fields if k in ("32", "33")])
    lead, keywords = _segments(_KEYWORD, purpose)
    ids = [v for k, v in fields if k in ("31", "38")] + [keywords.get("IBAN", "")]
    eref = clean(keywords.get("EREF", ""))
    reference = (
        clean(keywords.get("SVWZ", ""))
        or clean(lead)
        or ("" if eref.upper() in PLACEHOLDERS else eref)
    )
    return name, tuple(dict.fromkeys(normal_id(i) for i in ids if i.strip())), reference


def _remittance(value: str) -> str:
    """REMI is `USTD//free text/` or `STRD/CUR/structured ref/`."""
    for prefix in ("USTD//", "USTD/", "STRD/CUR/", "STRD/ISO/", "STRD/"):
        if value.startswith(prefix):
            return value[len(prefix) :].strip("/")
    return value


def _details(data: dict[str, Any], first_width: int = WRAP) -> tuple[str, tuple[str, ...], str]:
    """(payer name, payer ids, reference) from the `:86:` details."""
    raw = str(data.get("transaction_details") or "")
    german = subfields(raw)
    if german is not None:
        return _german(german)
    text = unwrap(raw, first_width)
    fields = sepa_fields(text)
    if not fields:
        return "", (), clean(text)
    party = fields.get("CNTP", "")
    name = ""
    ids: list[str] = []
    if party:
        parts = party.split("/")
        ids.append(parts[0])
        name = parts[2] if len(parts) > 2 else ""
    name = name or fields.get("NAME", "")
    if fields.get("IBAN"):
        ids.append(fields["IBAN"])
    reference = (
        _remittance(fields.get("REMI", "")) or fields.get("CDTRREF", "") or fields.get("EREF", "")
    )
    if reference == "NOTPROVIDED":
        reference = ""
    return clean(name), tuple(dict.fromkeys(normal_id(i) for i in ids if i)), clean(reference)


def read_mt940(data: bytes, file: str) -> tuple[list[BankLine], list[RowError]]:
    # Line ends as any bank writes them (\r\n, \n\r, a lone \r): the package reads \n only.
    text = re.sub(r"\r\n|\n\r|\r", "\n", decode(data))
    plain = _without_statement_info(text)
    try:
        parsed, volksbank = _parse(plain)
    except Exception as exc:  # the package raises RuntimeError, ValueError... for a bad tag
        return [], [_unreadable(exc, text, file)]
    _check_whole(text)
    glued = _read_glued(text, plain, parsed)
    rows = plain.splitlines()  # the same lines as the text's, numbered alike
    starts = [n for n, row in enumerate(rows, start=1) if row.startswith(":61:")]
    # Which statement (from its :20:) each line is in: one listed twice is read once.
    opened = [n for n, row in enumerate(rows, start=1) if row.startswith(":20:")]
    width = first_line_width(text)
    lines: list[BankLine] = []
    statements: list[int] = []
    errors: list[RowError] = []
    by_line = len(starts) == len(parsed)  # every :61: found by its tag: where is its line
    for index, transaction in enumerate(parsed, start=1):
        where = starts[index - 1] if by_line else index
        try:
            row = rows[where - 1] if by_line else ""
            line = _line(parsed, transaction.data, file, where, width, volksbank, row)
            was = glued[index - 1]
            if was is not None and is_content_ref(line.bank_ref):
                line = _also_as_before(line, _line(parsed, was, file, where, width, volksbank,
                                                   row))  # fmt: skip
            lines.append(line)
            statements.append(bisect.bisect_right(opened, where) if by_line else 0)
            if str(transaction.data.get("status") or "").upper() == "RC":
                errors.append(line_error(file, where, None, reversed_credit(line)))
        except TransactionError as exc:
            errors.append(line_error(file, where, None, str(exc)))
        except Exception:  # a shape of details not foreseen: said plainly, the rest is read
            errors.append(line_error(file, where, None, "this transaction's :61: and :86: lines "
                                     "could not be read; record the payment by hand."))  # fmt: skip
    if by_line:  # a statement listed twice in the file (same :20:, :25:, :28C:) counts once
        lines, statements = once_per_statement(lines, statements, _heads(rows, opened))
    return number_repeats(once_across_statements(lines, statements)), errors


def _read_glued(
    text: str, plain: str, parsed: mt940_package.models.Transactions
) -> list[dict[str, Any] | None]:
    """Each transaction's data as earlier versions read it, with the statement's own
    information and end (`_without_statement_info`) added to the last one's details;
    None where that reading is the same (or is not at hand)."""
    unknown: list[dict[str, Any] | None] = [None] * len(parsed)
    if plain == text:
        return unknown
    try:
        before, _ = _parse(text)
    except Exception:  # earlier versions could not read it either: no Bank Ref to keep
        return unknown
    if len(before) != len(parsed):
        return unknown
    return [None if was.data.get("transaction_details") == now.data.get("transaction_details")
            else was.data for was, now in zip(before, parsed, strict=True)]  # fmt: skip


def _also_as_before(line: BankLine, before: BankLine) -> BankLine:
    """The line, knowing the Bank Refs earlier versions gave it when they read its details
    with the statement's information added (`BankLine.earlier_refs`): a line imported
    then is not imported again."""
    refs = {before.bank_ref, *before.earlier_refs, *line.earlier_refs} - {line.bank_ref}
    return replace(line, earlier_refs=tuple(sorted(refs)))


def _closed(rows: list[str]) -> list[bool]:
    """For each row, whether it comes after its statement's closing tag (`CLOSING`): the
    statement's own balances, information and end (`-`), not a transaction's."""
    after, closed = False, []
    for row in rows:
        tag = _TAG.match(row)
        if tag:
            after = tag[1] in CLOSING or (after and tag[1] in AFTER_CLOSING)
        closed.append(after)
    return closed


def _without_statement_info(text: str) -> str:
    """The text with each statement's own `:86:` (after its closing balance) and its end
    (`-`, `-XXX`, a SWIFT message's `-}`) as blank lines, which the package skips: read
    as details, they would be added to the last transaction's. Lines keep their numbers."""
    rows = text.split("\n")
    info = False
    for number, (row, after) in enumerate(zip(rows, _closed(rows), strict=True)):
        tag = _TAG.match(row)
        if tag:
            info = after and tag[1] == "86"
        if (after and (info or row.startswith("-"))) or row.startswith("-}"):
            rows[number] = ""
    return "\n".join(rows)


def _check_whole(text: str) -> None:
    """A StatementError when the file ends before its statements do (a download cut short):
    a statement without its closing balance (or, in a SWIFT message, the message's end
    `-}`), a SWIFT message `{4:` without its `-}`. Nothing of such a file is read: its
    last amount may be cut (`154551,` of `154551,93`), its details too."""
    rows = text.split("\n")
    starts = [n for n, row in enumerate(rows) if row.startswith(":20:")] or [0]
    for start, end in zip(starts, [*starts[1:], len(rows)], strict=True):
        if not any(((tag := _TAG.match(row)) and tag[1] in CLOSING) or row.startswith("-}")
                   for row in rows[start:end]):  # fmt: skip
            raise cut_short(f"the statement on line {start + 1} has no closing balance :62F:")
    if text.count("{4:") > text.count("-}"):
        raise cut_short("a SWIFT message {4: has no -} at its end")


def _heads(rows: list[str], opened: list[int]) -> dict[int, tuple[str, ...]]:
    """Each statement (numbered as bisect counts the `:20:` lines before a line) by its
    reference, account and number: the `:20:`, `:25:` and `:28C:` (or `:28:`) values."""
    heads: dict[int, tuple[str, ...]] = {}
    for index, start in enumerate(opened, start=1):
        end = opened[index] - 1 if index < len(opened) else len(rows)
        tags: dict[str, str] = {}
        for row in rows[start - 1 : end]:
            found = re.match(r":(20|25|28C?):(.*)", row)
            if found:
                tags.setdefault(found[1].rstrip("C"), found[2].strip())
        heads[index] = (tags.get("20", ""), tags.get("25", ""), tags.get("28", ""))
    return heads


def _parse(text: str) -> tuple[mt940_package.models.Transactions, bool]:
    """The package's reading of the file, and whether it is de Volksbank's: the `:61:` of
    ASN, SNS and RegioBank (the payer's IBAN where the customer reference may hold 16
    characters, the payer's name on the next line) when the usual reading fails."""
    # The package's own reading of `?NN` details is left out: _details reads them.
    processors: Any = {"post_transaction_details": []}
    parsed = mt940_package.models.Transactions(processors=processors)
    try:
        parsed.parse(text)
    except Exception as exc:
        tag = exc.args[1] if len(exc.args) == 3 else None
        if str(getattr(tag, "id", "")) != "61":
            raise
        asn = mt940_package.tags.StatementASNB()
        parsed = mt940_package.models.Transactions(processors=processors, tags={asn.id: asn})
        try:
            parsed.parse(text)
        except Exception:
            raise exc from None  # told as the usual reading found it
        return parsed, True
    return parsed, False


def _unreadable(exc: Exception, text: str, file: str) -> RowError:
    """What is wrong with a tag the package could not parse, in words, at its line."""
    tag, value = (exc.args[1], exc.args[2]) if len(exc.args) == 3 else (None, None)
    if tag is None or not isinstance(value, str):
        return line_error(file, None, None, "it looks like MT940 but a tag could not be read: "
                          "check its :60F:, :61: and :62F: lines (dates YYMMDD, amounts like "
                          "1234,56).")  # fmt: skip
    tag_id = str(getattr(tag, "id", ""))
    shown = value.strip().splitlines()[0][:60] if value.strip() else ""
    what, form = TAG_FORMS.get(tag_id, ("line", ""))
    where = next((n for n, row in enumerate(text.splitlines(), start=1)
                  if row.startswith(f":{tag_id}:") and shown in row), None)  # fmt: skip
    return line_error(file, where, None, f"the :{tag_id}: {what} {shown!r} is not in MT940's form"
                      + (f" ({form})." if form else "."))  # fmt: skip


def _line(
    parsed: mt940_package.models.Transactions,
    data: dict[str, Any],
    file: str,
    where: int,
    first_width: int = WRAP,
    volksbank: bool = False,
    row: str = "",
) -> BankLine:
    status = str(data.get("status") or "").upper()
    if status not in ("C", "D", "RC", "RD"):
        raise TransactionError(f"debit/credit mark {status!r} is not C, D, RC or RD.")
    # A reversed debit (RD) brings money in; a reversed credit (RC) takes it out.
    direction: Direction = IN if status in ("C", "RD") else OUT
    amount_obj = data.get("amount")
    if amount_obj is None:
        raise TransactionError("the transaction has no amount.")
    amount = abs(Decimal(str(amount_obj.amount)))
    currency = str(getattr(amount_obj, "currency", "") or data.get("currency") or "").upper()
    written = _written_amount(row, currency)
    if written is not None and written != amount:
        amount = written  # the package stopped at a mark it does not read
    problem = amount_problem(amount, currency)
    if problem:
        raise TransactionError(
            f"the :61: amount {_amount_text(row) or str(amount)!r} {problem}; it is not read "
            "at another size: record the payment by hand."
        )
    when = data.get("entry_date") or data.get("date")
    if when is None:
        raise TransactionError("the transaction has no date.")
    day = date(when.year, when.month, when.day)
    # Rabobank writes the counterparty's account on the line after `:61:`.
    extra = normal_id(str(data.get("extra_details") or ""))
    name, ids, reference = _details(data, first_width)
    ids = _with_account(ids, extra)
    if volksbank:  # the payer's IBAN in the customer reference, the name on the next line
        ids = _with_account(ids, normal_id(str(data.get("customer_reference") or "")))
        name = name or clean(str(data.get("extra_details") or ""))
    bank_reference = str(data.get("bank_reference") or "")
    earlier: tuple[str, ...] = ()
    if trusted_ref(bank_reference):
        ref = bank_reference.strip()
    else:
        before = _as_read_before(parsed, data)
        if before is None:
            # Hashed as earlier imports read the details, the first line as 65 long, so a
            # line's Bank Ref stays the one already recorded.
            old_name, old_ids, old_reference = (
                _details(data) if first_width != WRAP else (name, ids, reference)
            )
            customer = str(data.get("customer_reference") or "")
        else:
            old_name, old_ids, old_reference, customer = before
        hashed = [*_with_account(old_ids, extra), old_name, old_reference, customer]
        ref, earlier = content_refs("MT940", [day, amount, status, *hashed, bank_reference])
    return BankLine(day, amount, currency, direction, name, ids, reference, ref, file, where,
                    earlier)  # fmt: skip


def _amount_text(row: str) -> str:
    """The amount field of a `:61:` line as written, "" when it cannot be found."""
    found = _AMOUNT_FIELD.match(row)
    return found["amount"] if found else ""


def _written_amount(row: str, currency: str) -> Decimal | None:
    """The amount of a `:61:` line read from its text, or None when the line is not at hand.

    SWIFT writes digits with one decimal comma (`1234,50`, `500,`). A single dot followed
    by exactly the currency's decimals (`1234.50` in EUR) is read too; anything else (a
    space, a thousands mark, `1.234,50`) is refused, never read at another size.

    >>> _written_amount(":61:2603030303C1234.50NTRF", "EUR"), _written_amount("", "EUR")
    (Decimal('1234.50'), None)
    """
    text = _amount_text(row)
    if not text:
        return None
    digits = currency_digits(currency)
    if re.fullmatch(r"\d+,\d*", text) or (digits and re.fullmatch(rf"\d+\.\d{{{digits}}}", text)):
        return Decimal(text.replace(",", "."))
    raise TransactionError(
        f"the :61: amount {text!r} is not in SWIFT's form: digits with one decimal comma, "
        "no spaces or thousands marks (such as 1234,50); it is not read at another size: "
        "record the payment by hand."
    )


def _with_account(ids: tuple[str, ...], account: str) -> tuple[str, ...]:
    """The ids with the account after `:61:`, when it is an IBAN the details did not name."""
    if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", account) and account not in ids:
        return (*ids, account)
    return ids


def _as_read_before(
    parsed: mt940_package.models.Transactions, data: dict[str, Any]
) -> tuple[str, tuple[str, ...], str, str] | None:
    """For German `?NN` details: (name, ids, reference, customer reference) as the reader
    took them from the package before it read `?31` apart, so a line's hash, its Bank Ref,
    stays the one an earlier import recorded; None for other details."""
    raw = str(data.get("transaction_details") or "")
    if not re.match(r"^\d{3}\?\d{2}", "".join(raw.splitlines())):
        return None  # the package left these to the reader, as it still does
    old = transaction_details_post_processor(parsed, parsed.tags[86], {"transaction_details": raw},
                                             dict(data))  # fmt: skip
    customer = str(old.get("customer_reference") or "")
    if old.get("purpose") is None and old.get("applicant_name") is None:
        return "", (), "", customer
    ids = (normal_id(str(old["applicant_bin"])),) if old.get("applicant_bin") else ()
    return (clean(str(old.get("applicant_name") or "")), ids, clean(str(old.get("purpose") or "")),
            customer)  # fmt: skip
