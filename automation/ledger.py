"""The ledger: what has happened, in SQLite under `.billing/`.

The workbook is the bookkeeper's view and input; the ledger is the record the
tool trusts: invoice numbers, which service lines went on which invoice (by
fingerprint), every message and its state, and cell updates still owed to the
workbook. WAL mode with synchronous=FULL: every commit is on disk before the
next step (an email) happens. A commit that no email or workbook write waits
on (what a server answered) may skip its own flush: see `transaction`.

    with Ledger.open(folder / ".billing" / "ledger.sqlite") as ledger:
        number = ledger.allocate_number("INV-{year}-{seq:04d}", date(2026, 3, 2))
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import string
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import UnusableError
from .model import CellValue, InvoiceLine, Money, ServiceLine
from .schema import normalise_header
from .space import folder_said, full_folder

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (scope TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, as_of TEXT NOT NULL,
    finished TEXT, outcome TEXT, folder TEXT, computer TEXT);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_no TEXT PRIMARY KEY, client_key TEXT NOT NULL, client TEXT NOT NULL,
    currency TEXT NOT NULL, terms TEXT NOT NULL, invoice_date TEXT NOT NULL,
    due_date TEXT NOT NULL, subtotal TEXT NOT NULL, tax_rate TEXT NOT NULL, tax TEXT NOT NULL,
    total TEXT NOT NULL, lines TEXT NOT NULL, sent_at TEXT, last_sent TEXT,
    reissue_count INTEGER NOT NULL DEFAULT 0, last_reissue TEXT, first_message_id TEXT,
    escalated INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '', run_id INTEGER,
    settled TEXT, first_due TEXT);
CREATE TABLE IF NOT EXISTS lines (
    fingerprint TEXT NOT NULL, invoice_no TEXT NOT NULL, row_hint INTEGER,
    PRIMARY KEY (fingerprint, invoice_no)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY, event TEXT NOT NULL UNIQUE, invoice_no TEXT NOT NULL,
    kind TEXT NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL,
    envelope_from TEXT, recipients TEXT, raw BLOB, reply TEXT NOT NULL DEFAULT '',
    created_run INTEGER, attempt_run INTEGER, sent_at TEXT);
CREATE TABLE IF NOT EXISTS message_bytes (message_id TEXT PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT NOT NULL, address TEXT NOT NULL, state TEXT NOT NULL,
    reply TEXT NOT NULL DEFAULT '', run_id INTEGER, at TEXT,
    PRIMARY KEY (message_id, address)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paid_cells (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, invoice_no TEXT NOT NULL, paid TEXT NOT NULL,
    paid_date TEXT, seen TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paid_cells_invoice ON paid_cells (invoice_no, seq);
CREATE TABLE IF NOT EXISTS statement_months (
    month TEXT PRIMARY KEY, run_id INTEGER, planned INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS credit_notes (
    credit_note_no TEXT PRIMARY KEY, invoice_no TEXT NOT NULL, note_date TEXT NOT NULL,
    amount TEXT NOT NULL, credited_after TEXT NOT NULL, reason TEXT NOT NULL,
    replacement TEXT NOT NULL DEFAULT '', run_id INTEGER);
CREATE TABLE IF NOT EXISTS owed_updates (
    sheet TEXT NOT NULL, key TEXT NOT NULL, column_name TEXT NOT NULL, value TEXT,
    PRIMARY KEY (sheet, key, column_name));
CREATE TABLE IF NOT EXISTS bank_lines (
    bank_ref TEXT PRIMARY KEY, line_date TEXT NOT NULL, amount TEXT NOT NULL,
    currency TEXT NOT NULL, direction TEXT NOT NULL, payer TEXT NOT NULL,
    payer_ids TEXT NOT NULL, reference TEXT NOT NULL, file TEXT NOT NULL, line INTEGER,
    status TEXT NOT NULL, rule TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
    run_id INTEGER);
CREATE TABLE IF NOT EXISTS bank_allocations (
    bank_ref TEXT NOT NULL, invoice_no TEXT NOT NULL, amount TEXT NOT NULL,
    fee TEXT NOT NULL DEFAULT '0', typed INTEGER NOT NULL DEFAULT 0, line_date TEXT NOT NULL,
    PRIMARY KEY (bank_ref, invoice_no));
CREATE INDEX IF NOT EXISTS bank_allocations_invoice ON bank_allocations (invoice_no);
"""

#: What every run looks up, made once a ledger has the columns (after ADDED_INVOICE_COLUMNS):
#: the few open invoices and unsent messages, and an invoice's messages, without a scan
#: of years of history (about 35 bytes per invoice).
INDEXES = """
CREATE INDEX IF NOT EXISTS invoices_unsettled ON invoices (invoice_no) WHERE settled IS NULL;
CREATE INDEX IF NOT EXISTS messages_invoice ON messages (invoice_no);
CREATE INDEX IF NOT EXISTS messages_state ON messages (state);
"""

PLANNED, SENDING, SENT, FAILED = "planned", "sending", "sent", "failed"
#: Delivery states of a recipient that has the message, or may have it (mail.SENT, UNKNOWN).
_REACHED = (SENT, "unknown")
#: A `messages` row that no recipient has or may have (two parameters: `_REACHED`).
_NOBODY_HAS = (
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.message_id"
    " AND d.state IN (?, ?))"
)
#: What a message's build fixed besides its bytes (the envelope and the addresses it was
#: made for), forgotten with them so that it is built again.
_UNBUILT = "envelope_from = NULL, recipients = NULL, to_addresses = NULL, cc_addresses = NULL"
#: Columns added to `invoices` after its first version: (name, SQL type).
ADDED_INVOICE_COLUMNS = (
    ("settled", "TEXT"),
    ("first_due", "TEXT"),
    ("credited", "TEXT"),  # the credit notes' amounts, together
    ("voided", "TEXT"),  # the date a credit note cancelled it (Void or Rebill)
    ("replaced_by", "TEXT"),  # a Rebill's new invoice numbers, "; "-joined
    ("credit_notes", "TEXT"),  # its credit note numbers, "; "-joined
    ("resend_pending", "INTEGER"),  # a Resend was honoured; the cell is not cleared yet
    ("rows_digest", "TEXT"),  # a settled invoice's Services rows as they stood (`rows_digests`)
    ("note_before", "TEXT"),  # the Note a "Not done" note took the place of (`note_problem`)
    ("held", "INTEGER"),  # 1 while the bookkeeper's Status on its row says Hold (`record_held`)
    ("reopened", "INTEGER"),  # times found owing again once paid (`record_reopened`)
)
#: Keys per `IN (...)` query, well under SQLite's limit on a statement's parameters.
IN_CHUNK = 500
#: Numbering scopes of credit notes are kept apart from the invoices' in `counters`.
CREDIT_NOTE_SERIES = "cn:"

