"""SWIFT MT940 statements, parsed with the `mt-940` package (BSD).

The package reads the tags; this module turns each `:61:` line and its
`:86:` details into a BankLine. Details come in three shapes:

- SEPA codes (ING, Rabobank, ABN AMRO): `/EREF/..//CNTP/IBAN/BIC/NAME/CITY///REMI/USTD//text/`;
- German `?20`-`?32` subfields (Sparkassen, Deutsche Bank): the package splits them;
- free text: the whole `:86:` is the reference.

The date is the booking (entry) date, else the value date. The bank ref is
the `:61:` bank reference when it looks like an id (not `NONREF`, not a short
sequence number that repeats in every statement), else a hash of the line.

    lines, errors = read_mt940(path.read_bytes(), "ing.sta")
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import mt940 as mt940_package

from ..model import RowError
from .record import (
    IN,
    OUT,
    BankLine,
    Direction,
    StatementError,
    clean,
    content_ref,
    line_error,
    normal_id,
    number_repeats,
)

#: The SEPA codes of structured `:86:` details; a value runs to the next code.
CODES = ("EREF", "CNTP", "REMI", "ORDP", "BENM", "NAME", "IBAN", "MARF", "CSID", "PREF",
         "RTRN", "ISDT", "BUSP", "PURP", "ULTC", "ULTD", "ULTB", "ADDR", "BIC", "TRCD", "ID",
         "CDTRREFTP", "CDTRREF", "CDTRREFISSUER")  # fmt: skip
_CODE = re.compile(r"/(" + "|".join(CODES) + r")/")
#: SWIFT wraps `:86:` at 65 characters, even inside a word.
WRAP = 65


def is_mt940(head: bytes) -> bool:
    text = head.decode("latin-1")
    return ":20:" in text and bool(re.search(r":6[01][FM]?:", text))


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def unwrap(details: str) -> str:
    """Join the `:86:` lines: a full 65-character line continues mid-word."""
    out, previous = "", ""
    for part in details.splitlines():
        if out:
            out += "" if len(previous) >= WRAP else " "
        out += part
        previous = part
    return out


def sepa_fields(text: str) -> dict[str, str]:
    """`/EREF/x//REMI/USTD//y/` -> {"EREF": "x", "REMI": "USTD//y"} (first value of each code)."""
    found: dict[str, str] = {}
    matches = list(_CODE.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        found.setdefault(match.group(1), text[match.end() : end].strip("/").strip())
    return found


def _remittance(value: str) -> str:
    """REMI is `USTD//free text/` or `STRD/CUR/structured ref/`."""
    for prefix in ("USTD//", "USTD/", "STRD/CUR/", "STRD/ISO/", "STRD/"):
        if value.startswith(prefix):
            return value[len(prefix) :].strip("/")
    return value


def _details(data: dict[str, Any], direction: Direction) -> tuple[str, tuple[str, ...], str]:
    """(payer name, payer ids, reference) from the `:86:` details."""
    raw = str(data.get("transaction_details") or "")
    text = unwrap(raw)
    if data.get("purpose") is not None or data.get("applicant_name") is not None:
        known = (data.get("applicant_iban"), data.get("applicant_bin"))
        return (
            clean(str(data.get("applicant_name") or "")),
            tuple(normal_id(str(v)) for v in known if v),
            clean(str(data.get("purpose") or "")),
        )
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


#: What banks write where a reference is required but they have none.
PLACEHOLDERS = frozenset({"NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE", "N/A", "NA", "NULL",
                          "UNKNOWN", "-"})  # fmt: skip


def trusted_ref(bank_reference: str) -> bool:
    """A bank reference that identifies one transaction, not a per-statement counter.

    >>> [trusted_ref(r) for r in ("2026030512345678", "NONREF", "NOTPROVIDED", "1", "000042")]
    [True, False, False, False, False]
    """
    ref = bank_reference.strip()
    if not ref or ref.upper() in PLACEHOLDERS:
        return False
    return not (ref.isdigit() and len(ref) < 8)


def read_mt940(data: bytes, file: str) -> tuple[list[BankLine], list[RowError]]:
    text = decode(data)
    try:
        parsed = mt940_package.parse(text)
    except Exception as exc:  # the package raises plain exceptions for malformed tags
        raise StatementError(f"{file} could not be read as MT940: {exc}.") from None
    lines: list[BankLine] = []
    errors: list[RowError] = []
    for index, transaction in enumerate(parsed, start=1):
        try:
            lines.append(_line(transaction.data, file, index))
        except ValueError as exc:
            errors.append(line_error(file, index, None, f"transaction {index}: {exc}"))
    return number_repeats(lines), errors


def _line(data: dict[str, Any], file: str, index: int) -> BankLine:
    status = str(data.get("status") or "").upper()
    if status not in ("C", "D", "RC", "RD"):
        raise ValueError(f"debit/credit mark {status!r} is not C, D, RC or RD.")
    # A reversed debit (RD) brings money in; a reversed credit (RC) takes it out.
    direction: Direction = IN if status in ("C", "RD") else OUT
    amount_obj = data.get("amount")
    if amount_obj is None:
        raise ValueError("it has no amount.")
    amount = abs(Decimal(str(amount_obj.amount)))
    currency = str(getattr(amount_obj, "currency", "") or data.get("currency") or "").upper()
    when = data.get("entry_date") or data.get("date")
    if when is None:
        raise ValueError("it has no date.")
    day = date(when.year, when.month, when.day)
    name, ids, reference = _details(data, direction)
    # Rabobank writes the counterparty's account on the line after `:61:`.
    extra = normal_id(str(data.get("extra_details") or ""))
    if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", extra) and extra not in ids:
        ids = (*ids, extra)
    bank_reference = str(data.get("bank_reference") or "")
    if trusted_ref(bank_reference):
        ref = bank_reference.strip()
    else:
        ref = content_ref(
            "MT940",
            [day.isoformat(), str(amount), status, *ids, name, reference,
             str(data.get("customer_reference") or ""), bank_reference],
        )  # fmt: skip
    return BankLine(day, amount, currency, direction, name, ids, reference, ref, file, index)
