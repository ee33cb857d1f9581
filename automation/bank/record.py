"""The one record every statement reader returns, and what they share.

A reader turns a bank's file into `BankLine`s (plain, frozen, money as
Decimal) plus `RowError`s for lines it could not read; a file it cannot read
at all raises `StatementError`.

>>> ref = content_ref("1C", ["2026-03-02", "1250.00", "in", "Acme"])
>>> ref.startswith("1C-") and len(ref) == 19
True
>>> [line_error("kaspi.txt", 12, "Сумма", "'abc' is not an amount").message]
["Сумма: 'abc' is not an amount"]
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from ..model import RowError
from ..money import currency_digits, round_money, too_many_decimals

Direction = Literal["in", "out"]
IN: Direction = "in"
OUT: Direction = "out"


class StatementError(ValueError):
    """A file that is not a statement this tool can read (the whole file is skipped)."""


def cut_short(missing: str) -> StatementError:
    """A file that ends before the format says it is complete (an interrupted download):
    nothing of it is read, not even the whole transactions before the cut.

    >>> str(cut_short("no КонецФайла at its end"))
    'it is cut short or damaged (no КонецФайла at its end); download the statement again.'
    """
    return StatementError(f"it is cut short or damaged ({missing}); download the statement again.")


@dataclass(frozen=True)
class BankLine:
    """One transaction of a bank statement.

    Attributes:
      date: the date the money arrived (or left): the booking date.
      amount: always positive; `direction` says which way it went (a line of amount
        zero moves no money: `read_statement` leaves it out).
      payer: the payer's name as the bank prints it (the counterparty for "out").
      payer_ids: the payer's identifiers: tax number (BIN/IIN/INN), IBAN or account.
      reference: the payment purpose text (remittance information).
      bank_ref: the bank's own id of the transaction, or a hash of its content.
      file, line: where it came from, for messages (line: 1-based line or entry number).
      earlier_refs: for a hashed Bank Ref, the refs earlier versions of the tool gave the
        line (a hash of its amount as the bank spelt it: `content_refs`); a line stored
        under one of them is imported already (`new_lines`).
    """

    date: date
    amount: Decimal
    currency: str
    direction: Direction
    payer: str
    payer_ids: tuple[str, ...]
    reference: str
    bank_ref: str
    file: str = ""
    line: int = 0
    earlier_refs: tuple[str, ...] = field(default=(), compare=False)

    @property
    def payer_id(self) -> str:
        """The identifiers as one cell: `;`-separated."""
        return "; ".join(self.payer_ids)


@dataclass(frozen=True)
class CsvLayout:
    """`[bank.csv]`: which columns of a bank's CSV hold what, and how it is written."""

    date: str = ""
    amount: str = ""
    currency: str = ""
    payer: str = ""
    payer_id: str = ""
    reference: str = ""
    bank_ref: str = ""
    #: a column of money going out, for a bank that writes it apart from `amount` (money in)
    debit: str = ""
    #: a column saying which way the money went (S/H, Debit/Credit), the amount unsigned;
    #: " " names a column without a header (VR-Bank's, after the amount)
    direction: str = ""
    date_format: str = "%Y-%m-%d"
    decimal: str = "."
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    @property
    def configured(self) -> bool:
        return bool(self.date and self.amount and self.reference)


@dataclass(frozen=True)
class BankConfig:
    """`[bank]`: where statements arrive, the bank-fee tolerance, the CSV layout."""

    inbox: str = "statements"
    fee_tolerance: Decimal = Decimal("0")
    csv: CsvLayout = field(default_factory=CsvLayout)
    #: the currency of lines whose file does not say (a CSV without a currency column)
    currency: str = ""


def clean(text: str) -> str:
    """Whitespace folded to single spaces (bank texts wrap and pad freely)."""
    return " ".join(text.split())


_NOT_ALNUM = re.compile(r"[\W_]+")


def normal_id(text: str) -> str:
    """An identifier as compared: upper case, no spaces, dashes or dots.

    >>> normal_id(" kz12 3456-7890.12 ")
    'KZ123456789012'
    """
    return _NOT_ALNUM.sub("", text.upper())


#: What a hashed Bank Ref is made of: texts, amounts and dates as read.
Part = str | Decimal | date


