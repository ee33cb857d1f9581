"""Match incoming bank lines to open invoices: a pure function, no I/O.

The rules, first that fits wins (a line the bookkeeper has typed an Invoice
No or `Ignore` for is decided by that instead):

0. The bank line is a payment the bookkeeper already typed by hand (dates at
   most TYPED_WITHIN_DAYS apart, exactly the typed amount or what is left of
   it, on an invoice of that payer or the one the reference names, and the
   reference names no other invoice): recognised, not added again. Up to
   TYPED_DOUBT_DAYS apart it waits in Review instead of being counted twice.
   So are several lines naming that invoice and no other that add up to exactly
   the typed amount (or a part of it typed at another time, or what is left of
   it), dated near its Paid Date: the payments a cumulative Paid Amount was typed
   for (400 and 800 typed as 1200).
   A line naming only invoices that are not open, one of which still shows such a
   typed amount that could hold it, waits in Review (rules 2-4 never apply it to
   another invoice): it may be part of that payment.
1. `Reference`: an open invoice number appears in the reference text (any case,
   spaces or dashes, with or without leading zeros: `inv 2026 7`, `№INV-2026-0007`);
   not one running on into a date (`2026-03` of `2026-03-05`), nor, for numbers
   of digits only, a month written without the zeros (`2026-02` for `2026-0002`).
   A reference naming only invoices that are not open (last month's payment purpose
   used again) does not fit: the rules below may, their Note naming those invoices.
2. `Amount`: the payer is a client (Payer ID, else the exact client name) and
   the amount equals the balance of one of its open invoices (oldest first),
   or what is left of it after an early-payment discount earned on the day
   the money arrived.
3. `Split`: the amount equals the balances of several of its open invoices
   added up: one payment split across them. Its oldest ones first; else any
   one set of them (a client paying its newest while disputing the oldest);
   two sets that both add up wait in Review for a person to say.
4. `Bank fee`: the amount falls short of one open balance by no more than the
   fee tolerance: paid in full, the difference noted as a bank fee.
5. Otherwise `Review`: nothing is applied; so is any line in a currency other
   than the invoice's. Outgoing lines are `Ignored`.

A line whose reference names an invoice of the Invoices sheet that the tool did not
issue (made before it: `made_before`) goes to no invoice: rule 0 may recognise it as
the payment typed on that row; else it waits in Review for the bookkeeper to record it
there.

>>> from datetime import date
>>> inv = OpenInvoice("INV-2026-0007", "acme", "USD", date(2026, 3, 1), Decimal("100.00"))
>>> line = BankLine(date(2026, 3, 9), Decimal("100.00"), "USD", "in", "Acme", (),
...                 "Payment for inv 2026 7", "R1")
>>> [d.rule for d in match_lines([inv], Payers({}, {}), [line], Decimal("0"))]
['Reference']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from ..cells import CellError, cell_decimal
from ..fmt import format_money
from ..money import CURRENCY_CODES, ZERO, round_money, too_many_decimals
from ..text import number_order
from ..validate import other_currency
from .record import IN, BankLine, normal_id

APPLIED, REVIEW, IGNORED = "Applied", "Review", "Ignored"
#: A payment typed by hand and a bank line of the same amount, for the same invoice (or
#: from its client), are the same payment when their dates are at most this many days
#: apart: the bookkeeper types the day they saw the money or the remittance advice, the
#: bank books a day or two apart, and a weekend adds two (Friday's transfer, Tuesday's Paid Date).
TYPED_WITHIN_DAYS = 4
#: Up to this many days apart it may still be the same payment: the line waits in Review
#: rather than being counted a second time.
TYPED_DOUBT_DAYS = 14
RULE_TYPED = "Typed by hand"
RULE_REFERENCE = "Reference"
RULE_AMOUNT = "Amount"
RULE_SPLIT = "Split"
RULE_FEE = "Bank fee"
RULE_BOOKKEEPER = "Bookkeeper"


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice a payment may go to. `balance` <= 0: known, but nothing is owed."""

    invoice_no: str
    client_key: str
    currency: str
    invoice_date: date
    balance: Decimal
    #: the payment cells of its row cannot be used now: nothing is applied to it
    blocked: bool = False
    #: what settles it when paid by `discount_until` (its early-payment discount), else None
    discounted: Decimal | None = None
    discount_until: date | None = None


@dataclass(frozen=True)
class TypedPayment:
    """A payment typed by hand on an invoice, not yet recognised in a bank line."""

    invoice_no: str
    client_key: str
    amount: Decimal
    paid_date: date
    #: what the typed amount grew by since a run last saw the cells (a later part payment
    #: typed on top of an earlier one), when it grew; else zero
    latest: Decimal = ZERO
    #: the parts typed at different times, each with the Paid Date seen with it (oldest
    #: first), not yet recognised: a second part payment typed on top of the first is
    #: recognised in its own bank line, whenever the run saw it typed
    parts: tuple[tuple[Decimal, date], ...] = ()


def payer_key(ident: str) -> str:
    """An identifier as compared; a number typed into Excel loses its leading zeros, so both do.

    >>> payer_key("051140004354") == payer_key("51140004354")
    True
    """
    key = normal_id(ident)
    return key.lstrip("0") or key if key.isdigit() else key


@dataclass(frozen=True)
class Payers:
    """Who pays: normalised Payer ID -> client key, and client key -> client key (names)."""

    by_id: Mapping[str, str]
    by_name: Mapping[str, str]
    #: normalised Payer IDs on more than one client (not used until fixed): their names
    shared: Mapping[str, str] = field(default_factory=dict)

    def client_of(self, line: BankLine) -> str | None:
        for ident in line.payer_ids:
            found = self.by_id.get(payer_key(ident))
            if found:
                return found
        name = " ".join(line.payer.split()).casefold()
        return self.by_name.get(name) if name else None


