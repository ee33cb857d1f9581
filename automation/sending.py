"""The send stage of a run: deliver built messages and record who has each one.

`SendStage` is the `delivery.Journal` of a run: before each attempt the
message is marked `sending`; after it, every recipient's answer is written to
the ledger; when the loop is done with a message, `judge` decides what it
means for the invoice and the stage writes the Note and the summary line.

A message counts as delivered once every To address accepted it. A refused
CC or bcc copy is reported but does not make the invoice `Failed`; when some
To addresses refused, the next run sends the same message (same Message-ID)
to the addresses without it, and to nobody else.

>>> judge(("a@x.example",), ("a@x.example", "arch@x.example"), {
...     "a@x.example": ("sent", "250 ok"), "arch@x.example": ("refused", "550 full")})
Verdict(delivered=True, uncertain=(), missing=(), copies_missed=(('arch@x.example', '550 full'),))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from .clock import process_age
from .compose import Job, amount_text
from .delivery import Outcome, Parcel
from .faults import checkpoint
from .fmt import format_money
from .ledger import SENDING, Ledger
from .mail import (
    REFUSED,
    SENT,
    TEMPORARY,
    UNKNOWN,
    BuiltMessage,
    RecipientResult,
    eml_name,
    needs_smtputf8,
    no_smtputf8,
    not_among,
)
from .model import RowError
from .summary import KIND_WORDS, RunSummary, SentItem

#: How the summary lists a message sent again after a run that could not confirm it.
SENT_AGAIN = "sent again: the last run could not tell whether it arrived"
#: The same, in outbox mode: nothing was sent, the file was written again.
WRITTEN_AGAIN = "written again: the last run stopped while writing it"


def again_note(outbox: bool) -> str:
    """How a message handed over again after an interrupted run is told (SENT_AGAIN)."""
    return WRITTEN_AGAIN if outbox else SENT_AGAIN


@dataclass(frozen=True)
class Verdict:
    """What the recipients' answers mean for the message.

    Attributes:
      delivered: every To address has it.
      uncertain: To addresses that may have it (the connection died after the
        message went out): only the identical message may follow.
      missing: (address, server reply) for To addresses without it.
      copies_missed: (address, server reply) for CC and bcc addresses without it.
    """

    delivered: bool
    uncertain: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]
    copies_missed: tuple[tuple[str, str], ...]


def judge(
    to: Sequence[str], recipients: Sequence[str], deliveries: Mapping[str, tuple[str, str]]
) -> Verdict:
    """The verdict from the ledger's per-recipient record (`Ledger.deliveries`).

    `to` empty (a message recorded before roles were kept) counts every
    recipient as To.
    """
    to_keys = {a.lower() for a in (to or recipients)}
    uncertain: list[str] = []
    missing: list[tuple[str, str]] = []
    copies: list[tuple[str, str]] = []
    for address in recipients:
        state, reply = deliveries.get(address.lower(), ("", "not tried"))
        if state == SENT:
            continue
        if address.lower() not in to_keys:
            copies.append((address, reply))
        elif state == UNKNOWN:
            uncertain.append(address)
        else:
            missing.append((address, reply))
    delivered = not missing and not uncertain
    return Verdict(delivered, tuple(uncertain), tuple(missing), tuple(copies))


def recipients_text(message: BuiltMessage, only: Sequence[str] | None = None) -> str:
    """The To and CC addresses, e.g. "ann@a.example, bob@a.example, cc boss@a.example"."""
    keep = {a.lower() for a in only} if only is not None else None
    to = [a for a in message.to or message.recipients if keep is None or a.lower() in keep]
    cc = [a for a in message.cc if keep is None or a.lower() in keep]
    return ", ".join(to + [f"cc {a}" for a in cc]) or "nobody new"


def _role_words(message: BuiltMessage, address: str) -> str:
    role = message.role(address)
    return {"cc": f"cc {address}", "bcc": f"the bcc copy to {address}"}.get(role, address)


#: The last second of a day.
LAST_SECOND = time(23, 59, 59)


class LedgerJournal:
    """The recording half of a `delivery.Journal`: each step in the ledger before the next.

    Before an attempt the message is marked `sending`; after it, every
    recipient's answer is written to `deliveries`. Subclasses say in
    `finished` what the verdict means for their kind of message.
    """

    def __init__(self, ledger: Ledger, as_of: date, fault: str = "after-send") -> None:
        self.ledger = ledger
        self.as_of = as_of
        self.fault = fault
        #: Messages marked `sending` (durably) when their bytes were stored, in
        #: batches, and not attempted since: their first attempt needs no mark.
        self.marked: set[str] = set()
        age = process_age()
        #: The day this process started: a run dated that day that is still sending
        #: after midnight has crossed it.
        self.started_on = (datetime.now() - timedelta(seconds=age or 0)).date()
        #: message id -> CC and bcc copies (lower case) refused again with the reply an
        #: earlier run recorded for them: that run listed them (`copies_refused`).
        self.said_before: dict[str, set[str]] = {}

    def _now(self) -> datetime:
        """When a message went out, as Sent At and Last Sent say it: the run's date with
        the time of day. A run that crossed midnight says its date's last second: its
        date with the time after midnight was a moment before the run began, and the
        next day would move the weekly reminders a day (their weeks count from the
        run's date)."""
        now = datetime.now().replace(microsecond=0)
        if self.started_on == self.as_of and now.date() > self.as_of:
            return datetime.combine(self.as_of, LAST_SECOND)
        return datetime.combine(self.as_of, now.time())

    def attempting(self, parcel: Parcel) -> None:
        message_id = parcel.message.message_id
        if message_id in self.marked:
            self.marked.discard(message_id)
            return
        with self.ledger.transaction():
            self.ledger.mark_sending(message_id)

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        # A crash here (the server has it, the ledger does not know yet) is
        # finished by the next run with the identical message: a copy, never a variant.
        # The answers are written at once, without a flush of their own: the next
        # durable commit (the next batch's `sending` marks, a few messages on)
        # flushes them. Only a power cut before it loses them; those messages are
        # then resent identical, under the same Message-ID.
        checkpoint(self.fault)
        answers = [(r.address, r.state, r.reply) for r in results]
        message = parcel.message
        copies = {
            (r.address.lower(), r.reply)
            for r in results
            if r.state == REFUSED and message.role(r.address) != "to"
        }
        if copies:  # read before this attempt's answers replace an earlier run's
            earlier = self.ledger.earlier_deliveries(message.message_id)
            self.said_before.setdefault(message.message_id, set()).update(
                a for a, state, reply in earlier if state == REFUSED and (a, reply) in copies
            )
        if answers:
            with self.ledger.transaction(durable=False):
                self.ledger.record_deliveries(parcel.message.message_id, answers, self._now())

    def deliveries(self, message_id: str) -> dict[str, tuple[str, str]]:
        """address (lower case) -> (state, reply) for every recipient tried so far."""
        return self.ledger.deliveries(message_id)

    def verdict(self, message: BuiltMessage) -> Verdict:
        return judge(message.to, message.recipients, self.deliveries(message.message_id))

    def copies_refused(
        self, message: BuiltMessage, verdict: Verdict, outcome: Outcome
    ) -> tuple[str, str]:
        """What the Note and what the summary say about refused CC and bcc copies
        (`copies_missed_text`; "" for none).

        The Note says every copy without the message, each time it is written. The
        summary (COPY REFUSED, exit 1) says a copy once: not again when a later run
        (the retry after a refused To address) is refused it with the same reply by
        a run that finished (one killed before its summary said nothing:
        `Ledger.earlier_deliveries`). A message refused as a whole (its size, the sender) is no
        refused copy: the Note says why it failed for everyone.
        """
        replies = {r.reply for r in outcome.results}
        whole = len(outcome.results) > 1 and len(replies) == 1 and not outcome.addresses(SENT)
        if outcome.too_big or whole:
            return "", ""
        note = copies_missed_text(message, verdict)
        said = self.said_before.get(message.message_id, set())
        new = tuple((a, r) for a, r in verdict.copies_missed if a.lower() not in said)
        return note, copies_missed_text(message, replace(verdict, copies_missed=new)).strip()

    def reached_client(self, message: BuiltMessage) -> datetime | None:
        """When a server first accepted the message for one of its To or Cc addresses (None:
        not yet), though another To address may still be owed it. From then on its bytes
        are kept for the retry (`may_have_reached`), so the due date it shows is fixed:
        an invoice's Sent At is this moment, and receipt-based terms count from it."""
        blind = blind_copies(message)
        seen = [a for a in message.recipients if a.lower() not in blind]
        return self.ledger.first_delivered_at(message.message_id, seen)

    def may_have_reached(self, message_id: str, blind: Collection[str] = ()) -> bool:
        """Whether some recipient has, or may have, the message: then only its bytes may follow.

        A retry under the same Message-ID must be the identical message, so the
        stored bytes are kept rather than rebuilt with a new date or due date.
        The `blind` copies (your own bcc archive) do not count: a client who
        never got it gets the invoice as of the day it goes out.
        """
        return any(
            state in (SENT, UNKNOWN)
            for address, (state, _r) in self.deliveries(message_id).items()
            if address not in blind
        )


def blind_copies(message: BuiltMessage) -> frozenset[str]:
    """The message's blind copies (`[email] bcc`), lower case as deliveries are kept (none
    for a message recorded without its roles: `BuiltMessage.role`)."""
    return frozenset(a.lower() for a in message.recipients if message.role(a) == "bcc")


def not_again(message: BuiltMessage, had: Collection[str]) -> BuiltMessage:
    """`message` for its recipients but those that `had` an earlier message in its stead
    (`Ledger.restate_kept`: the invoice's first email, which a CC or the bcc archive took
    while its To addresses refused it): they are not sent this one. Its headers stay as
    built; the Note says they had it already."""
    kept = not_among(message.recipients, tuple(had))
    return message if kept == message.recipients else replace(message, recipients=kept)


def copies_missed_text(message: BuiltMessage, verdict: Verdict) -> str:
    """ " Not delivered to cc x@y: 550 ..." for each CC or bcc copy refused ("" for none)."""
    return "".join(
        f" Not delivered to {_role_words(message, address)}: {reply}."
        for address, reply in verdict.copies_missed
    )


class SendStage(LedgerJournal):
    """The invoice messages' journal: ledger first, then the invoice's Note and the summary."""

    def __init__(
        self,
        ledger: Ledger,
        jobs: Mapping[str, Job],
        as_of: date,
        summary: RunSummary,
        tick: Callable[[], None],
        outbox: Path | None,
        folder: Path,
        retry_window: float,
        test_mode: bool = False,
    ) -> None:
        super().__init__(ledger, as_of)
        self.jobs = jobs
        self.summary = summary
        self.tick = tick
        self.outbox = outbox
        self.folder = folder
        self.retry_window = retry_window
        self.test_mode = test_mode  # [email] redirect_to: every message went there instead

    def _amount(self, job: Job) -> str:
        return amount_text(job, self.summary.language)

    # -- delivery.Journal ---------------------------------------------------
    def finished(self, outcome: Outcome) -> None:
        message = outcome.parcel.message
        job = self.jobs[message.message_id]
        verdict = self.verdict(message)
        self.tick()
        if verdict.delivered:
            self._delivered(job, message, outcome, verdict)
        elif verdict.uncertain and not verdict.missing:
            self._uncertain(job, verdict)
        else:
            self._failed(job, message, outcome, verdict)

    # -- what it means -----------------------------------------------------
    def _where(self, message: BuiltMessage, outcome: Outcome) -> str:
        """ "emailed to ..." or "written to outbox/<file>.eml for ..."."""
        reached = outcome.addresses(SENT)
        names = recipients_text(message, reached if reached else None)
        if self.test_mode:
            names += " (test mode, redirect_to: not the client)"
        if self.outbox is None:
            return f"emailed to {names}"
        path = self.outbox / eml_name(message)
        try:
            shown = path.relative_to(self.folder)
        except ValueError:
            shown = path
        return f"written to {shown.as_posix()} for {names}"

    def _delivered(
        self, job: Job, message: BuiltMessage, outcome: Outcome, verdict: Verdict
    ) -> None:
        now = self._now()
        msg, inv = job.message, job.invoice
        where = self._where(message, outcome)
        tried = {a.lower() for a in outcome.parcel.recipients}
        earlier = [
            a
            for a in (message.to or message.recipients) + message.cc
            if tried and a.lower() not in tried
        ]
        interrupted = msg.state == SENDING
        missed, listed = self.copies_refused(message, verdict, outcome)
        had = "the invoice's first email" if msg.payload.get("had") else "it"
        already = f" ({', '.join(earlier)} had {had} already)" if earlier else ""
        day = self.as_of
        note = again_note(self.outbox is not None) if interrupted else ""
        if not tried:
            # Nobody left to send to: every address it goes to now (a refused one was
            # taken out of Clients) had it already. It was delivered when they got it.
            now = self.ledger.delivered_at(msg.message_id) or now
            day = now.date()
            note = f"not sent again: its addresses had it since {day.isoformat()}"
            interrupted = False
        with self.ledger.transaction(durable=False):
            self.ledger.mark_sent(msg.message_id, now)
            reached = self.reached_client(message) if msg.kind == "invoice" else None
            record_sent(self.ledger, job, now, day, f"{where}{already}", missed, reached)
        if interrupted and self.outbox is not None:
            self.summary.notes.append(
                f"{inv.invoice_no}: the run before this one stopped while writing this message "
                "to the outbox; it was written again, identical and with the same Message-ID "
                "(the file is replaced, not doubled). Nothing was emailed."
            )
        elif interrupted:
            # The run before marked it `sending` (its batch was flushed) and then stopped,
            # or lost the connection after handing it over: it may have gone out, or not.
            self.summary.notes.append(
                f"{inv.invoice_no}: the run before this one could not tell whether this "
                "message arrived (it stopped, or lost its connection, while sending it); it "
                "was sent now, identical and with the same Message-ID, so the client's mail "
                "program drops any copy it already has."
            )
        amount = self._amount(job)
        self.summary.sent.append(SentItem(inv.invoice_no, inv.client, msg.kind, amount, note))
        if self.outbox is not None:
            self.summary.outbox_count += 1
        if listed:
            item = SentItem(inv.invoice_no, inv.client, msg.kind, amount, listed)
            self.summary.partial.append(item)

    def _uncertain(self, job: Job, verdict: Verdict) -> None:
        # Unknown outcome: stays `sending`, so the next run resends these very bytes
        # (same Message-ID): a copy the client already has is dropped, not doubled.
        inv, msg = job.invoice, job.message
        reply = self.deliveries(msg.message_id)[verdict.uncertain[0].lower()][1]
        with self.ledger.transaction(durable=False):
            self.ledger.update_invoice(
                inv.invoice_no,
                note=f"{email_words(msg.kind)} not confirmed on {self.as_of.isoformat()}: {reply}; "
                "the identical message is sent again at the next run.",
            )
        self.summary.failed.append(
            SentItem(inv.invoice_no, inv.client, msg.kind, self._amount(job), reply)
        )

    def _retried(self, outcome: Outcome) -> str:
        """How long a message still refused for now was tried again in this run, if at all."""
        if outcome.attempts > 1:
            return f"retried for {self.retry_window:g} seconds"
        setting = "retry_window = 0" if self.retry_window <= 0 else "max_retries = 0"
        return f"not retried in this run: {setting}"

    def _failed(self, job: Job, message: BuiltMessage, outcome: Outcome, verdict: Verdict) -> None:
        inv, msg = job.invoice, job.message
        day = self.as_of.isoformat()
        if outcome.too_big:
            reply = verdict.missing[0][1]
            note = (
                f"{email_words(msg.kind)} not sent on {day}: {reply}. The next run tries again, "
                "and the server refuses it again until the message is smaller."
            )
        else:
            reply = "; ".join(f"{a}: {r}" for a, r in verdict.missing)
            temporary = {
                a
                for a, (state, _r) in self.deliveries(message.message_id).items()
                if state == TEMPORARY
            }
            waited = (
                f" (the server asked to try later; {self._retried(outcome)})"
                if any(a.lower() in temporary for a, _ in verdict.missing)
                else ""
            )
            have = {
                a for a, (state, _r) in self.deliveries(message.message_id).items() if state == SENT
            }
            alone = ""
            if have:
                named = [a for a in message.recipients if a.lower() in have]
                verb = "has" if len(named) == 1 else "have"
                alone = f", to those addresses alone ({', '.join(named)} already {verb} it)"
            missing = ", ".join(a for a, _ in verdict.missing)
            note = (
                f"{email_words(msg.kind)} not delivered to {missing} on {day}: {reply}{waited}; "
                f"it is tried again at the next run{alone}."
            )
        missed, listed = self.copies_refused(message, verdict, outcome)
        note += missed
        blind = blind_copies(message)
        rebuild = not self.may_have_reached(msg.message_id, blind)
        # Some addressee has the invoice: the client had it then (Sent At), and its
        # receipt-based due date counts from then, as the copy they have says.
        reached = self.reached_client(message) if msg.kind == "invoice" else None
        first: dict[str, object] = {}
        if reached is not None and inv.sent_at is None:
            first = {
                "sent_at": reached,
                "last_sent": reached,
                "first_due": job.due,
                "first_message_id": inv.first_message_id or msg.message_id,
            }
        with self.ledger.transaction(durable=False):
            self.ledger.mark_failed(msg.message_id, reply, rebuild=rebuild, blind=blind)
            self.ledger.update_invoice(inv.invoice_no, note=note, **first)
        self.summary.failed.append(
            SentItem(inv.invoice_no, inv.client, msg.kind, self._amount(job), reply)
        )
        if listed:
            self.summary.partial.append(
                SentItem(inv.invoice_no, inv.client, msg.kind, self._amount(job), listed)
            )


def test_mode_note(redirect_to: str, ahead: bool = False) -> str:
    """What every run says while `[email] redirect_to` sends everything to the bookkeeper;
    `ahead`: said before a run (`check`), when nothing has gone yet."""
    went, are = ("would go", "would be") if ahead else ("went", "are")
    return (
        f"Test mode ([email] redirect_to): every email {went} to {redirect_to}, none to the "
        f"clients, yet the invoices {are} numbered and recorded as sent. To send one to its "
        "client, clear redirect_to and type Yes in its Resend cell."
    )


def email_words(kind: str) -> str:
    """How a Note names an email of this kind, in the run summary's words.

    >>> email_words("thanks")
    'Email (thank-you)'
    """
    return f"Email ({KIND_WORDS.get(kind, kind)})"


#: How a Note starts that says what a run could not do on the row, and why.
NOT_DONE = "Not done on"
#: How the Note starts of an invoice whose email could not be made or sent at all.
NOT_EMAILED = "Not emailed:"


def problem_told(ledger: Ledger, invoice_no: str, day: str) -> str:
    """What this run could not do on the invoice's row (a Credit Amount put back), as its
    Note tells it today (`Ledger.note_problem`), to say after a Note written over it (" Not
    done on ..."), or "" when the Note tells no such thing.

    A Note that says both is told already: a rerun leaves it as it is (`note_problem`).
    """
    (kept,) = ledger.conn.execute(
        "SELECT note FROM invoices WHERE invoice_no = ?", (invoice_no,)
    ).fetchone() or ("",)
    return f" {kept}" if (kept or "").startswith(f"{NOT_DONE} {day}:") else ""


def record_sent(
    ledger: Ledger,
    job: Job,
    now: datetime,
    as_of: date,
    where: str,
    missed: str = "",
    reached: datetime | None = None,
) -> None:
    """The invoice's record after a delivered message; `where` is "emailed to ...".

    `reached`: when an addressee first had it, an earlier run maybe (an invoice's Sent At).
    """
    msg, inv = job.message, job.invoice
    day = as_of.isoformat()
    missed += problem_told(ledger, inv.invoice_no, day)
    if msg.kind == "invoice":
        ledger.update_invoice(
            inv.invoice_no,
            sent_at=inv.sent_at or reached or now,
            last_sent=now,
            due_date=job.due,
            first_due=job.due,
            first_message_id=inv.first_message_id or msg.message_id,
            note=f"{where[:1].upper()}{where[1:]} on {day}.{missed}",
        )
    elif msg.kind == "reissue":
        number = int(msg.payload["reissue_number"])
        ledger.update_invoice(
            inv.invoice_no,
            last_sent=now,
            reissue_count=max(inv.reissue_count, number),
            last_reissue=date.fromisoformat(msg.payload["as_of"]),
            due_date=job.due,
            note=f"Reissued (reminder {number}), {where} on {day}; new due date "
            f"{job.due.isoformat()}.{missed}",
        )
    elif msg.kind in ("credit_note", "resend"):
        note = correction_note(job, where, day) + missed
        ledger.update_invoice(inv.invoice_no, last_sent=now, note=note)
    else:
        words = {
            "thanks": "Thank-you note for the payment",
            "underpaid": "Note about the part payment",
            "overpaid": "Note about the overpayment",
        }.get(msg.kind, msg.kind.capitalize())
        if msg.payload.get("with_invoice"):
            # Paid before its own email could be delivered: this note carried the invoice,
            # and that email (refused by every To address) is not sent any more, though a
            # CC or the bcc archive took it.
            ledger.drop_carried(f"{inv.invoice_no}/invoice")
            ledger.update_invoice(
                inv.invoice_no,
                sent_at=inv.sent_at or now,
                first_message_id=inv.first_message_id or msg.message_id,
                last_sent=now,
                note=f"{words}, with the invoice attached, {where} on {day}.{missed}",
            )
            return
        note = f"{words}, {where} on {day}.{missed}"
        ledger.update_invoice(inv.invoice_no, last_sent=now, note=note)


def correction_note(job: Job, where: str, day: str) -> str:
    """The Note once a credit note or a copy went out; `where` is "emailed to ..."."""
    payload, inv = job.message.payload, job.invoice
    if job.message.kind == "resend":
        return f"A copy of the invoice was {where} on {day}, as asked in Resend."
    amount = format_money(Decimal(payload["amount"]), inv.currency, "en")
    balance = Decimal(payload["balance"])
    sent = f"credit note {payload['credit_note_no']} for {amount} {where} on {day}"
    if payload["reason"] == "credit":
        return (
            f"{sent[0].upper()}{sent[1:]}; balance now {format_money(balance, inv.currency, 'en')}."
        )
    text = f"Void: {sent}"
    if payload.get("replacement"):
        text += f"; replaced by {payload['replacement']}"
    if balance < 0:
        text += f"; {format_money(-balance, inv.currency, 'en')}{_OWED_BACK}"
    return text + "."


_OWED_BACK = " received is owed back"
#: The tail of a void invoice's Note about money owed back, as `correction_note` and
#: `refunded_note` write it: what was received, and what is still owed back of it.
_OWED_TAIL = re.compile(
    r"; (?P<received>[^;]+?) received"
    r"(?: is owed back|; (?P<owed>[^;]+?) is owed back \(the rest paid back, seen on [^)]*\)"
    r"| was paid back \(seen on [^)]*\))\.$"
)


def refunded_note(note: str, day: str, owed: str | None) -> str | None:
    """A void invoice's Note once some of what it said was owed back is paid back (Paid
    Amount lowered): `owed` is what is still owed back (None: nothing). None when the
    Note says no such thing, or says this already.

    >>> refunded_note("Void: CN-1; $120.00 received is owed back.", "2026-03-16", "$20.00")
    'Void: CN-1; $120.00 received; $20.00 is owed back (the rest paid back, seen on 2026-03-16).'
    >>> refunded_note("Void: CN-1; $120.00 received is owed back.", "2026-03-16", None)
    'Void: CN-1; $120.00 received was paid back (seen on 2026-03-16).'
    """
    found = _OWED_TAIL.search(note)
    if found is None:
        return None
    received = found.group("received")
    said = found.group("owed") or (None if "was paid back" in found.group(0) else received)
    if said == owed:
        return None
    head = note[: found.start()]
    if owed is None:
        return f"{head}; {received} received was paid back (seen on {day})."
    return f"{head}; {received} received; {owed} is owed back (the rest paid back, seen on {day})."


def utf8_refusal(message: BuiltMessage, host: str) -> str | None:
    """Why a message cannot go to a server without SMTPUTF8 at all, or None when it can.

    It cannot when its sender or a To address has letters other than ASCII before
    the @, or when it was written with raw UTF-8 headers (built for a server that
    offers SMTPUTF8). A CC or bcc address with such letters is refused alone by the
    sender (`mail.SmtpSender`): a refused copy, the message goes to the rest.
    """
    named = (message.envelope_from, *(message.to or message.recipients))
    if message.utf8_headers:
        named += message.recipients
    address = next((a for a in named if needs_smtputf8(a)), None)
    return None if address is None else no_smtputf8(address, host)


def utf8_column(message: BuiltMessage) -> str:
    """The Clients column holding the address a server without SMTPUTF8 cannot take."""
    return "Email" if any(not a.isascii() for a in message.to) else "CC"


def utf8_row_error(job: Job, why: str, sheet: str, column: str) -> RowError:
    """The Clients row to fix for an address the server cannot take."""
    return RowError(sheet, job.client.row or None, column, why[:1].upper() + why[1:] + ".")