def content_ref(prefix: str, parts: Iterable[Part]) -> str:
    """A stable id for a line without a bank id: a hash of what it says, not of how the
    bank spelt it: an amount by its value (`150000`, `150000.00` and `150000.0` are one),
    a date as a date, text with its whitespace folded.

    The decoded text is hashed, so the same file saved in two encodings gives
    the same ids.

    >>> content_ref("1C", [Decimal("150000")]) == content_ref("1C", [Decimal("150000.00")])
    True
    """
    return f"{prefix}-{_digest(_said(p) for p in parts)}"


def content_refs(
    prefix: str, parts: Sequence[Part], written: Sequence[Part] | None = None
) -> tuple[str, tuple[str, ...]]:
    """A line's Bank Ref (`content_ref` of `parts`) and the refs earlier versions may
    have given it (`BankLine.earlier_refs`), without the Bank Ref itself.

    Earlier versions hashed `written` (by default `parts`) with each amount as the bank
    spelt it, so one payment in two exports (`150000.00`, `150000`) had two refs. Which
    spelling the stored line had is not known: every one the amount can be written in,
    up to four decimals, is hashed.

    >>> ref, earlier = content_refs("CSV", ["2026-03-05", Decimal("150000"), "Acme"])
    >>> ref == content_refs("CSV", ["2026-03-05", Decimal("150000.00"), "Acme"])[0]
    True
    >>> content_ref("CSV", ["2026-03-05", "150000", "Acme"]) in earlier, len(earlier)
    (True, 4)
    """
    ref = content_ref(prefix, parts)
    ways = [_spellings(p) if isinstance(p, Decimal) else [_said(p)]
            for p in (parts if written is None else written)]  # fmt: skip
    earlier = {f"{prefix}-{_digest(texts)}" for texts in itertools.product(*ways)}
    return ref, tuple(sorted(earlier - {ref}))


def _said(part: Part) -> str:
    """A part as hashed: an amount with at least two decimals and no trailing zeros beyond
    (as most banks write it, so most lines keep the Bank Ref earlier versions gave them)."""
    if isinstance(part, Decimal):
        whole, _, decimals = f"{part:f}".partition(".")
        return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"
    if isinstance(part, date):
        return part.isoformat()
    return part


def _spellings(amount: Decimal) -> list[str]:
    """How a bank may write an amount: `150000`, `150000.0` ... `150000.0000` and as read.

    >>> _spellings(Decimal("12.50"))
    ['12.5', '12.50', '12.500', '12.5000']
    """
    whole, _, decimals = f"{amount:f}".partition(".")
    decimals = decimals.rstrip("0")
    found = {str(amount)} | {
        f"{whole}.{decimals.ljust(places, '0')}" if places else whole
        for places in range(len(decimals), 5)
    }
    return sorted(found)