@dataclass(frozen=True)
class Allocation:
    """Money a line gives one invoice: `amount` counts towards its Paid Amount.

    `fee` is the bank's charge counted as paid (rule 4), already inside `amount`;
    `typed` marks a payment the bookkeeper typed by hand (recognised, not added);
    `discount` is the early-payment discount it earns: not paid, no longer owed.
    """

    invoice_no: str
    amount: Decimal
    fee: Decimal = ZERO
    typed: bool = False
    discount: Decimal = ZERO


@dataclass(frozen=True)
class Decision:
    bank_ref: str
    status: str
    rule: str = ""
    allocations: tuple[Allocation, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Instruction:
    """What the bookkeeper typed on a Review line: invoices (with amounts, if split) or Ignore.

    `parts` are the texts between `;` as typed (`INV-2026-0007 100`); which part
    of each is the number and which the amount is read against the invoice
    numbers when the line is decided (`read_part`).
    """

    bank_ref: str
    parts: tuple[str, ...] = ()
    ignore: bool = False


# -- invoice numbers in free text ------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+|\d+")


def _tokens(text: str) -> list[str]:
    """Letter runs and digit runs, upper case; digits without leading zeros."""
    return [t.lstrip("0") or "0" if t.isdigit() else t for t in _TOKEN.findall(text.upper())]


def number_keys(number: str) -> set[tuple[str, ...]]:
    """The token sequences a reference may write an invoice number as.

    >>> sorted(number_keys("INV-2026-0007"))
    [('INV', '2026', '7'), ('INV', '20260007')]
    """
    keys = {tuple(_tokens(number))}
    joined = "".join(ch for ch in number if ch.isalnum())
    keys.add(tuple(_tokens(joined)))
    # A number that is a single token (`00042`) is only recognised written in full.
    return {k if len(k) > 1 else (f"={joined.upper()}",) for k in keys if k}


#: What follows a number that is part of something longer: `-05`, `.2026`, `/3`.
_RUNS_ON = re.compile(r"[-./]\d")
#: A month or a date, as payment purposes write them: `2026-02`, `02/2026`, `2026-03-05`.
_PERIOD = re.compile(
    r"\d{4}[-./ ](?:0[1-9]|1[0-2])|(?:0[1-9]|1[0-2])[-./ ]\d{4}"
    r"|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}[-./]\d{1,2}[-./]\d{1,2}"
)


def _period(written: str, number: str) -> bool:
    """Whether text naming an invoice number of digits only (`{year}-{seq:04d}`) only with
    leading zeros added or dropped reads as a month or a date: "Lohnbuchhaltung 2026-02"
    is February's payroll, not invoice 2026-0002.

    >>> _period("2026-02", "2026-0002"), _period("2026-0002", "2026-0002")
    (True, False)
    >>> _period("2026-02", "INV-2026-0002"), _period("2026-13", "2026-0013")
    (False, False)
    """
    if any(ch.isalpha() for ch in number):
        return False
    if re.sub(r"\D", "", written) == re.sub(r"\D", "", number):
        return False  # written as issued
    return bool(_PERIOD.fullmatch(written))


def _as_issued(written: str, number: str) -> bool:
    """Whether `written` has exactly the digits of `number`, leading zeros and all."""
    return re.sub(r"\D", "", written) == re.sub(r"\D", "", number)


class NumberIndex:
    """Finds invoice numbers in reference texts, in the order they appear.

    `made_before`: numbers of invoices the tool did not issue (typed on the Invoices
    sheet by hand). One read inside the mention of another invoice written as issued
    is not named ("INV-2026-0003" names the tool's invoice, not a 2026-3 of the firm's
    own); written otherwise ("Inv 2026-3") both are named, for a person to tell.

    >>> index = NumberIndex(["INV-2026-0003"], made_before=["2026-3"])
    >>> index.find("INV-2026-0003"), index.find("Inv 2026-3 March")
    (['INV-2026-0003'], ['INV-2026-0003', '2026-3'])
    """

    def __init__(self, numbers: Iterable[str], made_before: Iterable[str] = ()) -> None:
        self.keys: dict[tuple[str, ...], str] = {}
        self.made_before = frozenset(made_before)
        for number in [*numbers, *self.made_before]:
            for key in number_keys(number):
                self.keys.setdefault(key, number)
        self.lengths = sorted({len(k) for k in self.keys}, reverse=True)

    def exact(self, text: str) -> str | None:
        """The invoice `text` is written as, with nothing before or after it; else None."""
        found = self.keys.get(tuple(_tokens(text)))
        if found is None:
            found = self.keys.get(tuple(f"={t}" for t in _TOKEN.findall(text.upper())))
        return found

    def find(self, text: str) -> list[str]:
        upper = text.upper()
        spans = list(_TOKEN.finditer(upper))
        tokens = _tokens(text)
        whole = [f"={t}" for t in _TOKEN.findall(upper)]
        hits: list[tuple[int, int, str]] = []  # (first token, tokens, invoice)
        for length in self.lengths:
            source = whole if length == 1 else tokens
            for start in range(len(source) - length + 1):
                number = self.keys.get(tuple(source[start : start + length]))
                if number is not None:
                    hits.append((start, length, number))
        starts = {start for start, _, _ in hits}
        kept: list[tuple[int, int, str]] = []
        issued: list[tuple[int, int]] = []  # where an invoice is written exactly as issued
        for start, length, number in hits:
            written = upper[spans[start].start() : spans[start + length - 1].end()]
            after = upper[spans[start + length - 1].end() :]
            if _RUNS_ON.match(after) and start + length not in starts:
                continue  # part of a longer number or a date: 2026-03 of 2026-03-05
            if _period(written, number):
                continue
            kept.append((start, length, number))
            if number not in self.made_before and _as_issued(written, number):
                issued.append((start, start + length))
        found: dict[str, None] = {}
        for start, length, number in kept:
            inside = any(a <= start and start + length <= b and b - a > length for a, b in issued)
            if not (number in self.made_before and inside):
                found.setdefault(number)
        if len(found) > 1:  # report them in the order the text names them
            position = {n: text.upper().find(n.upper()[:3]) for n in found}
            return sorted(found, key=lambda n: position[n])
        return list(found)


def parse_instruction(bank_ref: str, invoice_text: str, status_text: str) -> Instruction | None:
    """The bookkeeper's Invoice No / Status on a Review line, or None when nothing is typed.

    >>> parse_instruction("R1", "INV-2026-0007 60; INV-2026-0008", "Review").parts
    ('INV-2026-0007 60', 'INV-2026-0008')
    >>> parse_instruction("R1", "", "ignore").ignore
    True
    """
    if status_text.strip().casefold() in ("ignore", "ignored"):
        return Instruction(bank_ref, ignore=True)
    parts = tuple(p.strip() for p in re.split(r"[;\n]", invoice_text) if p.strip())
    return Instruction(bank_ref, parts) if parts else None


_BETWEEN = re.compile(r"\s*[:=]\s*|\s+")


def _splits(part: str) -> list[tuple[str, str | None]]:
    """Every way to read `part` as a number followed by an amount (any text after a gap
    with a digit in it), and as a number alone (None)."""
    readings: list[tuple[str, str | None]] = []
    for gap in _BETWEEN.finditer(part):
        number, amount = part[: gap.start()].strip(), part[gap.end() :].strip()
        if number and any(ch.isdigit() for ch in amount):
            readings.append((number, amount))
    readings.append((part, None))
    return readings


def _stray_digits(part: str, number: str) -> bool:
    """Whether `part`, read as invoice `number` alone, holds digits that are not the number's:
    an amount typed where it is not read (`600 INV-2026-0007`).

    >>> _stray_digits("Rechnung inv 2026 7", "INV-2026-0007"), _stray_digits("600 INV-7", "INV-7")
    (False, True)
    """
    own = {*_tokens(number), *_tokens("".join(ch for ch in number if ch.isalnum()))}
    return any(t.isdigit() and t not in own for t in _tokens(part))


def typed_amount(text: str, currency: str) -> Decimal | str:
    """An amount typed after an invoice number, read as the Paid Amount cell is (`cells`):
    `650`, `650.00`, `1.250,50`, `600,-`, `€650`, to the currency's minor unit; or why it
    cannot be taken.

    Never a guess: `1.500` (1500 or 1.5) is refused, and so is an amount with more
    decimals than `currency` has or in another currency.

    >>> typed_amount("1.250,-", "EUR"), typed_amount("0.650", "EUR")
    (Decimal('1250.00'), Decimal('0.65'))
    >>> typed_amount("1000.500", "KWD"), typed_amount("10.5", "JPY")
    (Decimal('1000.500'), '"10.5" has 1 decimal; JPY amounts have none.')
    >>> typed_amount("1.500", "KWD")
    '"1.500" could be 1500 or 1.5: type the number without a thousands separator.'
    """
    try:
        amount = cell_decimal(text)
    except CellError as exc:
        return str(exc)
    if (meant := other_currency(text, currency)) is not None:
        return f'"{text}" is in {meant}, but the payment is in {currency}; type it in {currency}.'
    if amount < 0:
        return f'"{text}" is negative; type the amount the invoice gets.'
    if currency not in CURRENCY_CODES:
        return amount
    if round_money(amount, currency) != amount:
        return f'"{text}" {too_many_decimals(amount, currency)}.'
    return round_money(amount, currency)


def read_part(
    part: str, index: NumberIndex, currency: str = ""
) -> tuple[str, Decimal | None] | str:
    """One part of an instruction as (invoice, amount or None), or why it cannot be read.

    An amount may be whole (`INV-2026-0007 650`): a reading whose number part is
    exactly an invoice number wins. When no reading is exact, the number is
    looked for inside the text; if the text can then be read two ways (`Rechnung
    42 100`: invoice 42 with 100, or invoices 42 and 100) it waits for a person.
    The amount is read by `typed_amount` in `currency` (the payment's); one that
    cannot be read is said, never taken as no amount.

    >>> index = NumberIndex(["INV-2026-0007"])
    >>> read_part("INV-2026-0007 650", index), read_part("inv 2026 7", index)
    (('INV-2026-0007', Decimal('650')), ('INV-2026-0007', None))
    >>> read_part("INV-2026-0007 600,-", index, "EUR")
    ('INV-2026-0007', Decimal('600.00'))
    >>> "the amount cannot be read" in read_part("INV-2026-0007 1.500", index, "KWD")
    True
    """
    splits = _splits(part)
    readings = {(n, a) for n, a in ((index.exact(t), a) for t, a in splits) if n is not None}
    if not readings:
        named = [(index.find(t), a) for t, a in splits]
        readings = {(found[0], a) for found, a in named if found}
        if any(len(found) > 1 for found, _ in named):
            readings.add(("", None))  # the text names more than one invoice: not one reading
    if not readings:
        return (
            f"{part!r} is not an open invoice the tool issued; check the number. (An invoice "
            "issued on the day of the run is matched from the next day's run on.)"
        )
    if len(readings) > 1:
        return (
            f"{part!r} can be read more than one way: type the Invoice No as issued and the "
            "amount with its decimals, e.g. INV-2026-0007 650.00."
        )
    ((number, text),) = readings
    example = f"{number} {round_money(Decimal(650), currency)}"
    if text is None:
        if _stray_digits(part, number):
            return (
                f"in {part!r} the amount cannot be read: type the Invoice No, then the amount "
                f"with its decimals, e.g. {example}."
            )
        return number, None
    amount = typed_amount(text, currency)
    if isinstance(amount, str):
        return f"in {part!r} the amount cannot be read: {amount} Write it like {example}."
    return number, amount


# -- the rules ---------------------------------------------------------------------


@dataclass
class _Book:
    """Balances as this import changes them, and the invoices by client, oldest first."""

    invoices: dict[str, OpenInvoice]
    balances: dict[str, Decimal]
    by_client: dict[str, list[OpenInvoice]] = field(default_factory=dict)
    #: invoices on the Invoices sheet the tool did not issue (`match_lines`' made_before)
    made_before: frozenset[str] = frozenset()

    def without(self, hidden: Collection[str]) -> _Book:
        """The book as if the `hidden` invoices did not exist; the balances are shared."""
        by_client = {c: [i for i in found if i.invoice_no not in hidden]
                     for c, found in self.by_client.items()}  # fmt: skip
        invoices = {n: i for n, i in self.invoices.items() if n not in hidden}
        return _Book(invoices, self.balances, by_client, self.made_before)

    def pay(self, allocations: Sequence[Allocation]) -> None:
        for a in allocations:
            if not a.typed:
                self.balances[a.invoice_no] -= a.amount + a.discount

    def discounted_left(self, inv: OpenInvoice, paid_on: date) -> Decimal | None:
        """What settles `inv` with its early-payment discount, if money on `paid_on` earns it."""
        if inv.discounted is None or inv.discount_until is None or paid_on > inv.discount_until:
            return None
        return inv.discounted - (inv.balance - self.balances[inv.invoice_no])

    def open_of(self, client: str, currency: str, paid_on: date) -> list[OpenInvoice]:
        """The client's open invoices in that currency that existed when the money came."""
        return [
            inv
            for inv in self.by_client.get(client, [])
            if inv.currency == currency
            and self.balances[inv.invoice_no] > 0
            and not inv.blocked
            and inv.invoice_date <= paid_on
        ]


def _money(amount: Decimal, currency: str) -> str:
    """An amount in a note (the Payments sheet's notes are in English)."""
    return format_money(amount, currency, "en")


def match_lines(
    invoices: Sequence[OpenInvoice],
    payers: Payers,
    lines: Sequence[BankLine],
    fee_tolerance: Decimal,
    typed: Sequence[TypedPayment] = (),
    instructions: Mapping[str, Instruction] | None = None,
    known_closed: Collection[str] = (),
    made_before: Collection[str] = (),
    unseen: Mapping[str, Collection[str]] | None = None,
) -> list[Decision]:
    """One decision per line, in the order of `lines`.

    Lines whose reference names an open invoice are decided first (the strongest
    evidence), then the rest; each group oldest first, each line seeing the
    balances the earlier ones left, so two payments never both pay the same
    invoice in full.
    `known_closed` are invoice numbers that exist but are not open (paid, void): a
    reference naming only such invoices is not rule 1's; rules 2-4 may apply it (its
    Note names them), else it goes to Review saying so.
    `made_before` are the Invoices sheet's invoices the tool did not issue (made before
    it, typed by hand): a payment named for one is the bookkeeper's to record on its row
    (one already typed there is recognised, rule 0); it never goes to another invoice.
    `unseen`: Bank Ref -> invoices that line is decided as if they did not exist (issued
    since it was imported, on the day of the run: see `apply.import_payments`).
    """
    ordered = sorted(invoices, key=lambda i: (i.invoice_date, number_order(i.invoice_no)))
    book = _Book({i.invoice_no: i for i in ordered}, {i.invoice_no: i.balance for i in ordered},
                 made_before=frozenset(made_before))  # fmt: skip
    for inv in ordered:
        book.by_client.setdefault(inv.client_key, []).append(inv)
    numbers = [*book.invoices, *known_closed, *(t.invoice_no for t in typed if t.invoice_no
                                                not in book.made_before)]  # fmt: skip
    index = NumberIndex(numbers, made_before=book.made_before)
    typed_left = {(t.invoice_no, t.paid_date): t.amount for t in typed}
    decided: dict[str, Decision] = {}
    views = {frozenset[str](): (book, index)}

    def view(ln: BankLine) -> tuple[_Book, NumberIndex]:
        """The invoices `ln` is decided against, and the numbers its reference may name."""
        hidden = frozenset((unseen or {}).get(ln.bank_ref, ()))
        if hidden not in views:
            views[hidden] = (book.without(hidden), NumberIndex(
                [n for n in numbers if n not in hidden], made_before=book.made_before))  # fmt: skip
        return views[hidden]

    def order(ln: BankLine) -> tuple[bool, date, str, int, str]:
        # keys are taken before any line is decided: invoices open as the import starts
        seen, names = view(ln)
        return (not _open_named(_named(ln, names), seen), ln.date, ln.file, ln.line, ln.bank_ref)

    told = instructions or {}
    plain = [
        ln for ln in sorted(lines, key=order) if ln.direction == IN and ln.bank_ref not in told
    ]
    recognised = _recognise_typed(plain, payers, lambda ln: view(ln)[1], typed, typed_left)
    for line in sorted(lines, key=order):
        instruction = told.get(line.bank_ref)
        seen, names = view(line)
        if line.direction != IN:
            decision = Decision(line.bank_ref, IGNORED, "", (), "outgoing payment")
        elif instruction is not None:
            decision = _follow(line, instruction, seen, names)
        else:
            decision = (
                recognised.get(line.bank_ref)
                or _typed_doubt(line, payers, names, typed, typed_left)
                or _typed_holds(line, names, seen, typed, typed_left)
                or _match(line, payers, seen, names, fee_tolerance)
            )
        book.pay(decision.allocations)  # the balances every view shares
        decided[line.bank_ref] = decision
    return [decided[line.bank_ref] for line in lines]


def _named(line: BankLine, index: NumberIndex) -> list[str]:
    """The invoice numbers a line names: in its reference, else in its payer's name (an OFX
    NAME such as "ACH CREDIT INV-2026-0001" beside a MEMO of the originator's ids)."""
    return index.find(line.reference) or index.find(line.payer)


def _same_payer(line: BankLine, payment: TypedPayment, payers: Payers, index: NumberIndex) -> bool:
    """The line may be the typed payment: its reference names that invoice, or (naming none)
    it comes from that invoice's client; and it is exactly the typed amount or what is left
    of it (a smaller amount is another payment)."""
    named = _named(line, index)
    if named:
        return payment.invoice_no in named
    return payers.client_of(line) == payment.client_key


def _recognise_typed(
    lines: Sequence[BankLine],
    payers: Payers,
    index_of: Callable[[BankLine], NumberIndex],
    typed: Sequence[TypedPayment],
    left: dict[tuple[str, date], Decimal],
) -> dict[str, Decision]:
    """Bank lines that are payments the bookkeeper already typed by hand, by Bank Ref.

    The bank date and the typed Paid Date may differ by up to TYPED_WITHIN_DAYS;
    when several lines could be one typed payment, the nearest date is it. A line's
    reference is read with the numbers `index_of` it.
    """
    pairs = []
    for position, line in enumerate(lines):
        for payment in typed:
            gap = _typed_gap(line, payment, left[(payment.invoice_no, payment.paid_date)])
            if (
                gap is not None
                and gap <= TYPED_WITHIN_DAYS
                and _same_payer(line, payment, payers, index_of(line))
            ):
                pairs.append((gap, position, payment.paid_date, payment.invoice_no, payment))
    found: dict[str, Decision] = {}
    for _, position, _, _, payment in sorted(pairs, key=lambda p: p[:4]):
        line, key = lines[position], (payment.invoice_no, payment.paid_date)
        if line.bank_ref in found or _typed_gap(line, payment, left[key]) is None:
            continue
        left[key] -= line.amount
        note = (
            f"already typed by hand on {payment.invoice_no} (Paid Amount, Paid Date "
            f"{payment.paid_date.isoformat()}); not added again."
        )
        allocation = Allocation(payment.invoice_no, line.amount, typed=True)
        found[line.bank_ref] = Decision(line.bank_ref, APPLIED, RULE_TYPED, (allocation,), note)
    for payment in typed:
        key = (payment.invoice_no, payment.paid_date)
        taken = [d.allocations[0].amount for d in found.values()
                 if d.allocations[0].invoice_no == payment.invoice_no]  # fmt: skip
        for amount, day in _typed_targets(payment, taken, left[key]):
            together = _typed_together(lines, index_of, payment.invoice_no, amount, day, found)
            if not together or amount > left[key]:
                continue
            left[key] -= amount
            note = (
                f"one of {len(together)} lines making up the "
                f"{_money(amount, together[0].currency)} typed by hand on {payment.invoice_no} "
                f"(Paid Amount, Paid Date {day.isoformat()}); not added again."
            )
            for line in together:
                allocation = Allocation(payment.invoice_no, line.amount, typed=True)
                found[line.bank_ref] = Decision(line.bank_ref, APPLIED, RULE_TYPED,
                                                (allocation,), note)  # fmt: skip
    return found


def _typed_targets(
    payment: TypedPayment, taken: Sequence[Decimal], left: Decimal
) -> list[tuple[Decimal, date]]:
    """The amounts several bank lines may make up together: each part typed (less one of
    the amount of each line just recognised as one), then all that is left of it."""
    parts = list(payment.parts)
    for amount in taken:
        same = [i for i, (a, _d) in enumerate(parts) if a == amount]
        if same:
            del parts[same[0]]
    targets = [(a, d) for a, d in parts if a <= left]
    if left > ZERO and (left, payment.paid_date) not in targets:
        targets.append((left, payment.paid_date))
    return targets


def _typed_together(
    lines: Sequence[BankLine],
    index_of: Callable[[BankLine], NumberIndex],
    number: str,
    amount: Decimal,
    day: date,
    found: Mapping[str, Decision],
) -> list[BankLine]:
    """Two or more lines, not yet recognised, whose reference names invoice `number` and no
    other, that add up to exactly `amount` typed on it with Paid Date `day` (a cumulative
    Paid Amount: 400 and 800 typed as 1200), dated from TYPED_DOUBT_DAYS before that day
    to TYPED_WITHIN_DAYS after it; none when no set, or more than one, does."""
    near = [
        line
        for line in lines
        if line.bank_ref not in found
        and -TYPED_DOUBT_DAYS <= (line.date - day).days <= TYPED_WITHIN_DAYS
        and set(_named(line, index_of(line))) == {number}
    ]
    sets, complete = _sums_to(amount, [(line.bank_ref, line.amount) for line in near])
    if len(sets) != 1 or not complete:
        return []
    chosen = set(sets[0])
    return [line for line in near if line.bank_ref in chosen]


def _typed_gap(line: BankLine, payment: TypedPayment, left: Decimal) -> int | None:
    """Days between the line and the typed payment it may be; None when it cannot be.

    Only the exact typed amount, what is left of it, or the part typed last (on
    top of an earlier one), dated by the Paid Date, or one of the parts typed at
    different times, dated by the Paid Date seen with it, is the same payment.
    """
    if not ZERO < line.amount <= left:
        return None
    gaps = [abs((day - line.date).days) for amount, day in payment.parts if amount == line.amount]
    if line.amount in (payment.amount, left, payment.latest):
        gaps.append(abs((payment.paid_date - line.date).days))
    return min(gaps, default=None)


def _typed_doubt(
    line: BankLine,
    payers: Payers,
    index: NumberIndex,
    typed: Sequence[TypedPayment],
    left: Mapping[tuple[str, date], Decimal],
) -> Decision | None:
    """Review, when a typed payment not yet recognised may be this line, too far apart to
    be sure (up to TYPED_DOUBT_DAYS): counting it twice would be wrong money."""
    for payment in typed:
        gap = _typed_gap(line, payment, left[(payment.invoice_no, payment.paid_date)])
        if (
            gap is not None
            and TYPED_WITHIN_DAYS < gap <= TYPED_DOUBT_DAYS
            and _same_payer(line, payment, payers, index)
        ):
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"{_money(line.amount, line.currency)} was typed by hand on "
                f"{payment.invoice_no} (Paid Date {payment.paid_date.isoformat()}), {gap} days "
                "from this payment: if it is this payment, Ignore this line; if not, type the "
                "Invoice No.",
            )
    return None


