"""The monthly statement email: decided once a month, sent like every other message.

With `[statements] day = N`, the first run on or after day N of a month (the
last day, in a month shorter than N) decides, in one ledger transaction, which
clients get last month's statement: every active client whose balance was
open at the end of that month and is still open on the run's date. A client
with an invoice on Hold is planned too, but its statement waits (the run says
so) and goes at the first run after the Hold is cleared, if the balance is
still open then; so does one whose Clients row has a problem that stops its
mail (`ClientBook.mail_problem`: the run says so of the row), until the row is
fixed. A later month's statement takes in one still waiting (`kept_back`), so
the months held back go as one statement, never several at once. Each gets
one `statement` message in the ledger; the month is recorded as decided in
the same transaction, so a rerun, or any later run that month, plans nothing.
Sending goes through the shared delivery loop (`delivery.deliver`) and the
ledger's states like any message (planned -> sending -> sent): built bytes
are kept until delivery, a message cut off by a crash is resent byte for
byte with the same Message-ID, and an address that has it never gets it again.

Each statement follows on from the one sent for the month before: when built,
its closing balance and the day it was made are kept in its message's payload,
and the next month's opens with that balance, listing what was recorded after
it for days it covered (`statement.build_statement`, `Stated`).

    period = statement_month_due(ledger, config, as_of)     # None on most runs
    plan_monthly_statements(ledger, rows, book, config, as_of, period)   # in a transaction
    send_statements(ledger, sender, templates, email_templates, out_root, rows, book,
                    config, as_of, summary)
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import fmt
from .config import Config
from .delivery import Outcome, Parcel, RetryPolicy, deliver
from .ledger import FAILED, PLANNED, SENDING, SENT, Ledger, LedgerMessage
from .mail import (
    UNKNOWN,
    BuiltMessage,
    MailError,
    OutgoingMail,
    Sender,
    build_message,
    make_message_id,
    render_email,
)
from .model import InvoiceRow
from .money import ZERO
from .read import WorkbookData
from .schema import normalise_header
from .sending import LedgerJournal, again_note
from .statement import Stated, Statement, previous_month
from .statement_facts import client_for, gather_statements
from .summary import RunSummary, SentItem
from .updates import invoice_rows
from .validate import ClientBook

STATEMENT = "statement"


def statement_month_due(ledger: Ledger, config: Config, as_of: date) -> tuple[date, date] | None:
    """Last month's period when this run is the month's first on or after `day`, else None.

    After months with no such run (the bookkeeper away), the period starts the day after
    the last month decided, so the statements still follow on from each other (a client
    never stated before gets last month's: `period_for`)."""
    day = config.statements.day
    if not day:
        return None
    last_day = calendar.monthrange(as_of.year, as_of.month)[1]
    if as_of.day < min(day, last_day):
        return None
    start, end = previous_month(as_of)
    if ledger.statement_month_done(month_of(end)):
        return None
    (last,) = ledger.conn.execute("SELECT max(month) FROM statement_months").fetchone()
    if last is not None:
        year, month = int(last[:4]), int(last[5:7])
        after = date(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=1)
        start = min(start, after)
    return start, end


def stated_accounts(ledger: Ledger) -> set[str]:
    """`<client key>/<currency>` of every account sent (or being sent) a statement before:
    read once a run, not once per client (the messages table grows every week)."""
    query = "SELECT event FROM messages WHERE kind = ? AND state IN (?, ?) AND event LIKE ?"
    args = (STATEMENT, SENT, SENDING, f"{STATEMENT}/%")
    return {event.split("/", 2)[2] for (event,) in ledger.conn.execute(query, args)}


def period_for(
    stated: Collection[str], client_key: str, currency: str, period: tuple[date, date]
) -> date:
    """Where a client's statement of `period` starts: the period's start when the client was
    sent a statement before (`stated_accounts`: the months missed since are covered), else
    the first day of the period's last month (a first statement is the month's, as ever)."""
    start, end = period
    return start if f"{client_key}/{currency}" in stated else max(start, end.replace(day=1))


def statement_rows_for(
    data: WorkbookData,
    pending: Sequence[LedgerMessage],
    period: tuple[date, date] | None,
    corrected: Mapping[str, InvoiceRow],
    as_of: date,
) -> dict[str, InvoiceRow]:
    """Every Invoices row as of the run's date, when statements are planned or owed this run
    (else none: cheap).

    `corrected` are the rows as this run leaves them (bank payments imported,
    lost rows healed): they win over the sheet as read, or a payment imported
    now would look taken back and the statement would ask for it again.
    """
    if period is None and not any(m.kind == STATEMENT for m in pending):
        return {}
    return {**invoice_rows(data.invoices, as_of), **corrected}


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def statements_to_send(
    ledger: Ledger,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    as_of: date,
    period: tuple[date, date],
    held: Collection[str] = (),
) -> list[Statement]:
    """The month's statements: open at the month's end and still open today, to active
    clients still in Clients, none of the clients `held` (keys: `waiting_clients`, whose
    statements wait this run; the plan passes none, and keeps theirs back as it sends)."""
    start, end = period
    now = balances_after(ledger, rows, book, end, as_of)
    chosen = []
    for st in gather_statements(ledger, rows, book, start, end):
        client = client_for(book, st)
        if not still_open(st, now):
            continue
        if not client.active:
            continue  # inactive clients get no automatic mail
        if not client.emails and book.mail_problem(client.key) is None:
            continue  # no longer in Clients: nobody to mail (a broken row waits to be fixed)
        if client.key in held:
            continue  # it waits: a Hold (its balance is not sure), or its row cannot be mailed
        chosen.append(st)
    return chosen


def balances_after(
    ledger: Ledger,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    end: date,
    as_of: date,
    only: str | None = None,
) -> dict[tuple[str, str], Decimal]:
    """(client, currency) -> the balance on the run's date of statements ending `end`
    (of the client `only`, or every client's)."""
    later = gather_statements(ledger, rows, book, end + timedelta(days=1), max(as_of, end), only)
    return {(st.client, st.currency): st.closing for st in later}


def still_open(st: Statement, now: Mapping[tuple[str, str], Decimal]) -> bool:
    """Whether a statement's balance is open at its end and still on the run's date (`now`:
    `balances_after`): a client who paid meanwhile is not chased."""
    return st.closing > ZERO and now.get((st.client, st.currency), st.closing) > ZERO


def plan_monthly_statements(
    ledger: Ledger,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    config: Config,
    as_of: date,
    period: tuple[date, date],
) -> int:
    """Plan the month's statement messages and mark the month decided; how many were planned.

    A client with an invoice on Hold, or whose Clients row stops its mail, is planned
    too: `send_statements` keeps its statement back while the Hold (or the problem)
    lasts, so the month's statement is still sent once it is cleared (the month being
    decided, no later run would plan it). A statement of an earlier month still owed
    (`kept_back`) is taken into the one planned now, which starts where it started.

    Call inside a ledger transaction: the plan and the mark land together.
    """
    end = period[1]
    planned = 0
    stated = stated_accounts(ledger)
    waiting = kept_back(ledger)
    for st in statements_to_send(ledger, rows, book, as_of, period):
        client = client_for(book, st)
        earlier = waiting.get(f"{client.key}/{st.currency}", [])
        start = min(
            [
                period_for(stated, client.key, st.currency, period),
                *(date.fromisoformat(m.payload["start"]) for m in earlier),
            ]
        )
        payload = {
            "client_key": client.key,
            "currency": st.currency,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "as_of": as_of.isoformat(),
        }
        event = f"{STATEMENT}/{month_of(end)}/{client.key}/{st.currency}"
        message_id = make_message_id(config.email, config.company)
        if ledger.plan_message(message_id, event, "", STATEMENT, payload):
            planned += 1
            for msg in earlier:  # this one covers their months: one statement, not several
                ledger.drop_message(msg.message_id)
    ledger.mark_statement_month(month_of(end), planned)
    return planned


def kept_back(ledger: Ledger) -> dict[str, list[LedgerMessage]]:
    """`<client key>/<currency>` -> its statement messages of earlier months still owed that
    nobody has or may have: kept back by a Hold or the client's Clients row (or refused,
    or not sent for want of a mail server). The month's statement planned now covers
    their months in their stead, so the client gets one statement from the first month
    still owed, never several at once; one that may have reached someone is left to go
    again identical (`send_statements`)."""
    found: dict[str, list[LedgerMessage]] = {}
    for msg in ledger.messages((PLANNED, FAILED)):
        if msg.kind != STATEMENT or any(
            state in (SENT, UNKNOWN) for state, _reply in ledger.deliveries(msg.message_id).values()
        ):
            continue
        account = f"{_client_key(msg.payload)}/{msg.payload['currency']}"
        found.setdefault(account, []).append(msg)
    return found


def send_statements(
    ledger: Ledger,
    sender: Sender | None,
    templates: Path,
    email_templates: Path | None,
    out_root: Path,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    config: Config,
    as_of: date,
    summary: RunSummary,
    held: Collection[str] = (),
) -> None:
    """Build every statement message still owed and send it through the delivery loop;
    those to `held` clients (see `statements_to_send`) wait, and the run says so; so do
    those not built yet whose client's Clients row stops its mail (`ClientBook.
    mail_problem`; the run names the row); one kept back at an earlier run whose client
    has paid meanwhile is dropped (`_built`).

    The loop is the one every message goes through (`delivery.deliver`): per
    recipient, 4xx retried within `retry_window`, each attempt recorded in the
    ledger before the next step; a To address that already has the message is
    never sent it again.
    """
    owed = [m for m in ledger.messages((PLANNED, SENDING, FAILED)) if m.kind == STATEMENT]
    if not owed or sender is None:
        return
    parcels: list[Parcel] = []
    owed_now: dict[str, tuple[LedgerMessage, str, str]] = {}
    for msg in owed:
        if msg.state == FAILED and (msg.attempt_run or 0) >= ledger.run_id:
            continue  # refused in this very run: tried again at the next one
        fate = owed_fate(msg, book, held)
        if fate == HELD:
            summary.notes.append(held_note(_named(msg, book), msg.payload))
            continue
        if fate == DROPPED:
            with ledger.transaction():
                ledger.drop_message(msg.message_id)  # gone or inactive since: no mail
            continue
        if fate == WAITING:
            continue  # built once the row is fixed (`decide.withheld_for_clients_row` tells)
        built, amount, name = _built(
            msg, ledger, templates, email_templates, out_root, rows, book, config, summary, as_of,
            sender.smtputf8,
        )  # fmt: skip
        if built is None:
            continue
        owed_now[built.message_id] = (msg, amount, name)
        have = ledger.delivered_to(built.message_id)
        parcels.append(Parcel(built, tuple(a for a in built.recipients if a.lower() not in have)))
    policy = RetryPolicy(config.email.retry_window, config.email.max_retries)
    journal = _StatementJournal(ledger, as_of, summary, owed_now)
    deliver(parcels, sender, policy, journal)


class _StatementJournal(LedgerJournal):
    """Statements through the same delivery loop: refused copies never re-mail a client."""

    def __init__(
        self,
        ledger: Ledger,
        as_of: date,
        summary: RunSummary,
        owed: dict[str, tuple[LedgerMessage, str, str]],
    ) -> None:
        super().__init__(ledger, as_of, "after-statement-send")
        self.summary = summary
        self.owed = owed

    def finished(self, outcome: Outcome) -> None:
        message = outcome.parcel.message
        msg, amount, name = self.owed[message.message_id]
        verdict = self.verdict(message)
        if verdict.delivered:
            with self.ledger.transaction(durable=False):
                self.ledger.mark_sent(msg.message_id, self._now())
            note = again_note(self.summary.outbox is not None) if msg.state == SENDING else ""
            self.summary.sent.append(SentItem("", name, STATEMENT, amount, note))
            if self.summary.outbox is not None:
                self.summary.outbox_count += 1
            _, listed = self.copies_refused(message, verdict, outcome)
            if listed:
                self.summary.partial.append(SentItem("", name, STATEMENT, amount, listed))
            return
        if verdict.missing:
            reply = "; ".join(f"{a}: {r}" for a, r in verdict.missing)
        else:  # stays `sending`: the next run sends these very bytes (same Message-ID)
            reply = self.deliveries(msg.message_id)[verdict.uncertain[0].lower()][1]
        rebuild = not self.may_have_reached(msg.message_id)
        with self.ledger.transaction(durable=False):
            if not verdict.uncertain or verdict.missing:
                self.ledger.mark_failed(msg.message_id, reply, rebuild=rebuild)
        self.summary.failed.append(SentItem("", name, STATEMENT, amount, reply))
        _, listed = self.copies_refused(message, verdict, outcome)
        if listed:
            self.summary.partial.append(SentItem("", name, STATEMENT, amount, listed))


def _built(
    msg: LedgerMessage,
    ledger: Ledger,
    templates: Path,
    email_templates: Path | None,
    out_root: Path,
    rows: dict[str, InvoiceRow],
    book: ClientBook,
    config: Config,
    summary: RunSummary,
    as_of: date,
    smtputf8: bool,
) -> tuple[BuiltMessage | None, str, str]:
    """The message's bytes (kept ones, or built now and stored), its amount and client.

    Built now, it is built for the server (`smtputf8`: whether it offers SMTPUTF8,
    `mail.build_message`): without it, a CC with letters other than ASCII before the @
    is left out of the Cc header and refused alone, and the statement goes to the rest.

    Built now, the statement carries forward the one sent for the month before
    (`stated_before`), and its own closing balance and date are kept in the payload
    for the next month's.
    """
    payload = msg.payload
    client = book.clients.get(_client_key(payload))
    name = client.name if client else payload["client_key"]
    if msg.raw is not None:
        built = BuiltMessage(
            msg.message_id, msg.envelope_from or "", msg.recipients, msg.raw, msg.to, msg.cc
        )
        return built, "", name
    assert client is not None
    start, end = date.fromisoformat(payload["start"]), date.fromisoformat(payload["end"])
    currency = payload["currency"]
    before = stated_before(ledger, client.key, currency, start)
    stated = {(client.key, currency): before} if before is not None else None
    period = gather_statements(ledger, rows, book, start, end, client.key, stated)
    found = [st for st in period if st.currency == currency]
    if not found:
        with ledger.transaction():
            ledger.drop_message(msg.message_id)
        return None, "", name
    st = found[0]
    # Planned by an earlier run (its first send refused, say), and paid since: no client
    # is chased (a statement planned by this run was just found open: not asked again).
    earlier = (msg.created_run or 0) < ledger.run_id
    if (
        earlier
        and not ledger.delivered_to(msg.message_id)
        and not still_open(st, balances_after(ledger, rows, book, end, as_of, client.key))
    ):
        with ledger.transaction():
            ledger.drop_message(msg.message_id)
        return None, "", name
    amount = fmt.format_money(st.due, st.currency, config.billing.language)
    from .statement_doc import write_statement_files  # docx: only when statements go out

    files, notes = write_statement_files([st], book, config, templates, out_root, period)
    summary.notes.extend(notes)
    lang = client.language
    context = email_context(st, client.name, config, lang)
    try:
        subject, text, html = render_email(STATEMENT, lang, context, email_templates)
        built = build_message(
            OutgoingMail(
                kind=STATEMENT,
                invoice_no="",
                to=client.emails,
                cc=client.cc,
                subject=subject,
                text=text,
                html=html,
                attachments=files[0][1],
                message_id=msg.message_id,
            ),
            config.email,
            config.company,
            smtputf8,
        )
    except MailError as exc:
        with ledger.transaction():
            ledger.mark_failed(msg.message_id, str(exc), rebuild=True)
        summary.failed.append(SentItem("", name, STATEMENT, amount, str(exc)))
        return None, amount, name
    made = {**payload, "closing": str(st.closing), "made": as_of.isoformat()}
    with ledger.transaction():  # with what the next month's statement follows on from
        ledger.store_built(
            built.message_id, built.envelope_from, built.recipients, built.raw, built.to, built.cc,
            made,
        )  # fmt: skip
    return built, amount, name


def held_note(name: str, payload: Mapping[str, Any]) -> str:
    """What the run says of a statement a Hold keeps back (`send_statements`)."""
    return (
        f"Statement for {name} ({_months(payload)}) waits: an invoice of theirs is on Hold. "
        "It goes at the first run after the Hold is cleared."
    )


def owed_statements(
    ledger: Ledger, book: ClientBook, held: Collection[str]
) -> tuple[list[str], list[str]]:
    """For the dry run: the clients whose statement, planned at an earlier run and still
    owed, a run would send now, and the notes of those a Hold keeps back, as
    `send_statements` tells them (one a Clients row keeps back the row's note tells)."""
    going, notes = [], []
    for msg in ledger.messages((PLANNED, SENDING, FAILED)):
        if msg.kind != STATEMENT:
            continue
        fate = owed_fate(msg, book, held)
        client = book.clients.get(_client_key(msg.payload))
        if fate == HELD:
            notes.append(held_note(_named(msg, book), msg.payload))
        elif fate == GOING and client is not None:
            going.append(client.name)
    return going, notes


#: What becomes of a statement still owed when a run comes to send it (`owed_fate`).
HELD, DROPPED, WAITING, GOING = "held", "dropped", "waiting", "going"


def owed_fate(msg: LedgerMessage, book: ClientBook, held: Collection[str]) -> str:
    """What a run does with `msg`, a statement still owed, as `send_statements` does it and
    the dry run (`owed_statements`) tells it: HELD (an invoice of the client's is on Hold:
    the run says it waits), DROPPED (not built yet, and its client is gone from Clients or
    inactive: no mail), WAITING (not built yet, and its client's row stops its mail: built
    once the row is fixed), else GOING."""
    key = _client_key(msg.payload)
    client = book.clients.get(key)
    if key in held:
        return HELD
    if msg.raw is None and (client is None or not client.active):
        return DROPPED
    if msg.raw is None and book.mail_problem(key) is not None:
        return WAITING
    return GOING


def _named(msg: LedgerMessage, book: ClientBook) -> str:
    """The client a statement message is for, by its name in Clients (else its key)."""
    key = _client_key(msg.payload)
    client = book.clients.get(key)
    return client.name if client is not None else key


def waiting_clients(book: ClientBook, held: Collection[str]) -> frozenset[str]:
    """The clients whose month's statement waits this run (for the dry run's preview):
    those `held` (an invoice on Hold) and those whose Clients row stops their mail."""
    broken = (key for key in book.clients if book.mail_problem(key) is not None)
    return frozenset(held).union(broken)


def _months(payload: Mapping[str, Any]) -> str:
    """The months a statement message covers, as the run names them: "2026-03", or
    "2026-01 to 2026-03" for one covering months kept back or missed (`kept_back`)."""
    first, last = payload["start"][:7], payload["end"][:7]
    return last if first == last else f"{first} to {last}"


def _client_key(payload: Mapping[str, Any]) -> str:
    """The client a statement message is for, as names are matched now: one planned before
    accents were normalised keeps its name's key as it was then ("cafe\u0301 noir")."""
    return normalise_header(payload["client_key"])


def stated_before(ledger: Ledger, client_key: str, currency: str, start: date) -> Stated | None:
    """The statement the client was sent (or may have been: being sent) for the month
    before `start`: its closing balance and the day it was made; None when there is none
    (not sent, or made by a version that did not keep them)."""
    event = f"{STATEMENT}/{month_of(start - timedelta(days=1))}/{client_key}/{currency}"
    found = ledger.conn.execute(
        "SELECT payload FROM messages WHERE event = ? AND state IN (?, ?)", (event, SENT, SENDING)
    ).fetchone()
    payload = json.loads(found[0]) if found else {}
    if "closing" not in payload or "made" not in payload:
        return None
    return Stated(Decimal(payload["closing"]), date.fromisoformat(payload["made"]))


def email_context(st: Statement, client_name: str, config: Config, lang: str) -> Mapping[str, str]:
    """The statement email's values, as ready strings in the client's language."""
    company = config.company
    return {
        "client_name": client_name,
        "company_name": company.name,
        "company_email": company.email,
        "company_phone": company.phone,
        "period": f"{fmt.format_date(st.start, lang)} – {fmt.format_date(st.end, lang)}",
        "statement_date": fmt.format_date(st.end, lang),
        "closing_balance": fmt.format_money(st.closing, st.currency, lang),
        # what the open invoices need: money owed back to the client is not taken off
        "amount_due": fmt.format_money(st.due, st.currency, lang),
    }
