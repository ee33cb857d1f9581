"""What a run did, for the end-of-run table, the emailed summary and the log.

summary = RunSummary(date(2026, 3, 9))
summary.exit_code   # 0: nothing needs attention
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from .errors import EXIT_ATTENTION, EXIT_OK
from .fmt import format_money
from .model import RowError
from .money import ZERO
from .text import one_line

#: A run's phases in order; `start-up` (interpreter, imports, config) is the CLI's.
PHASES = (
    "start-up", "read", "plan", "render", "message build", "send", "write-back", "report"
)  # fmt: skip


@dataclass(frozen=True)
class SentItem:
    invoice_no: str
    client: str
    kind: str
    amount: str  # formatted, in the invoice's currency
    note: str = ""

    def __post_init__(self) -> None:
        # Client names and server replies are shown in the terminal and the log.
        for name in ("invoice_no", "client", "note"):
            object.__setattr__(self, name, one_line(getattr(self, name)))


@dataclass(frozen=True)
class NotCounted:
    """Open invoices of the Invoices sheet that the tool did not issue (typed by hand,
    from before the tool), in one currency: not in Outstanding, the receivables report or
    statements of account, and said to be left out.

    Attributes:
      count: how many; balance: what they show as still owed, together.

    >>> NotCounted("USD", 3, Decimal("4550")).text()
    '3 invoices typed by hand, $4,550.00'
    """

    currency: str
    count: int
    balance: Decimal

    def text(self, language: str = "en") -> str:
        invoices = "1 invoice" if self.count == 1 else f"{self.count} invoices"
        money = format_money(self.balance, self.currency, language)
        return f"{invoices} typed by hand, {money}"


def by_currency(items: Iterable[NotCounted]) -> dict[str, NotCounted]:
    """`items` added up per currency (never across currencies)."""
    result: dict[str, NotCounted] = {}
    for item in items:
        was = result.get(item.currency, NotCounted(item.currency, 0, ZERO))
        result[item.currency] = NotCounted(
            item.currency, was.count + item.count, was.balance + item.balance
        )
    return result


def not_counted_line(items: Iterable[NotCounted], language: str = "en") -> str:
    """`Not counted: 3 invoices typed by hand, $4,550.00` ("" when there are none)."""
    told = "; ".join(item.text(language) for item in sorted(items, key=lambda i: i.currency))
    return f"Not counted: {told}" if told else ""


@dataclass
class RunSummary:
    """What the run did, for the end-of-run table and the exit code."""

    as_of: date
    dry_run: bool = False
    #: `[billing] language`: how amounts are written for the bookkeeper
    language: str = "en"
    sent: list[SentItem] = field(default_factory=list)
    failed: list[SentItem] = field(default_factory=list)
    #: delivered to every To address, but a CC or the bcc copy was refused
    partial: list[SentItem] = field(default_factory=list)
    escalated: list[SentItem] = field(default_factory=list)
    #: credit notes issued this run (kind: void, rebill or credit; note: the number)
    credit_notes: list[SentItem] = field(default_factory=list)
    #: void invoices the client had paid towards: the money is owed back
    owed_back: list[SentItem] = field(default_factory=list)
    previews: list[SentItem] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outstanding: dict[str, Decimal] = field(default_factory=dict)
    #: open invoices typed by hand, per currency: left out of `outstanding`, and said so
    not_counted: dict[str, NotCounted] = field(default_factory=dict)
    workbook_written: bool = False
    cells_written: int = 0  # cell updates the write-back applied
    updates_owed: bool = False
    #: the workbook was written, but not in full (e.g. no free column): said in notes
    workbook_incomplete: bool = False
    report: Path | None = None
    #: outbox mode: the folder the messages were written to, and how many
    outbox: Path | None = None
    outbox_count: int = 0
    #: the outbox was asked for on the command line (--outbox), not by `mode = "outbox"`
    outbox_asked: bool = False
    #: seconds per phase, keyed by the names in PHASES
    timings: dict[str, float] = field(default_factory=dict)
    #: bank lines waiting for the bookkeeper (Payments sheet, Status Review)
    awaiting_review: int = 0
    #: of `errors`, those of the bank import (a statement file, a line typed on Payments)
    bank_errors: int = 0
    #: inbox statement files fully imported this run (moved to imported/ after write-back)
    statements_done: list[Path] = field(default_factory=list)
    #: incoming bank lines decided this run: invoice_no = the invoices paid, client =
    #: the payer, kind = Applied / Review / Ignored, note = the rule or why
    bank_lines: list[SentItem] = field(default_factory=list)

    @property
    def has_news(self) -> bool:
        """Anything happened that the bookkeeper should hear about."""
        return bool(
            self.sent
            or self.failed
            or self.partial
            or self.escalated
            or self.errors
            or self.credit_notes
            or self.bank_lines  # payments applied, or lines waiting for review
        )

    @property
    def exit_code(self) -> int:
        if (
            self.errors
            or self.failed
            or self.partial
            or self.updates_owed
            or self.workbook_incomplete
        ):
            return EXIT_ATTENTION
        return EXIT_OK

    @property
    def payments_exit_code(self) -> int:
        """`payments`' exit code: 1 while bank lines wait for review, or the import had a
        problem of its own (a file it could not read, a line typed wrong on Payments), or
        the workbook could not be written in full; 0 when every line was applied or
        ignored. The workbook's other row errors are listed, and left to the weekly run's
        exit code."""
        if (
            self.awaiting_review
            or self.bank_errors
            or self.failed
            or self.partial
            or self.updates_owed
            or self.workbook_incomplete
        ):
            return EXIT_ATTENTION
        return EXIT_OK


#: What each kind of message is called where people read it (terminal, log, summary email).
KIND_WORDS = {
    "invoice": "invoice",
    "reissue": "reissued",
    "thanks": "thank-you",
    "underpaid": "part-payment note",
    "overpaid": "overpayment note",
    "credit_note": "credit note",
    "resend": "copy resent",
    "escalated": "escalated",
    "statement": "statement of account",
    "Draft": "Draft",  # a would-be invoice, by the status it has: a dry run's only
}


def summary_lines(summary: RunSummary) -> list[str]:
    """The run summary as plain text lines (for the emailed report and the log)."""
    lines = [f"Billing run as of {summary.as_of.isoformat()}", ""]
    for title, items in (
        ("Written to the outbox" if summary.outbox else "Sent", summary.sent),
        ("Failed (tried again at the next run)", summary.failed),
        ("Delivered, but not to every address", summary.partial),
        ("Escalated: please call the client", summary.escalated),
    ):
        if items:
            lines.append(f"{title}:")
            lines.extend(
                f"  {KIND_WORDS.get(i.kind, i.kind):<20} "
                f"{item_text(i.invoice_no, i.client, i.amount, i.note)}"
                for i in items
            )
            lines.append("")
    if summary.bank_lines:
        lines.append("Bank payments:")
        lines.extend(
            f"  {i.kind:<8} {i.amount:>18}  {i.client:<30} {i.invoice_no}  {i.note}"
            for i in summary.bank_lines
        )
        lines.append("")
    lines.extend(correction_lines(summary))
    lines.extend(outstanding_lines(summary))
    if summary.errors:
        lines.append("")
        lines.append(f"{needs_attention(len(summary.errors))}:")
        lines.extend(f"  {e}" for e in summary.errors)
    lines.extend(summary.notes)
    outbox = outbox_line(summary)
    if outbox:
        lines.append(outbox)
    return [one_line(line) for line in lines]  # cell text never breaks a line of the log


def item_text(invoice_no: str, client: str, amount: str, note: str) -> str:
    """One row of the summary as aligned plain text (the log, the report email, long lists)."""
    return f"{invoice_no:<16} {client:<30} {amount:>14}  {note}"


def needs_attention(count: int) -> str:
    """`1 row needs attention`, `3 rows need attention`."""
    return f"{count} row needs attention" if count == 1 else f"{count} rows need attention"


def outbox_line(summary: RunSummary) -> str:
    """Outbox mode: how many messages wait where, and that nothing was emailed."""
    if summary.outbox is None or summary.dry_run:
        return ""
    count = summary.outbox_count
    waiting = f"{count} new messages wait" if count != 1 else "1 new message waits"
    later = (
        "a run without --outbox emails as billing.toml says"
        if summary.outbox_asked
        else 'for the tool to email from now on, set mode = "smtp" in [email]'
    )
    return (
        f"Outbox mode: nothing was emailed. {waiting} in {summary.outbox} "
        "(send them from your mail program: they count as sent, and no later run sends "
        f"them again; {later})."
    )


def outstanding_lines(summary: RunSummary) -> list[str]:
    """`Outstanding: KZT 394,800.56`, one line per currency, in the configured language;
    with what it leaves out: `(not counted: 3 invoices typed by hand, KZT 12,000.00)`."""
    lines = []
    for currency in sorted(summary.outstanding.keys() | summary.not_counted.keys()):
        amount = summary.outstanding.get(currency, ZERO)
        line = f"Outstanding: {format_money(amount, currency, summary.language)}"
        if currency in summary.not_counted:
            line += f" (not counted: {summary.not_counted[currency].text(summary.language)})"
        lines.append(one_line(line))
    return lines


def phases_line(timings: dict[str, float]) -> str:
    """The phases' seconds on one line, for the run log (and the benchmarks that read it).

    >>> phases_line({"read": 0.912, "start-up": 0.3})
    'phases: start-up 0.300 s, read 0.912 s'
    """
    known = [p for p in PHASES if p in timings]
    others = sorted(set(timings) - set(PHASES))
    return "phases: " + ", ".join(f"{p} {timings[p]:.3f} s" for p in known + others)


def correction_lines(summary: RunSummary) -> list[str]:
    """Credit notes issued and money owed back, as plain text lines ([] when none)."""
    lines: list[str] = []
    if summary.credit_notes:
        lines.append("Credit notes issued:")
        lines.extend(
            f"  {i.note:<16} on {i.invoice_no:<16} {i.client:<30} {i.amount:>14}  ({i.kind})"
            for i in summary.credit_notes
        )
        lines.append("")
    if summary.owed_back:
        lines.append(
            "Owed back to clients (paid more than due, or paid towards a void invoice; "
            "refund or credit):"
        )
        lines.extend(
            f"  {i.invoice_no:<16} {i.client:<30} {i.amount:>14}" for i in summary.owed_back
        )
        lines.append("")
    return [one_line(line) for line in lines]