def _typed_holds(
    line: BankLine,
    index: NumberIndex,
    book: _Book,
    typed: Sequence[TypedPayment],
    left: Mapping[tuple[str, date], Decimal],
) -> Decision | None:
    """Review, for a line naming only invoices that are not open, one of which shows a
    payment typed by hand that no bank line was found to be yet and that could hold this
    line (dated up to TYPED_DOUBT_DAYS after its Paid Date): it may be part of that
    payment, so it never goes to another invoice by its amount (rules 2-4)."""
    named = _named(line, index)
    if not named or _open_named(named, book) or book.made_before.intersection(named):
        return None
    for payment in typed:
        rest = left[(payment.invoice_no, payment.paid_date)]
        if (
            payment.invoice_no in named
            and line.amount <= rest
            and line.date <= payment.paid_date + timedelta(days=TYPED_DOUBT_DAYS)
        ):
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"{payment.invoice_no} already shows a payment of "
                f"{_money(rest, line.currency)} typed by hand (Paid Date "
                f"{payment.paid_date.isoformat()}) that no bank line was found to be: type "
                "Ignore if this line is part of it, or the Invoice No it pays.",
            )
    return None


def _early_note(line: BankLine, inv: OpenInvoice) -> str:
    """A payment older than the invoice: a prepayment, which a person records."""
    return (
        f"the money arrived on {line.date.isoformat()}, before {inv.invoice_no} was issued "
        f"({inv.invoice_date.isoformat()}): if it pays it, type Paid Amount on the invoice "
        f"with Paid Date {inv.invoice_date.isoformat()} or later, and Ignore this line."
    )