#: `PRAGMA user_version` of a ledger whose tables have their current shape (see `_migrate`).
SCHEMA_VERSION = 1
#: Tables kept WITHOUT ROWID since version 1: their key is all a lookup needs, and a
#: rowid table would hold every key twice (the table and its primary-key index).
KEYED_TABLES = {
    "lines": "fingerprint, invoice_no, row_hint",
    "deliveries": "message_id, address, state, reply, run_id, at",
}


def fingerprint(line: ServiceLine) -> str:
    """A stable identity for a service line: what it says, not where it is.

    The client as its name was matched before accents were normalised (`client_key`
    without NFC): a line billed then, its client typed as "Cafe\u0301", is still known
    by the fingerprint the ledger keeps for it (else it would be billed again).
    """
    parts = [
        line.service_date.isoformat(),
        " ".join(line.client.split()).casefold(),
        " ".join(line.description.split()),
        str(line.quantity.normalize()),
        str(line.amount.normalize()),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _dec(value: str | None) -> Decimal:
    return Decimal(value) if value else Decimal(0)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def unusable_ledger(path: Path, exc: sqlite3.Error) -> UnusableError:
    """What to do about a ledger SQLite cannot use: damaged (put back the newest copy from
    .billing/backups/), or not this user's to write (a run with sudo made it root's)."""
    why = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError) and "locked" in why:
        return UnusableError(
            f"the ledger {path} is in use by another program ({why}): close it (a database "
            "browser, a backup or sync tool), then run again. Nothing was changed."
        )
    if (folder := _full_disk(path, exc)) is not None:
        return UnusableError(
            f"the disk holding {folder_said(folder)} is full ({why}): the ledger {path} cannot "
            "be worked on. Free some space on that disk, then run again; the ledger is not "
            "damaged (put no copy in its place). Nothing was changed."
        )
    if isinstance(exc, sqlite3.OperationalError) and any(
        words in why for words in ("readonly", "unable to open", "permission")
    ):
        return UnusableError(
            f"the ledger {path} cannot be opened for writing ({why}): give your user write "
            f"access to it and to {path.parent} (a run started with sudo, or by another "
            "user, makes them someone else's), then run again. Nothing was changed."
        )
    copies = sorted((path.parent / "backups").glob("ledger-*.sqlite*"))
    newest = (
        f"the newest copy, {copies[-1]}" if copies else f"a copy (none is in {path.parent}/backups)"
    )
    return UnusableError(
        f"the ledger {path} is damaged ({why}): stop any run, {put_back(newest, path.name)}, "
        "then run again. Nothing was changed."
    )


def _full_disk(path: Path, exc: sqlite3.Error) -> Path | None:
    """The folder whose disk has no room left, when that is what SQLite's I/O error or
    "disk is full" says (a ledger it cannot grow, a WAL it cannot extend), else None."""
    said = f"{getattr(exc, 'sqlite_errorname', '')} {exc}"
    if not any(words in said for words in ("IOERR", "FULL", "disk I/O", "disk is full")):
        return None
    files = (path, path.with_name(path.name + "-wal"))
    with suppress(OSError):
        return full_folder([path.parent], sum(f.stat().st_size for f in files if f.exists()))
    return full_folder([path.parent])


def put_back(copy: str, ledger: str, packed: bool = True) -> str:
    """How to put a ledger copy from .billing/backups/ (`copy`, as the message names it)
    in place of the ledger (`ledger`): a gzip copy (`packed`) is decompressed first."""
    beside = f"(delete {ledger.rsplit('/', 1)[-1]}-wal and -shm beside it)"
    if not packed:
        return f"copy {copy} in place of {ledger} {beside}"
    return (
        f"decompress {copy} (gunzip -k, or 7-Zip on Windows) and put the .sqlite file in "
        f"place of {ledger} {beside}"
    )


@dataclass(frozen=True)
class LedgerInvoice:
    """An invoice as the ledger knows it (the truth for the tool-owned columns)."""

    invoice_no: str
    client_key: str
    client: str
    currency: str
    terms: str
    invoice_date: date
    due_date: date
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    lines: tuple[InvoiceLine, ...]
    # A new invoice: not yet emailed, reissued or escalated.
    sent_at: datetime | None = None
    last_sent: datetime | None = None
    reissue_count: int = 0
    last_reissue: date | None = None
    first_message_id: str | None = None
    escalated: bool = False
    note: str = ""
    #: the due date it was first sent with (reissues move `due_date`; aging does not)
    first_due: date | None = None
    #: what its credit notes took off, together; the date it was voided by one
    credited: Decimal = Decimal(0)
    voided: date | None = None
    replaced_by: tuple[str, ...] = ()
    credit_notes: tuple[str, ...] = ()
    #: a Resend was sent and the workbook's Resend cell is not known to be cleared yet
    resend_pending: bool = False
    #: how many times a run found it owing again after its payment was thanked (or its
    #: overpayment noted): a payment returned. Each time it is paid again is thanked again.
    reopened: int = 0

    @property
    def original_due(self) -> date:
        return self.first_due or self.due_date


@dataclass(frozen=True)
class CreditNote:
    """A credit note as the ledger records it, before anything is emailed.

    Attributes:
      amount: what this note credits; credited_after: the invoice's credits with it.
      reason: "void", "rebill" or "credit"; replacement: a Rebill's new invoices.
    """

    credit_note_no: str
    invoice_no: str
    note_date: date
    amount: Decimal
    credited_after: Decimal
    reason: str
    replacement: tuple[str, ...] = ()


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p for p in (text or "").split("; ") if p)


@dataclass(frozen=True)
class LedgerMessage:
    message_id: str
    event: str
    invoice_no: str
    kind: str
    state: str
    payload: dict[str, Any]
    envelope_from: str | None
    recipients: tuple[str, ...]
    raw: bytes | None
    reply: str
    created_run: int | None
    attempt_run: int | None
    #: the envelope addresses that are To and Cc (the rest are blind copies)
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    #: the addresses (lower case) a server accepted it for, or may have (`_REACHED`)
    reached: frozenset[str] = frozenset()


def _lines_json(lines: Sequence[InvoiceLine]) -> str:
    return json.dumps(
        [
            [
                ln.service_date.isoformat(),
                ln.description,
                str(ln.quantity),
                str(ln.unit_price),
                str(ln.amount),
                ln.row,
            ]
            for ln in lines
        ]
    )


def _lines_from_json(text: str) -> tuple[InvoiceLine, ...]:
    return tuple(
        InvoiceLine(date.fromisoformat(d), desc, Decimal(q), Decimal(p), Decimal(a), int(r))
        for d, desc, q, p, a, r in json.loads(text)
    )


def encode_value(value: CellValue) -> str:
    if value is None:
        return json.dumps(None)
    if isinstance(value, datetime):
        return json.dumps(["datetime", value.isoformat()])
    if isinstance(value, date):
        return json.dumps(["date", value.isoformat()])
    if isinstance(value, Decimal):
        return json.dumps(["decimal", str(value)])
    if isinstance(value, Money):
        return json.dumps(["money", [str(value.amount), value.currency]])
    if isinstance(value, int):
        return json.dumps(["int", value])
    return json.dumps(["str", value])