def _digest(parts: Iterable[str]) -> str:
    joined = "\x1f".join(clean(p) for p in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


_CONTENT_REF = re.compile(r"[0-9A-Z]+-[0-9a-f]{16}")


def is_content_ref(ref: str) -> bool:
    """Whether `ref` is a hash of what a line says (`content_ref`), not the bank's own id.

    >>> is_content_ref(content_ref("CAMT", ["x"])), is_content_ref("2026030512345678")
    (True, False)
    """
    return bool(_CONTENT_REF.fullmatch(ref))


#: What identifies a line by what it says: date, amount, currency, direction, payer, reference.
Said = tuple[str, Decimal, str, str, str, str]


def said(line: BankLine) -> Said:
    return (line.date.isoformat(), line.amount, line.currency, line.direction, line.payer,
            line.reference)  # fmt: skip


def once_across_statements(lines: list[BankLine], statements: list[int]) -> list[BankLine]:
    """The lines, a transaction that an earlier statement of the same file already listed
    (its bank id and all it says the same: overlapping or repeated statements) left out.

    `statements[i]` is the statement line i comes from (the file's order). Within
    one statement two equal lines stay two (`number_repeats` keeps them apart),
    and a statement listing one more copy than an earlier one keeps that copy;
    lines whose Bank Ref is a hash of what they say prove nothing and all stay.
    """
    earlier: Counter[tuple[object, ...]] = Counter()  # the most copies a statement listed
    current: Counter[tuple[object, ...]] = Counter()
    reading: int | None = None
    kept = []
    for line, statement in zip(lines, statements, strict=True):
        if statement != reading:
            earlier |= current  # the larger count of each
            current, reading = Counter(), statement
        if not is_content_ref(line.bank_ref):
            same = (line.bank_ref, line.payer_ids, *said(line))
            current[same] += 1
            if current[same] <= earlier[same]:
                continue  # listed by an earlier statement of the file already
        kept.append(line)
    return kept


def once_per_statement(
    lines: list[BankLine], statements: list[int], heads: Mapping[int, Hashable]
) -> tuple[list[BankLine], list[int]]:
    """The lines (and their statements) without a statement the file repeats whole.

    `heads[s]` says which statement `s` is (its account, its id or number; a statement
    missing from `heads` is never taken for another). A statement with the head and
    every line of an earlier one in the file is that statement listed again: its lines
    are left out, hashed Bank Refs too, so it counts once as it would in two files. Two
    equal lines inside one statement both stay (`number_repeats` keeps them apart).
    """
    listed: dict[int, list[tuple[object, ...]]] = {}
    for line, statement in zip(lines, statements, strict=True):
        listed.setdefault(statement, []).append((line.bank_ref, line.payer_ids, *said(line)))
    seen: set[tuple[Hashable, tuple[tuple[object, ...], ...]]] = set()
    repeated: set[int] = set()
    for statement, content in listed.items():
        if statement not in heads:
            continue
        key = (heads[statement], tuple(content))
        if key in seen:
            repeated.add(statement)
        seen.add(key)
    kept = [(ln, s) for ln, s in zip(lines, statements, strict=True) if s not in repeated]
    return [ln for ln, _ in kept], [s for _, s in kept]


def number_repeats(lines: list[BankLine]) -> list[BankLine]:
    """Two identical lines in one file (two equal payments on one day) keep apart.

    The second and later copies of a ref get `#2`, `#3`...: in an overlapping
    statement the same copies get the same numbers again. (A transaction that
    another statement of the same file listed already is left out before this:
    `once_across_statements`.)
    """
    seen: Counter[tuple[bool, str]] = Counter()

    def numbered(ref: str, earlier: bool) -> str:
        seen[earlier, ref] += 1
        count = seen[earlier, ref]
        return ref if count == 1 else f"{ref}#{count}"

    result = []
    for line in lines:
        ref = numbered(line.bank_ref, False)
        # the refs earlier versions gave it were numbered the same way, each on its own
        earlier = tuple(numbered(r, True) for r in line.earlier_refs)
        same = ref == line.bank_ref and earlier == line.earlier_refs
        result.append(line if same else replace(line, bank_ref=ref, earlier_refs=earlier))
    return result


#: A Bank Ref made for a line whose bank reference an earlier line of another amount has:
#: the bank's reference, `~`, a fingerprint of what the line says.
_OWN_REF = re.compile(r"(?P<bank>.+)~[0-9a-f]{16}")


def own_ref(line: BankLine) -> BankLine:
    """The line under a Bank Ref of its own: its bank's reference and a fingerprint of it.

    >>> line = BankLine(date(2026, 3, 9), Decimal("50"), "EUR", IN, "Acme", (), "x", "T1")
    >>> ref = own_ref(line).bank_ref
    >>> ref.startswith("T1~"), reused_ref(ref), reused_ref("T1")
    (True, 'T1', '')
    """
    parts = [line.bank_ref, *map(str, said(line)), *line.payer_ids]
    return replace(line, bank_ref=f"{line.bank_ref}~{_digest(parts)}")


def reused_ref(ref: str) -> str:
    """The bank's reference a Bank Ref made by `own_ref` was made from, else ""."""
    found = _OWN_REF.fullmatch(ref)
    return found["bank"] if found else ""


#: Days a line seen again may lie from the first sight of it: one transaction can carry
#: its booking date in one file and its value date in another.
SAME_LINE_DAYS = 7


def new_lines(
    lines: Iterable[BankLine], known: Mapping[str, tuple[Decimal, str, date]]
) -> list[BankLine]:
    """The lines not imported before, in order; `known` is Bank Ref -> (amount, currency,
    date).

    A line whose Bank Ref is known (or came earlier in `lines`) with the same
    amount and currency, dated within SAME_LINE_DAYS, is that line again: left
    out. With another amount or currency, or a month later (a retainer of the
    same amount under an id the bank used again), it is another payment: it gets
    a Bank Ref of its own (`own_ref`), never dropped. A line stored under one of its
    `earlier_refs` (the hash an earlier version gave it) is left out too, and so is that
    line listed again in another file of `lines`.
    """
    taken = dict(known)
    result = []
    for line in lines:
        if any(ref in known for ref in line.earlier_refs):
            # imported by an earlier version, under the hash it gave the line: under its
            # Bank Ref now too, for the same line in another file of this import
            taken.setdefault(line.bank_ref, (line.amount, line.currency, line.date))
            continue
        earlier = taken.get(line.bank_ref)
        if earlier is not None and not _same_line(line, earlier):
            line = own_ref(line)
        if line.bank_ref in taken:
            continue
        taken[line.bank_ref] = (line.amount, line.currency, line.date)
        result.append(line)
    return result


#: The readers whose earlier versions glued text to a line: MT940's added the statement's
#: own `:86:` (after its closing balance) and its end (`-XXX`, `-}`) to the last line's
#: details, so to its Reference (or, in `?NN` details, its payer's name) and its Bank Ref.
GLUED_BEFORE = ("MT940",)


def _glued_reader(ref: str) -> str:
    """The reader (GLUED_BEFORE) whose fingerprint `ref` is (numbered or not), else ""."""
    bare = ref.split("#", 1)[0]
    prefix = bare.split("-", 1)[0]
    return prefix if prefix in GLUED_BEFORE and is_content_ref(bare) else ""


def _longer(now: str, then: str) -> bool:
    return bool(now) and len(then) > len(now) and then.startswith(now)


def glued_twin(line: BankLine, stored: BankLine) -> bool:
    """Whether `stored` is `line` as an earlier version of its reader imported it, text
    glued after its Reference or its payer's name (`GLUED_BEFORE`): both fingerprints of
    that reader, all else they say the same.

    >>> new = BankLine(date(2026, 3, 4), Decimal("100"), "EUR", IN, "", (), "INV 1",
    ...                "MT940-" + "0" * 16)
    >>> old = replace(new, reference="INV 1 D000000C000001D0,00C100,00",
    ...               bank_ref="MT940-" + "1" * 16)
    >>> glued_twin(new, old), glued_twin(replace(new, reference="INV 2"), old)
    (True, False)
    """
    reader = _glued_reader(line.bank_ref)
    if not reader or _glued_reader(stored.bank_ref) != reader:
        return False
    if _paid(line) != _paid(stored):
        return False
    return (line.payer == stored.payer and _longer(line.reference, stored.reference)) or (
        line.reference == stored.reference and _longer(line.payer, stored.payer)
    )


def without_glued_twins(
    new: Sequence[BankLine], read: Sequence[BankLine], stored: Sequence[BankLine]
) -> list[BankLine]:
    """The new lines (of `read`, all lines read this run) without those imported before as
    a `glued_twin` of `stored` (the lines imported under a fingerprint, in import order).

    Each stored line answers for one line only. A stored line that a line read now has
    for its Bank Ref (or an earlier one), or says exactly, is that line: one of the file's
    (another payment, its text longer) or the same file imported again.
    """
    claimed = {ref for line in read for ref in (line.bank_ref, *line.earlier_refs)}
    exact = {(line.payer_ids, *said(line)) for line in read}
    waiting: dict[tuple[object, ...], list[BankLine]] = {}
    for line in stored:
        if (_glued_reader(line.bank_ref) and line.bank_ref not in claimed
                and (line.payer_ids, *said(line)) not in exact):  # fmt: skip
            waiting.setdefault(_paid(line), []).append(line)
    kept = []
    for line in new:
        same = waiting.get(_paid(line), [])
        twin = next((s for s in same if glued_twin(line, s)), None)
        if twin is None:
            kept.append(line)
        else:
            same.remove(twin)
    return kept


def _paid(line: BankLine) -> tuple[object, ...]:
    """What a `glued_twin` shares besides its text: the money, its day, the payer's ids."""
    return (line.date, line.amount, line.currency, line.direction, line.payer_ids)


def _same_line(line: BankLine, seen: tuple[Decimal, str, date]) -> bool:
    amount, currency, when = seen
    return (
        (line.amount, line.currency) == (amount, currency)
        and abs((line.date - when).days) <= SAME_LINE_DAYS
    )


def _payer_ids(line: BankLine) -> set[str]:
    return {normal_id(i).lstrip("0") for i in line.payer_ids} - {""}


def _same_payer(line: BankLine, other: BankLine) -> bool:
    """The same payer name (any case or spacing), or an identifier both give."""
    return clean(line.payer).casefold() == clean(other.payer).casefold() or bool(
        _payer_ids(line) & _payer_ids(other)
    )


def repeated_from_other_files(lines: Sequence[BankLine]) -> dict[str, BankLine]:
    """Bank Ref -> the earlier line (in `lines`' order: import order) that a line of
    another file repeats under a Bank Ref of its own: same date, amount, currency and
    reference (any case or spacing), and the same payer (`_same_payer`).

    Two formats of one statement (a CSV export whose Bank Ref is a fingerprint, the
    bank's OFX with its own ids) give each payment twice. Each earlier line answers
    for one line only, and lines of one file never repeat each other: two equal
    payments on one day in one statement are two payments (`number_repeats`).

    >>> csv = BankLine(date(2026, 3, 9), Decimal("600"), "USD", IN, "Beta LLC", (), "INV 7", "C1",
    ...                "c.csv")
    >>> ofx = replace(csv, payer="BETA LLC", reference="inv 7", bank_ref="F1", file="c.ofx")
    >>> {ref: line.bank_ref for ref, line in repeated_from_other_files([csv, ofx]).items()}
    {'F1': 'C1'}
    """
    waiting: dict[tuple[object, ...], list[BankLine]] = {}
    found: dict[str, BankLine] = {}
    for line in lines:
        key = (line.date, line.amount, line.currency, line.direction,
               "".join(line.reference.split()).casefold())  # fmt: skip
        earlier = waiting.setdefault(key, [])
        twin = next((e for e in earlier if e.file != line.file and e.bank_ref != line.bank_ref
                     and _same_payer(line, e)), None)  # fmt: skip
        if twin is None:
            earlier.append(line)
        else:
            earlier.remove(twin)
            found[line.bank_ref] = twin
    return found


def reversed_credit(line: BankLine) -> str:
    """What a bookkeeper is told of a reversed credit (MT940 RC, camt DBIT with RvslInd):
    money that came in went back."""
    what = f" ({line.reference})" if line.reference else ""
    return (
        f"the bank reversed a credit of {line.amount} {line.currency} on "
        f"{line.date.isoformat()}{what}: a payment that came in was taken back. If it was "
        "applied to an invoice, lower that invoice's Paid Amount by it."
    )


def three_places(amount: Decimal, currency: str) -> bool:
    """Whether an amount is written with three decimals where its currency has fewer:
    `2.500` in USD is refused, not read as 2.50, since it may be 2,500 with the other mark
    (a bank writing `2500.00` in JPY, or `12.5000`, is read: it cannot be thousands)."""
    places = -int(amount.as_tuple().exponent)
    return places == 3 and currency_digits(currency) < places


def amount_problem(amount: Decimal, currency: str) -> str:
    """Why an amount as the bank wrote it cannot be taken in its currency, else "":
    finer than the currency's cents, or three decimals (`2.500`: two and a half, or two
    thousand five hundred). Never rounded to another size.

    >>> amount_problem(Decimal("2.500"), "USD"), amount_problem(Decimal("2.50"), "USD")
    ('has 3 decimals; USD amounts have at most 2', '')
    """
    if amount != round_money(amount, currency) or three_places(amount, currency):
        return too_many_decimals(amount, currency)
    return ""


def line_error(file: str, line: int | None, field_name: str | None, message: str) -> RowError:
    """A problem with one line of a statement, as the run's other row errors are shown."""
    where = f"{file}, line {line}" if line else file
    text = f"{field_name}: {message}" if field_name else message
    return RowError(where, None, None, text)


def first(fields: Mapping[str, str], *names: str) -> str:
    """The first of several alternative fields that has a value."""
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            return value
    return ""


#: What banks write where a reference is required but they have none.
PLACEHOLDERS = frozenset({"NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE", "N/A", "NA", "NULL",
                          "UNKNOWN", "-"})  # fmt: skip


def trusted_ref(bank_reference: str) -> bool:
    """A bank reference that identifies one transaction, not a per-statement counter.

    A number under eight digits is a counter, zero-padded or not: German MT940
    files write `NONREF//000000000001`, OFX downloads `<FITID>00000001`, and the
    next statement starts at 1 again.

    >>> [trusted_ref(r) for r in ("2026030512345678", "NONREF", "NOTPROVIDED", "1", "000042")]
    [True, False, False, False, False]
    >>> [trusted_ref(r) for r in ("000000000001", "00000001", "0012345678")]
    [False, False, True]
    """
    ref = bank_reference.strip()
    if not ref or ref.upper() in PLACEHOLDERS:
        return False
    return not (ref.isdigit() and len(ref.lstrip("0")) < 8)