def _currency_note(line: BankLine, invoices: Iterable[OpenInvoice]) -> str:
    other = sorted({f"{i.invoice_no} ({i.currency})" for i in invoices})
    return (
        f"paid in {line.currency or 'an unknown currency'}, but {', '.join(other)} "
        f"{'is' if len(other) == 1 else 'are'} in another currency; record it by hand."
    )


def _match(
    line: BankLine, payers: Payers, book: _Book, index: NumberIndex, tolerance: Decimal
) -> Decision:
    named = _named(line, index)
    made = [n for n in named if n in book.made_before]
    if made:
        return Decision(line.bank_ref, REVIEW, note=_made_before_note(made, named))
    if _open_named(named, book):
        return _noting_another_payer(_by_reference(line, named, book, tolerance), line, payers,
                                     book)  # fmt: skip
    decision = _by_payer(line, payers, book, tolerance)
    if not named:
        return decision
    # Only invoices that are not open are named (a client re-using last month's payment
    # purpose): rule 1 does not fit, rules 2-4 may; the Note says what the reference named.
    closed = (
        f"the reference names {', '.join(named)}, which {'is' if len(named) == 1 else 'are'} "
        "not open (paid, void or paid by another line)"
    )
    if decision.status != APPLIED:
        note = f"{closed}: type the Invoice No it should go to, or Ignore."
        return Decision(line.bank_ref, REVIEW, note=note)
    paid = ", ".join(a.invoice_no for a in decision.allocations)
    said = f"{closed}; matched by payer and amount instead: check it was meant for {paid}."
    return replace(decision, note=f"{said} {decision.note}".strip())


