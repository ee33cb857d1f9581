"""The ledger's record of bank lines and of what each one paid.

Every imported line is kept (its Bank Ref is the key, so importing the same
line again changes nothing), with its decision and its allocations. The
workbook's Paid By Bank and the Payments sheet are rebuilt from here each
run, so a restored older workbook is healed.

    totals = bank_totals(ledger)          # invoice -> what the bank paid on it
    paid = bank_payments(ledger)          # invoice -> each bank payment, on its bank date
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ..ledger import Ledger
from ..money import ZERO
from .match import REVIEW, Allocation, Decision
from .record import GLUED_BEFORE, BankLine, Said, trusted_ref


@dataclass(frozen=True)
class StoredLine:
    """A bank line as the ledger keeps it, with its decision."""

    line: BankLine
    status: str
    rule: str
    note: str
    allocations: tuple[Allocation, ...] = ()


@dataclass(frozen=True)
class BankTotal:
    """What bank lines gave one invoice.

    Attributes:
      bank: added to Paid Amount by the tool (bank fees counted as paid included).
      typed: recognised as payments the bookkeeper had typed by hand.
      latest: the latest bank date of the added money (None when only recognised).
    """

    bank: Decimal = ZERO
    typed: Decimal = ZERO
    latest: date | None = None


def known_refs(ledger: Ledger) -> dict[str, tuple[Decimal, str, date]]:
    """Bank Ref -> (amount, currency, date) of every line imported."""
    return {
        ref: (Decimal(amount), currency, date.fromisoformat(when))
        for ref, amount, currency, when in ledger.conn.execute(
            "SELECT bank_ref, amount, currency, line_date FROM bank_lines"
        )
    }


def counter_twins(ledger: Ledger) -> set[Said]:
    """What the lines stored under a counter or placeholder Bank Ref said.

    Earlier versions took a camt entry's per-statement counter ("1") or a
    "NOTPROVIDED" as its Bank Ref; the readers now give such a line a ref of
    its content. A line read again from one of those files is recognised by
    what it says, so it is not counted twice.
    """
    rows = ledger.conn.execute(
        "SELECT bank_ref, line_date, amount, currency, direction, payer, reference FROM bank_lines"
    )
    return {
        (day, Decimal(amount), currency, direction, payer, reference)
        for ref, day, amount, currency, direction, payer, reference in rows
        if not trusted_ref(ref.split("/", 1)[0])
    }


#: The columns of bank_lines a BankLine is made of (`_bank_line`).
_LINE_COLUMNS = (
    "bank_ref, line_date, amount, currency, direction, payer, payer_ids, reference, file, line"
)


def _bank_line(row: Sequence[Any]) -> BankLine:
    ref, day, amount, currency, direction, payer, ids, reference, file, line = row[:10]
    return BankLine(
        date.fromisoformat(day), Decimal(amount), currency, direction, payer,
        tuple(i for i in ids.split("\x1f") if i), reference, ref, file, line or 0,
    )  # fmt: skip


def imported_lines(ledger: Ledger) -> list[BankLine]:
    """Every line imported, in import order (without decisions)."""
    return [
        _bank_line(row)
        for row in ledger.conn.execute(f"SELECT {_LINE_COLUMNS} FROM bank_lines ORDER BY rowid")
    ]


def glued_lines(ledger: Ledger) -> list[BankLine]:
    """The lines imported under a fingerprint of a reader whose earlier versions glued
    text to a line (`record.GLUED_BEFORE`), in import order."""
    where = " OR ".join("bank_ref LIKE ?" for _ in GLUED_BEFORE)
    return [
        _bank_line(row)
        for row in ledger.conn.execute(
            f"SELECT {_LINE_COLUMNS} FROM bank_lines WHERE {where} ORDER BY rowid",
            [f"{reader}-%" for reader in GLUED_BEFORE],
        )
    ]


def stored_lines(ledger: Ledger, statuses: Collection[str] | None = None) -> list[StoredLine]:
    """Lines in import order (optionally only those with the given statuses)."""
    query = f"SELECT {_LINE_COLUMNS}, status, rule, note FROM bank_lines"
    args: list[str] = []
    if statuses:
        query += f" WHERE status IN ({','.join('?' * len(statuses))})"
        args = list(statuses)
    allocations: dict[str, list[Allocation]] = {}
    if statuses is None or set(statuses) - {REVIEW}:  # a Review line has paid nothing
        for ref, number, amount, fee, typed in ledger.conn.execute(
            "SELECT bank_ref, invoice_no, amount, fee, typed FROM bank_allocations ORDER BY rowid"
        ):
            allocations.setdefault(ref, []).append(
                Allocation(number, Decimal(amount), Decimal(fee), bool(typed))
            )
    result = []
    for row in ledger.conn.execute(query + " ORDER BY rowid", args):
        bank_line = _bank_line(row)
        status, rule, note = row[10:]
        allocated = tuple(allocations.get(bank_line.bank_ref, ()))
        result.append(StoredLine(bank_line, status, rule, note, allocated))
    return result


def record(ledger: Ledger, new: Sequence[BankLine], decisions: Mapping[str, Decision]) -> None:
    """Keep new lines and every decision; call inside a transaction.

    A line already decided (Applied or Ignored) is final: only Review lines
    take a new decision, so a payment is never applied twice. A line's run is the
    one that imported it while it waits in Review (`waiting_since`), then the one
    that applied or ignored it (`bank_payments`).
    """
    ledger.conn.executemany(
        "INSERT OR IGNORE INTO bank_lines (bank_ref, line_date, amount, currency, direction,"
        " payer, payer_ids, reference, file, line, status, run_id)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (ln.bank_ref, ln.date.isoformat(), str(ln.amount), ln.currency, ln.direction,
             ln.payer, "\x1f".join(ln.payer_ids), ln.reference, ln.file, ln.line, REVIEW,
             ledger.run_id)
            for ln in new
        ],
    )  # fmt: skip
    open_refs = {
        ref
        for (ref,) in ledger.conn.execute(
            "SELECT bank_ref FROM bank_lines WHERE status = ?", (REVIEW,)
        )
    }
    wanted = [d for d in decisions.values() if d.bank_ref in open_refs]
    ledger.conn.executemany(
        "UPDATE bank_lines SET status = ?, rule = ?, note = ?,"
        " run_id = CASE WHEN ? = ? THEN run_id ELSE ? END WHERE bank_ref = ?",
        [(d.status, d.rule, d.note, d.status, REVIEW, ledger.run_id, d.bank_ref) for d in wanted],
    )
    dates = dict(
        ledger.conn.execute("SELECT bank_ref, line_date FROM bank_lines")
    ) if wanted else {}  # fmt: skip
    ledger.conn.executemany(
        "INSERT OR IGNORE INTO bank_allocations (bank_ref, invoice_no, amount, fee, typed,"
        " line_date) VALUES (?,?,?,?,?,?)",
        [
            (d.bank_ref, a.invoice_no, str(a.amount), str(a.fee), int(a.typed), dates[d.bank_ref])
            for d in wanted
            for a in d.allocations
        ],
    )


def waiting_since(ledger: Ledger) -> dict[str, int | None]:
    """Bank Ref -> the run that imported it, of each line waiting in Review (None: imported
    by a version that did not keep it; an earlier version kept the latest run instead)."""
    return dict(ledger.conn.execute("SELECT bank_ref, run_id FROM bank_lines WHERE status = ?",
                                    (REVIEW,)))  # fmt: skip


def issued_since(ledger: Ledger, day: date) -> dict[str, int | None]:
    """Invoice No -> the run that issued it, of the invoices dated `day` or later."""
    return dict(ledger.conn.execute(
        "SELECT invoice_no, run_id FROM invoices WHERE invoice_date >= ?", (day.isoformat(),)))


#: How the Bank Ref of what the bookkeeper took off an invoice's bank part starts
#: (`record_lowered`); it has no bank line.
LOWERED = "~lowered/"


def record_lowered(ledger: Ledger, lowered: Mapping[str, Decimal], day: date) -> None:
    """Keep what the bookkeeper took off the bank's part of invoices (Paid Amount lowered
    below Paid By Bank: a payment the bank returned, an overpayment paid back) as a
    negative bank amount dated `day`, the run that saw it; call inside a transaction."""
    if not lowered:
        return
    count = dict(ledger.conn.execute(
        "SELECT invoice_no, COUNT(*) FROM bank_allocations WHERE bank_ref LIKE ?"
        " GROUP BY invoice_no", (LOWERED + "%",),
    ))  # fmt: skip
    ledger.conn.executemany(
        "INSERT INTO bank_allocations (bank_ref, invoice_no, amount, fee, typed, line_date)"
        " VALUES (?,?,?,'0',0,?)",
        [(f"{LOWERED}{count.get(number, 0) + 1}", number, str(-amount), day.isoformat())
         for number, amount in lowered.items()],
    )  # fmt: skip


def bank_totals(ledger: Ledger, numbers: Iterable[str] | None = None) -> dict[str, BankTotal]:
    """Invoice No -> what the bank gave it, summed in Decimal (never in SQL floats)."""
    wanted = set(numbers) if numbers is not None else None
    totals: dict[str, BankTotal] = {}
    for number, amount, typed, day in ledger.conn.execute(
        "SELECT invoice_no, amount, typed, line_date FROM bank_allocations"
    ):
        if wanted is not None and number not in wanted:
            continue
        now = totals.get(number, BankTotal())
        when = date.fromisoformat(day)
        if typed:
            totals[number] = BankTotal(now.bank, now.typed + Decimal(amount), now.latest)
        else:  # money taken off (`record_lowered`) does not date the payment
            later = Decimal(amount) > ZERO and (now.latest is None or when > now.latest)
            latest = when if later else now.latest
            totals[number] = BankTotal(now.bank + Decimal(amount), now.typed, latest)
    return totals


def typed_recognised(
    ledger: Ledger, numbers: Iterable[str]
) -> dict[str, list[tuple[date, Decimal]]]:
    """Invoice No -> the bank lines recognised as payments typed by hand: (bank date,
    amount), oldest first."""
    wanted = set(numbers)
    found: dict[str, list[tuple[date, Decimal]]] = {}
    for number, amount, day in ledger.conn.execute(
        "SELECT invoice_no, amount, line_date FROM bank_allocations WHERE typed = 1"
        " ORDER BY line_date, rowid"
    ):
        if number in wanted:
            found.setdefault(number, []).append((date.fromisoformat(day), Decimal(amount)))
    return found


def bank_payments(
    ledger: Ledger, numbers: Iterable[str] | None = None
) -> dict[str, list[tuple[date, Decimal, Decimal, date | None]]]:
    """Invoice No -> the money bank lines added to it, one entry per line on its bank date,
    oldest first (lines recognised as payments typed by hand are not here: they are typed):
    (date, amount added, of which a bank fee written off, the date of the run that applied
    it: when the tool learnt of it). What the bookkeeper took off the bank's part
    (`record_lowered`) is a negative amount, learnt of on its date."""
    wanted = set(numbers) if numbers is not None else None
    result: dict[str, list[tuple[date, Decimal, Decimal, date | None]]] = {}
    for number, amount, fee, day, applied in ledger.conn.execute(
        "SELECT a.invoice_no, a.amount, a.fee, a.line_date, r.as_of FROM bank_allocations a"
        " LEFT JOIN bank_lines l ON l.bank_ref = a.bank_ref LEFT JOIN runs r ON r.id = l.run_id"
        " WHERE a.typed = 0 ORDER BY a.line_date, a.rowid"
    ):
        if wanted is None or number in wanted:
            when = date.fromisoformat(day)
            result.setdefault(number, []).append(
                (when, Decimal(amount), Decimal(fee), _day(applied) or (
                    when if Decimal(amount) < ZERO else None))
            )  # fmt: skip
    return result


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