def decode_value(text: str) -> CellValue:
    data = json.loads(text)
    if data is None:
        return None
    kind, raw = data
    if kind == "datetime":
        return datetime.fromisoformat(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "decimal":
        return Decimal(raw)
    if kind == "money":
        return Money(Decimal(raw[0]), raw[1])
    if kind == "int":
        return int(raw)
    return str(raw)


def number_pattern(number_format: str, loose: bool = False) -> re.Pattern[str]:
    """A regex recognising numbers made by `number_format`, capturing year and seq.

    `loose`: also as people type them by hand, in any case and with other separators
    (`inv-2027-0001`, `INV 2027 0001`, `INV/2027/0001` for INV-{year}-{seq:04d}), as a
    bank reference naming an invoice is read. A separator is never left out: without
    it, another format's number would read as this one's (INV-2027-0450 as April's 50th
    of INV-{year}-{month:02d}-{seq:03d}).
    """
    pattern = ""
    for literal, name, _spec, _ in string.Formatter().parse(number_format):
        if loose:  # letters and digits as they are; a run of other characters, any such run
            parts = re.split(r"([\W_]+)", literal)
            pattern += "".join(r"[\W_]+" if k % 2 else re.escape(p) for k, p in enumerate(parts))
        else:
            pattern += re.escape(literal)
        if name == "year":
            pattern += r"(?P<year>\d{4})"
        elif name == "month":
            pattern += r"(?P<month>\d{1,2})"
        elif name == "seq":
            pattern += r"(?P<seq>\d+)"
        elif name is not None:
            pattern += r".*?"
    return re.compile(pattern + r"$", re.IGNORECASE) if loose else re.compile(pattern + r"$")


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a ledger made by an earlier version to SCHEMA_VERSION; a no-op once done.

    Version 1: `lines` and `deliveries` are rebuilt WITHOUT ROWID (the same rows, a
    key stored once), and message bytes still waiting to be sent move from
    `messages.raw` to `message_bytes`. Every step checks the ledger's shape, inside one
    transaction, so a crash or a second process in between leaves nothing half done.
    A ledger that had tables rebuilt is then compacted once (VACUUM): its message
    rows, emptied of their bytes over the years, would otherwise keep their pages.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    rebuilt = False
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, columns in KEYED_TABLES.items():
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            if "WITHOUT ROWID" in sql.upper():
                continue
            rebuilt = True
            conn.execute(f"ALTER TABLE {table} RENAME TO {table}_before")
            # The new table is made by SCHEMA's own statement, so both shapes stay one.
            (create,) = [s for s in SCHEMA.split(";") if f"EXISTS {table} (" in s]
            conn.execute(create)
            conn.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_before"  # noqa: S608
            )
            conn.execute(f"DROP TABLE {table}_before")
        conn.execute(
            "INSERT OR IGNORE INTO message_bytes (message_id, raw)"
            " SELECT message_id, raw FROM messages WHERE raw IS NOT NULL"
        )
        conn.execute("UPDATE messages SET raw = NULL WHERE raw IS NOT NULL")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if rebuilt:  # busy, or no room for the copy: only the space is not given back
        with suppress(sqlite3.OperationalError):
            conn.execute("VACUUM")  # also makes an old ledger incremental (see `open`)