def _made_before_note(made: Sequence[str], named: Sequence[str]) -> str:
    """A line naming invoices the tool did not issue: the bookkeeper records it on their rows.
    Other invoices it names come first (a number of the tool's that reads the same, say)."""
    others = "".join(f"{n} and " for n in named if n not in made)
    kind, rows = ("an invoice", "its row") if len(made) == 1 else ("invoices", "their rows")
    return (
        f"the reference names {others}{', '.join(made)}, {kind} made before the tool (not "
        f"issued by it): record this payment on {rows} in Invoices by hand (Paid Amount, Paid "
        "Date) and type Ignore here; if it pays an invoice the tool issued, type that Invoice No."
    )


def _by_payer(line: BankLine, payers: Payers, book: _Book, tolerance: Decimal) -> Decision:
    """Rules 2-4, for a line naming no open invoice: the payer is a client and the amount
    fits its open balances; else Review saying why not."""
    client = payers.client_of(line)
    shared = [(i, payers.shared[payer_key(i)]) for i in line.payer_ids
              if payer_key(i) in payers.shared]  # fmt: skip
    if client is None and shared:
        ident, owners = shared[0]
        return Decision(
            line.bank_ref,
            REVIEW,
            note=f"the payer's ID {ident} is the Payer ID of more than one client "
            f"({owners}): fix it in Clients, then the next run matches the line; or type "
            "the Invoice No.",
        )
    if client is None:
        who = line.payer or "the payer"
        ids = f" ({line.payer_id})" if line.payer_ids else ""
        return Decision(
            line.bank_ref,
            REVIEW,
            note=f"{who}{ids} is not a client (no Payer ID or client name matches) and the "
            "reference names no open invoice: type the Invoice No, or Ignore.",
        )
    candidates = book.open_of(client, line.currency, line.date)
    if not candidates:
        others = [i for i in book.by_client.get(client, []) if book.balances[i.invoice_no] > 0]
        later = [i for i in others if i.currency == line.currency and i.invoice_date > line.date]
        other = [i for i in others if i.currency != line.currency]
        note = (
            _early_note(line, later[0])
            if later
            else _currency_note(line, other)
            if other
            else "the payer is a client with no open invoice: type the Invoice No, or Ignore."
        )
        return Decision(line.bank_ref, REVIEW, note=note)
    amount = line.amount
    for inv in candidates:
        if book.balances[inv.invoice_no] == amount:
            return Decision(line.bank_ref, APPLIED, RULE_AMOUNT,
                            (Allocation(inv.invoice_no, amount),))  # fmt: skip
    for inv in candidates:
        if book.discounted_left(inv, line.date) == amount:
            discount = book.balances[inv.invoice_no] - amount
            until = inv.discount_until.isoformat() if inv.discount_until else ""
            note = (
                f"paid by {until}: the early-payment discount of "
                f"{_money(discount, line.currency)} is earned; the invoice is paid."
            )
            allocation = Allocation(inv.invoice_no, amount, discount=discount)
            return Decision(line.bank_ref, APPLIED, RULE_AMOUNT, (allocation,), note)
    running = ZERO
    for count, inv in enumerate(candidates, start=1):
        running += book.balances[inv.invoice_no]
        if running > amount:
            break
        if count >= 2 and running == amount:
            parts = tuple(
                Allocation(i.invoice_no, book.balances[i.invoice_no]) for i in candidates[:count]
            )
            return Decision(line.bank_ref, APPLIED, RULE_SPLIT, parts, "")
    sets, complete = _sums_to(
        amount, [(i.invoice_no, book.balances[i.invoice_no]) for i in candidates]
    )
    if len(sets) == 1 and not complete:  # too many invoices to know it is the only set
        return Decision(
            line.bank_ref,
            REVIEW,
            note=f"from a client, and {' + '.join(sets[0])} add up to it, but it has too many "
            "open invoices to be sure no other set does: type the Invoice No with amounts "
            "to split, or Ignore.",
        )
    if len(sets) == 1:  # not the oldest, but one set of its invoices only: the client chose
        parts = tuple(Allocation(n, book.balances[n]) for n in sets[0])
        return Decision(line.bank_ref, APPLIED, RULE_SPLIT, parts, "")
    if sets:
        ways = "; ".join(" + ".join(found) for found in sets[:3])
        return Decision(
            line.bank_ref,
            REVIEW,
            note=f"from a client, and more than one set of its open invoices adds up to it "
            f"({ways}): type the Invoice No with amounts to split, or Ignore.",
        )
    for inv in candidates:
        short = book.balances[inv.invoice_no] - amount
        if ZERO < short <= tolerance:
            fee = _money(short, line.currency)
            return Decision(
                line.bank_ref,
                APPLIED,
                RULE_FEE,
                (Allocation(inv.invoice_no, amount + short, fee=short),),
                f"{fee} short: counted as a bank fee; the invoice is paid in full.",
            )
    listed = ", ".join(
        f"{i.invoice_no} {_money(book.balances[i.invoice_no], i.currency)}" for i in candidates[:5]
    )
    return Decision(
        line.bank_ref,
        REVIEW,
        note=f"from a client, but the amount matches no open balance ({listed}): type the "
        "Invoice No (with amounts to split), or Ignore.",
    )


#: Sets of invoices tried at most when looking for those a payment adds up to.
SPLIT_TRIES = 5_000


def _sums_to(
    amount: Decimal, balances: Sequence[tuple[str, Decimal]]
) -> tuple[list[tuple[str, ...]], bool]:
    """The sets of two or more invoices (in the order given) whose balances add up to
    `amount`, at most two (two are enough to say it is not one), and whether every set
    was tried (SPLIT_TRIES at most).

    >>> _sums_to(Decimal(120), [("A", Decimal(200)), ("B", Decimal(50)), ("C", Decimal(70))])
    ([('B', 'C')], True)
    """
    usable = [(n, b) for n, b in balances if ZERO < b < amount]
    found: list[tuple[str, ...]] = []
    tries = 0
    for size in range(2, len(usable) + 1):
        for chosen in itertools.combinations(usable, size):
            tries += 1
            if tries > SPLIT_TRIES:
                return found, False
            if sum((b for _, b in chosen), ZERO) == amount:
                found.append(tuple(n for n, _ in chosen))
                if len(found) == 2:
                    return found, True
    return found, True


def _noting_another_payer(
    decision: Decision, line: BankLine, payers: Payers, book: _Book
) -> Decision:
    """A payment applied by its reference to an invoice of a client other than the one
    whose account it came from: applied (rule 1), and said, for a person to check."""
    payer = payers.client_of(line)
    owners = {book.invoices[a.invoice_no].client_key for a in decision.allocations
              if a.invoice_no in book.invoices}  # fmt: skip
    if decision.status != APPLIED or payer is None or not owners or payer in owners:
        return decision
    numbers = ", ".join(a.invoice_no for a in decision.allocations)
    said = (
        f"paid from the account of another client ({line.payer or line.payer_id}) for "
        f"{numbers}: check it was meant for this invoice."
    )
    return replace(decision, note=f"{decision.note} {said}".strip())