class Ledger:
    """The SQLite ledger. Use `Ledger.open(path)` as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.run_id = 0

    @classmethod
    @contextmanager
    def open(cls, path: Path, copy_of: Path | None = None) -> Iterator[Ledger]:
        """The ledger at `path`, made or brought up to date; UnusableError (exit 2) when it
        is damaged or this user may not write it (`copy_of`: the ledger a copy was made
        of, named in that message)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise unusable_ledger(copy_of or path, exc) from None
        try:
            try:
                # Before the first table exists: a new ledger can give freed pages back.
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(invoices)")}
                for added, kind in ADDED_INVOICE_COLUMNS:  # a ledger made by an earlier version
                    if added not in columns:
                        conn.execute(f"ALTER TABLE invoices ADD COLUMN {added} {kind}")
                columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
                for added in ("to_addresses", "cc_addresses"):  # who is To and Cc (else all To)
                    if added not in columns:
                        conn.execute(f"ALTER TABLE messages ADD COLUMN {added} TEXT")
                columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
                for added in ("folder", "computer"):  # where it ran (else not known)
                    if added not in columns:
                        conn.execute(f"ALTER TABLE runs ADD COLUMN {added} TEXT")
                conn.executescript(INDEXES)
                _migrate(conn)
                conn.execute("SELECT count(*) FROM invoices").fetchone()  # reads its pages
            except sqlite3.DatabaseError as exc:
                raise unusable_ledger(copy_of or path, exc) from None
            yield cls(conn, path)
        finally:
            conn.close()

    @classmethod
    @contextmanager
    def open_copy(cls, path: Path) -> Iterator[Ledger]:
        """For a dry run: a private copy of the ledger, so nothing in .billing/ changes;
        a new, empty one where there is none yet, as the first run makes.

        Even a read-only SQLite connection creates -wal/-shm files beside the
        database; a copy (with any WAL a crash left behind) reads the same.
        """
        with tempfile.TemporaryDirectory(prefix="billing-dry-run-") as folder:
            copy = Path(folder) / path.name
            if path.exists():
                shutil.copy2(path, copy)
            wal = path.with_name(path.name + "-wal")
            if wal.exists():
                shutil.copy2(wal, copy.with_name(copy.name + "-wal"))
            with cls.open(copy, copy_of=path) as ledger:
                yield ledger

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[None]:
        """All of the block's writes, or none.

        durable=False commits without waiting for the disk (synchronous=NORMAL):
        for a record that nothing outside the ledger acts on before the next
        durable commit, such as an answer from the mail server. The write-ahead
        log is one file written in order, so the next durable commit (the mark
        before the next message goes out) flushes this one with it; a crash of
        the program loses neither, and a power cut before that flush leaves the
        message as "sending", which the next run resends under the same
        Message-ID: the same window as a cut just after the server's answer.
        It halves the disk flushes of a send (one per message, not two).

        Inside another transaction it is a savepoint: its writes are undone on an
        error, and kept (or not) with the outer transaction's (`durable` is the outer's).
        An error SQLite has already rolled back the whole transaction for (a full disk)
        is raised as it is, not hidden behind the rollback's own failure.
        """
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT inner")
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK TO inner")
                raise
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("RELEASE inner")
            return
        if not durable:
            self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        finally:
            if not durable:
                self.conn.execute("PRAGMA synchronous=FULL")

    def _rows_in(self, query: str, keys: Sequence[str]) -> Iterator[Any]:
        """The rows of `query` for `keys`, its `{marks}` being the `IN (...)` list.

        Asked IN_CHUNK keys at a time: SQLite limits a statement's parameters.
        """
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(query.format(marks=marks), chunk)

    def reclaim(self) -> None:
        """Give the file back the pages freed since the last run (dropped message bytes).

        A run stores every message's bytes until it is delivered (a few
        megabytes per hundred invoices) and then drops them; SQLite keeps the
        freed pages in the file, and every backup copies them. Here they are
        returned to the file system and the write-ahead log is emptied. A
        ledger made before incremental vacuuming is converted once (VACUUM).
        """
        (mode,) = self.conn.execute("PRAGMA auto_vacuum").fetchone()
        if mode != 2:  # 2 = incremental
            self.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.conn.execute("VACUUM")
        else:
            # Each step frees one page; sqlite3's execute() steps once, executescript to the end.
            self.conn.executescript("PRAGMA incremental_vacuum;")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- runs ---------------------------------------------------------------
    def start_run(self, as_of: date, folder: str | None = None, computer: str | None = None) -> int:
        """Record this run: its as-of date, and the billing folder and computer it runs in."""
        cur = self.conn.execute(
            "INSERT INTO runs (started, as_of, folder, computer) VALUES (?, ?, ?, ?)",
            (datetime.now().isoformat(timespec="seconds"), as_of.isoformat(), folder, computer),
        )
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def last_started(self) -> datetime | None:
        """When the latest run began, by the computer's clock then (None: no run yet)."""
        found = self.conn.execute("SELECT started FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return datetime.fromisoformat(found[0]) if found else None

    def last_as_of(self) -> date | None:
        """The latest as-of date of any run recorded (None: no run yet)."""
        return _date(self.conn.execute("SELECT max(as_of) FROM runs").fetchone()[0])

    def last_place(self) -> tuple[str, str, datetime] | None:
        """(folder, computer, when it began) of the latest run; None before the first run,
        or when that run was made by a version that did not record where it ran."""
        found = self.conn.execute(
            "SELECT folder, computer, started FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if found is None or found[0] is None or found[1] is None:
            return None
        return found[0], found[1], datetime.fromisoformat(found[2])

    def finish_run(self, outcome: str) -> None:
        self.conn.execute(
            "UPDATE runs SET finished = ?, outcome = ? WHERE id = ?",
            (datetime.now().isoformat(timespec="seconds"), outcome, self.run_id),
        )

    # -- numbers ------------------------------------------------------------
    @staticmethod
    def _scope(number_format: str, invoice_date: date, series: str = "") -> str:
        scope = str(invoice_date.year) if "{year" in number_format else "all"
        if "{month" in number_format:
            scope += f"-{invoice_date.month:02d}"
        return series + scope

    def seq_for(self, number_format: str, invoice_date: date, series: str = "") -> int:
        """The last sequence number used in this numbering scope (0 if none)."""
        scope = self._scope(number_format, invoice_date, series)
        row = self.conn.execute("SELECT seq FROM counters WHERE scope = ?", (scope,)).fetchone()
        return int(row[0]) if row else 0

    def allocate_number(
        self, number_format: str, invoice_date: date, floor: int = 0, series: str = ""
    ) -> str:
        """The next number, never reused: call inside a transaction.

        `series` keeps another sequence (credit notes: CREDIT_NOTE_SERIES) apart.
        """
        return self.allocate_numbers(number_format, [invoice_date], floor, series)[0]

    def allocate_numbers(
        self, number_format: str, dates: Sequence[date], floor: int = 0, series: str = ""
    ) -> list[str]:
        """The next numbers, one per date in order, as `allocate_number` each would give them.

        A counter is read and written once per numbering scope, not once per number.
        """
        last: dict[str, int] = {}
        numbers = []
        for when in dates:
            scope = self._scope(number_format, when, series)
            if scope not in last:
                last[scope] = max(self.seq_for(number_format, when, series), floor)
            last[scope] += 1
            numbers.append(number_format.format(year=when.year, month=when.month, seq=last[scope]))
        self.conn.executemany(
            "INSERT INTO counters (scope, seq) VALUES (?, ?) "
            "ON CONFLICT(scope) DO UPDATE SET seq = excluded.seq",
            list(last.items()),
        )
        return numbers

    # -- invoices -----------------------------------------------------------
    def add_invoice(self, inv: LedgerInvoice, fingerprints: Iterable[tuple[str, int]]) -> None:
        self.add_invoices([(inv, fingerprints)])

    def add_invoices(
        self, issued: Sequence[tuple[LedgerInvoice, Iterable[tuple[str, int]]]]
    ) -> None:
        """Record invoices, each with its lines' (fingerprint, row): one statement per table."""
        self.conn.executemany(
            "INSERT INTO invoices (invoice_no, client_key, client, currency, terms, invoice_date,"
            " due_date, subtotal, tax_rate, tax, total, lines, note, run_id, first_due)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    inv.invoice_no,
                    inv.client_key,
                    inv.client,
                    inv.currency,
                    inv.terms,
                    inv.invoice_date.isoformat(),
                    inv.due_date.isoformat(),
                    str(inv.subtotal),
                    str(inv.tax_rate),
                    str(inv.tax),
                    str(inv.total),
                    _lines_json(inv.lines),
                    inv.note,
                    self.run_id,
                    inv.due_date.isoformat(),
                )
                for inv, _ in issued
            ],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO lines (fingerprint, invoice_no, row_hint) VALUES (?,?,?)",
            [(fp, inv.invoice_no, row) for inv, prints in issued for fp, row in prints],
        )

    def update_invoice(self, invoice_no: str, **fields: Any) -> None:
        def encode(value: Any) -> Any:
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, bool):
                return int(value)
            return value

        sets = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(
            f"UPDATE invoices SET {sets} WHERE invoice_no = ?",  # noqa: S608 - names are ours
            [encode(v) for v in fields.values()] + [invoice_no],
        )

    def note_problem(self, invoice_no: str, note: str, marker: str) -> None:
        """Note what a run could not do (`note` starts with `marker`), keeping the Note it
        replaces (less any such problem said after it) for when it is fixed (`note_fixed`)."""
        current = self._note(invoice_no)
        if current is None or current == note or current.endswith(f" {note}"):
            return  # told already: after what was sent today, say ("Reissued ... Not done ...")
        if current.startswith(marker):
            self.update_invoice(invoice_no, note=note)
        else:
            before = current.split(f" {marker} ", 1)[0]  # "Reissued ... Not done on ...": told
            self.update_invoice(invoice_no, note=note, note_before=before)

    def note_fixed(self, invoice_no: str, marker: str) -> None:
        """The problem a Note still tells (it starts with `marker`, see `note_problem`, or
        follows what was sent that day) is fixed: the Note before it is back. A Note written
        since is left as it is."""
        current = self._note(invoice_no)
        if current is not None and current.startswith(marker):
            (before,) = self.conn.execute(
                "SELECT note_before FROM invoices WHERE invoice_no = ?", (invoice_no,)
            ).fetchone()
            self.update_invoice(invoice_no, note=before or "", note_before=None)
        elif current is not None and f" {marker} " in current:  # said after a message's Note
            self.update_invoice(
                invoice_no, note=current.split(f" {marker} ", 1)[0], note_before=None
            )

    def _note(self, invoice_no: str) -> str | None:
        found = self.conn.execute(
            "SELECT note FROM invoices WHERE invoice_no = ?", (invoice_no,)
        ).fetchone()
        return None if found is None else str(found[0] or "")

    # -- settled invoices ------------------------------------------------------
    #
    # A Paid, Overpaid or Void invoice with nothing left to send is "settled":
    # the ledger keeps what its payment cells said when it was settled, and runs
    # leave it alone until those cells change. The cost of a run then follows the
    # open invoices, not years of paid ones.

    def settled(self) -> dict[str, str]:
        """Settled invoice number -> the payment cells' signature when settled."""
        return dict(
            self.conn.execute("SELECT invoice_no, settled FROM invoices WHERE settled IS NOT NULL")
        )

    def rows_digests(self) -> dict[str, str | None]:
        """Settled invoice number (not void) -> its Services rows' digest when settled (None:
        settled before digests were kept)."""
        return dict(
            self.conn.execute(
                "SELECT invoice_no, rows_digest FROM invoices WHERE settled IS NOT NULL "
                "AND voided IS NULL"
            )
        )

    def keep_rows_digests(self, digests: dict[str, str | None]) -> None:
        """Remember what settled invoices' Services rows looked like (`rows_digests`)."""
        self.conn.executemany(
            "UPDATE invoices SET rows_digest = ? WHERE invoice_no = ?",
            [(digest, number) for number, digest in digests.items()],
        )

    def unsettled_numbers(self) -> set[str]:
        return {
            n for (n,) in self.conn.execute("SELECT invoice_no FROM invoices WHERE settled IS NULL")
        }

    def mark_settled(self, signatures: dict[str, str | None]) -> None:
        """Settle (a signature) or reopen (None) invoices."""
        self.conn.executemany(
            "UPDATE invoices SET settled = ? WHERE invoice_no = ?",
            [(sig, number) for number, sig in signatures.items()],
        )

    def known_numbers(self, numbers: Iterable[str]) -> set[str]:
        """Those of `numbers` that are the ledger's invoices (a key lookup each, no scan)."""
        query = "SELECT invoice_no FROM invoices WHERE invoice_no IN ({marks})"
        return {n for (n,) in self._rows_in(query, sorted(set(numbers)))}

    def due_dates(self) -> dict[str, date]:
        """Every invoice's current due date (a light query: no lines are read)."""
        return {
            n: date.fromisoformat(d)
            for n, d in self.conn.execute("SELECT invoice_no, due_date FROM invoices")
        }

    def reissued_due_dates(self, numbers: Iterable[str]) -> dict[str, set[date]]:
        """Invoice No -> the due dates its delivered reissues gave it (each moved its Due
        Date; `due_date` keeps the latest only)."""
        query = (
            "SELECT invoice_no, payload FROM messages WHERE kind = 'reissue'"
            f" AND state = '{SENT}' AND invoice_no IN ({{marks}})"
        )
        found: dict[str, set[date]] = {}
        for number, payload in self._rows_in(query, sorted(set(numbers))):
            due = json.loads(payload).get("new_due")
            if due:
                found.setdefault(number, set()).add(date.fromisoformat(due))
        return found

    def events(self, numbers: Iterable[str]) -> set[str]:
        """The message events already recorded for these invoices."""
        query = "SELECT event FROM messages WHERE invoice_no IN ({marks})"
        return {e for (e,) in self._rows_in(query, sorted(set(numbers)))}

    def messaged_on(self, as_of: date) -> dict[str, set[str]]:
        """The invoices an earlier run on the same `as_of` date made or sent a message for
        (an invoice refused before, delivered then), each with the To addresses of those
        messages, in lower case (none while one is not built yet)."""
        query = (
            "SELECT m.invoice_no, COALESCE(m.to_addresses, m.recipients) FROM messages m"
            " JOIN runs r ON r.id IN (m.created_run, m.attempt_run)"
            " WHERE r.as_of = ? AND r.id IS NOT ? AND m.kind != ?"
        )
        found: dict[str, set[str]] = {}
        for number, to in self.conn.execute(query, (as_of.isoformat(), self.run_id, "statement")):
            found.setdefault(number, set()).update(a.lower() for a in json.loads(to or "[]"))
        return found

    def invoices(self, numbers: Iterable[str] | None = None) -> dict[str, LedgerInvoice]:
        self.conn.row_factory = sqlite3.Row
        try:
            if numbers is None:
                rows = self.conn.execute("SELECT * FROM invoices ORDER BY rowid").fetchall()
            else:
                query = "SELECT rowid AS seq_, * FROM invoices WHERE invoice_no IN ({marks})"
                rows = sorted(self._rows_in(query, sorted(set(numbers))), key=lambda r: r["seq_"])
        finally:
            self.conn.row_factory = None
        result = {}
        for r in rows:
            result[r["invoice_no"]] = LedgerInvoice(
                invoice_no=r["invoice_no"],
                # A key stored before names were matched across accent encodings
                # (NFD "Cafe\u0301") reads as its name's key now; any other is itself.
                client_key=normalise_header(r["client_key"]),
                client=r["client"],
                currency=r["currency"],
                terms=r["terms"],
                invoice_date=date.fromisoformat(r["invoice_date"]),
                due_date=date.fromisoformat(r["due_date"]),
                subtotal=_dec(r["subtotal"]),
                tax_rate=_dec(r["tax_rate"]),
                tax=_dec(r["tax"]),
                total=_dec(r["total"]),
                lines=_lines_from_json(r["lines"]),
                sent_at=_datetime(r["sent_at"]),
                last_sent=_datetime(r["last_sent"]),
                reissue_count=r["reissue_count"],
                last_reissue=_date(r["last_reissue"]),
                first_message_id=r["first_message_id"],
                escalated=bool(r["escalated"]),
                note=r["note"],
                first_due=_date(r["first_due"]),
                credited=_dec(r["credited"]),
                voided=_date(r["voided"]),
                replaced_by=_split(r["replaced_by"]),
                credit_notes=_split(r["credit_notes"]),
                resend_pending=bool(r["resend_pending"]),
                reopened=r["reopened"] or 0,
            )
        return result

    # -- credit notes -------------------------------------------------------
    def add_credit_note(self, note: CreditNote) -> None:
        """Record a credit note against its invoice: call inside a transaction."""
        self.conn.execute(
            "INSERT INTO credit_notes (credit_note_no, invoice_no, note_date, amount,"
            " credited_after, reason, replacement, run_id) VALUES (?,?,?,?,?,?,?,?)",
            (
                note.credit_note_no,
                note.invoice_no,
                note.note_date.isoformat(),
                str(note.amount),
                str(note.credited_after),
                note.reason,
                "; ".join(note.replacement),
                self.run_id,
            ),
        )
        (numbers,) = self.conn.execute(
            "SELECT credit_notes FROM invoices WHERE invoice_no = ?", (note.invoice_no,)
        ).fetchone()
        fields: dict[str, Any] = {
            "credited": note.credited_after,
            "credit_notes": "; ".join((*_split(numbers), note.credit_note_no)),
        }
        if note.reason in ("void", "rebill"):
            fields["voided"] = note.note_date
        if note.replacement:
            fields["replaced_by"] = "; ".join(note.replacement)
        self.update_invoice(note.invoice_no, **fields)

    def credit_notes(self, invoice_no: str | None = None) -> list[CreditNote]:
        """Credit notes in the order they were issued (of one invoice, or all)."""
        query = (
            "SELECT credit_note_no, invoice_no, note_date, amount, credited_after, reason,"
            " replacement FROM credit_notes"
        )
        args: tuple[str, ...] = ()
        if invoice_no is not None:
            query += " WHERE invoice_no = ?"
            args = (invoice_no,)
        return [
            CreditNote(n, i, date.fromisoformat(d), Decimal(a), Decimal(c), r, _split(rep))
            for n, i, d, a, c, r, rep in self.conn.execute(query + " ORDER BY rowid", args)
        ]

    def forget_lines(self, invoice_no: str) -> None:
        """A rebilled invoice's lines are on its replacement now, not on it."""
        self.conn.execute("DELETE FROM lines WHERE invoice_no = ?", (invoice_no,))

    def rebilled(self) -> dict[str, LedgerInvoice]:
        """The invoices a Rebill cancelled and replaced, in the order they were issued: their
        lines are on the new invoices now (`forget_lines`), their record keeps them as billed."""
        query = "SELECT invoice_no FROM invoices WHERE replaced_by > ''"  # not NULL, not empty
        numbers = [number for (number,) in self.conn.execute(query)]
        return self.invoices(numbers) if numbers else {}

    def invoiced_lines(self, fingerprints: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """fingerprint -> [(invoice_no, row_hint)] for the given fingerprints."""
        result: dict[str, list[tuple[str, int]]] = {}
        query = (
            "SELECT fingerprint, invoice_no, row_hint FROM lines WHERE fingerprint IN ({marks})"
            " ORDER BY row_hint"
        )
        for fp, number, row in self._rows_in(query, list(fingerprints)):
            result.setdefault(fp, []).append((number, row))
        return result

    # -- messages -----------------------------------------------------------
    def plan_message(
        self, message_id: str, event: str, invoice_no: str, kind: str, payload: dict[str, Any]
    ) -> bool:
        """Record a message to send once; False when that event is already recorded."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO messages (message_id, event, invoice_no, kind, state, payload,"
            " created_run) VALUES (?,?,?,?,?,?,?)",
            (message_id, event, invoice_no, kind, PLANNED, json.dumps(payload), self.run_id),
        )
        return cur.rowcount == 1

    def plan_messages(self, planned: Sequence[tuple[str, str, str, str, dict[str, Any]]]) -> None:
        """`plan_message` for each (message_id, event, invoice_no, kind, payload), at once."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO messages (message_id, event, invoice_no, kind, state, payload,"
            " created_run) VALUES (?,?,?,?,?,?,?)",
            [
                (message_id, event, invoice_no, kind, PLANNED, json.dumps(payload), self.run_id)
                for message_id, event, invoice_no, kind, payload in planned
            ],
        )

    def replan_message(self, event: str, payload: dict[str, Any]) -> None:
        """A follow-up planned or refused before, planned again as of this run.

        Its bytes are dropped so it is rebuilt (new date, new due date, the
        current address); one that may have reached the server, or that some
        recipient has or may have, is left alone: it is resent identical. One whose
        bytes a refusal let go already (only the bcc archive had it: `mark_failed`) is
        built again anyway: it is planned again too.
        """
        row = self.conn.execute(
            "SELECT message_id FROM messages WHERE event = ? AND state IN (?, ?)"
            f" AND ({_NOBODY_HAS}"
            " OR message_id NOT IN (SELECT message_id FROM message_bytes))",
            (event, PLANNED, FAILED, *_REACHED),
        ).fetchone()
        if row is None:
            return
        self.conn.execute(
            "UPDATE messages SET payload = ?, envelope_from = NULL, recipients = NULL"
            " WHERE message_id = ?",
            (json.dumps(payload), row[0]),
        )
        self.conn.execute("DELETE FROM message_bytes WHERE message_id = ?", row)

    def unbuild_unsent(self) -> int:
        """Drop the bytes of every message no server was handed (planned or failed, that no
        recipient has or may have), so this run builds it again; how many were dropped.

        A run that stopped part way (a template failing on a later document's data) may
        have built some: the bookkeeper fixes the template and runs again, and they go
        out from the templates as they are now, with the same Message-ID, invoice number,
        amounts and dates (the payload). A message that may have reached a server is
        never rebuilt: only its identical bytes may follow.
        """
        unsent = (
            f"SELECT message_id FROM messages WHERE state IN (?, ?) AND {_NOBODY_HAS}"
            " AND message_id IN (SELECT message_id FROM message_bytes)"
        )
        args = (PLANNED, FAILED, *_REACHED)
        self.conn.execute(f"UPDATE messages SET {_UNBUILT} WHERE message_id IN ({unsent})", args)
        return self.conn.execute(
            f"DELETE FROM message_bytes WHERE message_id IN ({unsent})", args
        ).rowcount

    def release_unsent(self, before: Mapping[str, str]) -> None:
        """Messages this run marked `sending` with their batch and stopped before handing
        to a server (a template failed on a later document, an interrupt): back to the
        state they had (`before`: message id -> planned or failed), their bytes dropped,
        so the next run builds them from the templates as they are then. One that some
        recipient has or may have is left `sending`: it is resent identical."""
        for message_id, state in before.items():
            cur = self.conn.execute(
                f"UPDATE messages SET state = ?, {_UNBUILT}"
                f" WHERE message_id = ? AND state = ? AND {_NOBODY_HAS}",
                (state, message_id, SENDING, *_REACHED),
            )
            if cur.rowcount:
                self.conn.execute("DELETE FROM message_bytes WHERE message_id = ?", (message_id,))

    def messages(self, states: Sequence[str] | None = None) -> list[LedgerMessage]:
        query = (
            "SELECT m.message_id, event, invoice_no, kind, state, payload, envelope_from,"
            " recipients, b.raw, reply, created_run, attempt_run, to_addresses, cc_addresses,"
            " (SELECT group_concat(d.address, char(10)) FROM deliveries d"
            "  WHERE d.message_id = m.message_id AND d.state IN (?, ?))"
            " FROM messages m LEFT JOIN message_bytes b ON b.message_id = m.message_id"
        )
        args: list[Any] = [*_REACHED]
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            args += states
        query += " ORDER BY m.rowid"
        return [
            LedgerMessage(
                m,
                e,
                n,
                k,
                s,
                json.loads(p),
                ef,
                tuple(json.loads(r)) if r else (),
                raw,
                reply,
                cr,
                ar,
                tuple(json.loads(to)) if to else (),
                tuple(json.loads(cc)) if cc else (),
                frozenset(had.split("\n")) if had else frozenset(),
            )
            for m, e, n, k, s, p, ef, r, raw, reply, cr, ar, to, cc, had in self.conn.execute(
                query, args
            )
        ]

    def store_envelope(
        self, message_id: str, recipients: Sequence[str], to: Sequence[str], cc: Sequence[str]
    ) -> None:
        """Send a kept message on to other addresses (the client's, corrected): same bytes."""
        self.conn.execute(
            "UPDATE messages SET recipients = ?, to_addresses = ?, cc_addresses = ?"
            " WHERE message_id = ?",
            (json.dumps(list(recipients)), json.dumps(list(to)), json.dumps(list(cc)), message_id),
        )

    def store_built(
        self,
        message_id: str,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        to: Sequence[str] = (),
        cc: Sequence[str] = (),
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep a message's exact bytes until it is delivered (a retry sends the same);
        with `payload`, what was worked out building them too (a statement's closing)."""
        if payload is not None:
            self.conn.execute(
                "UPDATE messages SET payload = ? WHERE message_id = ?",
                (json.dumps(dict(payload)), message_id),
            )
        self.conn.execute(
            "UPDATE messages SET envelope_from = ?, recipients = ?, to_addresses = ?,"
            " cc_addresses = ? WHERE message_id = ?",
            (
                envelope_from,
                json.dumps(list(recipients)),
                json.dumps(list(to)),
                json.dumps(list(cc)),
                message_id,
            ),
        )
        # Apart from `messages`: a row that held the bytes and lost them would leave
        # its page mostly empty, so the table of what was sent would stay twice its size.
        self.conn.execute(
            "INSERT INTO message_bytes (message_id, raw) VALUES (?, ?)"
            " ON CONFLICT(message_id) DO UPDATE SET raw = excluded.raw",
            (message_id, raw),
        )

    # -- who has each message -------------------------------------------------
    #
    # One row per message and envelope address, written after every attempt:
    # a later attempt (this run or the next) goes only to the addresses that
    # do not have the message yet, so nobody gets it twice.

    def record_deliveries(
        self, message_id: str, results: Iterable[tuple[str, str, str]], when: datetime
    ) -> None:
        """(address, state, server reply) per recipient of one attempt; call in a transaction."""
        self.conn.executemany(
            "INSERT INTO deliveries (message_id, address, state, reply, run_id, at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(message_id, address) DO UPDATE SET"
            " state = excluded.state, reply = excluded.reply, run_id = excluded.run_id,"
            " at = excluded.at",
            [
                (message_id, address.lower(), state, reply, self.run_id, when.isoformat())
                for address, state, reply in results
            ],
        )

    def deliveries(self, message_id: str) -> dict[str, tuple[str, str]]:
        """address (lower case) -> (state, reply) for every recipient tried so far."""
        return {
            address: (state, reply)
            for address, state, reply in self.conn.execute(
                "SELECT address, state, reply FROM deliveries WHERE message_id = ?",
                (message_id,),
            )
        }

    def earlier_deliveries(self, message_id: str) -> set[tuple[str, str, str]]:
        """(address, state, reply) of each recipient as an earlier run's attempt left it,
        that run having finished (a run killed first never said what it met)."""
        return set(
            self.conn.execute(
                "SELECT d.address, d.state, d.reply FROM deliveries d JOIN runs r"
                " ON r.id = d.run_id WHERE d.message_id = ? AND d.run_id < ?"
                " AND r.finished IS NOT NULL",
                (message_id, self.run_id),
            )
        )

    def delivered_to(self, message_id: str) -> set[str]:
        """The addresses (lower case) whose server accepted this message."""
        return {a for a, (state, _reply) in self.deliveries(message_id).items() if state == SENT}

    def delivered_at(self, message_id: str) -> datetime | None:
        """When a server last accepted this message for one of its addresses (None: never)."""
        (at,) = self.conn.execute(
            "SELECT MAX(at) FROM deliveries WHERE message_id = ? AND state = ?",
            (message_id, SENT),
        ).fetchone()
        return datetime.fromisoformat(at).replace(microsecond=0) if at else None

    def first_delivered_at(self, message_id: str, addresses: Iterable[str]) -> datetime | None:
        """When a server first accepted this message for one of `addresses` (None: never)."""
        wanted = sorted({a.lower() for a in addresses})
        (at,) = self.conn.execute(
            "SELECT MIN(at) FROM deliveries WHERE message_id = ? AND state = ?"
            f" AND address IN ({','.join('?' * len(wanted))})",  # noqa: S608 - placeholders
            (message_id, SENT, *wanted),
        ).fetchone()
        return datetime.fromisoformat(at).replace(microsecond=0) if at else None

    def mark_sending(self, message_id: str) -> None:
        self.conn.execute(
            "UPDATE messages SET state = ?, attempt_run = ? WHERE message_id = ?",
            (SENDING, self.run_id, message_id),
        )

    def mark_sent(self, message_id: str, when: datetime) -> None:
        # The bytes are only kept until delivery: a sent message is never resent.
        self.conn.execute(
            "UPDATE messages SET state = ?, sent_at = ?, reply = '' WHERE message_id = ?",
            (SENT, when.isoformat(timespec="seconds"), message_id),
        )
        self.conn.execute("DELETE FROM message_bytes WHERE message_id = ?", (message_id,))

    def mark_failed(
        self, message_id: str, reply: str, rebuild: bool, blind: Iterable[str] = ()
    ) -> None:
        """Failed: retried next run; `rebuild` drops the bytes so the current address is used.

        Bytes that some recipient has, or may have, are kept whatever `rebuild`
        says: a retry under the same Message-ID must be the identical message.
        The `blind` copies (lower case: the bcc archive) do not count.
        """
        self.conn.execute(
            "UPDATE messages SET state = ?, reply = ?, attempt_run = ? WHERE message_id = ?",
            (FAILED, reply, self.run_id, message_id),
        )
        if rebuild:
            skip = sorted(blind)
            self.conn.execute(
                "DELETE FROM message_bytes WHERE message_id = ? AND NOT EXISTS (SELECT 1 FROM"
                " deliveries d WHERE d.message_id = ? AND d.state IN (?, ?)"
                f" AND d.address NOT IN ({','.join('?' * len(skip))}))",
                (message_id, message_id, SENT, "unknown", *skip),  # mail.UNKNOWN
            )

    def drop_message(self, message_id: str) -> None:
        """Forget a message that was never handed to a server (no longer wanted)."""
        cur = self.conn.execute(
            "DELETE FROM messages WHERE message_id = ? AND state IN (?, ?)",
            (message_id, PLANNED, FAILED),
        )
        if cur.rowcount:
            self.conn.execute("DELETE FROM message_bytes WHERE message_id = ?", (message_id,))

    def drop_carried(self, event: str) -> None:
        """Forget the message of `event`, still owed (planned, or refused by some address):
        another message carried what it had to say to the addresses without it. Who had an
        earlier attempt stays in `deliveries`."""
        row = self.conn.execute(
            "SELECT message_id FROM messages WHERE event = ? AND state IN (?, ?)",
            (event, PLANNED, FAILED),
        ).fetchone()
        if row is not None:
            self.drop_message(row[0])

    def restate_kept(self, event: str, message_id: str, payload: dict[str, Any]) -> None:
        """The message of `event`, refused by its To addresses and kept for them because a
        copy reached others (a CC, the bcc archive), made a new message as of this run:
        `message_id`, `payload`, built again. The addresses that have (or may have) the
        earlier one go into the payload's "had": the new one does not go to them. The
        earlier one's deliveries stay under its own Message-ID."""
        row = self.conn.execute(
            "SELECT message_id, payload FROM messages WHERE event = ? AND state = ?"
            " AND message_id IN (SELECT message_id FROM message_bytes)",
            (event, FAILED),
        ).fetchone()
        if row is None:
            return
        old, before = row
        had = {a for a, (state, _r) in self.deliveries(old).items() if state in _REACHED}
        had |= set(json.loads(before).get("had", ()))
        self.conn.execute(
            f"UPDATE messages SET message_id = ?, payload = ?, reply = '', {_UNBUILT}"
            " WHERE message_id = ?",
            (message_id, json.dumps({**payload, "had": sorted(had)}), old),
        )
        self.conn.execute("DELETE FROM message_bytes WHERE message_id = ?", (old,))

    # -- updates owed to the workbook --------------------------------------
    def owe_updates(self, updates: Iterable[tuple[str, str, str, CellValue]]) -> None:
        self.conn.executemany(
            "INSERT INTO owed_updates (sheet, key, column_name, value) VALUES (?,?,?,?) "
            "ON CONFLICT(sheet, key, column_name) DO UPDATE SET value = excluded.value",
            [(s, k, c, encode_value(v)) for s, k, c, v in updates],
        )

    def owed_updates(self) -> list[tuple[str, str, str, CellValue]]:
        return [
            (s, k, c, decode_value(v))
            for s, k, c, v in self.conn.execute(
                "SELECT sheet, key, column_name, value FROM owed_updates ORDER BY rowid"
            )
        ]

    def clear_owed(self) -> None:
        self.conn.execute("DELETE FROM owed_updates")

    # -- payment history (for statements of account) ---------------------------
    #
    # The sheet holds only the cumulative Paid Amount and the latest Paid Date;
    # each change a run sees is kept here, so a statement can date every part
    # payment (statement.payments_from_history turns them into payments).

    def record_paid_cells(self, cells: dict[str, tuple[Decimal, date | None]], seen: date) -> int:
        """Keep the payment cells that differ from the last ones recorded; how many were new."""
        latest = self.paid_cells(cells.keys())
        new = [
            (number, str(paid), paid_date.isoformat() if paid_date else None, seen.isoformat())
            for number, (paid, paid_date) in cells.items()
            if (latest.get(number) or [(Decimal(0), None)])[-1] != (paid, paid_date)
        ]
        self.conn.executemany(
            "INSERT INTO paid_cells (invoice_no, paid, paid_date, seen) VALUES (?,?,?,?)", new
        )
        return len(new)

    def record_held(self, held: Mapping[str, bool]) -> None:
        """Keep whether each invoice's row (those the sheet shows) says Hold: a row the
        workbook loses comes back on Hold (`held`), not mailed to a client held back."""
        self.conn.executemany(
            "UPDATE invoices SET held = ? WHERE invoice_no = ? AND coalesce(held, 0) != ?",
            [(int(on), number, int(on)) for number, on in held.items()],
        )

    def record_reopened(self, reopened: Mapping[str, int]) -> None:
        """Keep how many times each invoice was found owing again once paid
        (`LedgerInvoice.reopened`): its payment notes count from the latest time."""
        self.conn.executemany(
            "UPDATE invoices SET reopened = ? WHERE invoice_no = ? AND coalesce(reopened, 0) != ?",
            [(times, number, times) for number, times in reopened.items()],
        )

    def held(self, numbers: Iterable[str]) -> set[str]:
        """Those of `numbers` whose row last said Hold (`record_held`)."""
        query = "SELECT invoice_no FROM invoices WHERE held = 1 AND invoice_no IN ({marks})"
        return {n for (n,) in self._rows_in(query, list(numbers))}

    def paid_cells(
        self, numbers: Iterable[str] | None = None
    ) -> dict[str, list[tuple[Decimal, date | None]]]:
        """Invoice No -> the payment cells seen over time, oldest first."""
        query = "SELECT invoice_no, paid, paid_date FROM paid_cells"
        rows: list[tuple[str, str, str | None]] = []
        if numbers is None:
            rows = self.conn.execute(query + " ORDER BY seq").fetchall()
        else:
            in_query = query + " WHERE invoice_no IN ({marks}) ORDER BY seq"
            rows = list(self._rows_in(in_query, sorted(set(numbers))))
        result: dict[str, list[tuple[Decimal, date | None]]] = {}
        for number, paid, paid_date in rows:
            result.setdefault(number, []).append((Decimal(paid), _date(paid_date)))
        return result

    def paid_history(
        self, numbers: Iterable[str] | None = None
    ) -> dict[str, list[tuple[Decimal, date | None, date]]]:
        """`paid_cells`, each with the date of the run that saw it."""
        query = "SELECT invoice_no, paid, paid_date, seen FROM paid_cells"
        if numbers is None:
            rows = self.conn.execute(query + " ORDER BY seq").fetchall()
        else:
            in_query = query + " WHERE invoice_no IN ({marks}) ORDER BY seq"
            rows = list(self._rows_in(in_query, sorted(set(numbers))))
        result: dict[str, list[tuple[Decimal, date | None, date]]] = {}
        for number, paid, paid_date, seen in rows:
            result.setdefault(number, []).append(
                (Decimal(paid), _date(paid_date), date.fromisoformat(seen))
            )
        return result

    # -- monthly statements --------------------------------------------------
    def statement_month_done(self, month: str) -> bool:
        """Whether a run already decided which statements `month` ("2026-10") sends."""
        row = self.conn.execute("SELECT 1 FROM statement_months WHERE month = ?", (month,))
        return row.fetchone() is not None

    def mark_statement_month(self, month: str, planned: int) -> None:
        """Record the month as decided (inside the transaction that plans its messages)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO statement_months (month, run_id, planned) VALUES (?,?,?)",
            (month, self.run_id, planned),
        )