def _open_named(named: Iterable[str], book: _Book) -> list[OpenInvoice]:
    """The open invoices among those a line names (rule 1 fits only when there are some)."""
    return [book.invoices[n] for n in named if n in book.invoices and book.balances[n] > 0]


def _by_reference(line: BankLine, named: list[str], book: _Book, tolerance: Decimal) -> Decision:
    """Rule 1, for a line naming open invoices (`_open_named`)."""
    open_named = _open_named(named, book)
    early = [i for i in open_named if i.invoice_date > line.date]
    if early:
        return Decision(line.bank_ref, REVIEW, note=_early_note(line, early[0]))
    blocked = [i for i in open_named if i.blocked]
    if blocked:
        return Decision(
            line.bank_ref,
            REVIEW,
            note=f"the payment cells of {blocked[0].invoice_no} need fixing first (see its row).",
        )
    wrong = [i for i in open_named if i.currency != line.currency]
    if wrong:
        return Decision(line.bank_ref, REVIEW, note=_currency_note(line, wrong))
    ordered = sorted(open_named, key=lambda i: (i.invoice_date, number_order(i.invoice_no)))
    if len(ordered) == 1:
        inv = ordered[0]
        short = book.balances[inv.invoice_no] - line.amount
        if ZERO < short <= tolerance:
            fee = _money(short, line.currency)
            allocation = Allocation(inv.invoice_no, line.amount + short, fee=short)
            note = f"{fee} short: counted as a bank fee; the invoice is paid in full."
            return Decision(line.bank_ref, APPLIED, RULE_REFERENCE, (allocation,), note)
        return Decision(line.bank_ref, APPLIED, RULE_REFERENCE,
                        (Allocation(inv.invoice_no, line.amount),))  # fmt: skip
    return Decision(line.bank_ref, APPLIED, RULE_REFERENCE, _spread(line.amount, ordered, book))


def _spread(amount: Decimal, ordered: Sequence[OpenInvoice], book: _Book) -> tuple[Allocation, ...]:
    """Oldest first, each up to its balance; what is left goes to the last one."""
    parts: list[Allocation] = []
    left = amount
    for position, inv in enumerate(ordered):
        last = position == len(ordered) - 1
        share = left if last else min(left, max(book.balances[inv.invoice_no], ZERO))
        if share > 0:
            parts.append(Allocation(inv.invoice_no, share))
        left -= share
    return tuple(parts)


def _follow(line: BankLine, instruction: Instruction, book: _Book, index: NumberIndex) -> Decision:
    """Apply what the bookkeeper typed on a Review line, or say why it cannot be."""
    if instruction.ignore:
        return Decision(line.bank_ref, IGNORED, RULE_BOOKKEEPER, (), "ignored by the bookkeeper.")
    chosen: list[tuple[OpenInvoice, Decimal | None]] = []
    for part in instruction.parts:
        reading = read_part(part, index, line.currency)
        if isinstance(reading, str):
            return Decision(line.bank_ref, REVIEW, note=reading)
        number, amount = reading
        inv = book.invoices.get(number)
        if number in book.made_before:
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"{number} is an invoice made before the tool (not issued by it), so "
                "the tool records no payment on it: record this payment on its row in Invoices "
                "by hand (Paid Amount, Paid Date) and type Ignore here.",
            )
        if inv is None:
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"{part!r} is not an open invoice the tool issued; check the number.",
            )
        if inv.currency != line.currency:
            return Decision(line.bank_ref, REVIEW, note=_currency_note(line, [inv]))
        if inv.blocked:
            return Decision(line.bank_ref, REVIEW,
                            note=f"the payment cells of {number} need fixing first.")  # fmt: skip
        if inv.invoice_date > line.date:
            return Decision(line.bank_ref, REVIEW, note=_early_note(line, inv))
        chosen.append((inv, amount))
    given = sum((a for _, a in chosen if a is not None), ZERO)
    if all(a is not None for _, a in chosen):
        if given != line.amount:
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"the amounts typed add up to {_money(given, line.currency)}, not the "
                f"{_money(line.amount, line.currency)} received.",
            )
        parts = tuple(Allocation(inv.invoice_no, a) for inv, a in chosen if a)
    else:
        rest = [inv for inv, a in chosen if a is None]
        fixed = [Allocation(inv.invoice_no, a) for inv, a in chosen if a is not None]
        if given > line.amount:
            return Decision(
                line.bank_ref,
                REVIEW,
                note=f"the amounts typed ({_money(given, line.currency)}) are more than the "
                f"{_money(line.amount, line.currency)} received.",
            )
        ordered = sorted(rest, key=lambda i: (i.invoice_date, number_order(i.invoice_no)))
        parts = (*fixed, *_spread(line.amount - given, ordered, book))
    return Decision(line.bank_ref, APPLIED, RULE_BOOKKEEPER, parts, "as typed by the bookkeeper.")
